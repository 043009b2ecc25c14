//! Animate: image to video. The shot starts at source frame Image Frame, which passes through
//! untouched (it is the user's picture); the next `length - 1` frames are model work. Frames
//! outside the shot show the source as it is.

use std::ffi::CStr;

use super::generate::{length, LENGTH_PARAM};
use super::{
    model_param, EffectError, FramePlan, FrameRange, ModelWork, ParamKind, ParamSpec, ParamValues, GUIDANCE_PARAM,
    NEGATIVE_PROMPT_PARAM, PAGE_MAIN, PROMPT_PARAM, SEED_PARAM, STATUS_PARAM, STEPS_PARAM,
};

pub const PARAM_IMAGE_FRAME: &CStr = c"image_frame";

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
    LENGTH_PARAM,
    SEED_PARAM,
    STEPS_PARAM,
    GUIDANCE_PARAM,
    model_param(c"kinema-tiny"),
    STATUS_PARAM,
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

pub(super) fn plan(values: &ParamValues, t: f64, source: Option<FrameRange>) -> Result<FramePlan, EffectError> {
    let source = source.filter(|s| !s.is_empty()).ok_or(EffectError::NoSource)?;
    let image = image_frame(values, source)?;
    let index = (t - image).round();
    let shot_last = image + (length(values)? - 1) as f64;
    if index == 0.0 {
        return Ok(FramePlan::PassThrough { source_time: image });
    }
    if t > image && t <= shot_last {
        return Ok(FramePlan::Model(ModelWork::Animate { image_frame: image, index: index as i64 }));
    }
    if source.contains(t) {
        return Ok(FramePlan::PassThrough { source_time: t });
    }
    Err(EffectError::OutsideShot { time: t, first: source.first, last: source.last.max(shot_last) })
}

pub(super) fn time_domain(values: &ParamValues, source: Option<FrameRange>) -> Result<Option<FrameRange>, EffectError> {
    let Some(source) = source.filter(|s| !s.is_empty()) else { return Ok(None) };
    let shot_last = image_frame(values, source)? + (length(values)? - 1) as f64;
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
        assert_eq!(plan(&v, 6.0, SRC).unwrap(), FramePlan::Model(ModelWork::Animate { image_frame: 5.0, index: 1 }));
        assert_eq!(plan(&v, 8.0, SRC).unwrap(), FramePlan::Model(ModelWork::Animate { image_frame: 5.0, index: 3 }));
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
}
