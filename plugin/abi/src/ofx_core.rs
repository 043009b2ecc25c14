//! Mirrors `ofxCore.h`: status codes, the host/plugin bootstrap structs, the generic actions and properties,
//! bit depths and the geometric helper structs. Named `ofx_core` so `use ofx_abi::*` cannot shadow the `core` crate.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

/// Opaque property set (`struct OfxPropertySetStruct`); only ever used behind [`OfxPropertySetHandle`].
#[repr(C)]
pub struct OfxPropertySetStruct {
    _private: [u8; 0],
}
/// Blind handle to a set of properties.
pub type OfxPropertySetHandle = *mut OfxPropertySetStruct;

/// OFX status return type (`typedef int OfxStatus`).
pub type OfxStatus = c_int;

/// How time is specified within the OFX API (frames, as a double).
pub type OfxTime = f64;

/// Generic host structure passed to `OfxPlugin::setHost`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OfxHost {
    /// Global handle to the host's property set.
    pub host: OfxPropertySetHandle,
    /// Fetches a suite by name and version; returns NULL if unknown.
    pub fetchSuite: Option<
        unsafe extern "C" fn(
            host: OfxPropertySetHandle,
            suiteName: *const c_char,
            suiteVersion: c_int,
        ) -> *const c_void,
    >,
}

// SAFETY: by the OFX contract the host struct is immutable after setHost and valid from any thread while the
// binary is loaded, so it may move to another thread; the plugin and host keep it in a `static`.
unsafe impl Send for OfxHost {}
// SAFETY: immutable after setHost (see `Send`): shared references only ever read it, from any thread.
unsafe impl Sync for OfxHost {}

/// Entry point for plug-ins (`OfxPluginEntryPoint`): the `mainEntry` of [`OfxPlugin`].
pub type OfxPluginEntryPoint = unsafe extern "C" fn(
    action: *const c_char,
    handle: *const c_void,
    inArgs: OfxPropertySetHandle,
    outArgs: OfxPropertySetHandle,
) -> OfxStatus;

/// The structure that defines a plug-in to a host, returned by `OfxGetPlugin`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OfxPlugin {
    pub pluginApi: *const c_char,
    pub apiVersion: c_int,
    pub pluginIdentifier: *const c_char,
    pub pluginVersionMajor: c_uint,
    pub pluginVersionMinor: c_uint,
    pub setHost: Option<unsafe extern "C" fn(host: *mut OfxHost)>,
    pub mainEntry: Option<OfxPluginEntryPoint>,
}

// SAFETY: an OfxPlugin only points at static, immutable C strings and functions, valid on any thread.
unsafe impl Send for OfxPlugin {}
// SAFETY: nothing it points at is ever written, so shared references are sound from any thread; plugins
// hand it out from a `static`, which requires `Sync` (and the orphan rule means only this crate can say so).
unsafe impl Sync for OfxPlugin {}

/// `OfxExport OfxPlugin *OfxGetPlugin(int nth)`.
pub type OfxGetPluginFn = unsafe extern "C" fn(nth: c_int) -> *mut OfxPlugin;
/// `OfxExport int OfxGetNumberOfPlugins(void)`.
pub type OfxGetNumberOfPluginsFn = unsafe extern "C" fn() -> c_int;
/// `OfxExport OfxStatus OfxSetHost(const OfxHost *host)` (optional, newer hosts call it first).
pub type OfxSetHostFn = unsafe extern "C" fn(host: *const OfxHost) -> OfxStatus;

// Actions (ActionsAll)
pub const kOfxActionLoad: &CStr = c"OfxActionLoad";
pub const kOfxActionDescribe: &CStr = c"OfxActionDescribe";
pub const kOfxActionUnload: &CStr = c"OfxActionUnload";
pub const kOfxActionPurgeCaches: &CStr = c"OfxActionPurgeCaches";
pub const kOfxActionSyncPrivateData: &CStr = c"OfxActionSyncPrivateData";
pub const kOfxActionCreateInstance: &CStr = c"OfxActionCreateInstance";
pub const kOfxActionDestroyInstance: &CStr = c"OfxActionDestroyInstance";
pub const kOfxActionInstanceChanged: &CStr = c"OfxActionInstanceChanged";
pub const kOfxActionBeginInstanceChanged: &CStr = c"OfxActionBeginInstanceChanged";
pub const kOfxActionEndInstanceChanged: &CStr = c"OfxActionEndInstanceChanged";
pub const kOfxActionBeginInstanceEdit: &CStr = c"OfxActionBeginInstanceEdit";
pub const kOfxActionEndInstanceEdit: &CStr = c"OfxActionEndInstanceEdit";

// General properties
pub const kOfxPropAPIVersion: &CStr = c"OfxPropAPIVersion";
pub const kOfxPropTime: &CStr = c"OfxPropTime";
pub const kOfxPropIsInteractive: &CStr = c"OfxPropIsInteractive";
pub const kOfxPluginPropFilePath: &CStr = c"OfxPluginPropFilePath";
pub const kOfxPropInstanceData: &CStr = c"OfxPropInstanceData";
pub const kOfxPropType: &CStr = c"OfxPropType";
pub const kOfxPropName: &CStr = c"OfxPropName";
pub const kOfxPropVersion: &CStr = c"OfxPropVersion";
pub const kOfxPropVersionLabel: &CStr = c"OfxPropVersionLabel";
pub const kOfxPropPluginDescription: &CStr = c"OfxPropPluginDescription";
pub const kOfxPropLabel: &CStr = c"OfxPropLabel";
pub const kOfxPropIcon: &CStr = c"OfxPropIcon";
pub const kOfxPropShortLabel: &CStr = c"OfxPropShortLabel";
pub const kOfxPropLongLabel: &CStr = c"OfxPropLongLabel";
pub const kOfxPropChangeReason: &CStr = c"OfxPropChangeReason";
pub const kOfxPropEffectInstance: &CStr = c"OfxPropEffectInstance";
pub const kOfxPropHostOSHandle: &CStr = c"OfxPropHostOSHandle";

// Values of kOfxPropChangeReason
pub const kOfxChangeUserEdited: &CStr = c"OfxChangeUserEdited";
pub const kOfxChangePluginEdited: &CStr = c"OfxChangePluginEdited";
pub const kOfxChangeTime: &CStr = c"OfxChangeTime";

/// One dimensional integer bounds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxRangeI {
    pub min: c_int,
    pub max: c_int,
}

/// One dimensional double bounds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxRangeD {
    pub min: f64,
    pub max: f64,
}

/// Two dimensional integer point.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxPointI {
    pub x: c_int,
    pub y: c_int,
}

/// Two dimensional double point.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxPointD {
    pub x: f64,
    pub y: f64,
}

/// Flags infinite rects: set maximums to this (`INT_MAX`).
pub const kOfxFlagInfiniteMax: c_int = c_int::MAX;
/// Flags infinite rects: set minimums to this (`INT_MIN`).
pub const kOfxFlagInfiniteMin: c_int = c_int::MIN;

/// Two dimensional integer region, `x1 <= x < x2`, `y1 <= y < y2`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxRectI {
    pub x1: c_int,
    pub y1: c_int,
    pub x2: c_int,
    pub y2: c_int,
}

/// Two dimensional double region, `x1 <= x < x2`, `y1 <= y < y2`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxRectD {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

// Bit depths
pub const kOfxBitDepthNone: &CStr = c"OfxBitDepthNone";
pub const kOfxBitDepthByte: &CStr = c"OfxBitDepthByte";
pub const kOfxBitDepthShort: &CStr = c"OfxBitDepthShort";
pub const kOfxBitDepthHalf: &CStr = c"OfxBitDepthHalf";
pub const kOfxBitDepthFloat: &CStr = c"OfxBitDepthFloat";

// General status codes (1..999)
pub const kOfxStatOK: OfxStatus = 0;
pub const kOfxStatFailed: OfxStatus = 1;
pub const kOfxStatErrFatal: OfxStatus = 2;
pub const kOfxStatErrUnknown: OfxStatus = 3;
pub const kOfxStatErrMissingHostFeature: OfxStatus = 4;
pub const kOfxStatErrUnsupported: OfxStatus = 5;
pub const kOfxStatErrExists: OfxStatus = 6;
pub const kOfxStatErrFormat: OfxStatus = 7;
pub const kOfxStatErrMemory: OfxStatus = 8;
pub const kOfxStatErrBadHandle: OfxStatus = 9;
pub const kOfxStatErrBadIndex: OfxStatus = 10;
pub const kOfxStatErrValue: OfxStatus = 11;
pub const kOfxStatReplyYes: OfxStatus = 12;
pub const kOfxStatReplyNo: OfxStatus = 13;
pub const kOfxStatReplyDefault: OfxStatus = 14;
