//! Long shots on Kinema-tiny, side by side in one run: 1, 4 and 16 windows of 17 frames through
//! the release bundle's `kinema generate`, each in its own process. Prints the process's peak
//! resident memory and the seconds per output frame, and both as ratios to one window.
//!
//! `cargo bench -p kinema-e2e --bench long_shot [-- --steps N]`. Goals (issue 15): peak memory
//! for 16 windows ≤ 1.3× one window; time per frame flat within 15 %.

use std::process::Command;
use std::time::Instant;

use kinema_bundle::{Flavour, Options, Profile};

/// Frames of a Kinema-tiny shot of `n` windows: 9 latent frames each, sharing 3 (frame rule 2k+1).
fn frames_for(windows: usize) -> usize {
    let latent = 9 + 6 * (windows - 1);
    (latent - 1) * 2 + 1
}

/// Runs `cmd`, returning its wall time and peak resident memory (KiB), read from wait4's rusage
/// for that child alone.
fn run(cmd: &mut Command) -> anyhow::Result<(f64, i64)> {
    let started = Instant::now();
    let child = cmd.stdout(std::process::Stdio::null()).spawn()?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child.id()` is our own child, not yet reaped; `status` and `usage` are valid for writes.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "kinema failed ({status})");
    Ok((seconds, usage.ru_maxrss))
}

fn main() -> anyhow::Result<()> {
    let steps: usize = std::env::args().skip_while(|a| a != "--steps").nth(1).and_then(|v| v.parse().ok()).unwrap_or(8);
    let bundle =
        kinema_bundle::build(&Options { profile: Profile::Release, flavour: Flavour::Cpu, out: None, with_cli: true })?;
    let kinema = kinema_bundle::target_dir().join("release").join("kinema");
    let out = tempfile_dir()?;
    println!("long-shot benchmark: Kinema-tiny, {steps} steps, 64x64, one process per shot");
    println!(
        "{:>8} {:>7} {:>12} {:>10} {:>12} {:>10}",
        "windows", "frames", "peak MiB", "x 1 win", "s/frame", "x 1 win"
    );
    let mut first: Option<(f64, f64)> = None;
    for windows in [1, 4, 16] {
        let frames = frames_for(windows);
        let dir = out.join(format!("w{windows}"));
        let (seconds, peak_kib) = run(Command::new(&kinema)
            .args(["generate", "a red circle moving right on a black background", "--seed", "1"])
            .args(["--frames", &frames.to_string(), "--steps", &steps.to_string(), "--size", "64x64"])
            .arg("--bundle")
            .arg(&bundle)
            .arg("--out")
            .arg(dir.join("%04d.png"))
            .env("KINEMA_DISK_CACHE", "0")
            .env("KINEMA_CACHE_DIR", out.join("cache")))?;
        let (mib, per_frame) = (peak_kib as f64 / 1024.0, seconds / frames as f64);
        let (m1, t1) = *first.get_or_insert((mib, per_frame));
        println!("{windows:>8} {frames:>7} {mib:>12.1} {:>10.2} {per_frame:>12.4} {:>10.2}", mib / m1, per_frame / t1);
    }
    std::fs::remove_dir_all(&out)?;
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("kinema-long-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
