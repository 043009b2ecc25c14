//! Shared set-up for the end-to-end tests: build the real (debug) Kinema.ofx.bundle once per
//! test binary, with the ONNX Runtime library from the PyPI wheel beside the plugin, load it into
//! the kinema-host OFX host, and make source frames.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kinema_bundle::{Flavour, Options, Profile};
use kinema_host::{Bundle, Components, Depth, Host, HostImage};

pub const GENERATE: &str = "com.kinema.Generate";
pub const ANIMATE: &str = "com.kinema.Animate";
pub const EXTEND: &str = "com.kinema.Extend";
pub const INTERPOLATE: &str = "com.kinema.Interpolate";

/// Path of the debug bundle, built on first call (cargo build + layout); later calls reuse it.
pub fn bundle_path() -> &'static Path {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let options = Options { profile: Profile::Debug, flavour: Flavour::Cpu, out: None, with_cli: true };
        kinema_bundle::build(&options).unwrap_or_else(|e| panic!("building the test bundle failed: {e:#}"))
    })
}

/// The bundle loaded into a fresh host (each test gets its own handle; the library is shared).
pub fn load_bundle() -> Bundle {
    Host::new().load_bundle(bundle_path()).unwrap_or_else(|e| panic!("loading {}: {e:#}", bundle_path().display()))
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
