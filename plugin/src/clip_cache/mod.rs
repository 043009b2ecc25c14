//! Generated clips, computed once per parameter set and served frame by frame.
//!
//! A video-diffusion effect (Generate/Animate/Extend) produces a whole clip in one run that takes
//! minutes, while the host asks for one frame at a time, from several render threads, several
//! instances and several processes at once. [`ClipCache::get_or_generate`] makes sure that run
//! happens once per [`ClipKey`]: memory (byte-bounded LRU) → disk (validated, survives restarts,
//! shared between processes) → generation under single flight.
//!
//! # Single flight and failure
//! For each key at most one caller in the process (the *leader*) goes on; concurrent callers for
//! that key wait for it and receive the very same `Arc`. Waiters poll their own host's abort
//! (an aborting waiter leaves with [`GenerationError::aborted`], the leader carries on) and are
//! shown the leader's progress. With a disk cache the leader then takes the key's lock file
//! (`<key>.lock`, see [`KeyLock`]), so one process generates while the others wait for its file;
//! it looks on disk again once it holds the lock.
//!
//! If `generate` fails, the failure is remembered for the key: the leader gets its own error, and
//! every waiter and every later request gets [`GenerationError::failed`] with the same text at
//! once, without running `generate` again (a failure found after minutes of denoising would
//! otherwise be redone for each frame the host asks for). It is forgotten by
//! [`ClipCache::purge_memory`] (OFX PurgeCaches); changed parameters make another key anyway.
//! A panic in `generate` is remembered the same way (as an internal error) and re-raised to the
//! leader after the flight is released. A host abort ([`GenerationError::is_abort`]) is not a
//! failure: nothing is remembered, waiters start over (one of them leads the next run) and the
//! next request generates again. Nothing is cached for a failed or aborted run.
//!
//! Successful clips are written to disk before the flight completes and before the lock file is
//! released, so a caller arriving after completion finds them in memory or on disk, never a
//! window where neither has them.

mod disk;
mod flight;
mod key;
mod lock;
mod provenance;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_shared;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;

pub use disk::{encoded_len, DiskCache, DiskLookup, FORMAT_VERSION, STALE_TEMP_AGE};
pub use flight::{REMEMBERED_FAILURES, WAIT_POLL};
pub use key::{ClipKey, KeyBuilder};
pub use lock::{Holder, KeyLock, LockTry, LOCK_PATIENCE, LOCK_POLL};
pub use provenance::{
    last_provenance, remember_provenance, ProvenanceRecord, ACTION_CREATED, TRAINED_ALGORITHMIC_MEDIA,
};

use crate::cache::ByteLru;
use crate::frame_io::Frame;
use flight::{Claim, Flights, Lead, Outcome, Waited};

/// Default memory bound (`KINEMA_CLIP_CACHE_MB`).
pub const DEFAULT_MEMORY_MB: u64 = 1024;
/// Default disk bound (`KINEMA_DISK_CACHE_MB`).
pub const DEFAULT_DISK_MB: u64 = 8192;

/// The output of one generation run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeneratedClip {
    pub frames: Vec<Frame>,
    pub fps: f64,
}

impl GeneratedClip {
    /// Approximate heap footprint (what the memory bound counts).
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.frames.iter().map(|f| std::mem::size_of::<Frame>() + f.data.len() * 4).sum::<usize>()
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn frame(&self, index: usize) -> Option<&Frame> {
        self.frames.get(index)
    }
}

/// What the cache needs of a generation's error type: failures are remembered as their text
/// (`Display`) and handed to later callers through [`GenerationError::failed`].
pub trait GenerationError: std::fmt::Display + Sized {
    /// A host abort: not remembered, so the next request generates again.
    fn is_abort(&self) -> bool;
    /// The error for a caller that stopped waiting because its own host aborted.
    fn aborted() -> Self;
    /// The error for a caller served a remembered failure: `message` is the failed run's text.
    fn failed(message: &str) -> Self;
}

/// Counters for tests and the runtime report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClipCacheStats {
    pub memory_bytes: usize,
    pub memory_entries: usize,
    pub memory_hits: u64,
    pub disk_hits: u64,
    /// Times `generate` was called (single flight: once per key unless a host aborted it).
    pub generations_started: u64,
    pub generations_failed: u64,
    /// Keys whose failure is remembered now (cleared by `purge_memory`).
    pub failures_remembered: usize,
    /// Requests answered with a remembered failure instead of generating again.
    pub failures_served: u64,
    /// Callers that waited for another caller's generation in this process.
    pub waits: u64,
    /// Waiters (for a caller in this process or for another process) that left on a host abort.
    pub waits_aborted: u64,
    /// Leaders that found the key's lock file held by another process and waited for it.
    pub lock_waits: u64,
    pub disk_writes: u64,
    /// Disk entries that failed validation and were deleted.
    pub disk_corrupt: u64,
    /// Disk reads/writes/locks that failed or found an invalid entry (the cache carries on
    /// without disk for that clip); `last_disk_error` says what happened last.
    pub disk_errors: u64,
    pub last_disk_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    generations_started: AtomicU64,
    generations_failed: AtomicU64,
    failures_served: AtomicU64,
    waits: AtomicU64,
    waits_aborted: AtomicU64,
    lock_waits: AtomicU64,
    disk_writes: AtomicU64,
    disk_corrupt: AtomicU64,
    disk_errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A waiter's host aborted.
struct Aborted;

/// Memory LRU + optional disk cache + single-flight generation.
pub struct ClipCache {
    memory: ByteLru<ClipKey, GeneratedClip>,
    disk: Option<DiskCache>,
    flights: Mutex<Flights>,
    counters: Counters,
    last_disk_error: Mutex<Option<String>>,
}

impl ClipCache {
    pub fn new(memory_bytes: usize, disk: Option<DiskCache>) -> Self {
        ClipCache {
            memory: ByteLru::new(memory_bytes),
            disk,
            flights: Mutex::new(Flights::default()),
            counters: Counters::default(),
            last_disk_error: Mutex::new(None),
        }
    }

    /// Bounds from `KINEMA_CLIP_CACHE_MB` (default 1024) and [`DiskCache::from_env`].
    pub fn from_env() -> Self {
        let bytes = crate::settings::env_mib("KINEMA_CLIP_CACHE_MB", DEFAULT_MEMORY_MB);
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        ClipCache::new(bytes, DiskCache::from_env())
    }

    pub fn disk(&self) -> Option<&DiskCache> {
        self.disk.as_ref()
    }

    /// The clip for `key`: from memory, else from disk, else from `generate` (run by exactly one
    /// caller per key at a time, across processes when there is a disk cache; see the module
    /// docs for what happens when it fails).
    ///
    /// `progress(done, total)` and `abort()` are the caller's host's: a caller that waits polls
    /// `abort` and is shown the generating caller's progress. `generate` gets the progress
    /// callback to report through (it reaches the caller and every waiter). A panic inside
    /// `generate` propagates to this caller after the flight is released.
    pub fn get_or_generate<E: GenerationError>(
        &self,
        key: ClipKey,
        progress: &mut dyn FnMut(usize, usize),
        abort: &dyn Fn() -> bool,
        generate: impl FnOnce(&mut dyn FnMut(usize, usize)) -> Result<GeneratedClip, E>,
    ) -> Result<Arc<GeneratedClip>, E> {
        let lead = loop {
            if let Some(clip) = self.memory.get(&key) {
                bump(&self.counters.memory_hits);
                return Ok(clip);
            }
            let claim = self.flights.lock().claim(key);
            let flight = match claim {
                Claim::Lead(flight) => break Lead::new(&self.flights, key, flight),
                Claim::Failed(message) => return Err(self.serve_failure(&message)),
                Claim::Follow(flight) => flight,
            };
            bump(&self.counters.waits);
            match flight.wait(progress, abort) {
                Waited::Done(Outcome::Ready(clip)) => return Ok(clip),
                Waited::Done(Outcome::Failed(message)) => return Err(self.serve_failure(&message)),
                // The leader's host aborted: start over (memory, then lead or join the next flight).
                Waited::Done(Outcome::Abandoned) => {}
                Waited::Aborted => {
                    bump(&self.counters.waits_aborted);
                    return Err(E::aborted());
                }
            }
        };

        // A flight may have finished between our memory miss and our claim.
        if let Some(clip) = self.memory.get(&key) {
            bump(&self.counters.memory_hits);
            lead.succeed(clip.clone());
            return Ok(clip);
        }
        let lead = match self.lead_from_disk(key, lead) {
            Ok(clip) => return Ok(clip),
            Err(lead) => lead,
        };
        // Another process may be generating it: wait for its lock, then look on disk again.
        let Ok(file_lock) = self.lock_across_processes(key, lead.flight(), progress, abort) else {
            bump(&self.counters.waits_aborted);
            return Err(E::aborted());
        };
        let lead = match file_lock {
            Some(_) => match self.lead_from_disk(key, lead) {
                Ok(clip) => return Ok(clip),
                Err(lead) => lead,
            },
            None => lead,
        };

        bump(&self.counters.generations_started);
        let result = {
            let (flight, file_lock) = (lead.flight(), file_lock.as_ref());
            let mut report = |done: usize, total: usize| {
                progress(done, total);
                flight.publish(done, total);
                if let Some(lock) = file_lock {
                    lock.publish(done, total);
                }
            };
            panic::catch_unwind(AssertUnwindSafe(|| generate(&mut report)))
        };
        match result {
            Ok(Ok(clip)) => {
                let clip = Arc::new(clip);
                self.memory.insert(key, clip.clone(), clip.bytes());
                self.store_to_disk(key, &clip);
                drop(file_lock);
                lead.succeed(clip.clone());
                Ok(clip)
            }
            Ok(Err(e)) => {
                bump(&self.counters.generations_failed);
                if !e.is_abort() {
                    lead.fail(e.to_string().into());
                }
                Err(e)
            }
            Err(payload) => {
                bump(&self.counters.generations_failed);
                lead.fail(
                    format!("Internal error in Kinema ({}). Please report it.", crate::panic_text(&*payload)).into(),
                );
                panic::resume_unwind(payload)
            }
        }
    }

    /// Keeps a partial result under `key` (a long shot's state after one window), in memory and
    /// on disk, so a stopped or changed shot picks up from it. Not a flight: writing the same
    /// state twice is harmless.
    pub fn keep(&self, key: ClipKey, clip: GeneratedClip) {
        let clip = Arc::new(clip);
        self.store_to_disk(key, &clip);
        self.memory.insert(key, clip.clone(), clip.bytes());
    }

    /// What [`ClipCache::keep`] kept under `key`, from memory or else from disk.
    pub fn kept(&self, key: ClipKey) -> Option<Arc<GeneratedClip>> {
        if let Some(clip) = self.memory.get(&key) {
            return Some(clip);
        }
        let clip = Arc::new(self.load_from_disk(key)?);
        self.memory.insert(key, clip.clone(), clip.bytes());
        Some(clip)
    }

    /// The clip from disk, if there, completing `lead`'s flight with it; else `lead` back.
    fn lead_from_disk<'a>(&'a self, key: ClipKey, lead: Lead<'a>) -> Result<Arc<GeneratedClip>, Lead<'a>> {
        match self.load_from_disk(key) {
            Some(clip) => {
                let clip = Arc::new(clip);
                self.memory.insert(key, clip.clone(), clip.bytes());
                lead.succeed(clip.clone());
                Ok(clip)
            }
            None => Err(lead),
        }
    }

    fn serve_failure<E: GenerationError>(&self, message: &str) -> E {
        bump(&self.counters.failures_served);
        E::failed(message)
    }

    /// Takes `<key>.lock` so one process generates the key, polling `abort` and passing the
    /// holder's progress on while another process holds it. `Ok(None)` without a disk cache, or
    /// when the lock cannot be used (recorded as a disk error: going on without it only risks
    /// generating twice) or its holder shows no progress for the disk cache's lock patience.
    fn lock_across_processes(
        &self,
        key: ClipKey,
        flight: &flight::Flight,
        progress: &mut dyn FnMut(usize, usize),
        abort: &dyn Fn() -> bool,
    ) -> Result<Option<KeyLock>, Aborted> {
        let Some(disk) = &self.disk else { return Ok(None) };
        let mut seen: Option<(Option<Holder>, Instant)> = None;
        loop {
            let holder = match disk.try_lock(key) {
                Ok(LockTry::Held(lock)) => return Ok(Some(lock)),
                Ok(LockTry::Busy(holder)) => holder,
                Err(e) => {
                    self.disk_error(format!("locking {}: {e}", disk.lock_path(key).display()));
                    return Ok(None);
                }
            };
            let now = Instant::now();
            let changed = match seen {
                Some((last, since)) if last == holder => {
                    if now.duration_since(since) > disk.lock_patience() {
                        self.disk_error(format!(
                            "{} showed no progress for {} s: generating without waiting for its holder",
                            disk.lock_path(key).display(),
                            disk.lock_patience().as_secs()
                        ));
                        return Ok(None);
                    }
                    false
                }
                _ => {
                    if seen.is_none() {
                        bump(&self.counters.lock_waits);
                    }
                    seen = Some((holder, now));
                    true
                }
            };
            if let Some(Holder { done, total, .. }) = holder.filter(|h| changed && h.total > 0) {
                progress(done, total);
                flight.publish(done, total);
            }
            if abort() {
                return Err(Aborted);
            }
            std::thread::sleep(LOCK_POLL);
        }
    }

    /// A cached clip (memory, then disk) without generating.
    pub fn get(&self, key: ClipKey) -> Option<Arc<GeneratedClip>> {
        if let Some(clip) = self.memory.get(&key) {
            bump(&self.counters.memory_hits);
            return Some(clip);
        }
        let clip = Arc::new(self.load_from_disk(key)?);
        self.memory.insert(key, clip.clone(), clip.bytes());
        Some(clip)
    }

    /// OFX PurgeCaches: drops every clip held in memory and forgets remembered failures (the
    /// next request for a failed key generates again); disk entries stay.
    pub fn purge_memory(&self) {
        self.memory.clear();
        self.flights.lock().forget_failures();
    }

    pub fn stats(&self) -> ClipCacheStats {
        let c = &self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClipCacheStats {
            memory_bytes: self.memory.bytes(),
            memory_entries: self.memory.len(),
            memory_hits: n(&c.memory_hits),
            disk_hits: n(&c.disk_hits),
            generations_started: n(&c.generations_started),
            generations_failed: n(&c.generations_failed),
            failures_remembered: self.flights.lock().remembered_failures(),
            failures_served: n(&c.failures_served),
            waits: n(&c.waits),
            waits_aborted: n(&c.waits_aborted),
            lock_waits: n(&c.lock_waits),
            disk_writes: n(&c.disk_writes),
            disk_corrupt: n(&c.disk_corrupt),
            disk_errors: n(&c.disk_errors),
            last_disk_error: self.last_disk_error.lock().clone(),
        }
    }

    #[cfg(test)]
    fn flights_running(&self) -> usize {
        self.flights.lock().running()
    }

    fn load_from_disk(&self, key: ClipKey) -> Option<GeneratedClip> {
        let disk = self.disk.as_ref()?;
        match disk.load(key) {
            Ok(DiskLookup::Hit(clip)) => {
                bump(&self.counters.disk_hits);
                Some(clip)
            }
            Ok(DiskLookup::Miss) => None,
            Ok(DiskLookup::Corrupt(reason)) => {
                bump(&self.counters.disk_corrupt);
                self.disk_error(format!("{} was invalid ({reason}) and was deleted", disk.path_for(key).display()));
                None
            }
            Err(e) => {
                self.disk_error(format!("reading {}: {e}", disk.path_for(key).display()));
                None
            }
        }
    }

    /// Disk is an optimisation: a failed write is recorded, never returned to the render.
    fn store_to_disk(&self, key: ClipKey, clip: &GeneratedClip) {
        let Some(disk) = &self.disk else { return };
        match disk.store(key, clip) {
            Ok(true) => bump(&self.counters.disk_writes),
            Ok(false) => {}
            Err(e) => self.disk_error(format!("writing {}: {e}", disk.path_for(key).display())),
        }
    }

    fn disk_error(&self, message: String) {
        bump(&self.counters.disk_errors);
        *self.last_disk_error.lock() = Some(message);
    }
}

/// The process-wide cache shared by all instances, configured from the environment on first use.
pub fn clip_cache() -> &'static ClipCache {
    static CACHE: OnceLock<ClipCache> = OnceLock::new();
    CACHE.get_or_init(ClipCache::from_env)
}
