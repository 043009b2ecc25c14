//! A gap's shot (Fill Frames, generated): how many good frames each side condition it.

use super::windows;
use super::EngineError;
use crate::diffusion::Manifest;

/// How many of a gap's good frames before and after it condition its shot: as many as given, cut
/// to the frame rule; the frames after it no more than the model holds as extra tokens where they
/// would not start on a latent frame (the rest of a clip condition is placed in whole latent
/// frames, so it would sit a frame off); and fewer, those after the gap first unless those before
/// are more (the frames leading in were measured to matter more), where they would take the shot
/// past one window. A gap longer than a window is made by the long pipeline, which holds one
/// keyframe at each end.
pub(super) fn context(
    m: &Manifest,
    (before, after): (usize, usize),
    missing: usize,
    fps: f64,
) -> Result<(usize, usize), EngineError> {
    let rule = m.latent.frame_rule;
    let mut kb = m.frames_within(before.min(m.max_context_frames()));
    let mut ka = m.frames_within(after.min(m.max_context_frames()));
    if kb == 0 || ka == 0 {
        return Err(EngineError::Input(format!(
            "a gap needs at least {} good frames on each side for this model",
            rule.plus
        )));
    }
    let t = m.latent.temporal_ratio.max(1);
    if !(kb + missing).is_multiple_of(t) {
        let prefix = m.conditioning.condition.as_ref().map_or(0, |c| c.num_prefix_latent_frames);
        ka = m.frames_within(ka.min((prefix.max(1) - 1) * t + 1)).max(1);
    }
    let one_window =
        |kb: usize, ka: usize| matches!(windows::plan(m, m.frames_for(kb + missing + ka), fps, false), Ok(None));
    while !one_window(kb, ka) && (kb > 1 || ka > 1) {
        let larger = if kb > ka { &mut kb } else { &mut ka };
        *larger = m.frames_within(*larger - 1).max(1);
    }
    Ok((kb, ka))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_gap_reads_what_fits_the_frame_rule_its_conditions_and_one_window() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kinema-tiny");
        // Frame rule 2k+1, 2 pixel frames a latent frame, 2 prefix latent frames, 17-frame windows.
        let m = Manifest::load(&root, "kinema-tiny").unwrap();
        let at = |before, after, missing| context(&m, (before, after), missing, 25.0).unwrap();
        assert_eq!(at(3, 3, 8), (3, 3));
        assert_eq!(at(4, 2, 8), (3, 1), "cut to the frame rule");
        assert_eq!(at(1, 1, 8), (1, 1));
        // The frames after an 8-frame gap start at shot frame 13 (odd): the model holds 3 as extra
        // tokens, 5 would put the last 2 one frame off. After a 9-frame gap they start at 14.
        assert_eq!(at(5, 5, 8), (5, 3));
        assert_eq!(at(5, 5, 7), (5, 5), "5 + 7 + 5 frames fit one window of 17");
        // 3 + 12 + 3 frames would pass the window: the frames after the gap go first.
        assert_eq!(at(3, 3, 12), (3, 1));
        assert_eq!(at(9, 3, 12), (3, 1), "unless those before are more");
        // Longer than a window even with one frame each side: the long pipeline's keyframes.
        assert_eq!(at(9, 9, 20), (1, 1));
        let err = context(&m, (0, 3), 8, 25.0).unwrap_err().to_string();
        assert!(err.contains("at least 1 good frames on each side"), "{err}");
    }
}
