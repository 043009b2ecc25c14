//! A causal video VAE run chunk by chunk (Wan): the first chunk through its own graph, every later
//! chunk through the chunk graph, each run's causal caches carried into the next by name. No
//! frame count is baked into a graph, and memory holds one chunk's activations at a time.

use ort::session::SessionInputValue;
use ort::value::{DynValue, Tensor};

use crate::diffusion::manifest::CausalChunks;
use crate::diffusion::model::VideoModel;
use crate::engine::EngineError;
use crate::frame_io::try_zeroed;

/// Channels, frames, height, width of a batch-1 5-D tensor.
pub(in crate::diffusion) type Dims = (usize, usize, usize, usize);

/// One chunk's output `[c, f, h, w]`.
struct Piece {
    dims: Dims,
    data: Vec<f32>,
}

impl VideoModel {
    /// Runs the chunk pair (`chunks.first_file`, then `file`) over `data` `[c, f, h, w]` fed as
    /// `input`: the `output` of every chunk joined along time, `[oc, of, oh, ow]`.
    pub(in crate::diffusion) fn run_causal_chunks(
        &self,
        file: &str,
        chunks: &CausalChunks,
        (input, output): (&str, &str),
        data: &[f32],
        (c, f, h, w): Dims,
    ) -> Result<(Dims, Vec<f32>), EngineError> {
        let (first, rest) = (chunks.first_frames, chunks.frames);
        if f < first || !(f - first).is_multiple_of(rest) {
            return Err(EngineError::Input(format!(
                "{f} frames cannot be cut into chunks of {first} then {rest} for this model's VAE"
            )));
        }
        let plane = h * w;
        let mut caches: Vec<(String, DynValue)> = Vec::new();
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < f {
            let n = if start == 0 { first } else { rest };
            let mut chunk = try_zeroed(c * n * plane, "a VAE chunk")?;
            for ch in 0..c {
                let src = &data[(ch * f + start) * plane..(ch * f + start + n) * plane];
                chunk[ch * n * plane..(ch + 1) * n * plane].copy_from_slice(src);
            }
            let graph = if start == 0 { chunks.first_file.as_str() } else { file };
            let session = self.session(graph)?;
            let carried = std::mem::take(&mut caches);
            let (piece, next) = session.with(|s| {
                let mut inputs: Vec<(String, SessionInputValue)> =
                    vec![(input.to_string(), Tensor::from_array(([1usize, c, n, h, w], chunk))?.into())];
                inputs.extend(carried.into_iter().map(|(name, v)| (name, v.into())));
                let mut out = s.run(inputs)?;
                let (shape, values) = out[output].try_extract_tensor::<f32>()?;
                let (shape, values) = (shape.to_vec(), values.to_vec());
                let names: Vec<String> =
                    out.keys().filter(|k| k.starts_with(&chunks.cache_outputs)).map(str::to_string).collect();
                let mut next = Vec::with_capacity(names.len());
                for name in names {
                    if let Some(value) = out.remove(&name) {
                        next.push((format!("{}{}", chunks.cache_inputs, &name[chunks.cache_outputs.len()..]), value));
                    }
                }
                Ok(((shape, values), next))
            })?;
            let (shape, values) = piece;
            if shape.len() != 5 || shape[0] != 1 || shape.iter().any(|&d| d < 1) {
                return Err(
                    self.mismatch(format!("{graph} output '{output}' has shape {shape:?}, expected [1, C, F, H, W]"))
                );
            }
            let dims = (shape[1] as usize, shape[2] as usize, shape[3] as usize, shape[4] as usize);
            pieces.push(Piece { dims, data: values });
            caches = next;
            start += n;
        }
        join(pieces).map_err(|why| self.mismatch(why))
    }
}

/// Chunks `[c, f_i, h, w]` joined along time.
fn join(pieces: Vec<Piece>) -> Result<(Dims, Vec<f32>), String> {
    let (c, _, h, w) = pieces[0].dims;
    if pieces.iter().any(|p| (p.dims.0, p.dims.2, p.dims.3) != (c, h, w)) {
        return Err("the VAE's chunks differ in channels or size".into());
    }
    let f: usize = pieces.iter().map(|p| p.dims.1).sum();
    let plane = h * w;
    let mut out = try_zeroed(c * f * plane, "the VAE output").map_err(|e| e.to_string())?;
    let mut at = 0;
    for p in &pieces {
        let n = p.dims.1;
        for ch in 0..c {
            out[(ch * f + at) * plane..(ch * f + at + n) * plane]
                .copy_from_slice(&p.data[ch * n * plane..(ch + 1) * n * plane]);
        }
        at += n;
    }
    Ok(((c, f, h, w), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_join_along_time_channel_by_channel() {
        // Two channels of 1×1 frames: a first chunk of 1 frame, then one of 2.
        let a = Piece { dims: (2, 1, 1, 1), data: vec![1.0, 10.0] };
        let b = Piece { dims: (2, 2, 1, 1), data: vec![2.0, 3.0, 20.0, 30.0] };
        let (dims, out) = join(vec![a, b]).unwrap();
        assert_eq!(dims, (2, 3, 1, 1));
        assert_eq!(out, [1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
        let odd = Piece { dims: (1, 1, 1, 1), data: vec![0.0] };
        assert!(join(vec![Piece { dims: (2, 1, 1, 1), data: vec![0.0; 2] }, odd]).is_err());
    }
}
