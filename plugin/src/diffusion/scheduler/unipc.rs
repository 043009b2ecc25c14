//! diffusers' `UniPCMultistepScheduler` (`schedulers/scheduling_unipc_multistep.py`) for flow
//! prediction: the scheduler Wan 2.1 and 2.2 ship (`use_flow_sigmas`, `flow_shift`, order 2, bh2).
//!
//! UniPC is multistep: each step keeps the model's x0 prediction, the next one predicts with the
//! last `solver_order` of them (UniP) and first corrects the sample it is given with the new
//! prediction (UniC). So a built [`UniPc`] carries that history and steps in order; it owns no
//! random generator. Scalars are computed in float32 as torch does (sigmas, logs, `expm1`, the
//! small linear solves), the schedule itself in float64 as numpy does.

use serde::Deserialize;

use super::flow_match::linspace;
use super::{check_len, SchedulerError, TimeShiftType};

/// UniP/UniC's B(h): `h` (bh1) or `e^h − 1` (bh2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SolverType {
    Bh1,
    Bh2,
}

/// The last sigma of the schedule: 0, or the last shifted sigma again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalSigmas {
    Zero,
    SigmaMin,
}

/// diffusers' `UniPCMultistepScheduler` config; field names as in `scheduler_config.json`, unknown
/// fields (`_class_name`, the beta schedule a flow model never reads, ...) ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct UniPcConfig {
    pub num_train_timesteps: usize,
    /// 1 to 3.
    pub solver_order: usize,
    /// Only `flow_prediction` (velocity) is implemented.
    pub prediction_type: String,
    /// Must be true (flow prediction corrects x0 predictions).
    pub predict_x0: bool,
    pub solver_type: SolverType,
    /// Lower the order over the last steps (needed with a zero final sigma).
    pub lower_order_final: bool,
    /// Steps whose following step skips the corrector.
    pub disable_corrector: Vec<usize>,
    /// Must be true: the flow-matching schedule `σ' = sσ/(1 + (s−1)σ)` over `linspace(1, 1/N)`.
    pub use_flow_sigmas: bool,
    pub flow_shift: f64,
    pub final_sigmas_type: FinalSigmas,
    /// Shift by the `mu` passed to [`UniPcConfig::build`] instead of `flow_shift`.
    pub use_dynamic_shifting: bool,
    pub time_shift_type: TimeShiftType,
    /// Stretch the shifted schedule so its last sigma is this value.
    pub shift_terminal: Option<f64>,
    pub thresholding: bool,
    pub use_karras_sigmas: bool,
    pub use_exponential_sigmas: bool,
    pub use_beta_sigmas: bool,
}

impl Default for UniPcConfig {
    /// Wan 2.1's `scheduler_config.json` (shift 3.0; its 720p models use 5.0).
    fn default() -> Self {
        Self {
            num_train_timesteps: 1000,
            solver_order: 2,
            prediction_type: "flow_prediction".into(),
            predict_x0: true,
            solver_type: SolverType::Bh2,
            lower_order_final: true,
            disable_corrector: Vec::new(),
            use_flow_sigmas: true,
            flow_shift: 3.0,
            final_sigmas_type: FinalSigmas::Zero,
            use_dynamic_shifting: false,
            time_shift_type: TimeShiftType::Exponential,
            shift_terminal: None,
            thresholding: false,
            use_karras_sigmas: false,
            use_exponential_sigmas: false,
            use_beta_sigmas: false,
        }
    }
}

impl UniPcConfig {
    /// Builds the schedule for `steps` steps; `mu` is needed with `use_dynamic_shifting`.
    pub fn build(&self, steps: usize, mu: Option<f64>) -> Result<UniPc, SchedulerError> {
        let unsupported = |what: &str| Err(SchedulerError::Unsupported(what.into()));
        if self.prediction_type != "flow_prediction" || !self.use_flow_sigmas || !self.predict_x0 {
            return unsupported("UniPC is implemented for flow prediction (use_flow_sigmas, predict_x0) only");
        }
        if self.thresholding || self.use_karras_sigmas || self.use_exponential_sigmas || self.use_beta_sigmas {
            return unsupported("UniPC with thresholding or karras/exponential/beta sigmas");
        }
        let invalid = |why: String| Err(SchedulerError::InvalidConfig(why));
        if !(1..=3).contains(&self.solver_order) {
            return invalid(format!("solver_order {} (1 to 3)", self.solver_order));
        }
        // With a zero final sigma the last step's log-SNR is infinite: diffusers itself ends in NaN
        // unless that step is first order with B(h) = e^h − 1.
        if self.final_sigmas_type == FinalSigmas::Zero && self.solver_type == SolverType::Bh1 {
            return invalid("bh1 with final_sigmas_type \"zero\" ends in NaN (use sigma_min or bh2)".into());
        }
        if self.final_sigmas_type == FinalSigmas::Zero && !self.lower_order_final && self.solver_order > 1 {
            return invalid("lower_order_final false with final_sigmas_type \"zero\" ends in NaN".into());
        }
        if steps == 0 || steps > self.num_train_timesteps || !(self.flow_shift.is_finite() && self.flow_shift > 0.0) {
            return Err(SchedulerError::InvalidSchedule(format!(
                "{steps} steps of {} with flow_shift {}",
                self.num_train_timesteps, self.flow_shift
            )));
        }
        let n = self.num_train_timesteps as f64;
        let mut sigmas = linspace(1.0, 1.0 / n, steps + 1);
        sigmas.pop();
        if self.use_dynamic_shifting {
            let mu = mu.ok_or_else(|| SchedulerError::InvalidSchedule("use_dynamic_shifting needs mu".into()))?;
            let e = match self.time_shift_type {
                TimeShiftType::Exponential => mu.exp(),
                TimeShiftType::Linear => mu,
            };
            sigmas.iter_mut().for_each(|s| *s = e / (e + (1.0 / *s - 1.0)));
        } else {
            let s = self.flow_shift;
            sigmas.iter_mut().for_each(|x| *x = s * *x / (1.0 + (s - 1.0) * *x));
        }
        if let Some(terminal) = self.shift_terminal.filter(|&t| t != 0.0) {
            let scale = (1.0 - sigmas[sigmas.len() - 1]) / (1.0 - terminal);
            sigmas.iter_mut().for_each(|x| *x = 1.0 - (1.0 - *x) / scale);
        }
        // Keeps log(alpha) finite at the first step.
        if (sigmas[0] - 1.0).abs() < 1e-6 {
            sigmas[0] -= 1e-6;
        }
        let timesteps: Vec<i64> = sigmas.iter().map(|s| (s * n) as i64).collect();
        let last = match self.final_sigmas_type {
            FinalSigmas::Zero => 0.0,
            FinalSigmas::SigmaMin => sigmas[sigmas.len() - 1],
        };
        let sigmas: Vec<f32> = sigmas.iter().chain([&last]).map(|&s| s as f32).collect();
        if sigmas.iter().any(|s| !s.is_finite() || *s < 0.0 || *s >= 1.0) {
            return Err(SchedulerError::InvalidSchedule(format!("sigmas out of [0, 1): {sigmas:?}")));
        }
        Ok(UniPc {
            config: self.clone(),
            sigmas,
            timesteps,
            outputs: Vec::new(),
            last_sample: None,
            this_order: 0,
            step_index: 0,
        })
    }
}

/// A built UniPC schedule and its multistep history; [`UniPc::step`] runs the steps in order.
#[derive(Debug, Clone, PartialEq)]
pub struct UniPc {
    config: UniPcConfig,
    sigmas: Vec<f32>,
    timesteps: Vec<i64>,
    /// The last `solver_order` x0 predictions, oldest first.
    outputs: Vec<Vec<f32>>,
    /// The sample the last predictor started from (the corrector's `x`).
    last_sample: Option<Vec<f32>>,
    this_order: usize,
    step_index: usize,
}

impl UniPc {
    pub fn len(&self) -> usize {
        self.timesteps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timesteps.is_empty()
    }

    /// `len() + 1` sigmas.
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    /// The integer timesteps fed to the model (`σ·N` truncated, as diffusers casts them).
    pub fn timesteps(&self) -> &[i64] {
        &self.timesteps
    }

    /// The step [`UniPc::step`] runs next.
    pub fn step_index(&self) -> usize {
        self.step_index
    }

    /// One step: `model_output` is the model's velocity at `sample` and the current step's
    /// timestep; `sample` becomes the sample for the next step.
    pub fn step(&mut self, model_output: &[f32], sample: &mut [f32]) -> Result<(), SchedulerError> {
        let i = self.step_index;
        if i >= self.len() {
            return Err(SchedulerError::StepOutOfRange { index: i, len: self.len() });
        }
        check_len("model_output", sample.len(), model_output.len())?;
        if let Some(last) = &self.last_sample {
            check_len("sample", last.len(), sample.len())?;
        }
        let sigma = self.sigmas[i];
        let x0: Vec<f32> = sample.iter().zip(model_output).map(|(x, v)| x - sigma * v).collect();
        let corrects = i > 0 && !self.config.disable_corrector.contains(&(i - 1));
        if let (true, Some(last)) = (corrects, &self.last_sample) {
            let corrected = self.update(i, self.this_order, last, Some(&x0));
            sample.copy_from_slice(&corrected);
        }
        self.outputs.push(x0);
        if self.outputs.len() > self.config.solver_order {
            self.outputs.remove(0);
        }
        let order = self.config.solver_order;
        let wanted = if self.config.lower_order_final { order.min(self.len() - i) } else { order };
        // Warm-up: no more history than steps taken.
        self.this_order = wanted.min(self.outputs.len());
        self.last_sample = Some(sample.to_vec());
        let next = self.update(i + 1, self.this_order, sample, None);
        sample.copy_from_slice(&next);
        self.step_index += 1;
        Ok(())
    }

    /// UniP (predictor, `model_t` None) to sigma `t` from sigma `t − 1`, or UniC (corrector: the
    /// sample at `t` is corrected with `model_t`, the x0 prediction made there), order `order`,
    /// from `x`, the sample at `t − 1`. `outputs` ends with the prediction made at `t − 1`.
    fn update(&self, t: usize, order: usize, x: &[f32], model_t: Option<&[f32]>) -> Vec<f32> {
        let lambda = |s: f32| (1.0 - s).ln() - s.ln(); // log(alpha) − log(sigma), alpha = 1 − sigma
        let (sigma_t, sigma_s0) = (self.sigmas[t], self.sigmas[t - 1]);
        let (alpha_t, lambda_t, lambda_s0) = (1.0 - sigma_t, lambda(sigma_t), lambda(sigma_s0));
        let h = lambda_t - lambda_s0;
        let m = &self.outputs;
        let m0 = &m[m.len() - 1];
        // Earlier predictions: the one made k steps before t − 1, at sigma t − 1 − k.
        let mut rks = Vec::with_capacity(order);
        let mut d1s: Vec<Vec<f32>> = Vec::with_capacity(order);
        for k in 1..order {
            let rk = (lambda(self.sigmas[t - 1 - k]) - lambda_s0) / h;
            rks.push(rk);
            d1s.push(m[m.len() - 1 - k].iter().zip(m0).map(|(mi, m0)| (mi - m0) / rk).collect());
        }
        rks.push(1.0);
        let hh = -h;
        let h_phi_1 = hh.exp_m1();
        let mut h_phi_k = h_phi_1 / hh - 1.0;
        let b_h = match self.config.solver_type {
            SolverType::Bh1 => hh,
            SolverType::Bh2 => hh.exp_m1(),
        };
        let (mut r, mut b) = (Vec::with_capacity(order), Vec::with_capacity(order));
        let mut factorial = 1u64;
        for i in 1..=order {
            r.push(rks.iter().map(|rk| rk.powi(i as i32 - 1)).collect::<Vec<f32>>());
            b.push(h_phi_k * factorial as f32 / b_h);
            factorial *= i as u64 + 1;
            h_phi_k = h_phi_k / hh - (1.0 / factorial as f64) as f32;
        }
        let ratio = sigma_t / sigma_s0;
        let a_phi = alpha_t * h_phi_1;
        let a_b = alpha_t * b_h;
        let base = |k: usize| ratio * x[k] - a_phi * m0[k];
        let weigh = |rhos: &[f32], k: usize| match rhos.len() {
            0 => 0.0,
            1 => rhos[0] * d1s[0][k],
            _ => rhos.iter().zip(&d1s).map(|(r, d)| r * d[k]).sum(),
        };
        match model_t {
            None => {
                let rhos = match order {
                    1 => vec![],
                    2 => vec![0.5],
                    _ => solve(
                        &r[..order - 1].iter().map(|row| row[..order - 1].to_vec()).collect::<Vec<_>>(),
                        &b[..order - 1],
                    ),
                };
                (0..x.len()).map(|k| if rhos.is_empty() { base(k) } else { base(k) - a_b * weigh(&rhos, k) }).collect()
            }
            Some(model_t) => {
                let rhos = if order == 1 { vec![0.5] } else { solve(&r, &b) };
                let (last, rest) = rhos.split_last().expect("order >= 1");
                (0..x.len()).map(|k| base(k) - a_b * (weigh(rest, k) + last * (model_t[k] - m0[k]))).collect()
            }
        }
    }
}

/// `torch.linalg.solve` for the 2×2 and 3×3 systems UniPC builds: LU with partial pivoting, in f32.
fn solve(a: &[Vec<f32>], b: &[f32]) -> Vec<f32> {
    let n = b.len();
    let mut a: Vec<Vec<f32>> = a.to_vec();
    let mut x = b.to_vec();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).unwrap_or(col);
        a.swap(col, pivot);
        x.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            let (above, below) = a.split_at_mut(row);
            below[0][col..].iter_mut().zip(&above[col][col..]).for_each(|(d, p)| *d -= f * p);
            x[row] -= f * x[col];
        }
    }
    for col in (0..n).rev() {
        let s: f32 = (col + 1..n).map(|k| a[col][k] * x[k]).sum();
        x[col] = (x[col] - s) / a[col][col];
    }
    x
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Written by `plugin/tests/fixtures/schedulers/make_unipc.py` from diffusers' own scheduler.
    const REFERENCE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schedulers/unipc.json"));

    fn f32s(v: &Value) -> Vec<f32> {
        v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
    }

    /// The fixture's stand-in velocity: `0.7 x − 0.3 tanh(x) + (t / 1000) c`, as torch computes it.
    fn model(x: &[f32], t: i64, c: &[f32]) -> Vec<f32> {
        let s = (t as f64 / 1000.0) as f32;
        x.iter().zip(c).map(|(&x, &c)| (0.7 * x - 0.3 * x.tanh()) + s * c).collect()
    }

    #[test]
    fn schedules_and_whole_loops_match_diffusers() {
        let reference: Value = serde_json::from_str(REFERENCE).expect("unipc.json parses");
        let cases = reference["cases"].as_array().expect("cases");
        assert!(cases.len() >= 15, "every variant is covered");
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let config: UniPcConfig = serde_json::from_value(case["config"].clone()).expect(name);
            let steps = case["steps"].as_u64().unwrap() as usize;
            let mut s = config.build(steps, case["mu"].as_f64()).expect(name);
            let want_sigmas = f32s(&case["sigmas"]);
            for (k, (g, w)) in s.sigmas().iter().zip(&want_sigmas).enumerate() {
                assert!((g - w).abs() <= 1e-7, "{name}: sigma {k}: {g} against diffusers' {w}");
            }
            assert_eq!(s.sigmas().len(), want_sigmas.len(), "{name}");
            let want_t: Vec<i64> = case["timesteps"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()).collect();
            assert_eq!(s.timesteps(), &want_t[..], "{name}: timesteps");
            let (mut x, c) = (f32s(&case["sample"]), f32s(&case["c"]));
            for (i, after) in case["after"].as_array().unwrap().iter().enumerate() {
                let v = model(&x, s.timesteps()[i], &c);
                s.step(&v, &mut x).expect(name);
                for (k, (g, w)) in x.iter().zip(f32s(after)).enumerate() {
                    let tol = 1e-6 * w.abs().max(1.0);
                    assert!((g - w).abs() <= tol, "{name}: step {i}, value {k}: {g} against diffusers' {w}");
                }
            }
            assert!(s.step(&x.clone(), &mut x).is_err(), "{name}: no step past the end");
        }
    }

    #[test]
    fn configs_diffusers_cannot_run_or_we_do_not_are_refused() {
        let with = |edit: fn(&mut UniPcConfig)| {
            let mut c = UniPcConfig::default();
            edit(&mut c);
            c.build(10, None).unwrap_err().to_string()
        };
        assert!(with(|c| c.prediction_type = "epsilon".into()).contains("flow prediction"));
        assert!(with(|c| c.solver_order = 4).contains("solver_order 4"));
        assert!(with(|c| c.solver_type = SolverType::Bh1).contains("NaN"));
        assert!(with(|c| c.lower_order_final = false).contains("NaN"));
        assert!(with(|c| c.use_dynamic_shifting = true).contains("mu"));
        assert!(with(|c| c.flow_shift = f64::NAN).contains("flow_shift"));
        assert!(with(|c| c.shift_terminal = Some(1.0)).contains("sigmas"));
        assert!(UniPcConfig::default().build(0, None).is_err());
        // A mismatched buffer is an error, not a panic.
        let mut s = UniPcConfig::default().build(4, None).unwrap();
        assert!(s.step(&[0.0; 3], &mut [0.0; 4]).is_err());
    }

    #[test]
    fn wan_scheduler_config_json_deserializes() {
        let json = r#"{"_class_name": "UniPCMultistepScheduler", "beta_end": 0.02, "beta_schedule": "linear",
            "beta_start": 0.0001, "disable_corrector": [], "dynamic_thresholding_ratio": 0.995,
            "final_sigmas_type": "zero", "flow_shift": 3.0, "lower_order_final": true, "num_train_timesteps": 1000,
            "predict_x0": true, "prediction_type": "flow_prediction", "rescale_betas_zero_snr": false,
            "sample_max_value": 1.0, "solver_order": 2, "solver_p": null, "solver_type": "bh2", "steps_offset": 0,
            "thresholding": false, "timestep_spacing": "linspace", "trained_betas": null, "use_beta_sigmas": false,
            "use_exponential_sigmas": false, "use_flow_sigmas": true, "use_karras_sigmas": false}"#;
        let c: UniPcConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c, UniPcConfig::default());
    }
}
