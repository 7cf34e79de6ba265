//! The KeyUpdate policy: update the traffic keys of a TLS 1.3 connection
//! ([RFC 8446 §4.6.3](https://www.rfc-editor.org/rfc/rfc8446#section-4.6.3)) after a number of
//! bytes or a time, whichever comes first.
//!
//! rustls already updates keys by itself when a cipher suite's confidentiality limit comes
//! near (that stays on); this policy adds an operator's limit on top. [`KeyUpdating`] wraps a
//! `tokio_rustls` stream (server or client), counts the application bytes read and written
//! through it and, when the policy is due, calls rustls's `refresh_traffic_keys`: our sending
//! keys change at once and the `key_update` message (update_requested) goes out with the next
//! record, so the peer changes its sending keys too and both directions end up updated.
//!
//! Bytes read and written both count, but the check runs before each write (and flush): the
//! `key_update` must go out on the writing side, and starting a write from inside a read
//! would steal the writer's wake-up when the stream is split into halves. So a connection
//! updates its keys with its next write once the policy is due, not on a timer, and one that
//! only reads sends its update when it next writes. rustls does not report the KeyUpdates it
//! receives, so the counters count the updates each side starts.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// When to update the traffic keys: after `bytes` application bytes (read and written
/// together) or after `interval`, whichever comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyUpdatePolicy {
    /// Bytes between updates (default 100 GB); 0 turns the byte limit off.
    pub bytes: u64,
    /// Time between updates (default 24 h); zero turns the time limit off.
    pub interval: Duration,
}

impl KeyUpdatePolicy {
    /// 100 GB.
    pub const DEFAULT_BYTES: u64 = 100_000_000_000;
    /// 24 hours.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(24 * 3600);

    /// No updates beyond rustls's own.
    pub const OFF: Self = Self {
        bytes: 0,
        interval: Duration::ZERO,
    };

    fn due(&self, bytes: u64, elapsed: Duration) -> Option<&'static str> {
        if self.bytes > 0 && bytes >= self.bytes {
            Some("bytes")
        } else if !self.interval.is_zero() && elapsed >= self.interval {
            Some("interval")
        } else {
            None
        }
    }
}

impl Default for KeyUpdatePolicy {
    fn default() -> Self {
        Self {
            bytes: Self::DEFAULT_BYTES,
            interval: Self::DEFAULT_INTERVAL,
        }
    }
}

/// A count of key updates, shared between streams and whoever reads it.
#[derive(Clone, Debug, Default)]
pub struct KeyUpdateCounter(Arc<AtomicU64>);

impl KeyUpdateCounter {
    /// Key updates started so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn increment(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A stream whose rustls connection can be asked for a key update.
pub trait RefreshTrafficKeys {
    /// Queues a `key_update` (see rustls's `ConnectionCommon::refresh_traffic_keys`).
    fn refresh_traffic_keys(&mut self) -> Result<(), rustls::Error>;
}

impl<IO> RefreshTrafficKeys for tokio_rustls::server::TlsStream<IO> {
    fn refresh_traffic_keys(&mut self) -> Result<(), rustls::Error> {
        self.get_mut().1.refresh_traffic_keys()
    }
}

impl<IO> RefreshTrafficKeys for crate::ServerTlsStream<IO> {
    fn refresh_traffic_keys(&mut self) -> Result<(), rustls::Error> {
        self.get_mut().1.refresh_traffic_keys()
    }
}

impl<IO> RefreshTrafficKeys for tokio_rustls::client::TlsStream<IO> {
    fn refresh_traffic_keys(&mut self) -> Result<(), rustls::Error> {
        self.get_mut().1.refresh_traffic_keys()
    }
}

/// A TLS stream that updates its traffic keys by a [`KeyUpdatePolicy`].
#[derive(Debug)]
pub struct KeyUpdating<S> {
    inner: S,
    policy: KeyUpdatePolicy,
    since_update: u64,
    last_update: Instant,
    updates: KeyUpdateCounter,
    local: u64,
    /// The connection cannot update keys (TLS 1.2).
    disabled: bool,
    side: &'static str,
}

impl<S: RefreshTrafficKeys> KeyUpdating<S> {
    /// Wraps an established connection; `side` (`"server"`, `"client"`) names it in the log.
    pub fn new(inner: S, policy: KeyUpdatePolicy, side: &'static str) -> Self {
        Self {
            inner,
            policy,
            since_update: 0,
            last_update: Instant::now(),
            updates: KeyUpdateCounter::default(),
            local: 0,
            disabled: false,
            side,
        }
    }

    /// Also counts this stream's updates in `counter` (a server-wide total, say).
    pub fn with_counter(mut self, counter: KeyUpdateCounter) -> Self {
        self.updates = counter;
        self
    }

    /// Key updates this stream started.
    pub fn key_updates(&self) -> u64 {
        self.local
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Starts a key update when the policy says so; true when one was queued.
    fn maybe_update(&mut self) -> bool {
        if self.disabled {
            return false;
        }
        let elapsed = self.last_update.elapsed();
        let Some(reason) = self.policy.due(self.since_update, elapsed) else {
            return false;
        };
        match self.inner.refresh_traffic_keys() {
            Ok(()) => {
                self.local += 1;
                self.updates.increment();
                tracing::info!(
                    side = self.side,
                    reason,
                    bytes = self.since_update,
                    elapsed_ms = elapsed.as_millis() as u64,
                    updates = self.local,
                    "key update"
                );
                self.since_update = 0;
                self.last_update = Instant::now();
                true
            }
            Err(e) => {
                tracing::debug!(side = self.side, "no key updates on this connection: {e}");
                self.disabled = true;
                false
            }
        }
    }
}

impl<S: AsyncRead + RefreshTrafficKeys + Unpin> AsyncRead for KeyUpdating<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.since_update += (buf.filled().len() - before) as u64;
        poll
    }
}

impl<S: AsyncWrite + RefreshTrafficKeys + Unpin> AsyncWrite for KeyUpdating<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.maybe_update();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &poll {
            this.since_update += *written as u64;
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.maybe_update();
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_by_bytes_or_time() {
        let policy = KeyUpdatePolicy {
            bytes: 10,
            interval: Duration::from_secs(1),
        };
        assert_eq!(policy.due(9, Duration::from_millis(999)), None);
        assert_eq!(policy.due(10, Duration::ZERO), Some("bytes"));
        assert_eq!(policy.due(0, Duration::from_secs(1)), Some("interval"));
        assert_eq!(KeyUpdatePolicy::OFF.due(u64::MAX, Duration::MAX), None);
        assert_eq!(
            KeyUpdatePolicy::default(),
            KeyUpdatePolicy {
                bytes: 100_000_000_000,
                interval: Duration::from_secs(86_400)
            }
        );
    }
}
