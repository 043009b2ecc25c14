//! `manifest.json` of a latent video diffusion model (LTX-Video layout): which graphs, which
//! tensor names, the latent geometry and normalisation, and the pipeline rules that live
//! outside the graphs. Everything the runtime needs is declared here rather than coded per
//! model; unknown values are errors that name the field.

use std::path::Path;

use serde::Deserialize;

use super::scheduler::SchedulerConfig;
use crate::engine::EngineError;

#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub kind: String,
    pub family: String,
    pub name: String,
    pub components: Components,
    pub latent: Latent,
    pub rope: Rope,
    pub scheduler: SchedulerConfig,
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
pub struct Components {
    pub tokenizer: TokenizerSpec,
    pub text_encoder: TextEncoderSpec,
    pub transformer: TransformerSpec,
    pub vae_encoder: VaeEncoderSpec,
    pub vae_decoder: VaeDecoderSpec,
    /// The classifier every generated frame is reviewed with before any frame of a shot is
    /// served or cached (`engine::review`); the content policy sets which labels flag a shot.
    #[serde(default)]
    pub frame_classifier: Option<FrameClassifierSpec>,
}

/// An image classifier with labelled outputs: `input` takes RGB frames `[N, 3, height, width]`
/// in 0..1, `output` gives one score per label `[N, labels]` (probabilities: the policy's
/// thresholds are compared with them as they are).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameClassifierSpec {
    pub file: String,
    pub input: String,
    pub output: String,
    /// The size frames are scaled to (whole frame, not cropped: nothing escapes review).
    pub width: usize,
    pub height: usize,
    pub labels: Vec<String>,
}

/// Largest classifier input side: review models take thumbnails (224–512 px).
const MAX_CLASSIFIER_SIDE: usize = 4096;

impl FrameClassifierSpec {
    fn check(&self) -> Result<(), String> {
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 || w.max(h) > MAX_CLASSIFIER_SIDE {
            return Err(format!("the input size {w}x{h} must be 1 to {MAX_CLASSIFIER_SIDE} pixels a side"));
        }
        if self.labels.is_empty() {
            return Err("labels is empty: a classifier must say what each score means".into());
        }
        for (i, label) in self.labels.iter().enumerate() {
            if label.trim().is_empty() || self.labels[..i].contains(label) {
                return Err(format!("label {:?} is empty or listed twice", label));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct TokenizerSpec {
    pub file: String,
    pub pad_id: i64,
    pub max_length: PerPipeline<usize>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MaskInput {
    /// The encoder sees an all-ones mask (diffusers calls T5 without one).
    Ones,
    /// The encoder sees the tokenizer's mask.
    TokenizerMask,
}

/// What a graph's weights are stored as.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    #[default]
    Fp32,
    Fp16,
    /// Blocks in `MatMulNBits`; activations fp32 or int8, as `compute` says.
    Int8,
    Int4,
}

/// What a graph computes in.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    #[default]
    Fp32,
    Fp16,
    /// Activations quantized to int8 per block inside `MatMulNBits` (accuracy level 4): CPU int8 math.
    Int8,
}

/// A component's precision as `models/ltx/export.py --dtype` wrote it. Its inputs and outputs are
/// float32 whatever the weights: the runtime feeds and reads f32.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Precision {
    pub weights: Weights,
    pub compute: Compute,
    #[serde(default = "float32")]
    pub io: String,
    /// Quantized weights: the operator that holds them (`MatMulNBits`).
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub block_size: Option<usize>,
}

fn float32() -> String {
    "float32".into()
}

impl Default for Precision {
    fn default() -> Self {
        Precision { weights: Weights::Fp32, compute: Compute::Fp32, io: float32(), format: None, block_size: None }
    }
}

impl Precision {
    /// Combinations the exporter writes and the runtime can feed.
    fn check(&self) -> Result<(), String> {
        if self.io != "float32" {
            return Err(format!("io '{}' is not supported (Kinema feeds and reads float32)", self.io));
        }
        match (self.weights, self.compute) {
            (Weights::Fp32, Compute::Fp32) | (Weights::Fp16, Compute::Fp16) => Ok(()),
            (Weights::Int8 | Weights::Int4, Compute::Fp32 | Compute::Int8)
                if self.format.as_deref() == Some("MatMulNBits") =>
            {
                Ok(())
            }
            (Weights::Int8 | Weights::Int4, Compute::Fp32 | Compute::Int8) => {
                Err(format!("quantized weights in format {:?}; only MatMulNBits is supported", self.format))
            }
            (w, c) => Err(format!("{w:?} weights with {c:?} compute is not a precision Kinema runs")),
        }
    }

    /// Short name for messages: `fp32`, `fp16`, `int8`, `int4`.
    pub fn name(&self) -> &'static str {
        match self.weights {
            Weights::Fp32 => "fp32",
            Weights::Fp16 => "fp16",
            Weights::Int8 => "int8",
            Weights::Int4 => "int4",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct TextEncoderSpec {
    pub file: String,
    /// How the graph stores and computes (absent: fp32, as older exports are).
    #[serde(default)]
    pub precision: Precision,
    pub inputs: TextEncoderInputs,
    pub output: String,
    pub mask_input: PerPipeline<MaskInput>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TextEncoderInputs {
    pub input_ids: String,
    pub attention_mask: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TransformerSpec {
    pub file: String,
    /// How the graph stores and computes (absent: fp32, as older exports are).
    #[serde(default)]
    pub precision: Precision,
    /// 2: one batched run gives the unconditional and the conditional velocity.
    pub batch: usize,
    pub inputs: TransformerInputs,
    pub output: String,
    pub timestep_scale: f32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TransformerInputs {
    pub hidden_states: String,
    pub encoder_hidden_states: String,
    pub encoder_attention_mask: String,
    pub timestep: String,
    pub video_coords: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct VaeEncoderSpec {
    pub file: String,
    /// How the graph stores and computes (absent: fp32, as older exports are).
    #[serde(default)]
    pub precision: Precision,
    pub input: String,
    pub output: String,
    pub logvar_clamp: [f32; 2],
}

#[derive(Clone, Debug, Deserialize)]
pub struct VaeDecoderSpec {
    pub file: String,
    /// How the graph stores and computes (absent: fp32, as older exports are).
    #[serde(default)]
    pub precision: Precision,
    pub inputs: VaeDecoderInputs,
    pub output: String,
    pub timestep_conditioning: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct VaeDecoderInputs {
    pub latent: String,
    pub timestep: String,
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

#[derive(Clone, Debug, Deserialize)]
pub struct Rope {
    pub modes: PerPipeline<RopeMode>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Guidance {
    pub cfg: Cfg,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Cfg {
    pub default: f32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Conditioning {
    pub condition: ConditionRules,
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
        if m.family != "ltx" {
            return Err(bad(format!("family '{}' is not supported (supported: ltx)", m.family)));
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
        let l = &m.latent;
        if l.patch != [1, 1, 1] {
            return Err(bad(format!("latent.patch {:?} is not supported (only [1, 1, 1] packing)", l.patch)));
        }
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
        if !matches!(m.scheduler, SchedulerConfig::FlowMatchEuler(_)) {
            return Err(bad("LTX pipelines need a flow_match_euler scheduler".into()));
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
        graphs.into_iter().map(String::as_str).chain(c.frame_classifier.as_ref().map(|f| f.file.as_str())).collect()
    }

    /// Pixel frame count the model can make nearest to `wanted` (rounding up).
    pub fn frames_for(&self, wanted: usize) -> usize {
        let FrameRule { mult, plus } = self.latent.frame_rule;
        if wanted <= plus {
            return plus;
        }
        (wanted - plus).div_ceil(mult) * mult + plus
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
