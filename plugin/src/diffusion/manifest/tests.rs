//! The manifest's checks: windows, precisions, the frame classifier and the pipeline combinations, on
//! Kinema-tiny's manifest.

use super::*;

#[test]
fn windows_diffusers_cannot_stitch_or_out_of_range_settings_are_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kinema-tiny");
    let m = Manifest::load(&root, "kinema-tiny").unwrap();
    let w = m.windows.clone().expect("Kinema-tiny slides windows");
    assert_eq!(m.check_windows(&w), Ok(()));
    let with = |edit: fn(&mut Windows)| {
        let mut w = w.clone();
        edit(&mut w);
        m.check_windows(&w).unwrap_err()
    };
    assert!(with(|w| w.frames = 16).contains("not a length this model makes"));
    // Kinema-tiny's frames are 2k+1: an overlap of 4 frames is 2 latent frames, 1 is 0.
    assert!(with(|w| w.overlap = 4).contains("is 2 latent frames"));
    assert!(with(|w| w.overlap = 1).contains("is 0 latent frames"));
    assert!(with(|w| w.overlap = 18).contains("must be 1 or 3 to 8"));
    assert!(with(|w| w.overlap_strength = 0.0).contains("overlap_strength"));
    assert!(with(|w| w.overlap_strength = f32::NAN).contains("overlap_strength"));
    assert!(with(|w| w.adain_factor = 1.5).contains("adain_factor"));
}

fn parse(json: &str) -> Result<Precision, String> {
    let p: Precision = serde_json::from_str(json).map_err(|e| e.to_string())?;
    p.check().map(|()| p)
}

/// The fields export.py writes per --dtype, their default for older manifests, and what the
/// runtime cannot feed.
#[test]
fn precision_fields_of_every_export_dtype_and_their_refusals() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kinema-tiny");
    let m = Manifest::load(&root, "kinema-tiny").unwrap();
    assert!(m.precisions().iter().all(|(_, p)| **p == Precision::default()), "absent means fp32");
    assert_eq!(parse(r#"{"weights":"fp32","compute":"fp32","io":"float32"}"#).unwrap().name(), "fp32");
    assert_eq!(parse(r#"{"weights":"fp16","compute":"fp16","io":"float32"}"#).unwrap().name(), "fp16");
    let int8 = r#"{"weights":"int8","compute":"fp32","io":"float32","format":"MatMulNBits","block_size":32}"#;
    let int8_math = r#"{"weights":"int8","compute":"int8","io":"float32","format":"MatMulNBits","block_size":32}"#;
    assert_eq!(parse(int8_math).unwrap().name(), "int8");
    assert!(parse(r#"{"weights":"int8","compute":"int8"}"#).unwrap_err().contains("MatMulNBits"));
    assert!(parse(r#"{"weights":"fp32","compute":"int8"}"#).is_err());
    assert_eq!(parse(int8).unwrap().block_size, Some(32));
    let int4 = int8.replace("int8", "int4");
    assert_eq!(parse(&int4).unwrap().name(), "int4");
    assert!(parse(r#"{"weights":"fp16","compute":"fp16","io":"float16"}"#).unwrap_err().contains("float32"));
    assert!(parse(r#"{"weights":"int8","compute":"fp32"}"#).unwrap_err().contains("MatMulNBits"));
    assert!(parse(r#"{"weights":"int4","compute":"fp16","format":"MatMulNBits"}"#).is_err());
    assert!(parse(r#"{"weights":"bf16","compute":"fp32"}"#).unwrap_err().contains("bf16"));
    assert!(parse(r#"{"weights":"fp32","compute":"fp32","dtype":"x"}"#).unwrap_err().contains("dtype"));
    // A manifest that names an unsupported precision fails to load, naming the field.
    let dir = std::env::temp_dir().join(format!("kinema-precision-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(&root).unwrap().flatten() {
        if f.path().is_file() {
            std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
        }
    }
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).unwrap()).unwrap();
    json["components"]["transformer"]["precision"] = serde_json::json!({"weights":"int8","compute":"fp32"});
    std::fs::write(dir.join("manifest.json"), json.to_string()).unwrap();
    let err = Manifest::load(&dir, "copy").unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).ok();
    assert!(err.contains("components.transformer.precision"), "{err}");
}

#[test]
fn a_frame_classifier_must_say_its_size_and_distinct_labels() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kinema-tiny");
    let m = Manifest::load(&root, "kinema-tiny").unwrap();
    let c = m.components.frame_classifier.clone().expect("Kinema-tiny ships a frame classifier");
    assert!(m.files().contains(&c.file.as_str()), "the classifier is one of the model's files");
    let with = |edit: fn(&mut FrameClassifierSpec)| {
        let mut c = c.clone();
        edit(&mut c);
        c.check()
    };
    assert_eq!(with(|_| ()), Ok(()));
    assert!(with(|c| c.width = 0).unwrap_err().contains("input size"));
    assert!(with(|c| c.height = 5000).unwrap_err().contains("input size"));
    assert!(with(|c| c.labels.clear()).unwrap_err().contains("labels is empty"));
    assert!(with(|c| c.labels.push("red".into())).unwrap_err().contains("listed twice"));
    assert!(with(|c| c.labels[0] = " ".into()).unwrap_err().contains("empty"));
}

/// Kinema-tiny's manifest, edited, through the pipeline-combination checks.
fn pipelines(edit: impl FnOnce(&mut serde_json::Value)) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kinema-tiny");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).unwrap()).unwrap();
    edit(&mut json);
    let m: Manifest = serde_json::from_value(json).map_err(|e| e.to_string())?;
    m.check_pipelines()
}

/// Kinema-tiny turned into a Wan-style text-to-video manifest: 5-D latents, RoPE inside the
/// graph, one timestep per guidance half, UniPC, no conditioning.
fn wan_style(j: &mut serde_json::Value) {
    use serde_json::json;
    let tr = &mut j["components"]["transformer"];
    tr["layout"] = json!("video5d");
    tr["timestep_per_token"] = json!(false);
    let inputs = tr["inputs"].as_object_mut().unwrap();
    inputs.remove("video_coords");
    inputs.remove("encoder_attention_mask");
    j["rope"] = json!({"kind": "internal"});
    j["conditioning"] = json!({});
    j.as_object_mut().unwrap().remove("windows");
    j["scheduler"] = json!({"kind": "unipc", "flow_shift": 3.0});
    j["latent"]["patch"] = json!([1, 2, 2]);
    j["latent"]["hw_multiple"] = json!(16);
    j["components"]["text_encoder"]["zero_padding"] = json!(true);
}

#[test]
fn pipeline_combinations_the_runtime_implements_load_and_others_name_the_field() {
    use serde_json::json;
    assert_eq!(pipelines(|_| ()), Ok(()));
    assert_eq!(pipelines(wan_style), Ok(()));
    let wan_with = |edit: fn(&mut serde_json::Value)| {
        pipelines(|j| {
            wan_style(j);
            edit(j)
        })
        .unwrap_err()
    };
    assert!(
        wan_with(|j| j["conditioning"]["i2v"] = json!({"method": "first_frame_mask"})).contains("timestep_per_token")
    );
    assert!(wan_with(
        |j| j["conditioning"]["condition"] = json!({"num_prefix_latent_frames": 2, "image_cond_noise_scale": 0.15})
    )
    .contains("token layout"));
    assert!(wan_with(|j| j["rope"]["modes"] =
        json!({"t2v": "interpolation_scale", "i2v": "interpolation_scale", "condition": "causal_pixel"}))
    .contains("no rope.modes"));
    // Wan 2.2 TI2V: a timestep per patch, the first frame given.
    assert_eq!(
        pipelines(|j| {
            wan_style(j);
            j["components"]["transformer"]["timestep_per_token"] = json!(true);
            j["components"]["transformer"]["timestep_grid"] = json!("patch");
            j["conditioning"]["i2v"] = json!({"method": "first_frame_mask"});
        }),
        Ok(())
    );
    assert!(pipelines(|j| j["components"]["transformer"]["timestep_grid"] = json!("patch"))
        .unwrap_err()
        .contains("per latent token"));
    assert!(wan_with(|j| j["latent"]["hw_multiple"] = json!(8)).contains("whole patches"));
    assert!(wan_with(|j| j["latent"]["patch"] = json!([2, 2, 2])).contains("whole patches"));
    assert!(wan_with(|j| j["components"]["transformer"]["layout"] = json!("tokens")).contains("[1, 1, 1]"));
    // The flow-match-only pipelines with UniPC.
    assert!(pipelines(|j| j["scheduler"] = json!({"kind": "unipc"})).unwrap_err().contains("flow_match_euler"));
    assert!(pipelines(|j| j["components"]["text_encoder"]["zero_padding"] = json!(true))
        .unwrap_err()
        .contains("zero_padding"));
    let chunks =
        json!({"first_file": "a.onnx", "first_frames": 1, "frames": 4, "cache_inputs": "in_", "cache_outputs": "out_"});
    assert_eq!(pipelines(|j| j["components"]["vae_decoder"]["causal_chunks"] = chunks.clone()), Ok(()));
    assert!(pipelines(|j| {
        j["components"]["vae_decoder"]["causal_chunks"] = chunks.clone();
        j["components"]["vae_decoder"]["timestep_conditioning"] = json!(true);
    })
    .unwrap_err()
    .contains("chunked decoder"));
    let mut same = chunks.clone();
    same["cache_outputs"] = json!("in_");
    assert!(pipelines(|j| j["components"]["vae_encoder"]["causal_chunks"] = same).unwrap_err().contains("prefixes"));
    let mut zero = chunks;
    zero["frames"] = json!(0);
    assert!(pipelines(|j| j["components"]["vae_encoder"]["causal_chunks"] = zero).unwrap_err().contains("1 to"));
    assert!(pipelines(|j| {
        j["components"]["vae_decoder"]["inputs"].as_object_mut().unwrap().remove("timestep");
        j["components"]["vae_decoder"]["timestep_conditioning"] = json!(true);
    })
    .unwrap_err()
    .contains("inputs.timestep"));
    assert!(pipelines(|j| j["conditioning"].as_object_mut().unwrap().remove("condition").map(drop).unwrap_or(()))
        .unwrap_err()
        .contains("windows"));
}

#[test]
fn a_low_noise_expert_needs_a_boundary_inside_the_schedule_and_keeps_its_guidance_in_proportion() {
    use serde_json::json;
    let expert = |ratio: f64| {
        move |j: &mut serde_json::Value| {
            wan_style(j);
            j["components"]["transformer"]["low_noise"] =
                json!({"file": "transformer_2.onnx", "boundary_ratio": ratio});
        }
    };
    assert_eq!(pipelines(expert(0.875)), Ok(()));
    assert!(pipelines(expert(1.0)).unwrap_err().contains("boundary_ratio"));
    assert!(pipelines(expert(0.0)).unwrap_err().contains("boundary_ratio"));
    assert!(pipelines(
        |j| j["components"]["transformer"]["low_noise"] = json!({"file": "t.onnx", "boundary_ratio": 0.9})
    )
    .unwrap_err()
    .contains("windows"));
    let cfg = |low: Option<f32>| Cfg { default: 4.0, low_noise_default: low };
    assert_eq!(cfg(Some(3.0)).low_noise(4.0), 3.0, "the default gives the tuned pair");
    assert_eq!(cfg(Some(3.0)).low_noise(8.0), 6.0);
    assert_eq!(cfg(None).low_noise(5.5), 5.5, "no pair: the same guidance");
}

#[test]
fn frame_counts_round_up_to_a_clip_the_model_makes_or_down_to_one_that_fits() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kinema-tiny");
    let mut m = Manifest::load(&root, "kinema-tiny").unwrap();
    // Kinema-tiny: 2k+1 frames.
    assert_eq!([0, 1, 2, 3, 10].map(|n| m.frames_for(n)), [1, 1, 3, 3, 11]);
    assert_eq!([0, 1, 2, 3, 10].map(|n| m.frames_within(n)), [0, 1, 1, 3, 9]);
    // 8k+1 (LTX-Video): 0 when even one frame is more than given.
    m.latent.frame_rule = FrameRule { mult: 8, plus: 1 };
    assert_eq!([0, 1, 8, 9, 17].map(|n| m.frames_within(n)), [0, 1, 1, 9, 17]);
    m.latent.frame_rule = FrameRule { mult: 4, plus: 5 };
    assert_eq!([4, 5, 8, 9].map(|n| m.frames_within(n)), [0, 5, 5, 9]);
}
