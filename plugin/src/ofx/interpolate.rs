//! Rendering Interpolate's in-between frames: fetch the neighbouring source frames through the
//! host, guard against cuts and unusable neighbours, hand the frames to the interpolation engine,
//! and write its frame into the output window. OFX on one side, frame tensors on the other.

use super::effect::ImageEffect;
use super::frames::{output_image, write_window, SourceFrames};
use super::status::{OfxError, OfxResult};
use crate::effects::interpolate::{self as effect, Options};
use crate::effects::{FramePlan, FrameRange, ParamValues, PARAM_MODEL};
use crate::engine::interpolation::{FlowScale, Interpolator};
use crate::engine::motion;
use crate::frame_io::{Frame, Rect};

/// Repair Duplicates: decides from the pictures whether `frame` is a repeat to rebuild.
pub fn plan_repair(
    values: &ParamValues,
    frame: i64,
    source: FrameRange,
    frames: &mut SourceFrames,
) -> OfxResult<FramePlan> {
    let threshold = effect::duplicate_threshold(values).map_err(planning)?;
    let plan = effect::plan_repair(values, frame, source, |k| -> OfxResult<bool> {
        match (frames.get(k - 1)?, frames.get(k)?) {
            (Some(a), Some(b)) => Ok(a.bounds == b.bounds && motion::is_duplicate(&a.frame, &b.frame, threshold)),
            _ => Ok(false),
        }
    })?;
    plan.map_err(planning)
}

fn planning(e: crate::effects::EffectError) -> OfxError {
    OfxError::failed(e.to_string())
}

/// What an in-between frame turned into.
pub enum Outcome {
    /// The engine made it; the text is for Status.
    Interpolated(String),
    /// Interpolating would be wrong or impossible here; show this source frame bit-exact instead.
    Nearest { source_time: f64, reason: String },
}

/// Makes the frame at `fraction` between source frames `before` and `after` and writes it into
/// `window` of the output image at `time`.
#[allow(clippy::too_many_arguments)]
pub fn render(
    effect: &ImageEffect,
    values: &ParamValues,
    frames: &mut SourceFrames,
    before: f64,
    after: f64,
    fraction: f64,
    time: f64,
    window: Rect,
) -> OfxResult<Outcome> {
    let options: Options = effect::options(values).map_err(planning)?;
    let nearest = if fraction < 0.5 { before } else { after };
    let label = |t: f64| format!("{t}");
    let (a, b) = match (frames.get(before as i64)?, frames.get(after as i64)?) {
        (Some(a), Some(b)) => (a, b),
        (a, b) => {
            // A neighbour the host cannot deliver: show the one it can.
            let (have, missing) = if a.is_some() { (before, after) } else { (after, before) };
            if a.is_none() && b.is_none() {
                return Err(OfxError::failed(format!(
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
        let out = output_image(effect, time)?.bounds()?;
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

    let model_name = values.string(PARAM_MODEL).unwrap_or_default();
    let model = crate::models::resolve(model_name).map_err(|e| OfxError::failed(e.to_string()))?;
    let interpolator = Interpolator::open(&model).map_err(|e| OfxError::failed(e.to_string()))?;
    let scale = match options.flow_scale {
        Some(s) => FlowScale::Fixed(s),
        None => FlowScale::Auto,
    };
    let rgb = interpolator
        .interpolate(&a.frame, &b.frame, fraction as f32, scale)
        .map_err(|e| OfxError::failed(e.to_string()))?;
    let provider = interpolator
        .session(scale.resolve(a.frame.width, a.frame.height))
        .map(|(s, _)| s.provider().name())
        .unwrap_or("?");

    let mut made = Frame::try_new(a.frame.channels, a.frame.height, a.frame.width)
        .map_err(|e| OfxError::failed(format!("Interpolating: {e}")))?;
    for c in 0..3 {
        made.plane_mut(c).copy_from_slice(rgb.plane(c));
    }
    if made.channels == 4 {
        let (alpha_a, alpha_b) = (a.frame.plane(3), b.frame.plane(3));
        let alpha = made.plane_mut(3);
        if options.alpha_nearest {
            alpha.copy_from_slice(if fraction < 0.5 { alpha_a } else { alpha_b });
        } else {
            let f = fraction as f32;
            for ((out, x), y) in alpha.iter_mut().zip(alpha_a).zip(alpha_b) {
                *out = x + (y - x) * f;
            }
        }
    }
    let mut out = output_image(effect, time)?;
    write_window(&mut out.view_mut()?, &made, a.bounds, window)?;
    Ok(Outcome::Interpolated(format!(
        "Interpolated {:.3} of the way from source frame {} to {} ({}, {provider})",
        fraction,
        label(before),
        label(after),
        interpolator.manifest().name
    )))
}
