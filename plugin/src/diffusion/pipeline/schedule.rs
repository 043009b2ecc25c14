//! The schedule one generation steps through, as the manifest's scheduler builds it for the
//! pipeline: flow-match Euler (LTX; every pipeline, per-token steps included) or UniPC (Wan;
//! whole-latent steps in order).

use crate::diffusion::manifest::{Pipeline, TimestepSource};
use crate::diffusion::model::VideoModel;
use crate::diffusion::scheduler::{
    linear_quadratic_timesteps, linspace_sigmas, FlowMatchEuler, Schedule, Scheduler, SchedulerConfig, SchedulerError,
};
use crate::engine::EngineError;

/// The scheduler's built schedule ([`Scheduler`], which keeps UniPC's steps in order).
pub(in crate::diffusion) struct Steps(Scheduler);

impl Steps {
    /// `steps` steps for `pipeline` over `s_video` latent tokens (the flow-match shift's `mu`).
    pub(super) fn build(
        model: &VideoModel,
        pipeline: Pipeline,
        steps: usize,
        s_video: usize,
    ) -> Result<Steps, EngineError> {
        let error = |e: SchedulerError| model.scheduler_error(e);
        match (&model.manifest.scheduler, pipeline) {
            (SchedulerConfig::FlowMatchEuler(config), Pipeline::Condition) => {
                let timesteps = linear_quadratic_timesteps(steps, 0.025, None).map_err(error)?;
                Ok(Steps(Scheduler::FlowMatchEuler(config.build(Schedule::Timesteps(timesteps), None).map_err(error)?)))
            }
            (SchedulerConfig::FlowMatchEuler(config), _) => {
                let mu = config.mu_for_seq_len(s_video).ok();
                let schedule = match model.manifest.timesteps {
                    TimestepSource::LinspaceSigmas => Schedule::Sigmas(linspace_sigmas(steps)),
                    TimestepSource::Scheduler => Schedule::Steps(steps),
                };
                Ok(Steps(Scheduler::FlowMatchEuler(config.build(schedule, mu).map_err(error)?)))
            }
            // Wan's pipelines call `set_timesteps(steps)` with no shift of their own.
            // UniPC steps whole latents: text to video, and channel-concat I2V (the manifest
            // allows no other I2V method with it).
            (SchedulerConfig::Unipc(config), Pipeline::T2v | Pipeline::I2v) => {
                Ok(Steps(Scheduler::UniPc(config.build(steps, None).map_err(error)?)))
            }
            _ => Err(model.mismatch(format!("its scheduler does not run the {pipeline:?} pipeline"))),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// The timestep the model is given at step `i` (UniPC's are whole numbers, as diffusers casts
    /// them to int64).
    pub(super) fn timestep(&self, i: usize) -> f32 {
        self.0.model_timestep(i).map_or(f32::NAN, |t| t as f32)
    }

    /// Step `i` of the whole latent in place.
    pub(super) fn step(&mut self, i: usize, velocity: &[f32], x: &mut [f32]) -> Result<(), SchedulerError> {
        self.0.step(i, velocity, x)
    }

    /// The flow-match schedule, for the steps only it takes (per token, partial latents).
    pub(super) fn euler(&self) -> Option<&FlowMatchEuler> {
        match &self.0 {
            Scheduler::FlowMatchEuler(s) => Some(s),
            _ => None,
        }
    }
}
