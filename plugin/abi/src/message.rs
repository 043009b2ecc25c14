//! Mirrors `ofxMessage.h`: the message suite (V1 and V2) and message types. The printf-style members are
//! C-variadic; call them with a `"%s"` format and one C string so user text is never parsed as a format.

use crate::ofx_core::OfxStatus;
use std::ffi::{c_char, c_void, CStr};

pub const kOfxMessageSuite: &CStr = c"OfxMessageSuite";

pub const kOfxMessageFatal: &CStr = c"OfxMessageFatal";
pub const kOfxMessageError: &CStr = c"OfxMessageError";
pub const kOfxMessageWarning: &CStr = c"OfxMessageWarning";
pub const kOfxMessageMessage: &CStr = c"OfxMessageMessage";
pub const kOfxMessageLog: &CStr = c"OfxMessageLog";
pub const kOfxMessageQuestion: &CStr = c"OfxMessageQuestion";

/// Posts messages to the user (version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxMessageSuiteV1 {
    pub message: Option<
        unsafe extern "C" fn(
            handle: *mut c_void,
            messageType: *const c_char,
            messageId: *const c_char,
            format: *const c_char,
            ...
        ) -> OfxStatus,
    >,
}

/// Posts transient and persistent messages (version 2, a backwards compatible extension of V1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxMessageSuiteV2 {
    pub message: Option<
        unsafe extern "C" fn(
            handle: *mut c_void,
            messageType: *const c_char,
            messageId: *const c_char,
            format: *const c_char,
            ...
        ) -> OfxStatus,
    >,
    pub setPersistentMessage: Option<
        unsafe extern "C" fn(
            handle: *mut c_void,
            messageType: *const c_char,
            messageId: *const c_char,
            format: *const c_char,
            ...
        ) -> OfxStatus,
    >,
    pub clearPersistentMessage: Option<unsafe extern "C" fn(handle: *mut c_void) -> OfxStatus>,
}
