//! A shot longer than Kinema-tiny's window (17 frames), through the real bundle: it is made in
//! overlapping windows, the progress bar names the window being made, Status states the plan,
//! the frames carry on from window to window without a jump, and a stopped shot goes on from
//! the last window it finished. Shots between keyframes are made in windows too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kinema_e2e::*;
use kinema_host::{ClipSource, Context, HostImage, ParamValue, ProgressEvent, RenderRequest};

/// The tests count windows process-wide, so they take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Generate, 41 frames (three of Kinema-tiny's windows) in 3 steps.
fn generator(bundle: &kinema_host::Bundle, prompt: &str, seed: i32) -> kinema_host::Instance {
    let inst = bundle.create_instance(GENERATE, Context::Generator).unwrap();
    inst.set_param("prompt", ParamValue::String(prompt.into())).unwrap();
    inst.set_param("length", ParamValue::Int(41)).unwrap();
    inst.set_param("steps", ParamValue::Int(3)).unwrap();
    inst.set_param("seed", ParamValue::Int(seed)).unwrap();
    inst
}

#[test]
fn a_shot_longer_than_the_models_window_is_made_in_windows() {
    let _turn = serial();
    let bundle = load_bundle();
    let inst = generator(&bundle, "a red circle moving right on a black background", 3);
    let labels = Arc::new(Mutex::new(Vec::new()));
    let seen = labels.clone();
    let request = RenderRequest {
        frames: (0..41).collect(),
        size: Some((64, 64)),
        progress: Some(Arc::new(move |e: &ProgressEvent| {
            if let ProgressEvent::PluginStart { label, .. } = e {
                seen.lock().unwrap().push(label.clone());
            }
        })),
        ..Default::default()
    };
    let out = inst.render(&request).unwrap();
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    // 41 frames are 21 latent frames: windows of 9 latent frames (17 frames) overlapping by 3.
    let labels = labels.lock().unwrap().clone();
    for window in ["window 1/3", "window 2/3", "window 3/3"] {
        assert!(labels.iter().any(|l| l.contains(window)), "{window} in {labels:?}");
    }
    let status = status(&inst);
    assert!(status.contains("(41 frames in 3 windows of 17, overlap 6, seed 3; frames not reviewed"), "{status}");

    // The shot moves, and no step between neighbouring frames (the window seams included) is a
    // jump: at most three times the median step.
    let frames: Vec<Vec<f32>> = (0..41).map(|t| out.image(t).unwrap().samples_f32()).collect();
    let steps: Vec<f64> = frames
        .windows(2)
        .map(|p| p[0].iter().zip(&p[1]).map(|(a, b)| f64::from((a - b).abs())).sum::<f64>() / p[0].len() as f64)
        .collect();
    let mut sorted = steps.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!(median > 0.0, "the shot should move");
    for (t, step) in steps.iter().enumerate() {
        assert!(*step <= 3.0 * median + 1e-3, "frame {t}→{}: change {step} vs median {median}", t + 1);
    }
}

fn windows_made(bundle: &kinema_host::Bundle) -> u64 {
    bundle.runtime_report(None).unwrap()["long"]["windows_made"].as_u64().unwrap()
}

#[test]
fn a_stopped_long_shot_goes_on_from_its_last_finished_window() {
    let _turn = serial();
    let bundle = load_bundle();
    let inst = generator(&bundle, "a blue square moving left on a black background", 5);
    let request = |abort_after| RenderRequest {
        frames: vec![40],
        size: Some((64, 64)),
        abort_after_progress: abort_after,
        ..Default::default()
    };
    // Stopped during the second window: the first is kept.
    let before = windows_made(&bundle);
    let stopped = inst.render(&request(Some(4))).unwrap();
    assert!(stopped.aborted || !stopped.failures().is_empty(), "the render should have stopped");
    assert_eq!(windows_made(&bundle) - before, 1, "one window finished before the abort");
    // Rendering again makes only the two windows left.
    let resumed = inst.render(&request(None)).unwrap();
    assert!(resumed.failures().is_empty(), "{:?}", resumed.failures());
    assert_eq!(windows_made(&bundle) - before, 3, "windows 2 and 3 only");
}

#[test]
fn turning_loop_on_remakes_only_the_last_window() {
    let _turn = serial();
    // The loop is another shot, so its watermark says another shot key; the pixels compared
    // below are the generation's own (tests here run one at a time, so the switch is theirs).
    let _unmarked = WatermarkOff::new();
    let bundle = load_bundle();
    let inst = generator(&bundle, "a green circle bouncing on a black background", 7);
    let request = || RenderRequest { frames: vec![0, 40], size: Some((64, 64)), ..Default::default() };
    let before = windows_made(&bundle);
    let free = inst.render(&request()).unwrap();
    assert!(free.failures().is_empty(), "{:?}", free.failures());
    assert_eq!(windows_made(&bundle) - before, 3);

    inst.set_param("loop", ParamValue::Bool(true)).unwrap();
    let looped = inst.render(&request()).unwrap();
    assert!(looped.failures().is_empty(), "{:?}", looped.failures());
    assert_eq!(windows_made(&bundle) - before, 4, "the loop remakes the last window only");
    assert!(status(&inst).contains("3 windows of 17, overlap 6, looped"), "{}", status(&inst));
    // The first frame is the same shot's; the last is another.
    assert_eq!(free.image(0).unwrap().samples_f32(), looped.image(0).unwrap().samples_f32());
    assert_ne!(free.image(40).unwrap().samples_f32(), looped.image(40).unwrap().samples_f32());

    // A loop that fits one window has nothing to lead back with: refused with what to change.
    inst.set_param("length", ParamValue::Int(17)).unwrap();
    let short = inst.render(&RenderRequest { frames: vec![0], size: Some((64, 64)), ..Default::default() }).unwrap();
    let failures = format!("{:?}", short.failures());
    assert!(failures.contains("longer than one window") && failures.contains("lengthen it"), "{failures}");
}

/// An effect on `source` with the fixture clip's prompt, in 3 steps.
fn tiny_filter(bundle: &kinema_host::Bundle, id: &str, source: &BTreeMap<i64, HostImage>) -> kinema_host::Instance {
    let inst = bundle.create_instance(id, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(source.clone())).unwrap();
    inst.set_param("prompt", ParamValue::String(TINY_FIXTURE_PROMPT.into())).unwrap();
    inst.set_param("steps", ParamValue::Int(3)).unwrap();
    inst
}

/// Renders `frames` on two threads: the output, checked clean, and how many windows it made.
fn render_counting(
    bundle: &kinema_host::Bundle,
    inst: &kinema_host::Instance,
    frames: std::ops::Range<i64>,
) -> (kinema_host::RenderOutput, u64) {
    let before = windows_made(bundle);
    let out = inst.render(&RenderRequest { frames: frames.collect(), threads: 2, ..Default::default() }).unwrap();
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    (out, windows_made(bundle) - before)
}

#[test]
fn a_shot_between_keyframes_longer_than_the_window_is_made_in_windows() {
    let _turn = serial();
    let bundle = load_bundle();
    // Kinema-tiny's square at the start and at the end of its fixture clip, 40 frames apart.
    let clip = tiny_fixture_clip();
    let source = BTreeMap::from([(0, clip[&0].clone()), (40, clip[&16].clone())]);
    let inst = tiny_filter(&bundle, ANIMATE, &source);
    inst.set_param("end_frame_enabled", ParamValue::Bool(true)).unwrap();
    inst.set_param("end_frame", ParamValue::Int(40)).unwrap();
    let (out, made) = render_counting(&bundle, &inst, 0..41);
    assert_eq!(made, 3, "41 frames in three windows");
    for t in [0, 40] {
        assert!(out.frames[&t].as_ref().unwrap().data == source[&t].data, "keyframe {t} passes through");
    }
    let made = |t: i64| out.frames[&t].as_ref().unwrap().data.clone();
    assert!(made(10) != made(30), "a shot, not one frame repeated");
    // Status tells of the frame rendered last: a made one.
    let again = inst.render(&RenderRequest { frames: vec![20], ..Default::default() }).unwrap();
    assert!(again.frames[&20].as_ref().unwrap().data == made(20), "served from the same shot");
    let status = status(&inst);
    assert!(status.contains("3 windows of 17") && status.contains("between keyframes 0 and 40"), "{status}");
}

#[test]
fn an_extension_longer_than_the_window_is_made_in_windows_either_way() {
    let _turn = serial();
    let bundle = load_bundle();
    let source = tiny_fixture_clip();
    let inst = tiny_filter(&bundle, EXTEND, &source);
    inst.set_param("extend_frames", ParamValue::Int(40)).unwrap();
    inst.set_param("context_frames", ParamValue::Int(9)).unwrap();
    // 9 context frames and 40 more are 49 frames, 25 latent frames, four windows: after the
    // source, or before it (made from the end).
    for (direction, frames, new) in [("Forward", 0..57, [17, 30, 50]), ("Backward", -40..17, [-1, -20, -35])] {
        inst.set_param_str("direction", direction).unwrap();
        let (out, made) = render_counting(&bundle, &inst, frames);
        assert_eq!(made, 4, "{direction}: 49 frames in four windows");
        for t in 0..17 {
            assert!(out.frames[&t].as_ref().unwrap().data == source[&t].data, "{direction}: source frame {t}");
        }
        let made = |t: i64| out.frames[&t].as_ref().unwrap().data.clone();
        let seam = if direction == "Forward" { &source[&16] } else { &source[&0] };
        assert!(made(new[0]) != seam.data && made(new[1]) != made(new[2]), "{direction}: a shot, not a frame repeated");
        let again = inst.render(&RenderRequest { frames: vec![new[1]], ..Default::default() }).unwrap();
        assert!(again.frames[&new[1]].as_ref().unwrap().data == made(new[1]), "{direction}: served from the shot");
        let status = status(&inst);
        assert!(status.contains("4 windows of 17"), "{direction}: {status}");
    }
}

/// Turns the provenance watermark off until dropped (also when the test fails).
struct WatermarkOff;

impl WatermarkOff {
    fn new() -> Self {
        std::env::set_var("KINEMA_WATERMARK", "off");
        WatermarkOff
    }
}

impl Drop for WatermarkOff {
    fn drop(&mut self) {
        std::env::remove_var("KINEMA_WATERMARK");
    }
}
