//! 0-RTT on the server (TLS 1.3 early data, RFC 8446 §2.3, §4.2.10, §8; RFC 8470).
//!
//! Early data rides on a resumed session's PSK, so whoever captures a client's first flight
//! can send it again. Q-TLS accepts it only under these rules:
//!
//! - **Single use, fleet-wide** (§8.1): rustls accepts early data only on stateful sessions,
//!   which it *takes* from the store; with `sessions::RedisSessionStore` (the `redis`
//!   feature) that take is one `GETDEL`, so of all the copies of a flight sent to any node,
//!   one finds the session and the rest get a full handshake with their early data skipped.
//! - **Fresh** (§8.3): the client's ticket age (`obfuscated_ticket_age` less the ticket's
//!   `ticket_age_add`) must match the age the server sees within a window (10 s by default;
//!   [`EarlyDataSettings::freshness_window`]). rustls checks a fixed 60 s, so the acceptor
//!   checks its own window as the session is taken and, when it fails, makes rustls's check
//!   fail too: the session then resumes in 1-RTT and the early data is skipped.
//! - **At most [`EarlyDataSettings::max_size`] bytes** (16 KiB by default): rustls refuses a
//!   client that sends more with an `unexpected_message` alert.
//! - **Safe methods only**: the application decides from [`EarlyDataStatus`]; the `qtls`
//!   CLI's demo HTTP app answers GET, HEAD and OPTIONS received as early data at once and any
//!   other method with `425 Too Early` (RFC 8470 §5.2), after which the client repeats it
//!   once the handshake is complete.
//!
//! tokio-rustls's server stream only exists once the handshake is complete, which would
//! hold every early request until the client's Finished and make 0-RTT as slow as 1-RTT.
//! So a connection whose ClientHello offers early data runs on [`EarlyDataStream`], which
//! hands the application the early data before the handshake completes and sends its
//! answer with the server's first flight (rustls's "half-RTT data").
//!
//! Early data the server does not accept (a replay, a stale or unknown session, early data
//! off) is skipped, up to `max_early_data_size` in all, by trial decryption of Q-TLS's own
//! ahead of rustls (`trial`), which works around two defects of rustls's (CONFORMANCE.md
//! §3.1, §3.2).

mod freshness;
mod stream;
pub(crate) mod trial;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use self::freshness::{Freshness, FreshnessCheck, SessionAge};
pub use self::stream::{EarlyDataStream, ServerTlsStream};
pub(crate) use self::trial::{HandshakeSecretCapture, RecordOpener};

/// The 0-RTT settings of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EarlyDataSettings {
    /// Whether the server accepts early data at all (default off). Needs stateful sessions:
    /// tickets off.
    pub enabled: bool,
    /// The most early data a client may send, announced in each NewSessionTicket (default
    /// [`EarlyDataSettings::DEFAULT_MAX_SIZE`]).
    pub max_size: u32,
    /// How far the client's ticket age may be from the server's (default
    /// [`EarlyDataSettings::DEFAULT_FRESHNESS_WINDOW`]). The server counts a ticket's age in
    /// whole seconds (rustls stores its creation time so), and rustls's own check allows
    /// 60 s, so useful values lie between 2 s and 60 s.
    pub freshness_window: Duration,
}

impl EarlyDataSettings {
    /// 16 KiB: one record's worth of `max_early_data_size`
    /// ([RFC 8446 §4.6.1](https://www.rfc-editor.org/rfc/rfc8446#section-4.6.1)).
    pub const DEFAULT_MAX_SIZE: u32 = 16 * 1024;
    /// 10 s, as RFC 8446 §8.3 suggests for a window that absorbs clock skew and delays.
    pub const DEFAULT_FRESHNESS_WINDOW: Duration = Duration::from_secs(10);

    /// Early data on, with the default size and window.
    pub fn enabled() -> Self {
        Self {
            enabled: true,
            ..Self::default()
        }
    }

    /// Sets the most early data a client may send.
    pub fn with_max_size(mut self, max_size: u32) -> Self {
        self.max_size = max_size;
        self
    }

    /// Sets the ticket-age freshness window.
    pub fn with_freshness_window(mut self, window: Duration) -> Self {
        self.freshness_window = window;
        self
    }
}

impl Default for EarlyDataSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            max_size: Self::DEFAULT_MAX_SIZE,
            freshness_window: Self::DEFAULT_FRESHNESS_WINDOW,
        }
    }
}

/// What became of a connection's early data.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum EarlyDataStatus {
    /// The client sent none (or the server has early data off and the client did not ask).
    NotOffered,
    /// Accepted: what the application reads first may be early data; see
    /// [`EarlyDataProgress`].
    Accepted(Arc<EarlyDataProgress>),
    /// Offered and skipped: the client sends it again after the handshake.
    Rejected(EarlyDataRejection),
}

impl EarlyDataStatus {
    /// Whether the connection accepted early data.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted(_))
    }

    /// Early-data bytes the application has read so far (0 unless accepted): a request
    /// that took any came (at least in part) as early data.
    pub fn early_bytes_read(&self) -> u64 {
        match self {
            Self::Accepted(progress) => progress.early_bytes_read(),
            _ => 0,
        }
    }

    /// Whether what the application has read so far includes early data and the handshake
    /// is still incomplete: a request read now may be a replay and must be safe to repeat.
    pub fn reading_early_data(&self) -> bool {
        match self {
            Self::Accepted(progress) => {
                progress.early_bytes_read() > 0 && !progress.handshake_complete()
            }
            _ => false,
        }
    }
}

/// Why early data offered by a client was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EarlyDataRejection {
    /// The server has early data off.
    Disabled,
    /// The session is not in the store: already used (a replay), expired, evicted, unknown,
    /// or the store failed.
    NotResumable,
    /// The ticket age is outside the freshness window, by this much.
    Stale(Duration),
    /// rustls declined for another reason (not the first PSK, another cipher suite or ALPN
    /// protocol than the session's).
    Other,
}

impl EarlyDataRejection {
    /// A short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::NotResumable => "replay_or_unknown",
            Self::Stale(_) => "stale",
            Self::Other => "other",
        }
    }
}

/// How far the application has read into an accepted connection's early data; shared
/// between the [`EarlyDataStream`] and the application's [`EarlyDataStatus`].
#[derive(Debug, Default)]
pub struct EarlyDataProgress {
    early_bytes_read: AtomicU64,
    handshake_complete: AtomicBool,
}

impl EarlyDataProgress {
    /// Progress as if the application had read `early_bytes` of early data (for tests of
    /// code that reads requests; not part of the API).
    #[doc(hidden)]
    pub fn after_reading(early_bytes: u64) -> Arc<Self> {
        let progress = Self::default();
        progress
            .early_bytes_read
            .store(early_bytes, Ordering::Relaxed);
        Arc::new(progress)
    }

    /// Early-data bytes the application has read.
    pub fn early_bytes_read(&self) -> u64 {
        self.early_bytes_read.load(Ordering::Relaxed)
    }

    /// Whether the client's Finished arrived: from then on nothing can be a replay.
    pub fn handshake_complete(&self) -> bool {
        self.handshake_complete.load(Ordering::Relaxed)
    }
}
