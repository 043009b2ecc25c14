//! The LTX-Video pipelines on ONNX graphs: text to video, image to video, and conditioning by
//! images or clips at frame indices (extension forward and backward, keyframes). Follows
//! models/ltx/README.md step by step; everything outside the graphs (tokens, noise, packing,
//! coordinates, schedule, guidance, conditioning, posterior, normalisation) happens here.
//!
//! Latents are kept packed, `[S, C]` (token-major), in buffers allocated once per generation;
//! transformer inputs are persistent tensors updated in place every step.

use std::time::Instant;

use ort::value::Tensor;

use super::limits::{MAX_GENERATION_SIDE, MAX_LATENT_VALUES, MAX_STEPS};
use super::manifest::{Pipeline, RopeMode};
use super::model::VideoModel;
use super::noise::Noise;
use super::scheduler::{linear_quadratic_timesteps, FlowMatchEuler, Schedule, SchedulerConfig};
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
    /// Final packed latents `[S_total, C]`, conditioning tokens first (parity checks).
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
}

impl VideoModel {
    /// Runs a whole generation.
    pub fn generate(&self, req: &Request, noise: &mut dyn Noise, control: &mut Control) -> Result<Output, EngineError> {
        let started = Instant::now();
        let mut timing = Timing::default();
        let m = &self.manifest;
        let pipeline = match req.mode {
            Mode::TextToVideo => Pipeline::T2v,
            Mode::ImageToVideo(_) => Pipeline::I2v,
            Mode::Conditions(_) => Pipeline::Condition,
        };
        let (lat, rule) = (&m.latent, m.latent.frame_rule);
        if req.frames < rule.plus || !(req.frames - rule.plus).is_multiple_of(rule.mult) {
            return Err(EngineError::Input(format!(
                "{} frames: this model makes {}k+{} frames",
                req.frames, rule.mult, rule.plus
            )));
        }
        if !req.width.is_multiple_of(lat.hw_multiple)
            || !req.height.is_multiple_of(lat.hw_multiple)
            || req.width == 0
            || req.height == 0
        {
            return Err(EngineError::Input(format!(
                "{}x{}: width and height must be positive multiples of {}",
                req.width, req.height, lat.hw_multiple
            )));
        }
        if req.width > MAX_GENERATION_SIDE || req.height > MAX_GENERATION_SIDE {
            return Err(EngineError::Input(format!(
                "{}x{}: a generated frame is at most {MAX_GENERATION_SIDE} pixels a side",
                req.width, req.height
            )));
        }
        if req.steps == 0 || req.steps > MAX_STEPS || !(req.fps.is_finite() && req.fps > 0.0) {
            return Err(EngineError::Input(format!(
                "{} steps at {} fps: steps must be 1 to {MAX_STEPS} and fps positive",
                req.steps, req.fps
            )));
        }
        let c = lat.channels;
        let grid =
            ((req.frames - 1) / lat.temporal_ratio + 1, req.height / lat.spatial_ratio, req.width / lat.spatial_ratio);
        let s_video = grid.0 * grid.1 * grid.2;
        // Conditioning tokens come on top of the shot's, at most as many again.
        if s_video.checked_mul(2 * c).is_none_or(|v| v > MAX_LATENT_VALUES) {
            return Err(EngineError::Input(format!(
                "a {}x{} shot of {} frames is {s_video} latent tokens of {c} channels, more than one generation \
                 holds ({MAX_LATENT_VALUES} values with its conditioning): make it shorter or smaller",
                req.width, req.height, req.frames
            )));
        }
        let encodes = !matches!(req.mode, Mode::TextToVideo) || req.video_to_video.is_some();
        self.check(encodes)?;

        // Text: [uncond, cond].
        let max_len = req.max_sequence_length.unwrap_or(*m.components.tokenizer.max_length.get(pipeline));
        let mask_input = *m.components.text_encoder.mask_input.get(pipeline);
        let (neg_ids, neg_mask) = self.tokenize(&req.negative_prompt, max_len)?;
        let (pos_ids, pos_mask) = self.tokenize(&req.prompt, max_len)?;
        let (neg_emb, dim) = self.encode_text(&neg_ids, &neg_mask, mask_input)?;
        let (pos_emb, _) = self.encode_text(&pos_ids, &pos_mask, mask_input)?;

        // Schedule.
        let SchedulerConfig::FlowMatchEuler(config) = &m.scheduler else {
            return Err(self.mismatch("LTX pipelines need a flow_match_euler scheduler".into()));
        };
        let scheduler_error = |e: super::scheduler::SchedulerError| self.mismatch(format!("scheduler: {e}"));
        let scheduler: FlowMatchEuler = match pipeline {
            Pipeline::Condition => config
                .build(
                    Schedule::Timesteps(linear_quadratic_timesteps(req.steps, 0.025, None).map_err(scheduler_error)?),
                    None,
                )
                .map_err(scheduler_error)?,
            _ => {
                let n = req.steps;
                let sigmas: Vec<f32> = (0..n)
                    .map(|i| if n == 1 { 1.0 } else { 1.0 + i as f64 * ((1.0 / n as f64 - 1.0) / (n - 1) as f64) })
                    .map(|s| s as f32)
                    .collect();
                let mu = config.mu_for_seq_len(s_video).ok();
                config.build(Schedule::Sigmas(sigmas), mu).map_err(scheduler_error)?
            }
        };

        // Initial latents, per-token mask and coordinates.
        let mode = *m.rope.modes.get(pipeline);
        let mut prepared = match &req.mode {
            Mode::TextToVideo => {
                let eps = noise.draw(&[1, c, grid.0, grid.1, grid.2])?;
                Prepared {
                    x: pack(&eps, c, grid)?,
                    mask: vec![0.0; s_video],
                    coords: self.coords(mode, grid, 0, req.fps),
                    extras: 0,
                    first_step: 0,
                }
            }
            Mode::ImageToVideo(image) => {
                let (z, _) = self.encode_frames(std::slice::from_ref(image), noise)?;
                let eps = noise.draw(&[1, c, grid.0, grid.1, grid.2])?;
                let per_frame = grid.1 * grid.2;
                let mut lat = eps;
                for ch in 0..c {
                    for fi in 0..1 {
                        let dst = &mut lat[(ch * grid.0 + fi) * per_frame..(ch * grid.0 + fi + 1) * per_frame];
                        dst.copy_from_slice(&z[ch * per_frame..(ch + 1) * per_frame]);
                    }
                }
                let mut mask = vec![0.0; s_video];
                mask[..per_frame].fill(1.0);
                Prepared {
                    x: pack(&lat, c, grid)?,
                    mask,
                    coords: self.coords(mode, grid, 0, req.fps),
                    extras: 0,
                    first_step: 0,
                }
            }
            Mode::Conditions(conditions) => self.prepare_conditions(conditions, req, grid, mode, &scheduler, noise)?,
        };
        let s_total = prepared.mask.len();

        // Persistent transformer inputs.
        let spec = &m.components.transformer;
        let session = self.session(&spec.file)?;
        let names = &spec.inputs;
        let l = max_len;
        let text: Vec<f32> = neg_emb.iter().chain(&pos_emb).copied().collect();
        let text_mask: Vec<i64> = neg_mask.iter().chain(&pos_mask).copied().collect();
        let coords2: Vec<f32> = prepared.coords.iter().chain(&prepared.coords).copied().collect();
        let to_ort = |e: ort::Error| {
            EngineError::from(crate::runtime::RuntimeError::Run { model: self.name.clone(), reason: e.to_string() })
        };
        let buffers = "the denoising buffers";
        let mut hidden =
            Tensor::from_array(([2usize, s_total, c], try_zeroed(2 * s_total * c, buffers)?)).map_err(to_ort)?;
        let mut timestep =
            Tensor::from_array(([2usize, s_total], try_zeroed(2 * s_total, buffers)?)).map_err(to_ort)?;
        let text = Tensor::from_array(([2usize, l, dim], text)).map_err(to_ort)?;
        let text_mask = Tensor::from_array(([2usize, l], text_mask)).map_err(to_ort)?;
        let coords = Tensor::from_array(([2usize, 3, s_total], coords2)).map_err(to_ort)?;

        let init = prepared.x.clone();
        let mut velocity = try_zeroed(s_total * c, buffers)?;
        let mut stepped = try_zeroed(s_total * c, buffers)?;
        let mut tau = try_zeroed(s_total, buffers)?;
        let n = scheduler.len();
        for i in prepared.first_step..n {
            if (control.abort)() {
                return Err(EngineError::Aborted);
            }
            let step_started = Instant::now();
            let t = scheduler.timesteps()[i];
            let x = &mut prepared.x;
            match pipeline {
                Pipeline::T2v => tau.fill(t),
                Pipeline::I2v => tau.iter_mut().zip(&prepared.mask).for_each(|(tau, m)| *tau = t * (1.0 - m)),
                Pipeline::Condition => {
                    let t1 = t / 1000.0;
                    if req.image_cond_noise_scale > 0.0 {
                        let eps = noise.draw(&[1, s_total, c])?;
                        for (tok, &m) in prepared.mask.iter().enumerate() {
                            if m > 1.0 - 1e-6 {
                                for ch in tok * c..(tok + 1) * c {
                                    x[ch] = init[ch] + req.image_cond_noise_scale * eps[ch] * (t1 * t1);
                                }
                            }
                        }
                    }
                    tau.iter_mut().zip(&prepared.mask).for_each(|(tau, m)| *tau = t.min((1.0 - m) * 1000.0));
                }
            }
            {
                let (_, h) = hidden.extract_tensor_mut();
                h[..s_total * c].copy_from_slice(x);
                h[s_total * c..].copy_from_slice(x);
                let (_, ts) = timestep.extract_tensor_mut();
                ts[..s_total].copy_from_slice(&tau);
                ts[s_total..].copy_from_slice(&tau);
            }
            session.with(|s| {
                let run_started = Instant::now();
                let out = s.run(ort::inputs![
                    names.hidden_states.as_str() => &hidden,
                    names.encoder_hidden_states.as_str() => &text,
                    names.encoder_attention_mask.as_str() => &text_mask,
                    names.timestep.as_str() => &timestep,
                    names.video_coords.as_str() => &coords,
                ])?;
                timing.run_seconds += run_started.elapsed().as_secs_f64();
                let (shape, v) = out[spec.output.as_str()].try_extract_tensor::<f32>()?;
                if shape.iter().product::<i64>() != (2 * s_total * c) as i64 {
                    return Err(ort::Error::new(format!("velocity has shape {shape:?}, expected [2, {s_total}, {c}]")));
                }
                let (vu, vc) = v.split_at(s_total * c);
                for ((out, u), cnd) in velocity.iter_mut().zip(vu).zip(vc) {
                    *out = u + req.guidance * (cnd - u);
                }
                Ok(())
            })?;
            match pipeline {
                Pipeline::T2v => scheduler.step(i, &velocity, x).map_err(scheduler_error)?,
                Pipeline::I2v => {
                    // The given first frame's tokens never move.
                    let first = grid.1 * grid.2 * c;
                    scheduler.step(i, &velocity[first..], &mut x[first..]).map_err(scheduler_error)?;
                }
                Pipeline::Condition => {
                    velocity.iter_mut().for_each(|v| *v = -*v);
                    stepped.copy_from_slice(x);
                    scheduler.step_per_token(&tau, c, &velocity, &mut stepped).map_err(scheduler_error)?;
                    let t1 = t / 1000.0;
                    for (tok, &m) in prepared.mask.iter().enumerate() {
                        if t1 - 1e-6 < 1.0 - m {
                            x[tok * c..(tok + 1) * c].copy_from_slice(&stepped[tok * c..(tok + 1) * c]);
                        }
                    }
                }
            }
            timing.step_seconds += step_started.elapsed().as_secs_f64();
            timing.steps += 1;
            (control.progress)(i + 1 - prepared.first_step, n - prepared.first_step);
        }
        if (control.abort)() {
            return Err(EngineError::Aborted);
        }
        let video = &prepared.x[prepared.extras * c..];
        let frames = self.decode(video, grid, req, noise)?;
        timing.total_seconds = started.elapsed().as_secs_f64();
        Ok(Output { latents: prepared.x, frames, timing })
    }

    /// `video_coords` `[3, S]` (f row, h row, w row) for a latent grid, in pack order.
    fn coords(&self, mode: RopeMode, grid: (usize, usize, usize), frame_index: usize, fps: f64) -> Vec<f32> {
        let (t, r) = (self.manifest.latent.temporal_ratio, self.manifest.latent.spatial_ratio as f32);
        let s = grid.0 * grid.1 * grid.2;
        let mut out = vec![0f32; 3 * s];
        let (scale_f, inv_fps) = ((t as f64 / fps) as f32, (1.0 / fps) as f32);
        let mut tok = 0;
        for fi in 0..grid.0 {
            let cf = match mode {
                RopeMode::InterpolationScale => fi as f32 * scale_f,
                RopeMode::CausalPixel => ((fi * t + 1).saturating_sub(t) + frame_index) as f32 * inv_fps,
            };
            for hi in 0..grid.1 {
                for wi in 0..grid.2 {
                    out[tok] = cf;
                    out[s + tok] = hi as f32 * r;
                    out[2 * s + tok] = wi as f32 * r;
                    tok += 1;
                }
            }
        }
        out
    }

    /// The Condition pipeline's `prepare_latents`: conditions at frame 0 are blended into the
    /// noise; others become extra tokens placed before the video tokens.
    fn prepare_conditions(
        &self,
        conditions: &[Condition],
        req: &Request,
        grid: (usize, usize, usize),
        mode: RopeMode,
        scheduler: &FlowMatchEuler,
        noise: &mut dyn Noise,
    ) -> Result<Prepared, EngineError> {
        let lat_spec = &self.manifest.latent;
        let (c, t) = (lat_spec.channels, lat_spec.temporal_ratio);
        let prefix = self.manifest.conditioning.condition.num_prefix_latent_frames;
        let per_frame = grid.1 * grid.2;
        // Video-to-video: the source clip's latents, and the step the truncated schedule starts
        // at (diffusers' get_timesteps: the last ⌊n·strength⌋ steps run).
        let mut first_step = 0;
        let source = match &req.video_to_video {
            Some(v2v) => {
                if !(0.0..=1.0).contains(&v2v.denoise_strength) {
                    return Err(EngineError::Input(format!(
                        "denoise strength {} is outside 0..1",
                        v2v.denoise_strength
                    )));
                }
                if v2v.frames.len() != req.frames {
                    return Err(EngineError::Input(format!(
                        "video-to-video needs the whole shot ({} frames), got {}",
                        req.frames,
                        v2v.frames.len()
                    )));
                }
                let n = scheduler.len();
                let steps = ((n as f32 * v2v.denoise_strength) as usize).min(n);
                first_step = n - steps;
                Some(self.encode_frames(&v2v.frames, noise)?.0)
            }
            None => None,
        };
        let mut lat = noise.draw(&[1, c, grid.0, grid.1, grid.2])?;
        if let Some(z) = source {
            // An empty remaining schedule keeps the source as it is (σ = 0).
            let sigma = scheduler.sigmas().get(first_step).copied().unwrap_or(0.0);
            lat.iter_mut().zip(&z).for_each(|(x, &z)| *x = sigma * *x + (1.0 - sigma) * z);
        }
        let mut fmask = vec![0f32; grid.0];
        let (mut ex_x, mut ex_mask, mut ex_coords) = (Vec::new(), Vec::new(), Vec::new());
        for cond in conditions {
            if cond.frames.is_empty() || cond.frame_index >= req.frames {
                return Err(EngineError::Input(format!(
                    "a condition at frame {} lies outside the {} frames generated",
                    cond.frame_index, req.frames
                )));
            }
            // A clip is cut to the frames left and to the VAE's frame rule.
            let k = cond.frames.len().min(req.frames - cond.frame_index);
            let k = (k - 1) / t * t + 1;
            let (z, fc) = self.encode_frames(&cond.frames[..k], noise)?;
            let strength = cond.strength;
            if cond.frame_index == 0 {
                for ch in 0..c {
                    for fi in 0..fc.min(grid.0) {
                        let dst = &mut lat[(ch * grid.0 + fi) * per_frame..(ch * grid.0 + fi + 1) * per_frame];
                        let src = &z[(ch * fc + fi) * per_frame..(ch * fc + fi + 1) * per_frame];
                        dst.iter_mut().zip(src).for_each(|(a, &b)| *a = lerp(*a, b, strength));
                    }
                }
                fmask[..fc.min(grid.0)].fill(strength);
                continue;
            }
            let mut z = z;
            let mut fz = fc;
            if k > 1 && fc > prefix {
                // Frames past the prefix are blended into the video latents in place.
                let start = cond.frame_index / t + prefix;
                for ch in 0..c {
                    for j in 0..fc - prefix {
                        let fi = start + j;
                        if fi >= grid.0 {
                            break;
                        }
                        let dst = &mut lat[(ch * grid.0 + fi) * per_frame..(ch * grid.0 + fi + 1) * per_frame];
                        let src = &z[(ch * fc + prefix + j) * per_frame..(ch * fc + prefix + j + 1) * per_frame];
                        dst.iter_mut().zip(src).for_each(|(a, &b)| *a = lerp(*a, b, strength));
                        fmask[fi] = strength;
                    }
                }
                let mut kept = Vec::with_capacity(c * prefix * per_frame);
                for ch in 0..c {
                    kept.extend_from_slice(&z[ch * fc * per_frame..(ch * fc + prefix) * per_frame]);
                }
                z = kept;
                fz = prefix;
            }
            let eps = noise.draw(&[1, c, fz, grid.1, grid.2])?;
            let mixed: Vec<f32> = eps.iter().zip(&z).map(|(&e, &v)| lerp(e, v, strength)).collect();
            let zgrid = (fz, grid.1, grid.2);
            ex_x.extend(pack(&mixed, c, zgrid)?);
            ex_mask.extend(std::iter::repeat_n(strength, fz * per_frame));
            ex_coords.push(self.coords(mode, zgrid, cond.frame_index, req.fps));
        }
        let extras = ex_mask.len();
        let video_coords = self.coords(mode, grid, 0, req.fps);
        let s_total = extras + grid.0 * per_frame;
        let mut coords = vec![0f32; 3 * s_total];
        for row in 0..3 {
            let mut at = row * s_total;
            for block in ex_coords.iter().chain(std::iter::once(&video_coords)) {
                let n = block.len() / 3;
                coords[at..at + n].copy_from_slice(&block[row * n..(row + 1) * n]);
                at += n;
            }
        }
        let mut x = ex_x;
        x.extend(pack(&lat, c, grid)?);
        let mut mask = ex_mask;
        mask.extend((0..grid.0).flat_map(|fi| std::iter::repeat_n(fmask[fi], per_frame)));
        Ok(Prepared { x, mask, coords, extras, first_step })
    }
}

struct Prepared {
    /// Packed tokens `[S_total, C]`.
    x: Vec<f32>,
    /// Per-token conditioning strength (0 = generate freely).
    mask: Vec<f32>,
    /// `[3, S_total]`.
    coords: Vec<f32>,
    /// Conditioning tokens before the video tokens.
    extras: usize,
    /// First denoising step (later than 0 for video-to-video).
    first_step: usize,
}

/// torch.lerp, with its two-sided formula (exact at weight 1).
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
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

    #[test]
    fn lerp_matches_torch_at_the_ends() {
        assert_eq!(lerp(3.0, 7.0, 1.0), 7.0);
        assert_eq!(lerp(3.0, 7.0, 0.0), 3.0);
        assert_eq!(lerp(0.1, 0.7, 0.8), 0.7 - (0.7 - 0.1) * (1.0 - 0.8));
    }
}
