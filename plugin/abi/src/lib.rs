//! The raw OpenFX C ABI, written by hand from the official AcademySoftwareFoundation/openfx headers because
//! bindgen needs libclang at build time and the `ofx` crate does not build on stable Rust.
//!
//! Every name is the exact C name from the headers (`kOfxStatOK`, `OfxImageEffectSuiteV1::clipGetImage`, ...),
//! so code reads like the OFX documentation. Everything is re-exported at the crate root: `use ofx_abi::*;`.
//! String macros become `&'static CStr` constants, function-pointer members become
//! `Option<unsafe extern "C" fn(..)>` (NULL-able, same size as a C pointer), and the printf/varargs members
//! (`paramGetValue`, `message`, ...) are C-variadic function-pointer types.
#![allow(non_upper_case_globals, non_snake_case, non_camel_case_types)]

pub mod gpu;
pub mod image_effect;
pub mod interact;
pub mod memory;
pub mod message;
pub mod multithread;
pub mod ofx_core;
pub mod param;
pub mod pixels;
pub mod progress;
pub mod property;
pub mod timeline;

pub use crate::gpu::*;
pub use crate::image_effect::*;
pub use crate::interact::*;
pub use crate::memory::*;
pub use crate::message::*;
pub use crate::multithread::*;
pub use crate::ofx_core::*;
pub use crate::param::*;
pub use crate::pixels::*;
pub use crate::progress::*;
pub use crate::property::*;
pub use crate::timeline::*;

/// C types re-exported so users of the ABI need not import `core::ffi` themselves.
pub use std::ffi::{c_char, c_double, c_int, c_uint, c_void, CStr};

// Layout expectations are for LP64 targets (all OFX hosts we ship for).
#[cfg(all(test, target_pointer_width = "64"))]
mod tests;
