//! Accepting one TLS connection: read the ClientHello with rustls's `Acceptor`, apply the
//! policy gate, pick the certificate, complete the handshake within a time limit, and hand
//! the application the stream with what it negotiated and who the client is.

use std::sync::Arc;
use std::time::Duration;

use qtls_provider::CodePoints;
use qtls_verifier::{ClientIdentity, QtlsClientVerifier};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio_rustls::StartHandshake;

use crate::certs::CertificateSet;
use crate::connection::ConnectionInfo;
use crate::early_data::{
    EarlyDataRejection, EarlyDataSettings, EarlyDataStatus, EarlyDataStream, Freshness,
    FreshnessCheck, ServerTlsStream,
};
use crate::gate::{self, Refusal};

/// The most ClientHello record bytes read before giving up with decode_error: rustls takes
/// handshake messages of up to 64 KiB (its `MAX_HANDSHAKE_SIZE`), and a client may split
/// one into records of any size, so this leaves room for the record headers of a 64 KiB
/// hello in records of 1 KiB or more. A usual hello is 1-3 KiB, PQ key shares included.
const MAX_CLIENT_HELLO_RECORDS: usize = 64 * 1024 + 64 * 5 + 5;

/// A TLS record header: type, legacy version, length
/// ([RFC 8446 §5.1](https://www.rfc-editor.org/rfc/rfc8446#section-5.1)).
const RECORD_HEADER: usize = 5;

/// What the application learns about an accepted connection.
#[derive(Clone, Debug)]
pub struct ConnectionContext {
    /// The negotiated parameters (signature_scheme: the one our certificate signs with).
    pub info: ConnectionInfo,
    /// The verified client, when it presented a certificate.
    pub client: Option<ClientIdentity>,
    /// What became of early data (0-RTT); while
    /// [`EarlyDataStatus::reading_early_data`] holds, a request may be a replay.
    pub early_data: EarlyDataStatus,
}

/// Why a connection was not accepted.
#[derive(Debug)]
pub enum AcceptError {
    /// The policy gate refused the ClientHello and sent the alert.
    Refused(Refusal),
    /// The handshake did not finish in time.
    Timeout,
    /// The peer closed before completing a ClientHello.
    Closed,
    /// The ClientHello's records exceed what the acceptor reads (their total size so far);
    /// decode_error was sent.
    ClientHelloTooLarge(usize),
    /// rustls refused the handshake (the alert was sent).
    Tls(std::io::Error),
}

impl core::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Refused(refusal) => write!(
                f,
                "refused ({}): {refusal}",
                crate::alert_name(refusal.alert())
            ),
            Self::Timeout => write!(f, "handshake timed out"),
            Self::Closed => write!(f, "peer closed before the handshake"),
            Self::ClientHelloTooLarge(bytes) => write!(
                f,
                "ClientHello records of more than {bytes} bytes (the limit is \
                 {MAX_CLIENT_HELLO_RECORDS}; alert decode_error sent)"
            ),
            Self::Tls(e) => match crate::Error::Io(std::io::Error::new(e.kind(), e.to_string()))
                .alert()
                .or_else(|| {
                    e.get_ref()
                        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                        .and_then(crate::error::alert_of)
                }) {
                Some((direction, alert)) => {
                    write!(f, "handshake failed: {e} (alert {alert} {direction})")
                }
                None => write!(f, "handshake failed: {e}"),
            },
        }
    }
}

impl std::error::Error for AcceptError {}

/// Accepts TLS connections under a policy; clone it into each connection task.
#[derive(Clone, Debug)]
pub struct QtlsAcceptor {
    config: Arc<rustls::ServerConfig>,
    certificates: Arc<CertificateSet>,
    client_verifier: Option<Arc<QtlsClientVerifier>>,
    /// Applied to resumed sessions (full handshakes: by the config's verifier).
    acl: Option<crate::acl::Acl>,
    require_post_quantum: bool,
    code_points: CodePoints,
    handshake_timeout: Duration,
    blocking_handshakes: bool,
    allow_tls12: bool,
    offload_slots: Arc<Semaphore>,
    early_data_window: Duration,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl QtlsAcceptor {
    /// How many handshakes run their record processing off the workers at once by default
    /// (see [`QtlsAcceptor::with_max_offloaded_handshakes`]): well under tokio's default
    /// blocking pool of 512 threads.
    pub const DEFAULT_MAX_OFFLOADED_HANDSHAKES: usize = 64;

    /// An acceptor for `config`, whose certificate resolver is `certificates`;
    /// `client_verifier` (when clients authenticate) lets the acceptor report identities.
    pub fn new(
        config: Arc<rustls::ServerConfig>,
        certificates: Arc<CertificateSet>,
        client_verifier: Option<Arc<QtlsClientVerifier>>,
        require_post_quantum: bool,
        code_points: CodePoints,
    ) -> Self {
        Self {
            config,
            certificates,
            client_verifier,
            acl: None,
            require_post_quantum,
            code_points,
            handshake_timeout: Duration::from_secs(10),
            blocking_handshakes: false,
            allow_tls12: false,
            offload_slots: Arc::new(Semaphore::new(Self::DEFAULT_MAX_OFFLOADED_HANDSHAKES)),
            early_data_window: EarlyDataSettings::DEFAULT_FRESHNESS_WINDOW,
            metrics: None,
        }
    }

    /// Counts what becomes of early data in `metrics` (as soon as it is decided, so that
    /// replays whose handshakes never complete are counted too).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Sets the ticket-age freshness window for early data
    /// ([`EarlyDataSettings::freshness_window`]). Early data itself is on when `config` has
    /// a `max_early_data_size` and stateful sessions (see [`crate::early_data`]).
    pub fn with_early_data_window(mut self, window: Duration) -> Self {
        self.early_data_window = window;
        self
    }

    /// Processes each handshake's records off the runtime's worker threads, for keys and
    /// ticketers that block on a token (see [`crate::hsm`]); a failure of our own signing
    /// key is then answered with an `internal_error` alert. Default off. Handshakes that
    /// verify client certificates are always processed off the workers: chain verification
    /// may fetch OCSP responses or CRLs, which blocks.
    ///
    /// Only the processing of received records runs off the workers (`block_in_place`),
    /// never the wait for the peer's next flight, so a slow client holds no thread; at
    /// most [`QtlsAcceptor::with_max_offloaded_handshakes`] such handshakes run at once.
    pub fn with_blocking_handshakes(mut self, blocking: bool) -> Self {
        self.blocking_handshakes = blocking;
        self
    }

    /// Bounds how many handshakes processed off the workers (token keys, client-certificate
    /// verification) are under way at once (default
    /// [`Self::DEFAULT_MAX_OFFLOADED_HANDSHAKES`]). Further ones wait for a slot, within
    /// their handshake timeout, after their ClientHello; a handshake that gets no slot in
    /// time fails with [`AcceptError::Timeout`]. This keeps the threads such handshakes
    /// take (one each while processing) under tokio's blocking pool.
    pub fn with_max_offloaded_handshakes(mut self, max: usize) -> Self {
        self.offload_slots = Arc::new(Semaphore::new(max.max(1)));
        self
    }

    /// Serves TLS 1.2 to clients that do not offer TLS 1.3, when `config` has TLS 1.2 and
    /// no post-quantum key exchange is required (the `compatible` preset with
    /// `--policy any`). Default off: such clients get protocol_version.
    pub fn with_tls12(mut self, allowed: bool) -> Self {
        self.allow_tls12 = allowed;
        self
    }

    /// Whether handshakes run their record processing off the workers.
    fn offloads_handshakes(&self) -> bool {
        self.blocking_handshakes || self.client_verifier.is_some()
    }

    /// Refuses resumed sessions whose client `acl` does not permit, as the config's
    /// [`crate::AuthorizingVerifier`] refuses full handshakes (rustls does not call it on
    /// resumption; see [`crate::Acl`] for how such a session is closed). Resumed sessions
    /// whose client certificate expired or is known to be revoked are refused with or
    /// without it.
    pub fn with_acl(mut self, acl: crate::acl::Acl) -> Self {
        self.acl = Some(acl);
        self
    }

    /// Limits the time from accept to a finished handshake (default 10 s).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The served certificates.
    pub fn certificates(&self) -> &Arc<CertificateSet> {
        &self.certificates
    }

    /// Handshakes on `io`.
    pub async fn accept<IO>(
        &self,
        io: IO,
    ) -> Result<(ServerTlsStream<IO>, ConnectionContext), AcceptError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        tokio::time::timeout(self.handshake_timeout, self.accept_inner(io))
            .await
            .map_err(|_| AcceptError::Timeout)?
    }

    async fn accept_inner<IO>(
        &self,
        mut io: IO,
    ) -> Result<(ServerTlsStream<IO>, ConnectionContext), AcceptError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let (accepted, raw) = read_client_hello(&mut io).await?;
        let hello = accepted.client_hello();
        let message = gate::ClientHelloMessage::from_records(&raw);
        let decision = gate::check(
            &message,
            hello.named_groups(),
            self.require_post_quantum,
            self.allow_tls12,
            &self.code_points,
        )
        .and_then(|()| {
            self.certificates
                .select(hello.server_name(), hello.signature_schemes())
                .ok_or_else(|| {
                    if self.certificates.any_in_service() {
                        Refusal::NoSuitableCertificate
                    } else {
                        Refusal::Unavailable(
                            "no certificate in service (hard-fail stapling or policy)".into(),
                        )
                    }
                })
        });
        let selected = match decision {
            Ok(selected) => selected,
            Err(refusal) => {
                // The caller logs the error once (bounded: see `Refusal::MAX_LISTED`).
                refuse(&mut io, &refusal.record()).await;
                return Err(AcceptError::Refused(refusal));
            }
        };
        // However many PSK identities the ClientHello lists, this connection makes at most
        // `sessions::MAX_PSK_LOOKUPS` session lookups (see `sessions::with_lookup_budget`).
        let config = crate::sessions::with_lookup_budget(&self.config);
        let early_offer = message.psk_offer().filter(|offer| offer.early_data);
        let (stream, early_data) = match early_offer {
            Some(offer) if config.max_early_data_size > 0 => {
                self.accept_early_data(accepted, io, offer, &config).await?
            }
            _ => {
                let status = match early_offer {
                    Some(_) => EarlyDataStatus::Rejected(EarlyDataRejection::Disabled),
                    None => EarlyDataStatus::NotOffered,
                };
                // Early data offered to a server without it also runs on our stream, which
                // skips the early records (see `skip_rejected_early_data`).
                let stream = if self.offloads_handshakes() || early_offer.is_some() {
                    let _slot = match self.offloads_handshakes() {
                        true => Some(self.offload_slot().await?),
                        false => None,
                    };
                    let mut stream = self
                        .start_offloaded(accepted, io, Arc::clone(&config))
                        .await?;
                    if early_offer.is_some() {
                        stream
                            .skip_rejected_early_data(skipped_early_data_limit(&config))
                            .await
                            .map_err(AcceptError::Tls)?;
                    }
                    stream.start().await.map_err(AcceptError::Tls)?;
                    // Bounded by `accept`'s handshake timeout.
                    stream
                        .complete_handshake()
                        .await
                        .map_err(AcceptError::Tls)?;
                    ServerTlsStream::EarlyData(stream)
                } else {
                    let start = StartHandshake::from_parts(accepted, io);
                    let stream = start
                        .into_stream(Arc::clone(&config))
                        .await
                        .map_err(AcceptError::Tls)?;
                    ServerTlsStream::Standard(stream)
                };
                self.count(&status);
                (stream, status)
            }
        };
        // A resumed session's stored client chain is checked again (expiry, cached
        // revocation, the ACL); rustls cannot send an alert after the handshake, so a
        // refused one is closed before the application reads anything.
        let client = match &self.client_verifier {
            Some(verifier) => {
                crate::acl::client_of(stream.get_ref().1, verifier, self.acl.as_ref())
            }
            None => Ok(None),
        };
        let client = match client {
            Ok(client) => client,
            Err(refused) => {
                tracing::warn!("{refused}");
                let mut stream = stream;
                let _ = stream.shutdown().await;
                return Err(AcceptError::Tls(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    refused,
                )));
            }
        };
        let connection = stream.get_ref().1;
        let context = ConnectionContext {
            info: ConnectionInfo::of(connection, selected.scheme(), &self.code_points),
            client,
            early_data,
        };
        Ok((stream, context))
    }

    /// The handshake of a ClientHello that offers early data: the session is taken through
    /// the freshness check, and when rustls accepts the early data the stream is returned
    /// as soon as the server's flight is out, so that the application answers the early
    /// request in that same round trip.
    async fn accept_early_data<IO>(
        &self,
        accepted: rustls::server::Accepted,
        io: IO,
        offer: gate::PskOffer,
        config: &rustls::ServerConfig,
    ) -> Result<(ServerTlsStream<IO>, EarlyDataStatus), AcceptError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let check = Arc::new(FreshnessCheck::new(
            Arc::clone(&config.session_storage),
            offer,
            self.early_data_window,
        ));
        let mut config = config.clone();
        config.session_storage =
            Arc::clone(&check) as Arc<dyn rustls::server::StoresServerSessions>;
        let config = Arc::new(config);
        // A replay gets a full handshake: with a key in a token, sign off the workers.
        let _slot = match self.offloads_handshakes() {
            true => Some(self.offload_slot().await?),
            false => None,
        };
        let mut stream = self
            .start_offloaded(accepted, io, Arc::clone(&config))
            .await?;
        // rustls decided while processing the ClientHello.
        let status = if stream.get_mut().1.early_data().is_some() {
            EarlyDataStatus::Accepted(Arc::clone(stream.progress()))
        } else {
            EarlyDataStatus::Rejected(match check.verdict() {
                Freshness::Absent => EarlyDataRejection::NotResumable,
                Freshness::Stale(skew) => EarlyDataRejection::Stale(skew),
                // Looked up and fresh, or never looked up (a HelloRetryRequest, or another
                // PSK than the one offered first).
                Freshness::Fresh | Freshness::NotLookedUp => EarlyDataRejection::Other,
            })
        };
        self.count(&status);
        if !status.is_accepted() {
            stream
                .skip_rejected_early_data(skipped_early_data_limit(&config))
                .await
                .map_err(AcceptError::Tls)?;
        }
        stream.start().await.map_err(AcceptError::Tls)?;
        if !status.is_accepted() {
            // Bounded by `accept`'s handshake timeout.
            stream
                .complete_handshake()
                .await
                .map_err(AcceptError::Tls)?;
        }
        Ok((ServerTlsStream::EarlyData(stream), status))
    }

    /// A slot for a handshake processed off the workers (see
    /// [`Self::with_max_offloaded_handshakes`]); the wait is bounded by `accept`'s timeout.
    async fn offload_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AcceptError> {
        Arc::clone(&self.offload_slots)
            .acquire_owned()
            .await
            .map_err(|_| AcceptError::Timeout)
    }

    /// Processes the ClientHello into a connection (signing CertificateVerify; off the
    /// workers when [`Self::offloads_handshakes`]) and wraps it in a stream that processes
    /// the rest of the handshake's records the same way. A failure of our own signing key
    /// is answered with `internal_error` (rustls itself would just stop); any other refusal
    /// with rustls's alert.
    async fn start_offloaded<IO>(
        &self,
        accepted: rustls::server::Accepted,
        mut io: IO,
        config: Arc<rustls::ServerConfig>,
    ) -> Result<EarlyDataStream<IO>, AcceptError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let offload = self.offloads_handshakes();
        let process = || crate::hsm::noting_signing_failure(|| accepted.into_connection(config));
        let (connection, signing_failed) = match offload {
            true => crate::blocking::blocking(process),
            false => process(),
        };
        match connection {
            Ok(connection) => {
                Ok(EarlyDataStream::new(io, connection).with_offloaded_processing(offload))
            }
            Err((error, mut alert)) => {
                let mut bytes = Vec::new();
                if signing_failed {
                    // Nothing of the failed handshake leaves the server: the client learns
                    // it was our side.
                    bytes.extend(crate::hsm::INTERNAL_ERROR_ALERT);
                } else {
                    let _ = alert.write_all(&mut bytes);
                }
                let _ = io.write_all(&bytes).await;
                let _ = io.shutdown().await;
                Err(AcceptError::Tls(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    error,
                )))
            }
        }
    }

    fn count(&self, status: &EarlyDataStatus) {
        if let Some(metrics) = &self.metrics {
            metrics.early_data(status);
        }
    }
}

/// How much rejected early data a connection skips: `max_early_data_size`, or one record's
/// worth when early data is off (what rustls allows as well: a client may hold a ticket from
/// when it was on).
fn skipped_early_data_limit(config: &rustls::ServerConfig) -> usize {
    match config.max_early_data_size {
        0 => 16384,
        configured => configured as usize,
    }
}

/// Reads a ClientHello record by record into rustls's [`Acceptor`](rustls::server::Acceptor)
/// and returns it with the raw records (for the gate).
///
/// Each record is handed to the acceptor and processed before the next is read, so that
/// rustls takes a hello spread over several records up to its 64 KiB handshake limit (fed
/// all at once, unprocessed records beyond one record's size fill its buffer), and nothing
/// after the hello's last record (early data) is read from `io` here: it stays for the
/// connection. The work is linear in the bytes received, and at most
/// [`MAX_CLIENT_HELLO_RECORDS`] are kept.
async fn read_client_hello<IO>(
    io: &mut IO,
) -> Result<(rustls::server::Accepted, Vec<u8>), AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut acceptor = rustls::server::Acceptor::default();
    let mut raw = Vec::with_capacity(4096);
    loop {
        let start = raw.len();
        // The first bytes of a header let rustls refuse what is not a handshake record.
        if let Some(accepted) = read_and_feed(io, &mut acceptor, &mut raw, RECORD_HEADER).await? {
            return Ok((accepted, raw));
        }
        let length = usize::from(u16::from_be_bytes([raw[start + 3], raw[start + 4]]));
        if raw.len() + length > MAX_CLIENT_HELLO_RECORDS {
            refuse(io, &plaintext_alert(rustls::AlertDescription::DecodeError)).await;
            return Err(AcceptError::ClientHelloTooLarge(raw.len() + length));
        }
        if let Some(accepted) = read_and_feed(io, &mut acceptor, &mut raw, length).await? {
            return Ok((accepted, raw));
        }
    }
}

/// Reads `n` more bytes onto `raw`, handing each piece to the acceptor as it comes.
async fn read_and_feed<IO>(
    io: &mut IO,
    acceptor: &mut rustls::server::Acceptor,
    raw: &mut Vec<u8>,
    n: usize,
) -> Result<Option<rustls::server::Accepted>, AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let end = raw.len() + n;
    while raw.len() < end {
        let at = raw.len();
        raw.resize(end, 0);
        let read = io.read(&mut raw[at..]).await;
        let read = match read {
            Ok(0) => {
                raw.truncate(at);
                return Err(AcceptError::Closed);
            }
            Ok(read) => read,
            Err(e) => return Err(AcceptError::Tls(e)),
        };
        raw.truncate(at + read);
        if let Some(accepted) = feed(acceptor, &raw[at..], io).await? {
            return Ok(Some(accepted));
        }
    }
    Ok(None)
}

/// Sends a refusal (an alert record) and closes. What the peer already sent is read first,
/// at most 64 KiB for at most 100 ms: closing a socket with unread input makes the kernel
/// answer with a reset, which can destroy the alert before the peer reads it.
async fn refuse<IO: AsyncRead + AsyncWrite + Unpin>(io: &mut IO, record: &[u8]) {
    let _ = io.write_all(record).await;
    let _ = io.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut left = 64 * 1024usize;
    let _ = tokio::time::timeout(Duration::from_millis(100), async {
        while left > 0 {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(read) => left = left.saturating_sub(read),
            }
        }
    })
    .await;
}

/// A fatal alert as a plaintext record (before the server's flight, RFC 8446 §6).
fn plaintext_alert(alert: rustls::AlertDescription) -> [u8; 7] {
    [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, u8::from(alert)]
}

/// Hands `bytes` to the acceptor and processes them; a refusal is answered with rustls's
/// alert.
async fn feed<IO>(
    acceptor: &mut rustls::server::Acceptor,
    mut bytes: &[u8],
    io: &mut IO,
) -> Result<Option<rustls::server::Accepted>, AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    while !bytes.is_empty() {
        acceptor.read_tls(&mut bytes).map_err(AcceptError::Tls)?;
    }
    match acceptor.accept() {
        Ok(accepted) => Ok(accepted),
        Err((error, mut alert)) => {
            let mut record = Vec::new();
            let _ = alert.write_all(&mut record);
            if record.is_empty() {
                // rustls queues no alert for some refusals of the first message (a
                // handshake message over its 64 KiB limit): send the one its error names.
                record.extend(plaintext_alert(match &error {
                    rustls::Error::InvalidMessage(invalid) => {
                        rustls::AlertDescription::from(*invalid)
                    }
                    rustls::Error::PeerIncompatible(_) => {
                        rustls::AlertDescription::HandshakeFailure
                    }
                    rustls::Error::PeerMisbehaved(_) => rustls::AlertDescription::IllegalParameter,
                    _ => rustls::AlertDescription::UnexpectedMessage,
                }));
            }
            refuse(io, &record).await;
            Err(AcceptError::Tls(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                error,
            )))
        }
    }
}
