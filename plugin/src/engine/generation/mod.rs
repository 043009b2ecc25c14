//! Generated shots for Generate, Animate and Extend: from the effect's settings to a whole clip,
//! made once per parameter set (single-flight across threads and instances, cached in memory
//! and on disk) and served frame by frame ([`matching`]). No OFX here; the video model runs
//! through [`crate::diffusion`].

use std::sync::Arc;

mod between;
mod matching;
mod pieces;
mod storyboard;
mod windows;

pub use matching::{purge_cache, Seam, Shotclip};
pub use pieces::{FrameRef, LongShot, ShotFrames};
pub use windows::{KeptWindows, ShotConditions, ShotWindows, MAX_SHOT_SECONDS};

use super::review::Reviewer;
use super::EngineError;
use crate::clip_cache::{
    clip_cache, remember_provenance, GeneratedClip, GenerationError, KeyBuilder, ProvenanceRecord,
};
use crate::diffusion::{
    Condition, Control, EndKeyframe, LongRequest, Manifest, Mode, Request, SeededNoise, SeededStreams, VideoModel,
};
use crate::effects::Direction;
use crate::frame_io::{resize_cover, Frame};
use crate::models::ModelDir;
use kinema_watermark::Payload;

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
    /// A gap of `missing` frames between good frames: `before` lead into it (time order, the last
    /// one just before the gap), `after` follow it (the first one just after). Served index 0 is
    /// the last frame of `before`, as for [`Shot::Animate`] with an end.
    Between { before: Vec<Frame>, after: Vec<Frame>, missing: usize },
}

/// The settings shared by every shot.
pub struct ShotSettings {
    pub prompts: Prompts,
    pub seed: u64,
    pub steps: usize,
    pub guidance: f32,
    pub fps: f64,
    /// The output size at render scale 1; the clip is generated at a size of the same shape.
    pub output_size: (usize, usize),
    /// The shot ends where it begins (Loop): made in windows, the last leading into the first
    /// frames. Text and a first image only.
    pub looped: bool,
}

/// A prompt and negative prompt that passed the content policy: the only way to ask for a shot,
/// so no caller of [`shot_clip`] can skip the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompts {
    prompt: String,
    negative: String,
}

impl Prompts {
    /// Checks the prompt and negative prompt against the active policy, as read by `model` (the
    /// normaliser of the model's tokenizer) when it is known.
    pub fn checked(
        prompt: &str,
        negative: &str,
        model: Option<&crate::policy::ModelNormalizer>,
    ) -> Result<Self, EngineError> {
        crate::policy::check_prompts(prompt, negative, model).map_err(EngineError::Refused)?;
        Ok(Self { prompt: prompt.to_string(), negative: negative.to_string() })
    }

    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    pub fn negative(&self) -> &str {
        &self.negative
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
    // Checked before any model work when asked for; again as this model's tokenizer reads them,
    // which can turn a disguise the policy's own reading missed into the plain word.
    let (prompt, negative) = (settings.prompts.prompt(), settings.prompts.negative());
    Prompts::checked(prompt, negative, model.prompt_normalizer().as_ref())?;
    let m = &model.manifest;
    let review = crate::policy::active_policy().map_err(|e| EngineError::Refused(e.into()))?.frame_review();
    let reviewer = Reviewer::new(&model, &review)?;
    let reviewed = match &reviewer {
        Some(r) if r.categories().is_empty() => {
            "frames reviewed (the policy flags none of the classifier's labels)".into()
        }
        Some(r) => format!("frames reviewed for {}", r.categories().join(", ")),
        None if m.components.frame_classifier.is_some() => {
            "frames not reviewed: the policy flags none of the model's classifier labels".into()
        }
        None => "frames not reviewed: the model names no frame classifier".into(),
    };
    let (width, height) = generation_size(m, settings.output_size);
    let rule = m.latent.frame_rule;
    let fit = |f: &Frame| resize_cover(f, width, height);
    // What a shot's key and a long shot's window keys share: all but the prompt, kind and length.
    let fields = KeyBuilder::new("kinema.shot.v2")
        .str("model", &model_dir.root.to_string_lossy())
        .uint("model_files", model.files_stamp())
        .str("negative", settings.prompts.negative())
        .uint("seed", settings.seed)
        .uint("steps", settings.steps as u64)
        .float("guidance", f64::from(settings.guidance))
        .float("fps", settings.fps)
        .uint("width", width as u64)
        .uint("height", height as u64)
        // Frames reviewed under other rules are another shot (reviewed again when made).
        .str("review", &reviewer.as_ref().map_or(String::new(), |_| review.key_text()));
    let mut key = fields.clone().str("prompt", settings.prompts.prompt());
    // What a shot between keyframes or an extension is made from, if made in windows.
    let mut long = None;
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
            long = Some(ShotConditions {
                image: Some(image.clone()),
                end: Some(EndKeyframe { image: end.clone(), frame: last }),
                ..Default::default()
            });
            let conditions = vec![
                Condition { frames: vec![image], frame_index: 0, strength: 1.0 },
                Condition { frames: vec![end], frame_index: last, strength: 1.0 },
            ];
            (Mode::Conditions(conditions), m.frames_for(frames), 0, false)
        }
        Shot::Between { before, after, missing } => {
            // Several good frames each side show the model how things move into and out of the
            // gap, which one keyframe each side cannot: the leading ones condition in place from
            // frame 0, the following ones are a clip condition just after the gap.
            let (kb, ka) = between::context(m, (before.len(), after.len()), missing, settings.fps)?;
            let before: Vec<Frame> = before[before.len() - kb..].iter().map(fit).collect();
            let after: Vec<Frame> = after[..ka].iter().map(fit).collect();
            let at = kb + missing;
            key = key.str("shot", "between").uint("missing", missing as u64);
            for (i, f) in before.iter().enumerate() {
                key = key.frame(&format!("before{i}"), f);
            }
            for (i, f) in after.iter().enumerate() {
                key = key.frame(&format!("after{i}"), f);
            }
            long = Some(ShotConditions {
                image: Some(before[kb - 1].clone()),
                end: Some(EndKeyframe { image: after[0].clone(), frame: at }),
                ..Default::default()
            });
            let conditions = vec![
                Condition { frames: before, frame_index: 0, strength: 1.0 },
                Condition { frames: after, frame_index: at, strength: 1.0 },
            ];
            (Mode::Conditions(conditions), m.frames_for(at + ka), kb - 1, false)
        }
        Shot::Extend { direction, context, added } => {
            let k = m.frames_within(context.len().min(m.max_context_frames()));
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
            let context_last = direction == Direction::Backward;
            long = Some(ShotConditions { context: context.clone(), context_last, ..Default::default() });
            let total = m.frames_for(k + added);
            let (frame_index, anchor, backward) = match direction {
                Direction::Forward => (0, k - 1, false),
                Direction::Backward => (total - k, total - k, true),
            };
            (Mode::Conditions(vec![Condition { frames: context, frame_index, strength: 1.0 }]), total, anchor, backward)
        }
    };
    if settings.looped && long.is_some() {
        return Err(EngineError::Input(
            "Loop ends a shot on its own first frames, so it cannot also end on an End Frame or extend a clip: \
             turn one off"
                .into(),
        ));
    }
    let windows = windows::plan(m, frames, settings.fps, settings.looped)?;
    let mut key = key.uint("frames", frames as u64);
    let mut job = match windows {
        None => Job::Single(Request {
            // A storyboard's later segments belong to later windows; one window takes the first.
            prompt: storyboard::first_text(settings.prompts.prompt())?,
            negative_prompt: settings.prompts.negative().to_string(),
            width,
            height,
            frames,
            fps: settings.fps,
            steps: settings.steps,
            guidance: settings.guidance,
            max_sequence_length: None,
            decode_timestep: m.decode.timestep,
            decode_noise_scale: m.decode.noise_scale,
            image_cond_noise_scale: m.conditioning.condition.as_ref().map_or(0.0, |c| c.image_cond_noise_scale),
            mode,
            video_to_video: None,
        }),
        Some(_) => {
            let conditions = match (mode, long) {
                (Mode::ImageToVideo(image), _) => ShotConditions { image: Some(image), ..Default::default() },
                (_, Some(conditions)) => conditions,
                _ => ShotConditions::default(),
            };
            let request = windows::request(m, settings, (width, height), frames, conditions)?;
            let w = &request.windows;
            key = key
                .str("pipeline", "long")
                .uint("window", w.tile_frames as u64)
                .uint("overlap", w.overlap_frames as u64)
                .float("overlap_strength", f64::from(w.overlap_strength))
                .float("adain", f64::from(w.adain_factor))
                .float("loop", request.loop_strength.map_or(-1.0, f64::from));
            // What every window depends on besides its text and frames.
            let mut shot_fields = fields.str("windows of", "a long shot");
            if let Some(image) = &request.image {
                shot_fields = shot_fields.frame("image", image);
            }
            for (i, frame) in request.context.iter().enumerate() {
                shot_fields = shot_fields.frame(&format!("context{i}"), frame);
            }
            let kept = KeptWindows::new(&shot_fields, &request, m.latent.temporal_ratio);
            // The shot's entry holds its latents; its frames are decoded in pieces (`pieces`).
            key = key.str("stores", "latents").uint("decode_context", decode_context(m) as u64);
            Job::Long(Box::new(request), kept)
        }
    };
    let shot_key = key.finish();
    let record = ProvenanceRecord::new(&model_dir.name, model.files_stamp(), settings.seed, prompt, negative, shot_key)
        .with_model_id(model.provenance_id());
    let mut made_here = false;
    let clip = clip_cache().get_or_generate(shot_key, progress, abort, |progress| {
        made_here = true;
        let mut control = Control { progress, abort };
        match &mut job {
            Job::Single(request) => {
                let out = model.generate(request, &mut SeededNoise::new(settings.seed), &mut control)?;
                // Before the clip is cached or served: a flagged shot is a remembered failure.
                if let Some(reviewer) = &reviewer {
                    reviewer.review(&out.frames, 0, abort)?;
                }
                Ok::<_, EngineError>(GeneratedClip { frames: out.frames, fps: settings.fps })
            }
            Job::Long(request, kept) => {
                let (latents, _) =
                    model.long_latents(request, &mut SeededStreams::new(settings.seed), &mut control, kept)?;
                pieces::latents_clip(latents, settings.fps)
            }
        }
    })?;
    let frames = match job {
        Job::Single(_) => ShotFrames::Whole(clip),
        Job::Long(request, _) => {
            let t = m.latent.temporal_ratio;
            let w = &request.windows;
            let pieces = pieces::window_pieces(frames, t, w.tile_frames / t, w.overlap_frames / t);
            let shot = Arc::new(LongShot {
                model: model.clone(),
                request: *request,
                latents: clip,
                key: shot_key,
                seed: settings.seed,
                context: decode_context(m),
                pieces,
                len: frames,
                review: reviewer.is_some().then(|| review.clone()),
            });
            if reviewer.is_some() {
                shot.review_all(progress, abort)?;
            }
            ShotFrames::Pieces(shot)
        }
    };
    // Once the shot passed review; best effort, never failing the render (a disk error in the report).
    if made_here {
        let _ = clip_cache().record_provenance(shot_key, &record);
    }
    remember_provenance(record);
    // What the frames' watermark says: this model, this seed, this shot.
    let provenance =
        Payload { model: model.provenance_id(), seed: settings.seed as u32, shot: shot_key.as_u128() as u32 };
    Ok(Shotclip { frames, anchor, backward, windows, reviewed, provenance })
}

/// Latent frames decoded each side of a long shot's piece.
fn decode_context(m: &Manifest) -> usize {
    m.windows.as_ref().map_or(0, |w| w.decode_context)
}

/// One generation: a shot in one window, or in several by the long pipeline.
enum Job {
    Single(Request),
    Long(Box<LongRequest>, KeptWindows),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

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
    fn a_shot_is_refused_when_the_models_tokenizer_reads_a_prompt_into_a_blocked_word() {
        // A model whose tokenizer rewrites "blorp" to "gore": the words the model sees decide.
        let dir = tempfile::tempdir().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ltx");
        for f in ["manifest.json", "text_encoder.onnx", "transformer.onnx", "vae_encoder.onnx", "vae_decoder.onnx"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let mut tokenizer: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(src.join("tokenizer.json")).unwrap()).unwrap();
        tokenizer["normalizer"] = serde_json::json!({"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"String": "blorp"}, "content": "gore"}, {"type": "Lowercase"}]});
        std::fs::write(dir.path().join("tokenizer.json"), tokenizer.to_string()).unwrap();
        let model = ModelDir { name: "m".into(), root: dir.path().to_path_buf(), kind: "video_diffusion".into() };
        let settings = ShotSettings {
            prompts: Prompts::checked("a blorp scene", "", None).expect("the policy's own reading passes it"),
            seed: 1,
            steps: 1,
            guidance: 1.0,
            fps: 24.0,
            output_size: (64, 64),
            looped: false,
        };
        let err = shot_clip(&model, &settings, Shot::Text { frames: 9 }, &mut |_, _| {}, &|| false)
            .err()
            .expect("the model's reading is checked");
        assert!(matches!(err, EngineError::Refused(_)) && err.to_string().contains("graphic violence"), "{err}");
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
    fn a_shot_can_only_be_asked_for_with_prompts_the_policy_passes() {
        let ok = Prompts::checked("a red circle moving right", "blurry, gore, nsfw", None).unwrap();
        assert_eq!((ok.prompt(), ok.negative()), ("a red circle moving right", "blurry, gore, nsfw"));
        // A negative prompt that lists a category steers away from it; one that inverts the
        // prompt toward it is refused. The refusal is the engine's own error, naming the category.
        for (prompt, negative, category) in [
            ("a close-up of gore", "", "graphic violence"),
            ("a woman on a beach", "clothes, swimsuit", "sexual content"),
        ] {
            let err = Prompts::checked(prompt, negative, None).unwrap_err();
            assert!(matches!(err, EngineError::Refused(_)), "{err:?}");
            assert!(err.to_string().contains(category), "{err}");
        }
    }
}
