//! OFX status codes as Rust errors, and the guard that keeps panics and errors from crossing the
//! C boundary as anything but a real `kOfxStat*` code.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ofx_abi::*;

/// A raw status returned by the host; `#[must_use]` so a failed host call is never ignored by
/// accident (write `let _ =` where ignoring is deliberate).
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub OfxStatus);

impl Status {
    /// `Ok` for `kOfxStatOK`, otherwise an [`OfxError`] naming what was called.
    pub fn ok(self, what: impl FnOnce() -> String) -> Result<(), OfxError> {
        if self.0 == kOfxStatOK {
            Ok(())
        } else {
            Err(OfxError::new(self.0, format!("{} returned {}", what(), status_name(self.0))))
        }
    }
}

/// An error with the status code the host should see and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfxError {
    pub status: OfxStatus,
    pub message: String,
}

pub type OfxResult<T> = Result<T, OfxError>;

impl OfxError {
    pub fn new(status: OfxStatus, message: impl Into<String>) -> Self {
        // kOfxStatOK is not an error; an error carrying it would report success to the host.
        let status = if status == kOfxStatOK { kOfxStatFailed } else { status };
        Self { status, message: message.into() }
    }

    /// A render (or other action) that could not be done.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(kOfxStatFailed, message)
    }

    /// A host suite or function the plugin needs is absent or NULL.
    pub fn missing(what: impl fmt::Display) -> Self {
        Self::new(kOfxStatErrMissingHostFeature, format!("the host does not provide {what}"))
    }

    pub fn bad_handle(what: impl fmt::Display) -> Self {
        Self::new(kOfxStatErrBadHandle, format!("{what} is a NULL handle"))
    }

    pub fn value(message: impl Into<String>) -> Self {
        Self::new(kOfxStatErrValue, message)
    }
}

impl fmt::Display for OfxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, status_name(self.status))
    }
}

impl std::error::Error for OfxError {}

/// What an action handler reports when it succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The action was handled (`kOfxStatOK`).
    Handled,
    /// The host should do its default (`kOfxStatReplyDefault`).
    Default,
    /// A yes/no answer (`kOfxStatReplyYes` / `kOfxStatReplyNo`).
    Yes,
    No,
}

impl Reply {
    pub fn status(self) -> OfxStatus {
        match self {
            Reply::Handled => kOfxStatOK,
            Reply::Default => kOfxStatReplyDefault,
            Reply::Yes => kOfxStatReplyYes,
            Reply::No => kOfxStatReplyNo,
        }
    }
}

/// The status a panic is reported as. kOfxStatFailed is the one failure every action may return
/// (Render may not return kOfxStatErrUnknown), and unlike ErrFatal it leaves the plugin usable.
pub const PANIC_STATUS: OfxStatus = kOfxStatFailed;

/// Runs `f` and turns its outcome into a status: Ok(reply) → the reply's code, Err → the
/// error's code, panic → [`PANIC_STATUS`] with the panic's text as the error. `on_error` sees
/// every error (to show it in Status and the host's messages). Nothing unwinds out.
pub fn guard(f: impl FnOnce() -> OfxResult<Reply>, on_error: impl FnOnce(&OfxError)) -> OfxStatus {
    let err = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(reply)) => return reply.status(),
        Ok(Err(err)) => err,
        Err(payload) => {
            let what = crate::panic_text(payload.as_ref());
            drop_payload(payload);
            OfxError::new(PANIC_STATUS, format!("Internal error in Kinema ({what}). Please report it."))
        }
    };
    // A panicking error reporter must not undo the guard.
    let _ = catch_unwind(AssertUnwindSafe(|| on_error(&err)));
    err.status
}

/// Drops a panic payload without letting a panicking `Drop` escape.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(inner) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        // A payload whose Drop panics again is leaked rather than dropped a second time.
        std::mem::forget(inner);
    }
}

/// The C name of a status code, for messages.
#[allow(non_upper_case_globals)] // matching on the C-named constants
pub fn status_name(status: OfxStatus) -> String {
    let name = match status {
        kOfxStatOK => "kOfxStatOK",
        kOfxStatFailed => "kOfxStatFailed",
        kOfxStatErrFatal => "kOfxStatErrFatal",
        kOfxStatErrUnknown => "kOfxStatErrUnknown",
        kOfxStatErrMissingHostFeature => "kOfxStatErrMissingHostFeature",
        kOfxStatErrUnsupported => "kOfxStatErrUnsupported",
        kOfxStatErrExists => "kOfxStatErrExists",
        kOfxStatErrFormat => "kOfxStatErrFormat",
        kOfxStatErrMemory => "kOfxStatErrMemory",
        kOfxStatErrBadHandle => "kOfxStatErrBadHandle",
        kOfxStatErrBadIndex => "kOfxStatErrBadIndex",
        kOfxStatErrValue => "kOfxStatErrValue",
        kOfxStatReplyYes => "kOfxStatReplyYes",
        kOfxStatReplyNo => "kOfxStatReplyNo",
        kOfxStatReplyDefault => "kOfxStatReplyDefault",
        kOfxStatErrImageFormat => "kOfxStatErrImageFormat",
        other => return format!("status {other}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn replies_map_to_their_status_codes() {
        assert_eq!(guard(|| Ok(Reply::Handled), |_| {}), kOfxStatOK);
        assert_eq!(guard(|| Ok(Reply::Default), |_| {}), kOfxStatReplyDefault);
        assert_eq!(guard(|| Ok(Reply::Yes), |_| {}), kOfxStatReplyYes);
        assert_eq!(guard(|| Ok(Reply::No), |_| {}), kOfxStatReplyNo);
    }

    #[test]
    fn errors_keep_their_code_and_reach_the_reporter() {
        let seen = Cell::new(None);
        let status = guard(|| Err(OfxError::failed("no model")), |e| seen.set(Some(e.message.clone())));
        assert_eq!(status, kOfxStatFailed);
        assert_eq!(seen.take().as_deref(), Some("no model"));
        assert_eq!(guard(|| Err(OfxError::missing("the parameter suite")), |_| {}), kOfxStatErrMissingHostFeature);
        // An error can never claim success.
        assert_eq!(OfxError::new(kOfxStatOK, "x").status, kOfxStatFailed);
    }

    #[test]
    fn a_panic_becomes_a_failure_status_not_an_unwind() {
        let mut seen = String::new();
        assert_eq!(guard(|| panic!("boom"), |e| seen = e.message.clone()), PANIC_STATUS);
        assert!(seen.contains("Internal error in Kinema (boom)"), "{seen}");
        assert_ne!(PANIC_STATUS, kOfxStatOK);
        // A reporter that panics does not escape either.
        assert_eq!(guard(|| Err(OfxError::failed("x")), |_| panic!("reporter")), kOfxStatFailed);
    }

    #[test]
    fn host_statuses_turn_into_named_errors() {
        assert!(Status(kOfxStatOK).ok(|| "propSetInt".into()).is_ok());
        let err = Status(kOfxStatErrUnknown).ok(|| "propSetInt(OfxPropLabel)".into()).unwrap_err();
        assert_eq!(err.status, kOfxStatErrUnknown);
        assert_eq!(err.message, "propSetInt(OfxPropLabel) returned kOfxStatErrUnknown");
        assert_eq!(status_name(-1), "status -1");
    }
}
