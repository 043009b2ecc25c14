//! Mirrors `ofxMultiThread.h`: the host's SMP threading and mutex suite.

use crate::ofx_core::OfxStatus;
use std::ffi::{c_int, c_uint, c_void, CStr};

pub const kOfxMultiThreadSuite: &CStr = c"OfxMultiThreadSuite";

/// Opaque mutex (`struct OfxMutex`).
#[repr(C)]
pub struct OfxMutex {
    _private: [u8; 0],
}
/// Mutex blind data handle.
pub type OfxMutexHandle = *mut OfxMutex;

/// The function type passed to `multiThread`, run once per spawned thread.
pub type OfxThreadFunctionV1 = unsafe extern "C" fn(threadIndex: c_uint, threadMax: c_uint, customArg: *mut c_void);

/// Simple SMP style multi-processing (version 1). `func` is `Option` because C may pass NULL.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxMultiThreadSuiteV1 {
    pub multiThread: Option<
        unsafe extern "C" fn(func: Option<OfxThreadFunctionV1>, nThreads: c_uint, customArg: *mut c_void) -> OfxStatus,
    >,
    pub multiThreadNumCPUs: Option<unsafe extern "C" fn(nCPUs: *mut c_uint) -> OfxStatus>,
    pub multiThreadIndex: Option<unsafe extern "C" fn(threadIndex: *mut c_uint) -> OfxStatus>,
    pub multiThreadIsSpawnedThread: Option<unsafe extern "C" fn() -> c_int>,
    pub mutexCreate: Option<unsafe extern "C" fn(mutex: *mut OfxMutexHandle, lockCount: c_int) -> OfxStatus>,
    pub mutexDestroy: Option<unsafe extern "C" fn(mutex: OfxMutexHandle) -> OfxStatus>,
    pub mutexLock: Option<unsafe extern "C" fn(mutex: OfxMutexHandle) -> OfxStatus>,
    pub mutexUnLock: Option<unsafe extern "C" fn(mutex: OfxMutexHandle) -> OfxStatus>,
    pub mutexTryLock: Option<unsafe extern "C" fn(mutex: OfxMutexHandle) -> OfxStatus>,
}
