//! Frame memory kept for the next frame. A render allocates frames of the same few sizes again and
//! again (the source frames it reads, the network's output, the assembled frame); fresh memory of
//! that size comes from the kernel page by page, zeroed, and at 4K that first touch cost more
//! than the copies themselves (a 133 MB frame: 0.1–0.4 s). Dropped frames of at least
//! [`MIN_POOLED_BYTES`] are kept here, up to a byte budget, and handed to the next frame that fits.
//!
//! Budget: 768 MiB (a 4K render's working set) unless `KINEMA_FRAME_POOL_MB` says otherwise;
//! 0 keeps nothing. PurgeCaches empties it.

use std::sync::OnceLock;

use parking_lot::Mutex;

/// Buffers below this are cheap to get fresh; they are not kept.
pub const MIN_POOLED_BYTES: usize = 1 << 20;

/// Kept buffers under a byte budget.
pub struct FramePool {
    inner: Mutex<Kept>,
}

struct Kept {
    /// Oldest first.
    free: Vec<Vec<f32>>,
    bytes: usize,
    budget: usize,
}

/// The process's pool, which frames return their memory to.
pub fn global() -> &'static FramePool {
    static POOL: OnceLock<FramePool> = OnceLock::new();
    POOL.get_or_init(|| {
        let bytes = crate::settings::env_mib("KINEMA_FRAME_POOL_MB", 768);
        FramePool::new(usize::try_from(bytes).unwrap_or(usize::MAX))
    })
}

fn bytes_of(v: &Vec<f32>) -> usize {
    v.capacity() * std::mem::size_of::<f32>()
}

impl FramePool {
    pub const fn new(budget: usize) -> Self {
        FramePool { inner: Mutex::new(Kept { free: Vec::new(), bytes: 0, budget }) }
    }

    /// A kept buffer holding `len` zeros: the smallest that holds them without wasting more than
    /// half of itself; `None` when none fits.
    pub fn take_zeroed(&self, len: usize) -> Option<Vec<f32>> {
        if len.saturating_mul(std::mem::size_of::<f32>()) < MIN_POOLED_BYTES {
            return None;
        }
        let mut v = {
            let mut k = self.inner.lock();
            let (i, _) = k
                .free
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len && v.capacity() / 2 <= len)
                .min_by_key(|(_, v)| v.capacity())?;
            let v = k.free.swap_remove(i);
            k.bytes -= bytes_of(&v);
            v
        };
        v.clear();
        v.resize(len, 0.0);
        Some(v)
    }

    /// Keeps `v` for a later frame when it is large enough and the budget allows (the oldest kept
    /// buffers make room); otherwise it is freed.
    pub fn give(&self, v: Vec<f32>) {
        let size = bytes_of(&v);
        if size < MIN_POOLED_BYTES {
            return;
        }
        let mut freed = Vec::new();
        {
            let mut k = self.inner.lock();
            if size > k.budget {
                return;
            }
            while k.bytes + size > k.budget {
                let old = k.free.remove(0);
                k.bytes -= bytes_of(&old);
                freed.push(old);
            }
            k.bytes += size;
            k.free.push(v);
        }
        // Freed outside the lock.
        drop(freed);
    }

    /// Frees every kept buffer (OFX PurgeCaches).
    pub fn purge(&self) {
        let free = {
            let mut k = self.inner.lock();
            k.bytes = 0;
            std::mem::take(&mut k.free)
        };
        drop(free);
    }

    /// The most bytes kept.
    pub fn budget(&self) -> usize {
        self.inner.lock().budget
    }

    /// Bytes kept for later frames.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_io::Frame;

    const MIB: usize = 1 << 20;

    #[test]
    fn a_kept_buffer_serves_the_next_frame_that_fits_zeroed() {
        let pool = FramePool::new(768 * MIB);
        let mut a = vec![0.0f32; 4 * 512 * 512];
        a.fill(7.0);
        let ptr = a.as_ptr();
        pool.give(a);
        assert_eq!(pool.bytes(), 4 * 512 * 512 * 4);
        // A frame that would waste more than half of it does not take it; too large neither.
        assert!(pool.take_zeroed(512 * 512).is_none());
        assert!(pool.take_zeroed(5 * 512 * 512).is_none());
        let b = pool.take_zeroed(3 * 512 * 512).unwrap();
        assert_eq!(b.as_ptr(), ptr, "the kept buffer is reused");
        assert_eq!(b.len(), 3 * 512 * 512);
        assert!(b.iter().all(|&v| v == 0.0), "a reused buffer is zeroed like a fresh one");
        assert_eq!(pool.bytes(), 0);
        pool.give(b);
        pool.purge();
        assert_eq!(pool.bytes(), 0);
        assert!(pool.take_zeroed(3 * 512 * 512).is_none());
    }

    #[test]
    fn the_budget_keeps_the_newest_buffers_and_never_small_ones() {
        let pool = FramePool::new(200 * MIB);
        let buffer = |fill: f32| vec![fill; 64 * MIB / 4];
        for i in 0..5 {
            pool.give(buffer(i as f32));
        }
        assert_eq!(pool.bytes(), 192 * MIB, "three of 64 MiB fit in 200");
        // The newest three are kept (they are all zeroed on the way out; check by count).
        let kept: Vec<_> = std::iter::from_fn(|| pool.take_zeroed(64 * MIB / 4)).collect();
        assert_eq!(kept.len(), 3);
        pool.give(vec![0.0; 1000]);
        assert_eq!(pool.bytes(), 0, "small buffers are not kept");
        assert!(pool.take_zeroed(1000).is_none());
        let none = FramePool::new(0);
        none.give(buffer(1.0));
        assert_eq!(none.bytes(), 0, "a zero budget keeps nothing");
    }

    #[test]
    fn frames_give_their_memory_back_when_dropped() {
        // The global pool is shared with every other test: check only that a dropped frame's
        // buffer was offered (kept or not, no double free), and that try_new still zeroes.
        let mut f = Frame::try_new(4, 600, 600).unwrap();
        f.data.fill(3.0);
        drop(f);
        let g = Frame::try_new(4, 600, 600).unwrap();
        assert!(g.data.iter().all(|&v| v == 0.0));
        assert_eq!(g.data.len(), 4 * 600 * 600);
    }

    #[test]
    fn the_process_pool_keeps_at_most_its_stated_budget() {
        // KINEMA_FRAME_POOL_MB is a number of MiB (once read as bytes times MiB, the budget was
        // 768 TiB: unbounded).
        if std::env::var_os("KINEMA_FRAME_POOL_MB").is_none() {
            assert_eq!(global().budget(), 768 * MIB);
        }
    }
}
