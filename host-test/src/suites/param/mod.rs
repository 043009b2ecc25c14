//! The parameter suite: defining parameters on descriptors, handles and property sets, keys (one-dimensional
//! doubles animate: linear and smooth keys), and the suite table, whose varargs value calls go through the C shim to [`values`].

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::Arc;

use ofx_abi::*;

use super::{bad_arg, bad_handle, cstr, guard, write_props};
use crate::diag::{self, ViolationKind};
use crate::handles;
use crate::objects::{Param, ParamSet};
use crate::params::{define_defaults, ParamKind};

mod values;

/// `paramDefine`: only on a descriptor's parameter set, with the spec's defaults.
///
/// # Safety
/// `ty` and `name` are NULL or NUL-terminated strings; `out` is NULL or writable.
unsafe extern "C" fn param_define(
    set: OfxParamSetHandle,
    ty: *const c_char,
    name: *const c_char,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: `ty` and `name` are NULL or NUL-terminated and `out` is checked for NULL and otherwise writable (the
    // caller's contract).
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

/// `paramGetHandle`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `param` and `props` are NULL or writable.
unsafe extern "C" fn param_get_handle(
    set: OfxParamSetHandle,
    name: *const c_char,
    param: *mut OfxParamHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: `name` is NULL or NUL-terminated, and `param` and `props` are checked for NULL and otherwise writable
    // (the caller's contract).
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

/// `paramSetGetPropertySet`.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn param_set_get_property_set(set: OfxParamSetHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: `out` is NULL or writable (the caller's contract), as `write_props` requires.
    unsafe {
        write_props::<ParamSet>("paramSetGetPropertySet", "parameter set", set as *const c_void, out, |s| {
            s.props.handle()
        })
    }
}

/// `paramGetPropertySet`.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn param_get_property_set(param: OfxParamHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: `out` is NULL or writable (the caller's contract), as `write_props` requires.
    unsafe {
        write_props::<Param>("paramGetPropertySet", "parameter", param as *const c_void, out, |p| p.props.handle())
    }
}

/// The live parameter behind a handle, or the reported bad-handle status.
fn lookup_param(func: &str, h: OfxParamHandle) -> Result<Arc<Param>, OfxStatus> {
    handles::lookup::<Param>(h as *const c_void).ok_or_else(|| bad_handle(func, "parameter", h as *const c_void))
}

/// `paramGetNumKeys`: the keys of an animated double (0 for any other parameter).
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn param_get_num_keys(h: OfxParamHandle, out: *mut c_uint) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let p = match lookup_param("paramGetNumKeys", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if out.is_null() {
            return bad_arg("paramGetNumKeys", "NULL out pointer");
        }
        *out = p.keys().len() as c_uint;
        kOfxStatOK
    })
}

/// `paramGetKeyTime`: the time of key `nth` (ErrBadIndex past the last).
///
/// # Safety
/// `time` is NULL or writable.
unsafe extern "C" fn param_get_key_time(h: OfxParamHandle, nth: c_uint, time: *mut OfxTime) -> OfxStatus {
    // SAFETY: `time` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let p = match lookup_param("paramGetKeyTime", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if time.is_null() {
            return bad_arg("paramGetKeyTime", "NULL out pointer");
        }
        match p.keys().get(nth as usize) {
            Some(k) => {
                *time = k.time;
                kOfxStatOK
            }
            None => kOfxStatErrBadIndex,
        }
    })
}

/// `paramGetKeyIndex`: the key at `time` (direction 0), or the nearest before (-1) or after (1); Failed
/// when there is none.
///
/// # Safety
/// `index` is NULL or writable.
unsafe extern "C" fn param_get_key_index(h: OfxParamHandle, time: OfxTime, dir: c_int, index: *mut c_int) -> OfxStatus {
    // SAFETY: `index` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let p = match lookup_param("paramGetKeyIndex", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if index.is_null() {
            return bad_arg("paramGetKeyIndex", "NULL out pointer");
        }
        let keys = p.keys();
        let found = match dir {
            0 => keys.iter().position(|k| k.time == time),
            d if d < 0 => keys.iter().rposition(|k| k.time < time),
            _ => keys.iter().position(|k| k.time > time),
        };
        match found {
            Some(i) => {
                *index = i as c_int;
                kOfxStatOK
            }
            None => kOfxStatFailed,
        }
    })
}

/// `paramDeleteKey`: removes the key at `time` (ErrBadIndex when there is none there).
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn param_delete_key(h: OfxParamHandle, time: OfxTime) -> OfxStatus {
    guard(|| {
        let p = match lookup_param("paramDeleteKey", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if !p.keys().iter().any(|k| k.time == time) {
            return kOfxStatErrBadIndex;
        }
        values::plugin_edit("paramDeleteKey", &p, |st| {
            // The curve's value at the key stays the parameter's value once the last key goes.
            if st.keys.len() == 1 {
                st.value = crate::params::ParamValue::Double(st.keys[0].value);
            }
            st.keys.retain(|k| k.time != time);
        })
    })
}

/// `paramDeleteAllKeys`: the parameter keeps the value it had at its first key.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn param_delete_all_keys(h: OfxParamHandle) -> OfxStatus {
    guard(|| {
        let p = match lookup_param("paramDeleteAllKeys", h) {
            Ok(p) => p,
            Err(s) => return s,
        };
        if p.keys().is_empty() {
            return kOfxStatOK;
        }
        values::plugin_edit("paramDeleteAllKeys", &p, |st| {
            st.value = crate::params::ParamValue::Double(st.keys[0].value);
            st.keys.clear();
        })
    })
}

/// `paramCopy`: copies the value and the keys; a render-time copy is a set.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced. `range` is ignored.
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
        let (value, keys) = (from.value(), from.keys());
        values::plugin_edit("paramCopy", &to, |st| {
            st.set(value);
            st.keys = keys;
        })
    })
}

/// `paramEditBegin`: nothing to group (no undo).
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced. `name` is ignored.
unsafe extern "C" fn param_edit_begin(set: OfxParamSetHandle, _name: *const c_char) -> OfxStatus {
    guard(|| match handles::lookup::<ParamSet>(set as *const c_void) {
        Some(_) => kOfxStatOK,
        None => bad_handle("paramEditBegin", "parameter set", set as *const c_void),
    })
}

/// `paramEditEnd`.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn param_edit_end(set: OfxParamSetHandle) -> OfxStatus {
    guard(|| match handles::lookup::<ParamSet>(set as *const c_void) {
        Some(_) => kOfxStatOK,
        None => bad_handle("paramEditEnd", "parameter set", set as *const c_void),
    })
}

// The varargs entry points, in shim.c: they read the arguments by the parameter's type and call `values`.
extern "C" {
    fn kinema_shim_param_get_value(h: OfxParamHandle, ...) -> OfxStatus;
    fn kinema_shim_param_get_value_at_time(h: OfxParamHandle, time: OfxTime, ...) -> OfxStatus;
    fn kinema_shim_param_get_derivative(h: OfxParamHandle, time: OfxTime, ...) -> OfxStatus;
    fn kinema_shim_param_get_integral(h: OfxParamHandle, time1: OfxTime, time2: OfxTime, ...) -> OfxStatus;
    fn kinema_shim_param_set_value(h: OfxParamHandle, ...) -> OfxStatus;
    fn kinema_shim_param_set_value_at_time(h: OfxParamHandle, time: OfxTime, ...) -> OfxStatus;
}

pub(super) static PARAMETER_SUITE: OfxParameterSuiteV1 = OfxParameterSuiteV1 {
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
