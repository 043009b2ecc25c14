//! Mirrors `ofxProgress.h`: the optional progress bar suite (V1 and V2, V2 adds a message id).

use crate::ofx_core::OfxStatus;
use std::ffi::{c_char, c_double, c_void, CStr};

pub const kOfxProgressSuite: &CStr = c"OfxProgressSuite";

/// Progress feedback from a plugin instance (version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxProgressSuiteV1 {
    pub progressStart: Option<unsafe extern "C" fn(effectInstance: *mut c_void, label: *const c_char) -> OfxStatus>,
    pub progressUpdate: Option<unsafe extern "C" fn(effectInstance: *mut c_void, progress: c_double) -> OfxStatus>,
    pub progressEnd: Option<unsafe extern "C" fn(effectInstance: *mut c_void) -> OfxStatus>,
}

/// Progress feedback from a plugin instance (version 2).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxProgressSuiteV2 {
    pub progressStart: Option<
        unsafe extern "C" fn(
            effectInstance: *mut c_void,
            message: *const c_char,
            messageid: *const c_char,
        ) -> OfxStatus,
    >,
    pub progressUpdate: Option<unsafe extern "C" fn(effectInstance: *mut c_void, progress: c_double) -> OfxStatus>,
    pub progressEnd: Option<unsafe extern "C" fn(effectInstance: *mut c_void) -> OfxStatus>,
}
