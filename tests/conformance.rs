//! OFX rules a tolerant host hides, kept under the strict kinema host: depths are left to a host
//! without multiple clip depths (a generator takes the depth it is given), and the Status parameter is
//! set only in InstanceChanged, while renders report through the message suite, once per change.

use kinema_e2e::*;
use kinema_host::{ClipSource, Components, Context, Depth, ParamValue, RenderRequest};

#[test]
fn a_generator_takes_the_depth_the_host_gives() {
    let bundle = load_bundle();
    for depth in [Depth::U8, Depth::U16, Depth::F32] {
        let inst = bundle.create_instance(GENERATE, Context::Generator).unwrap();
        inst.set_param("prompt", ParamValue::String("a red circle".into())).unwrap();
        inst.set_param("model", ParamValue::String("kinema-missing".into())).unwrap();
        let request = RenderRequest { frames: vec![0], depth: Some(depth), size: Some((32, 16)), ..Default::default() };
        let out = inst.render(&request).unwrap();
        assert!(out.violations.is_empty(), "{depth:?}: {:?}", out.violations);
        assert_eq!(out.depth, depth);
    }
    // And renders into it.
    let inst = bundle.create_instance(GENERATE, Context::Generator).unwrap();
    inst.set_param("prompt", ParamValue::String("a red circle moving left".into())).unwrap();
    inst.set_param("model", ParamValue::String(ltx_model())).unwrap();
    inst.set_param("length", ParamValue::Int(9)).unwrap();
    inst.set_param("steps", ParamValue::Int(2)).unwrap();
    let request = RenderRequest { frames: vec![4], depth: Some(Depth::U8), size: Some((48, 32)), ..Default::default() };
    let out = inst.render(&request).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    let image = out.image(4).unwrap();
    assert_eq!((image.depth, image.width, image.height), (Depth::U8, 48, 32));
    assert!(image.data.chunks_exact(4).any(|px| px[..3] != [0, 0, 0]), "the frame was written");
}

#[test]
fn a_filter_takes_the_depth_the_host_gives_and_passes_it_through() {
    let bundle = load_bundle();
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    let frames = noise_frames(2, 16, 8, Depth::F32, Components::Rgba, 3);
    inst.set_source("Source", ClipSource::Frames(frames.clone())).unwrap();
    inst.set_param("speed", ParamValue::Double(1.0)).unwrap();
    let out = inst.render(&RenderRequest { frames: vec![1], depth: Some(Depth::U16), ..Default::default() }).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    let want = frames[&1].convert(Depth::U16, Components::Rgba);
    assert!(out.image(1).unwrap().data == want.data, "the host's 16-bit frame, bit-exact");
}

#[test]
fn status_is_set_in_instance_changed_and_errors_are_posted_once() {
    let bundle = load_bundle();
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(similar_frames(4, 16, 16, Depth::F32, Components::Rgba, 1))).unwrap();
    inst.set_param("model", ParamValue::String("no-such-model".into())).unwrap();
    // Speed 0.5: outputs 1 and 3 are in-betweens (they need the model), 2 is source frame 1.
    let out = inst.render(&RenderRequest { frames: vec![1, 3], ..Default::default() }).unwrap();
    assert!(out.violations.is_empty(), "nothing set during the render: {:?}", out.violations);
    assert_eq!(out.failures().len(), 2);
    let errors: Vec<_> = out.messages.iter().filter(|m| m.is_error()).collect();
    assert_eq!(errors.len(), 1, "one message for one reason, not one per frame: {errors:?}");
    assert!(errors[0].text.contains("Model 'no-such-model' not found"), "{}", errors[0].text);
    assert_eq!(inst.param("status").unwrap(), ParamValue::String(String::new()), "a render sets no parameter");
    assert!(status(&inst).contains("Model 'no-such-model' not found"), "{}", status(&inst));
    // Any change by the user is an InstanceChanged too: Status follows the last render.
    inst.render(&RenderRequest { frames: vec![2], ..Default::default() }).unwrap();
    inst.set_param("cut_sensitivity", ParamValue::Double(0.4)).unwrap();
    assert_eq!(inst.param("status").unwrap(), ParamValue::String("Pass-through of source frame 1".into()));
    assert!(bundle.violations().is_empty(), "{:?}", bundle.violations());
}
