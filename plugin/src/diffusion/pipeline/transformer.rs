//! The transformer under classifier-free guidance for one token layout: its inputs are kept as
//! persistent tensors and updated in place every step, so a step allocates nothing. Shared by
//! the single-window pipelines and the long pipeline's windows.

use std::sync::Arc;
use std::time::Instant;

use ort::value::Tensor;

use super::prepare::Text;
use crate::diffusion::model::VideoModel;
use crate::engine::EngineError;
use crate::frame_io::try_zeroed;
use crate::runtime::SharedSession;

/// The transformer's inputs for `s_total` tokens: text and coordinates fixed, latents and
/// per-token timesteps written before each run (both guidance halves get the same).
pub(in crate::diffusion) struct Transformer<'a> {
    model: &'a VideoModel,
    session: Arc<SharedSession>,
    hidden: Tensor<f32>,
    timestep: Tensor<f32>,
    text: Tensor<f32>,
    text_mask: Tensor<i64>,
    coords: Tensor<f32>,
    s_total: usize,
    channels: usize,
}

impl VideoModel {
    /// The transformer for `coords` `[3, S]` (one batch row; both halves use it) and the text
    /// `[neg, pos]`.
    pub(in crate::diffusion) fn transformer(
        &self,
        text: &Text,
        coords: &[f32],
    ) -> Result<Transformer<'_>, EngineError> {
        let spec = &self.manifest.components.transformer;
        let session = self.session(&spec.file)?;
        let c = self.manifest.latent.channels;
        let s_total = coords.len() / 3;
        let (l, dim) = (text.len, text.dim);
        let to_ort = |e: ort::Error| {
            EngineError::from(crate::runtime::RuntimeError::Run { model: self.name.clone(), reason: e.to_string() })
        };
        let buffers = "the denoising buffers";
        let mut both = try_zeroed(2 * l * dim, buffers)?;
        both[..l * dim].copy_from_slice(&text.neg_emb);
        both[l * dim..].copy_from_slice(&text.pos_emb);
        let mask: Vec<i64> = text.neg_mask.iter().chain(&text.pos_mask).copied().collect();
        let mut coords2 = try_zeroed(2 * coords.len(), buffers)?;
        coords2[..coords.len()].copy_from_slice(coords);
        coords2[coords.len()..].copy_from_slice(coords);
        Ok(Transformer {
            model: self,
            session,
            hidden: Tensor::from_array(([2usize, s_total, c], try_zeroed(2 * s_total * c, buffers)?))
                .map_err(to_ort)?,
            timestep: Tensor::from_array(([2usize, s_total], try_zeroed(2 * s_total, buffers)?)).map_err(to_ort)?,
            text: Tensor::from_array(([2usize, l, dim], both)).map_err(to_ort)?,
            text_mask: Tensor::from_array(([2usize, l], mask)).map_err(to_ort)?,
            coords: Tensor::from_array(([2usize, 3, s_total], coords2)).map_err(to_ort)?,
            s_total,
            channels: c,
        })
    }
}

impl Transformer<'_> {
    /// The guided velocity `v_u + g·(v_c − v_u)` of latents `x` `[S, C]` at per-token timesteps
    /// `tau` `[S]`, written to `velocity`; returns the seconds spent inside `Session::run`.
    pub(in crate::diffusion) fn velocity(
        &mut self,
        x: &[f32],
        tau: &[f32],
        guidance: f32,
        velocity: &mut [f32],
    ) -> Result<f64, EngineError> {
        let (s_total, c) = (self.s_total, self.channels);
        {
            let (_, h) = self.hidden.extract_tensor_mut();
            h[..s_total * c].copy_from_slice(x);
            h[s_total * c..].copy_from_slice(x);
            let (_, ts) = self.timestep.extract_tensor_mut();
            ts[..s_total].copy_from_slice(tau);
            ts[s_total..].copy_from_slice(tau);
        }
        let spec = &self.model.manifest.components.transformer;
        let names = &spec.inputs;
        let mut run_seconds = 0.0;
        self.session.with(|s| {
            let run_started = Instant::now();
            let out = s.run(ort::inputs![
                names.hidden_states.as_str() => &self.hidden,
                names.encoder_hidden_states.as_str() => &self.text,
                names.encoder_attention_mask.as_str() => &self.text_mask,
                names.timestep.as_str() => &self.timestep,
                names.video_coords.as_str() => &self.coords,
            ])?;
            run_seconds = run_started.elapsed().as_secs_f64();
            let (shape, v) = out[spec.output.as_str()].try_extract_tensor::<f32>()?;
            if shape.iter().product::<i64>() != (2 * s_total * c) as i64 {
                return Err(ort::Error::new(format!("velocity has shape {shape:?}, expected [2, {s_total}, {c}]")));
            }
            let (vu, vc) = v.split_at(s_total * c);
            for ((out, u), cnd) in velocity.iter_mut().zip(vu).zip(vc) {
                *out = u + guidance * (cnd - u);
            }
            Ok(())
        })?;
        Ok(run_seconds)
    }
}
