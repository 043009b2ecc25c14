//! Animate: image to video. The shot starts at source frame Image Frame, which passes through
//! untouched (it is the user's picture); the next `length - 1` frames are model work. With End on
//! a Frame the shot instead runs from Image Frame to End Frame: both keyframes pass through and
//! the model fills the frames strictly between them (in-betweening). Frames outside the shot show
//! the source as it is.

use std::ffi::CStr;

use super::generate::{length, LENGTH_PARAM, LOOP_PARAM};
use super::{
    model_param, EffectError, FramePlan, FrameRange, ModelWork, ParamKind, ParamSpec, ParamValues, GUIDANCE_PARAM,
    MATCH_SOURCE_PARAM, NEGATIVE_PROMPT_PARAM, PAGE_MAIN, PROMPT_PARAM, SEAM_BLEND_PARAM, SEED_PARAM, STATUS_PARAM,
    STEPS_PARAM, UPDATE_STATUS_PARAM,
};

pub const PARAM_IMAGE_FRAME: &CStr = c"image_frame";
pub const PARAM_END_FRAME_ENABLED: &CStr = c"end_frame_enabled";
pub const PARAM_END_FRAME: &CStr = c"end_frame";

pub(super) const PARAMS: &[ParamSpec] = &[
    PROMPT_PARAM,
    NEGATIVE_PROMPT_PARAM,
    ParamSpec {
        name: PARAM_IMAGE_FRAME,
        label: c"Image Frame",
        hint: c"Source frame to animate; the generated shot starts here and replaces the source frames after it.",
        page: PAGE_MAIN,
        kind: ParamKind::Int { default: 0, min: -1_000_000, max: 1_000_000, display_min: 0, display_max: 1000 },
    },
    ParamSpec {
        name: PARAM_END_FRAME_ENABLED,
        label: c"End on a Frame",
        hint: c"Run the shot from Image Frame to End Frame: both frames stay as they are and the model fills the frames between them. Length is ignored.",
        page: PAGE_MAIN,
        kind: ParamKind::Bool { default: false },
    },
    ParamSpec {
        name: PARAM_END_FRAME,
        label: c"End Frame",
        hint: c"With End on a Frame: the source frame the shot lands on. It must come after Image Frame.",
        page: PAGE_MAIN,
        // 16 after frame 0 makes the same 17-frame shot as Length's default.
        kind: ParamKind::Int { default: 16, min: -1_000_000, max: 1_000_000, display_min: 0, display_max: 1000 },
    },
    LENGTH_PARAM,
    LOOP_PARAM,
    MATCH_SOURCE_PARAM,
    SEAM_BLEND_PARAM,
    SEED_PARAM,
    STEPS_PARAM,
    GUIDANCE_PARAM,
    model_param(c"kinema-tiny"),
    STATUS_PARAM,
    UPDATE_STATUS_PARAM,
];

fn image_frame(values: &ParamValues, source: FrameRange) -> Result<f64, EffectError> {
    let frame = f64::from(values.int(PARAM_IMAGE_FRAME)?);
    if !source.contains(frame) {
        return Err(EffectError::InvalidParam(
            "Image Frame",
            format!("frame {frame} is outside the source clip (frames {} to {})", source.first, source.last),
        ));
    }
    Ok(frame)
}

/// End Frame when End on a Frame is on (None when off). A keyframe the user picked must be a real
/// source frame, and the shot must run forward from Image Frame.
fn end_frame(values: &ParamValues, source: FrameRange, image: f64) -> Result<Option<f64>, EffectError> {
    if !values.bool(PARAM_END_FRAME_ENABLED)? {
        return Ok(None);
    }
    let end = f64::from(values.int(PARAM_END_FRAME)?);
    if !source.contains(end) {
        return Err(EffectError::InvalidParam(
            "End Frame",
            format!("frame {end} is outside the source clip (frames {} to {})", source.first, source.last),
        ));
    }
    if end <= image {
        return Err(EffectError::InvalidParam(
            "End Frame",
            format!("frame {end} must come after Image Frame (frame {image})"),
        ));
    }
    Ok(Some(end))
}

pub(super) fn plan(values: &ParamValues, t: f64, source: Option<FrameRange>) -> Result<FramePlan, EffectError> {
    let source = source.filter(|s| !s.is_empty()).ok_or(EffectError::NoSource)?;
    let image = image_frame(values, source)?;
    let index = (t - image).round();
    if let Some(end) = end_frame(values, source, image)? {
        // Both keyframes are the user's pictures; only the frames between them are made.
        let at = image + index;
        if at == image || at == end {
            return Ok(FramePlan::PassThrough { source_time: at });
        }
        if at > image && at < end {
            return Ok(FramePlan::Model(ModelWork::Animate {
                image_frame: image,
                end_frame: Some(end),
                index: index as i64,
            }));
        }
        if source.contains(t) {
            return Ok(FramePlan::PassThrough { source_time: t });
        }
        return Err(EffectError::OutsideShot { time: t, first: source.first, last: source.last });
    }
    let shot_last = image + (length(values)? - 1) as f64;
    if index == 0.0 {
        return Ok(FramePlan::PassThrough { source_time: image });
    }
    if t > image && t <= shot_last {
        return Ok(FramePlan::Model(ModelWork::Animate { image_frame: image, end_frame: None, index: index as i64 }));
    }
    if source.contains(t) {
        return Ok(FramePlan::PassThrough { source_time: t });
    }
    Err(EffectError::OutsideShot { time: t, first: source.first, last: source.last.max(shot_last) })
}

pub(super) fn time_domain(values: &ParamValues, source: Option<FrameRange>) -> Result<Option<FrameRange>, EffectError> {
    let Some(source) = source.filter(|s| !s.is_empty()) else { return Ok(None) };
    let image = image_frame(values, source)?;
    if end_frame(values, source, image)?.is_some() {
        // The shot lies inside the source.
        return Ok(Some(source));
    }
    let shot_last = image + (length(values)? - 1) as f64;
    Ok(Some(FrameRange::new(source.first, source.last.max(shot_last))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::{ParamValue, ANIMATE};

    fn values(image: i32, len: i32) -> ParamValues {
        let mut v = ParamValues::defaults(&ANIMATE);
        v.set(PARAM_IMAGE_FRAME, ParamValue::Int(image));
        v.set(super::super::generate::PARAM_LENGTH, ParamValue::Int(len));
        v
    }

    const SRC: Option<FrameRange> = Some(FrameRange { first: 0.0, last: 20.0 });

    #[test]
    fn the_image_frame_passes_through_and_the_shot_after_it_is_model_work() {
        let v = values(5, 4);
        assert_eq!(plan(&v, 5.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 5.0 });
        let work = |index| FramePlan::Model(ModelWork::Animate { image_frame: 5.0, end_frame: None, index });
        assert_eq!(plan(&v, 6.0, SRC).unwrap(), work(1));
        assert_eq!(plan(&v, 8.0, SRC).unwrap(), work(3));
        assert_eq!(plan(&v, 9.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 9.0 });
        assert_eq!(plan(&v, 2.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 2.0 });
        assert_eq!(ANIMATE.frames_needed(&v, 7.0, SRC).unwrap(), Some(FrameRange::single(5.0)));
    }

    #[test]
    fn the_shot_may_run_past_the_source_but_the_image_must_be_inside_it() {
        let v = values(18, 10);
        assert_eq!(time_domain(&v, SRC).unwrap(), Some(FrameRange::new(0.0, 27.0)));
        assert!(matches!(plan(&v, 27.0, SRC).unwrap(), FramePlan::Model(ModelWork::Animate { index: 9, .. })));
        assert!(matches!(plan(&v, 28.0, SRC), Err(EffectError::OutsideShot { .. })));
        let err = plan(&values(30, 4), 30.0, SRC).unwrap_err();
        assert!(
            err.to_string().starts_with("Image Frame is out of range: frame 30 is outside the source clip"),
            "{err}"
        );
        assert_eq!(plan(&values(0, 4), 0.0, None).unwrap_err(), EffectError::NoSource);
    }

    fn keyframes(image: i32, end: i32) -> ParamValues {
        let mut v = values(image, 4);
        v.set(PARAM_END_FRAME_ENABLED, ParamValue::Bool(true));
        v.set(PARAM_END_FRAME, ParamValue::Int(end));
        v
    }

    #[test]
    fn end_on_a_frame_keeps_both_keyframes_and_makes_the_frames_between() {
        // Length (4) is ignored: the shot is frames 5 to 12.
        let v = keyframes(5, 12);
        let work = |index| FramePlan::Model(ModelWork::Animate { image_frame: 5.0, end_frame: Some(12.0), index });
        assert_eq!(plan(&v, 5.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 5.0 });
        assert_eq!(plan(&v, 12.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 12.0 });
        assert_eq!(plan(&v, 6.0, SRC).unwrap(), work(1));
        assert_eq!(plan(&v, 11.0, SRC).unwrap(), work(6));
        assert_eq!(plan(&v, 4.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 4.0 });
        assert_eq!(plan(&v, 13.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 13.0 });
        assert!(matches!(plan(&v, 21.0, SRC), Err(EffectError::OutsideShot { last: 20.0, .. })));
        assert_eq!(time_domain(&v, SRC).unwrap(), SRC);
        assert_eq!(ANIMATE.frames_needed(&v, 8.0, SRC).unwrap(), Some(FrameRange::new(5.0, 12.0)));
        assert_eq!(ANIMATE.frames_needed(&v, 12.0, SRC).unwrap(), Some(FrameRange::single(12.0)));
        // Adjacent keyframes leave nothing to make.
        let v = keyframes(0, 1);
        assert_eq!(plan(&v, 1.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 1.0 });
    }

    #[test]
    fn the_end_frame_must_be_a_source_frame_after_the_image_frame() {
        for (image, end, reason) in [
            (5, 5, "End Frame is out of range: frame 5 must come after Image Frame (frame 5)"),
            (5, 3, "End Frame is out of range: frame 3 must come after Image Frame (frame 5)"),
            (5, 21, "End Frame is out of range: frame 21 is outside the source clip (frames 0 to 20)"),
            (5, -1, "End Frame is out of range: frame -1 is outside the source clip"),
        ] {
            let v = keyframes(image, end);
            for t in [0.0, 5.0, 8.0] {
                let err = plan(&v, t, SRC).unwrap_err();
                assert!(err.to_string().starts_with(reason), "{image}..{end} at {t}: {err}");
            }
            assert!(time_domain(&v, SRC).is_err());
        }
        // Image Frame is still checked first.
        assert!(plan(&keyframes(30, 35), 31.0, SRC).unwrap_err().to_string().starts_with("Image Frame"));
    }

    #[test]
    fn a_disabled_end_frame_changes_nothing() {
        let mut v = values(5, 4);
        v.set(PARAM_END_FRAME, ParamValue::Int(2));
        assert!(!v.bool(PARAM_END_FRAME_ENABLED).unwrap(), "off by default");
        for t in 0..=20 {
            let t = f64::from(t);
            assert_eq!(plan(&v, t, SRC), plan(&values(5, 4), t, SRC), "frame {t}");
        }
        assert_eq!(time_domain(&v, SRC).unwrap(), Some(FrameRange::new(0.0, 20.0)));
        assert_eq!(time_domain(&values(18, 10), SRC).unwrap(), Some(FrameRange::new(0.0, 27.0)));
    }
}
