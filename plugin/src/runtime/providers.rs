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

    /// What a session on this provider registers, in priority order; empty for CPU (always there,
    /// implicit in ONNX Runtime). A TensorRT session also registers CUDA: TensorRT does not take
    /// ONNX Runtime's contrib ops (the fused `MultiHeadAttention` and `SimplifiedLayerNormalization`
    /// of our exports), and without CUDA beside it those nodes would fall back to the CPU, with a
    /// copy to and from the GPU around each.
    pub(crate) fn registrations(self) -> Vec<ExecutionProviderDispatch> {
        match self {
            Provider::TensorRt => {
                [Provider::TensorRt, Provider::Cuda].into_iter().filter_map(Provider::dispatch).collect()
            }
            other => other.dispatch().into_iter().collect(),
        }
    }

    /// This provider alone, configured; `None` for CPU.
    fn dispatch(self) -> Option<ExecutionProviderDispatch> {
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

    #[test]
    fn tensorrt_sessions_keep_cuda_beside_them_for_the_contrib_ops() {
        assert_eq!(Provider::TensorRt.registrations().len(), 2);
        assert_eq!(Provider::Cuda.registrations().len(), 1);
        assert!(Provider::Cpu.registrations().is_empty());
    }
}
