//! Parameter values for the C shim behind the varargs `paramGetValue`/`paramSetValue` calls: the value's shape,
//! typed copies in and out, and the rule that plugins set parameters only in InstanceChanged.

use std::ffi::{c_char, c_double, c_int, CStr};
use std::sync::atomic::Ordering;

use ofx_abi::*;

use super::lookup_param;
use crate::diag::{self, ViolationKind};
use crate::objects::Param;
use crate::params::{ParamValue, Shape};
use crate::suites::{bad_arg, cstr, current_action, guard};

/// A non-finite time on an AtTime call is a violation (ErrValue).
fn check_time(func: &str, at_time: c_int, time: f64) -> Result<(), OfxStatus> {
    if at_time != 0 && !time.is_finite() {
        diag::report(ViolationKind::BadArgument, format!("{func}: time {time} is not finite"));
        return Err(kOfxStatErrValue);
    }
    Ok(())
}

/// For the shim: how the value travels (0 ints, 1 doubles, 2 string, 3 none) and how many.
///
/// # Safety
/// `kind` and `count` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_shape(h: OfxParamHandle, kind: *mut c_int, count: *mut c_int) -> OfxStatus {
    // SAFETY: `kind` and `count` are checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let p = match lookup_param("paramGetValue/paramSetValue", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        let (k, n) = match p.shape() {
            Shape::Ints(n) => (0, n),
            Shape::Doubles(n) => (1, n),
            Shape::Str => (2, 1),
            Shape::NoValue => (3, 0),
        };
        if !kind.is_null() {
            *kind = k;
        }
        if !count.is_null() {
            *count = n as c_int;
        }
        kOfxStatOK
    })
}

/// For the shim: reports a NULL vararg out-pointer.
///
/// # Safety
/// `func` and `why` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_report_bad_arg(func: *const c_char, why: *const c_char) {
    // SAFETY: `func` and `why` are NULL or NUL-terminated (the caller's contract).
    let _ = guard(|| unsafe {
        bad_arg(cstr(func).unwrap_or("?"), cstr(why).unwrap_or("?"));
        kOfxStatOK
    });
}

/// For the shim: an int-valued parameter's values (ErrValue for another type).
///
/// # Safety
/// `out` has room for `n` ints.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_get_ints(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    out: *mut c_int,
    n: c_int,
) -> OfxStatus {
    // SAFETY: `out` has room for `n` values (the caller's contract), as `copy_param_values` requires.
    unsafe { copy_param_values(h, at_time, time, out, n, |p| p.value().ints()) }
}

/// For the shim: a double-valued parameter's values (ErrValue for another type).
///
/// # Safety
/// `out` has room for `n` doubles.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_get_doubles(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    out: *mut c_double,
    n: c_int,
) -> OfxStatus {
    // SAFETY: `out` has room for `n` values (the caller's contract), as `copy_param_values` requires.
    unsafe { copy_param_values(h, at_time, time, out, n, |p| p.value_at(value_time(at_time, time)).doubles()) }
}

/// The time a value is read at: the call's, or for `paramGetValue` the current action's frame (the
/// value "at the current time" of an animated parameter), 0 outside a frame's action.
fn value_time(at_time: c_int, time: f64) -> f64 {
    if at_time != 0 {
        return time;
    }
    diag::current().and_then(|c| c.frame).map(|f| f as f64).unwrap_or(0.0)
}

/// For the shim: `paramGetDerivative` (`integral` 0) at `t1`, or `paramGetIntegral` (1) from `t1` to
/// `t2`, of a double parameter: exact for its keyed curve, `value × (t2 - t1)` and 0 when not animated.
///
/// # Safety
/// `out` has room for `n` doubles.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_calculus(
    h: OfxParamHandle,
    integral: c_int,
    t1: c_double,
    t2: c_double,
    out: *mut c_double,
    n: c_int,
) -> OfxStatus {
    // SAFETY: `out` has room for `n` values (the caller's contract); at most `n` are written.
    guard(|| unsafe {
        let func = if integral != 0 { "paramGetIntegral" } else { "paramGetDerivative" };
        let p = match lookup_param(func, h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if let Err(s) = check_time(func, 1, t1).and_then(|_| check_time(func, 1, t2)) {
            return s;
        }
        let keys = p.keys();
        let Some(values) = p.value_at(t1).doubles() else {
            return bad_arg(func, "only double parameters have derivatives and integrals");
        };
        for (i, v) in values.iter().take(n.max(0) as usize).enumerate() {
            *out.add(i) = match (keys.is_empty(), integral != 0) {
                (true, true) => v * (t2 - t1),
                (true, false) => 0.0,
                (false, true) => crate::params::curve_integral(&keys, t1, t2),
                (false, false) => crate::params::curve_derivative(&keys, t1),
            };
        }
        kOfxStatOK
    })
}

/// The numeric getters behind the varargs `paramGetValue[AtTime]`: check the handle and time,
/// then copy up to `n` values of the parameter's kind (ErrValue for another kind).
///
/// # Safety
/// `out` must hold `n` values.
unsafe fn copy_param_values<T: Copy, V: AsRef<[T]>>(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    out: *mut T,
    n: c_int,
    values: impl FnOnce(&Param) -> Option<V>,
) -> OfxStatus {
    // SAFETY: `out` holds `n` values (the caller's contract); at most `n` are written.
    guard(|| unsafe {
        let p = match lookup_param("paramGetValue", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if let Err(s) = check_time("paramGetValueAtTime", at_time, time) {
            return s;
        }
        let Some(v) = values(&p) else {
            return kOfxStatErrValue;
        };
        for (i, x) in v.as_ref().iter().take(n.max(0) as usize).enumerate() {
            *out.add(i) = *x;
        }
        kOfxStatOK
    })
}

/// For the shim: a string parameter's value, stored by the parameter until it changes.
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_get_string(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    out: *mut *const c_char,
) -> OfxStatus {
    // SAFETY: `out` is writable (the caller's contract: the shim passes the plugin's checked pointer).
    guard(|| unsafe {
        let p = match lookup_param("paramGetValue", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if let Err(s) = check_time("paramGetValueAtTime", at_time, time) {
            return s;
        }
        if p.is_descriptor {
            // Descriptors keep their default in the property set; hand out that storage.
            return match p.props.plugin_get_string(&kOfxParamPropDefault.to_string_lossy(), 0) {
                Ok(s) => {
                    *out = s;
                    kOfxStatOK
                }
                Err(e) => e.status(),
            };
        }
        *out = p.state.lock().cstr_ptr();
        kOfxStatOK
    })
}

/// Actions that render (or prepare a render): a plugin may not change parameters in them. The spec allows
/// paramSetValue only in InstanceChanged and interacts (ofxParam.h); hosts differ in what they do with a write
/// during a render (ignore it, re-render, or send a nested InstanceChanged).
const RENDER_ACTIONS: [&str; 7] = [
    "Render",
    "BeginSequenceRender",
    "EndSequenceRender",
    "GetRegionOfDefinition",
    "GetRegionsOfInterest",
    "GetFramesNeeded",
    "IsIdentity",
];

/// Sets a parameter for the plugin: never on a descriptor, and during a render action only as a recorded
/// violation (refused in strict mode). A change in InstanceChanged is marked for the PluginEdited round.
pub(super) fn plugin_set(func: &str, p: &Param, v: ParamValue) -> OfxStatus {
    plugin_edit(func, p, |st| st.set(v))
}

/// A plugin's change to a parameter (a value, a key): never on a descriptor, and during a render
/// action only as a recorded violation (refused in strict mode). A change in InstanceChanged is
/// marked for the PluginEdited round.
pub(super) fn plugin_edit(func: &str, p: &Param, edit: impl FnOnce(&mut crate::objects::ParamState)) -> OfxStatus {
    if p.is_descriptor {
        return bad_arg(func, &format!("'{}' is a parameter descriptor; set kOfxParamPropDefault instead", p.name));
    }
    let action = current_action();
    if RENDER_ACTIONS.contains(&action.as_str()) {
        let strict = diag::current().is_some_and(|c| c.diag.is_strict());
        diag::report(
            ViolationKind::ParamSetDuringRender,
            format!(
                "{func}: the {} parameter '{}' was set during {action}{} (parameters may only be set in \
                 InstanceChanged and interacts)",
                p.kind.name(),
                p.name,
                if strict { ", refused in strict mode" } else { "" },
            ),
        );
        if strict {
            return kOfxStatFailed;
        }
    }
    edit(&mut p.state.lock());
    if action.ends_with("InstanceChanged") {
        // The host answers a plugin's own change with InstanceChanged (reason PluginEdited) once this one returns.
        p.plugin_edited.store(true, Ordering::SeqCst);
    }
    kOfxStatOK
}

/// For the shim: sets an int-valued parameter from `n` values.
///
/// # Safety
/// `v` points at `n` ints.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_set_ints(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    v: *const c_int,
    n: c_int,
) -> OfxStatus {
    // SAFETY: `v` points at `n` ints (the caller's contract: the shim's local array).
    guard(|| unsafe {
        let p = match lookup_param("paramSetValue", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if let Err(s) = check_time("paramSetValueAtTime", at_time, time) {
            return s;
        }
        let vals = std::slice::from_raw_parts(v, n.max(0) as usize);
        plugin_set("paramSetValue", &p, ParamValue::from_ints(p.kind, vals))
    })
}

/// For the shim: sets a double-valued parameter from `n` values.
///
/// # Safety
/// `v` points at `n` doubles.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_set_doubles(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    v: *const c_double,
    n: c_int,
) -> OfxStatus {
    // SAFETY: `v` points at `n` doubles (the caller's contract: the shim's local array).
    guard(|| unsafe {
        let p = match lookup_param("paramSetValue", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if let Err(s) = check_time("paramSetValueAtTime", at_time, time) {
            return s;
        }
        let vals = std::slice::from_raw_parts(v, n.max(0) as usize);
        if vals.iter().any(|x| !x.is_finite()) {
            diag::report(ViolationKind::BadArgument, format!("paramSetValue: non-finite value for '{}'", p.name));
            return kOfxStatErrValue;
        }
        if at_time != 0 && p.kind == crate::params::ParamKind::Double && p.props.int(kOfxParamPropAnimates) == Some(1) {
            // paramSetValueAtTime on an animating double sets a key there (linear on to the next).
            let key = crate::params::Key { time, value: vals[0], interp: crate::params::KeyInterp::Linear };
            return plugin_edit("paramSetValueAtTime", &p, |st| {
                st.keys.retain(|k| k.time != time);
                let at = st.keys.partition_point(|k| k.time < time);
                st.keys.insert(at, key);
            });
        }
        plugin_set("paramSetValue", &p, ParamValue::from_doubles(p.kind, vals))
    })
}

/// For the shim: sets a string parameter.
///
/// # Safety
/// `v` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_set_string(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    v: *const c_char,
) -> OfxStatus {
    // SAFETY: `v` is checked for NULL and otherwise NUL-terminated (the caller's contract).
    guard(|| unsafe {
        let p = match lookup_param("paramSetValue", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if let Err(s) = check_time("paramSetValueAtTime", at_time, time) {
            return s;
        }
        if v.is_null() {
            return bad_arg("paramSetValue", "NULL string");
        }
        let s = CStr::from_ptr(v).to_string_lossy().into_owned();
        plugin_set("paramSetValue", &p, ParamValue::String(s))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::diag::Diagnostics;
    use crate::params::ParamKind;
    use crate::suites::param::PARAMETER_SUITE;
    use crate::suites::test_support::{ctx, instance_param};

    #[test]
    fn shim_round_trips_every_value_shape() {
        let get = PARAMETER_SUITE.paramGetValue.unwrap();
        let get_t = PARAMETER_SUITE.paramGetValueAtTime.unwrap();
        let set = PARAMETER_SUITE.paramSetValue.unwrap();
        let set_t = PARAMETER_SUITE.paramSetValueAtTime.unwrap();
        let integral = PARAMETER_SUITE.paramGetIntegral.unwrap();
        // SAFETY: each call passes varargs of the parameter's type (out pointers to live locals, literal
        // strings), as the parameter suite requires; the bad handle is only looked up.
        unsafe {
            let i = instance_param(ParamKind::Int, "I");
            assert_eq!(set(i.handle(), 42 as c_int), kOfxStatOK);
            let mut v: c_int = 0;
            assert_eq!(get(i.handle(), &mut v as *mut c_int), kOfxStatOK);
            assert_eq!(v, 42);

            let d2 = instance_param(ParamKind::Double2D, "D2");
            assert_eq!(set_t(d2.handle(), 5.0, 1.5f64, -2.25f64), kOfxStatOK);
            let (mut a, mut b) = (0.0f64, 0.0f64);
            // The time argument is a fixed parameter: the values after it must not be shifted.
            assert_eq!(get_t(d2.handle(), 17.0, &mut a as *mut f64, &mut b as *mut f64), kOfxStatOK);
            assert_eq!((a, b), (1.5, -2.25));
            assert_eq!(d2.value(), ParamValue::Double2D(1.5, -2.25));
            let (mut ia, mut ib) = (0.0f64, 0.0f64);
            assert_eq!(integral(d2.handle(), 1.0, 3.0, &mut ia as *mut f64, &mut ib as *mut f64), kOfxStatOK);
            assert_eq!((ia, ib), (3.0, -4.5));

            let s = instance_param(ParamKind::String, "S");
            assert_eq!(set(s.handle(), c"hello".as_ptr()), kOfxStatOK);
            let mut out: *const c_char = std::ptr::null();
            assert_eq!(get(s.handle(), &mut out as *mut *const c_char), kOfxStatOK);
            assert_eq!(CStr::from_ptr(out), c"hello");

            let rgba = instance_param(ParamKind::Rgba, "C");
            assert_eq!(set(rgba.handle(), 0.1f64, 0.2f64, 0.3f64, 0.4f64), kOfxStatOK);
            assert_eq!(rgba.value(), ParamValue::Rgba(0.1, 0.2, 0.3, 0.4));

            let b = instance_param(ParamKind::Bool, "B");
            assert_eq!(set(b.handle(), 1 as c_int), kOfxStatOK);
            assert_eq!(b.value(), ParamValue::Bool(true));

            // Bad handles are rejected, not dereferenced.
            let diag = Arc::new(Diagnostics::default());
            let st = diag::with_ctx(ctx(&diag, "OfxImageEffectActionRender"), || {
                get(0x1000 as OfxParamHandle, &mut v as *mut c_int)
            });
            assert_eq!(st, kOfxStatErrBadHandle);
            assert_eq!(diag.violations.lock()[0].kind, ViolationKind::BadHandle);
            assert_eq!(diag.violations.lock()[0].frame, Some(3));
            // Non-finite time.
            let st = diag::with_ctx(ctx(&diag, "x"), || get_t(i.handle(), f64::NAN, &mut v as *mut c_int));
            assert_eq!(st, kOfxStatErrValue);
        }
    }

    #[test]
    fn setting_any_param_in_a_render_action_is_a_violation_and_strict_mode_refuses_it() {
        let set = PARAMETER_SUITE.paramSetValue.unwrap();
        let diag = Arc::new(Diagnostics::default());
        let d = instance_param(ParamKind::Double, "D");
        let s = instance_param(ParamKind::String, "Status");
        // Reported, and done, by default: a String parameter (a status line) is no exception.
        // SAFETY: each value has the parameter's type (a literal string, a double), as the varargs call requires.
        diag::with_ctx(ctx(&diag, "OfxImageEffectActionRender"), || unsafe {
            assert_eq!(set(s.handle(), c"rendering".as_ptr()), kOfxStatOK);
            assert_eq!(set(d.handle(), 2.0f64), kOfxStatOK);
        });
        // SAFETY: a double for a Double parameter, as the varargs call requires.
        diag::with_ctx(ctx(&diag, "OfxImageEffectActionGetRegionOfDefinition"), || unsafe {
            assert_eq!(set(d.handle(), 2.5f64), kOfxStatOK);
        });
        let kinds: Vec<_> = diag.violations.lock().iter().map(|v| (v.kind, v.action.clone())).collect();
        assert_eq!(
            kinds,
            [
                (ViolationKind::ParamSetDuringRender, "Render".to_owned()),
                (ViolationKind::ParamSetDuringRender, "Render".to_owned()),
                (ViolationKind::ParamSetDuringRender, "GetRegionOfDefinition".to_owned()),
            ]
        );
        assert_eq!((s.value(), d.value()), (ParamValue::String("rendering".into()), ParamValue::Double(2.5)));
        // Strict: refused with an error status, the value unchanged, and still recorded.
        diag.strict.store(true, Ordering::SeqCst);
        // SAFETY: a literal string for a String parameter, as the varargs call requires.
        diag::with_ctx(ctx(&diag, "OfxImageEffectActionRender"), || unsafe {
            assert_eq!(set(s.handle(), c"again".as_ptr()), kOfxStatFailed);
        });
        assert_eq!(s.value(), ParamValue::String("rendering".into()));
        let last = diag.violations.lock().last().cloned().unwrap();
        assert!(last.kind == ViolationKind::ParamSetDuringRender && last.message.contains("refused"), "{last}");
        // InstanceChanged is where parameters may change: no violation, and the change is marked for the
        // host's PluginEdited notification.
        let before = diag.violations.lock().len();
        // SAFETY: a literal string for a String parameter, as the varargs call requires.
        diag::with_ctx(ctx(&diag, "OfxActionInstanceChanged"), || unsafe {
            assert_eq!(set(s.handle(), c"shown".as_ptr()), kOfxStatOK);
        });
        assert_eq!(diag.violations.lock().len(), before);
        assert!(s.plugin_edited.load(Ordering::SeqCst));
    }
}
