//! A panic inside the plugin reaches the host as a failure status, never as an abort: the host
//! survives and the next render works. (Debug builds only: KINEMA_DEBUG_PANIC names the action.)
//! Alone in its own test binary because it sets a process-wide environment variable.

use kinema_e2e::*;
use kinema_host::{ClipSource, Components, Context, Depth, ParamValue, RenderRequest};

#[test]
fn an_injected_panic_becomes_a_failure_status_and_the_host_survives() {
    let bundle = load_bundle();
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    let frames = noise_frames(2, 8, 8, Depth::F32, Components::Rgba, 2);
    inst.set_source("Source", ClipSource::Frames(frames.clone())).unwrap();
    inst.set_param("speed", ParamValue::Double(1.0)).unwrap();
    let request = RenderRequest { frames: vec![0, 1], ..Default::default() };

    std::env::set_var("KINEMA_DEBUG_PANIC", "OfxImageEffectActionRender");
    let out = inst.render(&request).unwrap();
    std::env::remove_var("KINEMA_DEBUG_PANIC");
    for t in [0, 1] {
        let failure = out.frames[&t].as_ref().expect_err("a panicking render must fail");
        assert_eq!(failure.status, 1, "a panic must map to kOfxStatFailed");
    }
    // The reason is posted once (not once per frame, which would flood the host with dialogs).
    let errors: Vec<_> = out.messages.iter().filter(|m| m.is_error()).collect();
    assert_eq!(errors.len(), 1, "one error message for the two failing frames: {:?}", out.messages);
    assert!(errors[0].text.contains("Internal error in Kinema"), "{:?}", errors[0]);
    let status = status(&inst);
    assert!(status.contains("deliberate panic"), "the panic's reason reaches Status: {status:?}");
    assert!(out.violations.is_empty(), "a panic must still return a valid status: {:?}", out.violations);

    // Same host, same instance: rendering works again.
    let out = inst.render(&request).unwrap();
    for t in [0, 1] {
        assert!(out.frames[&t].as_ref().unwrap().data == frames[&t].data);
    }
    inst.destroy().unwrap();

    // Describe-time panics too: a panicking CreateInstance fails cleanly.
    std::env::set_var("KINEMA_DEBUG_PANIC", "OfxActionCreateInstance");
    let created = bundle.create_instance(INTERPOLATE, Context::Filter);
    std::env::remove_var("KINEMA_DEBUG_PANIC");
    assert!(created.is_err(), "CreateInstance should fail when it panics");
    bundle.create_instance(INTERPOLATE, Context::Filter).unwrap().destroy().unwrap();
}
