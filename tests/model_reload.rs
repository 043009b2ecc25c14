//! Models follow their files, through the real bundle: a model re-exported in place (a graph
//! rewritten with other weights, the manifest untouched; or only the external weights file of a
//! graph changed) is used from the next render on, in a new session, with no stale clip or
//! in-between frame served, and the old session is let go. PurgeCaches releases loaded models
//! and sessions. Alone in its binary: it reads process-wide counts.

use std::ops::Range;
use std::path::{Path, PathBuf};

use kinema_e2e::*;
use kinema_host::{Bundle, ClipSource, Components, Context, Depth, HostImage, ParamValue, RenderRequest};

/// The tests read process-wide counts, so they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn temp_copy(model: &str, files: &[&str]) -> PathBuf {
    let src = kinema_bundle::workspace_root().join("models").join(model);
    let dir = std::env::temp_dir().join(format!("kinema-reload-{model}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    dir
}

/// Protobuf fields of `buf`: (field number, wire type, payload range in `buf`, varint value).
fn fields(buf: &[u8]) -> Vec<(u64, u8, Range<usize>, u64)> {
    let varint = |at: &mut usize| {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = buf[*at];
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                return v;
            }
        }
    };
    let mut at = 0;
    let mut out = Vec::new();
    while at < buf.len() {
        let tag = varint(&mut at);
        let (field, wire) = (tag >> 3, (tag & 7) as u8);
        let start = at;
        let value = match wire {
            0 => varint(&mut at),
            1 => {
                at += 8;
                0
            }
            2 => {
                let len = varint(&mut at) as usize;
                let s = at;
                at += len;
                out.push((field, wire, s..at, len as u64));
                continue;
            }
            5 => {
                at += 4;
                0
            }
            other => panic!("unexpected protobuf wire type {other}"),
        };
        out.push((field, wire, start..at, value));
    }
    out
}

/// Where the largest float initializer of an ONNX graph keeps its values: a range of the graph
/// file itself (`raw_data`) or, for external data, `(file, offset, length)`.
enum Weights {
    Inline(Range<usize>),
    External(String, usize, usize),
}

fn largest_float_initializer(onnx: &[u8]) -> Weights {
    let graph = fields(onnx).into_iter().find(|f| f.0 == 7 && f.1 == 2).expect("ModelProto.graph").2;
    let mut best: Option<(usize, Weights)> = None;
    for (_, _, range, _) in fields(&onnx[graph.clone()]).into_iter().filter(|f| f.0 == 5 && f.1 == 2) {
        let tensor = graph.start + range.start..graph.start + range.end;
        let tf = fields(&onnx[tensor.clone()]);
        if !tf.iter().any(|f| f.0 == 2 && f.3 == 1) {
            continue; // not FLOAT
        }
        let weights = if let Some(raw) = tf.iter().find(|f| f.0 == 9) {
            Weights::Inline(tensor.start + raw.2.start..tensor.start + raw.2.end)
        } else {
            // external_data entries: key (1) / value (2) strings.
            let entry = |key: &str| {
                tf.iter().filter(|f| f.0 == 13).find_map(|f| {
                    let kv = fields(&onnx[tensor.start + f.2.start..tensor.start + f.2.end]);
                    let text = |n: u64| {
                        kv.iter().find(|e| e.0 == n).map(|e| {
                            let r = tensor.start + f.2.start + e.2.start..tensor.start + f.2.start + e.2.end;
                            String::from_utf8(onnx[r].to_vec()).unwrap()
                        })
                    };
                    (text(1).as_deref() == Some(key)).then(|| text(2)).flatten()
                })
            };
            match (entry("location"), entry("offset"), entry("length")) {
                (Some(file), offset, Some(length)) => {
                    Weights::External(file, offset.map_or(0, |o| o.parse().unwrap()), length.parse().unwrap())
                }
                _ => continue,
            }
        };
        let len = match &weights {
            Weights::Inline(r) => r.len(),
            Weights::External(_, _, l) => *l,
        };
        if best.as_ref().is_none_or(|(l, _)| len > *l) {
            best = Some((len, weights));
        }
    }
    best.expect("a float initializer").1
}

/// Multiplies every f32 in `bytes` by `factor`, in place (same length: still a valid graph).
fn scale_floats(bytes: &mut [u8], factor: f32) {
    for v in bytes.chunks_exact_mut(4) {
        let x = f32::from_le_bytes([v[0], v[1], v[2], v[3]]) * factor;
        v.copy_from_slice(&x.to_le_bytes());
    }
}

/// Rewrites `path` in place with `bytes`, as a re-export would (a re-export takes seconds: its
/// time is set a second on, so the test does not depend on the file system's clock ticks).
fn rewrite(path: &Path, bytes: &[u8]) {
    let before = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, bytes).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(before + std::time::Duration::from_secs(1)).unwrap();
}

fn report(bundle: &Bundle) -> serde_json::Value {
    bundle.runtime_report(None).unwrap()
}

fn count(r: &serde_json::Value, path: &[&str]) -> u64 {
    path.iter().fold(r, |v, k| &v[k]).as_u64().unwrap_or_else(|| panic!("{path:?} in {r:#}"))
}

/// Sends PurgeCaches through the plugin's main entry (the host crate has no call for it).
fn purge_caches(bundle: &Bundle) {
    type Entry = unsafe extern "C" fn(*const std::ffi::c_char, *const std::ffi::c_void, *mut u8, *mut u8) -> i32;
    #[repr(C)]
    struct Plugin {
        api: *const std::ffi::c_char,
        api_version: i32,
        id: *const std::ffi::c_char,
        major: u32,
        minor: u32,
        set_host: Option<unsafe extern "C" fn(*mut std::ffi::c_void)>,
        main_entry: Option<Entry>,
    }
    // SAFETY: OfxGetPlugin has this signature in every OFX plugin; the struct is OfxPlugin.
    unsafe {
        let get = bundle.library().get::<unsafe extern "C" fn(i32) -> *const Plugin>(b"OfxGetPlugin\0").unwrap();
        let plugin = &*get(0);
        let status = plugin.main_entry.unwrap()(
            c"OfxActionPurgeCaches".as_ptr(),
            std::ptr::null(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        assert_eq!(status, 0, "PurgeCaches");
    }
}

#[test]
fn a_graph_rewritten_in_place_is_used_from_the_next_render_on() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_copy(
        "ltx",
        &[
            "manifest.json",
            "tokenizer.json",
            "text_encoder.onnx",
            "transformer.onnx",
            "vae_encoder.onnx",
            "vae_decoder.onnx",
        ],
    );
    let bundle = load_bundle();
    let inst = bundle.create_instance(GENERATE, Context::Generator).unwrap();
    inst.set_param("prompt", ParamValue::String("a red circle moving left".into())).unwrap();
    inst.set_param("model", ParamValue::String(dir.to_string_lossy().into_owned())).unwrap();
    inst.set_param("length", ParamValue::Int(9)).unwrap();
    inst.set_param("steps", ParamValue::Int(2)).unwrap();
    let render = || {
        let out = inst.render(&RenderRequest { frames: vec![0], size: Some((48, 32)), ..Default::default() }).unwrap();
        out.frames[&0].as_ref().unwrap_or_else(|e| panic!("{e:?}")).data.clone()
    };
    let first = render();
    let before = report(&bundle);
    assert_eq!(render(), first, "nothing changed: the same frame");
    let unchanged = report(&bundle);

    // Re-exported in place with other weights; the manifest is untouched.
    let graph = dir.join("transformer.onnx");
    let mut bytes = std::fs::read(&graph).unwrap();
    let Weights::Inline(weights) = largest_float_initializer(&bytes) else { panic!("inline weights expected") };
    scale_floats(&mut bytes[weights], 1.5);
    rewrite(&graph, &bytes);

    let second = render();
    let after = report(&bundle);
    assert!(second != first, "the new graph made the frame");
    assert_eq!(count(&unchanged, &["sessions_created"]), count(&before, &["sessions_created"]));
    assert_eq!(
        count(&after, &["clip_cache", "generations_started"]),
        count(&before, &["clip_cache", "generations_started"]) + 1,
        "one new generation: {after:#}"
    );
    assert_eq!(
        count(&after, &["sessions_created"]),
        count(&before, &["sessions_created"]) + 1,
        "a session for the new transformer only: {after:#}"
    );
    assert_eq!(
        count(&after, &["cached_sessions"]),
        count(&before, &["cached_sessions"]),
        "the old transformer session was let go: {after:#}"
    );
    assert_eq!(render(), second, "and the new model is kept");

    purge_caches(&bundle);
    let purged = report(&bundle);
    assert_eq!(count(&purged, &["open_models", "video"]), 0, "{purged:#}");
    assert_eq!(count(&purged, &["cached_sessions"]), 0, "{purged:#}");
    drop(inst);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn new_external_weights_of_an_unchanged_graph_file_are_used() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_copy(
        "rife",
        &["manifest.json", "rife_s1_fp32.onnx", "rife_s05_fp32.onnx", "rife_s1_fp16.onnx", "rife_fp32.onnx.data"],
    );
    let bundle = load_bundle();
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    let frames = ["bikes_063_0", "bikes_063_1"].map(|n| rife_fixture(n).convert(Depth::F32, Components::Rgb));
    let source: std::collections::BTreeMap<i64, HostImage> =
        frames.iter().cloned().enumerate().map(|(i, f)| (i as i64, f)).collect();
    inst.set_source("Source", ClipSource::Frames(source)).unwrap();
    inst.set_param("model", ParamValue::String(dir.to_string_lossy().into_owned())).unwrap();
    inst.set_param("speed", ParamValue::Double(0.5)).unwrap();
    let render = || {
        let out = inst.render(&RenderRequest { frames: vec![1], ..Default::default() }).unwrap();
        out.frames[&1].as_ref().unwrap_or_else(|e| panic!("{e:?}")).data.clone()
    };
    let first = render();
    let runs = count(&report(&bundle), &["interpolation", "network_runs"]);
    assert_eq!(render(), first);
    assert_eq!(count(&report(&bundle), &["interpolation", "network_runs"]), runs, "served from the cache");

    // The weights file the fp32 graphs share changes; the graph files do not.
    let onnx = std::fs::read(dir.join("rife_s1_fp32.onnx")).unwrap();
    let Weights::External(file, offset, length) = largest_float_initializer(&onnx) else {
        panic!("external weights expected")
    };
    assert_eq!(file, "rife_fp32.onnx.data");
    let mut data = std::fs::read(dir.join(&file)).unwrap();
    scale_floats(&mut data[offset..offset + length], 1.5);
    rewrite(&dir.join(&file), &data);

    let second = render();
    assert!(second != first, "the new weights made the in-between frame");
    assert_eq!(count(&report(&bundle), &["interpolation", "network_runs"]), runs + 1);

    // The folder was copied without its matte graphs: the in-betweens above still rendered, and
    // asking for the matte names the missing file instead of failing the whole model.
    let matte = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    let rgba: std::collections::BTreeMap<i64, HostImage> =
        frames.iter().enumerate().map(|(i, f)| (i as i64, f.convert(Depth::F32, Components::Rgba))).collect();
    matte.set_source("Source", ClipSource::Frames(rgba)).unwrap();
    matte.set_param("model", ParamValue::String(dir.to_string_lossy().into_owned())).unwrap();
    matte.set_param("speed", ParamValue::Double(0.5)).unwrap();
    matte.set_param_str("matte", "In Alpha").unwrap();
    let out = matte.render(&RenderRequest { frames: vec![1], ..Default::default() }).unwrap();
    let err = format!("{:?}", out.frames[&1].as_ref().expect_err("no matte graph, no matte"));
    assert!(err.contains("rife_s1_fp32_matte.onnx is missing"), "{err}");
    drop(matte);

    let held = report(&bundle);
    assert!(count(&held, &["interpolation", "cache_bytes"]) > 0, "{held:#}");
    assert!(count(&held, &["interpolation", "pair_cache_bytes"]) > 0, "the prepared input pair is kept: {held:#}");
    purge_caches(&bundle);
    let purged = report(&bundle);
    assert_eq!(count(&purged, &["open_models", "interpolation"]), 0);
    assert_eq!(count(&purged, &["interpolation", "cache_bytes"]), 0, "{purged:#}");
    assert_eq!(count(&purged, &["interpolation", "pair_cache_bytes"]), 0, "{purged:#}");
    drop(inst);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn purge_caches_frees_the_frame_memory_kept_for_the_next_frame() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bundle = load_bundle();
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    // 640x384 RGBA float: frames of 3.9 MB, large enough to be kept for reuse.
    let source: std::collections::BTreeMap<i64, HostImage> = ["bikes_063_0", "bikes_063_1"]
        .iter()
        .enumerate()
        .map(|(i, n)| (i as i64, rife_fixture(n).resize_nearest(640, 384).convert(Depth::F32, Components::Rgba)))
        .collect();
    inst.set_source("Source", ClipSource::Frames(source)).unwrap();
    inst.set_param("speed", ParamValue::Double(0.5)).unwrap();
    let out = inst.render(&RenderRequest { frames: vec![1], ..Default::default() }).unwrap();
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    let held = report(&bundle);
    assert!(count(&held, &["frame_pool_bytes"]) > 0, "dropped frames' memory is kept for reuse: {held:#}");
    purge_caches(&bundle);
    let purged = report(&bundle);
    assert_eq!(count(&purged, &["frame_pool_bytes"]), 0, "and freed on PurgeCaches: {purged:#}");
    assert_eq!(count(&purged, &["interpolation", "pair_cache_bytes"]), 0, "{purged:#}");
    drop(inst);
}
