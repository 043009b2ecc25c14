//! What an output frame is: a source frame passed through untouched, or work for a model.

use super::FrameListError;

/// An inclusive range of frames (`kOfxImageEffectPropFrameRange` semantics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameRange {
    pub first: f64,
    pub last: f64,
}

impl FrameRange {
    pub fn new(first: f64, last: f64) -> Self {
        Self { first, last }
    }

    pub fn single(t: f64) -> Self {
        Self { first: t, last: t }
    }

    /// Number of whole frames in the range (0 when empty or invalid).
    pub fn len(&self) -> i64 {
        if self.first.is_finite() && self.last.is_finite() && self.last >= self.first {
            (self.last - self.first).floor() as i64 + 1
        } else {
            0
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, t: f64) -> bool {
        t >= self.first && t <= self.last
    }

    pub fn clamp(&self, t: f64) -> f64 {
        t.clamp(self.first, self.last)
    }
}

/// Which end of a clip Extend grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// After the last frame (the known frames are a prefix of the generated shot).
    Forward,
    /// Before the first frame (the known frames are a suffix).
    Backward,
}

/// Model work for one output frame; the engines that do it come with the runtime.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelWork {
    /// Frame `index` of a text-to-video shot.
    Generate { index: i64 },
    /// Frame `index` (1 = first frame after the image) of a shot animated from source frame
    /// `image_frame`; with `end_frame`, a shot that also lands on that source frame (the frames
    /// between two keyframes).
    Animate { image_frame: f64, end_frame: Option<f64>, index: i64 },
    /// Frame `index` (1 = the frame next to the clip, counting away from it) generated beyond the
    /// clip's end in `direction`, continuing `context`, the source frames at that end.
    Extend { direction: Direction, context: FrameRange, index: i64 },
    /// A frame between source frames `before` and `after` at `fraction` (0 < fraction < 1) from `before`.
    Interpolate { before: f64, after: f64, fraction: f64 },
    /// Fill Frames: listed frame `frame` of the gap between the good source frames `before` and
    /// `after`, made as Gap Method says (RIFE in-betweens, or a shot generated between the two).
    /// `context` spans the good frames around the gap a generated gap may read (just `before` to
    /// `after` when the gap is interpolated).
    Gap { before: f64, after: f64, frame: i64, context: FrameRange },
    /// Motion blur: the mean of the source frame or in-between at each of `samples` (source times,
    /// spread over the shutter interval); `centre` is the source time of the frame itself.
    Blur { samples: Vec<f64>, centre: f64 },
}

impl ModelWork {
    /// Source frames the work reads.
    pub fn source_frames(&self) -> Option<FrameRange> {
        match *self {
            ModelWork::Generate { .. } => None,
            // Only the two keyframes are read, but a frames-needed range cannot have a hole.
            ModelWork::Animate { image_frame, end_frame: Some(end), .. } => Some(FrameRange::new(image_frame, end)),
            ModelWork::Animate { image_frame, end_frame: None, .. } => Some(FrameRange::single(image_frame)),
            ModelWork::Extend { context, .. } => Some(context),
            ModelWork::Interpolate { before, after, .. } => Some(FrameRange::new(before, after)),
            ModelWork::Gap { context, .. } => Some(context),
            ModelWork::Blur { ref samples, .. } => {
                let lo = samples.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                Some(FrameRange::new(lo.floor(), hi.ceil()))
            }
        }
    }
}

/// The decision for one output frame.
#[derive(Clone, Debug, PartialEq)]
pub enum FramePlan {
    /// Copy the source frame at `source_time` to the output bit-exact.
    PassThrough { source_time: f64 },
    /// The frame must be made by a model.
    Model(ModelWork),
    /// Whether `frame` is made by a model depends on the pictures in `window` (Repair
    /// Duplicates: is it a repeat of the frame before?); the renderer compares them and asks
    /// the effect again.
    Inspect { frame: i64, window: FrameRange },
}

impl FramePlan {
    pub fn source_frames(&self) -> Option<FrameRange> {
        match self {
            FramePlan::PassThrough { source_time } => Some(FrameRange::single(*source_time)),
            FramePlan::Model(work) => work.source_frames(),
            FramePlan::Inspect { window, .. } => Some(*window),
        }
    }

    /// The source frame whose size the output frame takes, since frames of a clip may differ in size
    /// (None: the project's size). A frame passed through keeps its own; an in-between takes the nearer
    /// neighbour's (which it shows when the two differ in size); a generated shot takes the size of the
    /// picture it continues (Animate's image, Extend's frame at the seam); a frame Repair Duplicates
    /// inspects keeps its own.
    pub fn size_frame(&self) -> Option<f64> {
        match *self {
            FramePlan::Model(ModelWork::Blur { centre, .. }) => {
                Some(if centre - centre.floor() < 0.5 { centre.floor() } else { centre.ceil() })
            }
            FramePlan::PassThrough { source_time } => Some(source_time),
            FramePlan::Model(ModelWork::Generate { .. }) => None,
            FramePlan::Model(ModelWork::Animate { image_frame, .. }) => Some(image_frame),
            FramePlan::Model(ModelWork::Extend { direction: Direction::Forward, context, .. }) => Some(context.last),
            FramePlan::Model(ModelWork::Extend { direction: Direction::Backward, context, .. }) => Some(context.first),
            FramePlan::Model(ModelWork::Interpolate { before, after, fraction }) => {
                Some(if fraction < 0.5 { before } else { after })
            }
            // A generated gap is fitted to the output as an in-between is: the nearer good frame's size.
            FramePlan::Model(ModelWork::Gap { before, after, frame, .. }) => {
                Some(if super::gap::fraction(before, after, frame) < 0.5 { before } else { after })
            }
            FramePlan::Inspect { frame, .. } => Some(frame as f64),
        }
    }
}

/// Why a frame cannot be planned; every message names the parameter or clip to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EffectError {
    #[error("parameter '{0}' is missing")]
    MissingParam(String),
    #[error("parameter '{name}' should be a {expected}")]
    ParamType { name: String, expected: &'static str },
    #[error("Speed must be greater than 0 (it is {0}).")]
    InvalidSpeed(f64),
    #[error("Fill Frames: {0}")]
    FrameList(#[from] FrameListError),
    #[error("{0} is out of range: {1}")]
    InvalidParam(&'static str, String),
    #[error("the Source clip is not connected or has no frames")]
    NoSource,
    #[error("frame {time} is outside this effect's frames ({first} to {last})")]
    OutsideShot { time: f64, first: f64, last: f64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_range_counts_whole_frames_and_rejects_nonsense() {
        assert_eq!(FrameRange::new(0.0, 99.0).len(), 100);
        assert_eq!(FrameRange::single(5.0).len(), 1);
        assert!(FrameRange::new(3.0, 2.0).is_empty());
        assert!(FrameRange::new(f64::NAN, 2.0).is_empty());
        assert_eq!(FrameRange::new(0.0, 9.0).clamp(12.0), 9.0);
    }

    #[test]
    fn the_output_takes_the_size_of_the_frame_it_shows_or_continues() {
        let pass = FramePlan::PassThrough { source_time: 4.0 };
        assert_eq!(pass.size_frame(), Some(4.0));
        let between = |fraction| FramePlan::Model(ModelWork::Interpolate { before: 2.0, after: 3.0, fraction });
        assert_eq!(between(0.25).size_frame(), Some(2.0));
        assert_eq!(between(0.5).size_frame(), Some(3.0), "halfway shows the later frame, as the fallback does");
        let animate = ModelWork::Animate { image_frame: 1.0, end_frame: Some(6.0), index: 2 };
        assert_eq!(FramePlan::Model(animate).size_frame(), Some(1.0), "the image, not the end keyframe");
        let context = FrameRange::new(0.0, 4.0);
        let extend = |direction| FramePlan::Model(ModelWork::Extend { direction, context, index: 1 });
        assert_eq!(extend(Direction::Forward).size_frame(), Some(4.0));
        assert_eq!(extend(Direction::Backward).size_frame(), Some(0.0));
        assert_eq!(FramePlan::Model(ModelWork::Generate { index: 0 }).size_frame(), None);
        assert_eq!(FramePlan::Inspect { frame: 7, window: FrameRange::new(3.0, 9.0) }.size_frame(), Some(7.0));
    }
}
