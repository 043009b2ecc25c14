//! What the host reads from descriptors: the spec's defaults of an effect descriptor, and the
//! [`PluginInfo`] built from what Describe and DescribeInContext set.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ofx_abi::*;

use super::{ClipInfo, GpuSupport, PluginInfo, RenderSupport};
use crate::image::Depth;
use crate::objects::Effect;
use crate::params::{ParamInfo, ParamKind};
use crate::props::{PropSet, PropValue};
use crate::{Components, Context, ThreadSafety};

/// Spec defaults of an effect descriptor.
pub(super) fn descriptor_defaults(p: &PropSet, path: &Path) {
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
    p.put_ro(
        kOfxPluginPropFilePath,
        PropValue::String(vec![std::ffi::CString::new(path.to_string_lossy().as_bytes()).unwrap_or_default()]),
    );
}

/// A plugin's description before Describe: the spec's defaults.
pub(super) fn empty_info(id: &str, version: (u32, u32)) -> PluginInfo {
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
        render_support: RenderSupport::default(),
    }
}

/// The render-support properties of a descriptor; values the spec does not allow are listed in `invalid`
/// and read as the property's default.
fn render_support(p: &PropSet) -> RenderSupport {
    let mut rs = RenderSupport::default();
    let mut read = |prop: &std::ffi::CStr, default: GpuSupport| match p.string(prop) {
        None => default,
        Some(v) => GpuSupport::from_ofx(&v).unwrap_or_else(|| {
            rs.invalid.push(format!("{} = \"{v}\"", prop.to_string_lossy()));
            default
        }),
    };
    let cpu = read(kOfxImageEffectPropCPURenderSupported, GpuSupport::Yes);
    let opengl = read(kOfxImageEffectPropOpenGLRenderSupported, GpuSupport::No);
    let cuda = read(kOfxImageEffectPropCudaRenderSupported, GpuSupport::No);
    let metal = read(kOfxImageEffectPropMetalRenderSupported, GpuSupport::No);
    let opencl = read(kOfxImageEffectPropOpenCLRenderSupported, GpuSupport::No);
    let opencl_images = read(kOfxImageEffectPropOpenCLSupported, GpuSupport::No);
    if cpu == GpuSupport::Needed {
        rs.invalid.push("kOfxImageEffectPropCPURenderSupported = \"needed\"".into());
    }
    RenderSupport { cpu: cpu != GpuSupport::No, opengl, cuda, metal, opencl, opencl_images, ..rs }
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

/// The plugin's description from its descriptor and the descriptors of each context it described in.
pub(super) fn build_info(id: &str, version: (u32, u32), desc: &Effect, ctxs: &[(Context, Arc<Effect>)]) -> PluginInfo {
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
    info.render_support = render_support(p);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_support_is_read_with_the_spec_defaults_and_bad_values_named() {
        let p = PropSet::new("descriptor");
        descriptor_defaults(&p, Path::new("/x.ofx.bundle"));
        assert_eq!(render_support(&p), RenderSupport::default());
        p.set_str(kOfxImageEffectPropCPURenderSupported, "false");
        p.set_str(kOfxImageEffectPropMetalRenderSupported, "needed");
        p.set_str(kOfxImageEffectPropCudaRenderSupported, "yes");
        let rs = render_support(&p);
        assert!(!rs.cpu);
        assert_eq!((rs.metal, rs.cuda), (GpuSupport::Needed, GpuSupport::No));
        assert_eq!(rs.invalid, vec!["OfxImageEffectPropCudaRenderSupported = \"yes\"".to_owned()]);
        assert!(rs.cpu_refusal().unwrap().starts_with("it needs Metal"));
    }
}
