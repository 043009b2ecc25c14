//! The timeline suite: the instance's current time and the project's time bounds.

use std::ffi::{c_double, c_void};

use ofx_abi::*;

use super::{bad_arg, guard, lookup_effect};

/// `getTime`.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn timeline_get_time(h: *mut c_void, out: *mut c_double) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let e = match lookup_effect("getTime", h) {
            Ok(e) => e,
            Err(s) => return s,
        };
        if out.is_null() {
            return bad_arg("getTime", "NULL out pointer");
        }
        *out = *e.st.time.lock();
        kOfxStatOK
    })
}

/// `gotoTime`.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn timeline_goto_time(h: *mut c_void, t: c_double) -> OfxStatus {
    guard(|| {
        let e = match lookup_effect("gotoTime", h) {
            Ok(e) => e,
            Err(s) => return s,
        };
        if !t.is_finite() {
            return bad_arg("gotoTime", "non-finite time");
        }
        *e.st.time.lock() = t;
        kOfxStatOK
    })
}

/// `getTimeBounds`: the source clip's frame range (else the frames rendered).
///
/// # Safety
/// `first` and `last` are NULL or writable.
unsafe extern "C" fn timeline_get_time_bounds(h: *mut c_void, first: *mut c_double, last: *mut c_double) -> OfxStatus {
    // SAFETY: `first` and `last` are checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let e = match lookup_effect("getTimeBounds", h) {
            Ok(e) => e,
            Err(s) => return s,
        };
        if first.is_null() || last.is_null() {
            return bad_arg("getTimeBounds", "NULL out pointer");
        }
        let (a, b) = *e.st.time_bounds.lock();
        *first = a;
        *last = b;
        kOfxStatOK
    })
}

pub(super) static TIMELINE_SUITE: OfxTimeLineSuiteV1 = OfxTimeLineSuiteV1 {
    getTime: Some(timeline_get_time),
    gotoTime: Some(timeline_goto_time),
    getTimeBounds: Some(timeline_get_time_bounds),
};
