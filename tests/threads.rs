//! Hosts render frames in any order, from many threads, on several instances at once, and in
//! slow motion every second frame (or more) is an in-between the interpolation model makes: those
//! renders run the model from many threads at once and must give exactly what a single-threaded
//! render gives.
//! Alone in its own test binary because it turns the in-between frame cache off process-wide
//! (`KINEMA_FRAME_CACHE_MB=0`), so every in-between really runs the model instead of being served
//! from the frames an earlier render left.

use std::collections::BTreeMap;

use kinema_e2e::*;
use kinema_host::{Bundle, ClipSource, Components, Context, Depth, HostImage, ParamValue, RenderRequest};

const SOURCE_FRAMES: i64 = 6;

fn network_runs(bundle: &Bundle) -> u64 {
    bundle.runtime_report(None).unwrap()["interpolation"]["network_runs"].as_u64().unwrap()
}

/// Output frames of a retime of the whole clip at `speed`, shuffled as a scrubbing host asks.
fn shuffled_frames(speed: f64) -> Vec<i64> {
    let last = ((SOURCE_FRAMES - 1) as f64 / speed).round() as i64;
    let mut order: Vec<i64> = (0..=last).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (i * 7 + 3) % (i + 1));
    }
    order
}

/// The source frame output frame `t` shows at `speed`, None for an in-between.
fn whole_source_frame(t: i64, speed: f64) -> Option<i64> {
    let s = t as f64 * speed;
    ((s - s.round()).abs() < 1e-9).then_some(s.round() as i64)
}

/// In-between frames (output frames that are no whole source frame) of a retime at `speed`.
fn in_betweens(speed: f64) -> u64 {
    shuffled_frames(speed).iter().filter(|&&t| whole_source_frame(t, speed).is_none()).count() as u64
}

fn render(
    bundle: &Bundle,
    context: Context,
    clip: &BTreeMap<i64, HostImage>,
    speed: f64,
    threads: usize,
) -> BTreeMap<i64, HostImage> {
    let inst = bundle.create_instance(INTERPOLATE, context).unwrap();
    inst.set_source("Source", ClipSource::Frames(clip.clone())).unwrap();
    inst.set_param("speed", ParamValue::Double(speed)).unwrap();
    let out = inst.render(&RenderRequest { frames: shuffled_frames(speed), threads, ..Default::default() }).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    let frames = out.frames.into_iter().map(|(t, r)| (t, r.unwrap_or_else(|e| panic!("frame {t}: {e}")))).collect();
    inst.destroy().unwrap();
    frames
}

#[test]
fn eight_threads_on_one_instance_and_several_instances_at_once() {
    // Read when the plugin makes its first in-between, which is below.
    std::env::set_var("KINEMA_FRAME_CACHE_MB", "0");
    let bundle = load_bundle();
    // Each instance retimes its own clip, so no two renders need the same in-between.
    let speeds = [0.5, 0.25, 0.2];
    let clips: Vec<BTreeMap<i64, HostImage>> = (0..speeds.len())
        .map(|i| similar_frames(SOURCE_FRAMES, 64, 36, Depth::F32, Components::Rgba, 11 + i as u64))
        .collect();

    let before = network_runs(&bundle);
    let concurrent: Vec<BTreeMap<i64, HostImage>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..speeds.len())
            .map(|i| {
                let (bundle, clip, speed) = (&bundle, &clips[i], speeds[i]);
                let context = if i % 2 == 0 { Context::Filter } else { Context::General };
                scope.spawn(move || render(bundle, context, clip, speed, 8))
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let expected_runs: u64 = speeds.iter().map(|&s| in_betweens(s)).sum();
    assert!(expected_runs >= 20, "the test must make many in-betweens, not {expected_runs}");
    assert_eq!(network_runs(&bundle) - before, expected_runs, "every in-between ran the model (no cache)");

    for (i, &speed) in speeds.iter().enumerate() {
        let single = render(&bundle, Context::Filter, &clips[i], speed, 1);
        assert_eq!(single.keys().collect::<Vec<_>>(), concurrent[i].keys().collect::<Vec<_>>());
        for (t, image) in &single {
            match whole_source_frame(*t, speed) {
                Some(s) => assert!(image.data == clips[i][&s].data, "clip {i} frame {t} is source frame {s}"),
                None => {
                    let before = clips[i][&((*t as f64 * speed).floor() as i64)].data.clone();
                    assert!(image.data != before, "clip {i} frame {t} is an in-between, not a copy");
                }
            }
            assert!(image.data == concurrent[i][t].data, "clip {i} frame {t}: threaded render differs");
        }
    }
    assert_eq!(network_runs(&bundle) - before, 2 * expected_runs, "the reference renders ran the model too");
    assert!(bundle.violations().is_empty(), "{:?}", bundle.violations());
}
