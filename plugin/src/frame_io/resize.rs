//! Resampling and smoothing of frames: bilinear resizes for model input sizes and proxy
//! (render-scale) renders, box blurs for smooth colour corrections.

use super::Frame;

/// Source taps for one output coordinate: `out = (1 - t) * in[i0] + t * in[i1]`.
#[derive(Clone, Copy, Debug)]
struct Tap {
    i0: usize,
    i1: usize,
    t: f32,
}

/// Taps with half-pixel centres, as PyTorch `interpolate(mode="bilinear", align_corners=False)`:
/// output pixel centre `o + 0.5` maps to input `(o + 0.5) * in/out - 0.5`, clamped at the edges.
/// Only outputs `first..first + count` of the `output`-long line: a crop of a huge scale costs
/// only what it keeps.
fn taps(input: usize, output: usize, first: usize, count: usize) -> Vec<Tap> {
    let scale = input as f64 / output as f64;
    (first..first + count)
        .map(|o| {
            let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            Tap { i0, i1, t: (src - i0 as f64).clamp(0.0, 1.0) as f32 }
        })
        .collect()
}

/// Resizes every channel to `width` x `height` with bilinear filtering (half-pixel centres, like
/// PyTorch `align_corners=False`, no antialiasing). Same size returns an exact copy; an empty
/// source gives a zeroed frame.
///
/// # Panics
/// If `frame.data` is shorter than its shape says (see [`Frame::check_len`]), or the output size
/// overflows `usize`.
pub fn resize_bilinear(frame: &Frame, width: usize, height: usize) -> Frame {
    if (frame.width, frame.height) == (width, height) {
        return frame.clone();
    }
    if frame.width == 0 || frame.height == 0 || width == 0 || height == 0 {
        return Frame::new(frame.channels, height, width);
    }
    let xs = taps(frame.width, width, 0, width);
    let ys = taps(frame.height, height, 0, height);
    sample(frame, &xs, &ys)
}

/// The frame sampled at the given column and row taps.
fn sample(frame: &Frame, xs: &[Tap], ys: &[Tap]) -> Frame {
    let (width, height) = (xs.len(), ys.len());
    let mut out = Frame::new(frame.channels, height, width);
    let sw = frame.width;
    for c in 0..frame.channels {
        let src = frame.plane(c);
        let dst = out.plane_mut(c);
        for (row, y) in dst.chunks_exact_mut(width).zip(ys) {
            let r0 = &src[y.i0 * sw..(y.i0 + 1) * sw];
            let r1 = &src[y.i1 * sw..(y.i1 + 1) * sw];
            let (ty0, ty1) = (1.0 - y.t, y.t);
            for (o, x) in row.iter_mut().zip(xs) {
                let (tx0, tx1) = (1.0 - x.t, x.t);
                let top = tx0 * r0[x.i0] + tx1 * r0[x.i1];
                let bottom = tx0 * r1[x.i0] + tx1 * r1[x.i1];
                *o = ty0 * top + ty1 * bottom;
            }
        }
    }
    out
}

/// `frame` scaled to cover `width`×`height` (keeping its aspect ratio) and centre-cropped to
/// it: how a shot of another shape fills the host's frame without distortion. Only the kept
/// part is computed (the same values as scaling whole and cropping): a 64×64 shot covering a
/// 32768×1 output would otherwise scale to 32768×32768 first.
pub fn resize_cover(frame: &Frame, width: usize, height: usize) -> Frame {
    if (frame.width, frame.height) == (width, height)
        || frame.width == 0
        || frame.height == 0
        || width == 0
        || height == 0
    {
        return resize_bilinear(frame, width, height);
    }
    let scale = (width as f64 / frame.width as f64).max(height as f64 / frame.height as f64);
    let (sw, sh) = (
        ((frame.width as f64 * scale).round() as usize).max(width),
        ((frame.height as f64 * scale).round() as usize).max(height),
    );
    let xs = taps(frame.width, sw, (sw - width) / 2, width);
    let ys = taps(frame.height, sh, (sh - height) / 2, height);
    sample(frame, &xs, &ys)
}

/// A box blur of one `width`×`height` plane (row-major) with a `(2·radius + 1)²` window, edges
/// clamped (pixels past the border repeat the border). Separable, with running sums, so the cost
/// does not grow with the radius; two passes approximate a wide Gaussian cheaply. Sums run in
/// `f64` so long rows do not drift. Radius 0 or an empty plane returns the input.
///
/// # Panics
/// If `plane` is shorter than `width * height`.
pub fn box_blur(plane: &[f32], width: usize, height: usize, radius: usize) -> Vec<f32> {
    let n = width * height;
    let plane = &plane[..n];
    if radius == 0 || n == 0 {
        return plane.to_vec();
    }
    let mut rows = vec![0.0; n];
    for (src, dst) in plane.chunks_exact(width).zip(rows.chunks_exact_mut(width)) {
        blur_line(width, radius, |i| src[i], |i, v| dst[i] = v);
    }
    // Vertically, a running sum per column, a whole row at a time (cache-friendly).
    let row = |y: isize| &rows[y.clamp(0, height as isize - 1) as usize * width..][..width];
    let r = radius as isize;
    let scale = 1.0 / (2 * radius + 1) as f64;
    let mut sums = vec![0.0f64; width];
    for y in -r..=r {
        sums.iter_mut().zip(row(y)).for_each(|(s, &v)| *s += f64::from(v));
    }
    let mut out = vec![0.0; n];
    for (y, dst) in out.chunks_exact_mut(width).enumerate() {
        dst.iter_mut().zip(&sums).for_each(|(d, &s)| *d = (s * scale) as f32);
        let (add, sub) = (row(y as isize + r + 1), row(y as isize - r));
        for ((s, &a), &b) in sums.iter_mut().zip(add).zip(sub) {
            *s += f64::from(a) - f64::from(b);
        }
    }
    out
}

/// Box-filters one line of `len` samples read through `get`, writing through `set`.
fn blur_line(len: usize, radius: usize, get: impl Fn(usize) -> f32, mut set: impl FnMut(usize, f32)) {
    let at = |i: isize| f64::from(get(i.clamp(0, len as isize - 1) as usize));
    let r = radius as isize;
    let scale = 1.0 / (2 * radius + 1) as f64;
    let mut sum: f64 = (-r..=r).map(at).sum();
    for i in 0..len as isize {
        set(i as usize, (sum * scale) as f32);
        sum += at(i + r + 1) - at(i - r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cover_computes_only_the_kept_part_with_the_values_of_a_whole_scale_and_crop() {
        let frame = Frame::from_vec(2, 5, 7, (0..70).map(|v| (v as f32 * 0.37).sin()).collect()).unwrap();
        for (w, h) in [(7, 5), (14, 3), (3, 14), (20, 20), (4, 4), (30, 1), (1, 30)] {
            let scale = (w as f64 / 7.0).max(h as f64 / 5.0);
            let (sw, sh) = (((7.0 * scale).round() as usize).max(w), ((5.0 * scale).round() as usize).max(h));
            let whole = resize_bilinear(&frame, sw, sh).crop((sw - w) / 2, (sh - h) / 2, w, h).unwrap();
            assert_eq!(resize_cover(&frame, w, h), whole, "{w}x{h}");
        }
        // A degenerate shape: a 64x64 shot covering 32768x1 would scale to 32768x32768 (12 GiB)
        // before cropping; here it costs the output row.
        let out = resize_cover(&Frame::new(3, 64, 64), 32768, 1);
        assert_eq!((out.width, out.height, out.data.len()), (32768, 1, 3 * 32768));
    }

    #[test]
    fn box_blur_keeps_constants_and_radius_zero_is_the_input() {
        let plane = vec![0.37f32; 7 * 5];
        for radius in [1, 2, 9] {
            assert!(box_blur(&plane, 7, 5, radius).iter().all(|v| (v - 0.37).abs() < 1e-6), "radius {radius}");
        }
        let noisy: Vec<f32> = (0..35).map(|i| ((i * 7919) % 13) as f32 - 6.5).collect();
        assert_eq!(box_blur(&noisy, 7, 5, 0), noisy);
        assert!(box_blur(&[], 0, 4, 3).is_empty());
    }

    #[test]
    fn box_blur_keeps_a_linear_ramp_away_from_the_borders() {
        let (w, h, r) = (20, 14, 3);
        let ramp = |x: usize, y: usize| 0.05 * x as f32 - 0.03 * y as f32 + 0.2;
        let plane: Vec<f32> = (0..w * h).map(|i| ramp(i % w, i / w)).collect();
        let out = box_blur(&plane, w, h, r);
        for y in r..h - r {
            for x in r..w - r {
                assert!((out[y * w + x] - ramp(x, y)).abs() < 1e-5, "({x},{y}): {} vs {}", out[y * w + x], ramp(x, y));
            }
        }
    }

    #[test]
    fn box_blur_spreads_a_spike_and_keeps_its_sum() {
        let (w, h, r) = (15, 11, 2);
        let mut plane = vec![0.0f32; w * h];
        plane[5 * w + 7] = 25.0;
        let out = box_blur(&plane, w, h, r);
        assert!((out.iter().sum::<f32>() - 25.0).abs() < 1e-4);
        for y in 0..h {
            for x in 0..w {
                let inside = x.abs_diff(7) <= r && y.abs_diff(5) <= r;
                let want = if inside { 1.0 } else { 0.0 };
                assert!((out[y * w + x] - want).abs() < 1e-6, "({x},{y}) = {}", out[y * w + x]);
            }
        }
    }

    #[test]
    fn resize_matches_pytorch_half_pixel_bilinear() {
        // torch.nn.functional.interpolate(x, size=(1, 4), mode="bilinear", align_corners=False)
        // on [[0, 1]] gives [0, 0.25, 0.75, 1].
        let f = Frame::from_vec(1, 1, 2, vec![0.0, 1.0]).unwrap();
        assert_eq!(resize_bilinear(&f, 4, 1).data, vec![0.0, 0.25, 0.75, 1.0]);
        // Downscale by 2 samples between pixel pairs: [0, 1, 2, 3] -> [0.5, 2.5].
        let f = Frame::from_vec(1, 1, 4, vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(resize_bilinear(&f, 2, 1).data, vec![0.5, 2.5]);
        // Vertical axis too, per channel: 2x2 -> 1x1 averages everything.
        let f = Frame::from_vec(2, 2, 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0]).unwrap();
        let r = resize_bilinear(&f, 1, 1);
        assert_eq!(r.shape(), [1, 2, 1, 1]);
        assert_eq!(r.data, vec![1.5, 4.0]);
        // Same size is an exact copy (even of non-finite values); empty sizes give empty frames.
        let f = Frame::from_vec(1, 1, 2, vec![f32::INFINITY, f32::NAN]).unwrap();
        assert_eq!(resize_bilinear(&f, 2, 1).data[0], f32::INFINITY);
        assert!(resize_bilinear(&f, 2, 1).data[1].is_nan());
        assert_eq!(resize_bilinear(&f, 0, 3).shape(), [1, 1, 3, 0]);
        assert_eq!(resize_bilinear(&Frame::new(3, 0, 0), 2, 2), Frame::new(3, 2, 2));
    }

    proptest! {
        /// A constant frame stays constant at any size (weights sum to one).
        #[test]
        fn resize_keeps_constants(w in 1usize..9, h in 1usize..9, ow in 1usize..17, oh in 1usize..17, v in -4.0f32..4.0) {
            let f = Frame::from_vec(3, h, w, vec![v; 3 * w * h]).unwrap();
            let r = resize_bilinear(&f, ow, oh);
            prop_assert_eq!(r.shape(), [1, 3, oh, ow]);
            for &x in &r.data {
                prop_assert!((x - v).abs() <= 1e-6 * v.abs().max(1.0));
            }
        }
    }
}
