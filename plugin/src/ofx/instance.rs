//! Per-instance data, kept in `kOfxPropInstanceData`. Hosts render one instance from many
//! threads at once, so everything in it is `Sync` and behind locks that are never held across a
//! host call.

use std::collections::VecDeque;
use std::ffi::c_void;

use ofx_abi::*;
use parking_lot::Mutex;

use super::effect::ImageEffect;
use super::status::{OfxError, OfxResult};
use crate::effects::{Context, EffectSpec, PARAM_STATUS};

#[derive(Debug)]
pub struct Instance {
    pub spec: &'static EffectSpec,
    pub context: Context,
    /// What the renders did, for Status (shown in InstanceChanged) and to post each error once.
    statuses: Mutex<StatusLog>,
}

/// Status texts of the last renders: the latest, and the last one per frame (a bounded list).
#[derive(Debug, Default)]
struct StatusLog {
    latest: Option<String>,
    by_time: VecDeque<(u64, String)>,
}

/// Frames whose status is remembered; older ones fall back to the latest status.
const STATUS_FRAMES: usize = 256;

impl StatusLog {
    /// Records `text` (for the frame at `time`, when there is one); true when it differs from the
    /// latest.
    fn record(&mut self, time: Option<f64>, text: &str) -> bool {
        if let Some(t) = time {
            let key = t.to_bits();
            self.by_time.retain(|(k, _)| *k != key);
            if self.by_time.len() >= STATUS_FRAMES {
                self.by_time.pop_front();
            }
            self.by_time.push_back((key, text.to_string()));
        }
        if self.latest.as_deref() == Some(text) {
            return false;
        }
        self.latest = Some(text.to_string());
        true
    }

    /// What the last render of the frame at `time` did, else the latest render.
    fn for_time(&self, time: Option<f64>) -> Option<&str> {
        let key = time.map(f64::to_bits);
        self.by_time.iter().rev().find(|(k, _)| Some(*k) == key).map(|(_, s)| s.as_str()).or(self.latest.as_deref())
    }
}

// Renders on many threads share one instance.
const _: () = {
    const fn assert_sync<T: Sync + Send>() {}
    assert_sync::<Instance>()
};

impl Instance {
    pub fn new(spec: &'static EffectSpec, context: Context) -> Self {
        Self { spec, context, statuses: Mutex::new(StatusLog::default()) }
    }

    /// Attaches a new instance to `effect` (CreateInstance).
    pub fn attach(effect: &ImageEffect, spec: &'static EffectSpec) -> OfxResult<()> {
        // A host that does not say (it must, but a missing context must not hide the controls)
        // gets the effect's main context.
        let context = effect.context().unwrap_or_else(|_| spec.contexts.first().copied().unwrap_or(Context::Filter));
        let ptr = Box::into_raw(Box::new(Instance::new(spec, context)));
        if let Err(e) = effect.properties().and_then(|p| p.set_pointer(kOfxPropInstanceData, ptr.cast())) {
            // SAFETY: `ptr` came from Box::into_raw above and was not handed out.
            drop(unsafe { Box::from_raw(ptr) });
            return Err(e);
        }
        Ok(())
    }

    /// Detaches and drops the instance (DestroyInstance). Missing data is not an error.
    pub fn detach(effect: &ImageEffect) -> OfxResult<()> {
        let props = effect.properties()?;
        let ptr = props.pointer(kOfxPropInstanceData)?;
        if !ptr.is_null() {
            props.set_pointer(kOfxPropInstanceData, std::ptr::null_mut())?;
            // SAFETY: only `attach` stores this property, with a pointer from Box::into_raw; it
            // was cleared above, so it is dropped once.
            drop(unsafe { Box::from_raw(ptr.cast::<Instance>()) });
        }
        Ok(())
    }

    /// The instance attached to `effect`. Valid until DestroyInstance, which the host does not
    /// send while another action on the instance runs.
    pub fn of(effect: &ImageEffect) -> OfxResult<&Instance> {
        let ptr: *mut c_void = effect.properties()?.pointer(kOfxPropInstanceData)?;
        if ptr.is_null() {
            return Err(OfxError::bad_handle("the instance data (CreateInstance was not called)"));
        }
        // SAFETY: set by `attach` to a live Box<Instance>; see above for its lifetime.
        Ok(unsafe { &*ptr.cast::<Instance>() })
    }

    /// Records what a render did (`time`: the frame, when known), for Status. Errors are also posted
    /// through the message suite, once per change, so a failing sequence does not raise a dialog per
    /// frame. Nothing is written to parameters here: renders may not (only InstanceChanged may).
    pub fn report(&self, effect: &ImageEffect, time: Option<f64>, text: &str, is_error: bool) {
        let changed = self.statuses.lock().record(time, text);
        if changed && is_error {
            let label = self.spec.label.to_string_lossy();
            let _ = effect.message(kOfxMessageError, &format!("{label}: {text}"));
        }
    }

    /// InstanceChanged: shows in Status what the last render of the frame at `time` did (else the
    /// latest render). Written only when it differs, so the host's answer to our own change (another
    /// InstanceChanged, reason PluginEdited) changes nothing and ends there.
    pub fn show_status(&self, effect: &ImageEffect, time: Option<f64>) -> OfxResult<()> {
        let Some(text) = self.statuses.lock().for_time(time).map(str::to_string) else { return Ok(()) };
        let param = effect.params()?.param(PARAM_STATUS)?;
        if param.get_string(None)? != text {
            param.set_string(&text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::INTERPOLATE;

    #[test]
    fn a_status_counts_as_a_change_only_when_it_differs_from_the_latest() {
        let mut log = StatusLog::default();
        assert!(log.record(Some(1.0), "Pass-through of source frame 1"));
        assert!(!log.record(Some(1.0), "Pass-through of source frame 1"));
        assert!(log.record(Some(2.0), "Pass-through of source frame 2"));
        assert!(log.record(Some(1.0), "Pass-through of source frame 1"));
        assert!(log.record(None, "Model not found"));
        assert!(!log.record(None, "Model not found"));
    }

    #[test]
    fn status_shows_the_frame_asked_for_else_the_latest() {
        let inst = Instance::new(&INTERPOLATE, Context::Filter);
        let mut log = inst.statuses.lock();
        assert_eq!(log.for_time(Some(3.0)), None, "nothing rendered yet");
        log.record(Some(3.0), "three");
        log.record(Some(4.0), "four");
        log.record(Some(3.0), "three again");
        assert_eq!(log.for_time(Some(3.0)), Some("three again"));
        assert_eq!(log.for_time(Some(4.0)), Some("four"));
        assert_eq!(log.for_time(Some(9.0)), Some("three again"), "a frame not rendered shows the latest");
        assert_eq!(log.for_time(None), Some("three again"));
        // Bounded: the oldest frames are forgotten.
        for t in 0..(STATUS_FRAMES + 10) {
            log.record(Some(100.0 + t as f64), &format!("frame {t}"));
        }
        assert_eq!(log.by_time.len(), STATUS_FRAMES);
        assert_eq!(log.for_time(Some(4.0)), Some(format!("frame {}", STATUS_FRAMES + 9).as_str()));
    }
}
