//! Row kernels: one monomorphised loop per (depth, components, channels), picked once per call,
//! so the per-pixel loops have no branches on format and no bounds checks (fixed-size pixel
//! arrays from `as_chunks`, zipped plane slices) and can be vectorised.

use super::views::{Rows, RowsMut};
use super::{Components, PixelDepth};

/// Converts a band of source rows into the matching rows of four planes (the fourth unused,
/// and empty, for 3 channels). The last argument is the window width.
pub(super) type ReadBand = fn(Rows<'_>, [&mut [f32]; 4], usize);
/// Converts a band of planes rows into destination rows.
pub(super) type WriteBand = fn(RowsMut<'_>, [&[f32]; 4], usize);

/// One sample type. `PB` is the pixel size in bytes, `c` the component index; both are
/// compile-time constants after inlining, so every index folds away.
trait Sample {
    fn load<const PB: usize>(p: &[u8; PB], c: usize) -> f32;
    fn store<const PB: usize>(p: &mut [u8; PB], c: usize, v: f32);
    fn store_opaque<const PB: usize>(p: &mut [u8; PB], c: usize);
}

struct U8;
struct U16;
struct F32;

/// Clamp to [0, 1], scale to `[0, max]` and round half up. NaN becomes 0.
#[inline(always)]
fn quantise(v: f32, max: f32) -> i32 {
    // Written as comparisons so they lower to max/min instructions; `v > 0.0` is false for NaN.
    let v = if v > 0.0 { v } else { 0.0 };
    let v = if v < 1.0 { v } else { 1.0 };
    // SAFETY: `v * max + 0.5` is finite and in [0.5, max + 0.5] (max <= 65535), so truncating
    // it to i32 cannot overflow. The unchecked cast is a plain `cvttps2dq`; a saturating `as`
    // cast adds NaN/overflow fix-ups that made 8/16-bit output 2-2.6x slower.
    unsafe { (v * max + 0.5).to_int_unchecked::<i32>() }
}

impl Sample for U8 {
    #[inline(always)]
    fn load<const PB: usize>(p: &[u8; PB], c: usize) -> f32 {
        f32::from(p[c]) / 255.0
    }
    #[inline(always)]
    fn store<const PB: usize>(p: &mut [u8; PB], c: usize, v: f32) {
        p[c] = quantise(v, 255.0) as u8;
    }
    #[inline(always)]
    fn store_opaque<const PB: usize>(p: &mut [u8; PB], c: usize) {
        p[c] = u8::MAX;
    }
}

impl Sample for U16 {
    #[inline(always)]
    fn load<const PB: usize>(p: &[u8; PB], c: usize) -> f32 {
        f32::from(u16::from_ne_bytes([p[2 * c], p[2 * c + 1]])) / 65535.0
    }
    #[inline(always)]
    fn store<const PB: usize>(p: &mut [u8; PB], c: usize, v: f32) {
        let [lo, hi] = (quantise(v, 65535.0) as u16).to_ne_bytes();
        p[2 * c] = lo;
        p[2 * c + 1] = hi;
    }
    #[inline(always)]
    fn store_opaque<const PB: usize>(p: &mut [u8; PB], c: usize) {
        p[2 * c] = 0xff;
        p[2 * c + 1] = 0xff;
    }
}

impl Sample for F32 {
    #[inline(always)]
    fn load<const PB: usize>(p: &[u8; PB], c: usize) -> f32 {
        f32::from_ne_bytes([p[4 * c], p[4 * c + 1], p[4 * c + 2], p[4 * c + 3]])
    }
    #[inline(always)]
    fn store<const PB: usize>(p: &mut [u8; PB], c: usize, v: f32) {
        let b = v.to_ne_bytes();
        p[4 * c..4 * c + 4].copy_from_slice(&b);
    }
    #[inline(always)]
    fn store_opaque<const PB: usize>(p: &mut [u8; PB], c: usize) {
        Self::store(p, c, 1.0);
    }
}

/// Source with `SC` components into 4 planes (alpha 1.0 when the source has none).
// Not inlined: as a call, its slice arguments are `noalias`, which lets LLVM vectorise
// without runtime overlap checks (inlined into the band loop it stayed scalar).
#[inline(never)]
fn read_row4<S: Sample, const PB: usize, const SC: usize>(
    src: &[u8],
    r: &mut [f32],
    g: &mut [f32],
    b: &mut [f32],
    a: &mut [f32],
) {
    let (px, _) = src.as_chunks::<PB>();
    for ((((p, r), g), b), a) in px.iter().zip(r).zip(g).zip(b).zip(a) {
        *r = S::load(p, 0);
        *g = S::load(p, 1);
        *b = S::load(p, 2);
        *a = if SC == 4 { S::load(p, 3) } else { 1.0 };
    }
}

// Not inlined: as a call, its slice arguments are `noalias`, which lets LLVM vectorise
// without runtime overlap checks (inlined into the band loop it stayed scalar).
#[inline(never)]
fn read_row3<S: Sample, const PB: usize>(src: &[u8], r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
    let (px, _) = src.as_chunks::<PB>();
    for (((p, r), g), b) in px.iter().zip(r).zip(g).zip(b) {
        *r = S::load(p, 0);
        *g = S::load(p, 1);
        *b = S::load(p, 2);
    }
}

fn read_band<S: Sample, const PB: usize, const SC: usize, const DC: usize>(
    rows: Rows<'_>,
    planes: [&mut [f32]; 4],
    w: usize,
) {
    let [r, g, b, a] = planes;
    let rgb = r.chunks_exact_mut(w).zip(g.chunks_exact_mut(w)).zip(b.chunks_exact_mut(w));
    if DC == 4 {
        for (i, (((r, g), b), a)) in rgb.zip(a.chunks_exact_mut(w)).enumerate() {
            read_row4::<S, PB, SC>(rows.row(i), r, g, b, a);
        }
    } else {
        for (i, ((r, g), b)) in rgb.enumerate() {
            read_row3::<S, PB>(rows.row(i), r, g, b);
        }
    }
}

/// 4 planes into a destination with `SC` components (alpha dropped when it has none).
// Not inlined: as a call, its slice arguments are `noalias`, which lets LLVM vectorise
// without runtime overlap checks (inlined into the band loop it stayed scalar).
#[inline(never)]
fn write_row4<S: Sample, const PB: usize, const SC: usize>(dst: &mut [u8], r: &[f32], g: &[f32], b: &[f32], a: &[f32]) {
    let (px, _) = dst.as_chunks_mut::<PB>();
    for ((((p, r), g), b), a) in px.iter_mut().zip(r).zip(g).zip(b).zip(a) {
        S::store(p, 0, *r);
        S::store(p, 1, *g);
        S::store(p, 2, *b);
        if SC == 4 {
            S::store(p, 3, *a);
        }
    }
}

/// 3 planes into a destination with `SC` components (opaque alpha when it has one).
// Not inlined: as a call, its slice arguments are `noalias`, which lets LLVM vectorise
// without runtime overlap checks (inlined into the band loop it stayed scalar).
#[inline(never)]
fn write_row3<S: Sample, const PB: usize, const SC: usize>(dst: &mut [u8], r: &[f32], g: &[f32], b: &[f32]) {
    let (px, _) = dst.as_chunks_mut::<PB>();
    for (((p, r), g), b) in px.iter_mut().zip(r).zip(g).zip(b) {
        S::store(p, 0, *r);
        S::store(p, 1, *g);
        S::store(p, 2, *b);
        if SC == 4 {
            S::store_opaque(p, 3);
        }
    }
}

fn write_band<S: Sample, const PB: usize, const SC: usize, const DC: usize>(
    mut rows: RowsMut<'_>,
    planes: [&[f32]; 4],
    w: usize,
) {
    let [r, g, b, a] = planes;
    let rgb = r.chunks_exact(w).zip(g.chunks_exact(w)).zip(b.chunks_exact(w));
    if DC == 4 {
        for (i, (((r, g), b), a)) in rgb.zip(a.chunks_exact(w)).enumerate() {
            write_row4::<S, PB, SC>(rows.row_mut(i), r, g, b, a);
        }
    } else {
        for (i, ((r, g), b)) in rgb.enumerate() {
            write_row3::<S, PB, SC>(rows.row_mut(i), r, g, b);
        }
    }
}

/// Picks the band kernel for a format; `channels` is 3 or 4 (checked by the caller; anything
/// else is treated as 3).
pub(super) fn reader(depth: PixelDepth, components: Components, channels: usize) -> ReadBand {
    use Components::{Rgb, Rgba};
    macro_rules! pick {
        ($s:ty, $n:literal) => {
            match (components, channels == 4) {
                (Rgba, true) => read_band::<$s, { 4 * $n }, 4, 4>,
                (Rgba, false) => read_band::<$s, { 4 * $n }, 4, 3>,
                (Rgb, true) => read_band::<$s, { 3 * $n }, 3, 4>,
                (Rgb, false) => read_band::<$s, { 3 * $n }, 3, 3>,
            }
        };
    }
    match depth {
        PixelDepth::U8 => pick!(U8, 1),
        PixelDepth::U16 => pick!(U16, 2),
        PixelDepth::F32 => pick!(F32, 4),
    }
}

/// As [`reader`], for writing.
pub(super) fn writer(depth: PixelDepth, components: Components, channels: usize) -> WriteBand {
    use Components::{Rgb, Rgba};
    macro_rules! pick {
        ($s:ty, $n:literal) => {
            match (components, channels == 4) {
                (Rgba, true) => write_band::<$s, { 4 * $n }, 4, 4>,
                (Rgba, false) => write_band::<$s, { 4 * $n }, 4, 3>,
                (Rgb, true) => write_band::<$s, { 3 * $n }, 3, 4>,
                (Rgb, false) => write_band::<$s, { 3 * $n }, 3, 3>,
            }
        };
    }
    match depth {
        PixelDepth::U8 => pick!(U8, 1),
        PixelDepth::U16 => pick!(U16, 2),
        PixelDepth::F32 => pick!(F32, 4),
    }
}
