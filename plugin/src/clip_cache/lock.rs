//! One generation per key across processes: an exclusive `flock` on `<key>.lock` in the cache
//! folder, taken without blocking and polled by the caller (so it can poll its host's abort).
//!
//! The kernel releases a dead process's lock. The holder writes its progress into the file, so
//! processes waiting for it can show it. The holder deletes the file (while holding the lock)
//! before releasing it; a waiter that then locks the deleted file sees that the name no longer
//! leads to it and tries again with the new one. The same goes for the sweep that removes lock
//! files a crashed process left. `flock` is per open file: two [`DiskCache`]s in one process
//! exclude each other as two processes do (on NFS, Linux maps it to a POSIX byte-range lock).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::disk::{open_regular, same_file};
use super::{ClipKey, DiskCache};

pub(super) const LOCK_SUFFIX: &str = ".lock";
/// How often a process waiting for another one's lock tries again (and polls its abort).
pub const LOCK_POLL: Duration = Duration::from_millis(50);
/// A lock whose holder shows no progress this long is not waited for any more (a stopped
/// process): the waiter generates itself. Denoising steps take seconds, not half an hour.
pub const LOCK_PATIENCE: Duration = Duration::from_secs(30 * 60);
/// `pid done total`, each right-aligned in 10 characters, and a newline.
const RECORD_LEN: usize = 33;

/// What the lock's holder last wrote: its process and progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub done: usize,
    pub total: usize,
}

/// An attempt to take a key's lock.
pub enum LockTry {
    Held(KeyLock),
    /// Another process (or another [`DiskCache`] on the same folder) holds it.
    Busy(Option<Holder>),
}

/// The exclusive right to generate a key, across processes. Dropping it releases it.
pub struct KeyLock {
    file: File,
    path: PathBuf,
}

impl KeyLock {
    /// Shows waiting processes how far the generation is (best effort).
    pub fn publish(&self, done: usize, total: usize) {
        let record = format!("{:>10} {:>10} {:>10}\n", std::process::id(), done, total);
        let _ = self.file.write_at(record.as_bytes(), 0);
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Still holding the lock: nobody else deletes or replaces the file meanwhile.
        if same_file(&self.file, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
        // Closing the file releases the lock.
    }
}

impl DiskCache {
    pub fn lock_path(&self, key: ClipKey) -> PathBuf {
        self.dir().join(format!("{key}{LOCK_SUFFIX}"))
    }

    /// Tries once to take the key's lock; never blocks. An error (a lock file that is not a
    /// regular file, a folder that cannot be written) means the lock cannot be used.
    pub fn try_lock(&self, key: ClipKey) -> io::Result<LockTry> {
        fs::create_dir_all(self.dir())?;
        let path = self.lock_path(key);
        // A few tries in case the holder deletes the file between our open and our lock.
        for _ in 0..3 {
            let file = open_regular(&path, true)?;
            if !try_flock(&file)? {
                return Ok(LockTry::Busy(read_holder(&file)));
            }
            if same_file(&file, &path) {
                let lock = KeyLock { file, path };
                lock.publish(0, 0);
                return Ok(LockTry::Held(lock));
            }
        }
        Ok(LockTry::Busy(None))
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: `true` when taken, `false` when another open file holds it.
fn try_flock(file: &File) -> io::Result<bool> {
    loop {
        // SAFETY: the descriptor is open for as long as `file` lives; flock touches no memory.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock => return Ok(false),
            io::ErrorKind::Interrupted => continue,
            _ => return Err(e),
        }
    }
}

fn read_holder(file: &File) -> Option<Holder> {
    let mut record = [0u8; RECORD_LEN];
    file.read_exact_at(&mut record, 0).ok()?;
    let mut fields = std::str::from_utf8(&record).ok()?.split_whitespace().map(str::parse::<u64>);
    let mut next = || fields.next()?.ok();
    let (pid, done, total) = (next()?, next()?, next()?);
    Some(Holder {
        pid: u32::try_from(pid).ok()?,
        done: usize::try_from(done).ok()?,
        total: usize::try_from(total).ok()?,
    })
}

/// Deletes a lock file nobody holds (left by a process that died), holding its lock meanwhile.
pub(super) fn remove_if_free(path: &Path) {
    let Ok(file) = open_regular(path, false) else { return };
    if try_flock(&file).unwrap_or(false) && same_file(&file, path) {
        let _ = fs::remove_file(path);
    }
}
