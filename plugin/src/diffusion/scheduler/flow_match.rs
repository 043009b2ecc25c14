//! Flow-matching Euler: the scheduler of LTX-Video, Wan, Flux and SD3.
//!
//! Port of diffusers' `FlowMatchEulerDiscreteScheduler`
//! (`src/diffusers/schedulers/scheduling_flow_match_euler_discrete.py`, v0.42) plus the two pipeline
//! helpers that feed it: `calculate_shift` (`pipelines/ltx/pipeline_ltx.py`) and
//! `linear_quadratic_schedule` (`pipelines/ltx/pipeline_ltx_condition.py`).
//!
//! Numerics follow diffusers' dtypes: a schedule built from a step count is computed in float64 (numpy)
//! and rounded to float32 once; custom sigmas/timesteps are cast to float32 first and shifted in float32
//! (numpy's NEP 50 rules keep Python scalars from promoting them); all stepping is float32 (torch).

use serde::Deserialize;

use super::{check_len, SchedulerError};

/// How `mu` shifts sigmas when `use_dynamic_shifting` is on (diffusers' `time_shift_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeShiftType {
    /// `σ' = e^μ / (e^μ + (1/σ − 1))`.
    #[default]
    Exponential,
    /// `σ' = μ / (μ + (1/σ − 1))`.
    Linear,
}

/// diffusers' `FlowMatchEulerDiscreteScheduler` config; field names as in `scheduler_config.json`,
/// unknown fields (`_class_name`, ...) are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct FlowMatchEulerConfig {
    pub num_train_timesteps: usize,
    /// Static shift `σ' = sσ/(1 + (s−1)σ)`, used when `use_dynamic_shifting` is false.
    pub shift: f64,
    /// Shift by the resolution-dependent `mu` passed to [`FlowMatchEulerConfig::build`] instead.
    pub use_dynamic_shifting: bool,
    /// Only read by pipelines to compute `mu` ([`FlowMatchEulerConfig::mu_for_seq_len`]); may be null.
    pub base_shift: Option<f64>,
    /// Only read by pipelines to compute `mu`; may be null.
    pub max_shift: Option<f64>,
    pub base_image_seq_len: usize,
    pub max_image_seq_len: usize,
    /// Mochi's inverted schedule; not supported.
    pub invert_sigmas: bool,
    /// Stretch the shifted schedule so its last sigma is exactly this value (LTX 0.9.0/0.9.1: 0.1).
    pub shift_terminal: Option<f64>,
    pub use_karras_sigmas: bool,
    pub use_exponential_sigmas: bool,
    pub use_beta_sigmas: bool,
    pub time_shift_type: TimeShiftType,
    /// Re-noise after each step; needs [`FlowMatchEuler::step_stochastic`] with explicit noise.
    pub stochastic_sampling: bool,
}

impl Default for FlowMatchEulerConfig {
    fn default() -> Self {
        Self {
            num_train_timesteps: 1000,
            shift: 1.0,
            use_dynamic_shifting: false,
            base_shift: Some(0.5),
            max_shift: Some(1.15),
            base_image_seq_len: 256,
            max_image_seq_len: 4096,
            invert_sigmas: false,
            shift_terminal: None,
            use_karras_sigmas: false,
            use_exponential_sigmas: false,
            use_beta_sigmas: false,
            time_shift_type: TimeShiftType::Exponential,
            stochastic_sampling: false,
        }
    }
}

/// What `set_timesteps` is given: a step count, or a pipeline's own list. Custom lists are float32
/// because diffusers casts them to float32 before anything else.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `N` steps, sigmas `linspace(σmax·T, σmin·T, N)/T` (float64), then shifted.
    Steps(usize),
    /// Custom sigmas (descending), shifted like the default ones (LTX T2V: `linspace(1, 1/N, N)`).
    Sigmas(Vec<f32>),
    /// Custom timesteps (descending, in training units): used as given, sigmas = shift(t/T)
    /// (LTX condition pipeline: [`linear_quadratic_timesteps`]).
    Timesteps(Vec<f32>),
}

/// diffusers' `calculate_shift`: `mu` grows linearly with the latent token count, from `base_shift` at
/// `base_seq_len` to `max_shift` at `max_seq_len` (extrapolated beyond).
pub fn calculate_shift(
    image_seq_len: usize,
    base_seq_len: usize,
    max_seq_len: usize,
    base_shift: f64,
    max_shift: f64,
) -> f64 {
    // Same operation order as the Python so the float64 result is bit-identical.
    let m = (max_shift - base_shift) / (max_seq_len as f64 - base_seq_len as f64);
    let b = base_shift - m * base_seq_len as f64;
    image_seq_len as f64 * m + b
}

/// The LTX condition pipeline's default sigmas (`linear_quadratic_schedule`, float64, length `steps`):
/// linear from 1 down to `1 − threshold_noise` over `linear_steps` (default `steps/2`), then
/// quadratic towards 0 (never reaching it). One step gives `[1.0]`.
pub fn linear_quadratic_schedule(
    steps: usize,
    threshold_noise: f64,
    linear_steps: Option<usize>,
) -> Result<Vec<f64>, SchedulerError> {
    if steps == 0 {
        return Err(SchedulerError::InvalidSchedule("linear_quadratic_schedule needs at least 1 step".into()));
    }
    if steps < 2 {
        return Ok(vec![1.0]);
    }
    let linear = linear_steps.unwrap_or(steps / 2);
    if linear == 0 || linear >= steps {
        return Err(SchedulerError::InvalidSchedule(format!(
            "linear_quadratic_schedule: linear_steps must be in 1..{steps} for {steps} steps, got {linear}"
        )));
    }
    if !threshold_noise.is_finite() {
        return Err(SchedulerError::InvalidSchedule("linear_quadratic_schedule: threshold_noise is not finite".into()));
    }
    let (n, ls) = (steps as f64, linear as f64);
    let quadratic = (steps - linear) as f64;
    let step_diff = ls - threshold_noise * n;
    let quadratic_coef = step_diff / (ls * (quadratic * quadratic));
    let linear_coef = threshold_noise / ls - 2.0 * step_diff / (quadratic * quadratic);
    let constant = quadratic_coef * (ls * ls);
    let mut out = Vec::with_capacity(steps);
    out.extend((0..linear).map(|i| 1.0 - i as f64 * threshold_noise / ls));
    out.extend((linear..steps).map(|i| {
        let i = i as f64;
        1.0 - (quadratic_coef * (i * i) + linear_coef * i + constant)
    }));
    Ok(out)
}

/// What LTXPipeline and LTXImageToVideoPipeline pass as `sigmas` for `n` steps:
/// `np.linspace(1.0, 1 / n, n)`, computed in f64 and rounded to f32 as numpy does.
pub fn linspace_sigmas(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| if n == 1 { 1.0 } else { 1.0 + i as f64 * ((1.0 / n as f64 - 1.0) / (n - 1) as f64) })
        .map(|s| s as f32)
        .collect()
}

/// What the LTX condition pipeline passes as `timesteps`: `linear_quadratic_schedule(..) * 1000`,
/// where torch has already rounded the sigmas to float32 before the multiply.
pub fn linear_quadratic_timesteps(
    steps: usize,
    threshold_noise: f64,
    linear_steps: Option<usize>,
) -> Result<Vec<f32>, SchedulerError> {
    Ok(linear_quadratic_schedule(steps, threshold_noise, linear_steps)?
        .into_iter()
        .map(|s| s as f32 * 1000.0)
        .collect())
}

impl FlowMatchEulerConfig {
    /// Rejects options Kinema does not implement and values diffusers would turn into NaN.
    pub fn validate(&self) -> Result<(), SchedulerError> {
        let unsupported = |what: &str| Err(SchedulerError::Unsupported(what.to_string()));
        if self.invert_sigmas {
            return unsupported("invert_sigmas (Mochi's inverted flow-match schedule)");
        }
        for (on, name) in [
            (self.use_karras_sigmas, "use_karras_sigmas"),
            (self.use_exponential_sigmas, "use_exponential_sigmas"),
            (self.use_beta_sigmas, "use_beta_sigmas"),
        ] {
            if on {
                return unsupported(&format!("{name} for FlowMatchEuler (only the plain/shifted sigma schedule)"));
            }
        }
        let invalid = |msg: String| Err(SchedulerError::InvalidConfig(msg));
        if self.num_train_timesteps == 0 {
            return invalid("num_train_timesteps must be at least 1".into());
        }
        let shift_ok = self.shift.is_finite() && self.shift > 0.0;
        if !shift_ok && !self.use_dynamic_shifting {
            return invalid(format!("shift must be a positive number, got {}", self.shift));
        }
        if let Some(t) = self.shift_terminal {
            if !(t.is_finite() && (0.0..1.0).contains(&t)) {
                return invalid(format!("shift_terminal must be in [0, 1), got {t}"));
            }
        }
        Ok(())
    }

    /// `mu` for a latent of `seq_len` tokens from this config's `base_*`/`max_*` fields, as the LTX and
    /// Flux pipelines compute it.
    pub fn mu_for_seq_len(&self, seq_len: usize) -> Result<f64, SchedulerError> {
        match (self.base_shift, self.max_shift) {
            (Some(base), Some(max)) if self.max_image_seq_len != self.base_image_seq_len => {
                Ok(calculate_shift(seq_len, self.base_image_seq_len, self.max_image_seq_len, base, max))
            }
            _ => Err(SchedulerError::InvalidConfig(
                "cannot compute mu: base_shift/max_shift missing or base_image_seq_len == max_image_seq_len".into(),
            )),
        }
    }

    /// diffusers' `set_timesteps(num_inference_steps | sigmas | timesteps, mu)`. `mu` is required with
    /// `use_dynamic_shifting` and ignored without it (as diffusers does, so LTX pipelines can always pass it).
    pub fn build(&self, schedule: Schedule, mu: Option<f64>) -> Result<FlowMatchEuler, SchedulerError> {
        self.validate()?;
        let shift = match (self.use_dynamic_shifting, mu) {
            (false, _) => Shift::Static(self.shift),
            (true, None) => {
                return Err(SchedulerError::InvalidConfig(
                    "use_dynamic_shifting is set but no mu was given (compute it with calculate_shift)".into(),
                ))
            }
            (true, Some(mu)) if !mu.is_finite() => {
                return Err(SchedulerError::InvalidConfig(format!("mu must be finite, got {mu}")))
            }
            (true, Some(mu)) if self.time_shift_type == TimeShiftType::Linear && mu <= 0.0 => {
                return Err(SchedulerError::InvalidConfig(format!("linear time shift needs mu > 0, got {mu}")))
            }
            (true, Some(mu)) => Shift::Dynamic(self.time_shift_type, mu),
        };
        // diffusers skips the stretch when shift_terminal is falsy, 0.0 included.
        let terminal = self.shift_terminal.filter(|&t| t != 0.0);
        let t_train = self.num_train_timesteps as f64;

        let (mut sigmas, timesteps): (Vec<f32>, Option<Vec<f32>>) = match schedule {
            Schedule::Steps(0) => return Err(SchedulerError::InvalidSchedule("at least 1 step is needed".into())),
            Schedule::Steps(n) => {
                let (sigma_max, sigma_min) = self.train_sigma_range();
                let mut s = linspace(sigma_max * t_train, sigma_min * t_train, n);
                s.iter_mut().for_each(|t| *t /= t_train);
                shift.apply(&mut s);
                if let Some(term) = terminal {
                    stretch_to_terminal(&mut s, term);
                }
                (s.into_iter().map(|x| x as f32).collect(), None)
            }
            Schedule::Sigmas(mut s) => {
                check_custom("sigmas", &s)?;
                shift.apply(&mut s);
                if let Some(term) = terminal {
                    stretch_to_terminal(&mut s, term);
                }
                (s, None)
            }
            Schedule::Timesteps(t) => {
                check_custom("timesteps", &t)?;
                let t_train32 = self.num_train_timesteps as f32;
                let mut s: Vec<f32> = t.iter().map(|&x| x / t_train32).collect();
                shift.apply(&mut s);
                if let Some(term) = terminal {
                    stretch_to_terminal(&mut s, term);
                }
                (s, Some(t))
            }
        };
        let t_train32 = self.num_train_timesteps as f32;
        let timesteps = timesteps.unwrap_or_else(|| sigmas.iter().map(|&s| s * t_train32).collect());
        sigmas.push(0.0);

        if let Some(bad) = sigmas.iter().chain(&timesteps).find(|x| !x.is_finite()) {
            return Err(SchedulerError::InvalidSchedule(format!(
                "the schedule contains {bad} (a single step with shift_terminal, or sigmas of 0 with dynamic shifting?)"
            )));
        }
        if sigmas.windows(2).any(|w| w[1] >= w[0]) || timesteps.windows(2).any(|w| w[1] >= w[0]) {
            return Err(SchedulerError::InvalidSchedule(
                "sigmas and timesteps must be strictly decreasing and end above 0".into(),
            ));
        }
        Ok(FlowMatchEuler { timesteps, sigmas, num_train_timesteps: t_train32, stochastic: self.stochastic_sampling })
    }

    /// `(sigma_max, sigma_min)` of the 1000-step training schedule built in diffusers' `__init__`
    /// (float32; statically shifted there, so `Steps(n)` with a static shift shifts σmin twice, as
    /// diffusers does).
    fn train_sigma_range(&self) -> (f64, f64) {
        let t = self.num_train_timesteps as f32;
        // timesteps linspace(1, T, T)[::-1] / T: the ends are T/T = 1 exactly and 1/T in float32.
        let mut ends = [1.0, 1.0 / t];
        if !self.use_dynamic_shifting {
            Shift::Static(self.shift).apply(&mut ends[..]);
        }
        (f64::from(ends[0]), f64::from(ends[1]))
    }
}

/// Custom sigma/timestep lists must be non-empty and finite; order is checked after shifting.
fn check_custom(what: &str, values: &[f32]) -> Result<(), SchedulerError> {
    if values.is_empty() {
        return Err(SchedulerError::InvalidSchedule(format!("custom {what} are empty")));
    }
    if values.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Err(SchedulerError::InvalidSchedule(format!("custom {what} must be finite and > 0")));
    }
    Ok(())
}

/// numpy's `linspace` (float64): `start + i·step`, the last value exactly `stop`.
pub(super) fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
    v[n - 1] = stop;
    v
}

/// The float type a step of `set_timesteps` runs in: f64 for numpy arrays built from Python floats,
/// f32 for arrays that diffusers cast with `.astype(np.float32)`. Python scalars are rounded to the
/// array's type first (numpy NEP 50 / torch wrapped scalars).
trait Real:
    Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    fn of(x: f64) -> Self;
}
impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }
}
impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
}

#[derive(Debug, Clone, Copy)]
enum Shift {
    Static(f64),
    Dynamic(TimeShiftType, f64),
}

impl Shift {
    fn apply<T: Real>(self, sigmas: &mut [T]) {
        let one = T::of(1.0);
        match self {
            // `shift * sigmas / (1 + (shift - 1) * sigmas)`
            Shift::Static(s) => {
                let (s, s1) = (T::of(s), T::of(s - 1.0));
                sigmas.iter_mut().for_each(|x| *x = s * *x / (one + s1 * *x));
            }
            // `math.exp(mu) / (math.exp(mu) + (1 / t - 1) ** 1.0)`; `** 1.0` is exact.
            Shift::Dynamic(TimeShiftType::Exponential, mu) => {
                let e = T::of(mu.exp());
                sigmas.iter_mut().for_each(|x| *x = e / (e + (one / *x - one)));
            }
            Shift::Dynamic(TimeShiftType::Linear, mu) => {
                let m = T::of(mu);
                sigmas.iter_mut().for_each(|x| *x = m / (m + (one / *x - one)));
            }
        }
    }
}

/// `stretch_shift_to_terminal`: `1 − (1−σ)/((1−σ_last)/(1−terminal))`, in the array's dtype.
fn stretch_to_terminal<T: Real>(sigmas: &mut [T], terminal: f64) {
    let one = T::of(1.0);
    let Some(&last) = sigmas.last() else { return };
    let scale = (one - last) / T::of(1.0 - terminal);
    sigmas.iter_mut().for_each(|x| *x = one - (one - *x) / scale);
}

/// A built flow-matching Euler schedule: `len()` steps, `len() + 1` sigmas ending at 0.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowMatchEuler {
    timesteps: Vec<f32>,
    sigmas: Vec<f32>,
    num_train_timesteps: f32,
    stochastic: bool,
}

impl FlowMatchEuler {
    /// Model timesteps (float32, training units, strictly decreasing), one per step.
    pub fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    /// Noise levels, one per step plus the final 0.
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.timesteps.len()
    }

    /// Always false for a built schedule.
    pub fn is_empty(&self) -> bool {
        self.timesteps.is_empty()
    }

    fn sigma_pair(&self, i: usize) -> Result<(f32, f32), SchedulerError> {
        match (self.sigmas.get(i), self.sigmas.get(i + 1)) {
            (Some(&s), Some(&next)) => Ok((s, next)),
            _ => Err(SchedulerError::StepOutOfRange { index: i, len: self.len() }),
        }
    }

    /// Euler step `i` in place: `x ← x + (σ_{i+1} − σ_i)·v`, float32 like diffusers (dt is rounded to
    /// float32 first, then multiply and add without fusing).
    pub fn step(&self, i: usize, model_output: &[f32], sample: &mut [f32]) -> Result<(), SchedulerError> {
        if self.stochastic {
            return Err(SchedulerError::InvalidInput(
                "stochastic_sampling is set: use step_stochastic with explicit noise".into(),
            ));
        }
        check_len("model_output", sample.len(), model_output.len())?;
        let (sigma, next) = self.sigma_pair(i)?;
        let dt = next - sigma;
        sample.iter_mut().zip(model_output).for_each(|(x, &v)| *x += dt * v);
        Ok(())
    }

    /// The `stochastic_sampling` step with the noise passed in (diffusers draws it inside `step`):
    /// `x0 = x − σ·v`, `x ← (1 − σ_next)·x0 + σ_next·ε`.
    pub fn step_stochastic(
        &self,
        i: usize,
        model_output: &[f32],
        noise: &[f32],
        sample: &mut [f32],
    ) -> Result<(), SchedulerError> {
        if !self.stochastic {
            return Err(SchedulerError::InvalidInput(
                "step_stochastic needs a config with stochastic_sampling = true".into(),
            ));
        }
        check_len("model_output", sample.len(), model_output.len())?;
        check_len("noise", sample.len(), noise.len())?;
        let (sigma, next) = self.sigma_pair(i)?;
        let keep = 1.0 - next;
        for ((x, &v), &e) in sample.iter_mut().zip(model_output).zip(noise) {
            let x0 = *x - sigma * v;
            *x = keep * x0 + next * e;
        }
        Ok(())
    }

    /// diffusers' `per_token_timesteps` branch of `step` (LTX condition pipeline), for a latent laid
    /// out as `tokens × channels`. Each token moves from its own `σ_tok = t/1000` to the largest schedule
    /// sigma strictly below `σ_tok − 1e-6` (0 if none):
    /// `x ← x + (σ_tok − σ_next)·model_output`.
    ///
    /// Note the sign: `dt` is positive here (the opposite of [`FlowMatchEuler::step`]), which is why
    /// the LTX pipeline passes `-noise_pred`; pass the negated velocity the same way. Tokens at
    /// timestep 0 (fully conditioned) do not move.
    pub fn step_per_token(
        &self,
        per_token_timesteps: &[f32],
        channels: usize,
        model_output: &[f32],
        sample: &mut [f32],
    ) -> Result<(), SchedulerError> {
        if self.stochastic {
            return Err(SchedulerError::Unsupported("per-token steps with stochastic_sampling".into()));
        }
        check_len("model_output", sample.len(), model_output.len())?;
        check_len("sample (tokens × channels)", per_token_timesteps.len() * channels, sample.len())?;
        if channels == 0 {
            return Err(SchedulerError::InvalidInput("channels must be at least 1".into()));
        }
        if let Some(bad) = per_token_timesteps.iter().find(|t| !t.is_finite() || **t < 0.0) {
            return Err(SchedulerError::InvalidInput(format!("per-token timestep {bad} is not a finite value >= 0")));
        }
        let eps = 1e-6_f32;
        let rows = sample.chunks_exact_mut(channels).zip(model_output.chunks_exact(channels));
        for ((x, v), &t) in rows.zip(per_token_timesteps) {
            let sigma = t / self.num_train_timesteps;
            let threshold = sigma - eps;
            // Sigmas are strictly decreasing: the first one below the threshold is the largest.
            let next = self.sigmas.iter().copied().find(|&s| s < threshold).unwrap_or(0.0).max(0.0);
            let dt = sigma - next;
            x.iter_mut().zip(v).for_each(|(x, &v)| *x += dt * v);
        }
        Ok(())
    }

    /// The forward process `x ← σ·ε + (1 − σ)·x` (diffusers' `scale_noise`), e.g. to noise a
    /// conditioning latent or start image-to-video from a partly denoised level.
    pub fn scale_noise(sample: &mut [f32], noise: &[f32], sigma: f32) -> Result<(), SchedulerError> {
        check_len("noise", sample.len(), noise.len())?;
        let keep = 1.0 - sigma;
        sample.iter_mut().zip(noise).for_each(|(x, &e)| *x = sigma * e + keep * *x);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
