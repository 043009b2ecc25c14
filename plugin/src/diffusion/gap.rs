//! The manifest's optional `gap` block: how a video model fills a gap in a clip when Interpolate's
//! Fill Frames generates it (a shot conditioned on the good frames on each side). Every field is
//! optional; a model without the block still fills gaps when asked (Gap Method Generate), with its
//! default steps and guidance and the frame at each end, and Gap Method Auto never picks it.
//!
//! ```json
//! "gap": {"min_frames": 6, "auto_needs_prompt": true, "context_frames": 3, "steps": 20,
//!         "guidance": 3.0, "note": "why these values"}
//! ```

use serde::Deserialize;

use super::limits::{MAX_FRAMES, MAX_STEPS};
use super::Manifest;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GapSpec {
    /// Gaps of at least this many missing frames are generated under Gap Method Auto; shorter
    /// ones (and every gap, without it) are interpolated. State it only where generation was
    /// measured to beat interpolation on such gaps.
    #[serde(default)]
    pub min_frames: Option<usize>,
    /// Auto generates only gaps that have a Gap Prompt (where generation was measured to win
    /// only when told what the shot shows).
    #[serde(default)]
    pub auto_needs_prompt: bool,
    /// Good frames each side of the gap (counting the one next to it) that condition the shot,
    /// where the source has them: more than one shows the model how things move into and out of
    /// the gap. Default 1: just the two frames at its ends. Cut to the model's frame rule.
    #[serde(default)]
    pub context_frames: Option<usize>,
    /// Denoising steps for a gap (default: `defaults.steps`).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Guidance for a gap (default: `defaults.guidance`).
    #[serde(default)]
    pub guidance: Option<f32>,
    /// Free text for people: where the values come from.
    #[serde(default)]
    pub note: Option<String>,
}

/// Largest guidance a manifest may ask for a gap (the Guidance parameter's own limit).
const MAX_GUIDANCE: f32 = 20.0;

/// The most context frames a manifest may ask for: what Fill Frames reads around a gap
/// (`effects::gap::MAX_CONTEXT_FRAMES`, checked equal in the render tests).
pub const MAX_CONTEXT_FRAMES: usize = 9;

impl GapSpec {
    /// Values the runtime can use: counts inside the limits every manifest value keeps, a
    /// guidance that is a number from 1 (no guidance) up.
    pub fn check(&self) -> Result<(), String> {
        if let Some(n) = self.min_frames {
            if n == 0 || n > MAX_FRAMES {
                return Err(format!("min_frames {n} must be 1 to {MAX_FRAMES}"));
            }
        }
        if let Some(n) = self.context_frames {
            if n == 0 || n > MAX_CONTEXT_FRAMES {
                return Err(format!("context_frames {n} must be 1 to {MAX_CONTEXT_FRAMES}"));
            }
        }
        if let Some(s) = self.steps {
            if s == 0 || s > MAX_STEPS {
                return Err(format!("steps {s} must be 1 to {MAX_STEPS}"));
            }
        }
        if let Some(g) = self.guidance {
            // NaN fails the range check too.
            if !(1.0..=MAX_GUIDANCE).contains(&g) {
                return Err(format!("guidance {g} must be 1 to {MAX_GUIDANCE}"));
            }
        }
        Ok(())
    }
}

/// What a gap is generated with, from a model's manifest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GapSettings {
    pub min_frames: Option<usize>,
    pub auto_needs_prompt: bool,
    pub context_frames: usize,
    pub steps: usize,
    pub guidance: f32,
}

impl Manifest {
    /// The gap settings: the `gap` block's, else the model's defaults.
    pub fn gap_settings(&self) -> GapSettings {
        let gap = self.gap.clone().unwrap_or_default();
        GapSettings {
            min_frames: gap.min_frames,
            auto_needs_prompt: gap.auto_needs_prompt,
            context_frames: gap.context_frames.unwrap_or(1),
            steps: gap.steps.unwrap_or(self.defaults.steps),
            guidance: gap.guidance.unwrap_or(self.defaults.guidance),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(json: &str) -> Result<GapSpec, String> {
        let g: GapSpec = serde_json::from_str(json).map_err(|e| e.to_string())?;
        g.check().map(|()| g)
    }

    #[test]
    fn gap_values_are_checked_and_unknown_fields_refused() {
        assert_eq!(parse("{}").unwrap(), GapSpec::default());
        let g = parse(r#"{"min_frames": 6, "steps": 20, "guidance": 3.0, "note": "x"}"#).unwrap();
        assert_eq!((g.min_frames, g.steps, g.guidance), (Some(6), Some(20), Some(3.0)));
        assert!(parse(r#"{"min_frames": 0}"#).unwrap_err().contains("min_frames 0"));
        assert!(parse(r#"{"min_frames": 100001}"#).unwrap_err().contains("min_frames"));
        assert!(parse(r#"{"min_frames": -1}"#).is_err());
        assert!(parse(r#"{"steps": 0}"#).unwrap_err().contains("steps 0"));
        assert!(parse(r#"{"steps": 5000}"#).unwrap_err().contains("steps 5000"));
        assert!(parse(r#"{"guidance": 0.5}"#).unwrap_err().contains("guidance"));
        assert!(parse(r#"{"guidance": 21}"#).unwrap_err().contains("guidance"));
        assert!(parse(r#"{"min_frame": 4}"#).unwrap_err().contains("min_frame"));
        let g = parse(r#"{"auto_needs_prompt": true, "context_frames": 9}"#).unwrap();
        assert_eq!((g.auto_needs_prompt, g.context_frames), (true, Some(9)));
        assert!(parse(r#"{"context_frames": 0}"#).unwrap_err().contains("context_frames 0"));
        assert!(parse(r#"{"context_frames": 10}"#).unwrap_err().contains("context_frames 10"));
    }

    #[test]
    fn kinema_tiny_generates_prompted_gaps_of_8_frames_from_3_good_frames_each_side() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kinema-tiny");
        let m = Manifest::load(&root, "kinema-tiny").unwrap();
        let s = m.gap_settings();
        // Measured by eval_gap.py (models/kinema-tiny/README.md): RIFE wins shorter gaps, and
        // generation without a prompt.
        assert_eq!((s.min_frames, s.auto_needs_prompt, s.context_frames), (Some(8), true, 3));
        assert!(s.steps >= 1 && s.guidance >= 1.0);
        // A manifest without the block fills gaps with its defaults, from the frames at the ends.
        let mut bare = m.clone();
        bare.gap = None;
        let b = bare.gap_settings();
        assert_eq!((b.min_frames, b.steps, b.guidance), (None, m.defaults.steps, m.defaults.guidance));
        assert_eq!((b.auto_needs_prompt, b.context_frames), (false, 1));
    }
}
