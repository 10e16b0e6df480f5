//! A small time-bounded cache for what a warm Lambda may reuse between
//! invocations (API-key lookups, organization records, limiter guesses).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries live `ttl`; the map is bounded so a flood of keys cannot grow
/// memory without limit (it drops expired entries, then everything).
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` entries living `ttl` each. A zero TTL
    /// disables it.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The live entry for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.live(key, V::clone)
    }

    /// Whether `key` has a live entry (without cloning it).
    pub fn holds<Q>(&self, key: &Q) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.live(key, |_| ()).is_some()
    }

    /// `read` of the live entry for `key`, under the lock.
    fn live<Q, R>(&self, key: &Q, read: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| read(v))
    }

    /// Stores `value` for `key`, replacing what was there.
    pub fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = TtlCache::new(Duration::from_millis(30), 8);
        cache.put("k", 1);
        assert_eq!(cache.get(&"k"), Some(1));
        assert!(cache.holds(&"k") && !cache.holds(&"other"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"k"), None);
        assert!(!cache.holds(&"k"));
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = TtlCache::new(Duration::from_secs(60), 2);
        cache.put(1, "a");
        cache.put(2, "b");
        cache.put(3, "c");
        assert_eq!(cache.get(&3), Some("c"));
        assert!(cache.entries.lock().unwrap().len() <= 2);
    }

    #[test]
    fn zero_ttl_disables_the_cache() {
        let cache = TtlCache::new(Duration::ZERO, 8);
        cache.put(1, 1);
        assert_eq!(cache.get(&1), None);
        assert!(!cache.holds(&1));
    }
}
