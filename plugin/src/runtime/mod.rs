//! ONNX Runtime inside a host process: where the library is, the one Environment, execution
//! providers with fallback, and a process-wide session cache.
//!
//! Knows nothing of OFX. Nothing here runs during Load or Describe: the library is opened on
//! the first session request, so a missing or broken runtime only fails the render that needs it.

mod environment;
mod identity;
mod library;
pub mod memory;
mod providers;
mod report;
mod sessions;

pub use environment::{environment, telemetry_opted_in, TELEMETRY_OPT_IN_ENV};
pub use identity::{FileStamp, FilesIdentity, ModelCache};
pub use library::{ort_library_path, plugin_dir, ORT_LIBRARY_FILE};
pub use providers::{cache_dir, Provider, ProviderPreference};
pub use report::runtime_report;
pub use sessions::{
    cached_session_count, purge_sessions, release_session, session, session_with_data, sessions_created, SharedSession,
};

/// Why the runtime could not serve a request; the text is meant for the Status parameter.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("ONNX Runtime library not found: {0}")]
    LibraryMissing(String),
    #[error("ONNX Runtime could not be loaded from {path}: {reason}")]
    LibraryLoad { path: String, reason: String },
    #[error("ONNX Runtime environment: {0}")]
    Environment(String),
    #[error("model file {path} could not be opened by ONNX Runtime: {reason}")]
    Session { path: String, reason: String },
    #[error("running {model}: {reason}")]
    Run { model: String, reason: String },
}
