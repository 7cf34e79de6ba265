//! Accepting one TLS connection: read the ClientHello with rustls's `Acceptor`, apply the
//! policy gate, pick the certificate, complete the handshake within a time limit, and hand
//! the application the stream with what it negotiated and who the client is.

use std::sync::Arc;
use std::time::Duration;

use qtls_provider::CodePoints;
use qtls_verifier::{ClientIdentity, QtlsClientVerifier};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::StartHandshake;

use crate::certs::CertificateSet;
use crate::connection::ConnectionInfo;
use crate::early_data::{
    EarlyDataRejection, EarlyDataSettings, EarlyDataStatus, EarlyDataStream, Freshness,
    FreshnessCheck, ServerTlsStream,
};
use crate::gate::{self, Refusal};

/// The most ClientHello bytes read before giving up (a hello is a few KiB at most; PQ key
/// shares included).
const MAX_CLIENT_HELLO: usize = 64 * 1024;

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
    early_data_window: Duration,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl QtlsAcceptor {
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

    /// Runs each handshake after its ClientHello off the runtime's worker threads, for keys
    /// and ticketers that block on a token (see [`crate::hsm`]); a failure of our own signing
    /// key is then answered with an `internal_error` alert. Default off.
    pub fn with_blocking_handshakes(mut self, blocking: bool) -> Self {
        self.blocking_handshakes = blocking;
        self
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
        let mut acceptor = rustls::server::Acceptor::default();
        let mut raw = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 8192];
        let accepted = loop {
            let read = io.read(&mut chunk).await.map_err(AcceptError::Tls)?;
            if read == 0 {
                return Err(AcceptError::Closed);
            }
            raw.extend_from_slice(&chunk[..read]);
            if raw.len() > MAX_CLIENT_HELLO {
                return Err(AcceptError::Closed);
            }
            let mut fed = &chunk[..read];
            while !fed.is_empty() {
                acceptor.read_tls(&mut fed).map_err(AcceptError::Tls)?;
            }
            match acceptor.accept() {
                Ok(Some(accepted)) => break accepted,
                Ok(None) => continue,
                Err((error, alert)) => {
                    let mut bytes = Vec::new();
                    let mut alert = alert;
                    let _ = alert.write_all(&mut bytes);
                    let _ = io.write_all(&bytes).await;
                    return Err(AcceptError::Tls(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        error,
                    )));
                }
            }
        };
        let hello = accepted.client_hello();
        let message = gate::ClientHelloMessage::from_records(&raw);
        let decision = gate::check(
            &message,
            hello.named_groups(),
            self.require_post_quantum,
            &self.code_points,
        )
        .and_then(|()| {
            self.certificates
                .select(hello.server_name(), hello.signature_schemes())
                .ok_or_else(|| {
                    Refusal::Unavailable(
                        "no certificate in service for this client (hard-fail stapling or policy)"
                            .into(),
                    )
                })
        });
        let selected = match decision {
            Ok(selected) => selected,
            Err(refusal) => {
                tracing::warn!("refusing a ClientHello: {refusal}");
                let _ = io.write_all(&refusal.record()).await;
                let _ = io.shutdown().await;
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
                let start = StartHandshake::from_parts(accepted, io);
                let stream = if self.blocking_handshakes {
                    crate::hsm::finish_handshake(start, Arc::clone(&config), self.handshake_timeout)
                        .await
                } else {
                    start.into_stream(Arc::clone(&config)).await
                }
                .map_err(AcceptError::Tls)?;
                let status = match early_offer {
                    Some(_) => EarlyDataStatus::Rejected(EarlyDataRejection::Disabled),
                    None => EarlyDataStatus::NotOffered,
                };
                self.count(&status);
                (ServerTlsStream::Standard(stream), status)
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
        mut io: IO,
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
        let connection = if self.blocking_handshakes {
            crate::blocking::blocking(|| accepted.into_connection(config))
        } else {
            accepted.into_connection(config)
        };
        let connection = match connection {
            Ok(connection) => connection,
            Err((error, mut alert)) => {
                let mut bytes = Vec::new();
                let _ = alert.write_all(&mut bytes);
                let _ = io.write_all(&bytes).await;
                return Err(AcceptError::Tls(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    error,
                )));
            }
        };
        // After a HelloRetryRequest the full handshake signs while processing the second
        // ClientHello: with a key in a token, off the workers.
        let mut stream = EarlyDataStream::new(io, connection)
            .with_offloaded_processing(self.blocking_handshakes);
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

    fn count(&self, status: &EarlyDataStatus) {
        if let Some(metrics) = &self.metrics {
            metrics.early_data(status);
        }
    }
}
