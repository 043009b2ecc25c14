//! Cheap frame comparisons that decide where interpolation must not run: hard cuts (morphing
//! across one makes a ghostly cross-fade) and frozen/duplicated frames (to be repaired).
//! Pure functions on frame tensors; only the RGB planes are compared.

use crate::frame_io::Frame;

/// Mean absolute difference of the RGB planes, in the frames' own units (0..1 for 8/16-bit).
/// Frames of different sizes compare as completely different.
pub fn mean_abs_difference(a: &Frame, b: &Frame) -> f32 {
    if (a.width, a.height) != (b.width, b.height) || a.channels < 3 || b.channels < 3 {
        return f32::INFINITY;
    }
    let mut total = 0f64;
    for c in 0..3 {
        let sum: f32 = a.plane(c).iter().zip(b.plane(c)).map(|(x, y)| (x - y).abs()).sum();
        total += f64::from(sum);
    }
    (total / (3 * a.plane_len()) as f64) as f32
}

/// True when `b` repeats `a` (a frozen or duplicated frame): their mean difference is at most
/// `threshold`.
pub fn is_duplicate(a: &Frame, b: &Frame, threshold: f32) -> bool {
    mean_abs_difference(a, b) <= threshold
}

const BINS: usize = 8;
const GRID: (usize, usize) = (16, 9);

/// How much the picture content changes from `a` to `b`, in 0..1: the larger of the colour
/// histogram distance (a new shot has a new palette; motion inside a shot keeps it) and the
/// mean difference of coarse block averages (a new shot with a similar palette still moves its
/// masses). On real footage (the RIFE fixtures) neighbouring frames with fast motion score
/// below 0.1 and cuts between shots of one film above 0.34.
pub fn cut_score(a: &Frame, b: &Frame) -> f32 {
    if (a.width, a.height) != (b.width, b.height) || a.channels < 3 || b.channels < 3 {
        return 1.0;
    }
    let (ha, hb) = (histogram(a), histogram(b));
    let hist: f32 = ha.iter().zip(&hb).map(|(x, y)| (x - y).abs()).sum::<f32>() / 2.0;
    let (ba, bb) = (block_means(a), block_means(b));
    let blocks: f32 = ba.iter().zip(&bb).map(|(x, y)| (x - y).abs()).sum::<f32>() / ba.len().max(1) as f32;
    hist.max(blocks).min(1.0)
}

/// A hard cut lies between `a` and `b` at this `sensitivity` (0 = never, 1 = most eager).
pub fn is_cut(a: &Frame, b: &Frame, sensitivity: f32) -> bool {
    if sensitivity <= 0.0 {
        return false;
    }
    cut_score(a, b) > cut_threshold(sensitivity)
}

/// The score above which a change counts as a cut: 0.45 at sensitivity → 0, 0.25 at the
/// default 0.5, 0.05 at 1.
pub fn cut_threshold(sensitivity: f32) -> f32 {
    0.45 - 0.4 * sensitivity.clamp(0.0, 1.0)
}

fn bin(v: f32) -> usize {
    ((v.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1)
}

/// Normalised joint RGB histogram, every second pixel in each direction.
fn histogram(f: &Frame) -> Vec<f32> {
    let mut h = vec![0f32; BINS * BINS * BINS];
    let (r, g, b) = (f.plane(0), f.plane(1), f.plane(2));
    let mut n = 0usize;
    for y in (0..f.height).step_by(2) {
        for x in (0..f.width).step_by(2) {
            let i = y * f.width + x;
            h[(bin(r[i]) * BINS + bin(g[i])) * BINS + bin(b[i])] += 1.0;
            n += 1;
        }
    }
    h.iter_mut().for_each(|v| *v /= n.max(1) as f32);
    h
}

/// Mean of each channel over a coarse grid of blocks.
fn block_means(f: &Frame) -> Vec<f32> {
    let (gw, gh) = (GRID.0.min(f.width.max(1)), GRID.1.min(f.height.max(1)));
    let mut out = Vec::with_capacity(gw * gh * 3);
    for c in 0..3 {
        let plane = f.plane(c);
        for by in 0..gh {
            let (y0, y1) = (by * f.height / gh, ((by + 1) * f.height / gh).max(by * f.height / gh + 1));
            for bx in 0..gw {
                let (x0, x1) = (bx * f.width / gw, ((bx + 1) * f.width / gw).max(bx * f.width / gw + 1));
                let mut sum = 0f32;
                for y in y0..y1.min(f.height) {
                    sum += plane[y * f.width + x0..y * f.width + x1.min(f.width)]
                        .iter()
                        .map(|v| v.clamp(0.0, 1.0))
                        .sum::<f32>();
                }
                out.push(sum / ((y1 - y0) * (x1 - x0)) as f32);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth background with a disc at `cx`: one "shot" with its own palette.
    fn scene(w: usize, h: usize, cx: f32, palette: [[f32; 3]; 2]) -> Frame {
        let mut f = Frame::new(3, h, w);
        for (c, (background, disc)) in palette[0].iter().zip(palette[1]).enumerate() {
            let plane = f.plane_mut(c);
            for y in 0..h {
                for x in 0..w {
                    let inside =
                        (x as f32 - cx).powi(2) + (y as f32 - h as f32 / 2.0).powi(2) < (h as f32 / 4.0).powi(2);
                    let base = background * (0.7 + 0.3 * y as f32 / h as f32);
                    plane[y * w + x] = if inside { disc } else { base };
                }
            }
        }
        f
    }

    const BLUE_RED: [[f32; 3]; 2] = [[0.1, 0.2, 0.6], [0.9, 0.1, 0.1]];
    const GREEN_YELLOW: [[f32; 3]; 2] = [[0.2, 0.6, 0.2], [0.95, 0.9, 0.2]];

    #[test]
    fn motion_inside_a_shot_is_not_a_cut_but_a_new_shot_is() {
        let a = scene(160, 90, 60.0, BLUE_RED);
        let moved = scene(160, 90, 72.0, BLUE_RED);
        let other = scene(160, 90, 60.0, GREEN_YELLOW);
        assert!(cut_score(&a, &moved) < cut_threshold(0.5), "motion scored {}", cut_score(&a, &moved));
        assert!(cut_score(&a, &other) > cut_threshold(0.5), "cut scored {}", cut_score(&a, &other));
        assert!(!is_cut(&a, &moved, 0.5) && is_cut(&a, &other, 0.5));
        assert!(!is_cut(&a, &other, 0.0), "sensitivity 0 turns the guard off");
        assert_eq!(cut_score(&a, &a), 0.0);
    }

    #[test]
    fn duplicates_are_frames_within_the_threshold() {
        let a = scene(64, 36, 20.0, BLUE_RED);
        let mut nearly = a.clone();
        nearly.plane_mut(0)[5] += 0.01;
        assert!(is_duplicate(&a, &a, 0.0));
        assert!(is_duplicate(&a, &nearly, 0.001));
        assert!(!is_duplicate(&a, &scene(64, 36, 30.0, BLUE_RED), 0.001));
        assert_eq!(mean_abs_difference(&a, &scene(32, 36, 20.0, BLUE_RED)), f32::INFINITY);
    }

    /// A committed fixture picture (repository-relative path) as an RGB frame in 0..1.
    fn fixture(path: &str) -> Frame {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
        let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut f = Frame::new(3, h, w);
        for (i, p) in img.pixels().enumerate() {
            for c in 0..3 {
                f.plane_mut(c)[i] = f32::from(p[c]) / 255.0;
            }
        }
        f
    }

    /// The threshold was tuned on the RIFE fixtures' `_0`/`_1` frames (frames i and i + 2 of four
    /// shots). Held out from that: the real middle frames `_mid`, proxy-size copies, quarter-frame
    /// crops (a tighter framing of the same footage), and Kinema-tiny's and the LTX fixtures'
    /// generated clips. Cuts join two different shots; motion is one frame step within a shot.
    #[test]
    fn held_out_cuts_and_motion_are_decided_right_at_the_default_sensitivity() {
        let shots = ["bikes_040", "bikes_063", "bikes_150", "bikes_196"];
        let rife = |name: String| fixture(&format!("models/rife/fixtures/{name}.png"));
        let proxy = |f: &Frame| crate::frame_io::resize_bilinear(f, 160, 96);
        let quarters = [(0, 0), (160, 0), (0, 96), (160, 96)];
        let quarter = |f: &Frame, (x, y): (usize, usize)| f.crop(x, y, 160, 96).unwrap();
        let mut cuts: Vec<(String, Frame, Frame)> = Vec::new();
        let mut motion: Vec<(String, Frame, Frame)> = Vec::new();
        for (i, a) in shots.iter().enumerate() {
            for b in &shots[i + 1..] {
                let (x, y) = (rife(format!("{a}_mid")), rife(format!("{b}_mid")));
                cuts.push((format!("{a} | {b} proxy"), proxy(&x), proxy(&y)));
                for q in quarters {
                    cuts.push((format!("{a} | {b} quarter {q:?}"), quarter(&x, q), quarter(&y, q)));
                }
                cuts.push((format!("{a} | {b}"), x, y));
            }
            let (f0, mid, f1) = (rife(format!("{a}_0")), rife(format!("{a}_mid")), rife(format!("{a}_1")));
            for (step, x, y) in [("0 > mid", &f0, &mid), ("mid > 1", &mid, &f1)] {
                motion.push((format!("{a} {step}"), x.clone(), y.clone()));
                motion.push((format!("{a} {step} proxy"), proxy(x), proxy(y)));
                for q in quarters {
                    motion.push((format!("{a} {step} quarter {q:?}"), quarter(x, q), quarter(y, q)));
                }
            }
        }
        let tiny = |i: usize| fixture(&format!("models/kinema-tiny/fixtures/extend_source/{i:04}.png"));
        let ltx = |name: &str| fixture(&format!("models/ltx/fixtures/{name}.png"));
        let small = |f: &Frame| crate::frame_io::resize_bilinear(f, 64, 64);
        for name in ["i2v_image", "keyframe_last", "cond_video_0"] {
            cuts.push((format!("kinema-tiny | ltx {name}"), tiny(0), small(&ltx(name))));
        }
        for a in shots {
            cuts.push((format!("kinema-tiny | {a}"), tiny(8), small(&rife(format!("{a}_mid")))));
        }
        for i in 0..16 {
            motion.push((format!("kinema-tiny {i} > {}", i + 1), tiny(i), tiny(i + 1)));
        }
        for i in 0..4 {
            motion.push((
                format!("ltx cond_video {i} > {}", i + 1),
                ltx(&format!("cond_video_{i}")),
                ltx(&format!("cond_video_{}", i + 1)),
            ));
        }
        assert_eq!((cuts.len(), motion.len()), (43, 68));
        let missed: Vec<String> = cuts
            .iter()
            .filter(|(_, a, b)| !is_cut(a, b, 0.5))
            .map(|(name, a, b)| format!("{name}: {:.3}", cut_score(a, b)))
            .collect();
        let false_cuts: Vec<String> = motion
            .iter()
            .filter(|(_, a, b)| is_cut(a, b, 0.5))
            .map(|(name, a, b)| format!("{name}: {:.3}", cut_score(a, b)))
            .collect();
        assert!(missed.is_empty(), "cuts scored at or below {}: {missed:#?}", cut_threshold(0.5));
        assert!(false_cuts.is_empty(), "motion scored above {}: {false_cuts:#?}", cut_threshold(0.5));
    }
}
