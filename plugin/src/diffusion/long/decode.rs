//! The long shot's decode (spec §7, diffusers' `vae_decode_tiled`): the whole latent, its last
//! frame repeated (`last_frame_fix`), re-noised once for a timestep-conditioned VAE, then decoded
//! in spatial tiles whose overlaps are feathered linearly and averaged.
//!
//! A shot may also be decoded in pieces of frames: each piece decodes only the latent frames its
//! frames come from and a margin of context each side, so memory is bounded by the piece, not
//! the shot. Within the decoder's temporal reach the pieces are the whole decode's frames
//! (`pieces_match_the_whole_decode` in tests/ltx_long.rs measures how closely).

use super::stitch::linspace_f32;
use super::{DecodeTiling, LongRequest};
use crate::diffusion::model::VideoModel;
use crate::diffusion::noise::Noise;
use crate::diffusion::pipeline::frames_in_sample;
use crate::engine::EngineError;
use crate::frame_io::{try_zeroed, Frame};

/// One decode tile: latent rows `y0..y1`, columns `x0..x1`, and which sides it shares with a
/// neighbour (those are feathered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tile {
    pub(super) y0: usize,
    pub(super) y1: usize,
    pub(super) x0: usize,
    pub(super) x1: usize,
    left: bool,
    right: bool,
    top: bool,
    bottom: bool,
}

/// The tiles of an `h × w` latent, rows outer: tiles of `(n + (k−1)·o) / k` latent pixels every
/// `size − o`, the last row and column stretched to the edge. Tilings with no room for their
/// overlap are refused.
pub(super) fn tile_grid(h: usize, w: usize, tiling: &DecodeTiling) -> Result<Vec<Tile>, EngineError> {
    let DecodeTiling { horizontal: ht, vertical: vt, overlap: o } = *tiling;
    let refuse = || {
        Err(EngineError::Input(format!(
            "decoding in {ht}x{vt} tiles overlapping by {o} does not fit a latent of {w}x{h}: use fewer tiles or \
             a smaller overlap"
        )))
    };
    let spans = |n: usize, k: usize| -> Option<Vec<(usize, usize)>> {
        if k == 0 || k > n {
            return None;
        }
        let size = (n + (k - 1) * o) / k;
        if k > 1 && size <= o {
            return None;
        }
        let spans: Vec<(usize, usize)> = (0..k)
            .map(|i| {
                let start = i * (size - o.min(size));
                (start, if i + 1 == k { n } else { (start + size).min(n) })
            })
            .collect();
        // Every tile must hold its feathered edges.
        let fits = spans.iter().all(|&(a, b)| b > a && (k == 1 || b - a >= o));
        fits.then_some(spans)
    };
    let (Some(rows), Some(cols)) = (spans(h, vt), spans(w, ht)) else { return refuse() };
    let mut tiles = Vec::with_capacity(rows.len() * cols.len());
    for (v, &(y0, y1)) in rows.iter().enumerate() {
        for (u, &(x0, x1)) in cols.iter().enumerate() {
            tiles.push(Tile { y0, y1, x0, x1, left: u > 0, right: u + 1 < ht, top: v > 0, bottom: v + 1 < vt });
        }
    }
    Ok(tiles)
}

impl VideoModel {
    /// Decodes the shot's latents `[C, f, h, w]` (normalised) to RGB frames: the pixel frames
    /// `frames` of the shot, from the latent frames they come from and `context` more each side.
    /// The whole range decodes the whole latent, as diffusers does. Decode noise, when the VAE
    /// takes it, is drawn over the whole latent every time, so every piece sees the same.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn decode_long(
        &self,
        latents: &[f32],
        (f, h, w): (usize, usize, usize),
        tiles: &[Tile],
        req: &LongRequest,
        noise: &mut dyn Noise,
        frames: std::ops::Range<usize>,
        context: usize,
    ) -> Result<Vec<Frame>, EngineError> {
        let lat = &self.manifest.latent;
        let (c, t, r, norm) = (lat.channels, lat.temporal_ratio, lat.spatial_ratio, &lat.norm);
        let spec = &self.manifest.components.vae_decoder;
        let shot_frames = 1 + (f - 1) * t;
        if frames.start >= frames.end || frames.end > shot_frames {
            return Err(EngineError::Input(format!(
                "frames {}..{} are not within the shot's {shot_frames}",
                frames.start, frames.end
            )));
        }
        // De-normalise and repeat the last frame: fl = f + 1 frames.
        let (fl, plane) = (f + 1, h * w);
        let mut z = try_zeroed(c * fl * plane, "the latents to decode")?;
        for ch in 0..c {
            let src = &latents[ch * f * plane..(ch + 1) * f * plane];
            let dst = &mut z[ch * fl * plane..(ch + 1) * fl * plane];
            for (d, &v) in dst.iter_mut().zip(src.iter().chain(&src[(f - 1) * plane..])) {
                *d = v * norm.std[ch] / norm.scaling_factor + norm.mean[ch];
            }
        }
        if let Some(s) = req.decode_noise_scale.filter(|_| spec.timestep_conditioning) {
            let eps = noise.draw(&[1, c, fl, h, w])?;
            z.iter_mut().zip(&eps).for_each(|(v, e)| *v = (1.0 - s) * *v + s * e);
        }
        // Pixel frame 0 comes from latent frame 0, pixel p > 0 from latent (p − 1)/t + 1; a
        // decode of latent frames from `a` on makes pixel frames from a·t on.
        let latent_of = |p: usize| if p == 0 { 0 } else { (p - 1) / t + 1 };
        let a = latent_of(frames.start).saturating_sub(context);
        // A piece that reaches the shot's last latent frame takes its repeat too.
        let b = match (latent_of(frames.end - 1) + 1 + context).min(f) {
            b if b == f => fl,
            b => b,
        };
        let (z, fl) = if (a, b) == (0, fl) {
            (z, fl)
        } else {
            let n = b - a;
            let mut part = try_zeroed(c * n * plane, "the latents to decode")?;
            for ch in 0..c {
                part[ch * n * plane..(ch + 1) * n * plane]
                    .copy_from_slice(&z[(ch * fl + a) * plane..(ch * fl + b) * plane]);
            }
            (part, n)
        };
        let keep = frames.start - a * t..frames.end - a * t;
        if let [only] = tiles {
            if (only.y0, only.y1, only.x0, only.x1) == (0, h, 0, w) {
                // One tile: weight 1 everywhere, and 1 + 1e-8 is 1 in f32.
                let (size, sample) = self.run_decoder(z, (fl, h, w), req.decode_timestep)?;
                return frames_in_sample(&sample, size, keep);
            }
        }
        let fo = 1 + (fl - 1) * t;
        let (height, width) = (h * r, w * r);
        let out_plane = height * width;
        let values = fo.checked_mul(out_plane).and_then(|n| n.checked_mul(3)).unwrap_or(usize::MAX);
        let mut acc = try_zeroed::<f32>(values, "the decoded frames")?;
        let mut wsum = try_zeroed::<f32>(out_plane, "the decode weights")?;
        let p = req.tiling.overlap * r;
        for tile in tiles {
            let (th, tw) = (tile.y1 - tile.y0, tile.x1 - tile.x0);
            let mut part = try_zeroed(c * fl * th * tw, "a decode tile")?;
            for (cf, dst) in part.chunks_exact_mut(th * tw).enumerate() {
                for (y, row) in dst.chunks_exact_mut(tw).enumerate() {
                    let at = cf * plane + (tile.y0 + y) * w + tile.x0;
                    row.copy_from_slice(&z[at..at + tw]);
                }
            }
            let ((tf, ph, pw), y) = self.run_decoder(part, (fl, th, tw), req.decode_timestep)?;
            if (tf, ph, pw) != (fo, th * r, tw * r) {
                return Err(self.mismatch(format!(
                    "the VAE decoder made {tf}x{ph}x{pw} of a {fl}x{th}x{tw} latent tile, expected {fo}x{}x{}",
                    th * r,
                    tw * r
                )));
            }
            let cols = feather(pw, p, tile.left, tile.right);
            let (top, bottom) = (feather(ph, p, tile.top, false), feather(ph, p, false, tile.bottom));
            let (oy, ox) = (tile.y0 * r, tile.x0 * r);
            for yy in 0..ph {
                // diffusers multiplies the columns' factors in first, then the rows'.
                let weights = cols.iter().map(|&cw| cw * top[yy] * bottom[yy]);
                let at = (oy + yy) * width + ox;
                for (x, wt) in weights.enumerate() {
                    wsum[at + x] += wt;
                    for plane_index in 0..3 * fo {
                        let src = y[(plane_index * ph + yy) * pw + x];
                        acc[plane_index * out_plane + at + x] += src * wt;
                    }
                }
            }
        }
        for planes in acc.chunks_exact_mut(out_plane) {
            planes.iter_mut().zip(&wsum).for_each(|(v, &s)| *v /= s + 1e-8);
        }
        frames_in_sample(&acc, (fo, height, width), keep)
    }
}

/// Per-pixel weights along one side of `n` pixels: a ramp up over the first `p` pixels where
/// `start` is shared, and down over the last `p` where `end` is.
fn feather(n: usize, p: usize, start: bool, end: bool) -> Vec<f32> {
    let mut wt = vec![1f32; n];
    if p > 0 {
        if start {
            wt[..p].iter_mut().zip(linspace_f32(0.0, 1.0, p)).for_each(|(w, f)| *w *= f);
        }
        if end {
            wt[n - p..].iter_mut().zip(linspace_f32(1.0, 0.0, p)).for_each(|(w, f)| *w *= f);
        }
    }
    wt
}

#[cfg(test)]
mod tests {
    use super::*;

    type Spans = Vec<(usize, usize)>;

    /// The distinct row and column spans of a tiling.
    fn spans(tiles: &[Tile]) -> (Spans, Spans) {
        let mut rows: Vec<_> = tiles.iter().map(|t| (t.y0, t.y1)).collect();
        let mut cols: Vec<_> = tiles.iter().map(|t| (t.x0, t.x1)).collect();
        rows.dedup();
        cols.sort();
        cols.dedup();
        (rows, cols)
    }

    #[test]
    fn the_long_tiled_grid_is_the_specs() {
        // h=4, w=8, 3 columns, 2 rows, overlap 1.
        let tiles = tile_grid(4, 8, &DecodeTiling { horizontal: 3, vertical: 2, overlap: 1 }).unwrap();
        assert_eq!(spans(&tiles), (vec![(0, 2), (1, 4)], vec![(0, 3), (2, 5), (4, 8)]));
        assert!(tiles[0].right && !tiles[0].left && tiles[0].bottom && !tiles[0].top);
        assert!(tiles[5].left && !tiles[5].right && tiles[5].top && !tiles[5].bottom);
        let one = tile_grid(4, 8, &DecodeTiling { horizontal: 1, vertical: 1, overlap: 0 }).unwrap();
        assert_eq!(spans(&one), (vec![(0, 4)], vec![(0, 8)]));
    }

    #[test]
    fn tilings_without_room_for_their_overlap_are_refused() {
        // diffusers' defaults (4x4, overlap 3) on a 4x4 latent give tiles of stride 0.
        let err = tile_grid(4, 4, &DecodeTiling { horizontal: 4, vertical: 4, overlap: 3 }).unwrap_err();
        assert!(err.to_string().contains("use fewer tiles or a smaller overlap"), "{err}");
        assert!(tile_grid(4, 4, &DecodeTiling { horizontal: 0, vertical: 1, overlap: 0 }).is_err());
        assert!(tile_grid(4, 4, &DecodeTiling { horizontal: 5, vertical: 1, overlap: 0 }).is_err());
    }

    #[test]
    fn feathered_neighbours_sum_to_one_over_their_overlap() {
        let (left, right) = (feather(24, 8, false, true), feather(24, 8, true, false));
        for i in 0..8 {
            assert!((left[16 + i] + right[i] - 1.0).abs() < 1e-6);
        }
        assert_eq!((right[0], left[23]), (0.0, 0.0), "the first overlap pixel of a tile weighs 0");
    }
}
