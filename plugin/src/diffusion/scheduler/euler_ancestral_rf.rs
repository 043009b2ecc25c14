//! Euler-ancestral for rectified flow: the scheduler of LTX-Video's long-shot pipeline.
//!
//! Port of diffusers' `LTXEulerAncestralRFScheduler`
//! (`src/diffusers/schedulers/scheduling_ltx_euler_ancestral_rf.py`, v0.42.1), itself ComfyUI's
//! `sample_euler_ancestral_RF`. The contract is `models/ltx/long-spec.md` §8.1–8.3.
//!
//! Unlike [`FlowMatchEuler`](super::FlowMatchEuler), a step re-noises: it steps down to a lower noise
//! level `σ_down` and adds fresh noise back up to `σ_{i+1}`. The noise comes from the [`Noise`] the
//! caller passes, drawn only when diffusers draws (so a recorded sequence of draws replays one to one).
//! All stepping is float32.

use super::{check_len, FlowMatchEulerConfig, Schedule, SchedulerError};
use crate::diffusion::Noise;

/// The built schedule plus the two knobs of the ancestral step.
///
/// A pipeline runs `timesteps()[..len - 1]` (diffusers' `timesteps[:-1]` loop): with explicit sigmas
/// ending at 0 that is every step, the last one landing exactly on 0 without noise; with a step count
/// it stops one step short, at a non-zero sigma (long-spec §8.3).
#[derive(Debug, Clone, PartialEq)]
pub struct EulerAncestralRf {
    timesteps: Vec<f32>,
    sigmas: Vec<f32>,
    eta: f32,
    s_noise: f32,
}

impl EulerAncestralRf {
    /// diffusers' `LTXEulerAncestralRFScheduler.from_config(flow_match.config)` then
    /// `set_timesteps(..)`.
    ///
    /// - [`Schedule::Steps`]`(n)`: the schedule of [`FlowMatchEulerConfig::build`] (`n` timesteps,
    ///   `n + 1` sigmas); `mu` as there (required with dynamic shifting).
    /// - [`Schedule::Sigmas`] or [`Schedule::Timesteps`] (which diffusers takes *as sigmas*, not divided
    ///   by `num_train_timesteps`): used as given, nothing appended, unshifted;
    ///   `timesteps = sigmas · num_train_timesteps` (same length). `mu` is ignored.
    ///
    /// `eta` (diffusers' default 1) scales the noise re-injected per step (0: deterministic Euler);
    /// `s_noise` (default 1) scales the drawn noise.
    pub fn from_flow_match(
        config: &FlowMatchEulerConfig,
        schedule: Schedule,
        mu: Option<f64>,
        eta: f32,
        s_noise: f32,
    ) -> Result<Self, SchedulerError> {
        // diffusers accepts any float; negative or NaN values make the step meaningless.
        for (name, v) in [("eta", eta), ("s_noise", s_noise)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(SchedulerError::InvalidConfig(format!("{name} must be a finite number >= 0, got {v}")));
            }
        }
        let (timesteps, sigmas) = match schedule {
            Schedule::Steps(n) => {
                let fm = config.build(Schedule::Steps(n), mu)?;
                (fm.timesteps().to_vec(), fm.sigmas().to_vec())
            }
            Schedule::Sigmas(s) | Schedule::Timesteps(s) => {
                check_sigmas(&s)?;
                if config.num_train_timesteps == 0 {
                    return Err(SchedulerError::InvalidConfig("num_train_timesteps must be at least 1".into()));
                }
                let t_train = config.num_train_timesteps as f32;
                (s.iter().map(|&x| x * t_train).collect(), s)
            }
        };
        Ok(Self { timesteps, sigmas, eta, s_noise })
    }

    /// Model timesteps (float32, training units). With explicit sigmas there is one per sigma, the
    /// last one usually 0; from a step count one per step.
    pub fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    /// Noise levels the steps move between (`step(i)` goes from `sigmas[i]` to `sigmas[i + 1]`).
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    /// diffusers' `num_inference_steps`: `len(sigmas) − 1`.
    pub fn num_inference_steps(&self) -> usize {
        self.sigmas.len() - 1
    }

    /// The step index diffusers' first `step(t)` call starts at: the position of `t` in `timesteps()`,
    /// the *second* one where `t` occurs more than once (so a schedule resumed in the middle does not
    /// skip a sigma). `None` if `t` is not on the schedule.
    pub fn index_for_timestep(&self, t: f32) -> Option<usize> {
        let mut hits = self.timesteps.iter().enumerate().filter(|(_, &u)| u == t).map(|(k, _)| k);
        let first = hits.next()?;
        Some(hits.next().unwrap_or(first))
    }

    /// Whether `step(i)` draws noise: not past the end, not the final step to σ = 0, and
    /// `eta > 0` and `s_noise > 0`.
    pub fn draws_noise(&self, i: usize) -> bool {
        i + 1 < self.sigmas.len() && self.sigmas[i + 1].abs() >= 1e-8 && self.eta > 0.0 && self.s_noise > 0.0
    }

    /// Step `i` in place for a velocity `model_output` (CONST: `x0 = x − σ·v`). `shape` is the
    /// sample's tensor shape, the shape asked of `noise` when this step draws ([`Self::draws_noise`]);
    /// a draw that fails leaves `sample` untouched.
    ///
    /// Past the last step (`i ≥ len(sigmas) − 1`) the sample is left as it is; a step to σ = 0 returns
    /// the denoised `x0`; otherwise `x ← (σ_down/σ)·x + (1 − σ_down/σ)·x0`, then with noise
    /// `x ← ((1 − σ_{i+1})/(1 − σ_down))·x + ε·c·s_noise` (long-spec §8.2 has the formulas).
    pub fn step(
        &self,
        i: usize,
        model_output: &[f32],
        sample: &mut [f32],
        shape: &[usize],
        noise: &mut dyn Noise,
    ) -> Result<(), SchedulerError> {
        check_len("model_output", sample.len(), model_output.len())?;
        let shape_len = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).unwrap_or(usize::MAX);
        check_len("sample (its shape)", shape_len, sample.len())?;
        if i + 1 >= self.sigmas.len() {
            return Ok(());
        }
        let (s, s1) = (self.sigmas[i], self.sigmas[i + 1]);
        let denoise = |x: f32, v: f32| x - s * v;
        if s1.abs() < 1e-8 {
            sample.iter_mut().zip(model_output).for_each(|(x, &v)| *x = denoise(*x, v));
            return Ok(());
        }
        // Scalars in float32 in diffusers' operation order (torch 1-element tensors).
        let r = 1.0 + (s1 / s - 1.0) * self.eta;
        let sd = s1 * r;
        let (a1, ad) = (1.0 - s1, 1.0 - sd);
        let q = sd / s;
        let euler = |x: f32, v: f32| q * x + (1.0 - q) * denoise(x, v);
        if !self.draws_noise(i) {
            sample.iter_mut().zip(model_output).for_each(|(x, &v)| *x = euler(*x, v));
            return Ok(());
        }
        let eps = noise.draw(shape).map_err(|e| SchedulerError::Noise(e.to_string()))?;
        check_len("noise draw", sample.len(), eps.len())?;
        let c = (s1 * s1 - (sd * sd) * (a1 * a1) / (ad * ad + 1e-12)).max(0.0).sqrt();
        let scale = a1 / (ad + 1e-12);
        for ((x, &v), &e) in sample.iter_mut().zip(model_output).zip(&eps) {
            *x = scale * euler(*x, v) + e * c * self.s_noise;
        }
        Ok(())
    }
}

/// Explicit RF sigmas: at least one step, finite, `>= 0` and non-increasing, so no step divides by a
/// zero sigma (diffusers checks nothing; it only warns when the last sigma is not 0).
fn check_sigmas(s: &[f32]) -> Result<(), SchedulerError> {
    let invalid = |msg: &str| Err(SchedulerError::InvalidSchedule(msg.into()));
    if s.len() < 2 {
        return invalid("explicit RF sigmas need at least two values (one step), the last usually 0");
    }
    if s.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return invalid("explicit RF sigmas must be finite and >= 0");
    }
    if s.windows(2).any(|w| w[1] > w[0]) {
        return invalid("explicit RF sigmas must not increase");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
