//! A byte-bounded LRU shared across render threads and instances.
//!
//! Hosts ask for the same frame more than once (Resolve renders several instances per clip,
//! scrubbing revisits frames); results are kept here, evicting the least recently used entries
//! once their total size passes the bound. Entries are few and large, so eviction scans.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::Mutex;

struct Entry<V> {
    value: Arc<V>,
    bytes: usize,
    used: u64,
}

struct Inner<K, V> {
    map: HashMap<K, Entry<V>>,
    bytes: usize,
    clock: u64,
}

/// Values are shared (`Arc`), so an entry evicted while a render still uses it stays valid.
pub struct ByteLru<K, V> {
    capacity: usize,
    inner: Mutex<Inner<K, V>>,
}

impl<K: Eq + Hash + Clone, V> ByteLru<K, V> {
    pub fn new(capacity_bytes: usize) -> Self {
        Self { capacity: capacity_bytes, inner: Mutex::new(Inner { map: HashMap::new(), bytes: 0, clock: 0 }) }
    }

    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let mut inner = self.inner.lock();
        inner.clock += 1;
        let now = inner.clock;
        inner.map.get_mut(key).map(|e| {
            e.used = now;
            e.value.clone()
        })
    }

    /// Stores `value` (of `bytes` bytes); a value larger than the whole bound is not kept.
    pub fn insert(&self, key: K, value: Arc<V>, bytes: usize) {
        if bytes > self.capacity {
            return;
        }
        let mut inner = self.inner.lock();
        inner.clock += 1;
        let used = inner.clock;
        if let Some(old) = inner.map.insert(key, Entry { value, bytes, used }) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        while inner.bytes > self.capacity {
            let Some(oldest) = inner.map.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
            if let Some(e) = inner.map.remove(&oldest) {
                inner.bytes -= e.bytes;
            }
        }
    }

    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.map.clear();
        inner.bytes = 0;
    }

    /// Bytes currently held.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_past_the_byte_bound() {
        let lru = ByteLru::new(100);
        lru.insert(1, Arc::new("a"), 40);
        lru.insert(2, Arc::new("b"), 40);
        assert!(lru.get(&1).is_some()); // 1 is now more recent than 2
        lru.insert(3, Arc::new("c"), 40);
        assert!(lru.get(&2).is_none(), "2 was least recently used");
        assert!(lru.get(&1).is_some() && lru.get(&3).is_some());
        assert_eq!(lru.bytes(), 80);
        lru.insert(4, Arc::new("too big"), 101);
        assert!(lru.get(&4).is_none());
        lru.insert(1, Arc::new("a2"), 10);
        assert_eq!(lru.bytes(), 50);
        assert_eq!(*lru.get(&1).unwrap(), "a2");
        lru.clear();
        assert!(lru.is_empty() && lru.bytes() == 0);
    }
}
