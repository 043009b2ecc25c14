//! The host: loading bundles ([`load`]), describing their effects ([`describe`]), sending actions
//! ([`action`]), and the [`Bundle`] callers create instances from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use ofx_abi::*;

use crate::diag::{self, Diagnostics, Message, Violation, ViolationKind};
use crate::image::Depth;
use crate::objects::Effect;
use crate::params::ParamInfo;
use crate::props::PropSet;
use crate::{status_name, suites, Components, Context, Instance, ThreadSafety};

mod action;
mod describe;
mod load;

pub(crate) use action::call_action;
pub(crate) use describe::param_infos;

/// The host. Each bundle carries its own host description and diagnostics; the host only holds the options
/// bundles are loaded with.
#[derive(Default, Debug)]
pub struct Host {
    strict: bool,
}

/// A clip as described in one context.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipInfo {
    pub name: String,
    pub label: String,
    pub supported_components: Vec<Components>,
    pub temporal_access: bool,
    pub optional: bool,
    pub is_mask: bool,
    pub supports_tiles: bool,
}

/// An effect as described by Describe and DescribeInContext.
#[derive(Clone, Debug)]
pub struct PluginInfo {
    pub id: String,
    pub label: String,
    pub group: String,
    pub description: String,
    pub version: (u32, u32),
    /// Contexts both the plugin and this host support, that described successfully.
    pub contexts: Vec<Context>,
    /// Parameters of the first context (they rarely differ between contexts).
    pub params: Vec<ParamInfo>,
    pub params_by_context: BTreeMap<Context, Vec<ParamInfo>>,
    pub clips: BTreeMap<Context, Vec<ClipInfo>>,
    /// Empty when the plugin did not say (then any host depth is allowed).
    pub supported_depths: Vec<Depth>,
    pub render_thread_safety: ThreadSafety,
    pub temporal_clip_access: bool,
    pub supports_tiles: bool,
    pub supports_multi_resolution: bool,
    pub supports_multiple_clip_depths: bool,
    pub host_frame_threading: bool,
    /// The render paths the effect declared (CPU, OpenGL, CUDA, Metal, OpenCL).
    pub render_support: RenderSupport,
}

/// How an effect supports one GPU API (`"false"`, `"true"` or `"needed"` in its descriptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GpuSupport {
    #[default]
    No,
    Yes,
    /// It cannot render without this API.
    Needed,
}

impl GpuSupport {
    pub fn from_ofx(s: &str) -> Option<GpuSupport> {
        match s {
            "false" => Some(GpuSupport::No),
            "true" => Some(GpuSupport::Yes),
            "needed" => Some(GpuSupport::Needed),
            _ => None,
        }
    }
}

/// The render-support properties of an effect descriptor (ofxGPURender.h, OFX 1.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderSupport {
    /// kOfxImageEffectPropCPURenderSupported (default "true").
    pub cpu: bool,
    pub opengl: GpuSupport,
    pub cuda: GpuSupport,
    pub metal: GpuSupport,
    /// kOfxImageEffectPropOpenCLRenderSupported (OpenCL buffers).
    pub opencl: GpuSupport,
    /// kOfxImageEffectPropOpenCLSupported (OpenCL images).
    pub opencl_images: GpuSupport,
    /// Values the spec does not allow, as "property = value".
    pub invalid: Vec<String>,
}

impl Default for RenderSupport {
    fn default() -> Self {
        RenderSupport {
            cpu: true,
            opengl: GpuSupport::No,
            cuda: GpuSupport::No,
            metal: GpuSupport::No,
            opencl: GpuSupport::No,
            opencl_images: GpuSupport::No,
            invalid: Vec::new(),
        }
    }
}

impl RenderSupport {
    /// Each GPU API with its descriptor property and how the effect supports it.
    pub fn gpu_apis(&self) -> [(&'static str, &'static str, GpuSupport); 5] {
        [
            ("OpenGL", "kOfxImageEffectPropOpenGLRenderSupported", self.opengl),
            ("CUDA", "kOfxImageEffectPropCudaRenderSupported", self.cuda),
            ("Metal", "kOfxImageEffectPropMetalRenderSupported", self.metal),
            ("OpenCL", "kOfxImageEffectPropOpenCLRenderSupported", self.opencl),
            ("OpenCL images", "kOfxImageEffectPropOpenCLSupported", self.opencl_images),
        ]
    }

    /// Why this host (which renders on the CPU only) cannot render the effect, or None when it can.
    pub fn cpu_refusal(&self) -> Option<String> {
        let needed: Vec<String> = self
            .gpu_apis()
            .iter()
            .filter(|(_, _, s)| *s == GpuSupport::Needed)
            .map(|(api, prop, _)| format!("{api} ({prop} = \"needed\")"))
            .collect();
        if !needed.is_empty() {
            return Some(format!("it needs {}, and this host renders on the CPU only", needed.join(" and ")));
        }
        if !self.cpu {
            let gpus: Vec<&str> =
                self.gpu_apis().iter().filter(|(_, _, s)| *s != GpuSupport::No).map(|(api, _, _)| *api).collect();
            let gpus =
                if gpus.is_empty() { "no GPU API either".to_owned() } else { format!("only {}", gpus.join(", ")) };
            return Some(format!(
                "it does not render on the CPU (kOfxImageEffectPropCPURenderSupported = \"false\") and supports {gpus}; \
                 this host renders on the CPU only"
            ));
        }
        None
    }

    /// "CPU, CUDA (optional)" and the like, for listings.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.cpu {
            parts.push("CPU".to_owned());
        }
        for (api, _, s) in self.gpu_apis() {
            match s {
                GpuSupport::Yes => parts.push(api.to_owned()),
                GpuSupport::Needed => parts.push(format!("{api} (needed)")),
                GpuSupport::No => {}
            }
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

impl PluginInfo {
    pub fn param(&self, name: &str) -> Option<&ParamInfo> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// One plugin of a loaded bundle.
pub(crate) struct PluginRt {
    pub id: Arc<str>,
    pub entry: OfxPluginEntryPoint,
    pub diag: Arc<Diagnostics>,
    pub ctx_descs: Vec<(Context, Arc<Effect>)>,
    pub info: PluginInfo,
    pub unloaded: AtomicBool,
    _desc: Arc<Effect>,
}

pub(crate) struct BundleInner {
    pub path: PathBuf,
    pub diag: Arc<Diagnostics>,
    pub plugins: Vec<Arc<PluginRt>>,
    pub infos: Vec<PluginInfo>,
    pub live_instances: AtomicUsize,
    pub load_errors: Vec<String>,
    /// The host struct and description the plugins hold pointers to.
    _ofx_host: Box<OfxHost>,
    _host_props: Arc<PropSet>,
    /// Dropped last: plugin code must outlive every call into it.
    library: libloading::Library,
}

impl BundleInner {
    fn unload_plugins(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for rt in &self.plugins {
            if rt.unloaded.swap(true, Ordering::SeqCst) {
                continue;
            }
            let (st, _) = call_action(rt, kOfxActionUnload, std::ptr::null(), None, None, None, None);
            if st != kOfxStatOK && st != kOfxStatReplyDefault {
                errors.push(format!("{}: Unload returned {}", rt.id, status_name(st)));
            }
        }
        let (blocks, bytes) = suites::reclaim_leaks(0, Arc::as_ptr(&self.diag) as usize);
        if blocks > 0 {
            self.diag.violations.lock().push(Violation {
                kind: ViolationKind::MemoryLeak,
                action: "Unload".into(),
                frame: None,
                plugin: String::new(),
                message: format!(
                    "{blocks} memoryAlloc block(s) ({bytes} bytes) allocated without an instance were never freed"
                ),
            });
        }
        errors
    }
}

impl Drop for BundleInner {
    fn drop(&mut self) {
        let _ = self.unload_plugins();
    }
}

/// A loaded bundle: its described effects, messages and violations.
pub struct Bundle {
    pub(crate) inner: Arc<BundleInner>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle").field("path", &self.inner.path).field("plugins", &self.inner.infos.len()).finish()
    }
}

impl Host {
    pub fn new() -> Host {
        Host::default()
    }

    /// Strict mode for the bundles this host loads: besides being recorded as violations, parameter writes
    /// during a render action are refused with kOfxStatFailed (by default they are only recorded).
    pub fn strict(mut self, on: bool) -> Host {
        self.strict = on;
        self
    }

    /// The directories searched for bundles: OFX_PLUGIN_PATH (':'-separated), then /usr/OFX/Plugins.
    pub fn search_path() -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::env::var_os("OFX_PLUGIN_PATH")
            .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
            .unwrap_or_default();
        dirs.push(PathBuf::from("/usr/OFX/Plugins"));
        dirs
    }

    /// Every `*.ofx.bundle` in `dirs`, in order: each directory's bundles sorted by name, then those in its
    /// sub-folders (`depth` levels deep, never inside bundles); a directory that is itself a bundle counts.
    /// Paths that lead to the same bundle are listed once.
    pub fn scan_bundles(dirs: &[PathBuf], depth: usize) -> Vec<PathBuf> {
        fn is_bundle(p: &Path) -> bool {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".ofx.bundle")) && p.is_dir()
        }
        fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
            let Ok(rd) = std::fs::read_dir(dir) else { return };
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            let (bundles, others): (Vec<PathBuf>, Vec<PathBuf>) = entries.into_iter().partition(|p| is_bundle(p));
            out.extend(bundles);
            if depth > 0 {
                for d in others.iter().filter(|p| p.is_dir()) {
                    walk(d, depth - 1, out);
                }
            }
        }
        let mut found = Vec::new();
        for d in dirs {
            if is_bundle(d) {
                found.push(d.clone());
            } else {
                walk(d, depth, &mut found);
            }
        }
        let mut seen = std::collections::HashSet::new();
        found.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
        found
    }

    /// Finds `NAME.ofx.bundle` (or `name` itself if it already ends in .ofx.bundle) in [`Host::search_path`].
    pub fn find_bundle(name: &str) -> Result<PathBuf> {
        Self::find_bundle_in(name, &Self::search_path())
    }

    /// Finds a bundle in the given directories (a directory that *is* the bundle also matches).
    pub fn find_bundle_in(name: &str, dirs: &[PathBuf]) -> Result<PathBuf> {
        let file = if name.ends_with(".ofx.bundle") { name.to_owned() } else { format!("{name}.ofx.bundle") };
        for d in dirs {
            if d.file_name().and_then(|n| n.to_str()) == Some(file.as_str()) && d.is_dir() {
                return Ok(d.clone());
            }
            let candidate = d.join(&file);
            if candidate.is_dir() {
                return Ok(candidate);
            }
        }
        bail!("{file} not found in {}", dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "))
    }
}

impl Bundle {
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
    /// Turns strict mode on or off for this bundle (see [`Host::strict`]).
    pub fn set_strict(&self, on: bool) {
        self.inner.diag.strict.store(on, Ordering::SeqCst);
    }
    pub fn is_strict(&self) -> bool {
        self.inner.diag.is_strict()
    }
    pub fn plugins(&self) -> &[PluginInfo] {
        &self.inner.infos
    }
    pub fn plugin(&self, id: &str) -> Result<&PluginInfo> {
        self.inner.infos.iter().find(|p| p.id == id).ok_or_else(|| {
            let ids: Vec<&str> = self.inner.infos.iter().map(|p| p.id.as_str()).collect();
            anyhow!("no effect '{id}' in {} (it has: {})", self.inner.path.display(), ids.join(", "))
        })
    }
    /// Plugins of the bundle that failed to load or describe, with why.
    pub fn load_errors(&self) -> &[String] {
        &self.inner.load_errors
    }
    /// The plugin binary, to look up plugin-specific symbols.
    pub fn library(&self) -> &libloading::Library {
        &self.inner.library
    }

    /// Kinema's runtime self-check: calls the plugin's `KinemaRuntimeReport` export (ONNX Runtime
    /// location, environment, and optionally one run of `model`) and parses its JSON.
    pub fn runtime_report(&self, model: Option<&Path>) -> Result<serde_json::Value> {
        type ReportFn = unsafe extern "C" fn(
            model_path: *const std::ffi::c_char,
            buf: *mut std::ffi::c_char,
            buf_len: usize,
        ) -> usize;
        // SAFETY: Kinema documents this signature for the symbol.
        let report: ReportFn = unsafe {
            *self
                .library()
                .get::<ReportFn>(b"KinemaRuntimeReport\0")
                .with_context(|| format!("{} does not export KinemaRuntimeReport", self.path().display()))?
        };
        let model = model
            .map(|m| {
                std::ffi::CString::new(m.as_os_str().as_encoded_bytes())
                    .map_err(|_| anyhow!("model path contains a NUL byte"))
            })
            .transpose()?;
        let model_ptr = model.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: buf is writable for buf.len() bytes.
            let needed = unsafe { report(model_ptr, buf.as_mut_ptr().cast(), buf.len()) };
            if needed == 0 {
                bail!("KinemaRuntimeReport failed inside the plugin");
            }
            if needed <= buf.len() {
                let text =
                    std::str::from_utf8(&buf[..needed - 1]).context("KinemaRuntimeReport returned invalid UTF-8")?;
                return serde_json::from_str(text).context("KinemaRuntimeReport returned invalid JSON");
            }
            if needed > 64 << 20 {
                bail!("KinemaRuntimeReport asked for an unreasonable {needed} bytes");
            }
            buf = vec![0u8; needed];
        }
    }
    pub fn messages(&self) -> Vec<Message> {
        self.inner.diag.messages.lock().clone()
    }
    /// Every violation so far, including ones seen on threads with no action running.
    pub fn violations(&self) -> Vec<Violation> {
        let mut v = self.inner.diag.violations.lock().clone();
        v.extend(diag::orphans().lock().iter().cloned());
        v
    }

    /// Creates an instance (sends CreateInstance).
    pub fn create_instance(&self, id: &str, context: Context) -> Result<Instance> {
        self.plugin(id)?;
        let rt =
            self.inner.plugins.iter().find(|p| &*p.id == id).cloned().ok_or_else(|| anyhow!("no effect '{id}'"))?;
        if let Some(why) = rt.info.render_support.cpu_refusal() {
            bail!("effect '{id}' cannot render on this host: {why}");
        }
        let Some((_, desc)) = rt.ctx_descs.iter().find(|(c, _)| *c == context) else {
            let ctxs: Vec<&str> = rt.info.contexts.iter().map(|c| c.name()).collect();
            bail!("effect '{id}' does not support the {context} context (it supports: {})", ctxs.join(", "));
        };
        Instance::create(self.inner.clone(), rt.clone(), desc, context)
    }

    /// Sends Unload to every plugin. Fails if instances are still alive, if Unload failed, or if unload found
    /// leaks.
    pub fn unload(self) -> Result<()> {
        let live = self.inner.live_instances.load(Ordering::SeqCst);
        if live > 0 {
            bail!("cannot unload {}: {live} instance(s) are still alive", self.inner.path.display());
        }
        let before = self.inner.diag.violations.lock().len();
        let errors = self.inner.unload_plugins();
        let new: Vec<String> = self.inner.diag.violations.lock()[before..].iter().map(|v| v.to_string()).collect();
        if !errors.is_empty() || !new.is_empty() {
            bail!("unload: {}", errors.into_iter().chain(new).collect::<Vec<_>>().join("; "));
        }
        Ok(())
    }
}
