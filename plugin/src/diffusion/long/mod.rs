//! Long shots: diffusers 0.42.1's `LTXI2VLongMultiPromptPipeline` on the ONNX graphs, following
//! models/ltx/long-spec.md. A shot longer than the model's window is made as overlapping latent
//! windows; each window also sees the previous one's tail (soft tokens appended after its own)
//! and, with a first image, that image as a hard frame. Windows after the first are normalised
//! towards the first window's statistics (AdaIN) and cross-faded into the shot, which the VAE
//! then decodes whole, in feathered spatial tiles.
//!
//! This is its own conditioning rule, not the Condition pipeline's: per-token timestep `t·m`
//! (m = freedom), the global-σ step for every token, and a blend towards the kept values before
//! and after every step.
//!
//! Stages, a module each: `plan` checks the request and cuts the shot into windows, `steps` is
//! the schedule a window runs, `window` assembles and denoises one window, `stitch` joins the
//! windows, `decode` turns the shot into frames, `noise` says where random numbers come from.

mod decode;
mod noise;
mod plan;
mod steps;
mod stitch;
mod window;

pub use noise::{LongNoise, NoiseStream, SeededStreams};
pub use plan::{made_order, shot_window_plan, window_plan};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::manifest::Pipeline;
use super::model::VideoModel;
use super::pipeline::{Control, Output, Text, Timing};
use crate::engine::EngineError;
use crate::frame_io::Frame;

/// How the shot is cut into windows (as diffusers' arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct WindowSettings {
    /// Window length in pixel frames (`temporal_tile_size`); whole latent frames count.
    pub tile_frames: usize,
    /// Frames each window shares with the one before, in pixel frames (`temporal_overlap`).
    pub overlap_frames: usize,
    /// How strongly the previous window's tail holds (`temporal_overlap_cond_strength`, 0..1).
    pub overlap_strength: f32,
    /// How far each later window's statistics move to the first window's (0..1; 0 = off).
    pub adain_factor: f32,
}

/// Spatial tiles of the final decode, with `overlap` latent pixels feathered between
/// neighbours; `1, 1, 0` decodes in one piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeTiling {
    pub horizontal: usize,
    pub vertical: usize,
    pub overlap: usize,
}

/// The schedule every window runs.
#[derive(Clone, Debug, PartialEq)]
pub enum LongSchedule {
    /// `n` steps of the scheduler's own schedule; as in diffusers, the last is never run, so a
    /// window runs `n − 1` steps and ends just above σ = 0.
    Steps(usize),
    /// Explicit σ from high to low, including the terminal 0: every step runs, ending at 0.
    Sigmas(Vec<f32>),
}

/// The sampler; both are built from the manifest's flow-match config.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LongScheduler {
    /// `FlowMatchEulerDiscreteScheduler`: deterministic Euler steps.
    FlowMatch,
    /// `LTXEulerAncestralRFScheduler` (ComfyUI's euler_ancestral for rectified flow): draws
    /// ancestral noise each step while `eta` and `s_noise` are above 0.
    EulerAncestralRf { eta: f32, s_noise: f32 },
}

/// One long shot. Sizes must follow the model's rules ([`Manifest::size_for`],
/// [`Manifest::frames_for`]).
///
/// [`Manifest::size_for`]: super::Manifest::size_for
/// [`Manifest::frames_for`]: super::Manifest::frames_for
#[derive(Clone, Debug)]
pub struct LongRequest {
    /// Segments split by `|`: window k takes segment `min(k, n − 1)` (not an even split).
    pub prompt: String,
    /// One for all windows.
    pub negative_prompt: String,
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    pub fps: f64,
    pub schedule: LongSchedule,
    pub scheduler: LongScheduler,
    pub guidance: f32,
    /// Defaults to the manifest's text-to-video maximum.
    pub max_sequence_length: Option<usize>,
    pub decode_timestep: f32,
    /// `None`: the decoder's latents are not re-noised and nothing is drawn.
    pub decode_noise_scale: Option<f32>,
    /// The first frame (RGB, 0..1, at the generation size): soft in the first window, and a
    /// hard identity frame in every window.
    pub image: Option<Frame>,
    /// How strongly the first frame holds in the first window (`cond_strength`, 0..1; 0 = no
    /// image at all), and the end keyframe in the last.
    pub image_strength: f32,
    /// With a first image, the keyframe the last window lands on, as LTXConditionPipeline places
    /// a keyframe. Not in diffusers' long pipeline.
    pub end_image: Option<EndKeyframe>,
    pub windows: WindowSettings,
    pub tiling: DecodeTiling,
    /// A loop: the last window also sees the shot's first frames (as many as the overlap) just
    /// after its end, held with this strength (0..1), so the shot ends where it begins and
    /// plays on in a loop without a jump. `None`: the shot ends freely. Needs two windows or
    /// more. Not in diffusers; the windows before the last are the same either way.
    pub loop_strength: Option<f32>,
    /// An extension forward: the clip's last frames (RGB, 0..1, at the generation size, `1 + k·T`
    /// of them), which the shot starts with and holds exactly; the windows make what follows.
    /// Empty for a new shot. Not in diffusers' long pipeline.
    pub context: Vec<Frame>,
    /// The context is the shot's last frames instead (an extension backward): the windows are
    /// planned from the shot's end and made last to first, each leading into the one after it.
    pub context_last: bool,
}

impl LongRequest {
    /// Whether the shot is made from its end: an extension backward.
    pub fn made_from_end(&self) -> bool {
        self.context_last && !self.context.is_empty()
    }
}

/// The shot as it stood after a window: its latents so far, frame-major `[frames, C, h·w]`, and
/// the first window's per-channel mean and standard deviation (the AdaIN reference). Everything
/// later windows need, so a shot can go on from any finished window.
#[derive(Clone, Debug, PartialEq)]
pub struct ShotState {
    pub latents: Vec<f32>,
    pub reference: Vec<(f32, f32)>,
}

/// Where finished windows are kept, so a stopped shot, or one whose later prompt segments
/// changed, redoes only the windows after the last one it still has. The store's keys must cover
/// everything a window depends on (the windows before it, its text, its frames, the seed).
pub trait WindowStore {
    /// The shot after window `index`, if kept.
    fn load(&mut self, index: usize) -> Option<ShotState>;
    /// Keeps the shot after window `index`: its latents so far and the AdaIN reference, as
    /// [`ShotState`] holds them (borrowed: a store that keeps nothing copies nothing). The
    /// window changed `latents[changed_from..]` only, so a store may keep just that part and
    /// rebuild the shot from the windows before on load (the states of a shot's windows then
    /// take the shot's size, not windows × the shot's).
    fn save(&mut self, index: usize, changed_from: usize, latents: &[f32], reference: &[(f32, f32)]);
}

/// The keyframe a shot between keyframes ends on.
#[derive(Clone, Debug)]
pub struct EndKeyframe {
    /// RGB, 0..1, at the generation size.
    pub image: Frame,
    /// Its frame in the shot: in the last latent frame's span, as the model's frame rule may make
    /// the shot up to `temporal_ratio − 1` frames longer than the keyframes are apart.
    pub frame: usize,
}

/// Keeps nothing: every window is made.
pub struct NoStore;

impl WindowStore for NoStore {
    fn load(&mut self, _: usize) -> Option<ShotState> {
        None
    }
    fn save(&mut self, _: usize, _: usize, _: &[f32], _: &[(f32, f32)]) {}
}

static WINDOWS_MADE: AtomicU64 = AtomicU64::new(0);

/// Windows denoised in this process (the self-check report; resumed windows do not count).
pub fn windows_made() -> u64 {
    WINDOWS_MADE.load(Ordering::Relaxed)
}

impl VideoModel {
    /// [`VideoModel::generate_long_kept`] with nothing kept between runs.
    pub fn generate_long(
        &self,
        req: &LongRequest,
        noise: &mut dyn LongNoise,
        control: &mut Control,
    ) -> Result<Output, EngineError> {
        self.generate_long_kept(req, noise, control, &mut NoStore)
    }

    /// Runs a whole long shot, going on from the last window `store` still has and saving each
    /// window it makes. A shot made in pieces is the same, bit for bit, as one made at once: a
    /// window's noise depends only on the seed and its start. The output's `latents` are the stitched shot **5-D**,
    /// `[C, f, h, w]` (normalised), not packed tokens; `frames` are RGB 0..1.
    ///
    /// `control.progress(done, total)` counts steps across windows (total = windows × steps run
    /// per window); `control.abort` is polled before every step.
    pub fn generate_long_kept(
        &self,
        req: &LongRequest,
        noise: &mut dyn LongNoise,
        control: &mut Control,
        store: &mut dyn WindowStore,
    ) -> Result<Output, EngineError> {
        let started = Instant::now();
        let (latents, mut timing) = self.long_latents(req, noise, control, store)?;
        let shot = self.long_frames(req)?;
        let frames = self.decode_long_frames(req, &latents, noise.stream(NoiseStream::Decode), 0..shot, 0)?;
        timing.total_seconds = started.elapsed().as_secs_f64();
        Ok(Output { latents, frames, timing })
    }

    /// The pixel frames a long request makes (checked as [`VideoModel::generate_long`] checks).
    pub fn long_frames(&self, req: &LongRequest) -> Result<usize, EngineError> {
        let (f, _, _) = self.plan_long(req)?.grid;
        Ok(1 + (f - 1) * self.manifest.latent.temporal_ratio)
    }

    /// The pixel frames `frames` of a long shot whose latents [`VideoModel::long_latents`] made,
    /// decoded from the latent frames they come from and `context` latent frames each side, so
    /// a shot served piece by piece holds one piece's decode at a time. `noise` is a fresh
    /// decode stream (`NoiseStream::Decode`) of the shot's seed.
    pub fn decode_long_frames(
        &self,
        req: &LongRequest,
        latents: &[f32],
        noise: &mut dyn crate::diffusion::Noise,
        frames: std::ops::Range<usize>,
        context: usize,
    ) -> Result<Vec<Frame>, EngineError> {
        let plan = self.plan_long(req)?;
        let (f, h, w) = plan.grid;
        if latents.len() != self.manifest.latent.channels * f * h * w {
            return Err(EngineError::Input(format!(
                "{} latent values are not this shot's {} latent frames",
                latents.len(),
                f
            )));
        }
        self.decode_long(latents, plan.grid, &plan.tiles, req, noise, frames, context)
    }

    /// Denoises a long shot's windows, going on from the last one `store` still has: the
    /// stitched latents `[C, f, h, w]` (normalised), and how long the windows took.
    pub fn long_latents(
        &self,
        req: &LongRequest,
        noise: &mut dyn LongNoise,
        control: &mut Control,
        store: &mut dyn WindowStore,
    ) -> Result<(Vec<f32>, Timing), EngineError> {
        let started = Instant::now();
        let plan = self.plan_long(req)?;
        let m = &self.manifest;
        let (c, (f, h, w)) = (m.latent.channels, plan.grid);
        let cond = match (&req.image, plan.image) {
            (Some(image), true) => Some(self.encode_condition(image)?),
            _ => None,
        };
        let end_image = match (&req.end_image, plan.image) {
            (Some(end), true) => Some((self.encode_condition(&end.image)?, end.frame)),
            _ => None,
        };
        let context = match req.context.is_empty() {
            true => None,
            false => Some(self.encode_mean(&req.context, "the context's latents")?),
        };
        let segments: Vec<&str> = req.prompt.split('|').map(str::trim).collect();
        let mut texts: Vec<Option<Text>> = (0..segments.len()).map(|_| None).collect();
        let mask_input = *m.components.text_encoder.mask_input.get(Pipeline::T2v);

        let n = plan.windows.len();
        let t = m.latent.temporal_ratio;
        let mut progress = window::Progress { done: 0, total: n * plan.steps.run().len() };
        let mut timing = Timing::default();
        let mut shot = stitch::Shot::new(c, h * w, f)?;
        // The order windows are made in: from the shot's end for an extension backward, which
        // the shot then grows towards its start.
        let backward = req.made_from_end();
        let order = made_order(n, backward);
        // Where the context sits in the shot: at its start, or (backward) as LTXConditionPipeline
        // places a clip at a frame index: its first latent frames (the prefix) as tokens from
        // that pixel frame on, the rest in place up to the shot's end.
        let held = context.as_deref().map(|values| {
            let kc = values.len() / (h * w * c);
            if backward {
                let prefix = m.conditioning.condition.as_ref().map_or(1, |c| c.num_prefix_latent_frames).clamp(1, kc);
                let (first, rest) = values.split_at(prefix * h * w * c);
                (rest, f - kc + prefix, Some((first, (f - kc) * t)))
            } else {
                (values, 0, None)
            }
        });
        // The last window kept whose state has the size this plan gives it.
        let mut first = 0;
        for (made, &index) in order.iter().enumerate().rev() {
            let (start, end) = plan.windows[index];
            if let Some(state) = store.load(index) {
                if shot.restore(state, if backward { f - start } else { end }) {
                    first = made + 1;
                    progress.done = first * plan.steps.run().len();
                    break;
                }
            }
        }
        for &index in order.iter().skip(first) {
            let (start, end) = plan.windows[index];
            let segment = index.min(segments.len() - 1);
            let text = match &mut texts[segment] {
                Some(text) => text,
                slot => slot.insert(self.encode_prompts(
                    &req.negative_prompt,
                    segments[segment],
                    plan.max_len,
                    mask_input,
                )?),
            };
            // The tail: the shot's last frames so far, stitched and normalised, at the window's
            // head; backward, the next window's frames after its causal first, at the window's end.
            let tail = match index {
                _ if index == order[0] => None,
                _ if plan.overlap == 0 || req.windows.overlap_strength <= 0.0 => None,
                _ if backward => {
                    let next = plan.windows[index + 1].0;
                    let shared = end.saturating_sub(next + 1);
                    (shared > 0).then(|| shot.head_tokens(1..1 + shared).map(|v| (v, next + 1 - start))).transpose()?
                }
                _ => Some((shot.tail_tokens(plan.overlap.min(end - start))?, 0)),
            };
            // A loop's last window leads back into the shot's first frames.
            let ahead = match req.loop_strength {
                Some(strength) if strength > 0.0 && index + 1 == plan.windows.len() && index > 0 => {
                    Some(shot.head_tokens(0..plan.overlap.max(1))?)
                }
                _ => None,
            };
            let input = window::WindowInput {
                start,
                end,
                cond: cond.as_deref(),
                tail: tail.as_ref().map(|(values, at)| (values.as_slice(), *at)),
                ahead: ahead.as_deref(),
                context: held.map(|(values, first, _)| (values, first)),
                // Condition tokens in the window's time, which starts at its first latent frame's
                // pixel frame: the end keyframe in the last window, and a backward context's
                // prefix in every window that reaches the context.
                keyframe: match (&end_image, held) {
                    (Some((values, frame)), _) if index + 1 == n => {
                        Some((values.as_slice(), frame.saturating_sub(start * t), 1.0 - req.image_strength))
                    }
                    (_, Some((_, _, Some((values, frame))))) if end * t > frame => {
                        Some((values, frame.saturating_sub(start * t), 0.0))
                    }
                    _ => None,
                },
                text,
            };
            let rng = noise.stream(NoiseStream::Window { index, start });
            let x = self.run_window(req, &plan, &input, rng, control, &mut progress, &mut timing)?;
            let own = stitch::frames_of_tokens(&x, c, h * w, end - start)?;
            let changed_from = match backward {
                // The whole shot so far changes its start: a store keeps it all.
                true => {
                    let next = plan.windows.get(index + 1).map_or(end, |w| w.0);
                    shot.prepend_window(own, next + 1 - start, req.windows.adain_factor)?;
                    0
                }
                false => shot.add_window(own, plan.overlap, req.windows.adain_factor)?,
            };
            WINDOWS_MADE.fetch_add(1, Ordering::Relaxed);
            let (latents, reference) = shot.parts();
            store.save(index, changed_from, latents, reference);
        }
        if (control.abort)() {
            return Err(EngineError::Aborted);
        }
        if shot.frames() != f {
            return Err(EngineError::Input(format!(
                "the windows made {} latent frames instead of {f}: this overlap is not supported",
                shot.frames()
            )));
        }
        let latents = shot.into_channel_major()?;
        timing.total_seconds = started.elapsed().as_secs_f64();
        Ok((latents, timing))
    }

    /// The first image's latent frame, packed `[h·w, C]`.
    fn encode_condition(&self, image: &Frame) -> Result<Vec<f32>, EngineError> {
        self.encode_mean(std::slice::from_ref(image), "the first image's latents")
    }

    /// Frames' latents: the VAE's mean (no posterior draw), normalised with the config's
    /// scaling factor, packed frame-major `[f, h·w, C]`.
    fn encode_mean(&self, frames: &[Frame], what: &str) -> Result<Vec<f32>, EngineError> {
        let norm = &self.manifest.latent.norm;
        let (c, t, r) =
            (self.manifest.latent.channels, self.manifest.latent.temporal_ratio, self.manifest.latent.spatial_ratio);
        let (moments, (lf, lh, lw)) = self.encode_moments(frames)?;
        let first = &frames[0];
        if lf != (frames.len() - 1) / t + 1 || (lh * r, lw * r) != (first.height, first.width) {
            return Err(self.mismatch(format!(
                "the VAE encoder made a {lf}x{lh}x{lw} latent of {} {}x{} frames",
                frames.len(),
                first.width,
                first.height
            )));
        }
        let plane = lh * lw;
        let mut z = crate::frame_io::try_zeroed(lf * plane * c, what)?;
        for fi in 0..lf {
            for ch in 0..c {
                // The means are the first C·f·plane values.
                let from = &moments[(ch * lf + fi) * plane..(ch * lf + fi + 1) * plane];
                for (s, &v) in from.iter().enumerate() {
                    z[(fi * plane + s) * c + ch] = (v - norm.mean[ch]) * norm.scaling_factor / norm.std[ch];
                }
            }
        }
        Ok(z)
    }
}
