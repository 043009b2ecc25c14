//! Safe wrapper over an OFX property set.

use std::ffi::{c_int, c_void, CStr};

use ofx_abi::*;

use super::raw;
use super::status::{OfxError, OfxResult};

/// A host property set. Only made from handles the host gave for the current action, and only
/// used during it.
#[derive(Clone, Copy, Debug)]
pub struct PropertySet {
    handle: OfxPropertySetHandle,
}

impl PropertySet {
    /// # Safety
    /// `handle` must be NULL or a property set handle from the host that stays valid for as long
    /// as the wrapper is used (the current action).
    pub unsafe fn from_raw(handle: OfxPropertySetHandle, what: &str) -> OfxResult<Self> {
        if handle.is_null() {
            return Err(OfxError::bad_handle(what));
        }
        Ok(Self { handle })
    }

    pub fn handle(&self) -> OfxPropertySetHandle {
        self.handle
    }

    // Every method below calls `raw` with `self.handle`, valid for the current action by the
    // contract of `from_raw`.

    pub fn set_int(&self, name: &CStr, v: i32) -> OfxResult<()> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
        unsafe { raw::prop_set_int(self.handle, name, 0, v) }
    }

    pub fn set_bool(&self, name: &CStr, v: bool) -> OfxResult<()> {
        self.set_int(name, c_int::from(v))
    }

    pub fn set_ints(&self, name: &CStr, v: &[i32]) -> OfxResult<()> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
        v.iter().enumerate().try_for_each(|(i, &x)| unsafe { raw::prop_set_int(self.handle, name, i as c_int, x) })
    }

    pub fn set_double(&self, name: &CStr, v: f64) -> OfxResult<()> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
        unsafe { raw::prop_set_double(self.handle, name, 0, v) }
    }

    pub fn set_doubles(&self, name: &CStr, v: &[f64]) -> OfxResult<()> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
        v.iter().enumerate().try_for_each(|(i, &x)| unsafe { raw::prop_set_double(self.handle, name, i as c_int, x) })
    }

    /// Sets a string that the host may keep (labels, enum values): it must be `'static`.
    pub fn set_string(&self, name: &CStr, v: &'static CStr) -> OfxResult<()> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`);
        // `v` is `'static`, so it outlives anything the host keeps.
        unsafe { raw::prop_set_string(self.handle, name, 0, v) }
    }

    pub fn set_strings(&self, name: &CStr, v: &[&'static CStr]) -> OfxResult<()> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`);
        // every string is `'static`, so it outlives anything the host keeps.
        v.iter().enumerate().try_for_each(|(i, x)| unsafe { raw::prop_set_string(self.handle, name, i as c_int, x) })
    }

    /// Sets a value string; the host copies value strings, so it need not outlive the call.
    pub fn set_value_string(&self, name: &CStr, v: &str) -> OfxResult<()> {
        let c = raw::c_string(v)?;
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`);
        // the host copies value strings, so `c` need only live through the call.
        unsafe { raw::prop_set_string(self.handle, name, 0, &c) }
    }

    /// Crate-only: the pointer is stored, not dereferenced, but must be one the host may keep.
    pub(crate) fn set_pointer(&self, name: &CStr, v: *mut c_void) -> OfxResult<()> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`);
        // the host only stores `v`, and the crate-only callers store pointers it may keep.
        unsafe { raw::prop_set_pointer(self.handle, name, 0, v) }
    }

    pub fn int(&self, name: &CStr) -> OfxResult<i32> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
        unsafe { raw::prop_get_int(self.handle, name, 0) }
    }

    pub fn ints<const N: usize>(&self, name: &CStr) -> OfxResult<[i32; N]> {
        let mut out = [0; N];
        for (i, slot) in out.iter_mut().enumerate() {
            // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
            *slot = unsafe { raw::prop_get_int(self.handle, name, i as c_int)? };
        }
        Ok(out)
    }

    pub fn double(&self, name: &CStr) -> OfxResult<f64> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
        unsafe { raw::prop_get_double(self.handle, name, 0) }
    }

    pub fn doubles<const N: usize>(&self, name: &CStr) -> OfxResult<[f64; N]> {
        let mut out = [0.0; N];
        for (i, slot) in out.iter_mut().enumerate() {
            // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
            *slot = unsafe { raw::prop_get_double(self.handle, name, i as c_int)? };
        }
        Ok(out)
    }

    pub fn string(&self, name: &CStr) -> OfxResult<String> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
        unsafe { raw::prop_get_string(self.handle, name, 0) }
    }

    pub fn pointer(&self, name: &CStr) -> OfxResult<*mut c_void> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
        unsafe { raw::prop_get_pointer(self.handle, name, 0) }
    }

    pub fn dimension(&self, name: &CStr) -> OfxResult<usize> {
        // SAFETY: `self.handle` is a live property set (the contract of `from_raw`).
        Ok(unsafe { raw::prop_get_dimension(self.handle, name)? }.max(0) as usize)
    }
}
