//! One window `[start, end)`: its tokens assembled (its own frames, an extension's context held
//! in place where it covers it, then the overlapped frames already made, then, in a loop's last
//! window, the shot's first frames, then condition tokens at a frame (the end keyframe, or a
//! backward extension's prefix), then the first image's frame),
//! their coordinates, and the denoising loop with the long
//! pipeline's conditioning rule (spec §4).

use std::time::Instant;

use super::plan::LongPlan;
use super::LongRequest;
use crate::diffusion::model::VideoModel;
use crate::diffusion::noise::Noise;
use crate::diffusion::pipeline::{pack, Control, Text, Timing};
use crate::engine::EngineError;
use crate::frame_io::try_zeroed;

/// What a window is made from.
pub(super) struct WindowInput<'a> {
    pub(super) start: usize,
    pub(super) end: usize,
    /// The first image's latent frame, packed `[h·w, C]`.
    pub(super) cond: Option<&'a [f32]>,
    /// Frames of the shot made so far that this window overlaps, packed `[n·h·w, C]`, and the
    /// own frame they sit at: the shot's last frames at 0, or (made backward) the next
    /// window's frames towards the window's end.
    pub(super) tail: Option<(&'a [f32], usize)>,
    /// A loop's last window: the shot's first frames, packed `[n·h·w, C]`, placed after the
    /// window's end so it leads back into them.
    pub(super) ahead: Option<&'a [f32]>,
    /// Condition tokens at a frame (the end keyframe, or a backward context's prefix): latent
    /// frames packed `[n·h·w, C]`, the pixel frame they start at in the window's time, their
    /// freedom.
    pub(super) keyframe: Option<(&'a [f32], usize, f32)>,
    /// An extension's context latents, packed `[n·h·w, C]`, and the shot's latent frame they
    /// start at: held exactly where the window covers them.
    pub(super) context: Option<(&'a [f32], usize)>,
    pub(super) text: &'a Text,
}

/// Steps done across windows, for `Control::progress`.
pub(super) struct Progress {
    pub(super) done: usize,
    pub(super) total: usize,
}

/// A window's tokens before denoising.
pub(super) struct Tokens {
    /// The values kept where the window is not free (`Vp`), `[S, C]`: zeros for generated
    /// frames, the first image, the tail.
    pub(super) values: Vec<f32>,
    /// Per token: 1 = generated, 0 = kept, between = soft (the spec's `m`).
    pub(super) freedom: Vec<f32>,
    /// `[3, S]`, window-relative.
    pub(super) coords: Vec<f32>,
    /// Token frames: the window's own, then the appended ones.
    pub(super) frames: usize,
}

impl VideoModel {
    /// Lays out a window's tokens (spec §4.1, §4.4).
    pub(super) fn window_tokens(
        &self,
        req: &LongRequest,
        plan: &LongPlan,
        input: &WindowInput,
    ) -> Result<Tokens, EngineError> {
        let lat = &self.manifest.latent;
        let (c, t, r) = (lat.channels, lat.temporal_ratio, lat.spatial_ratio);
        let (_, h, w) = plan.grid;
        let hw = h * w;
        let own = input.end - input.start;
        let (tail, tail_at) = input.tail.map_or((0, 0), |(tail, at)| (tail.len() / (hw * c), at));
        let ahead = input.ahead.map_or(0, |ahead| ahead.len() / (hw * c));
        let (end_image, end_at) = input.keyframe.map_or((0, 0), |(values, at, _)| (values.len() / (hw * c), at));
        let frames = own + tail + ahead + end_image + usize::from(input.cond.is_some());
        let s = frames * hw;
        let mut values = try_zeroed(s * c, "the window's latents")?;
        let mut freedom = vec![1f32; own];
        if let Some((context, first)) = input.context {
            let n = context.len() / (hw * c);
            for fi in 0..own {
                let Some(j) = (input.start + fi).checked_sub(first).filter(|&j| j < n) else { continue };
                values[fi * hw * c..(fi + 1) * hw * c].copy_from_slice(&context[j * hw * c..(j + 1) * hw * c]);
                freedom[fi] = 0.0;
            }
        }
        if let Some((tail_values, _)) = input.tail {
            values[own * hw * c..(own + tail) * hw * c].copy_from_slice(tail_values);
            freedom.extend(std::iter::repeat_n(1.0 - req.windows.overlap_strength, tail));
        }
        if let Some(ahead_values) = input.ahead {
            let at = (own + tail) * hw * c;
            values[at..at + ahead * hw * c].copy_from_slice(ahead_values);
            freedom.extend(std::iter::repeat_n(1.0 - req.loop_strength.unwrap_or(0.0), ahead));
        }
        if let Some((end_values, _, free)) = input.keyframe {
            let at = (own + tail + ahead) * hw * c;
            values[at..at + end_values.len()].copy_from_slice(end_values);
            freedom.extend(std::iter::repeat_n(free, end_image));
        }
        if let Some(cond) = input.cond {
            // The shot's latents are zeros but for frame 0, the image, which only the first
            // window covers; every window gets the image again as a hard last frame.
            if input.start == 0 {
                values[..hw * c].copy_from_slice(cond);
                freedom[0] = 1.0 - req.image_strength;
            }
            values[(frames - 1) * hw * c..].copy_from_slice(cond);
            freedom.push(0.0);
        }
        let freedom = freedom.iter().flat_map(|&m| std::iter::repeat_n(m, hw)).collect();

        // Causal pixel times for every frame, then the appended frames at the window's head
        // (the tail), just after its end (a loop's first frames) and at −T (the image); × 1/fps
        // in f32.
        let causal = |fi: usize| (fi * t + 1).saturating_sub(t) as f32;
        let frame_time = (0..frames).map(|fi| match fi {
            _ if fi < own => causal(fi),
            _ if fi < own + tail => causal(fi - own + tail_at),
            // The next cycle's first frames: its frame 0 comes right after the shot's last
            // frame, and each of its latent frames keeps its own span from there.
            _ if fi < own + tail + ahead => causal(own) + causal(fi - own - tail),
            // From their frame on, as LTXConditionPipeline places a condition at its frame index.
            _ if fi < own + tail + ahead + end_image => end_at as f32 + causal(fi - own - tail - ahead),
            _ => -(t as f32),
        });
        let inv_fps = (1.0 / req.fps) as f32;
        let mut coords = try_zeroed(3 * s, "the window's coordinates")?;
        for (fi, time) in frame_time.enumerate() {
            for hi in 0..h {
                for wi in 0..w {
                    let tok = (fi * h + hi) * w + wi;
                    coords[tok] = time * inv_fps;
                    coords[s + tok] = (hi * r) as f32;
                    coords[2 * s + tok] = (wi * r) as f32;
                }
            }
        }
        Ok(Tokens { values, freedom, coords, frames })
    }

    /// Denoises one window from its own noise stream: the final packed latents `[S, C]` of all
    /// its token frames (spec §4.2–4.5).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_window(
        &self,
        req: &LongRequest,
        plan: &LongPlan,
        input: &WindowInput,
        noise: &mut dyn Noise,
        control: &mut Control,
        progress: &mut Progress,
        timing: &mut Timing,
    ) -> Result<Vec<f32>, EngineError> {
        let c = self.manifest.latent.channels;
        let (_, h, w) = plan.grid;
        let tokens = self.window_tokens(req, plan, input)?;
        let Tokens { values, freedom, coords, frames } = &tokens;
        let s = freedom.len();
        let eps = pack(&noise.draw(&[1, c, *frames, h, w])?, c, (*frames, h, w))?;
        let mut x = try_zeroed(s * c, "the window's latents")?;
        let blend = |x: &mut [f32], from: &[f32]| {
            for (tok, &m) in freedom.iter().enumerate() {
                for ch in tok * c..(tok + 1) * c {
                    x[ch] = from[ch] * m + (1.0 - m) * values[ch];
                }
            }
        };
        blend(&mut x, &eps);
        drop(eps);
        let file = &self.manifest.components.transformer.file;
        let mut transformer = self.transformer(file, input.text, s, coords, None, None)?;
        let mut velocity = try_zeroed(s * c, "the denoising buffers")?;
        let mut stepped = try_zeroed(s * c, "the denoising buffers")?;
        let mut tau = try_zeroed(s, "the denoising buffers")?;
        for &i in plan.steps.run() {
            if (control.abort)() {
                return Err(EngineError::Aborted);
            }
            let step_started = Instant::now();
            let t = plan.steps.timestep(i);
            tau.iter_mut().zip(freedom).for_each(|(tau, &m)| *tau = t * m);
            // The model sees the latents before the pre-blend (diffusers' order).
            timing.run_seconds += transformer.velocity(&x, &tau, req.guidance, &mut velocity)?;
            blend(&mut stepped, &x);
            plan.steps.step(self, i, &velocity, &mut stepped, noise)?;
            blend(&mut x, &stepped);
            timing.step_seconds += step_started.elapsed().as_secs_f64();
            timing.steps += 1;
            progress.done += 1;
            (control.progress)(progress.done, progress.total);
        }
        Ok(x)
    }
}
