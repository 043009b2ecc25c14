//! Effect instances: creation, parameters and InstanceChanged, sources, and destruction; rendering is in
//! [`render`], pixel-format negotiation in [`clip_prefs`].

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use ofx_abi::*;

use crate::diag::{Message, Violation, ViolationKind};
use crate::host::{call_action, param_infos, BundleInner, PluginRt};
use crate::image::Components;
use crate::objects::{Effect, Source};
use crate::params::{ParamInfo, ParamKind, ParamValue};
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
        Self::set_project(&e, 1920, 1080, 24.0, (0.0, 0.0));
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
        let (st, _) =
            call_action(&rt, kOfxActionCreateInstance, e.handle() as *const c_void, None, None, Some(&e), None);
        if st != kOfxStatOK && st != kOfxStatReplyDefault {
            // The spec sends no DestroyInstance after a failed CreateInstance.
            bail!("{}: CreateInstance failed with {}{}", rt.id, status_name(st), last_error_text(&rt, e.id));
        }
        bundle.live_instances.fetch_add(1, Ordering::SeqCst);
        Ok(Instance { bundle, rt, effect: e, context, destroyed: false })
    }

    fn set_project(e: &Effect, w: u32, h: u32, rate: f64, range: (f64, f64)) {
        let p = &e.props;
        p.set_doubles(kOfxImageEffectPropProjectSize, &[w as f64, h as f64]);
        p.set_doubles(kOfxImageEffectPropProjectExtent, &[w as f64, h as f64]);
        p.set_doubles(kOfxImageEffectPropProjectOffset, &[0.0, 0.0]);
        p.set_double(kOfxImageEffectPropProjectPixelAspectRatio, 1.0);
        p.set_double(kOfxImageEffectPropFrameRate, rate);
        p.set_double(kOfxImageEffectInstancePropEffectDuration, range.1 - range.0 + 1.0);
        *e.st.time_bounds.lock() = range;
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
    pub fn set_param_str(&self, name: &str, text: &str) -> Result<()> {
        let info = self.param_info(name)?;
        let v = ParamValue::parse(info.kind, text, &info.options).map_err(|e| anyhow!("parameter '{name}': {e}"))?;
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
        if clip == "Source" || self.effect.clips.lock().iter().filter(|c| !c.is_output).count() == 1 {
            Self::set_project(&self.effect, src.width, src.height, rate, (src.first as f64, src.last as f64));
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
