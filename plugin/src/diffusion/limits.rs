//! Sane ranges for what a video model's manifest and a generation request may ask for. Sizes
//! from a manifest become allocations (a `max_length` of 10⁹ tokens is 8 GB of ids) and numbers
//! become every pixel (a latent `std` of 0 makes every frame the same whatever the prompt), so
//! each is checked when the model opens, and the error names the field.

use super::manifest::{Manifest, PerPipeline};
use super::scheduler::SchedulerConfig;

/// Longest prompt in tokens: LTX-Video's T5 uses 128 (256 for conditioning), LTX-2's Gemma
/// 1024; 4096 leaves room while the id, mask and embedding buffers stay a few MB.
pub const MAX_TOKENS: usize = 4096;

/// Latent channels: LTX-Video has 128, Wan 2.2 48, most latent video models 4–32.
pub const MAX_CHANNELS: usize = 256;

/// Compression ratios, frame-rule terms and prefix frames: real models use 1–32.
pub const MAX_RATIO: usize = 64;

/// Pixel-size multiples (LTX: 32).
pub const MAX_MULTIPLE: usize = 1024;

/// A side of the default (trained) size: LTX-Video trains up to 1216×704; 8192 is room for 8K.
pub const MAX_DEFAULT_SIDE: usize = 8192;

/// Denoising steps (the effects offer up to 200).
pub const MAX_STEPS: usize = 1000;

/// Frames of one shot a manifest may declare (LTX-Video: 257).
pub const MAX_FRAMES: usize = 100_000;

/// Values in one latent buffer (tokens × channels), 1 GiB of f32: a generation holds about eight
/// such buffers. LTX-Video's largest documented shot (1216×704, 257 frames) is 111 M.
pub const MAX_LATENT_VALUES: usize = 1 << 28;

/// Frame size of one generation (pixels a side); generation sizes follow the model's own size,
/// so this only stops nonsense.
pub const MAX_GENERATION_SIDE: usize = 16384;

/// Checks every number of `m` the pipeline relies on; the error names the field and its value.
pub fn check_manifest(m: &Manifest) -> Result<(), String> {
    let c = &m.components;
    per_pipeline("components.tokenizer.max_length", &c.tokenizer.max_length, |&n| {
        (1..=MAX_TOKENS).contains(&n).then_some(()).ok_or(format!("{n} tokens; it must be 1 to {MAX_TOKENS}"))
    })?;
    positive_finite("components.transformer.timestep_scale", c.transformer.timestep_scale)?;
    let [lo, hi] = c.vae_encoder.logvar_clamp;
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(format!("components.vae_encoder.logvar_clamp [{lo}, {hi}] must be two finite numbers, low first"));
    }
    let l = &m.latent;
    within("latent.channels", l.channels, 1, MAX_CHANNELS)?;
    within("latent.spatial_ratio", l.spatial_ratio, 1, MAX_RATIO)?;
    within("latent.temporal_ratio", l.temporal_ratio, 1, MAX_RATIO)?;
    within("latent.frame_rule.mult", l.frame_rule.mult, 1, MAX_RATIO)?;
    // At least one frame: a shot of `plus` = 0 frames has no latent frame to make.
    within("latent.frame_rule.plus", l.frame_rule.plus, 1, MAX_RATIO)?;
    within("latent.hw_multiple", l.hw_multiple, 1, MAX_MULTIPLE)?;
    for (i, &v) in l.norm.mean.iter().enumerate() {
        if !v.is_finite() {
            return Err(format!("latent.norm.mean[{i}] is {v}; means must be finite"));
        }
    }
    for (i, &v) in l.norm.std.iter().enumerate() {
        // Latents are divided by it; 0 also erases every channel's content on decoding, so
        // every frame would come out the same whatever the prompt.
        if !(v.is_finite() && v > 0.0) {
            return Err(format!("latent.norm.std[{i}] is {v}; standard deviations must be finite and above 0"));
        }
    }
    positive_finite("latent.norm.scaling_factor", l.norm.scaling_factor)?;
    match &m.scheduler {
        SchedulerConfig::FlowMatchEuler(s) => {
            s.validate().map_err(|e| format!("scheduler: {e}"))?;
            within("scheduler.num_train_timesteps", s.num_train_timesteps, 1, 100_000)?;
            for (name, v) in [("scheduler.base_shift", s.base_shift), ("scheduler.max_shift", s.max_shift)] {
                if let Some(v) = v.filter(|v| !v.is_finite()) {
                    return Err(format!("{name} is {v}; it must be finite"));
                }
            }
        }
        SchedulerConfig::Unipc(s) => {
            within("scheduler.num_train_timesteps", s.num_train_timesteps, 1, 100_000)?;
            // Building a schedule checks every option the way a generation will.
            s.build(1, None).map_err(|e| format!("scheduler: {e}"))?;
        }
        SchedulerConfig::Ddim(_) => return Err("scheduler: ddim is not a video pipeline's scheduler".into()),
    }
    finite("guidance.cfg.default", m.guidance.cfg.default)?;
    if let Some(cond) = &m.conditioning.condition {
        within("conditioning.condition.num_prefix_latent_frames", cond.num_prefix_latent_frames, 0, MAX_RATIO)?;
        unit("conditioning.condition.image_cond_noise_scale", cond.image_cond_noise_scale)?;
    }
    unit("decode.timestep", m.decode.timestep)?;
    unit("decode.noise_scale", m.decode.noise_scale)?;
    let d = &m.defaults;
    if !(d.fps.is_finite() && d.fps > 0.0 && d.fps <= 1000.0) {
        return Err(format!("defaults.fps is {}; it must be above 0 and at most 1000", d.fps));
    }
    within("defaults.steps", d.steps, 1, MAX_STEPS)?;
    within("defaults.width", d.width, 1, MAX_DEFAULT_SIDE)?;
    within("defaults.height", d.height, 1, MAX_DEFAULT_SIDE)?;
    within("defaults.frames", d.frames, 1, MAX_FRAMES)?;
    if let Some(max) = d.max_frames {
        within("defaults.max_frames", max, 1, MAX_FRAMES)?;
    }
    finite("defaults.guidance", d.guidance)?;
    Ok(())
}

fn per_pipeline<T>(name: &str, v: &PerPipeline<T>, check: impl Fn(&T) -> Result<(), String>) -> Result<(), String> {
    for (p, value) in [("t2v", &v.t2v), ("i2v", &v.i2v), ("condition", &v.condition)] {
        check(value).map_err(|why| format!("{name}.{p} is {why}"))?;
    }
    Ok(())
}

fn within(name: &str, v: usize, min: usize, max: usize) -> Result<(), String> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name} is {v}; it must be {min} to {max}"))
    }
}

fn finite(name: &str, v: f32) -> Result<(), String> {
    v.is_finite().then_some(()).ok_or_else(|| format!("{name} is {v}; it must be finite"))
}

fn positive_finite(name: &str, v: f32) -> Result<(), String> {
    (v.is_finite() && v > 0.0).then_some(()).ok_or_else(|| format!("{name} is {v}; it must be finite and above 0"))
}

fn unit(name: &str, v: f32) -> Result<(), String> {
    (0.0..=1.0).contains(&v).then_some(()).ok_or_else(|| format!("{name} is {v}; it must be 0 to 1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::MANIFEST;
    use serde_json::{json, Value};

    fn ltx_json() -> Value {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ltx");
        serde_json::from_str(&std::fs::read_to_string(root.join(MANIFEST)).unwrap()).unwrap()
    }

    /// The LTX manifest with `path` (dotted, `[i]` for an index) set to `value`, checked.
    fn check_with(path: &str, value: Value) -> Result<(), String> {
        let mut v = ltx_json();
        let mut at = &mut v;
        for part in path.split('.') {
            at = match part.split_once('[') {
                Some((key, index)) => &mut at[key][index.trim_end_matches(']').parse::<usize>().unwrap()],
                None => &mut at[part],
            };
        }
        *at = value;
        let m: Manifest = serde_json::from_value(v).map_err(|e| format!("parse: {e}"))?;
        check_manifest(&m)
    }

    #[test]
    fn the_shipped_manifests_pass() {
        check_with("name", json!("ltx")).unwrap();
        let tiny = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kinema-tiny").join(MANIFEST);
        let m: Manifest = serde_json::from_str(&std::fs::read_to_string(tiny).unwrap()).unwrap();
        check_manifest(&m).unwrap();
    }

    #[test]
    fn each_bad_value_is_an_error_naming_its_field() {
        let cases: &[(&str, Value, &str)] = &[
            (
                "components.tokenizer.max_length.t2v",
                json!(1_000_000_000u64),
                "components.tokenizer.max_length.t2v is 1000000000 tokens",
            ),
            ("components.tokenizer.max_length.condition", json!(0), "max_length.condition is 0 tokens"),
            ("components.transformer.timestep_scale", json!(0.0), "components.transformer.timestep_scale is 0"),
            ("components.vae_encoder.logvar_clamp", json!([20.0, -30.0]), "logvar_clamp [20, -30]"),
            ("latent.channels", json!(100_000), "latent.channels is 100000"),
            ("latent.spatial_ratio", json!(0), "latent.spatial_ratio is 0"),
            ("latent.temporal_ratio", json!(4096), "latent.temporal_ratio is 4096"),
            ("latent.frame_rule.mult", json!(0), "latent.frame_rule.mult is 0"),
            ("latent.frame_rule.plus", json!(0), "latent.frame_rule.plus is 0"),
            ("latent.hw_multiple", json!(65536), "latent.hw_multiple is 65536"),
            ("latent.norm.std[3]", json!(0.0), "latent.norm.std[3] is 0"),
            ("latent.norm.std[0]", json!(-1.0), "latent.norm.std[0] is -1"),
            ("latent.norm.scaling_factor", json!(0.0), "latent.norm.scaling_factor is 0"),
            ("scheduler.shift", json!(-1.0), "scheduler: invalid scheduler config: shift"),
            ("scheduler.num_train_timesteps", json!(10_000_000), "scheduler.num_train_timesteps is 10000000"),
            ("conditioning.condition.num_prefix_latent_frames", json!(1000), "num_prefix_latent_frames is 1000"),
            ("conditioning.condition.image_cond_noise_scale", json!(5.0), "image_cond_noise_scale is 5"),
            ("decode.noise_scale", json!(-0.5), "decode.noise_scale is -0.5"),
            ("defaults.fps", json!(0.0), "defaults.fps is 0"),
            ("defaults.steps", json!(1_000_000), "defaults.steps is 1000000"),
            ("defaults.width", json!(1_000_000_000u64), "defaults.width is 1000000000"),
            ("defaults.height", json!(0), "defaults.height is 0"),
            ("defaults.frames", json!(0), "defaults.frames is 0"),
            ("defaults.max_frames", json!(0), "defaults.max_frames is 0"),
        ];
        for (path, value, wanted) in cases {
            let err = check_with(path, value.clone()).expect_err(path);
            assert!(err.contains(wanted), "{path}: {err}");
        }
        // JSON has no NaN or infinity; a number too large for f32 parses as infinity.
        let err = check_with("latent.norm.mean[1]", json!(1e300)).unwrap_err();
        assert!(err.contains("latent.norm.mean[1] is inf"), "{err}");
        let err = check_with("latent.norm.std[2]", json!(1e300)).unwrap_err();
        assert!(err.contains("latent.norm.std[2] is inf"), "{err}");
        let err = check_with("guidance.cfg.default", json!(-1e300)).unwrap_err();
        assert!(err.contains("guidance.cfg.default is -inf"), "{err}");
    }
}
