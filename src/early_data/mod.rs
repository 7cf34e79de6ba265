//! 0-RTT on the server (TLS 1.3 early data, RFC 8446 §2.3, §4.2.10, §8; RFC 8470).
//!
//! Early data rides on a resumed session's PSK, so whoever captures a client's first flight
//! can send it again. Q-TLS accepts it only under these rules:
//!
//! - **Single use, fleet-wide** (§8.1): rustls accepts early data only on stateful sessions,
//!   which it *takes* from the store; with [`crate::sessions::RedisSessionStore`] that take is
//!   one `GETDEL`, so of all the copies of a flight sent to any node, one finds the session
//!   and the rest get a full handshake with their early data skipped.
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

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use rustls::server::StoresServerSessions;
use rustls::ServerConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::gate::{PskOffer, RECORD_HEADER};

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

/// The largest TLSCiphertext fragment (RFC 8446 §5.2: 2^14 + 256).
const MAX_ENCRYPTED_RECORD: usize = 16384 + 256;
/// ContentType application_data and change_cipher_spec (RFC 8446 §5.1).
const APPLICATION_DATA: u8 = 0x17;
const CHANGE_CIPHER_SPEC: u8 = 0x14;

/// The records of `arrived` with the complete application_data records among them dropped
/// while their lengths fit `budget`; change_cipher_spec records are kept in place, and
/// everything from the first other record (or partial record) on is kept as it is.
pub(crate) fn drop_early_records(arrived: &[u8], mut budget: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut rest = arrived;
    while rest.len() >= RECORD_HEADER {
        let length = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        let Some(record) = rest.get(..RECORD_HEADER + length) else {
            break; // partial
        };
        match record[0] {
            APPLICATION_DATA if length <= budget && length <= MAX_ENCRYPTED_RECORD => {
                budget -= length;
            }
            CHANGE_CIPHER_SPEC => kept.extend_from_slice(record),
            _ => break,
        }
        rest = &rest[record.len()..];
    }
    kept.extend_from_slice(rest);
    kept
}

/// A server TLS stream that lets the application read early data before the handshake is
/// complete (and answer it in the server's first flight); after that it is an ordinary
/// TLS stream. The acceptor uses it for connections whose ClientHello offers early data,
/// and for handshakes whose records it processes off the runtime's workers (a key in a
/// token, client-certificate verification).
pub struct EarlyDataStream<IO> {
    io: IO,
    connection: ServerConnection,
    progress: Arc<EarlyDataProgress>,
    close_notify_sent: bool,
    /// Process handshake records off the runtime's workers (`block_in_place`): the server's
    /// key or ticketer is in a token, or client chains are verified (which may fetch).
    offload_processing: bool,
}

impl<IO> core::fmt::Debug for EarlyDataStream<IO> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EarlyDataStream")
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl<IO> EarlyDataStream<IO> {
    pub(crate) fn new(io: IO, connection: ServerConnection) -> Self {
        Self {
            io,
            connection,
            progress: Arc::default(),
            close_notify_sent: false,
            offload_processing: false,
        }
    }

    /// Processes records inside `tokio::task::block_in_place` (on a multi-threaded runtime
    /// only; elsewhere this is ignored).
    pub(crate) fn with_offloaded_processing(mut self, offload: bool) -> Self {
        self.offload_processing = offload && crate::blocking::can_block_in_place();
        self
    }

    /// The transport and the rustls connection.
    pub fn get_ref(&self) -> (&IO, &ServerConnection) {
        (&self.io, &self.connection)
    }

    /// The transport and the rustls connection, mutably.
    pub fn get_mut(&mut self) -> (&mut IO, &mut ServerConnection) {
        (&mut self.io, &mut self.connection)
    }

    pub(crate) fn progress(&self) -> &Arc<EarlyDataProgress> {
        &self.progress
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> EarlyDataStream<IO> {
    /// Skips the records of early data the server did not accept that have already arrived,
    /// up to `budget` bytes (RFC 8446 §4.2.10: "skips past early data ... up to the
    /// configured max_early_data_size"). Call it before [`Self::start`] sends the server's
    /// flight: a client cannot send its second flight before receiving ours, so every
    /// application_data record that arrived by then is early data, and dropping it here
    /// needs no trial decryption.
    ///
    /// Why not leave it to rustls: rustls 0.23 trial-decrypts such records with the
    /// handshake key, but does not mark a dropped record consumed until a later record
    /// decrypts, so every `process_new_packets` call until the client's Finished drops the
    /// same records again and charges them again to the 16 KiB allowance; early data of a
    /// few KiB read in several pieces then ends in bad_record_mac. Records that arrive
    /// after our flight are still left to rustls's trial decryption.
    pub(crate) async fn skip_rejected_early_data(&mut self, budget: usize) -> io::Result<()> {
        // Enough for the allowance in whole records plus one record's worth beyond it.
        let limit = budget + 2 * (RECORD_HEADER + MAX_ENCRYPTED_RECORD);
        let mut arrived = Vec::new();
        std::future::poll_fn(|cx| {
            let mut chunk = [0u8; 4096];
            while arrived.len() < limit {
                let want = chunk.len().min(limit - arrived.len());
                let mut buf = ReadBuf::new(&mut chunk[..want]);
                match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                        arrived.extend_from_slice(buf.filled());
                    }
                    // End of stream: rustls will see it when it next reads.
                    Poll::Ready(Ok(())) => break,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    // Nothing more now; what comes later is rustls's.
                    Poll::Pending => break,
                }
            }
            Poll::Ready(Ok(()))
        })
        .await?;
        let kept = drop_early_records(&arrived, budget);
        let mut rest = &kept[..];
        while !rest.is_empty() {
            if self.connection.read_tls(&mut rest)? == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Processes what arrived with the ClientHello (early data included) and sends the
    /// server's flight.
    pub(crate) async fn start(&mut self) -> io::Result<()> {
        if let Err(e) = self.connection.process_new_packets() {
            let _ = std::future::poll_fn(|cx| self.poll_flush_tls(cx)).await;
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        self.note_handshake_state();
        std::future::poll_fn(|cx| self.poll_flush_tls(cx)).await
    }

    fn note_handshake_state(&self) {
        if !self.connection.is_handshaking() {
            self.progress
                .handshake_complete
                .store(true, Ordering::Relaxed);
        }
    }

    /// Drives the rest of the handshake: the client's Finished, then the sessions rustls
    /// issues after it. Application data that arrives meanwhile stays in rustls's buffer.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_flush_tls(cx))?;
            if !self.connection.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if ready!(self.poll_read_tls(cx))? == 0 {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Drives the handshake to its end (for a connection whose early data was skipped).
    pub(crate) async fn complete_handshake(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_handshake(cx)).await
    }

    /// Reads TLS records from the transport and processes them; 0 at end of stream.
    fn poll_read_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let read = match self.connection.read_tls(&mut SyncAdapter {
            io: &mut self.io,
            cx,
        }) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
            Err(e) => return Poll::Ready(Err(e)),
        };
        // After the handshake nothing blocks (no signing, tickets or verification), and
        // moving the worker off its thread for every record would cost more than the record.
        let processed = if self.offload_processing && self.connection.is_handshaking() {
            tokio::task::block_in_place(|| self.connection.process_new_packets())
        } else {
            self.connection.process_new_packets()
        };
        if let Err(e) = processed {
            // Send the alert rustls queued; the error is what the caller needs to hear.
            let _ = self.poll_flush_tls(cx);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
        self.note_handshake_state();
        Poll::Ready(Ok(read))
    }

    /// Writes every TLS record rustls has queued.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.connection.wants_write() {
            let written = match self.connection.write_tls(&mut SyncAdapter {
                io: &mut self.io,
                cx,
            }) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for EarlyDataStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            // Early data first: it precedes everything sent after the handshake.
            if let Some(mut early) = this.connection.early_data() {
                let n = early.read(buf.initialize_unfilled())?;
                if n > 0 {
                    buf.advance(n);
                    this.progress
                        .early_bytes_read
                        .fetch_add(n as u64, Ordering::Relaxed);
                    return Poll::Ready(Ok(()));
                }
            }
            match this.connection.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Our flight (or an alert, a KeyUpdate) may be waiting; reading goes on regardless.
            if let Poll::Ready(Err(e)) = this.poll_flush_tls(cx) {
                return Poll::Ready(Err(e));
            }
            ready!(this.poll_read_tls(cx))?;
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for EarlyDataStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let accepted = this.connection.writer().write(buf)?;
            match this.poll_flush_tls(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // rustls's buffer is full and the transport is not taking more: wait for it.
                Poll::Pending if accepted == 0 => return Poll::Pending,
                Poll::Pending => return Poll::Ready(Ok(accepted)),
                Poll::Ready(Ok(())) if accepted > 0 || buf.is_empty() => {
                    return Poll::Ready(Ok(accepted))
                }
                // Everything went out and rustls took nothing: its buffer was full, and is
                // empty now; or it holds the data until the handshake completes.
                Poll::Ready(Ok(())) if this.connection.is_handshaking() => {
                    if ready!(this.poll_read_tls(cx))? == 0 {
                        return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
                    }
                }
                Poll::Ready(Ok(())) => {}
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.connection.writer().flush()?;
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Closing before the client's Finished would leave the client without the sessions
        // rustls issues after it, and so without 0-RTT next time.
        if !this.close_notify_sent && this.connection.is_handshaking() {
            ready!(this.poll_handshake(cx))?;
        }
        if !this.close_notify_sent {
            this.connection.send_close_notify();
            this.close_notify_sent = true;
        }
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// `std::io` over a tokio transport for rustls's `read_tls` / `write_tls`: `Pending` becomes
/// `WouldBlock` (and the waker is registered).
struct SyncAdapter<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: AsyncRead + Unpin> Read for SyncAdapter<'_, '_, IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut *self.io).poll_read(self.cx, &mut buf) {
            Poll::Ready(Ok(())) => Ok(buf.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<IO: AsyncWrite + Unpin> Write for SyncAdapter<'_, '_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// A server TLS stream from [`crate::QtlsAcceptor`]: tokio-rustls's, or an
/// [`EarlyDataStream`] for a connection that offered early data.
#[derive(Debug)]
pub enum ServerTlsStream<IO> {
    /// The usual case.
    Standard(tokio_rustls::server::TlsStream<IO>),
    /// The ClientHello offered early data.
    EarlyData(EarlyDataStream<IO>),
}

impl<IO> ServerTlsStream<IO> {
    /// The transport and the rustls connection.
    pub fn get_ref(&self) -> (&IO, &ServerConnection) {
        match self {
            Self::Standard(tls) => tls.get_ref(),
            Self::EarlyData(tls) => tls.get_ref(),
        }
    }

    /// The transport and the rustls connection, mutably.
    pub fn get_mut(&mut self) -> (&mut IO, &mut ServerConnection) {
        match self {
            Self::Standard(tls) => tls.get_mut(),
            Self::EarlyData(tls) => tls.get_mut(),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for ServerTlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Standard(tls) => Pin::new(tls).poll_read(cx, buf),
            Self::EarlyData(tls) => Pin::new(tls).poll_read(cx, buf),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ServerTlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Standard(tls) => Pin::new(tls).poll_write(cx, buf),
            Self::EarlyData(tls) => Pin::new(tls).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Standard(tls) => Pin::new(tls).poll_flush(cx),
            Self::EarlyData(tls) => Pin::new(tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Standard(tls) => Pin::new(tls).poll_shutdown(cx),
            Self::EarlyData(tls) => Pin::new(tls).poll_shutdown(cx),
        }
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

    fn record(kind: u8, length: usize) -> Vec<u8> {
        let mut record = vec![kind, 3, 3];
        record.extend((length as u16).to_be_bytes());
        record.extend(std::iter::repeat_n(0xee, length));
        record
    }

    #[test]
    fn early_records_are_dropped_within_the_budget_and_the_rest_kept_in_order() {
        let ccs = record(CHANGE_CIPHER_SPEC, 1);
        let early = record(APPLICATION_DATA, 4000);
        let arrived = [ccs.clone(), early.clone(), early.clone(), early.clone()].concat();
        // All three fit 16 KiB: only the change_cipher_spec stays.
        assert_eq!(drop_early_records(&arrived, 16384), ccs);
        // Two fit 9000 bytes; the third, and all after it, go to rustls.
        assert_eq!(
            drop_early_records(&arrived, 9000),
            [ccs.clone(), early.clone()].concat()
        );
        // A partial record and anything that is not application data end the dropping.
        let partial = &early[..100];
        assert_eq!(
            drop_early_records(&[early.clone(), partial.to_vec()].concat(), 16384),
            partial
        );
        let alert = record(0x15, 2);
        assert_eq!(
            drop_early_records(&[alert.clone(), early.clone()].concat(), 16384),
            [alert, early].concat()
        );
        for cut in 0..arrived.len() {
            let _ = drop_early_records(&arrived[..cut], 16384);
        }
    }
}
