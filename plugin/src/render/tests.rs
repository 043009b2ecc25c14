//! The render layer through fakes: a source that counts reads and can lack frames, an output
//! that records what was written or passed through, a host that records progress. Whatever
//! needs no model runs here; model runs are covered end to end in `tests/`.

use std::cell::Cell;
use std::collections::HashMap;

use super::*;
use crate::effects::interpolate::{PARAM_MODE, PARAM_SPEED};
use crate::effects::{ParamValue, EXTEND, GENERATE, INTERPOLATE, PARAM_MODEL, PARAM_NEGATIVE_PROMPT, PARAM_PROMPT};

/// Source frames by time: flat grey, a little lighter each frame (neither a cut nor a repeat).
struct FakeSource {
    frames: HashMap<i64, (f32, Rect)>,
    reads: Cell<usize>,
    fail_at: Option<i64>,
}

impl FakeSource {
    fn new(times: impl IntoIterator<Item = i64>) -> Self {
        let frames = times.into_iter().map(|t| (t, (0.52 + t as f32 / 100.0, Rect::new(0, 0, 8, 6)))).collect();
        Self { frames, reads: Cell::new(0), fail_at: None }
    }
}

impl Source for FakeSource {
    fn range(&self) -> Option<FrameRange> {
        let first = *self.frames.keys().min()?;
        let last = *self.frames.keys().max()?;
        Some(FrameRange::new(first as f64, last as f64))
    }

    fn read(&mut self, t: i64) -> RenderResult<Option<SourceFrame>> {
        self.reads.set(self.reads.get() + 1);
        if self.fail_at == Some(t) {
            return Err(RenderError::Host(format!("host error at {t}").into()));
        }
        Ok(self.frames.get(&t).map(|&(value, bounds)| {
            let frame =
                Frame::from_vec(4, bounds.height(), bounds.width(), vec![value; 4 * bounds.width() * bounds.height()])
                    .unwrap();
            SourceFrame { frame, bounds }
        }))
    }
}

#[derive(Default)]
struct FakeOutput {
    bounds: Option<Rect>,
    written: Vec<(Frame, Rect)>,
    passed: Vec<f64>,
}

impl Output for FakeOutput {
    fn bounds(&mut self) -> RenderResult<Rect> {
        Ok(self.bounds.unwrap_or(Rect::new(0, 0, 8, 6)))
    }

    fn channels(&mut self) -> RenderResult<usize> {
        Ok(4)
    }

    fn write(&mut self, frame: &Frame, covers: Rect) -> RenderResult<()> {
        self.written.push((frame.clone(), covers));
        Ok(())
    }

    fn pass_through(&mut self, source_time: f64) -> RenderResult<()> {
        self.passed.push(source_time);
        Ok(())
    }
}

#[derive(Default)]
struct FakeHost {
    progress_started: Cell<bool>,
}

impl Host for FakeHost {
    fn frame_rate(&self) -> Option<f64> {
        Some(24.0)
    }
    fn aborted(&self) -> bool {
        false
    }
    fn progress_start(&self, _: &str) {
        self.progress_started.set(true);
    }
    fn progress(&self, _: f64) {}
    fn progress_end(&self) {}
}

fn render(
    spec: &EffectSpec,
    values: &ParamValues,
    time: f64,
    source: Option<&mut FakeSource>,
    out: &mut FakeOutput,
) -> RenderResult<String> {
    let source = source.map(|s| s as &mut dyn Source);
    render_frame(spec, values, time, (1.0, 1.0), source, out, &FakeHost::default())
}

fn slow_motion(speed: f64) -> ParamValues {
    let mut values = ParamValues::defaults(&INTERPOLATE);
    values.set(PARAM_SPEED, ParamValue::Double(speed));
    values.set(PARAM_MODEL, ParamValue::String("no-such-model".into()));
    values
}

#[test]
fn whole_source_frames_pass_through_and_are_never_read_into_tensors() {
    let mut source = FakeSource::new(0..4);
    let mut out = FakeOutput::default();
    let done = render(&INTERPOLATE, &slow_motion(0.5), 2.0, Some(&mut source), &mut out).unwrap();
    assert_eq!(done, "Pass-through of source frame 1");
    assert_eq!(out.passed, [1.0]);
    assert!(out.written.is_empty());
    assert_eq!(source.reads.get(), 0);
}

#[test]
fn motion_blur_is_the_mean_of_its_samples() {
    use crate::effects::interpolate::{PARAM_SHUTTER, PARAM_SHUTTER_SAMPLES};
    // Speed 4, 360°, two samples: output frame 1 averages source frames 3 and 5 (whole frames, no model).
    let mut values = slow_motion(4.0);
    values.set(PARAM_SHUTTER, ParamValue::Double(360.0));
    values.set(PARAM_SHUTTER_SAMPLES, ParamValue::Int(2));
    let mut source = FakeSource::new(0..8);
    let mut out = FakeOutput::default();
    let done = render(&INTERPOLATE, &values, 1.0, Some(&mut source), &mut out).unwrap();
    assert!(done.starts_with("Motion blur: mean of 2 of 2 samples"), "{done}");
    let (frame, _) = &out.written[0];
    let want = (0.52 + 0.03 + 0.52 + 0.05) / 2.0;
    assert!(frame.data.iter().all(|v| (v - want).abs() < 1e-6), "{:?}", &frame.data[..4]);
    assert!(out.passed.is_empty());
}

#[test]
fn each_source_frame_is_read_once_per_render() {
    let mut source = FakeSource::new(0..4);
    let mut frames = SourceFrames::new(&mut source);
    for t in [1, 2, 1, 2, 9, 9] {
        frames.get(t).unwrap();
    }
    assert!(frames.get(9).unwrap().is_none());
    drop(frames);
    assert_eq!(source.reads.get(), 3);
}

#[test]
fn a_missing_neighbour_shows_the_one_the_host_has() {
    let mut source = FakeSource::new(0..4);
    source.frames.remove(&2);
    let mut out = FakeOutput::default();
    // Time 3 at half speed is source 1.5: frame 1 exists, frame 2 does not.
    let done = render(&INTERPOLATE, &slow_motion(0.5), 3.0, Some(&mut source), &mut out).unwrap();
    assert_eq!(done, "Showing source frame 1 because the host has no source frame 2");
    assert_eq!(out.passed, [1.0]);
    source.frames.remove(&1);
    let err = render(&INTERPOLATE, &slow_motion(0.5), 3.0, Some(&mut source), &mut out).unwrap_err();
    assert_eq!(err.to_string(), "The host delivered neither source frame 1 nor 2.");
}

#[test]
fn neighbours_of_different_sizes_show_the_one_that_fits_the_output() {
    let mut source = FakeSource::new(0..4);
    source.frames.get_mut(&2).unwrap().1 = Rect::new(0, 0, 16, 12);
    let mut out = FakeOutput { bounds: Some(Rect::new(0, 0, 16, 12)), ..Default::default() };
    // Nearer to frame 1 (fraction 0.25), but frame 2 has the output's size.
    let values = slow_motion(0.25);
    let done = render(&INTERPOLATE, &values, 5.0, Some(&mut source), &mut out).unwrap();
    assert_eq!(done, "Showing source frame 2 because source frames 1 and 2 differ in size");
    assert_eq!(out.passed, [2.0]);
}

#[test]
fn a_cut_between_neighbours_shows_the_nearer_source_frame() {
    let mut source = FakeSource::new(0..4);
    source.frames.get_mut(&2).unwrap().0 = 0.95;
    let mut out = FakeOutput::default();
    let done = render(&INTERPOLATE, &slow_motion(0.25), 5.0, Some(&mut source), &mut out).unwrap();
    assert_eq!(done, "Showing source frame 1 because a scene cut lies between source frames 1 and 2");
    assert_eq!(out.passed, [1.0]);
}

#[test]
fn an_in_between_that_needs_the_model_fails_with_its_reason_and_writes_nothing() {
    let mut source = FakeSource::new(0..4);
    let mut out = FakeOutput::default();
    let err = render(&INTERPOLATE, &slow_motion(0.5), 3.0, Some(&mut source), &mut out).unwrap_err();
    assert!(err.to_string().contains("no-such-model"), "{err}");
    assert!(out.written.is_empty() && out.passed.is_empty());
}

#[test]
fn host_errors_come_back_as_host_errors() {
    let mut source = FakeSource::new(0..4);
    source.fail_at = Some(2);
    let mut out = FakeOutput::default();
    let err = render(&INTERPOLATE, &slow_motion(0.5), 3.0, Some(&mut source), &mut out).unwrap_err();
    assert!(matches!(&err, RenderError::Host(e) if e.to_string() == "host error at 2"), "{err:?}");
}

#[test]
fn repair_rebuilds_a_repeated_frame_and_passes_the_others_through() {
    let mut source = FakeSource::new(0..6);
    source.frames.get_mut(&3).unwrap().0 = source.frames[&2].0;
    let mut values = slow_motion(1.0);
    values.set(PARAM_MODE, ParamValue::Choice(crate::effects::interpolate::MODE_REPAIR));
    let mut out = FakeOutput::default();
    assert_eq!(
        render(&INTERPOLATE, &values, 4.0, Some(&mut source), &mut out).unwrap(),
        "Pass-through of source frame 4"
    );
    // Frame 3 repeats frame 2: rebuilt between 2 and 4, which needs the model.
    let err = render(&INTERPOLATE, &values, 3.0, Some(&mut source), &mut out).unwrap_err();
    assert!(err.to_string().contains("no-such-model"), "{err}");
    assert_eq!(out.passed, [4.0]);
}

#[test]
fn without_a_source_interpolate_and_extend_say_so() {
    let mut out = FakeOutput::default();
    let err = render(&INTERPOLATE, &slow_motion(0.5), 3.0, None, &mut out).unwrap_err();
    assert!(err.to_string().starts_with("The Source clip"), "{err}");
    let mut values = ParamValues::defaults(&EXTEND);
    values.set(PARAM_PROMPT, ParamValue::String("a calm sea".into()));
    let err = render(&EXTEND, &values, 3.0, None, &mut out).unwrap_err();
    assert!(err.to_string().starts_with("The Source clip"), "{err}");
}

fn prompt(prompt: &str, negative: &str) -> ParamValues {
    let mut values = ParamValues::defaults(&GENERATE);
    values.set(PARAM_PROMPT, ParamValue::String(prompt.into()));
    values.set(PARAM_NEGATIVE_PROMPT, ParamValue::String(negative.into()));
    values.set(PARAM_MODEL, ParamValue::String("no-such-model".into()));
    values
}

#[test]
fn generate_needs_a_prompt_and_the_policy_comes_before_any_model_work() {
    let mut out = FakeOutput::default();
    let err = render(&GENERATE, &prompt("  ", ""), 0.0, None, &mut out).unwrap_err();
    assert_eq!(err.to_string(), "Enter a prompt: Generate makes the shot from it.");
    // A blocked prompt (or a negative prompt inverting it) is refused before the model is looked
    // for: the error names the policy, not the missing model, and no progress bar opened.
    for (p, n, category) in
        [("a close-up of gore", "", "graphic violence"), ("a woman on a beach", "clothes, swimsuit", "sexual content")]
    {
        let host = FakeHost::default();
        let err = render_frame(&GENERATE, &prompt(p, n), 0.0, (1.0, 1.0), None, &mut out, &host).unwrap_err();
        assert!(err.to_string().contains(category), "{err}");
        assert!(!host.progress_started.get());
    }
    // A fine prompt gets as far as the model, also with a negative prompt listing categories.
    let err = render(&GENERATE, &prompt("a calm sea", "nsfw, gore"), 0.0, None, &mut out).unwrap_err();
    assert!(err.to_string().contains("no-such-model"), "{err}");
    assert!(out.written.is_empty() && out.passed.is_empty());
}

#[test]
fn frames_outside_the_shot_are_refused_with_a_capitalised_reason() {
    let mut out = FakeOutput::default();
    let err = render(&GENERATE, &prompt("a calm sea", ""), 99.0, None, &mut out).unwrap_err();
    assert!(err.to_string().starts_with("Frame 99 is outside"), "{err}");
    assert_eq!(frame_label(12.0), "12");
    assert_eq!(frame_label(12.5), "12.5");
    assert_eq!(capitalize("the Source clip"), "The Source clip");
}

#[test]
fn shot_settings_read_only_the_parameters_an_effect_has() {
    let generate = generate::ShotParams::read(&prompt(" a calm sea ", "")).unwrap();
    assert_eq!(generate.prompt, "a calm sea");
    assert_eq!((generate.extend_frames, generate.match_source, generate.seam_blend), (None, None, None));
    assert_eq!(generate.length, Some(17));
    let extend = generate::ShotParams::read(&ParamValues::defaults(&EXTEND)).unwrap();
    assert!(extend.extend_frames.is_some() && extend.match_source.is_some() && extend.seam_blend.is_some());
}

#[test]
fn a_gap_with_a_missing_model_or_a_blocked_prompt_fails_and_writes_nothing() {
    use crate::effects::gap::{GAP_AUTO, GAP_GENERATE, GAP_INTERPOLATE, PARAM_GAP_METHOD, PARAM_GAP_MODEL};
    use crate::effects::interpolate::{MODE_FILL, PARAM_FILL};
    let mut values = ParamValues::defaults(&INTERPOLATE);
    values.set(PARAM_MODE, ParamValue::Choice(MODE_FILL));
    values.set(PARAM_FILL, ParamValue::String("2-4".into()));
    values.set(PARAM_GAP_MODEL, ParamValue::String("no-such-model".into()));
    values.set(PARAM_MODEL, ParamValue::String("no-such-rife".into()));
    // Auto needs the generation model's manifest to decide; Generate needs the model itself.
    for method in [GAP_AUTO, GAP_GENERATE] {
        values.set(PARAM_GAP_METHOD, ParamValue::Choice(method));
        let mut source = FakeSource::new(0..8);
        let mut out = FakeOutput::default();
        let err = render(&INTERPOLATE, &values, 3.0, Some(&mut source), &mut out).unwrap_err().to_string();
        assert!(err.starts_with("Gap Model 'no-such-model': "), "{err}");
        assert!(out.written.is_empty() && out.passed.is_empty(), "nothing made up in its place");
        let good = render(&INTERPOLATE, &values, 1.0, Some(&mut source), &mut out).unwrap();
        assert_eq!(good, "Pass-through of source frame 1");
    }
    // A blocked Gap Prompt is refused before the model is looked for.
    values.set(PARAM_GAP_METHOD, ParamValue::Choice(GAP_GENERATE));
    values.set(crate::effects::gap::PARAM_GAP_PROMPT, ParamValue::String("a close-up of gore".into()));
    let mut out = FakeOutput::default();
    let err = render(&INTERPOLATE, &values, 3.0, Some(&mut FakeSource::new(0..8)), &mut out).unwrap_err().to_string();
    assert!(err.contains("graphic violence") && !err.contains("no-such-model"), "{err}");
    assert!(out.written.is_empty());
    // Interpolate never opens the generation model: the interpolation model's own error.
    values.set(PARAM_GAP_METHOD, ParamValue::Choice(GAP_INTERPOLATE));
    let mut out = FakeOutput::default();
    let err = render(&INTERPOLATE, &values, 3.0, Some(&mut FakeSource::new(0..8)), &mut out).unwrap_err().to_string();
    assert!(err.contains("no-such-rife") && !err.contains("Gap Model"), "{err}");
    assert!(out.written.is_empty());
    // Auto with the default Gap Model (nobody asked for generation) interpolates when that model
    // cannot open, here as in a bundle without it: RIFE's error, not the gap model's.
    values.set(PARAM_GAP_METHOD, ParamValue::Choice(GAP_AUTO));
    values.set(PARAM_GAP_MODEL, ParamValue::String(String::new()));
    values.set(crate::effects::gap::PARAM_GAP_PROMPT, ParamValue::String(String::new()));
    let mut out = FakeOutput::default();
    let err = render(&INTERPOLATE, &values, 3.0, Some(&mut FakeSource::new(0..8)), &mut out).unwrap_err().to_string();
    assert!(err.contains("no-such-rife") && !err.contains("Gap Model"), "{err}");
}

#[test]
fn fill_frames_reads_as_many_context_frames_as_a_manifest_may_ask_for() {
    // The effect plans without the model; the manifest check without the effect.
    assert_eq!(crate::effects::gap::MAX_CONTEXT_FRAMES, crate::diffusion::gap::MAX_CONTEXT_FRAMES);
}
