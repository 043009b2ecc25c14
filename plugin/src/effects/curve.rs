//! Animated parameters: a host keeps keys and interpolates between them; an effect asks it for a
//! value at any time (OFX `paramGetValueAtTime`). The effect core sees that through
//! [`ValueAtTime`], and integrates curves itself ([`integral`]): hosts differ in how (and
//! whether) they answer `paramGetIntegral`, but all of them answer values at times.

use std::ffi::CStr;
use std::sync::Arc;

/// A host's values of animated parameters at other times than the render's.
pub trait ValueAtTime: Send + Sync {
    /// The double parameter `name` at time `t`.
    fn double_at(&self, name: &CStr, t: f64) -> Result<f64, String>;
}

/// How a key's curve runs to the next key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interp {
    Linear,
    /// Cubic Hermite: Catmull-Rom slopes inside, flat at the first and last key.
    Smooth,
}

/// Keys of one double parameter, as a host keeps them: the curve holds the first key's value
/// before it and the last key's after it. Used by tests and by anything that animates values
/// without a host.
#[derive(Clone, Debug, PartialEq)]
pub struct Keys(pub Vec<(f64, f64, Interp)>);

impl Keys {
    pub fn times(&self) -> Vec<f64> {
        self.0.iter().map(|k| k.0).collect()
    }

    fn slope(&self, i: usize) -> f64 {
        let k = &self.0;
        if i == 0 || i + 1 >= k.len() {
            return 0.0;
        }
        (k[i + 1].1 - k[i - 1].1) / (k[i + 1].0 - k[i - 1].0)
    }

    pub fn value(&self, t: f64) -> f64 {
        let k = &self.0;
        let Some(first) = k.first() else { return 0.0 };
        if t <= first.0 {
            return first.1;
        }
        let last = k[k.len() - 1];
        if t >= last.0 {
            return last.1;
        }
        let i = k.partition_point(|key| key.0 <= t) - 1;
        let ((t0, v0, interp), (t1, v1, _)) = (k[i], k[i + 1]);
        let d = t1 - t0;
        let s = (t - t0) / d;
        match interp {
            Interp::Linear => v0 + (v1 - v0) * s,
            Interp::Smooth => {
                let (m0, m1) = (self.slope(i) * d, self.slope(i + 1) * d);
                let (s2, s3) = (s * s, s * s * s);
                (2.0 * s3 - 3.0 * s2 + 1.0) * v0
                    + (s3 - 2.0 * s2 + s) * m0
                    + (-2.0 * s3 + 3.0 * s2) * v1
                    + (s3 - s2) * m1
            }
        }
    }
}

/// A set of keyed curves by parameter name, answering [`ValueAtTime`].
#[derive(Clone, Debug, Default)]
pub struct KeyedCurves(pub Vec<(&'static CStr, Keys)>);

impl ValueAtTime for KeyedCurves {
    fn double_at(&self, name: &CStr, t: f64) -> Result<f64, String> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| k.value(t))
            .ok_or_else(|| format!("no curve for {}", name.to_string_lossy()))
    }
}

/// The animation part of [`super::ParamValues`]: key times per animated parameter, and where
/// values at other times come from.
#[derive(Clone, Default)]
pub struct Animation {
    pub(super) keys: Vec<(&'static CStr, Vec<f64>)>,
    pub(super) source: Option<Arc<dyn ValueAtTime>>,
}

impl std::fmt::Debug for Animation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Animation").field("keys", &self.keys).finish_non_exhaustive()
    }
}

impl PartialEq for Animation {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
            && match (&self.source, &other.source) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

/// Most steps of the composite Simpson rule between two keys: a key span is one smooth piece of
/// the curve, and a step of at most one frame is exact for the linear and cubic pieces hosts use.
const MAX_STEPS: usize = 1024;

/// ∫ₐᵇ f for a curve with keys at `keys` (ascending) that holds its end values outside them:
/// constant pieces are exact products, the pieces between keys composite Simpson with steps of at
/// most one frame (exact for linear and cubic pieces). `b < a` gives the negative integral.
pub fn integral<E>(keys: &[f64], a: f64, b: f64, f: &mut impl FnMut(f64) -> Result<f64, E>) -> Result<f64, E> {
    if b < a {
        return integral(keys, b, a, f).map(|v| -v);
    }
    let (Some(&first), Some(&last)) = (keys.first(), keys.last()) else {
        // Not animated: the caller's constant.
        return Ok(f(a)? * (b - a));
    };
    let mut total = 0.0;
    // Before the first key and after the last the curve holds.
    if a < first {
        total += f(first)? * (first.min(b) - a);
    }
    if b > last {
        total += f(last)? * (b - last.max(a));
    }
    // Between keys, piece by piece.
    for w in keys.windows(2) {
        let (lo, hi) = (w[0].max(a), w[1].min(b));
        if hi <= lo {
            continue;
        }
        let steps = ((hi - lo).ceil() as usize).clamp(1, MAX_STEPS);
        let h = (hi - lo) / steps as f64;
        let mut sum = f(lo)? + f(hi)?;
        for i in 0..steps {
            let x = lo + h * i as f64;
            sum += 4.0 * f(x + h / 2.0)?;
            if i > 0 {
                sum += 2.0 * f(x)?;
            }
        }
        total += sum * h / 6.0;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_interpolate_linearly_and_smoothly_and_hold_outside() {
        let lin = Keys(vec![(0.0, 1.0, Interp::Linear), (48.0, 0.2, Interp::Linear)]);
        assert_eq!(lin.value(-5.0), 1.0);
        assert_eq!(lin.value(60.0), 0.2);
        assert!((lin.value(24.0) - 0.6).abs() < 1e-12);
        let smooth = Keys(vec![(0.0, 1.0, Interp::Smooth), (48.0, 0.2, Interp::Smooth)]);
        assert!((smooth.value(24.0) - 0.6).abs() < 1e-12, "symmetric ease");
        assert!(smooth.value(6.0) > lin.value(6.0), "eases out of the first key");
    }

    #[test]
    fn the_integral_is_exact_for_linear_and_smooth_keys_at_any_times() {
        // Linear ramp 1 -> 0.2 over 48 frames: ∫0^t = t - 0.4 t²/48 for t <= 48.
        let lin = Keys(vec![(0.0, 1.0, Interp::Linear), (48.0, 0.2, Interp::Linear)]);
        let mut f = |t: f64| Ok::<_, ()>(lin.value(t));
        for t in [0.0, 1.0, 7.5, 48.0, 100.0, -3.0] {
            let want = if t <= 0.0 {
                t
            } else if t <= 48.0 {
                t - 0.4 * t * t / 48.0
            } else {
                48.0 - 0.4 * 48.0 + 0.2 * (t - 48.0)
            };
            let got = integral(&lin.times(), 0.0, t, &mut f).unwrap();
            assert!((got - want).abs() < 1e-9, "{t}: {got} vs {want}");
        }
        // A smooth curve with keys off whole frames: against a fine numeric reference.
        let smooth = Keys(vec![
            (2.3, 0.5, Interp::Smooth),
            (10.7, 2.0, Interp::Smooth),
            (30.1, 0.25, Interp::Linear),
            (31.0, 1.0, Interp::Linear),
        ]);
        let mut g = |t: f64| Ok::<_, ()>(smooth.value(t));
        let got = integral(&smooth.times(), 0.0, 40.0, &mut g).unwrap();
        let n = 400_000;
        let reference: f64 = (0..n).map(|i| smooth.value((i as f64 + 0.5) * 40.0 / n as f64) * 40.0 / n as f64).sum();
        assert!((got - reference).abs() < 1e-6, "{got} vs {reference}");
    }
}
