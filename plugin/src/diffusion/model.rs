//! A video model folder opened for the pipelines: its manifest (checked), tokenizer and graphs,
//! kept while its files are unchanged and checked against the manifest before any denoising.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::value::Tensor;

use super::manifest::{Manifest, MaskInput, SampleMode, Weights};
use super::noise::Noise;
use super::pipeline::Grid;
use crate::engine::EngineError;
use crate::frame_io::{try_zeroed, Frame};
use crate::models::ModelDir;
use crate::runtime::{self, ModelCache, Provider, ProviderPreference, SharedSession};

/// The largest tokenizer.json read: Gemma 3's is 33 MB, T5's 2.4 MB.
const MAX_TOKENIZER_BYTES: u64 = 64 << 20;

/// A loaded video model: manifest, tokenizer, and its graphs' sessions (created on first use).
pub struct VideoModel {
    pub name: String,
    pub(super) root: PathBuf,
    pub manifest: Manifest,
    tokenizer: tokenizers::Tokenizer,
    files_stamp: u64,
    provenance_id: u32,
}

static MODELS: ModelCache<VideoModel> = ModelCache::new();

/// Forgets the opened video models (OFX PurgeCaches); their sessions go with
/// [`runtime::purge_sessions`].
pub fn purge_models() {
    MODELS.purge();
}

/// Video models held open now.
pub fn open_models() -> usize {
    MODELS.len()
}

impl VideoModel {
    /// Opens the video model in `model`, shared while the manifest and the files it names are
    /// unchanged (a model re-exported in place is opened again).
    pub fn open(model: &ModelDir) -> Result<Arc<VideoModel>, EngineError> {
        MODELS.get_or_load(&model.root, || model.files(), |files| Self::load(model, files.portable_hash()))
    }

    /// The normaliser of this model's tokenizer: the content policy checks prompts as it reads them.
    pub fn prompt_normalizer(&self) -> Option<crate::policy::ModelNormalizer> {
        crate::policy::ModelNormalizer::from_tokenizer(&self.tokenizer)
    }

    /// Identifies the files this model was loaded from (their names, sizes and times, the same
    /// on every machine that sees them): what it makes is keyed by it, so a model re-exported
    /// in place makes its shots again.
    pub fn files_stamp(&self) -> u64 {
        self.files_stamp
    }

    fn load(model: &ModelDir, files_stamp: u64) -> Result<VideoModel, EngineError> {
        let manifest = Manifest::load(&model.root, &model.name)?;
        let path = model.root.join(&manifest.components.tokenizer.file);
        let bad = |reason: String| EngineError::Manifest { model: model.name.clone(), reason };
        let len = std::fs::metadata(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?.len();
        if len > MAX_TOKENIZER_BYTES {
            return Err(bad(format!(
                "{} is {len} bytes; a tokenizer is at most {MAX_TOKENIZER_BYTES} bytes",
                path.display()
            )));
        }
        let tokenizer = super::tokenize::open(&path)
            .map_err(|e| bad(format!("{} is not a usable tokenizer: {e}", path.display())))?;
        let provenance_id = provenance_id(&model.root, &manifest);
        Ok(VideoModel {
            name: model.name.clone(),
            root: model.root.clone(),
            manifest,
            tokenizer,
            files_stamp,
            provenance_id,
        })
    }

    /// Names the model in what its frames carry (the watermark): a hash of its manifest and the
    /// sizes of the files it names, the same for every copy of the model wherever it lies.
    pub fn provenance_id(&self) -> u32 {
        self.provenance_id
    }

    /// The same model with another manifest (e.g. another scheduler config), sharing the
    /// tokenizer and the cached sessions.
    pub fn with_manifest(&self, manifest: Manifest) -> VideoModel {
        VideoModel {
            name: self.name.clone(),
            root: self.root.clone(),
            manifest,
            tokenizer: self.tokenizer.clone(),
            files_stamp: self.files_stamp,
            provenance_id: self.provenance_id,
        }
    }

    pub(super) fn session(&self, file: &str) -> Result<Arc<SharedSession>, EngineError> {
        let opened = runtime::session(&self.root.join(file), ProviderPreference::from_env());
        // fp16 graphs carry fp16 fused attention (models/ltx/fuse.py --half), which ONNX Runtime
        // runs on CUDA only: on the CPU they fail to load or, unfused, crawl through casts.
        let fp16 =
            self.manifest.precisions().iter().any(|(component, p)| {
                p.weights == Weights::Fp16 && self.manifest.component_file(component) == Some(file)
            });
        match opened {
            Ok(session) if fp16 && session.provider() == Provider::Cpu => {
                let why = session.skipped().iter().map(|(p, r)| format!("{}: {r}", p.name())).collect::<Vec<_>>();
                Err(self.needs_gpu(file, &why.join("; ")))
            }
            Err(e) if fp16 => Err(self.needs_gpu(file, &e.to_string())),
            other => Ok(other?),
        }
    }

    fn needs_gpu(&self, file: &str, why: &str) -> EngineError {
        let why = if why.is_empty() { "KINEMA_EP=cpu".to_string() } else { why.to_string() };
        self.mismatch(format!(
            "{file} is fp16, which runs on an NVIDIA GPU (CUDA or TensorRT) only, and no GPU provider \
             started ({why}); on the CPU use an fp32 or int8 export of this model"
        ))
    }

    /// The session of a graph the manifest names, for stages outside the pipelines (frame review).
    pub fn component_session(&self, file: &str) -> Result<Arc<SharedSession>, EngineError> {
        self.session(file)
    }

    pub(super) fn mismatch(&self, reason: String) -> EngineError {
        EngineError::Mismatch { model: self.name.clone(), reason }
    }

    /// Opens every graph a generation runs (the VAE encoder only when it `encodes` frames) and
    /// checks it has the tensors the manifest names: a broken model fails in the seconds it
    /// takes to load, not after every denoising step.
    pub fn check<'a>(&'a self, encodes: bool) -> Result<(), EngineError> {
        let c = &self.manifest.components;
        let te = &c.text_encoder;
        let tr = &c.transformer;
        let (vd, ve) = (&c.vae_decoder, &c.vae_encoder);
        let some = |names: &[&'a Option<String>]| names.iter().filter_map(|n| n.as_deref()).collect::<Vec<&str>>();
        let mut transformer_inputs =
            vec![&*tr.inputs.hidden_states, &tr.inputs.encoder_hidden_states, &tr.inputs.timestep];
        transformer_inputs.extend(some(&[
            &tr.inputs.encoder_attention_mask,
            &tr.inputs.video_coords,
            &tr.inputs.encoder_hidden_states_image,
        ]));
        let mut decoder_inputs = vec![&*vd.inputs.latent];
        decoder_inputs.extend(some(&[&vd.inputs.timestep]));
        let mut graphs: Vec<(&str, Vec<&str>, &str)> = vec![
            (&te.file, vec![&te.inputs.input_ids, &te.inputs.attention_mask], &te.output),
            (&tr.file, transformer_inputs.clone(), &tr.output),
        ];
        if let Some(expert) = &tr.low_noise {
            graphs.push((&expert.file, transformer_inputs, &tr.output));
        }
        graphs.push((&vd.file, decoder_inputs.clone(), &vd.output));
        if let Some(k) = &vd.causal_chunks {
            graphs.push((&k.first_file, decoder_inputs, &vd.output));
        }
        if encodes {
            if let Some(ie) = &c.image_encoder {
                graphs.push((&ie.file, vec![&ie.input], &ie.output));
            }
            graphs.push((&ve.file, vec![&ve.input], &ve.output));
            if let Some(k) = &ve.causal_chunks {
                graphs.push((&k.first_file, vec![&ve.input], &ve.output));
            }
        }
        if let Some(fc) = &c.frame_classifier {
            graphs.push((&fc.file, vec![&fc.input], &fc.output));
        }
        for (file, inputs, output) in graphs {
            let session = self.session(file)?;
            if let Some(reason) = session.missing_names(file, &inputs, output)? {
                return Err(self.mismatch(reason));
            }
        }
        Ok(())
    }

    /// Token ids and mask of a prompt, as the manifest pads and cuts them ([`super::tokenize::ids`]).
    pub fn tokenize(&self, text: &str, max_len: usize) -> Result<(Vec<i64>, Vec<i64>), EngineError> {
        let spec = &self.manifest.components.tokenizer;
        let text = super::tokenize::clean(text, spec.clean);
        super::tokenize::ids(&self.tokenizer, &text, max_len, spec.pad_id)
    }

    /// Text embeddings `[L, D]` of one prompt.
    pub(super) fn encode_text(
        &self,
        ids: &[i64],
        mask: &[i64],
        mask_input: MaskInput,
    ) -> Result<(Vec<f32>, usize), EngineError> {
        let spec = &self.manifest.components.text_encoder;
        let session = self.session(&spec.file)?;
        let l = ids.len();
        let encoder_mask = match mask_input {
            MaskInput::Ones => vec![1i64; l],
            MaskInput::TokenizerMask => mask.to_vec(),
        };
        let (shape, data) = session.with(|s| {
            let out = s.run(ort::inputs![
                spec.inputs.input_ids.as_str() => Tensor::from_array(([1usize, l], ids.to_vec()))?,
                spec.inputs.attention_mask.as_str() => Tensor::from_array(([1usize, l], encoder_mask))?,
            ])?;
            let (shape, data) = out[spec.output.as_str()].try_extract_tensor::<f32>()?;
            Ok((shape.to_vec(), data.to_vec()))
        })?;
        if shape.len() != 3 || shape[0] != 1 || shape[1] != l as i64 {
            return Err(self.mismatch(format!("text encoder output has shape {shape:?}, expected [1, {l}, D]")));
        }
        let dim = shape[2] as usize;
        let mut data = data;
        if spec.zero_padding {
            for (row, &m) in data.chunks_exact_mut(dim).zip(mask) {
                if m == 0 {
                    row.fill(0.0);
                }
            }
        }
        Ok((data, dim))
    }

    /// VAE-encodes RGB frames (0..1) and samples the posterior: normalised latents `[C, f, h, w]`
    /// (normalised without the scaling factor, as the I2V and Condition pipelines do).
    pub(super) fn encode_frames(
        &self,
        frames: &[Frame],
        noise: &mut dyn Noise,
    ) -> Result<(Vec<f32>, usize), EngineError> {
        let spec = &self.manifest.components.vae_encoder;
        let c = self.manifest.latent.channels;
        let (moments, (lf, lh, lw)) = self.encode_moments(frames)?;
        let n = c * lf * lh * lw;
        // The posterior's mean draws nothing (diffusers' `argmax` calls no generator).
        let eps = match spec.sample_mode {
            SampleMode::Sample => noise.draw(&[1, c, lf, lh, lw])?,
            SampleMode::Mode => try_zeroed(n, "the encoded latents")?,
        };
        let [lo, hi] = spec.logvar_clamp;
        let norm = &self.manifest.latent.norm;
        let per_channel = lf * lh * lw;
        let mut z = try_zeroed(n, "the encoded latents")?;
        for i in 0..n {
            let ch = i / per_channel;
            let std = (0.5 * moments[n + i].clamp(lo, hi)).exp();
            let sample = moments[i] + std * eps[i];
            z[i] = (sample - norm.mean[ch]) / norm.std[ch];
        }
        Ok((z, lf))
    }

    /// VAE-encodes RGB frames (0..1): the encoder's moments `[2C, f, h, w]` (means, then
    /// log-variances) and the latent grid `(f, h, w)`.
    pub(super) fn encode_moments(&self, frames: &[Frame]) -> Result<(Vec<f32>, Grid), EngineError> {
        let spec = &self.manifest.components.vae_encoder;
        let (h, w) = (frames[0].height, frames[0].width);
        let f = frames.len();
        let plane = h * w;
        let mut pixels = try_zeroed(3 * f * plane, "the frames to encode")?;
        for (fi, frame) in frames.iter().enumerate() {
            if (frame.height, frame.width) != (h, w) || frame.channels < 3 {
                return Err(EngineError::Input("conditioning frames differ in size".into()));
            }
            for c in 0..3 {
                let dst = &mut pixels[(c * f + fi) * plane..(c * f + fi + 1) * plane];
                dst.iter_mut().zip(frame.plane(c)).for_each(|(d, s)| *d = s * 2.0 - 1.0);
            }
        }
        let (shape, moments) = match &spec.causal_chunks {
            Some(chunks) => {
                let io = (spec.input.as_str(), spec.output.as_str());
                let ((mc, mf, mh, mw), moments) =
                    self.run_causal_chunks(&spec.file, chunks, io, &pixels, (3, f, h, w))?;
                (vec![1, mc as i64, mf as i64, mh as i64, mw as i64], moments)
            }
            None => self.session(&spec.file)?.with(|s| {
                let out =
                    s.run(ort::inputs![spec.input.as_str() => Tensor::from_array(([1usize, 3, f, h, w], pixels))?])?;
                let (shape, data) = out[spec.output.as_str()].try_extract_tensor::<f32>()?;
                Ok((shape.to_vec(), data.to_vec()))
            })?,
        };
        let c = self.manifest.latent.channels;
        if shape.len() != 5 || shape[1] != 2 * c as i64 {
            return Err(
                self.mismatch(format!("VAE encoder output has shape {shape:?}, expected [1, {}, f, h, w]", 2 * c))
            );
        }
        Ok((moments, (shape[2] as usize, shape[3] as usize, shape[4] as usize)))
    }
}

/// See [`VideoModel::provenance_id`]. A file that cannot be read counts as empty: the id names
/// the model, it does not vouch for it.
fn provenance_id(root: &Path, manifest: &Manifest) -> u32 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&std::fs::read(root.join("manifest.json")).unwrap_or_default());
    for file in manifest.files() {
        let len = std::fs::metadata(root.join(file)).map_or(0, |m| m.len());
        h.update(file.as_bytes());
        h.update(&len.to_le_bytes());
    }
    h.digest() as u32
}
