//! The multi-thread suite: real threads for `multiThread`, each knowing its index, and recursive mutexes.

use std::collections::HashMap;
use std::ffi::{c_int, c_uint, c_void};
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;

use ofx_abi::*;
use parking_lot::{Condvar, Mutex};

use super::{bad_arg, bad_handle, guard};
use crate::diag::{self, ViolationKind};
use crate::handles;

// The index of a `multiThread` thread (None on other threads).
thread_local! {
    static THREAD_INDEX: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// The plugin's `multiThread` argument, handed to every thread.
struct SendPtr(*mut c_void);
// SAFETY: the plugin hands the same argument to all its threads; sharing it is its contract.
unsafe impl Send for SendPtr {}
// SAFETY: as for Send: the threads only pass the pointer back to the plugin, whose contract covers sharing it.
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(&self) -> *mut c_void {
        self.0
    }
}

/// Threads `multiThread` runs for n = 0.
fn num_cpus() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

/// `multiThread`: runs the plugin's function on `n` scoped threads (0: one per CPU), each in the
/// caller's action context, and returns when all are done.
///
/// # Safety
/// `func` is safe to call with `arg` from `n` threads at once (the plugin's contract).
unsafe extern "C" fn multi_thread(func: Option<OfxThreadFunctionV1>, n: c_uint, arg: *mut c_void) -> OfxStatus {
    guard(|| {
        let Some(func) = func else {
            return bad_arg("multiThread", "NULL thread function");
        };
        let n = if n == 0 { num_cpus() } else { n.min(1024) };
        let ctx = diag::current();
        let arg = SendPtr(arg);
        std::thread::scope(|s| {
            for i in 0..n {
                let ctx = ctx.clone();
                let arg = &arg;
                s.spawn(move || {
                    THREAD_INDEX.with(|t| t.set(Some(i)));
                    // SAFETY: calling the plugin's thread function as the spec describes.
                    let run = || unsafe { func(i, n, arg.get()) };
                    match ctx {
                        Some(c) => diag::with_ctx(c, run),
                        None => run(),
                    }
                });
            }
        });
        kOfxStatOK
    })
}

/// `multiThreadNumCPUs`.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn multi_thread_num_cpus(out: *mut c_uint) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        if out.is_null() {
            return bad_arg("multiThreadNumCPUs", "NULL out pointer");
        }
        *out = num_cpus();
        kOfxStatOK
    })
}

/// `multiThreadIndex`: 0 outside `multiThread`.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn multi_thread_index(out: *mut c_uint) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        if out.is_null() {
            return bad_arg("multiThreadIndex", "NULL out pointer");
        }
        *out = THREAD_INDEX.with(|t| t.get()).unwrap_or(0);
        kOfxStatOK
    })
}

/// `multiThreadIsSpawnedThread`.
///
/// # Safety
/// None beyond the C ABI.
unsafe extern "C" fn multi_thread_is_spawned_thread() -> c_int {
    THREAD_INDEX.with(|t| t.get()).is_some() as c_int
}

/// A recursive mutex whose lock and unlock arrive as separate C calls.
pub(crate) struct RMutex {
    state: Mutex<(Option<ThreadId>, u32)>,
    cv: Condvar,
}

impl Drop for RMutex {
    fn drop(&mut self) {
        handles::forget(self);
    }
}

impl RMutex {
    fn lock(&self, block: bool) -> bool {
        let me = std::thread::current().id();
        let mut st = self.state.lock();
        loop {
            match st.0 {
                None => {
                    *st = (Some(me), 1);
                    return true;
                }
                Some(t) if t == me => {
                    st.1 += 1;
                    return true;
                }
                Some(_) if !block => return false,
                Some(_) => self.cv.wait(&mut st),
            }
        }
    }
    fn unlock(&self) -> bool {
        let me = std::thread::current().id();
        let mut st = self.state.lock();
        if st.0 != Some(me) {
            return false;
        }
        st.1 -= 1;
        if st.1 == 0 {
            st.0 = None;
            self.cv.notify_one();
        }
        true
    }
}

/// Live mutexes by handle.
fn mutexes() -> &'static Mutex<HashMap<usize, Arc<RMutex>>> {
    static M: OnceLock<Mutex<HashMap<usize, Arc<RMutex>>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// `mutexCreate`: a recursive mutex, locked `lock_count` times by the caller.
///
/// # Safety
/// `out` is NULL or writable.
unsafe extern "C" fn mutex_create(out: *mut OfxMutexHandle, lock_count: c_int) -> OfxStatus {
    // SAFETY: `out` is checked for NULL and otherwise writable (the caller's contract).
    guard(|| unsafe {
        if out.is_null() {
            return bad_arg("mutexCreate", "NULL out pointer");
        }
        let initial = if lock_count > 0 { (Some(std::thread::current().id()), lock_count as u32) } else { (None, 0) };
        let m = Arc::new(RMutex { state: Mutex::new(initial), cv: Condvar::new() });
        let h = handles::register(&m);
        mutexes().lock().insert(h as usize, m);
        *out = h as OfxMutexHandle;
        kOfxStatOK
    })
}

/// `mutexDestroy`.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn mutex_destroy(h: OfxMutexHandle) -> OfxStatus {
    guard(|| match mutexes().lock().remove(&(h as usize)) {
        Some(_) => kOfxStatOK,
        None => bad_handle("mutexDestroy", "mutex", h as *const c_void),
    })
}

/// `mutexLock`.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn mutex_lock(h: OfxMutexHandle) -> OfxStatus {
    guard(|| match handles::lookup::<RMutex>(h as *const c_void) {
        Some(m) => {
            m.lock(true);
            kOfxStatOK
        }
        None => bad_handle("mutexLock", "mutex", h as *const c_void),
    })
}

/// `mutexUnLock`: only by the thread that holds it.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn mutex_unlock(h: OfxMutexHandle) -> OfxStatus {
    guard(|| match handles::lookup::<RMutex>(h as *const c_void) {
        Some(m) if m.unlock() => kOfxStatOK,
        Some(_) => {
            diag::report(ViolationKind::BadArgument, "mutexUnLock: the calling thread does not hold the mutex");
            kOfxStatFailed
        }
        None => bad_handle("mutexUnLock", "mutex", h as *const c_void),
    })
}

/// `mutexTryLock`.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn mutex_try_lock(h: OfxMutexHandle) -> OfxStatus {
    guard(|| match handles::lookup::<RMutex>(h as *const c_void) {
        Some(m) if m.lock(false) => kOfxStatOK,
        Some(_) => kOfxStatFailed,
        None => bad_handle("mutexTryLock", "mutex", h as *const c_void),
    })
}

pub(super) static MULTI_THREAD_SUITE: OfxMultiThreadSuiteV1 = OfxMultiThreadSuiteV1 {
    multiThread: Some(multi_thread),
    multiThreadNumCPUs: Some(multi_thread_num_cpus),
    multiThreadIndex: Some(multi_thread_index),
    multiThreadIsSpawnedThread: Some(multi_thread_is_spawned_thread),
    mutexCreate: Some(mutex_create),
    mutexDestroy: Some(mutex_destroy),
    mutexLock: Some(mutex_lock),
    mutexUnLock: Some(mutex_unlock),
    mutexTryLock: Some(mutex_try_lock),
};

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn multi_thread_runs_real_threads_and_mutexes_are_recursive() {
        use std::sync::atomic::AtomicU32;
        /// # Safety
        /// `arg` points at an `AtomicU32`.
        unsafe extern "C" fn work(i: c_uint, n: c_uint, arg: *mut c_void) {
            // SAFETY: `arg` is the `AtomicU32` the test passes to `multiThread`.
            let counter = unsafe { &*(arg as *const AtomicU32) };
            assert_eq!(n, 4);
            let mut idx = 99;
            // SAFETY: a spawned thread of `multiThread`; `idx` is a live local.
            unsafe { (MULTI_THREAD_SUITE.multiThreadIndex.unwrap())(&mut idx) };
            assert_eq!(idx, i);
            // SAFETY: the suite function takes no arguments.
            assert_eq!(unsafe { (MULTI_THREAD_SUITE.multiThreadIsSpawnedThread.unwrap())() }, 1);
            counter.fetch_add(1 << i, Ordering::SeqCst);
        }
        let counter = AtomicU32::new(0);
        // SAFETY: `work` only reads `arg` as the `AtomicU32`, which outlives the call.
        let st = unsafe {
            (MULTI_THREAD_SUITE.multiThread.unwrap())(Some(work), 4, &counter as *const AtomicU32 as *mut c_void)
        };
        assert_eq!(st, kOfxStatOK);
        assert_eq!(counter.load(Ordering::SeqCst), 0b1111);
        // SAFETY: the suite function takes no arguments.
        assert_eq!(unsafe { (MULTI_THREAD_SUITE.multiThreadIsSpawnedThread.unwrap())() }, 0);

        let s = &MULTI_THREAD_SUITE;
        // SAFETY: `m` is a live local; the handles passed are only looked up.
        unsafe {
            let mut m: OfxMutexHandle = std::ptr::null_mut();
            assert_eq!((s.mutexCreate.unwrap())(&mut m, 0), kOfxStatOK);
            assert_eq!((s.mutexLock.unwrap())(m), kOfxStatOK);
            assert_eq!((s.mutexTryLock.unwrap())(m), kOfxStatOK, "recursive");
            let mh = m as usize;
            let other = std::thread::spawn(move || (MULTI_THREAD_SUITE.mutexTryLock.unwrap())(mh as OfxMutexHandle))
                .join()
                .unwrap();
            assert_eq!(other, kOfxStatFailed, "held by another thread");
            assert_eq!((s.mutexUnLock.unwrap())(m), kOfxStatOK);
            assert_eq!((s.mutexUnLock.unwrap())(m), kOfxStatOK);
            assert_eq!((s.mutexDestroy.unwrap())(m), kOfxStatOK);
            assert_eq!((s.mutexLock.unwrap())(m), kOfxStatErrBadHandle, "destroyed");
        }
    }
}
