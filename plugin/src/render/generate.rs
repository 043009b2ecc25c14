//! Generate, Animate and Extend frames that a video model makes: check the prompt against the
//! content policy, resolve the model, fetch the conditioning source frames, get the shot's clip
//! (generated once, then cached), match it to the source frames it joins, and fit it to the output.

use super::{assemble, failed, Alpha, Host, Output, RenderError, RenderResult, SourceFrames};
use crate::effects::{
    Direction, EffectError, EffectKind, FrameRange, ModelWork, ParamValues, PARAM_EXTEND_FRAMES, PARAM_GUIDANCE,
    PARAM_LENGTH, PARAM_LOOP, PARAM_MATCH_SOURCE, PARAM_MODEL, PARAM_NEGATIVE_PROMPT, PARAM_PROMPT, PARAM_SEAM_BLEND,
    PARAM_SEED, PARAM_STEPS,
};
use crate::engine::generation::{check_output_size, shot_clip, FrameRef, Prompts, Seam, Shot, ShotSettings};
use crate::engine::watermark;
use crate::frame_io::{resize_cover, Frame};

/// The settings of Generate, Animate and Extend, read once per render. Those an effect does not
/// have are `None` (Generate has no source to match or extend).
#[derive(Clone, Debug, PartialEq)]
pub struct ShotParams {
    pub prompt: String,
    pub negative_prompt: String,
    pub seed: u64,
    pub steps: usize,
    pub guidance: f32,
    /// A model name or folder, as the user typed it.
    pub model: String,
    pub length: Option<usize>,
    /// Generate and Animate: the shot ends where it begins.
    pub looped: Option<bool>,
    pub extend_frames: Option<usize>,
    pub match_source: Option<bool>,
    pub seam_blend: Option<usize>,
    /// Fill Frames' generated gaps: good frames each side that condition the shot (the manifest's
    /// `gap.context_frames`).
    pub context_frames: Option<usize>,
}

impl ShotParams {
    pub fn read(values: &ParamValues) -> Result<Self, EffectError> {
        let has = |name| values.get(name).is_some();
        let count = |name| -> Result<Option<usize>, EffectError> {
            has(name).then(|| values.int(name).map(|v| v.max(0) as usize)).transpose()
        };
        Ok(Self {
            prompt: values.string(PARAM_PROMPT)?.trim().to_string(),
            negative_prompt: values.string(PARAM_NEGATIVE_PROMPT)?.trim().to_string(),
            seed: values.int(PARAM_SEED)?.max(0) as u64,
            steps: values.int(PARAM_STEPS)?.max(1) as usize,
            guidance: values.double(PARAM_GUIDANCE)? as f32,
            model: values.string(PARAM_MODEL).unwrap_or_default().to_string(),
            length: count(PARAM_LENGTH)?.map(|l| l.max(1)),
            looped: has(PARAM_LOOP).then(|| values.bool(PARAM_LOOP)).transpose()?,
            extend_frames: count(PARAM_EXTEND_FRAMES)?.map(|n| n.max(1)),
            match_source: has(PARAM_MATCH_SOURCE).then(|| values.bool(PARAM_MATCH_SOURCE)).transpose()?,
            seam_blend: count(PARAM_SEAM_BLEND)?,
            context_frames: None,
        })
    }

    fn length(&self) -> RenderResult<usize> {
        self.length.ok_or_else(|| missing(PARAM_LENGTH))
    }
}

fn missing(name: &std::ffi::CStr) -> RenderError {
    failed(EffectError::MissingParam(name.to_string_lossy().into_owned()))
}

/// Makes (or takes from the cache) the frame `work` describes and writes it to `out`.
#[allow(clippy::too_many_arguments)]
pub fn render(
    kind: EffectKind,
    label: &str,
    params: &ShotParams,
    work: &ModelWork,
    mut frames: Option<&mut SourceFrames>,
    render_scale: (f64, f64),
    out: &mut dyn Output,
    host: &dyn Host,
) -> RenderResult<String> {
    if params.prompt.is_empty() && kind == EffectKind::Generate {
        return Err(RenderError::failed("Enter a prompt: Generate makes the shot from it."));
    }
    // Before any model work, so a blocked prompt costs nothing; a shot can only be asked for
    // with prompts that passed (the engine checks them again as the model's tokenizer reads them).
    let prompts = Prompts::checked(&params.prompt, &params.negative_prompt, None).map_err(failed)?;
    let model = crate::models::resolve(&params.model).map_err(failed)?;

    let bounds = out.bounds()?;
    // The clip is made for the full-size frame, so proxy renders show the same shot.
    let full = |px: usize, scale: f64| ((px as f64 / scale.max(1e-6)).round() as usize).max(1);
    let settings = ShotSettings {
        prompts,
        seed: params.seed,
        steps: params.steps,
        guidance: params.guidance,
        fps: host.frame_rate().unwrap_or(24.0),
        output_size: (full(bounds.width(), render_scale.0), full(bounds.height(), render_scale.1)),
        looped: params.looped.unwrap_or(false),
    };
    // The frame is matched and fitted at the image's own size too (a render scale above 1 would
    // make it larger than the full size checked with the shot).
    check_output_size((bounds.width(), bounds.height())).map_err(failed)?;
    // Frames from `first` stepping by `step` (1 or -1), at most `count`; only the first must exist
    // (a context frame the host cannot give ends the run there).
    let mut fetch_run = |first: i64, step: i64, count: usize| -> RenderResult<Vec<Frame>> {
        let frames = frames.as_deref_mut().ok_or_else(|| RenderError::failed("The Source clip is not connected."))?;
        let mut out = Vec::new();
        for t in (0..count as i64).map_while(|k| first.checked_add(k * step)) {
            match frames.get(t)? {
                Some(f) => out.push(f.frame.clone()),
                None if out.is_empty() => {
                    return Err(RenderError::failed(format!("The host has no source frame {t}.")))
                }
                None => break,
            }
        }
        Ok(out)
    };
    let mut fetch = |range: FrameRange| -> RenderResult<Vec<Frame>> {
        let (first, last) = (range.first.round() as i64, range.last.round() as i64);
        let count =
            (i128::from(last) - i128::from(first) + 1).clamp(0, crate::diffusion::limits::MAX_FRAMES as i128) as usize;
        let out = fetch_run(first, 1, count)?;
        if out.len() < count {
            return Err(RenderError::failed(format!("The host has no source frame {}.", first + out.len() as i64)));
        }
        Ok(out)
    };
    let mut between = None;
    // With Match Source: the source frames the generated frames join, by shot index.
    let mut seams: Vec<(i64, Frame)> = Vec::new();
    let matching = || params.match_source.ok_or_else(|| missing(PARAM_MATCH_SOURCE));
    let (shot, index) = match *work {
        ModelWork::Generate { index } => (Shot::Text { frames: params.length()? }, index),
        ModelWork::Animate { image_frame, end_frame: None, index } => {
            let image = fetch(FrameRange::single(image_frame))?.remove(0);
            if matching()? {
                seams.push((0, image.clone()));
            }
            (Shot::Animate { image, end: None, frames: params.length()? }, index)
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
            let added = params.extend_frames.ok_or_else(|| missing(PARAM_EXTEND_FRAMES))?;
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
        ModelWork::Gap { before, after, frame, context } => {
            // Up to `context_frames` good frames each side, the gap's own ends included: outward
            // from the gap, as far as the plan's context and the host's frames go.
            let want = params.context_frames.unwrap_or(1).max(1);
            let (b, a) = (before.round() as i64, after.round() as i64);
            let span = |lo: i64, hi: i64| (i128::from(hi) - i128::from(lo) + 1).clamp(1, want as i128) as usize;
            let (lead_count, trail_count) =
                (span(context.first.round() as i64, b), span(a, context.last.round() as i64));
            let mut lead = fetch_run(b, -1, lead_count)?;
            lead.reverse();
            let trail = fetch_run(a, 1, trail_count)?;
            let missing = crate::effects::gap::missing(before, after) as usize;
            between = Some((before, after));
            if matching()? {
                let (image, end) = (lead[lead.len() - 1].clone(), trail[0].clone());
                seams.extend([(0, image), (missing as i64 + 1, end)]);
            }
            let index = (i128::from(frame) - before as i128) as i64;
            (Shot::Between { before: lead, after: trail, missing }, index)
        }
        ModelWork::Interpolate { .. } | ModelWork::Blur { .. } => {
            return Err(RenderError::failed("internal: interpolation is not a generated shot"))
        }
    };

    host.progress_start(&format!("{label}: generating"));
    // Progress goes through the progress suite only: a render may not set parameters. A long
    // shot's windows each run all steps; the label names the window being made.
    let steps = settings.steps.max(1);
    let mut window_shown = 0;
    let mut progress = |done: usize, total: usize| {
        let windows = total / steps;
        let window = (done.saturating_sub(1) / steps + 1).min(windows);
        if windows > 1 && window != window_shown {
            window_shown = window;
            host.progress_end();
            host.progress_start(&format!("{label}: window {window}/{windows} of {steps} steps"));
        }
        host.progress(done as f64 / total.max(1) as f64)
    };
    let abort = || host.aborted();
    let made = shot_clip(&model, &settings, shot, &mut progress, &abort);
    host.progress_end();
    let made = made.map_err(failed)?;
    let seams: Vec<Seam> = seams.iter().map(|(at, source)| Seam { at: *at, source }).collect();
    let frame = if seams.is_empty() {
        made.frame(index, &abort).map_err(failed)?.map(Served::Clip)
    } else {
        let blend = params.seam_blend.ok_or_else(|| missing(PARAM_SEAM_BLEND))?;
        made.frame_matched(index, &seams, blend, (bounds.width(), bounds.height()), &abort)
            .map_err(failed)?
            .map(Served::Matched)
    }
    .ok_or_else(|| RenderError::failed(format!("internal: the shot has no frame {index}")))?;

    // Fit the shot to the output frame, opaque where the output has alpha.
    let mut fitted = resize_cover(&frame, bounds.width(), bounds.height());
    // Marked last, at the output's size, so nothing resamples the mark away.
    let marking = watermark::mark(&mut fitted, &made.provenance).map_err(failed)?.status();
    let written = assemble(&fitted, out.channels()?, Alpha::Opaque).map_err(failed)?;
    out.write(&written, bounds)?;
    let (clip_frames, seed, reviewed) = (made.frames.len(), settings.seed, &made.reviewed);
    let clip_frames = match made.windows {
        Some(windows) => format!("{clip_frames} frames in {windows}"),
        None => format!("{clip_frames} frames"),
    };
    Ok(match between {
        Some((first, last)) => format!(
            "Generated frame {index} of the shot between keyframes {first} and {last} ({clip_frames}, seed {seed}; {reviewed}; {marking})"
        ),
        None => format!("Generated frame {index} of the shot ({clip_frames}, seed {seed}; {reviewed}; {marking})"),
    })
}

/// A served frame: the clip's own, or matched to the source.
enum Served {
    Clip(FrameRef),
    Matched(Frame),
}

impl std::ops::Deref for Served {
    type Target = Frame;
    fn deref(&self) -> &Frame {
        match self {
            Served::Clip(frame) => frame,
            Served::Matched(frame) => frame,
        }
    }
}
