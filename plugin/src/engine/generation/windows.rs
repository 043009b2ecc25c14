//! Shots longer than the model's window: the long pipeline makes them as overlapping windows
//! ([`crate::diffusion::long`]), each conditioned on the tail of the one before. A shot that fits
//! in one window is generated exactly as before, by the single-window pipelines.

use crate::clip_cache::{clip_cache, ClipKey, GeneratedClip, KeyBuilder};
use crate::diffusion::scheduler::linspace_sigmas;
use crate::diffusion::{
    made_order, shot_window_plan, window_plan, DecodeTiling, EndKeyframe, LongRequest, LongSchedule, LongScheduler,
    Manifest, ShotState, WindowSettings, WindowStore, Windows,
};
use crate::engine::EngineError;
use crate::frame_io::Frame;

use super::ShotSettings;

/// The longest shot any effect makes: a minute at the shot's frame rate.
pub const MAX_SHOT_SECONDS: f64 = 60.0;

/// How a long shot is cut into windows, for the status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShotWindows {
    pub count: usize,
    /// Frames per window and frames each shares with the one before.
    pub frames: usize,
    pub overlap: usize,
    /// The last window leads back into the first frames.
    pub looped: bool,
}

impl std::fmt::Display for ShotWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} windows of {}, overlap {}", self.count, self.frames, self.overlap)?;
        if self.looped {
            write!(f, ", looped")?;
        }
        Ok(())
    }
}

/// The longest shot one window makes: the manifest's window, or its trained maximum.
fn single_window(m: &Manifest) -> Option<usize> {
    match (&m.windows, m.defaults.max_frames) {
        (Some(w), Some(max)) => Some(w.frames.min(max)),
        (Some(w), None) => Some(w.frames),
        (None, max) => max,
    }
}

/// Whether a shot of `frames` needs windows (`Some`, with the plan) or fits in one (`None`).
/// Lengths no model can make (over a minute, or longer than a window of a model without
/// windows) are refused with the reason and what to change, and so is a loop (`looped`) that
/// is not made in windows: its last window is what leads back into the first frames.
pub fn plan(m: &Manifest, frames: usize, fps: f64, looped: bool) -> Result<Option<ShotWindows>, EngineError> {
    let max_frames = (MAX_SHOT_SECONDS * fps).floor() as usize;
    if frames > max_frames.max(1) {
        return Err(EngineError::Input(format!(
            "a shot is at most {MAX_SHOT_SECONDS} seconds ({max_frames} frames at {fps} fps) and this one needs {frames}"
        )));
    }
    let fits = single_window(m).is_none_or(|max| frames <= max);
    if looped && (m.windows.is_none() || fits) {
        let why = match (&m.windows, single_window(m)) {
            (None, _) => format!("model '{}' has no windows to make a loop with", m.name),
            (.., single) => format!(
                "Loop leads the shot's last window back into its first frames, so the shot must be longer than \
                 one window ({} frames; this one has {frames}): lengthen it",
                single.unwrap_or(frames)
            ),
        };
        return Err(EngineError::Input(why));
    }
    let Some(single) = single_window(m).filter(|&max| frames > max) else { return Ok(None) };
    let Some(w) = &m.windows else {
        return Err(EngineError::Input(format!(
            "model '{}' makes {single} frames at once and this shot needs {frames}: shorten it (Length, End Frame, \
             or Extend By plus Context Frames) or use a model trained for longer shots",
            m.name
        )));
    };
    let t = m.latent.temporal_ratio;
    let settings = window_settings(m, w);
    let windows = window_plan((frames - 1) / t + 1, settings.tile_frames / t, settings.overlap_frames / t);
    Ok(Some(ShotWindows { count: windows.len(), frames: w.frames, overlap: w.overlap, looped }))
}

/// The manifest's window in the long pipeline's terms: the tile as whole latent frames.
fn window_settings(m: &Manifest, w: &Windows) -> WindowSettings {
    let t = m.latent.temporal_ratio;
    WindowSettings {
        tile_frames: ((w.frames - 1) / t + 1) * t,
        overlap_frames: w.overlap,
        overlap_strength: w.overlap_strength,
        adain_factor: w.adain_factor,
    }
}

/// What a long shot is made from besides its text: the first image (Animate), with the end
/// keyframe (Animate with End Frame), or the context it continues (Extend).
#[derive(Default)]
pub struct ShotConditions {
    pub image: Option<Frame>,
    pub end: Option<EndKeyframe>,
    pub context: Vec<Frame>,
    /// The context is the shot's last frames (Extend backward).
    pub context_last: bool,
}

/// The long pipeline's request for a shot `plan` said needs windows: the single-window
/// pipelines' schedule run to the end in every window, the manifest's window settings, and
/// the conditions held fully.
pub fn request(
    m: &Manifest,
    settings: &ShotSettings,
    (width, height): (usize, usize),
    frames: usize,
    conditions: ShotConditions,
) -> Result<LongRequest, EngineError> {
    let w = m.windows.as_ref().ok_or_else(|| EngineError::Input(format!("model '{}' has no windows", m.name)))?;
    // As text to video: σ from 1 down to 1/n, then 0, so every window ends fully denoised.
    let mut sigmas = linspace_sigmas(settings.steps.max(1));
    sigmas.push(0.0);
    let mut request = LongRequest {
        prompt: String::new(),
        negative_prompt: settings.prompts.negative().to_string(),
        width,
        height,
        frames,
        fps: settings.fps,
        schedule: LongSchedule::Sigmas(sigmas),
        scheduler: LongScheduler::FlowMatch,
        guidance: settings.guidance,
        max_sequence_length: None,
        decode_timestep: m.decode.timestep,
        decode_noise_scale: Some(m.decode.noise_scale),
        image: conditions.image,
        image_strength: 1.0,
        windows: window_settings(m, w),
        tiling: DecodeTiling { horizontal: 1, vertical: 1, overlap: 0 },
        // The first frames are the shot's own, so the end is held to them fully.
        loop_strength: settings.looped.then_some(1.0),
        end_image: conditions.end,
        context: conditions.context,
        context_last: conditions.context_last,
    };
    // The storyboard as one prompt per window: the pipeline gives window k the k-th segment.
    let t = m.latent.temporal_ratio;
    let ranges: Vec<(usize, usize)> = shot_windows(frames, t, &request.windows, request.made_from_end())
        .into_iter()
        .map(|(a, b)| (a * t, ((b - 1) * t + 1).min(frames)))
        .collect();
    request.prompt = super::storyboard::window_texts(settings.prompts.prompt(), frames, &ranges)?.join(" | ");
    Ok(request)
}

/// The latent windows of a shot of `frames`, planned from its end when it is made from there.
fn shot_windows(frames: usize, t: usize, w: &WindowSettings, from_end: bool) -> Vec<(usize, usize)> {
    shot_window_plan((frames - 1) / t + 1, w.tile_frames / t, w.overlap_frames / t, from_end)
}

/// Finished windows of a long shot, kept in the clip cache (memory and disk). Window k's key
/// chains the shot's settings through every window up to k (its text and frames), so a window is
/// reused only when all it depends on is the same: after an abort the shot goes on from the last
/// finished window, and changing a later prompt segment redoes only the windows from there.
pub struct KeptWindows {
    /// By window index.
    keys: Vec<ClipKey>,
    /// Window indices in the order they are made.
    order: Vec<usize>,
}

impl KeptWindows {
    /// `shot` is the shot's key fields except its prompt and length (model, seed, steps, size,
    /// image, ...); `request` the long request made from them.
    pub fn new(shot: &KeyBuilder, request: &LongRequest, t: usize) -> Self {
        let w = &request.windows;
        let mut previous = shot
            .clone()
            .str("pipeline", "long windows")
            .uint("window", w.tile_frames as u64)
            .uint("overlap", w.overlap_frames as u64)
            .float("overlap_strength", f64::from(w.overlap_strength))
            .float("adain", f64::from(w.adain_factor))
            .str("made from", if request.made_from_end() { "the end" } else { "the start" })
            .finish();
        let texts: Vec<&str> = request.prompt.split('|').map(str::trim).collect();
        let plan = shot_windows(request.frames, t, w, request.made_from_end());
        let last = plan.len().saturating_sub(1);
        // Chained in the order the windows are made.
        let order = made_order(plan.len(), request.made_from_end());
        let mut keys: Vec<(usize, ClipKey)> = order
            .iter()
            .map(|&k| {
                let (start, end) = plan[k];
                let mut key = KeyBuilder::new("kinema.shot.window.v2")
                    .str("after", &previous.hex())
                    .str("text", texts[k.min(texts.len().saturating_sub(1))])
                    .uint("start", start as u64)
                    .uint("end", end as u64);
                // Only the last window sees the loop: turning Loop on or off remakes just it.
                if let (true, Some(strength)) = (k == last, request.loop_strength) {
                    key = key.float("loop", f64::from(strength));
                }
                // And the end keyframe: a new End Frame remakes just it.
                if let (true, Some(end)) = (k == last, &request.end_image) {
                    key = key.frame("end", &end.image).uint("end_frame", end.frame as u64);
                }
                previous = key.finish();
                (k, previous)
            })
            .collect();
        keys.sort_by_key(|&(k, _)| k);
        Self { keys: keys.into_iter().map(|(_, key)| key).collect(), order }
    }

    /// The windows made up to and including `index`, in the order they are made.
    fn made_through(&self, index: usize) -> Option<&[usize]> {
        let made = self.order.iter().position(|&k| k == index)?;
        Some(&self.order[..=made])
    }
}

/// Each window's entry holds what it changed: the value it starts at (one number), the values
/// from there, and the AdaIN reference. Window k's state is rebuilt from the entries of the
/// windows made up to it, in that order.
impl WindowStore for KeptWindows {
    fn load(&mut self, index: usize) -> Option<ShotState> {
        let mut latents: Vec<f32> = Vec::new();
        let mut reference = Vec::new();
        for &k in self.made_through(index)? {
            let kept = clip_cache().kept(self.keys[k])?;
            let [from, changed, kept_reference] = kept.frames.as_slice() else { return None };
            let from = *from.data.first()? as usize;
            if from > latents.len() {
                return None;
            }
            latents.truncate(from);
            latents.try_reserve(changed.data.len()).ok()?;
            latents.extend_from_slice(&changed.data);
            reference = kept_reference.data.chunks_exact(2).map(|p| (p[0], p[1])).collect();
        }
        Some(ShotState { latents, reference })
    }

    fn save(&mut self, index: usize, changed_from: usize, latents: &[f32], reference: &[(f32, f32)]) {
        let Some(&key) = self.keys.get(index) else { return };
        // One f32 holds the start exactly up to 2^24 values; a larger one is not kept.
        if changed_from > 1 << 24 || changed_from > latents.len() {
            return;
        }
        let as_frame = |data: Vec<f32>| {
            let n = data.len();
            Frame::from_vec(1, 1, n, data).ok()
        };
        let reference = reference.iter().flat_map(|&(m, s)| [m, s]).collect();
        let parts =
            (as_frame(vec![changed_from as f32]), as_frame(latents[changed_from..].to_vec()), as_frame(reference));
        if let (Some(from), Some(changed), Some(reference)) = parts {
            clip_cache().keep(key, GeneratedClip { frames: vec![from, changed, reference], fps: 0.0 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Manifest {
        Manifest::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kinema-tiny"), "kinema-tiny")
            .unwrap()
    }

    #[test]
    fn a_shot_that_fits_one_window_is_made_as_before() {
        let m = tiny();
        assert_eq!(plan(&m, 17, 25.0, false).unwrap(), None);
        assert_eq!(plan(&m, 9, 25.0, false).unwrap(), None);
    }

    #[test]
    fn longer_shots_are_planned_in_windows_of_the_models_length() {
        let m = tiny();
        let w = m.windows.as_ref().unwrap();
        let plan = plan(&m, 241, 25.0, false).unwrap().unwrap();
        assert_eq!((plan.frames, plan.overlap), (w.frames, w.overlap));
        assert!(plan.count > 1, "{plan:?}");
        assert_eq!(plan.to_string(), format!("{} windows of {}, overlap {}", plan.count, w.frames, w.overlap));
    }

    #[test]
    fn lengths_no_model_makes_are_refused_with_what_to_change() {
        let m = tiny();
        let err = plan(&m, 1501, 25.0, false).unwrap_err().to_string();
        assert!(err.contains("at most 60 seconds (1500 frames at 25 fps)"), "{err}");
        let mut without = tiny();
        without.windows = None;
        let err = plan(&without, 33, 25.0, false).unwrap_err().to_string();
        assert!(err.contains("makes 17 frames at once") && err.contains("Length"), "{err}");
    }

    #[test]
    fn a_loop_is_made_in_windows_or_refused_with_what_to_change() {
        let m = tiny();
        let looped = plan(&m, 41, 25.0, true).unwrap().unwrap();
        assert!(looped.looped && looped.to_string().ends_with(", looped"), "{looped}");
        let err = plan(&m, 17, 25.0, true).unwrap_err().to_string();
        assert!(err.contains("longer than one window (17 frames; this one has 17)"), "{err}");
    }
}
