//! Serving a generated shot frame by frame: a shot index to its clip frame, and each frame matched
//! to the source frames the shot joins (Extend's seam, Animate's keyframes), so the cut between
//! source and generated frames does not jump.

use std::sync::{Arc, OnceLock, Weak};

use super::pieces::{FrameRef, ShotFrames};
use crate::cache::ByteLru;
use crate::clip_cache::GeneratedClip;
use crate::engine::flow::{self, bilinear, Flow};
use crate::engine::EngineError;
use crate::frame_io::{box_blur, resize_cover, Frame};

/// A generated clip and where the shot's frame 0 (Text, Animate) or the source end (Extend) sits.
pub struct Shotclip {
    pub frames: ShotFrames,
    /// Clip frame of shot index `i` is `anchor + sign·i`.
    pub anchor: usize,
    pub backward: bool,
    /// How a shot longer than the model's window was cut (None: one window).
    pub windows: Option<super::ShotWindows>,
    /// Whether and for what the shot's frames were reviewed, for the Status line.
    pub reviewed: String,
    /// What the watermark on its frames says.
    pub provenance: kinema_watermark::Payload,
}

/// A frame that may need decoding first: `None` past the shot's end.
type Got<T> = Result<Option<T>, EngineError>;

impl Shotclip {
    /// The clip frame for shot index `index` (Text/Animate: frame of the shot; Extend: 1 = the
    /// first generated frame next to the source). `abort` is polled while waiting for a piece
    /// of a long shot that another thread or process decodes.
    pub fn frame(&self, index: i64, abort: &dyn Fn() -> bool) -> Got<FrameRef> {
        match self.clip_index(index) {
            Some(i) => self.frames.frame(i, abort),
            None => Ok(None),
        }
    }

    fn clip_index(&self, index: i64) -> Option<usize> {
        let at = if self.backward { self.anchor as i64 - index } else { self.anchor as i64 + index };
        usize::try_from(at).ok().filter(|&i| i < self.frames.len())
    }

    /// [`Shotclip::frame`] at `size`, matched to the source frames the shot joins (Extend: the
    /// source frame at the seam; Animate: the image, and the end keyframe). The VAE round trip
    /// shifts flat colours a little and softens detail, so a generated frame would jump away from
    /// the source frame next to it. The clip holds the model's own rendering of each of those
    /// source frames; the residual between the two is added back:
    /// - blurred wide, everywhere: colour and tone offsets, without edges at their old place;
    /// - in full, carried along the motion from the seam frame to this one (block matching,
    ///   chained frame by frame): the source's own detail, grain and sharp edges stay on a
    ///   locked-off background and travel with an object that moves; they fade out where the
    ///   match fails (new content, motion faster than the search reaches).
    ///
    /// Between two seams the two corrections cross-fade by position. Done at the output size, so
    /// a clip generated small keeps a full-resolution static background. Not clamped: sources
    /// may be HDR floats. Applied when serving, so the cached clip stays the model's raw output
    /// and switching it off regenerates nothing.
    ///
    /// `blend` frames next to each seam dissolve from the source frame itself, carried along the
    /// same motion, into the matched frame ([`seam_dissolve`]): what the model changes beyond the
    /// motion (its flicker, a softer or reshaped object) comes in over those frames instead of at
    /// the cut.
    pub fn frame_matched(
        &self,
        index: i64,
        seams: &[Seam],
        blend: usize,
        size: (usize, usize),
        abort: &dyn Fn() -> bool,
    ) -> Got<Frame> {
        let (w, h) = size;
        let Some(frame) = self.frame(index, abort)? else { return Ok(None) };
        let mut out = resize_cover(&frame, w, h);
        for (seam, weight) in seams.iter().zip(seam_weights(seams, index)) {
            if weight > 0.0 {
                let Some(motion) = self.motion(index, seam.at, size, abort)? else { return Ok(None) };
                let dissolve = weight * seam_dissolve(index.abs_diff(seam.at), blend);
                let Some(decoded) = self.frame(seam.at, abort)? else { return Ok(None) };
                let decoded = resize_cover(&decoded, w, h);
                add_seam_residual(&mut out, &decoded, seam.source, &motion, weight, dissolve);
            }
        }
        Ok(Some(out))
    }

    /// Where each pixel of shot frame `from` was in shot frame `to`, at the match size for an
    /// output `size`: one block-matching step per frame between them (each step is a small
    /// motion the search reaches), composed. The steps are kept ([`step_flows`]), so serving a
    /// shot's frames one by one matches each pair of neighbours once.
    fn motion(&self, from: i64, to: i64, size: (usize, usize), abort: &dyn Fn() -> bool) -> Got<Flow> {
        let at = flow::match_size(size);
        let step = if to > from { 1 } else { -1 };
        let mut total = Flow::still(at.0, at.1);
        let mut index = from;
        while index != to {
            let Some(flow) = self.step_flow(index, index + step, at, abort)? else { return Ok(None) };
            total = total.then(&flow.1);
            index += step;
        }
        Ok(Some(total))
    }

    /// The block-matching step from shot frame `from` to its neighbour `to` at match size `at`.
    fn step_flow(
        &self,
        from: i64,
        to: i64,
        at: (usize, usize),
        abort: &dyn Fn() -> bool,
    ) -> Got<Arc<(Weak<GeneratedClip>, Flow)>> {
        let (Some(i), Some(j)) = (self.clip_index(from), self.clip_index(to)) else { return Ok(None) };
        let identity = self.frames.identity();
        let key = (Arc::as_ptr(identity) as usize, i, j, at);
        let (cache, clip) = (step_flows(), Arc::downgrade(identity));
        if let Some(hit) = cache.get(&key).filter(|kept| kept.0.ptr_eq(&clip)) {
            return Ok(Some(hit));
        }
        let (Some(a), Some(b)) = (self.frame(from, abort)?, self.frame(to, abort)?) else { return Ok(None) };
        let (a, b) = (flow::for_matching(&a, at), flow::for_matching(&b, at));
        let (search, patch) = flow::match_radii(at);
        let flow = Flow::estimate(&a, &b, search, patch);
        #[cfg(test)]
        tests::STEPS_MATCHED.with(|n| n.set(n.get() + 1));
        let bytes = flow.dx.len() * 3 * std::mem::size_of::<f32>();
        let kept = Arc::new((clip, flow));
        cache.insert(key, kept.clone(), bytes);
        Ok(Some(kept))
    }
}

/// Block-matching steps between neighbouring frames of generated clips, by clip, frame pair and
/// match size (64 MiB). A clip is named by its address (a long shot's by its latents' clip), and
/// each entry holds a weak reference to it: the allocation cannot be reused while that lives,
/// and a dropped clip's steps never match.
type StepKey = (usize, usize, usize, (usize, usize));

fn step_flows() -> &'static ByteLru<StepKey, (Weak<GeneratedClip>, Flow)> {
    static CACHE: OnceLock<ByteLru<StepKey, (Weak<GeneratedClip>, Flow)>> = OnceLock::new();
    CACHE.get_or_init(|| ByteLru::new(64 << 20))
}

/// Drops the kept block-matching steps (OFX PurgeCaches).
pub fn purge_cache() {
    step_flows().clear();
}

/// A source frame a generated shot joins: the shot's index `at` is that frame, passed through by
/// the effect, and the clip holds the model's own rendering of it there.
pub struct Seam<'a> {
    pub at: i64,
    pub source: &'a Frame,
}

/// How much each seam's correction counts at shot index `index`: all of the nearest one outside
/// them, a linear cross-fade between the two around it.
fn seam_weights(seams: &[Seam], index: i64) -> Vec<f32> {
    let mut weights = vec![0.0; seams.len()];
    let before = (0..seams.len()).filter(|&i| seams[i].at <= index).max_by_key(|&i| seams[i].at);
    let after = (0..seams.len()).filter(|&i| seams[i].at >= index).min_by_key(|&i| seams[i].at);
    match (before, after) {
        (Some(b), Some(a)) if seams[a].at > seams[b].at => {
            let t = (index - seams[b].at) as f32 / (seams[a].at - seams[b].at) as f32;
            weights[b] = 1.0 - t;
            weights[a] = t;
        }
        (Some(i), _) | (None, Some(i)) => weights[i] = 1.0,
        (None, None) => {}
    }
    weights
}

/// How much of the carried source a frame `distance` frames from its seam shows with a blend of
/// `blend` frames: a linear ramp from all of it at the seam to none from `blend + 1` frames on.
fn seam_dissolve(distance: u64, blend: usize) -> f32 {
    (1.0 - distance as f32 / (blend as f32 + 1.0)).max(0.0)
}

/// Adds `weight` × the residual between `source` and the model's `decoded` rendering of it to
/// `out`: smoothed everywhere, and its detail (what the smoothing takes out) fetched from where
/// `motion` says each pixel was in the seam frame, as far as the match is sure. Then moves the
/// result `dissolve` of the way to the source pixel itself fetched from there, as far as the match
/// is sure (where it is not, the pixel is new content and stays the model's).
fn add_seam_residual(out: &mut Frame, decoded: &Frame, source: &Frame, motion: &Flow, weight: f32, dissolve: f32) {
    let (w, h) = (out.width, out.height);
    let source = resize_cover(source, w, h);
    let channels = 3.min(source.channels).min(decoded.channels).min(out.channels);
    // Per output pixel: where it was in the seam frame (output pixels) and how sure that is.
    let (sx, sy) = (motion.width as f32 / w as f32, motion.height as f32 / h as f32);
    let origin: Vec<(f32, f32, f32)> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            let (dx, dy, sure) = motion.sample((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5);
            (x + dx / sx, y + dy / sy, sure)
        })
        .collect();
    let radius = (w.min(h) / 8).max(1);
    for c in 0..channels {
        let diff: Vec<f32> = source.plane(c).iter().zip(decoded.plane(c)).map(|(s, d)| s - d).collect();
        let smooth = box_blur(&box_blur(&diff, w, h, radius), w, h, radius);
        let detail: Vec<f32> = diff.iter().zip(&smooth).map(|(d, s)| d - s).collect();
        let carried = source.plane(c);
        for ((v, s), &(x, y, sure)) in out.plane_mut(c).iter_mut().zip(&smooth).zip(&origin) {
            *v += weight * (s + sure * bilinear(&detail, w, h, x, y));
            if dissolve > 0.0 {
                *v += dissolve * sure * (bilinear(carried, w, h, x, y) - *v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Block-matching steps computed on this test's thread (renders here are synchronous).
        pub(super) static STEPS_MATCHED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    const NEVER: &dyn Fn() -> bool = &|| false;

    /// A shot of `clip`'s frames with its source end at clip frame 4.
    fn whole(clip: &Arc<GeneratedClip>, backward: bool) -> Shotclip {
        Shotclip {
            frames: ShotFrames::Whole(clip.clone()),
            anchor: 4,
            backward,
            windows: None,
            reviewed: String::new(),
            provenance: Default::default(),
        }
    }

    impl Shotclip {
        fn at(&self, index: i64) -> Option<FrameRef> {
            self.frame(index, NEVER).unwrap()
        }

        fn matched(&self, index: i64, seams: &[Seam], blend: usize, size: (usize, usize)) -> Option<Frame> {
            self.frame_matched(index, seams, blend, size, NEVER).unwrap()
        }

        fn clip(&self) -> &Arc<GeneratedClip> {
            self.frames.identity()
        }
    }

    #[test]
    fn extend_maps_shot_indices_to_clip_frames() {
        let clip = Arc::new(GeneratedClip { frames: (0..9).map(|_| Frame::new(3, 1, 1)).collect(), fps: 25.0 });
        let forward = whole(&clip, false);
        assert!(std::ptr::eq(&*forward.at(1).unwrap(), &clip.frames[5]));
        assert!(forward.at(5).is_none());
        let backward = whole(&clip, true);
        assert!(std::ptr::eq(&*backward.at(1).unwrap(), &clip.frames[3]));
        assert!(std::ptr::eq(&*backward.at(4).unwrap(), &clip.frames[0]));
        assert!(backward.at(5).is_none());
    }

    /// A 3-channel `w`×`h` frame with a different smooth pattern per `seed`.
    fn pattern(seed: usize, w: usize, h: usize) -> Frame {
        let data = (0..3 * w * h)
            .map(|i| {
                let (c, y, x) = (i / (w * h), i / w % h, i % w);
                0.5 + 0.4 * ((x * (seed + 1) + 3 * y + 7 * c) as f32 * 0.37).sin()
            })
            .collect();
        Frame::from_vec(3, h, w, data).unwrap()
    }

    fn shotclips(frames: Vec<Frame>) -> [Shotclip; 2] {
        let clip = Arc::new(GeneratedClip { frames, fps: 25.0 });
        [whole(&clip, false), whole(&clip, true)]
    }

    #[test]
    fn matching_a_source_the_model_rendered_exactly_changes_nothing() {
        let (w, h) = (24, 16);
        for shot in shotclips((0..9).map(|i| pattern(i, w, h)).collect()) {
            let seam = shot.clip().frames[4].clone();
            for index in 1..=4 {
                let matched = shot.matched(index, &[Seam { at: 0, source: &seam }], 0, (w, h)).unwrap();
                assert_eq!(&matched, &*shot.at(index).unwrap(), "backward {} index {index}", shot.backward);
            }
            assert!(shot.matched(5, &[Seam { at: 0, source: &seam }], 0, (w, h)).is_none());
        }
    }

    #[test]
    fn a_constant_offset_of_the_model_is_taken_out() {
        let (w, h) = (24, 16);
        let offset = |mut f: Frame| {
            f.data.iter_mut().for_each(|v| *v += 0.1);
            f
        };
        for shot in shotclips((0..9).map(|i| offset(pattern(i, w, h))).collect()) {
            // The source seam frame is the decoded one without the model's +0.1.
            let mut seam = shot.clip().frames[4].clone();
            seam.data.iter_mut().for_each(|v| *v -= 0.1);
            for index in 1..=4 {
                let (raw, matched) = (
                    shot.at(index).unwrap(),
                    shot.matched(index, &[Seam { at: 0, source: &seam }], 0, (w, h)).unwrap(),
                );
                assert_eq!(matched.shape(), raw.shape());
                for (m, r) in matched.data.iter().zip(&raw.data) {
                    assert!((m - (r - 0.1)).abs() < 1e-5, "backward {} index {index}: {m} vs {r}", shot.backward);
                }
            }
        }
    }

    #[test]
    fn a_flat_source_of_another_size_shifts_toward_its_colour() {
        // Decoded seam is flat 0.5 grey; the source (twice the size, RGBA) is flat (0.6, 0.5, 0.3).
        let flat = |v: [f32; 3]| Frame::from_vec(3, 8, 12, v.iter().flat_map(|&c| [c; 96]).collect()).unwrap();
        let [forward, _] = shotclips((0..9).map(|_| flat([0.5; 3])).collect());
        let source =
            Frame::from_vec(4, 16, 24, [0.6f32, 0.5, 0.3, 1.0].iter().flat_map(|&c| [c; 384]).collect()).unwrap();
        let matched = forward.matched(1, &[Seam { at: 0, source: &source }], 0, (12, 8)).unwrap();
        assert_eq!(matched.shape(), [1, 3, 8, 12]);
        for (c, want) in [0.6f32, 0.5, 0.3].into_iter().enumerate() {
            assert!(matched.plane(c).iter().all(|v| (v - want).abs() < 1e-5), "channel {c}");
        }
    }

    #[test]
    fn a_still_background_takes_the_source_detail_and_a_moved_object_leaves_no_ghost() {
        let n = 32;
        // Source: a textured background; the model draws it flat and a little brighter. A grey
        // square sits at x 4..12 at the seam and has moved to x 16..24 in the new frame.
        let picture = |background: &dyn Fn(usize, usize) -> f32, square_x: usize| {
            let plane: Vec<f32> = (0..n * n)
                .map(|i| {
                    let (y, x) = (i / n, i % n);
                    let inside = (square_x..square_x + 8).contains(&x) && (12..20).contains(&y);
                    if inside {
                        0.9
                    } else {
                        background(x, y)
                    }
                })
                .collect();
            Frame::from_vec(3, n, n, plane.repeat(3)).unwrap()
        };
        let texture = |x: usize, y: usize| 0.3 + 0.05 * ((x * 7 + y * 3) as f32).sin();
        let flat = |_: usize, _: usize| 0.32;
        let mut frames: Vec<Frame> = (0..9).map(|_| picture(&flat, 4)).collect();
        frames[5] = picture(&flat, 16);
        let [forward, _] = shotclips(frames);
        let source = picture(&texture, 4);
        let matched = forward.matched(1, &[Seam { at: 0, source: &source }], 0, (n, n)).unwrap();
        let at = |x: usize, y: usize| matched.plane(0)[y * n + x];
        for y in 0..n {
            for x in 0..n {
                let near_change = (2..26).contains(&x) && (10..22).contains(&y);
                if !near_change {
                    assert!(
                        (at(x, y) - texture(x, y)).abs() < 1e-5,
                        "background ({x}, {y}) {} vs {}",
                        at(x, y),
                        texture(x, y)
                    );
                }
            }
        }
        for y in 14..18 {
            for x in 6..10 {
                assert!(at(x, y) < 0.5, "the square's old place ({x}, {y}) shows a ghost: {}", at(x, y));
            }
            for x in 18..22 {
                assert!(at(x, y) > 0.8, "the moved square ({x}, {y}) lost its value: {}", at(x, y));
            }
        }
    }

    #[test]
    fn a_moving_object_takes_the_source_sharpness_at_its_new_place() {
        // The source has a sharp disc on a textured background; the model draws the seam frame
        // soft and flat, and then moves the disc 1.5 px a frame. A perfect continuation is the
        // source's sharp disc on its texture, 1.5 px further each frame.
        let (w, h) = (48, 40);
        let disc = |cx: f32, sharp: bool, textured: bool| {
            let mut f = Frame::new(3, h, w);
            for c in 0..3 {
                for (i, v) in f.plane_mut(c).iter_mut().enumerate() {
                    let (x, y) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
                    let d = ((x - cx).powi(2) + (y - 20.0).powi(2)).sqrt();
                    let edge = if sharp { 0.5 } else { 2.0 };
                    let inside = ((7.0 + edge - d) / (2.0 * edge)).clamp(0.0, 1.0);
                    let bg = if textured { 0.2 + 0.04 * (x * 1.7 + y * 0.9).sin() } else { 0.2 };
                    *v = bg + inside * (0.7 - 0.1 * c as f32);
                }
            }
            f
        };
        let frames: Vec<Frame> = (0..9).map(|i| disc(14.0 + 1.5 * (i as f32 - 4.0), false, false)).collect();
        let [forward, _] = shotclips(frames);
        let source = disc(14.0, true, true);
        let error = |a: &Frame, b: &Frame| {
            a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.data.len() as f32
        };
        for index in 1..=3 {
            let truth = disc(14.0 + 1.5 * index as f32, true, true);
            let matched = forward.matched(index, &[Seam { at: 0, source: &source }], 0, (w, h)).unwrap();
            let (raw, got) = (error(&forward.at(index).unwrap(), &truth), error(&matched, &truth));
            assert!(got < 0.35 * raw, "index {index}: error {got} against the raw frame's {raw}");
        }
    }

    #[test]
    fn matching_works_at_the_output_size() {
        // The model rendered the seam exactly (at its small size): the match is the plain upscale.
        let (w, h) = (12, 8);
        let [forward, _] = shotclips((0..9).map(|i| pattern(i, w, h)).collect());
        let source = resize_cover(&forward.clip().frames[4], 48, 32);
        let matched = forward.matched(2, &[Seam { at: 0, source: &source }], 0, (48, 32)).unwrap();
        let plain = resize_cover(&forward.at(2).unwrap(), 48, 32);
        assert_eq!(matched.shape(), plain.shape());
        for (m, p) in matched.data.iter().zip(&plain.data) {
            assert!((m - p).abs() < 1e-5, "{m} vs {p}");
        }
    }

    #[test]
    fn between_two_keyframes_the_corrections_cross_fade() {
        // The model draws every frame flat 0.5; the start keyframe is 0.6, the end keyframe 0.4.
        let flat = |v: f32| Frame::from_vec(3, 8, 12, vec![v; 3 * 96]).unwrap();
        let clip = Arc::new(GeneratedClip { frames: (0..9).map(|_| flat(0.5)).collect(), fps: 25.0 });
        let shot = Shotclip {
            frames: ShotFrames::Whole(clip),
            anchor: 0,
            backward: false,
            windows: None,
            reviewed: String::new(),
            provenance: Default::default(),
        };
        let (start, end) = (flat(0.6), flat(0.4));
        let seams = [Seam { at: 0, source: &start }, Seam { at: 8, source: &end }];
        for (index, want) in [(1, 0.575), (2, 0.55), (4, 0.5), (6, 0.45), (7, 0.425)] {
            let matched = shot.matched(index, &seams, 0, (12, 8)).unwrap();
            assert!(
                matched.data.iter().all(|v| (v - want).abs() < 1e-5),
                "index {index}: {} vs {want}",
                matched.data[0]
            );
        }
    }

    #[test]
    fn a_seam_blend_brings_in_the_models_own_change_over_its_frames() {
        // The model renders the flat seam frame exactly and then brightens it by 0.004 a frame (a
        // flicker, no motion): matched frames show all of it, a blend of 3 frames lets it in by
        // quarters.
        let (w, h) = (24, 16);
        let flat = |i: usize| Frame::from_vec(3, h, w, vec![0.5 + 0.004 * i as f32; 3 * w * h]).unwrap();
        let [forward, backward] = shotclips((0..9usize).map(|i| flat(i.abs_diff(4))).collect());
        for shot in [forward, backward] {
            let seam = flat(0);
            for (index, let_in) in [(1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0)] {
                let matched = shot.matched(index, &[Seam { at: 0, source: &seam }], 3, (w, h)).unwrap();
                let want = 0.5 + 0.004 * index as f32 * let_in;
                assert!(
                    matched.data.iter().all(|v| (v - want).abs() < 1e-6),
                    "index {index}: {} vs {want}",
                    matched.data[0]
                );
            }
        }
        assert_eq!(seam_dissolve(0, 3), 1.0);
        assert_eq!(seam_dissolve(2, 0), 0.0, "no blend: the matched frames as they are");
        assert_eq!(seam_dissolve(9, 3), 0.0);
    }

    #[test]
    fn a_seam_blend_carries_the_source_along_the_motion_and_leaves_new_content_to_the_model() {
        // The model moves a soft disc 1.5 px a frame; the source seam frame has it sharp. The first
        // blended frame is mostly the source's sharp disc at the disc's new place, not at its old.
        let (w, h) = (48, 40);
        let disc = |cx: f32, edge: f32| {
            let mut f = Frame::new(3, h, w);
            for c in 0..3 {
                for (i, v) in f.plane_mut(c).iter_mut().enumerate() {
                    let (x, y) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
                    let d = ((x - cx).powi(2) + (y - 20.0).powi(2)).sqrt();
                    *v = 0.2 + ((7.0 + edge - d) / (2.0 * edge)).clamp(0.0, 1.0) * (0.7 - 0.1 * c as f32);
                }
            }
            f
        };
        let [forward, _] = shotclips((0..9).map(|i| disc(14.0 + 1.5 * (i as f32 - 4.0), 2.0)).collect());
        let source = disc(14.0, 0.5);
        let error = |a: &Frame, b: &Frame| {
            a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.data.len() as f32
        };
        let truth = disc(15.5, 0.5);
        let matched = forward.matched(1, &[Seam { at: 0, source: &source }], 0, (w, h)).unwrap();
        let blended = forward.matched(1, &[Seam { at: 0, source: &source }], 4, (w, h)).unwrap();
        let (m, b) = (error(&matched, &truth), error(&blended, &truth));
        assert!(b < 0.9 * m, "blended error {b} against matched {m}");
        assert!(error(&blended, &source) > 2.0 * b, "the disc stayed at its old place");
    }

    #[test]
    fn serving_a_shot_frame_by_frame_matches_each_pair_of_neighbours_once() {
        let (w, h) = (24, 16);
        for shot in shotclips((0..9).map(|i| pattern(i, w, h)).collect()) {
            let seam = pattern(7, w, h);
            let seams = [Seam { at: 0, source: &seam }];
            let before = STEPS_MATCHED.with(|n| n.get());
            let served: Vec<Frame> = (1..=4).rev().map(|i| shot.matched(i, &seams, 2, (w, h)).unwrap()).collect();
            assert_eq!(STEPS_MATCHED.with(|n| n.get()) - before, 4, "4 frames from the seam: 4 steps, each once");
            // The same frames as a shot of its own (nothing kept yet) makes them.
            let fresh = Shotclip {
                frames: ShotFrames::Whole(Arc::new(GeneratedClip { frames: shot.clip().frames.clone(), fps: 25.0 })),
                ..shot
            };
            for (k, i) in (1..=4).rev().enumerate() {
                assert_eq!(served[k], fresh.matched(i, &seams, 2, (w, h)).unwrap(), "index {i}");
            }
        }
    }

    #[test]
    fn seam_weights_take_the_nearest_outside_and_cross_fade_between() {
        let f = Frame::new(3, 1, 1);
        let seams = [Seam { at: 16, source: &f }, Seam { at: 0, source: &f }];
        assert_eq!(seam_weights(&seams, -3), [0.0, 1.0]);
        assert_eq!(seam_weights(&seams, 0), [0.0, 1.0]);
        assert_eq!(seam_weights(&seams, 4), [0.25, 0.75]);
        assert_eq!(seam_weights(&seams, 16), [1.0, 0.0]);
        assert_eq!(seam_weights(&seams, 20), [1.0, 0.0]);
        assert_eq!(seam_weights(&seams[..1], 3), [1.0]);
        assert!(seam_weights(&[], 3).is_empty());
    }
}
