//! The clip cache as hosts and render farms meet it: a generation that fails late is not redone
//! for every frame the host asks for, and several `kinema` processes sharing one cache folder
//! generate a shot once between them.
//! Alone in its binary: it counts generations process-wide.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kinema_e2e::*;
use kinema_host::{Context, ParamValue, RenderRequest};

fn counter(bundle: &kinema_host::Bundle, name: &str) -> u64 {
    bundle.runtime_report(None).unwrap()["clip_cache"][name].as_u64().unwrap()
}

/// A copy of the tiny LTX model whose manifest names a VAE decoder output the graph does not
/// have: the pipeline finds out only after denoising, when it decodes.
fn model_with_a_wrong_decoder_output(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(ltx_model()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert_eq!(manifest.matches("\"output\": \"sample\"").count(), 1, "the decoder's output name, once");
    std::fs::write(dir.join("manifest.json"), manifest.replace("\"output\": \"sample\"", "\"output\": \"pixels\""))
        .unwrap();
    dir.to_path_buf()
}

#[test]
fn a_late_failure_is_not_redone_for_every_frame() {
    let bundle = load_bundle();
    let dir = std::env::temp_dir().join(format!("kinema-late-failure-{}", std::process::id()));
    let model = model_with_a_wrong_decoder_output(&dir);
    let inst = bundle.create_instance(GENERATE, Context::Generator).unwrap();
    for (name, value) in [
        ("prompt", ParamValue::String("a red circle moving left".into())),
        ("model", ParamValue::String(model.to_string_lossy().into())),
        ("length", ParamValue::Int(9)),
        ("steps", ParamValue::Int(3)),
        ("seed", ParamValue::Int(5)),
    ] {
        inst.set_param(name, value).unwrap();
    }
    let (started, failed) = (counter(&bundle, "generations_started"), counter(&bundle, "generations_failed"));
    // Every frame of the shot, three at a time: waiters of the failing run and later requests.
    let out = inst
        .render(&RenderRequest { frames: (0..9).collect(), threads: 3, size: Some((48, 32)), ..Default::default() })
        .unwrap();
    let messages: Vec<String> =
        (0..9).map(|t| out.frames[&t].as_ref().expect_err("the shot cannot be decoded").message.clone()).collect();
    let Some(error) = messages.iter().find(|m| m.contains("pixels")) else { panic!("{messages:#?}") };
    // The plugin posts an error again only when it changes (no dialog per frame); the host then
    // names the failed status.
    assert!(
        messages.iter().all(|m| m == error || m.starts_with("Render returned kOfxStatFailed")),
        "every frame gets the same error: {messages:#?}"
    );
    let runs = counter(&bundle, "generations_started") - started;
    // One run that fails; none where the model's tensor names are checked before denoising.
    assert!(runs <= 1, "the failing generation ran {runs} times for 9 frames");
    assert_eq!(counter(&bundle, "generations_failed") - failed, runs);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `kinema generate` in a child process: its output and what its clip cache did ("clip cache: N
/// generated, ..." on stdout).
fn generated(out: &Output) -> u64 {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("clip cache: "))
        .unwrap_or_else(|| panic!("no clip cache line in:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    line["clip cache: ".len()..].split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn processes_sharing_a_cache_folder_generate_once() {
    let dir = std::env::temp_dir().join(format!("kinema-shared-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let children: Vec<_> = (0..4)
        .map(|i| {
            Command::new(kinema_exe())
                .env("KINEMA_CACHE_DIR", dir.join("cache"))
                .arg("--bundle")
                .arg(bundle_path())
                .args(["generate", "a red circle moving left", "--model", &ltx_model(), "--frames", "9"])
                .args(["--size", "64x48", "--seed", "3", "--steps", "3", "--out"])
                .arg(dir.join(format!("out{i}")).join("%04d.png"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for out in &outputs {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let runs: Vec<u64> = outputs.iter().map(generated).collect();
    assert_eq!(runs.iter().sum::<u64>(), 1, "generations per process: {runs:?}");
    for t in 0..9 {
        let frame = |i: usize| std::fs::read(dir.join(format!("out{i}/{t:04}.png"))).unwrap();
        for i in 1..4 {
            assert!(frame(i) == frame(0), "frame {t} of process {i} differs from process 0's");
        }
    }
    let left: Vec<_> = std::fs::read_dir(dir.join("cache/clips"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".kclip"))
        .collect();
    // Beside the one clip, its provenance record (the host-side stand-in for C2PA): no prompt text.
    assert_eq!(left.len(), 1, "only clips and their provenance stay in the cache folder: {left:?}");
    assert!(left[0].ends_with(".provenance.json"), "{left:?}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("cache/clips").join(&left[0])).unwrap()).unwrap();
    assert_eq!((record["action"].as_str(), record["seed"].as_u64()), (Some("c2pa.created"), Some(3)));
    std::fs::remove_dir_all(&dir).unwrap();
}
