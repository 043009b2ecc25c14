//! Where a long shot's random numbers come from: one stream per window and one for the decode,
//! so a window's noise depends only on the seed and where the window starts (a shot re-made
//! with another prompt for a later segment draws the same noise for the windows before it).

use crate::diffusion::noise::{Noise, RecordedNoise, SeededNoise};

/// Which stream a draw comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseStream {
    /// Window `index`, whose first latent frame is `start`: its initial noise, then its
    /// scheduler's ancestral noise, in step order.
    Window { index: usize, start: usize },
    /// The decode noise of a timestep-conditioned VAE, drawn once over the whole latent.
    Decode,
}

/// The noise streams of one long shot. The pipeline asks for a window's stream once, at the
/// window's start, and draws everything of that window from it; then the decode stream.
pub trait LongNoise: Send {
    fn stream(&mut self, which: NoiseStream) -> &mut dyn Noise;
}

/// One recording serves every stream, drawn in the order the pipeline asks (diffusers' draws as
/// `long_cases.json` lists them).
impl LongNoise for RecordedNoise {
    fn stream(&mut self, _which: NoiseStream) -> &mut dyn Noise {
        self
    }
}

/// ChaCha8 streams of the user's seed: window streams are numbered by their first latent frame
/// and the decode stream has its own number, so no two streams of a seed overlap (diffusers
/// seeds windows with `seed + start`, so seed 0's window at frame 2 repeats seed 2's first
/// window, and its decode noise repeats window 0's; neither happens here).
pub struct SeededStreams {
    seed: u64,
    current: Option<(NoiseStream, SeededNoise)>,
}

/// The decode stream's number: far above any window start.
const DECODE_STREAM: u64 = u64::MAX;

impl SeededStreams {
    pub fn new(seed: u64) -> Self {
        Self { seed, current: None }
    }
}

impl LongNoise for SeededStreams {
    /// The stream in use continues; any other starts from its beginning.
    fn stream(&mut self, which: NoiseStream) -> &mut dyn Noise {
        let number = match which {
            NoiseStream::Window { start, .. } => start as u64,
            NoiseStream::Decode => DECODE_STREAM,
        };
        if self.current.as_ref().is_some_and(|(current, _)| *current != which) {
            self.current = None;
        }
        let seed = self.seed;
        &mut self.current.get_or_insert_with(|| (which, SeededNoise::with_stream(seed, number))).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(streams: &mut SeededStreams, which: NoiseStream) -> Vec<f32> {
        streams.stream(which).draw(&[64]).unwrap()
    }

    #[test]
    fn a_windows_noise_depends_only_on_the_seed_and_its_start() {
        let w = |index, start| NoiseStream::Window { index, start };
        let mut a = SeededStreams::new(9);
        let first = draw(&mut a, w(0, 0));
        let later = draw(&mut a, w(3, 21));
        // Another shot of the same seed that reaches frame 21 by other windows.
        let mut b = SeededStreams::new(9);
        assert_eq!(draw(&mut b, w(1, 21)), later);
        assert_eq!(draw(&mut b, w(0, 0)), first);
        assert_ne!(draw(&mut SeededStreams::new(10), w(0, 0)), first, "another seed");
        assert_ne!(draw(&mut SeededStreams::new(9), w(1, 1)), first, "another start");
    }

    #[test]
    fn a_stream_continues_while_in_use_and_the_decode_stream_is_its_own() {
        let mut s = SeededStreams::new(4);
        let w0 = NoiseStream::Window { index: 0, start: 0 };
        let (a, b) = (draw(&mut s, w0), draw(&mut s, w0));
        assert_ne!(a, b, "the second draw continues the stream");
        let decode = draw(&mut s, NoiseStream::Decode);
        assert_ne!(decode[..8], a[..8], "unlike diffusers, the decode noise is not window 0's");
        // Diffusers' seed + start collision: seed 0 at frame 2 is not seed 2 at frame 0.
        let mut x = SeededStreams::new(0);
        let mut y = SeededStreams::new(2);
        assert_ne!(
            draw(&mut x, NoiseStream::Window { index: 1, start: 2 }),
            draw(&mut y, NoiseStream::Window { index: 0, start: 0 })
        );
    }

    #[test]
    fn a_recording_serves_every_stream_in_order() {
        let mut r = RecordedNoise::new(vec![(vec![1], vec![1.0]), (vec![1], vec![2.0])]);
        assert_eq!(r.stream(NoiseStream::Window { index: 0, start: 0 }).draw(&[1]).unwrap(), [1.0]);
        assert_eq!(r.stream(NoiseStream::Decode).draw(&[1]).unwrap(), [2.0]);
    }
}
