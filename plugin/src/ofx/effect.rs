//! Safe wrapper over an image effect handle (descriptor or instance), with the host services an
//! action may use: clips, parameters, messages, progress and abort.

use std::ffi::CStr;

use ofx_abi::*;

use super::clip::Clip;
use super::params::ParamSet;
use super::props::PropertySet;
use super::raw;
use super::status::{OfxError, OfxResult};
use crate::effects::Context;

#[derive(Clone, Copy, Debug)]
pub struct ImageEffect {
    handle: OfxImageEffectHandle,
}

impl ImageEffect {
    /// # Safety
    /// `handle` must be NULL or the effect handle the host passed to the current action.
    pub unsafe fn from_raw(handle: OfxImageEffectHandle) -> OfxResult<Self> {
        if handle.is_null() {
            return Err(OfxError::bad_handle("the image effect"));
        }
        Ok(Self { handle })
    }

    pub fn handle(&self) -> OfxImageEffectHandle {
        self.handle
    }

    // Every method below calls `raw` with `self.handle`, the handle of the current action by the
    // contract of `from_raw`.

    pub fn properties(&self) -> OfxResult<PropertySet> {
        // SAFETY: `self.handle` is the current action's effect (`from_raw`), and the property set
        // the host returns for it stays valid as long as the effect does.
        unsafe { PropertySet::from_raw(raw::effect_property_set(self.handle)?, "the effect's properties") }
    }

    pub fn params(&self) -> OfxResult<ParamSet> {
        // SAFETY: `self.handle` is the current action's effect (`from_raw`), and the parameter set
        // the host returns for it stays valid as long as the effect does.
        unsafe { ParamSet::from_raw(raw::effect_param_set(self.handle)?) }
    }

    /// Defines a clip on a descriptor (DescribeInContext).
    pub fn define_clip(&self, name: &'static CStr) -> OfxResult<PropertySet> {
        // SAFETY: `self.handle` is the current action's effect (`from_raw`; a descriptor in
        // DescribeInContext), `name` is `'static` as the host may keep it, and the clip
        // descriptor's property set lives as long as the descriptor.
        unsafe { PropertySet::from_raw(raw::clip_define(self.handle, name)?, "a clip descriptor") }
    }

    pub fn clip(&self, name: &'static CStr) -> OfxResult<Clip> {
        // SAFETY: `self.handle` is the current action's instance (`from_raw`).
        let (clip, props) = unsafe { raw::clip_get_handle(self.handle, name)? };
        // SAFETY: the clip's property set just returned by clipGetHandle, valid with the instance.
        let props = unsafe { PropertySet::from_raw(props, "the clip's properties")? };
        // SAFETY: both handles came from clipGetHandle during this action.
        Ok(unsafe { Clip::from_raw(clip, props, name) })
    }

    /// The context this instance was created in.
    pub fn context(&self) -> OfxResult<Context> {
        parse_context(&self.properties()?.string(kOfxImageEffectPropContext)?)
    }

    /// The project's frame rate (`kOfxImageEffectPropFrameRate`), when the host gives one.
    pub fn frame_rate(&self) -> Option<f64> {
        self.properties().ok()?.double(kOfxImageEffectPropFrameRate).ok().filter(|r| *r > 0.0 && r.is_finite())
    }

    /// Whether the host wants the current render stopped. Hosts without the call never abort.
    pub fn abort(&self) -> bool {
        // SAFETY: `self.handle` is the current action's instance (`from_raw`).
        unsafe { raw::effect_abort(self.handle) }.unwrap_or(false)
    }

    /// Posts a message to the user; Ok(false) when the host has no message suite.
    pub fn message(&self, kind: &CStr, text: &str) -> OfxResult<bool> {
        let c = raw::c_string(text)?;
        // SAFETY: `self.handle` is the current action's instance (`from_raw`).
        unsafe { raw::message(self.handle, kind, &c) }
    }

    /// Starts a progress bar; Ok(false) when the host has no progress suite.
    pub fn progress_start(&self, label: &str) -> OfxResult<bool> {
        let c = raw::c_string(label)?;
        // SAFETY: `self.handle` is the current action's instance (`from_raw`).
        unsafe { raw::progress_start(self.handle, &c) }
    }

    /// Reports progress in 0..=1; Ok(false) when the user cancelled.
    pub fn progress_update(&self, fraction: f64) -> OfxResult<bool> {
        // SAFETY: `self.handle` is the current action's instance (`from_raw`).
        unsafe { raw::progress_update(self.handle, fraction.clamp(0.0, 1.0)) }
    }

    pub fn progress_end(&self) -> OfxResult<()> {
        // SAFETY: `self.handle` is the current action's instance (`from_raw`).
        unsafe { raw::progress_end(self.handle) }
    }
}

pub fn parse_context(s: &str) -> OfxResult<Context> {
    let b = s.as_bytes();
    if b == kOfxImageEffectContextGenerator.to_bytes() {
        Ok(Context::Generator)
    } else if b == kOfxImageEffectContextFilter.to_bytes() {
        Ok(Context::Filter)
    } else if b == kOfxImageEffectContextGeneral.to_bytes() {
        Ok(Context::General)
    } else {
        Err(OfxError::new(kOfxStatErrUnsupported, format!("context '{s}' is not supported")))
    }
}

pub fn context_name(context: Context) -> &'static CStr {
    match context {
        Context::Generator => kOfxImageEffectContextGenerator,
        Context::Filter => kOfxImageEffectContextFilter,
        Context::General => kOfxImageEffectContextGeneral,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_round_trip_and_unknown_ones_are_unsupported() {
        for c in [Context::Generator, Context::Filter, Context::General] {
            assert_eq!(parse_context(context_name(c).to_str().unwrap()).unwrap(), c);
        }
        assert_eq!(parse_context("OfxImageEffectContextRetimer").unwrap_err().status, kOfxStatErrUnsupported);
    }
}
