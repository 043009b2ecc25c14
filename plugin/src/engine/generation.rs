//! Generated shots for Generate, Animate and Extend: from the effect's settings to a whole clip,
//! made once per parameter set (single-flight across threads and instances, cached in memory
//! and on disk) and served frame by frame. No OFX here; the video model runs through
//! [`crate::diffusion`].

use std::sync::Arc;

use super::EngineError;
use crate::clip_cache::{clip_cache, GeneratedClip, KeyBuilder};
use crate::diffusion::{Condition, Control, Mode, Request, SeededNoise, VideoModel};
use crate::effects::Direction;
use crate::frame_io::{resize_cover, Frame};
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
        let at = if self.backward { self.anchor as i64 - index } else { self.anchor as i64 + index };
        usize::try_from(at).ok().and_then(|i| self.clip.frames.get(i))
    }
}

/// The generation size for an output size: the output's shape, rounded to the model's multiple,
/// and scaled down when it has more than four times the model's default pixel count (a model
/// trained small makes nothing good at film resolution; the host scales the clip up).
pub fn generation_size(model: &VideoModel, output: (usize, usize)) -> (usize, usize) {
    let d = &model.manifest.defaults;
    let budget = (4 * d.width * d.height) as f64;
    let (w, h) = (output.0.max(1) as f64, output.1.max(1) as f64);
    let scale = (budget / (w * h)).sqrt().min(1.0);
    model.manifest.size_for((w * scale).round() as usize, (h * scale).round() as usize)
}

/// The clip for a shot, generated on first request. `progress(done, total)` and `abort()` are the
/// host's; an aborted generation caches nothing.
pub fn shot_clip(
    model_dir: &ModelDir,
    settings: &ShotSettings,
    shot: Shot,
    progress: &mut dyn FnMut(usize, usize),
    abort: &dyn Fn() -> bool,
) -> Result<Shotclip, EngineError> {
    let model = VideoModel::open(model_dir)?;
    let m = &model.manifest;
    let (width, height) = generation_size(&model, settings.output_size);
    let rule = m.latent.frame_rule;
    // Longest valid clip (mult·k + plus) not longer than `n`.
    let fit_down = |n: usize| if n < rule.plus { 0 } else { (n - rule.plus) / rule.mult * rule.mult + rule.plus };
    let fit = |f: &Frame| resize_cover(f, width, height);
    let mut key = KeyBuilder::new("kinema.shot.v1")
        .str("model", &model_dir.root.to_string_lossy())
        .uint("manifest_mtime", manifest_stamp(model_dir))
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
    let clip = clip_cache().get_or_generate(key, || {
        let mut noise = SeededNoise::new(settings.seed);
        let mut control = Control { progress, abort };
        let out = model.generate(&request, &mut noise, &mut control)?;
        Ok::<_, EngineError>(GeneratedClip { frames: out.frames, fps: settings.fps })
    })?;
    Ok(Shotclip { clip, anchor, backward })
}

/// Changes when the model folder's manifest is replaced, so an updated model regenerates.
fn manifest_stamp(model: &ModelDir) -> u64 {
    std::fs::metadata(model.manifest_path())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
