//! Host-side property sets: typed, dimensioned values with host-owned string storage.
//!
//! Strings handed to a plugin point into the stored `CString`s. A replaced value is kept alive until the next
//! setter call on the same set, which satisfies the OFX rule that returned strings stay valid until the next API
//! call on that object.

use std::collections::HashMap;
use std::ffi::{c_void, CStr, CString};
use std::sync::Arc;

use ofx_abi::*;
use parking_lot::Mutex;

use crate::handles;

/// One property's value: all elements share a type.
#[derive(Clone, Debug, PartialEq)]
pub enum PropValue {
    Int(Vec<i32>),
    Double(Vec<f64>),
    String(Vec<CString>),
    Pointer(Vec<usize>),
}

impl PropValue {
    pub fn len(&self) -> usize {
        match self {
            PropValue::Int(v) => v.len(),
            PropValue::Double(v) => v.len(),
            PropValue::String(v) => v.len(),
            PropValue::Pointer(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn type_name(&self) -> &'static str {
        match self {
            PropValue::Int(_) => "int",
            PropValue::Double(_) => "double",
            PropValue::String(_) => "string",
            PropValue::Pointer(_) => "pointer",
        }
    }
}

/// A single element, as passed by the scalar setters.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Int(i32),
    Double(f64),
    String(CString),
    Pointer(usize),
}

/// Why a plugin-side property access failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropError {
    Unknown,
    BadIndex,
    WrongType { stored: &'static str, asked: &'static str },
    ReadOnly,
}

impl PropError {
    pub fn status(&self) -> OfxStatus {
        match self {
            PropError::Unknown => kOfxStatErrUnknown,
            PropError::BadIndex => kOfxStatErrBadIndex,
            PropError::WrongType { .. } | PropError::ReadOnly => kOfxStatErrValue,
        }
    }
}

#[derive(Debug)]
struct Prop {
    value: PropValue,
    read_only: bool,
}

#[derive(Default, Debug)]
struct Inner {
    props: HashMap<String, Prop>,
    /// Replaced string values, kept alive until the next setter call.
    retired: Vec<CString>,
}

/// A property set. Plugin-visible through its handle (its address).
#[derive(Debug)]
pub struct PropSet {
    /// What this set belongs to, for diagnostics ("host", "image", "Render inArgs", ...).
    pub what: String,
    /// Every property is read-only for the plugin (host description, inArgs, images).
    pub all_read_only: bool,
    inner: Mutex<Inner>,
}

impl Drop for PropSet {
    fn drop(&mut self) {
        handles::forget(self);
    }
}

fn cs(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl PropSet {
    pub fn new(what: impl Into<String>) -> Arc<PropSet> {
        Self::with_mode(what, false)
    }
    /// A set the plugin may read but never write.
    pub fn read_only(what: impl Into<String>) -> Arc<PropSet> {
        Self::with_mode(what, true)
    }
    fn with_mode(what: impl Into<String>, all_read_only: bool) -> Arc<PropSet> {
        let set = Arc::new(PropSet { what: what.into(), all_read_only, inner: Mutex::new(Inner::default()) });
        handles::register(&set);
        set
    }

    pub fn handle(self: &Arc<Self>) -> OfxPropertySetHandle {
        Arc::as_ptr(self) as *mut PropSet as OfxPropertySetHandle
    }

    // ---- host side -------------------------------------------------------------------------------------------

    /// Sets (creating or replacing, type included) a property from the host side.
    pub fn put(&self, name: &CStr, value: PropValue) {
        self.put_named(&name.to_string_lossy(), value, false)
    }
    /// Like `put`, but the plugin may not change it.
    pub fn put_ro(&self, name: &CStr, value: PropValue) {
        self.put_named(&name.to_string_lossy(), value, true)
    }
    pub fn put_named(&self, name: &str, value: PropValue, read_only: bool) {
        let mut inner = self.inner.lock();
        if let Some(old) = inner.props.insert(name.to_owned(), Prop { value, read_only }) {
            if let PropValue::String(v) = old.value {
                inner.retired.extend(v);
            }
        }
    }
    pub fn set_int(&self, name: &CStr, v: i32) {
        self.put(name, PropValue::Int(vec![v]))
    }
    pub fn set_ints(&self, name: &CStr, v: &[i32]) {
        self.put(name, PropValue::Int(v.to_vec()))
    }
    pub fn set_double(&self, name: &CStr, v: f64) {
        self.put(name, PropValue::Double(vec![v]))
    }
    pub fn set_doubles(&self, name: &CStr, v: &[f64]) {
        self.put(name, PropValue::Double(v.to_vec()))
    }
    pub fn set_str(&self, name: &CStr, v: &str) {
        self.put(name, PropValue::String(vec![cs(v)]))
    }
    pub fn set_cstr(&self, name: &CStr, v: &CStr) {
        self.put(name, PropValue::String(vec![v.to_owned()]))
    }
    pub fn set_cstrs(&self, name: &CStr, v: &[&CStr]) {
        self.put(name, PropValue::String(v.iter().map(|s| (*s).to_owned()).collect()))
    }
    pub fn set_strs(&self, name: &CStr, v: &[String]) {
        self.put(name, PropValue::String(v.iter().map(|s| cs(s)).collect()))
    }
    pub fn set_pointer(&self, name: &CStr, v: *mut c_void) {
        self.put(name, PropValue::Pointer(vec![v as usize]))
    }

    pub fn value(&self, name: &CStr) -> Option<PropValue> {
        self.value_named(&name.to_string_lossy())
    }
    pub fn value_named(&self, name: &str) -> Option<PropValue> {
        self.inner.lock().props.get(name).map(|p| p.value.clone())
    }
    pub fn contains(&self, name: &CStr) -> bool {
        self.inner.lock().props.contains_key(&*name.to_string_lossy())
    }
    pub fn ints(&self, name: &CStr) -> Option<Vec<i32>> {
        match self.value(name)? {
            PropValue::Int(v) => Some(v),
            _ => None,
        }
    }
    pub fn int(&self, name: &CStr) -> Option<i32> {
        self.ints(name)?.first().copied()
    }
    pub fn doubles(&self, name: &CStr) -> Option<Vec<f64>> {
        match self.value(name)? {
            PropValue::Double(v) => Some(v),
            PropValue::Int(v) => Some(v.into_iter().map(f64::from).collect()),
            _ => None,
        }
    }
    pub fn double(&self, name: &CStr) -> Option<f64> {
        self.doubles(name)?.first().copied()
    }
    pub fn strings(&self, name: &CStr) -> Option<Vec<String>> {
        self.strings_named(&name.to_string_lossy())
    }
    pub fn strings_named(&self, name: &str) -> Option<Vec<String>> {
        match self.value_named(name)? {
            PropValue::String(v) => Some(v.iter().map(|s| s.to_string_lossy().into_owned()).collect()),
            _ => None,
        }
    }
    pub fn string(&self, name: &CStr) -> Option<String> {
        self.strings(name)?.into_iter().next()
    }
    pub fn string_named(&self, name: &str) -> Option<String> {
        self.strings_named(name)?.into_iter().next()
    }
    pub fn pointer(&self, name: &CStr) -> Option<usize> {
        match self.value(name)? {
            PropValue::Pointer(v) => v.first().copied(),
            _ => None,
        }
    }
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.lock().props.keys().cloned().collect();
        v.sort();
        v
    }

    /// Copies every property of `other` into this set (descriptor -> instance).
    pub fn copy_from(&self, other: &PropSet) {
        let src: Vec<(String, PropValue)> =
            other.inner.lock().props.iter().map(|(k, p)| (k.clone(), p.value.clone())).collect();
        for (k, v) in src {
            self.put_named(&k, v, false);
        }
    }

    // ---- plugin side (property suite) -------------------------------------------------------------------------

    /// `propSet*(index)`: replaces element `index`, or appends when `index == len`; an unknown property is
    /// created (plugins describe themselves by setting properties the host did not predefine).
    pub fn plugin_set(&self, name: &str, index: usize, v: Scalar) -> Result<(), PropError> {
        let mut inner = self.inner.lock();
        inner.retired.clear();
        let read_only_set = self.all_read_only;
        let Inner { props, retired } = &mut *inner;
        let Some(prop) = props.get_mut(name) else {
            if read_only_set {
                return Err(PropError::ReadOnly);
            }
            if index != 0 {
                return Err(PropError::BadIndex);
            }
            let value = match v {
                Scalar::Int(x) => PropValue::Int(vec![x]),
                Scalar::Double(x) => PropValue::Double(vec![x]),
                Scalar::String(x) => PropValue::String(vec![x]),
                Scalar::Pointer(x) => PropValue::Pointer(vec![x]),
            };
            props.insert(name.to_owned(), Prop { value, read_only: false });
            return Ok(());
        };
        if prop.read_only || read_only_set {
            return Err(PropError::ReadOnly);
        }
        fn put<T>(vec: &mut Vec<T>, index: usize, x: T) -> Result<Option<T>, PropError> {
            if index < vec.len() {
                Ok(Some(std::mem::replace(&mut vec[index], x)))
            } else if index == vec.len() {
                vec.push(x);
                Ok(None)
            } else {
                Err(PropError::BadIndex)
            }
        }
        let stored = prop.value.type_name();
        match (&mut prop.value, v) {
            (PropValue::Int(vec), Scalar::Int(x)) => put(vec, index, x).map(drop),
            (PropValue::Double(vec), Scalar::Double(x)) => put(vec, index, x).map(drop),
            (PropValue::Pointer(vec), Scalar::Pointer(x)) => put(vec, index, x).map(drop),
            (PropValue::String(vec), Scalar::String(x)) => {
                if let Some(old) = put(vec, index, x)? {
                    retired.push(old);
                }
                Ok(())
            }
            (_, v) => Err(PropError::WrongType {
                stored,
                asked: match v {
                    Scalar::Int(_) => "int",
                    Scalar::Double(_) => "double",
                    Scalar::String(_) => "string",
                    Scalar::Pointer(_) => "pointer",
                },
            }),
        }
    }

    /// `propSet*N`: replaces the whole value (the dimension becomes `value.len()`).
    pub fn plugin_set_n(&self, name: &str, value: PropValue) -> Result<(), PropError> {
        let mut inner = self.inner.lock();
        inner.retired.clear();
        let Inner { props, retired } = &mut *inner;
        match props.get_mut(name) {
            None if self.all_read_only => Err(PropError::ReadOnly),
            None => {
                props.insert(name.to_owned(), Prop { value, read_only: false });
                Ok(())
            }
            Some(prop) if prop.read_only || self.all_read_only => Err(PropError::ReadOnly),
            Some(prop) => {
                if std::mem::discriminant(&prop.value) != std::mem::discriminant(&value) {
                    return Err(PropError::WrongType { stored: prop.value.type_name(), asked: value.type_name() });
                }
                if let PropValue::String(old) = std::mem::replace(&mut prop.value, value) {
                    retired.extend(old);
                }
                Ok(())
            }
        }
    }

    /// Runs `f` on the stored value; the borrow lets string getters hand out pointers into host storage.
    pub fn plugin_get<R>(
        &self,
        name: &str,
        f: impl FnOnce(&PropValue) -> Result<R, PropError>,
    ) -> Result<R, PropError> {
        let inner = self.inner.lock();
        let prop = inner.props.get(name).ok_or(PropError::Unknown)?;
        f(&prop.value)
    }

    pub fn plugin_get_int(&self, name: &str, index: usize) -> Result<i32, PropError> {
        self.plugin_get(name, |v| match v {
            PropValue::Int(v) => v.get(index).copied().ok_or(PropError::BadIndex),
            other => Err(PropError::WrongType { stored: other.type_name(), asked: "int" }),
        })
    }
    pub fn plugin_get_double(&self, name: &str, index: usize) -> Result<f64, PropError> {
        self.plugin_get(name, |v| match v {
            PropValue::Double(v) => v.get(index).copied().ok_or(PropError::BadIndex),
            other => Err(PropError::WrongType { stored: other.type_name(), asked: "double" }),
        })
    }
    pub fn plugin_get_pointer(&self, name: &str, index: usize) -> Result<usize, PropError> {
        self.plugin_get(name, |v| match v {
            PropValue::Pointer(v) => v.get(index).copied().ok_or(PropError::BadIndex),
            other => Err(PropError::WrongType { stored: other.type_name(), asked: "pointer" }),
        })
    }
    /// Pointer into host-owned storage, valid until the value is replaced (see the module doc).
    pub fn plugin_get_string(&self, name: &str, index: usize) -> Result<*const std::ffi::c_char, PropError> {
        self.plugin_get(name, |v| match v {
            PropValue::String(v) => v.get(index).map(|s| s.as_ptr()).ok_or(PropError::BadIndex),
            other => Err(PropError::WrongType { stored: other.type_name(), asked: "string" }),
        })
    }
    pub fn plugin_dimension(&self, name: &str) -> Result<usize, PropError> {
        self.plugin_get(name, |v| Ok(v.len()))
    }
    /// `propReset`: the host keeps no separate defaults, so this only validates the name.
    pub fn plugin_reset(&self, name: &str) -> Result<(), PropError> {
        self.plugin_get(name, |_| Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_indices_and_dimension() {
        let p = PropSet::new("test");
        p.plugin_set("A", 0, Scalar::Int(3)).unwrap();
        p.plugin_set("A", 1, Scalar::Int(4)).unwrap();
        assert_eq!(p.plugin_get_int("A", 1), Ok(4));
        assert_eq!(p.plugin_dimension("A"), Ok(2));
        assert_eq!(p.plugin_set("A", 5, Scalar::Int(1)), Err(PropError::BadIndex));
        assert_eq!(p.plugin_get_int("A", 2), Err(PropError::BadIndex));
        assert!(matches!(p.plugin_get_double("A", 0), Err(PropError::WrongType { .. })));
        assert!(matches!(p.plugin_set("A", 0, Scalar::Double(1.0)), Err(PropError::WrongType { .. })));
        assert_eq!(p.plugin_get_int("Missing", 0), Err(PropError::Unknown));
        assert_eq!(p.plugin_get_int("Missing", 0).unwrap_err().status(), kOfxStatErrUnknown);
        assert_eq!(p.plugin_set("New", 1, Scalar::Int(1)), Err(PropError::BadIndex));
        p.plugin_set_n("A", PropValue::Int(vec![7])).unwrap();
        assert_eq!(p.plugin_dimension("A"), Ok(1));
    }

    #[test]
    fn read_only_props_and_sets() {
        let p = PropSet::new("test");
        p.put_ro(c"RO", PropValue::Int(vec![1]));
        assert_eq!(p.plugin_set("RO", 0, Scalar::Int(2)), Err(PropError::ReadOnly));
        let ro = PropSet::read_only("inArgs");
        ro.set_int(c"X", 1);
        assert_eq!(ro.plugin_set("X", 0, Scalar::Int(2)), Err(PropError::ReadOnly));
        assert_eq!(ro.plugin_set("Y", 0, Scalar::Int(2)), Err(PropError::ReadOnly));
        assert_eq!(ro.int(c"X"), Some(1));
    }

    #[test]
    fn strings_are_host_owned_and_survive_one_replacement() {
        let p = PropSet::new("test");
        p.plugin_set("S", 0, Scalar::String(c"first".to_owned())).unwrap();
        let ptr = p.plugin_get_string("S", 0).unwrap();
        p.plugin_set("S", 0, Scalar::String(c"second".to_owned())).unwrap();
        // The old pointer stays readable until the next setter call on this set.
        // SAFETY: the string replaced once is still stored (that is what this tests), NUL-terminated.
        assert_eq!(unsafe { CStr::from_ptr(ptr) }, c"first");
        let ptr2 = p.plugin_get_string("S", 0).unwrap();
        // SAFETY: the current value, stored by the set and NUL-terminated.
        assert_eq!(unsafe { CStr::from_ptr(ptr2) }, c"second");
        assert_eq!(p.string(c"S").as_deref(), Some("second"));
    }

    #[test]
    fn handle_resolves_to_the_set() {
        let p = PropSet::new("test");
        let h = p.handle();
        let back = handles::lookup::<PropSet>(h as *const c_void).unwrap();
        assert!(Arc::ptr_eq(&p, &back));
    }
}
