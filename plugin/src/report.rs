//! `KinemaRuntimeReport`: the bundle's self-check for `kinema doctor` and the end-to-end tests:
//! ONNX Runtime ([`crate::runtime::runtime_report`]) and what every cache above it holds (open
//! models, made in-between frames, generated shots). Exported beside the OFX entry points; like
//! them it returns only data and never unwinds.

use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The runtime report with the caches' state; with a model, the runtime also runs it.
pub fn report(model: Option<&Path>) -> Value {
    let mut report = crate::runtime::runtime_report(model);
    report["open_models"] = json!({
        "video": crate::diffusion::open_models(),
        "interpolation": crate::engine::interpolation::open_models(),
    });
    report["interpolation"] = json!({
        "network_runs": crate::engine::interpolation::network_runs(),
        "cache_bytes": crate::engine::interpolation::cache_bytes(),
        "pair_cache_bytes": crate::engine::interpolation::pair_cache_bytes(),
    });
    report["frame_pool_bytes"] = json!(crate::frame_io::pool::global().bytes());
    report["clip_cache"] = clip_cache_report();
    report["long"] = json!({ "windows_made": crate::diffusion::windows_made() });
    // What made the shot served last: the `kinema` CLI's C2PA claim for the frames it writes.
    report["last_provenance"] = json!(crate::clip_cache::last_provenance());
    report["last_generation"] = match crate::diffusion::last_generation() {
        Some(((f, h, w), t)) => json!({
            "latent_grid": [f, h, w],
            "steps": t.steps,
            "open_seconds": t.open_seconds,
            "text_seconds": t.text_seconds,
            "step_seconds": t.step_seconds,
            "transformer_run_seconds": t.run_seconds,
            "decode_seconds": t.decode_seconds,
            "total_seconds": t.total_seconds,
            "text_encoder_released": t.text_encoder_released,
        }),
        None => Value::Null,
    };
    report
}

fn clip_cache_report() -> Value {
    let s = crate::clip_cache::clip_cache().stats();
    json!({
        "memory_bytes": s.memory_bytes,
        "memory_entries": s.memory_entries,
        "memory_hits": s.memory_hits,
        "disk_hits": s.disk_hits,
        "generations_started": s.generations_started,
        "generations_failed": s.generations_failed,
        "failures_remembered": s.failures_remembered,
        "failures_served": s.failures_served,
        "waits": s.waits,
        "waits_aborted": s.waits_aborted,
        "lock_waits": s.lock_waits,
        "disk_writes": s.disk_writes,
        "disk_corrupt": s.disk_corrupt,
        "disk_errors": s.disk_errors,
        "last_disk_error": s.last_disk_error,
    })
}

/// C entry point: writes the JSON report (NUL-terminated) into `buf` when it fits and returns
/// the full length needed including the NUL, so a caller can retry with a larger buffer.
/// `model_path` may be NULL. Returns 0 if the report itself failed.
///
/// # Safety
/// `model_path` is NULL or a NUL-terminated string; `buf` is NULL or valid for `buf_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn KinemaRuntimeReport(model_path: *const c_char, buf: *mut c_char, buf_len: usize) -> usize {
    let model = (!model_path.is_null()).then(|| {
        // SAFETY: the caller promises a non-null `model_path` is a NUL-terminated string.
        PathBuf::from(String::from_utf8_lossy(unsafe { CStr::from_ptr(model_path) }.to_bytes()).into_owned())
    });
    let Ok(text) = std::panic::catch_unwind(|| report(model.as_deref()).to_string()) else {
        return 0;
    };
    let needed = text.len() + 1;
    if !buf.is_null() && buf_len >= needed {
        // SAFETY: the caller promises `buf` holds `buf_len` bytes, and we write `needed` ≤ `buf_len`.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
            *buf.add(text.len()) = 0;
        }
    }
    needed
}
