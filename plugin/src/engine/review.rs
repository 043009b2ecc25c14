//! Frame review: every frame a model generates is scored by the frame classifier its manifest
//! names (`components.frame_classifier`), before any frame of the shot is served or cached. The
//! content policy says which classifier labels flag a shot in which category, at what score
//! ([`ReviewRule`]); one flagged frame withholds the whole shot, and the error names the
//! category, the label, the score and the frame.
//!
//! A policy is written for every model, so a rule whose label a model's classifier does not have
//! is not this model's concern. A model without a classifier is not reviewed, unless the policy
//! requires review, in which case it generates nothing.

use std::fmt;

use ort::value::Tensor;

use super::EngineError;
use crate::diffusion::manifest::FrameClassifierSpec;
use crate::diffusion::VideoModel;
use crate::frame_io::{box_blur, resize_bilinear, try_zeroed, Frame};

/// A classifier label that flags frames in a policy category at `threshold` or above.
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewRule {
    pub category: String,
    pub label: String,
    pub threshold: f32,
}

/// What the policy asks of frame review.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReviewPolicy {
    pub rules: Vec<ReviewRule>,
    /// A model without a frame classifier may not generate.
    pub required: bool,
}

impl ReviewPolicy {
    /// Identifies the rules in a shot's cache key: frames reviewed under other rules are another
    /// shot, reviewed again.
    pub fn key_text(&self) -> String {
        let mut text = format!("required={};", self.required);
        for r in &self.rules {
            text.push_str(&format!("{}\u{1f}{}\u{1f}{};", r.category, r.label, r.threshold));
        }
        text
    }
}

/// A frame the review flagged.
#[derive(Clone, Debug, PartialEq)]
pub struct Flagged {
    pub category: String,
    pub label: String,
    pub score: f32,
    pub threshold: f32,
    /// The frame's index in the shot's clip.
    pub frame: usize,
}

impl fmt::Display for Flagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Shot withheld by frame review: frame {} was flagged as {} (classifier label \"{}\" scored {:.2}, \
             the policy's limit is {:.2}). No frame of this shot is shown or cached; change the prompt or the seed.",
            self.frame, self.category, self.label, self.score, self.threshold
        )
    }
}

/// How a model's frames are reviewed: the classifier and the rules that apply to its labels.
pub struct Reviewer<'a> {
    model: &'a VideoModel,
    spec: &'a FrameClassifierSpec,
    /// (label index, rule) for each rule whose label the classifier has.
    rules: Vec<(usize, ReviewRule)>,
}

/// Frames scored per classifier run.
const BATCH: usize = 8;

impl<'a> Reviewer<'a> {
    /// The reviewer for `model` under `policy`: `None` when nothing is to be reviewed (no
    /// classifier, or none of its labels in the policy); an error when review is required and
    /// the model cannot do it.
    pub fn new(model: &'a VideoModel, policy: &ReviewPolicy) -> Result<Option<Self>, EngineError> {
        let Some(spec) = model.manifest.components.frame_classifier.as_ref() else {
            if policy.required {
                return Err(EngineError::Input(format!(
                    "The content policy requires every generated frame to be reviewed, and model '{}' names no \
                     frame classifier (components.frame_classifier in its manifest). Use a model that has one, \
                     or ask whoever manages the policy.",
                    model.name
                )));
            }
            return Ok(None);
        };
        let rules: Vec<(usize, ReviewRule)> = policy
            .rules
            .iter()
            .filter_map(|r| spec.labels.iter().position(|l| l == &r.label).map(|i| (i, r.clone())))
            .collect();
        Ok((!rules.is_empty() || policy.required).then_some(Reviewer { model, spec, rules }))
    }

    /// The policy categories this reviewer checks frames for.
    pub fn categories(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.rules.iter().map(|(_, r)| r.category.as_str()).collect();
        names.dedup();
        names
    }

    /// Reviews `frames`, the clip's frames from index `first`: the first flagged frame (in
    /// order, then rule order) is the error. `abort` is polled between batches.
    pub fn review(&self, frames: &[Frame], first: usize, abort: &dyn Fn() -> bool) -> Result<(), EngineError> {
        for (b, batch) in frames.chunks(BATCH).enumerate() {
            if abort() {
                return Err(EngineError::Aborted);
            }
            let scores = self.scores(batch)?;
            for (i, row) in scores.chunks_exact(self.spec.labels.len()).enumerate() {
                if let Some(flag) = flag(row, &self.rules, first + b * BATCH + i) {
                    return Err(EngineError::Flagged(flag));
                }
            }
        }
        Ok(())
    }

    /// The classifier's scores for up to [`BATCH`] frames, row-major `[n, labels]`.
    fn scores(&self, frames: &[Frame]) -> Result<Vec<f32>, EngineError> {
        let spec = self.spec;
        let (w, h, n) = (spec.width, spec.height, frames.len());
        let plane = w * h;
        let mut pixels = try_zeroed(n * 3 * plane, "the frames to review")?;
        for (f, frame) in frames.iter().enumerate() {
            let thumb = thumbnail(frame, w, h)?;
            for c in 0..3 {
                // Grey frames are reviewed as grey RGB.
                let src = thumb.plane(c.min(thumb.channels - 1));
                pixels[(f * 3 + c) * plane..(f * 3 + c + 1) * plane].copy_from_slice(src);
            }
        }
        let session = self.model.component_session(&spec.file)?;
        let (shape, data) = session.with(|s| {
            let out = s.run(ort::inputs![spec.input.as_str() => Tensor::from_array(([n, 3, h, w], pixels))?])?;
            let (shape, data) = out[spec.output.as_str()].try_extract_tensor::<f32>()?;
            Ok((shape.to_vec(), data.to_vec()))
        })?;
        let labels = spec.labels.len();
        if shape != [n as i64, labels as i64] {
            return Err(EngineError::Mismatch {
                model: self.model.name.clone(),
                reason: format!(
                    "the frame classifier {} gave scores of shape {shape:?}, expected [{n}, {labels}] (one per label)",
                    spec.file
                ),
            });
        }
        Ok(data)
    }
}

/// The first rule `row` (one frame's scores) breaks. A score that is not a number cannot clear
/// a frame, so it flags it.
fn flag(row: &[f32], rules: &[(usize, ReviewRule)], frame: usize) -> Option<Flagged> {
    rules.iter().find_map(|(i, r)| {
        let score = row[*i];
        (score.is_nan() || score >= r.threshold).then(|| Flagged {
            category: r.category.clone(),
            label: r.label.clone(),
            score,
            threshold: r.threshold,
            frame,
        })
    })
}

/// The whole frame scaled to the classifier's size, low-passed first when it shrinks by more
/// than 2 (bilinear alone would alias fine detail away, or into something else).
fn thumbnail(frame: &Frame, width: usize, height: usize) -> Result<Frame, EngineError> {
    if frame.channels == 0 || frame.width == 0 || frame.height == 0 {
        return Err(EngineError::Input("a generated frame to review is empty".into()));
    }
    let shrink = (frame.width / width).min(frame.height / height);
    if shrink <= 2 {
        return Ok(resize_bilinear(frame, width, height));
    }
    let radius = shrink / 2;
    let mut soft = frame.clone();
    for c in 0..frame.channels.min(3) {
        let blurred = box_blur(frame.plane(c), frame.width, frame.height, radius);
        soft.plane_mut(c).copy_from_slice(&blurred);
    }
    Ok(resize_bilinear(&soft, width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(category: &str, label: &str, threshold: f32) -> ReviewRule {
        ReviewRule { category: category.into(), label: label.into(), threshold }
    }

    #[test]
    fn a_frame_is_flagged_by_the_first_rule_it_breaks_and_nan_never_clears_it() {
        let rules = vec![(1, rule("forbidden colour", "red", 0.5)), (0, rule("other", "green", 0.9))];
        assert_eq!(flag(&[0.95, 0.49], &rules, 3).map(|f| f.category), Some("other".into()));
        let f = flag(&[0.1, 0.5], &rules, 7).unwrap();
        assert_eq!((f.label.as_str(), f.frame, f.score, f.threshold), ("red", 7, 0.5, 0.5));
        assert!(flag(&[0.89, 0.49], &rules, 0).is_none());
        assert!(flag(&[0.0, f32::NAN], &rules, 0).is_some());
        let text = f.to_string();
        for part in ["frame 7", "forbidden colour", "\"red\"", "0.50", "No frame of this shot is shown or cached"] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn thumbnails_keep_the_whole_frame_and_low_pass_large_shrinks() {
        let mut frame = Frame::new(3, 64, 256);
        // A one-pixel-wide red line at the far right edge survives a 16x shrink as a trace.
        for y in 0..64 {
            frame.plane_mut(0)[y * 256 + 255] = 1.0;
        }
        let thumb = thumbnail(&frame, 16, 4).unwrap();
        assert_eq!((thumb.width, thumb.height, thumb.channels), (16, 4, 3));
        assert!(thumb.plane(0)[15] > 0.0, "the edge is reviewed, not cropped away");
        assert!(thumbnail(&Frame::new(3, 0, 0), 16, 16).is_err());
    }

    #[test]
    fn the_key_text_follows_every_rule() {
        let a = ReviewPolicy { rules: vec![rule("c", "red", 0.5)], required: false };
        let mut b = a.clone();
        b.rules[0].threshold = 0.4;
        assert_ne!(a.key_text(), b.key_text());
        let c = ReviewPolicy { required: true, ..a.clone() };
        assert_ne!(a.key_text(), c.key_text());
    }
}
