//! Kinema never phones home: the bundled ONNX Runtime's own telemetry (a device id and queued
//! process events under `~/.cache/Microsoft/…`) is switched off before the library initialises,
//! and `kinema doctor`, `generate` and `interpolate` write nothing outside Kinema's cache folder
//! and the output the user asked for. Run with a temporary `HOME` and `TMPDIR`, so anything
//! written behind the user's back shows up as a file.

use std::path::{Path, PathBuf};
use std::process::Command;

use kinema_e2e::*;

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// A fresh, empty folder for this test.
fn fresh(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    dir.to_path_buf()
}

/// `kinema ARGS` with only `home` and `tmp` as places it may write to besides `--out`, and no
/// setting that would move the cache or change telemetry unless `extra` sets it.
fn kinema(home: &Path, tmp: &Path, args: &[&str], extra: &[(&str, &str)]) {
    let mut cmd = Command::new(kinema_exe());
    cmd.env("HOME", home).env("TMPDIR", tmp);
    // ONNX Runtime keeps its telemetry quiet when `CI` is set, which would hide a regression on
    // the CI machine: the runs here look like a user's.
    for var in ["XDG_CACHE_HOME", "KINEMA_CACHE_DIR", "ORT_DISABLE_TELEMETRY", "KINEMA_ORT_TELEMETRY", "CI"] {
        cmd.env_remove(var);
    }
    cmd.envs(extra.iter().copied());
    let out = cmd.arg("--bundle").arg(bundle_path()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "kinema {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn doctor_generate_and_interpolate_write_nothing_outside_the_cache_folder() {
    let root = std::env::temp_dir().join(format!("kinema-privacy-{}", std::process::id()));
    let (home, tmp, out) = (fresh(&root.join("home")), fresh(&root.join("tmp")), fresh(&root.join("out")));
    let pattern = |name: &str| out.join(name).join("%04d.png").to_string_lossy().into_owned();
    let demo = kinema_bundle::workspace_root().join("models/rife/fixtures/demo/%04d.png");

    kinema(&home, &tmp, &["doctor"], &[]);
    kinema(
        &home,
        &tmp,
        &["generate", "a red circle moving right on a black background", "--steps", "2", "--out", &pattern("shot")],
        &[],
    );
    kinema(&home, &tmp, &["interpolate", demo.to_str().unwrap(), "--speed", "0.5", "--out", &pattern("slowmo")], &[]);

    let outside: Vec<PathBuf> = files_under(&home).into_iter().filter(|p| !p.starts_with(".cache/kinema")).collect();
    assert!(outside.is_empty(), "written under HOME outside .cache/kinema: {outside:?}");
    assert!(files_under(&tmp).is_empty(), "written to TMPDIR: {:?}", files_under(&tmp));
    assert!(
        files_under(&home).iter().any(|p| p.starts_with(".cache/kinema/clips")),
        "the generated shot is cached in the cache folder: {:?}",
        files_under(&home)
    );
    let written = files_under(&out);
    assert_eq!(written.iter().filter(|p| p.starts_with("shot")).count(), 17, "{written:?}");
    assert_eq!(written.iter().filter(|p| p.starts_with("slowmo")).count(), 5, "{written:?}");

    // The check can fail: with the documented opt-in, ONNX Runtime's telemetry writes its device
    // id under HOME, exactly what the default keeps out.
    let home = fresh(&root.join("home-opted-in"));
    kinema(&home, &tmp, &["doctor"], &[("KINEMA_ORT_TELEMETRY", "1")]);
    let telemetry: Vec<PathBuf> = files_under(&home).into_iter().filter(|p| !p.starts_with(".cache/kinema")).collect();
    assert!(
        telemetry.iter().any(|p| p.to_string_lossy().contains("onnxruntime")),
        "with KINEMA_ORT_TELEMETRY=1 ONNX Runtime's own files appear: {telemetry:?}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
