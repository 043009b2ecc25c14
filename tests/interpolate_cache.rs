//! In-between frames are cached by content: a host asking twice (or two instances asking once
//! each) runs the network once. Alone in its binary: it counts network runs process-wide.

use std::collections::BTreeMap;

use kinema_e2e::*;
use kinema_host::{ClipSource, Components, Context, Depth, ParamValue, RenderRequest};

fn network_runs(bundle: &kinema_host::Bundle) -> u64 {
    bundle.runtime_report(None).unwrap()["interpolation"]["network_runs"].as_u64().unwrap()
}

#[test]
fn the_network_runs_once_for_a_frame_asked_twice_by_two_instances() {
    let bundle = load_bundle();
    let frames: BTreeMap<i64, _> = ["bikes_196_0", "bikes_196_1"]
        .iter()
        .enumerate()
        .map(|(i, name)| (i as i64, rife_fixture(name).convert(Depth::F32, Components::Rgb)))
        .collect();
    let instance = || {
        let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
        inst.set_source("Source", ClipSource::Frames(frames.clone())).unwrap();
        inst
    };
    let render = |inst: &kinema_host::Instance| {
        let out = inst.render(&RenderRequest { frames: vec![2], ..Default::default() }).unwrap();
        out.frames[&2].as_ref().unwrap().data.clone()
    };
    let (first, second) = (instance(), instance());
    for inst in [&first, &second] {
        inst.set_param("speed", ParamValue::Double(0.2)).unwrap();
    }
    let before = network_runs(&bundle);
    let (a, b, c) = (render(&first), render(&second), render(&first));
    let after = network_runs(&bundle);
    assert_eq!(after - before, 1, "one network run for three requests");
    assert!(a == b && a == c);
}
