//! Engines: the model work behind effect frames, on frame tensors. No OFX here; ONNX only
//! through [`crate::runtime`].

pub mod flip_ensemble;
pub mod flow;
pub mod generation;
pub mod interpolation;
pub mod motion;
pub mod review;
pub mod watermark;

use crate::models::ModelError;
use crate::runtime::RuntimeError;

/// Why an engine could not make a frame; the text goes to the Status parameter as it is.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{0}")]
    Runtime(#[from] RuntimeError),
    #[error("Model '{model}': {reason}")]
    Manifest { model: String, reason: String },
    #[error("Model '{model}': {reason}")]
    Mismatch { model: String, reason: String },
    #[error("{0}")]
    Input(String),
    /// A buffer sized by the request or the model could not be allocated.
    #[error(transparent)]
    Memory(#[from] crate::frame_io::OutOfMemory),
    #[error(transparent)]
    Refused(#[from] crate::policy::PromptRefused),
    /// Frame review flagged a generated frame: the shot is withheld.
    #[error("{0}")]
    Flagged(review::Flagged),
    /// The host asked to stop (abort) between denoising steps.
    #[error("stopped by the host before the clip was finished")]
    Aborted,
    /// This shot's generation failed earlier (its error's text), remembered by the clip cache
    /// until the settings change or the host purges caches.
    #[error("{0}")]
    Remembered(String),
}
