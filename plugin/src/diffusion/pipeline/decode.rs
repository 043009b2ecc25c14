//! The last stage: packed latents back to `[C, f, h, w]`, de-normalised, optionally re-noised
//! for the timestep-conditioned VAE, and decoded to RGB frames.

use ort::value::Tensor;

use super::{unpack, Grid, Request};
use crate::diffusion::model::VideoModel;
use crate::diffusion::noise::Noise;
use crate::engine::EngineError;
use crate::frame_io::Frame;

impl VideoModel {
    /// Decodes packed video latents `[S, C]` of an `f×h×w` grid to RGB frames (0..1).
    pub(super) fn decode(
        &self,
        tokens: &[f32],
        grid: (usize, usize, usize),
        req: &Request,
        noise: &mut dyn Noise,
    ) -> Result<Vec<Frame>, EngineError> {
        let spec = &self.manifest.components.vae_decoder;
        let c = self.manifest.latent.channels;
        let norm = &self.manifest.latent.norm;
        let mut z = unpack(tokens, c, grid)?;
        let per_channel = grid.0 * grid.1 * grid.2;
        for (i, v) in z.iter_mut().enumerate() {
            let ch = i / per_channel;
            *v = *v * norm.std[ch] / norm.scaling_factor + norm.mean[ch];
        }
        if spec.timestep_conditioning {
            let eps = noise.draw(&[1, c, grid.0, grid.1, grid.2])?;
            let s = req.decode_noise_scale;
            z.iter_mut().zip(&eps).for_each(|(v, e)| *v = (1.0 - s) * *v + s * e);
        }
        let (size, sample) = self.decode_latents(z, grid, req.decode_timestep, self.manifest.decode.tiling.as_ref())?;
        frames_from_sample(&sample, size, size.0)
    }

    /// Runs the VAE decoder on de-normalised latents `[C, f, h, w]` of `grid`: the decoded size
    /// `(F, H, W)` and the sample `[3, F, H, W]` (−1..1, not yet clamped).
    pub(in crate::diffusion) fn run_decoder(
        &self,
        z: Vec<f32>,
        grid: (usize, usize, usize),
        timestep: f32,
    ) -> Result<(Grid, Vec<f32>), EngineError> {
        let spec = &self.manifest.components.vae_decoder;
        let c = self.manifest.latent.channels;
        if let Some(chunks) = &spec.causal_chunks {
            let io = (spec.inputs.latent.as_str(), spec.output.as_str());
            let ((oc, f, h, w), sample) =
                self.run_causal_chunks(&spec.file, chunks, io, &z, (c, grid.0, grid.1, grid.2))?;
            if oc != 3 {
                return Err(self.mismatch(format!("VAE decoder gives {oc} channels, expected 3")));
            }
            return Ok(((f, h, w), sample));
        }
        let session = self.session(&spec.file)?;
        let (shape, sample) = session.with(|s| {
            let mut inputs = ort::inputs![
                spec.inputs.latent.as_str() => Tensor::from_array(([1usize, c, grid.0, grid.1, grid.2], z))?,
            ];
            if let Some(name) = &spec.inputs.timestep {
                inputs.push((name.as_str().into(), Tensor::from_array(([1usize], vec![timestep]))?.into()));
            }
            let out = s.run(inputs)?;
            let (shape, data) = out[spec.output.as_str()].try_extract_tensor::<f32>()?;
            Ok((shape.to_vec(), data.to_vec()))
        })?;
        if shape.len() != 5 || shape[1] != 3 {
            return Err(self.mismatch(format!("VAE decoder output has shape {shape:?}, expected [1, 3, F, H, W]")));
        }
        Ok(((shape[2] as usize, shape[3] as usize, shape[4] as usize), sample))
    }
}

/// The first `keep` frames of a decoded sample `[3, F, H, W]` (−1..1) as RGB frames (0..1).
pub(in crate::diffusion) fn frames_from_sample(
    sample: &[f32],
    size: (usize, usize, usize),
    keep: usize,
) -> Result<Vec<Frame>, EngineError> {
    frames_in_sample(sample, size, 0..keep)
}

/// [`frames_from_sample`] for the frames `range` of the sample (clipped to it).
pub(in crate::diffusion) fn frames_in_sample(
    sample: &[f32],
    (f, h, w): (usize, usize, usize),
    range: std::ops::Range<usize>,
) -> Result<Vec<Frame>, EngineError> {
    let plane = h * w;
    let range = range.start.min(f)..range.end.min(f);
    let mut frames = Vec::with_capacity(range.len());
    for fi in range {
        let mut frame = Frame::try_new(3, h, w).map_err(|e| EngineError::Input(format!("decoding: {e}")))?;
        for ch in 0..3 {
            let src = &sample[(ch * f + fi) * plane..(ch * f + fi + 1) * plane];
            frame.plane_mut(ch).iter_mut().zip(src).for_each(|(d, x)| *d = (x * 0.5 + 0.5).clamp(0.0, 1.0));
        }
        frames.push(frame);
    }
    Ok(frames)
}
