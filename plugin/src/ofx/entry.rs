//! The exported C entry points: `OfxSetHost`, `OfxGetNumberOfPlugins`, `OfxGetPlugin`, and each
//! effect's `setHost` and `mainEntry`. Every one runs inside `catch_unwind`; nothing but a real
//! `kOfxStat*` code (or a valid pointer) crosses back to the host.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::catch_unwind;
use std::ptr;

use ofx_abi::*;

use super::actions::{dispatch, Call};
use super::effect::ImageEffect;
use super::instance::Instance;
use super::raw;
use super::status::{guard, OfxError, Reply};
use crate::effects::{self, EffectSpec};

/// Environment variable naming an action that panics on purpose, in debug builds only, to prove
/// that a panic reaches the host as a failure status and nothing worse.
pub const DEBUG_PANIC_ENV: &str = "KINEMA_DEBUG_PANIC";

const fn plugin(spec: &'static EffectSpec, main: OfxPluginEntryPoint) -> OfxPlugin {
    OfxPlugin {
        pluginApi: kOfxImageEffectPluginApi.as_ptr(),
        apiVersion: kOfxImageEffectPluginApiVersion,
        pluginIdentifier: spec.id.as_ptr(),
        pluginVersionMajor: spec.version.0,
        pluginVersionMinor: spec.version.1,
        setHost: Some(plugin_set_host),
        mainEntry: Some(main),
    }
}

/// One static plugin struct per effect, in [`effects::EFFECTS`] order.
static PLUGINS: [OfxPlugin; 4] = [
    plugin(&effects::GENERATE, generate_main),
    plugin(&effects::ANIMATE, animate_main),
    plugin(&effects::EXTEND, extend_main),
    plugin(&effects::INTERPOLATE, interpolate_main),
];

/// OFX 1.5: called before anything else by hosts that know it.
///
/// # Safety
/// `host` must be NULL or point at a valid `OfxHost`.
#[no_mangle]
pub unsafe extern "C" fn OfxSetHost(host: *const OfxHost) -> OfxStatus {
    // SAFETY: forwarded from the host under the same contract.
    guard(|| unsafe { raw::set_host(host) }.map(|()| Reply::Handled), |_| {})
}

#[no_mangle]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    PLUGINS.len() as c_int
}

/// The `nth` plugin, NULL when out of range. The struct is static and never written.
#[no_mangle]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *mut OfxPlugin {
    catch_unwind(|| match usize::try_from(nth).ok().and_then(|i| PLUGINS.get(i)) {
        Some(p) => ptr::from_ref(p).cast_mut(),
        None => ptr::null_mut(),
    })
    .unwrap_or(ptr::null_mut())
}

/// Each plugin's `setHost`.
///
/// # Safety
/// `host` must be NULL or point at a valid `OfxHost`.
unsafe extern "C" fn plugin_set_host(host: *mut OfxHost) {
    // SAFETY: forwarded from the host under OfxSetHost's contract, which this fn shares. setHost
    // returns nothing; a failure resurfaces in Load.
    let _ = unsafe { OfxSetHost(host) };
}

/// `mainEntry` of Generate.
///
/// # Safety
/// As [`main_entry`]: the host's action name and handles, passed on unchanged.
unsafe extern "C" fn generate_main(
    a: *const c_char,
    h: *const c_void,
    i: OfxPropertySetHandle,
    o: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: the host's arguments, passed on under the contract main_entry shares with this fn.
    unsafe { main_entry(&effects::GENERATE, a, h, i, o) }
}

/// `mainEntry` of Animate.
///
/// # Safety
/// As [`main_entry`]: the host's action name and handles, passed on unchanged.
unsafe extern "C" fn animate_main(
    a: *const c_char,
    h: *const c_void,
    i: OfxPropertySetHandle,
    o: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: the host's arguments, passed on under the contract main_entry shares with this fn.
    unsafe { main_entry(&effects::ANIMATE, a, h, i, o) }
}

/// `mainEntry` of Extend.
///
/// # Safety
/// As [`main_entry`]: the host's action name and handles, passed on unchanged.
unsafe extern "C" fn extend_main(
    a: *const c_char,
    h: *const c_void,
    i: OfxPropertySetHandle,
    o: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: the host's arguments, passed on under the contract main_entry shares with this fn.
    unsafe { main_entry(&effects::EXTEND, a, h, i, o) }
}

/// `mainEntry` of Interpolate.
///
/// # Safety
/// As [`main_entry`]: the host's action name and handles, passed on unchanged.
unsafe extern "C" fn interpolate_main(
    a: *const c_char,
    h: *const c_void,
    i: OfxPropertySetHandle,
    o: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: the host's arguments, passed on under the contract main_entry shares with this fn.
    unsafe { main_entry(&effects::INTERPOLATE, a, h, i, o) }
}

/// Runs one action for `spec` inside the guard.
///
/// # Safety
/// `action` must be NULL or a NUL-terminated string; the handles are whatever the host passes
/// for that action.
pub unsafe fn main_entry(
    spec: &'static EffectSpec,
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    guard(
        || {
            if action.is_null() {
                return Err(OfxError::bad_handle("the action name"));
            }
            // SAFETY: non-null and NUL-terminated by the caller's contract.
            let action = unsafe { CStr::from_ptr(action) };
            debug_panic(action);
            dispatch(&Call { spec, action, handle, in_args, out_args })
        },
        |err| {
            // SAFETY: same contract as above; `report` checks every pointer before use.
            let action = (!action.is_null()).then(|| unsafe { CStr::from_ptr(action) });
            report(spec, action, handle, in_args, err)
        },
    )
}

/// Panics when [`DEBUG_PANIC_ENV`] names `action` (debug builds only).
fn debug_panic(action: &CStr) {
    #[cfg(debug_assertions)]
    if std::env::var_os(DEBUG_PANIC_ENV).is_some_and(|v| v.as_encoded_bytes() == action.to_bytes()) {
        panic!("{DEBUG_PANIC_ENV}: deliberate panic in {}", action.to_string_lossy());
    }
    #[cfg(not(debug_assertions))]
    let _ = action;
}

/// Errors (panics included) reach users through the host's messages and the instance's Status
/// (shown at the next InstanceChanged); debug builds also log them. Descriptor actions (Load,
/// Describe…) have no instance to show them on, so the status code is all the host gets.
fn report(
    spec: &EffectSpec,
    action: Option<&CStr>,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    err: &OfxError,
) {
    #[cfg(debug_assertions)]
    eprintln!("kinema {}: {err}", spec.id.to_string_lossy());
    #[cfg(not(debug_assertions))]
    let _ = spec;
    let descriptor_action =
        [kOfxActionLoad, kOfxActionUnload, kOfxActionDescribe, kOfxImageEffectActionDescribeInContext];
    if action.is_none_or(|a| descriptor_action.contains(&a)) {
        return;
    }
    // SAFETY: for instance actions the host passes an image effect handle (checked for NULL).
    let Ok(effect) = (unsafe { ImageEffect::from_raw(handle as OfxImageEffectHandle) }) else { return };
    // A failed frame's error is its Status; Render's inArgs say which frame.
    let time = (action == Some(kOfxImageEffectActionRender))
        .then(|| {
            // SAFETY: Render's inArgs from the host (NULL is refused by from_raw).
            let args = unsafe { super::props::PropertySet::from_raw(in_args, "inArgs") }.ok()?;
            args.double(kOfxPropTime).ok()
        })
        .flatten();
    if let Ok(inst) = Instance::of(&effect) {
        inst.report(&effect, time, &err.message, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofx::status::PANIC_STATUS;

    #[test]
    fn four_plugins_with_the_image_effect_api_and_static_ids() {
        assert_eq!(OfxGetNumberOfPlugins(), 4);
        for (i, spec) in effects::EFFECTS.iter().enumerate() {
            let p = OfxGetPlugin(i as c_int);
            assert!(!p.is_null());
            // SAFETY: a pointer to one of our statics.
            let p = unsafe { &*p };
            // SAFETY: pluginApi points at a `'static` C string constant.
            let api = unsafe { CStr::from_ptr(p.pluginApi) };
            assert_eq!(api, kOfxImageEffectPluginApi);
            assert_eq!(p.apiVersion, 1);
            // SAFETY: pluginIdentifier points at the effect's `'static` C string id.
            let id = unsafe { CStr::from_ptr(p.pluginIdentifier) };
            assert_eq!(id, spec.id);
            assert!(p.setHost.is_some() && p.mainEntry.is_some());
        }
        assert!(OfxGetPlugin(4).is_null());
        assert!(OfxGetPlugin(-1).is_null());
    }

    #[test]
    fn bad_arguments_are_statuses_not_crashes() {
        // SAFETY: NULL action and handles are exactly what is being tested.
        let status =
            unsafe { main_entry(&effects::INTERPOLATE, ptr::null(), ptr::null(), ptr::null_mut(), ptr::null_mut()) };
        assert_eq!(status, kOfxStatErrBadHandle);
        let unknown = c"OfxActionNotAThing";
        // SAFETY: a valid C string action with NULL handles, which an unknown action never reads.
        let status = unsafe {
            main_entry(&effects::INTERPOLATE, unknown.as_ptr(), ptr::null(), ptr::null_mut(), ptr::null_mut())
        };
        assert_eq!(status, kOfxStatReplyDefault);
        // A render on a NULL instance is an error status.
        let render = kOfxImageEffectActionRender;
        // SAFETY: a valid C string action; the NULL instance handle is refused before any use.
        let status = unsafe {
            main_entry(&effects::INTERPOLATE, render.as_ptr(), ptr::null(), ptr::null_mut(), ptr::null_mut())
        };
        assert_ne!(status, kOfxStatOK);
        // SAFETY: NULL is allowed by OfxSetHost's contract, and refused.
        let status = unsafe { OfxSetHost(ptr::null()) };
        assert_eq!(status, kOfxStatErrBadHandle);
    }

    #[cfg(debug_assertions)]
    #[test]
    fn the_debug_panic_injector_panics_inside_the_guard() {
        // Only this test uses this action name, so the process-wide variable cannot affect others.
        let action = c"OfxActionSyncPrivateData";
        std::env::set_var(DEBUG_PANIC_ENV, action.to_str().unwrap());
        // SAFETY: a valid C string action with NULL handles; it panics before reading them.
        let status =
            unsafe { main_entry(&effects::GENERATE, action.as_ptr(), ptr::null(), ptr::null_mut(), ptr::null_mut()) };
        std::env::remove_var(DEBUG_PANIC_ENV);
        assert_eq!(status, PANIC_STATUS);
        // And the same call without the variable is handled normally.
        // SAFETY: a valid C string action with NULL handles, which SyncPrivateData never reads.
        let status =
            unsafe { main_entry(&effects::GENERATE, action.as_ptr(), ptr::null(), ptr::null_mut(), ptr::null_mut()) };
        assert_eq!(status, kOfxStatReplyDefault);
    }
}
