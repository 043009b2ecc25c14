//! The LTX-Video pipelines in Rust against diffusers' own runs of the same tiny graphs
//! (models/ltx/fixtures, recorded by models/ltx/make_fixtures.py): fed diffusers' recorded
//! noise, the final latents must match within 1e-3 and the frames within 1/255.

use std::sync::OnceLock;

use kinema::diffusion::{Condition, Control, Mode, Request, VideoModel};
use kinema::frame_io::Frame;
use kinema::models::resolve_in;
use serde_json::Value;

mod support;
use support::{fixtures, max_abs, model, png, recorded_noise, tensor, workspace};

fn cases() -> &'static Value {
    static CASES: OnceLock<Value> = OnceLock::new();
    CASES
        .get_or_init(|| serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap()).unwrap())
}

fn request(case: &Value) -> Request {
    let a = &case["args"];
    let num = |k: &str| a[k].as_f64().unwrap_or_else(|| panic!("arg {k}"));
    let mode = if let Some(file) = a["_image_file"].as_str() {
        Mode::ImageToVideo(png(file))
    } else if let Some(conds) = a["_conditions"].as_array() {
        Mode::Conditions(
            conds
                .iter()
                .map(|c| Condition {
                    frames: match c["image"].as_str() {
                        Some(file) => vec![png(file)],
                        None => c["video"].as_array().unwrap().iter().map(|f| png(f.as_str().unwrap())).collect(),
                    },
                    frame_index: c["frame_index"].as_u64().unwrap() as usize,
                    strength: c["strength"].as_f64().unwrap() as f32,
                })
                .collect(),
        )
    } else {
        Mode::TextToVideo
    };
    Request {
        prompt: a["prompt"].as_str().unwrap().into(),
        negative_prompt: a["negative_prompt"].as_str().unwrap_or("").into(),
        width: num("width") as usize,
        height: num("height") as usize,
        frames: num("num_frames") as usize,
        fps: num("frame_rate"),
        steps: num("num_inference_steps") as usize,
        guidance: num("guidance_scale") as f32,
        max_sequence_length: Some(num("max_sequence_length") as usize),
        decode_timestep: num("decode_timestep") as f32,
        decode_noise_scale: num("decode_noise_scale") as f32,
        image_cond_noise_scale: a["image_cond_noise_scale"].as_f64().unwrap_or(0.15) as f32,
        mode,
        video_to_video: None,
    }
}

/// Runs one recorded case and compares with diffusers.
fn parity(name: &str) {
    let case = &cases()["cases"][name];
    let model = model();
    let mut noise = recorded_noise(case);
    let mut steps = Vec::new();
    let mut progress = |done: usize, total: usize| steps.push((done, total));
    let mut control = Control { progress: &mut progress, abort: &|| false };
    let req = request(case);
    // A model whose scheduler differs from the manifest's default (the 0.9.1 dynamic-shift case)
    // carries its own scheduler config in the case.
    let out = if case["scheduler_config"]["use_dynamic_shifting"] == true {
        let mut manifest = model.manifest.clone();
        let mut config = case["scheduler_config"].clone();
        config["kind"] = "flow_match_euler".into();
        manifest.scheduler = serde_json::from_value(config).unwrap();
        model.with_manifest(manifest).generate(&req, &mut noise, &mut control).unwrap()
    } else {
        model.generate(&req, &mut noise, &mut control).unwrap()
    };
    let latents = tensor(case, "latents_final");
    let frames = tensor(case, "frames");
    let ours: Vec<f32> = out.frames.iter().flat_map(|f| f.data.iter().copied()).collect();
    let (dl, df) = (max_abs(&out.latents, &latents), max_abs(&ours, &frames));
    println!("{name}: final latents max abs {dl:.2e}, frames max abs {df:.2e}");
    assert!(dl <= 1e-3, "{name}: final latents differ by {dl}");
    assert!(df <= 1.0 / 255.0, "{name}: frames differ by {df}");
    let n = req.steps;
    assert_eq!(steps.last(), Some(&(n, n)), "progress after every step");
}

#[test]
fn text_to_video_matches_diffusers() {
    parity("t2v");
}

#[test]
fn text_to_video_with_dynamic_shift_matches_diffusers() {
    parity("t2v_dynamic_shift");
}

#[test]
fn image_to_video_matches_diffusers() {
    parity("i2v");
}

#[test]
fn forward_extension_matches_diffusers() {
    parity("condition_extend");
}

#[test]
fn keyframes_match_diffusers() {
    parity("condition_keyframes");
}

#[test]
fn the_same_seed_gives_the_same_frames_and_another_seed_others() {
    let model = model();
    let case = &cases()["cases"]["t2v"];
    let req = request(case);
    let run = |seed| {
        let mut progress = |_: usize, _: usize| {};
        let mut control = Control { progress: &mut progress, abort: &|| false };
        let out = model.generate(&req, &mut kinema::diffusion::SeededNoise::new(seed), &mut control).unwrap();
        out.frames.iter().flat_map(|f| f.data.iter().map(|v| v.to_bits())).collect::<Vec<u32>>()
    };
    assert_eq!(run(5), run(5), "bit-identical for the same seed");
    assert_ne!(run(5), run(6));
}

#[test]
fn abort_stops_before_the_next_step() {
    let model = model();
    let req = request(&cases()["cases"]["t2v"]);
    let mut steps = 0;
    let mut progress = |done: usize, _: usize| steps = done;
    let stop_after_first = std::cell::Cell::new(0);
    let abort = || {
        stop_after_first.set(stop_after_first.get() + 1);
        stop_after_first.get() > 1
    };
    let mut control = Control { progress: &mut progress, abort: &abort };
    let err = model.generate(&req, &mut kinema::diffusion::SeededNoise::new(1), &mut control).err().expect("aborted");
    assert!(matches!(err, kinema::engine::EngineError::Aborted), "{err}");
    assert_eq!(steps, 1, "exactly one step ran");
}

#[test]
fn video_to_video_strength_sets_how_far_the_source_may_move() {
    let model = model();
    let case = &cases()["cases"]["condition_extend"];
    let mut req = request(case);
    req.mode = Mode::Conditions(Vec::new());
    req.steps = 10;
    // The source: the fixture's moving square, repeated to the shot length (9 frames).
    let source: Vec<Frame> = (0..9).map(|i| png(&format!("cond_video_{}.png", i.min(4)))).collect();
    let run = |strength: f32| {
        let mut req = req.clone();
        req.video_to_video =
            Some(kinema::diffusion::VideoToVideo { frames: source.clone(), denoise_strength: strength });
        let mut steps = 0;
        let mut progress = |done: usize, _: usize| steps = done;
        let mut control = Control { progress: &mut progress, abort: &|| false };
        let out = model.generate(&req, &mut kinema::diffusion::SeededNoise::new(3), &mut control).unwrap();
        (out.frames, steps)
    };
    // The random test VAE does not reconstruct pictures, so distances are measured from what
    // strength 0 gives: the source's own latents decoded, with no denoising at all.
    let (kept, kept_steps) = run(0.0);
    let (gentle, gentle_steps) = run(0.2);
    let (full, full_steps) = run(1.0);
    assert_eq!((kept_steps, gentle_steps, full_steps), (0, 2, 10), "strength s runs the last ⌊10·s⌋ steps");
    let distance = |frames: &[Frame]| frames.iter().zip(&kept).map(|(a, b)| max_mean(a, b)).sum::<f32>() / 9.0;
    let (gentle, full) = (distance(&gentle), distance(&full));
    assert!(gentle < full, "a gentle edit stays closer to the source: {gentle} vs {full}");
    let mut bad = req.clone();
    bad.video_to_video = Some(kinema::diffusion::VideoToVideo { frames: source[..3].to_vec(), denoise_strength: 0.5 });
    let mut progress = |_: usize, _: usize| {};
    let err = model
        .generate(
            &bad,
            &mut kinema::diffusion::SeededNoise::new(3),
            &mut Control { progress: &mut progress, abort: &|| false },
        )
        .err()
        .unwrap();
    assert!(err.to_string().contains("whole shot"), "{err}");
}

fn max_mean(a: &Frame, b: &Frame) -> f32 {
    a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.data.len() as f32
}

#[test]
fn a_tokenizer_saved_with_its_last_padding_still_pads_as_the_manifest_says() {
    // Hugging Face tokenizers save the padding and truncation of their last call into
    // tokenizer.json; the manifest's rules must win, or pads would count as prompt tokens.
    let _lib = model();
    let src = workspace().join("models/ltx");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("ltx");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut tok: Value = serde_json::from_str(&std::fs::read_to_string(copy.join("tokenizer.json")).unwrap()).unwrap();
    tok["padding"] = serde_json::json!({"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": null,
        "pad_id": 0, "pad_type_id": 0, "pad_token": "<pad>"});
    tok["truncation"] =
        serde_json::json!({"direction": "Right", "max_length": 4, "strategy": "LongestFirst", "stride": 0});
    std::fs::write(copy.join("tokenizer.json"), tok.to_string()).unwrap();
    let stateful = VideoModel::open(&resolve_in("ltx", &[dir.path().to_path_buf()]).unwrap()).unwrap();
    let prompt = "a red circle moving left on a dark blue background";
    let (ids, mask) = stateful.tokenize(prompt, 256).unwrap();
    assert_eq!((ids.clone(), mask.clone()), model().tokenize(prompt, 256).unwrap());
    let n = mask.iter().filter(|&&m| m == 1).count();
    assert!(n > 4 && n < 128, "the prompt is {n} tokens, neither cut to 4 nor padded to 128");
}

/// diffusers' `enable_tiling()` decode (spatial tiles and, with `use_framewise_decoding`, runs of
/// frames) on the tiny model, recorded by models/ltx/make_tiling_fixture.py: a 3×5×6 latent in
/// 2×2 tiles and three runs, the short edge tiles included.
#[test]
fn tiled_decode_matches_diffusers() {
    let dir = fixtures().join("vae_tiling");
    let case: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let read = |name: &str| -> (Vec<f32>, Vec<usize>) {
        let t = &case[name];
        let bytes = std::fs::read(dir.join(t["file"].as_str().unwrap())).unwrap();
        let shape = t["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        (bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(), shape)
    };
    let (z, zs) = read("latent");
    let (want, ws) = read("sample");
    let tiling: kinema::diffusion::VaeTiling = serde_json::from_value(case["tiling"].clone()).unwrap();
    let model = model();
    let timestep = case["timestep"].as_f64().unwrap() as f32;
    let grid = (zs[2], zs[3], zs[4]);
    let ((f, h, w), got) = model.decode_latents(z.clone(), grid, timestep, Some(&tiling)).unwrap();
    assert_eq!([1, 3, f, h, w], [ws[0], ws[1], ws[2], ws[3], ws[4]]);
    let d = max_abs(&got, &want);
    println!("tiled decode: max abs {d:.2e} against diffusers");
    assert!(d <= 1e-4, "tiled decode differs from diffusers by {d}");
    // The whole decode differs: the test sees the tiling.
    let (_, whole) = model.decode_latents(z, grid, timestep, None).unwrap();
    assert!(max_abs(&whole, &want) > 0.1);
}

/// A graph's session can be let go alone (a large text encoder after encoding) and is created
/// again on the next use; a generation records where its time went.
#[test]
fn a_released_session_is_created_again_and_generations_are_profiled() {
    let model = model();
    model.check(false).unwrap();
    let te = workspace().join("models/ltx").join(&model.manifest.components.text_encoder.file);
    assert!(kinema::runtime::release_session(&te), "the text encoder was cached");
    let created = kinema::runtime::sessions_created();
    let case = &cases()["cases"]["t2v"];
    let mut noise = recorded_noise(case);
    let mut progress = |_: usize, _: usize| {};
    let mut control = Control { progress: &mut progress, abort: &|| false };
    let out = model.generate(&request(case), &mut noise, &mut control).unwrap();
    assert!(kinema::runtime::sessions_created() > created, "the text encoder's session was made again");
    let (grid, timing) = kinema::diffusion::last_generation().unwrap();
    assert!(grid.0 > 0 && timing.steps > 0);
    assert!(timing.decode_seconds > 0.0 && timing.text_seconds > 0.0 && timing.total_seconds >= timing.step_seconds);
    assert!(!out.frames.is_empty());
}

/// The shipped graphs carry ONNX Runtime's fused kernels (models/ltx/fuse.py): a re-export that
/// skipped the pass would put the S x S attention matrices back (2.7 GB per layer at 9,216 tokens)
/// while every parity test above still passed. Op types are plain strings in the ONNX protobuf.
#[test]
fn shipped_transformers_use_the_fused_attention_and_norm() {
    for model in ["ltx", "kinema-tiny"] {
        for (graph, ops) in [
            ("transformer.onnx", &["MultiHeadAttention", "SimplifiedLayerNormalization"][..]),
            ("text_encoder.onnx", &["SimplifiedLayerNormalization"][..]),
        ] {
            let path = workspace().join("models").join(model).join(graph);
            let bytes = std::fs::read(&path).unwrap();
            for op in ops {
                assert!(bytes.windows(op.len()).any(|w| w == op.as_bytes()), "{} has no {op}", path.display());
            }
        }
    }
}

/// An fp16 graph whose session fell back to the CPU is refused with the reason: its fused fp16
/// attention has no CPU kernel, and unfused it would crawl through casts (issue 21's GPU run).
#[test]
fn an_fp16_graph_is_not_served_on_the_cpu() {
    support::model(); // the wheel's ONNX Runtime
    let dir = tempfile::tempdir().unwrap();
    let src = support::workspace().join("models/ltx");
    for f in ["tokenizer.json", "text_encoder.onnx", "transformer.onnx", "vae_encoder.onnx", "vae_decoder.onnx"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(src.join("manifest.json")).unwrap()).unwrap();
    json["components"]["transformer"]["precision"] = serde_json::json!({"weights": "fp16", "compute": "fp16"});
    std::fs::write(dir.path().join("manifest.json"), json.to_string()).unwrap();
    let copy =
        kinema::models::ModelDir { name: "m".into(), root: dir.path().to_path_buf(), kind: "video_diffusion".into() };
    let model = VideoModel::open(&copy).unwrap();
    if let Err(e) = model.component_session("text_encoder.onnx") {
        panic!("fp32 graphs open on any provider: {e}");
    }
    match model.component_session("transformer.onnx") {
        Ok(session) => {
            assert_ne!(session.provider(), kinema::runtime::Provider::Cpu, "an fp16 graph was served on the CPU")
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains("transformer.onnx is fp16, which runs on an NVIDIA GPU"), "{text}");
            assert!(text.contains("fp32 or int8 export"), "{text}");
        }
    }
}
