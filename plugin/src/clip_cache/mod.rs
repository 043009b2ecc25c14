//! Generated clips, computed once per parameter set and served frame by frame.
//!
//! A video-diffusion effect (Generate/Animate/Extend) produces a whole clip in one run that takes
//! minutes, while the host asks for one frame at a time, from several render threads and several
//! instances at once. [`ClipCache::get_or_generate`] makes sure that run happens once per
//! [`ClipKey`]: memory (byte-bounded LRU) → disk (validated, survives restarts) → generation under
//! single flight.
//!
//! # Single flight and failure
//! For each key at most one caller (the *leader*) generates; concurrent callers for that key wait
//! for it and receive the very same `Arc`. If the leader fails — `generate` returns an error (a
//! host abort included) or panics — the leader alone gets that error (a panic is re-raised after
//! the flight is released), nothing is cached, and the waiters wake up and start over: the first
//! of them to re-enter becomes the new leader and runs *its own* `generate`, the rest wait on it.
//! Waiters thus never see a partial or stale result, and one render thread's abort does not
//! fail the others. (A deterministic failure is therefore retried once per waiting caller.)
//!
//! Successful clips are written to disk before the flight completes, so a caller arriving after
//! completion finds them in memory or on disk, never a window where neither has them.

mod disk;
mod key;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Condvar, Mutex};

pub use disk::{encoded_len, DiskCache, DiskLookup, FORMAT_VERSION, STALE_TEMP_AGE};
pub use key::{ClipKey, KeyBuilder};

use crate::cache::ByteLru;
use crate::frame_io::Frame;

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

/// Counters for tests and the runtime report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClipCacheStats {
    pub memory_bytes: usize,
    pub memory_entries: usize,
    pub memory_hits: u64,
    pub disk_hits: u64,
    /// Times `generate` was called (single flight: once per key unless a run failed).
    pub generations_started: u64,
    pub generations_failed: u64,
    /// Callers that waited for another caller's generation.
    pub waits: u64,
    pub disk_writes: u64,
    /// Disk entries that failed validation and were deleted.
    pub disk_corrupt: u64,
    /// Disk reads/writes that failed or found an invalid entry (the cache carries on without
    /// disk for that clip); `last_disk_error` says what happened last.
    pub disk_errors: u64,
    pub last_disk_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    generations_started: AtomicU64,
    generations_failed: AtomicU64,
    waits: AtomicU64,
    disk_writes: AtomicU64,
    disk_corrupt: AtomicU64,
    disk_errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

enum FlightState {
    Running,
    Ready(Arc<GeneratedClip>),
    Failed,
}

struct Flight {
    state: Mutex<FlightState>,
    done: Condvar,
}

impl Flight {
    /// Blocks until the leader finishes: `Some` on success, `None` when it failed.
    fn wait(&self) -> Option<Arc<GeneratedClip>> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                FlightState::Running => self.done.wait(&mut state),
                FlightState::Ready(clip) => return Some(clip.clone()),
                FlightState::Failed => return None,
            }
        }
    }
}

/// The leader's claim on a flight. Dropping it without [`Lead::succeed`] (error, panic) marks
/// the flight failed, so waiters never hang.
struct Lead<'a> {
    cache: &'a ClipCache,
    key: ClipKey,
    flight: Arc<Flight>,
    state: Option<FlightState>,
}

impl Lead<'_> {
    fn succeed(mut self, clip: Arc<GeneratedClip>) {
        self.state = Some(FlightState::Ready(clip));
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        // Leave the map first, so a waiter that retries after a failure opens a new flight.
        {
            let mut flights = self.cache.flights.lock();
            if flights.get(&self.key).is_some_and(|f| Arc::ptr_eq(f, &self.flight)) {
                flights.remove(&self.key);
            }
        }
        *self.flight.state.lock() = self.state.take().unwrap_or(FlightState::Failed);
        self.flight.done.notify_all();
    }
}

/// Memory LRU + optional disk cache + single-flight generation.
pub struct ClipCache {
    memory: ByteLru<ClipKey, GeneratedClip>,
    disk: Option<DiskCache>,
    flights: Mutex<HashMap<ClipKey, Arc<Flight>>>,
    counters: Counters,
    last_disk_error: Mutex<Option<String>>,
}

impl ClipCache {
    pub fn new(memory_bytes: usize, disk: Option<DiskCache>) -> Self {
        ClipCache {
            memory: ByteLru::new(memory_bytes),
            disk,
            flights: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            last_disk_error: Mutex::new(None),
        }
    }

    /// Bounds from `KINEMA_CLIP_CACHE_MB` (default 1024) and [`DiskCache::from_env`].
    pub fn from_env() -> Self {
        let mb = env_u64("KINEMA_CLIP_CACHE_MB", DEFAULT_MEMORY_MB);
        let bytes = usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
        ClipCache::new(bytes, DiskCache::from_env())
    }

    pub fn disk(&self) -> Option<&DiskCache> {
        self.disk.as_ref()
    }

    /// The clip for `key`: from memory, else from disk, else from `generate` (run by exactly one
    /// caller per key at a time; see the module docs for what happens when it fails).
    ///
    /// A panic inside `generate` propagates to this caller after the flight is released.
    pub fn get_or_generate<E>(
        &self,
        key: ClipKey,
        generate: impl FnOnce() -> Result<GeneratedClip, E>,
    ) -> Result<Arc<GeneratedClip>, E> {
        let lead = loop {
            if let Some(clip) = self.memory.get(&key) {
                bump(&self.counters.memory_hits);
                return Ok(clip);
            }
            let (flight, leader) = {
                let mut flights = self.flights.lock();
                match flights.get(&key) {
                    Some(f) => (f.clone(), false),
                    None => {
                        let f = Arc::new(Flight { state: Mutex::new(FlightState::Running), done: Condvar::new() });
                        flights.insert(key, f.clone());
                        (f, true)
                    }
                }
            };
            if leader {
                break Lead { cache: self, key, flight, state: None };
            }
            bump(&self.counters.waits);
            if let Some(clip) = flight.wait() {
                return Ok(clip);
            }
            // The leader failed: start over (memory, then lead or join the next flight).
        };

        // A flight may have finished between our memory miss and our claim.
        if let Some(clip) = self.memory.get(&key) {
            bump(&self.counters.memory_hits);
            lead.succeed(clip.clone());
            return Ok(clip);
        }
        if let Some(clip) = self.load_from_disk(key) {
            let clip = Arc::new(clip);
            self.memory.insert(key, clip.clone(), clip.bytes());
            lead.succeed(clip.clone());
            return Ok(clip);
        }

        bump(&self.counters.generations_started);
        match panic::catch_unwind(AssertUnwindSafe(generate)) {
            Ok(Ok(clip)) => {
                let clip = Arc::new(clip);
                self.memory.insert(key, clip.clone(), clip.bytes());
                self.store_to_disk(key, &clip);
                lead.succeed(clip.clone());
                Ok(clip)
            }
            Ok(Err(e)) => {
                bump(&self.counters.generations_failed);
                drop(lead);
                Err(e)
            }
            Err(payload) => {
                bump(&self.counters.generations_failed);
                drop(lead);
                panic::resume_unwind(payload)
            }
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

    /// Drops every clip held in memory (OFX PurgeCaches); disk entries stay.
    pub fn purge_memory(&self) {
        self.memory.clear();
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
            waits: n(&c.waits),
            disk_writes: n(&c.disk_writes),
            disk_corrupt: n(&c.disk_corrupt),
            disk_errors: n(&c.disk_errors),
            last_disk_error: self.last_disk_error.lock().clone(),
        }
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

/// A whole number from the environment; unset or empty gives `default`, unparsable too (with a warning).
fn env_u64(name: &str, default: u64) -> u64 {
    crate::settings::env_u64(name, default)
}
