//! A bound on the session lookups one connection can cause, whatever its ClientHello offers.
//!
//! A TLS 1.3 ClientHello's `pre_shared_key` extension lists identities, and rustls 0.23
//! tries them in order until one resumes
//! ([RFC 8446 §4.2.11](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.11)): one
//! [`StoresServerSessions::take`] (a Redis `GETDEL`, waited for up to the store's operation
//! timeout) or one [`ProducesTickets::decrypt`] (a token call, with tickets in a PKCS#11
//! token) per identity. A 64 KiB ClientHello carries about 7,000 one-byte identities, so
//! without a bound one ClientHello of the peer's would cost the server thousands of round
//! trips.
//!
//! [`with_lookup_budget`] gives a connection its own copy of the `ServerConfig` whose store
//! and ticketer share one budget of [`MAX_PSK_LOOKUPS`] lookups: the first identities are
//! looked up, the rest are answered as misses without any I/O. A client offers one identity
//! (rustls, OpenSSL, browsers) or a few, so resumption is unaffected. The budget covers the
//! whole connection, both ClientHellos of a HelloRetryRequest included (rustls looks up
//! identities only in the ClientHello it answers with a ServerHello), and TLS 1.2's session
//! ID and ticket lookups too.

use core::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::server::{ProducesTickets, StoresServerSessions};

/// The most session lookups (store `get`/`take` and ticket decryptions together) that one
/// connection makes; further PSK identities are treated as unknown.
pub const MAX_PSK_LOOKUPS: usize = 4;

/// `config` with its session store and ticketer wrapped so that this connection makes at
/// most [`MAX_PSK_LOOKUPS`] lookups. [`crate::QtlsAcceptor`] does this for every
/// connection; do it yourself for each connection when driving rustls with these stores
/// directly.
///
/// The copy costs a `ServerConfig` clone (reference counts and a few small vectors), far less
/// than the handshake it serves. It is made for every connection rather than only for
/// ClientHellos that offer many identities, because the ClientHello the acceptor inspects is
/// not always the one rustls looks identities up in: after a HelloRetryRequest the second
/// ClientHello may bring a `pre_shared_key` extension of its own.
pub fn with_lookup_budget(config: &rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
    let budget = Arc::new(LookupBudget::new(MAX_PSK_LOOKUPS));
    let mut config = config.clone();
    config.session_storage = Arc::new(BudgetedStore {
        inner: config.session_storage,
        budget: Arc::clone(&budget),
    });
    config.ticketer = Arc::new(BudgetedTicketer {
        inner: config.ticketer,
        budget,
    });
    Arc::new(config)
}

/// Lookups a connection may still make.
struct LookupBudget {
    left: AtomicUsize,
}

impl LookupBudget {
    fn new(lookups: usize) -> Self {
        Self {
            left: AtomicUsize::new(lookups),
        }
    }

    /// Whether one more lookup may be made (and takes it from the budget).
    fn spend(&self) -> bool {
        let spent = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !spent {
            tracing::trace!(
                "PSK identity ignored: this connection made its {MAX_PSK_LOOKUPS} session lookups"
            );
        }
        spent
    }
}

/// A session store that answers lookups past the connection's budget with a miss.
struct BudgetedStore {
    inner: Arc<dyn StoresServerSessions>,
    budget: Arc<LookupBudget>,
}

impl StoresServerSessions for BudgetedStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.budget.spend().then(|| self.inner.get(key)).flatten()
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.budget.spend().then(|| self.inner.take(key)).flatten()
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

impl fmt::Debug for BudgetedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetedStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// A ticketer that answers decryptions past the connection's budget with `None`.
struct BudgetedTicketer {
    inner: Arc<dyn ProducesTickets>,
    budget: Arc<LookupBudget>,
}

impl ProducesTickets for BudgetedTicketer {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.inner.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.inner.encrypt(plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.budget
            .spend()
            .then(|| self.inner.decrypt(cipher))
            .flatten()
    }
}

impl fmt::Debug for BudgetedTicketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetedTicketer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sessions::MemorySessionStore;

    #[test]
    fn the_first_lookups_are_made_and_the_rest_are_misses() {
        let store = Arc::new(MemorySessionStore::new(16));
        for n in 0u8..8 {
            assert!(store.put(vec![n], vec![n]));
        }
        let budget = Arc::new(LookupBudget::new(MAX_PSK_LOOKUPS));
        let bounded = BudgetedStore {
            inner: Arc::clone(&store) as Arc<dyn StoresServerSessions>,
            budget: Arc::clone(&budget),
        };
        assert_eq!(bounded.get(&[0]), Some(vec![0]));
        assert_eq!(bounded.take(&[1]), Some(vec![1]));
        assert_eq!(bounded.take(&[9]), None);
        assert_eq!(bounded.take(&[2]), Some(vec![2]));
        // The budget is spent: no lookup reaches the store, present or not.
        assert_eq!(bounded.take(&[3]), None);
        assert_eq!(bounded.get(&[4]), None);
        let stats = crate::sessions::SessionStore::stats(&*store);
        assert_eq!((stats.hits, stats.misses()), (3, 1));
        // Storing is not a lookup.
        assert!(bounded.put(vec![10], vec![10]));
        assert_eq!(store.get(&[10]), Some(vec![10]));

        // The ticketer shares the connection's budget.
        let ticketer = BudgetedTicketer {
            inner: crate::sessions::RotatingTicketer::random().build().unwrap(),
            budget,
        };
        let ticket = ticketer.encrypt(b"session").unwrap();
        assert_eq!(ticketer.decrypt(&ticket), None);
        assert!(ticketer.enabled());
    }
}
