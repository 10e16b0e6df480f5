//! Caches that never lie (SPEC §5): a warm function may reuse what it read —
//! API keys, service tokens, organization records, policies, identity
//! providers — only while it is provably current.
//!
//! Every change of an owner's credentials, policies or plan bumps the owner's
//! **version**, kept on its limiter bucket item(s) in the transaction that
//! makes the change ([`crate::organizations::change`]). Every request already
//! writes that item (the limiter's `UpdateItem`), which returns the version:
//! a cached entry stamped with an older version is dropped and read again.
//! Freshness therefore costs no DynamoDB call while nothing changes, and one
//! strongly consistent read per stale entry right after a change.
//!
//! The stamp of an entry is the owner's version this function had seen
//! *before* it read the entry ([`Versions::mark`], [`Versions::known_before`]):
//! a change committed after that has a higher version, so the next request
//! notices it. Stamping with a version seen after the read could hide a change
//! committed between the read and the write.

use crate::cache::TtlCache;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An owner's version: 0 until its first change.
pub type Version = u64;

/// The version of what a request read from the table itself: current for
/// that request whatever the owner's version turns out to be (a change
/// answered before the request began is in what it read).
pub const FRESH: Version = Version::MAX;

/// How long an entry may live even while current: a bound on memory, not on
/// staleness (that is the version's job).
pub const CACHE_TTL: Duration = Duration::from_secs(300);

/// Bound on entries per cache, so a flood of valid credentials cannot grow
/// memory without limit.
pub const CACHE_CAPACITY: usize = 4_096;

/// The versions this function's limiter writes returned, in the order they
/// came back.
#[derive(Debug, Default)]
pub struct Versions {
    /// Count of versions recorded so far: a logical clock of this function.
    recorded: AtomicU64,
    /// Per owner (its bucket's partition key): the version and when (on the
    /// logical clock) it was recorded.
    seen: Mutex<HashMap<String, (Version, u64)>>,
}

/// A point on a function's logical clock, taken before a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark(u64);

impl Versions {
    /// Where the logical clock stands now: take it before reading anything
    /// a cache will keep.
    pub fn mark(&self) -> Mark {
        Mark(self.recorded.load(Ordering::SeqCst))
    }

    /// Records the version a write on `owner`'s bucket returned.
    pub fn record(&self, owner: &str, version: Version) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let at = self.recorded.fetch_add(1, Ordering::SeqCst) + 1;
        let entry = seen.entry(owner.to_owned()).or_insert((version, at));
        // Versions only grow; an older answer arriving late changes nothing.
        if version >= entry.0 {
            *entry = (version, at);
        }
        if seen.len() > 4 * CACHE_CAPACITY {
            seen.clear();
        }
    }

    /// The stamp for an entry of `owner` read after `mark`: the version known
    /// before the read, or 0 (checked again by the next request) when none was.
    pub fn known_before(&self, owner: &str, mark: Mark) -> Version {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(owner)
            .filter(|(_, at)| *at <= mark.0)
            .map_or(0, |(version, _)| *version)
    }
}

/// A warm-function cache whose entries carry the version they are current at.
#[derive(Debug)]
pub struct VersionedCache<K, V> {
    entries: TtlCache<K, (Version, V)>,
}

impl<K: Eq + Hash, V: Clone> VersionedCache<K, V> {
    /// An empty cache; a zero `ttl` disables it.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: TtlCache::new(ttl, CACHE_CAPACITY),
        }
    }

    /// The entry for `key` with its stamp, whatever the current version.
    pub fn get(&self, key: &K) -> Option<(Version, V)> {
        self.entries.get(key)
    }

    /// Whether there is an entry for `key`, whatever its stamp.
    pub fn holds(&self, key: &K) -> bool {
        self.entries.holds(key)
    }

    /// The entry for `key` if it is current at `version`.
    pub fn current(&self, key: &K, version: Version) -> Option<V> {
        self.get(key)
            .filter(|(stamp, _)| *stamp >= version)
            .map(|(_, v)| v)
    }

    /// Keeps `value`, current at `stamp`.
    pub fn put(&self, key: K, stamp: Version, value: V) {
        self.entries.put(key, (stamp, value));
    }
}

/// A request's view of its owner's version: what its limiter write returned
/// (`version`) and where the function's logical clock stood when it started
/// (`mark`, for stamping what it reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    /// The owner's version as of this request.
    pub version: Version,
    /// Taken before the request read anything.
    pub mark: Mark,
}

impl<K: Eq + Hash, V: Clone> VersionedCache<K, V> {
    /// The entry for `key` if current for the request `at`; else `read` it
    /// and keep it, stamped with the version `owner` had before the read.
    pub async fn get_or_read<E, F>(
        &self,
        key: K,
        at: Current,
        versions: &Versions,
        owner: &str,
        read: F,
    ) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.current(&key, at.version) {
            return Ok(value);
        }
        let value = read.await?;
        self.put(key, versions.known_before(owner, at.mark), value.clone());
        Ok(value)
    }
}

/// What a request read from a cache or the table, and how current it is.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    /// The value.
    pub value: T,
    /// `None`: read from the table by this request (current for it);
    /// `Some(stamp)`: from the cache, current at `stamp`.
    pub cached_at: Option<Version>,
}

impl<T> Fetched<T> {
    /// Whether it must be read again for a request that saw `version`.
    pub fn stale_at(&self, version: Version) -> bool {
        self.cached_at.is_some_and(|stamp| stamp < version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_the_version_known_before_the_read() {
        let versions = Versions::default();
        versions.record("LIMIT#ORG#a", 3);
        let mark = versions.mark();
        assert_eq!(versions.known_before("LIMIT#ORG#a", mark), 3);
        assert_eq!(versions.known_before("LIMIT#ORG#b", mark), 0);
        // A version recorded after the mark may describe a change the read
        // missed: it is not used as the stamp.
        versions.record("LIMIT#ORG#a", 4);
        assert_eq!(versions.known_before("LIMIT#ORG#a", mark), 0);
        assert_eq!(versions.known_before("LIMIT#ORG#a", versions.mark()), 4);
        // Versions never go back.
        versions.record("LIMIT#ORG#a", 2);
        assert_eq!(versions.known_before("LIMIT#ORG#a", versions.mark()), 4);
    }

    #[test]
    fn entries_are_current_only_at_their_version_or_older() {
        let cache = VersionedCache::new(Duration::from_secs(60));
        cache.put("k", 5, "v");
        assert_eq!(cache.current(&"k", 5), Some("v"));
        assert_eq!(cache.current(&"k", 4), Some("v"));
        assert_eq!(cache.current(&"k", 6), None);
        let fetched = Fetched {
            value: (),
            cached_at: Some(5),
        };
        assert!(fetched.stale_at(6) && !fetched.stale_at(5));
        assert!(
            !Fetched {
                value: (),
                cached_at: None
            }
            .stale_at(99)
        );
    }
}
