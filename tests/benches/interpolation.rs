//! Interpolation speed, side by side in one run, at 1080p and 4K (CPU unless the bundle
//! carries the GPU runtime; 4K runs the half-scale graph, as the plugin's Auto flow scale does):
//! - raw: the bundled ONNX Runtime session on the same pictures, prepared and padded once (no
//!   plugin code);
//! - plugin: the full path, host images → Kinema Interpolate (through the release bundle and
//!   kinema-host) → host images, each frame a new in-between (no cache hits);
//! - pytorch: the original network (models/rife/bench_torch.py), when torch is importable.
//!
//! Raw and plugin runs alternate frame by frame and each side's median frame time counts, so a
//! busy machine slows both alike. The plugin is measured once its in-between cache is full (the
//! steady state of a long render); "filling fps" is its rate while that cache still takes fresh
//! memory for every new frame (the first ~20 frames at 1080p, ~6 at 4K, of a session).
//!
//! Then the flip ensemble (test-time augmentation): on the real-footage fixtures
//! (models/rife/fixtures), the in-between at t = 0.5 alone, and averaged with the in-between of
//! the horizontally flipped pair flipped back (2 runs) and also the vertically flipped (3 runs):
//! PSNR against the real middle frame, and the cost in network runs.
//!
//! `cargo bench -p kinema-e2e --bench interpolation [-- --frames N] [--size WxH]`. Ratios are what matter:
//! plugin/raw (goal ≥ 0.95) and plugin/pytorch (goal > 1 on CPU).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kinema::runtime::{session, ProviderPreference};
use kinema_bundle::{Flavour, Options, Profile};
use kinema_host::{ClipSource, Components, Context, Depth, Host, HostImage, ParamValue, RenderRequest};
use ort::value::{Tensor, TensorRef};

const SIZES: [(u32, u32); 2] = [(1920, 1080), (3840, 2160)];

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

    println!(
        "interpolation benchmark: {frames} in-between frames per size, RIFE fp32 (scale 1.0 at 1080p, 0.5 at 4K); raw and plugin alternate, median frame time"
    );
    println!(
        "{:>10} {:>12} {:>12} {:>12} {:>12} {:>14} {:>14}",
        "size", "raw fps", "plugin fps", "pytorch fps", "plugin/raw", "plugin/pytorch", "filling fps"
    );
    // `--size 3840x2160` measures one size (for profiling one of them).
    let only: Option<String> = std::env::args().skip_while(|a| a != "--size").nth(1);
    let host = Host::new();
    let bundle = host.load_bundle(&bundle_path)?;
    for (w, h) in SIZES.into_iter().filter(|(w, h)| only.as_ref().is_none_or(|o| *o == format!("{w}x{h}"))) {
        // The graph the plugin's Auto flow scale picks: full scale up to 1440p, half scale above.
        let (graph, pad) = if w * h > 2560 * 1440 { ("rife_s05_fp32.onnx", 128) } else { ("rife_s1_fp32.onnx", 64) };
        let (raw, plugin, filling) = side_by_side(&model_dir.join(graph), pad, &bundle, &a, &b, w, h, frames)?;
        let torch = pytorch_fps(w, h, frames);
        let ratio = |x: Option<f64>| x.map_or("-".to_string(), |t| format!("{:.2}", plugin / t));
        println!(
            "{:>10} {:>12.3} {:>12.3} {:>12} {:>12.2} {:>14} {:>14.3}",
            format!("{w}x{h}"),
            raw,
            plugin,
            torch.map_or("-".to_string(), |t| format!("{t:.3}")),
            plugin / raw,
            ratio(torch),
            filling
        );
    }
    flip_ensemble(&model_dir)?;
    Ok(())
}

/// Planar RGB (1×3×H×W) of an image; its sides must be multiples of 64.
fn planar(img: &HostImage) -> Vec<f32> {
    padded_planar(img, img.width as usize, img.height as usize)
}

/// Planar RGB (1×3×ph×pw) of an image, zero-padded right and below as the plugin pads it.
fn padded_planar(img: &HostImage, pw: usize, ph: usize) -> Vec<f32> {
    let rgb = img.convert(Depth::F32, Components::Rgb);
    let (s, w, h) = (rgb.samples_f32(), img.width as usize, img.height as usize);
    let mut out = vec![0.0; 3 * pw * ph];
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                out[c * pw * ph + y * pw + x] = s[(y * w + x) * 3 + c];
            }
        }
    }
    out
}

/// Flips planar frames (1×3×H×W) horizontally and/or vertically.
fn flipped(x: &[f32], w: usize, h: usize, hor: bool, ver: bool) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for c in 0..3 {
        for y in 0..h {
            for i in 0..w {
                let (sx, sy) = (if hor { w - 1 - i } else { i }, if ver { h - 1 - y } else { y });
                out[c * w * h + y * w + i] = x[c * w * h + sy * w + sx];
            }
        }
    }
    out
}

fn psnr(a: &[f32], b: &[f32]) -> f64 {
    let mse = a.iter().zip(b).map(|(x, y)| ((x.clamp(0.0, 1.0) - y) as f64).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (1.0 / mse).log10()
}

/// The flip ensemble on the fixtures: quality (PSNR against the real middle frame) and cost.
fn flip_ensemble(model_dir: &Path) -> anyhow::Result<()> {
    let shared = session(&model_dir.join("rife_s1_fp32.onnx"), ProviderPreference::from_env())?;
    let fixtures = kinema_bundle::workspace_root().join("models/rife/fixtures");
    println!("\nflip ensemble (test-time augmentation), t = 0.5, RIFE scale 1.0 fp32, real footage:");
    println!(
        "{:>10} {:>10} {:>12} {:>14} {:>10} {:>10} {:>10}",
        "fixture", "plain dB", "+h-flip dB", "+h+v-flip dB", "plain s", "2-run s", "3-run s"
    );
    let (mut gains, mut count) = ([0.0f64; 2], 0.0);
    let (mut times, mut n) = ([0.0f64; 3], 0);
    for name in ["bikes_040", "bikes_063", "bikes_150", "bikes_196"] {
        let load = |s: &str| HostImage::load(&fixtures.join(format!("{name}_{s}.png")));
        let (a, b, mid) = (load("0")?, load("1")?, load("mid")?);
        let (w, h) = (a.width as usize, a.height as usize);
        anyhow::ensure!(w % 64 == 0 && h % 64 == 0, "fixture sides must be multiples of 64");
        let (x0, x1, want) = (planar(&a), planar(&b), planar(&mid));
        let shape = [1usize, 3, h, w];
        let run = |p: &[f32], q: &[f32]| -> anyhow::Result<Vec<f32>> {
            Ok(shared.with(|s| {
                let out = s.run(ort::inputs![
                    "frame0" => Tensor::from_array((shape, p.to_vec()))?,
                    "frame1" => Tensor::from_array((shape, q.to_vec()))?,
                    "timestep" => Tensor::from_array(([1usize, 1, 1, 1], vec![0.5f32]))?,
                ])?;
                Ok(out["frame"].try_extract_tensor::<f32>()?.1.to_vec())
            })?)
        };
        run(&x0, &x1)?; // warm-up
        let t0 = Instant::now();
        let plain = run(&x0, &x1)?;
        let t1 = Instant::now();
        let hf = flipped(&run(&flipped(&x0, w, h, true, false), &flipped(&x1, w, h, true, false))?, w, h, true, false);
        let two: Vec<f32> = plain.iter().zip(&hf).map(|(p, q)| (p + q) / 2.0).collect();
        let t2 = Instant::now();
        let vf = flipped(&run(&flipped(&x0, w, h, false, true), &flipped(&x1, w, h, false, true))?, w, h, false, true);
        let three: Vec<f32> = plain.iter().zip(&hf).zip(&vf).map(|((p, q), r)| (p + q + r) / 3.0).collect();
        let t3 = Instant::now();
        let (p0, p2, p3) = (psnr(&plain, &want), psnr(&two, &want), psnr(&three, &want));
        let secs = [(t1 - t0).as_secs_f64(), (t2 - t0).as_secs_f64(), (t3 - t0).as_secs_f64()];
        println!("{name:>10} {p0:>10.3} {p2:>12.3} {p3:>14.3} {:>10.3} {:>10.3} {:>10.3}", secs[0], secs[1], secs[2]);
        gains[0] += p2 - p0;
        gains[1] += p3 - p0;
        count += 1.0;
        for (t, s) in times.iter_mut().zip(secs) {
            *t += s;
        }
        n += 1;
    }
    println!(
        "mean gain: +{:.3} dB (h-flip, {:.2}x the time), +{:.3} dB (h+v-flip, {:.2}x the time)",
        gains[0] / count,
        times[1] / times[0],
        gains[1] / count,
        times[2] / times[0]
    );
    let _ = n;
    Ok(())
}

/// Frames per second of the bare session and of the plugin path, measured alternately (one raw
/// run, one plugin frame, and so on) so that load on the machine falls on both sides alike; each
/// side's median time is reported.
/// - raw: the same two pictures, padded once and lent to each run (no copy), at distinct timesteps;
/// - plugin: host images in, a distinct in-between out each frame (no cache hits).
#[allow(clippy::too_many_arguments)]
fn side_by_side(
    graph: &Path,
    pad: usize,
    bundle: &kinema_host::Bundle,
    a: &HostImage,
    b: &HostImage,
    w: u32,
    h: u32,
    frames: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let shared = session(graph, ProviderPreference::from_env())?;
    let (pw, ph) = ((w as usize).div_ceil(pad) * pad, (h as usize).div_ceil(pad) * pad);
    // The same pictures the plugin gets (the network's time depends on the motion it finds).
    let (x0, x1) = (padded_planar(&a.resize_nearest(w, h), pw, ph), padded_planar(&b.resize_nearest(w, h), pw, ph));
    let shape = [1usize, 3, ph, pw];
    let raw = |t: f32| -> anyhow::Result<f64> {
        let started = Instant::now();
        shared.with(|s| {
            let out = s.run(ort::inputs![
                "frame0" => TensorRef::from_array_view((shape, x0.as_slice()))?,
                "frame1" => TensorRef::from_array_view((shape, x1.as_slice()))?,
                "timestep" => Tensor::from_array(([1usize, 1, 1, 1], vec![t]))?,
            ])?;
            Ok(out["frame"].try_extract_tensor::<f32>()?.1.len())
        })?;
        Ok(started.elapsed().as_secs_f64())
    };

    let source: BTreeMap<i64, HostImage> = [(0, a), (1, b)]
        .into_iter()
        .map(|(t, img)| (t, img.resize_nearest(w, h).convert(Depth::F32, Components::Rgba)))
        .collect();
    let inst = bundle.create_instance("com.kinema.Interpolate", Context::Filter)?;
    inst.set_source("Source", ClipSource::Frames(source))?;
    // Output frame i at speed 1/(frames+2) is the in-between at i/(frames+2): all distinct, and
    // distinct from the warm-up's at 1/(frames+1).
    let plugin = |speed: f64, frame: i64| -> anyhow::Result<f64> {
        inst.set_param("speed", ParamValue::Double(speed))?;
        let started = Instant::now();
        let out = inst.render(&RenderRequest { frames: vec![frame], ..Default::default() })?;
        let elapsed = started.elapsed().as_secs_f64();
        anyhow::ensure!(out.failures().is_empty(), "plugin render failed: {:?}", out.failures());
        Ok(elapsed)
    };
    // Warm-up: session creation and first-run allocations on both sides, and on the plugin's side
    // as many new in-betweens as fill its in-between cache (at its default size): until then each
    // frame takes fresh memory for the cache, after that an evicted frame's. The filling frames'
    // median is reported apart.
    raw(0.5)?;
    let cache_mib: usize = std::env::var("KINEMA_FRAME_CACHE_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(512);
    let fill = (cache_mib << 20).div_ceil(3 * 4 * w as usize * h as usize) + 1;
    // Warm-up times k/d with d coprime to the measured frames' denominator: no cache hits later.
    let d = (fill + 1..).find(|d| gcd(*d, frames + 2) == 1).unwrap_or(fill + 1);
    let mut filling = Vec::new();
    for k in 1..=fill {
        let t = plugin(1.0 / d as f64, k as i64)?;
        if k > 1 {
            filling.push(t);
        }
    }
    let (mut raw_s, mut plugin_s) = (Vec::new(), Vec::new());
    for i in 1..=frames {
        raw_s.push(raw(i as f32 / (frames + 1) as f32)?);
        plugin_s.push(plugin(1.0 / (frames + 2) as f64, i as i64)?);
    }
    inst.destroy()?;
    Ok((1.0 / median(&mut raw_s), 1.0 / median(&mut plugin_s), 1.0 / median(&mut filling)))
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
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
