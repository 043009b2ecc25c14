//! The second model family through the real bundle: the tiny random Wan 2.1 graphs (models/wan,
//! wan-i2v, wan-flf2v) run by the same effects and `kinema generate` as LTX, the manifest carrying
//! every difference. Generate makes a shot; Animate starts from a frame (and ends on another with
//! a first-last model); Extend continues forward from the last source frame; what a model cannot
//! do fails with the reason in Status and renders nothing.

use std::collections::BTreeMap;

use kinema_e2e::*;
use kinema_host::{Bundle, ClipSource, Components, Context, Depth, HostImage, Instance, ParamValue, RenderRequest};

fn wan_model() -> String {
    model_path("wan")
}

fn model_path(name: &str) -> String {
    kinema_bundle::workspace_root().join("models").join(name).to_string_lossy().into_owned()
}

fn effect(bundle: &Bundle, id: &str, model: &str, source: &BTreeMap<i64, HostImage>) -> Instance {
    let inst = bundle.create_instance(id, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(source.clone())).unwrap();
    inst.set_param("prompt", ParamValue::String("the square drifts".into())).unwrap();
    inst.set_param("model", ParamValue::String(model_path(model))).unwrap();
    inst.set_param("steps", ParamValue::Int(2)).unwrap();
    inst
}

/// Renders `frames`: the source frames in `kept` bit-exact, the others generated (not a source frame).
fn check_shot(inst: &Instance, source: &BTreeMap<i64, HostImage>, kept: &[i64], made: &[i64]) {
    let frames: Vec<i64> = kept.iter().chain(made).copied().collect();
    let out = inst.render(&RenderRequest { frames, threads: 2, ..Default::default() }).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    for t in kept {
        assert!(out.frames[t].as_ref().unwrap().data == source[t].data, "source frame {t} changed");
    }
    for t in made {
        let frame = out.frames[t].as_ref().unwrap_or_else(|e| panic!("frame {t}: {e:?}"));
        let size = source.values().next().map(|s| (s.width, s.height)).unwrap();
        assert_eq!((frame.width, frame.height), size);
        assert!(source.values().all(|s| s.data != frame.data), "frame {t} is a copy of a source frame");
    }
}

/// Renders `frame` and expects it refused with `reason` in Status.
fn refused(inst: &Instance, frame: i64, reason: &str) {
    let out = inst.render(&RenderRequest { frames: vec![frame], ..Default::default() }).unwrap();
    assert!(out.frames[&frame].is_err(), "frame {frame} is refused");
    let status = status(inst);
    assert!(status.contains(reason), "{status}");
}

#[test]
fn animate_extend_and_end_frame_run_on_the_wan_image_models() {
    let bundle = load_bundle();
    let source = noise_frames(10, 48, 32, Depth::F32, Components::Rgba, 9);
    // I2V: Animate from frame 1; Extend forward from the clip's last frame only.
    let animate = effect(&bundle, ANIMATE, "wan-i2v", &source);
    animate.set_param("image_frame", ParamValue::Int(1)).unwrap();
    animate.set_param("length", ParamValue::Int(5)).unwrap();
    check_shot(&animate, &source, &[0, 1], &[2, 3, 5]);
    let short: BTreeMap<i64, HostImage> = source.range(0..5).map(|(t, f)| (*t, f.clone())).collect();
    let extend = effect(&bundle, EXTEND, "wan-i2v", &short);
    extend.set_param("extend_frames", ParamValue::Int(4)).unwrap();
    check_shot(&extend, &short, &[0, 3, 4], &[5, 6, 8]);
    extend.set_param_str("direction", "Backward").unwrap();
    refused(&extend, -2, "cannot continue from a clip, go backward");
    // An End Frame needs a first-last model, and lands on the shot's last frame.
    animate.set_param("end_frame_enabled", ParamValue::Bool(true)).unwrap();
    animate.set_param("end_frame", ParamValue::Int(9)).unwrap();
    refused(&animate, 4, "an End Frame needs a first-last model");
    let flf = effect(&bundle, ANIMATE, "wan-flf2v", &source);
    flf.set_param("image_frame", ParamValue::Int(1)).unwrap();
    flf.set_param("end_frame_enabled", ParamValue::Bool(true)).unwrap();
    flf.set_param("end_frame", ParamValue::Int(9)).unwrap();
    check_shot(&flf, &source, &[0, 1, 9], &[2, 5, 8]);
    flf.set_param("end_frame", ParamValue::Int(8)).unwrap();
    refused(&flf, 4, "places the End Frame on the shot's last frame");
}

#[test]
fn kinema_generate_makes_a_wan_shot_deterministically() {
    let dir = std::env::temp_dir().join(format!("kinema-cli-wan-{}", std::process::id()));
    let run = |seed: &str, out: &str| {
        let done = std::process::Command::new(kinema_exe())
            .env("KINEMA_CACHE_DIR", dir.join(format!("cache-{out}")))
            .arg("--bundle")
            .arg(bundle_path())
            .args(["generate", "a monkey dances on the beach", "--model", &wan_model(), "--frames", "9"])
            .args(["--size", "48x32", "--steps", "3", "--seed", seed, "--out"])
            .arg(dir.join(out).join("%04d.png"))
            .output()
            .unwrap();
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
        (0..10).map_while(|i| HostImage::load(&dir.join(format!("{out}/{i:04}.png"))).ok()).collect::<Vec<HostImage>>()
    };
    let (a, again, other) = (run("7", "a"), run("7", "again"), run("8", "other"));
    assert_eq!(a.len(), 9, "4k+1 frames: 9 written, no tenth");
    assert_eq!((a[0].width, a[0].height), (48, 32));
    for (x, y) in a.iter().zip(&again) {
        assert!(x.data == y.data, "the same seed gives the same frames");
    }
    assert!(a.iter().zip(&other).any(|(x, y)| x.data != y.data), "another seed gives another shot");
    assert!(a.windows(2).any(|p| p[0].data != p[1].data), "the frames are not one picture repeated");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn animate_and_extend_say_this_model_cannot_and_render_nothing() {
    let bundle = load_bundle();
    let source: BTreeMap<i64, HostImage> = noise_frames(5, 48, 32, Depth::F32, Components::Rgba, 3);
    // Animate generates after its image frame (0), Extend after the clip's last frame (4).
    for (id, needs, frame) in [(ANIMATE, "conditioning.i2v", 2), (EXTEND, "conditioning.condition", 6)] {
        refused(&effect(&bundle, id, "wan", &source), frame, needs);
    }
}

/// Wan 2.2 TI2V: one model makes a shot from text, animates a frame (its latent given at
/// timestep 0) and extends a clip forward from its last frame.
#[test]
fn the_ti2v_model_generates_animates_and_extends() {
    let bundle = load_bundle();
    let source = noise_frames(6, 96, 64, Depth::F32, Components::Rgba, 11);
    let generate = bundle.create_instance(GENERATE, Context::Generator).unwrap();
    generate.set_param("prompt", ParamValue::String("a monkey dances".into())).unwrap();
    generate.set_param("model", ParamValue::String(model_path("wan-ti2v"))).unwrap();
    generate.set_param("length", ParamValue::Int(5)).unwrap();
    generate.set_param("steps", ParamValue::Int(2)).unwrap();
    let out =
        generate.render(&RenderRequest { frames: vec![0, 4], size: Some((96, 64)), ..Default::default() }).unwrap();
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    let animate = effect(&bundle, ANIMATE, "wan-ti2v", &source);
    animate.set_param("length", ParamValue::Int(5)).unwrap();
    check_shot(&animate, &source, &[0], &[1, 4]);
    let extend = effect(&bundle, EXTEND, "wan-ti2v", &source);
    extend.set_param("extend_frames", ParamValue::Int(4)).unwrap();
    check_shot(&extend, &source, &[4, 5], &[6, 9]);
}

#[test]
fn kinema_generate_animates_stills_with_the_wan_image_models() {
    let dir = std::env::temp_dir().join(format!("kinema-cli-wan-i2v-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stills = noise_frames(2, 48, 32, Depth::U8, Components::Rgba, 4);
    let (first, last) = (dir.join("first.png"), dir.join("last.png"));
    stills[&0].save(&first).unwrap();
    stills[&1].save(&last).unwrap();
    let run = |model: &str, end: bool, out: &str| {
        let mut cmd = std::process::Command::new(kinema_exe());
        cmd.env("KINEMA_CACHE_DIR", dir.join("cache")).arg("--bundle").arg(bundle_path());
        cmd.args(["generate", "the square slides right", "--model", &model_path(model), "--frames", "9"]);
        cmd.args(["--steps", "2", "--image"]).arg(&first);
        if end {
            cmd.arg("--end-image").arg(&last);
        }
        let done = cmd.arg("--out").arg(dir.join(out).join("%04d.png")).output().unwrap();
        assert!(done.status.success(), "{model}: {}", String::from_utf8_lossy(&done.stderr));
        (0..10).map_while(|i| HostImage::load(&dir.join(format!("{out}/{i:04}.png"))).ok()).collect::<Vec<_>>()
    };
    let load = |p: &std::path::Path| std::mem::take(&mut HostImage::load(p).unwrap().data);
    let i2v = run("wan-i2v", false, "i2v");
    assert_eq!(i2v.len(), 9);
    assert!(i2v[0].data == load(&first), "the still is the shot's first frame");
    assert!(i2v[1..].iter().all(|f| f.data != load(&first)), "the rest is generated");
    let flf = run("wan-flf2v", true, "flf2v");
    assert_eq!(flf.len(), 9);
    assert!(flf[0].data == load(&first) && flf[8].data == load(&last), "both stills kept");
    assert!(flf[1..8].iter().all(|f| f.data != load(&first) && f.data != load(&last)));
    std::fs::remove_dir_all(&dir).ok();
}
