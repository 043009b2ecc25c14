//! The schedule every window runs, as the long pipeline drives its scheduler: `set_timesteps`
//! once per window (the same result each time), then a loop over all timesteps but the last,
//! skipping those whose σ is above 1 (`skip_steps_sigma_threshold`).

use super::{LongSchedule, LongScheduler};
use crate::diffusion::limits::MAX_STEPS;
use crate::diffusion::model::VideoModel;
use crate::diffusion::noise::Noise;
use crate::diffusion::scheduler::{EulerAncestralRf, FlowMatchEuler, Schedule, SchedulerConfig, SchedulerError};
use crate::engine::EngineError;

/// diffusers' default `skip_steps_sigma_threshold`: steps at a σ above it are not run.
const SKIP_SIGMA_ABOVE: f32 = 1.0;

/// A built schedule and the step indices a window runs.
pub(super) struct Steps {
    sampler: Sampler,
    run: Vec<usize>,
}

enum Sampler {
    Euler(FlowMatchEuler),
    Ancestral(EulerAncestralRf),
}

impl Steps {
    /// Builds the schedule from the manifest's flow-match config. `window_tokens` (a whole
    /// window's video tokens) gives the resolution shift of a dynamically shifted config, which
    /// diffusers' long pipeline cannot run at all (it passes no `mu`).
    pub(super) fn build(
        model: &VideoModel,
        schedule: &LongSchedule,
        scheduler: &LongScheduler,
        window_tokens: usize,
    ) -> Result<Steps, EngineError> {
        let SchedulerConfig::FlowMatchEuler(config) = &model.manifest.scheduler else {
            return Err(model.mismatch("LTX pipelines need a flow_match_euler scheduler".into()));
        };
        if config.stochastic_sampling {
            return Err(model.mismatch("the long pipeline does not run flow-match stochastic_sampling".into()));
        }
        check_schedule(schedule)?;
        let mu = config.mu_for_seq_len(window_tokens).ok();
        let error = |e| model.scheduler_error(e);
        let (sampler, last) = match (scheduler, schedule) {
            // FlowMatch appends its own 0 after the given terminal 0: every given step runs.
            (LongScheduler::FlowMatch, LongSchedule::Sigmas(s)) => {
                let fm = config.build(Schedule::Sigmas(s[..s.len() - 1].to_vec()), mu).map_err(error)?;
                let n = fm.len();
                (Sampler::Euler(fm), n)
            }
            (LongScheduler::FlowMatch, LongSchedule::Steps(n)) => {
                (Sampler::Euler(config.build(Schedule::Steps(*n), mu).map_err(error)?), n - 1)
            }
            // Sigmas as given (one timestep each), or FlowMatch's n timesteps: the last never runs.
            (&LongScheduler::EulerAncestralRf { eta, s_noise }, schedule) => {
                let schedule = match schedule {
                    LongSchedule::Steps(n) => Schedule::Steps(*n),
                    LongSchedule::Sigmas(s) => Schedule::Sigmas(s.clone()),
                };
                let rf =
                    EulerAncestralRf::from_flow_match(config, schedule, mu, eta, s_noise).map_err(|e| match e {
                        SchedulerError::InvalidConfig(why) => EngineError::Input(format!("the RF scheduler: {why}")),
                        e => model.scheduler_error(e),
                    })?;
                let n = rf.timesteps().len() - 1;
                (Sampler::Ancestral(rf), n)
            }
        };
        let sigmas = match &sampler {
            Sampler::Euler(fm) => fm.sigmas(),
            Sampler::Ancestral(rf) => rf.sigmas(),
        };
        let run: Vec<usize> = (0..last).filter(|&i| sigmas[i] <= SKIP_SIGMA_ABOVE).collect();
        if run.is_empty() {
            return Err(EngineError::Input("no step of this schedule runs: every σ is above 1".into()));
        }
        Ok(Steps { sampler, run })
    }

    /// The step indices every window runs, in order.
    pub(super) fn run(&self) -> &[usize] {
        &self.run
    }

    /// The model timestep of step `i`.
    pub(super) fn timestep(&self, i: usize) -> f32 {
        match &self.sampler {
            Sampler::Euler(fm) => fm.timesteps()[i],
            Sampler::Ancestral(rf) => rf.timesteps()[i],
        }
    }

    /// Step `i` of `sample` by the guided velocity, for every token at the schedule's σ;
    /// ancestral noise comes from the window's stream.
    pub(super) fn step(
        &self,
        model: &VideoModel,
        i: usize,
        velocity: &[f32],
        sample: &mut [f32],
        noise: &mut dyn Noise,
    ) -> Result<(), EngineError> {
        let error = |e| match e {
            // A draw that failed (a recording run out, memory) is not the model's fault.
            SchedulerError::Noise(why) => EngineError::Input(why),
            e => model.scheduler_error(e),
        };
        match &self.sampler {
            Sampler::Euler(fm) => fm.step(i, velocity, sample).map_err(error),
            Sampler::Ancestral(rf) => {
                let c = model.manifest.latent.channels;
                rf.step(i, velocity, sample, &[1, sample.len() / c, c], noise).map_err(error)
            }
        }
    }
}

/// The request's own schedule: 2 steps or more (the last is never run), or σ from high to low
/// ending at 0.
fn check_schedule(schedule: &LongSchedule) -> Result<(), EngineError> {
    let bad = |why: String| Err(EngineError::Input(why));
    match schedule {
        LongSchedule::Steps(n) if !(2..=MAX_STEPS).contains(n) => {
            bad(format!("{n} steps: a long shot needs 2 to {MAX_STEPS} (its windows run all but the last)"))
        }
        LongSchedule::Sigmas(s) if s.len() < 2 || s.len() > MAX_STEPS + 1 => {
            bad(format!("{} sigmas: a schedule has 2 to {} (the terminal 0 included)", s.len(), MAX_STEPS + 1))
        }
        LongSchedule::Sigmas(s) if s.iter().any(|v| !v.is_finite()) || s.windows(2).any(|p| p[1] >= p[0]) => {
            bad(format!("sigmas {s:?} must be finite and strictly decreasing"))
        }
        LongSchedule::Sigmas(s) if s[s.len() - 1] != 0.0 => bad(format!("sigmas {s:?} must end with 0")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_checked_before_anything_runs() {
        assert!(check_schedule(&LongSchedule::Steps(4)).is_ok());
        assert!(check_schedule(&LongSchedule::Sigmas(vec![1.0, 0.5, 0.0])).is_ok());
        for (bad, wanted) in [
            (LongSchedule::Steps(1), "1 steps"),
            (LongSchedule::Steps(MAX_STEPS + 1), "steps"),
            (LongSchedule::Sigmas(vec![0.0]), "1 sigmas"),
            (LongSchedule::Sigmas(vec![1.0, 1.0, 0.0]), "strictly decreasing"),
            (LongSchedule::Sigmas(vec![1.0, f32::NAN, 0.0]), "finite"),
            (LongSchedule::Sigmas(vec![1.0, 0.5]), "end with 0"),
        ] {
            let err = check_schedule(&bad).unwrap_err().to_string();
            assert!(err.contains(wanted), "{bad:?}: {err}");
        }
    }
}
