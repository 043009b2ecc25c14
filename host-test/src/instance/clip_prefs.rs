//! Pixel formats: the depth and components a render asks for, and the GetClipPreferences exchange, in which
//! the plugin may change them within what the host and each clip descriptor allow.

use std::ffi::c_void;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use ofx_abi::*;

use super::{last_error_text, report_to, Instance};
use crate::diag::ViolationKind;
use crate::host::call_action;
use crate::image::{Components, Depth};
use crate::objects::{Clip, Source};
use crate::props::{PropSet, PropValue};
use crate::{status_name, RenderRequest};

/// The components a clip descriptor lists (empty: any).
fn clip_comps(c: &Clip) -> Vec<Components> {
    c.props
        .strings(kOfxImageEffectPropSupportedComponents)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| Components::from_ofx(s))
        .collect()
}

/// `want` when `supported` allows it, else the first of RGBA, RGB, Alpha it lists.
fn pick(supported: &[Components], want: Components) -> Option<Components> {
    if supported.is_empty() || supported.contains(&want) {
        Some(want)
    } else {
        [Components::Rgba, Components::Rgb, Components::Alpha].into_iter().find(|c| supported.contains(c))
    }
}

impl Instance {
    /// The render's depth (what was asked, else the source's, else f32; it must be one the plugin supports)
    /// and output components (what was asked, else the source's, else RGBA, within what the Output clip lists).
    pub(super) fn choose_format(
        &self,
        req: &RenderRequest,
        source: Option<&Arc<Source>>,
        out_clip: &Clip,
    ) -> Result<(Depth, Components)> {
        let rt = &self.rt;
        let info = &rt.info;
        let supports = |d: Depth| info.supported_depths.is_empty() || info.supported_depths.contains(&d);
        let wanted = req.depth.or(source.map(|s| s.depth)).unwrap_or(Depth::F32);
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
        let out_supported = clip_comps(out_clip);
        let want_comps = req.components.or(source.map(|s| s.components)).unwrap_or(Components::Rgba);
        if let Some(c) = req.components {
            if !out_supported.is_empty() && !out_supported.contains(&c) {
                bail!("the Output clip of '{}' does not support {c:?} (it supports: {out_supported:?})", rt.id);
            }
        }
        let out_comps = pick(&out_supported, want_comps).ok_or_else(|| anyhow!("no usable components"))?;
        Ok((depth, out_comps))
    }

    /// Sends GetClipPreferences with the host's choice for every clip, then applies the plugin's answer
    /// (reporting what it may not ask for: other depths per clip, components a clip does not list). Returns
    /// the output's depth and components.
    pub(super) fn clip_preferences(
        &self,
        inputs: &[Arc<Clip>],
        out_clip: &Arc<Clip>,
        (depth, out_comps): (Depth, Components),
        frame_rate: f64,
        range: (f64, f64),
    ) -> Result<(Depth, Components)> {
        let e = &self.effect;
        let rt = &self.rt;
        let handle = e.handle() as *const c_void;
        let prefs = PropSet::new("GetClipPreferences outArgs");
        let mut chosen = Vec::new();
        for c in inputs.iter().chain(std::iter::once(out_clip)) {
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
            prefs.put_named(&format!("OfxImageClipPropPAR_{}", c.name), PropValue::Double(vec![e.st.par()]), false);
            chosen.push((c.clone(), comps));
        }
        prefs.set_double(kOfxImageEffectPropFrameRate, frame_rate);
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
        Ok(out_format)
    }
}
