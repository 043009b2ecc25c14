//! The transformer under classifier-free guidance for one latent shape: its inputs are kept as
//! persistent tensors and updated in place every step, so a step allocates nothing. Shared by
//! the single-window pipelines and the long pipeline's windows.
//!
//! The pipelines hold latents as packed tokens `[S, C]` whatever the graph takes; the manifest's
//! layout says how they are fed: as they are (LTX), or as the latent video `[C, F, H, W]` (Wan),
//! transposed on the way in and out.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use ort::session::SessionInputValue;
use ort::value::Tensor;

use super::channel_concat::Held;
use super::prepare::Text;
use super::Grid;
use crate::diffusion::manifest::{Layout, TimestepGrid};
use crate::diffusion::model::VideoModel;
use crate::engine::EngineError;
use crate::frame_io::try_zeroed;
use crate::runtime::SharedSession;

/// The transformer's inputs for `s_total` tokens: text and coordinates fixed, latents and
/// timesteps written before each run (both guidance halves get the same).
pub(in crate::diffusion) struct Transformer<'a> {
    model: &'a VideoModel,
    session: Arc<SharedSession>,
    hidden: Tensor<f32>,
    timestep: Tensor<f32>,
    text: Tensor<f32>,
    /// Only for graphs that take a text mask / positions.
    text_mask: Option<Tensor<i64>>,
    coords: Option<Tensor<f32>>,
    /// The image encoder's embeddings, for graphs with image cross-attention.
    image: Option<Tensor<f32>>,
    /// Values per batch row of `hidden` (latents and held channels).
    row: usize,
    /// For per-patch timesteps: the latent token each patch's timestep is taken from.
    timestep_index: Vec<usize>,
    s_total: usize,
    channels: usize,
    layout: Layout,
    /// Output of the 5-D layout before it is packed back.
    unpacked: Vec<f32>,
}

impl VideoModel {
    /// The transformer in `file` (the manifest's, or its low-noise expert) for latents of
    /// `s_total` tokens, with `coords` `[3, S]` (one batch row;
    /// both halves use it; empty for graphs that place positions themselves) and the text
    /// `[neg, pos]`. `grid` is the latent video the tokens are (the 5-D layout needs it); `held` the
    /// channels and image embeddings of channel-concat conditioning.
    pub(in crate::diffusion) fn transformer(
        &self,
        file: &str,
        text: &Text,
        s_total: usize,
        coords: &[f32],
        grid: Option<Grid>,
        held: Option<&Held>,
    ) -> Result<Transformer<'_>, EngineError> {
        let spec = &self.manifest.components.transformer;
        let session = self.session(file)?;
        let c = self.manifest.latent.channels;
        let (l, dim) = (text.len, text.dim);
        let to_ort = |e: ort::Error| {
            EngineError::from(crate::runtime::RuntimeError::Run { model: self.name.clone(), reason: e.to_string() })
        };
        let buffers = "the denoising buffers";
        let mut both = try_zeroed(2 * l * dim, buffers)?;
        both[..l * dim].copy_from_slice(&text.neg_emb);
        both[l * dim..].copy_from_slice(&text.pos_emb);
        // Held channels (channel concat) follow the latents' in every batch row.
        let extra = held.map_or(0, |h| h.channels.len() / s_total.max(1));
        let hidden_shape = match (spec.layout, grid) {
            (Layout::Tokens, _) if extra == 0 => vec![2, s_total, c],
            (Layout::Video5d, Some((f, h, w))) if f * h * w == s_total => vec![2, c + extra, f, h, w],
            _ => return Err(self.mismatch("a 5-D transformer takes the latent video alone, no extra tokens".into())),
        };
        let row = (c + extra) * s_total;
        let mut hidden = try_zeroed(2 * row, buffers)?;
        if let Some(held) = held {
            hidden[c * s_total..row].copy_from_slice(&held.channels);
            hidden[row + c * s_total..].copy_from_slice(&held.channels);
        }
        let image = match (&spec.inputs.encoder_hidden_states_image, held) {
            (Some(_), Some(held)) => {
                let (n, d) = (held.image_tokens, held.image_dim);
                let mut both = try_zeroed(2 * n * d, buffers)?;
                both[..n * d].copy_from_slice(&held.image);
                both[n * d..].copy_from_slice(&held.image);
                Some(Tensor::from_array(([2usize, n, d], both)).map_err(to_ort)?)
            }
            (Some(name), None) => return Err(self.mismatch(format!("the transformer's {name} needs given frames"))),
            (None, _) => None,
        };
        let text_mask = match spec.inputs.encoder_attention_mask {
            Some(_) => {
                let mask: Vec<i64> = text.neg_mask.iter().chain(&text.pos_mask).copied().collect();
                Some(Tensor::from_array(([2usize, l], mask)).map_err(to_ort)?)
            }
            None => None,
        };
        let coords = match spec.inputs.video_coords {
            Some(_) if coords.len() == 3 * s_total => {
                let mut coords2 = try_zeroed(2 * coords.len(), buffers)?;
                coords2[..coords.len()].copy_from_slice(coords);
                coords2[coords.len()..].copy_from_slice(coords);
                Some(Tensor::from_array(([2usize, 3, s_total], coords2)).map_err(to_ort)?)
            }
            Some(_) => return Err(self.mismatch(format!("{} coordinates for {s_total} tokens", coords.len() / 3))),
            None => None,
        };
        // Per-patch timesteps (Wan 2.2): each patch takes its first latent token's.
        let timestep_index = match (spec.timestep_grid, grid) {
            (TimestepGrid::Patch, Some(grid)) if spec.timestep_per_token => {
                let [_, ph, pw] = self.manifest.latent.patch;
                patch_tokens(grid, ph, pw)
            }
            (TimestepGrid::Patch, _) => return Err(self.mismatch("per-patch timesteps need the latent grid".into())),
            (TimestepGrid::Latent, _) => Vec::new(),
        };
        let per_row = if timestep_index.is_empty() { s_total } else { timestep_index.len() };
        let timestep = match spec.timestep_per_token {
            true => Tensor::from_array(([2usize, per_row], try_zeroed(2 * per_row, buffers)?)),
            false => Tensor::from_array(([2usize], vec![0f32; 2])),
        };
        let unpacked = match spec.layout {
            Layout::Tokens => Vec::new(),
            Layout::Video5d => try_zeroed(s_total * c, buffers)?,
        };
        Ok(Transformer {
            model: self,
            session,
            hidden: Tensor::from_array((hidden_shape, hidden)).map_err(to_ort)?,
            image,
            row,
            timestep_index,
            timestep: timestep.map_err(to_ort)?,
            text: Tensor::from_array(([2usize, l, dim], both)).map_err(to_ort)?,
            text_mask,
            coords,
            s_total,
            channels: c,
            layout: spec.layout,
            unpacked,
        })
    }
}

impl Transformer<'_> {
    /// The guided velocity `v_u + g·(v_c − v_u)` of latents `x` `[S, C]` at per-token timesteps
    /// `tau` `[S]`, written to `velocity`; returns the seconds spent inside `Session::run`. A
    /// graph with one timestep per guidance half takes `tau[0]` (its pipelines give every token
    /// the same).
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
            let (first, second) = h.split_at_mut(self.row);
            let latents = &mut first[..s_total * c];
            match self.layout {
                Layout::Tokens => latents.copy_from_slice(x),
                Layout::Video5d => transpose(x, s_total, c, latents),
            }
            second[..s_total * c].copy_from_slice(latents);
            let (_, ts) = self.timestep.extract_tensor_mut();
            let per_row = ts.len() / 2;
            if ts.len() == 2 {
                ts.fill(tau[0]);
            } else if self.timestep_index.is_empty() {
                ts[..per_row].copy_from_slice(tau);
            } else {
                ts[..per_row].iter_mut().zip(&self.timestep_index).for_each(|(t, &i)| *t = tau[i]);
            }
            ts.copy_within(..per_row, per_row);
        }
        let spec = &self.model.manifest.components.transformer;
        let names = &spec.inputs;
        let mut inputs: Vec<(Cow<str>, SessionInputValue)> = vec![
            (names.hidden_states.as_str().into(), (&self.hidden).into()),
            (names.encoder_hidden_states.as_str().into(), (&self.text).into()),
            (names.timestep.as_str().into(), (&self.timestep).into()),
        ];
        if let (Some(name), Some(mask)) = (&names.encoder_attention_mask, &self.text_mask) {
            inputs.push((name.as_str().into(), mask.into()));
        }
        if let (Some(name), Some(coords)) = (&names.video_coords, &self.coords) {
            inputs.push((name.as_str().into(), coords.into()));
        }
        if let (Some(name), Some(image)) = (&names.encoder_hidden_states_image, &self.image) {
            inputs.push((name.as_str().into(), image.into()));
        }
        let mut run_seconds = 0.0;
        let (layout, unpacked) = (self.layout, &mut self.unpacked);
        self.session.with(|s| {
            let run_started = Instant::now();
            let out = s.run(inputs)?;
            run_seconds = run_started.elapsed().as_secs_f64();
            let (shape, v) = out[spec.output.as_str()].try_extract_tensor::<f32>()?;
            if shape.iter().product::<i64>() != (2 * s_total * c) as i64 {
                return Err(ort::Error::new(format!(
                    "velocity has shape {shape:?}, expected {} values",
                    2 * s_total * c
                )));
            }
            let (vu, vc) = v.split_at(s_total * c);
            match layout {
                Layout::Tokens => guide(vu, vc, guidance, velocity),
                Layout::Video5d => {
                    guide(vu, vc, guidance, unpacked);
                    transpose(unpacked, c, s_total, velocity);
                }
            }
            Ok(())
        })?;
        Ok(run_seconds)
    }
}

/// The latent token (in f, h, w order) at the first row and column of each `ph`×`pw` patch of
/// `grid`, patches in f, h, w order: diffusers' `mask[:, ::ph, ::pw].flatten()`.
fn patch_tokens((f, h, w): Grid, ph: usize, pw: usize) -> Vec<usize> {
    let (ph, pw) = (ph.max(1), pw.max(1));
    let mut index = Vec::with_capacity(f * h.div_ceil(ph) * w.div_ceil(pw));
    for fi in 0..f {
        for hi in (0..h).step_by(ph) {
            for wi in (0..w).step_by(pw) {
                index.push((fi * h + hi) * w + wi);
            }
        }
    }
    index
}

fn guide(vu: &[f32], vc: &[f32], guidance: f32, out: &mut [f32]) {
    for ((out, u), cnd) in out.iter_mut().zip(vu).zip(vc) {
        *out = u + guidance * (cnd - u);
    }
}

/// `[rows, cols]` → `[cols, rows]`: packed tokens `[S, C]` to channel planes `[C, S]` and back.
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    for r in 0..rows {
        for (col, &v) in src[r * cols..(r + 1) * cols].iter().enumerate() {
            dst[col * rows + r] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn patch_timesteps_come_from_each_patchs_first_token() {
        // 2 frames of 2×4 latents, 2×2 patches: 2 patches a frame.
        assert_eq!(super::patch_tokens((2, 2, 4), 2, 2), [0, 2, 8, 10]);
    }

    #[test]
    fn transpose_turns_tokens_into_planes_and_back() {
        let tokens: Vec<f32> = (0..6).map(|v| v as f32).collect(); // 3 tokens × 2 channels
        let mut planes = vec![0.0; 6];
        super::transpose(&tokens, 3, 2, &mut planes);
        assert_eq!(planes, [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]);
        let mut back = vec![0.0; 6];
        super::transpose(&planes, 2, 3, &mut back);
        assert_eq!(back, tokens);
    }
}
