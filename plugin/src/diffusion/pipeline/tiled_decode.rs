//! The VAE decode in tiles, as diffusers' `AutoencoderKLLTXVideo` does it with `enable_tiling()`
//! (and `use_framewise_decoding` for time): overlapping spatial tiles and overlapping runs of
//! latent frames, each decoded alone and blended linearly into the next over the overlap. Memory
//! is then bounded by one tile run's decode, not the shot's, however long the shot (LTX 0.9.5's
//! decoder: 3.4 GiB at 768×512 for 25 or 49 frames; models/ltx/README.md has the figures).

use serde::Deserialize;

use super::Grid;
use crate::diffusion::model::VideoModel;
use crate::engine::EngineError;
use crate::frame_io::try_zeroed;

/// Tile sizes in pixels, as `enable_tiling` takes them (its defaults: 512×512 tiles every 448,
/// 16-frame runs every 8).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct VaeTiling {
    pub tile_height: usize,
    pub tile_width: usize,
    pub tile_frames: usize,
    pub stride_height: usize,
    pub stride_width: usize,
    pub stride_frames: usize,
    /// Also decode runs of frames (`use_framewise_decoding`).
    #[serde(default)]
    pub temporal: bool,
}

impl VaeTiling {
    /// Strides that step whole latents and overlaps that exist: what diffusers' arithmetic needs.
    pub fn check(&self, spatial: usize, temporal: usize) -> Result<(), String> {
        let ok = |tile: usize, stride: usize, ratio: usize| {
            stride > 0 && stride <= tile && stride.is_multiple_of(ratio) && tile.is_multiple_of(ratio)
        };
        if !ok(self.tile_height, self.stride_height, spatial) || !ok(self.tile_width, self.stride_width, spatial) {
            return Err(format!(
                "tiles {}x{} every {}x{} must be multiples of {spatial} pixels, the stride at most the tile",
                self.tile_width, self.tile_height, self.stride_width, self.stride_height
            ));
        }
        if self.temporal && !ok(self.tile_frames, self.stride_frames, temporal) {
            return Err(format!(
                "runs of {} frames every {} must be multiples of {temporal} frames, the stride at most the run",
                self.tile_frames, self.stride_frames
            ));
        }
        Ok(())
    }
}

/// A decoded piece `[3, f, h, w]`.
struct Piece {
    data: Vec<f32>,
    f: usize,
    h: usize,
    w: usize,
}

impl Piece {
    fn at(&self, c: usize, f: usize, y: usize, x: usize) -> usize {
        ((c * self.f + f) * self.h + y) * self.w + x
    }
}

/// `b`'s first rows (`Axis::Rows`), columns or frames take `a`'s last ones, weighted from all `a`
/// to all `b` over `extent` (diffusers' `blend_v`/`blend_h`/`blend_t`, in place on `b`).
#[derive(Clone, Copy)]
enum Axis {
    Frames,
    Rows,
    Cols,
}

fn blend(a: &Piece, b: &mut Piece, extent: usize, axis: Axis) {
    let (la, lb) = match axis {
        Axis::Frames => (a.f, b.f),
        Axis::Rows => (a.h, b.h),
        Axis::Cols => (a.w, b.w),
    };
    let e = extent.min(la).min(lb);
    let mix = |x: f32, y: f32, i: usize| x * (1.0 - i as f32 / e as f32) + y * (i as f32 / e as f32);
    for c in 0..3 {
        for i in 0..e {
            match axis {
                Axis::Frames => {
                    let n = b.h * b.w;
                    let (sa, sb) = (a.at(c, la - e + i, 0, 0), b.at(c, i, 0, 0));
                    for k in 0..n {
                        b.data[sb + k] = mix(a.data[sa + k], b.data[sb + k], i);
                    }
                }
                Axis::Rows => {
                    for f in 0..b.f {
                        let (sa, sb) = (a.at(c, f, la - e + i, 0), b.at(c, f, i, 0));
                        for k in 0..b.w {
                            b.data[sb + k] = mix(a.data[sa + k], b.data[sb + k], i);
                        }
                    }
                }
                Axis::Cols => {
                    for f in 0..b.f {
                        for y in 0..b.h {
                            let (ja, jb) = (a.at(c, f, y, la - e + i), b.at(c, f, y, i));
                            b.data[jb] = mix(a.data[ja], b.data[jb], i);
                        }
                    }
                }
            }
        }
    }
}

impl VideoModel {
    /// Decodes de-normalised latents `[C, f, h, w]` in the manifest's tiles, or whole when it has
    /// none or the latent fits one tile: the decoded size `(F, H, W)` and sample `[3, F, H, W]`.
    pub fn decode_latents(
        &self,
        z: Vec<f32>,
        grid: Grid,
        timestep: f32,
        tiling: Option<&VaeTiling>,
    ) -> Result<(Grid, Vec<f32>), EngineError> {
        let Some(tiling) = tiling else { return self.run_decoder(z, grid, timestep) };
        let t = self.manifest.latent.temporal_ratio;
        if tiling.temporal && grid.0 > tiling.tile_frames / t {
            self.decode_runs(&z, grid, timestep, tiling)
        } else {
            self.decode_tiles(z, grid, timestep, tiling)
        }
    }

    /// `_temporal_tiled_decode`: runs of `tile_frames / t + 1` latent frames every
    /// `stride_frames / t` (each spatially tiled), every run after the first without its last
    /// decoded frame, blended into the run before over `tile_frames − stride_frames` frames.
    fn decode_runs(
        &self,
        z: &[f32],
        grid: Grid,
        timestep: f32,
        tiling: &VaeTiling,
    ) -> Result<(Grid, Vec<f32>), EngineError> {
        let (f, h, w) = grid;
        let (c, t) = (self.manifest.latent.channels, self.manifest.latent.temporal_ratio);
        let (run, stride) = (tiling.tile_frames / t, tiling.stride_frames / t);
        let blend_frames = tiling.tile_frames - tiling.stride_frames;
        let frames = (f - 1) * t + 1;
        let plane = h * w;
        let mut out: Option<Piece> = None;
        let mut written = 0;
        let mut prev: Option<Piece> = None;
        for (k, i) in (0..f).step_by(stride).enumerate() {
            let end = (i + run + 1).min(f);
            // A one-latent-frame run after the first decodes one frame, which diffusers drops.
            if k > 0 && end - i == 1 {
                continue;
            }
            let n = end - i;
            let mut part = try_zeroed(c * n * plane, "a run of latent frames")?;
            for ch in 0..c {
                part[ch * n * plane..(ch + 1) * n * plane]
                    .copy_from_slice(&z[(ch * f + i) * plane..(ch * f + end) * plane]);
            }
            let ((pf, ph, pw), data) = self.decode_tiles(part, (n, h, w), timestep, tiling)?;
            let mut piece = Piece { data, f: pf, h: ph, w: pw };
            if k > 0 {
                piece = drop_last_frame(piece);
            }
            let keep = if let Some(a) = &prev {
                blend(a, &mut piece, blend_frames, Axis::Frames);
                tiling.stride_frames
            } else {
                tiling.stride_frames + 1
            };
            let out = match &mut out {
                Some(o) => o,
                None => out.insert(Piece {
                    data: try_zeroed(3 * frames * ph * pw, "the decoded frames")?,
                    f: frames,
                    h: ph,
                    w: pw,
                }),
            };
            if (piece.h, piece.w) != (out.h, out.w) {
                return Err(self.mismatch(format!(
                    "the VAE decoder made {}x{} and {}x{} of one latent size",
                    piece.w, piece.h, out.w, out.h
                )));
            }
            let take = keep.min(piece.f).min(frames - written);
            for ch in 0..3 {
                let src = piece.at(ch, 0, 0, 0);
                let dst = out.at(ch, written, 0, 0);
                let len = take * piece.h * piece.w;
                out.data[dst..dst + len].copy_from_slice(&piece.data[src..src + len]);
            }
            written += take;
            prev = Some(piece);
        }
        let out = out.ok_or_else(|| EngineError::Input("nothing to decode".into()))?;
        if written != frames {
            return Err(self.mismatch(format!("tiled decoding made {written} of {frames} frames")));
        }
        Ok(((out.f, out.h, out.w), out.data))
    }

    /// `tiled_decode`: tiles of `tile / r` latents every `stride / r`, each blended into the tile
    /// above and the tile to its left (both already blended) and cropped to the stride.
    fn decode_tiles(
        &self,
        z: Vec<f32>,
        grid: Grid,
        timestep: f32,
        tiling: &VaeTiling,
    ) -> Result<(Grid, Vec<f32>), EngineError> {
        let (f, h, w) = grid;
        let (c, r) = (self.manifest.latent.channels, self.manifest.latent.spatial_ratio);
        let (tile_h, tile_w) = (tiling.tile_height / r, tiling.tile_width / r);
        if h <= tile_h && w <= tile_w {
            return self.run_decoder(z, grid, timestep);
        }
        let (step_h, step_w) = (tiling.stride_height / r, tiling.stride_width / r);
        let (blend_h, blend_w) = (tiling.tile_height - tiling.stride_height, tiling.tile_width - tiling.stride_width);
        let (height, width) = (h * r, w * r);
        let mut out: Option<Piece> = None;
        let mut above: Vec<Piece> = Vec::new();
        for i in (0..h).step_by(step_h) {
            let mut row: Vec<Piece> = Vec::new();
            for (col, j) in (0..w).step_by(step_w).enumerate() {
                let (th, tw) = ((i + tile_h).min(h) - i, (j + tile_w).min(w) - j);
                let mut part = try_zeroed(c * f * th * tw, "a decode tile")?;
                for (cf, dst) in part.chunks_exact_mut(th * tw).enumerate() {
                    for (y, line) in dst.chunks_exact_mut(tw).enumerate() {
                        let at = (cf * h + i + y) * w + j;
                        line.copy_from_slice(&z[at..at + tw]);
                    }
                }
                let ((pf, ph, pw), data) = self.run_decoder(part, (f, th, tw), timestep)?;
                let mut piece = Piece { data, f: pf, h: ph, w: pw };
                if let Some(a) = above.get(col) {
                    blend(a, &mut piece, blend_h, Axis::Rows);
                }
                if let Some(a) = row.last() {
                    blend(a, &mut piece, blend_w, Axis::Cols);
                }
                let out = match &mut out {
                    Some(o) => o,
                    None => out.insert(Piece {
                        data: try_zeroed(3 * pf * height * width, "the decoded frames")?,
                        f: pf,
                        h: height,
                        w: width,
                    }),
                };
                if piece.f != out.f {
                    return Err(
                        self.mismatch(format!("the VAE decoder made {} and {} frames of one latent", piece.f, out.f))
                    );
                }
                let (oy, ox) = (i * r, j * r);
                let rows = tiling.stride_height.min(piece.h).min(height - oy);
                let cols = tiling.stride_width.min(piece.w).min(width - ox);
                for ch in 0..3 {
                    for fi in 0..piece.f {
                        for y in 0..rows {
                            let (s, d) = (piece.at(ch, fi, y, 0), out.at(ch, fi, oy + y, ox));
                            out.data[d..d + cols].copy_from_slice(&piece.data[s..s + cols]);
                        }
                    }
                }
                row.push(piece);
            }
            above = row;
        }
        let out = out.ok_or_else(|| EngineError::Input("nothing to decode".into()))?;
        Ok(((out.f, out.h, out.w), out.data))
    }
}

/// A piece without its last frame.
fn drop_last_frame(p: Piece) -> Piece {
    let f = p.f.saturating_sub(1);
    let plane = p.h * p.w;
    let mut data = Vec::with_capacity(3 * f * plane);
    for c in 0..3 {
        let at = c * p.f * plane;
        data.extend_from_slice(&p.data[at..at + f * plane]);
    }
    Piece { data, f, h: p.h, w: p.w }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(f: usize, h: usize, w: usize, v: f32) -> Piece {
        Piece { data: vec![v; 3 * f * h * w], f, h, w }
    }

    #[test]
    fn a_blend_ramps_from_the_first_piece_to_the_second_over_the_extent() {
        let a = piece(1, 4, 2, 1.0);
        let mut b = piece(1, 4, 2, 0.0);
        blend(&a, &mut b, 4, Axis::Rows);
        // Row y of b weighs b by y/4 and a's row (4 − 4 + y) by 1 − y/4.
        let col0: Vec<f32> = (0..4).map(|y| b.data[b.at(0, 0, y, 0)]).collect();
        assert_eq!(col0, vec![1.0, 0.75, 0.5, 0.25]);
        // The extent is clipped to the shorter piece.
        let mut short = piece(2, 2, 2, 0.0);
        blend(&piece(3, 2, 2, 1.0), &mut short, 8, Axis::Frames);
        assert_eq!(short.data[short.at(2, 1, 1, 1)], 0.5);
    }

    #[test]
    fn tilings_that_do_not_step_whole_latents_are_refused() {
        let t = VaeTiling {
            tile_height: 512,
            tile_width: 512,
            tile_frames: 16,
            stride_height: 448,
            stride_width: 448,
            stride_frames: 8,
            temporal: true,
        };
        assert_eq!(t.check(32, 8), Ok(()));
        assert!(t.check(32, 5).unwrap_err().contains("frames"));
        assert!(VaeTiling { stride_width: 440, ..t }.check(32, 8).is_err());
        assert!(VaeTiling { stride_height: 0, ..t }.check(32, 8).is_err());
        assert!(VaeTiling { stride_height: 544, ..t }.check(32, 8).is_err());
    }
}
