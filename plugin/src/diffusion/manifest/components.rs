//! The graphs a video model names in its manifest (`components`) and how each is fed: tensor
//! names, precision, and the layout differences between families (token-major or 5-D latents,
//! per-token or per-sample timesteps, whole or causal-chunked VAEs).

use serde::Deserialize;

use super::PerPipeline;

#[derive(Clone, Debug, Deserialize)]
pub struct Components {
    pub tokenizer: TokenizerSpec,
    pub text_encoder: TextEncoderSpec,
    pub transformer: TransformerSpec,
    pub vae_encoder: VaeEncoderSpec,
    pub vae_decoder: VaeDecoderSpec,
    /// Embeds the given frames for the transformer (Wan I2V's CLIP vision encoder).
    #[serde(default)]
    pub image_encoder: Option<ImageEncoderSpec>,
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

/// An image encoder: `input` takes `[K, 3, size, size]` RGB normalised by `mean`/`std` (after
/// scaling to 0..1), `output` gives `[K, N, D]` embeddings.
#[derive(Clone, Debug, Deserialize)]
pub struct ImageEncoderSpec {
    pub file: String,
    pub input: String,
    pub output: String,
    pub size: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl ImageEncoderSpec {
    pub(super) fn check(&self) -> Result<(), String> {
        if !(1..=MAX_CLASSIFIER_SIDE).contains(&self.size) {
            return Err(format!("size {} must be 1 to {MAX_CLASSIFIER_SIDE}", self.size));
        }
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) || self.mean.iter().any(|m| !m.is_finite()) {
            return Err("mean must be finite and std finite and above 0".into());
        }
        Ok(())
    }
}

/// Largest classifier input side: review models take thumbnails (224–512 px).
const MAX_CLASSIFIER_SIDE: usize = 4096;

impl FrameClassifierSpec {
    pub(super) fn check(&self) -> Result<(), String> {
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
    /// What the pipeline does to a prompt before tokenizing it (Wan's `prompt_clean`).
    #[serde(default)]
    pub clean: PromptClean,
}

/// Prompt clean-up before tokenizing.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PromptClean {
    /// The prompt as typed (LTX).
    #[default]
    None,
    /// HTML entities decoded and runs of whitespace collapsed to one space, ends trimmed (Wan's
    /// `prompt_clean` without ftfy's mojibake repair, which leaves well-formed text unchanged).
    Whitespace,
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
    pub(super) fn check(&self) -> Result<(), String> {
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
    /// Embeddings of padding tokens are set to zero after encoding (Wan cuts each prompt's
    /// embeddings to its length and pads them with zeros; its transformer takes no text mask).
    #[serde(default)]
    pub zero_padding: bool,
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
    /// How latents are laid out in `hidden_states` and the output.
    #[serde(default)]
    pub layout: Layout,
    /// `timestep` is `[2, S]`, one per token (LTX), or `[2]`, one per guidance half (Wan 2.1).
    #[serde(default = "yes")]
    pub timestep_per_token: bool,
    /// Which tokens per-token timesteps are for.
    #[serde(default)]
    pub timestep_grid: TimestepGrid,
    /// A second transformer for the low-noise steps (Wan 2.2 A14B): this one runs while the
    /// timestep is at least `boundary_ratio`·1000, the expert after.
    #[serde(default)]
    pub low_noise: Option<LowNoiseExpert>,
}

/// The low-noise expert: the same inputs and outputs as the transformer it follows.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LowNoiseExpert {
    pub file: String,
    pub boundary_ratio: f32,
}

fn yes() -> bool {
    true
}

/// The tokens a per-token timestep is given for.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimestepGrid {
    /// One per latent token (LTX).
    #[default]
    Latent,
    /// One per transformer patch (Wan 2.2 `expand_timesteps`): the latent grid sampled at each
    /// patch's first row and column.
    Patch,
}

/// The transformer's latent layout.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Packed tokens `[2, S, C]` in f, h, w order (LTX): patching happens outside the graph.
    #[default]
    Tokens,
    /// The latent video `[2, C, F, H, W]` (Wan): the graph patchifies and places RoPE itself.
    Video5d,
}

/// Input names; the optional ones are absent from graphs that take no text mask (Wan) or compute
/// their positions inside (Wan's RoPE).
#[derive(Clone, Debug, Deserialize)]
pub struct TransformerInputs {
    pub hidden_states: String,
    pub encoder_hidden_states: String,
    #[serde(default)]
    pub encoder_attention_mask: Option<String>,
    pub timestep: String,
    #[serde(default)]
    pub video_coords: Option<String>,
    /// The image encoder's embeddings of the given frames (Wan I2V).
    #[serde(default)]
    pub encoder_hidden_states_image: Option<String>,
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
    /// How a latent is taken from the posterior.
    #[serde(default)]
    pub sample_mode: SampleMode,
    /// A causal VAE run chunk by chunk with its caches carried between runs (Wan).
    #[serde(default)]
    pub causal_chunks: Option<CausalChunks>,
}

/// diffusers' `retrieve_latents(sample_mode=...)`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SampleMode {
    /// A draw from the posterior (LTX's I2V and Condition pipelines).
    #[default]
    Sample,
    /// Its mean (`argmax`, Wan).
    Mode,
}

/// A causal video VAE exported as two chunk graphs, so the frame count is never baked in: the
/// first chunk's graph (`first_file`, `first_frames` frames in) and the graph every later chunk
/// runs (the component's `file`, `frames` frames in). Each run outputs its causal caches
/// (`cache_outputs` + k, k = 0, 1, ...) and every later run takes them back (`cache_inputs` + k).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CausalChunks {
    pub first_file: String,
    pub first_frames: usize,
    pub frames: usize,
    pub cache_inputs: String,
    pub cache_outputs: String,
}

/// Chunks of more frames than this are not a causal VAE's chunking.
const MAX_CHUNK_FRAMES: usize = 64;

impl CausalChunks {
    pub(super) fn check(&self) -> Result<(), String> {
        let ok = |n: usize| (1..=MAX_CHUNK_FRAMES).contains(&n);
        if !ok(self.first_frames) || !ok(self.frames) {
            return Err(format!(
                "first_frames {} and frames {} must be 1 to {MAX_CHUNK_FRAMES}",
                self.first_frames, self.frames
            ));
        }
        if self.cache_inputs.is_empty() || self.cache_outputs.is_empty() || self.cache_inputs == self.cache_outputs {
            return Err("cache_inputs and cache_outputs must be two different, non-empty name prefixes".into());
        }
        Ok(())
    }
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
    /// A causal VAE decoded chunk by chunk with its caches carried between runs (Wan).
    #[serde(default)]
    pub causal_chunks: Option<CausalChunks>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct VaeDecoderInputs {
    pub latent: String,
    /// Only for a timestep-conditioned decoder.
    #[serde(default)]
    pub timestep: Option<String>,
}
