//! The in-process session store: bounded and expiring.

use core::fmt;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustls::server::StoresServerSessions;

use super::{
    Counters, Outcome, SessionStore, SessionStoreStats, DEFAULT_SESSION_LIFETIME, MAX_SESSION_BYTES,
};

/// A [`StoresServerSessions`] in the process's memory: the default for a single node.
///
/// It holds sessions up to a bound in **bytes** (the identifiers and encodings together;
/// [`Self::DEFAULT_MAX_BYTES`] by default): storing one past the bound evicts the oldest. Each
/// is kept for at most its lifetime (24 h by default; expired ones are never returned and make
/// room first). A session over [`MAX_SESSION_BYTES`] (64 KiB) is not stored. `take` removes
/// under the same lock as it reads, so a session resumes at most once, however many
/// connections race for it.
///
/// What one client can do to others' sessions: the store sees identifiers and sessions, not
/// clients, so there is no per-client share. To evict a session stored before its own, a
/// client must store the whole bound's worth of sessions after it: a session is about 200
/// bytes plus the client's certificate chain after mTLS (rustls stores two per TLS 1.3 full
/// handshake), so with the default 32 MiB that is on the order of 60,000 full handshakes of
/// its own, within the session lifetime. Memory use is the bound plus about 100 bytes per
/// session (map slot, eviction-order item with a copy of the identifier).
///
/// ```
/// use std::time::Duration;
/// use rustls::server::StoresServerSessions;
/// use qtls::sessions::{MemorySessionStore, SessionStore};
///
/// let store = MemorySessionStore::with_max_bytes(1 << 20).with_lifetime(Duration::from_secs(3600));
/// assert!(store.put(b"id".to_vec(), b"secrets".to_vec()));
/// assert_eq!(store.bytes(), 9);
/// assert_eq!(store.take(b"id").as_deref(), Some(&b"secrets"[..]));
/// assert_eq!(store.take(b"id"), None); // single use
/// assert_eq!(store.stats().hits, 1);
/// ```
pub struct MemorySessionStore {
    max_entries: usize,
    max_bytes: usize,
    lifetime: Duration,
    inner: Mutex<Inner>,
    counters: Counters,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Vec<u8>, Entry>,
    /// Keys in the order they were stored, each with the sequence number of that `put`. A
    /// key overwritten or taken since leaves a stale item here (its number no longer matches
    /// the entry's), skipped when it reaches the front. Since every session gets the same
    /// lifetime, this is also expiry order: the front expires first.
    order: VecDeque<(u64, Vec<u8>)>,
    next_seq: u64,
    /// The identifiers and values of `entries`, in bytes.
    bytes: usize,
}

struct Entry {
    value: Vec<u8>,
    expires: Instant,
    seq: u64,
}

impl MemorySessionStore {
    /// The default bound, in bytes of identifiers and sessions: 32 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 32 << 20;

    /// The number of sessions earlier versions held by default (they counted sessions, not
    /// bytes); kept for [`Self::new`] callers.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A store of at most `max_bytes` bytes of identifiers and sessions, each resumable for
    /// 24 h. A bound of 0 stores nothing (`can_cache` is then false).
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        Self {
            max_entries: usize::MAX,
            max_bytes,
            lifetime: DEFAULT_SESSION_LIFETIME,
            inner: Mutex::new(Inner::default()),
            counters: Counters::default(),
        }
    }

    /// A store of at most `capacity` sessions and [`Self::DEFAULT_MAX_BYTES`] bytes, each
    /// resumable for 24 h. A capacity of 0 stores nothing (`can_cache` is then false).
    /// Prefer [`Self::with_max_bytes`]: a bound in sessions lets many small sessions evict a
    /// few large ones.
    pub fn new(capacity: usize) -> Self {
        Self {
            max_entries: capacity,
            ..Self::with_max_bytes(Self::DEFAULT_MAX_BYTES)
        }
    }

    /// Sets how long a stored session stays resumable.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The most sessions it holds (`usize::MAX` when only bytes bound it).
    pub fn capacity(&self) -> usize {
        self.max_entries
    }

    /// The most bytes of identifiers and sessions it holds.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// How long a stored session stays resumable.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// How many sessions it holds now (expired ones that were not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// The bytes of identifiers and sessions it holds now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether it holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters (at worst a stale order item), so carry on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, key: &[u8], remove: bool) -> Option<Vec<u8>> {
        let now = Instant::now();
        let mut inner = self.lock();
        let found = match inner.entries.get(key) {
            None => None,
            Some(entry) if entry.expires <= now => {
                inner.remove(key);
                None
            }
            Some(entry) if !remove => Some(entry.value.clone()),
            Some(_) => inner.remove(key),
        };
        if remove {
            inner.compact();
        }
        drop(inner);
        self.counters.count(match found {
            Some(_) => Outcome::Hit,
            None => Outcome::Absent,
        });
        found
    }
}

impl Inner {
    fn remove(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let entry = self.entries.remove(key)?;
        self.bytes -= key.len() + entry.value.len();
        Some(entry.value)
    }

    /// Drops expired sessions from the front, then the oldest live ones while there are more
    /// than `max_entries` or `max_bytes`; returns how many live sessions it evicted.
    fn trim(&mut self, now: Instant, max_entries: usize, max_bytes: usize) -> u64 {
        let mut evicted = 0;
        while let Some((seq, key)) = self.order.front() {
            let live = match self.entries.get(key) {
                Some(entry) if entry.seq == *seq => entry.expires > now,
                _ => {
                    // Stale: overwritten or already gone.
                    self.order.pop_front();
                    continue;
                }
            };
            if live && self.entries.len() <= max_entries && self.bytes <= max_bytes {
                break;
            }
            if live {
                evicted += 1;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.remove(&key);
            }
        }
        evicted
    }

    /// Keeps `order` from growing without bound when sessions are taken (not evicted): each
    /// take leaves a stale item behind. Amortised O(1): after a pass, as many stale items
    /// as live ones (and 64) must pile up before the next.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order
                .retain(|(seq, key)| entries.get(key).is_some_and(|e| e.seq == *seq));
        }
    }
}

impl StoresServerSessions for MemorySessionStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let size = key.len().saturating_add(value.len());
        if !self.can_cache() || size > MAX_SESSION_BYTES || size > self.max_bytes {
            self.counters.count(Outcome::NotStored);
            return false;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let entry = Entry {
            value,
            expires: now + self.lifetime,
            seq,
        };
        inner.remove(&key);
        inner.bytes += size;
        inner.order.push_back((seq, key.clone()));
        inner.entries.insert(key, entry);
        let evicted = inner.trim(now, self.max_entries, self.max_bytes);
        inner.compact();
        drop(inner);
        for _ in 0..evicted {
            self.counters.count(Outcome::Evicted);
        }
        self.counters.count(Outcome::Stored);
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key, false)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key, true)
    }

    fn can_cache(&self) -> bool {
        self.max_entries > 0 && self.max_bytes > 0
    }
}

impl SessionStore for MemorySessionStore {
    fn stats(&self) -> SessionStoreStats {
        self.counters.snapshot()
    }
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::with_max_bytes(Self::DEFAULT_MAX_BYTES)
    }
}

impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemorySessionStore")
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("lifetime", &self.lifetime)
            .field("len", &inner.entries.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn overwrite_keeps_one_entry_and_bound_holds() {
        let store = MemorySessionStore::new(2);
        assert!(store.put(b"a".to_vec(), b"1".to_vec()));
        assert!(store.put(b"a".to_vec(), b"2".to_vec()));
        assert_eq!(store.len(), 1);
        assert_eq!(store.get(b"a").unwrap(), b"2");
        assert!(store.put(b"b".to_vec(), b"3".to_vec()));
        assert!(store.put(b"c".to_vec(), b"4".to_vec()));
        // "a" was stored first (its newest put too), so it goes.
        assert_eq!(store.len(), 2);
        assert_eq!(store.get(b"a"), None);
        assert_eq!(store.stats().evicted, 1);
    }

    #[test]
    fn order_stays_bounded_under_take() {
        let store = MemorySessionStore::new(4);
        for i in 0u32..10_000 {
            let key = i.to_be_bytes().to_vec();
            assert!(store.put(key.clone(), vec![1]));
            assert!(store.take(&key).is_some());
        }
        assert!(store.lock().order.len() <= 65);
        assert!(store.is_empty());
    }

    #[test]
    fn zero_capacity_stores_nothing() {
        let store = MemorySessionStore::new(0);
        assert!(!store.can_cache());
        assert!(!store.put(b"a".to_vec(), b"1".to_vec()));
        assert_eq!(store.get(b"a"), None);
    }
}
