//! Mirrors `ofxMemory.h`: the general purpose host memory suite.

use crate::ofx_core::OfxStatus;
use std::ffi::{c_void, CStr};

pub const kOfxMemorySuite: &CStr = c"OfxMemorySuite";

/// General purpose memory management through the host (version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxMemorySuiteV1 {
    pub memoryAlloc:
        Option<unsafe extern "C" fn(handle: *mut c_void, nBytes: usize, allocatedData: *mut *mut c_void) -> OfxStatus>,
    pub memoryFree: Option<unsafe extern "C" fn(allocatedData: *mut c_void) -> OfxStatus>,
}
