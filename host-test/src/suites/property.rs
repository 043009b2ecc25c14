//! The property suite: typed get/set of property-set values, with read-only and type checks.

use std::ffi::{c_char, c_double, c_int, c_void, CStr, CString};

use ofx_abi::*;

use super::{bad_arg, bad_handle, cstr, guard};
use crate::diag::{self, ViolationKind};
use crate::handles;
use crate::props::{PropError, PropSet, PropValue, Scalar};

/// The status of a property call, reporting what the plugin did wrong (unknown names and bad indexes are
/// ordinary errors, not violations).
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

/// Looks up the property set and the name, runs `f`, and turns its result into a status (reporting
/// read-only writes and type mismatches).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
unsafe fn with_set(
    func: &str,
    h: OfxPropertySetHandle,
    name: *const c_char,
    f: impl FnOnce(&PropSet, &str) -> Result<(), PropError>,
) -> OfxStatus {
    let Some(set) = handles::lookup::<PropSet>(h as *const c_void) else {
        return bad_handle(func, "property set", h as *const c_void);
    };
    // SAFETY: `name` is NULL or NUL-terminated (the caller's contract).
    let Some(name) = (unsafe { cstr(name) }) else {
        return bad_arg(func, "NULL or non-UTF-8 property name");
    };
    let r = f(&set, name);
    prop_status(func, &set, name, r)
}

/// A C index as usize (negative ones are bad indexes).
fn index(i: c_int) -> Result<usize, PropError> {
    usize::try_from(i).map_err(|_| PropError::BadIndex)
}

/// `propSetPointer`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated property name.
unsafe extern "C" fn prop_set_pointer(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    v: *mut c_void,
) -> OfxStatus {
    // SAFETY: the property name is NULL or NUL-terminated (the caller's contract); `with_set` checks the handle.
    guard(|| unsafe {
        with_set("propSetPointer", h, p, |s, n| s.plugin_set(n, index(i)?, Scalar::Pointer(v as usize)))
    })
}

/// `propSetString`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated property name; `v` is NULL or a NUL-terminated string.
unsafe extern "C" fn prop_set_string(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    v: *const c_char,
) -> OfxStatus {
    // SAFETY: `v` is checked for NULL and otherwise NUL-terminated, as is `p` (the caller's contract).
    guard(|| unsafe {
        if v.is_null() {
            return bad_arg("propSetString", "NULL value");
        }
        let v = CStr::from_ptr(v).to_owned();
        with_set("propSetString", h, p, |s, n| s.plugin_set(n, index(i)?, Scalar::String(v)))
    })
}

/// `propSetDouble`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated property name.
unsafe extern "C" fn prop_set_double(h: OfxPropertySetHandle, p: *const c_char, i: c_int, v: c_double) -> OfxStatus {
    // SAFETY: the property name is NULL or NUL-terminated (the caller's contract); `with_set` checks the handle.
    guard(|| unsafe { with_set("propSetDouble", h, p, |s, n| s.plugin_set(n, index(i)?, Scalar::Double(v))) })
}

/// `propSetInt`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated property name.
unsafe extern "C" fn prop_set_int(h: OfxPropertySetHandle, p: *const c_char, i: c_int, v: c_int) -> OfxStatus {
    // SAFETY: the property name is NULL or NUL-terminated (the caller's contract); `with_set` checks the handle.
    guard(|| unsafe { with_set("propSetInt", h, p, |s, n| s.plugin_set(n, index(i)?, Scalar::Int(v))) })
}

/// Reads `count` elements from a plugin array (NULL is only fine for count 0).
///
/// # Safety
/// `p` is NULL or points at `count` readable elements.
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

/// `propSetPointerN`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated property name; `v` is NULL or holds `c` pointers.
unsafe extern "C" fn prop_set_pointer_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    c: c_int,
    v: *const *mut c_void,
) -> OfxStatus {
    // SAFETY: `v` holds `c` elements and `p` is NULL or NUL-terminated (the caller's contract).
    guard(|| unsafe {
        let Some(v) = read_n(v, c) else {
            return bad_arg("propSetPointerN", "bad count or NULL array");
        };
        with_set("propSetPointerN", h, p, |s, n| {
            s.plugin_set_n(n, PropValue::Pointer(v.iter().map(|&x| x as usize).collect()))
        })
    })
}

/// `propSetStringN`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated property name; `v` is NULL or holds `c` NUL-terminated strings.
unsafe extern "C" fn prop_set_string_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    c: c_int,
    v: *const *const c_char,
) -> OfxStatus {
    // SAFETY: `v` holds `c` strings, each checked for NULL and otherwise NUL-terminated, and `p` is NULL or
    // NUL-terminated (the caller's contract).
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

/// `propSetDoubleN`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated property name; `v` is NULL or holds `c` doubles.
unsafe extern "C" fn prop_set_double_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    c: c_int,
    v: *const c_double,
) -> OfxStatus {
    // SAFETY: `v` holds `c` elements and `p` is NULL or NUL-terminated (the caller's contract).
    guard(|| unsafe {
        let Some(v) = read_n(v, c) else {
            return bad_arg("propSetDoubleN", "bad count or NULL array");
        };
        with_set("propSetDoubleN", h, p, |s, n| s.plugin_set_n(n, PropValue::Double(v)))
    })
}

/// `propSetIntN`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated property name; `v` is NULL or holds `c` ints.
unsafe extern "C" fn prop_set_int_n(h: OfxPropertySetHandle, p: *const c_char, c: c_int, v: *const c_int) -> OfxStatus {
    // SAFETY: `v` holds `c` elements and `p` is NULL or NUL-terminated (the caller's contract).
    guard(|| unsafe {
        let Some(v) = read_n(v, c) else {
            return bad_arg("propSetIntN", "bad count or NULL array");
        };
        with_set("propSetIntN", h, p, |s, n| s.plugin_set_n(n, PropValue::Int(v)))
    })
}

/// The single-value getters (`propGetInt`, ...).
macro_rules! getter {
    ($fname:ident, $cname:literal, $ty:ty, $get:ident, $conv:expr) => {
        #[doc = concat!("`", $cname, "`.")]
        ///
        /// # Safety
        /// `p` is NULL or a NUL-terminated property name; `out` is NULL or writable.
        unsafe extern "C" fn $fname(h: OfxPropertySetHandle, p: *const c_char, i: c_int, out: *mut $ty) -> OfxStatus {
            // SAFETY: `out` is checked for NULL and otherwise writable, and `p` is NULL or NUL-terminated (the
            // caller's contract).
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

/// The array getters (`propGetIntN`, ...): all `c` values or an error, never part of them.
macro_rules! getter_n {
    ($fname:ident, $cname:literal, $ty:ty, $get:ident, $conv:expr) => {
        #[doc = concat!("`", $cname, "`.")]
        ///
        /// # Safety
        /// `p` is NULL or a NUL-terminated property name; `out` is NULL or has room for `c` values.
        unsafe extern "C" fn $fname(h: OfxPropertySetHandle, p: *const c_char, c: c_int, out: *mut $ty) -> OfxStatus {
            // SAFETY: `out` is checked for NULL and otherwise has room for `c` values (the dimension is checked
            // before writing), and `p` is NULL or NUL-terminated (the caller's contract).
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

/// `propReset`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated property name.
unsafe extern "C" fn prop_reset(h: OfxPropertySetHandle, p: *const c_char) -> OfxStatus {
    // SAFETY: the property name is NULL or NUL-terminated (the caller's contract); `with_set` checks the handle.
    guard(|| unsafe { with_set("propReset", h, p, |s, n| s.plugin_reset(n)) })
}

/// `propGetDimension`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated property name; `out` is NULL or writable.
unsafe extern "C" fn prop_get_dimension(h: OfxPropertySetHandle, p: *const c_char, out: *mut c_int) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable, and `p` is NULL or NUL-terminated (the
    // caller's contract).
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

pub(super) static PROPERTY_SUITE: OfxPropertySuiteV1 = OfxPropertySuiteV1 {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::diag::Diagnostics;
    use crate::suites::test_support::ctx;

    #[test]
    fn property_suite_checks_handles_and_types() {
        let p = PropSet::new("t");
        let h = p.handle();
        let s = &PROPERTY_SUITE;
        let diag = Arc::new(Diagnostics::default());
        // SAFETY: the names and strings are NUL-terminated literals and the out pointers live locals.
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
    }
}
