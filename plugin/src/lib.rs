//! Kinema: generative video and neural frame interpolation as an OpenFX plugin.
//!
//! Data flows host image → [`frame_io`] → frame tensor → engine → frame tensor → host image.
//! [`effects`] is the effect core (parameters, frame plans) and [`render`] makes one output
//! frame from them; neither knows OFX. [`ofx`] is the glue: it knows nothing of ONNX or policy
//! and calls one render function. [`runtime`] owns ONNX Runtime (one Environment, a session
//! cache). See ARCHITECTURE.md.

pub mod cache;
pub mod clip_cache;
pub mod diffusion;
pub mod effects;
pub mod engine;
pub mod frame_io;
pub mod models;
pub mod ofx;
pub mod policy;
pub mod render;
pub mod report;
pub mod runtime;
pub mod settings;

/// The text of a panic payload (`panic!` with a literal or a formatted message), for the error a
/// caught panic becomes (the OFX guard, a generation that panicked).
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}
