//! Nothing from outside aborts the process: the worst sizes a manifest or the command line can
//! ask for, run through the `kinema` CLI under a memory limit, end in clean errors that name the
//! cause. Each of these used to die of SIGABRT ("memory allocation of N bytes failed": an
//! allocation failure aborts the process whatever catch_unwind does): a `max_length` of 10⁹
//! tokens (8 GB of ids), a RIFE `pad_multiple` of 65536 (51 GB of padding), a 32768×1 Generate
//! output (a 12 GiB scaled frame before the crop) and a 12000×12000 one (gigabytes of resized
//! frames).

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kinema_e2e::*;

/// Writable private memory the CLI may map (RLIMIT_DATA: heap, anonymous maps, thread stacks).
/// The normal path (ONNX Runtime loaded, the tiny models run) needs well under 1 GiB of it; a
/// 12000×12000 float RGBA output image, which the host itself allocates before the render, is
/// 2.1 GiB. RLIMIT_AS would count the address space ONNX Runtime's threads reserve and not use.
const LIMIT_BYTES: u64 = 3 << 30;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kinema-limits-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `kinema ARGS` under the memory limit, with its own cache folder.
fn kinema(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(kinema_exe());
    cmd.env("KINEMA_CACHE_DIR", dir.join("cache")).arg("--bundle").arg(bundle_path()).args(args);
    // SAFETY: between fork and exec only setrlimit runs (async-signal-safe), on a stack value.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: LIMIT_BYTES, rlim_max: LIMIT_BYTES };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// The CLI failed as a program does (an exit status, no signal, no allocation abort) and said why.
fn assert_clean_error(out: &Output, cause: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), None, "killed by a signal ({:?}); stderr:\n{stderr}", out.status);
    assert!(!out.status.success(), "the run should fail; stderr:\n{stderr}");
    assert!(!stderr.contains("memory allocation of"), "an allocation failed:\n{stderr}");
    assert!(stderr.contains(cause), "stderr does not say {cause:?}:\n{stderr}");
}

/// Two neighbouring real frames as an image sequence.
fn frames(dir: &Path) -> String {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (i, name) in ["bikes_063_0", "bikes_063_1"].iter().enumerate() {
        rife_fixture(name).save(&input.join(format!("{i:04}.png"))).unwrap();
    }
    input.join("%04d.png").to_string_lossy().into_owned()
}

fn generate_ltx(dir: &Path, model: &Path, out: &str) -> Output {
    let model = model.to_string_lossy();
    let out = dir.join(out).join("%04d.png");
    kinema(
        dir,
        &["generate", "a red circle", "--model", &model, "--frames", "9", "--steps", "2", "--size", "48x32", "--out"]
            .into_iter()
            .chain([out.to_str().unwrap()])
            .collect::<Vec<_>>(),
    )
}

#[test]
fn the_normal_paths_fit_the_limit() {
    let dir = temp_dir("normal");
    let ltx = copy_model("ltx", &dir, |_| {});
    let out = generate_ltx(&dir, &ltx, "gen");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rife = copy_model("rife", &dir, |_| {});
    let model = format!("model={}", rife.display());
    let out_pattern = dir.join("slow/%04d.png");
    let out = kinema(
        &dir,
        &["interpolate", &frames(&dir), "--speed", "0.5", "--set", &model, "--out", out_pattern.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("slow/0001.png").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_prompt_length_of_a_billion_tokens_is_refused_by_name() {
    let dir = temp_dir("tokens");
    let ltx = copy_model("ltx", &dir, |m| m["components"]["tokenizer"]["max_length"]["t2v"] = 1_000_000_000u64.into());
    let out = generate_ltx(&dir, &ltx, "gen");
    assert_clean_error(&out, "components.tokenizer.max_length.t2v is 1000000000 tokens; it must be 1 to 4096");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_padding_multiple_of_65536_is_refused_by_name() {
    let dir = temp_dir("pad");
    let rife = copy_model("rife", &dir, |m| {
        for v in m["variants"].as_array_mut().unwrap() {
            v["pad_multiple"] = 65536.into();
        }
    });
    let model = format!("model={}", rife.display());
    let out_pattern = dir.join("slow/%04d.png");
    let out = kinema(
        &dir,
        &["interpolate", &frames(&dir), "--speed", "0.5", "--set", &model, "--out", out_pattern.to_str().unwrap()],
    );
    assert_clean_error(&out, "variants[0].pad_multiple is 65536; it must be 1 to 1024");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn absurd_generate_output_sizes_are_refused_by_name() {
    let dir = temp_dir("size");
    for (size, cause) in [
        ("32768x1", "The output size 32768x1 is too large: a side may be at most 16384 pixels"),
        ("12000x12000", "The output size 12000x12000 is too large: at most 67108864 pixels"),
        ("16384x2", "The output size 16384x2 is too elongated"),
    ] {
        let out_pattern = dir.join(size).join("%04d.png");
        let out = kinema(
            &dir,
            &["generate", "a red circle", "--frames", "1", "--size", size, "--out", out_pattern.to_str().unwrap()],
        );
        assert_clean_error(&out, cause);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
