//! Parameters: describing them from the effect tables, and reading typed values back.

use std::ffi::{c_int, CStr};
use std::sync::Arc;

use ofx_abi::*;

use super::props::PropertySet;
use super::raw;
use super::status::{OfxError, OfxResult};
use crate::effects::curve::ValueAtTime;
use crate::effects::{EffectSpec, ParamKind, ParamSpec, ParamValue, ParamValues};

/// An effect's (or descriptor's) parameter set.
#[derive(Clone, Copy, Debug)]
pub struct ParamSet {
    handle: OfxParamSetHandle,
}

/// One parameter instance.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    handle: OfxParamHandle,
    name: &'static CStr,
}

impl ParamSet {
    /// # Safety
    /// `handle` must be a parameter set handle from the host, valid while the wrapper is used.
    pub unsafe fn from_raw(handle: OfxParamSetHandle) -> OfxResult<Self> {
        if handle.is_null() {
            return Err(OfxError::bad_handle("the parameter set"));
        }
        Ok(Self { handle })
    }

    pub fn define(&self, kind: &'static CStr, name: &'static CStr) -> OfxResult<PropertySet> {
        // SAFETY: `self.handle` is the current action's parameter set (`from_raw`), `kind` and
        // `name` are `'static` as the host may keep them, and the property set the host returns
        // lives as long as the descriptor.
        unsafe { PropertySet::from_raw(raw::param_define(self.handle, kind, name)?, "a parameter descriptor") }
    }

    pub fn param(&self, name: &'static CStr) -> OfxResult<Param> {
        // SAFETY: `self.handle` is the current action's parameter set (`from_raw`).
        let handle = unsafe { raw::param_get_handle(self.handle, name)? };
        Ok(Param { handle, name })
    }

    pub fn properties(&self) -> OfxResult<PropertySet> {
        // SAFETY: `self.handle` is the current action's parameter set (`from_raw`), and the
        // property set the host returns for it lives as long as the set does.
        unsafe { PropertySet::from_raw(raw::param_set_property_set(self.handle)?, "the parameter set's properties") }
    }

    /// Defines every parameter of `spec`, then its pages.
    pub fn describe(&self, spec: &EffectSpec) -> OfxResult<()> {
        for p in spec.params {
            describe_param(self, p)?;
        }
        // Pages only arrange the UI (Resolve ignores them): a host that rejects them still gets
        // a working effect.
        let _ = self.describe_pages(spec);
        Ok(())
    }

    fn describe_pages(&self, spec: &EffectSpec) -> OfxResult<()> {
        for page in spec.pages {
            let props = self.define(kOfxParamTypePage, page.name)?;
            props.set_string(kOfxPropLabel, page.label)?;
            let children: Vec<&'static CStr> =
                spec.params.iter().filter(|p| p.page == page.name).map(|p| p.name).collect();
            props.set_strings(kOfxParamPropPageChild, &children)?;
        }
        Ok(())
    }

    /// Reads every valued parameter of `spec` at `time` (or the current values for None).
    pub fn values(&self, spec: &EffectSpec, time: Option<f64>) -> OfxResult<ParamValues> {
        let mut values = ParamValues::new();
        for p in spec.params {
            let param = self.param(p.name)?;
            let v = match p.kind {
                ParamKind::Int { .. } => ParamValue::Int(param.get_int(time)?),
                ParamKind::Double { .. } => {
                    // Animated doubles: their key times, and the host answers values at other times.
                    let keys = param.key_times()?;
                    if !keys.is_empty() {
                        values.set_keys(p.name, keys);
                        values.set_value_source(Arc::new(HostValues { set: *self }));
                    }
                    ParamValue::Double(param.get_double(time)?)
                }
                ParamKind::Bool { .. } => ParamValue::Bool(param.get_int(time)? != 0),
                ParamKind::Choice { options, .. } => {
                    ParamValue::Choice(choice(p.name, param.get_int(time)?, options.len())?)
                }
                ParamKind::String { .. } => ParamValue::String(param.get_string(time)?),
                ParamKind::Status | ParamKind::Button => continue,
            };
            values.set(p.name, v);
        }
        Ok(values)
    }
}

/// The host's values of animated parameters at other times (`paramGetValueAtTime`), for the
/// effect core's curves (a speed ramp integrates Speed over time).
struct HostValues {
    set: ParamSet,
}

// SAFETY: the parameter set handle is the instance's, valid while the instance lives, and the
// effect declares itself fully render-thread safe: hosts answer parameter reads from any thread.
unsafe impl Send for HostValues {}
// SAFETY: as for Send: reads through the handle may come from any thread.
unsafe impl Sync for HostValues {}

impl ValueAtTime for HostValues {
    fn double_at(&self, name: &CStr, t: f64) -> Result<f64, String> {
        let spec_name = crate::effects::EFFECTS
            .iter()
            .flat_map(|e| e.params.iter())
            .find(|p| p.name == name)
            .map(|p| p.name)
            .ok_or_else(|| format!("unknown parameter {}", name.to_string_lossy()))?;
        let param = self.set.param(spec_name).map_err(|e| e.to_string())?;
        param.get_double(Some(t)).map_err(|e| e.to_string())
    }
}

impl Param {
    /// Times of the parameter's keys, ascending; empty when it is not animated (or the host
    /// does not say).
    pub fn key_times(&self) -> OfxResult<Vec<f64>> {
        // SAFETY: `self.handle` is live (see below).
        let Ok(count) = (unsafe { raw::param_num_keys(self.handle, self.name) }) else { return Ok(Vec::new()) };
        let mut times = Vec::with_capacity(count.min(4096) as usize);
        for i in 0..count {
            // SAFETY: `self.handle` is live (see below).
            times.push(unsafe { raw::param_key_time(self.handle, i, self.name)? });
        }
        times.retain(|t| t.is_finite());
        times.sort_by(f64::total_cmp);
        times.dedup();
        Ok(times)
    }

    // Every method below calls `raw` with `self.handle`, which came from paramGetHandle on a valid
    // set during this action. The value's C type follows the parameter's type, which the variadic
    // call cannot check: each getter is only for the parameter types it names.

    /// Integer, boolean and choice parameters only.
    pub fn get_int(&self, time: Option<f64>) -> OfxResult<i32> {
        // SAFETY: `self.handle` is live (see above), and the callers read only integer, boolean and
        // choice parameters with it (ParamSet::values picks the getter by the table's kind), which
        // write an `int`.
        unsafe { raw::param_get_value::<c_int>(self.handle, time, self.name) }
    }

    /// Double parameters only.
    pub fn get_double(&self, time: Option<f64>) -> OfxResult<f64> {
        // SAFETY: `self.handle` is live (see above), and the callers read only double parameters
        // with it (ParamSet::values picks the getter by the table's kind), which write a `double`.
        unsafe { raw::param_get_value::<f64>(self.handle, time, self.name) }
    }

    /// String parameters only.
    pub fn get_string(&self, time: Option<f64>) -> OfxResult<String> {
        // SAFETY: `self.handle` is live (see above), and the callers read only string parameters
        // with it (ParamSet::values by the table's kind; Instance::show_status reads Status, a
        // string).
        unsafe { raw::param_get_string(self.handle, time, self.name) }
    }

    /// String parameters only.
    pub fn set_string(&self, value: &str) -> OfxResult<()> {
        let c = raw::c_string(value)?;
        // SAFETY: `self.handle` is live (see above), and its one caller (Instance::show_status)
        // writes Status, a string parameter; the host copies `c`.
        unsafe { raw::param_set_string(self.handle, &c, self.name) }
    }
}

/// A choice index from the host, checked against the number of options. A host that does not
/// enforce the options fails the action with kOfxStatFailed, the failure every action may return
/// (kOfxStatErrValue is not allowed from GetRegionOfDefinition or Render).
fn choice(name: &CStr, index: c_int, options: usize) -> OfxResult<usize> {
    match usize::try_from(index) {
        Ok(i) if i < options => Ok(i),
        _ => Err(OfxError::failed(format!(
            "Parameter {} has choice {index}, outside its {options} options.",
            name.to_string_lossy()
        ))),
    }
}

/// The OFX parameter type of a table entry.
pub fn param_type(kind: &ParamKind) -> &'static CStr {
    match kind {
        ParamKind::Int { .. } => kOfxParamTypeInteger,
        ParamKind::Double { .. } => kOfxParamTypeDouble,
        ParamKind::Bool { .. } => kOfxParamTypeBoolean,
        ParamKind::Choice { .. } => kOfxParamTypeChoice,
        ParamKind::String { .. } | ParamKind::Status => kOfxParamTypeString,
        ParamKind::Button => kOfxParamTypePushButton,
    }
}

/// Defines one parameter. Label, default and ranges must succeed (Resolve clamps numbers that
/// lack a display range); cosmetic properties are best-effort so a picky host still loads us.
fn describe_param(set: &ParamSet, p: &ParamSpec) -> OfxResult<()> {
    let props = set.define(param_type(&p.kind), p.name)?;
    props.set_string(kOfxPropLabel, p.label)?;
    let _ = props.set_string(kOfxParamPropHint, p.hint);
    let _ = props.set_string(kOfxParamPropScriptName, p.name);
    match p.kind {
        ParamKind::Int { default, min, max, display_min, display_max } => {
            props.set_int(kOfxParamPropDefault, default)?;
            props.set_int(kOfxParamPropMin, min)?;
            props.set_int(kOfxParamPropMax, max)?;
            props.set_int(kOfxParamPropDisplayMin, display_min)?;
            props.set_int(kOfxParamPropDisplayMax, display_max)?;
        }
        ParamKind::Double { default, min, max, display_min, display_max, increment, digits } => {
            props.set_double(kOfxParamPropDefault, default)?;
            props.set_double(kOfxParamPropMin, min)?;
            props.set_double(kOfxParamPropMax, max)?;
            props.set_double(kOfxParamPropDisplayMin, display_min)?;
            props.set_double(kOfxParamPropDisplayMax, display_max)?;
            let _ = props.set_double(kOfxParamPropIncrement, increment);
            let _ = props.set_int(kOfxParamPropDigits, digits);
            let _ = props.set_string(kOfxParamPropDoubleType, kOfxParamDoubleTypePlain);
        }
        ParamKind::Bool { default } => {
            props.set_bool(kOfxParamPropDefault, default)?;
            // Resolve animates booleans by default; a switch should not.
            let _ = props.set_bool(kOfxParamPropAnimates, false);
        }
        ParamKind::Choice { options, default } => {
            props.set_strings(kOfxParamPropChoiceOption, options)?;
            props.set_int(kOfxParamPropDefault, default as i32)?;
            let _ = props.set_bool(kOfxParamPropAnimates, false);
        }
        ParamKind::String { default, multiline } => {
            props.set_string(kOfxParamPropDefault, default)?;
            let mode = if multiline { kOfxParamStringIsMultiLine } else { kOfxParamStringIsSingleLine };
            props.set_string(kOfxParamPropStringMode, mode)?;
            let _ = props.set_bool(kOfxParamPropAnimates, false);
        }
        ParamKind::Status => {
            props.set_string(kOfxParamPropDefault, c"")?;
            props.set_string(kOfxParamPropStringMode, kOfxParamStringIsSingleLine)?;
            props.set_bool(kOfxParamPropEnabled, false)?;
            props.set_bool(kOfxParamPropAnimates, false)?;
            props.set_bool(kOfxParamPropEvaluateOnChange, false)?;
            // A report of the last render, not a setting: not saved, not undoable.
            let _ = props.set_bool(kOfxParamPropPersistant, false);
            let _ = props.set_bool(kOfxParamPropCanUndo, false);
        }
        ParamKind::Button => {
            // Pressing it changes nothing in the picture.
            let _ = props.set_bool(kOfxParamPropEvaluateOnChange, false);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::EFFECTS;

    #[test]
    fn a_choice_outside_the_options_fails_with_a_status_every_action_may_return() {
        assert_eq!(choice(c"mode", 2, 3), Ok(2));
        for bad in [3, -1, c_int::MIN, c_int::MAX] {
            let err = choice(c"mode", bad, 3).unwrap_err();
            assert_eq!(err.status, kOfxStatFailed, "{bad}");
            assert_eq!(err.message, format!("Parameter mode has choice {bad}, outside its 3 options."));
        }
    }

    #[test]
    fn every_table_entry_has_an_ofx_type_and_status_is_a_string() {
        for spec in EFFECTS {
            for p in spec.params {
                let t = param_type(&p.kind);
                assert!(t.to_str().unwrap().starts_with("OfxParamType"));
                if matches!(p.kind, ParamKind::Status) {
                    assert_eq!(t, kOfxParamTypeString);
                }
            }
        }
    }
}
