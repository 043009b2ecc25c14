//! The second model family through the real bundle: the tiny random Wan 2.1 graphs (models/wan)
//! run by the same effects and `kinema generate` as LTX, the manifest carrying every difference.
//! Generate makes a shot; Animate and Extend, which this model's manifest gives no conditioning
//! for, fail with the reason in Status and render nothing.

use std::collections::BTreeMap;

use kinema_e2e::*;
use kinema_host::{ClipSource, Components, Context, Depth, HostImage, ParamValue, RenderRequest};

fn wan_model() -> String {
    kinema_bundle::workspace_root().join("models/wan").to_string_lossy().into_owned()
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
    for (effect, needs, frame) in [(ANIMATE, "conditioning.i2v", 2), (EXTEND, "conditioning.condition", 6)] {
        let inst = bundle.create_instance(effect, Context::Filter).unwrap();
        inst.set_source("Source", ClipSource::Frames(source.clone())).unwrap();
        inst.set_param("prompt", ParamValue::String("the square drifts".into())).unwrap();
        inst.set_param("model", ParamValue::String(wan_model())).unwrap();
        inst.set_param("steps", ParamValue::Int(2)).unwrap();
        let out = inst.render(&RenderRequest { frames: vec![frame], ..Default::default() }).unwrap();
        assert!(out.violations.is_empty(), "{:?}", out.violations);
        assert!(out.frames[&frame].is_err(), "{effect}: nothing is rendered");
        let status = status(&inst);
        assert!(status.contains(needs), "{effect}: {status}");
    }
}
