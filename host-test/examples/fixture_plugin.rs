//! Test fixture: `com.kinema.test.fixture`, a raw-ABI invert filter for the strict host's own tests.
//! Parameter "Misbehave" makes it break a specific OFX rule (see `Misbehave`).

#![allow(non_upper_case_globals)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use ofx_abi::*;

#[path = "common/host.rs"]
mod host;
use host::{call, fetch, set_host};

const OPTIONS: [&CStr; 13] = [
    c"None",
    c"WriteOutside",
    c"LeakImage",
    c"InvalidStatus",
    c"ReplyDefault",
    c"BadHandle",
    c"LeakMemory",
    c"WriteSource",
    c"SetParamInRender",
    c"FailWithError",
    c"WaitForAbort",
    c"EditForever",
    c"StallFromFrame2",
];

/// The last frame each instance rendered (by effect handle), shown in Status at InstanceChanged: the only
/// action where a plugin may set a parameter.
fn last_rendered() -> &'static std::sync::Mutex<std::collections::HashMap<usize, f64>> {
    static LAST: OnceLock<std::sync::Mutex<std::collections::HashMap<usize, f64>>> = OnceLock::new();
    LAST.get_or_init(Default::default)
}

struct Suites {
    prop: &'static OfxPropertySuiteV1,
    param: &'static OfxParameterSuiteV1,
    effect: &'static OfxImageEffectSuiteV1,
    mem: &'static OfxMemorySuiteV1,
    mt: &'static OfxMultiThreadSuiteV1,
    msg: &'static OfxMessageSuiteV2,
    progress: &'static OfxProgressSuiteV1,
}

static SUITES: OnceLock<Suites> = OnceLock::new();

fn s() -> &'static Suites {
    SUITES.get().expect("suites are fetched in Load")
}

/// Describe: label, group, contexts, depths, thread safety.
///
/// # Safety
/// `effect` is the descriptor of the current Describe action.
unsafe fn describe(effect: OfxImageEffectHandle) -> OfxStatus {
    let mut props = null_mut();
    // SAFETY: suite calls with the handles the host passed to this action, NUL-terminated literals and live out
    // pointers; the suites were fetched in Load.
    unsafe {
        call!(s().effect, getPropertySet(effect, &mut props));
        call!(s().prop, propSetString(props, kOfxPropLabel.as_ptr(), 0, c"Fixture Invert".as_ptr()));
        call!(s().prop, propSetString(props, kOfxImageEffectPluginPropGrouping.as_ptr(), 0, c"Kinema/Test".as_ptr()));
        call!(
            s().prop,
            propSetString(
                props,
                kOfxImageEffectPropSupportedContexts.as_ptr(),
                0,
                kOfxImageEffectContextFilter.as_ptr()
            )
        );
        call!(
            s().prop,
            propSetString(
                props,
                kOfxImageEffectPropSupportedContexts.as_ptr(),
                1,
                kOfxImageEffectContextGeneral.as_ptr()
            )
        );
        for (i, d) in [kOfxBitDepthFloat, kOfxBitDepthShort, kOfxBitDepthByte].iter().enumerate() {
            call!(
                s().prop,
                propSetString(props, kOfxImageEffectPropSupportedPixelDepths.as_ptr(), i as c_int, d.as_ptr())
            );
        }
        call!(
            s().prop,
            propSetString(
                props,
                kOfxImageEffectPluginRenderThreadSafety.as_ptr(),
                0,
                kOfxImageEffectRenderFullySafe.as_ptr()
            )
        );
    }
    kOfxStatOK
}

/// Defines a parameter; its property set.
///
/// # Safety
/// `set` is a descriptor's parameter set.
unsafe fn define_param(set: OfxParamSetHandle, ty: &CStr, name: &CStr) -> OfxPropertySetHandle {
    let mut props = null_mut();
    // SAFETY: `set` is a descriptor's parameter set (the caller's contract); the strings are NUL-terminated.
    unsafe { call!(s().param, paramDefine(set, ty.as_ptr(), name.as_ptr(), &mut props)) };
    props
}

/// DescribeInContext: the clips and parameters.
///
/// # Safety
/// `effect` is the descriptor of the current DescribeInContext action.
unsafe fn describe_in_context(effect: OfxImageEffectHandle) -> OfxStatus {
    // SAFETY: suite calls with the handles the host passed to this action, NUL-terminated literals and live out
    // pointers; the suites were fetched in Load.
    unsafe {
        for clip in [c"Source", c"Output"] {
            let mut props = null_mut();
            call!(s().effect, clipDefine(effect, clip.as_ptr(), &mut props));
            call!(
                s().prop,
                propSetString(
                    props,
                    kOfxImageEffectPropSupportedComponents.as_ptr(),
                    0,
                    kOfxImageComponentRGBA.as_ptr()
                )
            );
            call!(
                s().prop,
                propSetString(
                    props,
                    kOfxImageEffectPropSupportedComponents.as_ptr(),
                    1,
                    kOfxImageComponentRGB.as_ptr()
                )
            );
        }
        let mut set = null_mut();
        call!(s().effect, getParamSet(effect, &mut set));
        let p = define_param(set, kOfxParamTypeChoice, c"Misbehave");
        for (i, o) in OPTIONS.iter().enumerate() {
            call!(s().prop, propSetString(p, kOfxParamPropChoiceOption.as_ptr(), i as c_int, o.as_ptr()));
        }
        call!(s().prop, propSetString(p, kOfxParamPropHint.as_ptr(), 0, c"Which OFX rule to break".as_ptr()));
        let p = define_param(set, kOfxParamTypeDouble, c"Gain");
        call!(s().prop, propSetDouble(p, kOfxParamPropDefault.as_ptr(), 0, 1.0));
        call!(s().prop, propSetDouble(p, kOfxParamPropMin.as_ptr(), 0, 0.0));
        call!(s().prop, propSetDouble(p, kOfxParamPropMax.as_ptr(), 0, 10.0));
        let p = define_param(set, kOfxParamTypeBoolean, c"Invert");
        call!(s().prop, propSetInt(p, kOfxParamPropDefault.as_ptr(), 0, 1));
        let p = define_param(set, kOfxParamTypeString, c"Status");
        call!(s().prop, propSetString(p, kOfxParamPropStringMode.as_ptr(), 0, kOfxParamStringIsLabel.as_ptr()));
        define_param(set, kOfxParamTypePushButton, c"update_status");
        let page = define_param(set, kOfxParamTypePage, c"Main");
        for (i, c) in [c"Gain", c"Invert", c"Status", c"update_status"].iter().enumerate() {
            call!(s().prop, propSetString(page, kOfxParamPropPageChild.as_ptr(), i as c_int, c.as_ptr()));
        }
    }
    kOfxStatOK
}

struct Img {
    handle: OfxPropertySetHandle,
    data: *mut u8,
    bounds: [c_int; 4],
    row_bytes: isize,
    depth: usize,
    comps: usize,
}

/// Fetches an image and reads its properties.
///
/// # Safety
/// `clip` is a clip handle of the instance being rendered.
unsafe fn image(clip: OfxImageClipHandle, time: f64) -> Option<Img> {
    let mut h = null_mut();
    // SAFETY: suite calls with the host's clip and image handles and live out pointers; the depth and
    // components strings the host hands out are NUL-terminated.
    unsafe {
        if call!(s().effect, clipGetImage(clip, time, null(), &mut h)) != kOfxStatOK {
            return None;
        }
        let mut data = null_mut();
        call!(s().prop, propGetPointer(h, kOfxImagePropData.as_ptr(), 0, &mut data));
        let mut bounds = [0; 4];
        call!(s().prop, propGetIntN(h, kOfxImagePropBounds.as_ptr(), 4, bounds.as_mut_ptr()));
        let mut rb = 0;
        call!(s().prop, propGetInt(h, kOfxImagePropRowBytes.as_ptr(), 0, &mut rb));
        let mut d: *mut c_char = null_mut();
        call!(s().prop, propGetString(h, kOfxImageEffectPropPixelDepth.as_ptr(), 0, &mut d));
        let depth = match CStr::from_ptr(d).to_bytes() {
            b"OfxBitDepthByte" => 1,
            b"OfxBitDepthShort" => 2,
            _ => 4,
        };
        let mut c: *mut c_char = null_mut();
        call!(s().prop, propGetString(h, kOfxImageEffectPropComponents.as_ptr(), 0, &mut c));
        let comps = if CStr::from_ptr(c) == kOfxImageComponentRGB { 3 } else { 4 };
        Some(Img { handle: h, data: data as *mut u8, bounds, row_bytes: rb as isize, depth, comps })
    }
}

impl Img {
    fn pixel(&self, x: c_int, y: c_int) -> *mut u8 {
        let off = (y - self.bounds[1]) as isize * self.row_bytes
            + ((x - self.bounds[0]) as usize * self.depth * self.comps) as isize;
        self.data.wrapping_offset(off)
    }
}

struct Job {
    src: *const Img,
    dst: *const Img,
    window: [c_int; 4],
    invert: bool,
    gain: f64,
}

/// The multiThread function: inverts (and scales) its share of the window's rows.
///
/// # Safety
/// `arg` is the `Job` render passes to multiThread, alive until multiThread returns.
unsafe extern "C" fn process(index: c_uint, max: c_uint, arg: *mut c_void) {
    // SAFETY: `arg` is the `Job` (the caller's contract).
    let job = unsafe { &*(arg as *const Job) };
    // SAFETY: the Job's images live on render's stack until multiThread returns.
    let (src, dst) = unsafe { (&*job.src, &*job.dst) };
    let [x1, y1, x2, y2] = job.window;
    let rows = y2 - y1;
    let (a, b) = (y1 + rows * index as c_int / max as c_int, y1 + rows * (index as c_int + 1) / max as c_int);
    for y in a..b {
        for x in x1..x2 {
            let (sp, dp) = (src.pixel(x, y), dst.pixel(x, y));
            for c in 0..dst.comps {
                let color = c < 3;
                // SAFETY: (x, y) is inside the render window, so inside both images; each pixel has `comps` samples of
                // `depth` bytes (read and written unaligned).
                unsafe {
                    match dst.depth {
                        1 => {
                            let v = *sp.add(c) as f64;
                            let v = if job.invert && color { 255.0 - v } else { v };
                            *dp.add(c) =
                                if color && job.gain != 1.0 { (v * job.gain).clamp(0.0, 255.0) as u8 } else { v as u8 };
                        }
                        2 => {
                            let v = (sp as *const u16).add(c).read_unaligned() as f64;
                            let v = if job.invert && color { 65535.0 - v } else { v };
                            let v = if color && job.gain != 1.0 { (v * job.gain).clamp(0.0, 65535.0) } else { v };
                            (dp as *mut u16).add(c).write_unaligned(v as u16);
                        }
                        _ => {
                            let v = (sp as *const f32).add(c).read_unaligned();
                            let v = if job.invert && color { 1.0 - v } else { v };
                            let v = if color && job.gain != 1.0 { (v as f64 * job.gain) as f32 } else { v };
                            (dp as *mut f32).add(c).write_unaligned(v);
                        }
                    }
                }
            }
        }
    }
}

/// Render: inverts Source into Output, then breaks the rule "Misbehave" names.
///
/// # Safety
/// `effect` and `in_args` are the host's handles for the current Render action.
unsafe fn render(effect: OfxImageEffectHandle, in_args: OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: suite calls with this action's handles and live out pointers; the images' pixels are written
    // inside their bounds (WriteOutside: outside the window but inside the bounds, or into the guard byte
    // just before the rows, which the host allocates so that it can detect this).
    unsafe {
        let mut time = 0.0;
        call!(s().prop, propGetDouble(in_args, kOfxPropTime.as_ptr(), 0, &mut time));
        let mut window = [0; 4];
        call!(s().prop, propGetIntN(in_args, kOfxImageEffectPropRenderWindow.as_ptr(), 4, window.as_mut_ptr()));
        let mut set = null_mut();
        call!(s().effect, getParamSet(effect, &mut set));
        let param = |name: &CStr| {
            let mut h = null_mut();
            call!(s().param, paramGetHandle(set, name.as_ptr(), &mut h, null_mut()));
            h
        };
        let (misbehave_p, gain_p, invert_p) = (param(c"Misbehave"), param(c"Gain"), param(c"Invert"));
        let mut misbehave: c_int = 0;
        call!(s().param, paramGetValueAtTime(misbehave_p, time, &mut misbehave as *mut c_int));
        let mut gain: f64 = 1.0;
        call!(s().param, paramGetValue(gain_p, &mut gain as *mut f64));
        let mut invert: c_int = 1;
        call!(s().param, paramGetValue(invert_p, &mut invert as *mut c_int));
        let misbehave = OPTIONS.get(misbehave as usize).copied().unwrap_or(c"None").to_bytes();

        let mut src_clip = null_mut();
        let mut dst_clip = null_mut();
        call!(s().effect, clipGetHandle(effect, c"Source".as_ptr(), &mut src_clip, null_mut()));
        call!(s().effect, clipGetHandle(effect, c"Output".as_ptr(), &mut dst_clip, null_mut()));
        let Some(src) = image(src_clip, time) else {
            return kOfxStatFailed;
        };
        let Some(dst) = image(dst_clip, time) else {
            call!(s().effect, clipReleaseImage(src.handle));
            return kOfxStatFailed;
        };
        // Frames from 2 on wait (up to a minute) for the host to abort, as a long render would.
        let stall = misbehave == b"StallFromFrame2" && time >= 2.0;
        if misbehave == b"WaitForAbort" || stall {
            let limit = if stall { 600_000 } else { 100_000 };
            call!(s().progress, progressStart(effect as *mut c_void, c"waiting".as_ptr()));
            let mut i = 0;
            while call!(s().effect, abort(effect)) == 0 && i < limit {
                call!(s().progress, progressUpdate(effect as *mut c_void, (i % 100) as f64 / 100.0));
                std::thread::sleep(std::time::Duration::from_micros(100));
                i += 1;
            }
            call!(s().progress, progressEnd(effect as *mut c_void));
            call!(s().effect, clipReleaseImage(src.handle));
            call!(s().effect, clipReleaseImage(dst.handle));
            return kOfxStatFailed;
        }
        let job = Job { src: &src, dst: &dst, window, invert: invert != 0, gain };
        call!(s().mt, multiThread(Some(process), 2, &job as *const Job as *mut c_void));

        match misbehave {
            b"WriteOutside" => {
                let b = dst.bounds;
                if window != b {
                    // The pixel just right of (or above) the window, inside the bounds.
                    let (x, y) =
                        if window[2] < b[2] { (window[2], window[1]) } else { (window[0], window[3].min(b[3] - 1)) };
                    *dst.pixel(x, y) ^= 0xFF;
                } else {
                    let lowest = if dst.row_bytes < 0 { dst.pixel(b[0], b[3] - 1) } else { dst.data };
                    *lowest.wrapping_sub(1) ^= 0xFF;
                }
            }
            b"WriteSource" => *src.pixel(window[0], window[1]) ^= 0xFF,
            b"BadHandle" => {
                let mut v = 0;
                call!(s().prop, propGetInt(0x1234 as OfxPropertySetHandle, kOfxPropTime.as_ptr(), 0, &mut v));
            }
            b"LeakMemory" => {
                let mut p = null_mut();
                call!(s().mem, memoryAlloc(effect as *mut c_void, 100, &mut p));
            }
            b"SetParamInRender" => {
                call!(s().param, paramSetValue(gain_p, 2.0f64));
            }
            _ => {}
        }
        if misbehave != b"LeakImage" {
            call!(s().effect, clipReleaseImage(src.handle));
        }
        call!(s().effect, clipReleaseImage(dst.handle));
        last_rendered().lock().unwrap().insert(effect as usize, time);
        match misbehave {
            b"InvalidStatus" => 42,
            b"ReplyDefault" => kOfxStatReplyDefault,
            b"FailWithError" => {
                call!(
                    s().msg,
                    message(
                        effect as *mut c_void,
                        kOfxMessageError.as_ptr(),
                        null(),
                        c"frame %d failed on purpose".as_ptr(),
                        time as c_int
                    )
                );
                kOfxStatFailed
            }
            _ => kOfxStatOK,
        }
    }
}

/// Shows the last rendered frame in Status (unless the change is Status itself); "EditForever" changes
/// Gain in answer to every change, its own included.
///
/// # Safety
/// `effect` and `in_args` are the host's handles for the current InstanceChanged action.
unsafe fn instance_changed(effect: OfxImageEffectHandle, in_args: OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: suite calls with this action's handles and live out pointers; the name the host hands out is
    // NUL-terminated.
    unsafe {
        let mut name: *mut c_char = null_mut();
        call!(s().prop, propGetString(in_args, kOfxPropName.as_ptr(), 0, &mut name));
        let name = CStr::from_ptr(name).to_bytes().to_vec();
        let mut set = null_mut();
        call!(s().effect, getParamSet(effect, &mut set));
        let param = |name: &CStr| {
            let mut h = null_mut();
            call!(s().param, paramGetHandle(set, name.as_ptr(), &mut h, null_mut()));
            h
        };
        let last = last_rendered().lock().unwrap().get(&(effect as usize)).copied();
        if let (Some(t), false) = (last, name == b"Status") {
            let status = std::ffi::CString::new(format!("rendered frame {t}")).unwrap();
            call!(s().param, paramSetValue(param(c"Status"), status.as_ptr()));
        }
        let mut misbehave: c_int = 0;
        call!(s().param, paramGetValue(param(c"Misbehave"), &mut misbehave as *mut c_int));
        if OPTIONS.get(misbehave as usize) == Some(&c"EditForever") {
            let mut gain: f64 = 1.0;
            call!(s().param, paramGetValue(param(c"Gain"), &mut gain as *mut f64));
            call!(s().param, paramSetValue(param(c"Gain"), if gain == 1.0 { 2.0f64 } else { 1.0f64 }));
        }
    }
    kOfxStatOK
}

/// Runs one action.
///
/// # Safety
/// `handle` and `in_args` are what the host passes for `action`.
unsafe fn dispatch(action: &CStr, handle: *const c_void, in_args: OfxPropertySetHandle) -> OfxStatus {
    let effect = handle as OfxImageEffectHandle;
    // SAFETY: each action gets the handles the host passed for it (the caller's contract).
    unsafe {
        if action == kOfxActionLoad {
            let suites = (|| {
                Some(Suites {
                    prop: fetch(kOfxPropertySuite, 1)?,
                    param: fetch(kOfxParameterSuite, 1)?,
                    effect: fetch(kOfxImageEffectSuite, 1)?,
                    mem: fetch(kOfxMemorySuite, 1)?,
                    mt: fetch(kOfxMultiThreadSuite, 1)?,
                    msg: fetch(kOfxMessageSuite, 2)?,
                    progress: fetch(kOfxProgressSuite, 1)?,
                })
            })();
            let Some(suites) = suites else {
                return kOfxStatErrMissingHostFeature;
            };
            let _ = SUITES.set(suites);
            kOfxStatOK
        } else if action == kOfxActionDescribe {
            describe(effect)
        } else if action == kOfxImageEffectActionDescribeInContext {
            describe_in_context(effect)
        } else if action == kOfxImageEffectActionRender {
            render(effect, in_args)
        } else if action == kOfxActionInstanceChanged {
            instance_changed(effect, in_args)
        } else if action == kOfxActionCreateInstance {
            kOfxStatOK
        } else if action == kOfxActionDestroyInstance {
            last_rendered().lock().unwrap().remove(&(effect as usize));
            kOfxStatOK
        } else {
            kOfxStatReplyDefault
        }
    }
}

/// The plugin's mainEntry.
///
/// # Safety
/// `action` is NULL or a NUL-terminated string; the handles are the host's for it.
unsafe extern "C" fn main_entry(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    _out: OfxPropertySetHandle,
) -> OfxStatus {
    if action.is_null() {
        return kOfxStatErrBadHandle;
    }
    // SAFETY: `action` is not NULL, so NUL-terminated (the caller's contract), and the handles are the host's.
    std::panic::catch_unwind(|| unsafe { dispatch(CStr::from_ptr(action), handle, in_args) })
        .unwrap_or(kOfxStatErrFatal)
}

struct PluginCell(OfxPlugin);
// SAFETY: the struct only holds pointers to static strings and functions.
unsafe impl Sync for PluginCell {}

static PLUGIN: PluginCell = PluginCell(OfxPlugin {
    pluginApi: c"OfxImageEffectPluginAPI".as_ptr(),
    apiVersion: 1,
    pluginIdentifier: c"com.kinema.test.fixture".as_ptr(),
    pluginVersionMajor: 1,
    pluginVersionMinor: 2,
    setHost: Some(set_host),
    mainEntry: Some(main_entry),
});

#[no_mangle]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    1
}

#[no_mangle]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *mut OfxPlugin {
    if nth == 0 {
        &PLUGIN.0 as *const OfxPlugin as *mut OfxPlugin
    } else {
        null_mut()
    }
}
