//! `manifest.json` of a latent video diffusion model (LTX-Video, Wan): which graphs, which
//! tensor names and layouts, the latent geometry and normalisation, and the pipeline rules that
//! live outside the graphs. Everything the runtime needs is declared here rather than coded per
//! model or family; unknown values are errors that name the field, and combinations the
//! pipelines do not implement fail at load.

use std::path::Path;

use serde::Deserialize;

use super::scheduler::SchedulerConfig;

mod components;
use crate::engine::EngineError;
pub use components::*;

#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub kind: String,
    pub family: String,
    pub name: String,
    pub components: Components,
    pub latent: Latent,
    pub rope: Rope,
    pub scheduler: SchedulerConfig,
    /// Where text and image to video take a flow-match schedule from.
    #[serde(default)]
    pub timesteps: TimestepSource,
    pub guidance: Guidance,
    pub conditioning: Conditioning,
    pub decode: Decode,
    pub defaults: Defaults,
    /// Long shots: how the model's window slides over a shot longer than it (none: one window).
    #[serde(default)]
    pub windows: Option<Windows>,
    /// Filling a gap in a clip (Interpolate's Fill Frames): see [`super::gap`].
    #[serde(default)]
    pub gap: Option<super::gap::GapSpec>,
}

/// How the text and image to video pipelines set the scheduler's timesteps.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimestepSource {
    /// The pipeline passes sigmas `linspace(1, 1/n, n)` (LTX).
    #[default]
    LinspaceSigmas,
    /// The scheduler's own `set_timesteps(n)` (Wan).
    Scheduler,
}

/// Sliding windows for shots longer than the model was trained for (diffusers'
/// `LTXI2VLongMultiPromptPipeline` settings, in frames).
#[derive(Clone, Debug, Deserialize)]
pub struct Windows {
    /// One window, in frames (the model's trained length; it follows the frame rule).
    pub frames: usize,
    /// Frames each window shares with the one before (`temporal_overlap`).
    pub overlap: usize,
    /// How firmly a window keeps the previous window's tail (0..1].
    #[serde(default = "default_overlap_strength")]
    pub overlap_strength: f32,
    /// How far each window's latent statistics are pulled to the first window's (0..1).
    #[serde(default = "default_adain_factor")]
    pub adain_factor: f32,
    /// Latent frames decoded each side of a piece of a long shot (one piece per window), so the
    /// pieces join as the whole decode would: the VAE decoder's temporal reach. Kinema-tiny's
    /// pieces are within 0.0025 of its whole decode at 4, 0.0004 at 5.
    #[serde(default = "default_decode_context")]
    pub decode_context: usize,
}

/// More context than this decodes far more than the piece it serves.
const MAX_DECODE_CONTEXT: usize = 64;

fn default_decode_context() -> usize {
    4
}

fn default_overlap_strength() -> f32 {
    0.5
}

fn default_adain_factor() -> f32 {
    0.25
}

/// A value that differs between the three LTX pipelines.
#[derive(Clone, Debug, Deserialize)]
pub struct PerPipeline<T> {
    pub t2v: T,
    pub i2v: T,
    pub condition: T,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipeline {
    /// Text to video (`LTXPipeline`).
    T2v,
    /// First frame given (`LTXImageToVideoPipeline`).
    I2v,
    /// Images or clips at frame indices (`LTXConditionPipeline`): extension, keyframes.
    Condition,
}

impl<T> PerPipeline<T> {
    pub fn get(&self, p: Pipeline) -> &T {
        match p {
            Pipeline::T2v => &self.t2v,
            Pipeline::I2v => &self.i2v,
            Pipeline::Condition => &self.condition,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Latent {
    pub channels: usize,
    pub spatial_ratio: usize,
    pub temporal_ratio: usize,
    pub frame_rule: FrameRule,
    pub hw_multiple: usize,
    pub patch: [usize; 3],
    pub norm: LatentNorm,
}

/// Pixel frame counts the VAE accepts: `mult·k + plus`.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct FrameRule {
    pub mult: usize,
    pub plus: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LatentNorm {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub scaling_factor: f32,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RopeMode {
    /// T2V/I2V: frame coordinate = latent frame × temporal_ratio / fps.
    InterpolationScale,
    /// Condition: pixel frame of the latent frame's first pixel (causal), plus the condition's
    /// frame index, × 1/fps.
    CausalPixel,
}

/// Where the transformer's positions come from: `modes` when the runtime feeds `video_coords`
/// (LTX), none when the graph derives them from the latent's shape (Wan's internal 3-D RoPE).
#[derive(Clone, Debug, Deserialize)]
pub struct Rope {
    #[serde(default)]
    pub modes: Option<PerPipeline<RopeMode>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Guidance {
    pub cfg: Cfg,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Cfg {
    pub default: f32,
    /// The low-noise expert's guidance at the default guidance (Wan 2.2's `guidance_scale_2`);
    /// absent: the same as the high-noise one.
    #[serde(default)]
    pub low_noise_default: Option<f32>,
}

impl Cfg {
    /// The low-noise expert's guidance for a request's `guidance`: the manifest's pair kept in
    /// proportion, so the default gives exactly the pair the model was tuned with.
    pub fn low_noise(&self, guidance: f32) -> f32 {
        match self.low_noise_default {
            Some(low) if self.default != 0.0 => (f64::from(guidance) * f64::from(low) / f64::from(self.default)) as f32,
            Some(low) => low,
            None => guidance,
        }
    }
}

/// The conditioning a model supports; each absent kind is a pipeline it cannot run (the effects
/// that need it say so instead of rendering).
#[derive(Clone, Debug, Deserialize)]
pub struct Conditioning {
    /// A given first frame (Animate).
    #[serde(default)]
    pub i2v: Option<I2vRules>,
    /// Images or clips at frame indices (Extend, End on a Frame, keyframes, gaps).
    #[serde(default)]
    pub condition: Option<ConditionRules>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct I2vRules {
    pub method: I2vMethod,
    /// Channel concat: the mask's channels (the VAE's temporal ratio: one per pixel frame of a
    /// latent frame).
    #[serde(default)]
    pub mask_channels: usize,
    /// Channel concat: the model also takes a last frame (Wan FLF2V).
    #[serde(default)]
    pub last_frame: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum I2vMethod {
    /// The first frame's latent tokens are given and never move (LTX).
    FirstFrameMask,
    /// The given frames, VAE-encoded in a clip of blank frames, and a mask of which pixel frames
    /// are given ride along as extra input channels; the image encoder's embeddings go to the
    /// transformer too (Wan 2.1 I2V, FLF2V).
    ChannelConcat,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ConditionRules {
    pub num_prefix_latent_frames: usize,
    pub image_cond_noise_scale: f32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Decode {
    pub timestep: f32,
    pub noise_scale: f32,
    /// Decode in tiles (diffusers' `enable_tiling`): full-size VAEs need it to fit in memory.
    #[serde(default)]
    pub tiling: Option<super::VaeTiling>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Defaults {
    pub fps: f64,
    pub steps: usize,
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    pub guidance: f32,
    /// The longest shot (in frames, after the frame rule) the model was trained for; longer
    /// requests fail with a clear error instead of rendering what it never learned.
    #[serde(default)]
    pub max_frames: Option<usize>,
    /// Trained at `width`×`height` only: every shot is generated at that size and fitted to the
    /// output, instead of following the output's shape.
    #[serde(default)]
    pub fixed_size: bool,
}

impl Manifest {
    /// Reads and checks `root/manifest.json`: the kind, the files it names, and the invariants
    /// the runtime relies on. `name` is the model's name for messages.
    pub fn load(root: &Path, name: &str) -> Result<Manifest, EngineError> {
        let bad = |reason: String| EngineError::Manifest { model: name.to_string(), reason };
        let path = root.join(crate::models::MANIFEST);
        let text = crate::models::read_manifest(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        let m: Manifest = serde_json::from_str(&text)
            .map_err(|e| bad(format!("{} is not a video diffusion manifest: {e}", path.display())))?;
        if m.kind != "video_diffusion" {
            return Err(bad(format!(
                "{} says kind '{}', but this effect needs a 'video_diffusion' model",
                path.display(),
                m.kind
            )));
        }
        for (component, precision) in m.precisions() {
            precision.check().map_err(|e| bad(format!("{}: components.{component}.precision: {e}", path.display())))?;
        }
        if let Some(c) = &m.components.frame_classifier {
            c.check().map_err(|e| bad(format!("{}: components.frame_classifier: {e}", path.display())))?;
        }
        for file in m.files() {
            crate::models::component_file(root, file).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        }
        m.check_pipelines().map_err(|e| bad(format!("{}: {e}", path.display())))?;
        let l = &m.latent;
        if l.norm.mean.len() != l.channels || l.norm.std.len() != l.channels {
            return Err(bad(format!(
                "latent.norm has {} means and {} stds for {} channels",
                l.norm.mean.len(),
                l.norm.std.len(),
                l.channels
            )));
        }
        if m.components.transformer.batch != 2 {
            return Err(bad(format!(
                "transformer batch {} is not supported (Kinema runs guidance batched: [uncond, cond])",
                m.components.transformer.batch
            )));
        }
        // After the limits: the window check divides by the ratios they prove non-zero.
        super::limits::check_manifest(&m).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        if let Some(t) = &m.decode.tiling {
            t.check(m.latent.spatial_ratio, m.latent.temporal_ratio)
                .map_err(|e| bad(format!("{}: decode.tiling: {e}", path.display())))?;
        }
        if let Some(w) = &m.windows {
            m.check_windows(w).map_err(|e| bad(format!("{}: windows: {e}", path.display())))?;
        }
        if let Some(g) = &m.gap {
            g.check().map_err(|e| bad(format!("{}: gap: {e}", path.display())))?;
        }
        Ok(m)
    }

    /// The combinations the pipelines implement, so a model that declares anything else fails at
    /// load with the field named rather than mid-generation.
    fn check_pipelines(&self) -> Result<(), String> {
        let c = &self.components;
        let (tr, l) = (&c.transformer, &self.latent);
        if self.windows.is_some() && self.conditioning.condition.is_none() {
            return Err("windows hold each window to the last through conditioning.condition, which is missing".into());
        }
        match tr.layout {
            Layout::Tokens => {
                if l.patch != [1, 1, 1] {
                    return Err(format!("latent.patch {:?}: token layout packs [1, 1, 1] patches only", l.patch));
                }
                if tr.inputs.encoder_attention_mask.is_none() || tr.inputs.video_coords.is_none() {
                    return Err("components.transformer.inputs: the token layout takes encoder_attention_mask and \
                         video_coords"
                        .into());
                }
                if !tr.timestep_per_token || tr.timestep_grid != TimestepGrid::Latent {
                    return Err("components.transformer: the token layout takes a timestep per latent token".into());
                }
            }
            Layout::Video5d => {
                // The graph patches the latent itself: the pixel size must give whole patches.
                let step = l.spatial_ratio * l.patch[1].max(l.patch[2]);
                if l.patch.contains(&0) || l.patch[0] != 1 || step == 0 || !l.hw_multiple.is_multiple_of(step) {
                    return Err(format!(
                        "latent.patch {:?} with hw_multiple {}: 5-D graphs take whole patches of 1 frame",
                        l.patch, l.hw_multiple
                    ));
                }
                if tr.inputs.video_coords.is_some() || self.rope.modes.is_some() {
                    return Err("a 5-D transformer places its positions itself: no video_coords, no rope.modes".into());
                }
                let first_frame_mask =
                    self.conditioning.i2v.as_ref().is_some_and(|r| r.method == I2vMethod::FirstFrameMask);
                if first_frame_mask && !tr.timestep_per_token {
                    return Err("conditioning.i2v first_frame_mask gives the first frame its own timestep: it needs \
                         components.transformer.timestep_per_token"
                        .into());
                }
                if self.conditioning.condition.is_some() || self.windows.is_some() {
                    return Err("conditioning.condition and windows work on the token layout only".into());
                }
            }
        }
        if let Some(expert) = &tr.low_noise {
            let b = expert.boundary_ratio;
            if !(b > 0.0 && b < 1.0) {
                return Err(format!("components.transformer.low_noise.boundary_ratio {b} must be between 0 and 1"));
            }
            if self.windows.is_some() {
                return Err("windows run one transformer: a model with a low-noise expert has none".into());
            }
        }
        if tr.inputs.video_coords.is_some() != self.rope.modes.is_some() {
            return Err("rope.modes and components.transformer.inputs.video_coords come together".into());
        }
        let concat = self.conditioning.i2v.as_ref().filter(|r| r.method == I2vMethod::ChannelConcat);
        if let Some(rules) = concat {
            if tr.layout != Layout::Video5d || rules.mask_channels != l.temporal_ratio {
                return Err(format!(
                    "conditioning.i2v channel_concat: a 5-D transformer and mask_channels = latent.temporal_ratio ({})",
                    l.temporal_ratio
                ));
            }
        } else if self.conditioning.i2v.as_ref().is_some_and(|r| r.last_frame) {
            return Err("conditioning.i2v.last_frame is for channel_concat".into());
        }
        if c.image_encoder.is_some() != tr.inputs.encoder_hidden_states_image.is_some()
            || (c.image_encoder.is_some() && concat.is_none())
        {
            return Err("components.image_encoder, components.transformer.inputs.encoder_hidden_states_image and \
                 conditioning.i2v channel_concat come together"
                .into());
        }
        if let Some(e) = &c.image_encoder {
            e.check().map_err(|e| format!("components.image_encoder: {e}"))?;
        }
        let euler = matches!(self.scheduler, SchedulerConfig::FlowMatchEuler(_));
        let unipc = matches!(self.scheduler, SchedulerConfig::Unipc(_));
        // UniPC steps whole latents (or all but a frozen first frame): no per-token schedules.
        let conditioned = self.conditioning.condition.is_some();
        if !(euler || unipc) || (unipc && (conditioned || self.windows.is_some())) {
            return Err("scheduler: text and image to video step with flow_match_euler or unipc; conditioning \
                 on frames or clips and windows with flow_match_euler"
                .into());
        }
        let (te, vd) = (&c.text_encoder, &c.vae_decoder);
        if te.zero_padding && tr.inputs.encoder_attention_mask.is_some() {
            return Err("components.text_encoder.zero_padding is for transformers without a text mask".into());
        }
        if vd.timestep_conditioning && vd.inputs.timestep.is_none() {
            return Err("components.vae_decoder: a timestep-conditioned decoder names its inputs.timestep".into());
        }
        for (name, chunks) in [("vae_encoder", &c.vae_encoder.causal_chunks), ("vae_decoder", &vd.causal_chunks)] {
            if let Some(k) = chunks {
                k.check().map_err(|e| format!("components.{name}.causal_chunks: {e}"))?;
            }
        }
        if vd.causal_chunks.is_some() && (vd.timestep_conditioning || self.decode.tiling.is_some()) {
            return Err("components.vae_decoder: a chunked decoder is neither timestep-conditioned nor tiled".into());
        }
        Ok(())
    }

    /// A window the long pipeline can slide: whole latent frames, an overlap of 1 or at least 3
    /// latent frames (diffusers' stitching loses or repeats a frame per window otherwise) and
    /// shorter than the window.
    fn check_windows(&self, w: &Windows) -> Result<(), String> {
        let (rule, t) = (self.latent.frame_rule, self.latent.temporal_ratio);
        if w.frames > super::limits::MAX_FRAMES {
            return Err(format!("frames {} is more than {}", w.frames, super::limits::MAX_FRAMES));
        }
        if w.frames < rule.plus + rule.mult || !(w.frames - rule.plus).is_multiple_of(rule.mult) {
            return Err(format!("frames {} is not a length this model makes ({}k+{})", w.frames, rule.mult, rule.plus));
        }
        let (tile, ov) = ((w.frames - 1) / t + 1, w.overlap / t);
        if ov == 0 || ov == 2 || ov >= tile {
            return Err(format!(
                "overlap {} is {ov} latent frames; it must be 1 or 3 to {} (times {t} frames)",
                w.overlap,
                tile - 1
            ));
        }
        if w.decode_context > MAX_DECODE_CONTEXT {
            return Err(format!("decode_context {} is more than {MAX_DECODE_CONTEXT} latent frames", w.decode_context));
        }
        // NaN fails the range checks too.
        if w.overlap_strength == 0.0
            || !(0.0..=1.0).contains(&w.overlap_strength)
            || !(0.0..=1.0).contains(&w.adain_factor)
        {
            return Err(format!(
                "overlap_strength {} must be in (0, 1] and adain_factor {} in [0, 1]",
                w.overlap_strength, w.adain_factor
            ));
        }
        Ok(())
    }

    /// Each graph's precision, by its manifest name.
    pub fn precisions(&self) -> [(&'static str, &Precision); 4] {
        let c = &self.components;
        [
            ("text_encoder", &c.text_encoder.precision),
            ("transformer", &c.transformer.precision),
            ("vae_encoder", &c.vae_encoder.precision),
            ("vae_decoder", &c.vae_decoder.precision),
        ]
    }

    /// The graph file of a component [`Manifest::precisions`] names.
    pub fn component_file(&self, component: &str) -> Option<&str> {
        let c = &self.components;
        Some(match component {
            "text_encoder" => &c.text_encoder.file,
            "transformer" => &c.transformer.file,
            "vae_encoder" => &c.vae_encoder.file,
            "vae_decoder" => &c.vae_decoder.file,
            _ => return None,
        })
    }

    pub(super) fn files(&self) -> Vec<&str> {
        let c = &self.components;
        let graphs =
            [&c.tokenizer.file, &c.text_encoder.file, &c.transformer.file, &c.vae_encoder.file, &c.vae_decoder.file];
        let chunks = [&c.vae_encoder.causal_chunks, &c.vae_decoder.causal_chunks];
        graphs
            .into_iter()
            .map(String::as_str)
            .chain(c.transformer.low_noise.as_ref().map(|e| e.file.as_str()))
            .chain(c.image_encoder.as_ref().map(|e| e.file.as_str()))
            .chain(chunks.into_iter().flatten().map(|k| k.first_file.as_str()))
            .chain(c.frame_classifier.as_ref().map(|f| f.file.as_str()))
            .collect()
    }

    /// The most frames of a clip a shot can continue from: any number by conditioning on a clip,
    /// one (the shot's first) for a model that conditions on a given first frame only.
    pub fn max_context_frames(&self) -> usize {
        match (&self.conditioning.i2v, &self.conditioning.condition) {
            (Some(_), None) => 1,
            _ => usize::MAX,
        }
    }

    /// Pixel frame count the model can make nearest to `wanted` (rounding up).
    pub fn frames_for(&self, wanted: usize) -> usize {
        let FrameRule { mult, plus } = self.latent.frame_rule;
        if wanted <= plus {
            return plus;
        }
        (wanted - plus).div_ceil(mult) * mult + plus
    }

    /// The longest clip the model can make of at most `n` frames (rounding down; 0 when even the
    /// shortest is longer): how many of `n` given frames a condition can use.
    pub fn frames_within(&self, n: usize) -> usize {
        let FrameRule { mult, plus } = self.latent.frame_rule;
        if n < plus {
            return 0;
        }
        (n - plus) / mult * mult + plus
    }

    /// Size rounded to the VAE's multiple (at least one multiple).
    pub fn size_for(&self, width: usize, height: usize) -> (usize, usize) {
        let m = self.latent.hw_multiple;
        let round = |v: usize| (v.div_ceil(m) * m).max(m);
        (round(width), round(height))
    }
}

#[cfg(test)]
mod tests;
