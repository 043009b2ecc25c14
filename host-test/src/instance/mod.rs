//! Effect instances: creation, parameters and InstanceChanged, sources, and destruction; rendering is in
//! [`render`], pixel-format negotiation in [`clip_prefs`].

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use ofx_abi::*;
use parking_lot::Mutex;

use crate::diag::{Message, Violation, ViolationKind};
use crate::host::{call_action, param_infos, BundleInner, PluginRt};
use crate::image::Components;
use crate::objects::{Effect, Source};
use crate::params::{ParamInfo, ParamKind, ParamValue, ProjectGeometry};
use crate::props::{PropSet, PropValue};
use crate::suites;
use crate::{status_name, ClipSource, Context, RenderFailure};

mod clip_prefs;
mod render;

/// A live effect instance. Dropping it sends DestroyInstance (use [`Instance::destroy`] to see the result).
pub struct Instance {
    bundle: Arc<BundleInner>,
    rt: Arc<PluginRt>,
    effect: Arc<Effect>,
    context: Context,
    destroyed: bool,
    /// The canonical values the host last gave parameters whose default is normalised
    /// (kOfxParamCoordinatesNormalised), so that a project change moves them while nobody has set them.
    auto_defaults: Mutex<HashMap<String, ParamValue>>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("plugin", &self.rt.id).field("context", &self.context).finish()
    }
}

/// Records a violation the host found itself (after or between actions), attributed to `action`.
fn report_to(rt: &PluginRt, kind: ViolationKind, action: &str, frame: Option<i64>, message: String) {
    rt.diag.violations.lock().push(Violation {
        kind,
        action: action.to_owned(),
        frame,
        plugin: rt.id.to_string(),
        message,
    });
}

impl Instance {
    pub(crate) fn create(
        bundle: Arc<BundleInner>,
        rt: Arc<PluginRt>,
        desc: &Arc<Effect>,
        context: Context,
    ) -> Result<Instance> {
        let e = Effect::new_instance(desc);
        let p = &e.props;
        p.set_cstr(kOfxPropType, kOfxTypeImageEffectInstance);
        p.put_ro(kOfxImageEffectPropContext, PropValue::String(vec![context.ofx().to_owned()]));
        p.set_pointer(kOfxPropInstanceData, std::ptr::null_mut());
        p.set_int(kOfxPropIsInteractive, 0);
        p.set_int(kOfxImageEffectInstancePropSequentialRender, 0);
        for c in e.clips.lock().iter() {
            let cp = &c.props;
            cp.set_int(kOfxImageClipPropConnected, c.is_output as i32);
            cp.set_cstr(kOfxImageEffectPropPixelDepth, kOfxBitDepthNone);
            cp.set_cstr(kOfxImageEffectPropComponents, kOfxImageComponentNone);
            cp.set_cstr(kOfxImageClipPropUnmappedPixelDepth, kOfxBitDepthNone);
            cp.set_cstr(kOfxImageClipPropUnmappedComponents, kOfxImageComponentNone);
            cp.set_cstr(kOfxImageEffectPropPreMultiplication, kOfxImageUnPreMultiplied);
            cp.set_double(kOfxImagePropPixelAspectRatio, 1.0);
            cp.set_double(kOfxImageEffectPropFrameRate, 24.0);
            cp.set_doubles(kOfxImageEffectPropFrameRange, &[0.0, 0.0]);
            cp.set_doubles(kOfxImageEffectPropUnmappedFrameRange, &[0.0, 0.0]);
            cp.set_double(kOfxImageEffectPropUnmappedFrameRate, 24.0);
            cp.set_cstr(kOfxImageClipPropFieldOrder, kOfxImageFieldNone);
            cp.set_int(kOfxImageClipPropContinuousSamples, 0);
        }
        Self::set_project(&e, (1920.0, 1080.0), (0.0, 0.0), 1.0, 24.0, (0.0, 0.0));
        let auto_defaults = Mutex::new(HashMap::new());
        apply_normalised_defaults(&e, &auto_defaults);
        let (st, _) =
            call_action(&rt, kOfxActionCreateInstance, e.handle() as *const c_void, None, None, Some(&e), None);
        if st != kOfxStatOK && st != kOfxStatReplyDefault {
            // The spec sends no DestroyInstance after a failed CreateInstance.
            bail!("{}: CreateInstance failed with {}{}", rt.id, status_name(st), last_error_text(&rt, e.id));
        }
        bundle.live_instances.fetch_add(1, Ordering::SeqCst);
        Ok(Instance { bundle, rt, effect: e, context, destroyed: false, auto_defaults })
    }

    /// Sets the project: its size and offset in canonical coordinates (the extent spans both), pixel aspect
    /// ratio (also every clip's), frame rate and range.
    fn set_project(e: &Effect, size: (f64, f64), offset: (f64, f64), par: f64, rate: f64, range: (f64, f64)) {
        let p = &e.props;
        p.set_doubles(kOfxImageEffectPropProjectSize, &[size.0, size.1]);
        p.set_doubles(kOfxImageEffectPropProjectExtent, &[offset.0.max(0.0) + size.0, offset.1.max(0.0) + size.1]);
        p.set_doubles(kOfxImageEffectPropProjectOffset, &[offset.0, offset.1]);
        p.set_double(kOfxImageEffectPropProjectPixelAspectRatio, par);
        p.set_double(kOfxImageEffectPropFrameRate, rate);
        p.set_double(kOfxImageEffectInstancePropEffectDuration, range.1 - range.0 + 1.0);
        for c in e.clips.lock().iter() {
            c.props.set_double(kOfxImagePropPixelAspectRatio, par);
        }
        *e.st.par.lock() = par;
        *e.st.time_bounds.lock() = range;
    }

    /// The project as the plugin sees it (canonical size and offset).
    pub fn project(&self) -> ProjectGeometry {
        project_of(&self.effect)
    }

    /// Sets the project format before a render: the picture's size in pixels, its offset in canonical
    /// coordinates and the pixel aspect ratio (canonical width = pixels × ratio). Parameters with normalised
    /// defaults that nobody has set follow it; values of the older normalised types given to
    /// [`Instance::set_param_str`] are converted against it. A render sets it again from its request.
    pub fn set_project_format(&self, size: (u32, u32), offset: (i32, i32), par: f64) -> Result<()> {
        if size.0 == 0 || size.1 == 0 {
            bail!("project size {}x{} is empty", size.0, size.1);
        }
        if !(par.is_finite() && par > 0.0) {
            bail!("pixel aspect ratio {par} must be positive");
        }
        let e = &self.effect;
        let rate = e.props.double(kOfxImageEffectPropFrameRate).unwrap_or(24.0);
        let range = *e.st.time_bounds.lock();
        *e.st.origin.lock() = offset;
        let size = (f64::from(size.0) * par, f64::from(size.1));
        Self::set_project(e, size, (f64::from(offset.0), f64::from(offset.1)), par, rate, range);
        apply_normalised_defaults(e, &self.auto_defaults);
        Ok(())
    }

    pub fn id(&self) -> &str {
        &self.rt.id
    }
    pub fn context(&self) -> Context {
        self.context
    }
    pub fn info(&self) -> &crate::PluginInfo {
        &self.rt.info
    }

    /// The instance's parameters with their current properties (plugins may change labels, enabled...).
    pub fn params(&self) -> Vec<ParamInfo> {
        param_infos(&self.effect)
    }

    pub fn param_info(&self, name: &str) -> Result<ParamInfo> {
        self.params().into_iter().find(|p| p.name == name).ok_or_else(|| self.unknown_param(name))
    }

    fn unknown_param(&self, name: &str) -> anyhow::Error {
        let names: Vec<String> =
            self.params().into_iter().filter(|p| p.default != ParamValue::None).map(|p| p.name).collect();
        anyhow!("effect '{}' has no parameter '{name}' (it has: {})", self.rt.id, names.join(", "))
    }

    pub fn param(&self, name: &str) -> Result<ParamValue> {
        let p = self.effect.params.get(name).ok_or_else(|| self.unknown_param(name))?;
        Ok(p.value())
    }

    /// Sets a parameter as a user would (then sends InstanceChanged with reason UserEdited).
    pub fn set_param(&self, name: &str, v: ParamValue) -> Result<()> {
        let p = self.effect.params.get(name).ok_or_else(|| self.unknown_param(name))?;
        let v = v.coerce(p.kind).map_err(|e| anyhow!("parameter '{name}': {e}"))?;
        let info = ParamInfo::from_props(name, p.kind, &p.props);
        info.check_range(&v)?;
        {
            let mut st = p.state.lock();
            st.set(v);
            // A value set as a user would: the parameter stops animating.
            st.keys.clear();
        }
        self.instance_changed(kOfxTypeParameter, name)
    }

    /// Animates a one-dimensional double parameter with `keys` (as a user keying it would), each value
    /// checked against its range; the parameter must animate (kOfxParamPropAnimates). Then sends
    /// InstanceChanged. The curve holds its first and last values outside the keys.
    pub fn set_param_keys(&self, name: &str, keys: &[crate::params::Key]) -> Result<()> {
        let p = self.effect.params.get(name).ok_or_else(|| self.unknown_param(name))?;
        let info = ParamInfo::from_props(name, p.kind, &p.props);
        if p.kind != ParamKind::Double {
            bail!("parameter '{name}' is a {}; this host animates one-dimensional doubles only", p.kind.name());
        }
        if !info.animates {
            bail!("parameter '{name}' does not animate (kOfxParamPropAnimates is 0)");
        }
        if keys.is_empty() {
            bail!("parameter '{name}': no keys");
        }
        let mut sorted = keys.to_vec();
        sorted.sort_by(|a, b| a.time.total_cmp(&b.time));
        for k in &sorted {
            if !(k.time.is_finite() && k.value.is_finite()) {
                bail!("parameter '{name}': key {k:?} is not finite");
            }
            info.check_range(&ParamValue::Double(k.value))?;
        }
        if sorted.windows(2).any(|w| w[0].time == w[1].time) {
            bail!("parameter '{name}': two keys at the same time");
        }
        {
            let mut st = p.state.lock();
            st.set(ParamValue::Double(sorted[0].value));
            st.keys = sorted;
        }
        self.instance_changed(kOfxTypeParameter, name)
    }

    /// Parses keys (`'0:1, 48:0.2:smooth'`, see [`crate::params::parse_keys`]) and sets them.
    pub fn set_param_keys_str(&self, name: &str, text: &str) -> Result<()> {
        let keys = crate::params::parse_keys(text).map_err(|e| anyhow!("parameter '{name}': {e}"))?;
        self.set_param_keys(name, &keys)
    }

    /// Sets a parameter without the range check, as a lax host does (not every host enforces min, max or the
    /// choice options); the value must still have the parameter's type. Then sends InstanceChanged.
    pub fn set_param_unchecked(&self, name: &str, v: ParamValue) -> Result<()> {
        let p = self.effect.params.get(name).ok_or_else(|| self.unknown_param(name))?;
        let v = v.coerce(p.kind).map_err(|e| anyhow!("parameter '{name}': {e}"))?;
        p.state.lock().set(v);
        self.instance_changed(kOfxTypeParameter, name)
    }

    /// Parses `text` by the parameter's type (a Choice accepts an option label or index) and sets it.
    /// Spatial values of the older normalised double types are given in canonical coordinates, as a host's
    /// user sees them, and stored as fractions of the current project ([`Instance::set_project_format`]).
    pub fn set_param_str(&self, name: &str, text: &str) -> Result<()> {
        let info = self.param_info(name)?;
        let v = ParamValue::parse(info.kind, text, &info.options).map_err(|e| anyhow!("parameter '{name}': {e}"))?;
        let v = match info.spatial {
            Some(s) if s.normalised_values => s.to_normalised(&v, &self.project()),
            _ => v,
        };
        self.set_param(name, v)
    }

    /// Presses a push button (InstanceChanged for it).
    pub fn press_button(&self, name: &str) -> Result<()> {
        let p = self.effect.params.get(name).ok_or_else(|| self.unknown_param(name))?;
        if p.kind != ParamKind::PushButton {
            bail!("parameter '{name}' is a {}, not a push button", p.kind.name());
        }
        self.instance_changed(kOfxTypeParameter, name)
    }

    /// Sends Begin/InstanceChanged/EndInstanceChanged for a user's change, then, as hosts do, one such
    /// sequence with reason PluginEdited for each parameter the plugin itself changed meanwhile, until the
    /// plugin stops changing parameters (a plugin that never settles is a violation).
    fn instance_changed(&self, what: &std::ffi::CStr, name: &str) -> Result<()> {
        let mut failures = self.send_instance_changed(what, name, kOfxChangeUserEdited);
        const MAX_ROUNDS: usize = 8;
        for round in 0.. {
            let edited: Vec<String> = self
                .effect
                .params
                .params
                .read()
                .iter()
                .filter(|p| p.plugin_edited.swap(false, Ordering::SeqCst))
                .map(|p| p.name.clone())
                .collect();
            if edited.is_empty() {
                break;
            }
            if round == MAX_ROUNDS {
                report_to(
                    &self.rt,
                    ViolationKind::InstanceChangedLoop,
                    "InstanceChanged",
                    None,
                    format!("the plugin still changes {edited:?} after {MAX_ROUNDS} rounds of its own changes"),
                );
                break;
            }
            for p in edited {
                failures.extend(self.send_instance_changed(kOfxTypeParameter, &p, kOfxChangePluginEdited));
            }
        }
        if !failures.is_empty() {
            bail!("changing '{name}': {}{}", failures.join(", "), last_error_text(&self.rt, self.effect.id));
        }
        Ok(())
    }

    /// One Begin/InstanceChanged/EndInstanceChanged sequence; the failures it met.
    fn send_instance_changed(&self, what: &std::ffi::CStr, name: &str, reason: &std::ffi::CStr) -> Vec<String> {
        let e = &self.effect;
        let h = e.handle() as *const c_void;
        let begin = PropSet::read_only("BeginInstanceChanged inArgs");
        begin.set_cstr(kOfxPropChangeReason, reason);
        let args = PropSet::read_only("InstanceChanged inArgs");
        args.set_cstr(kOfxPropType, what);
        args.set_str(kOfxPropName, name);
        args.set_cstr(kOfxPropChangeReason, reason);
        args.set_double(kOfxPropTime, *e.st.time.lock());
        args.set_doubles(kOfxImageEffectPropRenderScale, &[1.0, 1.0]);
        let mut failures = Vec::new();
        for (action, a) in [
            (kOfxActionBeginInstanceChanged, &begin),
            (kOfxActionInstanceChanged, &args),
            (kOfxActionEndInstanceChanged, &begin),
        ] {
            let (st, _) = call_action(&self.rt, action, h, Some(a), None, Some(e), None);
            if st != kOfxStatOK && st != kOfxStatReplyDefault {
                failures.push(format!("{} returned {}", action.to_string_lossy(), status_name(st)));
            }
        }
        failures
    }

    /// Connects an input clip.
    pub fn set_source(&self, clip: &str, src: ClipSource) -> Result<()> {
        let c = self.effect.clip(clip).ok_or_else(|| {
            let names: Vec<String> =
                self.effect.clips.lock().iter().filter(|c| !c.is_output).map(|c| c.name.clone()).collect();
            anyhow!("effect '{}' has no input clip '{clip}' (it has: {})", self.rt.id, names.join(", "))
        })?;
        if c.is_output {
            bail!("'{clip}' is the output clip; it cannot have a source");
        }
        let src = match src {
            ClipSource::Frames(f) => Source::from_frames(f)?,
            ClipSource::Sequence { pattern, first, last } => Source::from_sequence(&pattern, first, last)?,
        };
        let p = &c.props;
        let rate = self.effect.props.double(kOfxImageEffectPropFrameRate).unwrap_or(24.0);
        p.set_int(kOfxImageClipPropConnected, 1);
        p.set_doubles(kOfxImageEffectPropFrameRange, &[src.first as f64, src.last as f64]);
        p.set_doubles(kOfxImageEffectPropUnmappedFrameRange, &[src.first as f64, src.last as f64]);
        p.set_double(kOfxImageEffectPropFrameRate, rate);
        p.set_double(kOfxImageEffectPropUnmappedFrameRate, rate);
        p.set_cstr(kOfxImageClipPropUnmappedPixelDepth, src.depth.ofx());
        p.set_cstr(kOfxImageClipPropUnmappedComponents, src.components.ofx());
        p.set_cstr(kOfxImageEffectPropPixelDepth, src.depth.ofx());
        p.set_cstr(kOfxImageEffectPropComponents, src.components.ofx());
        p.set_cstr(
            kOfxImageEffectPropPreMultiplication,
            if src.components == Components::Rgba { kOfxImageUnPreMultiplied } else { kOfxImageOpaque },
        );
        // The project follows the Source clip, else the first input connected.
        let primary = clip == "Source"
            || (self.effect.clip("Source").is_none_or(|s| s.source.lock().is_none())
                && self.effect.clips.lock().iter().all(|c| c.is_output || c.name == clip || c.source.lock().is_none()));
        if primary {
            let e = &self.effect;
            let par = *e.st.par.lock();
            let (ox, oy) = *e.st.origin.lock();
            let size = (f64::from(src.width) * par, f64::from(src.height));
            Self::set_project(e, size, (f64::from(ox), f64::from(oy)), par, rate, (src.first as f64, src.last as f64));
            apply_normalised_defaults(e, &self.auto_defaults);
        }
        *c.source.lock() = Some(Arc::new(src));
        self.instance_changed(kOfxTypeClip, clip)
    }

    /// The abort flag: set it (from any thread) to make abort() return true; render() clears it when done.
    pub fn abort_handle(&self) -> Arc<AtomicBool> {
        self.effect.st.abort.clone()
    }

    /// Messages posted on this instance.
    pub fn messages(&self) -> Vec<Message> {
        self.rt.diag.messages.lock().iter().filter(|m| m.instance == Some(self.effect.id)).cloned().collect()
    }

    /// The persistent message currently set on this instance, if any.
    pub fn persistent_message(&self) -> Option<Message> {
        self.messages().into_iter().rev().find(|m| m.persistent)
    }

    /// Every violation of the bundle so far.
    pub fn violations(&self) -> Vec<Violation> {
        let mut v = self.bundle.diag.violations.lock().clone();
        v.extend(crate::diag::orphans().lock().iter().cloned());
        v
    }

    /// Sends DestroyInstance and checks for leaked memory.
    pub fn destroy(mut self) -> Result<()> {
        self.destroy_inner()
    }

    fn destroy_inner(&mut self) -> Result<()> {
        if self.destroyed {
            return Ok(());
        }
        self.destroyed = true;
        let e = &self.effect;
        let (st, _) =
            call_action(&self.rt, kOfxActionDestroyInstance, e.handle() as *const c_void, None, None, Some(e), None);
        self.bundle.live_instances.fetch_sub(1, Ordering::SeqCst);
        let (blocks, bytes) = suites::reclaim_leaks(e.id, 0);
        let mut problems = Vec::new();
        if blocks > 0 {
            let msg = format!(
                "{blocks} memory block(s) ({bytes} bytes) allocated for the instance were not freed by DestroyInstance"
            );
            report_to(&self.rt, ViolationKind::MemoryLeak, "DestroyInstance", None, msg.clone());
            problems.push(msg);
        }
        let leftover = std::mem::take(&mut *e.st.live_images.lock());
        for img in leftover.values() {
            let msg = format!("the '{}' image fetched in {} was never released", img.clip, img.action);
            report_to(&self.rt, ViolationKind::ImageLeak, "DestroyInstance", None, msg.clone());
            problems.push(msg);
        }
        if st != kOfxStatOK && st != kOfxStatReplyDefault {
            problems.push(format!("DestroyInstance returned {}", status_name(st)));
        }
        if !problems.is_empty() {
            bail!("destroying '{}': {}", self.rt.id, problems.join("; "));
        }
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.destroy_inner();
    }
}

/// The project of an instance (canonical size and offset).
fn project_of(e: &Effect) -> ProjectGeometry {
    let pair = |name| {
        let v = e.props.doubles(name).unwrap_or_default();
        (v.first().copied().unwrap_or(0.0), v.get(1).copied().unwrap_or(0.0))
    };
    ProjectGeometry { size: pair(kOfxImageEffectPropProjectSize), offset: pair(kOfxImageEffectPropProjectOffset) }
}

/// Gives each parameter whose default is normalised (kOfxParamCoordinatesNormalised) that default in canonical
/// coordinates of the current project, unless its value was changed since the host last did so.
fn apply_normalised_defaults(e: &Effect, auto: &Mutex<HashMap<String, ParamValue>>) {
    let proj = project_of(e);
    let mut auto = auto.lock();
    for p in e.params.params.read().iter() {
        let Some(spatial) = crate::params::Spatial::from_props(p.kind, &p.props) else { continue };
        if !spatial.normalised_default {
            continue;
        }
        let raw = ParamValue::from_prop(p.kind, p.props.value(kOfxParamPropDefault));
        let mut st = p.state.lock();
        let untouched = match auto.get(&p.name) {
            Some(last) => st.value == *last,
            None => st.value == raw,
        };
        if untouched {
            let v = spatial.to_canonical(&raw, &proj);
            st.set(v.clone());
            auto.insert(p.name.clone(), v);
        }
    }
}

/// ": <last error message posted on the instance>" or "".
fn last_error_text(rt: &PluginRt, instance: u64) -> String {
    rt.diag
        .messages
        .lock()
        .iter()
        .rev()
        .find(|m| m.instance == Some(instance) && m.is_error())
        .map(|m| format!(": {}", m.text))
        .unwrap_or_default()
}

/// Describes a failed action: the error the plugin posted during it, else its persistent message, else the status.
fn failure(rt: &PluginRt, instance: u64, action_id: u64, status: i32, action: &str) -> RenderFailure {
    let msgs = rt.diag.messages.lock();
    let text = msgs
        .iter()
        .rev()
        .find(|m| m.action_id == action_id && m.is_error())
        .or_else(|| msgs.iter().rev().find(|m| m.instance == Some(instance) && m.persistent && m.is_error()))
        .map(|m| m.text.clone())
        .unwrap_or_else(|| format!("{action} returned {}", status_name(status)));
    RenderFailure { status, message: text }
}
