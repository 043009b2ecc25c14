//! Parsing frame lists such as `"12, 40-42"` (the Interpolate effect's Fill Frames).

use std::collections::BTreeSet;

/// Why a frame list could not be read; positions are 1-based item numbers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameListError {
    #[error("'{item}' (item {index}) is not a frame number or a range like 40-42")]
    NotAFrame { item: String, index: usize },
    #[error("range '{item}' (item {index}) runs backwards; write it as {last}-{first}")]
    Backwards { item: String, index: usize, first: i64, last: i64 },
    #[error("range '{item}' (item {index}) is longer than {max} frames")]
    TooLong { item: String, index: usize, max: i64 },
    #[error("the list names more than {max} frames in all (at item {index})")]
    TooMany { index: usize, max: i64 },
}

/// Longest single range accepted, so a typo like `1-9999999` cannot allocate gigabytes.
const MAX_RANGE: i64 = 100_000;

/// Frames named by the whole list, repeats included (many ranges would add up to gigabytes, or
/// the same range repeated to hours of work): a two-hour film at 24 fps has 172 800.
const MAX_TOTAL: i64 = 1_000_000;

/// Parses a comma- or whitespace-separated list of frames and inclusive ranges. Negative frames
/// are allowed (`-5`, `-5--2`); an empty list is valid and means no frames.
pub fn parse_frame_list(text: &str) -> Result<BTreeSet<i64>, FrameListError> {
    let mut frames = BTreeSet::new();
    let mut total = 0;
    let items = text.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|s| !s.is_empty());
    for (i, item) in items.enumerate() {
        let index = i + 1;
        let bad = || FrameListError::NotAFrame { item: item.to_string(), index };
        // The range dash is a '-' that follows a digit, so "-5" and "-5--2" parse.
        let dash = item
            .char_indices()
            .skip(1)
            .find(|&(p, c)| c == '-' && item.as_bytes()[p - 1].is_ascii_digit())
            .map(|(p, _)| p);
        let (first, last) = match dash {
            Some(p) => (item[..p].parse::<i64>().map_err(|_| bad())?, item[p + 1..].parse::<i64>().map_err(|_| bad())?),
            None => {
                let f = item.parse::<i64>().map_err(|_| bad())?;
                (f, f)
            }
        };
        if last < first {
            return Err(FrameListError::Backwards { item: item.to_string(), index, first, last });
        }
        if last - first >= MAX_RANGE {
            return Err(FrameListError::TooLong { item: item.to_string(), index, max: MAX_RANGE });
        }
        total += last - first + 1;
        if total > MAX_TOTAL {
            return Err(FrameListError::TooMany { index, max: MAX_TOTAL });
        }
        frames.extend(first..=last);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_frames_ranges_and_mixed_separators() {
        let f = parse_frame_list("12, 40-42").unwrap();
        assert_eq!(f.into_iter().collect::<Vec<_>>(), [12, 40, 41, 42]);
        let f = parse_frame_list(" 3;1  2,,7-7 ").unwrap();
        assert_eq!(f.into_iter().collect::<Vec<_>>(), [1, 2, 3, 7]);
        let f = parse_frame_list("-5--3, -1").unwrap();
        assert_eq!(f.into_iter().collect::<Vec<_>>(), [-5, -4, -3, -1]);
        assert!(parse_frame_list("").unwrap().is_empty());
        assert!(parse_frame_list(" , ").unwrap().is_empty());
    }

    #[test]
    fn bad_lists_name_the_item() {
        assert_eq!(parse_frame_list("12, x").unwrap_err(), FrameListError::NotAFrame { item: "x".into(), index: 2 });
        assert_eq!(parse_frame_list("4-").unwrap_err(), FrameListError::NotAFrame { item: "4-".into(), index: 1 });
        assert_eq!(parse_frame_list("1.5").unwrap_err(), FrameListError::NotAFrame { item: "1.5".into(), index: 1 });
        let err = parse_frame_list("42-40").unwrap_err();
        assert_eq!(err, FrameListError::Backwards { item: "42-40".into(), index: 1, first: 42, last: 40 });
        assert!(err.to_string().contains("write it as 40-42"), "{err}");
        assert!(matches!(parse_frame_list("0-99999999"), Err(FrameListError::TooLong { .. })));
        // Ranges within the limit one by one, but billions of frames together.
        let many: String = (0..100_000i64).map(|i| format!("{}-{},", i * 100_000, i * 100_000 + 99_999)).collect();
        assert_eq!(parse_frame_list(&many).unwrap_err(), FrameListError::TooMany { index: 11, max: 1_000_000 });
        let repeated = "0-99999,".repeat(10_000);
        assert!(matches!(parse_frame_list(&repeated), Err(FrameListError::TooMany { .. })));
    }
}
