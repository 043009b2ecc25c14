//! Latent video diffusion (no OFX here): model manifests, schedulers, noise, and the LTX-Video
//! pipelines on ONNX graphs.

pub mod manifest;
pub mod noise;
pub mod pipeline;
pub mod scheduler;

pub use manifest::Manifest;
pub use noise::{Noise, RecordedNoise, SeededNoise};
pub use pipeline::{Condition, Control, Mode, Output, Request, VideoModel, VideoToVideo};
