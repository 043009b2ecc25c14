//! Registry of live, plugin-visible handles.
//!
//! Every handle the host gives a plugin is the address of a host object held in an `Arc`. The host never
//! dereferences a handle it receives: it looks the address up here (keyed by address *and* type), upgrades the weak
//! reference, and only then uses the object. Unknown, stale or wrongly typed handles therefore become
//! `kOfxStatErrBadHandle` instead of a crash (the same idea as openfx-runner's `HandleManager`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::RwLock;

type Key = (usize, TypeId);
type Table = RwLock<HashMap<Key, Weak<dyn Any + Send + Sync>>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// Registers `obj` and returns its handle (its address).
pub fn register<T: Any + Send + Sync>(obj: &Arc<T>) -> *mut c_void {
    let addr = Arc::as_ptr(obj) as usize;
    let weak: Weak<dyn Any + Send + Sync> = Arc::downgrade(obj) as Weak<dyn Any + Send + Sync>;
    table().write().insert((addr, TypeId::of::<T>()), weak);
    addr as *mut c_void
}

/// The live object of type `T` behind `handle`, if there is one.
pub fn lookup<T: Any + Send + Sync>(handle: *const c_void) -> Option<Arc<T>> {
    if handle.is_null() {
        return None;
    }
    let weak = table().read().get(&(handle as usize, TypeId::of::<T>())).cloned()?;
    weak.upgrade()?.downcast::<T>().ok()
}

/// Removes the entry for an object that is being dropped (called from `Drop` impls).
pub fn forget<T: Any>(obj: &T) {
    let addr = obj as *const T as usize;
    table().write().remove(&(addr, TypeId::of::<T>()));
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A(#[allow(dead_code)] u32);
    struct B;

    #[test]
    fn lookup_checks_type_and_liveness() {
        let a = Arc::new(A(1));
        let h = register(&a);
        assert!(lookup::<A>(h).is_some());
        assert!(lookup::<B>(h).is_none(), "a handle of another type must not resolve");
        assert!(lookup::<A>(std::ptr::null()).is_none());
        assert!(lookup::<A>(0xdead_beef as *const c_void).is_none());
        drop(a);
        assert!(lookup::<A>(h).is_none(), "a dangling handle must not resolve");
    }
}
