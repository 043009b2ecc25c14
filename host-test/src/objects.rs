//! Host objects behind plugin-visible handles: effects (descriptors and instances), clips, parameter sets,
//! parameters, fetched images and image memory.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use anyhow::{bail, Result};
use ofx_abi::*;
use parking_lot::{Mutex, RwLock};

use crate::diag::Diagnostics;
use crate::handles;
use crate::image::{Components, Depth, HostImage, PixelBuffer, RowLayout};
use crate::params::{ParamKind, ParamValue, Shape};
use crate::props::PropSet;
use crate::sequence::Pattern;
use crate::ProgressFn;

/// Per-instance render-time state (unused on descriptors).
#[derive(Default)]
pub(crate) struct InstanceState {
    pub abort: Arc<AtomicBool>,
    pub abort_after_progress: Mutex<Option<u64>>,
    pub progress_updates: AtomicU64,
    pub progress: Mutex<Option<ProgressFn>>,
    pub live_images: Mutex<HashMap<usize, Arc<Image>>>,
    /// Output buffers of the renders in flight, by time (f64 bits).
    pub outputs: Mutex<HashMap<u64, Arc<PixelBuffer>>>,
    /// Output RoDs (canonical) computed per time.
    pub output_rods: Mutex<HashMap<u64, [f64; 4]>>,
    pub render_lock: Mutex<()>,
    pub in_sequence: AtomicBool,
    pub time: Mutex<f64>,
    pub time_bounds: Mutex<(f64, f64)>,
    pub layout: Mutex<RowLayout>,
    pub render_scale: Mutex<f64>,
    /// RenderRequest::origin of the render in progress (or the last one).
    pub origin: Mutex<(i32, i32)>,
    /// RenderRequest::time_offset of the render in progress (or the last one).
    pub time_offset: Mutex<f64>,
    /// The project's pixel aspect ratio (canonical x = pixel x × ratio); 0 before the first project is set.
    pub par: Mutex<f64>,
}

impl InstanceState {
    /// The pixel aspect ratio (1 until a project sets one).
    pub fn par(&self) -> f64 {
        let p = *self.par.lock();
        if p > 0.0 {
            p
        } else {
            1.0
        }
    }
}

pub(crate) struct Effect {
    pub id: u64,
    pub plugin: Arc<str>,
    pub diag: Arc<Diagnostics>,
    pub props: Arc<PropSet>,
    pub params: Arc<ParamSet>,
    pub is_instance: bool,
    /// Descriptor clips (clipDefine).
    pub clip_descs: Mutex<Vec<(String, Arc<PropSet>)>>,
    /// Instance clips.
    pub clips: Mutex<Vec<Arc<Clip>>>,
    pub st: InstanceState,
}

impl Drop for Effect {
    fn drop(&mut self) {
        handles::forget(self);
    }
}

impl Effect {
    pub fn new_descriptor(plugin: Arc<str>, diag: Arc<Diagnostics>) -> Arc<Effect> {
        let id = crate::diag::next_action_id();
        let e = Arc::new(Effect {
            id,
            plugin: plugin.clone(),
            diag,
            props: PropSet::new(format!("{plugin} descriptor")),
            params: ParamSet::new(true),
            is_instance: false,
            clip_descs: Mutex::new(Vec::new()),
            clips: Mutex::new(Vec::new()),
            st: InstanceState::default(),
        });
        handles::register(&e);
        e
    }

    /// Builds an instance (props, params, clips) from a context descriptor.
    pub fn new_instance(desc: &Effect) -> Arc<Effect> {
        let id = crate::diag::next_action_id();
        let props = PropSet::new(format!("{} instance", desc.plugin));
        props.copy_from(&desc.props);
        let params = ParamSet::new(false);
        params.props.copy_from(&desc.params.props);
        for d in desc.params.params.read().iter() {
            let p = Param::new(d.name.clone(), d.kind, false);
            p.props.copy_from(&d.props);
            let default = ParamValue::from_prop(d.kind, p.props.value(kOfxParamPropDefault));
            p.state.lock().set(default);
            params.params.write().push(p);
        }
        let e = Arc::new_cyclic(|weak: &Weak<Effect>| {
            let clips = desc
                .clip_descs
                .lock()
                .iter()
                .map(|(name, cprops)| {
                    let props = PropSet::new(format!("clip {name}"));
                    props.copy_from(cprops);
                    let clip = Arc::new(Clip {
                        name: name.clone(),
                        props,
                        effect: weak.clone(),
                        source: Mutex::new(None),
                        is_output: name == "Output",
                    });
                    handles::register(&clip);
                    clip
                })
                .collect();
            Effect {
                id,
                plugin: desc.plugin.clone(),
                diag: desc.diag.clone(),
                props,
                params,
                is_instance: true,
                clip_descs: Mutex::new(Vec::new()),
                clips: Mutex::new(clips),
                st: InstanceState::default(),
            }
        });
        handles::register(&e);
        e
    }

    pub fn handle(self: &Arc<Self>) -> OfxImageEffectHandle {
        Arc::as_ptr(self) as *mut Effect as OfxImageEffectHandle
    }

    pub fn clip(&self, name: &str) -> Option<Arc<Clip>> {
        self.clips.lock().iter().find(|c| c.name == name).cloned()
    }

    pub fn temporal_access(&self) -> bool {
        self.props.int(kOfxImageEffectPropTemporalClipAccess).unwrap_or(0) != 0
    }

    pub fn aborted(&self) -> bool {
        self.st.abort.load(Ordering::SeqCst)
    }
}

/// A clip of an instance.
pub(crate) struct Clip {
    pub name: String,
    pub props: Arc<PropSet>,
    pub effect: Weak<Effect>,
    pub source: Mutex<Option<Arc<Source>>>,
    pub is_output: bool,
}

impl Drop for Clip {
    fn drop(&mut self) {
        handles::forget(self);
    }
}

impl Clip {
    pub fn handle(self: &Arc<Self>) -> OfxImageClipHandle {
        Arc::as_ptr(self) as *mut Clip as OfxImageClipHandle
    }
    /// The depth and components the plugin gets (after clip preferences).
    pub fn mapped_format(&self) -> Option<(Depth, Components)> {
        let d = Depth::from_ofx(&self.props.string(kOfxImageEffectPropPixelDepth)?)?;
        let c = Components::from_ofx(&self.props.string(kOfxImageEffectPropComponents)?)?;
        Some((d, c))
    }
}

pub(crate) enum SourceKind {
    Frames(BTreeMap<i64, Arc<HostImage>>),
    Sequence(Pattern),
}

/// Frames connected to an input clip.
pub(crate) struct Source {
    pub kind: SourceKind,
    pub width: u32,
    pub height: u32,
    pub depth: Depth,
    pub components: Components,
    pub first: i64,
    pub last: i64,
    cache: Mutex<BTreeMap<i64, Arc<HostImage>>>,
}

const SEQUENCE_CACHE: usize = 16;

impl Source {
    pub fn from_frames(frames: BTreeMap<i64, HostImage>) -> Result<Source> {
        let (Some((&first, img)), Some(&last)) = (frames.iter().next(), frames.keys().next_back()) else {
            bail!("the frame map is empty");
        };
        let (width, height, depth, components) = (img.width, img.height, img.depth, img.components);
        for (f, i) in &frames {
            let expected = i.width as usize * i.height as usize * i.bytes_per_pixel();
            if i.data.len() != expected {
                bail!(
                    "frame {f}: {} bytes of data, a {}x{} {:?} {} image needs {expected}",
                    i.data.len(),
                    i.width,
                    i.height,
                    i.components,
                    i.depth
                );
            }
            // Sizes may change along a clip (hosts deliver what the media has); formats may not.
            if (i.depth, i.components) != (depth, components) {
                bail!("frame {f} is {} {:?}, but frame {first} is {depth} {components:?}", i.depth, i.components);
            }
        }
        if width == 0 || height == 0 {
            bail!("source frames are empty ({width}x{height})");
        }
        let frames = frames.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        Ok(Source {
            kind: SourceKind::Frames(frames),
            width,
            height,
            depth,
            components,
            first,
            last,
            cache: Mutex::default(),
        })
    }

    pub fn from_sequence(pattern: &str, first: i64, last: i64) -> Result<Source> {
        let pat = Pattern::parse(pattern)?;
        if last < first {
            bail!("sequence range {first}-{last} is reversed");
        }
        let probe = pat.path(first);
        if !probe.exists() {
            bail!("first frame of the sequence is missing: {}", probe.display());
        }
        let img = HostImage::load(&probe)?;
        let s = Source {
            kind: SourceKind::Sequence(pat),
            width: img.width,
            height: img.height,
            depth: img.depth,
            components: img.components,
            first,
            last,
            cache: Mutex::default(),
        };
        s.cache.lock().insert(first, Arc::new(img));
        Ok(s)
    }

    /// The region of definition at `time` (canonical coordinates): the frame's own size, since a
    /// clip may change size along its frames; where there is no frame, the first frame's.
    /// `par` is the pixel aspect ratio (canonical width = pixels × par).
    pub fn region_at(&self, time: f64, par: f64) -> [f64; 4] {
        let (w, h) = match self.frame(time.round() as i64) {
            Ok(Some(img)) => (img.width, img.height),
            _ => (self.width, self.height),
        };
        [0.0, 0.0, w as f64 * par, h as f64]
    }

    /// The frame, `Ok(None)` when the source does not have it.
    pub fn frame(&self, f: i64) -> Result<Option<Arc<HostImage>>> {
        match &self.kind {
            SourceKind::Frames(m) => Ok(m.get(&f).cloned()),
            SourceKind::Sequence(p) => {
                if f < self.first || f > self.last {
                    return Ok(None);
                }
                if let Some(img) = self.cache.lock().get(&f) {
                    return Ok(Some(img.clone()));
                }
                let path = p.path(f);
                if !path.exists() {
                    return Ok(None);
                }
                let img = HostImage::load(&path)?;
                // Sizes may change along a sequence (the plugin must cope); formats may not.
                if (img.depth, img.components) != (self.depth, self.components) {
                    bail!(
                        "{} is {} {:?}, but the sequence starts with {} {:?}",
                        path.display(),
                        img.depth,
                        img.components,
                        self.depth,
                        self.components
                    );
                }
                let img = Arc::new(img);
                let mut cache = self.cache.lock();
                if cache.len() >= SEQUENCE_CACHE {
                    let far = *cache.keys().max_by_key(|k| (*k - f).abs()).unwrap_or(&f);
                    cache.remove(&far);
                }
                cache.insert(f, img.clone());
                Ok(Some(img))
            }
        }
    }
}

pub(crate) struct ParamSet {
    pub props: Arc<PropSet>,
    pub params: RwLock<Vec<Arc<Param>>>,
    pub is_descriptor: bool,
}

impl Drop for ParamSet {
    fn drop(&mut self) {
        handles::forget(self);
    }
}

impl ParamSet {
    pub fn new(is_descriptor: bool) -> Arc<ParamSet> {
        let s = Arc::new(ParamSet { props: PropSet::new("param set"), params: RwLock::new(Vec::new()), is_descriptor });
        handles::register(&s);
        s
    }
    pub fn handle(self: &Arc<Self>) -> OfxParamSetHandle {
        Arc::as_ptr(self) as *mut ParamSet as OfxParamSetHandle
    }
    pub fn get(&self, name: &str) -> Option<Arc<Param>> {
        self.params.read().iter().find(|p| p.name == name).cloned()
    }
}

pub(crate) struct ParamState {
    pub value: ParamValue,
    /// Keys of an animated one-dimensional double, ascending; empty when not animated.
    pub keys: Vec<crate::params::Key>,
    cstr: CString,
    /// The previous string value, kept alive until the next change (strings returned to the plugin).
    retired: Option<CString>,
}

impl ParamState {
    pub fn set(&mut self, v: ParamValue) {
        if let ParamValue::String(s) = &v {
            let new = CString::new(s.replace('\0', "")).unwrap_or_default();
            self.retired = Some(std::mem::replace(&mut self.cstr, new));
        }
        self.value = v;
    }
    pub fn cstr_ptr(&self) -> *const c_char {
        self.cstr.as_ptr()
    }
}

pub(crate) struct Param {
    pub name: String,
    pub kind: ParamKind,
    pub props: Arc<PropSet>,
    pub state: Mutex<ParamState>,
    pub is_descriptor: bool,
    /// Set by the plugin during InstanceChanged and not yet notified back (kOfxChangePluginEdited).
    pub plugin_edited: AtomicBool,
}

impl Drop for Param {
    fn drop(&mut self) {
        handles::forget(self);
    }
}

impl Param {
    pub fn new(name: String, kind: ParamKind, is_descriptor: bool) -> Arc<Param> {
        let props = PropSet::new(format!("param {name}"));
        let value = ParamValue::from_prop(kind, None);
        let p = Arc::new(Param {
            name,
            kind,
            props,
            state: Mutex::new(ParamState { value, keys: Vec::new(), cstr: CString::default(), retired: None }),
            is_descriptor,
            plugin_edited: AtomicBool::new(false),
        });
        handles::register(&p);
        p
    }
    pub fn handle(self: &Arc<Self>) -> OfxParamHandle {
        Arc::as_ptr(self) as *mut Param as OfxParamHandle
    }
    /// The current value; a descriptor's value is its default.
    pub fn value(&self) -> ParamValue {
        if self.is_descriptor {
            return ParamValue::from_prop(self.kind, self.props.value(kOfxParamPropDefault));
        }
        self.state.lock().value.clone()
    }
    pub fn shape(&self) -> Shape {
        self.kind.shape()
    }
    /// The value at `time`: an animated parameter's curve there, else its one value.
    pub fn value_at(&self, time: f64) -> ParamValue {
        if self.is_descriptor {
            return self.value();
        }
        let st = self.state.lock();
        if st.keys.is_empty() {
            return st.value.clone();
        }
        ParamValue::Double(crate::params::curve_value(&st.keys, time))
    }
    pub fn keys(&self) -> Vec<crate::params::Key> {
        if self.is_descriptor {
            return Vec::new();
        }
        self.state.lock().keys.clone()
    }
}

/// An image handed out by clipGetImage.
pub(crate) struct Image {
    pub props: Arc<PropSet>,
    pub buf: Arc<PixelBuffer>,
    pub clip: String,
    pub time: f64,
    pub action_id: u64,
    pub action: String,
    /// A 128-bit hash of the allocation as delivered (source images only), to detect writes into
    /// sources without keeping a copy of every image (a 4K float image is 133 MB).
    pub pristine: Option<u128>,
}

/// A block from imageMemoryAlloc.
pub(crate) struct ImageMemory {
    ptr: *mut u8,
    pub len: usize,
    pub locks: AtomicI32,
    pub owner: u64,
}

// SAFETY: plain bytes owned by this object.
unsafe impl Send for ImageMemory {}
// SAFETY: the host never reads or writes the bytes; only the plugin does, through the pointer it locked.
unsafe impl Sync for ImageMemory {}

impl ImageMemory {
    pub fn new(len: usize, owner: u64) -> Arc<ImageMemory> {
        let data: Box<[u8]> = vec![0u8; len.max(1)].into_boxed_slice();
        let len = data.len();
        let m = Arc::new(ImageMemory { ptr: Box::into_raw(data) as *mut u8, len, locks: AtomicI32::new(0), owner });
        handles::register(&m);
        m
    }
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl Drop for ImageMemory {
    fn drop(&mut self) {
        handles::forget(self);
        // SAFETY: from Box::into_raw of a boxed slice of len bytes.
        unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len))) }
    }
}
