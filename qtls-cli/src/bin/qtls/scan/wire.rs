//! The bytes on the wire: flights and their TCP segments, and the sizes of the plaintext
//! handshake messages (RFC 8446 §5.1).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::probe::Outcome;
use super::report::{Bytes, Flight};

/// TCP's usual maximum segment size on Ethernet, to count segments per flight.
const SEGMENT: usize = 1460;

/// Bytes kept per probe in each direction, to decode plaintext handshake messages.
const KEEP_BYTES: usize = 256 * 1024;

/// The order of reads and writes on the wire, and the bytes read and written (each up to
/// [`KEEP_BYTES`]).
#[derive(Debug, Default)]
pub(crate) struct WireLog {
    /// (written by us, bytes), consecutive same-direction transfers merged.
    pub(crate) flights: Vec<(bool, usize)>,
    pub(crate) received: Vec<u8>,
    /// What we wrote: `qtls report` reads its ClientHello's key shares and PSK identities.
    pub(crate) sent: Vec<u8>,
    /// A middlebox-compatibility ChangeCipherSpec (RFC 8446 §D.4) written while the server's
    /// flight is still arriving: counted with our next flight, so it does not split theirs.
    pub(crate) pending_ccs: usize,
}

/// The ChangeCipherSpec record a TLS 1.3 client sends for middlebox compatibility.
const CCS_RECORD: [u8; 6] = [20, 3, 3, 0, 1, 1];

impl WireLog {
    fn add(&mut self, written: bool, mut n: usize) {
        if n == 0 {
            return;
        }
        if written {
            n += std::mem::take(&mut self.pending_ccs);
        }
        match self.flights.last_mut() {
            Some((w, total)) if *w == written => *total += n,
            _ => self.flights.push((written, n)),
        }
    }
}

/// A stream that logs each flight's size on the wire.
pub(crate) struct Wire<S> {
    pub(crate) inner: S,
    pub(crate) log: Arc<Mutex<WireLog>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Wire<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let new = &buf.filled()[before..];
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.add(false, new.len());
        let room = KEEP_BYTES.saturating_sub(log.received.len());
        log.received.extend_from_slice(&new[..new.len().min(room)]);
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Wire<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            let room = KEEP_BYTES.saturating_sub(log.sent.len());
            log.sent.extend_from_slice(&buf[..(*n).min(room)]);
            if buf[..*n] == CCS_RECORD {
                log.pending_ccs += *n;
            } else {
                log.add(true, *n);
            }
        }
        poll
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Plaintext handshake messages (type, length with header) in the received bytes, up to the
/// first encrypted or ChangeCipherSpec record (RFC 8446 §5.1).
fn plaintext_messages(received: &[u8]) -> Vec<(u8, usize, bool)> {
    const HRR_RANDOM: [u8; 32] = [
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8,
        0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8,
        0x33, 0x9c,
    ];
    let mut payload = Vec::new();
    let mut rest = received;
    let mut messages = Vec::new();
    let parse = |payload: &mut Vec<u8>, messages: &mut Vec<(u8, usize, bool)>| {
        let mut at = 0;
        while payload.len() >= at + 4 {
            let len =
                u32::from_be_bytes([0, payload[at + 1], payload[at + 2], payload[at + 3]]) as usize;
            if payload.len() < at + 4 + len {
                break;
            }
            let body = &payload[at + 4..at + 4 + len];
            let hrr = payload[at] == 2 && body.get(2..34) == Some(&HRR_RANDOM[..]);
            messages.push((payload[at], 4 + len, hrr));
            at += 4 + len;
        }
        payload.drain(..at);
    };
    while rest.len() >= 5 {
        let kind = rest[0];
        let len = u16::from_be_bytes([rest[3], rest[4]]) as usize;
        if rest.len() < 5 + len {
            break;
        }
        match kind {
            22 => {
                payload.extend_from_slice(&rest[5..5 + len]);
                parse(&mut payload, &mut messages);
            }
            // TLS 1.3's middlebox-compatibility ChangeCipherSpec between HRR and ServerHello.
            20 if messages.last().is_some_and(|m| m.2) => {}
            _ => break,
        }
        rest = &rest[5 + len..];
    }
    messages
}

/// The size of a TLS 1.3 Certificate message carrying `certs` (and `ocsp` as the leaf's
/// status_request extension), header included (RFC 8446 §4.4.2).
pub(crate) fn certificate_message_len(certs: &[CertificateDer<'_>], ocsp: &[u8]) -> usize {
    let entries: usize = certs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let extensions = if i == 0 && !ocsp.is_empty() {
                4 + 1 + 3 + ocsp.len()
            } else {
                0
            };
            3 + c.as_ref().len() + 2 + extensions
        })
        .sum();
    4 + 1 + 3 + entries
}

/// The size of a CertificateVerify message with a signature of `signature_len` bytes,
/// header included (RFC 8446 §4.4.3).
pub(crate) fn certificate_verify_len(signature_len: usize) -> usize {
    4 + 2 + 2 + signature_len
}

pub(super) fn bytes_of(label: String, outcome: &Outcome) -> Bytes {
    let flights: Vec<Flight> = outcome
        .wire
        .flights
        .iter()
        .map(|(written, n)| Flight {
            from: if *written { "client" } else { "server" },
            bytes: *n,
            segments: n.div_ceil(SEGMENT),
        })
        .collect();
    let messages = plaintext_messages(&outcome.wire.received);
    let find = |kind: u8, hrr: bool| {
        messages
            .iter()
            .find(|m| m.0 == kind && m.2 == hrr)
            .map(|m| m.1)
    };
    let tls13 = outcome.version == Some(rustls::ProtocolVersion::TLSv1_3);
    let (certificate, certificate_verify) = if tls13 {
        let certs = &outcome.seen.certs;
        (
            (!certs.is_empty()).then(|| certificate_message_len(certs, &outcome.seen.ocsp)),
            (outcome.seen.signature_len > 0)
                .then(|| certificate_verify_len(outcome.seen.signature_len)),
        )
    } else {
        (find(11, false), find(12, false))
    };
    Bytes {
        probe: label,
        client_hello: flights
            .first()
            .filter(|f| f.from == "client")
            .map(|f| f.bytes),
        server_first_flight_segments: flights
            .iter()
            .filter(|f| f.from == "server")
            .map(|f| f.segments)
            .max()
            .unwrap_or(0),
        flights,
        server_hello: find(2, false),
        hello_retry_request: find(2, true),
        certificate,
        certificate_verify,
        tcp_connect_ms: outcome.connect_ms,
        handshake_ms: outcome.handshake_ms,
    }
}
