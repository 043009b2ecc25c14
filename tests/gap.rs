//! Fill Frames' Gap Method through the real bundle, on the bundle's Kinema-tiny: a gap of 8
//! missing frames generated between the good frames around it (rendered out of order on two
//! threads, made once), the good frames bit-exact, the made frames neither copies of the end
//! frames nor RIFE's, made from as many good frames each side as the manifest asks; Auto on
//! Kinema-tiny (whose manifest generates gaps of 8 frames that have a Gap Prompt) interpolates
//! without a prompt and generates with one; a model whose manifest states `gap.min_frames` has
//! Auto generate gaps that long and interpolate shorter ones; a Gap Model that does not exist, or
//! whose `gap` block is invalid, fails those frames with its name and renders nothing; and
//! `kinema interpolate --gap generate` gives the same frames.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use kinema_e2e::*;
use kinema_host::{ClipSource, Context, HostImage, Instance, ParamValue, RenderOutput, RenderRequest};

/// 8 missing frames, between the good frames 3 and 12.
const GAP: RangeInclusive<i64> = 4..=11;

fn fill(source: &BTreeMap<i64, HostImage>, method: &str) -> Instance {
    let inst = load_bundle().create_instance(INTERPOLATE, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(source.clone())).unwrap();
    inst.set_param_str("mode", "Fill Frames").unwrap();
    inst.set_param("fill_frames", ParamValue::String("4-11".into())).unwrap();
    inst.set_param_str("gap_method", method).unwrap();
    inst
}

fn render(inst: &Instance, frames: Vec<i64>, threads: usize) -> RenderOutput {
    let out = inst.render(&RenderRequest { frames, threads, ..Default::default() }).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    out
}

fn image(out: &RenderOutput, t: i64) -> &HostImage {
    out.frames[&t].as_ref().unwrap_or_else(|e| panic!("frame {t}: {e:?}"))
}

#[test]
fn a_generated_gap_keeps_the_good_frames_and_makes_its_own_in_betweens() {
    let source = tiny_fixture_clip();
    let inst = fill(&source, "Generate");
    inst.set_param("gap_prompt", ParamValue::String(TINY_FIXTURE_PROMPT.into())).unwrap();
    inst.set_param("gap_seed", ParamValue::Int(3)).unwrap();
    // Out of order, on two threads: the gap's shot is made once and served to each frame.
    let order = vec![8, 0, 16, 3, 12, 4, 11, 5, 6, 7, 9, 10, 1, 2, 13, 14, 15];
    let started = std::time::Instant::now();
    let generated = render(&inst, order, 2);
    eprintln!("17 frames with a generated 8-frame gap: {:.1} s", started.elapsed().as_secs_f64());
    assert!(generated.failures().is_empty(), "{:?}", generated.failures());
    for t in (0..17).filter(|t| !GAP.contains(t)) {
        assert!(image(&generated, t).data == source[&t].data, "good frame {t} is not bit-exact");
    }
    render(&inst, vec![7], 1);
    let said = status(&inst);
    assert!(said.starts_with("Frames 4–11: generated (kinema-tiny, seed 3)"), "{said}");

    let rife = fill(&source, "Interpolate");
    let interpolated = render(&rife, GAP.collect(), 2);
    assert!(interpolated.failures().is_empty(), "{:?}", interpolated.failures());
    assert!(status(&rife).starts_with("Frames 4–11: interpolated (RIFE)"), "{}", status(&rife));
    for t in GAP {
        let made = image(&generated, t);
        let (to_before, to_after) = (mean_abs(made, &source[&3]), mean_abs(made, &source[&12]));
        let to_rife = mean_abs(made, image(&interpolated, t));
        eprintln!(
            "frame {t}: from frame 3 {to_before:.4}, from frame 12 {to_after:.4}, from RIFE {to_rife:.4}, from the truth {:.4}",
            mean_abs(made, &source[&t])
        );
        assert!(to_before > 1e-3 && to_after > 1e-3, "frame {t} copies an end frame");
        assert!(to_rife > 1e-3, "frame {t} is RIFE's");
    }

    // The same gap from the command line: the shot is the same, so the frames are too.
    let dir = std::env::temp_dir().join(format!("kinema-gap-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = kinema_bundle::workspace_root().join("models/kinema-tiny/fixtures/extend_source/%04d.png");
    let out = std::process::Command::new(kinema_exe())
        .arg("--bundle")
        .arg(bundle_path())
        .arg("interpolate")
        .arg(&fixtures)
        .args(["--fill", "4-11", "--gap", "generate", "--gap-prompt", TINY_FIXTURE_PROMPT, "--gap-seed", "3", "--out"])
        .arg(dir.join("%04d.png"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for t in [3, 4, 8, 11, 12] {
        let written = HostImage::load(&dir.join(format!("{t:04}.png"))).unwrap();
        assert!(written.data == image(&generated, t).data, "kinema interpolate frame {t} differs from the render");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn auto_on_kinema_tiny_generates_a_prompted_gap_and_interpolates_without_a_prompt() {
    let source = tiny_fixture_clip();
    let auto = fill(&source, "Auto");
    let out = render(&auto, vec![3, 6, 12], 1);
    let rife = render(&fill(&source, "Interpolate"), vec![6], 1);
    assert!(image(&out, 6).data == image(&rife, 6).data, "Auto's frame is RIFE's");
    assert!(image(&out, 3).data == source[&3].data && image(&out, 12).data == source[&12].data);
    render(&auto, vec![6], 1);
    let said = status(&auto);
    let rule = "Auto: kinema-tiny generates gaps of 8 frames or more that have a Gap Prompt";
    assert!(said.starts_with(&format!("Frames 4–11: interpolated (RIFE, {rule})")), "{said}");

    // With the shot's caption as Gap Prompt, Auto makes what Generate makes.
    let prompted = |method: &str| {
        let inst = fill(&source, method);
        inst.set_param("gap_prompt", ParamValue::String(TINY_FIXTURE_PROMPT.into())).unwrap();
        let out = render(&inst, vec![6], 1);
        (image(&out, 6).clone(), status(&inst))
    };
    let ((auto_made, said), (generated, _)) = (prompted("Auto"), prompted("Generate"));
    assert!(auto_made.data == generated.data, "Auto generated the gap");
    assert!(said.starts_with(&format!("Frames 4–11: generated (kinema-tiny, seed 0, {rule})")), "{said}");
}

#[test]
fn a_gap_model_that_does_not_exist_fails_the_gap_and_renders_nothing() {
    let source = tiny_fixture_clip();
    for method in ["Generate", "Auto"] {
        let inst = fill(&source, method);
        inst.set_param("gap_model", ParamValue::String("no-such-model".into())).unwrap();
        let out = render(&inst, vec![3, 7], 1);
        assert!(image(&out, 3).data == source[&3].data, "{method}: a good frame still passes through");
        let failure = out.frames[&7].as_ref().expect_err("the gap frame must fail");
        assert!(failure.message.contains("Gap Model 'no-such-model'"), "{method}: {}", failure.message);
        assert!(status(&inst).contains("Gap Model 'no-such-model'"), "{method}: {}", status(&inst));
    }
}

/// Fill Frames generating frames 4-11 of `clip` with the model folder `model`, the fixture's
/// caption as Gap Prompt.
fn generating(clip: &BTreeMap<i64, HostImage>, model: &Path) -> Instance {
    let inst = fill(clip, "Generate");
    inst.set_param("gap_model", ParamValue::String(model.to_string_lossy().into_owned())).unwrap();
    inst.set_param("gap_prompt", ParamValue::String(TINY_FIXTURE_PROMPT.into())).unwrap();
    inst
}

/// A copy of Kinema-tiny whose manifest has `gap` as its gap block (its folder); the copy and the
/// folder holding it go when it is dropped, also when the test fails.
fn tiny_with_gap(name: &str, gap: serde_json::Value) -> GapModel {
    let dir = std::env::temp_dir().join(format!("kinema-gap-model-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let model = copy_model("kinema-tiny", &dir, |m| m["gap"] = gap);
    GapModel { dir, model }
}

struct GapModel {
    dir: PathBuf,
    model: PathBuf,
}

impl std::ops::Deref for GapModel {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.model
    }
}

impl Drop for GapModel {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn auto_generates_the_gaps_a_models_manifest_says_it_wins_on() {
    let source = tiny_fixture_clip();
    let rife = render(&fill(&source, "Interpolate"), vec![7], 1);
    let auto_with = |model: &PathBuf| {
        let inst = fill(&source, "Auto");
        inst.set_param("gap_model", ParamValue::String(model.to_string_lossy().into_owned())).unwrap();
        inst.set_param("gap_prompt", ParamValue::String(TINY_FIXTURE_PROMPT.into())).unwrap();
        let out = render(&inst, vec![3, 7, 12], 1);
        // Status shows the frame rendered last.
        render(&inst, vec![7], 1);
        (out, status(&inst))
    };

    // 8 missing frames or more are generated (with the block's own steps).
    let eager = tiny_with_gap("eager", serde_json::json!({"min_frames": 8, "steps": 8}));
    let (out, said) = auto_with(&eager);
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    assert!(image(&out, 3).data == source[&3].data && image(&out, 12).data == source[&12].data);
    let name = eager.display();
    assert!(
        said.starts_with(&format!(
            "Frames 4–11: generated ({name}, seed 0, Auto: {name} generates gaps of 8 frames or more)"
        )),
        "{said}"
    );
    assert!(mean_abs(image(&out, 7), image(&rife, 7)) > 1e-3, "Auto generated, not RIFE");

    // 9 or more: this gap of 8 is interpolated.
    let wary = tiny_with_gap("wary", serde_json::json!({"min_frames": 9}));
    let (out, said) = auto_with(&wary);
    assert!(image(&out, 7).data == image(&rife, 7).data, "Auto interpolated");
    assert!(
        said.contains(&format!("interpolated (RIFE, Auto: {} generates gaps of 9 frames or more)", wary.display())),
        "{said}"
    );

    // A gap block the runtime cannot use is named, and nothing is rendered in the gap.
    let broken = tiny_with_gap("broken", serde_json::json!({"min_frames": 0}));
    let (out, said) = auto_with(&broken);
    assert!(image(&out, 3).data == source[&3].data);
    let failure = out.frames[&7].as_ref().expect_err("an invalid gap block fails the gap");
    assert!(failure.message.contains("gap: min_frames 0 must be 1 to"), "{}", failure.message);
    assert!(said.contains("gap: min_frames 0"), "{said}");
}

#[test]
fn a_generated_gap_reads_as_many_good_frames_each_side_as_its_manifest_asks() {
    // Which source frames a generated frame of the gap depends on: each listed frame in turn is
    // replaced by another picture (frame 16's) and the gap made again.
    let source = tiny_fixture_clip();
    let made_with = |model: &PathBuf, changed: Option<i64>| {
        let mut clip = source.clone();
        if let Some(t) = changed {
            clip.insert(t, source[&16].clone());
        }
        let inst = generating(&clip, model);
        let out = render(&inst, vec![t_before(), 7, t_after()], 1);
        assert!(out.failures().is_empty(), "{:?}", out.failures());
        assert!(image(&out, t_before()).data == clip[&t_before()].data, "the good frame passes through");
        image(&out, 7).clone()
    };
    fn t_before() -> i64 {
        *GAP.start() - 1
    }
    fn t_after() -> i64 {
        *GAP.end() + 1
    }
    // Three each side: frames 1–3 before the gap and 12–14 after it condition the shot.
    let three = tiny_with_gap("three", serde_json::json!({"context_frames": 3, "steps": 4}));
    let base = made_with(&three, None);
    for (t, read) in [(0, false), (1, true), (2, true), (14, true), (15, false)] {
        let differs = mean_abs(&made_with(&three, Some(t)), &base) > 1e-4;
        assert_eq!(differs, read, "three context frames: does frame 7 depend on frame {t}?");
    }
    // A context frame the host cannot give ends the run there: the gap is still made.
    let mut holed = source.clone();
    holed.remove(&1);
    let inst = generating(&holed, &three);
    let out = render(&inst, vec![7], 1);
    assert!(out.failures().is_empty(), "a missing context frame fails the gap: {:?}", out.failures());
    assert!(mean_abs(image(&out, 7), &base) > 1e-4, "frames 2-3 are fewer than 1-3 (cut to 3 alone)");
    // One each side: only the frames at the gap's ends.
    let one = tiny_with_gap("one", serde_json::json!({"context_frames": 1, "steps": 4}));
    let base = made_with(&one, None);
    for (t, read) in [(2, false), (3, true), (13, false)] {
        let differs = mean_abs(&made_with(&one, Some(t)), &base) > 1e-4;
        assert_eq!(differs, read, "one context frame: does frame 7 depend on frame {t}?");
    }
}

#[test]
fn a_gap_too_long_for_its_context_in_one_window_reads_fewer_good_frames_or_goes_long() {
    // The fixture and its reverse: 34 frames of a square moving right and back.
    let forward = tiny_fixture_clip();
    let source: BTreeMap<i64, HostImage> =
        (0..34).map(|t| (t, forward[&if t < 17 { t } else { 33 - t }].clone())).collect();
    let model = tiny_with_gap("windowed", serde_json::json!({"context_frames": 3, "steps": 4}));
    let made_with = |list: &str, frame: i64, changed: Option<i64>| {
        let mut clip = source.clone();
        if let Some(t) = changed {
            clip.insert(t, source[&8].clone());
        }
        let inst = generating(&clip, &model);
        inst.set_param("fill_frames", ParamValue::String(list.into())).unwrap();
        let out = render(&inst, vec![frame], 1);
        assert!(out.failures().is_empty(), "{list}: {:?}", out.failures());
        (image(&out, frame).clone(), status(&inst))
    };
    // 12 missing frames and 3 good ones each side would be 18 frames, past Kinema-tiny's
    // 17-frame window: the shot keeps the 3 leading into the gap (3-5) and 1 after it (18).
    let (base, said) = made_with("6-17", 11, None);
    assert!(said.contains("between keyframes 5 and 18 (17 frames, seed 0;"), "one window: {said}");
    for (t, read) in [(2, false), (3, true), (18, true), (19, false)] {
        let differs = mean_abs(&made_with("6-17", 11, Some(t)).0, &base) > 1e-4;
        assert_eq!(differs, read, "12-frame gap: does frame 11 depend on frame {t}?");
    }
    // 20 missing frames: longer than a window even with one frame each side; made in windows.
    let inst = generating(&source, &model);
    inst.set_param("fill_frames", ParamValue::String("6-25".into())).unwrap();
    let out = render(&inst, vec![5, 6, 15, 25, 26], 1);
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    assert!(image(&out, 5).data == source[&5].data && image(&out, 26).data == source[&26].data);
    render(&inst, vec![15], 1);
    let said = status(&inst);
    assert!(said.contains("between keyframes 5 and 26 (23 frames in 2 windows of 17,"), "made in windows: {said}");
}
