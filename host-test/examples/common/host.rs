//! The host-facing glue both fixture plugins share: the host pointer setHost hands over, suite
//! fetching, and `call!` for suite functions. Included with `#[path]` (examples are one file each).

use std::ffi::{c_int, CStr};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use ofx_abi::*;

static HOST: AtomicPtr<OfxHost> = AtomicPtr::new(null_mut());

/// A suite from the host (None before setHost, or when the host lacks it).
///
/// # Safety
/// `HOST` is NULL or the host's OfxHost, valid while the plugin is loaded.
pub unsafe fn fetch<T>(name: &CStr, version: c_int) -> Option<&'static T> {
    // SAFETY: `HOST` is NULL or a valid OfxHost (the caller's contract).
    let host = unsafe { HOST.load(Ordering::SeqCst).as_ref()? };
    // SAFETY: the host's fetchSuite, with a NUL-terminated name.
    let p = unsafe { host.fetchSuite?(host.host, name.as_ptr(), version) } as *const T;
    // SAFETY: the host returns NULL or a static suite of type `T` for this name and version.
    unsafe { p.as_ref() }
}

/// `setHost`: keeps the host for `fetch`.
///
/// # Safety
/// `h` is the host's OfxHost, valid while the plugin is loaded.
pub unsafe extern "C" fn set_host(h: *mut OfxHost) {
    HOST.store(h, Ordering::SeqCst);
}

/// Calls a suite function, panicking (caught at the entry point) when the host left it NULL.
macro_rules! call {
    ($suite:expr, $f:ident ( $($a:expr),* )) => { ($suite.$f.expect(stringify!($f)))($($a),*) };
}
pub(crate) use call;
