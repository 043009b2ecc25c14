//! Video generation on the tiny LTX graphs (models/ltx), in one run:
//! - time inside the transformer's `Session::run` vs whole denoising steps (goal: Rust overhead
//!   ≤ 2% of a step);
//! - peak resident memory of a generation, and the clip cache's footprint and bound;
//! - end to end vs diffusers' `LTXPipeline` on the same model (when `KINEMA_TORCH_PYTHON` points
//!   at a Python with torch and diffusers; models/ltx/bench_diffusers.py): time and each process's
//!   peak resident memory per size. Goal (issue 21): Kinema/diffusers <= 0.8 at every size, and at
//!   the largest size a peak no higher than diffusers'.
//!
//! `cargo bench -p kinema-plugin --bench generation`
//!
//! On a GPU machine: `KINEMA_ORT_LIB` (an onnxruntime-gpu library), `KINEMA_EP=cuda`,
//! `KINEMA_BENCH_DEVICE=cuda` (diffusers on the GPU) and `KINEMA_REPO` (this checkout, when the
//! binary runs elsewhere than it was built) — models/ltx/gpu_bench.sh sets them.

use std::process::Command;
use std::time::Instant;

use kinema::diffusion::{Control, Mode, Request, SeededNoise, VideoModel};
use kinema::models::resolve_in;

/// 320, 2,304 and 9,216 video tokens: attention's share grows with the square of the token count.
const SIZES: [(usize, usize, usize); 3] = [(64, 64, 17), (128, 128, 33), (256, 256, 33)];
/// The goal: Kinema's time at most this fraction of diffusers'.
const GOAL: f64 = 0.8;
const STEPS: usize = 20;

/// The CPU as /proc/cpuinfo names it (with its family and model numbers, which tell generations
/// apart where the name does not), and the cores this process may use.
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map_or("?", |(_, v)| v.trim())
            .to_string()
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{} (family {}, model {}), {cores} cores", field("model name"), field("cpu family"), field("model"))
}

/// Starts a new peak: Linux resets VmHWM to the current resident set on "5" (proc(5), clear_refs).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak and current resident set (VmHWM, VmRSS) in MiB, from /proc.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn main() {
    let root = std::env::var_os("KINEMA_REPO").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf(),
        std::path::PathBuf::from,
    );
    if std::env::var_os("KINEMA_ORT_LIB").is_none() {
        let runtime = kinema_bundle::target_dir().join("ort-runtime");
        let lib = kinema_bundle::runtime_library(kinema_bundle::Flavour::Cpu, &runtime).expect("ONNX Runtime wheel");
        std::env::set_var("KINEMA_ORT_LIB", lib);
    }
    let device = std::env::var("KINEMA_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    let model = VideoModel::open(&resolve_in("ltx", &[root.join("models")]).unwrap()).unwrap();
    println!(
        "generation benchmark: tiny LTX graphs, {STEPS} steps, guidance 3 (batched CFG), KINEMA_EP={}, diffusers on {device}",
        std::env::var("KINEMA_EP").unwrap_or_else(|_| "auto".into())
    );
    // The ratio depends on the CPU (the attention kernels of ONNX Runtime and PyTorch do not rank the
    // same on every vendor), so every run says which one it ran on.
    println!("cpu: {}", cpu_model());
    println!(
        "{:>12} {:>7} {:>9} {:>9} {:>9} {:>13} {:>15} {:>10} {:>11} {:>10} {:>10} {:>10} {:>9}",
        "size",
        "tokens",
        "run s",
        "step s",
        "overhead",
        "text s k/d",
        "decode s k/d",
        "kinema s",
        "diffusers s",
        "kinema/dif",
        "peak MiB",
        "dif. MiB",
        "clip MiB"
    );
    let (base_peak, _) = memory_mib();
    let mut verdicts = Vec::new();
    for (w, h, f) in SIZES {
        let request = Request {
            prompt: "a red circle moving left on a dark blue background".into(),
            negative_prompt: String::new(),
            width: w,
            height: h,
            frames: f,
            fps: 25.0,
            steps: STEPS,
            guidance: 3.0,
            max_sequence_length: None,
            decode_timestep: 0.05,
            decode_noise_scale: 0.025,
            image_cond_noise_scale: 0.15,
            mode: Mode::TextToVideo,
            video_to_video: None,
        };
        let run = || {
            let mut progress = |_: usize, _: usize| {};
            let mut control = Control { progress: &mut progress, abort: &|| false };
            let started = Instant::now();
            let out = model.generate(&request, &mut SeededNoise::new(7), &mut control).unwrap();
            (out, started.elapsed().as_secs_f64())
        };
        run(); // warm-up: sessions, first-run allocations
        if (w, h, f) == SIZES[0] {
            // KINEMA_EP falls back to the CPU when a GPU provider can't start: say which one ran.
            let session = model.component_session("transformer.onnx").unwrap();
            println!("transformer on {:?}; not used: {:?}", session.provider(), session.skipped());
        }
        let per_size_peak = reset_peak();
        let (first, first_seconds) = run();
        let (second, second_seconds) = run();
        let (out, seconds) =
            if first_seconds <= second_seconds { (first, first_seconds) } else { (second, second_seconds) };
        let t = out.timing;
        let overhead = (t.step_seconds - t.run_seconds) / t.step_seconds;
        let clip_mib = out.frames.iter().map(|f| f.data.len() * 4).sum::<usize>() as f64 / (1024.0 * 1024.0);
        let tokens = ((f - 1) / 4 + 1) * (h / 8) * (w / 8);
        let (peak, _) = memory_mib();
        let diffusers = diffusers_run(&root, &device, w, h, f);
        println!(
            "{:>12} {:>7} {:>9.4} {:>9.4} {:>8.2}% {:>13} {:>15} {:>10.3} {:>11} {:>10} {:>10.0} {:>10} {:>9.2}",
            format!("{w}x{h}x{f}"),
            tokens,
            t.run_seconds,
            t.step_seconds,
            overhead * 100.0,
            format!("{:.4}/{}", t.text_seconds, diffusers.map_or("-".into(), |d| format!("{:.4}", d.text_seconds))),
            format!("{:.4}/{}", t.decode_seconds, diffusers.map_or("-".into(), |d| format!("{:.4}", d.decode_seconds))),
            seconds,
            diffusers.map_or("-".into(), |d| format!("{:.3}", d.seconds)),
            diffusers.map_or("-".into(), |d| format!("{:.2}", seconds / d.seconds)),
            peak,
            diffusers.map_or("-".into(), |d| format!("{:.0}", d.peak_mib)),
            clip_mib
        );
        if let Some(d) = diffusers {
            verdicts.push((format!("{w}x{h}x{f}"), seconds / d.seconds, per_size_peak.then_some((peak, d.peak_mib))));
        }
    }
    // The goal, judged on this run's side-by-side figures.
    for (i, (size, ratio, peaks)) in verdicts.iter().enumerate() {
        let time = if *ratio <= GOAL { "met" } else { "missed" };
        let memory = match peaks {
            Some((k, d)) if i + 1 == verdicts.len() => {
                format!("; peak {k:.0} vs {d:.0} MiB: {}", if k <= d { "met" } else { "missed" })
            }
            _ => String::new(),
        };
        println!("goal at {size}: kinema/diffusers {ratio:.2} (<= {GOAL}): {time}{memory}");
    }
    let (peak, rss) = memory_mib();
    println!(
        "memory: peak resident {peak:.0} MiB (baseline before generating {base_peak:.0} MiB), now {rss:.0} MiB; \
         clip cache bound {} MiB (KINEMA_CLIP_CACHE_MB), disk bound {} MiB (KINEMA_DISK_CACHE_MB)",
        std::env::var("KINEMA_CLIP_CACHE_MB").unwrap_or_else(|_| "1024".into()),
        std::env::var("KINEMA_DISK_CACHE_MB").unwrap_or_else(|_| "8192".into())
    );
}

/// One diffusers measurement: best time of two runs and the process's peak resident memory.
#[derive(Clone, Copy)]
struct Diffusers {
    seconds: f64,
    peak_mib: f64,
    /// Inside the pipeline's encode_prompt and vae.decode (NaN when the script did not say).
    text_seconds: f64,
    decode_seconds: f64,
}

/// diffusers' LTXPipeline on the same tiny model, same settings (None without torch).
fn diffusers_run(root: &std::path::Path, device: &str, w: usize, h: usize, f: usize) -> Option<Diffusers> {
    let python = std::env::var("KINEMA_TORCH_PYTHON").ok()?;
    let out = Command::new(python)
        .arg(root.join("models/ltx/bench_diffusers.py"))
        .args([
            "--width",
            &w.to_string(),
            "--height",
            &h.to_string(),
            "--frames",
            &f.to_string(),
            "--steps",
            &STEPS.to_string(),
            "--device",
            device,
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("diffusers: skipped ({})", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok());
    Some(Diffusers {
        seconds: field("seconds ")?,
        peak_mib: field("peak_mib ").unwrap_or(f64::NAN),
        text_seconds: field("text_seconds ").unwrap_or(f64::NAN),
        decode_seconds: field("decode_seconds ").unwrap_or(f64::NAN),
    })
}
