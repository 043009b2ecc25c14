//! Joining windows into the shot (spec §5): each later window loses its first frame, is
//! normalised towards the first window's per-channel statistics (AdaIN), and is cross-faded
//! over the overlap into what came before.
//!
//! The shot is kept frame-major, `[f, C, h·w]`, so windows append and the tail is a slice.

use crate::engine::EngineError;
use crate::frame_io::{try_zeroed, OutOfMemory};

/// The shot assembled so far.
pub(super) struct Shot {
    /// `[frames, C, h·w]`.
    data: Vec<f32>,
    channels: usize,
    plane: usize,
    /// The first window's per-channel mean and unbiased standard deviation (the AdaIN
    /// reference is always window 0, so 2·C numbers are all that is kept of it).
    reference: Vec<(f32, f32)>,
}

impl Shot {
    /// An empty shot that will hold `frames` latent frames of `channels × plane`.
    pub(super) fn new(channels: usize, plane: usize, frames: usize) -> Result<Shot, EngineError> {
        let mut data = Vec::new();
        let n = frames.saturating_mul(channels).saturating_mul(plane);
        data.try_reserve_exact(n)
            .map_err(|_| OutOfMemory { what: "the long shot's latents".into(), bytes: n.checked_mul(4) })?;
        Ok(Shot { data, channels, plane, reference: Vec::new() })
    }

    fn frame_len(&self) -> usize {
        self.channels * self.plane
    }

    /// Latent frames so far.
    pub(super) fn frames(&self) -> usize {
        self.data.len() / self.frame_len()
    }

    /// The first window made, as it is: the AdaIN reference for every later one.
    fn start_with(&mut self, window: &[f32]) {
        self.reference = (0..self.channels).map(|ch| channel_stats(window, self.channels, self.plane, ch)).collect();
        self.data.extend_from_slice(window);
    }

    /// Adds a window's own frames (frame-major): the first window as it is; a later one without
    /// its first frame, normalised by `adain` and cross-faded over `overlap − 1` frames. Returns
    /// the first value of the shot this changed (what a window store needs to keep of it).
    pub(super) fn add_window(
        &mut self,
        mut window: Vec<f32>,
        overlap: usize,
        adain: f32,
    ) -> Result<usize, EngineError> {
        let len = self.frame_len();
        if self.data.is_empty() {
            self.start_with(&window);
            return Ok(0);
        }
        window.drain(..len.min(window.len()));
        if adain > 0.0 {
            adain_towards(&mut window, self.channels, self.plane, &self.reference, adain);
        }
        let n = window.len() / len;
        let o = overlap.saturating_sub(1).max(1);
        if o > 1 {
            // diffusers blends the last `o` of the shot's last n frames with the window's first o.
            let o = o.min(n).min(self.frames());
            let alpha = linspace_f32(1.0, 0.0, o + 2);
            let at = self.data.len() - o * len;
            for j in 0..o {
                let a = alpha[1 + j];
                let prev = &mut self.data[at + j * len..at + (j + 1) * len];
                for (p, &new) in prev.iter_mut().zip(&window[j * len..(j + 1) * len]) {
                    *p = a * *p + (1.0 - a) * new;
                }
            }
            self.data.extend_from_slice(&window[o * len..]);
            Ok(at)
        } else {
            let at = self.data.len();
            self.data.extend_from_slice(&window);
            Ok(at)
        }
    }

    /// Adds a window made backward before the shot (frame-major): the first as it is; a later
    /// one normalised by `adain`, its first `keep` frames put before the shot, whose first
    /// frame (a window's causal first) it replaces, and the rest cross-faded into the shot's
    /// next frames: [`Shot::add_window`] mirrored.
    pub(super) fn prepend_window(&mut self, mut window: Vec<f32>, keep: usize, adain: f32) -> Result<(), EngineError> {
        let len = self.frame_len();
        if self.data.is_empty() {
            self.start_with(&window);
            return Ok(());
        }
        if adain > 0.0 {
            adain_towards(&mut window, self.channels, self.plane, &self.reference, adain);
        }
        let n = window.len() / len;
        let keep = keep.min(n);
        // The frames both cover, past the shot's first; diffusers' rule of blending only from 2.
        let o = (n - keep).min(self.frames().saturating_sub(1));
        let mut head = window;
        head.truncate((keep + o) * len);
        if o > 1 {
            let alpha = linspace_f32(1.0, 0.0, o + 2);
            for j in 0..o {
                let a = alpha[1 + j];
                let next = &self.data[(1 + j) * len..(2 + j) * len];
                for (h, &s) in head[(keep + j) * len..(keep + j + 1) * len].iter_mut().zip(next) {
                    *h = a * *h + (1.0 - a) * s;
                }
            }
        }
        self.data
            .try_reserve(keep * len)
            .map_err(|_| OutOfMemory { what: "the long shot's latents".into(), bytes: None })?;
        self.data.splice(..(1 + o) * len, head);
        Ok(())
    }

    /// What later windows need of the shot so far.
    pub(super) fn parts(&self) -> (&[f32], &[(f32, f32)]) {
        (&self.data, &self.reference)
    }

    /// Goes on from `state`, kept after a window when the shot had `frames` latent frames;
    /// false (and nothing changed) when it does not fit this shot.
    pub(super) fn restore(&mut self, state: super::ShotState, frames: usize) -> bool {
        let fits = state.reference.len() == self.channels
            && Some(state.latents.len()) == frames.checked_mul(self.frame_len())
            && state.latents.len() <= self.data.capacity();
        if fits {
            self.data.clear();
            self.data.extend_from_slice(&state.latents);
            self.reference = state.reference;
        }
        fits
    }

    /// The last `n` frames, packed as tokens `[n·h·w, C]` (the next window's tail).
    pub(super) fn tail_tokens(&self, n: usize) -> Result<Vec<f32>, OutOfMemory> {
        let n = n.min(self.frames());
        self.tokens(self.frames() - n..self.frames(), "the window's tail")
    }

    /// The shot's first `frames`, packed as tokens `[n·h·w, C]` (what a loop's last window
    /// leads into; what a window made backward leads into).
    pub(super) fn head_tokens(&self, frames: std::ops::Range<usize>) -> Result<Vec<f32>, OutOfMemory> {
        let end = frames.end.min(self.frames());
        self.tokens(frames.start.min(end)..end, "the shot's first frames")
    }

    fn tokens(&self, frames: std::ops::Range<usize>, what: &str) -> Result<Vec<f32>, OutOfMemory> {
        let (c, plane, len) = (self.channels, self.plane, self.frame_len());
        let part = &self.data[frames.start * len..frames.end * len];
        let mut out = try_zeroed(part.len(), what)?;
        for fi in 0..frames.len() {
            for ch in 0..c {
                for s in 0..plane {
                    out[(fi * plane + s) * c + ch] = part[(fi * c + ch) * plane + s];
                }
            }
        }
        Ok(out)
    }

    /// The whole shot channel-major, `[C, f, h·w]` (the VAE's layout).
    pub(super) fn into_channel_major(self) -> Result<Vec<f32>, OutOfMemory> {
        let (c, plane, f) = (self.channels, self.plane, self.frames());
        let mut out = try_zeroed(self.data.len(), "the long shot's latents")?;
        for fi in 0..f {
            for ch in 0..c {
                let src = &self.data[(fi * c + ch) * plane..(fi * c + ch + 1) * plane];
                out[(ch * f + fi) * plane..(ch * f + fi + 1) * plane].copy_from_slice(src);
            }
        }
        Ok(out)
    }
}

/// The first `frames` token frames of packed latents `[S, C]`, frame-major `[frames, C, plane]`.
pub(super) fn frames_of_tokens(
    tokens: &[f32],
    channels: usize,
    plane: usize,
    frames: usize,
) -> Result<Vec<f32>, OutOfMemory> {
    let mut out = try_zeroed(frames * channels * plane, "the window's frames")?;
    for fi in 0..frames {
        for s in 0..plane {
            for ch in 0..channels {
                out[(fi * channels + ch) * plane + s] = tokens[(fi * plane + s) * channels + ch];
            }
        }
    }
    Ok(out)
}

/// Mean and unbiased standard deviation of channel `ch` over all frames of a frame-major
/// buffer, accumulated in f64 and rounded to f32 (as numpy with `dtype=float64`).
fn channel_stats(data: &[f32], channels: usize, plane: usize, ch: usize) -> (f32, f32) {
    let values = || data.chunks_exact(channels * plane).flat_map(|frame| &frame[ch * plane..(ch + 1) * plane]);
    let n = data.len() / channels;
    let mean = values().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let var = values().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
    (mean as f32, var.sqrt() as f32)
}

/// diffusers' `adain_normalize_latents`: each channel's mean and std move `factor` of the way
/// to the reference's, `(x − μ)/(σ + 1e-6)·σ_b + μ_b`, in f32.
fn adain_towards(data: &mut [f32], channels: usize, plane: usize, reference: &[(f32, f32)], factor: f32) {
    let eps = 1e-6f32;
    let (f, g) = (factor, (1.0 - f64::from(factor)) as f32);
    for (ch, &(mu_r, sd_r)) in reference.iter().enumerate() {
        let (mu_c, sd_c) = channel_stats(data, channels, plane, ch);
        let mu_b = g * mu_c + f * mu_r;
        let sd_b = (g * sd_c + f * sd_r).max(eps);
        for frame in data.chunks_exact_mut(channels * plane) {
            for v in &mut frame[ch * plane..(ch + 1) * plane] {
                *v = ((*v - mu_c) / (sd_c + eps)) * sd_b + mu_b;
            }
        }
    }
}

/// `torch.linspace(start, end, n)` in f32, bit for bit: an f32 step, each value evaluated in
/// f64 from the nearer end and rounded.
pub(super) fn linspace_f32(start: f32, end: f32, n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![start];
    }
    let step = f64::from((end - start) / (n - 1) as f32);
    (0..n)
        .map(|i| match i < n / 2 {
            true => f64::from(start) + i as f64 * step,
            false => f64::from(end) - (n - 1 - i) as f64 * step,
        } as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_is_torchs() {
        // 1 − 1/3 in f64 lies halfway between two f32s and rounds to even, below 2/3's f32.
        assert_eq!(linspace_f32(1.0, 0.0, 4), [1.0, f32::from_bits(0x3F2A_AAAA), 1.0 / 3.0, 0.0]);
        assert_eq!(f32::from_bits(0x3F2A_AAAA).to_bits() + 1, (2.0f32 / 3.0).to_bits());
        assert_eq!(linspace_f32(0.0, 1.0, 8)[7], 1.0);
        assert_eq!(linspace_f32(0.0, 1.0, 8)[0], 0.0);
        assert_eq!(linspace_f32(1.0, 0.0, 1), [1.0]);
    }

    /// A frame-major shot of `frames` frames, 1 channel, 1 value a frame: frame i is `v(i)`.
    fn shot_of(values: &[f32]) -> Shot {
        let mut shot = Shot::new(1, 1, 16).unwrap();
        shot.add_window(values.to_vec(), 3, 0.0).unwrap();
        shot
    }

    #[test]
    fn an_overlap_of_three_keeps_the_seam_frame_and_fades_the_next_two() {
        // Window 0 covers [0, 5); window 1 [2, 7) with overlap 3: its first frame is dropped,
        // frames 3, 4 are blended with weights 2/3, 1/3 of the previous, 5, 6 are new.
        let mut shot = shot_of(&[0.0, 1.0, 2.0, 3.0, 4.0]);
        shot.add_window(vec![10.0, 30.0, 40.0, 50.0, 60.0], 3, 0.0).unwrap();
        let a = linspace_f32(1.0, 0.0, 4);
        let want = [0.0, 1.0, 2.0, a[1] * 3.0 + (1.0 - a[1]) * 30.0, a[2] * 4.0 + (1.0 - a[2]) * 40.0, 50.0, 60.0];
        assert_eq!(shot.data, want);
    }

    #[test]
    fn a_window_made_backward_is_the_forward_seam_mirrored() {
        // The shot so far is window 1's [2, 7); window 0 covers [0, 5), overlap 3: its frames 0,
        // 1, 2 go before (frame 2 replaces the shot's causal first), 3 and 4 are blended with
        // weights 2/3, 1/3 of window 0.
        let mut shot = shot_of(&[10.0, 30.0, 40.0, 50.0, 60.0]);
        shot.prepend_window(vec![0.0, 1.0, 2.0, 3.0, 4.0], 3, 0.0).unwrap();
        let a = linspace_f32(1.0, 0.0, 4);
        let want = [0.0, 1.0, 2.0, a[1] * 3.0 + (1.0 - a[1]) * 30.0, a[2] * 4.0 + (1.0 - a[2]) * 40.0, 50.0, 60.0];
        assert_eq!(shot.data, want);
        assert_eq!(shot.head_tokens(1..3).unwrap(), want[1..3]);
        // Overlap 1: the window's last frame replaces the shot's first, nothing is blended.
        let mut shot = shot_of(&[20.0, 30.0, 40.0]);
        shot.prepend_window(vec![0.0, 1.0, 2.0], 3, 0.0).unwrap();
        assert_eq!(shot.data, [0.0, 1.0, 2.0, 30.0, 40.0]);
    }

    #[test]
    fn an_overlap_of_one_appends_without_blending() {
        let mut shot = shot_of(&[0.0, 1.0, 2.0]);
        shot.add_window(vec![20.0, 30.0, 40.0], 1, 0.0).unwrap();
        assert_eq!(shot.data, [0.0, 1.0, 2.0, 30.0, 40.0]);
        assert_eq!(shot.tail_tokens(1).unwrap(), [40.0]);
    }

    #[test]
    fn adain_moves_each_channel_towards_the_first_windows_statistics() {
        // 2 channels, plane 2; window 0's channel 0 has mean 0, std 1 (unbiased).
        let first: Vec<f32> = vec![-1.0, 1.0, 5.0, 5.0, 1.0, -1.0, 5.0, 5.0];
        let mut shot = Shot::new(2, 2, 8).unwrap();
        shot.add_window(first, 3, 0.0).unwrap();
        let (mu, sd) = shot.reference[0];
        assert!((mu - 0.0).abs() < 1e-7 && (sd - (4.0f32 / 3.0).sqrt()).abs() < 1e-6, "{mu} {sd}");
        // A later window with channel 0 around 10: full AdaIN takes the reference's statistics.
        let mut later = vec![9.0, 11.0, 0.0, 0.0, 11.0, 9.0, 0.0, 0.0, 9.0, 11.0, 0.0, 0.0];
        adain_towards(&mut later, 2, 2, &shot.reference, 1.0);
        let (mu, sd) = channel_stats(&later, 2, 2, 0);
        assert!(mu.abs() < 1e-5 && (sd - shot.reference[0].1).abs() < 1e-5, "{mu} {sd}");
    }

    #[test]
    fn tokens_and_frames_convert_both_ways() {
        // 2 frames, 2 channels, plane 3: token (fi, s) channel ch = 100·fi + 10·s + ch.
        let tokens: Vec<f32> = (0..2)
            .flat_map(|fi| (0..3).flat_map(move |s| (0..2).map(move |ch| (100 * fi + 10 * s + ch) as f32)))
            .collect();
        let frames = frames_of_tokens(&tokens, 2, 3, 2).unwrap();
        assert_eq!(&frames[..6], &[0.0, 10.0, 20.0, 1.0, 11.0, 21.0]);
        let mut shot = Shot::new(2, 3, 2).unwrap();
        shot.add_window(frames, 3, 0.0).unwrap();
        assert_eq!(shot.tail_tokens(2).unwrap(), tokens);
        assert_eq!(
            shot.into_channel_major().unwrap(),
            [0.0, 10.0, 20.0, 100.0, 110.0, 120.0, 1.0, 11.0, 21.0, 101.0, 111.0, 121.0]
        );
    }
}
