//! Animated parameters: keys, the curve through them (linear or smooth), its slope and its exact
//! integral, and the CLI's key syntax.

use anyhow::{bail, Result};

/// How a key's curve runs on to the next key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyInterp {
    Linear,
    /// Cubic Hermite: Catmull-Rom slopes at inner keys, flat at the first and last key.
    Smooth,
}

/// One key of an animated (one-dimensional double) parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Key {
    pub time: f64,
    pub value: f64,
    /// How the curve runs from this key to the next.
    pub interp: KeyInterp,
}

/// Slope at key `i` (per frame): Catmull-Rom inside, 0 at the ends.
fn key_slope(keys: &[Key], i: usize) -> f64 {
    if i == 0 || i + 1 >= keys.len() {
        return 0.0;
    }
    (keys[i + 1].value - keys[i - 1].value) / (keys[i + 1].time - keys[i - 1].time)
}

/// The curve through `keys` (ascending times) at `t`; it holds the first and last values outside them.
pub fn curve_value(keys: &[Key], t: f64) -> f64 {
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else { return 0.0 };
    if t <= first.time {
        return first.value;
    }
    if t >= last.time {
        return last.value;
    }
    let i = keys.partition_point(|k| k.time <= t) - 1;
    let (k0, k1) = (keys[i], keys[i + 1]);
    let d = k1.time - k0.time;
    let s = (t - k0.time) / d;
    match k0.interp {
        KeyInterp::Linear => k0.value + (k1.value - k0.value) * s,
        KeyInterp::Smooth => {
            let (m0, m1) = (key_slope(keys, i) * d, key_slope(keys, i + 1) * d);
            let (s2, s3) = (s * s, s * s * s);
            (2.0 * s3 - 3.0 * s2 + 1.0) * k0.value
                + (s3 - 2.0 * s2 + s) * m0
                + (-2.0 * s3 + 3.0 * s2) * k1.value
                + (s3 - s2) * m1
        }
    }
}

/// The curve's slope at `t` (0 outside the keys).
pub fn curve_derivative(keys: &[Key], t: f64) -> f64 {
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else { return 0.0 };
    if t < first.time || t >= last.time {
        return 0.0;
    }
    let i = keys.partition_point(|k| k.time <= t) - 1;
    let (k0, k1) = (keys[i], keys[i + 1]);
    let d = k1.time - k0.time;
    let s = (t - k0.time) / d;
    match k0.interp {
        KeyInterp::Linear => (k1.value - k0.value) / d,
        KeyInterp::Smooth => {
            let (m0, m1) = (key_slope(keys, i) * d, key_slope(keys, i + 1) * d);
            let s2 = s * s;
            ((6.0 * s2 - 6.0 * s) * k0.value
                + (3.0 * s2 - 4.0 * s + 1.0) * m0
                + (-6.0 * s2 + 6.0 * s) * k1.value
                + (3.0 * s2 - 2.0 * s) * m1)
                / d
        }
    }
}

/// ∫ from `a` to `b` of the curve, exactly (linear and Hermite pieces integrate in closed form).
pub fn curve_integral(keys: &[Key], a: f64, b: f64) -> f64 {
    if b < a {
        return -curve_integral(keys, b, a);
    }
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else { return 0.0 };
    // ∫ from the start of piece i to `x` inside it.
    let partial = |i: usize, x: f64| -> f64 {
        let (k0, k1) = (keys[i], keys[i + 1]);
        let d = k1.time - k0.time;
        let s = ((x - k0.time) / d).clamp(0.0, 1.0);
        match k0.interp {
            KeyInterp::Linear => d * (k0.value * s + (k1.value - k0.value) * s * s / 2.0),
            KeyInterp::Smooth => {
                let (m0, m1) = (key_slope(keys, i) * d, key_slope(keys, i + 1) * d);
                let (s2, s3, s4) = (s * s, s * s * s, s * s * s * s);
                d * ((s4 / 2.0 - s3 + s) * k0.value
                    + (s4 / 4.0 - 2.0 * s3 / 3.0 + s2 / 2.0) * m0
                    + (-s4 / 2.0 + s3) * k1.value
                    + (s4 / 4.0 - s3 / 3.0) * m1)
            }
        }
    };
    let mut total = 0.0;
    if a < first.time {
        total += first.value * (first.time.min(b) - a);
    }
    if b > last.time {
        total += last.value * (b - last.time.max(a));
    }
    for i in 0..keys.len().saturating_sub(1) {
        let (lo, hi) = (keys[i].time.max(a), keys[i + 1].time.min(b));
        if hi > lo {
            total += partial(i, hi) - partial(i, lo);
        }
    }
    total
}

/// Parses keys as `'0:1, 48:0.2'`: time:value pairs, each optionally `:smooth` or `:linear`
/// (linear by default), in any order; times must differ.
pub fn parse_keys(text: &str) -> Result<Vec<Key>> {
    let mut keys = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parts: Vec<&str> = item.split(':').map(str::trim).collect();
        let num = |s: &str| -> Result<f64> {
            let v: f64 = s.parse().map_err(|_| anyhow::anyhow!("'{s}' in key '{item}' is not a number"))?;
            if !v.is_finite() {
                bail!("'{s}' in key '{item}' is not a finite number");
            }
            Ok(v)
        };
        let interp = match parts.get(2).map(|s| s.to_ascii_lowercase()) {
            None => KeyInterp::Linear,
            Some(s) if s == "linear" => KeyInterp::Linear,
            Some(s) if s == "smooth" => KeyInterp::Smooth,
            Some(s) => bail!("key '{item}': interpolation '{s}' is neither linear nor smooth"),
        };
        if parts.len() < 2 || parts.len() > 3 {
            bail!("key '{item}' is not time:value[:linear|smooth]");
        }
        keys.push(Key { time: num(parts[0])?, value: num(parts[1])?, interp });
    }
    if keys.is_empty() {
        bail!("no keys in '{text}' (expected time:value pairs such as '0:1, 48:0.2')");
    }
    keys.sort_by(|a, b| a.time.total_cmp(&b.time));
    if keys.windows(2).any(|w| w[0].time == w[1].time) {
        bail!("two keys at the same time in '{text}'");
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_their_curves_integrate_exactly() {
        let keys = parse_keys("48:0.2, 0:1").unwrap();
        assert_eq!(keys[0], Key { time: 0.0, value: 1.0, interp: KeyInterp::Linear });
        assert!((curve_value(&keys, 24.0) - 0.6).abs() < 1e-12);
        assert_eq!(curve_value(&keys, 100.0), 0.2);
        assert!((curve_integral(&keys, 0.0, 48.0) - 28.8).abs() < 1e-12);
        assert!((curve_integral(&keys, -2.0, 50.0) - (2.0 + 28.8 + 0.4)).abs() < 1e-12);
        let smooth = parse_keys("0:1:smooth, 10:3:smooth, 20:2").unwrap();
        let n = 200_000;
        let reference: f64 =
            (0..n).map(|i| curve_value(&smooth, (i as f64 + 0.5) * 25.0 / n as f64) * 25.0 / n as f64).sum();
        assert!((curve_integral(&smooth, 0.0, 25.0) - reference).abs() < 1e-6);
        let h = 1e-6;
        let numeric = (curve_value(&smooth, 4.0 + h) - curve_value(&smooth, 4.0 - h)) / (2.0 * h);
        assert!((curve_derivative(&smooth, 4.0) - numeric).abs() < 1e-6);
        assert!(parse_keys("0:1, 0:2").is_err());
        assert!(parse_keys("0:1:bouncy").is_err());
        assert!(parse_keys("").is_err());
    }
}
