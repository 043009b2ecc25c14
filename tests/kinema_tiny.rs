//! The bundle's default model, Kinema-tiny (models/kinema-tiny: trained here on a synthetic world
//! of coloured shapes), through the real bundle and by name, as a user gets it: a prompt gives a
//! shot of the object it names moving the way it says, Extend continues a clip in its direction,
//! and End on a Frame fills the frames between two keyframes in order. `models/kinema-tiny/eval.py` measures this over hundreds of prompts; these fixed cases
//! catch a broken runtime path, manifest or bundle layout with the real weights.

use std::collections::BTreeMap;

use kinema_e2e::*;
use kinema_host::{ClipSource, Components, Context, Depth, HostImage, ParamValue, RenderOutput, RenderRequest};

/// The synthetic world's object colours (models/kinema-tiny/data.py), 0..255.
const PALETTE: [(&str, [f64; 3]); 8] = [
    ("red", [230.0, 40.0, 40.0]),
    ("green", [40.0, 200.0, 60.0]),
    ("blue", [60.0, 100.0, 255.0]),
    ("yellow", [240.0, 220.0, 40.0]),
    ("purple", [170.0, 60.0, 230.0]),
    ("orange", [250.0, 140.0, 20.0]),
    ("white", [240.0, 240.0, 240.0]),
    ("cyan", [40.0, 220.0, 230.0]),
];

/// The bright object in a frame (backgrounds are dark): its mean colour and centroid.
#[derive(Debug)]
struct Blob {
    colour: [f64; 3],
    x: f64,
    area: usize,
}

fn blob(image: &HostImage) -> Option<Blob> {
    let rgb = image.convert(Depth::F32, Components::Rgb).samples_f32();
    let (mut sum, mut x, mut area) = ([0.0f64; 3], 0.0, 0usize);
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        if px.iter().cloned().fold(0.0f32, f32::max) * 255.0 >= 120.0 {
            for c in 0..3 {
                sum[c] += f64::from(px[c]) * 255.0;
            }
            x += (i % image.width as usize) as f64;
            area += 1;
        }
    }
    (area >= 12).then(|| Blob { colour: sum.map(|s| s / area as f64), x: x / area as f64, area })
}

fn colour_name(c: [f64; 3]) -> &'static str {
    let d = |p: [f64; 3]| (0..3).map(|i| (c[i] - p[i]).powi(2)).sum::<f64>();
    PALETTE.iter().min_by(|a, b| d(a.1).total_cmp(&d(b.1))).unwrap().0
}

fn frame(out: &RenderOutput, t: i64) -> &HostImage {
    out.frames[&t].as_ref().unwrap_or_else(|e| panic!("frame {t}: {e:?}"))
}

fn blobs(out: &RenderOutput, frames: impl Iterator<Item = i64>) -> Vec<Blob> {
    frames.map(|t| blob(frame(out, t)).unwrap_or_else(|| panic!("frame {t} shows no object"))).collect()
}

#[test]
fn a_prompt_gives_the_named_object_moving_the_named_way() {
    let bundle = load_bundle();
    let inst = bundle.create_instance(GENERATE, Context::Generator).unwrap();
    // The model parameter keeps its default: the bundle's kinema-tiny.
    inst.set_param("prompt", ParamValue::String("a red circle moving right on a black background".into())).unwrap();
    inst.set_param("seed", ParamValue::Int(1)).unwrap();
    let out = inst
        .render(&RenderRequest { frames: (0..17).collect(), threads: 2, size: Some((64, 64)), ..Default::default() })
        .unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    let b = blobs(&out, 0..17);
    for (t, b) in b.iter().enumerate() {
        assert_eq!(colour_name(b.colour), "red", "frame {t}: {b:?}");
    }
    let (first, last) = (b[..3].iter().map(|b| b.x).sum::<f64>() / 3.0, b[14..].iter().map(|b| b.x).sum::<f64>() / 3.0);
    assert!(last - first > 8.0, "the circle should move right: x {first:.1} -> {last:.1}");
}

#[test]
fn extend_continues_the_motion_and_matching_the_source_softens_the_seam() {
    let bundle = load_bundle();
    let source = tiny_fixture_clip();
    let inst = bundle.create_instance(EXTEND, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(source.clone())).unwrap();
    inst.set_param("prompt", ParamValue::String(TINY_FIXTURE_PROMPT.into())).unwrap();
    inst.set_param("extend_frames", ParamValue::Int(8)).unwrap();
    inst.set_param("context_frames", ParamValue::Int(9)).unwrap();
    let request = RenderRequest { frames: (16..25).collect(), threads: 2, ..Default::default() };
    let out = inst.render(&request).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert!(frame(&out, 16).data == source[&16].data, "the source's last frame passes through bit-exact");
    let added = blobs(&out, 17..25);
    // The square runs out of the frame on the right: judge its colour while it is mostly inside
    // (the last sliver is mostly antialiased edge).
    assert!(added.iter().filter(|b| b.area >= 100).all(|b| colour_name(b.colour) == "yellow"), "{added:?}");
    assert!(added[0].x > 44.0 && added[7].x - added[0].x > 3.0, "the square keeps moving right: {added:?}");
    // Match Source (on by default) brings the new frames' background to the source's: the jump
    // at the seam is smaller than with the model's raw output.
    let seam = mean_abs(frame(&out, 16), frame(&out, 17));
    inst.set_param("match_source", ParamValue::Bool(false)).unwrap();
    let raw = inst.render(&request).unwrap();
    let raw_seam = mean_abs(frame(&raw, 16), frame(&raw, 17));
    assert!(seam < raw_seam, "seam {seam:.4} with matching vs {raw_seam:.4} without");
}

#[test]
fn keyframes_are_joined_in_order() {
    let bundle = load_bundle();
    let source = tiny_fixture_clip();
    let keys = BTreeMap::from([(0, source[&0].clone()), (16, source[&16].clone())]);
    let inst = bundle.create_instance(ANIMATE, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(keys)).unwrap();
    inst.set_param("prompt", ParamValue::String(TINY_FIXTURE_PROMPT.into())).unwrap();
    inst.set_param("end_frame_enabled", ParamValue::Bool(true)).unwrap();
    inst.set_param("end_frame", ParamValue::Int(16)).unwrap();
    let request = RenderRequest { frames: (0..17).collect(), threads: 2, ..Default::default() };
    let out = inst.render(&request).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    let b = blobs(&out, 0..17);
    let (start, end) = (b[0].x, b[16].x);
    for w in b.windows(2) {
        assert!(w[1].x >= w[0].x - 1.0, "the square goes back: {b:?}");
    }
    assert!(b[1..16].iter().all(|k| k.x >= start - 3.0 && k.x <= end + 3.0), "{b:?}");
    assert!(b.iter().all(|k| k.area > 50), "{b:?}");
    // Match Source (on by default) joins both keyframes more smoothly than the model's raw output.
    let joins = |o: &RenderOutput| mean_abs(frame(o, 0), frame(o, 1)) + mean_abs(frame(o, 15), frame(o, 16));
    inst.set_param("match_source", ParamValue::Bool(false)).unwrap();
    let raw = inst.render(&request).unwrap();
    assert!(joins(&out) < joins(&raw), "joins {:.4} with matching vs {:.4} without", joins(&out), joins(&raw));
}

/// Runs `kinema generate` on Kinema-tiny under the content policy `policy` (JSON), returning
/// whether it succeeded, its stdout + stderr, and which of the first frames were written.
fn generate_under(policy: &str, prompt: &str, model: Option<&str>) -> (bool, String, Vec<bool>) {
    let dir = std::env::temp_dir().join(format!("kinema-review-{}-{}", std::process::id(), prompt.len()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), policy).unwrap();
    let mut cmd = std::process::Command::new(kinema_exe());
    cmd.env("KINEMA_CACHE_DIR", dir.join("cache")).env("KINEMA_POLICY", dir.join("policy.json"));
    cmd.arg("--bundle").arg(bundle_path()).args(["generate", prompt, "--frames", "9", "--seed", "3"]);
    if let Some(model) = model {
        cmd.args(["--model", model, "--steps", "2"]);
    }
    let out = cmd.arg("--out").arg(dir.join("shot/%04d.png")).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let written = (0..9).map(|i| dir.join(format!("shot/{i:04}.png")).is_file()).collect();
    std::fs::remove_dir_all(&dir).unwrap();
    (out.status.success(), text, written)
}

/// A test policy for the Kinema-tiny world: red objects are forbidden (the shipped classifier,
/// models/kinema-tiny/frame_review.onnx, scores each frame's object colours).
const NO_RED: &str = r#"{"version": 1, "categories": [
  {"name": "forbidden colour", "terms": ["crimson"], "frame_labels": {"red": 0.5}}]}"#;

#[test]
fn frame_review_withholds_a_flagged_shot_and_passes_the_rest() {
    // The prompt passes the text check (no listed term); the frames show red and are flagged.
    let (ok, text, written) = generate_under(NO_RED, "a red circle moving right on a black background", None);
    assert!(!ok, "a red shot was served: {text}");
    assert!(text.contains("Shot withheld by frame review: frame "), "{text}");
    assert!(text.contains("was flagged as forbidden colour (classifier label \"red\""), "{text}");
    assert_eq!(written, [false; 9], "a flagged shot wrote frames: {text}");

    let (ok, text, written) = generate_under(NO_RED, "a blue circle moving right on a black background", None);
    assert!(ok, "{text}");
    assert!(
        text.contains("frames reviewed for forbidden colour"),
        "Status does not say the frames were reviewed: {text}"
    );
    assert_eq!(written, [true; 9]);
}

#[test]
fn a_policy_that_requires_review_refuses_a_model_without_a_classifier() {
    let policy = r#"{"version": 1, "require_frame_review": true, "categories": [
      {"name": "forbidden colour", "terms": ["crimson"], "frame_labels": {"red": 0.5}}]}"#;
    let (ok, text, written) = generate_under(policy, "a blue circle moving right", Some(&ltx_model()));
    assert!(!ok, "a model without a frame classifier generated under a policy that requires review: {text}");
    assert!(text.contains("frame classifier"), "{text}");
    assert_eq!(written, [false; 9]);
    // The same policy with Kinema-tiny, which has one, generates.
    let (ok, text, _) = generate_under(policy, "a blue circle moving right on a black background", None);
    assert!(ok, "{text}");
}
