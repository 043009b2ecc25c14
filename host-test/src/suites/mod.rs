//! The raw FFI: every suite the host exposes (one module per suite), `fetchSuite`, and the non-variadic
//! functions the C shim (`shim.c`) calls for the varargs entry points. Each function resolves its handles
//! through the registry, never dereferences one blindly, catches panics, and reports rule breaks as violations.
//!
//! Every suite function is an `unsafe extern "C" fn` because the plugin calls it with raw pointers; its
//! `# Safety` section says what the OFX API promises about them, and the handles themselves are checked.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use ofx_abi::*;

use crate::diag::{self, ViolationKind};
use crate::handles;
use crate::objects::Effect;
use crate::props::PropSet;

mod image_effect;
mod memory;
mod message;
mod multithread;
mod param;
mod progress;
mod property;
#[cfg(test)]
mod test_support;
mod timeline;

pub(crate) use image_effect::{finish_image, scaled_bounds};
pub(crate) use memory::reclaim_leaks;

/// Runs a suite function body, turning a panic into kOfxStatErrFatal (a panic must not unwind into C).
fn guard(f: impl FnOnce() -> OfxStatus) -> OfxStatus {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(kOfxStatErrFatal)
}

/// Reports a handle that is not a live object of the expected kind.
fn bad_handle(func: &str, what: &str, h: *const c_void) -> OfxStatus {
    diag::report(ViolationKind::BadHandle, format!("{func}: {h:p} is not a live {what} handle"));
    kOfxStatErrBadHandle
}

/// The suite functions that hand out an object's property set (`getPropertySet`,
/// `paramSetGetPropertySet`, `paramGetPropertySet`, `clipGetPropertySet`): look the handle up,
/// check the out pointer, write.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn write_props<T: std::any::Any + Send + Sync>(
    func: &str,
    what: &str,
    h: *const c_void,
    out: *mut OfxPropertySetHandle,
    props: impl FnOnce(&T) -> OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let Some(object) = handles::lookup::<T>(h) else {
            return bad_handle(func, what, h);
        };
        if out.is_null() {
            return bad_arg(func, "NULL out pointer");
        }
        *out = props(&object);
        kOfxStatOK
    })
}

/// Reports a bad argument (NULL pointer, bad count, wrong object kind).
fn bad_arg(func: &str, why: &str) -> OfxStatus {
    diag::report(ViolationKind::BadArgument, format!("{func}: {why}"));
    kOfxStatErrBadHandle
}

/// A C string argument; None for NULL or invalid UTF-8.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
unsafe fn cstr<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the plugin passes a NUL-terminated string, as the API requires.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// The short name of the action running on this thread ("Render"), or "".
fn current_action() -> String {
    diag::current().map(|c| diag::short_action(&c.action).to_owned()).unwrap_or_default()
}

/// The live image effect (descriptor or instance) behind a handle, or the reported bad-handle status.
fn lookup_effect(func: &str, h: *const c_void) -> Result<Arc<Effect>, OfxStatus> {
    handles::lookup::<Effect>(h).ok_or_else(|| bad_handle(func, "image effect", h))
}

/// `OfxHost::fetchSuite`: a static suite table, or NULL for suites and versions the host does not have.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
pub(crate) unsafe extern "C" fn fetch_suite(
    host: OfxPropertySetHandle,
    name: *const c_char,
    version: c_int,
) -> *const c_void {
    // SAFETY: `name` is NULL or NUL-terminated (the caller's contract); `host` is only looked up.
    std::panic::catch_unwind(|| unsafe {
        if handles::lookup::<PropSet>(host as *const c_void).is_none() {
            bad_handle("fetchSuite", "host", host as *const c_void);
            return std::ptr::null();
        }
        let Some(name) = cstr(name) else {
            bad_arg("fetchSuite", "NULL suite name");
            return std::ptr::null();
        };
        let is = |c: &CStr| c.to_bytes() == name.as_bytes();
        fn p<T>(s: &'static T) -> *const c_void {
            s as *const T as *const c_void
        }
        match version {
            1 if is(kOfxPropertySuite) => p(&property::PROPERTY_SUITE),
            1 if is(kOfxParameterSuite) => p(&param::PARAMETER_SUITE),
            1 if is(kOfxImageEffectSuite) => p(&image_effect::IMAGE_EFFECT_SUITE),
            1 if is(kOfxMemorySuite) => p(&memory::MEMORY_SUITE),
            1 if is(kOfxMultiThreadSuite) => p(&multithread::MULTI_THREAD_SUITE),
            1 if is(kOfxMessageSuite) => p(&message::MESSAGE_SUITE_V1),
            2 if is(kOfxMessageSuite) => p(&message::MESSAGE_SUITE_V2),
            1 if is(kOfxProgressSuite) => p(&progress::PROGRESS_SUITE_V1),
            2 if is(kOfxProgressSuite) => p(&progress::PROGRESS_SUITE_V2),
            1 if is(kOfxTimeLineSuite) => p(&timeline::TIMELINE_SUITE),
            _ => std::ptr::null(),
        }
    })
    .unwrap_or(std::ptr::null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_suite_hands_out_known_suites_only() {
        let p = PropSet::new("t");
        let h = p.handle();
        // SAFETY: the suite names are NUL-terminated literals and `h` a live property set.
        assert!(!unsafe { fetch_suite(h, kOfxPropertySuite.as_ptr(), 1) }.is_null());
        // SAFETY: as above: a literal name and a live handle.
        assert!(unsafe { fetch_suite(h, kOfxPropertySuite.as_ptr(), 2) }.is_null());
        // SAFETY: as above: a literal name and a live handle.
        assert!(unsafe { fetch_suite(h, c"OfxNoSuchSuite".as_ptr(), 1) }.is_null());
    }
}
