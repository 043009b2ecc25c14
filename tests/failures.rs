//! Frames Kinema cannot make fail cleanly: a real OFX failure status, the reason in the Status
//! parameter and the host's message suite, no pixels written, and the host unharmed.

use std::path::PathBuf;

use kinema_e2e::*;
use kinema_host::{ClipSource, Components, Context, Depth, Instance, ParamValue, RenderOutput, RenderRequest};

const FAILED: i32 = 1; // kOfxStatFailed

/// Frame `t` failed with kOfxStatFailed, and the reason reached Status and the message suite.
fn assert_failed(out: &RenderOutput, inst: &Instance, t: i64, reason: &str) {
    let failure = out.frames[&t].as_ref().expect_err("frame should have failed");
    assert_eq!(failure.status, FAILED, "{failure:?}");
    assert!(failure.message.contains(reason), "failure {:?} lacks {reason:?}", failure.message);
    assert!(status(inst).contains(reason), "Status {:?} lacks {reason:?}", status(inst));
    assert!(
        out.messages.iter().any(|m| m.message_type == "OfxMessageError" && m.text.contains(reason)),
        "no error message with {reason:?}: {:?}",
        out.messages
    );
    assert!(out.violations.is_empty(), "{:?}", out.violations);
}

fn interpolate_with(model: Option<&str>) -> (kinema_host::Bundle, Instance) {
    let bundle = load_bundle();
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(similar_frames(4, 16, 16, Depth::F32, Components::Rgba, 1))).unwrap();
    if let Some(model) = model {
        inst.set_param("model", ParamValue::String(model.into())).unwrap();
    }
    (bundle, inst)
}

#[test]
fn a_missing_model_fails_in_between_frames_and_says_why() {
    let (_bundle, inst) = interpolate_with(Some("no-such-model"));
    // speed 0.5: output 1 is source 0.5 (needs the model), output 2 is source 1 (pass-through).
    let out = inst.render(&RenderRequest { frames: vec![1], ..Default::default() }).unwrap();
    assert_failed(&out, &inst, 1, "Model 'no-such-model' not found");
    let out = inst.render(&RenderRequest { frames: vec![2], ..Default::default() }).unwrap();
    assert!(out.frames[&2].is_ok(), "whole frames still pass through: {:?}", out.frames[&2]);
    assert_eq!(status(&inst), "Pass-through of source frame 1", "Status follows the last render");
    inst.destroy().unwrap();
}

#[test]
fn a_broken_manifest_is_named_in_the_error() {
    let dir = std::env::temp_dir().join(format!("kinema-broken-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.json"), "{ \"kind\": ").unwrap();
    let (_bundle, inst) = interpolate_with(Some(dir.to_str().unwrap()));
    let out = inst.render(&RenderRequest { frames: vec![1], ..Default::default() }).unwrap();
    assert_failed(&out, &inst, 1, "manifest.json is not a valid manifest");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn generate_without_its_model_renders_nothing() {
    let bundle = load_bundle();
    let inst = bundle.create_instance(GENERATE, Context::Generator).unwrap();
    inst.set_param("prompt", ParamValue::String("a red circle moving left".into())).unwrap();
    inst.set_param("model", ParamValue::String("kinema-missing".into())).unwrap();
    let out = inst.render(&RenderRequest { frames: vec![0, 3], size: Some((64, 48)), ..Default::default() }).unwrap();
    assert_failed(&out, &inst, 0, "Model 'kinema-missing' not found");
    assert!(out.frames[&3].is_err());
}

#[test]
fn extend_passes_its_source_through_and_fails_beyond_it_without_a_model() {
    let bundle = load_bundle();
    let inst = bundle.create_instance(EXTEND, Context::Filter).unwrap();
    let frames = noise_frames(3, 16, 8, Depth::U8, Components::Rgba, 5);
    inst.set_source("Source", ClipSource::Frames(frames.clone())).unwrap();
    inst.set_param("model", ParamValue::String("kinema-missing".into())).unwrap();
    let out = inst.render(&RenderRequest { frames: vec![0, 2, 3], ..Default::default() }).unwrap();
    for t in [0, 2] {
        assert!(out.frames[&t].as_ref().unwrap().data == frames[&t].data, "source frame {t} must stay bit-exact");
    }
    assert_failed(&out, &inst, 3, "Model 'kinema-missing' not found");
}

#[test]
fn a_bad_fill_list_is_reported_with_the_offending_text() {
    let (_bundle, inst) = interpolate_with(None);
    inst.set_param_str("mode", "Fill Frames").unwrap();
    inst.set_param("fill_frames", ParamValue::String("2, x-4".into())).unwrap();
    let out = inst.render(&RenderRequest { frames: vec![1], ..Default::default() }).unwrap();
    let failure = out.frames[&1].as_ref().expect_err("a bad list must fail");
    assert_eq!(failure.status, FAILED);
    assert!(failure.message.contains("x-4"), "{}", failure.message);
    assert!(status(&inst).contains("x-4"), "{}", status(&inst));
}

#[test]
fn kinema_render_exits_non_zero_and_writes_nothing_for_failed_frames() {
    let dir = std::env::temp_dir().join(format!("kinema-cli-fail-{}", std::process::id()));
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (t, image) in similar_frames(2, 8, 8, Depth::U8, Components::Rgba, 9) {
        image.save(&input.join(format!("{t:04}.png"))).unwrap();
    }
    let out_pattern: PathBuf = dir.join("out").join("%04d.png");
    let output = std::process::Command::new(kinema_exe())
        .arg("--bundle")
        .arg(bundle_path())
        .args(["render", INTERPOLATE, "--input"])
        .arg(input.join("%04d.png"))
        .args(["--frames", "0-1", "--set", "model=no-such-model", "--out"])
        .arg(&out_pattern)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the render should fail");
    assert!(stderr.contains("Model 'no-such-model' not found"), "{stderr}");
    assert!(dir.join("out/0000.png").is_file(), "frame 0 is a whole source frame and renders");
    assert!(!dir.join("out/0001.png").exists(), "the failed frame must not be written");
    std::fs::remove_dir_all(&dir).unwrap();
}
