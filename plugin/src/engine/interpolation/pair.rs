//! The network's input pair: two frames padded to the graph's multiple, brought into its 0..1
//! range and held in its precision. Slow motion asks for many in-betweens of one pair of source
//! frames; the pairs prepared last are kept by content, so every later in-between of a pair runs
//! the network straight on them (at 4K two 100 MB buffers filled once, not once a frame).

use std::sync::{Arc, OnceLock};

use super::Variant;
use crate::cache::ByteLru;
use crate::engine::EngineError;
use crate::frame_io::{try_filled, try_zeroed, Frame};

/// How a pair of frames is padded for a variant: frame size, padded size, and the gain that brings
/// values above 1 (scene-linear float) into the network's 0..1 range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Padded {
    pub w: usize,
    pub h: usize,
    pub pw: usize,
    pub ph: usize,
    pub gain: f32,
}

impl Padded {
    /// Crops a padded plane (ph × pw) into `dst` (h × w), undoing the gain where asked (colour).
    pub fn crop(&self, plane: &[f32], dst: &mut [f32], ungain: bool) {
        let (w, pw) = (self.w, self.pw);
        for y in 0..self.h {
            dst[y * w..(y + 1) * w].copy_from_slice(&plane[y * pw..y * pw + w]);
        }
        if ungain && self.gain != 1.0 {
            dst.iter_mut().for_each(|v| *v /= self.gain);
        }
    }

    pub fn shape(&self) -> [usize; 4] {
        [1, 3, self.ph, self.pw]
    }
}

/// The two padded RGB inputs (1×3×ph×pw each), in the precision the graph takes.
pub(super) enum Planes {
    F32([Vec<f32>; 2]),
    F16([Vec<half::f16>; 2]),
}

/// A pair ready for the network.
pub(super) struct Prepared {
    pub padded: Padded,
    pub planes: Planes,
}

impl Prepared {
    fn bytes(&self) -> usize {
        match &self.planes {
            Planes::F32(p) => p.iter().map(|v| v.len() * 4).sum(),
            Planes::F16(p) => p.iter().map(|v| v.len() * 2).sum(),
        }
    }
}

/// Key: the two frames' content hashes, the padded size and the precision.
type Key = (u64, u64, usize, usize, bool);

/// Prepared pairs: 256 MiB (one 4K pair, several 1080p ones) unless `KINEMA_PAIR_CACHE_MB` says
/// otherwise; 0 keeps none.
fn cache() -> &'static ByteLru<Key, Prepared> {
    static CACHE: OnceLock<ByteLru<Key, Prepared>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let bytes = crate::settings::env_mib("KINEMA_PAIR_CACHE_MB", 256);
        ByteLru::new(usize::try_from(bytes).unwrap_or(usize::MAX))
    })
}

/// Drops the prepared pairs (OFX PurgeCaches).
pub fn purge() {
    cache().clear();
}

/// Bytes held by prepared pairs.
pub fn bytes() -> usize {
    cache().bytes()
}

/// The network inputs for `a` and `b` (a checked pair whose content hashes are `hashes`) at
/// `variant`'s padding, in half precision when `half`: from the cache, or made and kept.
pub(super) fn prepare(
    variant: &Variant,
    a: &Frame,
    b: &Frame,
    hashes: (u64, u64),
    half: bool,
) -> Result<Arc<Prepared>, EngineError> {
    let (w, h) = (a.width, a.height);
    let m = variant.pad_multiple;
    let (pw, ph) = (w.div_ceil(m) * m, h.div_ceil(m) * m);
    let key = (hashes.0, hashes.1, pw, ph, half);
    if let Some(hit) = cache().get(&key) {
        return Ok(hit);
    }
    let peak = rgb_peak(a).max(rgb_peak(b));
    let gain = if peak > 1.0 { 1.0 / peak } else { 1.0 };
    let padded = Padded { w, h, pw, ph, gain };
    let (x0, x1) = (padded_rgb(a, pw, ph, gain)?, padded_rgb(b, pw, ph, gain)?);
    let planes = if half { Planes::F16([to_f16(&x0)?, to_f16(&x1)?]) } else { Planes::F32([x0, x1]) };
    let prepared = Arc::new(Prepared { padded, planes });
    cache().insert(key, prepared.clone(), prepared.bytes());
    Ok(prepared)
}

/// Identifies frame content for the caches (xxh3 of the raw sample bits and the shape).
pub(super) fn content_hash(f: &Frame) -> u64 {
    // SAFETY: any initialised f32 slice is a valid byte slice of four times its length.
    let bytes = unsafe { std::slice::from_raw_parts(f.data.as_ptr().cast::<u8>(), f.data.len() * 4) };
    xxhash_rust::xxh3::xxh3_64_with_seed(
        bytes,
        ((f.channels as u64) << 48) ^ ((f.height as u64) << 24) ^ f.width as u64,
    )
}

fn rgb_peak(f: &Frame) -> f32 {
    (0..3).flat_map(|c| f.plane(c).iter().copied()).filter(|v| v.is_finite()).fold(0.0, f32::max)
}

/// RGB planes of `f` in a zero-padded `pw`×`ph` canvas (padding right and bottom, as RIFE's
/// reference inference does), multiplied by `gain`.
pub(super) fn padded_rgb(f: &Frame, pw: usize, ph: usize, gain: f32) -> Result<Vec<f32>, EngineError> {
    let n = pw.checked_mul(ph).and_then(|n| n.checked_mul(3)).unwrap_or(usize::MAX);
    let mut out = try_zeroed(n, &format!("the network's {pw}x{ph} input frames"))?;
    for c in 0..3 {
        let src = f.plane(c);
        for y in 0..f.height {
            let row = &src[y * f.width..(y + 1) * f.width];
            let dst = &mut out[c * pw * ph + y * pw..c * pw * ph + y * pw + f.width];
            for (d, s) in dst.iter_mut().zip(row) {
                *d = if s.is_finite() { s * gain } else { 0.0 };
            }
        }
    }
    Ok(out)
}

/// The network's half-precision input.
fn to_f16(v: &[f32]) -> Result<Vec<half::f16>, EngineError> {
    let mut out = try_filled(v.len(), half::f16::ZERO, "the network's half-precision input frames")?;
    out.iter_mut().zip(v).for_each(|(o, &x)| *o = half::f16::from_f32(x));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::interpolation::Precision;

    fn variant(pad_multiple: usize) -> Variant {
        Variant {
            file: "x.onnx".into(),
            scale: 1.0,
            precision: Precision::Fp32,
            pad_multiple,
            external_data: None,
            matte_file: None,
        }
    }

    fn frame(seed: f32, peak: f32) -> Frame {
        let mut f = Frame::new(3, 5, 7);
        f.data.iter_mut().enumerate().for_each(|(i, v)| *v = ((i as f32 * 0.37 + seed).sin() * 0.5 + 0.5) * peak);
        f
    }

    #[test]
    fn padding_buffers_of_impossible_sizes_are_errors_not_aborts() {
        let frame = Frame::new(3, 2, 2);
        let err = padded_rgb(&frame, 1 << 31, 1 << 31, 1.0).unwrap_err().to_string();
        assert!(err.contains("not enough memory for the network's 2147483648x2147483648 input frames"), "{err}");
        assert_eq!(padded_rgb(&frame, 4, 4, 1.0).unwrap().len(), 48);
    }

    #[test]
    fn a_pair_is_prepared_once_per_content_padding_and_precision() {
        let (a, b) = (frame(0.1, 1.0), frame(0.9, 1.0));
        let hashes = (content_hash(&a), content_hash(&b));
        let first = prepare(&variant(8), &a, &b, hashes, false).unwrap();
        assert!(Arc::ptr_eq(&first, &prepare(&variant(8), &a, &b, hashes, false).unwrap()));
        assert!(!Arc::ptr_eq(&first, &prepare(&variant(16), &a, &b, hashes, false).unwrap()));
        let half = prepare(&variant(8), &a, &b, hashes, true).unwrap();
        assert!(matches!(half.planes, Planes::F16(_)));
        let swapped = prepare(&variant(8), &b, &a, (hashes.1, hashes.0), false).unwrap();
        let (Planes::F32(p), Planes::F32(q)) = (&first.planes, &swapped.planes) else { panic!("fp32") };
        assert_eq!((&p[0], &p[1]), (&q[1], &q[0]));
        // Padded to 8×8, the frame top-left, zeros right and below.
        assert_eq!(first.padded, Padded { w: 7, h: 5, pw: 8, ph: 8, gain: 1.0 });
        assert_eq!(p[0][..7], a.plane(0)[..7]);
        assert_eq!(p[0][7], 0.0);
        assert!(p[0][5 * 8..8 * 8].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn scene_linear_pairs_share_one_gain_and_crop_undoes_it() {
        let (a, b) = (frame(0.3, 4.0), frame(0.6, 2.0));
        let prepared = prepare(&variant(4), &a, &b, (content_hash(&a), content_hash(&b)), false).unwrap();
        let Planes::F32(p) = &prepared.planes else { panic!("fp32") };
        let peak = a.data.iter().chain(&b.data).copied().fold(0.0, f32::max);
        assert_eq!(prepared.padded.gain, 1.0 / peak);
        assert!(p.iter().flatten().all(|&v| v <= 1.0));
        let mut back = vec![0.0; 35];
        prepared.padded.crop(&p[0][..prepared.padded.pw * prepared.padded.ph], &mut back, true);
        back.iter().zip(a.plane(0)).for_each(|(x, y)| assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0)));
    }
}
