//! Parameter kinds and values as seen by callers, and text parsing for the CLI's `--set key=value`.

use std::ffi::CStr;

use anyhow::{bail, Result};
use ofx_abi::*;

use crate::props::{PropSet, PropValue};

pub use crate::keys::{curve_derivative, curve_integral, curve_value, parse_keys, Key, KeyInterp};

/// The OFX parameter types the host supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    Int,
    Double,
    Bool,
    Choice,
    String,
    Int2D,
    Double2D,
    Int3D,
    Double3D,
    Rgb,
    Rgba,
    PushButton,
    Group,
    Page,
    Custom,
}

/// How values of a kind travel through `paramGetValue`'s varargs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Ints(usize),
    Doubles(usize),
    Str,
    NoValue,
}

impl ParamKind {
    pub const ALL: [ParamKind; 15] = [
        ParamKind::Int,
        ParamKind::Double,
        ParamKind::Bool,
        ParamKind::Choice,
        ParamKind::String,
        ParamKind::Int2D,
        ParamKind::Double2D,
        ParamKind::Int3D,
        ParamKind::Double3D,
        ParamKind::Rgb,
        ParamKind::Rgba,
        ParamKind::PushButton,
        ParamKind::Group,
        ParamKind::Page,
        ParamKind::Custom,
    ];

    pub fn ofx(self) -> &'static CStr {
        match self {
            ParamKind::Int => kOfxParamTypeInteger,
            ParamKind::Double => kOfxParamTypeDouble,
            ParamKind::Bool => kOfxParamTypeBoolean,
            ParamKind::Choice => kOfxParamTypeChoice,
            ParamKind::String => kOfxParamTypeString,
            ParamKind::Int2D => kOfxParamTypeInteger2D,
            ParamKind::Double2D => kOfxParamTypeDouble2D,
            ParamKind::Int3D => kOfxParamTypeInteger3D,
            ParamKind::Double3D => kOfxParamTypeDouble3D,
            ParamKind::Rgb => kOfxParamTypeRGB,
            ParamKind::Rgba => kOfxParamTypeRGBA,
            ParamKind::PushButton => kOfxParamTypePushButton,
            ParamKind::Group => kOfxParamTypeGroup,
            ParamKind::Page => kOfxParamTypePage,
            ParamKind::Custom => kOfxParamTypeCustom,
        }
    }
    pub fn from_ofx(s: &str) -> Option<ParamKind> {
        ParamKind::ALL.into_iter().find(|k| k.ofx().to_bytes() == s.as_bytes())
    }
    pub fn shape(self) -> Shape {
        match self {
            ParamKind::Int | ParamKind::Bool | ParamKind::Choice => Shape::Ints(1),
            ParamKind::Int2D => Shape::Ints(2),
            ParamKind::Int3D => Shape::Ints(3),
            ParamKind::Double => Shape::Doubles(1),
            ParamKind::Double2D => Shape::Doubles(2),
            ParamKind::Double3D | ParamKind::Rgb => Shape::Doubles(3),
            ParamKind::Rgba => Shape::Doubles(4),
            ParamKind::String | ParamKind::Custom => Shape::Str,
            ParamKind::PushButton | ParamKind::Group | ParamKind::Page => Shape::NoValue,
        }
    }
    /// A short name for listings.
    pub fn name(self) -> &'static str {
        match self {
            ParamKind::Int => "int",
            ParamKind::Double => "double",
            ParamKind::Bool => "bool",
            ParamKind::Choice => "choice",
            ParamKind::String => "string",
            ParamKind::Int2D => "int2d",
            ParamKind::Double2D => "double2d",
            ParamKind::Int3D => "int3d",
            ParamKind::Double3D => "double3d",
            ParamKind::Rgb => "rgb",
            ParamKind::Rgba => "rgba",
            ParamKind::PushButton => "button",
            ParamKind::Group => "group",
            ParamKind::Page => "page",
            ParamKind::Custom => "custom",
        }
    }
}

/// A parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    Int(i32),
    Double(f64),
    Bool(bool),
    Choice(i32),
    String(String),
    Int2D(i32, i32),
    Double2D(f64, f64),
    Int3D(i32, i32, i32),
    Double3D(f64, f64, f64),
    Rgb(f64, f64, f64),
    Rgba(f64, f64, f64, f64),
    /// Buttons, groups and pages carry no value.
    None,
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Int(v) | ParamValue::Choice(v) => write!(f, "{v}"),
            ParamValue::Double(v) => write!(f, "{v}"),
            ParamValue::Bool(v) => write!(f, "{v}"),
            ParamValue::String(v) => write!(f, "{v:?}"),
            ParamValue::Int2D(a, b) => write!(f, "{a},{b}"),
            ParamValue::Double2D(a, b) => write!(f, "{a},{b}"),
            ParamValue::Int3D(a, b, c) => write!(f, "{a},{b},{c}"),
            ParamValue::Double3D(a, b, c) | ParamValue::Rgb(a, b, c) => write!(f, "{a},{b},{c}"),
            ParamValue::Rgba(a, b, c, d) => write!(f, "{a},{b},{c},{d}"),
            ParamValue::None => f.write_str("-"),
        }
    }
}

impl ParamValue {
    /// The value of `kind` built from the varargs representation.
    pub fn from_ints(kind: ParamKind, v: &[i32]) -> ParamValue {
        let g = |i: usize| v.get(i).copied().unwrap_or(0);
        match kind {
            ParamKind::Bool => ParamValue::Bool(g(0) != 0),
            ParamKind::Choice => ParamValue::Choice(g(0)),
            ParamKind::Int2D => ParamValue::Int2D(g(0), g(1)),
            ParamKind::Int3D => ParamValue::Int3D(g(0), g(1), g(2)),
            _ => ParamValue::Int(g(0)),
        }
    }
    pub fn from_doubles(kind: ParamKind, v: &[f64]) -> ParamValue {
        let g = |i: usize| v.get(i).copied().unwrap_or(0.0);
        match kind {
            ParamKind::Double2D => ParamValue::Double2D(g(0), g(1)),
            ParamKind::Double3D => ParamValue::Double3D(g(0), g(1), g(2)),
            ParamKind::Rgb => ParamValue::Rgb(g(0), g(1), g(2)),
            ParamKind::Rgba => ParamValue::Rgba(g(0), g(1), g(2), g(3)),
            _ => ParamValue::Double(g(0)),
        }
    }
    pub fn ints(&self) -> Option<Vec<i32>> {
        Some(match *self {
            ParamValue::Int(v) | ParamValue::Choice(v) => vec![v],
            ParamValue::Bool(b) => vec![b as i32],
            ParamValue::Int2D(a, b) => vec![a, b],
            ParamValue::Int3D(a, b, c) => vec![a, b, c],
            _ => return None,
        })
    }
    pub fn doubles(&self) -> Option<Vec<f64>> {
        Some(match *self {
            ParamValue::Double(v) => vec![v],
            ParamValue::Double2D(a, b) => vec![a, b],
            ParamValue::Double3D(a, b, c) | ParamValue::Rgb(a, b, c) => vec![a, b, c],
            ParamValue::Rgba(a, b, c, d) => vec![a, b, c, d],
            _ => return None,
        })
    }
    /// The value in the representation `kind` stores, converting Int -> Double/Choice and Bool where lossless.
    pub fn coerce(self, kind: ParamKind) -> Result<ParamValue> {
        let v = match (kind, self) {
            (ParamKind::Double, ParamValue::Int(i)) => ParamValue::Double(i as f64),
            (ParamKind::Choice, ParamValue::Int(i)) => ParamValue::Choice(i),
            (ParamKind::Int, ParamValue::Choice(i)) => ParamValue::Int(i),
            (ParamKind::Bool, ParamValue::Int(i)) if i == 0 || i == 1 => ParamValue::Bool(i == 1),
            (ParamKind::Custom, ParamValue::String(s)) => ParamValue::String(s),
            (ParamKind::Double3D, ParamValue::Rgb(a, b, c)) | (ParamKind::Rgb, ParamValue::Double3D(a, b, c)) => {
                ParamValue::from_doubles(kind, &[a, b, c])
            }
            (k, v) => {
                let ok = match k.shape() {
                    Shape::Ints(_) | Shape::Doubles(_) => {
                        ParamValue::from_ints(k, &[0; 4]).same_variant(&v)
                            || ParamValue::from_doubles(k, &[0.0; 4]).same_variant(&v)
                    }
                    Shape::Str => matches!(v, ParamValue::String(_)),
                    Shape::NoValue => matches!(v, ParamValue::None),
                };
                if !ok {
                    bail!("a {} parameter cannot take the value {v:?}", k.name());
                }
                v
            }
        };
        Ok(v)
    }
    fn same_variant(&self, o: &ParamValue) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(o)
    }

    /// Parses `text` for a parameter of `kind`; a Choice accepts an option label (case-insensitive) or an index.
    pub fn parse(kind: ParamKind, text: &str, options: &[String]) -> Result<ParamValue> {
        let t = text.trim();
        let list = |n: usize| -> Result<Vec<&str>> {
            let parts: Vec<&str> = t.split([',', ' ', 'x']).filter(|s| !s.is_empty()).collect();
            if parts.len() != n {
                bail!("expected {n} comma-separated numbers, got '{text}'");
            }
            Ok(parts)
        };
        let int = |s: &str| s.trim().parse::<i32>().map_err(|_| anyhow::anyhow!("'{s}' is not an integer"));
        let dbl = |s: &str| -> Result<f64> {
            let v = s.trim().parse::<f64>().map_err(|_| anyhow::anyhow!("'{s}' is not a number"))?;
            if !v.is_finite() {
                bail!("'{s}' is not a finite number");
            }
            Ok(v)
        };
        Ok(match kind {
            ParamKind::Int => ParamValue::Int(int(t)?),
            ParamKind::Double => ParamValue::Double(dbl(t)?),
            ParamKind::Bool => ParamValue::Bool(match t.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => bail!("'{text}' is not a boolean (use true/false, yes/no, on/off or 1/0)"),
            }),
            ParamKind::Choice => {
                if let Some(i) = options.iter().position(|o| o == t) {
                    ParamValue::Choice(i as i32)
                } else if let Some(i) = options.iter().position(|o| o.eq_ignore_ascii_case(t)) {
                    ParamValue::Choice(i as i32)
                } else if let Ok(i) = t.parse::<i32>() {
                    if i < 0 || i as usize >= options.len() {
                        bail!("choice index {i} is out of range (0..{})", options.len());
                    }
                    ParamValue::Choice(i)
                } else {
                    bail!("'{text}' is not one of the options: {}", options.join(", "));
                }
            }
            ParamKind::String | ParamKind::Custom => ParamValue::String(text.to_owned()),
            ParamKind::Int2D => {
                let p = list(2)?;
                ParamValue::Int2D(int(p[0])?, int(p[1])?)
            }
            ParamKind::Int3D => {
                let p = list(3)?;
                ParamValue::Int3D(int(p[0])?, int(p[1])?, int(p[2])?)
            }
            ParamKind::Double2D => {
                let p = list(2)?;
                ParamValue::Double2D(dbl(p[0])?, dbl(p[1])?)
            }
            ParamKind::Double3D | ParamKind::Rgb => {
                let p = list(3)?;
                ParamValue::from_doubles(kind, &[dbl(p[0])?, dbl(p[1])?, dbl(p[2])?])
            }
            ParamKind::Rgba => {
                let p = list(4)?;
                ParamValue::Rgba(dbl(p[0])?, dbl(p[1])?, dbl(p[2])?, dbl(p[3])?)
            }
            ParamKind::PushButton | ParamKind::Group | ParamKind::Page => {
                bail!("a {} parameter has no value to set", kind.name())
            }
        })
    }

    /// The value stored in a property (kOfxParamPropDefault and friends) for `kind`.
    pub fn from_prop(kind: ParamKind, v: Option<PropValue>) -> ParamValue {
        match (kind.shape(), v) {
            (Shape::Ints(_), Some(PropValue::Int(v))) => ParamValue::from_ints(kind, &v),
            (Shape::Doubles(_), Some(PropValue::Double(v))) => ParamValue::from_doubles(kind, &v),
            (Shape::Doubles(_), Some(PropValue::Int(v))) => {
                ParamValue::from_doubles(kind, &v.iter().map(|&i| i as f64).collect::<Vec<_>>())
            }
            (Shape::Str, Some(PropValue::String(v))) => {
                ParamValue::String(v.first().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
            }
            (Shape::Ints(_), _) => ParamValue::from_ints(kind, &[]),
            (Shape::Doubles(_), _) => ParamValue::from_doubles(kind, &[]),
            (Shape::Str, _) => ParamValue::String(String::new()),
            (Shape::NoValue, _) => ParamValue::None,
        }
    }
}

/// A parameter as described by the plugin.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    pub kind: ParamKind,
    pub label: String,
    pub hint: String,
    /// The page that lists it (empty when none).
    pub page: String,
    /// The group it belongs to (kOfxParamPropParent, empty when top-level).
    pub parent: String,
    pub default: ParamValue,
    pub min: Option<ParamValue>,
    pub max: Option<ParamValue>,
    pub display_min: Option<ParamValue>,
    pub display_max: Option<ParamValue>,
    pub options: Vec<String>,
    pub enabled: bool,
    pub secret: bool,
    /// kOfxParamPropStringMode for strings (e.g. "OfxParamStringIsLabel"), empty otherwise.
    pub string_mode: String,
    pub animates: bool,
    /// For spatial double parameters: how their numbers relate to the project.
    pub spatial: Option<Spatial>,
}

/// The axes of a spatial double parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axes {
    X,
    Y,
    XY,
}

/// A spatial double parameter (kOfxParamPropDoubleType X, Y, XY and their Absolute and Normalised forms), and
/// in which coordinates its default and values are (kOfxParamPropDefaultCoordinateSystem).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spatial {
    pub axes: Axes,
    /// A position (moved by the project offset), not a size.
    pub absolute: bool,
    /// One of the older normalised types: the plugin reads and writes fractions of the project size; the
    /// host's user speaks canonical coordinates.
    pub normalised_values: bool,
    /// kOfxParamCoordinatesNormalised: the default is a fraction of the project size, values are canonical.
    pub normalised_default: bool,
}

/// The project spatial parameters are measured against, in canonical coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProjectGeometry {
    pub size: (f64, f64),
    pub offset: (f64, f64),
}

impl Spatial {
    /// Reads the double type and default coordinate system of a double parameter.
    pub fn from_props(kind: ParamKind, p: &PropSet) -> Option<Spatial> {
        if !matches!(kind, ParamKind::Double | ParamKind::Double2D) {
            return None;
        }
        let ty = p.string(kOfxParamPropDoubleType)?;
        let ty = ty.strip_prefix("OfxParamDoubleType")?;
        let (normalised_values, ty) = match ty.strip_prefix("Normalised") {
            Some(rest) => (true, rest),
            None => (false, ty),
        };
        let (absolute, ty) = match ty.strip_suffix("Absolute") {
            Some(rest) => (true, rest),
            None => (false, ty),
        };
        let axes = match (ty, kind) {
            (_, ParamKind::Double2D) if ty == "XY" => Axes::XY,
            ("X", ParamKind::Double) => Axes::X,
            ("Y", ParamKind::Double) => Axes::Y,
            _ => return None,
        };
        let normalised_default = !normalised_values
            && p.string(kOfxParamPropDefaultCoordinateSystem).as_deref()
                == Some(kOfxParamCoordinatesNormalised.to_str().unwrap_or_default());
        Some(Spatial { axes, absolute, normalised_values, normalised_default })
    }

    fn map(&self, v: &ParamValue, f: impl Fn(f64, f64, f64) -> f64, proj: &ProjectGeometry) -> ParamValue {
        let axis = |x: bool| if x { (proj.size.0, proj.offset.0) } else { (proj.size.1, proj.offset.1) };
        let conv = |val: f64, x: bool| {
            let (size, offset) = axis(x);
            f(val, size, if self.absolute { offset } else { 0.0 })
        };
        match (v, self.axes) {
            (ParamValue::Double(a), Axes::X) => ParamValue::Double(conv(*a, true)),
            (ParamValue::Double(a), Axes::Y) => ParamValue::Double(conv(*a, false)),
            (ParamValue::Double2D(a, b), _) => ParamValue::Double2D(conv(*a, true), conv(*b, false)),
            (other, _) => other.clone(),
        }
    }

    /// A normalised value in canonical coordinates.
    pub fn to_canonical(&self, v: &ParamValue, proj: &ProjectGeometry) -> ParamValue {
        self.map(v, |x, size, offset| x * size + offset, proj)
    }

    /// A canonical value as a fraction of the project.
    pub fn to_normalised(&self, v: &ParamValue, proj: &ProjectGeometry) -> ParamValue {
        self.map(v, |x, size, offset| if size != 0.0 { (x - offset) / size } else { 0.0 }, proj)
    }
}

impl ParamInfo {
    /// Reads a parameter's description from its property set (`page` is filled in by the caller).
    pub fn from_props(name: &str, kind: ParamKind, p: &PropSet) -> ParamInfo {
        let range = |n: &CStr| match kind.shape() {
            Shape::Ints(_) | Shape::Doubles(_) if p.contains(n) => Some(ParamValue::from_prop(kind, p.value(n))),
            _ => None,
        };
        ParamInfo {
            name: name.to_owned(),
            kind,
            label: p.string(kOfxPropLabel).unwrap_or_else(|| name.to_owned()),
            hint: p.string(kOfxParamPropHint).unwrap_or_default(),
            page: String::new(),
            parent: p.string(kOfxParamPropParent).unwrap_or_default(),
            default: ParamValue::from_prop(kind, p.value(kOfxParamPropDefault)),
            min: range(kOfxParamPropMin),
            max: range(kOfxParamPropMax),
            display_min: range(kOfxParamPropDisplayMin),
            display_max: range(kOfxParamPropDisplayMax),
            options: p.strings(kOfxParamPropChoiceOption).unwrap_or_default(),
            enabled: p.int(kOfxParamPropEnabled).unwrap_or(1) != 0,
            secret: p.int(kOfxParamPropSecret).unwrap_or(0) != 0,
            string_mode: if kind == ParamKind::String {
                p.string(kOfxParamPropStringMode).unwrap_or_default()
            } else {
                String::new()
            },
            animates: p.int(kOfxParamPropAnimates).unwrap_or(0) != 0,
            spatial: Spatial::from_props(kind, p),
        }
    }

    /// Checks `v` against min/max and the choice options.
    pub fn check_range(&self, v: &ParamValue) -> Result<()> {
        if let ParamValue::Choice(i) = v {
            if *i < 0 || *i as usize >= self.options.len() {
                bail!("choice index {i} for '{}' is out of range (it has {} options)", self.name, self.options.len());
            }
            return Ok(());
        }
        let (Some(vals), lo, hi) = (
            v.doubles().or_else(|| v.ints().map(|i| i.into_iter().map(f64::from).collect())),
            self.min.as_ref().and_then(as_f64s),
            self.max.as_ref().and_then(as_f64s),
        ) else {
            return Ok(());
        };
        for (i, x) in vals.iter().enumerate() {
            let below = lo.as_ref().and_then(|l| l.get(i)).is_some_and(|l| x < l);
            let above = hi.as_ref().and_then(|h| h.get(i)).is_some_and(|h| x > h);
            if below || above {
                bail!(
                    "value {v} for '{}' is outside its range [{}, {}]",
                    self.name,
                    self.min.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                    self.max.as_ref().map(|m| m.to_string()).unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}

fn as_f64s(v: &ParamValue) -> Option<Vec<f64>> {
    v.doubles().or_else(|| v.ints().map(|i| i.into_iter().map(f64::from).collect()))
}

/// The properties `paramDefine` creates for a new parameter of `kind`, as the spec's defaults.
pub fn define_defaults(p: &PropSet, kind: ParamKind, name: &str) {
    p.set_cstr(kOfxParamPropType, kind.ofx());
    p.put_ro(kOfxPropName, PropValue::String(vec![std::ffi::CString::new(name).unwrap_or_default()]));
    p.set_str(kOfxPropLabel, name);
    p.set_str(kOfxPropShortLabel, name);
    p.set_str(kOfxPropLongLabel, name);
    p.set_str(kOfxParamPropHint, "");
    p.set_str(kOfxParamPropScriptName, name);
    p.set_str(kOfxParamPropParent, "");
    p.set_int(kOfxParamPropEnabled, 1);
    p.set_int(kOfxParamPropSecret, 0);
    p.set_int(kOfxParamPropEvaluateOnChange, 1);
    p.set_int(kOfxParamPropCanUndo, 1);
    p.set_int(kOfxParamPropPersistant, 1);
    p.set_int(kOfxParamPropPluginMayWrite, 0);
    p.set_pointer(kOfxParamPropDataPtr, std::ptr::null_mut());
    p.set_cstr(kOfxParamPropCacheInvalidation, kOfxParamInvalidateValueChange);
    let animates = !matches!(kind.shape(), Shape::NoValue) && !matches!(kind, ParamKind::String | ParamKind::Custom);
    p.set_int(kOfxParamPropAnimates, animates as i32);
    p.set_int(kOfxParamPropIsAnimating, 0);
    p.set_int(kOfxParamPropIsAutoKeying, 0);
    match kind.shape() {
        Shape::Ints(n) => {
            p.set_ints(kOfxParamPropDefault, &vec![0; n]);
            if kind == ParamKind::Int || kind == ParamKind::Int2D || kind == ParamKind::Int3D {
                p.set_ints(kOfxParamPropMin, &vec![i32::MIN; n]);
                p.set_ints(kOfxParamPropMax, &vec![i32::MAX; n]);
                p.set_ints(kOfxParamPropDisplayMin, &vec![i32::MIN; n]);
                p.set_ints(kOfxParamPropDisplayMax, &vec![i32::MAX; n]);
            }
        }
        Shape::Doubles(n) => {
            p.set_doubles(kOfxParamPropDefault, &vec![0.0; n]);
            let (lo, hi) =
                if matches!(kind, ParamKind::Rgb | ParamKind::Rgba) { (0.0, 1.0) } else { (-f64::MAX, f64::MAX) };
            p.set_doubles(kOfxParamPropMin, &vec![lo; n]);
            p.set_doubles(kOfxParamPropMax, &vec![hi; n]);
            p.set_doubles(kOfxParamPropDisplayMin, &vec![lo; n]);
            p.set_doubles(kOfxParamPropDisplayMax, &vec![hi; n]);
            p.set_double(kOfxParamPropIncrement, 1.0);
            p.set_int(kOfxParamPropDigits, 2);
            if !matches!(kind, ParamKind::Rgb | ParamKind::Rgba) {
                p.set_cstr(kOfxParamPropDoubleType, kOfxParamDoubleTypePlain);
                p.set_cstr(kOfxParamPropDefaultCoordinateSystem, kOfxParamCoordinatesCanonical);
            }
        }
        Shape::Str => {
            p.set_str(kOfxParamPropDefault, "");
            if kind == ParamKind::String {
                p.set_cstr(kOfxParamPropStringMode, kOfxParamStringIsSingleLine);
                p.set_int(kOfxParamPropStringFilePathExists, 1);
            }
        }
        Shape::NoValue => {}
    }
    match kind {
        ParamKind::Choice => p.put(kOfxParamPropChoiceOption, PropValue::String(vec![])),
        ParamKind::Page => p.put(kOfxParamPropPageChild, PropValue::String(vec![])),
        ParamKind::Group => p.set_int(kOfxParamPropGroupOpen, 1),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_kind() {
        let opts = vec!["Fast".to_owned(), "Best Quality".to_owned()];
        assert_eq!(ParamValue::parse(ParamKind::Int, " 42 ", &[]).unwrap(), ParamValue::Int(42));
        assert_eq!(ParamValue::parse(ParamKind::Double, "0.25", &[]).unwrap(), ParamValue::Double(0.25));
        assert!(ParamValue::parse(ParamKind::Double, "nan", &[]).is_err());
        assert!(ParamValue::parse(ParamKind::Int, "1.5", &[]).is_err());
        assert_eq!(ParamValue::parse(ParamKind::Bool, "Yes", &[]).unwrap(), ParamValue::Bool(true));
        assert_eq!(ParamValue::parse(ParamKind::Bool, "0", &[]).unwrap(), ParamValue::Bool(false));
        assert!(ParamValue::parse(ParamKind::Bool, "maybe", &[]).is_err());
        assert_eq!(ParamValue::parse(ParamKind::Choice, "best quality", &opts).unwrap(), ParamValue::Choice(1));
        assert_eq!(ParamValue::parse(ParamKind::Choice, "0", &opts).unwrap(), ParamValue::Choice(0));
        assert!(ParamValue::parse(ParamKind::Choice, "2", &opts).is_err());
        let err = ParamValue::parse(ParamKind::Choice, "Slow", &opts).unwrap_err().to_string();
        assert!(err.contains("Fast, Best Quality"), "{err}");
        assert_eq!(ParamValue::parse(ParamKind::Double2D, "1.5,2", &[]).unwrap(), ParamValue::Double2D(1.5, 2.0));
        assert_eq!(ParamValue::parse(ParamKind::Int2D, "1920x1080", &[]).unwrap(), ParamValue::Int2D(1920, 1080));
        assert!(ParamValue::parse(ParamKind::Int2D, "1", &[]).is_err());
        assert_eq!(ParamValue::parse(ParamKind::String, " a b ", &[]).unwrap(), ParamValue::String(" a b ".into()));
        assert!(ParamValue::parse(ParamKind::PushButton, "x", &[]).is_err());
    }

    #[test]
    fn defaults_and_ranges_from_props() {
        let p = PropSet::new("param");
        define_defaults(&p, ParamKind::Double, "Mix");
        p.set_double(kOfxParamPropDefault, 0.5);
        p.set_double(kOfxParamPropMin, 0.0);
        p.set_double(kOfxParamPropMax, 1.0);
        let info = ParamInfo::from_props("Mix", ParamKind::Double, &p);
        assert_eq!(info.default, ParamValue::Double(0.5));
        assert!(info.check_range(&ParamValue::Double(0.7)).is_ok());
        assert!(info.check_range(&ParamValue::Double(1.5)).is_err());
        assert_eq!(ParamValue::Int(1).coerce(ParamKind::Double).unwrap(), ParamValue::Double(1.0));
        assert!(ParamValue::String("x".into()).coerce(ParamKind::Double).is_err());
    }

    #[test]
    fn spatial_parameters_convert_against_the_project() {
        let proj = ProjectGeometry { size: (200.0, 100.0), offset: (10.0, 20.0) };
        let p = PropSet::new("param");
        define_defaults(&p, ParamKind::Double2D, "Center");
        assert_eq!(ParamInfo::from_props("Center", ParamKind::Double2D, &p).spatial, None);
        p.set_cstr(kOfxParamPropDoubleType, kOfxParamDoubleTypeXYAbsolute);
        p.set_cstr(kOfxParamPropDefaultCoordinateSystem, kOfxParamCoordinatesNormalised);
        let s = ParamInfo::from_props("Center", ParamKind::Double2D, &p).spatial.unwrap();
        assert!(s.normalised_default && s.absolute && !s.normalised_values);
        let c = s.to_canonical(&ParamValue::Double2D(0.5, 0.25), &proj);
        assert_eq!(c, ParamValue::Double2D(110.0, 45.0));
        assert_eq!(s.to_normalised(&c, &proj), ParamValue::Double2D(0.5, 0.25));
        let q = PropSet::new("param");
        define_defaults(&q, ParamKind::Double, "Width");
        q.set_cstr(kOfxParamPropDoubleType, kOfxParamDoubleTypeNormalisedY);
        let s = ParamInfo::from_props("Width", ParamKind::Double, &q).spatial.unwrap();
        assert!(s.normalised_values && !s.normalised_default && !s.absolute && s.axes == Axes::Y);
        assert_eq!(s.to_canonical(&ParamValue::Double(0.5), &proj), ParamValue::Double(50.0));
    }
}
