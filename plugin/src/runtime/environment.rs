//! The process's one ONNX Runtime Environment.
//!
//! ONNX Runtime allows a single Environment per process, ever (a second `build()` fails even
//! after the first was dropped), so it lives in a static and survives OFX Unload/Load cycles.
//!
//! The official POSIX builds of ONNX Runtime carry 1DS telemetry: on every run they write a device
//! id and queued process events under `~/.cache/Microsoft/DeveloperTools/.onnxruntime`, addressed to
//! a Microsoft collector. `with_telemetry(false)` comes too late for that (the environment exists by
//! then); `ORT_DISABLE_TELEMETRY=1` in the process environment before the library initialises is the
//! full opt-out, so Kinema sets it unless the user opts in with [`TELEMETRY_OPT_IN_ENV`]` = 1`.

use std::sync::OnceLock;

use parking_lot::Mutex;

use super::{ort_library_path, RuntimeError};

static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();
/// Serialises first-time initialisation; a failed attempt leaves ENVIRONMENT empty so the
/// user can fix the install and retry without restarting the host.
static INIT: Mutex<()> = Mutex::new(());

/// Set to `1` to let ONNX Runtime's own telemetry run (it is off otherwise).
pub const TELEMETRY_OPT_IN_ENV: &str = "KINEMA_ORT_TELEMETRY";
/// ONNX Runtime's switch, read once when the library initialises.
const ORT_TELEMETRY_OFF_ENV: &str = "ORT_DISABLE_TELEMETRY";

/// Whether the user asked for ONNX Runtime's telemetry (`KINEMA_ORT_TELEMETRY=1`).
pub fn telemetry_opted_in() -> bool {
    std::env::var(TELEMETRY_OPT_IN_ENV).is_ok_and(|v| v.trim() == "1")
}

/// Turns ONNX Runtime's telemetry off for this process unless the user opted in. Must run before
/// the library is loaded; the host may have other threads, but this runs once, under `INIT`, on
/// the first model request (never during Load or Describe), and only writes one variable, and
/// only where it is not set already: writing the environment races with any other thread that
/// reads it (the host's, or a process it starts: a test host's spawn failed with EFAULT once), so a
/// facility that sets `ORT_DISABLE_TELEMETRY=1` in the host's environment avoids the write.
fn disable_ort_telemetry() {
    if must_switch_off(telemetry_opted_in(), std::env::var(ORT_TELEMETRY_OFF_ENV).ok().as_deref()) {
        std::env::set_var(ORT_TELEMETRY_OFF_ENV, "1");
    }
}

/// Whether ONNX Runtime's switch must be written: telemetry not opted in and the switch not on.
fn must_switch_off(opted_in: bool, switch: Option<&str>) -> bool {
    !opted_in && switch != Some("1")
}

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
    disable_ort_telemetry();
    let builder = ort::init_from(&path)
        .map_err(|e| RuntimeError::LibraryLoad { path: path.display().to_string(), reason: error_chain(&e) })?;
    let env = builder
        .with_name("kinema")
        // Belt and braces: also switch off the events of an environment that exists.
        .with_telemetry(telemetry_opted_in())
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

#[cfg(test)]
mod tests {
    use super::must_switch_off;

    #[test]
    fn the_environment_is_written_only_when_the_switch_is_not_on_already() {
        assert!(must_switch_off(false, None));
        assert!(must_switch_off(false, Some("0")));
        assert!(!must_switch_off(false, Some("1")), "already off: no write racing other threads");
        assert!(!must_switch_off(true, None), "the user opted in");
    }
}
