//! Thin wrappers around this crate's parsers of peer and file input, for the cargo-fuzz
//! targets in `fuzz/` and the corpus replay test.
//!
//! NOT part of the API: hidden from the docs, exempt from semver, and may change or go away
//! in any release. Each function calls the real parser the server or client uses.

use std::future::Future;
use std::pin::Pin;
#[cfg(feature = "redis")]
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, ReadBuf};

#[cfg(feature = "redis")]
use crate::sessions::{FleetSecret, RedisSessionStore};

/// The first PSK of a ClientHello: identity, obfuscated ticket age, whether early data is
/// asked for.
pub type PskOffer = (Vec<u8>, u32, bool);

/// What the ClientHello gate reads from raw records: the offered versions and the first PSK.
pub fn client_hello(records: &[u8]) -> (Vec<u16>, Option<PskOffer>) {
    let hello = crate::gate::ClientHelloMessage::from_records(records);
    let offer = hello.psk_offer().map(|offer| {
        (
            offer.identity,
            offer.obfuscated_ticket_age,
            offer.early_data,
        )
    });
    (hello.versions(), offer)
}

/// The gate's decision on the hello in `records`, given the groups rustls read from it.
pub fn gate_check(
    records: &[u8],
    groups: Option<&[rustls::NamedGroup]>,
    require_post_quantum: bool,
    allow_tls12: bool,
    code_points: &qtls_provider::CodePoints,
) -> Result<(), crate::Refusal> {
    let hello = crate::gate::ClientHelloMessage::from_records(records);
    crate::gate::check(
        &hello,
        groups,
        require_post_quantum,
        allow_tls12,
        code_points,
    )
}

/// Reads one HTTP/1.1 response (head and Content-Length body) with the client's reader,
/// `chunk` bytes per read; also returns the bytes the head finder looked at and parsed.
pub fn read_response(stream: &[u8], chunk: usize) -> (Result<Vec<u8>, String>, u64) {
    let mut io = Chunked::new(stream, chunk);
    let mut reader = crate::client::ResponseReader::default();
    let response = run_ready(reader.head_and_body(&mut io)).map_err(|e| e.to_string());
    (response, reader.head_end.scanned())
}

pub use crate::early_data::trial::{Filtering, RecordSealer, RejectedEarlyData};

/// The filter of rejected early data (trial decryption with the client handshake traffic
/// `secret` of `suite`), skipping at most `allowance` bytes; `None` for a suite it does not
/// know.
pub fn rejected_early_data(
    suite: &rustls::Tls13CipherSuite,
    secret: &[u8],
    allowance: usize,
) -> Option<RejectedEarlyData> {
    let opener =
        crate::early_data::RecordOpener::new(suite, &rustls::crypto::tls13::OkmBlock::new(secret))?;
    Some(RejectedEarlyData::new(opener, allowance))
}

/// The session-age reader of the 0-RTT freshness check: (creation time, age obfuscation
/// offset) from the tail of a rustls session value, if plausible at `now_secs`.
pub fn session_age(value: &[u8], now_secs: u64) -> Option<(u64, u32)> {
    crate::early_data::SessionAge::read(value, now_secs)
        .map(|age| (age.creation_time_secs, age.age_obfuscation_offset))
}

/// How far from `now_secs` a session-age reading may be.
pub const SESSION_AGE_PLAUSIBLE_SECS: u64 = crate::early_data::SessionAge::PLAUSIBLE;

/// A Redis session store with a fixed fleet secret whose server is never contacted.
#[cfg(feature = "redis")]
fn redis_store() -> &'static Arc<RedisSessionStore> {
    static STORE: OnceLock<Arc<RedisSessionStore>> = OnceLock::new();
    STORE.get_or_init(|| {
        let secret = FleetSecret::from_bytes(&[7; 32]).expect("a 32-byte secret");
        RedisSessionStore::builder("redis://127.0.0.1:1".parse().expect("a Redis URL"), secret)
            .build()
            .expect("a Redis store (connects lazily)")
    })
}

#[cfg(feature = "redis")]
/// The Redis value decoder: the session sealed in `value` under `redis_key`, if it opens.
pub fn redis_open(redis_key: &str, value: &[u8]) -> Option<Vec<u8>> {
    redis_store().open(redis_key, value).ok()
}

#[cfg(feature = "redis")]
/// The Redis value encoder, the inverse of [`redis_open`].
pub fn redis_seal(redis_key: &str, session: &[u8]) -> Option<Vec<u8>> {
    redis_store().seal(redis_key, session)
}

/// An `AsyncRead` over a byte slice that is always ready and gives at most `chunk` bytes per
/// read, so the readers see their input cut into pieces as a network delivers it.
pub struct Chunked<'a> {
    rest: &'a [u8],
    chunk: usize,
}

impl<'a> Chunked<'a> {
    /// `rest`, at most `chunk` bytes (at least 1) per read.
    pub fn new(rest: &'a [u8], chunk: usize) -> Self {
        Self {
            rest,
            chunk: chunk.max(1),
        }
    }
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.rest.len().min(self.chunk).min(buf.remaining());
        let (now, later) = self.rest.split_at(n);
        buf.put_slice(now);
        self.rest = later;
        Poll::Ready(Ok(()))
    }
}

/// Runs a future whose I/O is always ready to completion, without a runtime.
pub fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    // Nothing here waits on anything but the always-ready reader, so one poll should do.
    for _ in 0..1000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("a reader over always-ready input did not complete");
}
