//! The RF Euler-ancestral scheduler's own contracts (when it draws, its deterministic limits, input
//! checks); the golden tests against diffusers are in `scheduler/tests.rs`.

use super::*;
use crate::diffusion::RecordedNoise;
use crate::engine::EngineError;

/// Counts draws and hands out a fixed value, or fails when asked to.
struct Counting {
    draws: usize,
    fail: bool,
}

impl Counting {
    fn new() -> Self {
        Self { draws: 0, fail: false }
    }
}

impl Noise for Counting {
    fn draw(&mut self, shape: &[usize]) -> Result<Vec<f32>, EngineError> {
        self.draws += 1;
        if self.fail {
            return Err(EngineError::Input("no noise today".into()));
        }
        Ok(vec![0.5; shape.iter().product()])
    }
}

fn sigmas(eta: f32) -> EulerAncestralRf {
    let s = vec![1.0, 0.9, 0.6, 0.25, 0.0];
    EulerAncestralRf::from_flow_match(&FlowMatchEulerConfig::default(), Schedule::Sigmas(s), None, eta, 1.0).unwrap()
}

fn sample() -> (Vec<f32>, Vec<f32>) {
    let x = (0..12).map(|k| (k as f32 * 0.37).sin()).collect();
    let v = (0..12).map(|k| (k as f32 * 0.11).cos() - 0.3).collect();
    (x, v)
}

#[test]
fn eta_zero_is_the_plain_euler_step_without_draws() {
    let rf = sigmas(0.0);
    let fm = FlowMatchEulerConfig::default().build(Schedule::Sigmas(vec![1.0, 0.9, 0.6, 0.25]), None).unwrap();
    assert_eq!(rf.sigmas(), fm.sigmas(), "same noise levels");
    let mut noise = Counting::new();
    let (x0, v) = sample();
    for i in 0..rf.num_inference_steps() {
        let (mut a, mut b) = (x0.clone(), x0.clone());
        rf.step(i, &v, &mut a, &[1, 4, 3], &mut noise).unwrap();
        fm.step(i, &v, &mut b).unwrap();
        // The same step computed as q·x + (1 − q)·x0 instead of x + dt·v: equal up to rounding.
        for (k, (g, w)) in a.iter().zip(&b).enumerate() {
            assert!((g - w).abs() <= 1e-6, "step {i} [{k}]: {g} vs Euler {w}");
        }
        assert!(!rf.draws_noise(i));
    }
    assert_eq!(noise.draws, 0);
}

#[test]
fn the_final_step_to_zero_returns_the_denoised_sample_without_a_draw() {
    let rf = sigmas(1.0);
    let mut noise = Counting::new();
    let (mut x, v) = sample();
    let want: Vec<f32> = x.iter().zip(&v).map(|(x, v)| x - 0.25 * v).collect();
    assert!(!rf.draws_noise(3));
    rf.step(3, &v, &mut x, &[12], &mut noise).unwrap();
    assert_eq!(x, want);
    assert_eq!(noise.draws, 0);

    // Past the end: unchanged, no draw (diffusers returns the sample as it is).
    let before = x.clone();
    rf.step(4, &v, &mut x, &[12], &mut noise).unwrap();
    rf.step(99, &v, &mut x, &[12], &mut noise).unwrap();
    assert_eq!((x, noise.draws), (before, 0));
}

#[test]
fn every_other_step_draws_once_in_the_samples_shape() {
    let rf = sigmas(0.5);
    let (mut x, v) = sample();
    let draws: Vec<_> = (0..3).map(|k| (vec![1, 2, 6], vec![k as f32 * 0.1; 12])).collect();
    let mut noise = RecordedNoise::new(draws);
    for i in 0..rf.num_inference_steps() {
        assert_eq!(rf.draws_noise(i), i < 3, "step {i}");
        rf.step(i, &v, &mut x, &[1, 2, 6], &mut noise).unwrap();
    }
    assert!(x.iter().all(|v| v.is_finite()));
    assert!(noise.draw(&[1, 2, 6]).is_err(), "all three recorded draws used");

    // s_noise = 0 switches the draw off (and the ancestral rescale with it).
    let quiet = EulerAncestralRf::from_flow_match(
        &FlowMatchEulerConfig::default(),
        Schedule::Sigmas(vec![1.0, 0.5, 0.0]),
        None,
        1.0,
        0.0,
    )
    .unwrap();
    let mut counting = Counting::new();
    let (mut x, v) = sample();
    quiet.step(0, &v, &mut x, &[12], &mut counting).unwrap();
    assert_eq!(counting.draws, 0);
}

#[test]
fn a_failed_draw_leaves_the_sample_untouched() {
    let rf = sigmas(1.0);
    let (mut x, v) = sample();
    let before = x.clone();
    let mut noise = Counting { draws: 0, fail: true };
    let err = rf.step(0, &v, &mut x, &[12], &mut noise).unwrap_err();
    assert_eq!(err, SchedulerError::Noise("no noise today".into()));
    assert_eq!(x, before);
}

#[test]
fn inputs_are_checked_before_stepping() {
    let rf = sigmas(1.0);
    let (mut x, v) = sample();
    let mut noise = Counting::new();
    assert!(matches!(rf.step(0, &v[..11], &mut x, &[12], &mut noise), Err(SchedulerError::LengthMismatch { .. })));
    assert!(matches!(rf.step(0, &v, &mut x, &[2, 5], &mut noise), Err(SchedulerError::LengthMismatch { .. })));
    assert!(matches!(rf.step(0, &v, &mut x, &[usize::MAX, 3], &mut noise), Err(SchedulerError::LengthMismatch { .. })));
    assert_eq!(noise.draws, 0);

    let cfg = FlowMatchEulerConfig::default();
    let build = |s: Vec<f32>, eta: f32, s_noise: f32| {
        EulerAncestralRf::from_flow_match(&cfg, Schedule::Sigmas(s), None, eta, s_noise)
    };
    assert!(matches!(build(vec![1.0, 0.0], -0.1, 1.0), Err(SchedulerError::InvalidConfig(_))));
    assert!(matches!(build(vec![1.0, 0.0], 1.0, f32::NAN), Err(SchedulerError::InvalidConfig(_))));
    for bad in [vec![], vec![0.0], vec![0.5, 1.0, 0.0], vec![1.0, -0.1], vec![1.0, f32::NAN, 0.0]] {
        assert!(matches!(build(bad.clone(), 1.0, 1.0), Err(SchedulerError::InvalidSchedule(_))), "{bad:?}");
    }
    // Repeated sigmas and a non-zero end are what diffusers accepts too.
    assert!(build(vec![1.0, 1.0, 0.5], 1.0, 1.0).is_ok());
}

#[test]
fn timesteps_are_taken_as_sigmas_and_steps_delegate_to_flow_match() {
    let cfg = FlowMatchEulerConfig { shift: 3.0, ..FlowMatchEulerConfig::default() };
    let alias = EulerAncestralRf::from_flow_match(&cfg, Schedule::Timesteps(vec![1.0, 0.5, 0.0]), None, 1.0, 1.0);
    let alias = alias.unwrap();
    assert_eq!(alias.sigmas(), [1.0, 0.5, 0.0], "not divided by 1000, not shifted");
    assert_eq!(alias.timesteps(), [1000.0, 500.0, 0.0]);
    assert_eq!(alias.num_inference_steps(), 2);

    let rf = EulerAncestralRf::from_flow_match(&cfg, Schedule::Steps(6), None, 1.0, 1.0).unwrap();
    let fm = cfg.build(Schedule::Steps(6), None).unwrap();
    assert_eq!((rf.timesteps(), rf.sigmas()), (fm.timesteps(), fm.sigmas()));
    assert_eq!(rf.num_inference_steps(), 6);

    let dynamic = FlowMatchEulerConfig { use_dynamic_shifting: true, ..FlowMatchEulerConfig::default() };
    let no_mu = EulerAncestralRf::from_flow_match(&dynamic, Schedule::Steps(4), None, 1.0, 1.0);
    assert!(matches!(no_mu, Err(SchedulerError::InvalidConfig(_))), "the long pipeline passes no mu");
}

#[test]
fn a_repeated_timestep_starts_at_its_second_occurrence() {
    let cfg = FlowMatchEulerConfig::default();
    let rf = EulerAncestralRf::from_flow_match(&cfg, Schedule::Sigmas(vec![1.0, 0.5, 0.5, 0.0]), None, 1.0, 1.0);
    let rf = rf.unwrap();
    assert_eq!(rf.index_for_timestep(1000.0), Some(0));
    assert_eq!(rf.index_for_timestep(500.0), Some(2));
    assert_eq!(rf.index_for_timestep(0.0), Some(3));
    assert_eq!(rf.index_for_timestep(123.0), None);
}
