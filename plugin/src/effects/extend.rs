//! Extend: continue a clip past its last frame (forward) or before its first (backward). Frames
//! inside the source pass through bit-exact; the `extend_frames` frames beyond the chosen end are
//! model work conditioned on the `context_frames` source frames at that end.

use std::ffi::CStr;

use super::{
    model_param, Direction, EffectError, FramePlan, FrameRange, ModelWork, ParamKind, ParamSpec, ParamValues,
    EXTEND_GUIDANCE_PARAM, MATCH_SOURCE_PARAM, NEGATIVE_PROMPT_PARAM, PAGE_ADVANCED, PAGE_MAIN, PROMPT_PARAM,
    SEAM_BLEND_PARAM, SEED_PARAM, STATUS_PARAM, STEPS_PARAM, UPDATE_STATUS_PARAM,
};

pub const PARAM_DIRECTION: &CStr = c"direction";
pub const DIRECTION_FORWARD: usize = 0;
pub const DIRECTION_BACKWARD: usize = 1;
pub const PARAM_EXTEND_FRAMES: &CStr = c"extend_frames";
pub const PARAM_CONTEXT_FRAMES: &CStr = c"context_frames";

pub(super) const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: PARAM_DIRECTION,
        label: c"Direction",
        hint: c"Forward generates frames after the clip's last frame; Backward generates frames before its first.",
        page: PAGE_MAIN,
        kind: ParamKind::Choice { options: &[c"Forward", c"Backward"], default: DIRECTION_FORWARD },
    },
    PROMPT_PARAM,
    NEGATIVE_PROMPT_PARAM,
    ParamSpec {
        name: PARAM_EXTEND_FRAMES,
        label: c"Extend By",
        hint: c"Frames to generate beyond the chosen end of the clip.",
        page: PAGE_MAIN,
        kind: ParamKind::Int { default: 8, min: 1, max: 10_000, display_min: 1, display_max: 1441 },
    },
    ParamSpec {
        name: PARAM_CONTEXT_FRAMES,
        label: c"Context Frames",
        hint: c"How many source frames at the chosen end the model continues from.",
        page: PAGE_ADVANCED,
        kind: ParamKind::Int { default: 9, min: 1, max: 257, display_min: 1, display_max: 65 },
    },
    MATCH_SOURCE_PARAM,
    SEAM_BLEND_PARAM,
    SEED_PARAM,
    STEPS_PARAM,
    EXTEND_GUIDANCE_PARAM,
    model_param(c"kinema-tiny"),
    STATUS_PARAM,
    UPDATE_STATUS_PARAM,
];

fn positive(values: &ParamValues, name: &CStr, label: &'static str) -> Result<i64, EffectError> {
    let v = values.int(name)?;
    if v < 1 {
        return Err(EffectError::InvalidParam(label, format!("{v}; it must be at least 1")));
    }
    Ok(i64::from(v))
}

fn direction(values: &ParamValues) -> Result<Direction, EffectError> {
    match values.choice(PARAM_DIRECTION)? {
        DIRECTION_FORWARD => Ok(Direction::Forward),
        DIRECTION_BACKWARD => Ok(Direction::Backward),
        other => Err(EffectError::InvalidParam("Direction", format!("option {other}; it must be Forward or Backward"))),
    }
}

pub(super) fn plan(values: &ParamValues, t: f64, source: Option<FrameRange>) -> Result<FramePlan, EffectError> {
    let source = source.filter(|s| !s.is_empty()).ok_or(EffectError::NoSource)?;
    if source.contains(t) {
        return Ok(FramePlan::PassThrough { source_time: t });
    }
    let direction = direction(values)?;
    let extend = positive(values, PARAM_EXTEND_FRAMES, "Extend By")?;
    let context = positive(values, PARAM_CONTEXT_FRAMES, "Context Frames")?;
    let shot = extended_range(source, direction, extend);
    let (index, context) = match direction {
        Direction::Forward if t > source.last => (
            (t - source.last).ceil(),
            FrameRange::new((source.last - (context - 1) as f64).max(source.first), source.last),
        ),
        Direction::Backward if t < source.first => (
            (source.first - t).ceil(),
            FrameRange::new(source.first, (source.first + (context - 1) as f64).min(source.last)),
        ),
        _ => return Err(EffectError::OutsideShot { time: t, first: shot.first, last: shot.last }),
    };
    if index > extend as f64 {
        return Err(EffectError::OutsideShot { time: t, first: shot.first, last: shot.last });
    }
    Ok(FramePlan::Model(ModelWork::Extend { direction, context, index: index as i64 }))
}

fn extended_range(source: FrameRange, direction: Direction, extend: i64) -> FrameRange {
    match direction {
        Direction::Forward => FrameRange::new(source.first, source.last + extend as f64),
        Direction::Backward => FrameRange::new(source.first - extend as f64, source.last),
    }
}

pub(super) fn time_domain(values: &ParamValues, source: Option<FrameRange>) -> Result<Option<FrameRange>, EffectError> {
    let Some(source) = source.filter(|s| !s.is_empty()) else { return Ok(None) };
    let extend = positive(values, PARAM_EXTEND_FRAMES, "Extend By")?;
    Ok(Some(extended_range(source, direction(values)?, extend)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::{ParamValue, EXTEND, PARAM_GUIDANCE, PARAM_MATCH_SOURCE, PARAM_SEAM_BLEND};

    const SRC: Option<FrameRange> = Some(FrameRange { first: 10.0, last: 30.0 });

    fn values(extend: i32, context: i32) -> ParamValues {
        let mut v = ParamValues::defaults(&EXTEND);
        v.set(PARAM_EXTEND_FRAMES, ParamValue::Int(extend));
        v.set(PARAM_CONTEXT_FRAMES, ParamValue::Int(context));
        v
    }

    #[test]
    fn source_frames_pass_through_and_frames_after_it_need_the_model() {
        let v = values(5, 4);
        assert_eq!(plan(&v, 10.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 10.0 });
        assert_eq!(plan(&v, 30.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 30.0 });
        let ctx = FrameRange::new(27.0, 30.0);
        assert_eq!(
            plan(&v, 31.0, SRC).unwrap(),
            FramePlan::Model(ModelWork::Extend { direction: Direction::Forward, context: ctx, index: 1 })
        );
        assert_eq!(
            plan(&v, 35.0, SRC).unwrap(),
            FramePlan::Model(ModelWork::Extend { direction: Direction::Forward, context: ctx, index: 5 })
        );
        assert_eq!(EXTEND.frames_needed(&v, 33.0, SRC).unwrap(), Some(ctx));
        assert_eq!(EXTEND.frames_needed(&v, 12.0, SRC).unwrap(), Some(FrameRange::single(12.0)));
        assert_eq!(time_domain(&v, SRC).unwrap(), Some(FrameRange::new(10.0, 35.0)));
    }

    #[test]
    fn frames_outside_the_extended_range_and_bad_settings_are_errors() {
        let v = values(5, 4);
        assert!(matches!(plan(&v, 36.0, SRC), Err(EffectError::OutsideShot { .. })));
        assert!(matches!(plan(&v, 9.0, SRC), Err(EffectError::OutsideShot { .. })));
        // Context longer than the clip uses the whole clip.
        let long = values(5, 100);
        assert_eq!(
            plan(&long, 31.0, SRC).unwrap(),
            FramePlan::Model(ModelWork::Extend {
                direction: Direction::Forward,
                context: FrameRange::new(10.0, 30.0),
                index: 1
            })
        );
        assert!(plan(&values(0, 4), 31.0, SRC).unwrap_err().to_string().starts_with("Extend By is out of range"));
        assert_eq!(plan(&v, 31.0, None).unwrap_err(), EffectError::NoSource);
    }

    #[test]
    fn extension_follows_its_context_without_prompt_guidance_by_default() {
        let (extend, generate) = (ParamValues::defaults(&EXTEND), ParamValues::defaults(&crate::effects::GENERATE));
        assert_eq!(extend.double(PARAM_GUIDANCE).unwrap(), 1.0);
        assert_eq!(generate.double(PARAM_GUIDANCE).unwrap(), 3.0);
        assert_eq!(extend.int(PARAM_SEAM_BLEND).unwrap(), 4);
    }

    #[test]
    fn match_source_is_on_by_default_and_does_not_change_the_plan() {
        let mut v = values(5, 4);
        assert!(v.bool(PARAM_MATCH_SOURCE).unwrap());
        let on = plan(&v, 31.0, SRC).unwrap();
        v.set(PARAM_MATCH_SOURCE, ParamValue::Bool(false));
        assert_eq!(plan(&v, 31.0, SRC).unwrap(), on, "the correction is applied when serving, not planned");
    }

    #[test]
    fn backward_generates_before_the_first_frame_from_the_first_source_frames() {
        let mut v = values(5, 4);
        v.set(PARAM_DIRECTION, ParamValue::Choice(DIRECTION_BACKWARD));
        let ctx = FrameRange::new(10.0, 13.0);
        assert_eq!(plan(&v, 20.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 20.0 });
        assert_eq!(
            plan(&v, 9.0, SRC).unwrap(),
            FramePlan::Model(ModelWork::Extend { direction: Direction::Backward, context: ctx, index: 1 })
        );
        assert_eq!(
            plan(&v, 5.0, SRC).unwrap(),
            FramePlan::Model(ModelWork::Extend { direction: Direction::Backward, context: ctx, index: 5 })
        );
        assert!(matches!(plan(&v, 4.0, SRC), Err(EffectError::OutsideShot { .. })));
        assert!(matches!(plan(&v, 31.0, SRC), Err(EffectError::OutsideShot { .. })));
        assert_eq!(time_domain(&v, SRC).unwrap(), Some(FrameRange::new(5.0, 30.0)));
    }
}
