//! The memory suite: tracked allocations, so memory a plugin never frees is found and reported.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, OnceLock};

use ofx_abi::*;
use parking_lot::Mutex;

use super::image_effect::image_memory;
use super::{bad_arg, bad_handle, guard, lookup_effect};
use crate::diag;

/// A live `memoryAlloc` block: its layout (to free it), owning instance (0: none) and diagnostics.
struct Alloc {
    layout: std::alloc::Layout,
    owner: u64,
    diag: usize,
}

/// Live `memoryAlloc` blocks by address.
fn allocations() -> &'static Mutex<HashMap<usize, Alloc>> {
    static M: OnceLock<Mutex<HashMap<usize, Alloc>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// `memoryAlloc`: 16-byte aligned, recorded with its owner so leaks are found on destroy and unload.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn memory_alloc(h: *mut c_void, n: usize, out: *mut *mut c_void) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract); the layout has a
    // non-zero size.
    guard(|| unsafe {
        let owner = if h.is_null() {
            0
        } else {
            match lookup_effect("memoryAlloc", h) {
                Ok(e) => e.id,
                Err(s) => return s,
            }
        };
        if out.is_null() {
            return bad_arg("memoryAlloc", "NULL out pointer");
        }
        let Ok(layout) = std::alloc::Layout::from_size_align(n.max(1), 16) else {
            return kOfxStatErrMemory;
        };
        if n > (1usize << 36) {
            return kOfxStatErrMemory;
        }
        let p = std::alloc::alloc(layout);
        if p.is_null() {
            return kOfxStatErrMemory;
        }
        let diag = diag::current().map(|c| Arc::as_ptr(&c.diag) as usize).unwrap_or(0);
        allocations().lock().insert(p as usize, Alloc { layout, owner, diag });
        *out = p as *mut c_void;
        kOfxStatOK
    })
}

/// `memoryFree`: only blocks from `memoryAlloc`, once.
///
/// # Safety
/// None beyond the C ABI: `p` is freed only when the table says `memoryAlloc` made it.
unsafe extern "C" fn memory_free(p: *mut c_void) -> OfxStatus {
    // SAFETY: `p` is in the table, so `memory_alloc` allocated it with this layout and it was not freed.
    guard(|| unsafe {
        if p.is_null() {
            return kOfxStatOK;
        }
        match allocations().lock().remove(&(p as usize)) {
            Some(a) => {
                std::alloc::dealloc(p as *mut u8, a.layout);
                kOfxStatOK
            }
            None => bad_handle("memoryFree", "memoryAlloc block (unknown or already freed)", p),
        }
    })
}

/// Frees and reports memory-suite and image-memory blocks still owned by an instance (or, with `owner == 0`,
/// unowned blocks allocated during the bundle's actions). Returns (blocks, bytes).
pub(crate) fn reclaim_leaks(owner: u64, diag_addr: usize) -> (usize, usize) {
    let mut blocks = 0;
    let mut bytes = 0;
    let mut allocs = allocations().lock();
    let leaked: Vec<usize> = allocs
        .iter()
        .filter(|(_, a)| a.owner == owner && (owner != 0 || a.diag == diag_addr))
        .map(|(p, _)| *p)
        .collect();
    for p in leaked {
        if let Some(a) = allocs.remove(&p) {
            blocks += 1;
            bytes += a.layout.size();
            // SAFETY: allocated by memory_alloc with this layout and not freed (still in the table).
            unsafe { std::alloc::dealloc(p as *mut u8, a.layout) };
        }
    }
    drop(allocs);
    if owner != 0 {
        let mut mem = image_memory().lock();
        let leaked: Vec<usize> = mem.iter().filter(|(_, m)| m.owner == owner).map(|(p, _)| *p).collect();
        for p in leaked {
            if let Some(m) = mem.remove(&p) {
                blocks += 1;
                bytes += m.len;
            }
        }
    }
    (blocks, bytes)
}

pub(super) static MEMORY_SUITE: OfxMemorySuiteV1 =
    OfxMemorySuiteV1 { memoryAlloc: Some(memory_alloc), memoryFree: Some(memory_free) };
