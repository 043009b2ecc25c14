//! Per-instance data, kept in `kOfxPropInstanceData`. Hosts render one instance from many
//! threads at once, so everything in it is `Sync` and behind locks that are never held across a
//! host call.

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
    /// Text last written to the Status parameter, so each frame does not write it again.
    last_status: Mutex<Option<String>>,
}

// Renders on many threads share one instance.
const _: () = {
    const fn assert_sync<T: Sync + Send>() {}
    assert_sync::<Instance>()
};

impl Instance {
    pub fn new(spec: &'static EffectSpec, context: Context) -> Self {
        Self { spec, context, last_status: Mutex::new(None) }
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

    /// Records `text` as the instance's status; true when it differs from the last one.
    fn status_changed(&self, text: &str) -> bool {
        let mut last = self.last_status.lock();
        if last.as_deref() == Some(text) {
            return false;
        }
        *last = Some(text.to_string());
        true
    }

    /// Shows `text` in the Status parameter when it changed. Errors are also posted through the
    /// message suite, once per change, so a failing sequence does not raise a dialog per frame.
    pub fn report(&self, effect: &ImageEffect, text: &str, is_error: bool) {
        if !self.status_changed(text) {
            return;
        }
        // Best-effort: a host that refuses parameter writes during render still gets the status code.
        let _ = effect.params().and_then(|p| p.param(PARAM_STATUS)).and_then(|p| p.set_string(text));
        if is_error {
            let label = self.spec.label.to_string_lossy();
            let _ = effect.message(kOfxMessageError, &format!("{label}: {text}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::INTERPOLATE;

    #[test]
    fn status_is_reported_only_when_it_changes() {
        let inst = Instance::new(&INTERPOLATE, Context::Filter);
        assert!(inst.status_changed("Pass-through of source frame 1"));
        assert!(!inst.status_changed("Pass-through of source frame 1"));
        assert!(inst.status_changed("Pass-through of source frame 2"));
        assert!(inst.status_changed("Pass-through of source frame 1"));
    }
}
