//! Where the mark lives: a TILES_X x TILES_Y grid laid over the frame in relative coordinates, each tile
//! carrying three smooth patterns (horizontal, vertical, diagonal), so the same tiles and patterns
//! are found at any resolution, and the patterns are low enough in frequency to outlive JPEG, H.264
//! and resizing. Every pattern is zero on the tile's border: the mark has no edges for a resampling
//! filter to smear across tiles (which broke detection when tile edges fell between pixels) and no
//! block grid for the eye to find.

/// Tiles across and down, whatever the frame's size or aspect.
pub(crate) const TILES_X: usize = 16;
pub(crate) const TILES_Y: usize = 16;
/// Tiles on the longer count, which sets the smallest frame.
pub(crate) const TILES_MAX: usize = if TILES_X > TILES_Y { TILES_X } else { TILES_Y };
const TILE_COUNT: usize = TILES_X * TILES_Y;
/// Patterns per tile.
pub(crate) const PATTERNS: usize = 3;
/// Slots (one quantised value each) per frame.
pub(crate) const SLOTS: usize = TILE_COUNT * PATTERNS;

/// One axis of the grid: each pixel's tile, its `bump` (sin pi u) and `wave` (sin 2 pi u) values at
/// position u in the tile, and each tile's means of them (so the patterns are exactly zero-mean over
/// the pixels a tile really has, and the tile's brightness never leaks into them).
struct Axis {
    tile: Vec<usize>,
    bump: Vec<f32>,
    wave: Vec<f32>,
    mean_bump: Vec<f32>,
    mean_wave: Vec<f32>,
}

impl Axis {
    /// None when some tile would get fewer than `min_px` pixels.
    fn new(n: usize, tiles: usize, min_px: usize) -> Option<Axis> {
        let (mut tile, mut bump, mut wave) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut sum_bump, mut sum_wave, mut count) = (vec![0f64; tiles], vec![0f64; tiles], vec![0usize; tiles]);
        for i in 0..n {
            let pos = (i as f64 + 0.5) / n as f64 * tiles as f64;
            let t = (pos.floor() as usize).min(tiles - 1);
            let angle = std::f64::consts::PI * (pos - t as f64);
            tile.push(t);
            bump.push(angle.sin() as f32);
            wave.push((2.0 * angle).sin() as f32);
            sum_bump[t] += angle.sin();
            sum_wave[t] += (2.0 * angle).sin();
            count[t] += 1;
        }
        if count.iter().any(|&c| c < min_px) {
            return None;
        }
        let mean = |sum: Vec<f64>| sum.iter().zip(&count).map(|(s, &c)| (s / c as f64) as f32).collect();
        let (mean_bump, mean_wave) = (mean(sum_bump), mean(sum_wave));
        Some(Axis { tile, bump, wave, mean_bump, mean_wave })
    }
}

pub(crate) struct Grid {
    width: usize,
    x: Axis,
    y: Axis,
}

impl Grid {
    pub(crate) fn new(width: usize, height: usize, min_px: usize) -> Option<Grid> {
        Some(Grid { width, x: Axis::new(width, TILES_X, min_px)?, y: Axis::new(height, TILES_Y, min_px)? })
    }

    /// Calls `f(tile, patterns, pixel index)` for every pixel, row by row.
    fn for_each(&self, mut f: impl FnMut(usize, [f32; PATTERNS], usize)) {
        let (x, y) = (&self.x, &self.y);
        for row in 0..y.tile.len() {
            let ty = y.tile[row];
            let (yb, yw, myb, myw) = (y.bump[row], y.wave[row], y.mean_bump[ty], y.mean_wave[ty]);
            for col in 0..x.tile.len() {
                let tx = x.tile[col];
                let (xb, xw, mxb, mxw) = (x.bump[col], x.wave[col], x.mean_bump[tx], x.mean_wave[tx]);
                let pats = [xw * yb - mxw * myb, xb * yw - mxb * myw, xw * yw - mxw * myw];
                f(ty * TILES_X + tx, pats, row * self.width + col);
            }
        }
    }

    /// Each slot's amplitude in the luma plane: the least-squares coefficient of its pattern, which is
    /// what a resize keeps (in the same units) and what the embedder quantises.
    pub(crate) fn project(&self, luma: &[f32]) -> Vec<f32> {
        let mut num = vec![0f64; SLOTS];
        let mut den = vec![0f64; SLOTS];
        self.for_each(|t, pats, i| {
            let v = f64::from(luma[i]);
            for (s, p) in pats.iter().enumerate() {
                num[t * PATTERNS + s] += v * f64::from(*p);
                den[t * PATTERNS + s] += f64::from(p * p);
            }
        });
        num.iter().zip(&den).map(|(n, d)| if *d > 0.0 { (n / d) as f32 } else { 0.0 }).collect()
    }

    /// The luma change that moves every slot's amplitude by `change[slot]`, shaped by `mask` (the
    /// change goes where the mask is high). Within a tile the masked patterns are no longer
    /// orthogonal, so each tile solves a 3x3 system to hit all three amplitudes exactly.
    pub(crate) fn shaped_delta(&self, mask: &[f32], change: &[f32]) -> Vec<f32> {
        let tiles = TILE_COUNT;
        // a[t][s'][s] = sum(m * pat_s * pat_s') / sum(pat_s'^2)
        let mut a = vec![[[0f64; PATTERNS]; PATTERNS]; tiles];
        let mut den = vec![[0f64; PATTERNS]; tiles];
        self.for_each(|t, pats, i| {
            let m = f64::from(mask[i]);
            for r in 0..PATTERNS {
                den[t][r] += f64::from(pats[r] * pats[r]);
                for c in 0..PATTERNS {
                    a[t][r][c] += m * f64::from(pats[r] * pats[c]);
                }
            }
        });
        let coef: Vec<[f32; PATTERNS]> = (0..tiles)
            .map(|t| {
                let mut m = a[t];
                for (r, row) in m.iter_mut().enumerate() {
                    let d = den[t][r].max(1e-12);
                    row.iter_mut().for_each(|v| *v /= d);
                }
                let want: [f64; PATTERNS] = std::array::from_fn(|s| f64::from(change[t * PATTERNS + s]));
                solve3(&m, &want).map(|c| c.map(|v| v as f32)).unwrap_or([0.0; PATTERNS])
            })
            .collect();
        let mut delta = vec![0f32; mask.len()];
        self.for_each(|t, pats, i| {
            let c = &coef[t];
            delta[i] = mask[i] * (c[0] * pats[0] + c[1] * pats[1] + c[2] * pats[2]);
        });
        delta
    }

    /// The tile pixel `i` (row-major) falls in.
    pub(crate) fn tile_at(&self, i: usize) -> usize {
        self.y.tile[i / self.width] * TILES_X + self.x.tile[i % self.width]
    }

    /// Mean of `values` over each tile.
    pub(crate) fn tile_means(&self, values: &[f32]) -> Vec<f32> {
        let mut sum = vec![0f64; TILE_COUNT];
        let mut n = vec![0usize; TILE_COUNT];
        self.for_each(|t, _, i| {
            sum[t] += f64::from(values[i]);
            n[t] += 1;
        });
        sum.iter().zip(&n).map(|(s, &c)| (s / c.max(1) as f64) as f32).collect()
    }
}

/// Cramer's rule; None when the system is (nearly) singular.
fn solve3(m: &[[f64; 3]; 3], b: &[f64; 3]) -> Option<[f64; 3]> {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    if !d.is_finite() || d.abs() < 1e-9 {
        return None;
    }
    Some(std::array::from_fn(|c| {
        let mut mc = *m;
        for r in 0..3 {
            mc[r][c] = b[r];
        }
        det(&mc) / d
    }))
}

/// Local texture, for masking: the mean absolute difference from a 3x3 blur, averaged over 7x7.
/// High in detail and edges, near zero in flat sky and skin, where a mark would show.
pub(crate) fn activity(luma: &[f32], w: usize, h: usize) -> Vec<f32> {
    let blur = box_blur(luma, w, h, 1);
    let diff: Vec<f32> = luma.iter().zip(&blur).map(|(a, b)| (a - b).abs()).collect();
    box_blur(&diff, w, h, 3)
}

/// Separable box blur with clamped edges.
fn box_blur(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let pass = |src: &[f32], n: usize, stride: usize, lines: usize, step: usize| {
        let mut out = vec![0f32; src.len()];
        for l in 0..lines {
            let at = |i: usize| src[l * step + i * stride];
            for i in 0..n {
                let lo = i.saturating_sub(r);
                let hi = (i + r).min(n - 1);
                let s: f32 = (lo..=hi).map(at).sum();
                out[l * step + i * stride] = s / (hi - lo + 1) as f32;
            }
        }
        out
    };
    let horizontal = pass(v, w, 1, h, w);
    pass(&horizontal, h, w, w, 1)
}
