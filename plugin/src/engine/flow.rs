//! Dense motion between two frames by block matching: for every pixel of one frame, where the
//! same thing is in the other, and how sure the match is. Generated shots use it to carry a
//! source frame's own detail along with whatever moves next to a seam (see
//! [`super::generation::Shotclip::frame_matched`]). Pure functions on frame tensors.

use crate::frame_io::{box_blur, resize_cover, Frame};

/// Frames are matched at most this many pixels on their long side: motion fields are smooth, and
/// the cost stays a few milliseconds a frame whatever the output size.
pub const MATCH_LONG_SIDE: usize = 128;

/// Per pixel of frame `a`, the displacement to the place in frame `b` that shows the same thing
/// (`b(x + dx, y + dy) ≈ a(x, y)`), and a confidence in 0..1 (1: the neighbourhood matches to
/// within the model's flicker, 0: nothing in reach looks like it: new content, or motion faster
/// than the search reaches). Sizes and displacements are in pixels of the matched frames.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    pub width: usize,
    pub height: usize,
    pub dx: Vec<f32>,
    pub dy: Vec<f32>,
    pub confidence: Vec<f32>,
}

/// Root-mean-square patch differences (code values, RGB) at or under `SAME` count as the same
/// picture; from `DIFFERENT` on, as no match at all. A VAE's frame-to-frame flicker on a still
/// background stays well under the first; a moving object's edge compared at the wrong place is
/// far over the second.
const SAME: f32 = 0.02;
const DIFFERENT: f32 = 0.08;

/// In flat areas every displacement matches equally well: a tiny cost per squared pixel of
/// displacement keeps them still instead of sliding.
const STILLNESS: f32 = 1e-7;

impl Flow {
    /// No motion, full confidence.
    pub fn still(width: usize, height: usize) -> Flow {
        let n = width * height;
        Flow { width, height, dx: vec![0.0; n], dy: vec![0.0; n], confidence: vec![1.0; n] }
    }

    /// Block matching of `a` against `b` (same size; RGB, or the planes a grey frame has): every
    /// displacement within
    /// `search` pixels is scored by the squared difference over a `(2·patch + 1)²`
    /// neighbourhood; the best one is refined to sub-pixel precision by Lucas-Kanade steps, and
    /// the confidence follows the patch's difference after them. Pixels past the border repeat the
    /// border.
    ///
    /// # Panics
    /// If the frames differ in size or either has no channel.
    pub fn estimate(a: &Frame, b: &Frame, search: usize, patch: usize) -> Flow {
        assert_eq!((a.width, a.height), (b.width, b.height), "frames to match differ in size");
        let channels = matched_channels(a, b);
        assert!(channels > 0, "frames to match have no channel");
        let (w, h) = (a.width, a.height);
        let n = w * h;
        let r = search as isize;
        // The cheapest displacement per pixel so far (the first of equals, in scan order).
        let mut best_cost = vec![f32::INFINITY; n];
        let mut best = vec![(0isize, 0isize); n];
        let mut sq = vec![0.0f32; n];
        for oy in -r..=r {
            for ox in -r..=r {
                sq.iter_mut().for_each(|v| *v = 0.0);
                for c in 0..channels {
                    let (pa, pb) = (a.plane(c), b.plane(c));
                    for y in 0..h {
                        let yb = (y as isize + oy).clamp(0, h as isize - 1) as usize;
                        let (ra, rb) = (&pa[y * w..][..w], &pb[yb * w..][..w]);
                        for (x, s) in sq[y * w..][..w].iter_mut().enumerate() {
                            let xb = (x as isize + ox).clamp(0, w as isize - 1) as usize;
                            let d = ra[x] - rb[xb];
                            *s += d * d;
                        }
                    }
                }
                let penalty = STILLNESS * (ox * ox + oy * oy) as f32;
                for (i, v) in box_blur(&sq, w, h, patch).into_iter().enumerate() {
                    let cost = v / channels as f32 + penalty;
                    if cost < best_cost[i] {
                        (best_cost[i], best[i]) = (cost, (ox, oy));
                    }
                }
            }
        }
        let mut flow = Flow::still(w, h);
        for (i, &(ox, oy)) in best.iter().enumerate() {
            let (fx, fy, rms) = refine(a, b, i % w, i / w, (ox, oy), patch);
            flow.dx[i] = ox as f32 + fx;
            flow.dy[i] = oy as f32 + fy;
            flow.confidence[i] = ((DIFFERENT - rms) / (DIFFERENT - SAME)).clamp(0.0, 1.0);
        }
        flow
    }

    /// `self` takes frame a to b and `next` takes b to c: the flow from a to c, as sure as the
    /// less sure of the two steps.
    pub fn then(&self, next: &Flow) -> Flow {
        let mut out = self.clone();
        for i in 0..self.dx.len() {
            let (x, y) = ((i % self.width) as f32 + self.dx[i], (i / self.width) as f32 + self.dy[i]);
            let (dx, dy, c) = next.sample(x, y);
            out.dx[i] += dx;
            out.dy[i] += dy;
            out.confidence[i] = out.confidence[i].min(c);
        }
        out
    }

    /// Displacement and confidence at a point (bilinear, clamped to the frame).
    pub fn sample(&self, x: f32, y: f32) -> (f32, f32, f32) {
        let at = |v: &[f32]| bilinear(v, self.width, self.height, x, y);
        (at(&self.dx), at(&self.dy), at(&self.confidence))
    }
}

/// Sub-pixel refinement of the whole-pixel match `offset` of the patch around (`x`, `y`): a few
/// Lucas-Kanade steps (gradients of `a`, `b` sampled bilinearly) to the correction, at most
/// [`MAX_REFINE`] pixels each way, that best lines `b` up with `a`, and the patch's RMS difference
/// (RGB) there. A patch that matches exactly stays where it is; a flat one, with no gradient to
/// go by, too.
fn refine(a: &Frame, b: &Frame, x: usize, y: usize, offset: (isize, isize), patch: usize) -> (f32, f32, f32) {
    let (w, h) = (a.width, a.height);
    let clamp_x = |v: isize| v.clamp(0, w as isize - 1) as usize;
    let clamp_y = |v: isize| v.clamp(0, h as isize - 1) as usize;
    let p = patch as isize;
    // The patch's pixels of `a` with their gradients, per channel.
    let channels = matched_channels(a, b);
    let mut samples = Vec::with_capacity((2 * patch + 1).pow(2) * channels);
    let (mut sxx, mut sxy, mut syy) = (0f64, 0f64, 0f64);
    for qy in y as isize - p..=y as isize + p {
        for qx in x as isize - p..=x as isize + p {
            let (ax, ay) = (clamp_x(qx), clamp_y(qy));
            for c in 0..channels {
                let pa = a.plane(c);
                let at = |xx: usize, yy: usize| f64::from(pa[yy * w + xx]);
                let gx = (at(clamp_x(qx + 1), ay) - at(clamp_x(qx - 1), ay)) / 2.0;
                let gy = (at(ax, clamp_y(qy + 1)) - at(ax, clamp_y(qy - 1))) / 2.0;
                sxx += gx * gx;
                sxy += gx * gy;
                syy += gy * gy;
                samples.push((c, (qx + offset.0) as f64, (qy + offset.1) as f64, at(ax, ay), gx, gy));
            }
        }
    }
    // Damped a little: on a straight edge (gradient in one direction only) the patch moves only
    // across the edge, and a flat one stays.
    let damp = 1e-2 * (sxx + syy) + 1e-12;
    let det = (sxx + damp) * (syy + damp) - sxy * sxy;
    let residual = |fx: f64, fy: f64| {
        let (mut sxe, mut sye, mut see) = (0f64, 0f64, 0f64);
        for &(c, bx, by, av, gx, gy) in &samples {
            let e = f64::from(bilinear(b.plane(c), w, h, (bx + fx) as f32, (by + fy) as f32)) - av;
            sxe += gx * e;
            sye += gy * e;
            see += e * e;
        }
        (sxe, sye, see)
    };
    let (mut fx, mut fy) = (0f64, 0f64);
    let (mut sxe, mut sye, mut see) = residual(0.0, 0.0);
    for _ in 0..REFINE_STEPS {
        if see <= 1e-18 {
            break;
        }
        // Minimise sum (e + g·d)^2: S d = -(sxe, sye).
        let dx = (-(syy + damp) * sxe + sxy * sye) / det;
        let dy = (sxy * sxe - (sxx + damp) * sye) / det;
        let (nx, ny) = ((fx + dx).clamp(-MAX_REFINE, MAX_REFINE), (fy + dy).clamp(-MAX_REFINE, MAX_REFINE));
        let next = residual(nx, ny);
        if next.2 >= see {
            break;
        }
        (fx, fy, sxe, sye, see) = (nx, ny, next.0, next.1, next.2);
    }
    (fx as f32, fy as f32, (see / samples.len().max(1) as f64).sqrt() as f32)
}

/// The colour planes two frames are compared on: RGB, not alpha (fewer for grey frames).
fn matched_channels(a: &Frame, b: &Frame) -> usize {
    a.channels.min(b.channels).min(3)
}

/// Lucas-Kanade steps per match, and how far (pixels) they may move it from the whole-pixel one.
const REFINE_STEPS: usize = 4;
const MAX_REFINE: f64 = 0.75;

/// `plane` (`w`×`h`, row-major) at a point, bilinear, clamped to its edges.
pub fn bilinear(plane: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let (x, y) = (x.clamp(0.0, (w - 1) as f32), y.clamp(0.0, (h - 1) as f32));
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let top = plane[y0 * w + x0] * (1.0 - tx) + plane[y0 * w + x1] * tx;
    let bottom = plane[y1 * w + x0] * (1.0 - tx) + plane[y1 * w + x1] * tx;
    top * (1.0 - ty) + bottom * ty
}

/// The size frames of an output `size` are matched at: that shape, at most
/// [`MATCH_LONG_SIDE`] on the long side, never larger than the output.
pub fn match_size(size: (usize, usize)) -> (usize, usize) {
    let (w, h) = size;
    let long = w.max(h).max(1);
    if long <= MATCH_LONG_SIDE {
        return (w, h);
    }
    let scale = MATCH_LONG_SIDE as f64 / long as f64;
    (((w as f64 * scale).round() as usize).max(1), ((h as f64 * scale).round() as usize).max(1))
}

/// Search and patch radii for matching at `size`: motion of up to about 4 % of the frame's long
/// side per frame (3 pixels at the least), compared over 5×5 neighbourhoods (3×3 on tiny frames).
pub fn match_radii(size: (usize, usize)) -> (usize, usize) {
    let long = size.0.max(size.1);
    ((long / 24).clamp(3, 5), (long / 32).clamp(1, 2))
}

/// `frame` made ready for matching at `size`: covering it as the output does, after a blur
/// that keeps a large downscale from aliasing.
pub fn for_matching(frame: &Frame, size: (usize, usize)) -> Frame {
    let factor = (frame.width / size.0.max(1)).max(frame.height / size.1.max(1));
    if factor < 2 {
        return resize_cover(frame, size.0, size.1);
    }
    let mut soft = frame.clone();
    for c in 0..soft.channels {
        let blurred = box_blur(soft.plane(c), soft.width, soft.height, factor / 2);
        soft.plane_mut(c).copy_from_slice(&blurred);
    }
    resize_cover(&soft, size.0, size.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disc of radius `r` at (`cx`, `cy`) with a 2-pixel soft edge (as a decoder draws one) on
    /// a dark ramp, `w`×`h`, RGB.
    fn disc(w: usize, h: usize, cx: f32, cy: f32, r: f32) -> Frame {
        let mut f = Frame::new(3, h, w);
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                    let inside = ((r + 1.0 - d) / 2.0).clamp(0.0, 1.0);
                    let bg = 0.05 + 0.1 * x as f32 / w as f32;
                    f.plane_mut(c)[y * w + x] = bg + inside * (0.8 - 0.2 * c as f32);
                }
            }
        }
        f
    }

    #[test]
    fn identical_frames_are_still_and_sure() {
        let a = disc(32, 24, 12.0, 10.0, 5.0);
        let flow = Flow::estimate(&a, &a, 3, 2);
        assert!(flow.dx.iter().chain(&flow.dy).all(|&d| d.abs() < 1e-6));
        assert!(flow.confidence.iter().all(|&c| c == 1.0));
    }

    #[test]
    fn a_moved_disc_is_found_to_sub_pixel_precision() {
        // The disc is at x = 20.6 in `a` and x = 18.0 in `b`: its pixels point 2.6 px left.
        let (a, b) = (disc(40, 32, 20.6, 16.0, 6.0), disc(40, 32, 18.0, 16.0, 6.0));
        let flow = Flow::estimate(&a, &b, 4, 2);
        let edge = 16 * 40 + 26; // on the disc's right edge in `a`
        assert!((flow.dx[edge] + 2.6).abs() < 0.35, "dx {}", flow.dx[edge]);
        assert!(flow.dy[edge].abs() < 0.35, "dy {}", flow.dy[edge]);
        assert!(flow.confidence[edge] > 0.6, "confidence {}", flow.confidence[edge]);
        // Far from the disc the background stands still.
        assert_eq!((flow.dx[2 * 40 + 2], flow.dy[2 * 40 + 2]), (0.0, 0.0));
    }

    #[test]
    fn new_content_gets_no_confidence() {
        let a = disc(32, 32, 16.0, 16.0, 6.0);
        let mut b = a.clone();
        for c in 0..3 {
            b.plane_mut(c).iter_mut().for_each(|v| *v = 0.9 - *v); // an unrelated picture
        }
        let flow = Flow::estimate(&a, &b, 2, 2);
        assert!(flow.confidence[16 * 32 + 16] < 0.05);
    }

    #[test]
    fn grey_frames_match_on_their_one_plane() {
        let grey = |x: f32| {
            let rgb = disc(40, 32, x, 16.0, 6.0);
            Frame::from_vec(1, 32, 40, rgb.plane(0).to_vec()).unwrap()
        };
        let flow = Flow::estimate(&grey(20.6), &grey(18.0), 4, 2);
        let edge = 16 * 40 + 26;
        assert!((flow.dx[edge] + 2.6).abs() < 0.35, "dx {}", flow.dx[edge]);
    }

    #[test]
    fn flows_compose_along_a_chain() {
        let frames: Vec<Frame> = [24.0, 22.5, 21.0].iter().map(|&x| disc(40, 32, x, 16.0, 6.0)).collect();
        let ab = Flow::estimate(&frames[0], &frames[1], 3, 2);
        let bc = Flow::estimate(&frames[1], &frames[2], 3, 2);
        let ac = ab.then(&bc);
        let edge = 16 * 40 + 29;
        assert!((ac.dx[edge] + 3.0).abs() < 0.5, "dx {}", ac.dx[edge]);
        assert!(ac.confidence[edge] > 0.5);
    }

    #[test]
    fn sampling_interpolates_and_clamps() {
        let mut f = Flow::still(2, 1);
        f.dx = vec![0.0, 2.0];
        assert_eq!(f.sample(0.5, 0.0), (1.0, 0.0, 1.0));
        assert_eq!(f.sample(7.0, -3.0), (2.0, 0.0, 1.0));
    }

    #[test]
    fn match_sizes_keep_the_shape_and_cap_the_long_side() {
        assert_eq!(match_size((64, 64)), (64, 64));
        assert_eq!(match_size((1920, 1080)), (128, 72));
        assert_eq!(match_size((100, 300)), (43, 128));
        let big = disc(256, 128, 100.0, 64.0, 20.0);
        let small = for_matching(&big, (128, 64));
        assert_eq!((small.width, small.height), (128, 64));
    }
}
