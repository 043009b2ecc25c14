//! Latent video diffusion (no OFX here): model manifests, schedulers, noise, and the LTX-Video
//! pipelines on ONNX graphs.

pub mod limits;
pub mod long;
pub mod manifest;
pub mod model;
pub mod noise;
pub mod pipeline;
pub mod scheduler;

pub use long::{
    window_plan, DecodeTiling, LongNoise, LongRequest, LongSchedule, LongScheduler, NoiseStream, SeededStreams,
    WindowSettings,
};
pub use manifest::{Manifest, Windows};
pub use model::{open_models, purge_models, VideoModel};
pub use noise::{Noise, RecordedNoise, SeededNoise};
pub use pipeline::{Condition, Control, Mode, Output, Request, VideoToVideo};
