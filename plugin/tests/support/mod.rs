//! What the parity tests (LTX, Wan) share: the workspace, the tiny model with the wheel's ONNX Runtime,
//! and the recorded fixtures (tensors and images).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use kinema::diffusion::{RecordedNoise, VideoModel};
use kinema::frame_io::Frame;
use kinema::models::resolve_in;
use serde_json::Value;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn fixtures() -> PathBuf {
    workspace().join("models/ltx/fixtures")
}

pub fn model() -> Arc<VideoModel> {
    static LIB: OnceLock<()> = OnceLock::new();
    LIB.get_or_init(|| {
        let dir = kinema_bundle::target_dir().join("ort-runtime");
        let lib = kinema_bundle::runtime_library(kinema_bundle::Flavour::Cpu, &dir).expect("ONNX Runtime wheel");
        std::env::set_var("KINEMA_ORT_LIB", lib);
    });
    VideoModel::open(&resolve_in("ltx", &[workspace().join("models")]).unwrap()).unwrap()
}

/// The bundled Kinema-tiny.
#[allow(dead_code)]
pub fn kinema_tiny() -> Arc<VideoModel> {
    model();
    VideoModel::open(&resolve_in("kinema-tiny", &[workspace().join("models")]).unwrap()).unwrap()
}

pub fn tensor(case: &Value, name: &str) -> Vec<f32> {
    tensor_in(&fixtures(), case, name)
}

/// A float32 tensor of a case recorded under `dir`.
pub fn tensor_in(dir: &Path, case: &Value, name: &str) -> Vec<f32> {
    let t = &case["tensors"][name];
    assert_eq!(t["dtype"], "float32", "{name}");
    let bytes = std::fs::read(dir.join(t["file"].as_str().unwrap())).unwrap();
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

pub fn png(name: &str) -> Frame {
    png_in(&fixtures(), name)
}

/// An RGB PNG under `dir` as a frame (0..1).
pub fn png_in(dir: &Path, name: &str) -> Frame {
    let img = image::open(dir.join(name)).unwrap().to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut f = Frame::new(3, h, w);
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            f.plane_mut(c)[i] = f32::from(px[c]) / 255.0;
        }
    }
    f
}

/// The case's recorded draws, to replay in order.
pub fn recorded_noise(case: &Value) -> RecordedNoise {
    recorded_noise_in(&fixtures(), case)
}

/// [`recorded_noise`] of a case recorded under `dir`.
pub fn recorded_noise_in(dir: &Path, case: &Value) -> RecordedNoise {
    let draws = case["draws"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let shape: Vec<usize> =
                d["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            (shape, tensor_in(dir, case, d["tensor"].as_str().unwrap()))
        })
        .collect();
    RecordedNoise::new(draws)
}

pub fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
