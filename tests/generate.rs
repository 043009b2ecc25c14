//! Generate, Animate and Extend through the real bundle with the tiny LTX graphs (models/ltx):
//! a shot is generated once however many threads and instances ask for its frames, a host abort
//! stops it within a step and caches nothing, blocked prompts and broken models fail clearly,
//! Extend leaves the source untouched (and matches its new frames' colour to the seam when
//! serving), Animate between two keyframes keeps both of them, and `kinema` signs a C2PA
//! manifest into the frames it generates but never into source frames it passes through.
//! Alone in its binary: it counts generations process-wide.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use kinema_e2e::*;
use kinema_host::{Bundle, ClipSource, Components, Context, Depth, HostImage, Instance, ParamValue, RenderRequest};

/// The tests count generations process-wide, so they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn generations(bundle: &Bundle) -> u64 {
    bundle.runtime_report(None).unwrap()["clip_cache"]["generations_started"].as_u64().unwrap()
}

fn generator(bundle: &Bundle, prompt: &str, seed: i32) -> Instance {
    let inst = bundle.create_instance(GENERATE, Context::Generator).unwrap();
    inst.set_param("prompt", ParamValue::String(prompt.into())).unwrap();
    inst.set_param("model", ParamValue::String(ltx_model())).unwrap();
    inst.set_param("length", ParamValue::Int(9)).unwrap();
    inst.set_param("steps", ParamValue::Int(3)).unwrap();
    inst.set_param("seed", ParamValue::Int(seed)).unwrap();
    inst
}

fn request(frames: Vec<i64>, threads: usize) -> RenderRequest {
    RenderRequest { frames, threads, size: Some((48, 32)), ..Default::default() }
}

#[test]
fn one_generation_serves_every_thread_and_instance() {
    let _turn = serial();
    let bundle = load_bundle();
    let before = generations(&bundle);
    let (a, b) =
        (generator(&bundle, "a red circle moving left", 11), generator(&bundle, "a red circle moving left", 11));
    let mut order: Vec<i64> = (0..9).collect();
    order.reverse();
    order.swap(2, 6);
    let (out_a, out_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.render(&request(order.clone(), 8)).unwrap());
        let tb = s.spawn(|| b.render(&request((0..9).collect(), 8)).unwrap());
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(generations(&bundle) - before, 1, "one shot, one generation");
    for out in [&out_a, &out_b] {
        assert!(out.violations.is_empty(), "{:?}", out.violations);
        assert!(out.failures().is_empty(), "{:?}", out.failures());
    }
    let frame = |o: &kinema_host::RenderOutput, t: i64| o.frames[&t].as_ref().unwrap().data.clone();
    for t in 0..9 {
        assert!(frame(&out_a, t) == frame(&out_b, t), "frame {t} differs between instances");
    }
    assert!(frame(&out_a, 0) != frame(&out_a, 8), "a shot, not one frame repeated");
    let image = out_a.frames[&4].as_ref().unwrap();
    assert_eq!((image.width, image.height, image.depth, image.components), (48, 32, Depth::F32, Components::Rgba));
    assert!(status(&a).starts_with("Generated frame"), "{}", status(&a));

    // Another seed is another shot.
    let c = generator(&bundle, "a red circle moving left", 12);
    let out_c = c.render(&request(vec![4], 1)).unwrap();
    assert!(out_c.frames[&4].as_ref().unwrap().data != frame(&out_a, 4));
    assert_eq!(generations(&bundle) - before, 2);
}

#[test]
fn an_abort_stops_within_a_step_and_caches_nothing() {
    /// Renders frame 0 and returns the output and the fractions of the plugin's progress updates
    /// (one per denoising step of a generation).
    fn render_counting_steps(inst: &Instance, abort_after: Option<u64>) -> (kinema_host::RenderOutput, Vec<f64>) {
        let updates = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = updates.clone();
        let progress: kinema_host::ProgressFn = std::sync::Arc::new(move |e: &kinema_host::ProgressEvent| {
            if let kinema_host::ProgressEvent::PluginUpdate { fraction } = e {
                seen.lock().unwrap().push(*fraction);
            }
        });
        let req = RenderRequest { progress: Some(progress), abort_after_progress: abort_after, ..request(vec![0], 1) };
        let out = inst.render(&req).unwrap();
        let fractions = updates.lock().unwrap().clone();
        (out, fractions)
    }
    let _turn = serial();
    let bundle = load_bundle();
    const STEPS: usize = 8;
    let inst = generator(&bundle, "a blue square moving up", 21);
    inst.set_param("steps", ParamValue::Int(STEPS as i32)).unwrap();
    let abort = inst.abort_handle();
    let before = generations(&bundle);

    // The host asks to stop after the second step's progress update.
    let (out, aborted_steps) = render_counting_steps(&inst, Some(2));
    let failure = out.frames[&0].as_ref().expect_err("an aborted generation renders nothing");
    assert!(failure.message.contains("stopped by the host"), "{failure:?}");
    assert!(out.aborted || failure.status == 1);
    assert!(!abort.load(Ordering::Relaxed), "the host clears its abort flag after the render");
    assert!(
        (2..=3).contains(&aborted_steps.len()),
        "the abort came after step 2 of {STEPS}, so at most one more step may run: {aborted_steps:?}"
    );
    assert_eq!(generations(&bundle) - before, 1);

    // Same parameters: nothing of the aborted run was kept, so the shot is generated again from
    // its first step to its last.
    let (out, rerun_steps) = render_counting_steps(&inst, None);
    assert!(out.frames[&0].is_ok(), "{:?}", out.frames[&0]);
    let every_step: Vec<f64> = (1..=STEPS).map(|k| k as f64 / STEPS as f64).collect();
    assert_eq!(rerun_steps, every_step, "the rerun must run every step, not resume or reuse the aborted run");
    assert_eq!(generations(&bundle) - before, 2, "the rerun is a new generation");

    // That complete shot is cached: a third render runs no step.
    let (out, cached_steps) = render_counting_steps(&inst, None);
    assert!(out.frames[&0].is_ok(), "{:?}", out.frames[&0]);
    assert!(cached_steps.is_empty(), "a finished shot is served from the cache: {cached_steps:?}");
    assert_eq!(generations(&bundle) - before, 2);
}

#[test]
fn blocked_prompts_and_broken_models_fail_clearly_without_generating() {
    let _turn = serial();
    let bundle = load_bundle();
    let inst = generator(&bundle, "a graphic gore scene", 1);
    let before = generations(&bundle);
    let out = inst.render(&request(vec![0], 1)).unwrap();
    let failure = out.frames[&0].as_ref().expect_err("blocked");
    assert!(failure.message.contains("category: graphic violence"), "{failure:?}");
    assert!(status(&inst).contains("Prompt blocked"), "{}", status(&inst));
    assert_eq!(generations(&bundle), before, "nothing runs for a blocked prompt");

    // A manifest naming a tensor the graph does not have.
    let dir = std::env::temp_dir().join(format!("kinema-broken-ltx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = std::path::Path::new(&ltx_model()).to_path_buf();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        manifest.replace("\"video_coords\": \"video_coords\"", "\"video_coords\": \"rope_coords\""),
    )
    .unwrap();
    let inst = generator(&bundle, "a green triangle", 2);
    inst.set_param("model", ParamValue::String(dir.to_string_lossy().into())).unwrap();
    let out = inst.render(&request(vec![0], 1)).unwrap();
    let failure = out.frames[&0].as_ref().expect_err("broken manifest");
    assert!(failure.message.contains("rope_coords") && failure.message.contains("transformer.onnx"), "{failure:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn source_clip(count: i64) -> BTreeMap<i64, HostImage> {
    // A bright square moving right over a dark background, 48x32.
    (0..count)
        .map(|t| {
            let mut px = Vec::with_capacity(48 * 32 * 4);
            for y in 0..32 {
                for x in 0..48i64 {
                    let inside = (x - 8 - 4 * t).abs() < 6 && (y - 16i64).abs() < 6;
                    let v = if inside { 0.9 } else { 0.1 };
                    px.extend([v, v * 0.5, 0.2, 1.0]);
                }
            }
            (t, HostImage::from_f32(48, 32, Components::Rgba, &px).unwrap())
        })
        .collect()
}

/// A filter instance of `id` on `source` with `prompt` and the tiny random LTX, in 2 steps.
fn filter(bundle: &Bundle, id: &str, source: &BTreeMap<i64, HostImage>, prompt: &str) -> Instance {
    let inst = bundle.create_instance(id, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(source.clone())).unwrap();
    inst.set_param("prompt", ParamValue::String(prompt.into())).unwrap();
    inst.set_param("model", ParamValue::String(ltx_model())).unwrap();
    inst.set_param("steps", ParamValue::Int(2)).unwrap();
    inst
}

/// Extend on the five-frame source clip: 4 frames in `direction` from all 5.
fn extender(bundle: &Bundle, source: &BTreeMap<i64, HostImage>, prompt: &str, direction: &str) -> Instance {
    let inst = filter(bundle, EXTEND, source, prompt);
    inst.set_param_str("direction", direction).unwrap();
    inst.set_param("extend_frames", ParamValue::Int(4)).unwrap();
    inst.set_param("context_frames", ParamValue::Int(5)).unwrap();
    inst
}

#[test]
fn extend_keeps_the_source_bit_exact_and_generates_beyond_it() {
    let _turn = serial();
    let bundle = load_bundle();
    let source = source_clip(5);
    for direction in ["Forward", "Backward"] {
        let inst = extender(&bundle, &source, "the square keeps moving right", direction);
        let added: Vec<i64> = if direction == "Forward" { (5..9).collect() } else { (-4..0).collect() };
        let frames: Vec<i64> = (0..5).chain(added.iter().copied()).collect();
        let out = inst.render(&RenderRequest { frames, threads: 4, ..Default::default() }).unwrap();
        assert!(out.violations.is_empty(), "{:?}", out.violations);
        for t in 0..5 {
            assert!(out.frames[&t].as_ref().unwrap().data == source[&t].data, "{direction}: source frame {t} changed");
        }
        for t in added {
            let made = out.frames[&t].as_ref().unwrap_or_else(|e| panic!("{direction} frame {t}: {e:?}"));
            assert_eq!((made.width, made.height), (48, 32));
            assert!(source.values().all(|s| s.data != made.data), "{direction}: frame {t} is a copy of a source frame");
        }
    }
}

/// Mean of each RGB channel.
fn mean_colour(image: &HostImage) -> [f64; 3] {
    let rgb = image.convert(Depth::F32, Components::Rgb).samples_f32();
    let mut sum = [0.0; 3];
    for px in rgb.chunks_exact(3) {
        for c in 0..3 {
            sum[c] += f64::from(px[c]);
        }
    }
    sum.map(|s| s / (rgb.len() / 3) as f64)
}

#[test]
fn extend_matches_the_source_colour_when_serving_from_the_same_generation() {
    let _turn = serial();
    let bundle = load_bundle();
    let source = source_clip(5);
    for direction in ["Forward", "Backward"] {
        let (seam, added) = if direction == "Forward" { (4, 5..9) } else { (0, -4..0) };
        let render = |match_source: bool| {
            let inst = extender(&bundle, &source, "the square keeps its colour", direction);
            inst.set_param("seed", ParamValue::Int(5)).unwrap();
            inst.set_param("match_source", ParamValue::Bool(match_source)).unwrap();
            let out = inst.render(&RenderRequest {
                frames: (0..5).chain(added.clone()).collect(),
                threads: 2,
                ..Default::default()
            });
            let out = out.unwrap();
            assert!(out.violations.is_empty(), "{:?}", out.violations);
            out
        };
        let before = generations(&bundle);
        let (on, off) = (render(true), render(false));
        assert_eq!(
            generations(&bundle) - before,
            1,
            "{direction}: one raw clip serves both; matching is done when serving"
        );
        let frame = |o: &kinema_host::RenderOutput, t: i64| o.frames[&t].as_ref().unwrap().clone();
        for t in 0..5 {
            assert!(frame(&on, t).data == source[&t].data, "{direction}: source frame {t} changed (match on)");
            assert!(frame(&off, t).data == source[&t].data, "{direction}: source frame {t} changed (match off)");
        }
        for t in added {
            assert!(frame(&on, t).data != frame(&off, t).data, "{direction}: frame {t} is not corrected");
        }
        let first = if direction == "Forward" { seam + 1 } else { seam - 1 };
        let jump = |o: &kinema_host::RenderOutput| mean_abs(&source[&seam], &frame(o, first));
        assert!(jump(&on) <= jump(&off), "{direction}: seam jump {:.4} matched vs {:.4} raw", jump(&on), jump(&off));
        eprintln!("{direction}: jump on {:.4} off {:.4}", jump(&on), jump(&off));
        // The first new frame's average colour moves toward the source frame at the seam.
        let (want, on, off) =
            (mean_colour(&source[&seam]), mean_colour(&frame(&on, first)), mean_colour(&frame(&off, first)));
        let distance = |m: [f64; 3]| (0..3).map(|c| (m[c] - want[c]).abs()).sum::<f64>();
        assert!(
            distance(on) < distance(off),
            "{direction}: mean colour {on:?} matched vs {off:?} raw, source {want:?}"
        );
    }
}

#[test]
fn animate_starts_from_the_chosen_frame() {
    let _turn = serial();
    let bundle = load_bundle();
    let source = source_clip(3);
    let inst = filter(&bundle, ANIMATE, &source, "the square drifts");
    inst.set_param("image_frame", ParamValue::Int(1)).unwrap();
    inst.set_param("length", ParamValue::Int(5)).unwrap();
    let out = inst.render(&RenderRequest { frames: vec![1, 2, 3, 5], ..Default::default() }).unwrap();
    assert!(out.frames[&1].as_ref().unwrap().data == source[&1].data, "the image frame itself passes through");
    for t in [2, 3, 5] {
        assert!(out.frames[&t].is_ok(), "frame {t}: {:?}", out.frames[&t]);
    }
}

fn keyframe_animate(bundle: &Bundle, source: &BTreeMap<i64, HostImage>, image: i32, end: i32) -> Instance {
    let inst = filter(bundle, ANIMATE, source, "the square slides between the keyframes");
    inst.set_param("image_frame", ParamValue::Int(image)).unwrap();
    inst.set_param("end_frame_enabled", ParamValue::Bool(true)).unwrap();
    inst.set_param("end_frame", ParamValue::Int(end)).unwrap();
    inst
}

#[test]
fn animate_between_two_keyframes_keeps_both_and_generates_the_frames_between_once() {
    let _turn = serial();
    let bundle = load_bundle();
    let source = source_clip(8);
    // Shot 1..=6 (6 frames; the tiny model rounds it up to 9): keyframes 1 and 6, frames 2-5 made.
    let inst = keyframe_animate(&bundle, &source, 1, 6);
    let before = generations(&bundle);
    let out = inst.render(&RenderRequest { frames: (0..8).collect(), threads: 4, ..Default::default() }).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    assert_eq!(generations(&bundle) - before, 1, "one generation serves every frame between the keyframes");
    for t in [0, 1, 6, 7] {
        assert!(out.frames[&t].as_ref().unwrap().data == source[&t].data, "source frame {t} changed");
    }
    for t in 2..=5 {
        let made = out.frames[&t].as_ref().unwrap();
        assert_eq!((made.width, made.height), (48, 32));
        assert!(made.data != source[&1].data && made.data != source[&6].data, "frame {t} is a copy of a keyframe");
        assert!(made.data != source[&t].data, "frame {t} is the source frame");
    }
    let made = |t: i64| out.frames[&t].as_ref().unwrap().data.clone();
    assert!(made(2) != made(5), "a shot, not one frame repeated");
    // Frames rendered one at a time later are served from the same clip.
    let again = inst.render(&RenderRequest { frames: vec![3], ..Default::default() }).unwrap();
    assert!(again.frames[&3].as_ref().unwrap().data == made(3));
    assert_eq!(generations(&bundle) - before, 1);
    assert!(status(&inst).contains("between keyframes 1 and 6"), "{}", status(&inst));
}

#[test]
fn an_end_frame_before_the_image_frame_fails_with_the_reason_and_no_output() {
    let _turn = serial();
    let bundle = load_bundle();
    let source = source_clip(8);
    let before = generations(&bundle);
    for (end, reason) in [
        (3, "End Frame is out of range: frame 3 must come after Image Frame (frame 4)"),
        (4, "End Frame is out of range: frame 4 must come after Image Frame (frame 4)"),
        (9, "End Frame is out of range: frame 9 is outside the source clip (frames 0 to 7)"),
    ] {
        let inst = keyframe_animate(&bundle, &source, 4, end);
        let out = inst.render(&RenderRequest { frames: vec![5], ..Default::default() }).unwrap();
        let failure = out.frames[&5].as_ref().expect_err("an invalid End Frame renders nothing");
        assert!(failure.message.contains(reason), "{failure:?}");
        assert!(status(&inst).contains(reason), "{}", status(&inst));
        assert!(out.violations.is_empty(), "{:?}", out.violations);
    }
    assert_eq!(generations(&bundle), before, "nothing is generated for an invalid End Frame");
}

#[test]
fn kinema_generate_writes_the_shot_and_refuses_blocked_prompts() {
    let _turn = serial();
    let dir = std::env::temp_dir().join(format!("kinema-cli-generate-{}", std::process::id()));
    let run = |prompt: &str, out: &str| {
        std::process::Command::new(kinema_exe())
            .env("KINEMA_CACHE_DIR", dir.join("cache"))
            .arg("--bundle")
            .arg(bundle_path())
            .args(["generate", prompt, "--model", &ltx_model(), "--frames", "9", "--size", "64x48", "--seed", "7"])
            .args(["--steps", "2", "--out"])
            .arg(dir.join(out).join("%04d.png"))
            .output()
            .unwrap()
    };
    let ok = run("a red circle moving left", "shot");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let written: Vec<bool> = (0..10).map(|i| dir.join(format!("shot/{i:04}.png")).is_file()).collect();
    assert_eq!(written, [true, true, true, true, true, true, true, true, true, false]);
    let first = HostImage::load(&dir.join("shot/0000.png")).unwrap();
    assert_eq!((first.width, first.height), (64, 48));
    let blocked = run("a graphic gore scene", "blocked");
    assert!(!blocked.status.success());
    assert!(String::from_utf8_lossy(&blocked.stderr).contains("graphic violence"));
    assert!(!dir.join("blocked/0000.png").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kinema_generate_with_an_end_image_keeps_both_stills() {
    let _turn = serial();
    let dir = std::env::temp_dir().join(format!("kinema-cli-keyframes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = source_clip(5);
    let (first, last) = (dir.join("first.png"), dir.join("last.png"));
    source[&0].convert(Depth::U8, Components::Rgba).save(&first).unwrap();
    source[&4].convert(Depth::U8, Components::Rgba).save(&last).unwrap();
    let run = |frames: &str, out: &str| {
        std::process::Command::new(kinema_exe())
            .env("KINEMA_CACHE_DIR", dir.join("cache"))
            .arg("--bundle")
            .arg(bundle_path())
            .args(["generate", "the square slides right", "--model", &ltx_model(), "--frames", frames])
            .args(["--steps", "2", "--image"])
            .arg(&first)
            .arg("--end-image")
            .arg(&last)
            .arg("--out")
            .arg(dir.join(out).join("%04d.png"))
            .output()
            .unwrap()
    };
    let ok = run("5", "shot");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let written: Vec<bool> = (0..6).map(|i| dir.join(format!("shot/{i:04}.png")).is_file()).collect();
    assert_eq!(written, [true, true, true, true, true, false]);
    let load = |p: &std::path::Path| std::mem::take(&mut HostImage::load(p).unwrap().data);
    assert!(load(&dir.join("shot/0000.png")) == load(&first), "the first still changed");
    assert!(load(&dir.join("shot/0004.png")) == load(&last), "the end still changed");
    for i in 1..4 {
        let made = load(&dir.join(format!("shot/{i:04}.png")));
        assert!(made != load(&first) && made != load(&last), "frame {i} is a copy of a still");
    }
    let short = run("2", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 3 with --end-image"));
    assert!(!dir.join("short/0000.png").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kinema_signs_the_frames_it_generates_and_not_the_source_frames_it_passes_through() {
    use kinema_host::credentials::{read_bytes, CREATED, TRAINED_ALGORITHMIC_MEDIA};
    let _turn = serial();
    let dir = std::env::temp_dir().join(format!("kinema-cli-c2pa-{}", std::process::id()));
    let fixtures = kinema_bundle::workspace_root().join("host-test/tests/fixtures/c2pa");
    let anchor = std::fs::read_to_string(fixtures.join("ca.pem")).unwrap();
    let run = |extra: &[&str], out: &str, key: &str| {
        let mut cmd = std::process::Command::new(kinema_exe());
        cmd.env("KINEMA_CACHE_DIR", dir.join("cache")).env_remove("KINEMA_C2PA_CERT").env_remove("KINEMA_C2PA_KEY");
        cmd.arg("--bundle").arg(bundle_path());
        cmd.args(["generate", "a red circle moving left", "--model", &ltx_model(), "--seed", "7", "--steps", "2"]);
        cmd.args(extra).arg("--out").arg(dir.join(out));
        match key {
            "flags" => {
                cmd.arg("--c2pa-cert")
                    .arg(fixtures.join("chain.pem"))
                    .arg("--c2pa-key")
                    .arg(fixtures.join("signer.key"));
            }
            "env" => {
                cmd.env("KINEMA_C2PA_CERT", fixtures.join("chain.pem"))
                    .env("KINEMA_C2PA_KEY", fixtures.join("signer.key"));
            }
            _ => {}
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let read = |name: &str| {
        let path = dir.join(name);
        let ext = path.extension().unwrap().to_str().unwrap().to_owned();
        read_bytes(&std::fs::read(&path).unwrap(), &ext, Some(&anchor))
    };
    let check = |name: &str| {
        let r = read(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(r.state, kinema_host::credentials::ValidationState::Trusted, "{name}: {:?}", r.failures);
        let action = &r.actions[0];
        assert_eq!(
            (action["action"].as_str(), action["digitalSourceType"].as_str()),
            (Some(CREATED), Some(TRAINED_ALGORITHMIC_MEDIA))
        );
        assert_eq!(action["parameters"]["com.kinema.seed"], 7, "{name}");
        assert_eq!(action["parameters"]["com.kinema.model"], "ltx", "{name}");
        assert_eq!(action["parameters"]["com.kinema.model_hash"].as_str().map(str::len), Some(16), "{name}");
        assert_eq!(action["parameters"]["com.kinema.model_id"].as_str().map(str::len), Some(8), "{name}");
    };

    // Generate: every frame is made, and signed.
    run(&["--frames", "9", "--size", "64x48"], "shot/%04d.png", "flags");
    for f in 0..9 {
        check(&format!("shot/{f:04}.png"));
    }
    // Extend (key from the environment): the source frames are passed through bit-exact and not
    // claimed; the new ones are.
    let shot = dir.join("shot/%04d.png").to_string_lossy().into_owned();
    run(&["--extend", &shot, "--frames", "8"], "ext/%04d.jpg", "env");
    for f in 0..9 {
        assert!(read(&format!("ext/{f:04}.jpg")).is_err(), "source frame {f} must not be claimed as created");
    }
    for f in 9..17 {
        check(&format!("ext/{f:04}.jpg"));
    }
    // No key: written unsigned, with one note; EXR cannot carry a manifest: a note too.
    let err = run(&["--frames", "9", "--size", "64x48"], "plain/%04d.png", "");
    assert_eq!(err.matches("no C2PA key configured").count(), 1, "{err}");
    assert!(read("plain/0000.png").is_err(), "no key, no manifest");
    let err = run(&["--frames", "9", "--size", "64x48"], "exr/%04d.exr", "flags");
    assert!(err.contains(".exr frames cannot carry C2PA"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn generated_frames_carry_the_watermark_unless_the_facility_turns_it_off() {
    let _turn = serial();
    let dir = std::env::temp_dir().join(format!("kinema-cli-watermark-{}", std::process::id()));
    let run = |out: &str, switch: Option<&str>| {
        let mut cmd = std::process::Command::new(kinema_exe());
        cmd.env("KINEMA_CACHE_DIR", dir.join("cache")).env_remove("KINEMA_WATERMARK");
        if let Some(value) = switch {
            cmd.env("KINEMA_WATERMARK", value);
        }
        let ok = cmd
            .arg("--bundle")
            .arg(bundle_path())
            .args(["generate", "a red circle moving left", "--model", &ltx_model(), "--frames", "9"])
            .args(["--size", "160x96", "--seed", "7", "--steps", "2", "--out"])
            .arg(dir.join(out).join("%04d.png"))
            .output()
            .unwrap();
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        String::from_utf8_lossy(&ok.stdout).into_owned()
    };
    let detect = |out: &str, frame: usize| {
        std::process::Command::new(kinema_exe())
            .args(["detect", "--json"])
            .arg(dir.join(out).join(format!("{frame:04}.png")))
            .output()
            .unwrap()
    };
    let status = run("marked", None);
    assert!(status.contains("watermark on"), "Status does not say the mark is on: {status}");
    for frame in [0, 4, 8] {
        let found = detect("marked", frame);
        assert_eq!(found.status.code(), Some(0), "frame {frame}: {}", String::from_utf8_lossy(&found.stdout));
        let report: serde_json::Value = serde_json::from_slice(&found.stdout).unwrap();
        let mark = &report[0]["watermark"];
        assert_eq!(mark["seed"], 7, "{report}");
    }
    let status = run("unmarked", Some("off"));
    assert!(status.contains("watermark off"), "{status}");
    let found = detect("unmarked", 4);
    assert_eq!(found.status.code(), Some(1), "{}", String::from_utf8_lossy(&found.stdout));
    // Off changes nothing else: the same shot, served from the cache, without the mark.
    let rgb = |out: &str| {
        let image = HostImage::load(&dir.join(out).join("0004.png")).unwrap();
        image.convert(Depth::F32, Components::Rgb).samples_f32()
    };
    let (marked, unmarked) = (rgb("marked"), rgb("unmarked"));
    let mse = marked.iter().zip(&unmarked).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>() / marked.len() as f64;
    let psnr = -10.0 * mse.log10();
    // 43 dB in float, a little less after 8-bit output.
    assert!(mse > 0.0 && psnr >= 42.0, "the mark must be there and invisible: PSNR {psnr:.2} dB");
    std::fs::remove_dir_all(&dir).unwrap();
}
