//! Mirrors `ofxParam.h`: parameter types, parameter properties and values, and the parameter suite. The
//! value get/set members are C-variadic, as in C: the trailing arguments depend on the parameter type.

use crate::ofx_core::{OfxPropertySetHandle, OfxRangeD, OfxStatus, OfxTime};
use std::ffi::{c_char, c_int, c_uint, CStr};

pub const kOfxParameterSuite: &CStr = c"OfxParameterSuite";
pub const kOfxTypeParameter: &CStr = c"OfxTypeParameter";
pub const kOfxTypeParameterInstance: &CStr = c"OfxTypeParameterInstance";

/// Opaque parameter (`struct OfxParamStruct`).
#[repr(C)]
pub struct OfxParamStruct {
    _private: [u8; 0],
}
/// Blind handle to a parameter.
pub type OfxParamHandle = *mut OfxParamStruct;

/// Opaque parameter set (`struct OfxParamSetStruct`).
#[repr(C)]
pub struct OfxParamSetStruct {
    _private: [u8; 0],
}
/// Blind handle to a parameter set.
pub type OfxParamSetHandle = *mut OfxParamSetStruct;

// Parameter types
pub const kOfxParamTypeInteger: &CStr = c"OfxParamTypeInteger";
pub const kOfxParamTypeDouble: &CStr = c"OfxParamTypeDouble";
pub const kOfxParamTypeBoolean: &CStr = c"OfxParamTypeBoolean";
pub const kOfxParamTypeChoice: &CStr = c"OfxParamTypeChoice";
pub const kOfxParamTypeRGBA: &CStr = c"OfxParamTypeRGBA";
pub const kOfxParamTypeRGB: &CStr = c"OfxParamTypeRGB";
pub const kOfxParamTypeDouble2D: &CStr = c"OfxParamTypeDouble2D";
pub const kOfxParamTypeInteger2D: &CStr = c"OfxParamTypeInteger2D";
pub const kOfxParamTypeDouble3D: &CStr = c"OfxParamTypeDouble3D";
pub const kOfxParamTypeInteger3D: &CStr = c"OfxParamTypeInteger3D";
pub const kOfxParamTypeString: &CStr = c"OfxParamTypeString";
pub const kOfxParamTypeCustom: &CStr = c"OfxParamTypeCustom";
pub const kOfxParamTypeGroup: &CStr = c"OfxParamTypeGroup";
pub const kOfxParamTypePage: &CStr = c"OfxParamTypePage";
pub const kOfxParamTypePushButton: &CStr = c"OfxParamTypePushButton";

// Host parameter properties
pub const kOfxParamHostPropSupportsCustomAnimation: &CStr = c"OfxParamHostPropSupportsCustomAnimation";
pub const kOfxParamHostPropSupportsStringAnimation: &CStr = c"OfxParamHostPropSupportsStringAnimation";
pub const kOfxParamHostPropSupportsBooleanAnimation: &CStr = c"OfxParamHostPropSupportsBooleanAnimation";
pub const kOfxParamHostPropSupportsChoiceAnimation: &CStr = c"OfxParamHostPropSupportsChoiceAnimation";
pub const kOfxParamHostPropSupportsCustomInteract: &CStr = c"OfxParamHostPropSupportsCustomInteract";
pub const kOfxParamHostPropMaxParameters: &CStr = c"OfxParamHostPropMaxParameters";
pub const kOfxParamHostPropMaxPages: &CStr = c"OfxParamHostPropMaxPages";
pub const kOfxParamHostPropPageRowColumnCount: &CStr = c"OfxParamHostPropPageRowColumnCount";

// Page layout pseudo parameter names
pub const kOfxParamPageSkipRow: &CStr = c"OfxParamPageSkipRow";
pub const kOfxParamPageSkipColumn: &CStr = c"OfxParamPageSkipColumn";

// Parameter properties
pub const kOfxParamPropInteractV1: &CStr = c"OfxParamPropInteractV1";
pub const kOfxParamPropInteractSize: &CStr = c"OfxParamPropInteractSize";
pub const kOfxParamPropInteractSizeAspect: &CStr = c"OfxParamPropInteractSizeAspect";
pub const kOfxParamPropInteractMinimumSize: &CStr = c"OfxParamPropInteractMinimumSize";
pub const kOfxParamPropInteractPreferedSize: &CStr = c"OfxParamPropInteractPreferedSize";
pub const kOfxParamPropType: &CStr = c"OfxParamPropType";
pub const kOfxParamPropAnimates: &CStr = c"OfxParamPropAnimates";
pub const kOfxParamPropCanUndo: &CStr = c"OfxParamPropCanUndo";
pub const kOfxPropParamSetNeedsSyncing: &CStr = c"OfxPropParamSetNeedsSyncing";
pub const kOfxParamPropIsAnimating: &CStr = c"OfxParamPropIsAnimating";
/// Deprecated in OFX 1.4.
pub const kOfxParamPropPluginMayWrite: &CStr = c"OfxParamPropPluginMayWrite";
pub const kOfxParamPropPersistant: &CStr = c"OfxParamPropPersistant";
pub const kOfxParamPropEvaluateOnChange: &CStr = c"OfxParamPropEvaluateOnChange";
pub const kOfxParamPropSecret: &CStr = c"OfxParamPropSecret";
pub const kOfxParamPropScriptName: &CStr = c"OfxParamPropScriptName";
pub const kOfxParamPropCacheInvalidation: &CStr = c"OfxParamPropCacheInvalidation";
pub const kOfxParamInvalidateValueChange: &CStr = c"OfxParamInvalidateValueChange";
pub const kOfxParamInvalidateValueChangeToEnd: &CStr = c"OfxParamInvalidateValueChangeToEnd";
pub const kOfxParamInvalidateAll: &CStr = c"OfxParamInvalidateAll";
pub const kOfxParamPropHint: &CStr = c"OfxParamPropHint";
pub const kOfxParamPropDefault: &CStr = c"OfxParamPropDefault";
pub const kOfxParamPropDoubleType: &CStr = c"OfxParamPropDoubleType";
pub const kOfxParamDoubleTypePlain: &CStr = c"OfxParamDoubleTypePlain";
pub const kOfxParamDoubleTypeScale: &CStr = c"OfxParamDoubleTypeScale";
pub const kOfxParamDoubleTypeAngle: &CStr = c"OfxParamDoubleTypeAngle";
pub const kOfxParamDoubleTypeTime: &CStr = c"OfxParamDoubleTypeTime";
pub const kOfxParamDoubleTypeAbsoluteTime: &CStr = c"OfxParamDoubleTypeAbsoluteTime";
pub const kOfxParamDoubleTypeX: &CStr = c"OfxParamDoubleTypeX";
pub const kOfxParamDoubleTypeY: &CStr = c"OfxParamDoubleTypeY";
pub const kOfxParamDoubleTypeXAbsolute: &CStr = c"OfxParamDoubleTypeXAbsolute";
pub const kOfxParamDoubleTypeYAbsolute: &CStr = c"OfxParamDoubleTypeYAbsolute";
pub const kOfxParamDoubleTypeXY: &CStr = c"OfxParamDoubleTypeXY";
pub const kOfxParamDoubleTypeXYAbsolute: &CStr = c"OfxParamDoubleTypeXYAbsolute";
/// The older normalised spatial types (deprecated in OFX 1.2): values are fractions of the project size,
/// which the host converts to and from canonical coordinates for its user.
pub const kOfxParamDoubleTypeNormalisedX: &CStr = c"OfxParamDoubleTypeNormalisedX";
pub const kOfxParamDoubleTypeNormalisedY: &CStr = c"OfxParamDoubleTypeNormalisedY";
pub const kOfxParamDoubleTypeNormalisedXAbsolute: &CStr = c"OfxParamDoubleTypeNormalisedXAbsolute";
pub const kOfxParamDoubleTypeNormalisedYAbsolute: &CStr = c"OfxParamDoubleTypeNormalisedYAbsolute";
pub const kOfxParamDoubleTypeNormalisedXY: &CStr = c"OfxParamDoubleTypeNormalisedXY";
pub const kOfxParamDoubleTypeNormalisedXYAbsolute: &CStr = c"OfxParamDoubleTypeNormalisedXYAbsolute";
pub const kOfxParamPropDefaultCoordinateSystem: &CStr = c"OfxParamPropDefaultCoordinateSystem";
pub const kOfxParamCoordinatesCanonical: &CStr = c"OfxParamCoordinatesCanonical";
pub const kOfxParamCoordinatesNormalised: &CStr = c"OfxParamCoordinatesNormalised";
pub const kOfxParamPropHasHostOverlayHandle: &CStr = c"OfxParamPropHasHostOverlayHandle";
/// The header's value really does start with a `k`.
pub const kOfxParamPropUseHostOverlayHandle: &CStr = c"kOfxParamPropUseHostOverlayHandle";
pub const kOfxParamPropShowTimeMarker: &CStr = c"OfxParamPropShowTimeMarker";
pub const kOfxPluginPropParamPageOrder: &CStr = c"OfxPluginPropParamPageOrder";
pub const kOfxParamPropPageChild: &CStr = c"OfxParamPropPageChild";
pub const kOfxParamPropParent: &CStr = c"OfxParamPropParent";
pub const kOfxParamPropGroupOpen: &CStr = c"OfxParamPropGroupOpen";
pub const kOfxParamPropEnabled: &CStr = c"OfxParamPropEnabled";
pub const kOfxParamPropDataPtr: &CStr = c"OfxParamPropDataPtr";
pub const kOfxParamPropChoiceOption: &CStr = c"OfxParamPropChoiceOption";
pub const kOfxParamPropMin: &CStr = c"OfxParamPropMin";
pub const kOfxParamPropMax: &CStr = c"OfxParamPropMax";
pub const kOfxParamPropDisplayMin: &CStr = c"OfxParamPropDisplayMin";
pub const kOfxParamPropDisplayMax: &CStr = c"OfxParamPropDisplayMax";
pub const kOfxParamPropIncrement: &CStr = c"OfxParamPropIncrement";
pub const kOfxParamPropDigits: &CStr = c"OfxParamPropDigits";
pub const kOfxParamPropDimensionLabel: &CStr = c"OfxParamPropDimensionLabel";
pub const kOfxParamPropIsAutoKeying: &CStr = c"OfxParamPropIsAutoKeying";
/// The header's value differs from the macro name ("CustomCallback", not "CustomInterpCallback").
pub const kOfxParamPropCustomInterpCallbackV1: &CStr = c"OfxParamPropCustomCallbackV1";
pub const kOfxParamPropStringMode: &CStr = c"OfxParamPropStringMode";
pub const kOfxParamPropStringFilePathExists: &CStr = c"OfxParamPropStringFilePathExists";
pub const kOfxParamStringIsSingleLine: &CStr = c"OfxParamStringIsSingleLine";
pub const kOfxParamStringIsMultiLine: &CStr = c"OfxParamStringIsMultiLine";
pub const kOfxParamStringIsFilePath: &CStr = c"OfxParamStringIsFilePath";
pub const kOfxParamStringIsDirectoryPath: &CStr = c"OfxParamStringIsDirectoryPath";
pub const kOfxParamStringIsLabel: &CStr = c"OfxParamStringIsLabel";
pub const kOfxParamStringIsRichTextFormat: &CStr = c"OfxParamStringIsRichTextFormat";
pub const kOfxParamPropCustomValue: &CStr = c"OfxParamPropCustomValue";
pub const kOfxParamPropInterpolationTime: &CStr = c"OfxParamPropInterpolationTime";
pub const kOfxParamPropInterpolationAmount: &CStr = c"OfxParamPropInterpolationAmount";

/// Custom parameter interpolation callback (`OfxCustomParamInterpFuncV1`).
pub type OfxCustomParamInterpFuncV1 = unsafe extern "C" fn(
    instance: OfxParamSetHandle,
    inArgs: OfxPropertySetHandle,
    outArgs: OfxPropertySetHandle,
) -> OfxStatus;

/// The OFX suite used to define and manipulate user visible parameters (version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxParameterSuiteV1 {
    pub paramDefine: Option<
        unsafe extern "C" fn(
            paramSet: OfxParamSetHandle,
            paramType: *const c_char,
            name: *const c_char,
            propertySet: *mut OfxPropertySetHandle,
        ) -> OfxStatus,
    >,
    pub paramGetHandle: Option<
        unsafe extern "C" fn(
            paramSet: OfxParamSetHandle,
            name: *const c_char,
            param: *mut OfxParamHandle,
            propertySet: *mut OfxPropertySetHandle,
        ) -> OfxStatus,
    >,
    pub paramSetGetPropertySet:
        Option<unsafe extern "C" fn(paramSet: OfxParamSetHandle, propHandle: *mut OfxPropertySetHandle) -> OfxStatus>,
    pub paramGetPropertySet:
        Option<unsafe extern "C" fn(param: OfxParamHandle, propHandle: *mut OfxPropertySetHandle) -> OfxStatus>,
    pub paramGetValue: Option<unsafe extern "C" fn(paramHandle: OfxParamHandle, ...) -> OfxStatus>,
    pub paramGetValueAtTime: Option<unsafe extern "C" fn(paramHandle: OfxParamHandle, time: OfxTime, ...) -> OfxStatus>,
    pub paramGetDerivative: Option<unsafe extern "C" fn(paramHandle: OfxParamHandle, time: OfxTime, ...) -> OfxStatus>,
    pub paramGetIntegral:
        Option<unsafe extern "C" fn(paramHandle: OfxParamHandle, time1: OfxTime, time2: OfxTime, ...) -> OfxStatus>,
    pub paramSetValue: Option<unsafe extern "C" fn(paramHandle: OfxParamHandle, ...) -> OfxStatus>,
    pub paramSetValueAtTime: Option<unsafe extern "C" fn(paramHandle: OfxParamHandle, time: OfxTime, ...) -> OfxStatus>,
    pub paramGetNumKeys:
        Option<unsafe extern "C" fn(paramHandle: OfxParamHandle, numberOfKeys: *mut c_uint) -> OfxStatus>,
    pub paramGetKeyTime:
        Option<unsafe extern "C" fn(paramHandle: OfxParamHandle, nthKey: c_uint, time: *mut OfxTime) -> OfxStatus>,
    pub paramGetKeyIndex: Option<
        unsafe extern "C" fn(
            paramHandle: OfxParamHandle,
            time: OfxTime,
            direction: c_int,
            index: *mut c_int,
        ) -> OfxStatus,
    >,
    pub paramDeleteKey: Option<unsafe extern "C" fn(paramHandle: OfxParamHandle, time: OfxTime) -> OfxStatus>,
    pub paramDeleteAllKeys: Option<unsafe extern "C" fn(paramHandle: OfxParamHandle) -> OfxStatus>,
    pub paramCopy: Option<
        unsafe extern "C" fn(
            paramTo: OfxParamHandle,
            paramFrom: OfxParamHandle,
            dstOffset: OfxTime,
            frameRange: *const OfxRangeD,
        ) -> OfxStatus,
    >,
    pub paramEditBegin: Option<unsafe extern "C" fn(paramSet: OfxParamSetHandle, name: *const c_char) -> OfxStatus>,
    pub paramEditEnd: Option<unsafe extern "C" fn(paramSet: OfxParamSetHandle) -> OfxStatus>,
}
