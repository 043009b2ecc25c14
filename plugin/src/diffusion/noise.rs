//! Where the pipeline's random numbers come from: a seeded generator (same seed, same clip) or a
//! recording of another implementation's draws (parity with diffusers, which draws from torch).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::engine::EngineError;

/// Standard-normal draws, in the order the pipeline asks for them.
pub trait Noise: Send {
    fn draw(&mut self, shape: &[usize]) -> Result<Vec<f32>, EngineError>;
}

/// ChaCha8 seeded by the user's seed: portable and stable across platforms and releases.
pub struct SeededNoise(ChaCha8Rng);

impl SeededNoise {
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// ChaCha's independent stream `stream` of the key `seed` gives (stream 0 is [`Self::new`]):
    /// one seed's streams never overlap, whatever their numbers.
    pub fn with_stream(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self(rng)
    }
}

impl Noise for SeededNoise {
    fn draw(&mut self, shape: &[usize]) -> Result<Vec<f32>, EngineError> {
        let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let mut out = crate::frame_io::try_zeroed(n.unwrap_or(usize::MAX), "the noise")?;
        out.iter_mut().for_each(|v| *v = StandardNormal.sample(&mut self.0));
        Ok(out)
    }
}

/// Draws replayed from a recording; asking for a different shape than was recorded is an error.
pub struct RecordedNoise {
    draws: std::collections::VecDeque<(Vec<usize>, Vec<f32>)>,
}

impl RecordedNoise {
    pub fn new(draws: Vec<(Vec<usize>, Vec<f32>)>) -> Self {
        Self { draws: draws.into() }
    }
}

impl Noise for RecordedNoise {
    fn draw(&mut self, shape: &[usize]) -> Result<Vec<f32>, EngineError> {
        let (recorded, values) = self
            .draws
            .pop_front()
            .ok_or_else(|| EngineError::Input(format!("recorded noise ran out (asked for {shape:?})")))?;
        if recorded != shape {
            return Err(EngineError::Input(format!(
                "recorded draw has shape {recorded:?}, the pipeline asked for {shape:?}"
            )));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_noise() {
        let (a, b) = (SeededNoise::new(7).draw(&[2, 3]).unwrap(), SeededNoise::new(7).draw(&[2, 3]).unwrap());
        assert_eq!(a, b);
        assert_ne!(a, SeededNoise::new(8).draw(&[2, 3]).unwrap());
        let many = SeededNoise::new(1).draw(&[10_000]).unwrap();
        let mean = many.iter().sum::<f32>() / 10_000.0;
        let var = many.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 10_000.0;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    }

    #[test]
    fn recordings_replay_in_order_and_check_shapes() {
        let mut r = RecordedNoise::new(vec![(vec![2], vec![1.0, 2.0]), (vec![1], vec![3.0])]);
        assert_eq!(r.draw(&[2]).unwrap(), [1.0, 2.0]);
        assert!(r.draw(&[2]).is_err());
        assert!(r.draw(&[1]).is_err(), "ran out");
    }
}
