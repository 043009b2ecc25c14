//! Sending actions: the plugin's entry point called with this thread's action context, the returned status
//! checked against what the action may return, and images the action did not release reclaimed.

use std::ffi::{c_void, CStr};
use std::sync::Arc;

use ofx_abi::*;

use super::PluginRt;
use crate::diag::{self, ActionCtx, ViolationKind};
use crate::objects::Effect;
use crate::props::PropSet;
use crate::{status_name, suites};

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

/// A status the OFX headers define.
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
