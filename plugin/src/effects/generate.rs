//! Generate: text to video. Every frame is model work; the shot is `length` frames from 0.

use std::ffi::CStr;

use super::{
    model_param, EffectError, FramePlan, FrameRange, ModelWork, ParamKind, ParamSpec, ParamValues, GUIDANCE_PARAM,
    NEGATIVE_PROMPT_PARAM, PAGE_MAIN, PROMPT_PARAM, SEED_PARAM, STATUS_PARAM, STEPS_PARAM, UPDATE_STATUS_PARAM,
};

pub const PARAM_LENGTH: &CStr = c"length";

/// Shot length; shared by Generate and Animate.
pub(super) const LENGTH_PARAM: ParamSpec = ParamSpec {
    name: PARAM_LENGTH,
    label: c"Length",
    hint: c"Frames in the generated shot, up to a minute. A shot longer than the model's window (17 frames for the \
            bundled Kinema-tiny) is made in overlapping windows, each continuing the one before.",
    page: PAGE_MAIN,
    kind: ParamKind::Int { default: 17, min: 1, max: 10_000, display_min: 9, display_max: 1441 },
};

pub const PARAM_LOOP: &CStr = c"loop";

/// Loop; shared by Generate and Animate. Off by default: a loop pulls the end back to the start,
/// which a shot meant to go somewhere does not want.
pub(super) const LOOP_PARAM: ParamSpec = ParamSpec {
    name: PARAM_LOOP,
    label: c"Loop",
    hint: c"End the shot where it begins, so it plays on in a loop on the timeline without a jump: the last window is made to lead back into the shot's first frames. Needs a shot longer than the model's window (17 frames for Kinema-tiny); not with End on a Frame.",
    page: PAGE_MAIN,
    kind: ParamKind::Bool { default: false },
};

pub(super) const PARAMS: &[ParamSpec] = &[
    PROMPT_PARAM,
    NEGATIVE_PROMPT_PARAM,
    LENGTH_PARAM,
    LOOP_PARAM,
    SEED_PARAM,
    STEPS_PARAM,
    GUIDANCE_PARAM,
    model_param(c"kinema-tiny"),
    STATUS_PARAM,
    UPDATE_STATUS_PARAM,
];

pub(super) fn length(values: &ParamValues) -> Result<i64, EffectError> {
    let length = values.int(PARAM_LENGTH)?;
    if length < 1 {
        return Err(EffectError::InvalidParam("Length", format!("{length} frames; it must be at least 1")));
    }
    Ok(i64::from(length))
}

pub(super) fn plan(values: &ParamValues, t: f64) -> Result<FramePlan, EffectError> {
    let last = length(values)? - 1;
    let index = t.floor();
    if !(0.0..=last as f64).contains(&index) {
        return Err(EffectError::OutsideShot { time: t, first: 0.0, last: last as f64 });
    }
    Ok(FramePlan::Model(ModelWork::Generate { index: index as i64 }))
}

pub(super) fn time_domain(values: &ParamValues) -> Result<FrameRange, EffectError> {
    Ok(FrameRange::new(0.0, (length(values)? - 1) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::{ParamValue, GENERATE};

    #[test]
    fn every_frame_of_the_shot_is_model_work_and_the_domain_is_zero_to_length_minus_one() {
        let mut v = ParamValues::defaults(&GENERATE);
        v.set(PARAM_LENGTH, ParamValue::Int(10));
        assert_eq!(plan(&v, 0.0).unwrap(), FramePlan::Model(ModelWork::Generate { index: 0 }));
        assert_eq!(plan(&v, 9.0).unwrap(), FramePlan::Model(ModelWork::Generate { index: 9 }));
        assert!(matches!(plan(&v, 10.0), Err(EffectError::OutsideShot { .. })));
        assert!(matches!(plan(&v, -1.0), Err(EffectError::OutsideShot { .. })));
        assert_eq!(GENERATE.time_domain(&v, None).unwrap(), Some(FrameRange::new(0.0, 9.0)));
        assert_eq!(GENERATE.frames_needed(&v, 3.0, None).unwrap(), None);
        v.set(PARAM_LENGTH, ParamValue::Int(0));
        assert!(plan(&v, 0.0).unwrap_err().to_string().starts_with("Length is out of range"));
    }
}
