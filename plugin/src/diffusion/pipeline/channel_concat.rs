//! Image conditioning by channel concat (Wan 2.1 I2V and FLF2V): the given first (and last) frame
//! is placed in a clip of blank frames and VAE-encoded; with a mask of which pixel frames are
//! given, it rides along as extra transformer input channels held for every step, and the
//! image encoder's embeddings of the frames go to the transformer's image cross-attention.

use ort::value::Tensor;

use super::{Condition, Grid, Mode};
use crate::diffusion::manifest::{I2vMethod, I2vRules};
use crate::diffusion::model::VideoModel;
use crate::diffusion::noise::Noise;
use crate::engine::EngineError;
use crate::frame_io::{resize_cover, try_zeroed, Frame};

/// The frames a channel-concat model is given.
pub(in crate::diffusion) struct Given<'a> {
    pub(in crate::diffusion) first: &'a Frame,
    pub(in crate::diffusion) last: Option<&'a Frame>,
}

/// What every step feeds besides the latents.
pub(in crate::diffusion) struct Held {
    /// `[mask_channels + C, f, h, w]`: the mask, then the normalised latents of the given clip.
    pub(in crate::diffusion) channels: Vec<f32>,
    /// The image encoder's `[K·N, D]` embeddings of the K given frames.
    pub(in crate::diffusion) image: Vec<f32>,
    pub(in crate::diffusion) image_tokens: usize,
    pub(in crate::diffusion) image_dim: usize,
}

impl VideoModel {
    fn concat_rules(&self) -> Option<&I2vRules> {
        self.manifest.conditioning.i2v.as_ref().filter(|r| r.method == I2vMethod::ChannelConcat)
    }

    /// The frames a request gives a channel-concat model: Animate's image, an Extend's single
    /// context frame, or the first and last keyframes for a model that takes a last frame.
    /// `None` for text to video and for models of other methods; other conditions are refused.
    pub(in crate::diffusion) fn given_frames<'a>(
        &self,
        mode: &'a Mode,
        frames: usize,
    ) -> Result<Option<Given<'a>>, EngineError> {
        let Some(rules) = self.concat_rules() else { return Ok(None) };
        let single = |c: &'a Condition, at: usize| {
            (c.frame_index == at && c.frames.len() == 1 && c.strength == 1.0).then(|| &c.frames[0])
        };
        let given = match mode {
            Mode::TextToVideo => return Ok(None),
            Mode::ImageToVideo(first) => Some(Given { first, last: None }),
            Mode::Conditions(c) => match c.as_slice() {
                [a] => single(a, 0).map(|first| Given { first, last: None }),
                [a, b] if rules.last_frame => {
                    if single(b, b.frame_index).is_some() && b.frame_index != frames - 1 {
                        // The frame rule rounded the shot past its end keyframe.
                        let (lo, hi) = (self.manifest.frames_for(b.frame_index + 1), b.frame_index + 1);
                        return Err(EngineError::Input(format!(
                            "model '{}' places the End Frame on the shot's last frame: make the shot a length it \
                             makes ({}k+{} frames, such as {}) instead of {hi}",
                            self.name, self.manifest.latent.frame_rule.mult, self.manifest.latent.frame_rule.plus, lo
                        )));
                    }
                    single(a, 0).zip(single(b, frames - 1)).map(|(first, last)| Given { first, last: Some(last) })
                }
                _ => None,
            },
        };
        given.map(Some).ok_or_else(|| {
            EngineError::Input(format!(
                "model '{}' starts from one given frame{}, fully kept: it cannot continue from a clip, go \
                 backward or hold frames in between",
                self.name,
                if rules.last_frame { " (and can end on another)" } else { " (an End Frame needs a first-last model)" }
            ))
        })
    }

    /// The held channels and image embeddings for `given` frames of a shot of `frames` pixel
    /// frames on the latent `grid`.
    pub(in crate::diffusion) fn hold(
        &self,
        given: &Given,
        frames: usize,
        grid: Grid,
        noise: &mut dyn Noise,
    ) -> Result<Held, EngineError> {
        let rules = self.concat_rules().ok_or_else(|| self.mismatch("no channel-concat conditioning".into()))?;
        let (k, c, t) = (rules.mask_channels, self.manifest.latent.channels, self.manifest.latent.temporal_ratio);
        let (f, h, w) = grid;
        // The clip the VAE encodes: the given frames where they are, blank (0 in -1..1) between.
        let blank = {
            let mut b = Frame::try_new(3, given.first.height, given.first.width)
                .map_err(|e| EngineError::Input(format!("the conditioning clip: {e}")))?;
            b.data.fill(0.5);
            b
        };
        let mut clip: Vec<Frame> = Vec::new();
        clip.try_reserve_exact(frames).map_err(|_| EngineError::Input("the conditioning clip is too long".into()))?;
        clip.push(given.first.clone());
        clip.extend((1..frames).map(|_| blank.clone()));
        if let Some(last) = given.last {
            clip[frames - 1] = last.clone();
        }
        let (z, fz) = self.encode_frames(&clip, noise)?;
        if fz != f || z.len() != c * f * h * w {
            return Err(self.mismatch(format!("the conditioning clip encodes to {fz} latent frames, not {f}")));
        }
        let plane = h * w;
        let mut channels = try_zeroed((k + c) * f * plane, "the conditioning channels")?;
        let given_at = |p: usize| p == 0 || (given.last.is_some() && p == frames - 1);
        for j in 0..f {
            for ch in 0..k {
                if given_at(pixel_frame(j, ch, t)) {
                    channels[(ch * f + j) * plane..(ch * f + j + 1) * plane].fill(1.0);
                }
            }
        }
        channels[k * f * plane..].copy_from_slice(&z);
        let images: Vec<&Frame> = std::iter::once(given.first).chain(given.last).collect();
        let (image, image_tokens, image_dim) = self.embed_images(&images)?;
        Ok(Held { channels, image, image_tokens, image_dim })
    }

    /// The image encoder's embeddings of `images`, joined along tokens: `[K·N, D]`.
    fn embed_images(&self, images: &[&Frame]) -> Result<(Vec<f32>, usize, usize), EngineError> {
        let spec = self.manifest.components.image_encoder.as_ref();
        let spec = spec.ok_or_else(|| self.mismatch("channel concat needs components.image_encoder".into()))?;
        let s = spec.size;
        let mut pixels = try_zeroed(images.len() * 3 * s * s, "the image encoder's input")?;
        for (i, image) in images.iter().enumerate() {
            // Shortest side to `size`, centre crop, as CLIP's processor (bilinear here: exact
            // when the frame already is `size` square).
            let fitted = resize_cover(image, s, s);
            for ch in 0..3 {
                let dst = &mut pixels[(i * 3 + ch) * s * s..(i * 3 + ch + 1) * s * s];
                let (mean, std) = (spec.mean[ch], spec.std[ch]);
                dst.iter_mut().zip(fitted.plane(ch)).for_each(|(d, v)| *d = (v - mean) / std);
            }
        }
        let n_images = images.len();
        let (shape, data) = self.session(&spec.file)?.with(|sess| {
            let out = sess.run(ort::inputs![
                spec.input.as_str() => Tensor::from_array(([n_images, 3, s, s], pixels))?,
            ])?;
            let (shape, data) = out[spec.output.as_str()].try_extract_tensor::<f32>()?;
            Ok((shape.to_vec(), data.to_vec()))
        })?;
        if shape.len() != 3 || shape[0] != n_images as i64 || shape[1] < 1 || shape[2] < 1 {
            return Err(self.mismatch(format!("image encoder output has shape {shape:?}, expected [{n_images}, N, D]")));
        }
        Ok((data, n_images * shape[1] as usize, shape[2] as usize))
    }
}

/// The pixel frame mask channel `ch` of latent frame `j` stands for: the pixel mask with its
/// first frame repeated `t` times, folded into `t` channels per latent frame (diffusers'
/// `mask_lat_size`): latent frame 0 is pixel frame 0 on every channel, then frame `t·(j−1)+ch+1`.
fn pixel_frame(j: usize, ch: usize, t: usize) -> usize {
    (t * j + ch).saturating_sub(t - 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mask_folds_pixel_frames_as_diffusers_does() {
        // 9 pixel frames, temporal ratio 4: 3 latent frames.
        let frames: Vec<Vec<usize>> = (0..3).map(|j| (0..4).map(|ch| super::pixel_frame(j, ch, 4)).collect()).collect();
        assert_eq!(frames, [vec![0, 0, 0, 0], vec![1, 2, 3, 4], vec![5, 6, 7, 8]]);
    }
}
