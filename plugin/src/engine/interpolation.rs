//! Neural frame interpolation (RIFE-class): two frames and a timestep in, the frame between out.
//!
//! The model folder's manifest names the tensors, the flow-scale variants and the padding each
//! needs; nothing here is specific to one network. Results are cached by frame content, so a
//! host asking for the same in-between frame twice runs the network once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use ort::value::{Tensor, TensorElementType};
use parking_lot::Mutex;
use serde::Deserialize;

use super::EngineError;
use crate::cache::ByteLru;
use crate::frame_io::Frame;
use crate::models::ModelDir;
use crate::runtime::{self, Provider, ProviderPreference, SharedSession};

/// `manifest.json` of an interpolation model.
#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub kind: String,
    pub name: String,
    pub inputs: Inputs,
    pub output: String,
    pub variants: Vec<Variant>,
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
}

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
fn frame_cache() -> &'static ByteLru<(PathBuf, u64, u64, u32), Frame> {
    static CACHE: OnceLock<ByteLru<(PathBuf, u64, u64, u32), Frame>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let mb = crate::settings::env_u64("KINEMA_FRAME_CACHE_MB", 512) as usize;
        ByteLru::new(mb << 20)
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

/// Drops cached in-between frames (OFX PurgeCaches).
pub fn purge_cache() {
    frame_cache().clear();
}

impl Interpolator {
    /// Opens (once per folder, then shared) the interpolation model in `model`.
    pub fn open(model: &ModelDir) -> Result<Arc<Interpolator>, EngineError> {
        static OPEN: Mutex<Option<HashMap<PathBuf, Arc<Interpolator>>>> = Mutex::new(None);
        let mut open = OPEN.lock();
        let map = open.get_or_insert_with(HashMap::new);
        if let Some(found) = map.get(&model.root) {
            return Ok(found.clone());
        }
        let loaded = Arc::new(Self::load(model)?);
        map.insert(model.root.clone(), loaded.clone());
        Ok(loaded)
    }

    fn load(model: &ModelDir) -> Result<Interpolator, EngineError> {
        let bad = |reason: String| EngineError::Manifest { model: model.name.clone(), reason };
        let path = model.manifest_path();
        let text = std::fs::read_to_string(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| bad(format!("{} is not an interpolation manifest: {e}", path.display())))?;
        if manifest.kind != "interpolation" {
            return Err(bad(format!(
                "{} says kind '{}', but Interpolate needs an 'interpolation' model",
                path.display(),
                manifest.kind
            )));
        }
        if manifest.variants.is_empty() {
            return Err(bad(format!("{} lists no model variants", path.display())));
        }
        for v in &manifest.variants {
            if !model.root.join(&v.file).is_file() {
                return Err(bad(format!(
                    "{} names {}, which is missing",
                    path.display(),
                    model.root.join(&v.file).display()
                )));
            }
            if v.pad_multiple == 0 || v.scale.is_nan() || v.scale <= 0.0 {
                return Err(bad(format!(
                    "variant {} has pad_multiple {} and scale {}",
                    v.file, v.pad_multiple, v.scale
                )));
            }
        }
        Ok(Interpolator { name: model.name.clone(), root: model.root.clone(), manifest })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
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
        let file = self.root.join(&variant.file);
        let session = runtime::session(&file, preference)?;
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
        let scale = scale.resolve(a.width, a.height);
        let (session, variant) = self.session(scale)?;
        let key = (
            self.root.join(&variant.file),
            content_hash(a),
            content_hash(b),
            t.to_bits() ^ scale.to_bits().rotate_left(16),
        );
        if let Some(hit) = frame_cache().get(&key) {
            return Ok(hit);
        }
        let frame = Arc::new(self.run(&session, variant, a, b, t)?);
        frame_cache().insert(key, frame.clone(), frame.data.len() * 4);
        Ok(frame)
    }

    fn run(
        &self,
        session: &SharedSession,
        variant: &Variant,
        a: &Frame,
        b: &Frame,
        t: f32,
    ) -> Result<Frame, EngineError> {
        NETWORK_RUNS.fetch_add(1, Ordering::Relaxed);
        let (w, h) = (a.width, a.height);
        let m = variant.pad_multiple;
        let (pw, ph) = (w.div_ceil(m) * m, h.div_ceil(m) * m);
        let peak = rgb_peak(a).max(rgb_peak(b));
        let gain = if peak > 1.0 { 1.0 / peak } else { 1.0 };
        let x0 = padded_rgb(a, pw, ph, gain);
        let x1 = padded_rgb(b, pw, ph, gain);
        let names = &self.manifest.inputs;
        let shape = [1usize, 3, ph, pw];
        let out = session.with(|s| {
            let half = s.inputs().iter().find(|i| i.name() == names.frame0).and_then(|i| i.dtype().tensor_type())
                == Some(TensorElementType::Float16);
            let outputs = if half {
                let to16 = |v: Vec<f32>| v.into_iter().map(half::f16::from_f32).collect::<Vec<_>>();
                s.run(ort::inputs![
                    names.frame0.as_str() => Tensor::from_array((shape, to16(x0)))?,
                    names.frame1.as_str() => Tensor::from_array((shape, to16(x1)))?,
                    names.timestep.as_str() => Tensor::from_array(([1usize, 1, 1, 1], vec![half::f16::from_f32(t)]))?,
                ])?
            } else {
                s.run(ort::inputs![
                    names.frame0.as_str() => Tensor::from_array((shape, x0))?,
                    names.frame1.as_str() => Tensor::from_array((shape, x1))?,
                    names.timestep.as_str() => Tensor::from_array(([1usize, 1, 1, 1], vec![t]))?,
                ])?
            };
            let value = &outputs[self.manifest.output.as_str()];
            let (dims, data): (Vec<i64>, Vec<f32>) = match value.try_extract_tensor::<f32>() {
                Ok((shape, data)) => (shape.to_vec(), data.to_vec()),
                Err(_) => {
                    let (shape, data) = value.try_extract_tensor::<half::f16>()?;
                    (shape.to_vec(), data.iter().map(|v| v.to_f32()).collect())
                }
            };
            Ok((dims, data))
        })?;
        let (dims, data) = out;
        if dims != [1, 3, ph as i64, pw as i64] {
            return Err(EngineError::Mismatch {
                model: self.name.clone(),
                reason: format!("output '{}' has shape {dims:?}, expected [1, 3, {ph}, {pw}]", self.manifest.output),
            });
        }
        let mut frame = Frame::new(3, h, w);
        for c in 0..3 {
            let src = &data[c * ph * pw..(c + 1) * ph * pw];
            let dst = frame.plane_mut(c);
            for y in 0..h {
                dst[y * w..(y + 1) * w].copy_from_slice(&src[y * pw..y * pw + w]);
            }
            if gain != 1.0 {
                dst.iter_mut().for_each(|v| *v /= gain);
            }
        }
        Ok(frame)
    }
}

/// Identifies frame content for the cache (xxh3 of the raw sample bits and the shape).
fn content_hash(f: &Frame) -> u64 {
    // SAFETY: any initialised f32 slice is a valid byte slice of four times its length.
    let bytes = unsafe { std::slice::from_raw_parts(f.data.as_ptr().cast::<u8>(), f.data.len() * 4) };
    xxhash_rust::xxh3::xxh3_64_with_seed(
        bytes,
        ((f.channels as u64) << 48) ^ ((f.height as u64) << 24) ^ f.width as u64,
    )
}

fn rgb_peak(f: &Frame) -> f32 {
    (0..3).flat_map(|c| f.plane(c).iter().copied()).filter(|v| v.is_finite()).fold(0.0, f32::max)
}

/// RGB planes of `f` in a zero-padded `pw`×`ph` canvas (padding right and bottom, as RIFE's
/// reference inference does), multiplied by `gain`.
fn padded_rgb(f: &Frame, pw: usize, ph: usize, gain: f32) -> Vec<f32> {
    let mut out = vec![0f32; 3 * pw * ph];
    for c in 0..3 {
        let src = f.plane(c);
        for y in 0..f.height {
            let row = &src[y * f.width..(y + 1) * f.width];
            let dst = &mut out[c * pw * ph + y * pw..c * pw * ph + y * pw + f.width];
            for (d, s) in dst.iter_mut().zip(row) {
                *d = if s.is_finite() { s * gain } else { 0.0 };
            }
        }
    }
    out
}
