//! Rendering: the spec's render sequence (clip preferences, regions of definition, frames needed,
//! Begin/EndSequenceRender, Render on the requested threads) and the checks on each rendered frame.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use ofx_abi::*;
use parking_lot::Mutex;

use super::{failure, report_to, Instance};
use crate::diag::ViolationKind;
use crate::host::call_action;
use crate::image::{Components, Depth, HostImage, PixelBuffer, Rect};
use crate::objects::Source;
use crate::props::{PropSet, PropValue};
use crate::suites::scaled_bounds;
use crate::{status_name, Context, ProgressEvent, RenderFailure, RenderOutput, RenderRequest, ThreadSafety};

/// Largest output image the host will allocate (pixels).
const MAX_PIXELS: usize = 1 << 28;

/// Serialises renders of plugins that declare kOfxImageEffectRenderUnsafe, across all instances.
fn global_render_lock() -> &'static Mutex<()> {
    static L: Mutex<()> = Mutex::new(());
    &L
}

impl Instance {
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
        // Every input the effect needs must be connected; optional ones (masks among them) may stay empty.
        for c in &inputs {
            let optional = c.props.int(kOfxImageClipPropOptional).unwrap_or(0) != 0;
            if !optional && self.context != Context::Generator && c.source.lock().is_none() {
                if c.name == "Source" {
                    bail!("the Source clip is not connected (call set_source first)");
                }
                bail!("the '{}' clip of '{}' is not connected (it is not optional)", c.name, rt.id);
            }
        }
        // The project follows the Source clip, else the first input connected.
        let source = e
            .clip("Source")
            .and_then(|c| c.source.lock().clone())
            .or_else(|| inputs.iter().find_map(|c| c.source.lock().clone()));
        if self.context == Context::Filter && source.is_none() {
            bail!("the Source clip is not connected (call set_source first)");
        }

        let (depth, out_comps) = self.choose_format(req, source.as_ref(), &out_clip)?;

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
        let par = req.pixel_aspect;
        if !(par.is_finite() && par > 0.0) {
            bail!("pixel aspect ratio {par} must be positive");
        }
        let fmin = *req.frames.iter().min().unwrap_or(&0);
        let fmax = *req.frames.iter().max().unwrap_or(&0);
        let range = source.as_ref().map(|s| (s.first as f64, s.last as f64)).unwrap_or((fmin as f64, fmax as f64));
        let (ox, oy) = req.origin;
        *e.st.origin.lock() = req.origin;
        let (cw, ch) = (w as f64 * par, h as f64);
        Self::set_project(e, (cw, ch), (ox as f64, oy as f64), par, req.frame_rate, range);
        super::apply_normalised_defaults(e, &self.auto_defaults);
        *e.st.time_offset.lock() = req.time_offset;
        *e.st.layout.lock() = req.layout;
        *e.st.render_scale.lock() = req.render_scale;
        *e.st.progress.lock() = req.progress.clone();
        *e.st.abort_after_progress.lock() = req.abort_after_progress;
        e.st.progress_updates.store(0, Ordering::SeqCst);
        let handle = e.handle() as *const c_void;

        let out_format = self.clip_preferences(&inputs, &out_clip, (depth, out_comps), req.frame_rate, range)?;

        // Per frame: RoD and frames needed.
        let scale = req.render_scale;
        let mut results: BTreeMap<i64, Result<HostImage, RenderFailure>> = BTreeMap::new();
        let mut bounds_map = BTreeMap::new();
        let mut needed = BTreeMap::new();
        // The spec's default RoD: in the filter context the Source's at that time (each frame's own size), in
        // the general context the union of the connected inputs that are not optional, else the project; all
        // moved by the origin.
        let (ox, oy) = (ox as f64, oy as f64);
        let required: Vec<Arc<Source>> = inputs
            .iter()
            .filter(|c| c.props.int(kOfxImageClipPropOptional).unwrap_or(0) == 0)
            .filter_map(|c| c.source.lock().clone())
            .collect();
        let default_rod = |t: f64| {
            let moved = |s: &Source| {
                let [x1, y1, x2, y2] = s.region_at(t, par);
                [x1 + ox, y1 + oy, x2 + ox, y2 + oy]
            };
            match (&source, self.context) {
                (_, Context::Generator) | (None, _) => [ox, oy, ox + cw, oy + ch],
                (Some(_), Context::General) if !required.is_empty() => required
                    .iter()
                    .map(|s| moved(s))
                    .reduce(|a, b| [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])])
                    .unwrap_or([ox, oy, ox + cw, oy + ch]),
                (Some(s), _) => moved(s),
            }
        };
        // Infinite coordinates (kOfxFlagInfiniteMin/Max) are clipped to the project extent.
        let extent = {
            let ext = e.props.doubles(kOfxImageEffectPropProjectExtent).unwrap_or_default();
            [ox.min(0.0), oy.min(0.0), ext.first().copied().unwrap_or(cw), ext.get(1).copied().unwrap_or(ch)]
        };
        let clip_infinite = |r: Vec<f64>| -> Vec<f64> {
            let (min, max) = (f64::from(kOfxFlagInfiniteMin), f64::from(kOfxFlagInfiniteMax));
            r.iter()
                .enumerate()
                .map(|(i, &v)| {
                    if v <= min {
                        extent[i % 2]
                    } else if v >= max {
                        extent[2 + i % 2]
                    } else {
                        v
                    }
                })
                .collect()
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
                s if s == kOfxStatOK => {
                    clip_infinite(out.doubles(kOfxImageEffectPropRegionOfDefinition).unwrap_or_default())
                }
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
            let b = scaled_bounds(rod, scale, par);
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
        let mut handed_over = Vec::new();
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
                let done = Mutex::new((Vec::new(), Vec::new()));
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
                                match r {
                                    Ok(_) if !req.keep_images && req.on_frame.is_some() => d.1.push(f),
                                    r => d.0.push((f, r)),
                                }
                                d.0.len() + d.1.len()
                            };
                            if let Some(cb) = &req.progress {
                                cb(&ProgressEvent::FrameDone { frame: f, ok, done: n, total });
                            }
                        });
                    }
                });
                aborted = e.aborted();
                let (finished, given) = done.into_inner();
                results.extend(finished);
                handed_over = given;
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
            handed_over,
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
}
