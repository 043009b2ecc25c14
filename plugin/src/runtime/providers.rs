//! Execution providers, tried in order TensorRT → CUDA → CPU.
//!
//! Each GPU provider is registered with `error_on_failure`, so a CPU-only runtime or a machine
//! without CUDA gives a reason we can report instead of silently running on CPU.

use std::path::PathBuf;

use ort::ep::{self, ExecutionProviderDispatch};

/// An execution provider Kinema knows how to configure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    TensorRt,
    Cuda,
    Cpu,
}

impl Provider {
    /// ONNX Runtime's own name, as users see it in logs and docs.
    pub fn name(self) -> &'static str {
        match self {
            Provider::TensorRt => "TensorRT",
            Provider::Cuda => "CUDA",
            Provider::Cpu => "CPU",
        }
    }

    /// The configured provider, `None` for CPU (always there, implicit in ONNX Runtime).
    pub(crate) fn dispatch(self) -> Option<ExecutionProviderDispatch> {
        match self {
            Provider::TensorRt => {
                let cache = cache_dir().join("tensorrt");
                let cache = cache.to_string_lossy().into_owned();
                Some(
                    ep::TensorRT::default()
                        .with_device_id(0)
                        .with_engine_cache(true)
                        .with_engine_cache_path(&cache)
                        .with_timing_cache(true)
                        .with_timing_cache_path(&cache)
                        .build()
                        .error_on_failure(),
                )
            }
            Provider::Cuda => Some(
                ep::CUDA::default()
                    .with_device_id(0)
                    .with_conv_algorithm_search(ep::cuda::ConvAlgorithmSearch::Heuristic)
                    .with_arena_extend_strategy(ep::ArenaExtendStrategy::SameAsRequested)
                    .build()
                    .error_on_failure(),
            ),
            Provider::Cpu => None,
        }
    }
}

/// Which providers a session may use, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ProviderPreference {
    /// TensorRT, then CUDA, then CPU.
    #[default]
    Auto,
    /// CUDA, then CPU (skips TensorRT's long first-use engine build).
    Cuda,
    /// CPU only.
    Cpu,
}

impl ProviderPreference {
    pub fn chain(self) -> &'static [Provider] {
        match self {
            ProviderPreference::Auto => &[Provider::TensorRt, Provider::Cuda, Provider::Cpu],
            ProviderPreference::Cuda => &[Provider::Cuda, Provider::Cpu],
            ProviderPreference::Cpu => &[Provider::Cpu],
        }
    }

    /// `KINEMA_EP` = `auto` | `cuda` | `cpu` (unset: auto; anything else: auto, with a warning), for
    /// users who want to pin one.
    pub fn from_env() -> Self {
        let value = std::env::var("KINEMA_EP").unwrap_or_default();
        match value.trim().to_ascii_lowercase().as_str() {
            "cpu" => ProviderPreference::Cpu,
            "cuda" => ProviderPreference::Cuda,
            "" | "auto" => ProviderPreference::Auto,
            _ => {
                let why = format!("KINEMA_EP={value:?} is not auto, cuda or cpu; using auto");
                crate::settings::warn_once("KINEMA_EP", &why);
                ProviderPreference::Auto
            }
        }
    }
}

/// Kinema's cache folder (TensorRT engines and timing caches; generated clips later):
/// `KINEMA_CACHE_DIR`, else `$XDG_CACHE_HOME/kinema`, else `~/.cache/kinema`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KINEMA_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("kinema");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("kinema"),
        None => std::env::temp_dir().join("kinema-cache"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_end_on_cpu_and_keep_priority() {
        for pref in [ProviderPreference::Auto, ProviderPreference::Cuda, ProviderPreference::Cpu] {
            assert_eq!(pref.chain().last(), Some(&Provider::Cpu));
        }
        assert_eq!(ProviderPreference::Auto.chain()[0], Provider::TensorRt);
        assert_eq!(ProviderPreference::Cuda.chain()[0], Provider::Cuda);
    }
}
