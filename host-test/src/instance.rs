//! Effect instances: parameters, sources, and the render sequence.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use ofx_abi::*;
use parking_lot::Mutex;

use crate::diag::{Message, Violation, ViolationKind};
use crate::host::{call_action, param_infos, BundleInner, PluginRt};
use crate::image::{Components, Depth, HostImage, PixelBuffer, Rect};
use crate::objects::{Effect, Source};
use crate::params::{ParamInfo, ParamKind, ParamValue};
use crate::props::{PropSet, PropValue};
use crate::suites::{self, scaled_bounds};
use crate::{
    status_name, ClipSource, Context, ProgressEvent, RenderFailure, RenderOutput, RenderRequest, ThreadSafety,
};

/// Largest output image the host will allocate (pixels).
const MAX_PIXELS: usize = 1 << 28;

fn global_render_lock() -> &'static Mutex<()> {
    static L: Mutex<()> = Mutex::new(());
    &L
}

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
        p.state.lock().set(v);
        self.instance_changed(kOfxTypeParameter, name)
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

    /// Renders frames through GetClipPreferences, GetRegionOfDefinition, GetFramesNeeded,
    /// Begin/EndSequenceRender and Render.
    pub fn render(&self, req: &RenderRequest) -> Result<RenderOutput> {
        let result = self.render_inner(req);
        self.effect.st.abort.store(false, Ordering::SeqCst);
        *self.effect.st.progress.lock() = None;
        *self.effect.st.abort_after_progress.lock() = None;
        result
    }

    fn render_inner(&self, req: &RenderRequest) -> Result<RenderOutput> {
        let e = &self.effect;
        let rt = &self.rt;
        let info = &rt.info;
        if req.frames.is_empty() {
            bail!("no frames to render");
        }
        if !(req.render_scale.is_finite() && req.render_scale > 0.0 && req.render_scale <= 1.0) {
            bail!("render scale {} must be in (0, 1]", req.render_scale);
        }
        if !(req.frame_rate.is_finite() && req.frame_rate > 0.0) {
            bail!("frame rate {} must be positive", req.frame_rate);
        }
        if !req.time_offset.is_finite() {
            bail!("time offset {} must be finite", req.time_offset);
        }
        // Images in flight are keyed by time, so distinct frames must stay distinct times.
        let distinct = |mut v: Vec<u64>| {
            v.sort_unstable();
            v.dedup();
            v.len()
        };
        let times = req.frames.iter().map(|&f| (f as f64 + req.time_offset).to_bits()).collect();
        if distinct(times) != distinct(req.frames.iter().map(|&f| f as u64).collect()) {
            bail!("frames {:?} + time offset {} do not give distinct times", req.frames, req.time_offset);
        }
        let viol_start = rt.diag.violations.lock().len();
        let msg_start = rt.diag.messages.lock().len();
        let out_clip = e.clip("Output").ok_or_else(|| anyhow!("effect '{}' has no Output clip", rt.id))?;
        let inputs: Vec<_> = e.clips.lock().iter().filter(|c| !c.is_output).cloned().collect();
        let source = e.clip("Source").and_then(|c| c.source.lock().clone());
        if self.context == Context::Filter && source.is_none() {
            bail!("the Source clip is not connected (call set_source first)");
        }

        // Depth: what was asked, else the source's, else f32; it must be one the plugin supports.
        let supports = |d: Depth| info.supported_depths.is_empty() || info.supported_depths.contains(&d);
        let wanted = req.depth.or(source.as_ref().map(|s| s.depth)).unwrap_or(Depth::F32);
        let depth = if supports(wanted) {
            wanted
        } else if req.depth.is_some() {
            let have: Vec<String> = info.supported_depths.iter().map(|d| d.to_string()).collect();
            bail!("effect '{}' does not support {wanted} images (it supports: {})", rt.id, have.join(", "));
        } else {
            [Depth::F32, Depth::U16, Depth::U8]
                .into_iter()
                .find(|d| supports(*d))
                .ok_or_else(|| anyhow!("no usable depth"))?
        };
        let clip_comps = |c: &crate::objects::Clip| -> Vec<Components> {
            c.props
                .strings(kOfxImageEffectPropSupportedComponents)
                .unwrap_or_default()
                .iter()
                .filter_map(|s| Components::from_ofx(s))
                .collect()
        };
        let pick = |supported: &[Components], want: Components| -> Option<Components> {
            if supported.is_empty() || supported.contains(&want) {
                Some(want)
            } else {
                [Components::Rgba, Components::Rgb, Components::Alpha].into_iter().find(|c| supported.contains(c))
            }
        };
        let out_supported = clip_comps(&out_clip);
        let want_comps = req.components.or(source.as_ref().map(|s| s.components)).unwrap_or(Components::Rgba);
        if let Some(c) = req.components {
            if !out_supported.is_empty() && !out_supported.contains(&c) {
                bail!("the Output clip of '{}' does not support {c:?} (it supports: {out_supported:?})", rt.id);
            }
        }
        let out_comps = pick(&out_supported, want_comps).ok_or_else(|| anyhow!("no usable components"))?;

        // Project.
        let (w, h) = match &source {
            Some(s) => {
                if let Some(size) = req.size {
                    if size != (s.width, s.height) {
                        bail!(
                            "--size {}x{} does not match the source ({}x{}); size only applies without a source",
                            size.0,
                            size.1,
                            s.width,
                            s.height
                        );
                    }
                }
                (s.width, s.height)
            }
            None => req.size.unwrap_or((1920, 1080)),
        };
        if w == 0 || h == 0 {
            bail!("project size {w}x{h} is empty");
        }
        let fmin = *req.frames.iter().min().unwrap_or(&0);
        let fmax = *req.frames.iter().max().unwrap_or(&0);
        let range = source.as_ref().map(|s| (s.first as f64, s.last as f64)).unwrap_or((fmin as f64, fmax as f64));
        Self::set_project(e, w, h, req.frame_rate, range);
        let (ox, oy) = req.origin;
        if req.origin != (0, 0) {
            e.props.set_doubles(kOfxImageEffectPropProjectOffset, &[ox as f64, oy as f64]);
            let extent = [(ox.max(0) as f64) + w as f64, (oy.max(0) as f64) + h as f64];
            e.props.set_doubles(kOfxImageEffectPropProjectExtent, &extent);
        }
        *e.st.origin.lock() = req.origin;
        *e.st.time_offset.lock() = req.time_offset;
        *e.st.layout.lock() = req.layout;
        *e.st.render_scale.lock() = req.render_scale;
        *e.st.progress.lock() = req.progress.clone();
        *e.st.abort_after_progress.lock() = req.abort_after_progress;
        e.st.progress_updates.store(0, Ordering::SeqCst);
        let handle = e.handle() as *const c_void;

        // Clip preferences.
        let prefs = PropSet::new("GetClipPreferences outArgs");
        let mut chosen = Vec::new();
        for c in inputs.iter().chain(std::iter::once(&out_clip)) {
            let native = if c.is_output {
                out_comps
            } else {
                c.source.lock().as_ref().map(|s| s.components).unwrap_or(Components::Rgba)
            };
            let comps = if c.is_output { out_comps } else { pick(&clip_comps(c), native).unwrap_or(native) };
            prefs.put_named(
                &format!("OfxImageClipPropComponents_{}", c.name),
                PropValue::String(vec![comps.ofx().to_owned()]),
                false,
            );
            prefs.put_named(
                &format!("OfxImageClipPropDepth_{}", c.name),
                PropValue::String(vec![depth.ofx().to_owned()]),
                false,
            );
            prefs.put_named(&format!("OfxImageClipPropPAR_{}", c.name), PropValue::Double(vec![1.0]), false);
            chosen.push((c.clone(), comps));
        }
        prefs.set_double(kOfxImageEffectPropFrameRate, req.frame_rate);
        prefs.set_cstr(kOfxImageClipPropFieldOrder, kOfxImageFieldNone);
        let premult = if out_comps == Components::Rgba { kOfxImageUnPreMultiplied } else { kOfxImageOpaque };
        prefs.set_cstr(kOfxImageEffectPropPreMultiplication, premult);
        prefs.set_int(kOfxImageClipPropContinuousSamples, 0);
        prefs.set_int(kOfxImageEffectFrameVarying, 0);
        let (st, _) =
            call_action(rt, kOfxImageEffectActionGetClipPreferences, handle, None, Some(&prefs), Some(e), None);
        if st != kOfxStatOK && st != kOfxStatReplyDefault {
            bail!("GetClipPreferences failed with {}{}", status_name(st), last_error_text(rt, e.id));
        }
        let mut out_format = (depth, out_comps);
        for (c, comps) in chosen {
            let d_str = prefs.string_named(&format!("OfxImageClipPropDepth_{}", c.name)).unwrap_or_default();
            let c_str = prefs.string_named(&format!("OfxImageClipPropComponents_{}", c.name)).unwrap_or_default();
            let mut d = Depth::from_ofx(&d_str).unwrap_or_else(|| {
                report_to(
                    rt,
                    ViolationKind::BadClipPreferences,
                    "GetClipPreferences",
                    None,
                    format!("clip '{}': unknown depth '{d_str}'", c.name),
                );
                depth
            });
            if d != depth {
                report_to(
                    rt,
                    ViolationKind::BadClipPreferences,
                    "GetClipPreferences",
                    None,
                    format!("clip '{}': asked for {d} but the host does not support multiple clip depths (all clips are {depth})", c.name),
                );
                d = depth;
            }
            let supported = clip_comps(&c);
            let mut cc = Components::from_ofx(&c_str).unwrap_or_else(|| {
                report_to(
                    rt,
                    ViolationKind::BadClipPreferences,
                    "GetClipPreferences",
                    None,
                    format!("clip '{}': unknown components '{c_str}'", c.name),
                );
                comps
            });
            if !supported.is_empty() && !supported.contains(&cc) {
                report_to(
                    rt,
                    ViolationKind::BadClipPreferences,
                    "GetClipPreferences",
                    None,
                    format!("clip '{}': asked for {cc:?}, which its descriptor does not list ({supported:?})", c.name),
                );
                cc = comps;
            }
            c.props.set_cstr(kOfxImageEffectPropPixelDepth, d.ofx());
            c.props.set_cstr(kOfxImageEffectPropComponents, cc.ofx());
            if c.is_output {
                out_format = (d, cc);
                let pm = prefs.string(kOfxImageEffectPropPreMultiplication).unwrap_or_default();
                c.props.set_str(kOfxImageEffectPropPreMultiplication, &pm);
                c.props.set_cstr(kOfxImageClipPropUnmappedPixelDepth, d.ofx());
                c.props.set_cstr(kOfxImageClipPropUnmappedComponents, cc.ofx());
                c.props.set_doubles(kOfxImageEffectPropFrameRange, &[range.0, range.1]);
            }
        }

        // Per frame: RoD and frames needed.
        let scale = req.render_scale;
        let mut results: BTreeMap<i64, Result<HostImage, RenderFailure>> = BTreeMap::new();
        let mut bounds_map = BTreeMap::new();
        let mut needed = BTreeMap::new();
        // The spec's default RoD: the Source's at that time (each frame's own size), else the
        // project; both moved by the origin.
        let (ox, oy) = (ox as f64, oy as f64);
        let default_rod = |t: f64| match &source {
            Some(s) if self.context != Context::Generator => {
                let [x1, y1, x2, y2] = s.region_at(t);
                [x1 + ox, y1 + oy, x2 + ox, y2 + oy]
            }
            _ => [ox, oy, ox + w as f64, oy + h as f64],
        };
        let mut todo = Vec::new();
        for &f in &req.frames {
            if results.contains_key(&f) || bounds_map.contains_key(&f) {
                continue; // duplicates render once
            }
            let t = f as f64 + req.time_offset;
            let in_args = PropSet::read_only("GetRegionOfDefinition inArgs");
            in_args.set_double(kOfxPropTime, t);
            in_args.set_doubles(kOfxImageEffectPropRenderScale, &[scale, scale]);
            let out = PropSet::new("GetRegionOfDefinition outArgs");
            let default_rod = default_rod(t);
            out.set_doubles(kOfxImageEffectPropRegionOfDefinition, &default_rod);
            let (st, aid) = call_action(
                rt,
                kOfxImageEffectActionGetRegionOfDefinition,
                handle,
                Some(&in_args),
                Some(&out),
                Some(e),
                Some(f),
            );
            let rod = match st {
                s if s == kOfxStatOK => out.doubles(kOfxImageEffectPropRegionOfDefinition).unwrap_or_default(),
                s if s == kOfxStatReplyDefault => default_rod.to_vec(),
                s => {
                    results.insert(f, Err(failure(rt, e.id, aid, s, "GetRegionOfDefinition")));
                    continue;
                }
            };
            let rod: [f64; 4] = match rod.as_slice() {
                [a, b, c, d] if [a, b, c, d].iter().all(|v| v.is_finite()) && c >= a && d >= b => [*a, *b, *c, *d],
                other => {
                    report_to(
                        rt,
                        ViolationKind::BadArgument,
                        "GetRegionOfDefinition",
                        Some(f),
                        format!("returned an invalid RoD {other:?}"),
                    );
                    results.insert(
                        f,
                        Err(RenderFailure {
                            status: kOfxStatFailed,
                            message: format!("invalid region of definition {other:?}"),
                        }),
                    );
                    continue;
                }
            };
            let b = scaled_bounds(rod, scale);
            if b.is_empty() || b.width() * b.height() > MAX_PIXELS {
                results.insert(
                    f,
                    Err(RenderFailure {
                        status: kOfxStatFailed,
                        message: format!("region of definition {rod:?} is empty or too large"),
                    }),
                );
                continue;
            }
            e.st.output_rods.lock().insert(t.to_bits(), rod);
            bounds_map.insert(f, b);
            if e.temporal_access() {
                let in_args = PropSet::read_only("GetFramesNeeded inArgs");
                in_args.set_double(kOfxPropTime, t);
                let out = PropSet::new("GetFramesNeeded outArgs");
                let prefix = "OfxImageClipPropFrameRange_";
                for c in &inputs {
                    out.put_named(&format!("{prefix}{}", c.name), PropValue::Double(vec![t, t]), false);
                }
                let (st, _) = call_action(
                    rt,
                    kOfxImageEffectActionGetFramesNeeded,
                    handle,
                    Some(&in_args),
                    Some(&out),
                    Some(e),
                    Some(f),
                );
                if st == kOfxStatOK {
                    let ranges = out
                        .doubles(&std::ffi::CString::new(format!("{prefix}Source")).unwrap_or_default())
                        .unwrap_or_default();
                    needed.insert(f, ranges.chunks_exact(2).map(|r| (r[0], r[1])).collect());
                }
            }
            todo.push(f);
        }

        // Begin, render, end.
        let threads = req.threads.max(1);
        let seq_args = PropSet::read_only("Begin/EndSequenceRender inArgs");
        seq_args.set_doubles(kOfxImageEffectPropFrameRange, &[fmin as f64, fmax as f64]);
        seq_args.set_double(kOfxImageEffectPropFrameStep, 1.0);
        seq_args.set_int(kOfxPropIsInteractive, 0);
        seq_args.set_doubles(kOfxImageEffectPropRenderScale, &[scale, scale]);
        seq_args.set_int(kOfxImageEffectPropSequentialRenderStatus, (threads == 1) as i32);
        seq_args.set_int(kOfxImageEffectPropInteractiveRenderStatus, 0);
        seq_args.set_int(kOfxImageEffectPropRenderQualityDraft, 0);
        let mut aborted = false;
        if !todo.is_empty() {
            if e.st.in_sequence.swap(true, Ordering::SeqCst) {
                report_to(
                    rt,
                    ViolationKind::RenderOutsideSequence,
                    "BeginSequenceRender",
                    None,
                    "a sequence render was already open".into(),
                );
            }
            let (st, aid) =
                call_action(rt, kOfxImageEffectActionBeginSequenceRender, handle, Some(&seq_args), None, Some(e), None);
            if st != kOfxStatOK && st != kOfxStatReplyDefault {
                e.st.in_sequence.store(false, Ordering::SeqCst);
                let f = failure(rt, e.id, aid, st, "BeginSequenceRender");
                for fr in todo.drain(..) {
                    results.insert(fr, Err(f.clone()));
                }
            } else {
                let queue = Mutex::new(todo.iter().copied().collect::<VecDeque<i64>>());
                let done = Mutex::new(Vec::new());
                let total = todo.len();
                let (window_req, layout, unclipped) = (req.render_window, req.layout, req.unclipped_window);
                std::thread::scope(|s| {
                    for _ in 0..threads.min(total) {
                        s.spawn(|| loop {
                            let Some(f) = queue.lock().pop_front() else {
                                break;
                            };
                            let r = if e.aborted() {
                                Err(RenderFailure {
                                    status: kOfxStatFailed,
                                    message: "aborted before rendering".into(),
                                })
                            } else {
                                let b = bounds_map[&f];
                                let window = window_req
                                    .map(|(x1, y1, x2, y2)| Rect::new(x1, y1, x2, y2))
                                    .map(|w| if unclipped { w } else { w.intersect(&b) })
                                    .unwrap_or(b);
                                self.render_frame(f, b, window, out_format, layout, scale, threads == 1)
                            };
                            if let Some(cb) = &req.on_frame {
                                cb(f, &r);
                            }
                            let ok = r.is_ok();
                            let n = {
                                let mut d = done.lock();
                                d.push((f, r));
                                d.len()
                            };
                            if let Some(cb) = &req.progress {
                                cb(&ProgressEvent::FrameDone { frame: f, ok, done: n, total });
                            }
                        });
                    }
                });
                aborted = e.aborted();
                results.extend(done.into_inner());
                e.st.in_sequence.store(false, Ordering::SeqCst);
                let (st, _) = call_action(
                    rt,
                    kOfxImageEffectActionEndSequenceRender,
                    handle,
                    Some(&seq_args),
                    None,
                    Some(e),
                    None,
                );
                if st != kOfxStatOK && st != kOfxStatReplyDefault {
                    report_to(
                        rt,
                        ViolationKind::StatusNotAllowed,
                        "EndSequenceRender",
                        None,
                        format!("EndSequenceRender failed with {}", status_name(st)),
                    );
                }
            }
        }
        *e.st.time.lock() = fmax as f64;
        e.st.output_rods.lock().clear();
        Ok(RenderOutput {
            frames: results,
            bounds: bounds_map,
            frames_needed: needed,
            violations: rt.diag.violations.lock()[viol_start..].to_vec(),
            messages: rt.diag.messages.lock()[msg_start..].to_vec(),
            aborted,
            depth: out_format.0,
            components: out_format.1,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn render_frame(
        &self,
        f: i64,
        bounds: Rect,
        window: Rect,
        format: (Depth, Components),
        layout: crate::RowLayout,
        scale: f64,
        sequential: bool,
    ) -> Result<HostImage, RenderFailure> {
        let e = &self.effect;
        let rt = &self.rt;
        if !e.st.in_sequence.load(Ordering::SeqCst) {
            report_to(
                rt,
                ViolationKind::RenderOutsideSequence,
                "Render",
                Some(f),
                "Render outside Begin/EndSequenceRender".into(),
            );
        }
        if window.is_empty() {
            return Err(RenderFailure {
                status: kOfxStatFailed,
                message: format!("render window is empty for bounds {bounds:?}"),
            });
        }
        let t = f as f64 + *e.st.time_offset.lock();
        let buf = Arc::new(PixelBuffer::new(bounds, format.0, format.1, layout));
        e.st.outputs.lock().insert(t.to_bits(), buf.clone());
        let in_args = PropSet::read_only("Render inArgs");
        in_args.set_double(kOfxPropTime, t);
        in_args.set_cstr(kOfxImageEffectPropFieldToRender, kOfxImageFieldNone);
        in_args.set_ints(kOfxImageEffectPropRenderWindow, &window.as_array());
        in_args.set_doubles(kOfxImageEffectPropRenderScale, &[scale, scale]);
        in_args.set_int(kOfxImageEffectPropSequentialRenderStatus, sequential as i32);
        in_args.set_int(kOfxImageEffectPropInteractiveRenderStatus, 0);
        in_args.set_int(kOfxImageEffectPropRenderQualityDraft, 0);
        in_args.set_int(kOfxPropIsInteractive, 0);
        let (st, aid) = {
            let _global = (rt.info.render_thread_safety == ThreadSafety::Unsafe).then(|| global_render_lock().lock());
            let _inst = (rt.info.render_thread_safety == ThreadSafety::InstanceSafe).then(|| e.st.render_lock.lock());
            call_action(
                rt,
                kOfxImageEffectActionRender,
                e.handle() as *const c_void,
                Some(&in_args),
                None,
                Some(e),
                Some(f),
            )
        };
        e.st.outputs.lock().remove(&t.to_bits());
        let rep = buf.check_canary(window);
        if rep.pixels_outside_window > 0 || rep.padding_bytes > 0 {
            report_to(
                rt,
                ViolationKind::WroteOutsideRenderWindow,
                "Render",
                Some(f),
                format!(
                    "{} pixel(s) outside the render window {:?} changed (first at {:?}), {} row padding byte(s) changed",
                    rep.pixels_outside_window, window, rep.first_pixel, rep.padding_bytes
                ),
            );
        }
        if rep.guard_before || rep.guard_after {
            report_to(
                rt,
                ViolationKind::BufferOverrun,
                "Render",
                Some(f),
                format!(
                    "the plugin wrote {} the output image allocation",
                    match (rep.guard_before, rep.guard_after) {
                        (true, true) => "before and after",
                        (true, false) => "before",
                        _ => "after",
                    }
                ),
            );
        }
        if st == kOfxStatOK {
            Ok(buf.to_host_image(Some(window)))
        } else {
            Err(failure(rt, e.id, aid, st, "Render"))
        }
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
