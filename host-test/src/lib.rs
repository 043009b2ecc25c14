//! kinema-host: a strict OpenFX host in Rust.
//!
//! It loads `.ofx.bundle`s, describes their effects, renders frames through the real OFX actions and suites,
//! and records every rule a plugin breaks as a [`Violation`] (writes outside the render window, invalid
//! statuses, leaked images and memory, bad handles, ...). It is both the harness of Kinema's end-to-end tests
//! and the `kinema` command-line renderer.
//!
//! ```no_run
//! use kinema_host::*;
//! let host = Host::new();
//! let bundle = host.load_bundle(&Host::find_bundle("Kinema")?)?;
//! let inst = bundle.create_instance("com.kinema.interpolate", Context::Filter)?;
//! inst.set_source("Source", ClipSource::Sequence { pattern: "in/%04d.png".into(), first: 0, last: 47 })?;
//! let out = inst.render(&RenderRequest { frames: (0..48).collect(), ..Default::default() })?;
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod cli;
pub mod credentials;
mod diag;
mod handles;
mod host;
mod image;
mod instance;
mod objects;
pub mod output;
mod params;
mod props;
pub mod sequence;
mod suites;

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::sync::Arc;

pub use diag::{Message, Violation, ViolationKind};
pub use host::{Bundle, ClipInfo, GpuSupport, Host, PluginInfo, RenderSupport};
pub use image::{CanaryReport, Components, Depth, HostImage, PixelBuffer, Rect, RowLayout, OUTPUT_FORMATS};
pub use instance::Instance;
pub use params::{
    curve_integral, curve_value, parse_keys, Axes, Key, KeyInterp, ParamInfo, ParamKind, ParamValue, ProjectGeometry,
    Spatial,
};

use ofx_abi::*;

/// An OFX image effect context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Filter,
    General,
    Generator,
    Transition,
    Paint,
    Retimer,
}

impl Context {
    /// The contexts this host can run.
    pub const HOST: [Context; 3] = [Context::Filter, Context::General, Context::Generator];
    pub const ALL: [Context; 6] =
        [Context::Filter, Context::General, Context::Generator, Context::Transition, Context::Paint, Context::Retimer];

    pub fn ofx(self) -> &'static CStr {
        match self {
            Context::Filter => kOfxImageEffectContextFilter,
            Context::General => kOfxImageEffectContextGeneral,
            Context::Generator => kOfxImageEffectContextGenerator,
            Context::Transition => kOfxImageEffectContextTransition,
            Context::Paint => kOfxImageEffectContextPaint,
            Context::Retimer => kOfxImageEffectContextRetimer,
        }
    }
    pub fn from_ofx(s: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.ofx().to_bytes() == s.as_bytes())
    }
    pub fn name(self) -> &'static str {
        match self {
            Context::Filter => "filter",
            Context::General => "general",
            Context::Generator => "generator",
            Context::Transition => "transition",
            Context::Paint => "paint",
            Context::Retimer => "retimer",
        }
    }
}

impl std::str::FromStr for Context {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Context> {
        Context::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s) || c.ofx().to_bytes() == s.as_bytes())
            .ok_or_else(|| anyhow::anyhow!("unknown context '{s}' (expected filter, general or generator)"))
    }
}

impl std::fmt::Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// kOfxImageEffectPluginRenderThreadSafety.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadSafety {
    /// One render at a time across all instances.
    Unsafe,
    /// One render at a time per instance (the spec's default).
    InstanceSafe,
    /// Concurrent renders on one instance.
    FullySafe,
}

impl ThreadSafety {
    pub fn from_ofx(s: &str) -> Option<ThreadSafety> {
        if s.as_bytes() == kOfxImageEffectRenderUnsafe.to_bytes() {
            Some(ThreadSafety::Unsafe)
        } else if s.as_bytes() == kOfxImageEffectRenderInstanceSafe.to_bytes() {
            Some(ThreadSafety::InstanceSafe)
        } else if s.as_bytes() == kOfxImageEffectRenderFullySafe.to_bytes() {
            Some(ThreadSafety::FullySafe)
        } else {
            None
        }
    }
}

/// Where an input clip's frames come from.
#[derive(Clone, Debug)]
pub enum ClipSource {
    /// In-memory frames by frame number (all the same size and format).
    Frames(BTreeMap<i64, HostImage>),
    /// A printf-style file sequence ('in/%04d.png'), frames `first..=last` (missing files read as absent frames).
    Sequence { pattern: String, first: i64, last: i64 },
}

/// Progress reported during a render.
#[derive(Clone, Debug, PartialEq)]
pub enum ProgressEvent {
    /// A frame finished (successfully or not); `done` of `total`.
    FrameDone { frame: i64, ok: bool, done: usize, total: usize },
    /// The plugin called progressStart.
    PluginStart { label: String, id: Option<String> },
    /// The plugin called progressUpdate.
    PluginUpdate { fraction: f64 },
    /// The plugin called progressEnd.
    PluginEnd,
}

pub type ProgressFn = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// Receives each frame on its render thread as soon as Render returns (its image, or why it failed), before
/// [`Instance::render`] returns: a caller can save frames while the rest render.
pub type FrameFn = Arc<dyn Fn(i64, &Result<HostImage, RenderFailure>) + Send + Sync>;

/// What to render.
#[derive(Clone)]
pub struct RenderRequest {
    /// Frames to render, in any order (they are dispatched in this order).
    pub frames: Vec<i64>,
    /// Pixel depth (default: the source's, else f32; must be one the plugin supports).
    pub depth: Option<Depth>,
    /// Output components (default: the source's, else RGBA).
    pub components: Option<Components>,
    /// Project size for sources-less contexts (generators); default 1920x1080.
    pub size: Option<(u32, u32)>,
    /// Render threads (frames rendered concurrently, subject to the plugin's thread safety).
    pub threads: usize,
    /// Render window in output pixel coordinates (x1, y1, x2, y2), clipped to the output bounds.
    pub render_window: Option<(i32, i32, i32, i32)>,
    pub render_scale: f64,
    /// Row layout of every image handed to the plugin.
    pub layout: RowLayout,
    pub progress: Option<ProgressFn>,
    /// Make abort() return true after this many plugin progressUpdate calls.
    pub abort_after_progress: Option<u64>,
    /// Frame rate reported to the plugin.
    pub frame_rate: f64,
    /// Called with each frame as soon as it is rendered.
    pub on_frame: Option<FrameFn>,
    /// With `on_frame`: false hands each rendered image to it only, so a long render does not
    /// hold every frame in memory; [`RenderOutput::handed_over`] lists those frames.
    pub keep_images: bool,
    /// Canonical position of the picture's lower-left corner (negative allowed): source regions of definition,
    /// source image bounds and the project offset all move by it, as when a host places a clip off the origin.
    pub origin: (i32, i32),
    /// Added to each frame's time as the plugin sees it: fractional times, as retiming hosts send. Outputs stay
    /// keyed by frame.
    pub time_offset: f64,
    /// Hands the plugin `render_window` as given instead of clipped to the output bounds (a lax host may ask for
    /// pixels outside the region of definition). The canary check still covers the whole image.
    pub unclipped_window: bool,
    /// The project's pixel aspect ratio: canonical x = pixel x × ratio (sources and output share it).
    pub pixel_aspect: f64,
}

impl Default for RenderRequest {
    fn default() -> Self {
        RenderRequest {
            frames: vec![0],
            depth: None,
            components: None,
            size: None,
            threads: 1,
            render_window: None,
            render_scale: 1.0,
            layout: RowLayout::default(),
            progress: None,
            abort_after_progress: None,
            frame_rate: 24.0,
            on_frame: None,
            keep_images: true,
            origin: (0, 0),
            time_offset: 0.0,
            unclipped_window: false,
            pixel_aspect: 1.0,
        }
    }
}

impl std::fmt::Debug for RenderRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderRequest")
            .field("frames", &self.frames)
            .field("depth", &self.depth)
            .field("components", &self.components)
            .field("size", &self.size)
            .field("threads", &self.threads)
            .field("render_window", &self.render_window)
            .field("render_scale", &self.render_scale)
            .field("layout", &self.layout)
            .field("abort_after_progress", &self.abort_after_progress)
            .field("frame_rate", &self.frame_rate)
            .field("origin", &self.origin)
            .field("time_offset", &self.time_offset)
            .field("unclipped_window", &self.unclipped_window)
            .field("pixel_aspect", &self.pixel_aspect)
            .finish()
    }
}

/// Why a frame did not render.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderFailure {
    /// The OFX status of the failing action (kOfxStatFailed for host-side reasons such as an abort).
    pub status: i32,
    pub message: String,
}

impl std::fmt::Display for RenderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, status_name(self.status))
    }
}

/// The result of [`Instance::render`].
#[derive(Clone, Debug)]
pub struct RenderOutput {
    /// Each requested frame: the output image (top-down, tightly packed; pixels outside the render window are 0)
    /// or why it failed.
    pub frames: BTreeMap<i64, Result<HostImage, RenderFailure>>,
    /// Frames rendered and handed to `on_frame` only (`keep_images: false`), not in `frames`.
    pub handed_over: Vec<i64>,
    /// Output RoD per frame in pixel coordinates (after render scale).
    pub bounds: BTreeMap<i64, Rect>,
    /// GetFramesNeeded answers per frame (source frame ranges), when the effect has temporal access.
    pub frames_needed: BTreeMap<i64, Vec<(f64, f64)>>,
    /// Violations recorded during this render.
    pub violations: Vec<Violation>,
    /// Messages posted during this render.
    pub messages: Vec<Message>,
    /// The render stopped early because abort was requested.
    pub aborted: bool,
    /// Output depth and components chosen by clip preferences.
    pub depth: Depth,
    pub components: Components,
}

impl RenderOutput {
    /// The frames that failed, with why.
    pub fn failures(&self) -> Vec<(i64, &RenderFailure)> {
        self.frames.iter().filter_map(|(f, r)| r.as_ref().err().map(|e| (*f, e))).collect()
    }
    /// The image of a frame, or an error naming why it is missing.
    pub fn image(&self, frame: i64) -> anyhow::Result<&HostImage> {
        match self.frames.get(&frame) {
            Some(Ok(img)) => Ok(img),
            Some(Err(e)) => anyhow::bail!("frame {frame} failed: {e}"),
            None => anyhow::bail!("frame {frame} was not rendered"),
        }
    }
}

/// The C name of a status code ("kOfxStatFailed"), or "invalid status N".
pub fn status_name(s: i32) -> String {
    let name = match s {
        0 => "kOfxStatOK",
        1 => "kOfxStatFailed",
        2 => "kOfxStatErrFatal",
        3 => "kOfxStatErrUnknown",
        4 => "kOfxStatErrMissingHostFeature",
        5 => "kOfxStatErrUnsupported",
        6 => "kOfxStatErrExists",
        7 => "kOfxStatErrFormat",
        8 => "kOfxStatErrMemory",
        9 => "kOfxStatErrBadHandle",
        10 => "kOfxStatErrBadIndex",
        11 => "kOfxStatErrValue",
        12 => "kOfxStatReplyYes",
        13 => "kOfxStatReplyNo",
        14 => "kOfxStatReplyDefault",
        1000 => "kOfxStatErrImageFormat",
        1001 => "kOfxStatGPUOutOfMemory",
        1002 => "kOfxStatGPURenderFailed",
        _ => return format!("invalid status {s}"),
    };
    name.to_owned()
}
