//! The denoising loop: the transformer run on both guidance halves each step, classifier-free
//! guidance, and the scheduler step, with the transformer inputs kept as persistent tensors
//! updated in place.

use std::time::Instant;

use super::prepare::{Plan, Prepared};
use super::{Control, Request, Timing};
use crate::diffusion::manifest::Pipeline;
use crate::diffusion::model::VideoModel;
use crate::diffusion::noise::Noise;
use crate::diffusion::scheduler::SchedulerError;
use crate::engine::EngineError;
use crate::frame_io::try_zeroed;

impl VideoModel {
    /// Denoises `prepared.x` in place from its first step to the end of the schedule.
    pub(super) fn denoise(
        &self,
        req: &Request,
        plan: &mut Plan,
        prepared: &mut Prepared,
        noise: &mut dyn Noise,
        control: &mut Control,
    ) -> Result<Timing, EngineError> {
        let mut timing = Timing::default();
        let m = &self.manifest;
        let c = m.latent.channels;
        let (pipeline, grid, scheduler, prompts) = (plan.pipeline, plan.grid, &mut plan.scheduler, &plan.text);
        let scheduler_error = |e: SchedulerError| self.scheduler_error(e);
        let s_total = prepared.mask.len();

        let video_only = (prepared.extras == 0).then_some(grid);
        let spec = &m.components.transformer;
        let held = prepared.held.as_ref();
        let mut transformer = self.transformer(&spec.file, prompts, s_total, &prepared.coords, video_only, held)?;
        // Wan 2.2's two experts: the low-noise one takes over below the boundary timestep.
        let mut low_noise = match &spec.low_noise {
            Some(expert) => {
                let boundary = expert.boundary_ratio * 1000.0;
                let low = self.transformer(&expert.file, prompts, s_total, &prepared.coords, video_only, held)?;
                Some((boundary, low, m.guidance.cfg.low_noise(req.guidance)))
            }
            None => None,
        };
        let buffers = "the denoising buffers";
        let init = prepared.x.clone();
        let mut velocity = try_zeroed(s_total * c, buffers)?;
        let mut stepped = try_zeroed(s_total * c, buffers)?;
        let mut tau = try_zeroed(s_total, buffers)?;
        let n = scheduler.len();
        for i in prepared.first_step..n {
            if (control.abort)() {
                return Err(EngineError::Aborted);
            }
            let step_started = Instant::now();
            let t = scheduler.timestep(i);
            let x = &mut prepared.x;
            match pipeline {
                Pipeline::T2v => tau.fill(t),
                Pipeline::I2v => tau.iter_mut().zip(&prepared.mask).for_each(|(tau, m)| *tau = t * (1.0 - m)),
                Pipeline::Condition => {
                    let t1 = t / 1000.0;
                    if req.image_cond_noise_scale > 0.0 {
                        let eps = noise.draw(&[1, s_total, c])?;
                        for (tok, &m) in prepared.mask.iter().enumerate() {
                            if m > 1.0 - 1e-6 {
                                for ch in tok * c..(tok + 1) * c {
                                    x[ch] = init[ch] + req.image_cond_noise_scale * eps[ch] * (t1 * t1);
                                }
                            }
                        }
                    }
                    tau.iter_mut().zip(&prepared.mask).for_each(|(tau, m)| *tau = t.min((1.0 - m) * 1000.0));
                }
            }
            let (model, guidance) = match &mut low_noise {
                Some((boundary, low, guidance)) if t < *boundary => (low, *guidance),
                _ => (&mut transformer, req.guidance),
            };
            timing.run_seconds += model.velocity(x, &tau, guidance, &mut velocity)?;
            match pipeline {
                Pipeline::T2v => scheduler.step(i, &velocity, x).map_err(scheduler_error)?,
                Pipeline::I2v => {
                    let first = prepared.frozen * c;
                    scheduler.step(i, &velocity[first..], &mut x[first..]).map_err(scheduler_error)?;
                }
                Pipeline::Condition => {
                    let Some(scheduler) = scheduler.euler() else {
                        return Err(self.mismatch("per-token steps need a flow-match scheduler".into()));
                    };
                    velocity.iter_mut().for_each(|v| *v = -*v);
                    stepped.copy_from_slice(x);
                    scheduler.step_per_token(&tau, c, &velocity, &mut stepped).map_err(scheduler_error)?;
                    let t1 = t / 1000.0;
                    for (tok, &m) in prepared.mask.iter().enumerate() {
                        if t1 - 1e-6 < 1.0 - m {
                            x[tok * c..(tok + 1) * c].copy_from_slice(&stepped[tok * c..(tok + 1) * c]);
                        }
                    }
                }
            }
            timing.step_seconds += step_started.elapsed().as_secs_f64();
            timing.steps += 1;
            (control.progress)(i + 1 - prepared.first_step, n - prepared.first_step);
        }
        Ok(timing)
    }
}
