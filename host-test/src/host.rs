//! Loading bundles, describing their effects, and sending actions.

use std::collections::BTreeMap;
use std::ffi::{c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use ofx_abi::*;

use crate::diag::{self, ActionCtx, Diagnostics, Message, Violation, ViolationKind};
use crate::image::Depth;
use crate::objects::Effect;
use crate::params::{ParamInfo, ParamKind};
use crate::props::{PropSet, PropValue};
use crate::{status_name, suites, Components, Context, Instance, ThreadSafety};

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

/// Statuses an action may return besides the universal ones (OK, Failed, ErrFatal, ErrMemory).
fn allowed_statuses(action: &CStr) -> &'static [OfxStatus] {
    let a = action.to_bytes();
    if a == kOfxActionDescribe.to_bytes() || a == kOfxImageEffectActionDescribeInContext.to_bytes() {
        &[kOfxStatErrMissingHostFeature]
    } else if a == kOfxImageEffectActionRender.to_bytes() {
        &[kOfxStatErrImageFormat, kOfxStatGPUOutOfMemory, kOfxStatGPURenderFailed]
    } else if a == kOfxActionLoad.to_bytes() {
        &[kOfxStatReplyDefault, kOfxStatErrMissingHostFeature]
    } else {
        &[kOfxStatReplyDefault]
    }
}

fn is_valid_status(s: OfxStatus) -> bool {
    (0..=14).contains(&s) || (1000..=1002).contains(&s)
}

/// Sends one action, with this thread's context set so suites can attribute what they see, then checks the
/// returned status and reclaims (and reports) images the action did not release. Returns (status, action id).
pub(crate) fn call_action(
    rt: &PluginRt,
    action: &'static CStr,
    handle: *const c_void,
    in_args: Option<&Arc<PropSet>>,
    out_args: Option<&Arc<PropSet>>,
    instance: Option<&Arc<Effect>>,
    frame: Option<i64>,
) -> (OfxStatus, u64) {
    let action_id = diag::next_action_id();
    let ctx = ActionCtx {
        diag: rt.diag.clone(),
        plugin: rt.id.clone(),
        action: Arc::from(action.to_string_lossy().as_ref()),
        frame,
        action_id,
    };
    let in_h = in_args.map(|p| p.handle()).unwrap_or(std::ptr::null_mut());
    let out_h = out_args.map(|p| p.handle()).unwrap_or(std::ptr::null_mut());
    let entry = rt.entry;
    diag::with_ctx(ctx, || {
        // SAFETY: calling the plugin's entry point with live host handles, as the OFX API defines.
        let status = unsafe { entry(action.as_ptr(), handle, in_h, out_h) };
        let name = diag::short_action(&action.to_string_lossy()).to_owned();
        if !is_valid_status(status) {
            diag::report(ViolationKind::InvalidStatus, format!("{name} returned {status}, which is not an OFX status"));
        } else if ![kOfxStatOK, kOfxStatFailed, kOfxStatErrFatal, kOfxStatErrMemory].contains(&status)
            && !allowed_statuses(action).contains(&status)
        {
            diag::report(
                ViolationKind::StatusNotAllowed,
                format!("{name} returned {}, which it may not return", status_name(status)),
            );
        }
        if let Some(e) = instance {
            let leaked: Vec<_> = {
                let mut live = e.st.live_images.lock();
                let keys: Vec<usize> = live.iter().filter(|(_, i)| i.action_id == action_id).map(|(k, _)| *k).collect();
                keys.into_iter().filter_map(|k| live.remove(&k)).collect()
            };
            for img in leaked {
                diag::report(
                    ViolationKind::ImageLeak,
                    format!(
                        "the '{}' image fetched at time {} was not released by the end of {name}",
                        img.clip, img.time
                    ),
                );
                suites::finish_image(&img);
            }
        }
        (status, action_id)
    })
}

/// The host description (read-only for plugins): everything the C++ Support library requires.
fn host_description() -> Arc<PropSet> {
    let p = PropSet::read_only("host");
    p.set_cstr(kOfxPropType, kOfxTypeImageEffectHost);
    p.set_str(kOfxPropName, "com.kinema.host");
    p.set_str(kOfxPropLabel, "Kinema strict host");
    p.set_ints(kOfxPropAPIVersion, &[1, 4]);
    p.set_ints(kOfxPropVersion, &[0, 1, 0]);
    p.set_str(kOfxPropVersionLabel, env!("CARGO_PKG_VERSION"));
    p.set_int(kOfxImageEffectHostPropIsBackground, 0);
    p.set_int(kOfxImageEffectPropSupportsOverlays, 0);
    p.set_int(kOfxImageEffectPropSupportsMultiResolution, 1);
    p.set_int(kOfxImageEffectPropSupportsTiles, 1);
    p.set_int(kOfxImageEffectPropTemporalClipAccess, 1);
    p.set_int(kOfxImageEffectPropSupportsMultipleClipDepths, 0);
    p.set_int(kOfxImageEffectPropSupportsMultipleClipPARs, 0);
    p.set_int(kOfxImageEffectPropSetableFrameRate, 0);
    p.set_int(kOfxImageEffectPropSetableFielding, 0);
    p.set_int(kOfxParamHostPropSupportsStringAnimation, 0);
    p.set_int(kOfxParamHostPropSupportsChoiceAnimation, 0);
    p.set_int(kOfxParamHostPropSupportsBooleanAnimation, 0);
    p.set_int(kOfxParamHostPropSupportsCustomAnimation, 0);
    p.set_int(kOfxParamHostPropSupportsCustomInteract, 0);
    p.set_int(kOfxParamHostPropMaxParameters, -1);
    p.set_int(kOfxParamHostPropMaxPages, 0);
    p.set_ints(kOfxParamHostPropPageRowColumnCount, &[0, 0]);
    p.set_cstrs(
        kOfxImageEffectPropSupportedComponents,
        &[kOfxImageComponentRGBA, kOfxImageComponentRGB, kOfxImageComponentAlpha],
    );
    p.set_cstrs(kOfxImageEffectPropSupportedContexts, &Context::HOST.map(Context::ofx));
    p.set_cstrs(kOfxImageEffectPropSupportedPixelDepths, &[kOfxBitDepthFloat, kOfxBitDepthShort, kOfxBitDepthByte]);
    p.set_int(kOfxImageEffectInstancePropSequentialRender, 0);
    p.set_cstr(kOfxImageEffectHostPropNativeOrigin, kOfxHostNativeOriginBottomLeft);
    p
}

/// Spec defaults of an effect descriptor.
fn descriptor_defaults(p: &PropSet, path: &Path) {
    p.set_cstr(kOfxPropType, kOfxTypeImageEffect);
    p.set_str(kOfxPropLabel, "");
    p.set_str(kOfxPropShortLabel, "");
    p.set_str(kOfxPropLongLabel, "");
    p.set_str(kOfxPropVersionLabel, "");
    p.set_str(kOfxPropPluginDescription, "");
    p.put(kOfxImageEffectPropSupportedContexts, PropValue::String(vec![]));
    p.put(kOfxImageEffectPropSupportedPixelDepths, PropValue::String(vec![]));
    p.set_str(kOfxImageEffectPluginPropGrouping, "");
    p.set_int(kOfxImageEffectPluginPropSingleInstance, 0);
    p.set_cstr(kOfxImageEffectPluginRenderThreadSafety, kOfxImageEffectRenderInstanceSafe);
    p.set_int(kOfxImageEffectPluginPropHostFrameThreading, 1);
    p.set_pointer(kOfxImageEffectPluginPropOverlayInteractV1, std::ptr::null_mut());
    p.set_int(kOfxImageEffectPropSupportsMultiResolution, 1);
    p.set_int(kOfxImageEffectPropSupportsTiles, 1);
    p.set_int(kOfxImageEffectPropTemporalClipAccess, 0);
    p.set_int(kOfxImageEffectPluginPropFieldRenderTwiceAlways, 1);
    p.set_int(kOfxImageEffectPropSupportsMultipleClipDepths, 0);
    p.set_int(kOfxImageEffectPropSupportsMultipleClipPARs, 0);
    p.put(kOfxImageEffectPropClipPreferencesSlaveParam, PropValue::String(vec![]));
    p.put_ro(
        kOfxPluginPropFilePath,
        PropValue::String(vec![std::ffi::CString::new(path.to_string_lossy().as_bytes()).unwrap_or_default()]),
    );
}

/// The plugin binary inside a bundle directory, or the path itself when it is a file.
fn bundle_binary(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        bail!("bundle not found: {}", path.display());
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some(stem) = name.strip_suffix(".ofx.bundle") else {
        bail!("{} is not an OFX bundle (its name must end in .ofx.bundle)", path.display());
    };
    let arch = format!("Linux-{}", std::env::consts::ARCH.replace("x86_64", "x86-64"));
    let bin = path.join("Contents").join(&arch).join(format!("{stem}.ofx"));
    if !bin.is_file() {
        bail!("bundle {} has no binary at {}", path.display(), bin.display());
    }
    Ok(bin)
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

    /// Loads a bundle (a `.ofx.bundle` directory, or a plugin binary) and describes every effect in it.
    pub fn load_bundle(&self, path: &Path) -> Result<Bundle> {
        let binary = bundle_binary(path)?;
        // SAFETY: loading a plugin runs its initialisers; that is what a host does.
        let library: libloading::Library = unsafe {
            libloading::os::unix::Library::open(
                Some(&binary),
                libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL,
            )
        }
        .with_context(|| format!("cannot load plugin binary {}", binary.display()))?
        .into();
        let diag = Arc::new(Diagnostics::default());
        diag.strict.store(self.strict, Ordering::SeqCst);
        let host_props = host_description();
        let mut ofx_host = Box::new(OfxHost { host: host_props.handle(), fetchSuite: Some(suites::fetch_suite) });
        let host_ptr: *mut OfxHost = &mut *ofx_host;

        // SAFETY: symbols are looked up with the types the OFX API gives them.
        unsafe {
            if let Ok(set_host) = library.get::<OfxSetHostFn>(b"OfxSetHost\0") {
                let st = set_host(host_ptr);
                if st != kOfxStatOK && st != kOfxStatReplyDefault {
                    bail!("OfxSetHost failed with {}", status_name(st));
                }
            }
        }
        let (get_count, get_plugin) = unsafe {
            let n = library
                .get::<OfxGetNumberOfPluginsFn>(b"OfxGetNumberOfPlugins\0")
                .with_context(|| format!("{} does not export OfxGetNumberOfPlugins", binary.display()))?;
            let g = library
                .get::<OfxGetPluginFn>(b"OfxGetPlugin\0")
                .with_context(|| format!("{} does not export OfxGetPlugin", binary.display()))?;
            (*n, *g)
        };
        // SAFETY: plugin-exported function with the OFX signature.
        let count = unsafe { get_count() };
        if count < 0 {
            bail!("OfxGetNumberOfPlugins returned {count}");
        }
        let mut plugins = Vec::new();
        let mut infos = Vec::new();
        let mut load_errors = Vec::new();
        for i in 0..count {
            match unsafe { load_plugin(get_plugin, i, host_ptr, &diag, path) } {
                Ok(rt) => {
                    infos.push(rt.info.clone());
                    plugins.push(rt);
                }
                Err(e) => load_errors.push(format!("plugin #{i}: {e:#}")),
            }
        }
        let inner = Arc::new(BundleInner {
            path: path.to_path_buf(),
            diag,
            plugins,
            infos,
            live_instances: AtomicUsize::new(0),
            load_errors,
            _ofx_host: ofx_host,
            _host_props: host_props,
            library,
        });
        if inner.plugins.is_empty() {
            let why = if inner.load_errors.is_empty() {
                "it contains no plugins".to_owned()
            } else {
                inner.load_errors.join("; ")
            };
            bail!("no effect of {} could be loaded: {why}", path.display());
        }
        Ok(Bundle { inner })
    }
}

/// Runs the spec's load sequence for plugin `i`: OfxGetPlugin, API check, setHost, Load, Describe,
/// DescribeInContext for each context both sides support.
unsafe fn load_plugin(
    get_plugin: OfxGetPluginFn,
    i: i32,
    host: *mut OfxHost,
    diag: &Arc<Diagnostics>,
    path: &Path,
) -> Result<Arc<PluginRt>> {
    // SAFETY (whole fn): reads the plugin's static OfxPlugin struct, as the API defines.
    let p = unsafe { get_plugin(i) };
    if p.is_null() {
        bail!("OfxGetPlugin({i}) returned NULL");
    }
    let plugin = unsafe { *p };
    let api = if plugin.pluginApi.is_null() {
        ""
    } else {
        unsafe { CStr::from_ptr(plugin.pluginApi) }.to_str().unwrap_or("")
    };
    if api.as_bytes() != kOfxImageEffectPluginApi.to_bytes() || plugin.apiVersion != kOfxImageEffectPluginApiVersion {
        bail!("unsupported plugin API '{api}' version {}", plugin.apiVersion);
    }
    if plugin.pluginIdentifier.is_null() {
        bail!("plugin has a NULL identifier");
    }
    let id: Arc<str> = Arc::from(unsafe { CStr::from_ptr(plugin.pluginIdentifier) }.to_string_lossy().as_ref());
    let entry = plugin.mainEntry.ok_or_else(|| anyhow!("{id}: mainEntry is NULL"))?;
    let set_host = plugin.setHost.ok_or_else(|| anyhow!("{id}: setHost is NULL"))?;
    unsafe { set_host(host) };

    let desc = Effect::new_descriptor(id.clone(), diag.clone());
    descriptor_defaults(&desc.props, path);
    let mut rt = PluginRt {
        id: id.clone(),
        entry,
        diag: diag.clone(),
        ctx_descs: Vec::new(),
        info: empty_info(&id, (plugin.pluginVersionMajor, plugin.pluginVersionMinor)),
        unloaded: AtomicBool::new(false),
        _desc: desc.clone(),
    };
    let (st, _) = call_action(&rt, kOfxActionLoad, std::ptr::null(), None, None, None, None);
    if st != kOfxStatOK && st != kOfxStatReplyDefault {
        rt.unloaded.store(true, Ordering::SeqCst); // a failed Load is not followed by Unload
        bail!("{id}: Load failed with {}", status_name(st));
    }
    let rt_fail = |rt: &PluginRt| {
        let _ = call_action(rt, kOfxActionUnload, std::ptr::null(), None, None, None, None);
        rt.unloaded.store(true, Ordering::SeqCst);
    };
    let (st, _) = call_action(&rt, kOfxActionDescribe, desc.handle() as *const c_void, None, None, None, None);
    if st != kOfxStatOK {
        rt_fail(&rt);
        bail!("{id}: Describe failed with {}", status_name(st));
    }
    let declared = desc.props.strings(kOfxImageEffectPropSupportedContexts).unwrap_or_default();
    let mut errors = Vec::new();
    for ctx in Context::HOST {
        if !declared.iter().any(|c| c.as_bytes() == ctx.ofx().to_bytes()) {
            continue;
        }
        let cdesc = Effect::new_descriptor(id.clone(), diag.clone());
        cdesc.props.copy_from(&desc.props);
        cdesc.props.put_ro(kOfxImageEffectPropContext, PropValue::String(vec![ctx.ofx().to_owned()]));
        let in_args = PropSet::read_only("DescribeInContext inArgs");
        in_args.set_cstr(kOfxImageEffectPropContext, ctx.ofx());
        let (st, _) = call_action(
            &rt,
            kOfxImageEffectActionDescribeInContext,
            cdesc.handle() as *const c_void,
            Some(&in_args),
            None,
            None,
            None,
        );
        if st == kOfxStatOK {
            rt.ctx_descs.push((ctx, cdesc));
        } else {
            errors.push(format!("DescribeInContext({ctx}) failed with {}", status_name(st)));
        }
    }
    if rt.ctx_descs.is_empty() {
        rt_fail(&rt);
        if errors.is_empty() {
            bail!("{id}: none of its contexts ({}) is supported by this host", declared.join(", "));
        }
        bail!("{id}: {}", errors.join("; "));
    }
    rt.info = build_info(&id, (plugin.pluginVersionMajor, plugin.pluginVersionMinor), &desc, &rt.ctx_descs);
    Ok(Arc::new(rt))
}

fn empty_info(id: &str, version: (u32, u32)) -> PluginInfo {
    PluginInfo {
        id: id.to_owned(),
        label: String::new(),
        group: String::new(),
        description: String::new(),
        version,
        contexts: Vec::new(),
        params: Vec::new(),
        params_by_context: BTreeMap::new(),
        clips: BTreeMap::new(),
        supported_depths: Vec::new(),
        render_thread_safety: ThreadSafety::InstanceSafe,
        temporal_clip_access: false,
        supports_tiles: true,
        supports_multi_resolution: true,
        supports_multiple_clip_depths: false,
        host_frame_threading: true,
    }
}

/// Parameter descriptions of an effect, with each parameter's page filled in.
pub(crate) fn param_infos(e: &Effect) -> Vec<ParamInfo> {
    let params = e.params.params.read().clone();
    let mut infos: Vec<ParamInfo> = params.iter().map(|p| ParamInfo::from_props(&p.name, p.kind, &p.props)).collect();
    for page in params.iter().filter(|p| p.kind == ParamKind::Page) {
        for child in page.props.strings(kOfxParamPropPageChild).unwrap_or_default() {
            if let Some(i) = infos.iter_mut().find(|i| i.name == child && i.page.is_empty()) {
                i.page = page.name.clone();
            }
        }
    }
    infos
}

fn build_info(id: &str, version: (u32, u32), desc: &Effect, ctxs: &[(Context, Arc<Effect>)]) -> PluginInfo {
    let p = &desc.props;
    let mut info = empty_info(id, version);
    info.label = p.string(kOfxPropLabel).filter(|s| !s.is_empty()).unwrap_or_else(|| id.to_owned());
    info.group = p.string(kOfxImageEffectPluginPropGrouping).unwrap_or_default();
    info.description = p.string(kOfxPropPluginDescription).unwrap_or_default();
    info.supported_depths = p
        .strings(kOfxImageEffectPropSupportedPixelDepths)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| Depth::from_ofx(d))
        .collect();
    info.render_thread_safety = p
        .string(kOfxImageEffectPluginRenderThreadSafety)
        .and_then(|s| ThreadSafety::from_ofx(&s))
        .unwrap_or(ThreadSafety::InstanceSafe);
    info.temporal_clip_access = p.int(kOfxImageEffectPropTemporalClipAccess).unwrap_or(0) != 0;
    info.supports_tiles = p.int(kOfxImageEffectPropSupportsTiles).unwrap_or(1) != 0;
    info.supports_multi_resolution = p.int(kOfxImageEffectPropSupportsMultiResolution).unwrap_or(1) != 0;
    info.supports_multiple_clip_depths = p.int(kOfxImageEffectPropSupportsMultipleClipDepths).unwrap_or(0) != 0;
    info.host_frame_threading = p.int(kOfxImageEffectPluginPropHostFrameThreading).unwrap_or(1) != 0;
    for (ctx, e) in ctxs {
        info.contexts.push(*ctx);
        info.params_by_context.insert(*ctx, param_infos(e));
        let clips = e
            .clip_descs
            .lock()
            .iter()
            .map(|(name, cp)| ClipInfo {
                name: name.clone(),
                label: cp.string(kOfxPropLabel).unwrap_or_else(|| name.clone()),
                supported_components: cp
                    .strings(kOfxImageEffectPropSupportedComponents)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| Components::from_ofx(c))
                    .collect(),
                temporal_access: cp.int(kOfxImageEffectPropTemporalClipAccess).unwrap_or(0) != 0,
                optional: cp.int(kOfxImageClipPropOptional).unwrap_or(0) != 0,
                is_mask: cp.int(kOfxImageClipPropIsMask).unwrap_or(0) != 0,
                supports_tiles: cp.int(kOfxImageEffectPropSupportsTiles).unwrap_or(1) != 0,
            })
            .collect();
        info.clips.insert(*ctx, clips);
    }
    info.params = info.params_by_context.values().next().cloned().unwrap_or_default();
    info
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
