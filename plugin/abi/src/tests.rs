//! Layout tests against the C ABI of the official headers on LP64 (x86_64/aarch64 Linux and macOS):
//! pointers are 8 bytes, `int` is 4, `double` 8. A wrong field order or a missing member shifts an offset.

use crate::*;
use std::mem::{align_of, offset_of, size_of};

const P: usize = size_of::<*const c_void>();

/// Asserts that every field of a suite sits at `P * index` and the struct holds exactly `fields.len()` pointers.
macro_rules! assert_suite {
    ($ty:ty, [$($field:ident),+ $(,)?]) => {{
        let names = [$(stringify!($field)),+];
        let offsets = [$(offset_of!($ty, $field)),+];
        for (k, (name, off)) in names.iter().zip(offsets).enumerate() {
            assert_eq!(off, k * P, "{}::{} should sit at {}", stringify!($ty), name, k * P);
        }
        assert_eq!(size_of::<$ty>(), names.len() * P, "size of {}", stringify!($ty));
        assert_eq!(align_of::<$ty>(), P);
    }};
}

#[test]
fn lp64_assumptions() {
    assert_eq!(P, 8);
    assert_eq!(size_of::<c_int>(), 4);
    assert_eq!(size_of::<OfxStatus>(), 4);
    assert_eq!(size_of::<OfxTime>(), 8);
}

#[test]
fn optional_fn_pointers_are_pointer_sized() {
    // The null-pointer optimisation is what makes `Option<fn>` a valid C function pointer member.
    assert_eq!(size_of::<Option<OfxPluginEntryPoint>>(), P);
    assert_eq!(size_of::<Option<unsafe extern "C" fn(OfxParamHandle, ...) -> OfxStatus>>(), P);
    assert_eq!(size_of::<Option<OfxThreadFunctionV1>>(), P);
    assert!(OfxImageEffectSuiteV1::default().clipGetImage.is_none());
}

#[test]
fn host_and_plugin_layout() {
    assert_eq!(offset_of!(OfxHost, host), 0);
    assert_eq!(offset_of!(OfxHost, fetchSuite), 8);
    assert_eq!(size_of::<OfxHost>(), 16);

    assert_eq!(offset_of!(OfxPlugin, pluginApi), 0);
    assert_eq!(offset_of!(OfxPlugin, apiVersion), 8);
    assert_eq!(offset_of!(OfxPlugin, pluginIdentifier), 16);
    assert_eq!(offset_of!(OfxPlugin, pluginVersionMajor), 24);
    assert_eq!(offset_of!(OfxPlugin, pluginVersionMinor), 28);
    assert_eq!(offset_of!(OfxPlugin, setHost), 32);
    assert_eq!(offset_of!(OfxPlugin, mainEntry), 40);
    assert_eq!(size_of::<OfxPlugin>(), 48);
}

#[test]
fn suite_layouts() {
    assert_suite!(
        OfxPropertySuiteV1,
        [
            propSetPointer,
            propSetString,
            propSetDouble,
            propSetInt,
            propSetPointerN,
            propSetStringN,
            propSetDoubleN,
            propSetIntN,
            propGetPointer,
            propGetString,
            propGetDouble,
            propGetInt,
            propGetPointerN,
            propGetStringN,
            propGetDoubleN,
            propGetIntN,
            propReset,
            propGetDimension,
        ]
    );
    assert_suite!(
        OfxParameterSuiteV1,
        [
            paramDefine,
            paramGetHandle,
            paramSetGetPropertySet,
            paramGetPropertySet,
            paramGetValue,
            paramGetValueAtTime,
            paramGetDerivative,
            paramGetIntegral,
            paramSetValue,
            paramSetValueAtTime,
            paramGetNumKeys,
            paramGetKeyTime,
            paramGetKeyIndex,
            paramDeleteKey,
            paramDeleteAllKeys,
            paramCopy,
            paramEditBegin,
            paramEditEnd,
        ]
    );
    assert_suite!(
        OfxImageEffectSuiteV1,
        [
            getPropertySet,
            getParamSet,
            clipDefine,
            clipGetHandle,
            clipGetPropertySet,
            clipGetImage,
            clipReleaseImage,
            clipGetRegionOfDefinition,
            abort,
            imageMemoryAlloc,
            imageMemoryFree,
            imageMemoryLock,
            imageMemoryUnlock,
        ]
    );
    assert_suite!(OfxMemorySuiteV1, [memoryAlloc, memoryFree]);
    assert_suite!(
        OfxMultiThreadSuiteV1,
        [
            multiThread,
            multiThreadNumCPUs,
            multiThreadIndex,
            multiThreadIsSpawnedThread,
            mutexCreate,
            mutexDestroy,
            mutexLock,
            mutexUnLock,
            mutexTryLock,
        ]
    );
    assert_suite!(OfxMessageSuiteV1, [message]);
    assert_suite!(OfxMessageSuiteV2, [message, setPersistentMessage, clearPersistentMessage]);
    assert_suite!(OfxProgressSuiteV1, [progressStart, progressUpdate, progressEnd]);
    assert_suite!(OfxProgressSuiteV2, [progressStart, progressUpdate, progressEnd]);
    assert_suite!(OfxTimeLineSuiteV1, [getTime, gotoTime, getTimeBounds]);
    assert_suite!(OfxImageEffectOpenGLRenderSuiteV1, [clipLoadTexture, clipFreeTexture, flushResources]);
    assert_suite!(OfxOpenCLProgramSuiteV1, [compileProgram]);

    // Spot checks by name, independent of the macro.
    assert_eq!(offset_of!(OfxImageEffectSuiteV1, clipGetImage), 5 * 8);
    assert_eq!(offset_of!(OfxImageEffectSuiteV1, abort), 8 * 8);
    assert_eq!(offset_of!(OfxPropertySuiteV1, propGetString), 9 * 8);
    assert_eq!(offset_of!(OfxParameterSuiteV1, paramGetValueAtTime), 5 * 8);
    assert_eq!(offset_of!(OfxMultiThreadSuiteV1, mutexUnLock), 7 * 8);
    assert_eq!(size_of::<OfxImageEffectSuiteV1>(), 13 * 8);
    assert_eq!(size_of::<OfxPropertySuiteV1>(), 18 * 8);
    assert_eq!(size_of::<OfxParameterSuiteV1>(), 18 * 8);
}

#[test]
fn geometry_layouts() {
    assert_eq!(size_of::<OfxRectI>(), 16);
    assert_eq!(offset_of!(OfxRectI, x1), 0);
    assert_eq!(offset_of!(OfxRectI, y1), 4);
    assert_eq!(offset_of!(OfxRectI, x2), 8);
    assert_eq!(offset_of!(OfxRectI, y2), 12);
    assert_eq!(size_of::<OfxRectD>(), 32);
    assert_eq!(offset_of!(OfxRectD, y1), 8);
    assert_eq!(offset_of!(OfxRectD, x2), 16);
    assert_eq!(offset_of!(OfxRectD, y2), 24);
    assert_eq!(size_of::<OfxPointI>(), 8);
    assert_eq!(offset_of!(OfxPointI, y), 4);
    assert_eq!(size_of::<OfxPointD>(), 16);
    assert_eq!(offset_of!(OfxPointD, y), 8);
    assert_eq!(size_of::<OfxRangeI>(), 8);
    assert_eq!(offset_of!(OfxRangeI, max), 4);
    assert_eq!(size_of::<OfxRangeD>(), 16);
    assert_eq!(offset_of!(OfxRangeD, max), 8);
}

#[test]
fn pixel_layouts() {
    assert_eq!(size_of::<OfxRGBAColourB>(), 4);
    assert_eq!(size_of::<OfxRGBAColourS>(), 8);
    assert_eq!(size_of::<OfxRGBAColourF>(), 16);
    assert_eq!(offset_of!(OfxRGBAColourF, a), 12);
    assert_eq!(size_of::<OfxRGBAColourD>(), 32);
    assert_eq!(size_of::<OfxRGBColourB>(), 3);
    assert_eq!(size_of::<OfxRGBColourS>(), 6);
    assert_eq!(size_of::<OfxRGBColourF>(), 12);
    assert_eq!(offset_of!(OfxRGBColourF, b), 8);
    assert_eq!(size_of::<OfxRGBColourD>(), 24);
    assert_eq!(size_of::<OfxYUVAColourF>(), 16);
    assert_eq!(offset_of!(OfxYUVAColourS, v), 4);
}

#[test]
fn string_constants_match_headers() {
    assert_eq!(kOfxImageEffectPluginApi, c"OfxImageEffectPluginAPI");
    assert_eq!(kOfxImageEffectPluginApiVersion, 1);
    assert_eq!(kOfxImageEffectActionRender, c"OfxImageEffectActionRender");
    assert_eq!(kOfxBitDepthFloat, c"OfxBitDepthFloat");
    assert_eq!(kOfxActionLoad, c"OfxActionLoad");
    assert_eq!(kOfxPropertySuite, c"OfxPropertySuite");
    assert_eq!(kOfxImageEffectSuite, c"OfxImageEffectSuite");
    assert_eq!(kOfxImageEffectContextFilter, c"OfxImageEffectContextFilter");
    assert_eq!(kOfxImageComponentRGBA, c"OfxImageComponentRGBA");
    // Values that deliberately differ from their macro names in the headers.
    assert_eq!(kOfxImagePreMultiplied, c"OfxImageAlphaPremultiplied");
    assert_eq!(kOfxImageFieldNone, c"OfxFieldNone");
    assert_eq!(kOfxImageEffectPropSupportsMultipleClipDepths, c"OfxImageEffectPropMultipleClipDepths");
    assert_eq!(kOfxImageEffectPropProjectPixelAspectRatio, c"OfxImageEffectPropPixelAspectRatio");
    assert_eq!(kOfxParamPropCustomInterpCallbackV1, c"OfxParamPropCustomCallbackV1");
    assert_eq!(kOfxImageEffectOutputClipName, c"Output");
    assert_eq!(kOfxImageEffectSimpleSourceClipName, c"Source");
}

#[test]
fn status_codes_match_headers() {
    let codes = [
        kOfxStatOK,
        kOfxStatFailed,
        kOfxStatErrFatal,
        kOfxStatErrUnknown,
        kOfxStatErrMissingHostFeature,
        kOfxStatErrUnsupported,
        kOfxStatErrExists,
        kOfxStatErrFormat,
        kOfxStatErrMemory,
        kOfxStatErrBadHandle,
        kOfxStatErrBadIndex,
        kOfxStatErrValue,
        kOfxStatReplyYes,
        kOfxStatReplyNo,
        kOfxStatReplyDefault,
    ];
    for (i, c) in codes.iter().enumerate() {
        assert_eq!(*c, i as OfxStatus);
    }
    assert_eq!(kOfxStatErrImageFormat, 1000);
    assert_eq!(kOfxStatGPUOutOfMemory, 1001);
    assert_eq!(kOfxStatGPURenderFailed, 1002);
    assert_eq!(kOfxFlagInfiniteMax, i32::MAX);
    assert_eq!(kOfxFlagInfiniteMin, i32::MIN);
}

#[test]
fn plugin_struct_can_be_static() {
    // Plugins export `OfxPlugin` from a static; this only compiles if the type is Sync.
    static PLUGIN: OfxPlugin = OfxPlugin {
        pluginApi: kOfxImageEffectPluginApi.as_ptr(),
        apiVersion: kOfxImageEffectPluginApiVersion,
        pluginIdentifier: c"com.example.test".as_ptr(),
        pluginVersionMajor: 1,
        pluginVersionMinor: 0,
        setHost: None,
        mainEntry: None,
    };
    // SAFETY: pluginApi points at a static NUL-terminated string.
    let api = unsafe { CStr::from_ptr(PLUGIN.pluginApi) };
    assert_eq!(api, kOfxImageEffectPluginApi);
}
