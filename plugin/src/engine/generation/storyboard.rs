//! The prompt storyboard: a prompt may change over a shot. Segments are separated by `|`; a
//! segment may start with the frame it begins at (`a chimp walks | 120: a chimp eats`). Segments
//! without anchors share the frames evenly between their anchored neighbours (a storyboard with
//! no anchors splits the shot evenly). Each window of a long shot takes the segment in force at
//! its middle frame; the hand-over is the window's conditioning on the one before.

use crate::engine::EngineError;

/// One segment: the frame it starts at (as given) and its text.
#[derive(Clone, Debug, PartialEq)]
struct Segment<'a> {
    anchor: Option<usize>,
    text: &'a str,
}

fn parse(prompt: &str) -> Result<Vec<Segment<'_>>, EngineError> {
    // One segment is the whole prompt, even if it starts like an anchor ("1920: a street").
    if !prompt.contains('|') {
        return Ok(vec![Segment { anchor: None, text: prompt.trim() }]);
    }
    prompt
        .split('|')
        .map(|raw| {
            let raw = raw.trim();
            match raw.split_once(':') {
                Some((n, text)) if !n.trim().is_empty() && n.trim().bytes().all(|b| b.is_ascii_digit()) => {
                    let anchor = n.trim().parse().map_err(|_| {
                        EngineError::Input(format!("storyboard frame '{}' is not a frame number", n.trim()))
                    })?;
                    Ok(Segment { anchor: Some(anchor), text: text.trim() })
                }
                _ => Ok(Segment { anchor: None, text: raw }),
            }
        })
        .collect()
}

/// The frame each segment starts at, for a shot of `frames`: anchors as given (increasing,
/// inside the shot), the first segment at 0 unless anchored, unanchored ones spread evenly
/// between their anchored neighbours.
fn starts(segments: &[Segment], frames: usize) -> Result<Vec<f64>, EngineError> {
    let n = segments.len();
    let mut fixed: Vec<Option<f64>> = segments.iter().map(|s| s.anchor.map(|a| a as f64)).collect();
    if fixed[0].is_none() {
        fixed[0] = Some(0.0);
    }
    let mut last = -1.0;
    for (i, a) in fixed.iter().enumerate() {
        if let Some(a) = *a {
            if a <= last && i > 0 || a >= frames as f64 {
                return Err(EngineError::Input(format!(
                    "storyboard segment {} starts at frame {a}: anchors must increase and lie inside the shot's \
                     {frames} frames",
                    i + 1
                )));
            }
            last = a;
        }
    }
    let mut out = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let from = fixed[i].expect("the first segment and every run start are anchored");
        let next = (i + 1..n).find(|&j| fixed[j].is_some());
        let (end, to) = match next {
            Some(j) => (j, fixed[j].expect("found anchored")),
            None => (n, frames as f64),
        };
        // Segments i..end share from..to evenly.
        for (k, slot) in out[i..end].iter_mut().enumerate() {
            *slot = from + (to - from) * k as f64 / (end - i) as f64;
        }
        i = end;
    }
    Ok(out)
}

/// The text of the first window (and of a shot that fits in one): the segment in force at frame 0.
pub fn first_text(prompt: &str) -> Result<String, EngineError> {
    Ok(parse(prompt)?.into_iter().next().map(|s| s.text.to_string()).unwrap_or_default())
}

/// Each window's prompt, for windows covering `ranges` (frames, `[start, end)`) of a shot of
/// `frames`: the segment in force at the window's middle frame.
pub fn window_texts(prompt: &str, frames: usize, ranges: &[(usize, usize)]) -> Result<Vec<String>, EngineError> {
    let segments = parse(prompt)?;
    let starts = starts(&segments, frames)?;
    Ok(ranges
        .iter()
        .map(|&(a, b)| {
            let middle = (a + b) as f64 / 2.0;
            let k = starts.iter().rposition(|&s| s <= middle).unwrap_or(0);
            segments[k].text.to_string()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_without_bars_is_one_segment_for_every_window() {
        let texts = window_texts("a red circle: bouncing", 100, &[(0, 17), (40, 57), (83, 100)]).unwrap();
        assert_eq!(texts, ["a red circle: bouncing"; 3]);
        assert_eq!(first_text(" a calm sea ").unwrap(), "a calm sea");
        assert_eq!(first_text("1920: a street in Paris").unwrap(), "1920: a street in Paris");
    }

    #[test]
    fn segments_without_anchors_share_the_shot_evenly() {
        let windows = [(0, 17), (12, 29), (24, 41), (36, 53)];
        assert_eq!(window_texts("a | b", 53, &windows).unwrap(), ["a", "a", "b", "b"]);
    }

    #[test]
    fn anchors_say_where_a_segment_starts() {
        let windows = [(0, 17), (12, 29), (24, 41), (36, 53)];
        assert_eq!(
            window_texts("a chimp walks | 30: a chimp eats", 53, &windows).unwrap()[1..],
            ["a chimp walks", "a chimp eats", "a chimp eats"]
        );
        // Unanchored segments between anchors share the frames between them.
        let starts = starts(&parse("a | b | 40: c | d").unwrap(), 60).unwrap();
        assert_eq!(starts, [0.0, 20.0, 40.0, 50.0]);
        assert_eq!(first_text("0: a | 30: b").unwrap(), "a");
    }

    #[test]
    fn anchors_out_of_order_or_outside_the_shot_are_refused() {
        for bad in ["a | 30: b | 20: c", "a | 60: b", "10: a | 10: b"] {
            let err = window_texts(bad, 60, &[(0, 17)]).unwrap_err().to_string();
            assert!(err.contains("anchors must increase"), "{bad}: {err}");
        }
    }
}
