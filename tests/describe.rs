//! What hosts see when they scan the bundle: four effects under "Kinema", declared truthfully,
//! with every parameter labelled, hinted and ranged (Resolve clamps parameters without a display range).

use kinema_e2e::*;
use kinema_host::{Components, Context, Depth, ParamKind, ParamValue, ThreadSafety};

#[test]
fn the_bundle_describes_four_effects_with_their_contexts() {
    let bundle = load_bundle();
    let ids: Vec<&str> = bundle.plugins().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [GENERATE, ANIMATE, EXTEND, INTERPOLATE]);
    for plugin in bundle.plugins() {
        assert_eq!(plugin.group, "Kinema", "{}", plugin.id);
        assert!(!plugin.description.is_empty(), "{} has no description", plugin.id);
        let expected: &[Context] = if plugin.id == GENERATE {
            &[Context::General, Context::Generator]
        } else {
            &[Context::Filter, Context::General]
        };
        let mut contexts = plugin.contexts.clone();
        contexts.sort();
        assert_eq!(contexts, expected, "{}", plugin.id);
        for depth in [Depth::F32, Depth::U16, Depth::U8] {
            assert!(plugin.supported_depths.contains(&depth), "{} lacks {depth:?}", plugin.id);
        }
        assert!(!plugin.supports_tiles, "{}: whole-frame models must turn tiles off", plugin.id);
        assert_eq!(plugin.render_thread_safety, ThreadSafety::FullySafe, "{}", plugin.id);
        assert_eq!(plugin.temporal_clip_access, plugin.id != GENERATE, "{}", plugin.id);
        for clips in plugin.clips.values() {
            for clip in clips {
                assert!(clip.supported_components.contains(&Components::Rgba), "{} {}", plugin.id, clip.name);
                assert!(clip.supported_components.contains(&Components::Rgb), "{} {}", plugin.id, clip.name);
            }
        }
    }
    assert!(bundle.violations().is_empty(), "{:?}", bundle.violations());
}

#[test]
fn every_parameter_has_a_label_hint_and_sane_ranges() {
    let bundle = load_bundle();
    for plugin in bundle.plugins() {
        let names: Vec<&str> = plugin.params.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"status") && names.contains(&"model"), "{}: {names:?}", plugin.id);
        for p in &plugin.params {
            if p.kind == ParamKind::Page {
                continue;
            }
            let what = format!("{} {}", plugin.id, p.name);
            assert!(!p.label.is_empty() && !p.hint.is_empty(), "{what} lacks a label or hint");
            match (&p.default, p.min.as_ref(), p.max.as_ref(), p.display_min.as_ref(), p.display_max.as_ref()) {
                (
                    ParamValue::Int(d),
                    Some(ParamValue::Int(lo)),
                    Some(ParamValue::Int(hi)),
                    Some(ParamValue::Int(dlo)),
                    Some(ParamValue::Int(dhi)),
                ) => {
                    assert!(
                        lo <= d && d <= hi && lo <= dlo && dlo < dhi && dhi <= hi,
                        "{what}: {d} [{lo},{hi}] ({dlo},{dhi})"
                    )
                }
                (
                    ParamValue::Double(d),
                    Some(ParamValue::Double(lo)),
                    Some(ParamValue::Double(hi)),
                    Some(ParamValue::Double(dlo)),
                    Some(ParamValue::Double(dhi)),
                ) => {
                    assert!(
                        lo <= d && d <= hi && lo <= dlo && dlo < dhi && dhi <= hi,
                        "{what}: {d} [{lo},{hi}] ({dlo},{dhi})"
                    )
                }
                (ParamValue::Choice(d), ..) => {
                    assert!((*d as usize) < p.options.len(), "{what}: default {d} of {:?}", p.options)
                }
                (ParamValue::Int(_) | ParamValue::Double(_), ..) => {
                    panic!("{what} has no complete range/display range")
                }
                _ => {}
            }
        }
        let status = plugin.params.iter().find(|p| p.name == "status").unwrap();
        assert_eq!(status.kind, ParamKind::String);
        assert!(!status.enabled && !status.animates, "{}: Status must be read-only and not animate", plugin.id);
    }
}

#[test]
fn the_issue_parameters_are_there() {
    let bundle = load_bundle();
    let has = |id: &str, wanted: &[&str]| {
        let plugin = bundle.plugin(id).unwrap();
        for name in wanted {
            assert!(plugin.params.iter().any(|p| p.name == *name), "{id} lacks {name}");
        }
    };
    has(GENERATE, &["prompt", "negative_prompt", "seed", "steps", "guidance", "length", "model"]);
    has(
        ANIMATE,
        &[
            "image_frame",
            "end_frame_enabled",
            "end_frame",
            "match_source",
            "prompt",
            "seed",
            "steps",
            "guidance",
            "length",
            "model",
        ],
    );
    has(EXTEND, &["direction", "extend_frames", "context_frames", "match_source", "prompt", "seed", "model"]);
    has(INTERPOLATE, &["mode", "speed", "fill_frames", "model"]);
    let direction = bundle.plugin(EXTEND).unwrap().params.iter().find(|p| p.name == "direction").unwrap();
    assert_eq!(direction.options, ["Forward", "Backward"]);
    for id in [ANIMATE, EXTEND] {
        let matching = bundle.plugin(id).unwrap().params.iter().find(|p| p.name == "match_source").unwrap();
        assert_eq!((matching.kind, matching.label.as_str()), (ParamKind::Bool, "Match Source"));
        assert_eq!((&matching.default, matching.page.as_str()), (&ParamValue::Bool(true), "advanced"));
    }
}

#[test]
fn kinema_list_and_describe_show_effects_and_parameters() {
    let run = |args: &[&str]| {
        let out =
            std::process::Command::new(kinema_exe()).arg("--bundle").arg(bundle_path()).args(args).output().unwrap();
        assert!(out.status.success(), "kinema {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let list = run(&["list"]);
    for id in [GENERATE, ANIMATE, EXTEND, INTERPOLATE] {
        assert!(list.contains(id), "{list}");
    }
    assert!(list.contains("contexts: general, generator"), "{list}");
    let describe = run(&["describe", GENERATE]);
    for needle in
        ["steps (int)", "default: 30", "range: [1, 200]", "display: [1, 100]", "guidance (double)", "prompt (string)"]
    {
        assert!(describe.contains(needle), "missing {needle:?} in\n{describe}");
    }
}
