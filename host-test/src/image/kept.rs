//! Large image allocations kept for the next image of about the same size, as a real host's image
//! cache keeps them: fresh memory comes from the kernel page by page, and at 4K that first touch
//! cost the host more than the plugin's copies (a 133 MB float image: 0.1–0.4 s). Plugin buffers
//! ([`super::PixelBuffer`]) and caller images ([`super::HostImage`]) share the kept allocations.

use parking_lot::Mutex;

/// Allocations kept, oldest first, at most [`KEPT_BYTES`] in all.
static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const KEPT_BYTES: usize = 1 << 30;
/// Smaller allocations are cheap to get fresh.
const KEPT_MIN: usize = 1 << 20;
/// A kept allocation serves a request up to this much smaller (a plugin buffer's guard bytes and
/// row padding, a few rows of another image).
const SLACK: usize = 1 << 16;

/// A kept allocation that holds `len` bytes without wasting more than [`SLACK`], emptied.
fn take(len: usize) -> Option<Vec<u8>> {
    if len < KEPT_MIN {
        return None;
    }
    let mut kept = KEPT.lock();
    let i = kept.iter().rposition(|v| v.capacity() >= len && v.capacity() - len <= SLACK)?;
    let mut v = kept.remove(i);
    v.clear();
    Some(v)
}

/// An empty vector that holds at least `len` bytes: a kept allocation when one fits, else fresh.
pub fn with_capacity(len: usize) -> Vec<u8> {
    take(len).unwrap_or_else(|| Vec::with_capacity(len))
}

/// `len` zero bytes: a kept allocation zeroed when one fits, else fresh (untouched zero pages).
pub fn zeroed(len: usize) -> Vec<u8> {
    match take(len) {
        Some(mut v) => {
            v.resize(len, 0);
            v
        }
        None => vec![0; len],
    }
}

/// Keeps `v` for a later image when it is large enough (the oldest kept make room).
pub fn keep(v: Vec<u8>) {
    if v.capacity() < KEPT_MIN || v.capacity() > KEPT_BYTES {
        return;
    }
    let freed = {
        let mut kept = KEPT.lock();
        kept.push(v);
        let mut freed = Vec::new();
        while kept.iter().map(Vec::capacity).sum::<usize>() > KEPT_BYTES {
            freed.push(kept.remove(0));
        }
        freed
    };
    drop(freed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_allocation_serves_an_image_of_about_its_size_zeroed() {
        let mut v = vec![7u8; 3 << 20];
        v.truncate(1000);
        let ptr = v.as_ptr();
        keep(v);
        // Tests share the process's kept memory: look for this allocation among what comes back.
        let got = zeroed((3 << 20) - 100);
        if got.as_ptr() == ptr {
            assert!(got.iter().all(|&b| b == 0), "a reused allocation is zeroed");
        }
        assert_eq!(got.len(), (3 << 20) - 100);
        assert!(got.iter().all(|&b| b == 0));
        // Far smaller requests do not take it.
        assert!(with_capacity(1 << 20).capacity() < (3 << 20) - SLACK);
        keep(got);
    }
}
