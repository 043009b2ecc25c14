//! Provenance watermark: every generated frame leaves the engine carrying an invisible mark
//! (`kinema-watermark`) saying Kinema made it, with which model, seed and shot, so the frame can
//! be recognised after export, compression and resizing (`kinema detect FILES…`).
//!
//! The mark goes on the frame at the size the host asked for, after fitting and source matching,
//! so nothing after it resamples it away. Studios that must not alter pixels turn it off with
//! `KINEMA_WATERMARK=off`; Status always says which it is.

use kinema_watermark::{embed, Payload, DEFAULT_PSNR_DB, MIN_SIDE};

use super::EngineError;
use crate::frame_io::Frame;
use crate::settings::env_switch;

/// The facility switch: on unless set to off (`0`, `off`, `false`, `no`).
pub const ENV_WATERMARK: &str = "KINEMA_WATERMARK";

/// What was done to a frame, for the Status line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Marking {
    /// Marked; the PSNR of the marked frame against the unmarked one, in dB.
    On { psnr_db: f32 },
    /// The facility turned the mark off.
    Off,
    /// The frame is too small to carry it (nothing fake is claimed: it is said).
    TooSmall,
}

impl Marking {
    /// The Status words for it.
    pub fn status(&self) -> String {
        match self {
            Marking::On { .. } => "watermark on".into(),
            Marking::Off => format!("watermark off ({ENV_WATERMARK}=off)"),
            Marking::TooSmall => format!("not watermarked: frames under {MIN_SIDE} px a side cannot carry the mark"),
        }
    }
}

/// Whether the facility wants generated frames marked.
pub fn enabled() -> bool {
    env_switch(ENV_WATERMARK, true)
}

/// Marks `frame` (planar 0..1, as the engine holds it) with `payload`, unless the switch is off.
pub fn mark(frame: &mut Frame, payload: &Payload) -> Result<Marking, EngineError> {
    if !enabled() {
        return Ok(Marking::Off);
    }
    mark_frame(frame, payload)
}

fn mark_frame(frame: &mut Frame, payload: &Payload) -> Result<Marking, EngineError> {
    if frame.width.min(frame.height) < MIN_SIDE {
        return Ok(Marking::TooSmall);
    }
    let (channels, width, height) = (frame.channels, frame.width, frame.height);
    match embed(&mut frame.data, channels, width, height, payload, DEFAULT_PSNR_DB) {
        Ok(psnr_db) => Ok(Marking::On { psnr_db }),
        Err(kinema_watermark::Error::TooSmall { .. }) => Ok(Marking::TooSmall),
        Err(e) => Err(EngineError::Input(format!("the provenance watermark could not be embedded: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinema_watermark::detect;

    /// A textured test frame (a flat one is a poor stand-in for picture content).
    fn frame(width: usize, height: usize) -> Frame {
        let data = (0..3 * width * height).map(|i| ((i * 37 + i / 7) % 251) as f32 / 250.0).collect();
        Frame::from_vec(3, height, width, data).unwrap()
    }

    #[test]
    fn a_marked_frame_reads_back_its_payload_and_small_frames_say_so() {
        let payload = Payload { model: 0xDEAD_BEEF, seed: 42, shot: 0x0123_4567 };
        let mut f = frame(160, 96);
        let before = f.clone();
        let marking = mark_frame(&mut f, &payload).unwrap();
        let Marking::On { psnr_db } = marking else { panic!("{marking:?}") };
        assert!(psnr_db >= DEFAULT_PSNR_DB - 0.01, "{psnr_db}");
        assert_ne!(f.data, before.data);
        assert_eq!(detect(&f.data, 3, 160, 96).unwrap().map(|d| d.payload), Some(payload));
        assert_eq!(marking.status(), "watermark on");

        let mut small = frame(MIN_SIDE - 1, 96);
        let untouched = small.clone();
        assert_eq!(mark_frame(&mut small, &payload).unwrap(), Marking::TooSmall);
        assert_eq!(small.data, untouched.data, "a frame too small to mark is left as it was");
        assert!(Marking::TooSmall.status().contains("not watermarked"));
        assert!(Marking::Off.status().contains("watermark off"));
    }
}
