//! The OFX glue: exports, action dispatch and safe wrappers over the host's suites. Knows
//! nothing of ONNX or policy: it converts host handles and calls one render function
//! ([`crate::render::render_frame`]); effect logic lives in [`crate::effects`].
//!
//! Layers, bottom up: [`raw`] (the host's suites and every call through them; the only module
//! that dereferences host pointers), the wrappers ([`PropertySet`], [`ParamSet`]/[`Param`],
//! [`Clip`]/[`Image`], [`ImageEffect`]), the host's side of a render ([`render`]), per-instance
//! data ([`Instance`]), one function per action ([`actions`]), and the `extern "C"` entry points
//! ([`entry`]), each inside a panic guard.

pub mod actions;
pub mod clip;
pub mod effect;
pub mod entry;
pub mod instance;
pub mod params;
pub mod props;
pub(crate) mod raw;
pub mod render;
pub mod status;

pub use clip::{Clip, Image};
pub use effect::ImageEffect;
pub use entry::{OfxGetNumberOfPlugins, OfxGetPlugin, OfxSetHost, DEBUG_PANIC_ENV};
pub use instance::Instance;
pub use params::{Param, ParamSet};
pub use props::PropertySet;
pub use status::{guard, OfxError, OfxResult, Reply, Status};
