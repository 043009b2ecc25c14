//! The flow-matching Euler scheduler's own contracts (schedules, config checks, steps); the
//! golden tests against diffusers are in `scheduler/tests.rs`.

use super::*;

fn cfg() -> FlowMatchEulerConfig {
    FlowMatchEulerConfig::default()
}

#[test]
fn contract_every_schedule_ends_at_zero_and_decreases() {
    let dynamic = FlowMatchEulerConfig { use_dynamic_shifting: true, shift_terminal: Some(0.1), ..cfg() };
    let shifted = FlowMatchEulerConfig { shift: 3.0, ..cfg() };
    let builds = [
        cfg().build(Schedule::Steps(1), None),
        cfg().build(Schedule::Steps(20), None),
        shifted.build(Schedule::Steps(7), None),
        dynamic.build(Schedule::Steps(30), Some(1.3)),
        cfg().build(Schedule::Timesteps(linear_quadratic_timesteps(40, 0.025, None).unwrap()), None),
        shifted.build(Schedule::Sigmas(vec![1.0, 0.5, 0.25]), None),
    ];
    for (k, b) in builds.into_iter().enumerate() {
        let s = b.unwrap_or_else(|e| panic!("build {k}: {e}"));
        assert_eq!(s.sigmas().len(), s.len() + 1, "build {k}");
        assert_eq!(*s.sigmas().last().unwrap(), 0.0, "build {k}");
        assert!(s.timesteps().windows(2).all(|w| w[1] < w[0]), "build {k}");
        assert!(s.sigmas().windows(2).all(|w| w[1] < w[0]), "build {k}");
    }
    assert_eq!(cfg().build(Schedule::Steps(20), None).unwrap().len(), 20);
}

#[test]
fn bad_configs_are_rejected_with_a_reason() {
    let err = |c: FlowMatchEulerConfig, s: Schedule, mu| c.build(s, mu).unwrap_err();
    let dynamic = FlowMatchEulerConfig { use_dynamic_shifting: true, ..cfg() };
    assert!(err(dynamic.clone(), Schedule::Steps(4), None).to_string().contains("mu"));
    assert!(matches!(err(dynamic, Schedule::Steps(4), Some(f64::NAN)), SchedulerError::InvalidConfig(_)));
    for c in [
        FlowMatchEulerConfig { invert_sigmas: true, ..cfg() },
        FlowMatchEulerConfig { use_karras_sigmas: true, ..cfg() },
        FlowMatchEulerConfig { use_exponential_sigmas: true, ..cfg() },
        FlowMatchEulerConfig { use_beta_sigmas: true, ..cfg() },
    ] {
        assert!(matches!(err(c, Schedule::Steps(4), None), SchedulerError::Unsupported(_)));
    }
    assert!(matches!(
        err(FlowMatchEulerConfig { shift: 0.0, ..cfg() }, Schedule::Steps(4), None),
        SchedulerError::InvalidConfig(_)
    ));
    assert!(matches!(
        err(FlowMatchEulerConfig { shift_terminal: Some(1.0), ..cfg() }, Schedule::Steps(4), None),
        SchedulerError::InvalidConfig(_)
    ));
    assert!(matches!(err(cfg(), Schedule::Steps(0), None), SchedulerError::InvalidSchedule(_)));
    assert!(matches!(err(cfg(), Schedule::Sigmas(vec![]), None), SchedulerError::InvalidSchedule(_)));
    assert!(matches!(err(cfg(), Schedule::Timesteps(vec![500.0, 800.0]), None), SchedulerError::InvalidSchedule(_)));
    assert!(matches!(err(cfg(), Schedule::Timesteps(vec![500.0, f32::NAN]), None), SchedulerError::InvalidSchedule(_)));
    // One step stretched to a terminal value is 0/0 in diffusers; we refuse it.
    let term = FlowMatchEulerConfig { shift_terminal: Some(0.1), ..cfg() };
    assert!(matches!(err(term, Schedule::Steps(1), None), SchedulerError::InvalidSchedule(_)));
    assert!(linear_quadratic_schedule(8, 0.025, Some(8)).is_err());
    assert!(linear_quadratic_schedule(0, 0.025, None).is_err());
}

#[test]
fn mu_is_ignored_without_dynamic_shifting() {
    let a = cfg().build(Schedule::Steps(10), None).unwrap();
    let b = cfg().build(Schedule::Steps(10), Some(2.0)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn step_checks_lengths_and_index() {
    let s = cfg().build(Schedule::Steps(4), None).unwrap();
    let mut x = vec![0.0; 4];
    assert!(matches!(s.step(4, &[0.0; 4], &mut x), Err(SchedulerError::StepOutOfRange { .. })));
    assert!(matches!(s.step(0, &[0.0; 3], &mut x), Err(SchedulerError::LengthMismatch { .. })));
    assert!(s.step_per_token(&[1.0, 2.0], 3, &[0.0; 4], &mut x).is_err());
    assert!(s.step_per_token(&[f32::NAN, 2.0], 2, &[0.0; 4], &mut x).is_err());
    assert!(s.step_stochastic(0, &[0.0; 4], &[0.0; 4], &mut x).is_err());
    assert_eq!(x, vec![0.0; 4]);
}

#[test]
fn full_euler_loop_with_exact_velocity_reaches_the_clean_sample() {
    // With v = ε − x0 (the flow-matching target), Euler is exact: x goes from ε to x0.
    let s = FlowMatchEulerConfig { shift: 3.0, ..cfg() }.build(Schedule::Steps(12), None).unwrap();
    let (x0, eps) = ([0.25_f32, -0.5, 0.75], [1.0_f32, -1.0, 0.5]);
    let v: Vec<f32> = eps.iter().zip(&x0).map(|(e, x)| e - x).collect();
    let mut x = eps.to_vec();
    for i in 0..s.len() {
        s.step(i, &v, &mut x).unwrap();
    }
    for (a, b) in x.iter().zip(&x0) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn stochastic_step_uses_the_given_noise() {
    let c = FlowMatchEulerConfig { stochastic_sampling: true, ..cfg() };
    let s = c.build(Schedule::Sigmas(vec![1.0, 0.5]), None).unwrap();
    assert!(s.step(0, &[0.0], &mut [0.0]).is_err());
    let mut x = [2.0_f32];
    // σ = 1, σ_next = 0.5: x0 = 2 − 1·1 = 1, x = 0.5·1 + 0.5·4 = 2.5.
    s.step_stochastic(0, &[1.0], &[4.0], &mut x).unwrap();
    assert_eq!(x, [2.5]);
}
