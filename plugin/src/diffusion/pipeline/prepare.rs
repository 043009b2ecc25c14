//! Everything before the first denoising step: the request checked against the model, the
//! prompts encoded, the schedule built, and the initial latents, mask and coordinates (with the
//! Condition pipeline's conditioning tokens).

use std::time::Instant;

use super::schedule::Steps;
use super::{pack, Condition, Mode, Request};
use crate::diffusion::limits::{MAX_GENERATION_SIDE, MAX_LATENT_VALUES, MAX_STEPS};
use crate::diffusion::manifest::{MaskInput, Pipeline, RopeMode};
use crate::diffusion::model::VideoModel;
use crate::diffusion::noise::Noise;
use crate::diffusion::scheduler::{FlowMatchEuler, SchedulerError};
use crate::engine::EngineError;

/// What a request settles before any latent is drawn.
pub(super) struct Plan {
    pub(super) pipeline: Pipeline,
    /// Latent grid: frames, height, width.
    pub(super) grid: (usize, usize, usize),
    pub(super) text: Text,
    pub(super) scheduler: Steps,
    /// Seconds opening the graphs (session creation on first use) and encoding the prompts;
    /// whether the text encoder was let go after.
    pub(super) open_seconds: f64,
    pub(super) text_seconds: f64,
    pub(super) text_encoder_released: bool,
}

/// Both prompts encoded, `[L, D]` each: the negative one is the unconditional half of guidance.
pub(in crate::diffusion) struct Text {
    pub(in crate::diffusion) neg_emb: Vec<f32>,
    pub(in crate::diffusion) pos_emb: Vec<f32>,
    pub(in crate::diffusion) neg_mask: Vec<i64>,
    pub(in crate::diffusion) pos_mask: Vec<i64>,
    /// Tokens per prompt (`L`).
    pub(in crate::diffusion) len: usize,
    /// Embedding width (`D`).
    pub(in crate::diffusion) dim: usize,
}

impl VideoModel {
    /// Checks the request, opens the graphs it runs, encodes the prompts and builds the schedule.
    pub(super) fn plan(&self, req: &Request) -> Result<Plan, EngineError> {
        let m = &self.manifest;
        // A channel-concat model takes its given frames through the I2V pipeline's rules.
        let given = self.given_frames(&req.mode, req.frames)?.is_some();
        let pipeline = match req.mode {
            Mode::TextToVideo => Pipeline::T2v,
            _ if given || self.first_frame_only(&req.mode).is_some() => Pipeline::I2v,
            Mode::ImageToVideo(_) => Pipeline::I2v,
            Mode::Conditions(_) => Pipeline::Condition,
        };
        let refuse = |what: &str, needs: &str| {
            Err(EngineError::Input(format!(
                "model '{}' cannot {what}: its manifest declares no conditioning.{needs}",
                self.name
            )))
        };
        match pipeline {
            Pipeline::T2v if m.components.transformer.inputs.encoder_hidden_states_image.is_some() => {
                return Err(EngineError::Input(format!(
                    "model '{}' animates a given frame and cannot generate from text alone: use it with Animate or \
                     Extend",
                    self.name
                )))
            }
            Pipeline::I2v if m.conditioning.i2v.is_none() => return refuse("start from a given frame", "i2v"),
            Pipeline::Condition if m.conditioning.condition.is_none() => {
                return refuse("condition on frames or clips", "condition")
            }
            _ => {}
        }
        let grid = self.grid_for(req)?;
        let s_video = grid.0 * grid.1 * grid.2;
        let encodes = !matches!(req.mode, Mode::TextToVideo) || req.video_to_video.is_some();
        let started = Instant::now();
        self.check(encodes)?;
        let open_seconds = started.elapsed().as_secs_f64();

        // Text: [uncond, cond].
        let started = Instant::now();
        let max_len = req.max_sequence_length.unwrap_or(*m.components.tokenizer.max_length.get(pipeline));
        let mask_input = *m.components.text_encoder.mask_input.get(pipeline);
        let text = self.encode_prompts(&req.negative_prompt, &req.prompt, max_len, mask_input)?;
        let text_seconds = started.elapsed().as_secs_f64();
        let text_encoder_released = self.release_text_encoder_if_tight(encodes);

        let scheduler = Steps::build(self, pipeline, req.steps, s_video)?;
        Ok(Plan { pipeline, grid, text, scheduler, open_seconds, text_seconds, text_encoder_released })
    }

    /// Lets the text encoder's session go once the prompts are encoded when the graphs a
    /// generation runs take more than a third of the machine's memory (the rest is for the
    /// transformer's activations and the tiled decode, 3.5 GiB at 768×512; T5-XXL alone is 19 GB in
    /// fp32): the next new prompt creates it again, seconds against running out of memory.
    fn release_text_encoder_if_tight(&self, encodes: bool) -> bool {
        use crate::models::graph_bytes;
        use crate::runtime::memory::physical_bytes;
        let c = &self.manifest.components;
        let path = |file: &str| self.root.join(file);
        let text = graph_bytes(&path(&c.text_encoder.file));
        let mut total = text + graph_bytes(&path(&c.transformer.file)) + graph_bytes(&path(&c.vae_decoder.file));
        let expert = c.transformer.low_noise.as_ref().map(|e| e.file.as_str());
        let first_decoder = c.vae_decoder.causal_chunks.as_ref().map(|k| k.first_file.as_str());
        total += expert.into_iter().chain(first_decoder).map(|f| graph_bytes(&path(f))).sum::<u64>();
        if encodes {
            total += graph_bytes(&path(&c.vae_encoder.file));
            let first_encoder = c.vae_encoder.causal_chunks.as_ref().map(|k| k.first_file.as_str());
            let image = c.image_encoder.as_ref().map(|e| e.file.as_str());
            total += first_encoder.into_iter().chain(image).map(|f| graph_bytes(&path(f))).sum::<u64>();
        }
        let tight = match physical_bytes() {
            Some(memory) => total > memory / 3,
            None => text > 2 << 30,
        };
        tight && crate::runtime::release_session(&path(&c.text_encoder.file))
    }

    /// Both prompts tokenized to `max_len` and encoded: the guidance batch `[neg, pos]`.
    pub(in crate::diffusion) fn encode_prompts(
        &self,
        negative: &str,
        prompt: &str,
        max_len: usize,
        mask_input: MaskInput,
    ) -> Result<Text, EngineError> {
        let (neg_ids, neg_mask) = self.tokenize(negative, max_len)?;
        let (pos_ids, pos_mask) = self.tokenize(prompt, max_len)?;
        let (neg_emb, dim) = self.encode_text(&neg_ids, &neg_mask, mask_input)?;
        let (pos_emb, _) = self.encode_text(&pos_ids, &pos_mask, mask_input)?;
        Ok(Text { neg_emb, pos_emb, neg_mask, pos_mask, len: max_len, dim })
    }

    /// The latent grid of a request whose sizes follow the model's rules and stay within the
    /// limits of one generation.
    fn grid_for(&self, req: &Request) -> Result<(usize, usize, usize), EngineError> {
        let m = &self.manifest;
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
        Ok(grid)
    }

    /// Scheduler errors come from the manifest's config, so they are the model's fault.
    pub(in crate::diffusion) fn scheduler_error(&self, e: SchedulerError) -> EngineError {
        self.mismatch(format!("scheduler: {e}"))
    }

    /// Initial latents, per-token mask and coordinates.
    pub(super) fn prepare(&self, req: &Request, plan: &Plan, noise: &mut dyn Noise) -> Result<Prepared, EngineError> {
        let m = &self.manifest;
        let (c, grid, pipeline) = (m.latent.channels, plan.grid, plan.pipeline);
        let s_video = grid.0 * grid.1 * grid.2;
        let mode = m.rope.modes.as_ref().map(|modes| *modes.get(pipeline));
        let given = self.given_frames(&req.mode, req.frames)?;
        if matches!(req.mode, Mode::TextToVideo) || given.is_some() {
            // diffusers draws the latents before encoding a channel-concat conditioning clip.
            let eps = noise.draw(&[1, c, grid.0, grid.1, grid.2])?;
            let held = given.map(|given| self.hold(&given, req.frames, grid, noise)).transpose()?;
            return Ok(Prepared {
                x: pack(&eps, c, grid)?,
                mask: vec![0.0; s_video],
                coords: self.coords(mode, grid, 0, req.fps),
                extras: 0,
                first_step: 0,
                frozen: 0,
                held,
            });
        }
        if let Some(image) = self.first_frame_only(&req.mode) {
            let (z, _) = self.encode_frames(std::slice::from_ref(image), noise)?;
            let mut lat = noise.draw(&[1, c, grid.0, grid.1, grid.2])?;
            let per_frame = grid.1 * grid.2;
            for ch in 0..c {
                let dst = &mut lat[ch * grid.0 * per_frame..(ch * grid.0 + 1) * per_frame];
                dst.copy_from_slice(&z[ch * per_frame..(ch + 1) * per_frame]);
            }
            let mut mask = vec![0.0; s_video];
            mask[..per_frame].fill(1.0);
            return Ok(Prepared {
                x: pack(&lat, c, grid)?,
                mask,
                coords: self.coords(mode, grid, 0, req.fps),
                extras: 0,
                first_step: 0,
                // The given first frame's tokens never move.
                frozen: per_frame,
                held: None,
            });
        }
        let Mode::Conditions(conditions) = &req.mode else {
            return Err(self.mismatch("image to video without a first frame".into()));
        };
        let scheduler = plan.scheduler.euler().ok_or_else(|| self.mismatch("conditioning needs flow-match".into()))?;
        self.prepare_conditions(conditions, req, grid, mode, scheduler, noise)
    }

    /// The first frame the first-frame I2V pipeline starts from: Animate's image, or an Extend's
    /// single context frame for a model that conditions on nothing else (Wan 2.2 TI2V).
    fn first_frame_only<'a>(&self, mode: &'a Mode) -> Option<&'a crate::frame_io::Frame> {
        let c = &self.manifest.conditioning;
        match mode {
            Mode::ImageToVideo(image) => Some(image),
            Mode::Conditions(conds) if c.condition.is_none() && c.i2v.is_some() => match conds.as_slice() {
                [only] if only.frame_index == 0 && only.frames.len() == 1 && only.strength == 1.0 => {
                    Some(&only.frames[0])
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// `video_coords` `[3, S]` (f row, h row, w row) for a latent grid, in pack order; empty for
    /// a graph that places positions itself (no rope mode).
    fn coords(&self, mode: Option<RopeMode>, grid: (usize, usize, usize), frame_index: usize, fps: f64) -> Vec<f32> {
        let Some(mode) = mode else { return Vec::new() };
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
        mode: Option<RopeMode>,
        scheduler: &FlowMatchEuler,
        noise: &mut dyn Noise,
    ) -> Result<Prepared, EngineError> {
        let lat_spec = &self.manifest.latent;
        let (c, t) = (lat_spec.channels, lat_spec.temporal_ratio);
        let rules = self.manifest.conditioning.condition.as_ref();
        let prefix = rules.map_or(0, |r| r.num_prefix_latent_frames);
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
        Ok(Prepared { x, mask, coords, extras, first_step, frozen: 0, held: None })
    }
}

/// The latents denoising starts from, and what each token is.
pub(super) struct Prepared {
    /// Packed tokens `[S_total, C]`.
    pub(super) x: Vec<f32>,
    /// Per-token conditioning strength (0 = generate freely).
    pub(super) mask: Vec<f32>,
    /// `[3, S_total]`.
    pub(super) coords: Vec<f32>,
    /// Conditioning tokens before the video tokens.
    pub(super) extras: usize,
    /// First denoising step (later than 0 for video-to-video).
    pub(super) first_step: usize,
    /// Leading tokens the I2V pipeline never steps (LTX's given first frame).
    pub(super) frozen: usize,
    /// Channel-concat conditioning fed with every step.
    pub(super) held: Option<super::channel_concat::Held>,
}

/// torch.lerp, with its two-sided formula (exact at weight 1).
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lerp_matches_torch_at_the_ends() {
        assert_eq!(lerp(3.0, 7.0, 1.0), 7.0);
        assert_eq!(lerp(3.0, 7.0, 0.0), 3.0);
        assert_eq!(lerp(0.1, 0.7, 0.8), 0.7 - (0.7 - 0.1) * (1.0 - 0.8));
    }
}
