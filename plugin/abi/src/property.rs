//! Mirrors `ofxProperty.h`: the property suite used to read and write every OFX property set.

use crate::ofx_core::{OfxPropertySetHandle, OfxStatus};
use std::ffi::{c_char, c_double, c_int, c_void, CStr};

pub const kOfxPropertySuite: &CStr = c"OfxPropertySuite";

/// The OFX suite used to access properties on OFX objects (version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxPropertySuiteV1 {
    pub propSetPointer: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            index: c_int,
            value: *mut c_void,
        ) -> OfxStatus,
    >,
    pub propSetString: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            index: c_int,
            value: *const c_char,
        ) -> OfxStatus,
    >,
    pub propSetDouble: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            index: c_int,
            value: c_double,
        ) -> OfxStatus,
    >,
    pub propSetInt: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            index: c_int,
            value: c_int,
        ) -> OfxStatus,
    >,
    pub propSetPointerN: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            count: c_int,
            value: *const *mut c_void,
        ) -> OfxStatus,
    >,
    pub propSetStringN: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            count: c_int,
            value: *const *const c_char,
        ) -> OfxStatus,
    >,
    pub propSetDoubleN: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            count: c_int,
            value: *const c_double,
        ) -> OfxStatus,
    >,
    pub propSetIntN: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            count: c_int,
            value: *const c_int,
        ) -> OfxStatus,
    >,
    pub propGetPointer: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            index: c_int,
            value: *mut *mut c_void,
        ) -> OfxStatus,
    >,
    pub propGetString: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            index: c_int,
            value: *mut *mut c_char,
        ) -> OfxStatus,
    >,
    pub propGetDouble: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            index: c_int,
            value: *mut c_double,
        ) -> OfxStatus,
    >,
    pub propGetInt: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            index: c_int,
            value: *mut c_int,
        ) -> OfxStatus,
    >,
    pub propGetPointerN: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            count: c_int,
            value: *mut *mut c_void,
        ) -> OfxStatus,
    >,
    pub propGetStringN: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            count: c_int,
            value: *mut *mut c_char,
        ) -> OfxStatus,
    >,
    pub propGetDoubleN: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            count: c_int,
            value: *mut c_double,
        ) -> OfxStatus,
    >,
    pub propGetIntN: Option<
        unsafe extern "C" fn(
            properties: OfxPropertySetHandle,
            property: *const c_char,
            count: c_int,
            value: *mut c_int,
        ) -> OfxStatus,
    >,
    pub propReset: Option<unsafe extern "C" fn(properties: OfxPropertySetHandle, property: *const c_char) -> OfxStatus>,
    pub propGetDimension: Option<
        unsafe extern "C" fn(properties: OfxPropertySetHandle, property: *const c_char, count: *mut c_int) -> OfxStatus,
    >,
}
