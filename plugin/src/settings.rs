//! Kinema's settings from the environment (`KINEMA_*`). A value that does not parse is not silently
//! replaced: a warning on stderr (the host's log) names the variable, once, and the default applies.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// A whole number from `name`; unset or empty gives `default`, and so does an unparsable value,
/// with a warning.
pub fn env_u64(name: &str, default: u64) -> u64 {
    let value = std::env::var(name).ok();
    match parse_u64(value.as_deref()) {
        Ok(v) => v.unwrap_or(default),
        Err(bad) => {
            warn_once(name, &format!("{name}={bad:?} is not a whole number; using the default {default}"));
            default
        }
    }
}

/// A size in MiB from `name` (as [`env_u64`]), in bytes; absurd values saturate instead of wrapping.
pub fn env_mib(name: &str, default_mib: u64) -> u64 {
    env_u64(name, default_mib).saturating_mul(1 << 20)
}

/// `Ok(None)` for unset or blank, `Err(text)` for text that is not a whole number.
fn parse_u64(value: Option<&str>) -> Result<Option<u64>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| v.to_string()),
    }
}

/// Prints `message` as a Kinema warning on stderr, once per variable per process.
pub fn warn_once(name: &str, message: &str) {
    static WARNED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let first = WARNED.get_or_init(Default::default).lock().map(|mut w| w.insert(name.to_string())).unwrap_or(true);
    if first {
        eprintln!("kinema: warning: {message}");
    }
}

/// An on/off switch from `name`: `1`/`on`/`true`/`yes` or `0`/`off`/`false`/`no` (any case);
/// unset or blank gives `default`, and so does anything else, with a warning.
pub fn env_switch(name: &str, default: bool) -> bool {
    let value = std::env::var(name).ok();
    match parse_switch(value.as_deref()) {
        Ok(v) => v.unwrap_or(default),
        Err(bad) => {
            let word = if default { "on" } else { "off" };
            warn_once(name, &format!("{name}={bad:?} is not on or off; leaving it {word}"));
            default
        }
    }
}

fn parse_switch(value: Option<&str>) -> Result<Option<bool>, String> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => Ok(None),
        Some("1" | "on" | "true" | "yes") => Ok(Some(true)),
        Some("0" | "off" | "false" | "no") => Ok(Some(false)),
        Some(v) => Err(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_parse_and_anything_else_is_named() {
        assert_eq!(parse_u64(None), Ok(None));
        assert_eq!(parse_u64(Some("  ")), Ok(None));
        assert_eq!(parse_u64(Some(" 512 ")), Ok(Some(512)));
        assert_eq!(parse_u64(Some("2GB")), Err("2GB".to_string()));
        assert_eq!(parse_u64(Some("-1")), Err("-1".to_string()));
        // Unparsable: the default, not a panic or zero.
        std::env::set_var("KINEMA_SETTINGS_TEST_MB", "lots");
        assert_eq!(env_u64("KINEMA_SETTINGS_TEST_MB", 7), 7);
        std::env::set_var("KINEMA_SETTINGS_TEST_MB", "9");
        assert_eq!(env_u64("KINEMA_SETTINGS_TEST_MB", 7), 9);
        assert_eq!(env_mib("KINEMA_SETTINGS_TEST_MB", 7), 9 << 20);
        std::env::set_var("KINEMA_SETTINGS_TEST_MB", u64::MAX.to_string());
        assert_eq!(env_mib("KINEMA_SETTINGS_TEST_MB", 7), u64::MAX, "saturates, never wraps to a small bound");
        std::env::remove_var("KINEMA_SETTINGS_TEST_MB");
    }

    #[test]
    fn switches_read_on_and_off_and_anything_else_is_named() {
        assert_eq!(parse_switch(None), Ok(None));
        assert_eq!(parse_switch(Some(" ")), Ok(None));
        for on in ["1", "on", "TRUE", " yes "] {
            assert_eq!(parse_switch(Some(on)), Ok(Some(true)), "{on}");
        }
        for off in ["0", "Off", "false", "no"] {
            assert_eq!(parse_switch(Some(off)), Ok(Some(false)), "{off}");
        }
        assert_eq!(parse_switch(Some("disable")), Err("disable".to_string()));
    }
}
