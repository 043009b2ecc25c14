//! The image effect suite: effect and clip handles, clip definition, image fetch and release (source
//! images are guarded copies the plugin must not write), regions of definition, abort, and image memory.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use ofx_abi::*;
use parking_lot::Mutex;

use super::{bad_arg, bad_handle, cstr, current_action, guard, lookup_effect, write_props};
use crate::diag::{self, ViolationKind};
use crate::handles;
use crate::image::{PixelBuffer, Rect};
use crate::objects::{Clip, Effect, Image, ImageMemory};
use crate::props::{PropSet, PropValue};

/// `getPropertySet`.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn get_property_set(e: OfxImageEffectHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: `out` is NULL or writable (the caller's contract), as `write_props` requires.
    unsafe { write_props::<Effect>("getPropertySet", "image effect", e as *const c_void, out, |e| e.props.handle()) }
}

/// `getParamSet`.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn get_param_set(e: OfxImageEffectHandle, out: *mut OfxParamSetHandle) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let e = match lookup_effect("getParamSet", e as *const c_void) {
            Ok(e) => e,
            Err(s) => return s,
        };
        if out.is_null() {
            return bad_arg("getParamSet", "NULL out pointer");
        }
        *out = e.params.handle();
        kOfxStatOK
    })
}

/// Spec defaults of a clip descriptor.
fn clip_desc_defaults(p: &PropSet, name: &str) {
    p.set_cstr(kOfxPropType, kOfxTypeClip);
    p.put_ro(kOfxPropName, PropValue::String(vec![CString::new(name).unwrap_or_default()]));
    p.set_str(kOfxPropLabel, name);
    p.set_str(kOfxPropShortLabel, name);
    p.set_str(kOfxPropLongLabel, name);
    p.put(kOfxImageEffectPropSupportedComponents, PropValue::String(vec![]));
    p.set_int(kOfxImageEffectPropTemporalClipAccess, 0);
    p.set_int(kOfxImageClipPropOptional, 0);
    p.set_int(kOfxImageClipPropIsMask, 0);
    p.set_cstr(kOfxImageClipPropFieldExtraction, kOfxImageFieldDoubled);
    p.set_int(kOfxImageEffectPropSupportsTiles, 1);
}

/// `clipDefine`: only on a descriptor (in DescribeInContext); defining a clip again returns the same one.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
unsafe extern "C" fn clip_define(
    e: OfxImageEffectHandle,
    name: *const c_char,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: `name` is NULL or NUL-terminated and `out` is checked for NULL and otherwise writable (the caller's
    // contract).
    guard(|| unsafe {
        let e = match lookup_effect("clipDefine", e as *const c_void) {
            Ok(e) => e,
            Err(s) => return s,
        };
        if e.is_instance {
            return bad_arg("clipDefine", "clips can only be defined on a descriptor (in DescribeInContext)");
        }
        let Some(name) = cstr(name) else {
            return bad_arg("clipDefine", "NULL clip name");
        };
        let mut clips = e.clip_descs.lock();
        let props = match clips.iter().find(|(n, _)| n == name) {
            Some((_, p)) => p.clone(),
            None => {
                let p = PropSet::new(format!("clip descriptor {name}"));
                clip_desc_defaults(&p, name);
                clips.push((name.to_owned(), p.clone()));
                p
            }
        };
        if !out.is_null() {
            *out = props.handle();
        }
        kOfxStatOK
    })
}

/// `clipGetHandle`: only on an instance.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `clip` and `props` are NULL or writable.
unsafe extern "C" fn clip_get_handle(
    e: OfxImageEffectHandle,
    name: *const c_char,
    clip: *mut OfxImageClipHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: `name` is NULL or NUL-terminated, and `clip` and `props` are checked for NULL and otherwise writable
    // (the caller's contract).
    guard(|| unsafe {
        let e = match lookup_effect("clipGetHandle", e as *const c_void) {
            Ok(e) => e,
            Err(s) => return s,
        };
        if !e.is_instance {
            return bad_arg("clipGetHandle", "called on a descriptor; clip handles exist only on instances");
        }
        let Some(name) = cstr(name) else {
            return bad_arg("clipGetHandle", "NULL clip name");
        };
        if clip.is_null() {
            return bad_arg("clipGetHandle", "NULL clip pointer");
        }
        let Some(c) = e.clip(name) else {
            return kOfxStatErrUnknown;
        };
        *clip = c.handle();
        if !props.is_null() {
            *props = c.props.handle();
        }
        kOfxStatOK
    })
}

/// `clipGetPropertySet`.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn clip_get_property_set(clip: OfxImageClipHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: `out` is NULL or writable (the caller's contract), as `write_props` requires.
    unsafe { write_props::<Clip>("clipGetPropertySet", "clip", clip as *const c_void, out, |c| c.props.handle()) }
}

/// The read-only property set of an image handed to the plugin.
fn image_props(buf: &PixelBuffer, premult: &CStr, scale: f64, par: f64, unique: &str) -> Arc<PropSet> {
    let p = PropSet::read_only("image");
    p.set_cstr(kOfxPropType, kOfxTypeImage);
    p.set_pointer(kOfxImagePropData, buf.data_ptr() as *mut c_void);
    p.set_ints(kOfxImagePropBounds, &buf.bounds.as_array());
    p.set_ints(kOfxImagePropRegionOfDefinition, &buf.bounds.as_array());
    p.set_int(kOfxImagePropRowBytes, buf.row_bytes() as i32);
    p.set_cstr(kOfxImageEffectPropPixelDepth, buf.depth.ofx());
    p.set_cstr(kOfxImageEffectPropComponents, buf.components.ofx());
    p.set_cstr(kOfxImageEffectPropPreMultiplication, premult);
    p.set_double(kOfxImagePropPixelAspectRatio, par);
    p.set_cstr(kOfxImagePropField, kOfxImageFieldNone);
    p.set_str(kOfxImagePropUniqueIdentifier, unique);
    p.set_doubles(kOfxImageEffectPropRenderScale, &[scale, scale]);
    p
}

/// Scaled pixel bounds of a canonical rectangle (`par`: the pixel aspect ratio, canonical x = pixel x × par).
pub(crate) fn scaled_bounds(rod: [f64; 4], scale: f64, par: f64) -> Rect {
    // Within a millionth of a pixel counts as on it, so that x × par / par lands back on x.
    let (sx, sy) = (scale / par, scale);
    let lo = |v: f64| if (v - v.round()).abs() < 1e-6 { v.round() as i32 } else { v.floor() as i32 };
    let hi = |v: f64| if (v - v.round()).abs() < 1e-6 { v.round() as i32 } else { v.ceil() as i32 };
    Rect::new(lo(rod[0] * sx), lo(rod[1] * sy), hi(rod[2] * sx), hi(rod[3] * sy))
}

/// `clipGetImage`: the output buffer being rendered, or a fresh guarded copy of a source frame (kept to
/// check that the plugin does not write it). Fetching outside Render and InstanceChanged, or another frame
/// without temporal clip access, is a violation.
///
/// # Safety
/// `region` is NULL or readable; `out` is NULL or writable.
unsafe extern "C" fn clip_get_image(
    clip: OfxImageClipHandle,
    time: OfxTime,
    region: *const OfxRectD,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable, and `region` is NULL or readable (the caller's
    // contract).
    guard(|| unsafe {
        let Some(c) = handles::lookup::<Clip>(clip as *const c_void) else {
            return bad_handle("clipGetImage", "clip", clip as *const c_void);
        };
        if out.is_null() {
            return bad_arg("clipGetImage", "NULL image pointer");
        }
        *out = std::ptr::null_mut();
        let Some(e) = c.effect.upgrade() else {
            return kOfxStatErrBadHandle;
        };
        let ctx = diag::current();
        let action = current_action();
        if action != "Render" && action != "InstanceChanged" {
            diag::report(
                ViolationKind::IllegalImageFetch,
                format!(
                    "clipGetImage('{}') during {}: images may only be fetched in Render or InstanceChanged",
                    c.name,
                    if action.is_empty() { "no action" } else { &action }
                ),
            );
        }
        if !time.is_finite() {
            return bad_arg("clipGetImage", "non-finite time");
        }
        if !region.is_null() {
            let r = *region;
            if ![r.x1, r.y1, r.x2, r.y2].iter().all(|v| v.is_finite()) {
                return bad_arg("clipGetImage", "non-finite region");
            }
        }
        let scale = *e.st.render_scale.lock();
        let scale = if scale > 0.0 { scale } else { 1.0 };
        let layout = *e.st.layout.lock();
        let (buf, pristine, premult) = if c.is_output {
            let Some(buf) = e.st.outputs.lock().get(&time.to_bits()).cloned() else {
                return kOfxStatFailed;
            };
            let premult = c.props.string(kOfxImageEffectPropPreMultiplication).unwrap_or_default();
            (buf, None, premult)
        } else {
            if action == "Render" && !e.temporal_access() {
                if let Some(f) = ctx.as_ref().and_then(|c| c.frame) {
                    if (f as f64 + *e.st.time_offset.lock() - time).abs() > 1e-9 {
                        diag::report(
                            ViolationKind::IllegalImageFetch,
                            format!("fetched '{}' at time {time} while rendering frame {f} without declaring TemporalClipAccess", c.name),
                        );
                    }
                }
            }
            let Some(src) = c.source.lock().clone() else {
                return kOfxStatFailed;
            };
            let frame = time.round() as i64;
            let img = match src.frame(frame) {
                Ok(Some(img)) => img,
                Ok(None) => return kOfxStatFailed,
                Err(err) => {
                    diag::report(
                        ViolationKind::BadArgument,
                        format!("host could not read frame {frame} of '{}': {err:#}", c.name),
                    );
                    return kOfxStatFailed;
                }
            };
            let (depth, comps) = c.mapped_format().unwrap_or((src.depth, src.components));
            // Converted or resized only where the clip's format or the render scale asks (a copy of
            // a 4K float frame otherwise).
            let mut img = std::borrow::Cow::Borrowed(&*img);
            if (img.depth, img.components) != (depth, comps) {
                img = std::borrow::Cow::Owned(img.convert(depth, comps));
            }
            let (ox, oy) = *e.st.origin.lock();
            let (ox, oy) = (f64::from(ox), f64::from(oy));
            let par = e.st.par();
            let b = scaled_bounds([ox, oy, ox + img.width as f64 * par, oy + img.height as f64], scale, par);
            if (b.width(), b.height()) != (img.width as usize, img.height as usize) {
                img = std::borrow::Cow::Owned(img.resize_nearest(b.width() as u32, b.height() as u32));
            }
            let mut buf = PixelBuffer::new(b, depth, comps, layout);
            if let Err(err) = buf.fill_from(&img) {
                diag::report(ViolationKind::BadArgument, format!("host could not prepare '{}': {err:#}", c.name));
                return kOfxStatFailed;
            }
            let pristine = xxhash_rust::xxh3::xxh3_128(buf.raw());
            let premult = c.props.string(kOfxImageEffectPropPreMultiplication).unwrap_or_default();
            (Arc::new(buf), Some(pristine), premult)
        };
        let premult = CString::new(premult).unwrap_or_default();
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let unique = format!("{}:{}:{}", c.name, time, SERIAL.fetch_add(1, Ordering::Relaxed));
        let props = image_props(&buf, &premult, scale, e.st.par(), &unique);
        let image = Arc::new(Image {
            props: props.clone(),
            buf,
            clip: c.name.clone(),
            time,
            action_id: ctx.as_ref().map(|c| c.action_id).unwrap_or(0),
            action: action.clone(),
            pristine,
        });
        let h = props.handle();
        register_image(&image, &e);
        *out = h;
        kOfxStatOK
    })
}

/// Images are looked up by their property-set handle; the owner keeps them alive until released.
fn register_image(image: &Arc<Image>, owner: &Arc<Effect>) {
    let addr = Arc::as_ptr(&image.props) as usize;
    image_owners().lock().insert(addr, Arc::downgrade(owner));
    owner.st.live_images.lock().insert(addr, image.clone());
}

/// The effect that owns each live image, by property-set address.
fn image_owners() -> &'static Mutex<HashMap<usize, std::sync::Weak<Effect>>> {
    static M: OnceLock<Mutex<HashMap<usize, std::sync::Weak<Effect>>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// Checks a released image: source pixels untouched, guards intact.
pub(crate) fn finish_image(img: &Image) {
    image_owners().lock().remove(&(Arc::as_ptr(&img.props) as usize));
    if let Some(pristine) = img.pristine {
        if pristine != xxhash_rust::xxh3::xxh3_128(img.buf.raw()) {
            diag::report(
                ViolationKind::WroteSourceImage,
                format!(
                    "the plugin modified the '{}' image at time {} (source images are read-only)",
                    img.clip, img.time
                ),
            );
        }
    }
}

/// `clipReleaseImage`: checks the image (see [`finish_image`]) and drops it.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn clip_release_image(h: OfxPropertySetHandle) -> OfxStatus {
    guard(|| {
        let addr = h as usize;
        let owner = image_owners().lock().get(&addr).and_then(|w| w.upgrade());
        let image = owner.as_ref().and_then(|o| o.st.live_images.lock().remove(&addr));
        match image {
            Some(img) => {
                finish_image(&img);
                kOfxStatOK
            }
            None => bad_handle("clipReleaseImage", "image (not fetched, or already released)", h as *const c_void),
        }
    })
}

/// `clipGetRegionOfDefinition`: the output's RoD for the frame being rendered (else the project), or the
/// source frame's own region, moved by the origin.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn clip_get_region_of_definition(
    clip: OfxImageClipHandle,
    time: OfxTime,
    out: *mut OfxRectD,
) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let Some(c) = handles::lookup::<Clip>(clip as *const c_void) else {
            return bad_handle("clipGetRegionOfDefinition", "clip", clip as *const c_void);
        };
        if out.is_null() {
            return bad_arg("clipGetRegionOfDefinition", "NULL rect pointer");
        }
        let Some(e) = c.effect.upgrade() else {
            return kOfxStatErrBadHandle;
        };
        let rod = if c.is_output {
            e.st.output_rods.lock().get(&time.to_bits()).copied().or_else(|| {
                let size = e.props.doubles(kOfxImageEffectPropProjectSize)?;
                let offset = e.props.doubles(kOfxImageEffectPropProjectOffset).unwrap_or_default();
                let (ox, oy) = (offset.first().copied().unwrap_or(0.0), offset.get(1).copied().unwrap_or(0.0));
                Some([ox, oy, ox + *size.first()?, oy + *size.get(1)?])
            })
        } else if !time.is_finite() {
            return bad_arg("clipGetRegionOfDefinition", "non-finite time");
        } else {
            // Each frame's own region (frames of one clip may differ in size), moved by the origin.
            let (ox, oy) = *e.st.origin.lock();
            let (ox, oy) = (f64::from(ox), f64::from(oy));
            let source = c.source.lock().clone();
            source.map(|s| {
                let [x1, y1, x2, y2] = s.region_at(time, e.st.par());
                [x1 + ox, y1 + oy, x2 + ox, y2 + oy]
            })
        };
        let Some(r) = rod else { return kOfxStatFailed };
        *out = OfxRectD { x1: r[0], y1: r[1], x2: r[2], y2: r[3] };
        kOfxStatOK
    })
}

/// `abort`: whether the caller asked the render to stop.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn effect_abort(e: OfxImageEffectHandle) -> c_int {
    std::panic::catch_unwind(|| match lookup_effect("abort", e as *const c_void) {
        Ok(e) => e.aborted() as c_int,
        Err(_) => 0,
    })
    .unwrap_or(0)
}

/// Image memory blocks by handle; [`super::reclaim_leaks`] frees an instance's leftovers.
pub(super) fn image_memory() -> &'static Mutex<HashMap<usize, Arc<ImageMemory>>> {
    static M: OnceLock<Mutex<HashMap<usize, Arc<ImageMemory>>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// `imageMemoryAlloc`: owned by the instance (or by no one for a NULL handle) so leaks are found on destroy.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn image_memory_alloc(
    e: OfxImageEffectHandle,
    n: usize,
    out: *mut OfxImageMemoryHandle,
) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let owner = if e.is_null() {
            0
        } else {
            match lookup_effect("imageMemoryAlloc", e as *const c_void) {
                Ok(e) => e.id,
                Err(s) => return s,
            }
        };
        if out.is_null() {
            return bad_arg("imageMemoryAlloc", "NULL handle pointer");
        }
        if n > (1usize << 36) {
            return kOfxStatErrMemory;
        }
        let m = ImageMemory::new(n, owner);
        image_memory().lock().insert(Arc::as_ptr(&m) as usize, m.clone());
        *out = Arc::as_ptr(&m) as *mut ImageMemory as OfxImageMemoryHandle;
        kOfxStatOK
    })
}

/// `imageMemoryFree`.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn image_memory_free(h: OfxImageMemoryHandle) -> OfxStatus {
    guard(|| match image_memory().lock().remove(&(h as usize)) {
        Some(_) => kOfxStatOK,
        None => bad_handle("imageMemoryFree", "image memory", h as *const c_void),
    })
}

/// `imageMemoryLock`: the memory stays at one address, so locking only counts.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn image_memory_lock(h: OfxImageMemoryHandle, out: *mut *mut c_void) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        let Some(m) = handles::lookup::<ImageMemory>(h as *const c_void) else {
            return bad_handle("imageMemoryLock", "image memory", h as *const c_void);
        };
        if out.is_null() {
            return bad_arg("imageMemoryLock", "NULL pointer");
        }
        m.locks.fetch_add(1, Ordering::SeqCst);
        *out = m.ptr() as *mut c_void;
        kOfxStatOK
    })
}

/// `imageMemoryUnlock`: unlocking memory that is not locked is a violation.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn image_memory_unlock(h: OfxImageMemoryHandle) -> OfxStatus {
    guard(|| {
        let Some(m) = handles::lookup::<ImageMemory>(h as *const c_void) else {
            return bad_handle("imageMemoryUnlock", "image memory", h as *const c_void);
        };
        if m.locks.fetch_sub(1, Ordering::SeqCst) <= 0 {
            m.locks.fetch_add(1, Ordering::SeqCst);
            return bad_arg("imageMemoryUnlock", "memory was not locked");
        }
        kOfxStatOK
    })
}

pub(super) static IMAGE_EFFECT_SUITE: OfxImageEffectSuiteV1 = OfxImageEffectSuiteV1 {
    getPropertySet: Some(get_property_set),
    getParamSet: Some(get_param_set),
    clipDefine: Some(clip_define),
    clipGetHandle: Some(clip_get_handle),
    clipGetPropertySet: Some(clip_get_property_set),
    clipGetImage: Some(clip_get_image),
    clipReleaseImage: Some(clip_release_image),
    clipGetRegionOfDefinition: Some(clip_get_region_of_definition),
    abort: Some(effect_abort),
    imageMemoryAlloc: Some(image_memory_alloc),
    imageMemoryFree: Some(image_memory_free),
    imageMemoryLock: Some(image_memory_lock),
    imageMemoryUnlock: Some(image_memory_unlock),
};
