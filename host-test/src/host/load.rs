//! Loading a bundle: the plugin binary, the host description, and the spec's load sequence for each
//! plugin (OfxGetPlugin, setHost, Load, Describe, DescribeInContext).

use std::ffi::{c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use ofx_abi::*;

use super::describe::{build_info, descriptor_defaults, empty_info};
use super::{call_action, Bundle, BundleInner, Host, PluginRt};
use crate::diag::{Diagnostics, Violation, ViolationKind};
use crate::objects::Effect;
use crate::props::{PropSet, PropValue};
use crate::{status_name, suites, Context};

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
    // Renders on the CPU only (ofxGPURender.h).
    p.set_str(kOfxImageEffectPropCPURenderSupported, "true");
    for gpu in [
        kOfxImageEffectPropOpenGLRenderSupported,
        kOfxImageEffectPropCudaRenderSupported,
        kOfxImageEffectPropMetalRenderSupported,
        kOfxImageEffectPropOpenCLRenderSupported,
        kOfxImageEffectPropOpenCLSupported,
    ] {
        p.set_str(gpu, "false");
    }
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
        // SAFETY: the symbols are looked up with the types the OFX API gives them, and copied out as plain
        // function pointers: `library` outlives every call through them (BundleInner drops it last).
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
            // SAFETY: `get_plugin` is the plugin's OfxGetPlugin, `i` is below its plugin count, and `host_ptr`
            // points at the boxed OfxHost that BundleInner keeps for as long as the library is loaded.
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
///
/// # Safety
/// `get_plugin` is the loaded library's OfxGetPlugin, `i` is below its plugin count, and `host` stays valid
/// for as long as the library is loaded.
unsafe fn load_plugin(
    get_plugin: OfxGetPluginFn,
    i: i32,
    host: *mut OfxHost,
    diag: &Arc<Diagnostics>,
    path: &Path,
) -> Result<Arc<PluginRt>> {
    // SAFETY: OfxGetPlugin with an index below the plugin count (the caller's contract).
    let p = unsafe { get_plugin(i) };
    if p.is_null() {
        bail!("OfxGetPlugin({i}) returned NULL");
    }
    // SAFETY: a non-NULL OfxGetPlugin result points at the plugin's static OfxPlugin struct.
    let plugin = unsafe { *p };
    let api = if plugin.pluginApi.is_null() {
        ""
    } else {
        // SAFETY: a non-NULL pluginApi is a NUL-terminated static string, as the API defines.
        unsafe { CStr::from_ptr(plugin.pluginApi) }.to_str().unwrap_or("")
    };
    if api.as_bytes() != kOfxImageEffectPluginApi.to_bytes() || plugin.apiVersion != kOfxImageEffectPluginApiVersion {
        bail!("unsupported plugin API '{api}' version {}", plugin.apiVersion);
    }
    if plugin.pluginIdentifier.is_null() {
        bail!("plugin has a NULL identifier");
    }
    // SAFETY: a non-NULL pluginIdentifier is a NUL-terminated static string, as the API defines.
    let id: Arc<str> = Arc::from(unsafe { CStr::from_ptr(plugin.pluginIdentifier) }.to_string_lossy().as_ref());
    let entry = plugin.mainEntry.ok_or_else(|| anyhow!("{id}: mainEntry is NULL"))?;
    let set_host = plugin.setHost.ok_or_else(|| anyhow!("{id}: setHost is NULL"))?;
    // SAFETY: the plugin's setHost with the host struct, valid while the library is loaded (the caller's
    // contract).
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
    for bad in &rt.info.render_support.invalid {
        diag.violations.lock().push(Violation {
            kind: ViolationKind::BadArgument,
            action: "Describe".into(),
            frame: None,
            plugin: id.to_string(),
            message: format!("render support {bad} is not a value the spec allows (read as the default)"),
        });
    }
    Ok(Arc::new(rt))
}
