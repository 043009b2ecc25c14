//! The planar `f32` frame tensor the conversions produce and consume.

use super::{FrameIoError, Result};

/// A planar frame tensor of shape `(1, C, H, W)`, rows top-down.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

/// A large frame's memory goes back to [`super::pool`] for the next frame of its size.
impl Drop for Frame {
    fn drop(&mut self) {
        super::pool::global().give(std::mem::take(&mut self.data));
    }
}

impl Frame {
    /// A zeroed frame.
    ///
    /// # Panics
    /// If `channels * height * width` overflows `usize` (as `vec!` would).
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        let n = channels.checked_mul(height).and_then(|n| n.checked_mul(width)).expect("frame size overflows usize");
        Frame { channels, height, width, data: vec![0.0; n] }
    }

    /// Wraps existing planar data, checking its length against the shape.
    pub fn from_vec(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Result<Self> {
        let frame = Frame { channels, height, width, data };
        frame.check_len()?;
        Ok(frame)
    }

    pub fn shape(&self) -> [usize; 4] {
        [1, self.channels, self.height, self.width]
    }

    pub fn plane_len(&self) -> usize {
        self.height * self.width
    }

    /// Channel `c` as a top-down `height * width` slice.
    ///
    /// # Panics
    /// If `c >= channels` or `data` is shorter than the shape says.
    pub fn plane(&self, c: usize) -> &[f32] {
        assert!(c < self.channels, "channel {c} of a {}-channel frame", self.channels);
        let n = self.plane_len();
        &self.data[c * n..(c + 1) * n]
    }

    /// # Panics
    /// As [`Frame::plane`].
    pub fn plane_mut(&mut self, c: usize) -> &mut [f32] {
        assert!(c < self.channels, "channel {c} of a {}-channel frame", self.channels);
        let n = self.plane_len();
        &mut self.data[c * n..(c + 1) * n]
    }

    /// Value of channel `c` at column `x`, row `y` (top-down), `None` out of range.
    pub fn get(&self, c: usize, y: usize, x: usize) -> Option<f32> {
        if c >= self.channels || y >= self.height || x >= self.width {
            return None;
        }
        self.data.get((c * self.height + y) * self.width + x).copied()
    }

    /// The `width`×`height` part of the frame whose top-left pixel is (`x`, `y`) (top-down rows),
    /// `None` when it does not fit inside the frame.
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Option<Frame> {
        if x.checked_add(width)? > self.width || y.checked_add(height)? > self.height {
            return None;
        }
        let mut out = Frame::new(self.channels, height, width);
        for c in 0..self.channels {
            let (src, dst) = (self.plane(c), out.plane_mut(c));
            for row in 0..height {
                let from = (y + row) * self.width + x;
                dst[row * width..(row + 1) * width].copy_from_slice(&src[from..from + width]);
            }
        }
        Some(out)
    }

    /// Ok when `data.len()` matches the shape (the fields are public, so it can drift).
    pub fn check_len(&self) -> Result<()> {
        let expected = self.channels.checked_mul(self.height).and_then(|n| n.checked_mul(self.width));
        if expected != Some(self.data.len()) {
            return Err(FrameIoError::FrameDataLength {
                channels: self.channels,
                height: self.height,
                width: self.width,
                expected: expected.unwrap_or(usize::MAX),
                actual: self.data.len(),
            });
        }
        Ok(())
    }

    /// Splits `data` into four plane slices (the fourth is empty for 3 channels).
    pub(super) fn planes_mut(&mut self) -> [&mut [f32]; 4] {
        let n = self.plane_len();
        let (r, rest) = self.data.split_at_mut(n);
        let (g, rest) = rest.split_at_mut(n);
        let (b, a) = rest.split_at_mut(n);
        [r, g, b, a]
    }

    pub(super) fn planes(&self) -> [&[f32]; 4] {
        let n = self.plane_len();
        let (r, rest) = self.data.split_at(n);
        let (g, rest) = rest.split_at(n);
        let (b, a) = rest.split_at(n);
        [r, g, b, a]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_takes_the_named_rectangle_top_down() {
        let data: Vec<f32> = (0..2 * 3 * 4).map(|v| v as f32).collect();
        let frame = Frame::from_vec(2, 3, 4, data).unwrap();
        let part = frame.crop(1, 1, 2, 2).unwrap();
        assert_eq!(part.shape(), [1, 2, 2, 2]);
        assert_eq!(part.plane(0), &[5.0, 6.0, 9.0, 10.0]);
        assert_eq!(part.plane(1), &[17.0, 18.0, 21.0, 22.0]);
        assert!(frame.crop(3, 0, 2, 1).is_none());
        assert_eq!(frame.crop(0, 0, 4, 3).unwrap(), frame);
    }
}
