//! Interpolate: retime a clip by a speed factor, or rebuild listed bad frames from their
//! neighbours. Whole source frames always pass through bit-exact; only in-between frames need the
//! interpolation model.

use std::ffi::CStr;

use super::{
    model_param, parse_frame_list, EffectError, FramePlan, FrameRange, ModelWork, ParamKind, ParamSpec, ParamValues,
    PAGE_MAIN, STATUS_PARAM,
};

pub const PARAM_MODE: &CStr = c"mode";
pub const PARAM_SPEED: &CStr = c"speed";
pub const PARAM_START: &CStr = c"source_start";
pub const PARAM_FILL: &CStr = c"fill_frames";

pub const MODE_RETIME: usize = 0;
pub const MODE_FILL: usize = 1;

pub(super) const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: PARAM_MODE,
        label: c"Mode",
        hint: c"Retime: play the source at Speed, making in-between frames. Fill Frames: rebuild the listed frames from their neighbours.",
        page: PAGE_MAIN,
        kind: ParamKind::Choice { options: &[c"Retime", c"Fill Frames"], default: MODE_RETIME },
    },
    ParamSpec {
        name: PARAM_SPEED,
        label: c"Speed",
        hint: c"Source frames per output frame: 0.5 is 2x slow motion, 0.25 is 4x. Must be greater than 0.",
        page: PAGE_MAIN,
        kind: ParamKind::Double { default: 0.5, min: 0.001, max: 100.0, display_min: 0.05, display_max: 4.0, increment: 0.05, digits: 3 },
    },
    ParamSpec {
        name: PARAM_START,
        label: c"Source Start",
        hint: c"Source frame shown at output frame 0 (Retime mode).",
        page: PAGE_MAIN,
        kind: ParamKind::Double { default: 0.0, min: -1.0e6, max: 1.0e6, display_min: 0.0, display_max: 1000.0, increment: 1.0, digits: 2 },
    },
    ParamSpec {
        name: PARAM_FILL,
        label: c"Fill Frames",
        hint: c"Frames to rebuild in Fill Frames mode, e.g. '12, 40-42'. Each is made from the nearest good frames around it.",
        page: PAGE_MAIN,
        kind: ParamKind::String { default: c"", multiline: false },
    },
    model_param(c"rife"),
    STATUS_PARAM,
];

/// Times this close to a whole frame count as that frame (speed × time accumulates rounding).
const WHOLE_FRAME_EPS: f64 = 1e-6;

fn whole(s: f64) -> Option<f64> {
    let r = s.round();
    ((s - r).abs() < WHOLE_FRAME_EPS).then_some(r)
}

fn speed(values: &ParamValues) -> Result<f64, EffectError> {
    let speed = values.double(PARAM_SPEED)?;
    // Hosts do not all enforce the declared minimum; 0 or negative speeds have no meaning here.
    if !(speed.is_finite() && speed > 0.0) {
        return Err(EffectError::InvalidSpeed(speed));
    }
    Ok(speed)
}

/// Retime mapping: output time `t` shows source time `start + t × speed`.
pub fn source_time(values: &ParamValues, t: f64) -> Result<f64, EffectError> {
    Ok(values.double(PARAM_START)? + t * speed(values)?)
}

pub(super) fn plan(values: &ParamValues, t: f64, source: Option<FrameRange>) -> Result<FramePlan, EffectError> {
    let source = source.filter(|s| !s.is_empty()).ok_or(EffectError::NoSource)?;
    if values.choice(PARAM_MODE)? == MODE_FILL {
        return plan_fill(values, t, source);
    }
    // Outside the source the retime holds the first or last frame, as editors' retimes do.
    let s = source.clamp(source_time(values, t)?);
    if let Some(frame) = whole(s) {
        return Ok(FramePlan::PassThrough { source_time: frame });
    }
    let (before, after) = (s.floor(), s.ceil());
    Ok(FramePlan::Model(ModelWork::Interpolate { before, after, fraction: s - before }))
}

fn plan_fill(values: &ParamValues, t: f64, source: FrameRange) -> Result<FramePlan, EffectError> {
    let bad = parse_frame_list(values.string(PARAM_FILL)?)?;
    let frame = match whole(t) {
        Some(f) if bad.contains(&(f as i64)) => f as i64,
        _ => return Ok(FramePlan::PassThrough { source_time: t }),
    };
    let (first, last) = (source.first.ceil() as i64, source.last.floor() as i64);
    let before = (first..frame).rev().find(|f| !bad.contains(f));
    let after = (frame + 1..=last).find(|f| !bad.contains(f));
    match (before, after) {
        (Some(b), Some(a)) => Ok(FramePlan::Model(ModelWork::Interpolate {
            before: b as f64,
            after: a as f64,
            fraction: (frame - b) as f64 / (a - b) as f64,
        })),
        _ => Err(EffectError::InvalidParam(
            "Fill Frames",
            format!("frame {frame} has no good frame on both sides inside the source (frames {first} to {last})"),
        )),
    }
}

pub(super) fn time_domain(values: &ParamValues, source: Option<FrameRange>) -> Result<Option<FrameRange>, EffectError> {
    let Some(source) = source.filter(|s| !s.is_empty()) else { return Ok(None) };
    if values.choice(PARAM_MODE)? == MODE_FILL {
        return Ok(Some(source));
    }
    let (start, speed) = (values.double(PARAM_START)?, speed(values)?);
    let first = ((source.first - start) / speed).ceil().max(0.0);
    let last = ((source.last - start) / speed).floor();
    Ok(Some(if last >= first { FrameRange::new(first, last) } else { FrameRange::single(first) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::{ParamValue, INTERPOLATE};

    fn values(speed: f64, start: f64) -> ParamValues {
        let mut v = ParamValues::defaults(&INTERPOLATE);
        v.set(PARAM_SPEED, ParamValue::Double(speed));
        v.set(PARAM_START, ParamValue::Double(start));
        v
    }

    fn fill(list: &str) -> ParamValues {
        let mut v = ParamValues::defaults(&INTERPOLATE);
        v.set(PARAM_MODE, ParamValue::Choice(MODE_FILL));
        v.set(PARAM_FILL, ParamValue::String(list.into()));
        v
    }

    const SRC: Option<FrameRange> = Some(FrameRange { first: 0.0, last: 99.0 });

    #[test]
    fn retime_maps_output_time_to_start_plus_t_times_speed() {
        let v = values(0.5, 10.0);
        assert_eq!(source_time(&v, 4.0).unwrap(), 12.0);
        assert_eq!(plan(&v, 4.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 12.0 });
        assert_eq!(
            plan(&v, 5.0, SRC).unwrap(),
            FramePlan::Model(ModelWork::Interpolate { before: 12.0, after: 13.0, fraction: 0.5 })
        );
        // 3 × (1/3) is not exactly 1.0 in floating point, yet it is frame 1.
        let third = values(1.0 / 3.0, 0.0);
        assert_eq!(plan(&third, 3.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 1.0 });
        match plan(&third, 4.0, SRC).unwrap() {
            FramePlan::Model(ModelWork::Interpolate { before, after, fraction }) => {
                assert_eq!((before, after), (1.0, 2.0));
                assert!((fraction - 1.0 / 3.0).abs() < 1e-12);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_needed_are_floor_and_ceil_of_the_mapped_time() {
        let v = values(0.25, 0.0);
        assert_eq!(INTERPOLATE.frames_needed(&v, 6.0, SRC).unwrap(), Some(FrameRange::new(1.0, 2.0)));
        assert_eq!(INTERPOLATE.frames_needed(&v, 8.0, SRC).unwrap(), Some(FrameRange::single(2.0)));
    }

    #[test]
    fn retime_holds_the_ends_of_the_source() {
        let v = values(2.0, 0.0);
        assert_eq!(plan(&v, 80.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 99.0 });
        let v = values(1.0, -20.0);
        assert_eq!(plan(&v, 3.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 0.0 });
    }

    #[test]
    fn speed_must_be_positive_and_a_source_is_required() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = plan(&values(bad, 0.0), 1.0, SRC).unwrap_err();
            assert!(matches!(err, EffectError::InvalidSpeed(_)), "{bad}: {err}");
        }
        assert_eq!(plan(&values(0.5, 0.0), 1.0, None).unwrap_err(), EffectError::NoSource);
        assert!(plan(&values(0.0, 0.0), 1.0, SRC).unwrap_err().to_string().starts_with("Speed must be greater than 0"));
    }

    #[test]
    fn time_domain_covers_the_retimed_source() {
        assert_eq!(time_domain(&values(0.5, 0.0), SRC).unwrap(), Some(FrameRange::new(0.0, 198.0)));
        assert_eq!(time_domain(&values(2.0, 10.0), SRC).unwrap(), Some(FrameRange::new(0.0, 44.0)));
        assert_eq!(time_domain(&values(0.5, 0.0), None).unwrap(), None);
        assert_eq!(time_domain(&fill("3"), SRC).unwrap(), SRC);
    }

    #[test]
    fn fill_rebuilds_listed_frames_from_the_nearest_good_neighbours() {
        let v = fill("12, 40-42");
        assert_eq!(plan(&v, 11.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 11.0 });
        assert_eq!(
            plan(&v, 12.0, SRC).unwrap(),
            FramePlan::Model(ModelWork::Interpolate { before: 11.0, after: 13.0, fraction: 0.5 })
        );
        assert_eq!(
            plan(&v, 41.0, SRC).unwrap(),
            FramePlan::Model(ModelWork::Interpolate { before: 39.0, after: 43.0, fraction: 0.5 })
        );
        assert_eq!(INTERPOLATE.frames_needed(&v, 40.0, SRC).unwrap(), Some(FrameRange::new(39.0, 43.0)));
    }

    #[test]
    fn fill_errors_name_the_problem() {
        let err = plan(&fill("12, x"), 12.0, SRC).unwrap_err();
        assert!(err.to_string().starts_with("Fill Frames: 'x' (item 2)"), "{err}");
        let err = plan(&fill("0-1"), 0.0, SRC).unwrap_err();
        assert!(err.to_string().contains("no good frame on both sides"), "{err}");
        // A list that does not touch this frame still passes it through.
        assert_eq!(plan(&fill("98-99"), 5.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 5.0 });
    }
}
