//! Shared set-up for the end-to-end tests: build the real (debug) Kinema.ofx.bundle once per
//! test binary, with the ONNX Runtime library from the PyPI wheel beside the plugin, load it into
//! the kinema-host OFX host, and make source frames.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kinema_bundle::{Flavour, Options, Profile};
use kinema_host::{Bundle, Components, Depth, Host, HostImage, Instance, ParamValue};

pub const GENERATE: &str = "com.kinema.Generate";
pub const ANIMATE: &str = "com.kinema.Animate";
pub const EXTEND: &str = "com.kinema.Extend";
pub const INTERPOLATE: &str = "com.kinema.Interpolate";

/// Path of the debug bundle, built on first call (cargo build + layout); later calls reuse it.
pub fn bundle_path() -> &'static Path {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        // The plugin switches ONNX Runtime's telemetry off through the environment unless it is off
        // already; its write (another copy of std, another lock) raced with this process's spawns of
        // `kinema` (EFAULT). Written here, under this std's lock, it is never written there.
        std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
        let options = Options { profile: Profile::Debug, flavour: Flavour::Cpu, out: None, with_cli: true };
        kinema_bundle::build(&options).unwrap_or_else(|e| panic!("building the test bundle failed: {e:#}"))
    })
}

/// The bundle loaded into a fresh strict host (each test gets its own handle; the library is
/// shared): a parameter write during a render is refused and recorded as a violation. Caches
/// (generated clips, TensorRT engines) go to a fresh folder per test process, so tests never read
/// clips an earlier run left on disk.
pub fn load_bundle() -> Bundle {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        sweep_caches_of_ended_processes();
        let dir = std::env::temp_dir().join(format!("kinema-test-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::env::set_var("KINEMA_CACHE_DIR", &dir);
        dir
    });
    Host::new()
        .strict(true)
        .load_bundle(bundle_path())
        .unwrap_or_else(|e| panic!("loading {}: {e:#}", bundle_path().display()))
}

/// The cache folder a test process uses lives as long as the process (it is a static), so each
/// process removes those of test processes that have ended: test runs do not pile up in the temp
/// folder. Where there is no /proc to tell, nothing is removed.
fn sweep_caches_of_ended_processes() {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix("kinema-test-cache-")).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !proc.join(pid.to_string()).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// What the effect shows in its Status parameter. A plugin may set parameters only in
/// InstanceChanged, so Status does not follow renders by itself: this presses Update Status (as a
/// user would) and reads it. It shows the last render of the current frame (the last frame rendered).
pub fn status(inst: &Instance) -> String {
    inst.press_button("update_status").unwrap_or_else(|e| panic!("pressing Update Status: {e:#}"));
    match inst.param("status").unwrap() {
        ParamValue::String(s) => s,
        other => panic!("status is {other:?}"),
    }
}

/// The `kinema` CLI built beside the test bundle.
pub fn kinema_exe() -> PathBuf {
    bundle_path();
    kinema_bundle::target_dir().join("debug").join("kinema")
}

/// The smoke model as shipped inside the bundle.
pub fn bundled_smoke_model() -> PathBuf {
    bundle_path().join("Contents/Resources/models/smoke/affine.onnx")
}

/// Deterministic noise frames `0..count`. Float frames hold values an 8-bit path would destroy
/// (negative, above 1, tiny fractions) so a pass-through that is not bit-exact shows.
pub fn noise_frames(
    count: i64,
    width: u32,
    height: u32,
    depth: Depth,
    components: Components,
    seed: u64,
) -> BTreeMap<i64, HostImage> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|frame| {
            let mut image = HostImage::new(width, height, depth, components);
            match depth {
                Depth::F32 => {
                    for px in image.data.chunks_exact_mut(4) {
                        let v = (next() % 1_000_000) as f32 / 250_000.0 - 1.0 + 1e-7;
                        px.copy_from_slice(&v.to_ne_bytes());
                    }
                }
                _ => image.data.iter_mut().for_each(|b| *b = next() as u8),
            }
            (frame, image)
        })
        .collect()
}

/// The RIFE fixture frames shipped with the model (real footage, 320×192): `<pair>_0`, `_1`
/// and the held-out middle `_mid`.
pub fn rife_fixture(name: &str) -> HostImage {
    let path = kinema_bundle::workspace_root().join("models/rife/fixtures").join(format!("{name}.png"));
    HostImage::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
}

/// The fixture triplets and the PSNRs the export script measured with the PyTorch original.
pub fn rife_parity() -> serde_json::Value {
    let path = kinema_bundle::workspace_root().join("models/rife/fixtures/parity.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// PSNR in dB of the RGB samples of two images (values in 0..1).
pub fn psnr(a: &HostImage, b: &HostImage) -> f64 {
    let (a, b) =
        (a.convert(Depth::F32, Components::Rgb).samples_f32(), b.convert(Depth::F32, Components::Rgb).samples_f32());
    assert_eq!(a.len(), b.len(), "images differ in size");
    let mse = a.iter().zip(&b).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (1.0 / mse).log10()
}

/// Mean absolute difference of the RGB samples.
pub fn mean_abs(a: &HostImage, b: &HostImage) -> f64 {
    let (a, b) =
        (a.convert(Depth::F32, Components::Rgb).samples_f32(), b.convert(Depth::F32, Components::Rgb).samples_f32());
    a.iter().zip(&b).map(|(x, y)| f64::from((x - y).abs())).sum::<f64>() / a.len() as f64
}

/// Frames that differ only slightly from one to the next (one noise picture, brightened a
/// little each frame): neighbours no scene-cut guard would separate, so in-between frames of
/// them really need the interpolation model.
pub fn similar_frames(
    count: i64,
    width: u32,
    height: u32,
    depth: Depth,
    components: Components,
    seed: u64,
) -> BTreeMap<i64, HostImage> {
    let base = noise_frames(1, width, height, depth, components, seed).remove(&0).unwrap();
    (0..count)
        .map(|frame| {
            let samples: Vec<f32> =
                base.samples_f32().iter().map(|v| (v * 0.9 + 0.01 * frame as f32).clamp(0.0, 1.0)).collect();
            let image = HostImage::from_f32(width, height, components, &samples).unwrap().convert(depth, components);
            (frame, image)
        })
        .collect()
}

/// The tiny random-weight LTX model (models/ltx): real graphs and pipeline, noise for pictures.
/// Not shipped in the bundle; effects take it by folder path.
pub fn ltx_model() -> String {
    kinema_bundle::workspace_root().join("models/ltx").to_string_lossy().into_owned()
}

/// Kinema-tiny's fixture clip (models/kinema-tiny/fixtures/extend_source, rendered by data.py):
/// "a yellow square moving right on a dark blue background", 17 frames of 64×64, the square's
/// centre going from x 12.5 to 44.1.
pub fn tiny_fixture_clip() -> BTreeMap<i64, HostImage> {
    let dir = kinema_bundle::workspace_root().join("models/kinema-tiny/fixtures/extend_source");
    (0..17)
        .map(|i| {
            let path = dir.join(format!("{i:04}.png"));
            (i, HostImage::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display())))
        })
        .collect()
}

/// The fixture clip's caption (its scene.json).
pub const TINY_FIXTURE_PROMPT: &str = "a yellow square moving right on a dark blue background";

/// A copy of the shipped model folder `models/<model>` in `dir/<model>`, its manifest changed by `edit`.
pub fn copy_model(model: &str, dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let src = kinema_bundle::workspace_root().join("models").join(model);
    let dest = dir.join(model);
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dest.join(path.file_name().unwrap())).unwrap();
        }
    }
    let manifest = dest.join("manifest.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(&manifest, json.to_string()).unwrap();
    dest
}
