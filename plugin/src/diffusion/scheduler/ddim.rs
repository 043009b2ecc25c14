//! DDIM (eta = 0): the deterministic sampler of epsilon/v-prediction models (CogVideoX-style configs,
//! Stable Diffusion).
//!
//! Port of diffusers' `DDIMScheduler` (`src/diffusers/schedulers/scheduling_ddim.py`, v0.42).
//! `alphas_cumprod` is built the way torch builds it on CPU: betas by `torch.linspace` in float32
//! (which fuses `start + step·i` into one FMA), and `torch.cumprod`, which accumulates in float64 and
//! stores float32. Timesteps use numpy (float64, round-half-even); the step itself is float32.

use serde::Deserialize;

use super::{check_len, SchedulerError};

/// How betas are spaced over the training timesteps (diffusers' `beta_schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BetaSchedule {
    #[default]
    Linear,
    /// Linear in √β (Stable Diffusion, CogVideoX).
    ScaledLinear,
    /// Glide's cosine schedule, betas capped at 0.999.
    #[serde(rename = "squaredcos_cap_v2")]
    SquaredcosCapV2,
}

/// What the denoiser predicts (diffusers' `prediction_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionType {
    #[default]
    Epsilon,
    VPrediction,
    Sample,
}

/// How inference timesteps are picked from the training ones (Table 2 of "Common Diffusion Noise
/// Schedules and Sample Steps are Flawed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestepSpacing {
    #[default]
    Leading,
    Trailing,
    Linspace,
}

/// diffusers' `DDIMScheduler` config; field names as in `scheduler_config.json`, unknown fields
/// (`_class_name`, `sample_max_value`, ...) are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DdimConfig {
    pub num_train_timesteps: usize,
    pub beta_start: f64,
    pub beta_end: f64,
    pub beta_schedule: BetaSchedule,
    /// Explicit betas (one per training timestep), overriding `beta_schedule`.
    pub trained_betas: Option<Vec<f64>>,
    /// Clamp the predicted clean sample to ±`clip_sample_range`.
    pub clip_sample: bool,
    pub clip_sample_range: f64,
    /// Use ᾱ = 1 for the step past timestep 0 (else ᾱ₀).
    pub set_alpha_to_one: bool,
    pub steps_offset: i64,
    pub prediction_type: PredictionType,
    pub timestep_spacing: TimestepSpacing,
    /// Rescale betas so the last timestep has zero SNR (pairs with `trailing` and v-prediction).
    pub rescale_betas_zero_snr: bool,
    /// Imagen's dynamic thresholding; not supported (meant for pixel-space models).
    pub thresholding: bool,
}

impl Default for DdimConfig {
    fn default() -> Self {
        Self {
            num_train_timesteps: 1000,
            beta_start: 0.0001,
            beta_end: 0.02,
            beta_schedule: BetaSchedule::Linear,
            trained_betas: None,
            clip_sample: true,
            clip_sample_range: 1.0,
            set_alpha_to_one: true,
            steps_offset: 0,
            prediction_type: PredictionType::Epsilon,
            timestep_spacing: TimestepSpacing::Leading,
            rescale_betas_zero_snr: false,
            thresholding: false,
        }
    }
}

impl DdimConfig {
    /// Rejects unsupported options and values that make no schedule.
    pub fn validate(&self) -> Result<(), SchedulerError> {
        if self.thresholding {
            return Err(SchedulerError::Unsupported("thresholding (dynamic thresholding) for DDIM".into()));
        }
        let invalid = |msg: String| Err(SchedulerError::InvalidConfig(msg));
        if self.num_train_timesteps < 2 {
            return invalid(format!("num_train_timesteps must be at least 2, got {}", self.num_train_timesteps));
        }
        if let Some(b) = &self.trained_betas {
            if b.len() != self.num_train_timesteps {
                return invalid(format!("trained_betas has {} values, expected {}", b.len(), self.num_train_timesteps));
            }
        } else if !(self.beta_start.is_finite()
            && self.beta_end.is_finite()
            && self.beta_start >= 0.0
            && self.beta_end < 1.0)
        {
            return invalid(format!("betas must lie in [0, 1), got {}..{}", self.beta_start, self.beta_end));
        }
        if self.clip_sample && !(self.clip_sample_range.is_finite() && self.clip_sample_range > 0.0) {
            return invalid(format!("clip_sample_range must be positive, got {}", self.clip_sample_range));
        }
        Ok(())
    }

    /// The training schedule's ᾱ_t (float32, as torch computes it), one per training timestep.
    pub fn alphas_cumprod(&self) -> Result<Vec<f32>, SchedulerError> {
        self.validate()?;
        let n = self.num_train_timesteps;
        let mut betas: Vec<f32> = match (&self.trained_betas, self.beta_schedule) {
            (Some(b), _) => b.iter().map(|&x| x as f32).collect(),
            (None, BetaSchedule::Linear) => torch_linspace_f32(self.beta_start, self.beta_end, n),
            (None, BetaSchedule::ScaledLinear) => {
                torch_linspace_f32(self.beta_start.sqrt(), self.beta_end.sqrt(), n).into_iter().map(|b| b * b).collect()
            }
            (None, BetaSchedule::SquaredcosCapV2) => betas_for_alpha_bar_cosine(n),
        };
        if betas.iter().any(|b| !(0.0..=1.0).contains(b)) {
            return Err(SchedulerError::InvalidConfig("betas must lie in [0, 1]".into()));
        }
        if self.rescale_betas_zero_snr {
            betas = rescale_zero_terminal_snr(&betas);
        }
        let alphas: Vec<f32> = betas.iter().map(|b| 1.0 - b).collect();
        Ok(cumprod_f64_acc(&alphas))
    }

    /// diffusers' `set_timesteps(steps)`: builds the schedule of `steps` DDIM steps.
    pub fn build(&self, steps: usize) -> Result<Ddim, SchedulerError> {
        let alphas_cumprod = self.alphas_cumprod()?;
        let t_train = self.num_train_timesteps;
        if steps == 0 || steps > t_train {
            return Err(SchedulerError::InvalidSchedule(format!(
                "DDIM needs 1..={t_train} steps (num_train_timesteps), got {steps}"
            )));
        }
        let timesteps: Vec<i64> = match self.timestep_spacing {
            // np.linspace(0, T - 1, N).round()[::-1]
            TimestepSpacing::Linspace => {
                let stop = (t_train - 1) as f64;
                let step = if steps > 1 { stop / (steps - 1) as f64 } else { 0.0 };
                (0..steps)
                    .rev()
                    .map(|i| if i == steps - 1 && steps > 1 { stop } else { i as f64 * step })
                    .map(|t| t.round_ties_even() as i64)
                    .collect()
            }
            // (arange(N) * (T // N))[::-1] + steps_offset
            TimestepSpacing::Leading => {
                let ratio = (t_train / steps) as i64;
                (0..steps as i64).rev().map(|i| i * ratio + self.steps_offset).collect()
            }
            // round(arange(T, 0, -T / N)) - 1, numpy arange filling `start + i·delta`
            TimestepSpacing::Trailing => {
                let (start, ratio) = (t_train as f64, t_train as f64 / steps as f64);
                let len = ((0.0 - start) / -ratio).ceil() as usize;
                let delta = (start - ratio) - start;
                (0..len).map(|i| (start + i as f64 * delta).round_ties_even() as i64 - 1).collect()
            }
        };
        if let Some(&t) = timesteps.iter().find(|&&t| t < 0 || t >= t_train as i64) {
            return Err(SchedulerError::InvalidSchedule(format!(
                "timestep {t} is outside the training range 0..{t_train} (check steps_offset)"
            )));
        }
        if self.prediction_type == PredictionType::Epsilon
            && timesteps.iter().any(|&t| alphas_cumprod[t as usize] == 0.0)
        {
            return Err(SchedulerError::InvalidConfig(
                "epsilon prediction at a zero-SNR timestep divides by zero (use v_prediction with rescale_betas_zero_snr)".into(),
            ));
        }
        let final_alpha_cumprod = if self.set_alpha_to_one { 1.0 } else { alphas_cumprod[0] };
        Ok(Ddim {
            alphas_cumprod,
            final_alpha_cumprod,
            timesteps,
            step_ratio: (t_train / steps) as i64,
            prediction_type: self.prediction_type,
            clip: self.clip_sample.then_some(self.clip_sample_range as f32),
        })
    }
}

/// `torch.linspace(start, end, n, dtype=float32)` on CPU: both ends rounded to f32, `step` in f32,
/// the first half `start + step·i` and the second half `end − step·(n−1−i)`, each one fused multiply-add.
fn torch_linspace_f32(start: f64, end: f64, n: usize) -> Vec<f32> {
    let (start, end) = (start as f32, end as f32);
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| if i < half { step.mul_add(i as f32, start) } else { (-step).mul_add((n - 1 - i) as f32, end) })
        .collect()
}

/// `torch.cumprod` of float32 on CPU: the running product is kept in float64, each output rounded.
fn cumprod_f64_acc(x: &[f32]) -> Vec<f32> {
    let mut acc = 1.0_f64;
    x.iter()
        .map(|&a| {
            acc *= f64::from(a);
            acc as f32
        })
        .collect()
}

/// diffusers' `betas_for_alpha_bar(n, 0.999, "cosine")` (Python floats, then float32).
fn betas_for_alpha_bar_cosine(n: usize) -> Vec<f32> {
    let alpha_bar = |t: f64| {
        let c = ((t + 0.008) / 1.008 * std::f64::consts::PI / 2.0).cos();
        c * c
    };
    (0..n)
        .map(|i| {
            let (t1, t2) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
            (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999) as f32
        })
        .collect()
}

/// diffusers' `rescale_zero_terminal_snr` (arXiv 2305.08891, Algorithm 1), float32 throughout.
fn rescale_zero_terminal_snr(betas: &[f32]) -> Vec<f32> {
    let alphas: Vec<f32> = betas.iter().map(|b| 1.0 - b).collect();
    let mut sqrt_bar: Vec<f32> = cumprod_f64_acc(&alphas).into_iter().map(f32::sqrt).collect();
    let (first, last) = (sqrt_bar[0], sqrt_bar[sqrt_bar.len() - 1]);
    let scale = first / (first - last);
    sqrt_bar.iter_mut().for_each(|s| *s = (*s - last) * scale);
    let bar: Vec<f32> = sqrt_bar.iter().map(|s| s * s).collect();
    std::iter::once(bar[0]).chain(bar.windows(2).map(|w| w[1] / w[0])).map(|a| 1.0 - a).collect()
}

/// A built DDIM schedule (eta = 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Ddim {
    alphas_cumprod: Vec<f32>,
    final_alpha_cumprod: f32,
    timesteps: Vec<i64>,
    /// `num_train_timesteps // steps`: diffusers' previous timestep is `t − step_ratio` for every
    /// spacing, even where that is not the next entry of `timesteps` (trailing/linspace).
    step_ratio: i64,
    prediction_type: PredictionType,
    clip: Option<f32>,
}

impl Ddim {
    /// Integer training timesteps, descending, one per step.
    pub fn timesteps(&self) -> &[i64] {
        &self.timesteps
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.timesteps.len()
    }

    /// Always false for a built schedule.
    pub fn is_empty(&self) -> bool {
        self.timesteps.is_empty()
    }

    /// The training schedule's ᾱ_t.
    pub fn alphas_cumprod(&self) -> &[f32] {
        &self.alphas_cumprod
    }

    /// DDIM step `i` with eta = 0, in place (`DDIMScheduler.step(model_output, t, sample, eta=0)`):
    /// predict x̂0 and ε̂ from the model output, clip x̂0 if configured, then
    /// `x ← √ᾱ_prev·x̂0 + √(1−ᾱ_prev)·ε̂`.
    pub fn step(&self, i: usize, model_output: &[f32], sample: &mut [f32]) -> Result<(), SchedulerError> {
        check_len("model_output", sample.len(), model_output.len())?;
        let t = *self.timesteps.get(i).ok_or(SchedulerError::StepOutOfRange { index: i, len: self.len() })?;
        let prev_t = t - self.step_ratio;
        let alpha_t = self.alphas_cumprod[t as usize];
        let alpha_prev = if prev_t >= 0 { self.alphas_cumprod[prev_t as usize] } else { self.final_alpha_cumprod };
        let beta_t = 1.0 - alpha_t;
        let (sqrt_a, sqrt_b) = (alpha_t.sqrt(), beta_t.sqrt());
        // eta = 0: std_dev_t = 0, so the direction coefficient is √(1 − ᾱ_prev − 0).
        let (sqrt_a_prev, dir) = (alpha_prev.sqrt(), (1.0 - alpha_prev).sqrt());
        for (x, &m) in sample.iter_mut().zip(model_output) {
            let (mut x0, eps) = match self.prediction_type {
                PredictionType::Epsilon => ((*x - sqrt_b * m) / sqrt_a, m),
                PredictionType::Sample => (m, (*x - sqrt_a * m) / sqrt_b),
                PredictionType::VPrediction => (sqrt_a * *x - sqrt_b * m, sqrt_a * m + sqrt_b * *x),
            };
            if let Some(r) = self.clip {
                x0 = x0.clamp(-r, r);
            }
            *x = sqrt_a_prev * x0 + dir * eps;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_steps_and_decreasing_timesteps() {
        for spacing in [TimestepSpacing::Leading, TimestepSpacing::Trailing, TimestepSpacing::Linspace] {
            for n in [1, 3, 7, 50, 1000] {
                let s = DdimConfig { timestep_spacing: spacing, ..Default::default() }.build(n).unwrap();
                assert_eq!(s.len(), n, "{spacing:?} {n}");
                assert!(s.timesteps().windows(2).all(|w| w[1] < w[0]), "{spacing:?} {n}");
                assert!(s.timesteps().iter().all(|&t| (0..1000).contains(&t)));
            }
        }
    }

    #[test]
    fn zero_snr_ends_at_zero_alpha() {
        let c = DdimConfig {
            rescale_betas_zero_snr: true,
            prediction_type: PredictionType::VPrediction,
            ..Default::default()
        };
        let a = c.alphas_cumprod().unwrap();
        assert_eq!(a[999], 0.0);
        assert!(a.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn bad_configs_are_rejected() {
        let d = DdimConfig::default;
        assert!(matches!(DdimConfig { thresholding: true, ..d() }.build(10), Err(SchedulerError::Unsupported(_))));
        assert!(matches!(d().build(0), Err(SchedulerError::InvalidSchedule(_))));
        assert!(matches!(d().build(1001), Err(SchedulerError::InvalidSchedule(_))));
        assert!(matches!(DdimConfig { steps_offset: 100, ..d() }.build(10), Err(SchedulerError::InvalidSchedule(_))));
        assert!(matches!(
            DdimConfig { trained_betas: Some(vec![0.1; 3]), ..d() }.build(10),
            Err(SchedulerError::InvalidConfig(_))
        ));
        assert!(matches!(DdimConfig { beta_end: 1.5, ..d() }.build(10), Err(SchedulerError::InvalidConfig(_))));
        let eps_zero_snr =
            DdimConfig { rescale_betas_zero_snr: true, timestep_spacing: TimestepSpacing::Trailing, ..d() };
        assert!(matches!(eps_zero_snr.build(10), Err(SchedulerError::InvalidConfig(_))));
        let s = d().build(10).unwrap();
        let mut x = [0.0_f32; 2];
        assert!(matches!(s.step(10, &[0.0; 2], &mut x), Err(SchedulerError::StepOutOfRange { .. })));
        assert!(matches!(s.step(0, &[0.0; 3], &mut x), Err(SchedulerError::LengthMismatch { .. })));
    }

    #[test]
    fn exact_epsilon_recovers_the_clean_sample() {
        // x_t = √ᾱ·x0 + √(1−ᾱ)·ε; with the true ε the last step lands on x0 (ᾱ_prev = 1).
        let s = DdimConfig { clip_sample: false, ..Default::default() }.build(10).unwrap();
        let t = *s.timesteps().last().unwrap() as usize;
        let a = s.alphas_cumprod()[t];
        let (x0, eps) = (0.3_f32, -0.7_f32);
        let mut x = [a.sqrt() * x0 + (1.0 - a).sqrt() * eps];
        s.step(s.len() - 1, &[eps], &mut x).unwrap();
        assert!((x[0] - x0).abs() < 1e-6, "{}", x[0]);
    }
}
