//! What a connection negotiated, and a stream wrapper that counts bytes on the wire.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use qtls_provider::CodePoints;
use rustls::{CommonState, SignatureScheme};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The negotiated parameters of a TLS connection, in the names OpenSSL and rustls use.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Key-exchange group, OpenSSL's spelling (`SecP384r1MLKEM1024`).
    pub group: Option<String>,
    /// The server's CertificateVerify scheme (`ML_DSA_65`, `MLDSA65_ECDSA_P384_SHA512`).
    pub signature_scheme: Option<String>,
    /// Cipher suite (`TLS13_AES_256_GCM_SHA384`).
    pub cipher_suite: Option<String>,
    /// Protocol version (`TLSv1.3`).
    pub protocol: Option<String>,
    /// The peer certificate's subject DN, if it sent one.
    pub peer_subject: Option<String>,
}

impl ConnectionInfo {
    /// Reads what `state` negotiated; `scheme` is the server's signature scheme where known.
    pub fn of(
        state: &CommonState,
        scheme: Option<SignatureScheme>,
        code_points: &CodePoints,
    ) -> Self {
        Self {
            group: state
                .negotiated_key_exchange_group()
                .map(|group| group_name(group.name(), code_points)),
            signature_scheme: scheme.map(|scheme| code_points.scheme_name(scheme)),
            cipher_suite: state
                .negotiated_cipher_suite()
                .map(|suite| format!("{:?}", suite.suite())),
            protocol: state.protocol_version().map(|version| match version {
                rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
                rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
                other => format!("{other:?}"),
            }),
            peer_subject: state
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|leaf| subject_of(leaf)),
        }
    }
}

/// OpenSSL's name for a group, also for a non-default X25519MLKEM1024 code point.
pub fn group_name(group: rustls::NamedGroup, code_points: &CodePoints) -> String {
    if u16::from(group) == code_points.x25519_mlkem1024 {
        return "X25519MLKEM1024".into();
    }
    qtls_provider::group_display_name(group)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:#06x}", u16::from(group)))
}

/// The subject DN of a DER certificate, RFC 4514 style.
pub fn subject_of(cert: &[u8]) -> Option<String> {
    use der::Decode;
    x509_cert::Certificate::from_der(cert)
        .ok()
        .map(|cert| cert.tbs_certificate.subject.to_string())
}

/// Byte counters shared between a [`CountingStream`] and whoever reads them.
#[derive(Clone, Debug, Default)]
pub struct ByteCounters {
    read: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl ByteCounters {
    /// Bytes read from the wire so far.
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Bytes written to the wire so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// A stream that counts the bytes passing through it, to report handshake sizes.
#[derive(Debug)]
pub struct CountingStream<S> {
    inner: S,
    counters: ByteCounters,
}

impl<S> CountingStream<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> (Self, ByteCounters) {
        let counters = ByteCounters::default();
        (
            Self {
                inner,
                counters: counters.clone(),
            },
            counters,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.counters.read.fetch_add(read as u64, Ordering::Relaxed);
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &poll {
            self.counters
                .written
                .fetch_add(*written as u64, Ordering::Relaxed);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
