//! Property-based fuzzing of the host-facing surface: random effects, contexts, parameter values
//! (out of range, NaN, infinities, extreme integers, empty, huge and odd strings), source clips
//! (depths, components, sizes, frame ranges with holes) and render requests (frames, fractional and
//! far-off times, origins, row layouts, render windows inside, across and outside the bounds,
//! render scales, threads) driven through the strict `kinema-host`. Every case must return valid
//! statuses with no host violation (invalid status, write outside the render window, overrun,
//! source write, leak), never panic inside the plugin (not even a caught panic), and leave the
//! process alive.
//!
//! Model work stays out of the loop: Generate, Animate and Extend always get a model that is
//! missing, unset or of the wrong kind (as do Interpolate's generated gaps), and Interpolate mostly a missing one, so cases hit
//! planning, pass-through, validation and error paths; a few run RIFE on tiny frames.
//! Deterministic: a fixed seed, no persistence files. `KINEMA_FUZZ_CASES` and `KINEMA_FUZZ_SEED`
//! override the case count (10 000) and seed for longer local runs.

use std::collections::BTreeMap;
use std::time::Instant;

use kinema_e2e::*;
use kinema_host::{
    Bundle, ClipSource, Components, Context, Depth, HostImage, ParamKind, ParamValue, RenderRequest, RowLayout,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

const CASES: u32 = 10_000;
/// A case is a few tiny frames; one that takes longer let a host value set the work (a Fill Frames
/// list expanded frame by frame took 375 s). Generous, for loaded CI machines.
const CASE_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);
const SEED: u64 = 0x4b69_6e65_6d61_4675; // "KinemaFu"

/// One parameter write: the value for each kind is taken from the field of that kind.
#[derive(Clone, Debug)]
struct Edit {
    which: Index,
    int: i32,
    double: f64,
    text: String,
    flag: bool,
    /// Through the host's range check (a strict host) or around it (a lax one).
    checked: bool,
}

#[derive(Clone, Debug)]
struct SourceSpec {
    connect: bool,
    count: i64,
    first: i64,
    width: u32,
    height: u32,
    /// Frames of different sizes along the clip.
    vary_sizes: bool,
    depth: Depth,
    components: Components,
    /// A frame the host cannot deliver.
    hole: Option<Index>,
    /// Neighbours that differ a little (in-betweens run the model) rather than independent noise
    /// (a scene cut everywhere).
    similar: bool,
    seed: u64,
}

#[derive(Clone, Debug)]
struct Case {
    effect: Index,
    context: Index,
    edits: Vec<Edit>,
    /// Index into [`INTERPOLATE_MODELS`] or [`GENERATIVE_MODELS`].
    model: Index,
    source: SourceSpec,
    /// Frame numbers relative to the source's first frame, or absolute when far.
    frames: Vec<(i64, Option<i64>)>,
    time_offset: f64,
    origin: (i32, i32),
    /// Relative to the origin.
    window: Option<(i32, i32, i32, i32)>,
    unclipped_window: bool,
    render_scale: f64,
    layout: RowLayout,
    threads: usize,
    frame_rate: f64,
    size: (u32, u32),
    depth: Option<Depth>,
    components: Option<Components>,
}

/// Interpolate mostly gets a model that does not exist (in-betweens fail fast); one in eight
/// cases runs the real RIFE on tiny frames.
const INTERPOLATE_MODELS: &[&str] =
    &["/nonexistent/kinema-fuzz-model", "no-such-model", "", "smoke", "/", "rife", "/nonexistent/a", "no/such"];
/// Never a real video model: unset, missing, or one of another kind.
const GENERATIVE_MODELS: &[&str] = &["", "no-such-model", "/nonexistent/kinema-fuzz-model", "rife", "smoke", "."];

fn ints() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => -3i32..70,
        1 => prop::sample::select(vec![
            i32::MIN, i32::MIN + 1, -1_000_000, -2, 100_000, 1_000_000, i32::MAX - 1, i32::MAX,
        ]),
        1 => any::<i32>(),
    ]
}

fn doubles() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -2.0f64..5.0,
        2 => prop::sample::select(vec![
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, f64::MAX, f64::MIN, f64::MIN_POSITIVE,
            f64::EPSILON, 5e-324, 1e-300, 1e300, -1e300, 0.001, 0.000_999, 100.0, 100.000_1, 1e6, -1e6, 1e15,
            0.5, 1.0 / 3.0, 0.25, 2.0, -1.0,
        ]),
        1 => any::<f64>(),
    ]
}

fn texts() -> impl Strategy<Value = String> {
    let odd = vec![
        "",
        " ",
        "gore",
        "a red circle moving left",
        "a graphic gore scene",
        "0-99999",
        "0-100000",
        "-9223372036854775808-9223372036854775807",
        "9223372036854775807",
        "-9223372036854775808",
        "0-2147483647",
        "1,,2",
        "4-",
        "--1",
        "-5--3",
        "1-1",
        "\u{202e}rtl",
        "tab\tnew\nline",
        "nul\0byte",
        "../../../../etc/passwd",
        "/",
        ".",
        "..",
        "rife",
        "smoke",
        "\u{1F600}\u{0301}",
        "  12 , 40-42  ",
        "\u{feff}1",
        "１２",
        "1e3",
        "0x10",
        "+3",
        "٣",
    ];
    prop_oneof![
        3 => "[ -~]{0,16}",
        3 => "[-0-9 ,;]{0,24}",
        1 => "\\PC{0,12}",
        2 => prop::sample::select(odd).prop_map(String::from),
        1 => (1u32..=5, "[a-z0-9 ,-]{1,8}").prop_map(|(exp, s)| s.repeat(10usize.pow(exp) / s.len())),
        // Many distinct long ranges: a frame list that would expand to hundreds of millions of frames.
        1 => (1usize..3000).prop_map(|n| {
            (0..n).map(|i| format!("{}-{}", i * 100_000, i * 100_000 + 99_998)).collect::<Vec<_>>().join(",")
        }),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    (any::<Index>(), ints(), doubles(), texts(), any::<bool>(), prop::bool::weighted(0.3))
        .prop_map(|(which, int, double, text, flag, checked)| Edit { which, int, double, text, flag, checked })
}

fn depth() -> impl Strategy<Value = Depth> {
    prop::sample::select(vec![Depth::U8, Depth::U16, Depth::F32])
}

fn components() -> impl Strategy<Value = Components> {
    prop_oneof![4 => Just(Components::Rgba), 4 => Just(Components::Rgb), 1 => Just(Components::Alpha)]
}

fn source() -> impl Strategy<Value = SourceSpec> {
    (
        prop::bool::weighted(0.9),
        1i64..=5,
        prop_oneof![6 => Just(0i64), 3 => -6i64..6, 1 => prop::sample::select(vec![1i64 << 40, -(1i64 << 40)])],
        (1u32..=9, 1u32..=7, prop::bool::weighted(0.15)),
        (depth(), components()),
        (prop::option::weighted(0.15, any::<Index>()), prop::bool::weighted(0.3)),
        any::<u64>(),
    )
        .prop_map(
            |(connect, count, first, (width, height, vary_sizes), (depth, components), (hole, similar), seed)| {
                SourceSpec { connect, count, first, width, height, vary_sizes, depth, components, hole, similar, seed }
            },
        )
}

fn coord() -> impl Strategy<Value = i32> {
    prop_oneof![8 => -4i32..12, 1 => -100i32..100, 1 => prop::sample::select(vec![i32::MIN, i32::MAX, -1 << 20])]
}

fn case() -> impl Strategy<Value = Case> {
    let what = (
        any::<Index>(),
        any::<Index>(),
        prop::collection::vec(edit(), 0..7),
        any::<Index>(),
        source(),
        prop::collection::vec(
            (
                -4i64..12,
                prop::option::weighted(
                    0.1,
                    prop_oneof![
                        any::<i32>().prop_map(i64::from),
                        prop::sample::select(vec![1i64 << 45, i64::MAX, i64::MIN])
                    ],
                ),
            ),
            1..4,
        ),
    );
    let time_offset = prop_oneof![
        6 => Just(0.0),
        2 => prop::sample::select(vec![0.5, -0.5, 0.25, 1.0 / 3.0, 0.999_999_9, 1e-7, -1e-9, 2.5]),
        1 => -3.0f64..3.0,
        1 => prop::sample::select(vec![1e6, -1e6, 12_345.678]),
    ];
    let geometry = (
        prop_oneof![
            5 => Just((0, 0)),
            3 => (-40i32..40, -40i32..40),
            1 => prop::sample::select(vec![(-1_000_000_000, 1_000_000_000), (i32::MAX - 5, i32::MIN + 5), (3, -7)]),
        ],
        prop::option::weighted(0.5, (coord(), coord(), coord(), coord())),
        prop::bool::weighted(0.3),
        prop_oneof![6 => Just(1.0), 1 => Just(0.5), 2 => 0.01f64..=1.0, 1 => Just(1e-9)],
        (prop_oneof![3 => Just(0usize), 1 => 1usize..40, 1 => Just(4096usize)], prop::bool::weighted(0.3))
            .prop_map(|(padding_bytes, negative_row_bytes)| RowLayout { padding_bytes, negative_row_bytes }),
    );
    let host = (
        prop_oneof![3 => Just(1usize), 1 => 2usize..=4],
        prop_oneof![8 => Just(24.0), 1 => 0.001f64..1000.0, 1 => prop::sample::select(vec![1e-300, 1e300, 0.0])],
        (1u32..=12, 1u32..=9),
        prop::option::weighted(0.3, depth()),
        prop::option::weighted(0.2, components()),
    );
    (what, time_offset, geometry, host).prop_map(
        |(
            (effect, context, edits, model, source, frames),
            time_offset,
            (origin, window, unclipped_window, render_scale, layout),
            (threads, frame_rate, size, depth, components),
        )| Case {
            effect,
            context,
            edits,
            model,
            source,
            frames,
            time_offset,
            origin,
            window,
            unclipped_window,
            render_scale,
            layout,
            threads,
            frame_rate,
            size,
            depth,
            components,
        },
    )
}

fn source_frames(s: &SourceSpec) -> BTreeMap<i64, HostImage> {
    let frames = if s.similar {
        similar_frames(s.count, s.width, s.height, s.depth, s.components, s.seed)
    } else {
        noise_frames(s.count, s.width, s.height, s.depth, s.components, s.seed)
    };
    let mut out: BTreeMap<i64, HostImage> = frames
        .into_iter()
        .map(|(i, image)| {
            let image = if s.vary_sizes && i % 2 == 1 {
                image.resize_nearest(s.width + i as u32, (s.height + 2).saturating_sub(i as u32).max(1))
            } else {
                image
            };
            (s.first + i, image)
        })
        .collect();
    // A hole inside the range (never the first or last: they define it).
    if let Some(hole) = &s.hole {
        if s.count > 2 {
            out.remove(&(s.first + 1 + hole.index(s.count as usize - 2) as i64));
        }
    }
    out
}

/// Applies one edit as a host would; refusals (out of range, wrong type) are the host's business.
fn apply(inst: &kinema_host::Instance, e: &Edit) {
    let params: Vec<_> = inst.params().into_iter().filter(|p| p.default != ParamValue::None).collect();
    if params.is_empty() {
        return;
    }
    let p = &params[e.which.index(params.len())];
    let value = match p.kind {
        ParamKind::Int => ParamValue::Int(e.int),
        ParamKind::Double => ParamValue::Double(e.double),
        ParamKind::Bool => ParamValue::Bool(e.flag),
        // Mostly a valid option (else one bad choice fails every frame early), sometimes any integer.
        ParamKind::Choice if e.checked || e.int % 8 != 0 => {
            ParamValue::Choice(e.int.rem_euclid(p.options.len().max(1) as i32))
        }
        ParamKind::Choice => ParamValue::Choice(e.int),
        ParamKind::String => ParamValue::String(e.text.clone()),
        _ => return,
    };
    let _ = if e.checked { inst.set_param(&p.name, value) } else { inst.set_param_unchecked(&p.name, value) };
}

const PANIC_TEXT: &str = "Internal error in Kinema";

/// Frames rendered, frames failed with a reason, and requests the host refused, per effect: the
/// summary shows the cases reach the plugin's paths rather than stopping at the host.
static TALLY: std::sync::Mutex<[[u32; 3]; 4]> = std::sync::Mutex::new([[0; 3]; 4]);

fn run_case(bundle: &Bundle, case: &Case) -> Result<(), TestCaseError> {
    let ids = [GENERATE, ANIMATE, EXTEND, INTERPOLATE];
    let id = ids[case.effect.index(ids.len())];
    let contexts = bundle.plugin(id).unwrap().contexts.clone();
    let context = contexts[case.context.index(contexts.len())];
    let started = Instant::now();
    let inst = bundle.create_instance(id, context).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;

    let frames = source_frames(&case.source);
    let with_source = context != Context::Generator && case.source.connect;
    if with_source {
        inst.set_source("Source", ClipSource::Frames(frames)).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    }
    for e in &case.edits {
        apply(&inst, e);
    }
    let models = if id == INTERPOLATE { INTERPOLATE_MODELS } else { GENERATIVE_MODELS };
    let model = models[case.model.index(models.len())];
    inst.set_param("model", ParamValue::String(model.into())).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    if id == INTERPOLATE {
        // Generated gaps stay out of the loop too: Gap Method Generate gets a model that cannot make
        // them; otherwise the bundle's Kinema-tiny may be read (its manifest never has Auto generate).
        let generate = matches!(inst.param("gap_method"), Ok(ParamValue::Choice(2)));
        let gap_model =
            if generate { GENERATIVE_MODELS[1 + case.model.index(GENERATIVE_MODELS.len() - 1)] } else { "" };
        inst.set_param("gap_model", ParamValue::String(gap_model.into()))
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    }

    let first = if with_source { case.source.first } else { 0 };
    let (ox, oy) = case.origin;
    let request = RenderRequest {
        frames: case.frames.iter().map(|&(rel, far)| far.unwrap_or(first.saturating_add(rel))).collect(),
        depth: case.depth,
        components: case.components,
        size: (!with_source).then_some(case.size),
        threads: case.threads,
        render_window: case.window.map(|(a, b, c, d)| {
            (ox.saturating_add(a), oy.saturating_add(b), ox.saturating_add(c), oy.saturating_add(d))
        }),
        render_scale: case.render_scale,
        layout: case.layout,
        frame_rate: case.frame_rate,
        origin: case.origin,
        time_offset: case.time_offset,
        unclipped_window: case.unclipped_window,
        ..Default::default()
    };
    match inst.render(&request) {
        // The host refused the request itself (unsupported format, bad rate...): no plugin fault.
        Err(e) => {
            TALLY.lock().unwrap()[case.effect.index(4)][2] += 1;
            let text = format!("{e:#}");
            prop_assert!(!text.contains("GetClipPreferences failed"), "{text}");
        }
        Ok(out) => {
            prop_assert!(out.violations.is_empty(), "violations: {:#?}", out.violations);
            for m in &out.messages {
                prop_assert!(!m.text.contains(PANIC_TEXT), "the plugin panicked: {}", m.text);
            }
            for (frame, result) in &out.frames {
                TALLY.lock().unwrap()[case.effect.index(4)][result.is_err() as usize] += 1;
                match result {
                    Ok(image) => {
                        let b = out.bounds[frame];
                        prop_assert_eq!((image.width as usize, image.height as usize), (b.width(), b.height()));
                        prop_assert_eq!((image.depth, image.components), (out.depth, out.components));
                    }
                    Err(failure) => {
                        prop_assert!(!failure.message.is_empty());
                        prop_assert!(!failure.message.contains(PANIC_TEXT), "{}", failure.message);
                    }
                }
            }
        }
    }
    for m in inst.messages() {
        prop_assert!(!m.text.contains(PANIC_TEXT), "the plugin panicked: {}", m.text);
    }
    prop_assert!(matches!(inst.param("status"), Ok(ParamValue::String(_))));
    inst.destroy().map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    prop_assert!(started.elapsed() < CASE_BUDGET, "the case took {:?}", started.elapsed());
    let violations = bundle.violations();
    prop_assert!(violations.is_empty(), "violations: {violations:#?}");
    Ok(())
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn random_hosts_get_valid_statuses_and_no_write_outside_the_render_window() {
    let bundle = load_bundle();
    let cases = env_u64("KINEMA_FUZZ_CASES").map_or(CASES, |n| n as u32);
    let seed = env_u64("KINEMA_FUZZ_SEED").unwrap_or(SEED);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        max_shrink_time: 120_000,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let started = Instant::now();
    let result = runner.run(&case(), |c| run_case(&bundle, &c));
    eprintln!(
        "fuzz: {cases} cases (seed {seed}) in {:.1} s; [rendered, failed, refused] frames for Generate, Animate, \
         Extend, Interpolate: {:?}",
        started.elapsed().as_secs_f64(),
        TALLY.lock().unwrap()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    let violations = bundle.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
