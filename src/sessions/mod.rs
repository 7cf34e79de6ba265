//! TLS session resumption for one node and for a fleet: session stores and ticket keys.
//!
//! TLS 1.3 resumes a session in one of two ways, and a rustls `ServerConfig` picks one:
//!
//! - **Stateful** ("session ID" resumption): the server keeps the session secrets and gives
//!   the client a random identifier. rustls stores and looks sessions up through
//!   [`rustls::server::StoresServerSessions`] (`ServerConfig::session_storage`), and in TLS 1.3
//!   it *takes* them: a session resumes at most once. [`MemorySessionStore`] keeps them in the
//!   process (the default for one node); `RedisSessionStore` (the `redis` feature) keeps them
//!   in Redis or Redis Cluster so that every node of a fleet can resume every session, and its `take` is a
//!   single `GETDEL`, atomic across the fleet. This is the mode that 0-RTT needs: rustls
//!   accepts early data only on stateful sessions.
//! - **Stateless** (tickets): the server encrypts the session into the ticket itself with
//!   [`rustls::server::ProducesTickets`] (`ServerConfig::ticketer`) and stores nothing.
//!   [`RotatingTicketer`] rotates its AES-256-GCM keys every period (24 h by default); a
//!   fleet's nodes derive the same keys from a shared [`FleetSecret`], so a ticket from one
//!   node resumes on any other (the design is in [`tickets`]).
//!
//! When a ticketer is enabled rustls uses it and ignores the store for TLS 1.3.
//!
//! A ClientHello may list thousands of PSK identities, and rustls looks each up in turn: a
//! connection made through [`with_lookup_budget`] (as [`crate::QtlsAcceptor`] makes every
//! connection) makes at most [`MAX_PSK_LOOKUPS`] store lookups or ticket decryptions, the
//! first identities winning; the others are misses that cost nothing.
//!
//! Every store counts what happened ([`SessionStore::stats`]): sessions stored, hits, misses
//! and why (absent, corrupt or of an earlier format, store error), and store errors. A failing store never fails a
//! connection: rustls falls back to a full handshake, and the store logs a (rate-limited)
//! warning.
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # mod with_redis {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use qtls::sessions::{
//!     FleetSecret, MemorySessionStore, RedisSessionStore, RotatingTicketer, SessionStore,
//! };
//!
//! # fn demo(mut config: rustls::ServerConfig) -> Result<(), qtls::Error> {
//! // One node: sessions in memory (at most 32 MiB of them, each for 24 h).
//! config.session_storage = Arc::new(MemorySessionStore::with_max_bytes(32 << 20));
//!
//! // A fleet: sessions in one Redis, encrypted under a key from the fleet's shared secret...
//! let secret = FleetSecret::from_file("/etc/qtls/fleet.key".as_ref())?;
//! let store = RedisSessionStore::builder("redis://10.0.0.5:6379".parse()?, secret.clone())
//!     .key_prefix("qtls:web:")
//!     .op_timeout(Duration::from_millis(100))
//!     .build()?;
//! config.session_storage = store.clone();
//! // ... or stateless tickets whose keys every node derives from the same secret.
//! config.ticketer = RotatingTicketer::fleet(secret).build()?;
//!
//! // Metrics.
//! let stats = store.stats();
//! println!("hits {} misses {} errors {}", stats.hits, stats.misses(), stats.store_errors);
//! # Ok(())
//! # }
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use rustls::server::StoresServerSessions;

mod budget;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod secret;
pub mod tickets;
#[cfg(feature = "redis")]
mod warn_limiter;

pub use self::budget::{with_lookup_budget, MAX_PSK_LOOKUPS};
pub use self::memory::MemorySessionStore;
#[cfg(feature = "redis")]
pub use self::redis::{RedisSessionStore, RedisStoreBuilder, RedisTarget, REDIS_PASSWORD_ENV};
pub use self::secret::{check_private_file, read_secret_file, FleetSecret};
pub use self::tickets::{RotatingTicketer, TicketStats, TicketerBuilder};

/// The largest session a store keeps, in bytes of identifier and encoding together; larger
/// ones are not stored (a full handshake next time). A session is about 200 bytes plus the
/// client's certificate chain after mTLS (some 20 KB for an ML-DSA-87 chain of three).
pub const MAX_SESSION_BYTES: usize = 64 * 1024;

/// How long a session stays resumable by default (rustls announces 24 h for stateful
/// sessions).
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A rustls session store that also reports what it did.
///
/// `Arc<dyn SessionStore>` converts to the `Arc<dyn StoresServerSessions>` a
/// `rustls::ServerConfig` takes (trait upcasting).
pub trait SessionStore: StoresServerSessions {
    /// A snapshot of the counters since the store was made.
    fn stats(&self) -> SessionStoreStats;
}

/// What a session store did since it was made: a snapshot of its counters.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStoreStats {
    /// Sessions stored (`put` returned `true`).
    pub stored: u64,
    /// Sessions that could not be stored (the store failed or timed out, holds nothing, or
    /// the session is over [`MAX_SESSION_BYTES`]).
    pub not_stored: u64,
    /// Lookups (`get` or `take`) that found a valid session.
    pub hits: u64,
    /// Lookups that found nothing: never stored, expired, evicted or already taken.
    pub misses_absent: u64,
    /// Lookups that found an entry that failed its version or authentication check (a
    /// corrupt value, one written by another fleet, or one of an earlier format); the entry
    /// is not used.
    pub misses_corrupt: u64,
    /// Of [`Self::misses_corrupt`], the entries in the unencrypted format that versions
    /// before the Redis store encrypted its values wrote (they expire by themselves).
    pub misses_old_format: u64,
    /// Lookups that failed because the store failed or did not answer in time.
    pub misses_store_error: u64,
    /// Failed store operations of any kind (puts and lookups), timeouts included.
    pub store_errors: u64,
    /// Sessions evicted before they expired to stay within the bound (memory store).
    pub evicted: u64,
}

impl SessionStoreStats {
    /// All lookups that did not resume a session.
    pub fn misses(&self) -> u64 {
        self.misses_absent + self.misses_corrupt + self.misses_store_error
    }
}

/// The live counters behind [`SessionStoreStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    stored: AtomicU64,
    not_stored: AtomicU64,
    hits: AtomicU64,
    misses_absent: AtomicU64,
    misses_corrupt: AtomicU64,
    misses_old_format: AtomicU64,
    misses_store_error: AtomicU64,
    store_errors: AtomicU64,
    evicted: AtomicU64,
}

/// One thing a store operation can end with, for [`Counters::count`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Failures and undecodable values happen in the Redis store only.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) enum Outcome {
    Stored,
    NotStored,
    PutFailed,
    Hit,
    Absent,
    Corrupt,
    /// A value of an earlier format: counted as corrupt too.
    OldFormat,
    LookupFailed,
    Evicted,
}

impl Counters {
    pub(crate) fn count(&self, outcome: Outcome) {
        let add = |c: &AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        match outcome {
            Outcome::Stored => add(&self.stored),
            Outcome::NotStored => add(&self.not_stored),
            Outcome::PutFailed => {
                add(&self.not_stored);
                add(&self.store_errors);
            }
            Outcome::Hit => add(&self.hits),
            Outcome::Absent => add(&self.misses_absent),
            Outcome::Corrupt => add(&self.misses_corrupt),
            Outcome::OldFormat => {
                add(&self.misses_corrupt);
                add(&self.misses_old_format);
            }
            Outcome::LookupFailed => {
                add(&self.misses_store_error);
                add(&self.store_errors);
            }
            Outcome::Evicted => add(&self.evicted),
        }
    }

    pub(crate) fn snapshot(&self) -> SessionStoreStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SessionStoreStats {
            stored: get(&self.stored),
            not_stored: get(&self.not_stored),
            hits: get(&self.hits),
            misses_absent: get(&self.misses_absent),
            misses_corrupt: get(&self.misses_corrupt),
            misses_old_format: get(&self.misses_old_format),
            misses_store_error: get(&self.misses_store_error),
            store_errors: get(&self.store_errors),
            evicted: get(&self.evicted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_snapshot() {
        let c = Counters::default();
        c.count(Outcome::Stored);
        c.count(Outcome::PutFailed);
        c.count(Outcome::Hit);
        c.count(Outcome::Absent);
        c.count(Outcome::Corrupt);
        c.count(Outcome::LookupFailed);
        let s = c.snapshot();
        assert_eq!(
            (s.stored, s.not_stored, s.hits, s.store_errors, s.misses()),
            (1, 1, 1, 2, 3)
        );
    }
}
