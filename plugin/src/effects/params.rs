//! Typed parameter values as read from a host (or a CLI), checked against the effect's table.

use std::ffi::CStr;
use std::sync::Arc;

use super::curve::{Animation, ValueAtTime};
use super::{EffectError, EffectSpec, ParamKind};

/// One parameter's value. Status parameters and buttons carry no value.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    Int(i32),
    Double(f64),
    Bool(bool),
    /// Index into the choice's options.
    Choice(usize),
    String(String),
}

/// The values of an effect's parameters at one time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamValues {
    values: Vec<(&'static CStr, ParamValue)>,
    /// Keys of animated doubles and the host's values at other times.
    animation: Animation,
}

impl ParamValues {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every parameter at its default.
    pub fn defaults(spec: &EffectSpec) -> Self {
        let mut values = Self::new();
        for p in spec.params {
            let v = match p.kind {
                ParamKind::Int { default, .. } => ParamValue::Int(default),
                ParamKind::Double { default, .. } => ParamValue::Double(default),
                ParamKind::Bool { default } => ParamValue::Bool(default),
                ParamKind::Choice { default, .. } => ParamValue::Choice(default),
                ParamKind::String { default, .. } => ParamValue::String(default.to_string_lossy().into_owned()),
                ParamKind::Status | ParamKind::Button => continue,
            };
            values.set(p.name, v);
        }
        values
    }

    /// Sets (or replaces) a value.
    pub fn set(&mut self, name: &'static CStr, value: ParamValue) {
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
    }

    pub fn get(&self, name: &CStr) -> Option<&ParamValue> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    fn require(&self, name: &CStr) -> Result<&ParamValue, EffectError> {
        self.get(name).ok_or_else(|| EffectError::MissingParam(name.to_string_lossy().into_owned()))
    }

    fn wrong_type(name: &CStr, want: &'static str) -> EffectError {
        EffectError::ParamType { name: name.to_string_lossy().into_owned(), expected: want }
    }

    pub fn int(&self, name: &CStr) -> Result<i32, EffectError> {
        match self.require(name)? {
            ParamValue::Int(v) => Ok(*v),
            _ => Err(Self::wrong_type(name, "integer")),
        }
    }

    pub fn double(&self, name: &CStr) -> Result<f64, EffectError> {
        match self.require(name)? {
            ParamValue::Double(v) => Ok(*v),
            _ => Err(Self::wrong_type(name, "double")),
        }
    }

    pub fn bool(&self, name: &CStr) -> Result<bool, EffectError> {
        match self.require(name)? {
            ParamValue::Bool(v) => Ok(*v),
            _ => Err(Self::wrong_type(name, "boolean")),
        }
    }

    pub fn choice(&self, name: &CStr) -> Result<usize, EffectError> {
        match self.require(name)? {
            ParamValue::Choice(v) => Ok(*v),
            _ => Err(Self::wrong_type(name, "choice")),
        }
    }

    /// Marks the double `name` animated, with keys at `times` (ascending); an empty list means constant.
    pub fn set_keys(&mut self, name: &'static CStr, times: Vec<f64>) {
        self.animation.keys.retain(|(n, _)| *n != name);
        if !times.is_empty() {
            self.animation.keys.push((name, times));
        }
    }

    /// Where values of animated parameters at other times come from (the host).
    pub fn set_value_source(&mut self, source: Arc<dyn ValueAtTime>) {
        self.animation.source = Some(source);
    }

    /// Key times of `name`, ascending; empty when it is not animated.
    pub fn keys(&self, name: &CStr) -> &[f64] {
        self.animation.keys.iter().find(|(n, _)| *n == name).map(|(_, k)| k.as_slice()).unwrap_or(&[])
    }

    /// The double `name` at time `t`: its one value when it is not animated.
    pub fn double_at(&self, name: &CStr, t: f64) -> Result<f64, EffectError> {
        if self.keys(name).is_empty() {
            return self.double(name);
        }
        let source = self.animation.source.as_ref().ok_or_else(|| {
            EffectError::InvalidParam("Animation", format!("{} has keys but no values", name.to_string_lossy()))
        })?;
        source.double_at(name, t).map_err(|e| EffectError::InvalidParam("Animation", e))
    }

    pub fn string(&self, name: &CStr) -> Result<&str, EffectError> {
        match self.require(name)? {
            ParamValue::String(v) => Ok(v),
            _ => Err(Self::wrong_type(name, "string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::{INTERPOLATE, PARAM_MODEL, PARAM_STATUS};

    #[test]
    fn defaults_cover_every_valued_param_and_typed_getters_check_types() {
        let mut v = ParamValues::defaults(&INTERPOLATE);
        assert_eq!(v.string(PARAM_MODEL).unwrap(), "rife");
        assert!(v.get(PARAM_STATUS).is_none());
        assert_eq!(
            v.int(PARAM_MODEL).unwrap_err(),
            EffectError::ParamType { name: "model".into(), expected: "integer" }
        );
        assert_eq!(v.double(c"nope").unwrap_err(), EffectError::MissingParam("nope".into()));
        v.set(PARAM_MODEL, ParamValue::String("x".into()));
        assert_eq!(v.string(PARAM_MODEL).unwrap(), "x");
    }
}
