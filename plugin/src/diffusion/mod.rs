//! Latent video diffusion (no OFX here): model manifests, schedulers, noise, and the video
//! pipelines (LTX-Video and Wan, by manifest) on ONNX graphs.

pub mod gap;
pub mod limits;
pub mod long;
pub mod manifest;
pub mod model;
pub mod noise;
pub mod pipeline;
pub mod scheduler;
pub mod tokenize;

pub use gap::{GapSettings, GapSpec};
pub use long::{
    made_order, shot_window_plan, window_plan, windows_made, DecodeTiling, EndKeyframe, LongNoise, LongRequest,
    LongSchedule, LongScheduler, NoStore, NoiseStream, SeededStreams, ShotState, WindowSettings, WindowStore,
};
pub use manifest::{Manifest, Windows};
pub use model::{open_models, purge_models, VideoModel};
pub use noise::{Noise, RecordedNoise, SeededNoise};
pub use pipeline::{last_generation, Condition, Control, Mode, Output, Request, Timing, VaeTiling, VideoToVideo};
