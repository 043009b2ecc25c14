//! Golden tests against diffusers: `plugin/tests/fixtures/schedulers/reference.json`, written by
//! `make_reference.py` beside it (diffusers 0.42, torch CPU). Tolerance: 1e-6 relative to
//! max(1, |reference|), i.e. 1e-6 absolute for sigmas and samples, and about one float32 ulp for
//! timesteps near 1000.

use serde_json::Value;

use crate::diffusion::{Noise, RecordedNoise};

use super::*;

const REFERENCE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schedulers/reference.json"));

fn reference() -> Value {
    serde_json::from_str(REFERENCE).expect("reference.json parses")
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

/// float64 values are stored as repr strings: serde_json's default float parser can be 1 ulp off.
fn f64_str(v: &Value) -> f64 {
    v.as_str().expect("f64 as string").parse().expect("f64 parses")
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(f64_str).collect()
}

fn assert_close<T: Copy + Into<f64>>(what: &str, got: &[T], want: &[T]) {
    assert_within(what, got, want, 1e-6);
}

fn assert_within<T: Copy + Into<f64>>(what: &str, got: &[T], want: &[T], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w): (f64, f64) = (g.into(), w.into());
        assert!((g - w).abs() <= tol * w.abs().max(1.0), "{what}[{k}]: got {g}, diffusers {w} (diff {:e})", g - w);
    }
}

fn flow_config(case: &Value) -> FlowMatchEulerConfig {
    match case.get("config") {
        Some(c) => serde_json::from_value(c.clone()).expect("flow config deserializes"),
        None => FlowMatchEulerConfig::default(),
    }
}

fn flow_schedule(v: &Value) -> Schedule {
    if let Some(n) = v.get("steps") {
        Schedule::Steps(n.as_u64().unwrap() as usize)
    } else if let Some(s) = v.get("sigmas") {
        Schedule::Sigmas(f32s(s))
    } else {
        Schedule::Timesteps(f32s(&v["timesteps"]))
    }
}

#[test]
fn calculate_shift_matches_diffusers_exactly() {
    for c in reference()["calculate_shift"].as_array().unwrap() {
        let u = |k: &str| c[k].as_u64().unwrap() as usize;
        let f = |k: &str| c[k].as_f64().unwrap();
        let mu =
            calculate_shift(u("image_seq_len"), u("base_seq_len"), u("max_seq_len"), f("base_shift"), f("max_shift"));
        assert_eq!(mu, f64_str(&c["mu"]), "{c}");
    }
}

#[test]
fn linear_quadratic_schedule_matches_diffusers() {
    for c in reference()["linear_quadratic"].as_array().unwrap() {
        let n = c["steps"].as_u64().unwrap() as usize;
        let thr = c["threshold_noise"].as_f64().unwrap();
        let ls = c["linear_steps"].as_u64().map(|x| x as usize);
        let sigmas = linear_quadratic_schedule(n, thr, ls).unwrap();
        // The Python arithmetic is reproduced in the same order, so float64 results are identical.
        assert_eq!(sigmas, f64s(&c["sigmas_f64"]), "sigmas n={n}");
        assert_eq!(linear_quadratic_timesteps(n, thr, ls).unwrap(), f32s(&c["timesteps"]), "timesteps n={n}");
    }
}

#[test]
fn flow_match_schedules_and_steps_match_diffusers() {
    let r = reference();
    let cases = r["flow_match"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let s = flow_config(c)
            .build(flow_schedule(&c["schedule"]), c.get("mu").filter(|m| !m.is_null()).map(f64_str))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_close(&format!("{name} timesteps"), s.timesteps(), &f32s(&c["timesteps"]));
        assert_close(&format!("{name} sigmas"), s.sigmas(), &f32s(&c["sigmas"]));
        for st in c["steps"].as_array().unwrap() {
            let i = st["index"].as_u64().unwrap() as usize;
            let mut x = f32s(&st["sample"]);
            s.step(i, &f32s(&st["model_output"]), &mut x).unwrap();
            assert_close(&format!("{name} step {i}"), &x, &f32s(&st["prev_sample"]));
        }
        let noise = f32s(&c["full_loop"]["noise"]);
        let mut x = noise.clone();
        let mut v = vec![0.0; x.len()];
        for i in 0..s.len() {
            v.iter_mut().zip(noise.iter().zip(&x)).for_each(|(v, (e, x))| *v = e - x);
            s.step(i, &v, &mut x).unwrap();
        }
        assert_close(&format!("{name} full loop"), &x, &f32s(&c["full_loop"]["final"]));
    }
}

#[test]
fn flow_match_per_token_steps_match_diffusers() {
    let r = reference();
    for c in r["flow_match_per_token"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let s = flow_config(c).build(flow_schedule(&c["schedule"]), None).unwrap();
        let channels = c["channels"].as_u64().unwrap() as usize;
        let mut x = f32s(&c["sample"]);
        s.step_per_token(&f32s(&c["per_token_timesteps"]), channels, &f32s(&c["model_output"]), &mut x).unwrap();
        assert_close(&format!("{name} per-token step"), &x, &f32s(&c["prev_sample"]));
    }
}

#[test]
fn per_token_step_on_the_schedule_equals_the_plain_step_with_negated_output() {
    // Without conditioning the LTX pipeline's per-token call must reduce to the ordinary Euler step.
    let s = FlowMatchEulerConfig::default()
        .build(Schedule::Timesteps(linear_quadratic_timesteps(20, 0.025, None).unwrap()), None)
        .unwrap();
    let v: Vec<f32> = (0..12).map(|k| (k as f32 * 0.37).sin()).collect();
    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
    for i in 0..s.len() {
        let mut a: Vec<f32> = (0..12).map(|k| (k as f32 * 0.11).cos()).collect();
        let mut b = a.clone();
        s.step(i, &v, &mut a).unwrap();
        s.step_per_token(&[s.timesteps()[i]; 4], 3, &neg, &mut b).unwrap();
        assert_eq!(a, b, "step {i}");
    }
}

#[test]
fn scale_noise_matches_diffusers() {
    for c in reference()["flow_match_scale_noise"].as_array().unwrap() {
        let mut x = f32s(&c["sample"]);
        FlowMatchEuler::scale_noise(&mut x, &f32s(&c["noise"]), c["sigma"].as_f64().unwrap() as f32).unwrap();
        assert_close("scale_noise", &x, &f32s(&c["out"]));
    }
}

#[test]
fn ddim_schedules_and_steps_match_diffusers() {
    let r = reference();
    let cases = r["ddim"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let cfg: DdimConfig = serde_json::from_value(c["config"].clone()).expect("ddim config");
        let s = cfg.build(c["steps"].as_u64().unwrap() as usize).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want: Vec<i64> = c["timesteps"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()).collect();
        assert_eq!(s.timesteps(), want.as_slice(), "{name} timesteps");
        if let Some(a) = c.get("alphas_cumprod").filter(|a| !a.is_null()) {
            let want = f32s(a);
            if cfg.rescale_betas_zero_snr {
                // The rescale takes a sqrt, which torch's CPU kernel rounds differently (see below).
                assert_close(&format!("{name} alphas_cumprod"), s.alphas_cumprod(), &want);
            } else {
                // Bit-exact: torch.linspace's FMA and torch.cumprod's float64 accumulator reproduced.
                let first_diff = s.alphas_cumprod().iter().zip(&want).position(|(g, w)| g != w);
                assert_eq!(first_diff, None, "{name} alphas_cumprod differs from diffusers");
            }
        }
        for st in c["step_results"].as_array().unwrap() {
            let i = st["index"].as_u64().unwrap() as usize;
            let mut x = f32s(&st["sample"]);
            s.step(i, &f32s(&st["model_output"]), &mut x).unwrap();
            assert_close(&format!("{name} step {i}"), &x, &f32s(&st["prev_sample"]));
        }
        let noise = f32s(&c["full_loop"]["noise"]);
        let mut x = noise.clone();
        let mut m = vec![0.0; x.len()];
        for i in 0..s.len() {
            m.iter_mut().zip(noise.iter().zip(&x)).for_each(|(m, (e, x))| *m = e - x * 0.5);
            s.step(i, &m, &mut x).unwrap();
        }
        // torch's CPU float32 sqrt is not correctly rounded (1 ulp off for ~20% of inputs; Rust's is),
        // and 1/sqrt(alpha_bar) amplifies that over 50 steps to ~2e-6: see make_reference.py.
        assert_within(&format!("{name} full loop"), &x, &f32s(&c["full_loop"]["final"]), 1e-5);
    }
}

#[test]
fn manifest_picks_the_scheduler_kind() {
    let flow: SchedulerConfig = serde_json::from_str(
        r#"{"kind": "flow_match_euler", "_class_name": "FlowMatchEulerDiscreteScheduler",
            "use_dynamic_shifting": true, "base_shift": 0.95, "max_shift": 2.05,
            "base_image_seq_len": 1024, "max_image_seq_len": 4096, "shift_terminal": 0.1}"#,
    )
    .unwrap();
    let SchedulerConfig::FlowMatchEuler(fc) = &flow else { panic!("wrong kind: {flow:?}") };
    assert!(matches!(flow.build(10, None), Err(SchedulerError::InvalidConfig(_))));
    let mu = fc.mu_for_seq_len(5000).unwrap();
    let s = flow.build(10, Some(mu)).unwrap();
    assert_eq!(s.len(), 10);
    assert!((*s.model_timestep(9).map(|t| t / 1000.0).as_ref().unwrap() - 0.1).abs() < 1e-6);
    assert_eq!(s.model_timestep(10), None);

    let ddim: SchedulerConfig = serde_json::from_str(
        r#"{"kind": "ddim", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
            "timestep_spacing": "trailing", "prediction_type": "v_prediction", "rescale_betas_zero_snr": true,
            "clip_sample": false, "trained_betas": null, "sample_max_value": 1.0}"#,
    )
    .unwrap();
    let mut s = ddim.build(50, None).unwrap();
    assert_eq!(s.model_timestep(0), Some(999.0));
    let mut x = [0.5_f32; 4];
    s.step(0, &[0.1; 4], &mut x).unwrap();
    assert!(x.iter().all(|v| v.is_finite()));

    assert!(matches!(
        serde_json::from_str::<SchedulerConfig>(r#"{"kind": "unipc", "flow_shift": 5.0}"#),
        Ok(SchedulerConfig::Unipc(UniPcConfig { flow_shift: 5.0, .. }))
    ));
    assert!(serde_json::from_str::<SchedulerConfig>(r#"{"kind": "pndm"}"#).is_err());
    assert!(serde_json::from_str::<SchedulerConfig>(r#"{"kind": "ddim", "beta_schedule": "sigmoid"}"#).is_err());
}

#[test]
fn flow_match_schedules_are_bit_exact() {
    // Stronger than the 1e-6 check above: the f64/f32 split of set_timesteps is reproduced exactly, so a
    // change that computes in the wrong dtype shows up here. (Relies on libm `exp` agreeing with
    // Python's to within the float32 rounding, true on glibc.)
    for c in reference()["flow_match"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let mu = c.get("mu").filter(|m| !m.is_null()).map(f64_str);
        let s = flow_config(c).build(flow_schedule(&c["schedule"]), mu).unwrap();
        assert_eq!(s.timesteps(), f32s(&c["timesteps"]).as_slice(), "{name} timesteps");
        assert_eq!(s.sigmas(), f32s(&c["sigmas"]).as_slice(), "{name} sigmas");
    }
}

/// Flattens nested JSON lists of numbers (tensors recorded as nested lists) to float32.
fn flat_f32(v: &Value) -> Vec<f32> {
    fn walk(v: &Value, out: &mut Vec<f32>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            x => out.push(x.as_f64().expect("number") as f32),
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

/// Cross-check against the scheduler numbers the LTX model helper recorded independently
/// (`models/ltx/make_scheduler_fixtures.py`, nested-list tensors). The file is committed, so a
/// missing one is a broken checkout and fails here rather than passing with nothing checked.
fn ltx_fixtures() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ltx/fixtures/schedulers.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e} (regenerate it with models/ltx/make_scheduler_fixtures.py)", path.display())
    });
    serde_json::from_str(&text).expect("schedulers.json parses")
}

#[test]
fn ltx_recorded_scheduler_fixtures_agree() {
    let r = ltx_fixtures();
    let fm = &r["flow_match_euler"];
    let cfg_of = |c: &Value| -> FlowMatchEulerConfig { serde_json::from_value(c["config"].clone()).expect("config") };
    let mu_of = |st: &Value| st.get("mu").and_then(Value::as_f64);

    let cases = fm["set_timesteps"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let st = &c["set_timesteps"];
        let schedule = if !st["sigmas"].is_null() {
            Schedule::Sigmas(flat_f32(&st["sigmas"]))
        } else if !st["timesteps"].is_null() {
            Schedule::Timesteps(flat_f32(&st["timesteps"]))
        } else {
            Schedule::Steps(st["num_inference_steps"].as_u64().unwrap() as usize)
        };
        let s = cfg_of(c).build(schedule, mu_of(st)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_close(&format!("ltx {name} timesteps"), s.timesteps(), &flat_f32(&c["timesteps"]));
        assert_close(&format!("ltx {name} sigmas"), s.sigmas(), &flat_f32(&c["sigmas"]));
    }

    let mut per_token_cases = 0;
    for c in fm["step"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        if let Some(outs) = c.get("model_outputs") {
            let st = &c["set_timesteps"];
            let s = cfg_of(c).build(Schedule::Sigmas(flat_f32(&st["sigmas"])), mu_of(st)).unwrap();
            assert_close(&format!("ltx {name} sigmas"), s.sigmas(), &flat_f32(&c["sigmas"]));
            let mut x = flat_f32(&c["sample"]);
            for (i, (o, want)) in
                outs.as_array().unwrap().iter().zip(c["samples_after_each_step"].as_array().unwrap()).enumerate()
            {
                s.step(i, &flat_f32(o), &mut x).unwrap();
                assert_close(&format!("ltx {name} step {i}"), &x, &flat_f32(want));
            }
        } else {
            let s = cfg_of(c).build(Schedule::Timesteps(flat_f32(&c["timesteps"])), None).unwrap();
            let ptt = flat_f32(&c["per_token_timesteps"]);
            let mut x = flat_f32(&c["sample"]);
            s.step_per_token(&ptt, x.len() / ptt.len(), &flat_f32(&c["model_output"]), &mut x).unwrap();
            assert_close(&format!("ltx {name}"), &x, &flat_f32(&c["prev_sample"]));
            per_token_cases += 1;
        }
    }
    assert!(per_token_cases > 0);

    let ddim = r["ddim"].as_array().unwrap();
    assert!(!ddim.is_empty());
    for c in ddim {
        let name = c["name"].as_str().unwrap();
        let cfg: DdimConfig = serde_json::from_value(c["config"].clone()).expect("ddim config");
        let s = cfg.build(c["num_inference_steps"].as_u64().unwrap() as usize).unwrap();
        let want: Vec<i64> = c["timesteps"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()).collect();
        assert_eq!(s.timesteps(), want.as_slice(), "ltx {name} timesteps");
        let key = c["alphas_cumprod_key"].as_str().unwrap();
        assert_close(
            &format!("ltx {name} alphas_cumprod"),
            s.alphas_cumprod(),
            &flat_f32(&r["ddim_alphas_cumprod"][key]),
        );
        let (x, m) = (flat_f32(&c["sample"]), flat_f32(&c["model_output"]));
        for st in c["steps"].as_array().unwrap() {
            let t = st["t"].as_i64().unwrap();
            let i = s.timesteps().iter().position(|&u| u == t).expect("recorded t is on the schedule");
            let mut y = x.clone();
            s.step(i, &m, &mut y).unwrap();
            // The recorder's documented tolerance for DDIM outputs: 2e-6 relative.
            assert_within(&format!("ltx {name} step t={t}"), &y, &flat_f32(&st["prev_sample"]), 2e-6);
        }
    }
}

/// The shape of a tensor recorded as nested JSON lists.
fn shape_of(mut v: &Value) -> Vec<usize> {
    let mut shape = Vec::new();
    while let Value::Array(a) = v {
        shape.push(a.len());
        let Some(first) = a.first() else { break };
        v = first;
    }
    shape
}

/// `LTXEulerAncestralRFScheduler` (key `ltx_euler_ancestral_rf`): its set_timesteps cases, and step
/// loops run as the long pipeline runs them (`timesteps[:-1]`) with diffusers' noise draws replayed,
/// which also checks that Rust draws exactly where diffusers did.
#[test]
fn ltx_euler_ancestral_rf_matches_diffusers() {
    let r = ltx_fixtures();
    let rf = &r["ltx_euler_ancestral_rf"];
    let build = |c: &Value, st: &Value| {
        let cfg: FlowMatchEulerConfig = serde_json::from_value(c["config"].clone()).expect("config");
        let schedule = if let Some(s) = st.get("sigmas") {
            Schedule::Sigmas(flat_f32(s))
        } else if let Some(t) = st.get("timesteps") {
            Schedule::Timesteps(flat_f32(t))
        } else {
            Schedule::Steps(st["num_inference_steps"].as_u64().unwrap() as usize)
        };
        let knob = |k: &str| c["config"][k].as_f64().unwrap() as f32;
        EulerAncestralRf::from_flow_match(
            &cfg,
            schedule,
            st.get("mu").and_then(Value::as_f64),
            knob("eta"),
            knob("s_noise"),
        )
    };

    let cases = rf["set_timesteps"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let s = build(c, &c["set_timesteps"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_close(&format!("rf {name} timesteps"), s.timesteps(), &flat_f32(&c["timesteps"]));
        assert_close(&format!("rf {name} sigmas"), s.sigmas(), &flat_f32(&c["sigmas"]));
        assert_eq!(s.num_inference_steps(), c["num_inference_steps"].as_u64().unwrap() as usize, "rf {name}");
    }

    let loops = rf["step"].as_array().unwrap();
    assert!(loops.len() >= 6);
    let mut draws_total = 0;
    for c in loops {
        let name = c["name"].as_str().unwrap();
        let s = build(c, &c["set_timesteps"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_close(&format!("rf {name} sigmas"), s.sigmas(), &flat_f32(&c["sigmas"]));
        let shape = shape_of(&c["sample"]);
        let recorded = c["noises"].as_array().unwrap();
        let draws: Vec<_> = recorded.iter().filter(|n| !n.is_null()).map(|n| (shape_of(n), flat_f32(n))).collect();
        draws_total += draws.len();
        let mut noise = RecordedNoise::new(draws);
        let outs = c["model_outputs"].as_array().unwrap();
        assert_eq!(outs.len(), s.timesteps().len() - 1, "rf {name}: the loop runs timesteps[:-1]");
        let mut x = flat_f32(&c["sample"]);
        for (i, (o, want)) in outs.iter().zip(c["samples_after_each_step"].as_array().unwrap()).enumerate() {
            assert_eq!(s.draws_noise(i), !recorded[i].is_null(), "rf {name} step {i}: draws where diffusers drew");
            s.step(i, &flat_f32(o), &mut x, &shape, &mut noise).unwrap_or_else(|e| panic!("rf {name} step {i}: {e}"));
            assert_close(&format!("rf {name} step {i}"), &x, &flat_f32(want));
        }
        assert!(noise.draw(&shape).is_err(), "rf {name}: every recorded draw was used");
    }
    assert!(draws_total > 0);
}
