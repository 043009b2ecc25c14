//! The progress suite (V1 and V2): forwards the plugin's progress to the caller and can abort the render
//! after a given number of updates (to test how a plugin stops).

use std::ffi::{c_char, c_double, c_void};
use std::sync::atomic::Ordering;

use ofx_abi::*;

use super::{bad_arg, cstr, guard, lookup_effect};
use crate::ProgressEvent;

/// Hands a progress event to the render's callback, counting updates towards the abort limit.
fn progress_event(func: &str, h: *mut c_void, ev: ProgressEvent) -> OfxStatus {
    let e = match lookup_effect(func, h) {
        Ok(e) => e,
        Err(s) => return s,
    };
    if let ProgressEvent::PluginUpdate { .. } = ev {
        let n = e.st.progress_updates.fetch_add(1, Ordering::SeqCst) + 1;
        if e.st.abort_after_progress.lock().is_some_and(|limit| n >= limit) {
            e.st.abort.store(true, Ordering::SeqCst);
        }
    }
    let cb = e.st.progress.lock().clone();
    if let Some(cb) = cb {
        cb(&ev);
    }
    if matches!(ev, ProgressEvent::PluginUpdate { .. }) && e.aborted() {
        return kOfxStatReplyNo;
    }
    kOfxStatOK
}

/// `progressStart` (V1).
///
/// # Safety
/// `label` is NULL or a NUL-terminated string.
unsafe extern "C" fn progress_start_v1(h: *mut c_void, label: *const c_char) -> OfxStatus {
    // SAFETY: `label` is NULL or NUL-terminated (the caller's contract).
    guard(|| unsafe {
        let label = cstr(label).unwrap_or("").to_owned();
        progress_event("progressStart", h, ProgressEvent::PluginStart { label, id: None })
    })
}

/// `progressStart` (V2, with an id).
///
/// # Safety
/// `message` and `id` are NULL or NUL-terminated strings.
unsafe extern "C" fn progress_start_v2(h: *mut c_void, message: *const c_char, id: *const c_char) -> OfxStatus {
    // SAFETY: `message` and `id` are NULL or NUL-terminated (the caller's contract).
    guard(|| unsafe {
        let label = cstr(message).unwrap_or("").to_owned();
        progress_event("progressStart", h, ProgressEvent::PluginStart { label, id: cstr(id).map(str::to_owned) })
    })
}

/// `progressUpdate`: ReplyNo once the render is aborted.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn progress_update(h: *mut c_void, p: c_double) -> OfxStatus {
    guard(|| {
        if !p.is_finite() {
            return bad_arg("progressUpdate", "non-finite progress");
        }
        progress_event("progressUpdate", h, ProgressEvent::PluginUpdate { fraction: p })
    })
}

/// `progressEnd`.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn progress_end(h: *mut c_void) -> OfxStatus {
    guard(|| progress_event("progressEnd", h, ProgressEvent::PluginEnd))
}

pub(super) static PROGRESS_SUITE_V1: OfxProgressSuiteV1 = OfxProgressSuiteV1 {
    progressStart: Some(progress_start_v1),
    progressUpdate: Some(progress_update),
    progressEnd: Some(progress_end),
};
pub(super) static PROGRESS_SUITE_V2: OfxProgressSuiteV2 = OfxProgressSuiteV2 {
    progressStart: Some(progress_start_v2),
    progressUpdate: Some(progress_update),
    progressEnd: Some(progress_end),
};
