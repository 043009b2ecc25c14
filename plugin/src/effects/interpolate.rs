//! Interpolate: retime a clip by a speed factor, rebuild listed bad frames from their
//! neighbours, or repair frozen/duplicated frames. Whole source frames always pass through
//! bit-exact; only in-between frames need the interpolation model.

use std::ffi::CStr;

use super::{curve, gap};
use super::{
    model_param, EffectError, FramePlan, FrameRange, ModelWork, ParamKind, ParamSpec, ParamValues, PAGE_ADVANCED,
    PAGE_MAIN, STATUS_PARAM, UPDATE_STATUS_PARAM,
};

pub const PARAM_MODE: &CStr = c"mode";
pub const PARAM_SPEED: &CStr = c"speed";
pub const PARAM_START: &CStr = c"source_start";
pub const PARAM_FILL: &CStr = c"fill_frames";
pub const PARAM_DUPLICATE_THRESHOLD: &CStr = c"duplicate_threshold";
pub const PARAM_MAX_REPAIR: &CStr = c"max_repair_run";
pub const PARAM_CUT_SENSITIVITY: &CStr = c"cut_sensitivity";
pub const PARAM_FLOW_SCALE: &CStr = c"flow_scale";
pub const PARAM_FLIP_ENSEMBLE: &CStr = c"flip_ensemble";
pub const PARAM_ALPHA: &CStr = c"alpha";
pub const PARAM_TIMING: &CStr = c"timing";
pub const PARAM_SOURCE_FRAME: &CStr = c"source_frame";
pub const PARAM_SHUTTER: &CStr = c"shutter";
pub const PARAM_SHUTTER_SAMPLES: &CStr = c"shutter_samples";
pub const PARAM_MATTE: &CStr = c"matte";

pub const TIMING_SPEED: usize = 0;
pub const TIMING_SOURCE_FRAME: usize = 1;

pub const MATTE_OFF: usize = 0;
pub const MATTE_ALPHA: usize = 1;
pub const MATTE_ONLY: usize = 2;

pub const MODE_RETIME: usize = 0;
pub const MODE_FILL: usize = 1;
pub const MODE_REPAIR: usize = 2;

pub const FLOW_AUTO: usize = 0;
pub const FLOW_FULL: usize = 1;
pub const FLOW_HALF: usize = 2;

pub const ALPHA_INTERPOLATE: usize = 0;
pub const ALPHA_NEAREST: usize = 1;

pub(super) const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: PARAM_MODE,
        label: c"Mode",
        hint: c"Retime: play the source at Speed, making in-between frames. Fill Frames: rebuild the listed frames from their neighbours. Repair Duplicates: find frozen or repeated frames and replace them with the motion that should be there.",
        page: PAGE_MAIN,
        kind: ParamKind::Choice { options: &[c"Retime", c"Fill Frames", c"Repair Duplicates"], default: MODE_RETIME },
    },
    ParamSpec {
        name: PARAM_TIMING,
        label: c"Timing",
        hint: c"Retime: Speed plays the source at Speed (animate it for ramps: the output integrates it); Source Frame shows, at each output frame, the source frame the Source Frame curve gives (a retime curve).",
        page: PAGE_MAIN,
        kind: ParamKind::Choice { options: &[c"Speed", c"Source Frame"], default: TIMING_SPEED },
    },
    ParamSpec {
        name: PARAM_SPEED,
        label: c"Speed",
        hint: c"Source frames per output frame: 0.5 is 2x slow motion, 0.25 is 4x. Must be greater than 0. Animate it for a speed ramp: output frame t shows Source Start plus the integral of Speed from 0 to t.",
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
        name: PARAM_SOURCE_FRAME,
        label: c"Source Frame",
        hint: c"Timing Source Frame: the source frame shown at each output frame; key it (for example 0 at frame 0 and 48 at frame 96 is 2x slow motion). Whole source frames pass through untouched.",
        page: PAGE_MAIN,
        kind: ParamKind::Double { default: 0.0, min: -1.0e6, max: 1.0e6, display_min: 0.0, display_max: 1000.0, increment: 1.0, digits: 3 },
    },
    ParamSpec {
        name: PARAM_SHUTTER,
        label: c"Shutter",
        hint: c"Retime: motion blur as a shutter angle in degrees. Each output frame is the average of in-betweens spread over the shutter interval (centred on the frame), so a retimed shot gets the blur its new speed implies. 0 is no added blur.",
        page: PAGE_MAIN,
        kind: ParamKind::Double { default: 0.0, min: 0.0, max: 720.0, display_min: 0.0, display_max: 360.0, increment: 15.0, digits: 1 },
    },
    ParamSpec {
        name: PARAM_SHUTTER_SAMPLES,
        label: c"Shutter Samples",
        hint: c"With a Shutter above 0: in-between frames averaged per output frame. More is smoother and slower.",
        page: PAGE_MAIN,
        kind: ParamKind::Int { default: 8, min: 1, max: 64, display_min: 1, display_max: 32 },
    },
    ParamSpec {
        name: PARAM_MATTE,
        label: c"Confidence Matte",
        hint: c"Where the in-between is guessing: 1 where the model's two flows disagree, where its own mask says one frame hides what the other shows (occlusion), or where the two warped frames differ; 0 where it can be trusted (and on whole source frames). In Alpha puts it in the alpha channel (RGBA output); Matte Only shows it as a grey picture.",
        page: PAGE_MAIN,
        kind: ParamKind::Choice { options: &[c"Off", c"In Alpha", c"Matte Only"], default: MATTE_OFF },
    },
    ParamSpec {
        name: PARAM_FILL,
        label: c"Fill Frames",
        hint: c"Frames to rebuild in Fill Frames mode, e.g. '12, 40-42'. Each gap (a run of listed frames) is rebuilt from the good frames at its ends, as Gap Method says.",
        page: PAGE_MAIN,
        kind: ParamKind::String { default: c"", multiline: false },
    },
    gap::METHOD_PARAM,
    gap::PROMPT_PARAM,
    gap::SEED_PARAM,
    ParamSpec {
        name: PARAM_DUPLICATE_THRESHOLD,
        label: c"Duplicate Threshold",
        hint: c"Repair Duplicates: a frame whose mean difference from the frame before is at most this (percent of full range) is a repeat. Raise it for noisy or compressed footage.",
        page: PAGE_MAIN,
        kind: ParamKind::Double { default: 0.2, min: 0.0, max: 10.0, display_min: 0.0, display_max: 2.0, increment: 0.05, digits: 2 },
    },
    ParamSpec {
        name: PARAM_CUT_SENSITIVITY,
        label: c"Scene Cut Sensitivity",
        hint: c"Never morph across a hard cut: frames on either side of a detected cut show the nearest source frame instead. Higher finds more cuts; 0 turns the guard off.",
        page: PAGE_MAIN,
        kind: ParamKind::Double { default: 0.5, min: 0.0, max: 1.0, display_min: 0.0, display_max: 1.0, increment: 0.05, digits: 2 },
    },
    ParamSpec {
        name: PARAM_FLOW_SCALE,
        label: c"Flow Scale",
        hint: c"Resolution of motion estimation. Auto uses Full up to 1440p and Half above (4K), where motion spans many pixels.",
        page: PAGE_ADVANCED,
        kind: ParamKind::Choice { options: &[c"Auto", c"Full", c"Half"], default: FLOW_AUTO },
    },
    ParamSpec {
        name: PARAM_FLIP_ENSEMBLE,
        label: c"Flip Ensemble",
        hint: c"Also interpolates the mirrored pair and averages the two in-betweens: fewer flow errors (about +0.4 dB on real footage) at twice the time. Source frames still pass through bit-exact.",
        page: PAGE_ADVANCED,
        kind: ParamKind::Bool { default: false },
    },
    ParamSpec {
        name: PARAM_ALPHA,
        label: c"Alpha",
        hint: c"How the alpha channel of in-between frames is made: blended between the two source frames, or taken from the nearest one.",
        page: PAGE_ADVANCED,
        kind: ParamKind::Choice { options: &[c"Interpolate", c"Nearest"], default: ALPHA_INTERPOLATE },
    },
    ParamSpec {
        name: PARAM_MAX_REPAIR,
        label: c"Longest Repair",
        hint: c"Repair Duplicates: the longest run of repeated frames to rebuild; longer freezes are treated as intended holds.",
        page: PAGE_ADVANCED,
        kind: ParamKind::Int { default: 4, min: 1, max: 32, display_min: 1, display_max: 8 },
    },
    model_param(c"rife"),
    gap::MODEL_PARAM,
    STATUS_PARAM,
    UPDATE_STATUS_PARAM,
];

/// Settings of the in-between frame itself, read once per render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// 0 turns the scene-cut guard off.
    pub cut_sensitivity: f32,
    /// None: choose by frame size.
    pub flow_scale: Option<f32>,
    pub alpha_nearest: bool,
    /// Confidence matte: [`MATTE_OFF`], [`MATTE_ALPHA`] or [`MATTE_ONLY`].
    pub matte: usize,
    /// Average with the mirrored pair's in-between (test-time augmentation).
    pub flip_ensemble: bool,
}

pub fn options(values: &ParamValues) -> Result<Options, EffectError> {
    let flow_scale = match values.choice(PARAM_FLOW_SCALE)? {
        FLOW_FULL => Some(1.0),
        FLOW_HALF => Some(0.5),
        _ => None,
    };
    Ok(Options {
        cut_sensitivity: values.double(PARAM_CUT_SENSITIVITY)?.clamp(0.0, 1.0) as f32,
        flow_scale,
        alpha_nearest: values.choice(PARAM_ALPHA)? == ALPHA_NEAREST,
        matte: values.choice(PARAM_MATTE)?.min(MATTE_ONLY),
        flip_ensemble: values.bool(PARAM_FLIP_ENSEMBLE)?,
    })
}

/// Repair Duplicates' threshold as a mean difference in 0..1 units.
pub fn duplicate_threshold(values: &ParamValues) -> Result<f32, EffectError> {
    Ok((values.double(PARAM_DUPLICATE_THRESHOLD)?.max(0.0) / 100.0) as f32)
}

/// Times this close to a whole frame count as that frame (speed × time accumulates rounding).
const WHOLE_FRAME_EPS: f64 = 1e-6;

/// The whole frame `s` is (within rounding), if it is one.
pub fn whole_frame(s: f64) -> Option<f64> {
    whole(s)
}

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

/// Retime mapping. Timing Speed: output time `t` shows source time `start + ∫₀ᵗ speed` (`start +
/// t × speed` when Speed is not animated); Timing Source Frame: the Source Frame curve at `t`. A
/// pure function of the parameters, so any render order and any thread give the same answer. A
/// lax host may hand over any Start, and a huge time times a huge speed overflows: no plan gets
/// a time that is not a number.
pub fn source_time(values: &ParamValues, t: f64) -> Result<f64, EffectError> {
    let s = match values.choice(PARAM_TIMING)? {
        TIMING_SOURCE_FRAME => values.double_at(PARAM_SOURCE_FRAME, t)?,
        _ => values.double(PARAM_START)? + speed_integral(values, t)?,
    };
    if !s.is_finite() {
        return Err(EffectError::InvalidParam(
            "Start",
            format!("output frame {t} maps to source time {s}: Start and Speed must be ordinary numbers"),
        ));
    }
    Ok(s)
}

/// ∫₀ᵗ Speed: the host's curve sampled at times (between keys, Simpson steps of at most a frame,
/// exact for linear and smooth keys), its end values held outside the keys.
fn speed_integral(values: &ParamValues, t: f64) -> Result<f64, EffectError> {
    let keys = values.keys(PARAM_SPEED);
    if keys.is_empty() {
        return Ok(t * speed(values)?);
    }
    let mut at = |x: f64| {
        let v = values.double_at(PARAM_SPEED, x)?;
        if !(v.is_finite() && v > 0.0) {
            return Err(EffectError::InvalidSpeed(v));
        }
        Ok(v)
    };
    curve::integral(keys, 0.0, t, &mut at)
}

/// Motion blur: the shutter angle (degrees) and samples, None when off (0°, or one sample).
fn shutter(values: &ParamValues) -> Result<Option<(f64, usize)>, EffectError> {
    if values.choice(PARAM_MODE)? != MODE_RETIME {
        return Ok(None);
    }
    let degrees = values.double(PARAM_SHUTTER)?;
    let samples = values.int(PARAM_SHUTTER_SAMPLES)?.clamp(1, 64) as usize;
    if !degrees.is_finite() || degrees <= 0.0 || samples < 2 {
        return Ok(None);
    }
    Ok(Some((degrees.min(720.0), samples)))
}

/// Output times of the shutter samples of output frame `t`: `samples` midpoints of the interval
/// of `degrees`/360 frames centred on `t`.
pub fn shutter_times(t: f64, degrees: f64, samples: usize) -> Vec<f64> {
    let open = degrees / 360.0;
    (0..samples).map(|i| t + ((i as f64 + 0.5) / samples as f64 - 0.5) * open).collect()
}

pub(super) fn plan(values: &ParamValues, t: f64, source: Option<FrameRange>) -> Result<FramePlan, EffectError> {
    let source = source.filter(|s| !s.is_empty()).ok_or(EffectError::NoSource)?;
    match values.choice(PARAM_MODE)? {
        MODE_FILL => return gap::plan_fill(values, t, source),
        MODE_REPAIR => return plan_repair_window(values, t, source),
        _ => {}
    }
    // Outside the source the retime holds the first or last frame, as editors' retimes do.
    let s = source.clamp(source_time(values, t)?);
    if let Some((degrees, n)) = shutter(values)? {
        let samples = shutter_times(t, degrees, n)
            .into_iter()
            .map(|x| Ok(source.clamp(source_time(values, x)?)))
            .collect::<Result<Vec<f64>, EffectError>>()?;
        let same = samples.iter().all(|x| (x - samples[0]).abs() < WHOLE_FRAME_EPS);
        match whole(samples[0]) {
            Some(frame) if same => return Ok(FramePlan::PassThrough { source_time: frame }),
            _ => return Ok(FramePlan::Model(ModelWork::Blur { samples, centre: s })),
        }
    }
    if let Some(frame) = whole(s) {
        return Ok(FramePlan::PassThrough { source_time: frame });
    }
    let (before, after) = (s.floor(), s.ceil());
    Ok(FramePlan::Model(ModelWork::Interpolate { before, after, fraction: s - before }))
}

fn max_repair(values: &ParamValues) -> Result<i64, EffectError> {
    Ok(i64::from(values.int(PARAM_MAX_REPAIR)?.clamp(1, 32)))
}

/// Repair Duplicates first looks at the pictures around the frame: up to the longest repair
/// run on either side, plus the good frames that bound it.
fn plan_repair_window(values: &ParamValues, t: f64, source: FrameRange) -> Result<FramePlan, EffectError> {
    let Some(frame) = whole(t).filter(|f| source.contains(*f)) else {
        return Ok(FramePlan::PassThrough { source_time: source.clamp(t.round()) });
    };
    // Deciding whether k repeats k - 1 reads both, so the walk back needs one frame more.
    let max = max_repair(values)? as f64;
    let window = FrameRange::new((frame - max - 2.0).max(source.first), (frame + max + 1.0).min(source.last));
    Ok(FramePlan::Inspect { frame: frame as i64, window })
}

/// Repair Duplicates, once the pictures are known: `repeats(k)` says whether frame `k` repeats
/// frame `k - 1`. A frame inside a run of repeats is rebuilt between the good frame before the
/// run and the first good frame after it, at its place in the run; runs longer than the longest
/// repair (intended holds) and runs that reach the end of the source stay as they are.
pub fn plan_repair<E>(
    values: &ParamValues,
    frame: i64,
    source: FrameRange,
    mut repeats: impl FnMut(i64) -> Result<bool, E>,
) -> Result<Result<FramePlan, EffectError>, E> {
    let max = match max_repair(values) {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    let (first, last) = (source.first.ceil() as i64, source.last.floor() as i64);
    let keep = Ok(Ok(FramePlan::PassThrough { source_time: frame as f64 }));
    if frame <= first || frame > last || !repeats(frame)? {
        return keep;
    }
    // The run of repeats containing `frame` is start..=end; start - 1 is the good frame they copy.
    // Both walks stop one step past the longest repair, which is enough to call the run a hold.
    let mut start = frame;
    while start - 1 > first && frame - start <= max && repeats(start - 1)? {
        start -= 1;
    }
    let mut end = frame;
    while end < last && end - start <= max && repeats(end + 1)? {
        end += 1;
    }
    if end - start + 1 > max || end >= last {
        return keep;
    }
    let (before, after) = (start - 1, end + 1);
    Ok(Ok(FramePlan::Model(ModelWork::Interpolate {
        before: before as f64,
        after: after as f64,
        fraction: (frame - before) as f64 / (after - before) as f64,
    })))
}

pub(super) fn time_domain(values: &ParamValues, source: Option<FrameRange>) -> Result<Option<FrameRange>, EffectError> {
    let Some(source) = source.filter(|s| !s.is_empty()) else { return Ok(None) };
    if values.choice(PARAM_MODE)? != MODE_RETIME {
        return Ok(Some(source));
    }
    if values.choice(PARAM_TIMING)? == TIMING_SOURCE_FRAME {
        // A keyed retime curve spans its keys; a constant one is a hold as long as the source.
        let keys = values.keys(PARAM_SOURCE_FRAME);
        return Ok(Some(match (keys.first(), keys.last()) {
            (Some(a), Some(b)) if b.floor() >= a.ceil() => FrameRange::new(a.ceil(), b.floor()),
            (Some(a), _) => FrameRange::single(a.round()),
            _ => source,
        }));
    }
    let (start, speed) = (values.double(PARAM_START)?, speed(values)?);
    let (first, last) = if values.keys(PARAM_SPEED).is_empty() {
        (((source.first - start) / speed).ceil().max(0.0), ((source.last - start) / speed).floor())
    } else {
        // The mapped time rises with output time (Speed > 0): search for where it enters and leaves.
        let first = first_frame(0.0, |t| Ok(source_time(values, t)? >= source.first - WHOLE_FRAME_EPS))?;
        let after = first_frame(first, |t| Ok(source_time(values, t)? > source.last + WHOLE_FRAME_EPS))?;
        (first, after - 1.0)
    };
    Ok(Some(if last >= first { FrameRange::new(first, last) } else { FrameRange::single(first) }))
}

/// The first whole frame from `from` on where `reached` (false, then true for good) holds.
fn first_frame(from: f64, mut reached: impl FnMut(f64) -> Result<bool, EffectError>) -> Result<f64, EffectError> {
    if reached(from)? {
        return Ok(from);
    }
    // Double the step until reached, then bisect: `lo` never reached, `hi` reached.
    let (mut lo, mut step) = (from, 1.0);
    let mut hi = loop {
        let t = from + step;
        if reached(t)? {
            break t;
        }
        lo = t;
        step *= 2.0;
        if step > 1e12 {
            return Err(EffectError::InvalidParam("Speed", "the retimed source never ends".into()));
        }
    };
    while hi - lo > 1.0 {
        let mid = ((lo + hi) / 2.0).floor();
        if reached(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests;
