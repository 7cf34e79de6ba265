//! The measuring client: `qtls client`'s configuration (same ClientHello), on a stream that
//! logs the bytes of each flight, timed to the first application byte.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qtls::{Error, TlsSettings};
use qtls_provider::CodePoints;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::hello;
use crate::scan::wire::{certificate_message_len, certificate_verify_len, Wire, WireLog};

/// What the server sent that rustls verifies but does not report: the chain and OCSP staple
/// (for the Certificate message's size) and the CertificateVerify signature.
#[derive(Debug, Default)]
struct Seen {
    certificate: Option<usize>,
    signature: Option<(SignatureScheme, usize)>,
}

/// qtls-verifier's verifier, as `qtls client` builds it, noting what it verified.
#[derive(Debug)]
struct Measuring {
    inner: Arc<dyn ServerCertVerifier>,
    seen: Mutex<Seen>,
}

impl Measuring {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ServerCertVerifier for Measuring {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain: Vec<CertificateDer<'_>> = std::iter::once(end_entity)
            .chain(intermediates)
            .cloned()
            .collect();
        self.seen().certificate = Some(certificate_message_len(&chain, ocsp_response));
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.seen().signature = Some((dss.scheme, dss.signature().len()));
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client configuration and what its verifier notes.
#[derive(Clone)]
pub(super) struct Client {
    config: Arc<rustls::ClientConfig>,
    measuring: Arc<Measuring>,
    code_points: CodePoints,
}

/// What the client sends after the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Request {
    /// `GET /`, as `qtls client` sends it, read to the end.
    Get,
    /// The same as 0-RTT early data when the client holds a ticket that allows it.
    GetEarly,
    /// Nothing: close_notify right after the handshake (server CPU per handshake).
    Close,
}

/// One connection as the client saw it.
#[derive(Debug, Default)]
pub(super) struct Connection {
    pub(super) client_hello: Option<hello::Hello>,
    pub(super) server_hello: Option<hello::Hello>,
    pub(super) certificate: Option<usize>,
    pub(super) certificate_verify: Option<usize>,
    pub(super) signature_scheme: Option<String>,
    pub(super) group: Option<String>,
    pub(super) cipher_suite: Option<String>,
    /// Bytes written and read until the handshake completed (with 0-RTT, the early data
    /// written before it too), as `qtls client --json` counts them.
    pub(super) sent: u64,
    pub(super) received: u64,
    pub(super) resumed: bool,
    pub(super) early_data_accepted: bool,
    /// Server flights the client waited for before it could send its request.
    pub(super) handshake_round_trips: usize,
    /// The client flight that carried the request: the response answers it, this many
    /// round trips after the connection began.
    pub(super) round_trips: usize,
    /// From the TCP connect to the first byte of the response.
    pub(super) first_byte: Option<Duration>,
    pub(super) http_status: Option<String>,
}

impl Client {
    /// `qtls client --preset P --group G`'s configuration with trust anchors `roots`.
    pub(super) fn new(
        settings: &TlsSettings,
        roots: Vec<CertificateDer<'static>>,
    ) -> Result<Self, Error> {
        let provider = settings.provider()?;
        let (mut config, _) = qtls::client_config(settings, roots.clone(), None)?;
        let inner = qtls_verifier::ServerVerifierBuilder::new(roots, &provider)
            .revocation_policy(qtls_verifier::RevocationPolicy::Off)
            .online_ocsp(false)
            .fetch_crls(false)
            .build()
            .map_err(|e| Error::Config(format!("server verifier: {e}")))?;
        let measuring = Arc::new(Measuring {
            inner,
            seen: Mutex::default(),
        });
        config
            .dangerous()
            .set_certificate_verifier(Arc::clone(&measuring) as Arc<dyn ServerCertVerifier>);
        Ok(Self {
            config: Arc::new(config),
            measuring,
            code_points: settings.code_points,
        })
    }

    /// The same configuration with an empty session cache: the next connection is a full
    /// handshake, and later ones may resume it.
    pub(super) fn fresh(&self, early_data: bool) -> Self {
        let mut config = rustls::ClientConfig::clone(&self.config);
        config.resumption = rustls::client::Resumption::default();
        config.enable_early_data = early_data;
        Self {
            config: Arc::new(config),
            ..self.clone()
        }
    }

    /// Connects to `addr` (name `localhost`), handshakes, sends `request` and reads the
    /// response to its end; `limit` bounds the whole connection.
    pub(super) async fn connect(
        &self,
        addr: SocketAddr,
        request: Request,
        limit: Duration,
    ) -> Result<Connection, Error> {
        tokio::time::timeout(limit, self.connect_inner(addr, request))
            .await
            .map_err(|_| Error::Timeout("report connection"))?
    }

    async fn connect_inner(&self, addr: SocketAddr, request: Request) -> Result<Connection, Error> {
        *self.measuring.seen() = Seen::default();
        let log = Arc::new(Mutex::new(WireLog::default()));
        let lock = |log: &Arc<Mutex<WireLog>>| {
            let guard = log.lock().unwrap_or_else(|p| p.into_inner());
            let flights = |written: bool| guard.flights.iter().filter(|f| f.0 == written).count();
            let bytes = |written: bool| -> u64 {
                guard
                    .flights
                    .iter()
                    .filter(|f| f.0 == written)
                    .map(|f| f.1 as u64)
                    .sum::<u64>()
                    + if written { guard.pending_ccs as u64 } else { 0 }
            };
            (flights(true), flights(false), bytes(true), bytes(false))
        };
        let started = Instant::now();
        let tcp = TcpStream::connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        let wire = Wire {
            inner: tcp,
            log: Arc::clone(&log),
        };
        let early = request == Request::GetEarly && self.config.enable_early_data;
        let connector = TlsConnector::from(Arc::clone(&self.config)).early_data(early);
        let name = ServerName::try_from("localhost").map_err(|e| Error::Config(e.to_string()))?;
        let mut tls = connector.connect(name, wire).await?;
        let request_bytes =
            b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let mut out = Connection::default();
        // With a ticket that allows it the handshake is still running: what is written now is
        // early data, and the flush completes the handshake (as `qtls client` does).
        let early_data_offered = tls.get_mut().1.early_data().is_some();
        if early_data_offered {
            out.handshake_round_trips = lock(&log).1;
            tls.write_all(request_bytes).await?;
            tls.flush().await?;
        }
        let (_, server_flights, sent, received) = lock(&log);
        (out.sent, out.received) = (sent, received);
        let connection = tls.get_ref().1;
        out.resumed = connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        out.early_data_accepted = connection.is_early_data_accepted();
        // Accepted early data went with the ClientHello (RFC 8446 §2.3); early data the
        // server skipped went again after the handshake, in the flight the flush wrote.
        out.round_trips = match (early_data_offered, out.early_data_accepted) {
            (true, true) => 1,
            (true, false) => lock(&log).0,
            (false, _) => 0,
        };
        out.group = connection
            .negotiated_key_exchange_group()
            .map(|g| qtls::group_name(g.name(), &self.code_points));
        out.cipher_suite = connection
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()));
        match request {
            Request::Close => {
                tls.shutdown().await?;
                let mut sink = Vec::new();
                // The server's close_notify, or a reset: either ends the connection.
                let _ = tls.read_to_end(&mut sink).await;
            }
            Request::Get | Request::GetEarly => {
                if !early_data_offered {
                    out.handshake_round_trips = server_flights;
                    tls.write_all(request_bytes).await?;
                    tls.flush().await?;
                    out.round_trips = lock(&log).0;
                }
                let mut response = Vec::new();
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match tls.read(&mut buf).await {
                        Ok(n) => n,
                        // A server that closes without close_notify after its answer.
                        Err(e)
                            if e.kind() == std::io::ErrorKind::UnexpectedEof
                                && !response.is_empty() =>
                        {
                            0
                        }
                        Err(e) => return Err(e.into()),
                    };
                    if n == 0 {
                        break;
                    }
                    if out.first_byte.is_none() {
                        out.first_byte = Some(started.elapsed());
                    }
                    // The status line is all we keep; the rest is drained.
                    if response.len() < 256 {
                        response.extend_from_slice(&buf[..n]);
                    }
                }
                let _ = tls.shutdown().await;
                out.http_status = String::from_utf8_lossy(&response)
                    .lines()
                    .next()
                    .map(str::to_string);
            }
        }
        let guard = log.lock().unwrap_or_else(|p| p.into_inner());
        out.client_hello = hello::client_hello(&guard.sent);
        out.server_hello = hello::server_hello(&guard.received);
        drop(guard);
        let seen = self.measuring.seen();
        out.certificate = seen.certificate;
        out.certificate_verify = seen.signature.map(|(_, len)| certificate_verify_len(len));
        out.signature_scheme = seen
            .signature
            .map(|(scheme, _)| self.code_points.scheme_name(scheme));
        Ok(out)
    }
}
