//! One function per OFX action, and the dispatch from action name to function. Every function
//! returns a [`Reply`] or an [`OfxError`]; the entry point turns that into a status code.

use std::ffi::{c_void, CStr};

use ofx_abi::*;

use super::clip::{components_name, depth_name, parse_components, parse_depth, Clip};
use super::effect::{context_name, parse_context, ImageEffect};
use super::instance::Instance;
use super::props::PropertySet;
use super::raw;
use super::render::{ofx_error, HostOutput, HostServices, HostSource};
use super::status::{OfxError, OfxResult, Reply};
use crate::effects::{Context, EffectKind, EffectSpec, FrameRange};
use crate::frame_io::Rect;

/// Output depth and components for a generator: float RGBA is what every host handles. The depth
/// is only asked for where the host lets a plugin choose it ([`preferred_depth`]).
const GENERATOR_DEPTH: &CStr = kOfxBitDepthFloat;
const GENERATOR_COMPONENTS: &CStr = kOfxImageComponentRGBA;

/// What Kinema declares as kOfxImageEffectPropSupportsMultipleClipDepths: its clips share one depth
/// (pass-through copies pixels as they are), so it leaves depths to the host.
const MULTIPLE_CLIP_DEPTHS: bool = false;

/// The clip preference outArgs (`OfxImageClipPropDepth_` + clip name, ...), spelled out because
/// they must be static strings.
const DEPTH_OUTPUT: &CStr = c"OfxImageClipPropDepth_Output";
const COMPONENTS_OUTPUT: &CStr = c"OfxImageClipPropComponents_Output";
const DEPTH_SOURCE: &CStr = c"OfxImageClipPropDepth_Source";
const COMPONENTS_SOURCE: &CStr = c"OfxImageClipPropComponents_Source";
const FRAME_RANGE_SOURCE: &CStr = c"OfxImageClipPropFrameRange_Source";

/// The arguments of one action.
pub struct Call<'a> {
    pub spec: &'static EffectSpec,
    pub action: &'a CStr,
    pub handle: *const c_void,
    pub in_args: OfxPropertySetHandle,
    pub out_args: OfxPropertySetHandle,
}

impl Call<'_> {
    fn effect(&self) -> OfxResult<ImageEffect> {
        // SAFETY: for every action that uses it the host passes an image effect handle.
        unsafe { ImageEffect::from_raw(self.handle as OfxImageEffectHandle) }
    }

    fn in_args(&self) -> OfxResult<PropertySet> {
        // SAFETY: the host's inArgs for this action.
        unsafe { PropertySet::from_raw(self.in_args, "inArgs") }
    }

    fn out_args(&self) -> OfxResult<PropertySet> {
        // SAFETY: the host's outArgs for this action.
        unsafe { PropertySet::from_raw(self.out_args, "outArgs") }
    }
}

pub fn dispatch(call: &Call) -> OfxResult<Reply> {
    let a = call.action;
    if a == kOfxActionLoad {
        load()
    } else if a == kOfxActionUnload || a == kOfxActionPurgeCaches {
        purge()
    } else if a == kOfxActionDescribe {
        describe(call)
    } else if a == kOfxImageEffectActionDescribeInContext {
        describe_in_context(call)
    } else if a == kOfxActionCreateInstance {
        create_instance(call)
    } else if a == kOfxActionDestroyInstance {
        destroy_instance(call)
    } else if a == kOfxImageEffectActionGetClipPreferences {
        get_clip_preferences(call)
    } else if a == kOfxImageEffectActionGetRegionOfDefinition {
        get_region_of_definition(call)
    } else if a == kOfxImageEffectActionGetFramesNeeded {
        get_frames_needed(call)
    } else if a == kOfxImageEffectActionGetTimeDomain {
        get_time_domain(call)
    } else if a == kOfxImageEffectActionRender {
        render(call)
    } else if a == kOfxImageEffectActionBeginSequenceRender || a == kOfxImageEffectActionEndSequenceRender {
        Ok(Reply::Handled)
    } else if a == kOfxActionInstanceChanged {
        instance_changed(call)
    } else {
        // IsIdentity, GetRegionsOfInterest, Begin/EndInstanceChanged...: the host's default is right.
        Ok(Reply::Default)
    }
}

/// Load does no model work: it only checks that setHost gave us the suites we need.
fn load() -> OfxResult<Reply> {
    raw::suites()?;
    Ok(Reply::Handled)
}

/// Unload and PurgeCaches drop cached ONNX sessions and cached frames (nothing is loaded
/// again until a render needs it).
fn purge() -> OfxResult<Reply> {
    crate::render::purge_caches();
    Ok(Reply::Handled)
}

fn describe(call: &Call) -> OfxResult<Reply> {
    let spec = call.spec;
    let props = call.effect()?.properties()?;
    props.set_string(kOfxPropLabel, spec.label)?;
    props.set_string(kOfxImageEffectPluginPropGrouping, spec.group)?;
    let contexts: Vec<&'static CStr> = spec.contexts.iter().map(|&c| context_name(c)).collect();
    props.set_strings(kOfxImageEffectPropSupportedContexts, &contexts)?;
    props.set_strings(
        kOfxImageEffectPropSupportedPixelDepths,
        &[kOfxBitDepthFloat, kOfxBitDepthShort, kOfxBitDepthByte],
    )?;
    // Models see whole frames; tiles would cut them up.
    props.set_bool(kOfxImageEffectPropSupportsTiles, false)?;
    props.set_bool(kOfxImageEffectPropSupportsMultiResolution, true)?;
    props.set_bool(kOfxImageEffectPropSupportsMultipleClipDepths, MULTIPLE_CLIP_DEPTHS)?;
    props.set_bool(kOfxImageEffectPropTemporalClipAccess, spec.temporal_access)?;
    props.set_string(kOfxImageEffectPluginRenderThreadSafety, kOfxImageEffectRenderFullySafe)?;
    // Optional or cosmetic: a host without them still gets a working effect.
    let _ = props.set_string(kOfxPropShortLabel, spec.label);
    let _ = props.set_string(kOfxPropLongLabel, spec.label);
    let _ = props.set_string(kOfxPropPluginDescription, spec.description);
    let _ = props.set_bool(kOfxImageEffectPluginPropHostFrameThreading, false);
    let _ = props.set_bool(kOfxImageEffectPluginPropSingleInstance, false);
    let _ = props.set_bool(kOfxImageEffectPropSupportsMultipleClipPARs, false);
    Ok(Reply::Handled)
}

fn describe_in_context(call: &Call) -> OfxResult<Reply> {
    let spec = call.spec;
    let effect = call.effect()?;
    let context = parse_context(&call.in_args()?.string(kOfxImageEffectPropContext)?)?;
    if !spec.contexts.contains(&context) {
        return Err(OfxError::new(
            kOfxStatErrUnsupported,
            format!("{:?} does not support the {context:?} context", spec.id),
        ));
    }
    let output = effect.define_clip(kOfxImageEffectOutputClipName)?;
    describe_clip(&output, false)?;
    // Generate never reads a source; in the general context it still offers one (optional) so
    // hosts such as Nuke can give the node a format.
    match (spec.kind, context) {
        (_, Context::Generator) => {}
        (EffectKind::Generate, _) => {
            let source = effect.define_clip(kOfxImageEffectSimpleSourceClipName)?;
            describe_clip(&source, false)?;
            source.set_bool(kOfxImageClipPropOptional, true)?;
        }
        _ => {
            let source = effect.define_clip(kOfxImageEffectSimpleSourceClipName)?;
            describe_clip(&source, spec.temporal_access)?;
        }
    }
    effect.params()?.describe(spec)?;
    Ok(Reply::Handled)
}

fn describe_clip(clip: &PropertySet, temporal: bool) -> OfxResult<()> {
    clip.set_strings(kOfxImageEffectPropSupportedComponents, &[kOfxImageComponentRGBA, kOfxImageComponentRGB])?;
    clip.set_bool(kOfxImageEffectPropSupportsTiles, false)?;
    if temporal {
        clip.set_bool(kOfxImageEffectPropTemporalClipAccess, true)?;
    }
    Ok(())
}

/// Any change (a setting, a clip, the Update Status button, our own Status write coming back) is
/// where the spec lets a plugin set parameters: Status shows what the last render of the frame at the
/// current time did.
fn instance_changed(call: &Call) -> OfxResult<Reply> {
    let effect = call.effect()?;
    let time = call.in_args()?.double(kOfxPropTime).ok().filter(|t| t.is_finite());
    Instance::of(&effect)?.show_status(&effect, time)?;
    Ok(Reply::Handled)
}

fn create_instance(call: &Call) -> OfxResult<Reply> {
    Instance::attach(&call.effect()?, call.spec)?;
    Ok(Reply::Handled)
}

fn destroy_instance(call: &Call) -> OfxResult<Reply> {
    Instance::detach(&call.effect()?)?;
    Ok(Reply::Handled)
}

/// The source clip when the instance has one and it is connected.
fn connected_source(effect: &ImageEffect, inst: &Instance) -> OfxResult<Option<Clip>> {
    if inst.context == Context::Generator || inst.spec.kind == EffectKind::Generate {
        return Ok(None);
    }
    let clip = effect.clip(kOfxImageEffectSimpleSourceClipName)?;
    Ok(clip.connected().then_some(clip))
}

/// The source's frame range, None when unconnected or empty.
fn source_range(source: Option<&Clip>) -> Option<FrameRange> {
    source.and_then(|c| c.frame_range().ok()).filter(|r| !r.is_empty())
}

/// The depth to ask for a clip in GetClipPreferences, None to take the one the host gives. The spec
/// lets a plugin set depths (the output's above all) only when the host supports multiple clip depths
/// and the plugin declared it does too, and then only to a depth the host supports.
fn preferred_depth(host: &raw::HostDepths, plugin_multiple: bool, wanted: &'static CStr) -> Option<&'static CStr> {
    (host.multiple_clip_depths && plugin_multiple && host.supports(wanted)).then_some(wanted)
}

fn get_clip_preferences(call: &Call) -> OfxResult<Reply> {
    let effect = call.effect()?;
    let inst = Instance::of(&effect)?;
    let out = call.out_args()?;
    let host = raw::host_depths();
    let Some(source) = connected_source(&effect, inst)? else {
        // A generator takes the depth the host gives, unless the host lets plugins choose.
        if let Some(depth) = preferred_depth(host, MULTIPLE_CLIP_DEPTHS, GENERATOR_DEPTH) {
            out.set_string(DEPTH_OUTPUT, depth)?;
        }
        out.set_string(COMPONENTS_OUTPUT, GENERATOR_COMPONENTS)?;
        return Ok(Reply::Handled);
    };
    // Output = what the source really is, so pass-through stays bit-exact; formats we cannot
    // take (half, alpha-only) are asked for as float RGBA. Depths only where the host allows it.
    let (depth, components) = source.unmapped_format().unwrap_or_default();
    let depth = parse_depth(&depth).map(depth_name).unwrap_or(kOfxBitDepthFloat);
    let components = parse_components(&components).map(components_name).unwrap_or(kOfxImageComponentRGBA);
    if let Some(depth) = preferred_depth(host, MULTIPLE_CLIP_DEPTHS, depth) {
        out.set_string(DEPTH_SOURCE, depth)?;
        out.set_string(DEPTH_OUTPUT, depth)?;
    }
    out.set_string(COMPONENTS_SOURCE, components)?;
    out.set_string(COMPONENTS_OUTPUT, components)?;
    Ok(Reply::Handled)
}

fn get_region_of_definition(call: &Call) -> OfxResult<Reply> {
    let effect = call.effect()?;
    let inst = Instance::of(&effect)?;
    let time = call.in_args()?.double(kOfxPropTime)?;
    let rod = match connected_source(&effect, inst)? {
        None => project_rect(&effect)?,
        Some(source) => {
            // The size of the source frame this output frame shows or continues: a clip's frames may
            // differ in size, and each output frame takes its own.
            let values = effect.params()?.values(inst.spec, Some(time))?;
            match inst.spec.size_frame(&values, time, source_range(Some(&source))) {
                // A region the host cannot give is the host's default here; Render says why.
                Ok(Some(t)) => match source.region_of_definition(t) {
                    Ok(rod) => rod,
                    Err(_) => return Ok(Reply::Default),
                },
                Ok(None) => project_rect(&effect)?,
                // A frame that cannot be planned fails in Render, with its reason.
                Err(_) => return Ok(Reply::Default),
            }
        }
    };
    call.out_args()?.set_doubles(kOfxImageEffectPropRegionOfDefinition, &[rod.x1, rod.y1, rod.x2, rod.y2])?;
    Ok(Reply::Handled)
}

/// The project's frame in canonical coordinates: offset .. offset + size (or 0 .. extent).
fn project_rect(effect: &ImageEffect) -> OfxResult<OfxRectD> {
    let props = effect.properties()?;
    let (offset, size) = match (
        props.doubles::<2>(kOfxImageEffectPropProjectOffset),
        props.doubles::<2>(kOfxImageEffectPropProjectSize),
    ) {
        (Ok(o), Ok(s)) if s[0] > 0.0 && s[1] > 0.0 => (o, s),
        _ => ([0.0, 0.0], props.doubles::<2>(kOfxImageEffectPropProjectExtent)?),
    };
    Ok(OfxRectD { x1: offset[0], y1: offset[1], x2: offset[0] + size[0], y2: offset[1] + size[1] })
}

fn get_frames_needed(call: &Call) -> OfxResult<Reply> {
    let effect = call.effect()?;
    let inst = Instance::of(&effect)?;
    let time = call.in_args()?.double(kOfxPropTime)?;
    let Some(source) = connected_source(&effect, inst)? else { return Ok(Reply::Default) };
    let values = effect.params()?.values(inst.spec, Some(time))?;
    // A frame that cannot be planned fails in Render, with its reason; here the host's default is fine.
    let Ok(Some(needed)) = inst.spec.frames_needed(&values, time, source_range(Some(&source))) else {
        return Ok(Reply::Default);
    };
    call.out_args()?.set_doubles(FRAME_RANGE_SOURCE, &[needed.first.floor(), needed.last.ceil()])?;
    Ok(Reply::Handled)
}

fn get_time_domain(call: &Call) -> OfxResult<Reply> {
    let effect = call.effect()?;
    let inst = Instance::of(&effect)?;
    let source = connected_source(&effect, inst)?;
    let values = effect.params()?.values(inst.spec, None)?;
    match inst.spec.time_domain(&values, source_range(source.as_ref())) {
        Ok(Some(range)) => {
            call.out_args()?.set_doubles(kOfxImageEffectPropFrameRange, &[range.first, range.last])?;
            Ok(Reply::Handled)
        }
        Ok(None) | Err(_) => Ok(Reply::Default),
    }
}

/// Renders one frame through the render layer, which reads the parameters fresh. Failures are
/// reported by the entry point's guard (panics included): the reason is posted as an error
/// message and kept for Status, and the output is left untouched.
fn render(call: &Call) -> OfxResult<Reply> {
    let effect = call.effect()?;
    let inst = Instance::of(&effect)?;
    let args = call.in_args()?;
    let time = args.double(kOfxPropTime)?;
    let [x1, y1, x2, y2] = args.ints::<4>(kOfxImageEffectPropRenderWindow)?;
    let window = Rect::new(x1, y1, x2, y2);
    let scale = args.doubles::<2>(kOfxImageEffectPropRenderScale).map(|[x, y]| (x, y)).unwrap_or((1.0, 1.0));
    let values = effect.params()?.values(inst.spec, Some(time))?;
    let source = connected_source(&effect, inst)?;
    let mut host_source = source.as_ref().map(|clip| HostSource { clip });
    let mut output = HostOutput::new(&effect, source.as_ref(), time, window);
    let done = crate::render::render_frame(
        inst.spec,
        &values,
        time,
        scale,
        host_source.as_mut().map(|s| s as &mut dyn crate::render::Source),
        &mut output,
        &HostServices(&effect),
    )
    .map_err(ofx_error)?;
    inst.report(&effect, Some(time), &done, false);
    Ok(Reply::Handled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_are_chosen_only_where_the_host_and_the_plugin_allow_multiple_clip_depths() {
        let host = |multiple, supported: &[&CStr]| raw::HostDepths {
            multiple_clip_depths: multiple,
            supported: supported.iter().map(|d| d.to_string_lossy().into_owned()).collect(),
        };
        let all = [kOfxBitDepthFloat, kOfxBitDepthShort, kOfxBitDepthByte];
        // Our own declaration (none), and a single-depth host (like the kinema host).
        assert_eq!(preferred_depth(&host(true, &all), MULTIPLE_CLIP_DEPTHS, kOfxBitDepthFloat), None);
        assert_eq!(preferred_depth(&host(false, &all), true, kOfxBitDepthFloat), None);
        // Where both allow it, only a depth the host lists.
        assert_eq!(preferred_depth(&host(true, &all), true, kOfxBitDepthFloat), Some(kOfxBitDepthFloat));
        assert_eq!(preferred_depth(&host(true, &[kOfxBitDepthByte]), true, kOfxBitDepthFloat), None);
    }
}
