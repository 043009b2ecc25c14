//! Output frames from what the engines make: the engines make colour only (three planes); the
//! output has the host's channels, and its alpha comes from the effect (opaque for generated
//! shots, the source neighbours' alpha for in-betweens).

use crate::frame_io::{Frame, FrameIoError};

/// Where the alpha plane of a four-channel output comes from.
#[derive(Clone, Copy, Debug)]
pub enum Alpha<'a> {
    /// Fully opaque (1.0).
    Opaque,
    /// This plane as it is.
    Copy(&'a [f32]),
    /// `a + (b - a)·t`, per pixel.
    Mix(&'a [f32], &'a [f32], f32),
}

/// A frame of `channels` (3 or 4) with the first three planes of `rgb` and, as the fourth,
/// `alpha`; `None` of memory is an error, never an abort.
pub fn assemble(rgb: &Frame, channels: usize, alpha: Alpha) -> Result<Frame, FrameIoError> {
    let mut out = Frame::try_new(channels, rgb.height, rgb.width)?;
    for c in 0..3.min(channels).min(rgb.channels) {
        out.plane_mut(c).copy_from_slice(rgb.plane(c));
    }
    if channels == 4 {
        let plane = out.plane_mut(3);
        match alpha {
            Alpha::Opaque => plane.fill(1.0),
            Alpha::Copy(src) => plane.copy_from_slice(src),
            Alpha::Mix(a, b, t) => {
                for ((out, x), y) in plane.iter_mut().zip(a).zip(b) {
                    *out = x + (y - x) * t;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb() -> Frame {
        Frame::from_vec(3, 1, 2, vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).unwrap()
    }

    #[test]
    fn colour_is_copied_and_alpha_comes_from_where_it_is_asked() {
        let three = assemble(&rgb(), 3, Alpha::Opaque).unwrap();
        assert_eq!(three, rgb());
        let opaque = assemble(&rgb(), 4, Alpha::Opaque).unwrap();
        assert_eq!(&opaque.data[..6], &rgb().data[..]);
        assert_eq!(opaque.plane(3), [1.0, 1.0]);
        assert_eq!(assemble(&rgb(), 4, Alpha::Copy(&[0.25, 0.75])).unwrap().plane(3), [0.25, 0.75]);
        let mixed = assemble(&rgb(), 4, Alpha::Mix(&[0.0, 1.0], &[1.0, 0.0], 0.25)).unwrap();
        assert_eq!(mixed.plane(3), [0.25, 0.75]);
    }

    #[test]
    fn a_frame_too_large_to_allocate_is_an_error() {
        let huge = Frame { channels: 3, height: 1 << 31, width: 1 << 31, data: Vec::new() };
        assert!(assemble(&huge, 4, Alpha::Opaque).is_err());
    }
}
