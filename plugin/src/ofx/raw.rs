//! The raw FFI layer: the host's suites, copied once at setHost into a `OnceLock`, and every call
//! through a host function pointer. This is the only module that dereferences host pointers; the
//! wrappers above it ([`super::PropertySet`], [`super::ParamSet`], ...) are safe.
//!
//! Every function pointer is checked for NULL (Resolve has shipped NULL and garbage entries in
//! suites it advertised), and every non-OK status becomes an [`OfxError`] naming the call.

use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::OnceLock;

use ofx_abi::*;

use super::status::{OfxError, OfxResult, Status};

/// The suites the plugin uses. The structs are copied out of the host (they are tables of
/// function pointers), so nothing here points into host memory that could go away.
#[derive(Debug)]
pub struct Suites {
    pub property: OfxPropertySuiteV1,
    pub image_effect: OfxImageEffectSuiteV1,
    pub parameter: OfxParameterSuiteV1,
    // Memory, MultiThread and TimeLine are fetched now so the runtime can use them; nothing
    // reads them yet.
    #[allow(dead_code)]
    pub memory: Option<OfxMemorySuiteV1>,
    #[allow(dead_code)]
    pub multi_thread: Option<OfxMultiThreadSuiteV1>,
    pub message_v1: Option<OfxMessageSuiteV1>,
    pub message_v2: Option<OfxMessageSuiteV2>,
    pub progress_v1: Option<OfxProgressSuiteV1>,
    pub progress_v2: Option<OfxProgressSuiteV2>,
    #[allow(dead_code)]
    pub timeline: Option<OfxTimeLineSuiteV1>,
}

static SUITES: OnceLock<Suites> = OnceLock::new();

/// Why the last setHost could not fetch the required suites, reported by Load.
static SET_HOST_ERROR: OnceLock<OfxError> = OnceLock::new();

/// What the host description says about pixel depths, read once at setHost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostDepths {
    /// `kOfxImageEffectPropSupportsMultipleClipDepths`: clips of one effect may differ in depth, and only
    /// then may a plugin choose the output depth.
    pub multiple_clip_depths: bool,
    /// `kOfxImageEffectPropSupportedPixelDepths` of the host.
    pub supported: Vec<String>,
}

impl HostDepths {
    pub fn supports(&self, depth: &CStr) -> bool {
        self.supported.iter().any(|d| d.as_bytes() == depth.to_bytes())
    }
}

static HOST_DEPTHS: OnceLock<HostDepths> = OnceLock::new();

/// The host's depth capabilities; a host that could not say gets the most restrictive reading
/// (a single depth chosen by the host).
pub fn host_depths() -> &'static HostDepths {
    static NONE: HostDepths = HostDepths { multiple_clip_depths: false, supported: Vec::new() };
    HOST_DEPTHS.get().unwrap_or(&NONE)
}

/// Reads [`HostDepths`] from the host's property set (missing properties read as unsupported).
///
/// # Safety
/// `props` must be the host description handle of the `OfxHost` passed to setHost.
unsafe fn read_host_depths(props: OfxPropertySetHandle) -> HostDepths {
    // SAFETY: `props` is the host description (caller's contract), which the host keeps valid
    // for the whole setHost call; the suites were stored before this is called.
    unsafe {
        let multiple = prop_get_int(props, kOfxImageEffectPropSupportsMultipleClipDepths, 0).is_ok_and(|v| v != 0);
        let count = prop_get_dimension(props, kOfxImageEffectPropSupportedPixelDepths).unwrap_or(0).clamp(0, 16);
        let supported = (0..count)
            .filter_map(|i| prop_get_string(props, kOfxImageEffectPropSupportedPixelDepths, i).ok())
            .collect();
        HostDepths { multiple_clip_depths: multiple, supported }
    }
}

/// Fetches the suites from `host`. Later calls (one per plugin in the binary) keep the first set.
///
/// # Safety
/// `host` must be NULL or point at a valid `OfxHost` whose `fetchSuite` returns NULL or pointers
/// to suite structs of the requested version.
pub unsafe fn set_host(host: *const OfxHost) -> OfxResult<()> {
    if host.is_null() {
        return Err(OfxError::bad_handle("the OfxHost passed to setHost"));
    }
    if SUITES.get().is_some() {
        return Ok(());
    }
    // SAFETY: non-null, and the caller guarantees it points at an OfxHost.
    let host = unsafe { *host };
    // SAFETY: `host` is a copy of the caller's valid OfxHost, so its fetchSuite meets the
    // contract fetch_all asks for.
    let result = unsafe { fetch_all(&host) };
    match result {
        Ok(suites) => {
            let _ = SUITES.set(suites);
            // SAFETY: `host.host` is the host description of the OfxHost being set.
            let _ = HOST_DEPTHS.set(unsafe { read_host_depths(host.host) });
            Ok(())
        }
        Err(err) => {
            let _ = SET_HOST_ERROR.set(err.clone());
            Err(err)
        }
    }
}

/// Copies every suite the plugin uses out of `host`.
///
/// # Safety
/// `host.fetchSuite` must be NULL or return NULL or a pointer to the suite struct of the
/// requested name and version, and `host.host` must be the handle it expects.
unsafe fn fetch_all(host: &OfxHost) -> OfxResult<Suites> {
    let fetch = host.fetchSuite.ok_or_else(|| OfxError::missing("OfxHost::fetchSuite"))?;
    /// Copies suite `T` out of the host, `None` when the host does not have it.
    ///
    /// # Safety
    /// `fetch` must return NULL or a pointer to a readable `T` for `name` at `version`.
    unsafe fn get<T: Copy>(
        fetch: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int) -> *const c_void,
        host: OfxPropertySetHandle,
        name: &CStr,
        version: c_int,
    ) -> Option<T> {
        // SAFETY: fetchSuite returns NULL or a pointer to the suite of that name and version.
        let p = unsafe { fetch(host, name.as_ptr(), version) } as *const T;
        // SAFETY: non-null, so by the caller's contract a readable `T`; read unaligned because
        // nothing promises the host aligned it, and copied so no pointer into the host is kept.
        (!p.is_null()).then(|| unsafe { ptr::read_unaligned(p) })
    }
    let h = host.host;
    let required = |what: &str| OfxError::missing(format!("the {what} suite"));
    // SAFETY: `fetch` and `h` come from `host`, whose fetchSuite returns each suite at the
    // version asked for (this fn's contract), and each `T` is the ABI struct of that version.
    unsafe {
        Ok(Suites {
            property: get(fetch, h, kOfxPropertySuite, 1).ok_or_else(|| required("property (V1)"))?,
            image_effect: get(fetch, h, kOfxImageEffectSuite, 1).ok_or_else(|| required("image effect (V1)"))?,
            parameter: get(fetch, h, kOfxParameterSuite, 1).ok_or_else(|| required("parameter (V1)"))?,
            memory: get(fetch, h, kOfxMemorySuite, 1),
            multi_thread: get(fetch, h, kOfxMultiThreadSuite, 1),
            message_v1: get(fetch, h, kOfxMessageSuite, 1),
            message_v2: get(fetch, h, kOfxMessageSuite, 2),
            progress_v1: get(fetch, h, kOfxProgressSuite, 1),
            progress_v2: get(fetch, h, kOfxProgressSuite, 2),
            timeline: get(fetch, h, kOfxTimeLineSuite, 1),
        })
    }
}

/// The suites, or why there are none (setHost never called, or the host lacks a required suite).
pub fn suites() -> OfxResult<&'static Suites> {
    SUITES.get().ok_or_else(|| match SET_HOST_ERROR.get() {
        Some(err) => err.clone(),
        None => OfxError::missing("its suites: setHost was never called"),
    })
}

/// A function pointer from a suite, or ErrMissingHostFeature naming it.
macro_rules! host_fn {
    ($suite:expr, $name:ident) => {
        $suite.$name.ok_or_else(|| OfxError::missing(concat!(stringify!($name), " (NULL in its suite)")))?
    };
}

fn n(name: &CStr) -> Cow<'_, str> {
    name.to_string_lossy()
}

/// Turns text into a C string; interior NULs are a value error, not a truncation.
pub fn c_string(text: &str) -> OfxResult<CString> {
    CString::new(text).map_err(|_| OfxError::value(format!("text contains a NUL byte: {text:?}")))
}

/// Copies a host string (valid only until the next host call) into Rust.
///
/// # Safety
/// `p` must be NULL or a NUL-terminated string that stays valid during this call.
unsafe fn own(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: non-null, and NUL-terminated and still valid by the caller's contract (it was
        // just returned by the host, and no host call came in between).
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Property suite.
//
// Every `unsafe fn` below takes handles from the host; its `# Safety` says which. Each call goes
// through a function pointer copied from the host's suite at setHost and checked for NULL by
// `host_fn!`; names are `&CStr` (NUL-terminated, borrowed across the call), and out-pointers
// point at locals of the type the OFX API writes there. (The module is crate-only.)

/// # Safety
/// `h` must be a property set handle the host gave for the current action.
pub unsafe fn prop_set_int(h: OfxPropertySetHandle, name: &CStr, index: c_int, v: c_int) -> OfxResult<()> {
    let f = host_fn!(suites()?.property, propSetInt);
    // SAFETY: `f` is the host's non-NULL propSetInt, `h` is valid by this fn's contract, and
    // `name` is a C string borrowed for the call.
    Status(unsafe { f(h, name.as_ptr(), index, v) }).ok(|| format!("propSetInt({}[{index}])", n(name)))
}

/// # Safety
/// `h` must be a property set handle the host gave for the current action.
pub unsafe fn prop_set_double(h: OfxPropertySetHandle, name: &CStr, index: c_int, v: f64) -> OfxResult<()> {
    let f = host_fn!(suites()?.property, propSetDouble);
    // SAFETY: `f` is the host's non-NULL propSetDouble, `h` is valid by this fn's contract, and
    // `name` is a C string borrowed for the call.
    Status(unsafe { f(h, name.as_ptr(), index, v) }).ok(|| format!("propSetDouble({}[{index}])", n(name)))
}

/// `v` must stay valid as long as the host may read it: label strings (names, enum values) must
/// be `'static`; value strings are copied by the host.
///
/// # Safety
/// `h` must be a property set handle the host gave for the current action, and `v` must live as
/// long as the host may keep it (see above).
pub unsafe fn prop_set_string(h: OfxPropertySetHandle, name: &CStr, index: c_int, v: &CStr) -> OfxResult<()> {
    let f = host_fn!(suites()?.property, propSetString);
    // SAFETY: `f` is the host's non-NULL propSetString, `h` is valid and `v` lives as long as the
    // host reads it (this fn's contract); `name` is a C string borrowed for the call.
    Status(unsafe { f(h, name.as_ptr(), index, v.as_ptr()) }).ok(|| format!("propSetString({}[{index}])", n(name)))
}

/// # Safety
/// `h` must be a property set handle the host gave for the current action. The host only stores
/// `v`; whoever reads it back decides what it points at.
pub unsafe fn prop_set_pointer(h: OfxPropertySetHandle, name: &CStr, index: c_int, v: *mut c_void) -> OfxResult<()> {
    let f = host_fn!(suites()?.property, propSetPointer);
    // SAFETY: `f` is the host's non-NULL propSetPointer, `h` is valid by this fn's contract, and
    // `name` is a C string borrowed for the call; the host stores `v` without dereferencing it.
    Status(unsafe { f(h, name.as_ptr(), index, v) }).ok(|| format!("propSetPointer({}[{index}])", n(name)))
}

/// # Safety
/// `h` must be a property set handle the host gave for the current action.
pub unsafe fn prop_get_int(h: OfxPropertySetHandle, name: &CStr, index: c_int) -> OfxResult<c_int> {
    let f = host_fn!(suites()?.property, propGetInt);
    let mut v: c_int = 0;
    // SAFETY: `f` is the host's non-NULL propGetInt, `h` is valid by this fn's contract, `name`
    // is a C string borrowed for the call, and `v` is a local `int` for the host to write.
    Status(unsafe { f(h, name.as_ptr(), index, &mut v) }).ok(|| format!("propGetInt({}[{index}])", n(name)))?;
    Ok(v)
}

/// # Safety
/// `h` must be a property set handle the host gave for the current action.
pub unsafe fn prop_get_double(h: OfxPropertySetHandle, name: &CStr, index: c_int) -> OfxResult<f64> {
    let f = host_fn!(suites()?.property, propGetDouble);
    let mut v = 0.0;
    // SAFETY: `f` is the host's non-NULL propGetDouble, `h` is valid by this fn's contract,
    // `name` is a C string borrowed for the call, and `v` is a local `double` for the host to write.
    Status(unsafe { f(h, name.as_ptr(), index, &mut v) }).ok(|| format!("propGetDouble({}[{index}])", n(name)))?;
    Ok(v)
}

/// # Safety
/// `h` must be a property set handle the host gave for the current action.
pub unsafe fn prop_get_string(h: OfxPropertySetHandle, name: &CStr, index: c_int) -> OfxResult<String> {
    let f = host_fn!(suites()?.property, propGetString);
    let mut v: *mut c_char = ptr::null_mut();
    // SAFETY: `f` is the host's non-NULL propGetString, `h` is valid by this fn's contract,
    // `name` is a C string borrowed for the call, and `v` is a local `char*` for the host to write.
    Status(unsafe { f(h, name.as_ptr(), index, &mut v) }).ok(|| format!("propGetString({}[{index}])", n(name)))?;
    // SAFETY: on success the host set `v` to NULL or a C string valid until its next call, and
    // `own` copies it before any other host call.
    Ok(unsafe { own(v) })
}

/// # Safety
/// `h` must be a property set handle the host gave for the current action.
pub unsafe fn prop_get_pointer(h: OfxPropertySetHandle, name: &CStr, index: c_int) -> OfxResult<*mut c_void> {
    let f = host_fn!(suites()?.property, propGetPointer);
    let mut v: *mut c_void = ptr::null_mut();
    // SAFETY: `f` is the host's non-NULL propGetPointer, `h` is valid by this fn's contract,
    // `name` is a C string borrowed for the call, and `v` is a local `void*` for the host to write.
    Status(unsafe { f(h, name.as_ptr(), index, &mut v) }).ok(|| format!("propGetPointer({}[{index}])", n(name)))?;
    Ok(v)
}

/// # Safety
/// `h` must be a property set handle the host gave for the current action.
pub unsafe fn prop_get_dimension(h: OfxPropertySetHandle, name: &CStr) -> OfxResult<c_int> {
    let f = host_fn!(suites()?.property, propGetDimension);
    let mut v: c_int = 0;
    // SAFETY: `f` is the host's non-NULL propGetDimension, `h` is valid by this fn's contract,
    // `name` is a C string borrowed for the call, and `v` is a local `int` for the host to write.
    Status(unsafe { f(h, name.as_ptr(), &mut v) }).ok(|| format!("propGetDimension({})", n(name)))?;
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Image effect suite. Function pointers, names and out-pointers as for the property suite.

/// # Safety
/// `effect` must be the image effect handle the host passed to the current action.
pub unsafe fn effect_property_set(effect: OfxImageEffectHandle) -> OfxResult<OfxPropertySetHandle> {
    let f = host_fn!(suites()?.image_effect, getPropertySet);
    let mut h = ptr::null_mut();
    // SAFETY: `f` is the host's non-NULL getPropertySet, `effect` is valid by this fn's contract,
    // and `h` is a local handle for the host to write.
    Status(unsafe { f(effect, &mut h) }).ok(|| "getPropertySet".into())?;
    non_null(h, "getPropertySet's property set")
}

/// # Safety
/// `effect` must be the image effect handle the host passed to the current action.
pub unsafe fn effect_param_set(effect: OfxImageEffectHandle) -> OfxResult<OfxParamSetHandle> {
    let f = host_fn!(suites()?.image_effect, getParamSet);
    let mut h = ptr::null_mut();
    // SAFETY: `f` is the host's non-NULL getParamSet, `effect` is valid by this fn's contract,
    // and `h` is a local handle for the host to write.
    Status(unsafe { f(effect, &mut h) }).ok(|| "getParamSet".into())?;
    non_null(h, "getParamSet's parameter set")
}

/// # Safety
/// `effect` must be the image effect handle the host passed to the current action (a
/// descriptor in DescribeInContext; hosts refuse the call elsewhere with a status).
pub unsafe fn clip_define(effect: OfxImageEffectHandle, name: &'static CStr) -> OfxResult<OfxPropertySetHandle> {
    let f = host_fn!(suites()?.image_effect, clipDefine);
    let mut h = ptr::null_mut();
    // SAFETY: `f` is the host's non-NULL clipDefine, `effect` is valid by this fn's contract,
    // `name` is `'static` (the host may keep it), and `h` is a local handle for the host to write.
    Status(unsafe { f(effect, name.as_ptr(), &mut h) }).ok(|| format!("clipDefine({})", n(name)))?;
    non_null(h, "clipDefine's property set")
}

/// # Safety
/// `effect` must be the instance handle the host passed to the current action.
pub unsafe fn clip_get_handle(
    effect: OfxImageEffectHandle,
    name: &CStr,
) -> OfxResult<(OfxImageClipHandle, OfxPropertySetHandle)> {
    let f = host_fn!(suites()?.image_effect, clipGetHandle);
    let (mut clip, mut props) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: `f` is the host's non-NULL clipGetHandle, `effect` is valid by this fn's contract,
    // `name` is a C string borrowed for the call, and both out-pointers are locals.
    Status(unsafe { f(effect, name.as_ptr(), &mut clip, &mut props) }).ok(|| format!("clipGetHandle({})", n(name)))?;
    let clip = non_null(clip, "clipGetHandle's clip")?;
    if props.is_null() {
        // Some hosts only fill the clip; ask for its properties separately.
        let g = host_fn!(suites()?.image_effect, clipGetPropertySet);
        // SAFETY: `g` is the host's non-NULL clipGetPropertySet, `clip` is the non-NULL handle
        // the host just returned, and `props` is a local handle for the host to write.
        Status(unsafe { g(clip, &mut props) }).ok(|| format!("clipGetPropertySet({})", n(name)))?;
    }
    Ok((clip, non_null(props, "the clip's property set")?))
}

/// The image of `clip` at `time`, `None` when the host has none there (kOfxStatFailed).
///
/// # Safety
/// `clip` must be a clip handle from clipGetHandle during the current action. The image returned
/// must be released with [`clip_release_image`].
pub unsafe fn clip_get_image(clip: OfxImageClipHandle, time: f64) -> OfxResult<Option<OfxPropertySetHandle>> {
    let f = host_fn!(suites()?.image_effect, clipGetImage);
    let mut h = ptr::null_mut();
    // SAFETY: `f` is the host's non-NULL clipGetImage, `clip` is valid by this fn's contract, a
    // NULL region asks for the whole image (allowed by the API), and `h` is a local handle.
    let status = unsafe { f(clip, time, ptr::null(), &mut h) };
    if status == kOfxStatFailed {
        return Ok(None);
    }
    Status(status).ok(|| format!("clipGetImage(t={time})"))?;
    Ok((!h.is_null()).then_some(h))
}

/// # Safety
/// `image` must be an image from [`clip_get_image`] not yet released; it is invalid afterwards.
pub unsafe fn clip_release_image(image: OfxPropertySetHandle) -> OfxResult<()> {
    let f = host_fn!(suites()?.image_effect, clipReleaseImage);
    // SAFETY: `f` is the host's non-NULL clipReleaseImage, and `image` is a live image the
    // caller releases once (this fn's contract).
    Status(unsafe { f(image) }).ok(|| "clipReleaseImage".into())
}

/// # Safety
/// `clip` must be a clip handle from clipGetHandle during the current action.
pub unsafe fn clip_region_of_definition(clip: OfxImageClipHandle, time: f64) -> OfxResult<OfxRectD> {
    let f = host_fn!(suites()?.image_effect, clipGetRegionOfDefinition);
    let mut rod = OfxRectD::default();
    // SAFETY: `f` is the host's non-NULL clipGetRegionOfDefinition, `clip` is valid by this fn's
    // contract, and `rod` is a local OfxRectD for the host to write.
    Status(unsafe { f(clip, time, &mut rod) }).ok(|| format!("clipGetRegionOfDefinition(t={time})"))?;
    Ok(rod)
}

/// # Safety
/// `effect` must be the instance handle the host passed to the current action.
pub unsafe fn effect_abort(effect: OfxImageEffectHandle) -> OfxResult<bool> {
    let f = host_fn!(suites()?.image_effect, abort);
    // SAFETY: `f` is the host's non-NULL abort and `effect` is valid by this fn's contract.
    Ok(unsafe { f(effect) } != 0)
}

// ---------------------------------------------------------------------------------------------
// Parameter suite.

/// # Safety
/// `set` must be a parameter set handle the host gave for the current action (a descriptor's,
/// in Describe or DescribeInContext; hosts refuse the call elsewhere with a status).
pub unsafe fn param_define(
    set: OfxParamSetHandle,
    kind: &'static CStr,
    name: &'static CStr,
) -> OfxResult<OfxPropertySetHandle> {
    let f = host_fn!(suites()?.parameter, paramDefine);
    let mut props = ptr::null_mut();
    // SAFETY: `f` is the host's non-NULL paramDefine, `set` is valid by this fn's contract,
    // `kind` and `name` are `'static` (the host may keep them), and `props` is a local handle.
    Status(unsafe { f(set, kind.as_ptr(), name.as_ptr(), &mut props) }).ok(|| format!("paramDefine({})", n(name)))?;
    non_null(props, "paramDefine's property set")
}

/// # Safety
/// `set` must be a parameter set handle the host gave for the current action.
pub unsafe fn param_get_handle(set: OfxParamSetHandle, name: &CStr) -> OfxResult<OfxParamHandle> {
    let f = host_fn!(suites()?.parameter, paramGetHandle);
    let mut param = ptr::null_mut();
    // SAFETY: `f` is the host's non-NULL paramGetHandle, `set` is valid by this fn's contract,
    // `name` is a C string borrowed for the call, `param` is a local handle, and the property set
    // out-pointer may be NULL (the API allows it).
    Status(unsafe { f(set, name.as_ptr(), &mut param, ptr::null_mut()) })
        .ok(|| format!("paramGetHandle({})", n(name)))?;
    non_null(param, "paramGetHandle's parameter")
}

/// # Safety
/// `set` must be a parameter set handle the host gave for the current action.
pub unsafe fn param_set_property_set(set: OfxParamSetHandle) -> OfxResult<OfxPropertySetHandle> {
    let f = host_fn!(suites()?.parameter, paramSetGetPropertySet);
    let mut props = ptr::null_mut();
    // SAFETY: `f` is the host's non-NULL paramSetGetPropertySet, `set` is valid by this fn's
    // contract, and `props` is a local handle for the host to write.
    Status(unsafe { f(set, &mut props) }).ok(|| "paramSetGetPropertySet".into())?;
    non_null(props, "the parameter set's property set")
}

/// Out-pointer types that `paramGetValue` may fill: `int*` for integers, booleans and choices,
/// `double*`, and `char**` for strings.
pub trait ParamOut: Copy {
    const ZERO: Self;
}
impl ParamOut for c_int {
    const ZERO: Self = 0;
}
impl ParamOut for f64 {
    const ZERO: Self = 0.0;
}
impl ParamOut for *mut c_char {
    const ZERO: Self = ptr::null_mut();
}

/// One-dimensional parameter value at `time`, or the current value when `time` is None.
///
/// # Safety
/// `param` must be a parameter handle from paramGetHandle during the current action, and `T`
/// must be what its type writes (see [`ParamOut`]): the variadic call cannot check, and a wrong
/// `T` lets the host write past `v`.
pub unsafe fn param_get_value<T: ParamOut>(param: OfxParamHandle, time: Option<f64>, what: &CStr) -> OfxResult<T> {
    let mut v = T::ZERO;
    let out: *mut T = &mut v;
    let status = match time {
        Some(t) => {
            let f = host_fn!(suites()?.parameter, paramGetValueAtTime);
            // SAFETY: `f` is the host's non-NULL paramGetValueAtTime, `param` is valid and `out`
            // points at a local of the type the parameter writes (this fn's contract).
            unsafe { f(param, t, out) }
        }
        None => {
            let f = host_fn!(suites()?.parameter, paramGetValue);
            // SAFETY: `f` is the host's non-NULL paramGetValue, `param` is valid and `out` points
            // at a local of the type the parameter writes (this fn's contract).
            unsafe { f(param, out) }
        }
    };
    Status(status).ok(|| format!("paramGetValue({})", n(what)))?;
    Ok(v)
}

/// Number of keys of an animated parameter (0 when it is not animated).
///
/// # Safety
/// `param` must be a parameter handle from paramGetHandle during the current action.
pub unsafe fn param_num_keys(param: OfxParamHandle, what: &CStr) -> OfxResult<u32> {
    let f = host_fn!(suites()?.parameter, paramGetNumKeys);
    let mut count: std::ffi::c_uint = 0;
    // SAFETY: `f` is the host's non-NULL paramGetNumKeys, `param` is valid (this fn's contract)
    // and `count` is a local.
    Status(unsafe { f(param, &mut count) }).ok(|| format!("paramGetNumKeys({})", n(what)))?;
    Ok(count)
}

/// The time of key `nth` of a parameter.
///
/// # Safety
/// `param` must be a parameter handle from paramGetHandle during the current action.
pub unsafe fn param_key_time(param: OfxParamHandle, nth: u32, what: &CStr) -> OfxResult<f64> {
    let f = host_fn!(suites()?.parameter, paramGetKeyTime);
    let mut time = 0.0;
    // SAFETY: `f` is the host's non-NULL paramGetKeyTime, `param` is valid (this fn's contract)
    // and `time` is a local.
    Status(unsafe { f(param, nth, &mut time) }).ok(|| format!("paramGetKeyTime({})", n(what)))?;
    Ok(time)
}

/// Reads a string parameter, copying the host's string at once.
///
/// # Safety
/// `param` must be a string parameter handle from paramGetHandle during the current action.
pub unsafe fn param_get_string(param: OfxParamHandle, time: Option<f64>, what: &CStr) -> OfxResult<String> {
    // SAFETY: `param` is a valid string parameter (this fn's contract), which writes a `char*`.
    let p: *mut c_char = unsafe { param_get_value(param, time, what)? };
    // SAFETY: on success the host set `p` to NULL or a C string valid until its next call, and
    // `own` copies it before any other host call.
    Ok(unsafe { own(p) })
}

/// # Safety
/// `param` must be a string parameter handle from paramGetHandle during the current action.
pub unsafe fn param_set_string(param: OfxParamHandle, value: &CStr, what: &CStr) -> OfxResult<()> {
    let f = host_fn!(suites()?.parameter, paramSetValue);
    // SAFETY: `f` is the host's non-NULL paramSetValue, `param` is a valid string parameter (this
    // fn's contract) so the variadic value is one `const char*`, which the host copies.
    Status(unsafe { f(param, value.as_ptr()) }).ok(|| format!("paramSetValue({})", n(what)))
}

// ---------------------------------------------------------------------------------------------
// Message and progress suites (optional: Ok(false) when the host has none). Their handle
// argument is the image effect instance, passed as `void*`.

/// Posts `text` as a message of `kind`; the text goes through "%s", never as a format.
///
/// # Safety
/// `effect` must be the instance handle the host passed to the current action.
pub unsafe fn message(effect: OfxImageEffectHandle, kind: &CStr, text: &CStr) -> OfxResult<bool> {
    let s = suites()?;
    // V1 first: every host has it, and Resolve's V2 has had broken entries.
    let f = s.message_v1.and_then(|m| m.message).or_else(|| s.message_v2.and_then(|m| m.message));
    let Some(f) = f else { return Ok(false) };
    // SAFETY: `f` is the host's non-NULL message, `effect` is valid by this fn's contract, all
    // strings are NUL-terminated and outlive the call, and the one variadic argument is the C
    // string that the "%s" format asks for.
    Status(unsafe { f(effect.cast(), kind.as_ptr(), c"".as_ptr(), c"%s".as_ptr(), text.as_ptr()) })
        .ok(|| "message".into())?;
    Ok(true)
}

/// # Safety
/// `effect` must be the instance handle the host passed to the current action.
pub unsafe fn progress_start(effect: OfxImageEffectHandle, label: &CStr) -> OfxResult<bool> {
    let s = suites()?;
    if let Some(f) = s.progress_v2.and_then(|p| p.progressStart) {
        // SAFETY: `f` is the host's non-NULL V2 progressStart, `effect` is valid by this fn's
        // contract, and the label and (empty) id are C strings that outlive the call.
        Status(unsafe { f(effect.cast(), label.as_ptr(), c"".as_ptr()) }).ok(|| "progressStart".into())?;
        return Ok(true);
    }
    if let Some(f) = s.progress_v1.and_then(|p| p.progressStart) {
        // SAFETY: `f` is the host's non-NULL V1 progressStart, `effect` is valid by this fn's
        // contract, and the label is a C string that outlives the call.
        Status(unsafe { f(effect.cast(), label.as_ptr()) }).ok(|| "progressStart".into())?;
        return Ok(true);
    }
    Ok(false)
}

/// Ok(false) when the user asked to stop (kOfxStatReplyNo).
///
/// # Safety
/// `effect` must be the instance handle the host passed to the current action.
pub unsafe fn progress_update(effect: OfxImageEffectHandle, fraction: f64) -> OfxResult<bool> {
    let s = suites()?;
    let f = s.progress_v2.and_then(|p| p.progressUpdate).or_else(|| s.progress_v1.and_then(|p| p.progressUpdate));
    let Some(f) = f else { return Ok(true) };
    // SAFETY: `f` is the host's non-NULL progressUpdate (same signature in V1 and V2), and
    // `effect` is valid by this fn's contract.
    let status = unsafe { f(effect.cast(), fraction) };
    if status == kOfxStatReplyNo {
        return Ok(false);
    }
    Status(status).ok(|| "progressUpdate".into())?;
    Ok(true)
}

/// # Safety
/// `effect` must be the instance handle the host passed to the current action.
pub unsafe fn progress_end(effect: OfxImageEffectHandle) -> OfxResult<()> {
    let s = suites()?;
    let f = s.progress_v2.and_then(|p| p.progressEnd).or_else(|| s.progress_v1.and_then(|p| p.progressEnd));
    match f {
        // SAFETY: `f` is the host's non-NULL progressEnd (same signature in V1 and V2), and
        // `effect` is valid by this fn's contract.
        Some(f) => Status(unsafe { f(effect.cast()) }).ok(|| "progressEnd".into()),
        None => Ok(()),
    }
}

fn non_null<T>(p: *mut T, what: &str) -> OfxResult<*mut T> {
    if p.is_null() {
        Err(OfxError::bad_handle(what))
    } else {
        Ok(p)
    }
}
