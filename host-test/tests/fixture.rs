//! The strict host against the fixture plugin (examples/fixture_plugin.rs, built by `cargo test`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use kinema_host::*;

fn fixture_path() -> PathBuf {
    // target/<profile>/deps/fixture-<hash> -> target/<profile>/examples/libfixture_plugin.so
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let p = dir.join("examples").join("libfixture_plugin.so");
    assert!(p.exists(), "{} missing: run through `cargo test -p kinema-host`", p.display());
    p
}

const ID: &str = "com.kinema.test.fixture";

fn load() -> Bundle {
    Host::new().load_bundle(&fixture_path()).expect("fixture loads")
}

fn gradient(w: u32, h: u32, depth: Depth, comps: Components, seed: u32) -> HostImage {
    let n = (w * h) as usize * comps.count();
    let s: Vec<f32> = (0..n).map(|i| ((i as u32 * 7 + seed * 13) % 101) as f32 / 100.0).collect();
    HostImage::from_f32(w, h, comps, &s).unwrap().convert(depth, comps)
}

fn inverted(img: &HostImage) -> HostImage {
    let mut out = img.clone();
    let n = img.components.count();
    let bpc = img.depth.bytes();
    for (i, chunk) in out.data.chunks_exact_mut(bpc).enumerate() {
        if i % n == 3 {
            continue;
        }
        match img.depth {
            Depth::U8 => chunk[0] = 255 - chunk[0],
            Depth::U16 => {
                let v = 65535 - u16::from_ne_bytes([chunk[0], chunk[1]]);
                chunk.copy_from_slice(&v.to_ne_bytes());
            }
            Depth::F32 => {
                let v = 1.0 - f32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                chunk.copy_from_slice(&v.to_ne_bytes());
            }
        }
    }
    out
}

fn frames(n: i64, depth: Depth, comps: Components) -> BTreeMap<i64, HostImage> {
    (0..n).map(|f| (f, gradient(9, 7, depth, comps, f as u32))).collect()
}

fn kinds(v: &[Violation]) -> Vec<ViolationKind> {
    v.iter().map(|v| v.kind).collect()
}

#[test]
fn describes_the_fixture() {
    let b = load();
    let p = b.plugin(ID).unwrap();
    assert_eq!(p.label, "Fixture Invert");
    assert_eq!(p.group, "Kinema/Test");
    assert_eq!(p.version, (1, 2));
    assert_eq!(p.contexts, vec![Context::Filter, Context::General]);
    assert_eq!(p.render_thread_safety, ThreadSafety::FullySafe);
    assert_eq!(p.supported_depths, vec![Depth::F32, Depth::U16, Depth::U8]);
    let gain = p.param("Gain").unwrap();
    assert_eq!(gain.kind, ParamKind::Double);
    assert_eq!(gain.default, ParamValue::Double(1.0));
    assert_eq!(gain.max, Some(ParamValue::Double(10.0)));
    assert_eq!(gain.page, "Main");
    let m = p.param("Misbehave").unwrap();
    assert_eq!(m.options[1], "WriteOutside");
    assert_eq!(m.hint, "Which OFX rule to break");
    assert_eq!(p.param("Invert").unwrap().default, ParamValue::Bool(true));
    assert_eq!(p.param("Status").unwrap().string_mode, "OfxParamStringIsLabel");
    let clips = &p.clips[&Context::Filter];
    assert_eq!(clips.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), vec!["Source", "Output"]);
    assert!(b.plugin("nope").unwrap_err().to_string().contains(ID));
    assert!(b.create_instance(ID, Context::Generator).is_err());
    assert!(b.violations().is_empty(), "{:?}", b.violations());
}

#[test]
fn renders_every_depth_and_layout_exactly() {
    let b = load();
    for depth in [Depth::F32, Depth::U16, Depth::U8] {
        for comps in [Components::Rgba, Components::Rgb] {
            for layout in [
                RowLayout::default(),
                RowLayout { padding_bytes: 12, negative_row_bytes: false },
                RowLayout { padding_bytes: 0, negative_row_bytes: true },
                RowLayout { padding_bytes: 5, negative_row_bytes: true },
            ] {
                let inst = b.create_instance(ID, Context::Filter).unwrap();
                let src = frames(4, depth, comps);
                inst.set_source("Source", ClipSource::Frames(src.clone())).unwrap();
                let out = inst
                    .render(&RenderRequest { frames: vec![3, 0, 2, 1], threads: 3, layout, ..Default::default() })
                    .unwrap();
                assert!(out.violations.is_empty(), "{depth:?} {comps:?} {layout:?}: {:?}", out.violations);
                assert_eq!((out.depth, out.components), (depth, comps));
                for (f, img) in &src {
                    assert_eq!(out.image(*f).unwrap(), &inverted(img), "{depth:?} {comps:?} {layout:?} frame {f}");
                }
                // Pass-through is bit-exact.
                inst.set_param("Invert", ParamValue::Bool(false)).unwrap();
                let out = inst.render(&RenderRequest { frames: vec![1], layout, ..Default::default() }).unwrap();
                assert_eq!(out.image(1).unwrap(), &src[&1]);
                // Status is set where the spec allows it: at the next InstanceChanged.
                inst.press_button("update_status").unwrap();
                assert_eq!(inst.param("Status").unwrap(), ParamValue::String("rendered frame 1".into()));
                inst.destroy().unwrap();
            }
        }
    }
    assert!(b.violations().is_empty(), "{:?}", b.violations());
    b.unload().unwrap();
}

#[test]
fn converts_depth_on_request_and_honours_the_render_window() {
    let b = load();
    let inst = b.create_instance(ID, Context::Filter).unwrap();
    let src = frames(1, Depth::U8, Components::Rgba);
    inst.set_source("Source", ClipSource::Frames(src.clone())).unwrap();
    let out = inst
        .render(&RenderRequest { depth: Some(Depth::F32), render_window: Some((2, 1, 6, 4)), ..Default::default() })
        .unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    let img = out.image(0).unwrap();
    assert_eq!(img.depth, Depth::F32);
    let full = inverted(&src[&0].convert(Depth::F32, Components::Rgba));
    let (s, o) = (full.samples_f32(), img.samples_f32());
    for y in 0..7usize {
        for x in 0..9usize {
            let i = (y * 9 + x) * 4;
            let oy = 6 - y as i32; // OFX y of the top-down row
            let inside = (2..6).contains(&(x as i32)) && (1..4).contains(&oy);
            if inside {
                assert_eq!(&o[i..i + 4], &s[i..i + 4]);
            } else {
                assert_eq!(&o[i..i + 4], &[0.0; 4]);
            }
        }
    }
}

fn misbehave(option: &str, req: RenderRequest) -> (RenderOutput, Vec<Violation>, Bundle) {
    let b = load();
    let inst = b.create_instance(ID, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(frames(2, Depth::F32, Components::Rgba))).unwrap();
    inst.set_param_str("Misbehave", option).unwrap();
    let out = inst.render(&req).unwrap();
    let _ = inst.destroy();
    let v = b.violations();
    (out, v, b)
}

#[test]
fn detects_writes_outside_the_render_window() {
    let (_, v, _) =
        misbehave("WriteOutside", RenderRequest { render_window: Some((1, 1, 5, 5)), ..Default::default() });
    assert_eq!(kinds(&v), vec![ViolationKind::WroteOutsideRenderWindow], "{v:?}");
    assert_eq!(v[0].action, "Render");
    assert_eq!(v[0].frame, Some(0));
    assert_eq!(v[0].plugin, ID);
    // Full-window render: the write lands in the guard bytes.
    let (_, v, _) = misbehave("WriteOutside", RenderRequest::default());
    assert_eq!(kinds(&v), vec![ViolationKind::BufferOverrun], "{v:?}");
}

#[test]
fn detects_leaks_statuses_bad_handles_and_source_writes() {
    let cases = [
        ("LeakImage", ViolationKind::ImageLeak),
        ("InvalidStatus", ViolationKind::InvalidStatus),
        ("ReplyDefault", ViolationKind::StatusNotAllowed),
        ("BadHandle", ViolationKind::BadHandle),
        ("LeakMemory", ViolationKind::MemoryLeak),
        ("WriteSource", ViolationKind::WroteSourceImage),
        ("SetParamInRender", ViolationKind::ParamSetDuringRender),
    ];
    for (option, kind) in cases {
        let (_, v, _) = misbehave(option, RenderRequest::default());
        assert_eq!(kinds(&v), vec![kind], "{option}: {v:?}");
    }
    let (_, v, _) = misbehave("None", RenderRequest::default());
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn strict_mode_refuses_parameter_writes_during_render() {
    let b = Host::new().strict(true).load_bundle(&fixture_path()).unwrap();
    assert!(b.is_strict());
    let inst = b.create_instance(ID, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(frames(2, Depth::F32, Components::Rgba))).unwrap();
    inst.set_param_str("Misbehave", "SetParamInRender").unwrap();
    let out = inst.render(&RenderRequest::default()).unwrap();
    assert_eq!(kinds(&out.violations), vec![ViolationKind::ParamSetDuringRender], "{:?}", out.violations);
    assert!(out.violations[0].message.contains("refused in strict mode"), "{}", out.violations[0]);
    assert_eq!(inst.param("Gain").unwrap(), ParamValue::Double(1.0), "the write was refused");
    // By default the write is recorded but done.
    b.set_strict(false);
    let out = inst.render(&RenderRequest::default()).unwrap();
    assert_eq!(kinds(&out.violations), vec![ViolationKind::ParamSetDuringRender]);
    assert_eq!(inst.param("Gain").unwrap(), ParamValue::Double(2.0));
}

#[test]
fn plugin_edits_in_instance_changed_are_notified_back_and_a_plugin_that_never_settles_is_caught() {
    let b = load();
    let inst = b.create_instance(ID, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(frames(2, Depth::F32, Components::Rgba))).unwrap();
    inst.render(&RenderRequest { frames: vec![1], ..Default::default() }).unwrap();
    // The fixture sets Status in InstanceChanged; the host answers with InstanceChanged(PluginEdited), which
    // the fixture ignores for Status: it settles.
    inst.set_param("Invert", ParamValue::Bool(false)).unwrap();
    assert_eq!(inst.param("Status").unwrap(), ParamValue::String("rendered frame 1".into()));
    assert!(b.violations().is_empty(), "{:?}", b.violations());
    // A plugin that answers every change with another change never settles.
    inst.set_param_str("Misbehave", "EditForever").unwrap();
    assert_eq!(kinds(&b.violations()), vec![ViolationKind::InstanceChangedLoop], "{:?}", b.violations());
}

#[test]
fn reports_plugin_errors_per_frame() {
    let (out, v, b) = misbehave("FailWithError", RenderRequest { frames: vec![0, 1], ..Default::default() });
    assert!(v.is_empty(), "{v:?}");
    let f = out.frames[&1].as_ref().unwrap_err();
    assert_eq!(f.status, 1);
    assert_eq!(f.message, "frame 1 failed on purpose");
    let msgs = b.messages();
    assert_eq!(msgs.len(), 2);
    assert!(msgs[0].is_error() && msgs[0].action == "Render");
}

#[test]
fn missing_source_frames_fail_cleanly() {
    let b = load();
    let inst = b.create_instance(ID, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(frames(2, Depth::F32, Components::Rgba))).unwrap();
    let out = inst.render(&RenderRequest { frames: vec![1, 5], ..Default::default() }).unwrap();
    assert!(out.frames[&1].is_ok());
    assert_eq!(out.frames[&5].as_ref().unwrap_err().status, 1);
    assert!(out.violations.is_empty(), "{:?}", out.violations);
}

#[test]
fn abort_after_progress_and_from_another_thread() {
    let events = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let ev = events.clone();
    let progress: ProgressFn = Arc::new(move |e: &ProgressEvent| ev.lock().push(e.clone()));
    let (out, v, _) = misbehave(
        "WaitForAbort",
        RenderRequest {
            frames: vec![0, 1],
            abort_after_progress: Some(5),
            progress: Some(progress),
            ..Default::default()
        },
    );
    assert!(v.is_empty(), "{v:?}");
    assert!(out.aborted);
    assert!(out.failures().len() == 2, "{:?}", out.frames);
    let ev = events.lock();
    assert_eq!(ev.iter().filter(|e| matches!(e, ProgressEvent::PluginUpdate { .. })).count(), 5);
    assert!(ev.iter().any(|e| matches!(e, ProgressEvent::PluginStart { label, .. } if label == "waiting")));

    let b = load();
    let inst = b.create_instance(ID, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(frames(1, Depth::F32, Components::Rgba))).unwrap();
    inst.set_param_str("Misbehave", "WaitForAbort").unwrap();
    let flag = inst.abort_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        flag.store(true, Ordering::SeqCst);
    });
    let start = std::time::Instant::now();
    let out = inst.render(&RenderRequest::default()).unwrap();
    t.join().unwrap();
    assert!(out.aborted && out.frames[&0].is_err());
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert!(!inst.abort_handle().load(Ordering::SeqCst), "render clears the abort flag");
}

#[test]
fn parameter_errors_are_clear() {
    let b = load();
    let inst = b.create_instance(ID, Context::Filter).unwrap();
    inst.set_param_str("Gain", "2.5").unwrap();
    assert_eq!(inst.param("Gain").unwrap(), ParamValue::Double(2.5));
    inst.set_param_str("Misbehave", "3").unwrap();
    assert_eq!(inst.param("Misbehave").unwrap(), ParamValue::Choice(3));
    inst.set_param_str("Misbehave", "leakimage").unwrap();
    assert_eq!(inst.param("Misbehave").unwrap(), ParamValue::Choice(2));
    let e = inst.set_param_str("Gain", "11").unwrap_err().to_string();
    assert!(e.contains("outside its range"), "{e}");
    let e = inst.set_param_str("Gain", "abc").unwrap_err().to_string();
    assert!(e.contains("not a number"), "{e}");
    let e = inst.set_param_str("Nope", "1").unwrap_err().to_string();
    assert!(e.contains("no parameter 'Nope'") && e.contains("Gain"), "{e}");
    let e = inst.set_param_str("Misbehave", "Explode").unwrap_err().to_string();
    assert!(e.contains("WriteOutside"), "{e}");
    assert!(inst.set_source("Output", ClipSource::Frames(frames(1, Depth::F32, Components::Rgba))).is_err());
    assert!(inst.set_source("Source", ClipSource::Frames(BTreeMap::new())).is_err());
    let e = inst.render(&RenderRequest::default()).unwrap_err().to_string();
    assert!(e.contains("not connected"), "{e}");
}

#[test]
fn image_sequences_in_and_cli_out() {
    let dir = std::env::temp_dir().join(format!("kinema-host-seq-{}", std::process::id()));
    let src = frames(3, Depth::U8, Components::Rgba);
    for (f, img) in &src {
        img.save(&dir.join(format!("in/{f:04}.png"))).unwrap();
    }
    let b = load();
    let inst = b.create_instance(ID, Context::Filter).unwrap();
    let pattern = format!("{}/in/%04d.png", dir.display());
    inst.set_source("Source", ClipSource::Sequence { pattern: pattern.clone(), first: 0, last: 2 }).unwrap();
    let out = inst.render(&RenderRequest { frames: vec![0, 1, 2], ..Default::default() }).unwrap();
    assert_eq!(out.image(2).unwrap(), &inverted(&src[&2]));
    assert!(inst
        .set_source(
            "Source",
            ClipSource::Sequence { pattern: format!("{}/none/%04d.png", dir.display()), first: 0, last: 2 }
        )
        .is_err());

    let kinema = env!("CARGO_BIN_EXE_kinema");
    let fixture = fixture_path();
    let run =
        |args: &[&str]| std::process::Command::new(kinema).arg("--bundle").arg(&fixture).args(args).output().unwrap();
    let o = run(&["list"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(ID) && text.contains("Misbehave"), "{text}");
    let o = run(&["describe", ID]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("options: 0=None, 1=WriteOutside"));
    let out_pattern = format!("{}/out/%04d.png", dir.display());
    let o = run(&["render", ID, "--input", &pattern, "--set", "Gain=1", "--out", &out_pattern, "--threads", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Status: rendered frame"));
    let written = HostImage::load(&dir.join("out/0001.png")).unwrap();
    assert_eq!(written, inverted(&src[&1]));
    let o = run(&["render", ID, "--input", &pattern, "--set", "Misbehave=LeakImage", "--out", &out_pattern]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("ImageLeak"));
    let o = run(&["render", ID, "--input", &pattern, "--set", "Bogus=1", "--out", &out_pattern]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown parameter 'Bogus'"));
    let o = run(&["render", ID, "--input", &format!("{}/in/%04d.jpg", dir.display()), "--out", &out_pattern]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no files match"));
    let o = run(&["doctor"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("KinemaRuntimeReport"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_cli_writes_each_frame_as_soon_as_it_is_rendered() {
    let dir = std::env::temp_dir().join(format!("kinema-host-kill-{}", std::process::id()));
    let src = frames(4, Depth::U8, Components::Rgba);
    for (f, img) in &src {
        img.save(&dir.join(format!("in/{f:04}.png"))).unwrap();
    }
    // Frames 0 and 1 render at once; frame 2 stalls like a long render, and the run is killed there.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kinema"))
        .arg("--bundle")
        .arg(fixture_path())
        .args(["render", ID, "--set", "Misbehave=StallFromFrame2", "--input"])
        .arg(dir.join("in/%04d.png"))
        .arg("--out")
        .arg(dir.join("out/%04d.png"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !dir.join("out/0001.png").exists() && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for f in [0, 1] {
        let written = HostImage::load(&dir.join(format!("out/{f:04}.png")))
            .unwrap_or_else(|e| panic!("frame {f} was rendered before the kill but not written: {e:#}"));
        assert_eq!(written, inverted(&src[&f]));
    }
    assert!(!dir.join("out/0002.png").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unload_refuses_live_instances() {
    let b = load();
    let inst = b.create_instance(ID, Context::Filter).unwrap();
    let e = b.unload().unwrap_err().to_string();
    assert!(e.contains("1 instance(s) are still alive"), "{e}");
    drop(inst); // the last reference sends Unload
    let b2 = load();
    assert!(b2.library().get_symbol_ok("OfxGetPlugin"));
    b2.unload().unwrap();
}

trait SymbolOk {
    fn get_symbol_ok(&self, name: &str) -> bool;
}
impl SymbolOk for libloading::Library {
    fn get_symbol_ok(&self, name: &str) -> bool {
        let n = format!("{name}\0");
        // SAFETY: the symbol is only looked up, never called, so the type it is read as does not matter.
        unsafe { self.get::<unsafe extern "C" fn()>(n.as_bytes()).is_ok() }
    }
}
