//! Test fixtures for the host's coordinate, region, clip and render-support rules: four tiny raw-ABI effects in
//! one binary (float RGBA only).
//! - `com.kinema.test.normalised`: a generator whose Size and Center default to normalised coordinates
//!   (kOfxParamCoordinatesNormalised) and whose Width is of the older kOfxParamDoubleTypeNormalisedX type. Its
//!   region of definition is the Size box around Center; every pixel is (Center.x, Center.y, Width in canonical
//!   units, 1).
//! - `com.kinema.test.infinite`: a generator with an infinite region of definition; every pixel is (x, y, 0, 1).
//! - `com.kinema.test.merge`: a general effect with inputs A and B and an optional mask: A × (1 − m) + B × m,
//!   m the mask's alpha, or 0.5 without a mask.
//! - `com.kinema.test.gpuonly`: a filter that declares no CPU rendering (OpenGL and CUDA only).

#![allow(non_upper_case_globals)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use ofx_abi::*;

#[path = "common/host.rs"]
mod host;
use host::{call, fetch, set_host};

struct Suites {
    prop: &'static OfxPropertySuiteV1,
    param: &'static OfxParameterSuiteV1,
    effect: &'static OfxImageEffectSuiteV1,
}

static SUITES: OnceLock<Suites> = OnceLock::new();

fn s() -> &'static Suites {
    SUITES.get().expect("suites are fetched in Load")
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Normalised,
    Infinite,
    Merge,
    GpuOnly,
}

/// Sets string values on a property set.
///
/// # Safety
/// `p` is a property set handle of the current action.
unsafe fn strs(p: OfxPropertySetHandle, name: &CStr, values: &[&CStr]) {
    for (i, v) in values.iter().enumerate() {
        // SAFETY: a host property set and NUL-terminated strings (the caller's contract).
        unsafe { call!(s().prop, propSetString(p, name.as_ptr(), i as c_int, v.as_ptr())) };
    }
}

/// Sets double values on a property set.
///
/// # Safety
/// `p` is a property set handle of the current action.
unsafe fn dbls(p: OfxPropertySetHandle, name: &CStr, values: &[f64]) {
    for (i, v) in values.iter().enumerate() {
        // SAFETY: a host property set and a NUL-terminated name (the caller's contract).
        unsafe { call!(s().prop, propSetDouble(p, name.as_ptr(), i as c_int, *v)) };
    }
}

/// Reads `n` doubles of a property.
///
/// # Safety
/// `p` is a property set handle of the current action.
unsafe fn get_dbls<const N: usize>(p: OfxPropertySetHandle, name: &CStr) -> [f64; N] {
    let mut v = [0.0; N];
    // SAFETY: a host property set, a NUL-terminated name and room for N doubles.
    unsafe { call!(s().prop, propGetDoubleN(p, name.as_ptr(), N as c_int, v.as_mut_ptr())) };
    v
}

/// The effect's property set.
///
/// # Safety
/// `effect` is the handle of the current action.
unsafe fn effect_props(effect: OfxImageEffectHandle) -> OfxPropertySetHandle {
    let mut props = null_mut();
    // SAFETY: the host's handle and a live out pointer.
    unsafe { call!(s().effect, getPropertySet(effect, &mut props)) };
    props
}

/// Describe: label, contexts, float depth, render support.
///
/// # Safety
/// `effect` is the descriptor of the current Describe action.
unsafe fn describe(kind: Kind, effect: OfxImageEffectHandle) -> OfxStatus {
    // SAFETY: the descriptor's property set, NUL-terminated literals.
    unsafe {
        let p = effect_props(effect);
        let (label, context) = match kind {
            Kind::Normalised => (c"Normalised Box", kOfxImageEffectContextGenerator),
            Kind::Infinite => (c"Infinite Ramp", kOfxImageEffectContextGenerator),
            Kind::Merge => (c"Masked Merge", kOfxImageEffectContextGeneral),
            Kind::GpuOnly => (c"GPU Only", kOfxImageEffectContextFilter),
        };
        strs(p, kOfxPropLabel, &[label]);
        strs(p, kOfxImageEffectPluginPropGrouping, &[c"Kinema/Test"]);
        strs(p, kOfxImageEffectPropSupportedContexts, &[context]);
        strs(p, kOfxImageEffectPropSupportedPixelDepths, &[kOfxBitDepthFloat]);
        strs(p, kOfxImageEffectPluginRenderThreadSafety, &[kOfxImageEffectRenderFullySafe]);
        if kind == Kind::GpuOnly {
            strs(p, kOfxImageEffectPropCPURenderSupported, &[c"false"]);
            strs(p, kOfxImageEffectPropOpenGLRenderSupported, &[c"true"]);
            strs(p, kOfxImageEffectPropCudaRenderSupported, &[c"true"]);
        }
    }
    kOfxStatOK
}

/// Defines a clip with the given components.
///
/// # Safety
/// `effect` is the descriptor of the current DescribeInContext action.
unsafe fn clip(effect: OfxImageEffectHandle, name: &CStr, comps: &CStr) -> OfxPropertySetHandle {
    let mut props = null_mut();
    // SAFETY: the descriptor, a NUL-terminated name, a live out pointer.
    unsafe {
        call!(s().effect, clipDefine(effect, name.as_ptr(), &mut props));
        strs(props, kOfxImageEffectPropSupportedComponents, &[comps]);
    }
    props
}

/// Defines a double parameter of the given type, default and default coordinate system.
///
/// # Safety
/// `set` is a descriptor's parameter set.
unsafe fn spatial(set: OfxParamSetHandle, ty: &CStr, name: &CStr, double_type: &CStr, default: &[f64], coords: &CStr) {
    let mut p = null_mut();
    // SAFETY: the descriptor's parameter set, NUL-terminated strings, a live out pointer.
    unsafe {
        call!(s().param, paramDefine(set, ty.as_ptr(), name.as_ptr(), &mut p));
        strs(p, kOfxParamPropDoubleType, &[double_type]);
        strs(p, kOfxParamPropDefaultCoordinateSystem, &[coords]);
        dbls(p, kOfxParamPropDefault, default);
    }
}

/// DescribeInContext: the clips and parameters.
///
/// # Safety
/// `effect` is the descriptor of the current DescribeInContext action.
unsafe fn describe_in_context(kind: Kind, effect: OfxImageEffectHandle) -> OfxStatus {
    // SAFETY: suite calls with the descriptor of this action and NUL-terminated literals.
    unsafe {
        clip(effect, c"Output", kOfxImageComponentRGBA);
        match kind {
            Kind::Normalised => {
                let mut set = null_mut();
                call!(s().effect, getParamSet(effect, &mut set));
                let norm = kOfxParamCoordinatesNormalised;
                spatial(set, kOfxParamTypeDouble2D, c"Size", kOfxParamDoubleTypeXY, &[0.5, 0.5], norm);
                spatial(set, kOfxParamTypeDouble2D, c"Center", kOfxParamDoubleTypeXYAbsolute, &[0.5, 0.5], norm);
                let canon = kOfxParamCoordinatesCanonical;
                spatial(set, kOfxParamTypeDouble, c"Width", kOfxParamDoubleTypeNormalisedX, &[0.25], canon);
            }
            Kind::Infinite => {}
            Kind::Merge => {
                clip(effect, c"A", kOfxImageComponentRGBA);
                clip(effect, c"B", kOfxImageComponentRGBA);
                let m = clip(effect, c"Mask", kOfxImageComponentAlpha);
                call!(s().prop, propSetInt(m, kOfxImageClipPropOptional.as_ptr(), 0, 1));
                call!(s().prop, propSetInt(m, kOfxImageClipPropIsMask.as_ptr(), 0, 1));
            }
            Kind::GpuOnly => {
                clip(effect, c"Source", kOfxImageComponentRGBA);
            }
        }
    }
    kOfxStatOK
}

/// A parameter's doubles at `time`.
///
/// # Safety
/// `effect` is an instance handle of the current action.
unsafe fn param2(effect: OfxImageEffectHandle, name: &CStr, time: f64) -> [f64; 2] {
    let (mut set, mut h) = (null_mut(), null_mut());
    let mut v = [0.0f64; 2];
    // SAFETY: the instance's parameter set; the varargs get as many doubles as the parameter holds (one or two).
    unsafe {
        call!(s().effect, getParamSet(effect, &mut set));
        call!(s().param, paramGetHandle(set, name.as_ptr(), &mut h, null_mut()));
        let (a, b) = (v.as_mut_ptr(), v.as_mut_ptr().add(1));
        call!(s().param, paramGetValueAtTime(h, time, a, b));
    }
    v
}

/// Size, Center and Width (Width converted from its normalised value against the project size).
///
/// # Safety
/// `effect` is an instance handle of the current action.
unsafe fn boxed(effect: OfxImageEffectHandle, time: f64) -> ([f64; 2], [f64; 2], f64) {
    // SAFETY: the instance handle of this action (the caller's contract).
    unsafe {
        let project: [f64; 2] = get_dbls(effect_props(effect), kOfxImageEffectPropProjectSize);
        let width = param2(effect, c"Width", time)[0] * project[0];
        (param2(effect, c"Size", time), param2(effect, c"Center", time), width)
    }
}

/// GetRegionOfDefinition: the box (normalised) or everything (infinite); others leave it to the host.
///
/// # Safety
/// The handles of the current GetRegionOfDefinition action.
unsafe fn region(
    kind: Kind,
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
    out: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: the handles of this action (the caller's contract).
    unsafe {
        let [time]: [f64; 1] = get_dbls(in_args, kOfxPropTime);
        let rod = match kind {
            Kind::Normalised => {
                let (size, c, _) = boxed(effect, time);
                [c[0] - size[0] / 2.0, c[1] - size[1] / 2.0, c[0] + size[0] / 2.0, c[1] + size[1] / 2.0]
            }
            Kind::Infinite => {
                let (lo, hi) = (f64::from(kOfxFlagInfiniteMin), f64::from(kOfxFlagInfiniteMax));
                [lo, lo, hi, hi]
            }
            _ => return kOfxStatReplyDefault,
        };
        dbls(out, kOfxImageEffectPropRegionOfDefinition, &rod);
    }
    kOfxStatOK
}

/// A fetched float image.
struct Img {
    handle: OfxPropertySetHandle,
    data: *mut u8,
    bounds: [c_int; 4],
    row_bytes: isize,
    comps: usize,
}

impl Img {
    /// Fetches a clip's image (None when the clip is not connected or has no frame).
    ///
    /// # Safety
    /// `effect` is the instance being rendered.
    unsafe fn get(effect: OfxImageEffectHandle, name: &CStr, time: f64) -> Option<Img> {
        let (mut clip, mut h) = (null_mut(), null_mut());
        // SAFETY: suite calls with the instance's handles and live out pointers; the components string the host
        // hands out is NUL-terminated.
        unsafe {
            call!(s().effect, clipGetHandle(effect, name.as_ptr(), &mut clip, null_mut()));
            if call!(s().effect, clipGetImage(clip, time, null(), &mut h)) != kOfxStatOK {
                return None;
            }
            let mut data = null_mut();
            call!(s().prop, propGetPointer(h, kOfxImagePropData.as_ptr(), 0, &mut data));
            let mut bounds = [0; 4];
            call!(s().prop, propGetIntN(h, kOfxImagePropBounds.as_ptr(), 4, bounds.as_mut_ptr()));
            let mut rb = 0;
            call!(s().prop, propGetInt(h, kOfxImagePropRowBytes.as_ptr(), 0, &mut rb));
            let mut c: *mut c_char = null_mut();
            call!(s().prop, propGetString(h, kOfxImageEffectPropComponents.as_ptr(), 0, &mut c));
            let comps = if CStr::from_ptr(c) == kOfxImageComponentAlpha { 1 } else { 4 };
            Some(Img { handle: h, data: data as *mut u8, bounds, row_bytes: rb as isize, comps })
        }
    }

    /// The pixel at (x, y) when it lies inside the bounds.
    fn px(&self, x: c_int, y: c_int) -> Option<*mut f32> {
        let b = self.bounds;
        (x >= b[0] && x < b[2] && y >= b[1] && y < b[3]).then(|| {
            let off = (y - b[1]) as isize * self.row_bytes + ((x - b[0]) as usize * self.comps * 4) as isize;
            self.data.wrapping_offset(off) as *mut f32
        })
    }

    /// Releases the image.
    ///
    /// # Safety
    /// The image was fetched in the current action.
    unsafe fn release(self) {
        // SAFETY: a handle clipGetImage returned (the caller's contract).
        unsafe { call!(s().effect, clipReleaseImage(self.handle)) };
    }
}

/// Render: fills the render window.
///
/// # Safety
/// The handles of the current Render action.
unsafe fn render(kind: Kind, effect: OfxImageEffectHandle, in_args: OfxPropertySetHandle) -> OfxStatus {
    if kind == Kind::GpuOnly {
        return kOfxStatErrImageFormat; // what a GPU-only plugin answers when handed CPU images
    }
    // SAFETY: suite calls with this action's handles; pixels are written inside the render window, which lies
    // inside the output's bounds, and read inside the sources' bounds (`px` checks).
    unsafe {
        let [time]: [f64; 1] = get_dbls(in_args, kOfxPropTime);
        let mut w = [0; 4];
        call!(s().prop, propGetIntN(in_args, kOfxImageEffectPropRenderWindow.as_ptr(), 4, w.as_mut_ptr()));
        let Some(out) = Img::get(effect, c"Output", time) else { return kOfxStatFailed };
        let boxed = (kind == Kind::Normalised).then(|| boxed(effect, time));
        let (a, b, m) = if kind == Kind::Merge {
            (Img::get(effect, c"A", time), Img::get(effect, c"B", time), Img::get(effect, c"Mask", time))
        } else {
            (None, None, None)
        };
        let mut status = kOfxStatOK;
        if kind == Kind::Merge && (a.is_none() || b.is_none()) {
            status = kOfxStatFailed;
        } else {
            for y in w[1]..w[3] {
                for x in w[0]..w[2] {
                    let Some(o) = out.px(x, y) else { continue };
                    let v = match (kind, &boxed) {
                        (Kind::Normalised, Some((_, c, width))) => [c[0], c[1], *width, 1.0].map(|v| v as f32),
                        (Kind::Infinite, _) => [x as f32, y as f32, 0.0, 1.0],
                        _ => {
                            let get = |i: &Option<Img>| i.as_ref().and_then(|i| i.px(x, y));
                            let (pa, pb) = (get(&a), get(&b));
                            let mix = match (&m, get(&m)) {
                                (Some(_), Some(p)) => *p,
                                (Some(_), None) => 0.0,
                                (None, _) => 0.5,
                            };
                            let mut v = [0.0f32; 4];
                            for (c, v) in v.iter_mut().enumerate() {
                                let sa = pa.map_or(0.0, |p| *p.add(c));
                                let sb = pb.map_or(0.0, |p| *p.add(c));
                                *v = sa * (1.0 - mix) + sb * mix;
                            }
                            v
                        }
                    };
                    for (c, v) in v.iter().enumerate() {
                        o.add(c).write_unaligned(*v);
                    }
                }
            }
        }
        for i in [a, b, m].into_iter().flatten() {
            i.release();
        }
        out.release();
        status
    }
}

/// Runs one action.
///
/// # Safety
/// `handle`, `in_args` and `out_args` are what the host passes for `action`.
unsafe fn dispatch(
    kind: Kind,
    action: &CStr,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    let effect = handle as OfxImageEffectHandle;
    // SAFETY: each action gets the handles the host passed for it (the caller's contract).
    unsafe {
        if action == kOfxActionLoad {
            let suites = (|| {
                Some(Suites {
                    prop: fetch(kOfxPropertySuite, 1)?,
                    param: fetch(kOfxParameterSuite, 1)?,
                    effect: fetch(kOfxImageEffectSuite, 1)?,
                })
            })();
            let Some(suites) = suites else { return kOfxStatErrMissingHostFeature };
            let _ = SUITES.set(suites);
            kOfxStatOK
        } else if action == kOfxActionDescribe {
            describe(kind, effect)
        } else if action == kOfxImageEffectActionDescribeInContext {
            describe_in_context(kind, effect)
        } else if action == kOfxImageEffectActionGetRegionOfDefinition {
            region(kind, effect, in_args, out_args)
        } else if action == kOfxImageEffectActionRender {
            render(kind, effect, in_args)
        } else if action == kOfxActionCreateInstance || action == kOfxActionDestroyInstance {
            kOfxStatOK
        } else {
            kOfxStatReplyDefault
        }
    }
}

macro_rules! entry {
    ($name:ident, $kind:expr) => {
        /// A plugin's mainEntry.
        ///
        /// # Safety
        /// `action` is NULL or a NUL-terminated string; the handles are the host's for it.
        unsafe extern "C" fn $name(
            action: *const c_char,
            handle: *const c_void,
            in_args: OfxPropertySetHandle,
            out_args: OfxPropertySetHandle,
        ) -> OfxStatus {
            if action.is_null() {
                return kOfxStatErrBadHandle;
            }
            // SAFETY: `action` is not NULL, so NUL-terminated (the caller's contract), and the handles are the host's.
            std::panic::catch_unwind(|| unsafe { dispatch($kind, CStr::from_ptr(action), handle, in_args, out_args) })
                .unwrap_or(kOfxStatErrFatal)
        }
    };
}

entry!(main_normalised, Kind::Normalised);
entry!(main_infinite, Kind::Infinite);
entry!(main_merge, Kind::Merge);
entry!(main_gpu_only, Kind::GpuOnly);

struct Plugins([OfxPlugin; 4]);
// SAFETY: the structs only hold pointers to static strings and functions.
unsafe impl Sync for Plugins {}

const fn plugin(id: &'static CStr, main: OfxPluginEntryPoint) -> OfxPlugin {
    OfxPlugin {
        pluginApi: c"OfxImageEffectPluginAPI".as_ptr(),
        apiVersion: 1,
        pluginIdentifier: id.as_ptr(),
        pluginVersionMajor: 1,
        pluginVersionMinor: 0,
        setHost: Some(set_host),
        mainEntry: Some(main),
    }
}

static PLUGINS: Plugins = Plugins([
    plugin(c"com.kinema.test.normalised", main_normalised),
    plugin(c"com.kinema.test.infinite", main_infinite),
    plugin(c"com.kinema.test.merge", main_merge),
    plugin(c"com.kinema.test.gpuonly", main_gpu_only),
]);

#[no_mangle]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    PLUGINS.0.len() as c_int
}

#[no_mangle]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *mut OfxPlugin {
    match PLUGINS.0.get(nth as usize) {
        Some(p) => p as *const OfxPlugin as *mut OfxPlugin,
        None => null_mut(),
    }
}
