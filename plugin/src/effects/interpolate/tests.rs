//! Retime, motion blur and Repair Duplicates planning (Fill Frames: `effects::gap`).

use super::*;
use crate::effects::{ParamValue, INTERPOLATE};

fn values(speed: f64, start: f64) -> ParamValues {
    let mut v = ParamValues::defaults(&INTERPOLATE);
    v.set(PARAM_SPEED, ParamValue::Double(speed));
    v.set(PARAM_START, ParamValue::Double(start));
    v
}

fn fill(list: &str) -> ParamValues {
    let mut v = ParamValues::defaults(&INTERPOLATE);
    v.set(PARAM_MODE, ParamValue::Choice(MODE_FILL));
    v.set(PARAM_FILL, ParamValue::String(list.into()));
    v
}

const SRC: Option<FrameRange> = Some(FrameRange { first: 0.0, last: 99.0 });

#[test]
fn retime_maps_output_time_to_start_plus_t_times_speed() {
    let v = values(0.5, 10.0);
    assert_eq!(source_time(&v, 4.0).unwrap(), 12.0);
    assert_eq!(plan(&v, 4.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 12.0 });
    assert_eq!(
        plan(&v, 5.0, SRC).unwrap(),
        FramePlan::Model(ModelWork::Interpolate { before: 12.0, after: 13.0, fraction: 0.5 })
    );
    // 3 × (1/3) is not exactly 1.0 in floating point, yet it is frame 1.
    let third = values(1.0 / 3.0, 0.0);
    assert_eq!(plan(&third, 3.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 1.0 });
    match plan(&third, 4.0, SRC).unwrap() {
        FramePlan::Model(ModelWork::Interpolate { before, after, fraction }) => {
            assert_eq!((before, after), (1.0, 2.0));
            assert!((fraction - 1.0 / 3.0).abs() < 1e-12);
        }
        other => panic!("{other:?}"),
    }
}

use crate::effects::curve::{Interp, KeyedCurves, Keys};
use std::sync::Arc;

/// Speed keyed with `keys` (linear unless smooth) from Source Start 0.
fn ramp(keys: &[(f64, f64)], interp: Interp) -> ParamValues {
    let mut v = values(1.0, 0.0);
    let curve = Keys(keys.iter().map(|&(t, x)| (t, x, interp)).collect());
    v.set_keys(PARAM_SPEED, curve.times());
    v.set_value_source(Arc::new(KeyedCurves(vec![(PARAM_SPEED, curve)])));
    v
}

#[test]
fn a_speed_ramp_lands_on_the_integral_of_speed_and_whole_frames_pass_through() {
    // 100 % to 20 % over 48 frames: S(t) = t - 0.4 t² / 48, then 28.8 + 0.2 (t - 48).
    let v = ramp(&[(0.0, 1.0), (48.0, 0.2)], Interp::Linear);
    let integral = |t: f64| if t <= 48.0 { t - 0.4 * t * t / 48.0 } else { 28.8 + 0.2 * (t - 48.0) };
    for t in 0..=120 {
        let t = t as f64;
        assert!((source_time(&v, t).unwrap() - integral(t)).abs() < 1e-9, "{t}");
    }
    assert_eq!(plan(&v, 0.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 0.0 });
    // 28.8 + 0.2 = 29: a whole source frame, passed through.
    assert_eq!(plan(&v, 49.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 29.0 });
    match plan(&v, 24.0, SRC).unwrap() {
        FramePlan::Model(ModelWork::Interpolate { before, after, fraction }) => {
            assert_eq!((before, after), (19.0, 20.0));
            assert!((fraction - 0.2).abs() < 1e-9);
        }
        other => panic!("{other:?}"),
    }
    // The source (0..99) ends where 28.8 + 0.2 (t - 48) reaches 99: t = 399.
    assert_eq!(time_domain(&v, SRC).unwrap(), Some(FrameRange::new(0.0, 399.0)));
    // Smooth keys off whole frames: against a fine numeric integral.
    let keys = [(0.0, 1.0), (10.5, 0.25), (30.0, 2.0)];
    let s = ramp(&keys, Interp::Smooth);
    let curve = Keys(keys.iter().map(|&(t, x)| (t, x, Interp::Smooth)).collect());
    let n = 100_000;
    let reference: f64 = (0..n).map(|i| curve.value((i as f64 + 0.5) * 35.0 / n as f64) * 35.0 / n as f64).sum();
    assert!((source_time(&s, 35.0).unwrap() - reference).abs() < 1e-6);
    // A key at a speed of 0 is refused, as a constant 0 is.
    let zero = ramp(&[(0.0, 1.0), (10.0, 0.0)], Interp::Linear);
    assert!(matches!(plan(&zero, 20.0, SRC).unwrap_err(), EffectError::InvalidSpeed(_)));
}

#[test]
fn a_source_frame_curve_shows_its_frame_and_spans_its_keys() {
    let mut v = values(1.0, 0.0);
    v.set(PARAM_TIMING, ParamValue::Choice(TIMING_SOURCE_FRAME));
    let curve = Keys(vec![(0.0, 10.0, Interp::Linear), (96.0, 58.0, Interp::Linear)]);
    v.set_keys(PARAM_SOURCE_FRAME, curve.times());
    v.set_value_source(Arc::new(KeyedCurves(vec![(PARAM_SOURCE_FRAME, curve)])));
    assert_eq!(plan(&v, 4.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 12.0 });
    assert_eq!(
        plan(&v, 5.0, SRC).unwrap(),
        FramePlan::Model(ModelWork::Interpolate { before: 12.0, after: 13.0, fraction: 0.5 })
    );
    assert_eq!(time_domain(&v, SRC).unwrap(), Some(FrameRange::new(0.0, 96.0)));
    // Not keyed: a hold of that one frame, as long as the source.
    let mut hold = values(1.0, 0.0);
    hold.set(PARAM_TIMING, ParamValue::Choice(TIMING_SOURCE_FRAME));
    hold.set(PARAM_SOURCE_FRAME, ParamValue::Double(7.0));
    assert_eq!(plan(&hold, 50.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 7.0 });
    assert_eq!(time_domain(&hold, SRC).unwrap(), SRC);
}

#[test]
fn motion_blur_spreads_samples_over_the_shutter_and_0_degrees_changes_nothing() {
    let mut v = values(0.25, 0.0);
    assert_eq!(
        plan(&v, 2.0, SRC).unwrap(),
        FramePlan::Model(ModelWork::Interpolate { before: 0.0, after: 1.0, fraction: 0.5 })
    );
    let before = plan(&v, 2.0, SRC).unwrap();
    v.set(PARAM_SHUTTER, ParamValue::Double(0.0));
    assert_eq!(plan(&v, 2.0, SRC).unwrap(), before, "0° is no blur");
    v.set(PARAM_SHUTTER, ParamValue::Double(360.0));
    v.set(PARAM_SHUTTER_SAMPLES, ParamValue::Int(4));
    // Output times 1.625, 1.875, 2.125, 2.375 at a quarter speed.
    let want = vec![0.40625, 0.46875, 0.53125, 0.59375];
    assert_eq!(plan(&v, 2.0, SRC).unwrap(), FramePlan::Model(ModelWork::Blur { samples: want, centre: 0.5 }));
    assert_eq!(INTERPOLATE.frames_needed(&v, 2.0, SRC).unwrap(), Some(FrameRange::new(0.0, 1.0)));
    // 180° halves the interval.
    v.set(PARAM_SHUTTER, ParamValue::Double(180.0));
    match plan(&v, 2.0, SRC).unwrap() {
        FramePlan::Model(ModelWork::Blur { samples, .. }) => {
            assert_eq!(samples, [0.453125, 0.484375, 0.515625, 0.546875])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn frames_needed_are_floor_and_ceil_of_the_mapped_time() {
    let v = values(0.25, 0.0);
    assert_eq!(INTERPOLATE.frames_needed(&v, 6.0, SRC).unwrap(), Some(FrameRange::new(1.0, 2.0)));
    assert_eq!(INTERPOLATE.frames_needed(&v, 8.0, SRC).unwrap(), Some(FrameRange::single(2.0)));
}

#[test]
fn retime_holds_the_ends_of_the_source() {
    let v = values(2.0, 0.0);
    assert_eq!(plan(&v, 80.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 99.0 });
    let v = values(1.0, -20.0);
    assert_eq!(plan(&v, 3.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 0.0 });
}

/// Found by tests/fuzz.rs: a NaN Start (a host that does not check ranges) planned a NaN
/// source time, and GetRegionOfDefinition asked the host for the region at that time.
#[test]
fn a_start_or_a_product_that_is_not_a_number_is_refused() {
    let source = Some(FrameRange { first: 0.0, last: 10.0 });
    for (speed, start, t) in [(1.0, f64::NAN, 1.0), (1.0, f64::INFINITY, 1.0), (1e300, 0.0, 1e300)] {
        let err = plan(&values(speed, start), t, source).unwrap_err();
        assert!(err.to_string().contains("Start"), "{err}");
    }
}

#[test]
fn speed_must_be_positive_and_a_source_is_required() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = plan(&values(bad, 0.0), 1.0, SRC).unwrap_err();
        assert!(matches!(err, EffectError::InvalidSpeed(_)), "{bad}: {err}");
    }
    assert_eq!(plan(&values(0.5, 0.0), 1.0, None).unwrap_err(), EffectError::NoSource);
    assert!(plan(&values(0.0, 0.0), 1.0, SRC).unwrap_err().to_string().starts_with("Speed must be greater than 0"));
}

#[test]
fn time_domain_covers_the_retimed_source() {
    assert_eq!(time_domain(&values(0.5, 0.0), SRC).unwrap(), Some(FrameRange::new(0.0, 198.0)));
    assert_eq!(time_domain(&values(2.0, 10.0), SRC).unwrap(), Some(FrameRange::new(0.0, 44.0)));
    assert_eq!(time_domain(&values(0.5, 0.0), None).unwrap(), None);
    assert_eq!(time_domain(&fill("3"), SRC).unwrap(), SRC);
}

fn repair(max_run: i32) -> ParamValues {
    let mut v = ParamValues::defaults(&INTERPOLATE);
    v.set(PARAM_MODE, ParamValue::Choice(MODE_REPAIR));
    v.set(PARAM_MAX_REPAIR, ParamValue::Int(max_run));
    v
}

/// Plans frame `f` of a 0..=19 clip whose repeated frames are `dups` (frame k repeats k - 1).
fn plan_with(v: &ParamValues, f: i64, dups: &[i64]) -> FramePlan {
    let src = FrameRange::new(0.0, 19.0);
    match plan(v, f as f64, Some(src)).unwrap() {
        FramePlan::Inspect { frame, window } => {
            assert_eq!(frame, f);
            plan_repair(v, frame, src, |k| {
                assert!(window.contains(k as f64) && window.contains((k - 1) as f64), "{k} read outside {window:?}");
                Ok::<_, ()>(dups.contains(&k))
            })
            .unwrap()
            .unwrap()
        }
        other => other,
    }
}

#[test]
fn repair_rebuilds_repeated_frames_between_the_good_frames_around_the_run() {
    let v = repair(4);
    let interp =
        |before: f64, after: f64, fraction: f64| FramePlan::Model(ModelWork::Interpolate { before, after, fraction });
    // Frame 5 repeats 4: rebuilt halfway between 4 and 6.
    assert_eq!(plan_with(&v, 5, &[5]), interp(4.0, 6.0, 0.5));
    assert_eq!(plan_with(&v, 4, &[5]), FramePlan::PassThrough { source_time: 4.0 });
    assert_eq!(plan_with(&v, 6, &[5]), FramePlan::PassThrough { source_time: 6.0 });
    // A run of three repeats (10, 11, 12 copy 9): each at its place between 9 and 13.
    for (f, fraction) in [(10, 0.25), (11, 0.5), (12, 0.75)] {
        assert_eq!(plan_with(&v, f, &[10, 11, 12]), interp(9.0, 13.0, fraction), "frame {f}");
    }
    // Runs longer than the longest repair are holds; runs reaching the end have no good frame after.
    assert_eq!(plan_with(&repair(2), 11, &[10, 11, 12]), FramePlan::PassThrough { source_time: 11.0 });
    assert_eq!(plan_with(&v, 18, &[18, 19]), FramePlan::PassThrough { source_time: 18.0 });
    assert_eq!(plan_with(&v, 0, &[]), FramePlan::PassThrough { source_time: 0.0 });
}
