//! Fill Frames, one frame of a gap: decide how the gap is filled (Gap Method; Auto asks the
//! generation model's manifest which gaps it generates), then make the frame as an in-between
//! ([`super::interpolate`]) or as a frame of the shot generated from the good frames on each side
//! of the gap ([`super::generate`]: one shot per gap and parameter set, made once in the clip cache
//! and served to every frame and thread). Status names the gap and the method.

use super::generate::{self, ShotParams};
use super::{failed, frame_label, interpolate, Host, Output, RenderError, RenderResult, SourceFrames};
use crate::diffusion::VideoModel;
use crate::effects::gap::{self as effect, GapMethod};
use crate::effects::{EffectKind, FrameRange, ModelWork, ParamValues};
use crate::engine::generation::Prompts;

/// Seam Blend of a generated gap: Animate's default (the model's frames dissolve in from each
/// good frame, carried along the motion, over this many frames).
const SEAM_BLEND: usize = 4;

/// Makes listed frame `frame` of the gap between good source frames `before` and `after`;
/// `context` spans the good frames around it a generated gap may read.
pub fn render(
    values: &ParamValues,
    frames: &mut SourceFrames,
    (before, after, context): (f64, f64, FrameRange),
    frame: i64,
    render_scale: (f64, f64),
    out: &mut dyn Output,
    host: &dyn Host,
) -> RenderResult<String> {
    let gap = effect::params(values).map_err(failed)?;
    let missing = effect::missing(before, after);
    let span = match missing {
        1 => format!("Frame {}", frame_label(before + 1.0)),
        _ => format!("Frames {}–{}", frame_label(before + 1.0), frame_label(after - 1.0)),
    };
    if gap.method == GapMethod::Generate {
        // A blocked Gap Prompt costs no model work (checked again, as the model reads it, when
        // the shot is asked for; Auto checks it there once it decides to generate).
        Prompts::checked(&gap.prompt, "", None).map_err(failed)?;
    }
    // Interpolate never needs the generation model; Auto and Generate read its manifest. A Gap
    // Model the user named must open (a typo is an error, not a silent fallback); Auto with the
    // default model, which Fill Frames uses without anyone asking for generation, interpolates
    // when that model cannot open, and says why.
    let open = || -> Result<_, String> {
        let bad = |e: String| format!("Gap Model '{}': {e}", gap.model);
        let dir = crate::models::resolve(&gap.model).map_err(|e| bad(e.to_string()))?;
        let model = VideoModel::open(&dir).map_err(|e| bad(e.to_string()))?;
        Ok(model.manifest.gap_settings())
    };
    let named = !values.string(effect::PARAM_GAP_MODEL).unwrap_or_default().trim().is_empty();
    let generation = match gap.method {
        GapMethod::Interpolate => None,
        GapMethod::Auto if !named => match open() {
            Ok(settings) => Some(settings),
            Err(e) => {
                let fraction = effect::fraction(before, after, frame);
                let made = interpolate::render(values, frames, before, after, fraction, out)?;
                return Ok(format!("{span}: interpolated (RIFE, Auto: {e}). {made}"));
            }
        },
        GapMethod::Auto | GapMethod::Generate => Some(open().map_err(RenderError::failed)?),
    };
    let (generate, why) = match (gap.method, generation) {
        (GapMethod::Generate, Some(s)) => (Some(s), String::new()),
        (GapMethod::Auto, Some(s)) => {
            let wins = effect::auto_generates(s.min_frames, s.auto_needs_prompt, missing, !gap.prompt.is_empty());
            let why = match s.min_frames {
                Some(min) if s.auto_needs_prompt => {
                    format!(", Auto: {} generates gaps of {min} frames or more that have a Gap Prompt", gap.model)
                }
                Some(min) => format!(", Auto: {} generates gaps of {min} frames or more", gap.model),
                None => format!(", Auto: {}'s manifest sets no gap length to generate", gap.model),
            };
            (wins.then_some(s), why)
        }
        _ => (None, String::new()),
    };
    let Some(settings) = generate else {
        let fraction = effect::fraction(before, after, frame);
        let made = interpolate::render(values, frames, before, after, fraction, out)?;
        return Ok(format!("{span}: interpolated (RIFE{why}). {made}"));
    };
    let params = ShotParams {
        prompt: gap.prompt.clone(),
        negative_prompt: String::new(),
        seed: gap.seed,
        steps: settings.steps,
        guidance: settings.guidance,
        model: gap.model.clone(),
        length: None,
        looped: None,
        extend_frames: None,
        match_source: Some(true),
        seam_blend: Some(SEAM_BLEND),
        context_frames: Some(settings.context_frames),
    };
    // The gap's shot runs from the good frames before it to those after it; they pass through
    // elsewhere, bit-exact, and condition the frames between.
    let work = ModelWork::Gap { before, after, frame, context };
    let made = generate::render(
        EffectKind::Interpolate,
        "Kinema Interpolate (gap)",
        &params,
        &work,
        Some(frames),
        render_scale,
        out,
        host,
    )?;
    Ok(format!("{span}: generated ({}, seed {}{why}). {made}", gap.model, gap.seed))
}
