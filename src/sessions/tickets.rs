//! Stateless session tickets with rotating AES-256-GCM keys, for one node or a fleet.
//!
//! # The fleet design: keys derived from a shared secret and the time
//!
//! A ticket from one node must resume on every other, so the nodes need the same ticket keys
//! at the same time. The keys are not distributed: every node **derives** them. Time is cut
//! into periods of the rotation length (24 h by default), numbered from the Unix epoch
//! (`period = unix_time / rotation`), and period `n`'s key is
//!
//! ```text
//! key(n) = HKDF-SHA256(ikm = fleet secret, salt = none,
//!                      info = "qtls ticket key" ‖ n (u64 BE) ‖ rotation seconds (u64 BE))
//! ```
//!
//! from the [`FleetSecret`] that every node reads from the same file. A node encrypts with the
//! current period's key and decrypts with the current or the previous one, and every ticket
//! carries the time it was issued: it is accepted for exactly one period after that (what
//! [`RotatingTicketer::lifetime`] announces, as [RFC 8446
//! §4.6.1](https://www.rfc-editor.org/rfc/rfc8446#section-4.6.1) requires), never for the
//! up to two periods its key lives. An older ticket, one from two periods back, or one from a
//! period that has not started yet (a node whose clock runs ahead) does not decrypt and the
//! client gets a full handshake.
//!
//! Why this and not keys distributed through Redis wrapped under a key-encryption key:
//! deriving needs no coordination and no running service — nodes agree by construction,
//! tickets keep working when Redis is down, and there is no key-generation race or leader to
//! elect. What it costs: the fleet secret is long-lived, so whoever steals it can decrypt
//! every ticket (past and future) until it is replaced, which weakens the forward secrecy of
//! resumed sessions exactly as a stolen distributed key-encryption key would; keep the file
//! readable only by the service (the loader warns otherwise), and replace it to revoke. The
//! nodes' clocks must agree to well within a period (NTP), and every node must use the same
//! rotation length (it is part of the derivation, so a mismatch makes tickets fail to
//! decrypt rather than decrypt under confusing rules).
//!
//! A single node needs no secret: [`RotatingTicketer::random`] draws a random key for each
//! period in memory instead (like rustls's own `Ticketer`), with the same rotation and
//! acceptance rules; its tickets die with the process.
//!
//! # Ticket format
//!
//! ```text
//! version (1, = 2) ‖ period (8, u64 BE; the key id) ‖ issued (8, u64 BE; Unix seconds)
//!   ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)
//! ```
//!
//! The 29-byte header is the additional authenticated data, so the issue time cannot be
//! changed without failing authentication. Version 1 tickets (without the issue time) are
//! refused: after an upgrade, clients holding one make a full handshake once. The nonces are random: with at
//! most 2³² tickets per key the chance of a repeat stays negligible, and at 24 h periods that
//! is ~50,000 tickets a second per fleet. A ticket that is malformed, of an unknown version
//! or period, or fails authentication decrypts to `None`, which rustls answers with a full
//! handshake.
//!
//! ```no_run
//! use std::time::Duration;
//! use qtls::sessions::{FleetSecret, RotatingTicketer};
//!
//! # fn demo(mut config: rustls::ServerConfig) -> Result<(), qtls::Error> {
//! // A fleet: every node reads the same 32-byte (or 64-hex-digit) secret file.
//! let secret = FleetSecret::from_file("/etc/qtls/ticket.key".as_ref())?;
//! config.ticketer = RotatingTicketer::fleet(secret)
//!     .rotation_period(Duration::from_secs(12 * 3600))
//!     .build()?;
//!
//! // One node: random keys in memory, rotated every 24 h.
//! config.ticketer = RotatingTicketer::random().build()?;
//! # Ok(())
//! # }
//! ```

use core::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;
use zeroize::Zeroizing;

use super::FleetSecret;
use crate::Error;

/// The first byte of every ticket: the format.
pub const TICKET_VERSION: u8 = 2;
const HEADER_LEN: usize = 1 + 8 + 8 + NONCE_LEN;
const TAG_LEN: usize = 16;
const KEY_LABEL: &[u8] = b"qtls ticket key";
/// RFC 8446 §4.6.1: servers must not announce ticket lifetimes over seven days.
const MAX_ROTATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest ticket TLS can carry (a u16 length), so longer input is rejected unread.
const MAX_TICKET_LEN: usize = u16::MAX as usize;

/// The time source: seconds since the Unix epoch.
type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A rustls [`ProducesTickets`] that rotates its AES-256-GCM key every period and accepts a
/// ticket for one period after it was issued (with the previous period's key if need be). The design, and the ticket format, are in the
/// [module docs](self).
pub struct RotatingTicketer {
    source: KeySource,
    rotation: u64,
    clock: Clock,
    random: SystemRandom,
    /// The keys of the current and the previous period, when known (newest first).
    keys: Mutex<Vec<(u64, Arc<LessSafeKey>)>>,
    counters: TicketCounters,
}

/// What a [`RotatingTicketer`] did since it was made: tickets issued, tickets that resumed
/// a session, and the ones that did not, by why.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TicketStats {
    /// Tickets encrypted.
    pub issued: u64,
    /// Tickets that decrypted (the session resumes unless rustls finds it unsuitable).
    pub decrypted: u64,
    /// Tickets too short or long, or of another format version.
    pub malformed: u64,
    /// Tickets from a period whose key is gone (two or more periods back), not yet started,
    /// or (for a single node) from before the process started.
    pub unknown_key: u64,
    /// Tickets issued longer ago than their lifetime (the rotation period).
    pub expired: u64,
    /// Tickets whose authentication failed: tampered with, or made with another secret.
    pub forged: u64,
}

impl TicketStats {
    /// Tickets that did not decrypt.
    pub fn rejected(&self) -> u64 {
        self.malformed + self.unknown_key + self.expired + self.forged
    }
}

#[derive(Debug, Default)]
struct TicketCounters {
    issued: AtomicU64,
    decrypted: AtomicU64,
    malformed: AtomicU64,
    unknown_key: AtomicU64,
    expired: AtomicU64,
    forged: AtomicU64,
}

impl TicketCounters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

enum KeySource {
    Fleet(FleetSecret),
    Random,
}

/// Builds a [`RotatingTicketer`]; see [`RotatingTicketer::fleet`] and
/// [`RotatingTicketer::random`].
pub struct TicketerBuilder {
    source: KeySource,
    rotation: Duration,
    clock: Clock,
}

impl TicketerBuilder {
    /// How long each key makes new tickets (default 24 h; whole seconds, from 1 s to 7 days).
    /// Every node of a fleet must use the same value.
    pub fn rotation_period(mut self, period: Duration) -> Self {
        self.rotation = period;
        self
    }

    /// The clock (seconds since the Unix epoch) that decides the period; the system clock by
    /// default. Tests use it to rotate without waiting.
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the period and makes the ticketer.
    pub fn build(self) -> Result<Arc<RotatingTicketer>, Error> {
        if self.rotation < Duration::from_secs(1)
            || self.rotation > MAX_ROTATION
            || self.rotation.subsec_nanos() != 0
        {
            return Err(Error::Config(format!(
                "the ticket rotation period must be whole seconds from 1 s to 7 days, not {:?}",
                self.rotation
            )));
        }
        Ok(Arc::new(RotatingTicketer {
            source: self.source,
            rotation: self.rotation.as_secs(),
            clock: self.clock,
            random: SystemRandom::new(),
            keys: Mutex::new(Vec::with_capacity(3)),
            counters: TicketCounters::default(),
        }))
    }
}

impl fmt::Debug for TicketerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketerBuilder")
            .field("fleet", &matches!(self.source, KeySource::Fleet(_)))
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

fn system_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RotatingTicketer {
    /// The default rotation period.
    pub const DEFAULT_ROTATION: Duration = Duration::from_secs(24 * 3600);

    /// A ticketer for a fleet: keys derived from `secret` and the period, the same on every
    /// node that has the same secret.
    pub fn fleet(secret: FleetSecret) -> TicketerBuilder {
        Self::builder(KeySource::Fleet(secret))
    }

    /// A ticketer for one node: a random key per period, kept in memory.
    pub fn random() -> TicketerBuilder {
        Self::builder(KeySource::Random)
    }

    fn builder(source: KeySource) -> TicketerBuilder {
        TicketerBuilder {
            source,
            rotation: Self::DEFAULT_ROTATION,
            clock: Arc::new(system_clock),
        }
    }

    /// The number of the period now: the key id that new tickets carry.
    pub fn current_period(&self) -> u64 {
        (self.clock)() / self.rotation
    }

    /// The rotation period.
    pub fn rotation_period(&self) -> Duration {
        Duration::from_secs(self.rotation)
    }

    /// A snapshot of the counters since the ticketer was made.
    pub fn stats(&self) -> TicketStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = &self.counters;
        TicketStats {
            issued: get(&c.issued),
            decrypted: get(&c.decrypted),
            malformed: get(&c.malformed),
            unknown_key: get(&c.unknown_key),
            expired: get(&c.expired),
            forged: get(&c.forged),
        }
    }

    /// [`ProducesTickets::decrypt`], saying why a ticket does not decrypt.
    fn open(&self, ticket: &[u8]) -> Result<Vec<u8>, TicketMiss> {
        if ticket.len() < HEADER_LEN + TAG_LEN || ticket.len() > MAX_TICKET_LEN {
            return Err(TicketMiss::Malformed);
        }
        let (header, sealed) = ticket.split_at(HEADER_LEN);
        if header[0] != TICKET_VERSION {
            return Err(TicketMiss::Malformed);
        }
        let be_u64 = |bytes: &[u8]| {
            let mut n = [0u8; 8];
            n.copy_from_slice(bytes);
            u64::from_be_bytes(n)
        };
        let period = be_u64(&header[1..9]);
        let issued = be_u64(&header[9..17]);
        if issued / self.rotation != period {
            return Err(TicketMiss::Malformed);
        }
        let nonce =
            Nonce::try_assume_unique_for_key(&header[17..]).map_err(|_| TicketMiss::Malformed)?;
        let now = (self.clock)();
        // Checked before the key is looked at, on an unauthenticated header: a ticket whose
        // issue time was moved forward fails authentication below.
        if now.saturating_sub(issued) > self.rotation {
            return Err(TicketMiss::Expired);
        }
        let key = self
            .key(period, now / self.rotation)
            .ok_or(TicketMiss::UnknownKey)?;
        let mut plain = sealed.to_vec();
        let len = key
            .open_in_place(nonce, Aad::from(header), &mut plain)
            .map_err(|_| TicketMiss::Forged)?
            .len();
        plain.truncate(len);
        Ok(plain)
    }

    /// The key of `period`, if the ticketer has (or, for a fleet, can derive) it and `period`
    /// is the current or the previous one.
    fn key(&self, period: u64, now: u64) -> Option<Arc<LessSafeKey>> {
        if period != now && Some(period) != now.checked_sub(1) {
            return None;
        }
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        // Forget keys older than the previous period: rotation erases them, which is what
        // bounds the damage a later key compromise can do (for the random mode).
        keys.retain(|(p, _)| *p + 1 >= now);
        if let Some((_, key)) = keys.iter().find(|(p, _)| *p == period) {
            return Some(Arc::clone(key));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        match &self.source {
            KeySource::Fleet(secret) => secret.derive(
                &[
                    KEY_LABEL,
                    &period.to_be_bytes(),
                    &self.rotation.to_be_bytes(),
                ],
                bytes.as_mut_slice(),
            ),
            // A random key is only ever made for the current period: a previous period
            // this process had no key for issued no tickets here.
            KeySource::Random if period == now => self.random.fill(bytes.as_mut_slice()).ok()?,
            KeySource::Random => return None,
        }
        let key = Arc::new(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes.as_slice()).ok()?,
        ));
        keys.push((period, Arc::clone(&key)));
        keys.sort_by_key(|(p, _)| std::cmp::Reverse(*p));
        Some(key)
    }
}

impl ProducesTickets for RotatingTicketer {
    fn enabled(&self) -> bool {
        true
    }

    /// The rotation period (at most 7 days): a ticket is accepted for that long after it was
    /// issued, and no longer.
    fn lifetime(&self) -> u32 {
        u32::try_from(self.rotation).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let issued = (self.clock)();
        let period = issued / self.rotation;
        let key = self.key(period, period)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).ok()?;
        let mut ticket = Vec::with_capacity(HEADER_LEN + plain.len() + TAG_LEN);
        ticket.push(TICKET_VERSION);
        ticket.extend_from_slice(&period.to_be_bytes());
        ticket.extend_from_slice(&issued.to_be_bytes());
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(plain);
        let (header, body) = ticket.split_at_mut(HEADER_LEN);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&*header),
                body,
            )
            .ok()?;
        ticket.extend_from_slice(tag.as_ref());
        let ticket = (ticket.len() <= MAX_TICKET_LEN).then_some(ticket)?;
        TicketCounters::add(&self.counters.issued);
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let c = &self.counters;
        match self.open(ticket) {
            Ok(plain) => {
                TicketCounters::add(&c.decrypted);
                Some(plain)
            }
            Err(miss) => {
                tracing::debug!("ticket not accepted: {miss:?}");
                TicketCounters::add(match miss {
                    TicketMiss::Malformed => &c.malformed,
                    TicketMiss::UnknownKey => &c.unknown_key,
                    TicketMiss::Expired => &c.expired,
                    TicketMiss::Forged => &c.forged,
                });
                None
            }
        }
    }
}

/// Why a ticket did not decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TicketMiss {
    Malformed,
    UnknownKey,
    Expired,
    Forged,
}

impl fmt::Debug for RotatingTicketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatingTicketer")
            .field("fleet", &matches!(self.source, KeySource::Fleet(_)))
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn fake_clock() -> (Arc<AtomicU64>, impl Fn() -> u64 + Send + Sync + 'static) {
        let now = Arc::new(AtomicU64::new(1_000_000));
        let read = Arc::clone(&now);
        (now, move || read.load(Ordering::Relaxed))
    }

    #[test]
    fn random_mode_rotates_and_forgets() {
        let (now, clock) = fake_clock();
        let t = RotatingTicketer::random()
            .rotation_period(Duration::from_secs(10))
            .clock(clock)
            .build()
            .unwrap();
        assert_eq!(t.lifetime(), 10);
        let ticket = t.encrypt(b"hello").unwrap();
        assert_eq!(ticket.len(), HEADER_LEN + 5 + TAG_LEN);
        assert_eq!(t.decrypt(&ticket).unwrap(), b"hello");
        now.fetch_add(10, Ordering::Relaxed);
        assert_eq!(t.decrypt(&ticket).unwrap(), b"hello");
        let newer = t.encrypt(b"newer").unwrap();
        now.fetch_add(10, Ordering::Relaxed);
        assert_eq!(t.decrypt(&ticket), None);
        assert_eq!(t.decrypt(&newer).unwrap(), b"newer");
        assert!(t.keys.lock().unwrap().len() <= 2);
        let mut tampered = newer.clone();
        tampered[HEADER_LEN] ^= 1;
        assert_eq!(t.decrypt(&tampered), None);
        assert_eq!(t.decrypt(&newer[..HEADER_LEN]), None);
        let stats = t.stats();
        assert_eq!(
            (
                stats.issued,
                stats.decrypted,
                stats.expired,
                stats.forged,
                stats.malformed
            ),
            (2, 3, 1, 1, 1)
        );
        assert_eq!(stats.rejected(), 3);
    }

    #[test]
    fn tickets_expire_one_lifetime_after_issue_and_the_issue_time_is_authenticated() {
        let (now, clock) = fake_clock();
        let t = RotatingTicketer::random()
            .rotation_period(Duration::from_secs(10))
            .clock(clock)
            .build()
            .unwrap();
        now.fetch_add(5, Ordering::Relaxed); // the middle of a period
        let ticket = t.encrypt(b"hello").unwrap();
        now.fetch_add(10, Ordering::Relaxed);
        assert_eq!(t.decrypt(&ticket).unwrap(), b"hello");
        now.fetch_add(1, Ordering::Relaxed); // 11 s: the key is still there, the ticket is old
        assert_eq!(t.decrypt(&ticket), None);
        // Moving the issue time forward (within the same period) fails authentication.
        let mut younger = ticket.clone();
        younger[16] += 4;
        assert_eq!(t.decrypt(&younger), None);
        let stats = t.stats();
        assert_eq!((stats.expired, stats.forged), (1, 1), "{stats:?}");
    }

    #[test]
    fn bad_periods_are_refused() {
        for period in [
            Duration::ZERO,
            Duration::from_millis(1500),
            Duration::from_secs(8 * 24 * 3600),
        ] {
            assert!(RotatingTicketer::random()
                .rotation_period(period)
                .build()
                .is_err());
        }
    }

    #[test]
    fn garbage_does_not_decrypt() {
        let t = RotatingTicketer::random().build().unwrap();
        for len in [
            0,
            1,
            HEADER_LEN,
            HEADER_LEN + TAG_LEN,
            200,
            MAX_TICKET_LEN + 1,
        ] {
            assert_eq!(t.decrypt(&vec![TICKET_VERSION; len]), None);
        }
    }
}
