//! Interpolate's Fill Frames: the listed frames are rebuilt gap by gap (a gap is a run of listed
//! frames between two good ones). Gap Method says how: RIFE in-betweens (Interpolate), a shot
//! the video model makes between the good frames before and after the gap (Generate: as many
//! good frames each side as the model's manifest asks for, `gap.context_frames`, so the model
//! sees how things move into and out of the gap), or Auto, which generates only the gaps the
//! manifest says generation wins on (`gap.min_frames`, `gap.auto_needs_prompt`), and
//! interpolates the rest. The good frames always pass through bit-exact.

use std::ffi::CStr;

use super::interpolate::{whole_frame, PARAM_FILL};
use super::{parse_frame_list, EffectError, FramePlan, FrameRange, ModelWork, ParamKind, ParamSpec, ParamValues};
use super::{PAGE_ADVANCED, PAGE_MAIN};

pub const PARAM_GAP_METHOD: &CStr = c"gap_method";
pub const PARAM_GAP_PROMPT: &CStr = c"gap_prompt";
pub const PARAM_GAP_MODEL: &CStr = c"gap_model";
pub const PARAM_GAP_SEED: &CStr = c"gap_seed";

pub const GAP_AUTO: usize = 0;
pub const GAP_INTERPOLATE: usize = 1;
pub const GAP_GENERATE: usize = 2;

/// The generation model a gap uses when Gap Model is empty: the bundle's own.
pub const DEFAULT_GAP_MODEL: &str = "kinema-tiny";

pub(super) const METHOD_PARAM: ParamSpec = ParamSpec {
    name: PARAM_GAP_METHOD,
    label: c"Gap Method",
    hint: c"Fill Frames: how each gap (a run of listed frames) is rebuilt. Interpolate: RIFE in-betweens from the good frames at each end. Generate: the video model (Gap Model) makes the frames between, from the good frames on each side, guided by Gap Prompt. Auto: Generate for the gaps the model's manifest says generation wins on (Kinema-tiny: 8 frames or more, with a Gap Prompt), Interpolate otherwise. Status names the method each gap got.",
    page: PAGE_MAIN,
    kind: ParamKind::Choice { options: &[c"Auto", c"Interpolate", c"Generate"], default: GAP_AUTO },
};

pub(super) const PROMPT_PARAM: ParamSpec = ParamSpec {
    name: PARAM_GAP_PROMPT,
    label: c"Gap Prompt",
    hint: c"Fill Frames, generated gaps: what the missing frames show (for example the clip's caption). Empty leaves it to the good frames on each side; a description of the shot places moving objects better (Auto generates Kinema-tiny's gaps only with one).",
    page: PAGE_MAIN,
    kind: ParamKind::String { default: c"", multiline: false },
};

pub(super) const MODEL_PARAM: ParamSpec = ParamSpec {
    name: PARAM_GAP_MODEL,
    label: c"Gap Model",
    hint: c"Fill Frames: the video generation model for generated gaps (a name on the model path or a folder). Empty uses the bundle's Kinema-tiny.",
    page: PAGE_ADVANCED,
    kind: ParamKind::String { default: c"", multiline: false },
};

pub(super) const SEED_PARAM: ParamSpec = ParamSpec {
    name: PARAM_GAP_SEED,
    label: c"Gap Seed",
    hint: c"Fill Frames, generated gaps: the noise seed; the same seed and settings give the same frames.",
    page: PAGE_MAIN,
    kind: ParamKind::Int { default: 0, min: 0, max: i32::MAX, display_min: 0, display_max: 100_000 },
};

/// How a gap is filled, as chosen (Auto is decided against the model's manifest when rendering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapMethod {
    Auto,
    Interpolate,
    Generate,
}

/// The gap settings, read once per render.
#[derive(Clone, Debug, PartialEq)]
pub struct GapParams {
    pub method: GapMethod,
    pub prompt: String,
    /// The model name or folder, with the default put in for an empty Gap Model.
    pub model: String,
    pub seed: u64,
}

pub fn params(values: &ParamValues) -> Result<GapParams, EffectError> {
    let method = match values.choice(PARAM_GAP_METHOD)? {
        GAP_AUTO => GapMethod::Auto,
        GAP_INTERPOLATE => GapMethod::Interpolate,
        GAP_GENERATE => GapMethod::Generate,
        other => return Err(EffectError::InvalidParam("Gap Method", format!("option {other} does not exist"))),
    };
    let model = values.string(PARAM_GAP_MODEL)?.trim();
    // A host that does not enforce the declared minimum may hand over a negative seed: 0, as
    // Generate's Seed does (Status shows the seed used), so an interpolated gap never fails on it.
    let seed = values.int(PARAM_GAP_SEED)?.max(0);
    Ok(GapParams {
        method,
        prompt: values.string(PARAM_GAP_PROMPT)?.trim().to_string(),
        model: if model.is_empty() { DEFAULT_GAP_MODEL.to_string() } else { model.to_string() },
        seed: seed as u64,
    })
}

/// The most good frames each side of a gap (counting the one next to it) a generated gap may
/// read: what a manifest's `gap.context_frames` may ask for at most.
pub const MAX_CONTEXT_FRAMES: usize = 9;

/// Auto's choice: generate a gap of `missing` frames only where the model's manifest states the
/// shortest gap generation wins on (`min_frames`), the gap is at least that long, and it has a
/// Gap Prompt if the manifest says generation wins only with one (`needs_prompt`).
pub fn auto_generates(min_frames: Option<usize>, needs_prompt: bool, missing: u64, prompted: bool) -> bool {
    min_frames.is_some_and(|min| missing >= min as u64) && (prompted || !needs_prompt)
}

/// Fill Frames: a listed frame is rebuilt between the good frames around its gap; any other
/// frame passes through.
pub(super) fn plan_fill(values: &ParamValues, t: f64, source: FrameRange) -> Result<FramePlan, EffectError> {
    let bad = parse_frame_list(values.string(PARAM_FILL)?)?;
    let frame = match whole_frame(t) {
        Some(f) if bad.contains(f as i64) => f as i64,
        _ => return Ok(FramePlan::PassThrough { source_time: t }),
    };
    let (first, last) = (source.first.ceil() as i64, source.last.floor() as i64);
    let before = bad.unlisted_before(frame).filter(|&b| b >= first);
    let after = bad.unlisted_after(frame).filter(|&a| a <= last);
    match (before, after) {
        (Some(b), Some(a)) => {
            // A gap that may be generated reads the run of good frames beyond each end (up to
            // the most a manifest may ask for, stopping at another gap or the source's ends);
            // an interpolated one only the two frames at its ends. So does Auto without a Gap
            // Prompt, which mostly interpolates (Kinema-tiny's manifest generates only prompted
            // gaps): hosts render every frame a plan names.
            let method = values.choice(PARAM_GAP_METHOD).ok();
            let prompted = values.string(PARAM_GAP_PROMPT).is_ok_and(|p| !p.trim().is_empty());
            let reach = match method {
                Some(GAP_INTERPOLATE) => 0,
                Some(GAP_AUTO) if !prompted => 0,
                _ => MAX_CONTEXT_FRAMES - 1,
            };
            let good = |t: i64| t >= first && t <= last && !bad.contains(t);
            let lead = (1..=reach as i64).take_while(|&k| b.checked_sub(k).is_some_and(good)).count() as i64;
            let trail = (1..=reach as i64).take_while(|&k| a.checked_add(k).is_some_and(good)).count() as i64;
            let context = FrameRange::new((b - lead) as f64, (a + trail) as f64);
            Ok(FramePlan::Model(ModelWork::Gap { before: b as f64, after: a as f64, frame, context }))
        }
        _ => Err(EffectError::InvalidParam(
            "Fill Frames",
            format!("frame {frame} has no good frame on both sides inside the source (frames {first} to {last})"),
        )),
    }
}

/// Where `frame` lies between the good frames `before` and `after` (0 < fraction < 1).
pub fn fraction(before: f64, after: f64, frame: i64) -> f64 {
    // In i128: the source may span more than an i64 can count.
    let (b, a) = (before as i128, after as i128);
    (i128::from(frame) - b) as f64 / (a - b) as f64
}

/// The missing frames of the gap between the good frames `before` and `after`.
pub fn missing(before: f64, after: f64) -> u64 {
    (after as i128 - before as i128 - 1).clamp(0, i128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::super::interpolate::{plan, MODE_FILL, PARAM_MODE};
    use super::*;
    use crate::effects::{ParamValue, INTERPOLATE};

    fn fill(list: &str) -> ParamValues {
        let mut v = ParamValues::defaults(&INTERPOLATE);
        v.set(PARAM_MODE, ParamValue::Choice(MODE_FILL));
        v.set(PARAM_FILL, ParamValue::String(list.into()));
        v
    }

    const SRC: Option<FrameRange> = Some(FrameRange { first: 0.0, last: 99.0 });

    fn gap(before: f64, after: f64, frame: i64, context: (f64, f64)) -> FramePlan {
        FramePlan::Model(ModelWork::Gap { before, after, frame, context: FrameRange::new(context.0, context.1) })
    }

    #[test]
    fn fill_rebuilds_listed_frames_between_the_good_frames_around_their_gap() {
        let mut v = fill("12, 40-42");
        v.set(PARAM_GAP_PROMPT, ParamValue::String("a red circle moving right".into()));
        assert_eq!(plan(&v, 11.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 11.0 });
        // Auto may generate: the good frames beyond each end are read too, up to another gap.
        assert_eq!(plan(&v, 12.0, SRC).unwrap(), gap(11.0, 13.0, 12, (3.0, 21.0)));
        assert_eq!(plan(&v, 41.0, SRC).unwrap(), gap(39.0, 43.0, 41, (31.0, 51.0)));
        assert_eq!(INTERPOLATE.frames_needed(&v, 40.0, SRC).unwrap(), Some(FrameRange::new(31.0, 51.0)));
        let mut near = fill("3, 5-6, 98");
        near.set(PARAM_GAP_METHOD, ParamValue::Choice(GAP_GENERATE));
        assert_eq!(plan(&near, 5.0, SRC).unwrap(), gap(4.0, 7.0, 5, (4.0, 15.0)), "frame 3 is another gap");
        assert_eq!(plan(&near, 3.0, SRC).unwrap(), gap(2.0, 4.0, 3, (0.0, 4.0)), "the source starts at 0");
        assert_eq!(plan(&near, 98.0, SRC).unwrap(), gap(97.0, 99.0, 98, (89.0, 99.0)), "and ends at 99");
        // An interpolated gap reads only its two good frames; so does Auto without a Gap Prompt.
        let mut rife = v.clone();
        rife.set(PARAM_GAP_METHOD, ParamValue::Choice(GAP_INTERPOLATE));
        assert_eq!(plan(&rife, 41.0, SRC).unwrap(), gap(39.0, 43.0, 41, (39.0, 43.0)));
        assert_eq!(INTERPOLATE.frames_needed(&rife, 40.0, SRC).unwrap(), Some(FrameRange::new(39.0, 43.0)));
        let unprompted = fill("12, 40-42");
        assert_eq!(plan(&unprompted, 41.0, SRC).unwrap(), gap(39.0, 43.0, 41, (39.0, 43.0)));
        assert_eq!(fraction(39.0, 43.0, 41), 0.5);
        assert_eq!(missing(39.0, 43.0), 3);
        // The frame takes the size of the nearer good frame (halfway: the later one).
        assert_eq!(plan(&v, 40.0, SRC).unwrap().size_frame(), Some(39.0));
        assert_eq!(plan(&v, 41.0, SRC).unwrap().size_frame(), Some(43.0));
    }

    #[test]
    fn fill_errors_name_the_problem() {
        let err = plan(&fill("12, x"), 12.0, SRC).unwrap_err();
        assert!(err.to_string().starts_with("Fill Frames: 'x' (item 2)"), "{err}");
        let err = plan(&fill("0-1"), 0.0, SRC).unwrap_err();
        assert!(err.to_string().contains("no good frame on both sides"), "{err}");
        // A list that does not touch this frame still passes it through.
        assert_eq!(plan(&fill("98-99"), 5.0, SRC).unwrap(), FramePlan::PassThrough { source_time: 5.0 });
    }

    #[test]
    fn gap_settings_default_to_auto_and_the_bundles_model() {
        let mut v = fill("3");
        let p = params(&v).unwrap();
        assert_eq!(
            p,
            GapParams { method: GapMethod::Auto, prompt: String::new(), model: "kinema-tiny".into(), seed: 0 }
        );
        v.set(PARAM_GAP_METHOD, ParamValue::Choice(GAP_GENERATE));
        v.set(PARAM_GAP_PROMPT, ParamValue::String("  a red circle moving right ".into()));
        v.set(PARAM_GAP_MODEL, ParamValue::String(" /models/mine ".into()));
        v.set(PARAM_GAP_SEED, ParamValue::Int(3));
        let p = params(&v).unwrap();
        assert_eq!(
            (p.method, p.prompt.as_str(), p.model.as_str(), p.seed),
            (GapMethod::Generate, "a red circle moving right", "/models/mine", 3)
        );
        v.set(PARAM_GAP_METHOD, ParamValue::Choice(GAP_INTERPOLATE));
        assert_eq!(params(&v).unwrap().method, GapMethod::Interpolate);
        // What a lax host may send.
        v.set(PARAM_GAP_METHOD, ParamValue::Choice(7));
        assert!(params(&v).unwrap_err().to_string().contains("Gap Method"));
        v.set(PARAM_GAP_METHOD, ParamValue::Choice(GAP_AUTO));
        v.set(PARAM_GAP_SEED, ParamValue::Int(-2));
        assert_eq!(params(&v).unwrap().seed, 0, "a negative seed is taken as 0, as Generate's Seed");
    }

    #[test]
    fn auto_generates_only_gaps_as_long_as_the_manifest_states() {
        assert!(!auto_generates(None, false, 8, true), "no stated minimum: always interpolate");
        assert!(!auto_generates(None, false, 1_000, true));
        assert!(!auto_generates(Some(6), false, 5, true));
        assert!(auto_generates(Some(6), false, 6, false));
        assert!(auto_generates(Some(6), false, 40, true));
        // A model that wins only when told what the shot shows.
        assert!(!auto_generates(Some(6), true, 40, false));
        assert!(auto_generates(Some(6), true, 6, true));
        assert!(!auto_generates(Some(6), true, 5, true));
        assert_eq!(missing(5.0, 6.0), 0);
        assert_eq!(missing(-9.0e18, 9.0e18), 17_999_999_999_999_999_999);
    }
}
