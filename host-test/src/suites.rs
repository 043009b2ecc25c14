//! The raw FFI: every suite function the host exposes, `fetchSuite`, and the non-variadic functions the C
//! shim (`shim.c`) calls for the varargs entry points. Each function resolves its handles through the
//! registry, never dereferences one blindly, catches panics, and reports rule breaks as violations.

#![allow(clippy::missing_safety_doc)]

use std::collections::HashMap;
use std::ffi::{c_char, c_double, c_int, c_uint, c_void, CStr, CString};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;

use ofx_abi::*;
use parking_lot::{Condvar, Mutex};

use crate::diag::{self, Message, ViolationKind};
use crate::handles;
use crate::image::{PixelBuffer, Rect};
use crate::objects::{Clip, Effect, Image, ImageMemory, Param, ParamSet};
use crate::params::{define_defaults, ParamKind, ParamValue, Shape};
use crate::props::{PropError, PropSet, PropValue, Scalar};
use crate::ProgressEvent;

fn guard(f: impl FnOnce() -> OfxStatus) -> OfxStatus {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(kOfxStatErrFatal)
}

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

fn bad_arg(func: &str, why: &str) -> OfxStatus {
    diag::report(ViolationKind::BadArgument, format!("{func}: {why}"));
    kOfxStatErrBadHandle
}

/// A C string argument; None for NULL or invalid UTF-8.
unsafe fn cstr<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the plugin passes a NUL-terminated string, as the API requires.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

fn current_action() -> String {
    diag::current().map(|c| diag::short_action(&c.action).to_owned()).unwrap_or_default()
}

// ------------------------------------------------------------------------------------------------------------
// Property suite

fn prop_status(func: &str, set: &PropSet, name: &str, r: Result<(), PropError>) -> OfxStatus {
    match r {
        Ok(()) => kOfxStatOK,
        Err(e) => {
            match &e {
                PropError::ReadOnly => diag::report(
                    ViolationKind::ReadOnlyProperty,
                    format!("{func}: '{name}' on the {} property set is read-only for plugins", set.what),
                ),
                PropError::WrongType { stored, asked } => diag::report(
                    ViolationKind::BadArgument,
                    format!("{func}: '{name}' on the {} property set is of type {stored}, not {asked}", set.what),
                ),
                PropError::Unknown | PropError::BadIndex => {}
            }
            e.status()
        }
    }
}

unsafe fn with_set(
    func: &str,
    h: OfxPropertySetHandle,
    name: *const c_char,
    f: impl FnOnce(&PropSet, &str) -> Result<(), PropError>,
) -> OfxStatus {
    let Some(set) = handles::lookup::<PropSet>(h as *const c_void) else {
        return bad_handle(func, "property set", h as *const c_void);
    };
    let Some(name) = (unsafe { cstr(name) }) else {
        return bad_arg(func, "NULL or non-UTF-8 property name");
    };
    let r = f(&set, name);
    prop_status(func, &set, name, r)
}

fn index(i: c_int) -> Result<usize, PropError> {
    usize::try_from(i).map_err(|_| PropError::BadIndex)
}

unsafe extern "C" fn prop_set_pointer(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    v: *mut c_void,
) -> OfxStatus {
    guard(|| unsafe {
        with_set("propSetPointer", h, p, |s, n| s.plugin_set(n, index(i)?, Scalar::Pointer(v as usize)))
    })
}
unsafe extern "C" fn prop_set_string(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    v: *const c_char,
) -> OfxStatus {
    guard(|| unsafe {
        if v.is_null() {
            return bad_arg("propSetString", "NULL value");
        }
        let v = CStr::from_ptr(v).to_owned();
        with_set("propSetString", h, p, |s, n| s.plugin_set(n, index(i)?, Scalar::String(v)))
    })
}
unsafe extern "C" fn prop_set_double(h: OfxPropertySetHandle, p: *const c_char, i: c_int, v: c_double) -> OfxStatus {
    guard(|| unsafe { with_set("propSetDouble", h, p, |s, n| s.plugin_set(n, index(i)?, Scalar::Double(v))) })
}
unsafe extern "C" fn prop_set_int(h: OfxPropertySetHandle, p: *const c_char, i: c_int, v: c_int) -> OfxStatus {
    guard(|| unsafe { with_set("propSetInt", h, p, |s, n| s.plugin_set(n, index(i)?, Scalar::Int(v))) })
}

/// Reads `count` elements from a plugin array (NULL is only fine for count 0).
unsafe fn read_n<T: Copy>(p: *const T, count: c_int) -> Option<Vec<T>> {
    let n = usize::try_from(count).ok()?;
    if n == 0 {
        return Some(Vec::new());
    }
    if p.is_null() {
        return None;
    }
    // SAFETY: the plugin promises `count` elements.
    Some(unsafe { std::slice::from_raw_parts(p, n) }.to_vec())
}

unsafe extern "C" fn prop_set_pointer_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    c: c_int,
    v: *const *mut c_void,
) -> OfxStatus {
    guard(|| unsafe {
        let Some(v) = read_n(v, c) else {
            return bad_arg("propSetPointerN", "bad count or NULL array");
        };
        with_set("propSetPointerN", h, p, |s, n| {
            s.plugin_set_n(n, PropValue::Pointer(v.iter().map(|&x| x as usize).collect()))
        })
    })
}
unsafe extern "C" fn prop_set_string_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    c: c_int,
    v: *const *const c_char,
) -> OfxStatus {
    guard(|| unsafe {
        let Some(v) = read_n(v, c) else {
            return bad_arg("propSetStringN", "bad count or NULL array");
        };
        if v.iter().any(|s| s.is_null()) {
            return bad_arg("propSetStringN", "NULL string in the array");
        }
        let v: Vec<CString> = v.iter().map(|&s| CStr::from_ptr(s).to_owned()).collect();
        with_set("propSetStringN", h, p, |s, n| s.plugin_set_n(n, PropValue::String(v)))
    })
}
unsafe extern "C" fn prop_set_double_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    c: c_int,
    v: *const c_double,
) -> OfxStatus {
    guard(|| unsafe {
        let Some(v) = read_n(v, c) else {
            return bad_arg("propSetDoubleN", "bad count or NULL array");
        };
        with_set("propSetDoubleN", h, p, |s, n| s.plugin_set_n(n, PropValue::Double(v)))
    })
}
unsafe extern "C" fn prop_set_int_n(h: OfxPropertySetHandle, p: *const c_char, c: c_int, v: *const c_int) -> OfxStatus {
    guard(|| unsafe {
        let Some(v) = read_n(v, c) else {
            return bad_arg("propSetIntN", "bad count or NULL array");
        };
        with_set("propSetIntN", h, p, |s, n| s.plugin_set_n(n, PropValue::Int(v)))
    })
}

macro_rules! getter {
    ($fname:ident, $cname:literal, $ty:ty, $get:ident, $conv:expr) => {
        unsafe extern "C" fn $fname(h: OfxPropertySetHandle, p: *const c_char, i: c_int, out: *mut $ty) -> OfxStatus {
            guard(|| unsafe {
                if out.is_null() {
                    return bad_arg($cname, "NULL value pointer");
                }
                with_set($cname, h, p, |s, n| {
                    let v = s.$get(n, index(i)?)?;
                    *out = $conv(v);
                    Ok(())
                })
            })
        }
    };
}
getter!(prop_get_pointer, "propGetPointer", *mut c_void, plugin_get_pointer, |v: usize| v as *mut c_void);
getter!(prop_get_string, "propGetString", *mut c_char, plugin_get_string, |v: *const c_char| v as *mut c_char);
getter!(prop_get_double, "propGetDouble", c_double, plugin_get_double, |v: f64| v);
getter!(prop_get_int, "propGetInt", c_int, plugin_get_int, |v: i32| v);

macro_rules! getter_n {
    ($fname:ident, $cname:literal, $ty:ty, $get:ident, $conv:expr) => {
        unsafe extern "C" fn $fname(h: OfxPropertySetHandle, p: *const c_char, c: c_int, out: *mut $ty) -> OfxStatus {
            guard(|| unsafe {
                let Ok(count) = usize::try_from(c) else {
                    return bad_arg($cname, "negative count");
                };
                if out.is_null() && count > 0 {
                    return bad_arg($cname, "NULL value array");
                }
                with_set($cname, h, p, |s, n| {
                    if s.plugin_dimension(n)? < count {
                        return Err(PropError::BadIndex);
                    }
                    for i in 0..count {
                        *out.add(i) = $conv(s.$get(n, i)?);
                    }
                    Ok(())
                })
            })
        }
    };
}
getter_n!(prop_get_pointer_n, "propGetPointerN", *mut c_void, plugin_get_pointer, |v: usize| v as *mut c_void);
getter_n!(prop_get_string_n, "propGetStringN", *mut c_char, plugin_get_string, |v: *const c_char| v as *mut c_char);
getter_n!(prop_get_double_n, "propGetDoubleN", c_double, plugin_get_double, |v: f64| v);
getter_n!(prop_get_int_n, "propGetIntN", c_int, plugin_get_int, |v: i32| v);

unsafe extern "C" fn prop_reset(h: OfxPropertySetHandle, p: *const c_char) -> OfxStatus {
    guard(|| unsafe { with_set("propReset", h, p, |s, n| s.plugin_reset(n)) })
}
unsafe extern "C" fn prop_get_dimension(h: OfxPropertySetHandle, p: *const c_char, out: *mut c_int) -> OfxStatus {
    guard(|| unsafe {
        if out.is_null() {
            return bad_arg("propGetDimension", "NULL count pointer");
        }
        with_set("propGetDimension", h, p, |s, n| {
            *out = s.plugin_dimension(n)? as c_int;
            Ok(())
        })
    })
}

static PROPERTY_SUITE: OfxPropertySuiteV1 = OfxPropertySuiteV1 {
    propSetPointer: Some(prop_set_pointer),
    propSetString: Some(prop_set_string),
    propSetDouble: Some(prop_set_double),
    propSetInt: Some(prop_set_int),
    propSetPointerN: Some(prop_set_pointer_n),
    propSetStringN: Some(prop_set_string_n),
    propSetDoubleN: Some(prop_set_double_n),
    propSetIntN: Some(prop_set_int_n),
    propGetPointer: Some(prop_get_pointer),
    propGetString: Some(prop_get_string),
    propGetDouble: Some(prop_get_double),
    propGetInt: Some(prop_get_int),
    propGetPointerN: Some(prop_get_pointer_n),
    propGetStringN: Some(prop_get_string_n),
    propGetDoubleN: Some(prop_get_double_n),
    propGetIntN: Some(prop_get_int_n),
    propReset: Some(prop_reset),
    propGetDimension: Some(prop_get_dimension),
};

// ------------------------------------------------------------------------------------------------------------
// Parameter suite

unsafe extern "C" fn param_define(
    set: OfxParamSetHandle,
    ty: *const c_char,
    name: *const c_char,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| unsafe {
        let Some(set) = handles::lookup::<ParamSet>(set as *const c_void) else {
            return bad_handle("paramDefine", "parameter set", set as *const c_void);
        };
        if !set.is_descriptor {
            return bad_arg("paramDefine", "parameters can only be defined on a descriptor's parameter set");
        }
        let (Some(ty), Some(name)) = (cstr(ty), cstr(name)) else {
            return bad_arg("paramDefine", "NULL or non-UTF-8 type or name");
        };
        let Some(kind) = ParamKind::from_ofx(ty) else {
            diag::report(
                ViolationKind::BadArgument,
                format!("paramDefine: unsupported parameter type '{ty}' for '{name}'"),
            );
            return kOfxStatErrUnknown;
        };
        if set.get(name).is_some() {
            return kOfxStatErrExists;
        }
        let p = Param::new(name.to_owned(), kind, true);
        define_defaults(&p.props, kind, name);
        set.params.write().push(p.clone());
        if !out.is_null() {
            *out = p.props.handle();
        }
        kOfxStatOK
    })
}

unsafe extern "C" fn param_get_handle(
    set: OfxParamSetHandle,
    name: *const c_char,
    param: *mut OfxParamHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| unsafe {
        let Some(set) = handles::lookup::<ParamSet>(set as *const c_void) else {
            return bad_handle("paramGetHandle", "parameter set", set as *const c_void);
        };
        let Some(name) = cstr(name) else {
            return bad_arg("paramGetHandle", "NULL name");
        };
        if param.is_null() {
            return bad_arg("paramGetHandle", "NULL param pointer");
        }
        let Some(p) = set.get(name) else {
            return kOfxStatErrUnknown;
        };
        *param = p.handle();
        if !props.is_null() {
            *props = p.props.handle();
        }
        kOfxStatOK
    })
}

unsafe extern "C" fn param_set_get_property_set(set: OfxParamSetHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    unsafe {
        write_props::<ParamSet>("paramSetGetPropertySet", "parameter set", set as *const c_void, out, |s| {
            s.props.handle()
        })
    }
}

unsafe extern "C" fn param_get_property_set(param: OfxParamHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    unsafe {
        write_props::<Param>("paramGetPropertySet", "parameter", param as *const c_void, out, |p| p.props.handle())
    }
}

fn lookup_param(func: &str, h: OfxParamHandle) -> Result<Arc<Param>, OfxStatus> {
    handles::lookup::<Param>(h as *const c_void).ok_or_else(|| bad_handle(func, "parameter", h as *const c_void))
}

fn check_time(func: &str, at_time: c_int, time: f64) -> Result<(), OfxStatus> {
    if at_time != 0 && !time.is_finite() {
        diag::report(ViolationKind::BadArgument, format!("{func}: time {time} is not finite"));
        return Err(kOfxStatErrValue);
    }
    Ok(())
}

/// For the shim: how the value travels (0 ints, 1 doubles, 2 string, 3 none) and how many.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_shape(h: OfxParamHandle, kind: *mut c_int, count: *mut c_int) -> OfxStatus {
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
#[no_mangle]
pub unsafe extern "C" fn kinema_host_report_bad_arg(func: *const c_char, why: *const c_char) {
    let _ = guard(|| unsafe {
        bad_arg(cstr(func).unwrap_or("?"), cstr(why).unwrap_or("?"));
        kOfxStatOK
    });
}

#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_get_ints(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    out: *mut c_int,
    n: c_int,
) -> OfxStatus {
    unsafe { copy_param_values(h, at_time, time, out, n, |p| p.value().ints()) }
}

#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_get_doubles(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    out: *mut c_double,
    n: c_int,
) -> OfxStatus {
    unsafe { copy_param_values(h, at_time, time, out, n, |p| p.value().doubles()) }
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

#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_get_string(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    out: *mut *const c_char,
) -> OfxStatus {
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

fn plugin_set(func: &str, p: &Param, v: ParamValue) -> OfxStatus {
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
    p.state.lock().set(v);
    if action.ends_with("InstanceChanged") {
        // The host answers a plugin's own change with InstanceChanged (reason PluginEdited) once this one returns.
        p.plugin_edited.store(true, Ordering::SeqCst);
    }
    kOfxStatOK
}

#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_set_ints(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    v: *const c_int,
    n: c_int,
) -> OfxStatus {
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

#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_set_doubles(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    v: *const c_double,
    n: c_int,
) -> OfxStatus {
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
        plugin_set("paramSetValue", &p, ParamValue::from_doubles(p.kind, vals))
    })
}

#[no_mangle]
pub unsafe extern "C" fn kinema_host_param_set_string(
    h: OfxParamHandle,
    at_time: c_int,
    time: c_double,
    v: *const c_char,
) -> OfxStatus {
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

unsafe extern "C" fn param_get_num_keys(h: OfxParamHandle, out: *mut c_uint) -> OfxStatus {
    guard(|| unsafe {
        if let Err(s) = lookup_param("paramGetNumKeys", h) {
            return s;
        }
        if out.is_null() {
            return bad_arg("paramGetNumKeys", "NULL out pointer");
        }
        *out = 0; // no animation in this host
        kOfxStatOK
    })
}
unsafe extern "C" fn param_get_key_time(h: OfxParamHandle, _nth: c_uint, _time: *mut OfxTime) -> OfxStatus {
    guard(|| match lookup_param("paramGetKeyTime", h) {
        Ok(_) => kOfxStatErrBadIndex,
        Err(s) => s,
    })
}
unsafe extern "C" fn param_get_key_index(
    h: OfxParamHandle,
    _time: OfxTime,
    _dir: c_int,
    _index: *mut c_int,
) -> OfxStatus {
    guard(|| match lookup_param("paramGetKeyIndex", h) {
        Ok(_) => kOfxStatFailed,
        Err(s) => s,
    })
}
unsafe extern "C" fn param_delete_key(h: OfxParamHandle, _time: OfxTime) -> OfxStatus {
    guard(|| match lookup_param("paramDeleteKey", h) {
        Ok(_) => kOfxStatErrBadIndex,
        Err(s) => s,
    })
}
unsafe extern "C" fn param_delete_all_keys(h: OfxParamHandle) -> OfxStatus {
    guard(|| match lookup_param("paramDeleteAllKeys", h) {
        Ok(_) => kOfxStatOK,
        Err(s) => s,
    })
}
unsafe extern "C" fn param_copy(
    to: OfxParamHandle,
    from: OfxParamHandle,
    _offset: OfxTime,
    _range: *const OfxRangeD,
) -> OfxStatus {
    guard(|| {
        let (to, from) = match (lookup_param("paramCopy", to), lookup_param("paramCopy", from)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        if to.kind != from.kind {
            return bad_arg("paramCopy", &format!("'{}' and '{}' have different types", from.name, to.name));
        }
        plugin_set("paramCopy", &to, from.value())
    })
}
unsafe extern "C" fn param_edit_begin(set: OfxParamSetHandle, _name: *const c_char) -> OfxStatus {
    guard(|| match handles::lookup::<ParamSet>(set as *const c_void) {
        Some(_) => kOfxStatOK,
        None => bad_handle("paramEditBegin", "parameter set", set as *const c_void),
    })
}
unsafe extern "C" fn param_edit_end(set: OfxParamSetHandle) -> OfxStatus {
    guard(|| match handles::lookup::<ParamSet>(set as *const c_void) {
        Some(_) => kOfxStatOK,
        None => bad_handle("paramEditEnd", "parameter set", set as *const c_void),
    })
}

extern "C" {
    fn kinema_shim_param_get_value(h: OfxParamHandle, ...) -> OfxStatus;
    fn kinema_shim_param_get_value_at_time(h: OfxParamHandle, time: OfxTime, ...) -> OfxStatus;
    fn kinema_shim_param_get_derivative(h: OfxParamHandle, time: OfxTime, ...) -> OfxStatus;
    fn kinema_shim_param_get_integral(h: OfxParamHandle, time1: OfxTime, time2: OfxTime, ...) -> OfxStatus;
    fn kinema_shim_param_set_value(h: OfxParamHandle, ...) -> OfxStatus;
    fn kinema_shim_param_set_value_at_time(h: OfxParamHandle, time: OfxTime, ...) -> OfxStatus;
    fn kinema_shim_message(h: *mut c_void, ty: *const c_char, id: *const c_char, fmt: *const c_char, ...) -> OfxStatus;
    fn kinema_shim_set_persistent_message(
        h: *mut c_void,
        ty: *const c_char,
        id: *const c_char,
        fmt: *const c_char,
        ...
    ) -> OfxStatus;
}

static PARAMETER_SUITE: OfxParameterSuiteV1 = OfxParameterSuiteV1 {
    paramDefine: Some(param_define),
    paramGetHandle: Some(param_get_handle),
    paramSetGetPropertySet: Some(param_set_get_property_set),
    paramGetPropertySet: Some(param_get_property_set),
    paramGetValue: Some(kinema_shim_param_get_value),
    paramGetValueAtTime: Some(kinema_shim_param_get_value_at_time),
    paramGetDerivative: Some(kinema_shim_param_get_derivative),
    paramGetIntegral: Some(kinema_shim_param_get_integral),
    paramSetValue: Some(kinema_shim_param_set_value),
    paramSetValueAtTime: Some(kinema_shim_param_set_value_at_time),
    paramGetNumKeys: Some(param_get_num_keys),
    paramGetKeyTime: Some(param_get_key_time),
    paramGetKeyIndex: Some(param_get_key_index),
    paramDeleteKey: Some(param_delete_key),
    paramDeleteAllKeys: Some(param_delete_all_keys),
    paramCopy: Some(param_copy),
    paramEditBegin: Some(param_edit_begin),
    paramEditEnd: Some(param_edit_end),
};

// ------------------------------------------------------------------------------------------------------------
// Image effect suite

fn lookup_effect(func: &str, h: *const c_void) -> Result<Arc<Effect>, OfxStatus> {
    handles::lookup::<Effect>(h).ok_or_else(|| bad_handle(func, "image effect", h))
}

unsafe extern "C" fn get_property_set(e: OfxImageEffectHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    unsafe { write_props::<Effect>("getPropertySet", "image effect", e as *const c_void, out, |e| e.props.handle()) }
}

unsafe extern "C" fn get_param_set(e: OfxImageEffectHandle, out: *mut OfxParamSetHandle) -> OfxStatus {
    guard(|| unsafe {
        let e = match lookup_effect("getParamSet", e as *const c_void) {
            Ok(e) => e,
            Err(s) => return s,
        };
        if out.is_null() {
            return bad_arg("getParamSet", "NULL out pointer");
        }
        *out = e.params.handle();
        kOfxStatOK
    })
}

/// Spec defaults of a clip descriptor.
fn clip_desc_defaults(p: &PropSet, name: &str) {
    p.set_cstr(kOfxPropType, kOfxTypeClip);
    p.put_ro(kOfxPropName, PropValue::String(vec![CString::new(name).unwrap_or_default()]));
    p.set_str(kOfxPropLabel, name);
    p.set_str(kOfxPropShortLabel, name);
    p.set_str(kOfxPropLongLabel, name);
    p.put(kOfxImageEffectPropSupportedComponents, PropValue::String(vec![]));
    p.set_int(kOfxImageEffectPropTemporalClipAccess, 0);
    p.set_int(kOfxImageClipPropOptional, 0);
    p.set_int(kOfxImageClipPropIsMask, 0);
    p.set_cstr(kOfxImageClipPropFieldExtraction, kOfxImageFieldDoubled);
    p.set_int(kOfxImageEffectPropSupportsTiles, 1);
}

unsafe extern "C" fn clip_define(
    e: OfxImageEffectHandle,
    name: *const c_char,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| unsafe {
        let e = match lookup_effect("clipDefine", e as *const c_void) {
            Ok(e) => e,
            Err(s) => return s,
        };
        if e.is_instance {
            return bad_arg("clipDefine", "clips can only be defined on a descriptor (in DescribeInContext)");
        }
        let Some(name) = cstr(name) else {
            return bad_arg("clipDefine", "NULL clip name");
        };
        let mut clips = e.clip_descs.lock();
        let props = match clips.iter().find(|(n, _)| n == name) {
            Some((_, p)) => p.clone(),
            None => {
                let p = PropSet::new(format!("clip descriptor {name}"));
                clip_desc_defaults(&p, name);
                clips.push((name.to_owned(), p.clone()));
                p
            }
        };
        if !out.is_null() {
            *out = props.handle();
        }
        kOfxStatOK
    })
}

unsafe extern "C" fn clip_get_handle(
    e: OfxImageEffectHandle,
    name: *const c_char,
    clip: *mut OfxImageClipHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| unsafe {
        let e = match lookup_effect("clipGetHandle", e as *const c_void) {
            Ok(e) => e,
            Err(s) => return s,
        };
        if !e.is_instance {
            return bad_arg("clipGetHandle", "called on a descriptor; clip handles exist only on instances");
        }
        let Some(name) = cstr(name) else {
            return bad_arg("clipGetHandle", "NULL clip name");
        };
        if clip.is_null() {
            return bad_arg("clipGetHandle", "NULL clip pointer");
        }
        let Some(c) = e.clip(name) else {
            return kOfxStatErrUnknown;
        };
        *clip = c.handle();
        if !props.is_null() {
            *props = c.props.handle();
        }
        kOfxStatOK
    })
}

unsafe extern "C" fn clip_get_property_set(clip: OfxImageClipHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    unsafe { write_props::<Clip>("clipGetPropertySet", "clip", clip as *const c_void, out, |c| c.props.handle()) }
}

fn image_props(buf: &PixelBuffer, premult: &CStr, scale: f64, unique: &str) -> Arc<PropSet> {
    let p = PropSet::read_only("image");
    p.set_cstr(kOfxPropType, kOfxTypeImage);
    p.set_pointer(kOfxImagePropData, buf.data_ptr() as *mut c_void);
    p.set_ints(kOfxImagePropBounds, &buf.bounds.as_array());
    p.set_ints(kOfxImagePropRegionOfDefinition, &buf.bounds.as_array());
    p.set_int(kOfxImagePropRowBytes, buf.row_bytes() as i32);
    p.set_cstr(kOfxImageEffectPropPixelDepth, buf.depth.ofx());
    p.set_cstr(kOfxImageEffectPropComponents, buf.components.ofx());
    p.set_cstr(kOfxImageEffectPropPreMultiplication, premult);
    p.set_double(kOfxImagePropPixelAspectRatio, 1.0);
    p.set_cstr(kOfxImagePropField, kOfxImageFieldNone);
    p.set_str(kOfxImagePropUniqueIdentifier, unique);
    p.set_doubles(kOfxImageEffectPropRenderScale, &[scale, scale]);
    p
}

/// Scaled pixel bounds of a canonical rectangle.
pub(crate) fn scaled_bounds(rod: [f64; 4], scale: f64) -> Rect {
    Rect::new(
        (rod[0] * scale).floor() as i32,
        (rod[1] * scale).floor() as i32,
        (rod[2] * scale).ceil() as i32,
        (rod[3] * scale).ceil() as i32,
    )
}

unsafe extern "C" fn clip_get_image(
    clip: OfxImageClipHandle,
    time: OfxTime,
    region: *const OfxRectD,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| unsafe {
        let Some(c) = handles::lookup::<Clip>(clip as *const c_void) else {
            return bad_handle("clipGetImage", "clip", clip as *const c_void);
        };
        if out.is_null() {
            return bad_arg("clipGetImage", "NULL image pointer");
        }
        *out = std::ptr::null_mut();
        let Some(e) = c.effect.upgrade() else {
            return kOfxStatErrBadHandle;
        };
        let ctx = diag::current();
        let action = current_action();
        if action != "Render" && action != "InstanceChanged" {
            diag::report(
                ViolationKind::IllegalImageFetch,
                format!(
                    "clipGetImage('{}') during {}: images may only be fetched in Render or InstanceChanged",
                    c.name,
                    if action.is_empty() { "no action" } else { &action }
                ),
            );
        }
        if !time.is_finite() {
            return bad_arg("clipGetImage", "non-finite time");
        }
        if !region.is_null() {
            let r = *region;
            if ![r.x1, r.y1, r.x2, r.y2].iter().all(|v| v.is_finite()) {
                return bad_arg("clipGetImage", "non-finite region");
            }
        }
        let scale = *e.st.render_scale.lock();
        let scale = if scale > 0.0 { scale } else { 1.0 };
        let layout = *e.st.layout.lock();
        let (buf, pristine, premult) = if c.is_output {
            let Some(buf) = e.st.outputs.lock().get(&time.to_bits()).cloned() else {
                return kOfxStatFailed;
            };
            let premult = c.props.string(kOfxImageEffectPropPreMultiplication).unwrap_or_default();
            (buf, None, premult)
        } else {
            if action == "Render" && !e.temporal_access() {
                if let Some(f) = ctx.as_ref().and_then(|c| c.frame) {
                    if (f as f64 + *e.st.time_offset.lock() - time).abs() > 1e-9 {
                        diag::report(
                            ViolationKind::IllegalImageFetch,
                            format!("fetched '{}' at time {time} while rendering frame {f} without declaring TemporalClipAccess", c.name),
                        );
                    }
                }
            }
            let Some(src) = c.source.lock().clone() else {
                return kOfxStatFailed;
            };
            let frame = time.round() as i64;
            let img = match src.frame(frame) {
                Ok(Some(img)) => img,
                Ok(None) => return kOfxStatFailed,
                Err(err) => {
                    diag::report(
                        ViolationKind::BadArgument,
                        format!("host could not read frame {frame} of '{}': {err:#}", c.name),
                    );
                    return kOfxStatFailed;
                }
            };
            let (depth, comps) = c.mapped_format().unwrap_or((src.depth, src.components));
            let mut img = img.convert(depth, comps);
            let (ox, oy) = *e.st.origin.lock();
            let (ox, oy) = (f64::from(ox), f64::from(oy));
            let b = scaled_bounds([ox, oy, ox + img.width as f64, oy + img.height as f64], scale);
            if (b.width(), b.height()) != (img.width as usize, img.height as usize) {
                img = img.resize_nearest(b.width() as u32, b.height() as u32);
            }
            let mut buf = PixelBuffer::new(b, depth, comps, layout);
            if let Err(err) = buf.fill_from(&img) {
                diag::report(ViolationKind::BadArgument, format!("host could not prepare '{}': {err:#}", c.name));
                return kOfxStatFailed;
            }
            let pristine = buf.raw().to_vec();
            let premult = c.props.string(kOfxImageEffectPropPreMultiplication).unwrap_or_default();
            (Arc::new(buf), Some(pristine), premult)
        };
        let premult = CString::new(premult).unwrap_or_default();
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let unique = format!("{}:{}:{}", c.name, time, SERIAL.fetch_add(1, Ordering::Relaxed));
        let props = image_props(&buf, &premult, scale, &unique);
        let image = Arc::new(Image {
            props: props.clone(),
            buf,
            clip: c.name.clone(),
            time,
            action_id: ctx.as_ref().map(|c| c.action_id).unwrap_or(0),
            action: action.clone(),
            pristine,
        });
        let h = props.handle();
        register_image(&image, &e);
        *out = h;
        kOfxStatOK
    })
}

/// Images are looked up by their property-set handle; the owner keeps them alive until released.
fn register_image(image: &Arc<Image>, owner: &Arc<Effect>) {
    let addr = Arc::as_ptr(&image.props) as usize;
    image_owners().lock().insert(addr, Arc::downgrade(owner));
    owner.st.live_images.lock().insert(addr, image.clone());
}

fn image_owners() -> &'static Mutex<HashMap<usize, std::sync::Weak<Effect>>> {
    static M: OnceLock<Mutex<HashMap<usize, std::sync::Weak<Effect>>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// Checks a released image: source pixels untouched, guards intact.
pub(crate) fn finish_image(img: &Image) {
    image_owners().lock().remove(&(Arc::as_ptr(&img.props) as usize));
    if let Some(pristine) = &img.pristine {
        if pristine.as_slice() != img.buf.raw() {
            diag::report(
                ViolationKind::WroteSourceImage,
                format!(
                    "the plugin modified the '{}' image at time {} (source images are read-only)",
                    img.clip, img.time
                ),
            );
        }
    }
}

unsafe extern "C" fn clip_release_image(h: OfxPropertySetHandle) -> OfxStatus {
    guard(|| {
        let addr = h as usize;
        let owner = image_owners().lock().get(&addr).and_then(|w| w.upgrade());
        let image = owner.as_ref().and_then(|o| o.st.live_images.lock().remove(&addr));
        match image {
            Some(img) => {
                finish_image(&img);
                kOfxStatOK
            }
            None => bad_handle("clipReleaseImage", "image (not fetched, or already released)", h as *const c_void),
        }
    })
}

unsafe extern "C" fn clip_get_region_of_definition(
    clip: OfxImageClipHandle,
    time: OfxTime,
    out: *mut OfxRectD,
) -> OfxStatus {
    guard(|| unsafe {
        let Some(c) = handles::lookup::<Clip>(clip as *const c_void) else {
            return bad_handle("clipGetRegionOfDefinition", "clip", clip as *const c_void);
        };
        if out.is_null() {
            return bad_arg("clipGetRegionOfDefinition", "NULL rect pointer");
        }
        let Some(e) = c.effect.upgrade() else {
            return kOfxStatErrBadHandle;
        };
        let rod = if c.is_output {
            e.st.output_rods.lock().get(&time.to_bits()).copied().or_else(|| {
                let size = e.props.doubles(kOfxImageEffectPropProjectSize)?;
                Some([0.0, 0.0, *size.first()?, *size.get(1)?])
            })
        } else if !time.is_finite() {
            return bad_arg("clipGetRegionOfDefinition", "non-finite time");
        } else {
            // Each frame's own region (frames of one clip may differ in size), moved by the origin.
            let (ox, oy) = *e.st.origin.lock();
            let (ox, oy) = (f64::from(ox), f64::from(oy));
            let source = c.source.lock().clone();
            source.map(|s| {
                let [x1, y1, x2, y2] = s.region_at(time);
                [x1 + ox, y1 + oy, x2 + ox, y2 + oy]
            })
        };
        let Some(r) = rod else { return kOfxStatFailed };
        *out = OfxRectD { x1: r[0], y1: r[1], x2: r[2], y2: r[3] };
        kOfxStatOK
    })
}

unsafe extern "C" fn effect_abort(e: OfxImageEffectHandle) -> c_int {
    std::panic::catch_unwind(|| match lookup_effect("abort", e as *const c_void) {
        Ok(e) => e.aborted() as c_int,
        Err(_) => 0,
    })
    .unwrap_or(0)
}

fn image_memory() -> &'static Mutex<HashMap<usize, Arc<ImageMemory>>> {
    static M: OnceLock<Mutex<HashMap<usize, Arc<ImageMemory>>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

unsafe extern "C" fn image_memory_alloc(
    e: OfxImageEffectHandle,
    n: usize,
    out: *mut OfxImageMemoryHandle,
) -> OfxStatus {
    guard(|| unsafe {
        let owner = if e.is_null() {
            0
        } else {
            match lookup_effect("imageMemoryAlloc", e as *const c_void) {
                Ok(e) => e.id,
                Err(s) => return s,
            }
        };
        if out.is_null() {
            return bad_arg("imageMemoryAlloc", "NULL handle pointer");
        }
        if n > (1usize << 36) {
            return kOfxStatErrMemory;
        }
        let m = ImageMemory::new(n, owner);
        image_memory().lock().insert(Arc::as_ptr(&m) as usize, m.clone());
        *out = Arc::as_ptr(&m) as *mut ImageMemory as OfxImageMemoryHandle;
        kOfxStatOK
    })
}
unsafe extern "C" fn image_memory_free(h: OfxImageMemoryHandle) -> OfxStatus {
    guard(|| match image_memory().lock().remove(&(h as usize)) {
        Some(_) => kOfxStatOK,
        None => bad_handle("imageMemoryFree", "image memory", h as *const c_void),
    })
}
unsafe extern "C" fn image_memory_lock(h: OfxImageMemoryHandle, out: *mut *mut c_void) -> OfxStatus {
    guard(|| unsafe {
        let Some(m) = handles::lookup::<ImageMemory>(h as *const c_void) else {
            return bad_handle("imageMemoryLock", "image memory", h as *const c_void);
        };
        if out.is_null() {
            return bad_arg("imageMemoryLock", "NULL pointer");
        }
        m.locks.fetch_add(1, Ordering::SeqCst);
        *out = m.ptr() as *mut c_void;
        kOfxStatOK
    })
}
unsafe extern "C" fn image_memory_unlock(h: OfxImageMemoryHandle) -> OfxStatus {
    guard(|| {
        let Some(m) = handles::lookup::<ImageMemory>(h as *const c_void) else {
            return bad_handle("imageMemoryUnlock", "image memory", h as *const c_void);
        };
        if m.locks.fetch_sub(1, Ordering::SeqCst) <= 0 {
            m.locks.fetch_add(1, Ordering::SeqCst);
            return bad_arg("imageMemoryUnlock", "memory was not locked");
        }
        kOfxStatOK
    })
}

static IMAGE_EFFECT_SUITE: OfxImageEffectSuiteV1 = OfxImageEffectSuiteV1 {
    getPropertySet: Some(get_property_set),
    getParamSet: Some(get_param_set),
    clipDefine: Some(clip_define),
    clipGetHandle: Some(clip_get_handle),
    clipGetPropertySet: Some(clip_get_property_set),
    clipGetImage: Some(clip_get_image),
    clipReleaseImage: Some(clip_release_image),
    clipGetRegionOfDefinition: Some(clip_get_region_of_definition),
    abort: Some(effect_abort),
    imageMemoryAlloc: Some(image_memory_alloc),
    imageMemoryFree: Some(image_memory_free),
    imageMemoryLock: Some(image_memory_lock),
    imageMemoryUnlock: Some(image_memory_unlock),
};

// ------------------------------------------------------------------------------------------------------------
// Memory suite

struct Alloc {
    layout: std::alloc::Layout,
    owner: u64,
    diag: usize,
}

fn allocations() -> &'static Mutex<HashMap<usize, Alloc>> {
    static M: OnceLock<Mutex<HashMap<usize, Alloc>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

unsafe extern "C" fn memory_alloc(h: *mut c_void, n: usize, out: *mut *mut c_void) -> OfxStatus {
    guard(|| unsafe {
        let owner = if h.is_null() {
            0
        } else {
            match lookup_effect("memoryAlloc", h) {
                Ok(e) => e.id,
                Err(s) => return s,
            }
        };
        if out.is_null() {
            return bad_arg("memoryAlloc", "NULL out pointer");
        }
        let Ok(layout) = std::alloc::Layout::from_size_align(n.max(1), 16) else {
            return kOfxStatErrMemory;
        };
        if n > (1usize << 36) {
            return kOfxStatErrMemory;
        }
        let p = std::alloc::alloc(layout);
        if p.is_null() {
            return kOfxStatErrMemory;
        }
        let diag = diag::current().map(|c| Arc::as_ptr(&c.diag) as usize).unwrap_or(0);
        allocations().lock().insert(p as usize, Alloc { layout, owner, diag });
        *out = p as *mut c_void;
        kOfxStatOK
    })
}

unsafe extern "C" fn memory_free(p: *mut c_void) -> OfxStatus {
    guard(|| unsafe {
        if p.is_null() {
            return kOfxStatOK;
        }
        match allocations().lock().remove(&(p as usize)) {
            Some(a) => {
                std::alloc::dealloc(p as *mut u8, a.layout);
                kOfxStatOK
            }
            None => bad_handle("memoryFree", "memoryAlloc block (unknown or already freed)", p),
        }
    })
}

/// Frees and reports memory-suite and image-memory blocks still owned by an instance (or, with `owner == 0`,
/// unowned blocks allocated during the bundle's actions). Returns (blocks, bytes).
pub(crate) fn reclaim_leaks(owner: u64, diag_addr: usize) -> (usize, usize) {
    let mut blocks = 0;
    let mut bytes = 0;
    let mut allocs = allocations().lock();
    let leaked: Vec<usize> = allocs
        .iter()
        .filter(|(_, a)| a.owner == owner && (owner != 0 || a.diag == diag_addr))
        .map(|(p, _)| *p)
        .collect();
    for p in leaked {
        if let Some(a) = allocs.remove(&p) {
            blocks += 1;
            bytes += a.layout.size();
            // SAFETY: allocated by memory_alloc with this layout and not freed (still in the table).
            unsafe { std::alloc::dealloc(p as *mut u8, a.layout) };
        }
    }
    drop(allocs);
    if owner != 0 {
        let mut mem = image_memory().lock();
        let leaked: Vec<usize> = mem.iter().filter(|(_, m)| m.owner == owner).map(|(p, _)| *p).collect();
        for p in leaked {
            if let Some(m) = mem.remove(&p) {
                blocks += 1;
                bytes += m.len;
            }
        }
    }
    (blocks, bytes)
}

static MEMORY_SUITE: OfxMemorySuiteV1 =
    OfxMemorySuiteV1 { memoryAlloc: Some(memory_alloc), memoryFree: Some(memory_free) };

// ------------------------------------------------------------------------------------------------------------
// Multi-thread suite

thread_local! {
    static THREAD_INDEX: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

struct SendPtr(*mut c_void);
// SAFETY: the plugin hands the same argument to all its threads; sharing it is its contract.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(&self) -> *mut c_void {
        self.0
    }
}

fn num_cpus() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

unsafe extern "C" fn multi_thread(func: Option<OfxThreadFunctionV1>, n: c_uint, arg: *mut c_void) -> OfxStatus {
    guard(|| {
        let Some(func) = func else {
            return bad_arg("multiThread", "NULL thread function");
        };
        let n = if n == 0 { num_cpus() } else { n.min(1024) };
        let ctx = diag::current();
        let arg = SendPtr(arg);
        std::thread::scope(|s| {
            for i in 0..n {
                let ctx = ctx.clone();
                let arg = &arg;
                s.spawn(move || {
                    THREAD_INDEX.with(|t| t.set(Some(i)));
                    // SAFETY: calling the plugin's thread function as the spec describes.
                    let run = || unsafe { func(i, n, arg.get()) };
                    match ctx {
                        Some(c) => diag::with_ctx(c, run),
                        None => run(),
                    }
                });
            }
        });
        kOfxStatOK
    })
}
unsafe extern "C" fn multi_thread_num_cpus(out: *mut c_uint) -> OfxStatus {
    guard(|| unsafe {
        if out.is_null() {
            return bad_arg("multiThreadNumCPUs", "NULL out pointer");
        }
        *out = num_cpus();
        kOfxStatOK
    })
}
unsafe extern "C" fn multi_thread_index(out: *mut c_uint) -> OfxStatus {
    guard(|| unsafe {
        if out.is_null() {
            return bad_arg("multiThreadIndex", "NULL out pointer");
        }
        *out = THREAD_INDEX.with(|t| t.get()).unwrap_or(0);
        kOfxStatOK
    })
}
unsafe extern "C" fn multi_thread_is_spawned_thread() -> c_int {
    THREAD_INDEX.with(|t| t.get()).is_some() as c_int
}

/// A recursive mutex whose lock and unlock arrive as separate C calls.
pub(crate) struct RMutex {
    state: Mutex<(Option<ThreadId>, u32)>,
    cv: Condvar,
}

impl Drop for RMutex {
    fn drop(&mut self) {
        handles::forget(self);
    }
}

impl RMutex {
    fn lock(&self, block: bool) -> bool {
        let me = std::thread::current().id();
        let mut st = self.state.lock();
        loop {
            match st.0 {
                None => {
                    *st = (Some(me), 1);
                    return true;
                }
                Some(t) if t == me => {
                    st.1 += 1;
                    return true;
                }
                Some(_) if !block => return false,
                Some(_) => self.cv.wait(&mut st),
            }
        }
    }
    fn unlock(&self) -> bool {
        let me = std::thread::current().id();
        let mut st = self.state.lock();
        if st.0 != Some(me) {
            return false;
        }
        st.1 -= 1;
        if st.1 == 0 {
            st.0 = None;
            self.cv.notify_one();
        }
        true
    }
}

fn mutexes() -> &'static Mutex<HashMap<usize, Arc<RMutex>>> {
    static M: OnceLock<Mutex<HashMap<usize, Arc<RMutex>>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

unsafe extern "C" fn mutex_create(out: *mut OfxMutexHandle, lock_count: c_int) -> OfxStatus {
    guard(|| unsafe {
        if out.is_null() {
            return bad_arg("mutexCreate", "NULL out pointer");
        }
        let initial = if lock_count > 0 { (Some(std::thread::current().id()), lock_count as u32) } else { (None, 0) };
        let m = Arc::new(RMutex { state: Mutex::new(initial), cv: Condvar::new() });
        let h = handles::register(&m);
        mutexes().lock().insert(h as usize, m);
        *out = h as OfxMutexHandle;
        kOfxStatOK
    })
}
unsafe extern "C" fn mutex_destroy(h: OfxMutexHandle) -> OfxStatus {
    guard(|| match mutexes().lock().remove(&(h as usize)) {
        Some(_) => kOfxStatOK,
        None => bad_handle("mutexDestroy", "mutex", h as *const c_void),
    })
}
unsafe extern "C" fn mutex_lock(h: OfxMutexHandle) -> OfxStatus {
    guard(|| match handles::lookup::<RMutex>(h as *const c_void) {
        Some(m) => {
            m.lock(true);
            kOfxStatOK
        }
        None => bad_handle("mutexLock", "mutex", h as *const c_void),
    })
}
unsafe extern "C" fn mutex_unlock(h: OfxMutexHandle) -> OfxStatus {
    guard(|| match handles::lookup::<RMutex>(h as *const c_void) {
        Some(m) if m.unlock() => kOfxStatOK,
        Some(_) => {
            diag::report(ViolationKind::BadArgument, "mutexUnLock: the calling thread does not hold the mutex");
            kOfxStatFailed
        }
        None => bad_handle("mutexUnLock", "mutex", h as *const c_void),
    })
}
unsafe extern "C" fn mutex_try_lock(h: OfxMutexHandle) -> OfxStatus {
    guard(|| match handles::lookup::<RMutex>(h as *const c_void) {
        Some(m) if m.lock(false) => kOfxStatOK,
        Some(_) => kOfxStatFailed,
        None => bad_handle("mutexTryLock", "mutex", h as *const c_void),
    })
}

static MULTI_THREAD_SUITE: OfxMultiThreadSuiteV1 = OfxMultiThreadSuiteV1 {
    multiThread: Some(multi_thread),
    multiThreadNumCPUs: Some(multi_thread_num_cpus),
    multiThreadIndex: Some(multi_thread_index),
    multiThreadIsSpawnedThread: Some(multi_thread_is_spawned_thread),
    mutexCreate: Some(mutex_create),
    mutexDestroy: Some(mutex_destroy),
    mutexLock: Some(mutex_lock),
    mutexUnLock: Some(mutex_unlock),
    mutexTryLock: Some(mutex_try_lock),
};

// ------------------------------------------------------------------------------------------------------------
// Message suite

const MESSAGE_TYPES: [&CStr; 6] =
    [kOfxMessageFatal, kOfxMessageError, kOfxMessageWarning, kOfxMessageMessage, kOfxMessageLog, kOfxMessageQuestion];

/// For the shim: stores a formatted message (persistent != 0 for setPersistentMessage).
#[no_mangle]
pub unsafe extern "C" fn kinema_host_message(
    h: *mut c_void,
    ty: *const c_char,
    id: *const c_char,
    text: *const c_char,
    persistent: c_int,
) -> OfxStatus {
    guard(|| unsafe {
        let func = if persistent != 0 { "setPersistentMessage" } else { "message" };
        let effect = if h.is_null() {
            None
        } else {
            match lookup_effect(func, h) {
                Ok(e) => Some(e),
                Err(s) => return s,
            }
        };
        let Some(ty) = cstr(ty) else {
            return bad_arg(func, "NULL message type");
        };
        if !MESSAGE_TYPES.iter().any(|t| t.to_bytes() == ty.as_bytes()) {
            diag::report(ViolationKind::BadArgument, format!("{func}: unknown message type '{ty}'"));
            return kOfxStatErrValue;
        }
        let persistent_ok = [kOfxMessageError, kOfxMessageWarning, kOfxMessageMessage];
        if persistent != 0 && !persistent_ok.iter().any(|t| t.to_bytes() == ty.as_bytes()) {
            diag::report(ViolationKind::BadArgument, format!("{func}: type '{ty}' cannot be persistent"));
            return kOfxStatErrValue;
        }
        let ctx = diag::current();
        let msg = Message {
            message_type: ty.to_owned(),
            id: cstr(id).map(str::to_owned),
            text: cstr(text).unwrap_or("").to_owned(),
            persistent: persistent != 0,
            instance: effect.as_ref().filter(|e| e.is_instance).map(|e| e.id),
            action: ctx.as_ref().map(|c| diag::short_action(&c.action).to_owned()).unwrap_or_default(),
            frame: ctx.as_ref().and_then(|c| c.frame),
            action_id: ctx.as_ref().map(|c| c.action_id).unwrap_or(0),
        };
        let diag = effect.as_ref().map(|e| e.diag.clone()).or_else(|| ctx.as_ref().map(|c| c.diag.clone()));
        if let Some(d) = diag {
            d.messages.lock().push(msg);
        }
        if ty.as_bytes() == kOfxMessageQuestion.to_bytes() {
            kOfxStatReplyYes
        } else {
            kOfxStatOK
        }
    })
}

unsafe extern "C" fn clear_persistent_message(h: *mut c_void) -> OfxStatus {
    guard(|| {
        let e = match lookup_effect("clearPersistentMessage", h) {
            Ok(e) => e,
            Err(s) => return s,
        };
        for m in e.diag.messages.lock().iter_mut() {
            if m.persistent && m.instance == Some(e.id) {
                m.persistent = false;
            }
        }
        kOfxStatOK
    })
}

static MESSAGE_SUITE_V1: OfxMessageSuiteV1 = OfxMessageSuiteV1 { message: Some(kinema_shim_message) };
static MESSAGE_SUITE_V2: OfxMessageSuiteV2 = OfxMessageSuiteV2 {
    message: Some(kinema_shim_message),
    setPersistentMessage: Some(kinema_shim_set_persistent_message),
    clearPersistentMessage: Some(clear_persistent_message),
};

// ------------------------------------------------------------------------------------------------------------
// Progress and timeline suites

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

unsafe extern "C" fn progress_start_v1(h: *mut c_void, label: *const c_char) -> OfxStatus {
    guard(|| unsafe {
        let label = cstr(label).unwrap_or("").to_owned();
        progress_event("progressStart", h, ProgressEvent::PluginStart { label, id: None })
    })
}
unsafe extern "C" fn progress_start_v2(h: *mut c_void, message: *const c_char, id: *const c_char) -> OfxStatus {
    guard(|| unsafe {
        let label = cstr(message).unwrap_or("").to_owned();
        progress_event("progressStart", h, ProgressEvent::PluginStart { label, id: cstr(id).map(str::to_owned) })
    })
}
unsafe extern "C" fn progress_update(h: *mut c_void, p: c_double) -> OfxStatus {
    guard(|| {
        if !p.is_finite() {
            return bad_arg("progressUpdate", "non-finite progress");
        }
        progress_event("progressUpdate", h, ProgressEvent::PluginUpdate { fraction: p })
    })
}
unsafe extern "C" fn progress_end(h: *mut c_void) -> OfxStatus {
    guard(|| progress_event("progressEnd", h, ProgressEvent::PluginEnd))
}

static PROGRESS_SUITE_V1: OfxProgressSuiteV1 = OfxProgressSuiteV1 {
    progressStart: Some(progress_start_v1),
    progressUpdate: Some(progress_update),
    progressEnd: Some(progress_end),
};
static PROGRESS_SUITE_V2: OfxProgressSuiteV2 = OfxProgressSuiteV2 {
    progressStart: Some(progress_start_v2),
    progressUpdate: Some(progress_update),
    progressEnd: Some(progress_end),
};

unsafe extern "C" fn timeline_get_time(h: *mut c_void, out: *mut c_double) -> OfxStatus {
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
unsafe extern "C" fn timeline_get_time_bounds(h: *mut c_void, first: *mut c_double, last: *mut c_double) -> OfxStatus {
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

static TIMELINE_SUITE: OfxTimeLineSuiteV1 = OfxTimeLineSuiteV1 {
    getTime: Some(timeline_get_time),
    gotoTime: Some(timeline_goto_time),
    getTimeBounds: Some(timeline_get_time_bounds),
};

// ------------------------------------------------------------------------------------------------------------

/// `OfxHost::fetchSuite`: a static suite table, or NULL for suites and versions the host does not have.
pub(crate) unsafe extern "C" fn fetch_suite(
    host: OfxPropertySetHandle,
    name: *const c_char,
    version: c_int,
) -> *const c_void {
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
            1 if is(kOfxPropertySuite) => p(&PROPERTY_SUITE),
            1 if is(kOfxParameterSuite) => p(&PARAMETER_SUITE),
            1 if is(kOfxImageEffectSuite) => p(&IMAGE_EFFECT_SUITE),
            1 if is(kOfxMemorySuite) => p(&MEMORY_SUITE),
            1 if is(kOfxMultiThreadSuite) => p(&MULTI_THREAD_SUITE),
            1 if is(kOfxMessageSuite) => p(&MESSAGE_SUITE_V1),
            2 if is(kOfxMessageSuite) => p(&MESSAGE_SUITE_V2),
            1 if is(kOfxProgressSuite) => p(&PROGRESS_SUITE_V1),
            2 if is(kOfxProgressSuite) => p(&PROGRESS_SUITE_V2),
            1 if is(kOfxTimeLineSuite) => p(&TIMELINE_SUITE),
            _ => std::ptr::null(),
        }
    })
    .unwrap_or(std::ptr::null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{ActionCtx, Diagnostics};
    use crate::objects::Effect;

    fn ctx(diag: &Arc<Diagnostics>, action: &str) -> ActionCtx {
        ActionCtx {
            diag: diag.clone(),
            plugin: Arc::from("test"),
            action: Arc::from(action),
            frame: Some(3),
            action_id: diag::next_action_id(),
        }
    }

    fn instance_param(kind: ParamKind, name: &str) -> Arc<Param> {
        let p = Param::new(name.to_owned(), kind, false);
        define_defaults(&p.props, kind, name);
        p
    }

    #[test]
    fn shim_round_trips_every_value_shape() {
        let get = PARAMETER_SUITE.paramGetValue.unwrap();
        let get_t = PARAMETER_SUITE.paramGetValueAtTime.unwrap();
        let set = PARAMETER_SUITE.paramSetValue.unwrap();
        let set_t = PARAMETER_SUITE.paramSetValueAtTime.unwrap();
        let integral = PARAMETER_SUITE.paramGetIntegral.unwrap();
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
        diag::with_ctx(ctx(&diag, "OfxImageEffectActionRender"), || unsafe {
            assert_eq!(set(s.handle(), c"rendering".as_ptr()), kOfxStatOK);
            assert_eq!(set(d.handle(), 2.0f64), kOfxStatOK);
        });
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
        diag::with_ctx(ctx(&diag, "OfxImageEffectActionRender"), || unsafe {
            assert_eq!(set(s.handle(), c"again".as_ptr()), kOfxStatFailed);
        });
        assert_eq!(s.value(), ParamValue::String("rendering".into()));
        let last = diag.violations.lock().last().cloned().unwrap();
        assert!(last.kind == ViolationKind::ParamSetDuringRender && last.message.contains("refused"), "{last}");
        // InstanceChanged is where parameters may change: no violation, and the change is marked for the
        // host's PluginEdited notification.
        let before = diag.violations.lock().len();
        diag::with_ctx(ctx(&diag, "OfxActionInstanceChanged"), || unsafe {
            assert_eq!(set(s.handle(), c"shown".as_ptr()), kOfxStatOK);
        });
        assert_eq!(diag.violations.lock().len(), before);
        assert!(s.plugin_edited.load(Ordering::SeqCst));
    }

    #[test]
    fn messages_are_formatted_and_stored() {
        let msg = MESSAGE_SUITE_V2.message.unwrap();
        let persist = MESSAGE_SUITE_V2.setPersistentMessage.unwrap();
        let clear = MESSAGE_SUITE_V2.clearPersistentMessage.unwrap();
        let diag = Arc::new(Diagnostics::default());
        let desc = Effect::new_descriptor(Arc::from("test"), diag.clone());
        let e = Effect::new_instance(&desc);
        let h = e.handle() as *mut c_void;
        unsafe {
            assert_eq!(
                msg(
                    h,
                    kOfxMessageError.as_ptr(),
                    c"id1".as_ptr(),
                    c"frame %d: %s %.2f".as_ptr(),
                    7 as c_int,
                    c"bad".as_ptr(),
                    0.5f64
                ),
                kOfxStatOK
            );
            assert_eq!(msg(h, kOfxMessageQuestion.as_ptr(), std::ptr::null(), c"sure?".as_ptr()), kOfxStatReplyYes);
            assert_eq!(
                persist(h, kOfxMessageWarning.as_ptr(), std::ptr::null(), c"%s".as_ptr(), c"careful".as_ptr()),
                kOfxStatOK
            );
            assert_eq!(clear(h), kOfxStatOK);
            let st = diag::with_ctx(ctx(&diag, "x"), || msg(h, c"Nonsense".as_ptr(), std::ptr::null(), c"x".as_ptr()));
            assert_eq!(st, kOfxStatErrValue);
        }
        let m = diag.messages.lock().clone();
        assert_eq!(m[0].text, "frame 7: bad 0.50");
        assert_eq!(m[0].id.as_deref(), Some("id1"));
        assert_eq!(m[2].text, "careful");
        assert_eq!(m[0].instance, Some(e.id));
        assert!(!m[2].persistent, "cleared");
        assert_eq!(diag.violations.lock()[0].kind, ViolationKind::BadArgument);
    }

    #[test]
    fn multi_thread_runs_real_threads_and_mutexes_are_recursive() {
        use std::sync::atomic::AtomicU32;
        unsafe extern "C" fn work(i: c_uint, n: c_uint, arg: *mut c_void) {
            let counter = unsafe { &*(arg as *const AtomicU32) };
            assert_eq!(n, 4);
            let mut idx = 99;
            unsafe { (MULTI_THREAD_SUITE.multiThreadIndex.unwrap())(&mut idx) };
            assert_eq!(idx, i);
            assert_eq!(unsafe { (MULTI_THREAD_SUITE.multiThreadIsSpawnedThread.unwrap())() }, 1);
            counter.fetch_add(1 << i, Ordering::SeqCst);
        }
        let counter = AtomicU32::new(0);
        let st = unsafe {
            (MULTI_THREAD_SUITE.multiThread.unwrap())(Some(work), 4, &counter as *const AtomicU32 as *mut c_void)
        };
        assert_eq!(st, kOfxStatOK);
        assert_eq!(counter.load(Ordering::SeqCst), 0b1111);
        assert_eq!(unsafe { (MULTI_THREAD_SUITE.multiThreadIsSpawnedThread.unwrap())() }, 0);

        let s = &MULTI_THREAD_SUITE;
        unsafe {
            let mut m: OfxMutexHandle = std::ptr::null_mut();
            assert_eq!((s.mutexCreate.unwrap())(&mut m, 0), kOfxStatOK);
            assert_eq!((s.mutexLock.unwrap())(m), kOfxStatOK);
            assert_eq!((s.mutexTryLock.unwrap())(m), kOfxStatOK, "recursive");
            let mh = m as usize;
            let other = std::thread::spawn(move || (MULTI_THREAD_SUITE.mutexTryLock.unwrap())(mh as OfxMutexHandle))
                .join()
                .unwrap();
            assert_eq!(other, kOfxStatFailed, "held by another thread");
            assert_eq!((s.mutexUnLock.unwrap())(m), kOfxStatOK);
            assert_eq!((s.mutexUnLock.unwrap())(m), kOfxStatOK);
            assert_eq!((s.mutexDestroy.unwrap())(m), kOfxStatOK);
            assert_eq!((s.mutexLock.unwrap())(m), kOfxStatErrBadHandle, "destroyed");
        }
    }

    #[test]
    fn property_suite_checks_handles_and_types() {
        let p = PropSet::new("t");
        let h = p.handle();
        let s = &PROPERTY_SUITE;
        let diag = Arc::new(Diagnostics::default());
        diag::with_ctx(ctx(&diag, "x"), || unsafe {
            assert_eq!((s.propSetInt.unwrap())(h, c"A".as_ptr(), 0, 5), kOfxStatOK);
            let mut v = 0;
            assert_eq!((s.propGetInt.unwrap())(h, c"A".as_ptr(), 0, &mut v), kOfxStatOK);
            assert_eq!(v, 5);
            let mut d = 0.0;
            assert_eq!((s.propGetDouble.unwrap())(h, c"A".as_ptr(), 0, &mut d), kOfxStatErrValue);
            assert_eq!((s.propGetInt.unwrap())(h, c"B".as_ptr(), 0, &mut v), kOfxStatErrUnknown);
            assert_eq!(
                (s.propGetInt.unwrap())(0x10 as OfxPropertySetHandle, c"A".as_ptr(), 0, &mut v),
                kOfxStatErrBadHandle
            );
            let strs = [c"x".as_ptr(), c"y".as_ptr()];
            assert_eq!((s.propSetStringN.unwrap())(h, c"S".as_ptr(), 2, strs.as_ptr()), kOfxStatOK);
            let mut n = 0;
            assert_eq!((s.propGetDimension.unwrap())(h, c"S".as_ptr(), &mut n), kOfxStatOK);
            assert_eq!(n, 2);
        });
        let kinds: Vec<_> = diag.violations.lock().iter().map(|v| v.kind).collect();
        assert_eq!(kinds, vec![ViolationKind::BadArgument, ViolationKind::BadHandle]);
        assert!(!unsafe { fetch_suite(h, kOfxPropertySuite.as_ptr(), 1) }.is_null());
        assert!(unsafe { fetch_suite(h, kOfxPropertySuite.as_ptr(), 2) }.is_null());
        assert!(unsafe { fetch_suite(h, c"OfxNoSuchSuite".as_ptr(), 1) }.is_null());
    }
}
