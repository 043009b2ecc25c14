//! The video diffusion pipelines on ONNX graphs: text to video, image to video, and conditioning
//! by images or clips at frame indices (extension forward and backward, keyframes). Follows
//! models/ltx/README.md step by step (and models/wan/README.md for what the Wan manifest
//! changes); everything outside the graphs (tokens, noise, packing, coordinates, schedule,
//! guidance, conditioning, posterior, normalisation) happens here.
//!
//! Latents are kept packed, `[S, C]` (token-major), in buffers allocated once per generation;
//! transformer inputs are persistent tensors updated in place every step.
//!
//! One generation runs in three stages, a module each: `prepare` checks the request, encodes the
//! prompts, builds the schedule and the initial latents; `denoise` runs the transformer steps;
//! `decode` turns the final latents into frames.

mod causal_vae;
mod channel_concat;
mod decode;
mod denoise;
mod prepare;
mod schedule;
mod tiled_decode;
mod transformer;

pub use tiled_decode::VaeTiling;

pub(in crate::diffusion) use decode::frames_in_sample;
pub(in crate::diffusion) use prepare::Text;

/// A latent or decoded grid: frames, height, width.
pub(in crate::diffusion) type Grid = (usize, usize, usize);

use std::time::Instant;

use super::model::VideoModel;
use super::noise::Noise;
use crate::engine::EngineError;
use crate::frame_io::{try_zeroed, Frame, OutOfMemory};

/// A conditioning input: one image (one frame) or a clip, placed at `frame_index` of the shot.
#[derive(Clone, Debug)]
pub struct Condition {
    /// RGB frames (3 channels, values 0..1) at the generation size.
    pub frames: Vec<Frame>,
    pub frame_index: usize,
    /// 1 keeps it exactly; less lets the model change it.
    pub strength: f32,
}

#[derive(Clone, Debug)]
pub enum Mode {
    TextToVideo,
    /// The first frame is given (RGB, 0..1, at the generation size).
    ImageToVideo(Frame),
    /// Images or clips at frame indices, and optionally a whole source clip to re-imagine.
    Conditions(Vec<Condition>),
}

/// Video-to-video (SDEdit): start from `frames` (the whole shot, RGB 0..1, at the generation
/// size) noised to the level `denoise_strength` of the schedule, and denoise only the rest of
/// it. 1 ignores the source; small values keep it nearly unchanged. Condition pipeline only.
#[derive(Clone, Debug)]
pub struct VideoToVideo {
    pub frames: Vec<Frame>,
    pub denoise_strength: f32,
}

/// One generation. Sizes must already follow the model's rules ([`Manifest::size_for`],
/// [`Manifest::frames_for`]).
#[derive(Clone, Debug)]
pub struct Request {
    pub prompt: String,
    pub negative_prompt: String,
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    pub fps: f64,
    pub steps: usize,
    pub guidance: f32,
    /// Defaults to the manifest's per-pipeline maximum.
    pub max_sequence_length: Option<usize>,
    pub decode_timestep: f32,
    pub decode_noise_scale: f32,
    /// Condition pipeline's re-noise of hard-conditioned tokens (manifest default).
    pub image_cond_noise_scale: f32,
    pub mode: Mode,
    /// Partial denoising of a source clip (with [`Mode::Conditions`]).
    pub video_to_video: Option<VideoToVideo>,
}

/// Progress and cancellation: `progress(done, total)` after every denoising step; `abort()` is
/// polled before each step.
pub struct Control<'a> {
    pub progress: &'a mut dyn FnMut(usize, usize),
    pub abort: &'a dyn Fn() -> bool,
}

/// What a generation produced.
pub struct Output {
    /// Final packed latents `[S_total, C]`, conditioning tokens first (parity checks); from
    /// [`VideoModel::generate_long`], the stitched shot `[C, f, h, w]` instead.
    pub latents: Vec<f32>,
    /// RGB frames, 0..1.
    pub frames: Vec<Frame>,
    pub timing: Timing,
}

/// Where denoising time went: inside the transformer's `Session::run` versus whole steps
/// (guidance, scheduler, tensor updates included), so Rust overhead can be measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    pub steps: usize,
    pub run_seconds: f64,
    pub step_seconds: f64,
    pub total_seconds: f64,
    /// Opening the graphs (creating their sessions on first use).
    pub open_seconds: f64,
    /// Tokenizing and encoding both prompts.
    pub text_seconds: f64,
    /// The VAE decode (tiled when the manifest says so).
    pub decode_seconds: f64,
    /// The text encoder's session was let go after encoding to make room.
    pub text_encoder_released: bool,
}

/// A generation's latent grid (frames, height, width) and where its time went.
pub type Profile = ((usize, usize, usize), Timing);

/// The last generation's costs in this process, for `kinema generate` and `kinema doctor`.
static LAST: parking_lot::Mutex<Option<Profile>> = parking_lot::Mutex::new(None);

/// The last one-window generation in this process.
pub fn last_generation() -> Option<Profile> {
    *LAST.lock()
}

impl VideoModel {
    /// Runs a whole generation.
    pub fn generate(&self, req: &Request, noise: &mut dyn Noise, control: &mut Control) -> Result<Output, EngineError> {
        let started = Instant::now();
        let mut plan = self.plan(req)?;
        let mut prepared = self.prepare(req, &plan, noise)?;
        let mut timing = self.denoise(req, &mut plan, &mut prepared, noise, control)?;
        if (control.abort)() {
            return Err(EngineError::Aborted);
        }
        let c = self.manifest.latent.channels;
        let video = &prepared.x[prepared.extras * c..];
        let decode_started = Instant::now();
        let frames = self.decode(video, plan.grid, req, noise)?;
        timing.decode_seconds = decode_started.elapsed().as_secs_f64();
        timing.total_seconds = started.elapsed().as_secs_f64();
        timing.open_seconds = plan.open_seconds;
        timing.text_seconds = plan.text_seconds;
        timing.text_encoder_released = plan.text_encoder_released;
        *LAST.lock() = Some((plan.grid, timing));
        Ok(Output { latents: prepared.x, frames, timing })
    }
}

/// `[C, f, h, w]` → `[S, C]` with tokens in f, h, w order.
pub fn pack(lat: &[f32], c: usize, grid: (usize, usize, usize)) -> Result<Vec<f32>, OutOfMemory> {
    let s = grid.0 * grid.1 * grid.2;
    let mut out = try_zeroed(s * c, "the packed latents")?;
    for ch in 0..c {
        for tok in 0..s {
            out[tok * c + ch] = lat[ch * s + tok];
        }
    }
    Ok(out)
}

/// Inverse of [`pack`].
pub fn unpack(tokens: &[f32], c: usize, grid: (usize, usize, usize)) -> Result<Vec<f32>, OutOfMemory> {
    let s = grid.0 * grid.1 * grid.2;
    let mut out = try_zeroed(s * c, "the latents to decode")?;
    for tok in 0..s {
        for ch in 0..c {
            out[ch * s + tok] = tokens[tok * c + ch];
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_is_f_h_w_major_and_unpack_inverts_it() {
        let grid = (2, 2, 3);
        let c = 2;
        let lat: Vec<f32> = (0..c * 12).map(|v| v as f32).collect();
        let tokens = pack(&lat, c, grid).unwrap();
        // Token 1 is (f0, h0, w1): channel 0 at index 1, channel 1 at 12 + 1.
        assert_eq!(&tokens[2..4], &[1.0, 13.0]);
        assert_eq!(unpack(&tokens, c, grid).unwrap(), lat);
    }
}
