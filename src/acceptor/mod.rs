//! Accepting one TLS connection: read the ClientHello with rustls's `Acceptor`, apply the
//! policy gate, pick the certificate, complete the handshake within a time limit, and hand
//! the application the stream with what it negotiated and who the client is.

use std::sync::Arc;
use std::time::Duration;

use qtls_provider::CodePoints;
use qtls_verifier::{ClientIdentity, QtlsClientVerifier};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio_rustls::StartHandshake;

use crate::certs::CertificateSet;
use crate::connection::ConnectionInfo;
use crate::early_data::{
    EarlyDataRejection, EarlyDataStatus, EarlyDataStream, Freshness, FreshnessCheck,
    HandshakeSecretCapture, ServerTlsStream,
};
use crate::gate::{self, Refusal};

mod builder;
mod client_hello;

pub use builder::{AcceptorBuilder, KeyExchangePolicy};
use client_hello::{read_client_hello, refuse, MAX_CLIENT_HELLO_RECORDS};

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

/// Accepts TLS connections under a policy; clone it into each connection task. Made with
/// [`QtlsAcceptor::builder`].
#[derive(Clone, Debug)]
pub struct QtlsAcceptor {
    config: Arc<rustls::ServerConfig>,
    certificates: Option<Arc<CertificateSet>>,
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
    /// (see [`AcceptorBuilder::max_offloaded_handshakes`]): well under tokio's default
    /// blocking pool of 512 threads.
    pub const DEFAULT_MAX_OFFLOADED_HANDSHAKES: usize = 64;

    /// A builder for an acceptor serving `config`, an existing rustls server configuration
    /// (see [`AcceptorBuilder`] for what it adds to it).
    pub fn builder(config: Arc<rustls::ServerConfig>) -> AcceptorBuilder {
        AcceptorBuilder::new(config)
    }

    /// Whether handshakes run their record processing off the workers.
    fn offloads_handshakes(&self) -> bool {
        self.blocking_handshakes || self.client_verifier.is_some()
    }

    /// The served certificates, when the acceptor picks them (see
    /// [`AcceptorBuilder::certificates`]).
    pub fn certificates(&self) -> Option<&Arc<CertificateSet>> {
        self.certificates.as_ref()
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
            // Without a certificate set, rustls's own resolver picks (and refuses) instead.
            let Some(certificates) = &self.certificates else {
                return Ok(None);
            };
            certificates
                .select(hello.server_name(), hello.signature_schemes())
                .map(Some)
                .ok_or_else(|| {
                    if certificates.any_in_service() {
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
                // skips it by trial decryption (see `early_data::trial`).
                let stream = if self.offloads_handshakes() || early_offer.is_some() {
                    let _slot = match self.offloads_handshakes() {
                        true => Some(self.offload_slot().await?),
                        false => None,
                    };
                    let (connection_config, capture) = match early_offer {
                        Some(_) => {
                            let mut config = (*config).clone();
                            let capture = HandshakeSecretCapture::install(&mut config);
                            (Arc::new(config), Some(capture))
                        }
                        None => (Arc::clone(&config), None),
                    };
                    let mut stream = self
                        .start_offloaded(accepted, io, connection_config)
                        .await?;
                    if let Some(capture) = capture {
                        stream
                            .skip_rejected_early_data(&capture, skipped_early_data_limit(&config));
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
            info: ConnectionInfo::of(
                connection,
                selected.and_then(|selected| selected.scheme()),
                &self.code_points,
            ),
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
        let capture = HandshakeSecretCapture::install(&mut config);
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
        match status.is_accepted() {
            // The secret is not needed: let it go now rather than with the connection.
            true => capture.discard(),
            false => stream.skip_rejected_early_data(&capture, skipped_early_data_limit(&config)),
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
        let connection = match offload {
            true => crate::blocking::blocking(|| accepted.into_connection(config)),
            false => accepted.into_connection(config),
        };
        match connection {
            Ok(connection) => {
                Ok(EarlyDataStream::new(io, connection).with_offloaded_processing(offload))
            }
            Err((error, mut alert)) => {
                let mut bytes = Vec::new();
                if crate::hsm::is_signing_failure(&error) {
                    // Nothing of the failed handshake leaves the server: the client learns
                    // it was our side.
                    bytes.extend(gate::plaintext_alert(
                        rustls::AlertDescription::InternalError,
                    ));
                } else {
                    let _ = alert.write_all(&mut bytes);
                }
                refuse(&mut io, &bytes).await;
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
