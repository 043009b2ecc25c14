//! Generated shots for Generate, Animate and Extend: from the effect's settings to a whole clip,
//! made once per parameter set (single-flight across threads and instances, cached in memory
//! and on disk) and served frame by frame. No OFX here; the video model runs through
//! [`crate::diffusion`].

use std::sync::{Arc, OnceLock, Weak};

use super::flow::{self, bilinear, Flow};
use super::EngineError;
use crate::cache::ByteLru;
use crate::clip_cache::{clip_cache, GeneratedClip, GenerationError, KeyBuilder};
use crate::diffusion::{Condition, Control, Manifest, Mode, Request, SeededNoise, VideoModel};
use crate::effects::Direction;
use crate::frame_io::{box_blur, resize_cover, Frame};
use crate::models::ModelDir;

/// What kind of shot, with its conditioning pictures (any size; fitted to the generation size).
pub enum Shot {
    /// Text to video, `frames` long.
    Text { frames: usize },
    /// The image is frame 0 of a `frames`-long shot; `end`, when given, is its last frame
    /// (`frames - 1`), so the model fills the frames between two keyframes.
    Animate { image: Frame, end: Option<Frame>, frames: usize },
    /// `context` are the source frames at the chosen end (in time order); `added` frames are
    /// generated beyond it.
    Extend { direction: Direction, context: Vec<Frame>, added: usize },
}

/// The settings shared by every shot.
pub struct ShotSettings {
    pub prompt: String,
    pub negative_prompt: String,
    pub seed: u64,
    pub steps: usize,
    pub guidance: f32,
    pub fps: f64,
    /// The output size at render scale 1; the clip is generated at a size of the same shape.
    pub output_size: (usize, usize),
}

/// A generated clip and where the shot's frame 0 (Text, Animate) or the source end (Extend) sits.
pub struct Shotclip {
    pub clip: Arc<GeneratedClip>,
    /// Clip frame of shot index `i` is `anchor + sign·i`.
    pub anchor: usize,
    pub backward: bool,
}

impl Shotclip {
    /// The clip frame for shot index `index` (Text/Animate: frame of the shot; Extend: 1 = the
    /// first generated frame next to the source).
    pub fn frame(&self, index: i64) -> Option<&Frame> {
        self.clip_index(index).map(|i| &self.clip.frames[i])
    }

    fn clip_index(&self, index: i64) -> Option<usize> {
        let at = if self.backward { self.anchor as i64 - index } else { self.anchor as i64 + index };
        usize::try_from(at).ok().filter(|&i| i < self.clip.frames.len())
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
    pub fn frame_matched(&self, index: i64, seams: &[Seam], blend: usize, size: (usize, usize)) -> Option<Frame> {
        let (w, h) = size;
        let mut out = resize_cover(self.frame(index)?, w, h);
        for (seam, weight) in seams.iter().zip(seam_weights(seams, index)) {
            if weight > 0.0 {
                let motion = self.motion(index, seam.at, size)?;
                let dissolve = weight * seam_dissolve(index.abs_diff(seam.at), blend);
                let decoded = resize_cover(self.frame(seam.at)?, w, h);
                add_seam_residual(&mut out, &decoded, seam.source, &motion, weight, dissolve);
            }
        }
        Some(out)
    }

    /// Where each pixel of shot frame `from` was in shot frame `to`, at the match size for an
    /// output `size`: one block-matching step per frame between them (each step is a small
    /// motion the search reaches), composed. The steps are kept ([`step_flows`]), so serving a
    /// shot's frames one by one matches each pair of neighbours once.
    fn motion(&self, from: i64, to: i64, size: (usize, usize)) -> Option<Flow> {
        let at = flow::match_size(size);
        let step = if to > from { 1 } else { -1 };
        let mut total = Flow::still(at.0, at.1);
        let mut index = from;
        while index != to {
            total = total.then(&self.step_flow(index, index + step, at)?.1);
            index += step;
        }
        Some(total)
    }

    /// The block-matching step from shot frame `from` to its neighbour `to` at match size `at`.
    fn step_flow(&self, from: i64, to: i64, at: (usize, usize)) -> Option<Arc<(Weak<GeneratedClip>, Flow)>> {
        let key = (Arc::as_ptr(&self.clip) as usize, self.clip_index(from)?, self.clip_index(to)?, at);
        let (cache, clip) = (step_flows(), Arc::downgrade(&self.clip));
        if let Some(hit) = cache.get(&key).filter(|kept| kept.0.ptr_eq(&clip)) {
            return Some(hit);
        }
        let (a, b) = (flow::for_matching(self.frame(from)?, at), flow::for_matching(self.frame(to)?, at));
        let (search, patch) = flow::match_radii(at);
        let flow = Flow::estimate(&a, &b, search, patch);
        #[cfg(test)]
        tests::STEPS_MATCHED.with(|n| n.set(n.get() + 1));
        let bytes = flow.dx.len() * 3 * std::mem::size_of::<f32>();
        let kept = Arc::new((clip, flow));
        cache.insert(key, kept.clone(), bytes);
        Some(kept)
    }
}

/// Block-matching steps between neighbouring frames of generated clips, by clip, frame pair and
/// match size (64 MiB). A clip is named by its address, and each entry holds a weak reference to
/// it: the allocation cannot be reused while that lives, and a dropped clip's steps never match.
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

/// Largest output side Generate, Animate and Extend make (16K).
pub const MAX_OUTPUT_SIDE: usize = 16384;

/// Largest output in pixels: 8192×8192 (8K UHD, 7680×4320, is half of it). Matching a shot to
/// its source holds several float frames of the output size at once, over 1 GiB each here.
pub const MAX_OUTPUT_PIXELS: usize = 8192 * 8192;

/// Most elongated output shape (either way): 16:1 holds any screen format and most LED walls.
/// Beyond it, the generation size rounds to a sliver the model cannot draw (a 32768×1 output
/// asked a 64×64 model for a 32768×32768 cover before cropping).
pub const MAX_OUTPUT_ASPECT: usize = 16;

/// Refuses output sizes no shot can be made for, before any model loads or memory is taken.
pub fn check_output_size((w, h): (usize, usize)) -> Result<(), EngineError> {
    let refuse = |why: String| Err(EngineError::Input(format!("The output size {w}x{h} {why}.")));
    if w == 0 || h == 0 {
        return refuse("is empty".into());
    }
    if w.max(h) > MAX_OUTPUT_SIDE {
        return refuse(format!("is too large: a side may be at most {MAX_OUTPUT_SIDE} pixels"));
    }
    if w * h > MAX_OUTPUT_PIXELS {
        return refuse(format!("is too large: at most {MAX_OUTPUT_PIXELS} pixels (8192x8192) are made"));
    }
    if w.max(h) > MAX_OUTPUT_ASPECT * w.min(h) {
        return refuse(format!("is too elongated: the long side may be at most {MAX_OUTPUT_ASPECT} times the short"));
    }
    Ok(())
}

/// The generation size for an output size: the output's shape, rounded to the model's multiple,
/// and scaled down when it has more than four times the model's default pixel count (a model
/// trained small makes nothing good at film resolution; the host scales the clip up). A model
/// trained at one size only (`fixed_size`) always gets that size.
pub fn generation_size(m: &Manifest, output: (usize, usize)) -> (usize, usize) {
    let d = &m.defaults;
    if d.fixed_size {
        return m.size_for(d.width, d.height);
    }
    let budget = (4 * d.width * d.height) as f64;
    let (w, h) = (output.0.max(1) as f64, output.1.max(1) as f64);
    let scale = (budget / (w * h)).sqrt().min(1.0);
    m.size_for((w * scale).round() as usize, (h * scale).round() as usize)
}

/// The clip for a shot, generated on first request. `progress(done, total)` and `abort()` are the
/// host's: a caller waiting for another thread's or process's generation of the same shot polls
/// `abort` and is shown that generation's progress. An aborted generation caches nothing; a
/// failed one is remembered, so every frame gets its error at once (until PurgeCaches).
pub fn shot_clip(
    model_dir: &ModelDir,
    settings: &ShotSettings,
    shot: Shot,
    progress: &mut dyn FnMut(usize, usize),
    abort: &dyn Fn() -> bool,
) -> Result<Shotclip, EngineError> {
    check_output_size(settings.output_size)?;
    let model = VideoModel::open(model_dir)?;
    let m = &model.manifest;
    let (width, height) = generation_size(m, settings.output_size);
    let rule = m.latent.frame_rule;
    // Longest valid clip (mult·k + plus) not longer than `n`.
    let fit_down = |n: usize| if n < rule.plus { 0 } else { (n - rule.plus) / rule.mult * rule.mult + rule.plus };
    let fit = |f: &Frame| resize_cover(f, width, height);
    let mut key = KeyBuilder::new("kinema.shot.v1")
        .str("model", &model_dir.root.to_string_lossy())
        .uint("model_files", model.files_stamp())
        .str("prompt", &settings.prompt)
        .str("negative", &settings.negative_prompt)
        .uint("seed", settings.seed)
        .uint("steps", settings.steps as u64)
        .float("guidance", f64::from(settings.guidance))
        .float("fps", settings.fps)
        .uint("width", width as u64)
        .uint("height", height as u64);
    let (mode, frames, anchor, backward) = match shot {
        Shot::Text { frames } => {
            key = key.str("shot", "text");
            (Mode::TextToVideo, m.frames_for(frames), 0, false)
        }
        Shot::Animate { image, end: None, frames } => {
            let image = fit(&image);
            key = key.str("shot", "animate").frame("image", &image);
            (Mode::ImageToVideo(image), m.frames_for(frames), 0, false)
        }
        Shot::Animate { image, end: Some(end), frames } => {
            if frames < 2 {
                return Err(EngineError::Input(format!(
                    "a shot between two keyframes needs at least 2 frames (it has {frames})"
                )));
            }
            // The end keyframe is an extra condition token at its own frame; the clip may run
            // past it when the model's frame rule rounds the length up.
            let (image, end) = (fit(&image), fit(&end));
            let last = frames - 1;
            key = key
                .str("shot", "animate_keyframes")
                .frame("image", &image)
                .frame("end", &end)
                .uint("end_index", last as u64);
            let conditions = vec![
                Condition { frames: vec![image], frame_index: 0, strength: 1.0 },
                Condition { frames: vec![end], frame_index: last, strength: 1.0 },
            ];
            (Mode::Conditions(conditions), m.frames_for(frames), 0, false)
        }
        Shot::Extend { direction, context, added } => {
            let k = fit_down(context.len());
            if k == 0 {
                return Err(EngineError::Input(format!(
                    "Extend needs at least {} context frames for this model (it has {})",
                    rule.plus,
                    context.len()
                )));
            }
            // Forward continues from the last k frames; backward leads into the first k.
            let context: Vec<Frame> = match direction {
                Direction::Forward => context[context.len() - k..].iter().map(fit).collect(),
                Direction::Backward => context[..k].iter().map(fit).collect(),
            };
            key = key.str("shot", if direction == Direction::Forward { "extend_forward" } else { "extend_backward" });
            for (i, f) in context.iter().enumerate() {
                key = key.frame(&format!("context{i}"), f);
            }
            let total = m.frames_for(k + added);
            let (frame_index, anchor, backward) = match direction {
                Direction::Forward => (0, k - 1, false),
                Direction::Backward => (total - k, total - k, true),
            };
            (Mode::Conditions(vec![Condition { frames: context, frame_index, strength: 1.0 }]), total, anchor, backward)
        }
    };
    check_length(m, frames)?;
    let key = key.uint("frames", frames as u64).finish();
    let request = Request {
        prompt: settings.prompt.clone(),
        negative_prompt: settings.negative_prompt.clone(),
        width,
        height,
        frames,
        fps: settings.fps,
        steps: settings.steps,
        guidance: settings.guidance,
        max_sequence_length: None,
        decode_timestep: m.decode.timestep,
        decode_noise_scale: m.decode.noise_scale,
        image_cond_noise_scale: m.conditioning.condition.image_cond_noise_scale,
        mode,
        video_to_video: None,
    };
    let clip = clip_cache().get_or_generate(key, progress, abort, |progress| {
        let mut noise = SeededNoise::new(settings.seed);
        let mut control = Control { progress, abort };
        let out = model.generate(&request, &mut noise, &mut control)?;
        Ok::<_, EngineError>(GeneratedClip { frames: out.frames, fps: settings.fps })
    })?;
    Ok(Shotclip { clip, anchor, backward })
}

/// The clip cache remembers a failed generation by its text and serves it to every later frame;
/// a host abort is not a failure.
impl GenerationError for EngineError {
    fn is_abort(&self) -> bool {
        matches!(self, EngineError::Aborted)
    }

    fn aborted() -> Self {
        EngineError::Aborted
    }

    fn failed(message: &str) -> Self {
        EngineError::Remembered(message.to_string())
    }
}

/// A shot longer than the model was trained for is refused rather than rendered badly.
fn check_length(m: &Manifest, frames: usize) -> Result<(), EngineError> {
    match m.defaults.max_frames {
        Some(max) if frames > max => Err(EngineError::Input(format!(
            "model '{}' makes shots of at most {max} frames and this one needs {frames}: shorten it (Length, \
             End Frame, or Extend By plus Context Frames) or use a model trained for longer shots",
            m.name
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Block-matching steps computed on this test's thread (renders here are synchronous).
        pub(super) static STEPS_MATCHED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn ltx_manifest() -> Manifest {
        Manifest::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ltx"), "ltx").unwrap()
    }

    #[test]
    fn the_generation_size_follows_the_output_unless_the_model_has_one_size() {
        let mut m = ltx_manifest();
        (m.defaults.width, m.defaults.height) = (64, 64);
        assert_eq!(generation_size(&m, (96, 64)), (96, 64));
        // 4x the default pixels at most, same shape.
        assert_eq!(generation_size(&m, (1920, 1080)), m.size_for(171, 96));
        m.defaults.fixed_size = true;
        assert_eq!(generation_size(&m, (1920, 1080)), (64, 64));
        assert_eq!(generation_size(&m, (32, 32)), (64, 64));
    }

    #[test]
    fn absurd_output_sizes_are_refused_with_the_reason() {
        for ok in [(1920, 1080), (7680, 4320), (8192, 8192), (16384, 4096), (1, 1), (1600, 100), (100, 1600)] {
            check_output_size(ok).unwrap();
        }
        for (size, why) in [
            ((0, 5), "is empty"),
            ((32768, 1), "a side may be at most 16384"),
            ((16385, 2000), "a side may be at most 16384"),
            ((12000, 12000), "at most 67108864 pixels"),
            ((16384, 1), "too elongated"),
            ((1, 17), "too elongated"),
        ] {
            let err = check_output_size(size).unwrap_err().to_string();
            assert!(err.contains(&format!("{}x{}", size.0, size.1)) && err.contains(why), "{size:?}: {err}");
        }
        // Within the limits, the generation size stays within the model's budget.
        let m = ltx_manifest();
        let (w, h) = generation_size(&m, (1600, 100));
        assert!(w * h <= 2 * 4 * m.defaults.width * m.defaults.height, "{w}x{h}");
    }

    #[test]
    fn the_clip_key_follows_every_model_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ltx");
        for f in ["manifest.json", "tokenizer.json", "text_encoder.onnx", "transformer.onnx"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        for f in ["vae_encoder.onnx", "vae_decoder.onnx"] {
            std::fs::write(dir.path().join(f), "not opened here").unwrap();
        }
        let model = ModelDir { name: "m".into(), root: dir.path().to_path_buf(), kind: "video_diffusion".into() };
        let first = VideoModel::open(&model).unwrap();
        assert!(Arc::ptr_eq(&first, &VideoModel::open(&model).unwrap()));
        // A graph rewritten in place (the manifest untouched) is another model, another key.
        let graph = std::fs::File::options().append(true).open(dir.path().join("transformer.onnx")).unwrap();
        graph.set_len(graph.metadata().unwrap().len() + 1).unwrap();
        let second = VideoModel::open(&model).unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_ne!(first.files_stamp(), second.files_stamp());
        // The same files elsewhere (another node's mount of a shared folder) make the same key.
        let copy = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let to = copy.path().join(path.file_name().unwrap());
            std::fs::copy(&path, &to).unwrap();
            let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
            std::fs::File::options().write(true).open(&to).unwrap().set_modified(modified).unwrap();
        }
        let elsewhere = ModelDir { root: copy.path().to_path_buf(), ..model };
        assert_eq!(VideoModel::open(&elsewhere).unwrap().files_stamp(), second.files_stamp());
    }

    #[test]
    fn shots_longer_than_the_model_learned_are_refused_by_name() {
        let mut m = ltx_manifest();
        assert!(check_length(&m, 10_001).is_ok(), "no limit unless the manifest sets one");
        m.defaults.max_frames = Some(17);
        assert!(check_length(&m, 17).is_ok());
        let err = check_length(&m, 25).unwrap_err().to_string();
        assert!(err.contains("at most 17 frames") && err.contains("needs 25"), "{err}");
    }

    #[test]
    fn extend_maps_shot_indices_to_clip_frames() {
        let clip = Arc::new(GeneratedClip { frames: (0..9).map(|_| Frame::new(3, 1, 1)).collect(), fps: 25.0 });
        let forward = Shotclip { clip: clip.clone(), anchor: 4, backward: false };
        assert!(std::ptr::eq(forward.frame(1).unwrap(), &clip.frames[5]));
        assert!(forward.frame(5).is_none());
        let backward = Shotclip { clip: clip.clone(), anchor: 4, backward: true };
        assert!(std::ptr::eq(backward.frame(1).unwrap(), &clip.frames[3]));
        assert!(std::ptr::eq(backward.frame(4).unwrap(), &clip.frames[0]));
        assert!(backward.frame(5).is_none());
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
        [Shotclip { clip: clip.clone(), anchor: 4, backward: false }, Shotclip { clip, anchor: 4, backward: true }]
    }

    #[test]
    fn matching_a_source_the_model_rendered_exactly_changes_nothing() {
        let (w, h) = (24, 16);
        for shot in shotclips((0..9).map(|i| pattern(i, w, h)).collect()) {
            let seam = shot.clip.frames[4].clone();
            for index in 1..=4 {
                let matched = shot.frame_matched(index, &[Seam { at: 0, source: &seam }], 0, (w, h)).unwrap();
                assert_eq!(&matched, shot.frame(index).unwrap(), "backward {} index {index}", shot.backward);
            }
            assert!(shot.frame_matched(5, &[Seam { at: 0, source: &seam }], 0, (w, h)).is_none());
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
            let mut seam = shot.clip.frames[4].clone();
            seam.data.iter_mut().for_each(|v| *v -= 0.1);
            for index in 1..=4 {
                let (raw, matched) = (
                    shot.frame(index).unwrap(),
                    shot.frame_matched(index, &[Seam { at: 0, source: &seam }], 0, (w, h)).unwrap(),
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
        let matched = forward.frame_matched(1, &[Seam { at: 0, source: &source }], 0, (12, 8)).unwrap();
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
        let matched = forward.frame_matched(1, &[Seam { at: 0, source: &source }], 0, (n, n)).unwrap();
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
            let matched = forward.frame_matched(index, &[Seam { at: 0, source: &source }], 0, (w, h)).unwrap();
            let (raw, got) = (error(forward.frame(index).unwrap(), &truth), error(&matched, &truth));
            assert!(got < 0.35 * raw, "index {index}: error {got} against the raw frame's {raw}");
        }
    }

    #[test]
    fn matching_works_at_the_output_size() {
        // The model rendered the seam exactly (at its small size): the match is the plain upscale.
        let (w, h) = (12, 8);
        let [forward, _] = shotclips((0..9).map(|i| pattern(i, w, h)).collect());
        let source = resize_cover(&forward.clip.frames[4], 48, 32);
        let matched = forward.frame_matched(2, &[Seam { at: 0, source: &source }], 0, (48, 32)).unwrap();
        let plain = resize_cover(forward.frame(2).unwrap(), 48, 32);
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
        let shot = Shotclip { clip, anchor: 0, backward: false };
        let (start, end) = (flat(0.6), flat(0.4));
        let seams = [Seam { at: 0, source: &start }, Seam { at: 8, source: &end }];
        for (index, want) in [(1, 0.575), (2, 0.55), (4, 0.5), (6, 0.45), (7, 0.425)] {
            let matched = shot.frame_matched(index, &seams, 0, (12, 8)).unwrap();
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
                let matched = shot.frame_matched(index, &[Seam { at: 0, source: &seam }], 3, (w, h)).unwrap();
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
        let matched = forward.frame_matched(1, &[Seam { at: 0, source: &source }], 0, (w, h)).unwrap();
        let blended = forward.frame_matched(1, &[Seam { at: 0, source: &source }], 4, (w, h)).unwrap();
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
            let served: Vec<Frame> = (1..=4).rev().map(|i| shot.frame_matched(i, &seams, 2, (w, h)).unwrap()).collect();
            assert_eq!(STEPS_MATCHED.with(|n| n.get()) - before, 4, "4 frames from the seam: 4 steps, each once");
            // The same frames as a shot of its own (nothing kept yet) makes them.
            let fresh =
                Shotclip { clip: Arc::new(GeneratedClip { frames: shot.clip.frames.clone(), fps: 25.0 }), ..shot };
            for (k, i) in (1..=4).rev().enumerate() {
                assert_eq!(served[k], fresh.frame_matched(i, &seams, 2, (w, h)).unwrap(), "index {i}");
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
