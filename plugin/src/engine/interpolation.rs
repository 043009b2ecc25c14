//! Neural frame interpolation (RIFE-class): two frames and a timestep in, the frame between out.
//!
//! The model folder's manifest names the tensors, the flow-scale variants and the padding each
//! needs; nothing here is specific to one network. Results are cached by frame content, so a
//! host asking for the same in-between frame twice runs the network once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use ort::value::{Tensor, TensorElementType, TensorRef};
use serde::Deserialize;

use super::EngineError;
use crate::cache::ByteLru;
use crate::frame_io::Frame;
use crate::models::ModelDir;
use crate::runtime::{self, ModelCache, Provider, ProviderPreference, SharedSession};

mod pair;
use pair::{content_hash, Planes, Prepared};

/// `manifest.json` of an interpolation model.
#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub kind: String,
    pub name: String,
    pub inputs: Inputs,
    pub output: String,
    pub variants: Vec<Variant>,
    /// Colour channels of the frames the graphs take; the engine feeds RGB only.
    #[serde(default)]
    pub channels: Option<usize>,
}

/// Tensor names: two frames (1×3×H×W, 0..1) and the timestep (1×1×1×1).
#[derive(Clone, Debug, Deserialize)]
pub struct Inputs {
    pub frame0: String,
    pub frame1: String,
    pub timestep: String,
}

/// One exported graph: a flow scale (1.0 full resolution flow, 0.5 for 4K) at a precision.
#[derive(Clone, Debug, Deserialize)]
pub struct Variant {
    pub file: String,
    pub scale: f32,
    pub precision: Precision,
    /// Frame sides are padded up to a multiple of this before the network runs.
    pub pad_multiple: usize,
    /// The file holding the graph's weights when they are stored beside it (shared by variants).
    #[serde(default)]
    pub external_data: Option<String>,
    /// The same graph with the network's own intermediates as extra outputs ([`MATTE_OUTPUTS`]),
    /// for the confidence matte (`add_matte_outputs.py` makes them).
    #[serde(default)]
    pub matte_file: Option<String>,
}

/// Extra outputs of a matte graph: `flow` [1,4,H,W] (pixels, in-between to frame0 then to
/// frame1), `mask` [1,1,H,W] (weight of warped0 in the blend), `warped0` and `warped1` [1,3,H,W].
/// With their channel counts: both flows (to frame 0 and to frame 1), the blend mask, both warped frames.
pub const MATTE_OUTPUTS: [(&str, usize); 4] = [("flow", 4), ("mask", 1), ("warped0", 3), ("warped1", 3)];

/// Largest padding multiple: RIFE needs 32 / scale (64 and 128 as exported); 1024 still pads a
/// small frame to at most 1024×1024 (12 MiB a frame).
pub const MAX_PAD_MULTIPLE: usize = 1024;

/// Flow scales a RIFE-class network runs at: 0.25 (8K) to 4 (small frames).
pub const FLOW_SCALES: std::ops::RangeInclusive<f32> = 0.125..=4.0;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Fp16,
}

/// Flow estimation resolution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FlowScale {
    /// 1.0 up to 1440p, 0.5 above (large frames move many pixels per frame).
    Auto,
    Fixed(f32),
}

impl FlowScale {
    pub fn resolve(self, width: usize, height: usize) -> f32 {
        match self {
            FlowScale::Fixed(s) => s,
            FlowScale::Auto if width * height > 2560 * 1440 => 0.5,
            FlowScale::Auto => 1.0,
        }
    }
}

/// A loaded interpolation model: its manifest, validated, and the sessions made from it.
pub struct Interpolator {
    name: String,
    root: PathBuf,
    manifest: Manifest,
}

/// Cache of in-between frames: 512 MiB unless `KINEMA_FRAME_CACHE_MB` says otherwise.
/// Keyed by the session that made a frame (a new version of the graph is a new session), the
/// two frames' contents and the timestep and scale.
/// Frames count by the memory they hold (a reused buffer may be larger than its frame).
fn frame_cache() -> &'static ByteLru<(u64, u64, u64, u32), Frame> {
    static CACHE: OnceLock<ByteLru<(u64, u64, u64, u32), Frame>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let bytes = crate::settings::env_mib("KINEMA_FRAME_CACHE_MB", 512);
        ByteLru::new(usize::try_from(bytes).unwrap_or(usize::MAX))
    })
}

static NETWORK_RUNS: AtomicU64 = AtomicU64::new(0);

/// How many times an interpolation network has run in this process (cache misses), for the
/// runtime report and the tests that prove the cache works.
pub fn network_runs() -> u64 {
    NETWORK_RUNS.load(Ordering::Relaxed)
}

/// Bytes held by the in-between frame cache.
pub fn cache_bytes() -> usize {
    frame_cache().bytes()
}

/// Drops cached in-between frames and prepared network inputs (OFX PurgeCaches).
pub fn purge_cache() {
    frame_cache().clear();
    pair::purge();
}

/// Bytes held by prepared network input pairs.
pub fn pair_cache_bytes() -> usize {
    pair::bytes()
}

static MODELS: ModelCache<Interpolator> = ModelCache::new();

/// Forgets the opened interpolation models (OFX PurgeCaches).
pub fn purge_models() {
    MODELS.purge();
}

/// Interpolation models held open now.
pub fn open_models() -> usize {
    MODELS.len()
}

/// Checks the variants: files inside the model folder, paddings and scales in range, RGB.
fn check_manifest(m: &Manifest, root: &std::path::Path) -> Result<(), String> {
    if m.variants.is_empty() {
        return Err("it lists no model variants".into());
    }
    if let Some(c) = m.channels.filter(|&c| c != 3) {
        return Err(format!("channels is {c}; Interpolate feeds RGB frames (3 channels)"));
    }
    for (i, v) in m.variants.iter().enumerate() {
        for name in std::iter::once(&v.file).chain(&v.external_data) {
            crate::models::component_file(root, name).map_err(|e| format!("variants[{i}]: {e}"))?;
        }
        // The matte graph is an add-on only the Matte output runs: a folder copied without it
        // still interpolates, and asking for the matte then names the missing file.
        if let Some(name) = &v.matte_file {
            crate::models::inside(root, name).map_err(|e| format!("variants[{i}].matte_file: {e}"))?;
        }
        if !(1..=MAX_PAD_MULTIPLE).contains(&v.pad_multiple) {
            return Err(format!(
                "variants[{i}].pad_multiple is {}; it must be 1 to {MAX_PAD_MULTIPLE}",
                v.pad_multiple
            ));
        }
        if !FLOW_SCALES.contains(&v.scale) {
            return Err(format!(
                "variants[{i}].scale is {}; it must be {} to {}",
                v.scale,
                FLOW_SCALES.start(),
                FLOW_SCALES.end()
            ));
        }
    }
    Ok(())
}

impl Interpolator {
    /// Opens the interpolation model in `model`, shared while the manifest and the files it
    /// names are unchanged (a model re-exported in place is opened again).
    pub fn open(model: &ModelDir) -> Result<Arc<Interpolator>, EngineError> {
        MODELS.get_or_load(&model.root, || model.files(), |_| Self::load(model))
    }

    fn load(model: &ModelDir) -> Result<Interpolator, EngineError> {
        let path = model.manifest_path();
        let bad = |reason: String| EngineError::Manifest { model: model.name.clone(), reason };
        let text = crate::models::read_manifest(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| bad(format!("{} is not an interpolation manifest: {e}", path.display())))?;
        if manifest.kind != "interpolation" {
            return Err(bad(format!(
                "{} says kind '{}', but Interpolate needs an 'interpolation' model",
                path.display(),
                manifest.kind
            )));
        }
        check_manifest(&manifest, &model.root).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        Ok(Interpolator { name: model.name.clone(), root: model.root.clone(), manifest })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The execution provider that interpolates a `width`×`height` frame at `scale` ("?" when
    /// its session cannot open), for the status line.
    pub fn provider_name(&self, scale: FlowScale, width: usize, height: usize) -> &'static str {
        self.session(scale.resolve(width, height)).map(|(s, _)| s.provider().name()).unwrap_or("?")
    }

    /// The variant for a flow scale: the closest scale, fp32 unless `fp16` is asked for and exists.
    fn variant(&self, scale: f32, fp16: bool) -> &Variant {
        let closest = self
            .manifest
            .variants
            .iter()
            .map(|v| v.scale)
            .min_by(|a, b| (a - scale).abs().total_cmp(&(b - scale).abs()))
            .unwrap_or(1.0);
        let at_scale = || self.manifest.variants.iter().filter(move |v| v.scale == closest);
        let wanted = if fp16 { Precision::Fp16 } else { Precision::Fp32 };
        at_scale().find(|v| v.precision == wanted).or_else(|| at_scale().next()).expect("validated non-empty")
    }

    /// The session for a flow scale: fp32 first; on a GPU provider, the fp16 graph when shipped
    /// (half the memory traffic), since fp16 on the CPU would only be slower.
    pub fn session(&self, scale: f32) -> Result<(Arc<SharedSession>, &Variant), EngineError> {
        let preference = ProviderPreference::from_env();
        let fp32 = self.variant(scale, false);
        let session = self.checked_session(fp32, preference)?;
        if session.provider() != Provider::Cpu {
            let fp16 = self.variant(scale, true);
            if fp16.precision == Precision::Fp16 {
                return Ok((self.checked_session(fp16, preference)?, fp16));
            }
        }
        Ok((session, fp32))
    }

    /// A session whose tensor names match the manifest (a clear error names any that don't).
    fn checked_session(
        &self,
        variant: &Variant,
        preference: ProviderPreference,
    ) -> Result<Arc<SharedSession>, EngineError> {
        self.checked_file_session(&variant.file, variant, preference)
    }

    fn checked_file_session(
        &self,
        graph: &str,
        variant: &Variant,
        preference: ProviderPreference,
    ) -> Result<Arc<SharedSession>, EngineError> {
        let file = self.root.join(graph);
        let data: Vec<PathBuf> = variant.external_data.iter().map(|d| self.root.join(d)).collect();
        let session = runtime::session_with_data(&file, &data, preference)?;
        let names = &self.manifest.inputs;
        let wanted = [names.frame0.as_str(), names.frame1.as_str(), names.timestep.as_str()];
        match session.missing_names(&file.display().to_string(), &wanted, &self.manifest.output)? {
            Some(reason) => Err(EngineError::Mismatch { model: self.name.clone(), reason }),
            None => Ok(session),
        }
    }

    /// The frame at `t` (0 = `a`, 1 = `b`) between two frames of the same size, RGB (3 channels).
    ///
    /// Values above 1 (scene-linear float footage) are brought into the network's 0..1 range by
    /// one common factor and scaled back, so highlights survive.
    pub fn interpolate(&self, a: &Frame, b: &Frame, t: f32, scale: FlowScale) -> Result<Arc<Frame>, EngineError> {
        check_pair(a, b, t)?;
        let scale = scale.resolve(a.width, a.height);
        let (session, variant) = self.session(scale)?;
        let hashes = (content_hash(a), content_hash(b));
        let key = (session.id(), hashes.0, hashes.1, t.to_bits() ^ scale.to_bits().rotate_left(16));
        if let Some(hit) = frame_cache().get(&key) {
            return Ok(hit);
        }
        let frame = Arc::new(self.run(&session, variant, a, b, hashes, t)?);
        frame_cache().insert(key, frame.clone(), frame.data.capacity() * 4);
        Ok(frame)
    }

    /// The in-between with its confidence matte: four planes, RGB and the matte (1 where the
    /// in-between is guessing, see [`matte`]). Runs the variant's matte graph (fp32, whatever the
    /// provider: the matte graphs are fp32 only); cached like [`Self::interpolate`].
    pub fn interpolate_matte(&self, a: &Frame, b: &Frame, t: f32, scale: FlowScale) -> Result<Arc<Frame>, EngineError> {
        check_pair(a, b, t)?;
        let scale = scale.resolve(a.width, a.height);
        let variant = self.variant(scale, false);
        let Some(graph) = &variant.matte_file else {
            return Err(EngineError::Mismatch {
                model: self.name.clone(),
                reason: "its manifest lists no matte graph (matte_file) for the confidence matte".into(),
            });
        };
        crate::models::component_file(&self.root, graph).map_err(|e| EngineError::Mismatch {
            model: self.name.clone(),
            reason: format!("the confidence matte needs its matte graph: {e}"),
        })?;
        let session = self.checked_file_session(graph, variant, ProviderPreference::from_env())?;
        for (name, _) in MATTE_OUTPUTS {
            if let Some(reason) = session.missing_names(graph, &[], name)? {
                return Err(EngineError::Mismatch { model: self.name.clone(), reason });
            }
        }
        let hashes = (content_hash(a), content_hash(b));
        let key = (session.id(), hashes.0, hashes.1, t.to_bits() ^ scale.to_bits().rotate_left(16));
        if let Some(hit) = frame_cache().get(&key) {
            return Ok(hit);
        }
        let names: Vec<(&str, usize)> =
            std::iter::once((self.manifest.output.as_str(), 3)).chain(MATTE_OUTPUTS).collect();
        let prepared = pair::prepare(variant, a, b, hashes, false)?;
        let pair = prepared.padded;
        let outs = self.run_graph(&session, &prepared, t, &names)?;
        let mut frame =
            Frame::try_new(4, pair.h, pair.w).map_err(|e| EngineError::Input(format!("interpolating: {e}")))?;
        let n = pair.pw * pair.ph;
        for c in 0..3 {
            pair.crop(&outs[0][c * n..(c + 1) * n], frame.plane_mut(c), true);
        }
        let full = matte(&outs[1], &outs[2], &outs[3], &outs[4], pair.pw, pair.ph, t);
        pair.crop(&full, frame.plane_mut(3), false);
        let frame = Arc::new(frame);
        frame_cache().insert(key, frame.clone(), frame.data.capacity() * 4);
        Ok(frame)
    }

    /// Runs `session` (fp32) on the padded pair and returns the named outputs, each checked to be
    /// [1, channels, ph, pw].
    fn run_graph(
        &self,
        session: &SharedSession,
        prepared: &Prepared,
        t: f32,
        names: &[(&str, usize)],
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        NETWORK_RUNS.fetch_add(1, Ordering::Relaxed);
        let (pw, ph) = (prepared.padded.pw, prepared.padded.ph);
        let inputs = &self.manifest.inputs;
        let shape = prepared.padded.shape();
        let Planes::F32([x0, x1]) = &prepared.planes else {
            return Err(EngineError::Input("internal: the matte graph takes fp32 input frames".into()));
        };
        let outs = session.with(|s| {
            let outputs = s.run(ort::inputs![
                inputs.frame0.as_str() => TensorRef::from_array_view((shape, x0.as_slice()))?,
                inputs.frame1.as_str() => TensorRef::from_array_view((shape, x1.as_slice()))?,
                inputs.timestep.as_str() => Tensor::from_array(([1usize, 1, 1, 1], vec![t]))?,
            ])?;
            let mut all = Vec::new();
            for (name, _) in names {
                let (dims, data) = outputs[*name].try_extract_tensor::<f32>()?;
                all.push((dims.to_vec(), data.to_vec()));
            }
            Ok(all)
        })?;
        let mut planes = Vec::new();
        for ((name, c), (dims, data)) in names.iter().zip(outs) {
            if dims != [1, *c as i64, ph as i64, pw as i64] {
                return Err(EngineError::Mismatch {
                    model: self.name.clone(),
                    reason: format!("output '{name}' has shape {dims:?}, expected [1, {c}, {ph}, {pw}]"),
                });
            }
            planes.push(data);
        }
        Ok(planes)
    }

    fn run(
        &self,
        session: &SharedSession,
        variant: &Variant,
        a: &Frame,
        b: &Frame,
        hashes: (u64, u64),
        t: f32,
    ) -> Result<Frame, EngineError> {
        NETWORK_RUNS.fetch_add(1, Ordering::Relaxed);
        let names = &self.manifest.inputs;
        let half = session.with(|s| {
            Ok(s.inputs().iter().find(|i| i.name() == names.frame0).and_then(|i| i.dtype().tensor_type())
                == Some(TensorElementType::Float16))
        })?;
        let prepared = pair::prepare(variant, a, b, hashes, half)?;
        let pair = prepared.padded;
        let (pw, ph) = (pair.pw, pair.ph);
        let shape = pair.shape();
        // Cropped straight out of the session's output (a 4K output is 100 MB: no copy of it).
        let mut frame =
            Frame::try_new(3, pair.h, pair.w).map_err(|e| EngineError::Input(format!("interpolating: {e}")))?;
        let expected = [1, 3, ph as i64, pw as i64];
        let n = ph * pw;
        let mismatch = session.with(|s| {
            // The prepared inputs are lent to the run, not copied (they stay cached for the pair).
            let outputs = match &prepared.planes {
                Planes::F16([x0, x1]) => s.run(ort::inputs![
                    names.frame0.as_str() => TensorRef::from_array_view((shape, x0.as_slice()))?,
                    names.frame1.as_str() => TensorRef::from_array_view((shape, x1.as_slice()))?,
                    names.timestep.as_str() => Tensor::from_array(([1usize, 1, 1, 1], vec![half::f16::from_f32(t)]))?,
                ])?,
                Planes::F32([x0, x1]) => s.run(ort::inputs![
                    names.frame0.as_str() => TensorRef::from_array_view((shape, x0.as_slice()))?,
                    names.frame1.as_str() => TensorRef::from_array_view((shape, x1.as_slice()))?,
                    names.timestep.as_str() => Tensor::from_array(([1usize, 1, 1, 1], vec![t]))?,
                ])?,
            };
            let value = &outputs[self.manifest.output.as_str()];
            let widened: Vec<f32>;
            let (dims, data): (Vec<i64>, &[f32]) = match value.try_extract_tensor::<f32>() {
                Ok((shape, data)) => (shape.to_vec(), data),
                Err(_) => {
                    let (shape, data) = value.try_extract_tensor::<half::f16>()?;
                    widened = data.iter().map(|v| v.to_f32()).collect();
                    (shape.to_vec(), &widened)
                }
            };
            if dims != expected {
                return Ok(Some(dims));
            }
            for c in 0..3 {
                pair.crop(&data[c * n..(c + 1) * n], frame.plane_mut(c), true);
            }
            Ok(None)
        })?;
        if let Some(dims) = mismatch {
            return Err(EngineError::Mismatch {
                model: self.name.clone(),
                reason: format!("output '{}' has shape {dims:?}, expected [1, 3, {ph}, {pw}]", self.manifest.output),
            });
        }
        Ok(frame)
    }
}

/// Two frames of one size, RGB, and a timestep in 0..1.
fn check_pair(a: &Frame, b: &Frame, t: f32) -> Result<(), EngineError> {
    if (a.width, a.height) != (b.width, b.height) {
        return Err(EngineError::Input(format!(
            "the neighbouring frames differ in size ({}x{} and {}x{})",
            a.width, a.height, b.width, b.height
        )));
    }
    if a.channels < 3 || b.channels < 3 || a.width == 0 || a.height == 0 {
        return Err(EngineError::Input("interpolation needs non-empty RGB frames".into()));
    }
    if !(0.0..=1.0).contains(&t) {
        return Err(EngineError::Input(format!("timestep {t} is outside 0..1")));
    }
    Ok(())
}

fn smoothstep(lo: f32, hi: f32, x: f32) -> f32 {
    let s = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    s * s * (3.0 - 2.0 * s)
}

/// Flows whose linear-motion residual `|(1-t)·F₀ + t·F₁|` reaches these (pixels) are inconsistent.
const FLOW_TRUSTED: f32 = 0.5;
const FLOW_GUESSED: f32 = 2.0;
/// Mean RGB difference of the two warped frames (0..1, averaged over a few pixels so grain and
/// compression noise do not count) from trusted to guessed.
const WARP_TRUSTED: f32 = 0.04;
const WARP_GUESSED: f32 = 0.15;
/// Radius (pixels) of the neighbourhood the signs are averaged over.
const MATTE_RADIUS: usize = 2;

/// The confidence matte of an in-between, per pixel of the padded `width`×`height` frame: 1 where
/// it is guessing, 0 where it can be trusted. Three signs, the largest wins:
/// - forward–backward flow consistency: for motion the network believes, the flow to frame0 and
///   the flow to frame1 are opposite in the ratio t : 1-t; their residual `|(1-t)·F₀ + t·F₁|` in
///   pixels says how far they disagree;
/// - the two warped frames should show the same thing: where they differ the blend is a guess;
/// - occlusion from the network's own mask: where it weighs one warped frame far from the
///   timestep's share (it sees that one side hides what the other shows), and the two differ.
#[allow(clippy::too_many_arguments)]
pub fn matte(
    flow: &[f32],
    mask: &[f32],
    warped0: &[f32],
    warped1: &[f32],
    width: usize,
    height: usize,
    t: f32,
) -> Vec<f32> {
    let n = width * height;
    let (u, share) = (1.0 - t, (1.0 - t).max(t).max(1e-3));
    let residual: Vec<f32> = (0..n)
        .map(|i| {
            let rx = u * flow[i] + t * flow[2 * n + i];
            let ry = u * flow[n + i] + t * flow[3 * n + i];
            (rx * rx + ry * ry).sqrt()
        })
        .collect();
    let diff: Vec<f32> =
        (0..n).map(|i| (0..3).map(|c| (warped0[c * n + i] - warped1[c * n + i]).abs()).sum::<f32>() / 3.0).collect();
    let occlusion: Vec<f32> = (0..n).map(|i| ((mask[i] - u).abs() / share).min(1.0)).collect();
    let residual = crate::frame_io::box_blur(&residual, width, height, MATTE_RADIUS);
    let diff = crate::frame_io::box_blur(&diff, width, height, MATTE_RADIUS);
    let occlusion = crate::frame_io::box_blur(&occlusion, width, height, MATTE_RADIUS);
    (0..n)
        .map(|i| {
            let flow_term = smoothstep(FLOW_TRUSTED, FLOW_GUESSED, residual[i]);
            let warp_term = smoothstep(WARP_TRUSTED, WARP_GUESSED, diff[i]);
            let occ_term = smoothstep(0.4, 0.8, occlusion[i]) * smoothstep(WARP_TRUSTED / 2.0, WARP_TRUSTED, diff[i]);
            let m = flow_term.max(warp_term).max(occ_term);
            if m.is_finite() {
                m
            } else {
                1.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The shipped RIFE manifest with `edit` applied, checked against the shipped folder.
    fn check_with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<(), String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/rife");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(crate::models::MANIFEST)).unwrap()).unwrap();
        edit(&mut v);
        let m: Manifest = serde_json::from_value(v).map_err(|e| format!("parse: {e}"))?;
        check_manifest(&m, &root)
    }

    #[test]
    fn each_bad_variant_value_is_an_error_naming_its_field() {
        check_with(|_| {}).unwrap();
        type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|m| m["variants"][1]["pad_multiple"] = json!(65536)), "variants[1].pad_multiple is 65536"),
            (Box::new(|m| m["variants"][0]["pad_multiple"] = json!(0)), "variants[0].pad_multiple is 0"),
            (Box::new(|m| m["variants"][0]["scale"] = json!(0.0)), "variants[0].scale is 0"),
            (Box::new(|m| m["variants"][2]["scale"] = json!(1e300)), "variants[2].scale is inf"),
            (Box::new(|m| m["variants"][0]["scale"] = json!(-1.0)), "variants[0].scale is -1"),
            (Box::new(|m| m["channels"] = json!(4)), "channels is 4"),
            (Box::new(|m| m["variants"] = json!([])), "lists no model variants"),
            (Box::new(|m| m["variants"][0]["file"] = json!("../ltx/transformer.onnx")), "variants[0]: '../ltx"),
            (Box::new(|m| m["variants"][1]["external_data"] = json!("/etc/passwd")), "variants[1]: '/etc/passwd'"),
            (Box::new(|m| m["variants"][0]["file"] = json!("missing.onnx")), "variants[0]: missing.onnx is missing"),
        ];
        for (edit, wanted) in cases {
            let err = check_with(edit).unwrap_err();
            assert!(err.contains(wanted), "{wanted}: {err}");
        }
    }
}
