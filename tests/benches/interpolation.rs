//! Interpolation speed, side by side in one run, at 720p and 1080p (CPU unless the bundle
//! carries the GPU runtime):
//! - raw: the bundled ONNX Runtime session on prepared, padded tensors (no plugin code);
//! - plugin: the full path, host images → Kinema Interpolate (through the release bundle and
//!   kinema-host) → host images, each frame a new in-between (no cache hits);
//! - pytorch: the original network (models/rife/bench_torch.py), when torch is importable.
//!
//! `cargo bench -p kinema-e2e --bench interpolation [-- --frames N]`. Ratios are what matter:
//! plugin/raw (goal ≥ 0.9) and plugin/pytorch (goal > 1 on CPU).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kinema::runtime::{session, ProviderPreference};
use kinema_bundle::{Flavour, Options, Profile};
use kinema_host::{ClipSource, Components, Context, Depth, Host, HostImage, ParamValue, RenderRequest};
use ort::value::Tensor;

const SIZES: [(u32, u32); 2] = [(1280, 720), (1920, 1080)];

fn main() -> anyhow::Result<()> {
    let frames: usize =
        std::env::args().skip_while(|a| a != "--frames").nth(1).and_then(|v| v.parse().ok()).unwrap_or(3);
    let bundle_path = kinema_bundle::build(&Options {
        profile: Profile::Release,
        flavour: if std::env::var("KINEMA_BENCH_GPU").is_ok() { Flavour::Gpu } else { Flavour::Cpu },
        out: None,
        with_cli: false,
    })?;
    let lib = bundle_path.join("Contents/Linux-x86-64/libonnxruntime.so.1.31.1");
    std::env::set_var("KINEMA_ORT_LIB", &lib);
    let model_dir = bundle_path.join("Contents/Resources/models/rife");
    let a = HostImage::load(&kinema_bundle::workspace_root().join("models/rife/fixtures/bikes_063_0.png"))?;
    let b = HostImage::load(&kinema_bundle::workspace_root().join("models/rife/fixtures/bikes_063_1.png"))?;

    println!("interpolation benchmark: {frames} in-between frames per size, RIFE scale 1.0 fp32");
    println!(
        "{:>10} {:>12} {:>12} {:>12} {:>12} {:>14}",
        "size", "raw fps", "plugin fps", "pytorch fps", "plugin/raw", "plugin/pytorch"
    );
    let host = Host::new();
    let bundle = host.load_bundle(&bundle_path)?;
    for (w, h) in SIZES {
        let raw = raw_fps(&model_dir, w as usize, h as usize, frames)?;
        let plugin = plugin_fps(&bundle, &a, &b, w, h, frames)?;
        let torch = pytorch_fps(w, h, frames);
        let ratio = |x: Option<f64>| x.map_or("-".to_string(), |t| format!("{:.2}", plugin / t));
        println!(
            "{:>10} {:>12.3} {:>12.3} {:>12} {:>12.2} {:>14}",
            format!("{w}x{h}"),
            raw,
            plugin,
            torch.map_or("-".to_string(), |t| format!("{t:.3}")),
            plugin / raw,
            ratio(torch)
        );
    }
    Ok(())
}

/// The session alone: padded inputs prepared once, `frames` runs at distinct timesteps.
fn raw_fps(model_dir: &Path, w: usize, h: usize, frames: usize) -> anyhow::Result<f64> {
    let shared = session(&model_dir.join("rife_s1_fp32.onnx"), ProviderPreference::from_env())?;
    let (pw, ph) = (w.div_ceil(64) * 64, h.div_ceil(64) * 64);
    let x0: Vec<f32> = (0..3 * pw * ph).map(|i| (i % 251) as f32 / 250.0).collect();
    let x1: Vec<f32> = (0..3 * pw * ph).map(|i| ((i + 7) % 251) as f32 / 250.0).collect();
    let shape = [1usize, 3, ph, pw];
    let run = |t: f32| {
        shared.with(|s| {
            let out = s.run(ort::inputs![
                "frame0" => Tensor::from_array((shape, x0.clone()))?,
                "frame1" => Tensor::from_array((shape, x1.clone()))?,
                "timestep" => Tensor::from_array(([1usize, 1, 1, 1], vec![t]))?,
            ])?;
            Ok(out["frame"].try_extract_tensor::<f32>()?.1.len())
        })
    };
    run(0.5)?; // warm-up: first run allocates and picks kernels
    let started = Instant::now();
    for i in 0..frames {
        run((i + 1) as f32 / (frames + 1) as f32)?;
    }
    Ok(frames as f64 / started.elapsed().as_secs_f64())
}

/// The whole plugin path: `frames` distinct in-betweens between two source frames.
fn plugin_fps(
    bundle: &kinema_host::Bundle,
    a: &HostImage,
    b: &HostImage,
    w: u32,
    h: u32,
    frames: usize,
) -> anyhow::Result<f64> {
    let source: BTreeMap<i64, HostImage> = [(0, a), (1, b)]
        .into_iter()
        .map(|(t, img)| (t, img.resize_nearest(w, h).convert(Depth::F32, Components::Rgba)))
        .collect();
    let inst = bundle.create_instance("com.kinema.Interpolate", Context::Filter)?;
    inst.set_source("Source", ClipSource::Frames(source))?;
    // Warm-up (session creation, first-run allocations) at timestep 1/(frames+1); the measured
    // outputs 1..=frames at speed 1/(frames+2) are distinct in-betweens, so none is a cache hit.
    inst.set_param("speed", ParamValue::Double(1.0 / (frames + 1) as f64))?;
    let warm = inst.render(&RenderRequest { frames: vec![1], ..Default::default() })?;
    anyhow::ensure!(warm.failures().is_empty(), "warm-up failed: {:?}", warm.failures());
    inst.set_param("speed", ParamValue::Double(1.0 / (frames + 2) as f64))?;
    let started = Instant::now();
    let out = inst.render(&RenderRequest { frames: (1..=frames as i64).collect(), ..Default::default() })?;
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(out.failures().is_empty(), "plugin render failed: {:?}", out.failures());
    inst.destroy()?;
    Ok(frames as f64 / elapsed)
}

/// The PyTorch original, in a Python process (None when torch is not importable).
fn pytorch_fps(w: u32, h: u32, frames: usize) -> Option<f64> {
    let python = std::env::var("KINEMA_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = kinema_bundle::workspace_root().join("models/rife/bench_torch.py");
    let out = Command::new(python)
        .arg(script)
        .args(["--size", &format!("{w}x{h}"), "--frames", &frames.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("pytorch: skipped ({})", err.lines().last().unwrap_or("no output"));
        return None;
    }
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| l.strip_prefix("fps ")?.trim().parse().ok())
}
