//! The process's one ONNX Runtime Environment.
//!
//! ONNX Runtime allows a single Environment per process, ever (a second `build()` fails even
//! after the first was dropped), so it lives in a static and survives OFX Unload/Load cycles.

use std::sync::OnceLock;

use parking_lot::Mutex;

use super::{ort_library_path, RuntimeError};

static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();
/// Serialises first-time initialisation; a failed attempt leaves ENVIRONMENT empty so the
/// user can fix the install and retry without restarting the host.
static INIT: Mutex<()> = Mutex::new(());

/// The Environment, loading the runtime library on first use.
pub fn environment() -> Result<&'static ort::environment::Environment, RuntimeError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let _guard = INIT.lock();
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let path = ort_library_path()?;
    let builder = ort::init_from(&path)
        .map_err(|e| RuntimeError::LibraryLoad { path: path.display().to_string(), reason: error_chain(&e) })?;
    let env = builder
        .with_name("kinema")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::Environment(e.to_string()))?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// `Display` of a load error plus its sources: the dlopen reason hides in `source()`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}
