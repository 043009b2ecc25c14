//! The VAE decode alone at a real size: random latents through a model's decoder, in the
//! manifest's tiles (or whole with `--whole`), reporting the time and the process's peak memory.
//! Peak memory with tiling is one tile run's, whatever the shot's length.
//!
//! `cargo run --release -p kinema-plugin --example decode_profile -- MODELS_DIR MODEL FRAMES WIDTH HEIGHT [--whole]`

use kinema::diffusion::VideoModel;
use kinema::models::resolve_in;

fn peak_gib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(f64::NAN);
    kib / (1u64 << 20) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: decode_profile MODELS_DIR MODEL FRAMES WIDTH HEIGHT [--whole]");
        std::process::exit(2);
    }
    let num = |i: usize| args[i].parse::<usize>().expect("a number");
    let (frames, width, height) = (num(3), num(4), num(5));
    let whole = args.iter().any(|a| a == "--whole");
    let dir = kinema_bundle::target_dir().join("ort-runtime");
    let lib = kinema_bundle::runtime_library(kinema_bundle::Flavour::Cpu, &dir).expect("ONNX Runtime wheel");
    std::env::set_var("KINEMA_ORT_LIB", lib);
    let model = VideoModel::open(&resolve_in(&args[2], &[std::path::PathBuf::from(&args[1])]).unwrap()).unwrap();
    let m = &model.manifest;
    let (c, t, r) = (m.latent.channels, m.latent.temporal_ratio, m.latent.spatial_ratio);
    let grid = ((frames - 1) / t + 1, height / r, width / r);
    // Normal-ish values from a fixed LCG: the decoder's cost does not depend on them.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let z: Vec<f32> = (0..c * grid.0 * grid.1 * grid.2)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.4
        })
        .collect();
    let before = peak_gib();
    let started = std::time::Instant::now();
    let tiling = if whole { None } else { m.decode.tiling.as_ref() };
    let ((f, h, w), sample) = model.decode_latents(z, grid, 0.05, tiling).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "decode {}: latent {}x{}x{} -> {f} frames {w}x{h} in {seconds:.1} s; peak {:.2} GiB (before the decode {before:.2} GiB), output {:.2} GiB",
        if tiling.is_some() { "tiled" } else { "whole" },
        grid.0,
        grid.1,
        grid.2,
        peak_gib(),
        (sample.len() * 4) as f64 / (1u64 << 30) as f64
    );
}
