//! Hosts render frames in any order, from many threads, on several instances at once.

use kinema_e2e::*;
use kinema_host::{ClipSource, Components, Context, Depth, ParamValue, RenderRequest};

#[test]
fn eight_threads_on_one_instance_and_several_instances_at_once() {
    let bundle = load_bundle();
    let frames = noise_frames(32, 64, 36, Depth::F32, Components::Rgba, 11);
    // Shuffled order, as a scrubbing host asks for frames.
    let mut order: Vec<i64> = (0..32).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (i * 7 + 3) % (i + 1));
    }
    std::thread::scope(|scope| {
        for instance in 0..3 {
            let (bundle, frames, order) = (&bundle, &frames, &order);
            scope.spawn(move || {
                let inst = bundle
                    .create_instance(INTERPOLATE, if instance % 2 == 0 { Context::Filter } else { Context::General })
                    .unwrap();
                inst.set_source("Source", ClipSource::Frames(frames.clone())).unwrap();
                inst.set_param("speed", ParamValue::Double(1.0)).unwrap();
                for _ in 0..3 {
                    let out = inst
                        .render(&RenderRequest { frames: order.clone(), threads: 8, ..Default::default() })
                        .unwrap();
                    assert!(out.violations.is_empty(), "{:?}", out.violations);
                    for (t, image) in &out.frames {
                        assert!(image.as_ref().unwrap().data == frames[t].data, "instance {instance} frame {t}");
                    }
                }
                inst.destroy().unwrap();
            });
        }
    });
    assert!(bundle.violations().is_empty(), "{:?}", bundle.violations());
}
