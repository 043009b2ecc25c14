//! Locating `libonnxruntime.so` next to the plugin binary.
//!
//! Hosts (Resolve, Nuke) may already have their own ONNX Runtime loaded; loading ours by
//! absolute path gives us our own copy, where a bare soname would pick up theirs.

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::RuntimeError;

/// The exact runtime build the bundle carries (PyPI wheel `onnxruntime==1.31.1`).
pub const ORT_LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";

/// Folder holding the plugin binary (`…/Kinema.ofx.bundle/Contents/Linux-x86-64`), found with
/// `dladdr` on one of our own functions, so it works however the host opened us.
pub fn plugin_dir() -> Option<PathBuf> {
    // SAFETY: Dl_info is plain data (pointers and integers), for which all zeroes is valid.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables and writes `info`, which we own.
    let found = unsafe { libc::dladdr(plugin_dir as *const () as *const libc::c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: on success `dli_fname` (checked non-null) is the loader's NUL-terminated path of our
    // own object, which stays loaded while this code runs.
    let file = PathBuf::from(OsStr::from_bytes(unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes()));
    std::fs::canonicalize(file).ok()?.parent().map(Path::to_path_buf)
}

/// `KINEMA_ORT_LIB` when set (an explicit choice, so it must exist), else the library beside
/// the plugin binary.
pub fn ort_library_path() -> Result<PathBuf, RuntimeError> {
    if let Some(path) = std::env::var_os("KINEMA_ORT_LIB").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(RuntimeError::LibraryMissing(format!(
                "KINEMA_ORT_LIB points to {}, which is not a file",
                path.display()
            )))
        };
    }
    let dir = plugin_dir()
        .ok_or_else(|| RuntimeError::LibraryMissing("cannot locate the plugin binary (dladdr failed)".into()))?;
    let path = dir.join(ORT_LIBRARY_FILE);
    if path.is_file() {
        Ok(path)
    } else {
        Err(RuntimeError::LibraryMissing(format!(
            "{} is missing; reinstall Kinema.ofx.bundle or set KINEMA_ORT_LIB",
            path.display()
        )))
    }
}
