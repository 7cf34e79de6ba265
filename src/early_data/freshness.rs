//! The freshness window on the ticket age of a session that carries early data (RFC 8446
//! §8.3), applied as rustls takes the session from the store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::server::StoresServerSessions;

use crate::gate::PskOffer;

/// What the freshness check made of the offered session when rustls took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// rustls never asked for the session (it chose a full handshake before looking).
    NotLookedUp,
    /// The store had no such session.
    Absent,
    Fresh,
    Stale(Duration),
}

/// The server's session store for one connection that offers early data: it takes the
/// session from the real store and applies the freshness window to the offered PSK.
pub(crate) struct FreshnessCheck {
    inner: Arc<dyn StoresServerSessions>,
    offer: PskOffer,
    window: Duration,
    verdict: Mutex<Freshness>,
}

impl FreshnessCheck {
    pub(crate) fn new(
        inner: Arc<dyn StoresServerSessions>,
        offer: PskOffer,
        window: Duration,
    ) -> Self {
        Self {
            inner,
            offer,
            window,
            verdict: Mutex::new(Freshness::NotLookedUp),
        }
    }

    pub(crate) fn verdict(&self) -> Freshness {
        *self.verdict.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks `value` (rustls's encoding of the session) against the window; a stale
    /// session is altered so that rustls's own check fails too. `None`: the value cannot be
    /// read, so the session is not resumed at all rather than resumed unchecked.
    fn check(&self, mut value: Vec<u8>, now_secs: u64) -> (Option<Vec<u8>>, Freshness) {
        let Some(age) = SessionAge::read(&value, now_secs) else {
            return (None, Freshness::Absent);
        };
        let client_age_ms = self
            .offer
            .obfuscated_ticket_age
            .wrapping_sub(age.age_obfuscation_offset);
        // As rustls computes it (ServerSessionValue::set_freshness).
        let server_age_ms =
            (now_secs.saturating_sub(age.creation_time_secs) as u32).saturating_mul(1000);
        let skew = Duration::from_millis(u64::from(server_age_ms.abs_diff(client_age_ms)));
        if skew <= self.window {
            return (Some(value), Freshness::Fresh);
        }
        // Make the client's age, as rustls will compute it, 2^31 ms away from the server's:
        // far outside rustls's 60 s, whatever the client sent.
        let offset = self
            .offer
            .obfuscated_ticket_age
            .wrapping_sub(server_age_ms.wrapping_add(1 << 31));
        age.write_offset(&mut value, offset);
        (Some(value), Freshness::Stale(skew))
    }
}

impl StoresServerSessions for FreshnessCheck {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let value = self.inner.take(key);
        if key != self.offer.identity.as_slice() {
            return value;
        }
        let (value, verdict) = match value {
            None => (None, Freshness::Absent),
            Some(value) => self.check(value, rustls::pki_types::UnixTime::now().as_secs()),
        };
        *self.verdict.lock().unwrap_or_else(|e| e.into_inner()) = verdict;
        value
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

impl core::fmt::Debug for FreshnessCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FreshnessCheck")
            .field("window", &self.window)
            .field("verdict", &self.verdict())
            .finish_non_exhaustive()
    }
}

/// The age fields at the end of rustls 0.23's encoding of a server session
/// (`ServerSessionValue`: ..., `creation_time_sec: u64`, `age_obfuscation_offset: u32`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionAge {
    pub(crate) creation_time_secs: u64,
    pub(crate) age_obfuscation_offset: u32,
}

impl SessionAge {
    const LEN: usize = 12;
    /// Sessions live at most 7 days (RFC 8446 §4.6.1); anything outside that, give or take
    /// a day of clock trouble, is not a creation time.
    pub(crate) const PLAUSIBLE: u64 = 8 * 24 * 3600;

    pub(crate) fn read(value: &[u8], now_secs: u64) -> Option<Self> {
        let tail = value.get(value.len().checked_sub(Self::LEN)?..)?;
        let (time, offset) = tail.split_at(8);
        let creation_time_secs = u64::from_be_bytes(time.try_into().ok()?);
        if creation_time_secs.abs_diff(now_secs) > Self::PLAUSIBLE {
            return None;
        }
        Some(Self {
            creation_time_secs,
            age_obfuscation_offset: u32::from_be_bytes(offset.try_into().ok()?),
        })
    }

    fn write_offset(&self, value: &mut [u8], offset: u32) {
        let at = value.len() - 4;
        value[at..].copy_from_slice(&offset.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn session_value(creation_time_secs: u64, offset: u32) -> Vec<u8> {
        let mut value = b"rest of the session".to_vec();
        value.extend(creation_time_secs.to_be_bytes());
        value.extend(offset.to_be_bytes());
        value
    }

    fn check(client_age_ms: u32, server_age_secs: u64, window: Duration) -> Freshness {
        let now = rustls::pki_types::UnixTime::now().as_secs();
        let offset = 0x1234_5678;
        let store = FreshnessCheck::new(
            Arc::new(rustls::server::NoServerSessionStorage {}),
            PskOffer {
                identity: b"id".to_vec(),
                obfuscated_ticket_age: client_age_ms.wrapping_add(offset),
                early_data: true,
            },
            window,
        );
        let (value, verdict) = store.check(session_value(now - server_age_secs, offset), now);
        let value = value.unwrap();
        let age = SessionAge::read(&value, now).unwrap();
        // What rustls will compute from the value handed to it.
        let rustls_client_age = client_age_ms
            .wrapping_add(offset)
            .wrapping_sub(age.age_obfuscation_offset);
        let rustls_skew = (server_age_secs as u32 * 1000).abs_diff(rustls_client_age);
        assert_eq!(rustls_skew > 60_000, matches!(verdict, Freshness::Stale(_)));
        verdict
    }

    #[test]
    fn ages_within_the_window_are_fresh_and_others_fail_rustls_too() {
        let window = Duration::from_secs(10);
        assert_eq!(check(30_500, 30, window), Freshness::Fresh);
        assert_eq!(check(39_000, 30, window), Freshness::Fresh);
        assert_eq!(
            check(45_000, 30, window),
            Freshness::Stale(Duration::from_secs(15))
        );
        // A client clock behind the server's, and one far off in either direction.
        assert!(matches!(check(1_000, 30, window), Freshness::Stale(_)));
        assert!(matches!(
            check(u32::MAX - 5, 30, window),
            Freshness::Stale(_)
        ));
        assert!(matches!(
            check(30_000 + (1 << 31), 30, window),
            Freshness::Stale(_)
        ));
        // rustls would allow 50 s; a 60 s window lets it through.
        assert_eq!(check(80_000, 30, Duration::from_secs(60)), Freshness::Fresh);
    }

    #[test]
    fn unreadable_sessions_are_not_resumed() {
        let store = FreshnessCheck::new(
            Arc::new(rustls::server::NoServerSessionStorage {}),
            PskOffer {
                identity: b"id".to_vec(),
                obfuscated_ticket_age: 0,
                early_data: true,
            },
            Duration::from_secs(10),
        );
        assert_eq!(store.check(vec![1, 2, 3], 0).0, None);
        assert_eq!(store.check(session_value(0, 0), 1 << 40).0, None);
    }
}
