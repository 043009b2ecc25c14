//! Bilinear resampling of frames, for model input sizes and proxy (render-scale) renders.

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
fn taps(input: usize, output: usize) -> Vec<Tap> {
    let scale = input as f64 / output as f64;
    (0..output)
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
    let mut out = Frame::new(frame.channels, height, width);
    if frame.width == 0 || frame.height == 0 || width == 0 || height == 0 {
        return out;
    }
    let xs = taps(frame.width, width);
    let ys = taps(frame.height, height);
    let sw = frame.width;
    for c in 0..frame.channels {
        let src = frame.plane(c);
        let dst = out.plane_mut(c);
        for (row, y) in dst.chunks_exact_mut(width).zip(&ys) {
            let r0 = &src[y.i0 * sw..(y.i0 + 1) * sw];
            let r1 = &src[y.i1 * sw..(y.i1 + 1) * sw];
            let (ty0, ty1) = (1.0 - y.t, y.t);
            for (o, x) in row.iter_mut().zip(&xs) {
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
/// it: how a shot of another shape fills the host's frame without distortion.
pub fn resize_cover(frame: &Frame, width: usize, height: usize) -> Frame {
    if (frame.width, frame.height) == (width, height) || frame.width == 0 || frame.height == 0 {
        return resize_bilinear(frame, width, height);
    }
    let scale = (width as f64 / frame.width as f64).max(height as f64 / frame.height as f64);
    let (sw, sh) = (
        ((frame.width as f64 * scale).round() as usize).max(width),
        ((frame.height as f64 * scale).round() as usize).max(height),
    );
    let scaled = resize_bilinear(frame, sw, sh);
    scaled.crop((sw - width) / 2, (sh - height) / 2, width, height).expect("the scaled frame covers the target")
}
