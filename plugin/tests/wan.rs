//! The Wan pipelines in Rust against diffusers 0.42.1's `WanPipeline` and
//! `WanImageToVideoPipeline` on the tiny random Wan graphs (models/wan, wan-i2v, wan-flf2v; fixtures
//! recorded by models/wan/make_fixtures.py and make_i2v_fixtures.py): fed diffusers' recorded noise,
//! the final latents must match within 1e-3 and the frames within 1/255. It runs the same pipeline
//! code as LTX; the manifest carries every difference (5-D latents, RoPE inside the graph, UniPC,
//! zero-padded text, a VAE run in causal chunks, channel-concat image conditioning, two experts).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use kinema::diffusion::manifest::LowNoiseExpert;
use kinema::diffusion::{Condition, Control, Mode, Request, VideoModel};
use kinema::frame_io::Frame;
use kinema::models::resolve_in;
use serde_json::Value;

#[allow(dead_code)]
mod support;
use support::{max_abs, png_in, recorded_noise_in, tensor_in, workspace};

/// The tiny Wan models: `wan` (2.1 T2V), `wan-i2v` (first frame), `wan-flf2v` (first and last),
/// `wan-ti2v` (2.2 TI2V: text or a first frame, a timestep per patch).
const MODELS: [&str; 4] = ["wan", "wan-i2v", "wan-flf2v", "wan-ti2v"];

fn fixtures_of(model: &str) -> PathBuf {
    workspace().join("models").join(model).join("fixtures")
}

fn fixtures() -> PathBuf {
    fixtures_of("wan")
}

fn open(model: &str) -> Arc<VideoModel> {
    support::model();
    VideoModel::open(&resolve_in(model, &[workspace().join("models")]).unwrap()).unwrap()
}

fn wan() -> Arc<VideoModel> {
    open("wan")
}

fn cases_of(model: &str) -> &'static Value {
    static CASES: OnceLock<Vec<Value>> = OnceLock::new();
    let all = CASES.get_or_init(|| {
        let read = |m: &&str| std::fs::read_to_string(fixtures_of(m).join("cases.json")).unwrap();
        MODELS.iter().map(|m| serde_json::from_str(&read(m)).unwrap()).collect()
    });
    &all[MODELS.iter().position(|m| *m == model).unwrap()]
}

fn cases() -> &'static Value {
    cases_of("wan")
}

fn request(case: &Value) -> Request {
    request_in(&fixtures(), case)
}

/// The case's request; its images (fixture PNGs) make it image to video, first to last.
fn request_in(dir: &std::path::Path, case: &Value) -> Request {
    let a = &case["args"];
    let num = |k: &str| a[k].as_f64().unwrap_or_else(|| panic!("arg {k}"));
    Request {
        prompt: a["prompt"].as_str().unwrap().into(),
        negative_prompt: a["negative_prompt"].as_str().unwrap_or("").into(),
        width: num("width") as usize,
        height: num("height") as usize,
        frames: num("num_frames") as usize,
        fps: 16.0,
        steps: num("num_inference_steps") as usize,
        guidance: num("guidance_scale") as f32,
        max_sequence_length: Some(num("max_sequence_length") as usize),
        decode_timestep: 0.0,
        decode_noise_scale: 0.0,
        image_cond_noise_scale: 0.0,
        mode: match (a["image"].as_str(), a["last_image"].as_str()) {
            (None, _) => Mode::TextToVideo,
            (Some(first), None) => Mode::ImageToVideo(png_in(dir, first)),
            (Some(first), Some(last)) => Mode::Conditions(vec![
                Condition { frames: vec![png_in(dir, first)], frame_index: 0, strength: 1.0 },
                Condition {
                    frames: vec![png_in(dir, last)],
                    frame_index: num("num_frames") as usize - 1,
                    strength: 1.0,
                },
            ]),
        },
        video_to_video: None,
    }
}

fn parity(name: &str) {
    parity_with(name, &wan());
}

fn parity_with(name: &str, model: &VideoModel) {
    parity_in("wan", name, model);
}

fn parity_in(folder: &str, name: &str, model: &VideoModel) {
    let fixtures = || fixtures_of(folder);
    let case = &cases_of(folder)["cases"][name];
    let mut noise = recorded_noise_in(&fixtures(), case);
    let mut steps = Vec::new();
    let mut progress = |done: usize, total: usize| steps.push((done, total));
    let mut control = Control { progress: &mut progress, abort: &|| false };
    let req = request_in(&fixtures(), case);
    let out = model.generate(&req, &mut noise, &mut control).unwrap();
    let latents = tensor_in(&fixtures(), case, "latents_final");
    let frames = tensor_in(&fixtures(), case, "frames");
    let ours: Vec<f32> = out.frames.iter().flat_map(|f| f.data.iter().copied()).collect();
    assert_eq!(out.frames.len(), req.frames, "{name}: every frame decoded");
    let (dl, df) = (max_abs(&out.latents, &latents), max_abs(&ours, &frames));
    println!("{name}: final latents max abs {dl:.2e}, frames max abs {df:.2e}");
    assert!(dl <= 1e-3, "{name}: final latents differ by {dl}");
    assert!(df <= 1.0 / 255.0, "{name}: frames differ by {df}");
    assert_eq!(steps.last(), Some(&(req.steps, req.steps)), "progress after every step");
}

#[test]
fn text_to_video_matches_diffusers() {
    parity("t2v");
}

/// Another frame count and shape: five latent frames through the chunked decoder.
#[test]
fn text_to_video_of_17_frames_matches_diffusers() {
    parity("t2v_17");
}

/// Prompts are cleaned (HTML entities, whitespace) and tokenized as `WanPipeline` does; the
/// `t2v_clean` case's prompts carry entities twice escaped, tabs and runs of spaces.
/// Wan 2.1 I2V: the first frame encoded in a blank clip, its mask and CLIP embeddings held.
#[test]
fn image_to_video_matches_diffusers() {
    parity_in("wan-i2v", "i2v", &open("wan-i2v"));
}

/// Wan 2.1 FLF2V: first and last frame, given as the two keyframes Animate's End Frame makes.
#[test]
fn first_last_frame_to_video_matches_diffusers() {
    parity_in("wan-flf2v", "flf2v", &open("wan-flf2v"));
}

/// Wan 2.2 TI2V (`expand_timesteps`): text to video with a timestep per patch token.
#[test]
fn ti2v_text_to_video_matches_diffusers() {
    parity_in("wan-ti2v", "t2v", &open("wan-ti2v"));
}

/// Wan 2.2 TI2V from a first frame: its latent frame given, at timestep 0.
#[test]
fn ti2v_image_to_video_matches_diffusers() {
    parity_in("wan-ti2v", "i2v", &open("wan-ti2v"));
}

/// Wan 2.2 A14B's two experts: the tiny model's second transformer (models/wan/transformer_2.onnx)
/// takes the steps below the boundary, with its own guidance.
#[test]
fn two_experts_match_diffusers() {
    let a = &cases()["cases"]["t2v_two_experts"]["args"];
    let model = wan();
    let mut manifest = model.manifest.clone();
    manifest.components.transformer.low_noise = Some(LowNoiseExpert {
        file: "transformer_2.onnx".into(),
        boundary_ratio: a["boundary_ratio"].as_f64().unwrap() as f32,
    });
    // The low-noise guidance at the request's guidance is the manifest's pair in proportion.
    let (g, g2) = (a["guidance_scale"].as_f64().unwrap() as f32, a["guidance_scale_2"].as_f64().unwrap() as f32);
    manifest.guidance.cfg.default = g;
    manifest.guidance.cfg.low_noise_default = Some(g2);
    parity_with("t2v_two_experts", &model.with_manifest(manifest));
}

/// Flow-match Euler on a Wan model (diffusers' own Wan tests use it, shift 7): the pipeline takes
/// the scheduler's own `set_timesteps(n)` (the manifest's `timesteps: scheduler`), not LTX's
/// linspace sigmas.
#[test]
fn flow_match_euler_matches_diffusers() {
    let case = &cases()["cases"]["t2v_euler"];
    let model = wan();
    let mut manifest = model.manifest.clone();
    let mut config = case["scheduler_config"].clone();
    config["kind"] = "flow_match_euler".into();
    manifest.scheduler = serde_json::from_value(config).unwrap();
    parity_with("t2v_euler", &model.with_manifest(manifest));
}

#[test]
fn prompts_are_cleaned_and_tokenized_as_the_wan_pipeline_does() {
    let model = wan();
    for name in ["t2v", "t2v_17", "t2v_clean"] {
        let case = &cases()["cases"][name];
        let len = case["args"]["max_sequence_length"].as_u64().unwrap() as usize;
        let t = &case["tensors"]["input_ids"];
        let bytes = std::fs::read(fixtures().join(t["file"].as_str().unwrap())).unwrap();
        let want: Vec<i64> = bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect();
        // Rows: [negative, positive].
        for (row, prompt) in ["negative_prompt", "prompt"].into_iter().enumerate() {
            let (got, _) = model.tokenize(case["args"][prompt].as_str().unwrap(), len).unwrap();
            assert_eq!(got, want[row * len..(row + 1) * len], "{name}: {prompt}");
        }
    }
}

#[test]
fn text_to_video_with_prompts_to_clean_matches_diffusers() {
    parity("t2v_clean");
}

/// A model whose manifest declares no image conditioning refuses the pipelines that need it,
/// saying why, before anything runs.
#[test]
fn animate_and_extend_are_refused_with_the_reason() {
    let model = wan();
    let mut req = request(&cases()["cases"]["t2v"]);
    let still = Frame::new(3, req.height, req.width);
    let mut progress = |_: usize, _: usize| panic!("nothing may be denoised");
    for (mode, needs) in [
        (Mode::ImageToVideo(still.clone()), "conditioning.i2v"),
        (
            Mode::Conditions(vec![Condition { frames: vec![still], frame_index: 0, strength: 1.0 }]),
            "conditioning.condition",
        ),
    ] {
        req.mode = mode;
        let mut control = Control { progress: &mut progress, abort: &|| false };
        let err = model.generate(&req, &mut kinema::diffusion::SeededNoise::new(1), &mut control).err().unwrap();
        assert!(err.to_string().contains(needs), "{err}");
    }
}

#[test]
fn an_image_model_refuses_text_alone() {
    let model = open("wan-i2v");
    let mut req = request_in(&fixtures_of("wan-i2v"), &cases_of("wan-i2v")["cases"]["i2v"]);
    req.mode = Mode::TextToVideo;
    let mut progress = |_: usize, _: usize| panic!("nothing may be denoised");
    let mut control = Control { progress: &mut progress, abort: &|| false };
    let err = model.generate(&req, &mut kinema::diffusion::SeededNoise::new(1), &mut control).err().unwrap();
    assert!(err.to_string().contains("cannot generate from text alone"), "{err}");
}

#[test]
fn the_same_seed_gives_the_same_frames() {
    let model = wan();
    let req = request(&cases()["cases"]["t2v"]);
    let run = |seed| {
        let mut progress = |_: usize, _: usize| {};
        let mut control = Control { progress: &mut progress, abort: &|| false };
        let out = model.generate(&req, &mut kinema::diffusion::SeededNoise::new(seed), &mut control).unwrap();
        out.frames.iter().flat_map(|f| f.data.iter().map(|v| v.to_bits())).collect::<Vec<u32>>()
    };
    assert_eq!(run(5), run(5), "bit-identical for the same seed");
    assert_ne!(run(5), run(6));
}
