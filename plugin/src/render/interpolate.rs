//! Interpolate's in-between frames: fetch the neighbouring source frames, guard against cuts and
//! unusable neighbours (showing the nearest source frame bit-exact instead), hand the frames to
//! the interpolation engine, and assemble its colour with the neighbours' alpha. Motion blur
//! averages such frames over the shutter; the confidence matte rides along as one more plane
//! until the output is assembled.

use super::{assemble, failed, frame_label as label, Alpha, Output, RenderResult, SourceFrame, SourceFrames};
use crate::effects::interpolate::{self as effect, Options, MATTE_ALPHA, MATTE_OFF, MATTE_ONLY};
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
    /// The frame: the source's channels and, with the confidence matte on, the matte as one more
    /// plane; the text is for Status.
    Made { frame: Frame, bounds: Rect, status: String },
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
        Outcome::Made { frame, bounds, status } => {
            out.write(&finish(frame, &options)?, bounds)?;
            Ok(status)
        }
        Outcome::Nearest { source_time, reason } => {
            show_source(&options, frames, source_time, out)?;
            Ok(format!("Showing source frame {} because {reason}", label(source_time)))
        }
    }
}

/// A whole source frame: passed through bit-exact, or, with the confidence matte on, written with
/// a matte of 0 (a real frame: nothing guessed). Colour stays exact (depth conversions round-trip).
pub fn show_source(
    options: &Options,
    frames: &mut SourceFrames,
    source_time: f64,
    out: &mut dyn Output,
) -> RenderResult<()> {
    if options.matte == MATTE_OFF {
        return out.pass_through(source_time);
    }
    match frames.get(source_time as i64)? {
        Some(source) => out.write(&finish(layer(&source, options)?, options)?, source.bounds),
        None => out.pass_through(source_time),
    }
}

/// Pass-through of Interpolate: [`show_source`] with the effect's options.
pub fn pass_through(
    values: &ParamValues,
    frames: &mut SourceFrames,
    source_time: f64,
    out: &mut dyn Output,
) -> RenderResult<()> {
    let options = effect::options(values).map_err(failed)?;
    show_source(&options, frames, source_time, out)
}

/// A source frame with a zero matte plane when the matte is on.
fn layer(source: &SourceFrame, options: &Options) -> RenderResult<Frame> {
    let f = &source.frame;
    if options.matte == MATTE_OFF {
        return Ok(f.clone());
    }
    let mut out = Frame::try_new(f.channels + 1, f.height, f.width).map_err(failed)?;
    out.data[..f.data.len()].copy_from_slice(&f.data);
    Ok(out)
}

/// The output frame from a made one: the matte plane (last, when on) dropped, put in alpha, or
/// shown as a grey picture.
fn finish(frame: Frame, options: &Options) -> RenderResult<Frame> {
    if options.matte == MATTE_OFF {
        return Ok(frame);
    }
    let channels = frame.channels - 1;
    let mut out = Frame::try_new(channels, frame.height, frame.width).map_err(failed)?;
    let matte = frame.plane(channels);
    match options.matte {
        MATTE_ALPHA => {
            if channels != 4 {
                return Err(failed(
                    "Confidence Matte In Alpha needs an RGBA clip; this one is RGB. Choose Matte Only, or give the effect RGBA.",
                ));
            }
            for c in 0..3 {
                out.plane_mut(c).copy_from_slice(frame.plane(c));
            }
            out.plane_mut(3).copy_from_slice(matte);
        }
        _ => {
            debug_assert_eq!(options.matte, MATTE_ONLY);
            for c in 0..channels.min(3) {
                out.plane_mut(c).copy_from_slice(matte);
            }
            if channels == 4 {
                out.plane_mut(3).fill(1.0);
            }
        }
    }
    Ok(out)
}

/// Motion blur: the mean of the frames at `samples` (source times over the shutter; whole ones
/// are the source frames themselves, the others in-betweens through the engine and its cache).
/// Samples whose frame is not the output's size are left out.
pub fn render_blur(
    values: &ParamValues,
    frames: &mut SourceFrames,
    samples: &[f64],
    out: &mut dyn Output,
) -> RenderResult<String> {
    let options = effect::options(values).map_err(failed)?;
    let target = out.bounds()?;
    let (mut sum, mut used, mut made): (Option<Frame>, usize, usize) = (None, 0, 0);
    for &s in samples {
        let layer = match effect::whole_frame(s) {
            Some(f) => {
                frames.get(f as i64)?.map(|src| Ok::<_, super::RenderError>((layer(&src, &options)?, src.bounds)))
            }
            None => {
                let (before, after) = (s.floor(), s.ceil());
                match in_between(values, &options, frames, before, after, s - before, out)? {
                    Outcome::Made { frame, bounds, .. } => {
                        made += 1;
                        Some(Ok((frame, bounds)))
                    }
                    Outcome::Nearest { source_time, .. } => {
                        frames.get(source_time as i64)?.map(|src| Ok((layer(&src, &options)?, src.bounds)))
                    }
                }
            }
        };
        let Some((frame, bounds)) = layer.transpose()? else { continue };
        if bounds != target {
            continue;
        }
        match &mut sum {
            None => sum = Some(frame),
            Some(acc) if acc.data.len() == frame.data.len() => {
                acc.data.iter_mut().zip(&frame.data).for_each(|(a, b)| *a += b);
            }
            Some(_) => continue,
        }
        used += 1;
    }
    let Some(mut mean) = sum else {
        return Err(failed(
            "Motion blur: the host delivered no source frame of the output's size for any shutter sample.",
        ));
    };
    let k = 1.0 / used as f32;
    mean.data.iter_mut().for_each(|v| *v *= k);
    out.write(&finish(mean, &options)?, target)?;
    let lo = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Ok(format!(
        "Motion blur: mean of {used} of {} samples from source time {lo:.3} to {hi:.3} ({made} in-betweens)",
        samples.len()
    ))
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
    let rgb = if options.matte == MATTE_OFF {
        interpolator.interpolate(&a.frame, &b.frame, fraction as f32, scale)
    } else {
        interpolator.interpolate_matte(&a.frame, &b.frame, fraction as f32, scale)
    }
    .map_err(failed)?;
    let rgb = match options.flip_ensemble {
        true => interpolator.flip_ensemble(&rgb, &a.frame, &b.frame, fraction as f32, scale).map_err(failed)?,
        false => rgb,
    };
    let provider = interpolator.provider_name(scale, a.frame.width, a.frame.height);

    let alpha = match a.frame.channels {
        4 if options.alpha_nearest => Alpha::Copy(if fraction < 0.5 { a.frame.plane(3) } else { b.frame.plane(3) }),
        4 => Alpha::Mix(a.frame.plane(3), b.frame.plane(3), fraction as f32),
        _ => Alpha::Opaque,
    };
    let mut made = assemble(&rgb, a.frame.channels, alpha).map_err(|e| failed(format!("Interpolating: {e}")))?;
    if options.matte != MATTE_OFF {
        // The matte rides as the last plane until `finish`.
        let mut with = Frame::try_new(made.channels + 1, made.height, made.width).map_err(failed)?;
        with.data[..made.data.len()].copy_from_slice(&made.data);
        with.plane_mut(made.channels).copy_from_slice(rgb.plane(3));
        made = with;
    }
    Ok(Outcome::Made {
        frame: made,
        bounds: a.bounds,
        status: format!(
            "Interpolated {:.3} of the way from source frame {} to {} ({}{}, {provider})",
            fraction,
            label(before),
            label(after),
            interpolator.manifest().name,
            if options.flip_ensemble { ", flip ensemble" } else { "" }
        ),
    })
}
