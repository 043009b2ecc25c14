//! The interpolation engine on the shipped RIFE model (models/rife), through ONNX Runtime from
//! the PyPI wheel: the runtime path without OFX. End-to-end renders are in tests/ at the top.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use kinema::engine::interpolation::{FlowScale, Interpolator};
use kinema::frame_io::Frame;
use kinema::models::{resolve_in, ModelDir};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The RIFE model, with KINEMA_ORT_LIB pointing at the wheel's library (set once, before any
/// ONNX Runtime call in this process).
fn rife() -> Arc<Interpolator> {
    static MODEL: OnceLock<ModelDir> = OnceLock::new();
    let model = MODEL.get_or_init(|| {
        let dir = kinema_bundle::target_dir().join("ort-runtime");
        let lib = kinema_bundle::runtime_library(kinema_bundle::Flavour::Cpu, &dir).expect("ONNX Runtime wheel");
        std::env::set_var("KINEMA_ORT_LIB", lib);
        resolve_in("rife", &[workspace().join("models")]).unwrap()
    });
    Interpolator::open(model).unwrap()
}

fn fixture(name: &str) -> Frame {
    let img = image::open(workspace().join("models/rife/fixtures").join(name)).unwrap().to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut frame = Frame::new(3, h, w);
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            frame.plane_mut(c)[i] = f32::from(px[c]) / 255.0;
        }
    }
    frame
}

fn max_abs(a: &Frame, b: &Frame) -> f32 {
    a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn mean_abs(a: &Frame, b: &Frame) -> f32 {
    a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.data.len() as f32
}

#[test]
fn timestep_0_and_1_reproduce_the_inputs() {
    let (a, b) = (fixture("bikes_063_0.png"), fixture("bikes_063_1.png"));
    let rife = rife();
    let at0 = rife.interpolate(&a, &b, 0.0, FlowScale::Fixed(1.0)).unwrap();
    let at1 = rife.interpolate(&a, &b, 1.0, FlowScale::Fixed(1.0)).unwrap();
    assert_eq!((at0.width, at0.height, at0.channels), (a.width, a.height, 3));
    // The network is a blend of warped inputs: at the ends it returns them up to rounding.
    assert!(
        mean_abs(&at0, &a) < 1e-3 && max_abs(&at0, &a) < 0.05,
        "t=0: mean {} max {}",
        mean_abs(&at0, &a),
        max_abs(&at0, &a)
    );
    assert!(
        mean_abs(&at1, &b) < 1e-3 && max_abs(&at1, &b) < 0.05,
        "t=1: mean {} max {}",
        mean_abs(&at1, &b),
        max_abs(&at1, &b)
    );
    let mid = rife.interpolate(&a, &b, 0.5, FlowScale::Fixed(1.0)).unwrap();
    assert!(mean_abs(&mid, &a) > 5e-3 && mean_abs(&mid, &b) > 5e-3, "the middle frame is neither input");
}

#[test]
fn the_same_pair_and_timestep_runs_the_network_once() {
    let (a, b) = (fixture("bikes_150_0.png"), fixture("bikes_150_1.png"));
    let rife = rife();
    let first = rife.interpolate(&a, &b, 0.3, FlowScale::Auto).unwrap();
    let again = rife.interpolate(&a, &b, 0.3, FlowScale::Auto).unwrap();
    assert!(Arc::ptr_eq(&first, &again), "the second request must come from the cache");
    let other = rife.interpolate(&a, &b, 0.7, FlowScale::Auto).unwrap();
    assert!(!Arc::ptr_eq(&first, &other));
}

#[test]
fn odd_sizes_are_padded_and_cropped_and_half_scale_works() {
    let (a, b) = (fixture("bikes_196_0.png"), fixture("bikes_196_1.png"));
    // 301×177: neither side a multiple of 64 or 128.
    let (a, b) = (a.crop(7, 5, 301, 177).unwrap(), b.crop(7, 5, 301, 177).unwrap());
    let rife = rife();
    let full = rife.interpolate(&a, &b, 0.5, FlowScale::Fixed(1.0)).unwrap();
    let half = rife.interpolate(&a, &b, 0.5, FlowScale::Fixed(0.5)).unwrap();
    assert_eq!((full.width, full.height), (301, 177));
    assert_eq!((half.width, half.height), (301, 177));
    // Two flow resolutions, one picture: close, but not the same computation.
    assert!(mean_abs(&full, &half) < 0.04, "{}", mean_abs(&full, &half));
    assert!(full.data != half.data);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let rife = rife();
    let a = fixture("bikes_040_0.png");
    let small = a.crop(0, 0, 64, 64).unwrap();
    let err = rife.interpolate(&a, &small, 0.5, FlowScale::Auto).unwrap_err().to_string();
    assert!(err.contains("differ in size"), "{err}");
    let err = rife.interpolate(&a, &a, 1.5, FlowScale::Auto).unwrap_err().to_string();
    assert!(err.contains("outside 0..1"), "{err}");
}

#[test]
fn a_manifest_naming_a_wrong_tensor_is_a_clear_error() {
    rife(); // the runtime library is set up
    let dir = std::env::temp_dir().join(format!("kinema-bad-rife-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = workspace().join("models/rife");
    for f in ["rife_s1_fp32.onnx", "rife_fp32.onnx.data"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let manifest = std::fs::read_to_string(src.join("manifest.json"))
        .unwrap()
        .replace("\"frame0\": \"frame0\"", "\"frame0\": \"img0\"");
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
    let model = resolve_in(dir.to_str().unwrap(), &[]).unwrap();
    // The manifest also lists variants this folder lacks: that is reported first.
    let err = Interpolator::open(&model).err().expect("missing variant files").to_string();
    assert!(err.contains("rife_s05_fp32.onnx") && err.contains("missing"), "{err}");
    // With only the variant it has, the wrong tensor name is what the first run reports.
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    json["variants"] = serde_json::json!([json["variants"][0].clone()]);
    std::fs::write(dir.join("manifest.json"), json.to_string()).unwrap();
    let a = fixture("bikes_040_0.png");
    let err = Interpolator::open(&model).unwrap().interpolate(&a, &a, 0.5, FlowScale::Auto).unwrap_err().to_string();
    assert!(err.contains("the manifest names input 'img0'") && err.contains("frame0"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The exact PyTorch output (16-bit PNG, recorded by models/rife/export.py) as a frame.
fn expected(name: &str) -> Frame {
    let img = image::open(workspace().join("models/rife/fixtures/expected").join(name)).unwrap().to_rgb16();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut frame = Frame::new(3, h, w);
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            frame.plane_mut(c)[i] = f32::from(px[c]) / 65535.0;
        }
    }
    frame
}

#[test]
fn the_engine_matches_the_pytorch_original() {
    let (a, b) = (fixture("bikes_040_0.png"), fixture("bikes_040_1.png"));
    let rife = rife();
    for (t, file) in [(0.5, "bikes_040_t050.png"), (0.25, "bikes_040_t025.png")] {
        let ours = rife.interpolate(&a, &b, t, FlowScale::Fixed(1.0)).unwrap();
        let torch = expected(file);
        let diff = max_abs(&ours, &torch);
        // ONNX vs PyTorch measured 5.5e-5 at export; the 16-bit fixture adds 7.7e-6.
        assert!(diff < 2e-4, "t={t}: max abs {diff} vs PyTorch");
    }
}
