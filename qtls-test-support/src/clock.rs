//! The one clock of the test PKIs: everything is issued at [`ISSUED`] and checked a day later.

use std::time::Duration;

use rustls::pki_types::UnixTime;
use time::OffsetDateTime;

/// 2026-01-01T00:00:00Z: when every test PKI is issued (its notBefore).
pub const ISSUED: i64 = 1_767_225_600;
/// One day in seconds.
pub const DAY: i64 = 86_400;

/// [`ISSUED`] as a date.
pub fn issued() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ISSUED).unwrap()
}

/// One day after issuance: inside every validity window.
pub fn now() -> UnixTime {
    at(ISSUED + DAY)
}

/// `unix` seconds as rustls's time.
pub fn at(unix: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(unix as u64))
}

/// A rustls clock that always says the same time ([`now`] by default).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub UnixTime);

impl Default for FixedClock {
    fn default() -> Self {
        Self(now())
    }
}

impl rustls::time_provider::TimeProvider for FixedClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.0)
    }
}
