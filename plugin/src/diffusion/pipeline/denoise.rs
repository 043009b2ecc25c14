//! The denoising loop: the transformer run on both guidance halves each step, classifier-free
//! guidance, and the scheduler step, with the transformer inputs kept as persistent tensors
//! updated in place.

use std::time::Instant;

use ort::value::Tensor;

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
        plan: &Plan,
        prepared: &mut Prepared,
        noise: &mut dyn Noise,
        control: &mut Control,
    ) -> Result<Timing, EngineError> {
        let mut timing = Timing::default();
        let m = &self.manifest;
        let c = m.latent.channels;
        let (pipeline, grid, scheduler, prompts) = (plan.pipeline, plan.grid, &plan.scheduler, &plan.text);
        let scheduler_error = |e: SchedulerError| self.scheduler_error(e);
        let s_total = prepared.mask.len();

        // Persistent transformer inputs.
        let spec = &m.components.transformer;
        let session = self.session(&spec.file)?;
        let names = &spec.inputs;
        let (l, dim) = (prompts.len, prompts.dim);
        let text: Vec<f32> = prompts.neg_emb.iter().chain(&prompts.pos_emb).copied().collect();
        let text_mask: Vec<i64> = prompts.neg_mask.iter().chain(&prompts.pos_mask).copied().collect();
        let coords2: Vec<f32> = prepared.coords.iter().chain(&prepared.coords).copied().collect();
        let to_ort = |e: ort::Error| {
            EngineError::from(crate::runtime::RuntimeError::Run { model: self.name.clone(), reason: e.to_string() })
        };
        let buffers = "the denoising buffers";
        let mut hidden =
            Tensor::from_array(([2usize, s_total, c], try_zeroed(2 * s_total * c, buffers)?)).map_err(to_ort)?;
        let mut timestep =
            Tensor::from_array(([2usize, s_total], try_zeroed(2 * s_total, buffers)?)).map_err(to_ort)?;
        let text = Tensor::from_array(([2usize, l, dim], text)).map_err(to_ort)?;
        let text_mask = Tensor::from_array(([2usize, l], text_mask)).map_err(to_ort)?;
        let coords = Tensor::from_array(([2usize, 3, s_total], coords2)).map_err(to_ort)?;

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
            let t = scheduler.timesteps()[i];
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
            {
                let (_, h) = hidden.extract_tensor_mut();
                h[..s_total * c].copy_from_slice(x);
                h[s_total * c..].copy_from_slice(x);
                let (_, ts) = timestep.extract_tensor_mut();
                ts[..s_total].copy_from_slice(&tau);
                ts[s_total..].copy_from_slice(&tau);
            }
            session.with(|s| {
                let run_started = Instant::now();
                let out = s.run(ort::inputs![
                    names.hidden_states.as_str() => &hidden,
                    names.encoder_hidden_states.as_str() => &text,
                    names.encoder_attention_mask.as_str() => &text_mask,
                    names.timestep.as_str() => &timestep,
                    names.video_coords.as_str() => &coords,
                ])?;
                timing.run_seconds += run_started.elapsed().as_secs_f64();
                let (shape, v) = out[spec.output.as_str()].try_extract_tensor::<f32>()?;
                if shape.iter().product::<i64>() != (2 * s_total * c) as i64 {
                    return Err(ort::Error::new(format!("velocity has shape {shape:?}, expected [2, {s_total}, {c}]")));
                }
                let (vu, vc) = v.split_at(s_total * c);
                for ((out, u), cnd) in velocity.iter_mut().zip(vu).zip(vc) {
                    *out = u + req.guidance * (cnd - u);
                }
                Ok(())
            })?;
            match pipeline {
                Pipeline::T2v => scheduler.step(i, &velocity, x).map_err(scheduler_error)?,
                Pipeline::I2v => {
                    // The given first frame's tokens never move.
                    let first = grid.1 * grid.2 * c;
                    scheduler.step(i, &velocity[first..], &mut x[first..]).map_err(scheduler_error)?;
                }
                Pipeline::Condition => {
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
