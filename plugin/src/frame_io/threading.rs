//! How many threads one conversion uses, and the split of its rows into bands over scoped
//! threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Images with at least this many pixels in the window are converted on several threads.
/// Below it, thread start-up (tens of µs) costs more than it saves.
pub const PARALLEL_MIN_PIXELS: usize = 256 * 1024;

static MAX_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Caps the threads one conversion may use; 0 (the default) means the machine's parallelism
/// (at most 8), 1 disables threading.
pub fn set_max_threads(n: usize) {
    MAX_THREADS.store(n, Ordering::Relaxed);
}

fn max_threads() -> usize {
    match MAX_THREADS.load(Ordering::Relaxed) {
        0 => {
            static AUTO: OnceLock<usize> = OnceLock::new();
            // available_parallelism reads cgroup files on Linux: look it up once.
            *AUTO.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)))
        }
        n => n,
    }
}

/// Threads for a `width`×`height` window: one below [`PARALLEL_MIN_PIXELS`].
pub(super) fn threads_for(width: usize, height: usize) -> usize {
    if width.saturating_mul(height) < PARALLEL_MIN_PIXELS {
        1
    } else {
        max_threads().min(height).max(1)
    }
}

/// Cuts `work` (h rows) into `threads` bands of whole rows and runs `body` on each, all but the
/// last on scoped threads. If a thread cannot be started, its band runs on this thread.
pub(super) fn run_split<W: Send>(
    work: W,
    h: usize,
    threads: usize,
    split: &dyn Fn(W, usize) -> (W, W),
    body: &(dyn Fn(W) + Sync),
) {
    let threads = threads.min(h).max(1);
    if threads == 1 {
        body(work);
        return;
    }
    std::thread::scope(|s| {
        let mut rest = work;
        let mut left = h;
        for t in 0..threads - 1 {
            let k = left / (threads - t);
            let (band, tail) = split(rest, k);
            rest = tail;
            left -= k;
            // Shared so the band survives if the thread cannot be started.
            let band = Arc::new(Mutex::new(Some(band)));
            let theirs = Arc::clone(&band);
            let spawned = std::thread::Builder::new().spawn_scoped(s, move || {
                if let Some(b) = theirs.lock().ok().and_then(|mut g| g.take()) {
                    body(b)
                }
            });
            if spawned.is_err() {
                if let Some(b) = band.lock().ok().and_then(|mut g| g.take()) {
                    body(b);
                }
            }
        }
        body(rest);
    });
}
