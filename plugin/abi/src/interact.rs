//! Mirrors the handle typedef and suite name of `ofxInteract.h`; Kinema draws no overlays, so the interact
//! actions and properties are deliberately not mirrored.

use std::ffi::CStr;

pub const kOfxInteractSuite: &CStr = c"OfxInteractSuite";

/// Opaque interact (`struct OfxInteract`).
#[repr(C)]
pub struct OfxInteract {
    _private: [u8; 0],
}
/// Blind handle to an OFX interactive GUI.
pub type OfxInteractHandle = *mut OfxInteract;
