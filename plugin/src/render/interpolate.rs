//! Interpolate's in-between frames: fetch the neighbouring source frames, guard against cuts and
//! unusable neighbours (showing the nearest source frame bit-exact instead), hand the frames to
//! the interpolation engine, and assemble its colour with the neighbours' alpha.

use super::{assemble, failed, frame_label as label, Alpha, Output, RenderResult, SourceFrames};
use crate::effects::interpolate::{self as effect, Options};
use crate::effects::{FramePlan, FrameRange, ParamValues, PARAM_MODEL};
use crate::engine::interpolation::{FlowScale, Interpolator};
use crate::engine::motion;

/// Repair Duplicates: decides from the pictures whether `frame` is a repeat to rebuild.
pub fn plan_repair(
    values: &ParamValues,
    frame: i64,
    source: FrameRange,
    frames: &mut SourceFrames,
) -> RenderResult<FramePlan> {
    let threshold = effect::duplicate_threshold(values).map_err(failed)?;
    let plan = effect::plan_repair(values, frame, source, |k| -> RenderResult<bool> {
        match (frames.get(k - 1)?, frames.get(k)?) {
            (Some(a), Some(b)) => Ok(a.bounds == b.bounds && motion::is_duplicate(&a.frame, &b.frame, threshold)),
            _ => Ok(false),
        }
    })?;
    plan.map_err(failed)
}

/// What an in-between frame turned into.
enum Outcome {
    /// The engine made it; the text is for Status.
    Interpolated(String),
    /// Interpolating would be wrong or impossible here; show this source frame bit-exact instead.
    Nearest { source_time: f64, reason: String },
}

/// Makes the frame at `fraction` between source frames `before` and `after` and writes it to
/// `out`, or shows the nearer source frame where an in-between would be wrong. Ok carries the
/// status text.
pub fn render(
    values: &ParamValues,
    frames: &mut SourceFrames,
    before: f64,
    after: f64,
    fraction: f64,
    out: &mut dyn Output,
) -> RenderResult<String> {
    let options = effect::options(values).map_err(failed)?;
    match in_between(values, &options, frames, before, after, fraction, out)? {
        Outcome::Interpolated(done) => Ok(done),
        Outcome::Nearest { source_time, reason } => {
            out.pass_through(source_time)?;
            Ok(format!("Showing source frame {} because {reason}", label(source_time)))
        }
    }
}

fn in_between(
    values: &ParamValues,
    options: &Options,
    frames: &mut SourceFrames,
    before: f64,
    after: f64,
    fraction: f64,
    out: &mut dyn Output,
) -> RenderResult<Outcome> {
    let nearest = if fraction < 0.5 { before } else { after };
    let (a, b) = match (frames.get(before as i64)?, frames.get(after as i64)?) {
        (Some(a), Some(b)) => (a, b),
        (a, b) => {
            // A neighbour the host cannot deliver: show the one it can.
            let (have, missing) = if a.is_some() { (before, after) } else { (after, before) };
            if a.is_none() && b.is_none() {
                return Err(failed(format!(
                    "The host delivered neither source frame {} nor {}.",
                    label(before),
                    label(after)
                )));
            }
            return Ok(Outcome::Nearest {
                source_time: have,
                reason: format!("the host has no source frame {}", label(missing)),
            });
        }
    };
    if a.bounds != b.bounds {
        // The output has the nearer frame's size (GetRegionOfDefinition), except where Repair Duplicates
        // rebuilds a frame: it keeps the repeated frame's size, which the frame before the run shares.
        // Show the neighbour that fits the output.
        let out = out.bounds()?;
        let (near, far) = if nearest == before {
            ((a.bounds, before), (b.bounds, after))
        } else {
            ((b.bounds, after), (a.bounds, before))
        };
        let source_time = if near.0 != out && far.0 == out { far.1 } else { near.1 };
        return Ok(Outcome::Nearest {
            source_time,
            reason: format!("source frames {} and {} differ in size", label(before), label(after)),
        });
    }
    if motion::is_cut(&a.frame, &b.frame, options.cut_sensitivity) {
        return Ok(Outcome::Nearest {
            source_time: nearest,
            reason: format!("a scene cut lies between source frames {} and {}", label(before), label(after)),
        });
    }

    let model = crate::models::resolve(values.string(PARAM_MODEL).unwrap_or_default()).map_err(failed)?;
    let interpolator = Interpolator::open(&model).map_err(failed)?;
    let scale = match options.flow_scale {
        Some(s) => FlowScale::Fixed(s),
        None => FlowScale::Auto,
    };
    let rgb = interpolator.interpolate(&a.frame, &b.frame, fraction as f32, scale).map_err(failed)?;
    let provider = interpolator.provider_name(scale, a.frame.width, a.frame.height);

    let alpha = match a.frame.channels {
        4 if options.alpha_nearest => Alpha::Copy(if fraction < 0.5 { a.frame.plane(3) } else { b.frame.plane(3) }),
        4 => Alpha::Mix(a.frame.plane(3), b.frame.plane(3), fraction as f32),
        _ => Alpha::Opaque,
    };
    let made = assemble(&rgb, a.frame.channels, alpha).map_err(|e| failed(format!("Interpolating: {e}")))?;
    out.write(&made, a.bounds)?;
    Ok(Outcome::Interpolated(format!(
        "Interpolated {:.3} of the way from source frame {} to {} ({}, {provider})",
        fraction,
        label(before),
        label(after),
        interpolator.manifest().name
    )))
}
