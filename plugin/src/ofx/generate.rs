//! Rendering Generate, Animate and Extend frames that a video model makes: read the settings,
//! check the prompt against the content policy, fetch the conditioning source frames through
//! the host, get the shot's clip (generated once, then cached), and write its frame into the
//! output window. OFX on one side, frame tensors on the other.

use std::borrow::Cow;

use super::effect::ImageEffect;
use super::frames::{output_image, write_window, SourceFrames};
use super::instance::Instance;
use super::status::{OfxError, OfxResult};
use crate::effects::{
    Direction, EffectKind, FrameRange, ModelWork, ParamValues, PARAM_EXTEND_FRAMES, PARAM_GUIDANCE, PARAM_LENGTH,
    PARAM_MATCH_SOURCE, PARAM_MODEL, PARAM_NEGATIVE_PROMPT, PARAM_PROMPT, PARAM_SEAM_BLEND, PARAM_SEED, PARAM_STEPS,
};
use crate::engine::generation::{check_output_size, shot_clip, Seam, Shot, ShotSettings};
use crate::frame_io::{resize_cover, Frame};

fn failed(e: impl std::fmt::Display) -> OfxError {
    OfxError::failed(e.to_string())
}

/// Makes (or takes from the cache) the frame `work` describes and writes it at `time`.
#[allow(clippy::too_many_arguments)]
pub fn render(
    effect: &ImageEffect,
    inst: &Instance,
    values: &ParamValues,
    work: &ModelWork,
    mut frames: Option<&mut SourceFrames>,
    time: f64,
    window: crate::frame_io::Rect,
    render_scale: (f64, f64),
) -> OfxResult<String> {
    let prompt = values.string(PARAM_PROMPT).map_err(failed)?.trim().to_string();
    let negative = values.string(PARAM_NEGATIVE_PROMPT).map_err(failed)?.trim().to_string();
    if prompt.is_empty() && inst.spec.kind == EffectKind::Generate {
        return Err(OfxError::failed("Enter a prompt: Generate makes the shot from it."));
    }
    // The policy is checked before any model work, so a blocked prompt costs nothing.
    crate::policy::check_prompts(&[&prompt, &negative]).map_err(failed)?;
    let model = crate::models::resolve(values.string(PARAM_MODEL).unwrap_or_default()).map_err(failed)?;

    let mut out = output_image(effect, time)?;
    let mut view = out.view_mut()?;
    let bounds = view.bounds();
    // The clip is made for the full-size frame, so proxy renders show the same shot.
    let full = |px: usize, scale: f64| ((px as f64 / scale.max(1e-6)).round() as usize).max(1);
    let settings = ShotSettings {
        prompt,
        negative_prompt: negative,
        seed: values.int(PARAM_SEED).map_err(failed)?.max(0) as u64,
        steps: values.int(PARAM_STEPS).map_err(failed)?.max(1) as usize,
        guidance: values.double(PARAM_GUIDANCE).map_err(failed)? as f32,
        fps: effect.frame_rate().unwrap_or(24.0),
        output_size: (full(bounds.width(), render_scale.0), full(bounds.height(), render_scale.1)),
    };
    // The frame is matched and fitted at the image's own size too (a render scale above 1 would
    // make it larger than the full size checked with the shot).
    check_output_size((bounds.width(), bounds.height())).map_err(failed)?;
    let length = |v: &ParamValues| v.int(PARAM_LENGTH).map(|l| l.max(1) as usize).map_err(failed);
    let mut fetch = |range: FrameRange| -> OfxResult<Vec<Frame>> {
        let frames = frames.as_deref_mut().ok_or_else(|| OfxError::failed("The Source clip is not connected."))?;
        let mut out = Vec::new();
        for t in range.first.round() as i64..=range.last.round() as i64 {
            let f = frames.get(t)?.ok_or_else(|| OfxError::failed(format!("The host has no source frame {t}.")))?;
            out.push(f.frame.clone());
        }
        Ok(out)
    };
    let mut between = None;
    // With Match Source: the source frames the generated frames join, by shot index.
    let mut seams: Vec<(i64, Frame)> = Vec::new();
    let matching = || values.bool(PARAM_MATCH_SOURCE).map_err(failed);
    let (shot, index) = match *work {
        ModelWork::Generate { index } => (Shot::Text { frames: length(values)? }, index),
        ModelWork::Animate { image_frame, end_frame: None, index } => {
            let image = fetch(FrameRange::single(image_frame))?.remove(0);
            if matching()? {
                seams.push((0, image.clone()));
            }
            (Shot::Animate { image, end: None, frames: length(values)? }, index)
        }
        ModelWork::Animate { image_frame, end_frame: Some(end_frame), index } => {
            // Only the two keyframes condition the shot; the source frames between are replaced.
            let image = fetch(FrameRange::single(image_frame))?.remove(0);
            let end = fetch(FrameRange::single(end_frame))?.remove(0);
            let shot_frames = (end_frame.round() - image_frame.round()) as usize + 1;
            between = Some((image_frame, end_frame));
            if matching()? {
                seams.extend([(0, image.clone()), (shot_frames as i64 - 1, end.clone())]);
            }
            (Shot::Animate { image, end: Some(end), frames: shot_frames }, index)
        }
        ModelWork::Extend { direction, context, index } => {
            let added = values.int(PARAM_EXTEND_FRAMES).map_err(failed)?.max(1) as usize;
            let context = fetch(context)?;
            let seam = match direction {
                Direction::Forward => context.last(),
                Direction::Backward => context.first(),
            };
            if let (true, Some(seam)) = (matching()?, seam) {
                seams.push((0, seam.clone()));
            }
            (Shot::Extend { direction, context, added }, index)
        }
        ModelWork::Interpolate { .. } => {
            return Err(OfxError::failed("internal: interpolation is not a generated shot"))
        }
    };

    let label = inst.spec.label.to_string_lossy().into_owned();
    let _ = effect.progress_start(&format!("{label}: generating"));
    // Progress goes through the progress suite only: a render may not set parameters.
    let mut progress = |done: usize, total: usize| {
        let _ = effect.progress_update(done as f64 / total.max(1) as f64);
    };
    let abort = || effect.abort();
    let made = shot_clip(&model, &settings, shot, &mut progress, &abort);
    let _ = effect.progress_end();
    let made = made.map_err(failed)?;
    let seams: Vec<Seam> = seams.iter().map(|(at, source)| Seam { at: *at, source }).collect();
    let frame = if seams.is_empty() {
        made.frame(index).map(Cow::Borrowed)
    } else {
        let blend = values.int(PARAM_SEAM_BLEND).map_err(failed)?.max(0) as usize;
        made.frame_matched(index, &seams, blend, (bounds.width(), bounds.height())).map(Cow::Owned)
    }
    .ok_or_else(|| OfxError::failed(format!("internal: the shot has no frame {index}")))?;

    // Fit the shot to the output frame, opaque where the output has alpha.
    let fitted = resize_cover(&frame, bounds.width(), bounds.height());
    let channels = view.components().count();
    let mut written = Frame::try_new(channels, fitted.height, fitted.width).map_err(failed)?;
    for c in 0..3 {
        written.plane_mut(c).copy_from_slice(fitted.plane(c));
    }
    if channels == 4 {
        written.plane_mut(3).fill(1.0);
    }
    write_window(&mut view, &written, bounds, window)?;
    let (clip_frames, seed) = (made.clip.frames.len(), settings.seed);
    Ok(match between {
        Some((first, last)) => format!(
            "Generated frame {index} of the shot between keyframes {first} and {last} ({clip_frames} frames, seed {seed})"
        ),
        None => format!("Generated frame {index} of the shot ({clip_frames} frames, seed {seed})"),
    })
}
