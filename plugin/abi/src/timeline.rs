//! Mirrors `ofxTimeLine.h`: the optional suite to query and move the host's timeline.

use crate::ofx_core::OfxStatus;
use std::ffi::{c_double, c_void, CStr};

pub const kOfxTimeLineSuite: &CStr = c"OfxTimeLineSuite";

/// Timeline control (version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxTimeLineSuiteV1 {
    pub getTime: Option<unsafe extern "C" fn(instance: *mut c_void, time: *mut c_double) -> OfxStatus>,
    pub gotoTime: Option<unsafe extern "C" fn(instance: *mut c_void, time: c_double) -> OfxStatus>,
    pub getTimeBounds: Option<
        unsafe extern "C" fn(instance: *mut c_void, firstTime: *mut c_double, lastTime: *mut c_double) -> OfxStatus,
    >,
}
