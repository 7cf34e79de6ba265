//! Values rustls takes as `&'static` but that depend on run-time settings (code points,
//! backend, policy).

use std::sync::{Mutex, PoisonError};

/// Builds each distinct value once and keeps it for the life of the process.
///
/// Every entry is leaked: their number is bounded by the distinct configurations a process
/// builds (code points × backend × policy), never by peer input.
pub(crate) struct Interned<K, T: 'static> {
    entries: Mutex<Vec<(K, &'static T)>>,
}

impl<K: PartialEq, T> Interned<K, T> {
    pub(crate) const fn new() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The value for `key`, made by `make` the first time `key` is asked for.
    pub(crate) fn get_or_leak(&self, key: K, make: impl FnOnce() -> T) -> &'static T {
        // A panic elsewhere while holding the lock leaves the list consistent: it is only
        // ever pushed to.
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, value)) = entries.iter().find(|(k, _)| *k == key) {
            return value;
        }
        let value: &'static T = Box::leak(Box::new(make()));
        entries.push((key, value));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_built_once() {
        static CACHE: Interned<u16, String> = Interned::new();
        let mut built = 0;
        let a = CACHE.get_or_leak(1, || {
            built += 1;
            "one".to_owned()
        });
        let b = CACHE.get_or_leak(1, || {
            built += 1;
            "again".to_owned()
        });
        let c = CACHE.get_or_leak(2, || "two".to_owned());
        assert!(core::ptr::eq(a, b));
        assert_eq!((a.as_str(), c.as_str(), built), ("one", "two", 1));
    }
}
