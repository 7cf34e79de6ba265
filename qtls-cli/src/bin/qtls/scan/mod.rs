//! `qtls scan`: what a TLS server does, group by group and scheme by scheme, probed with
//! separate bounded handshakes.

use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use clap::Args;
use der::{Decode, Encode};
use qtls::{group_name, Error};
use qtls_provider::{CodePoints, CompositeAlgorithm, MlDsaLevel, Preset, ProviderBuilder};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, ResolvesClientCert, Resumption,
    Tls12ClientSessionValue, Tls12Resumption, Tls13ClientSessionValue,
};
use rustls::crypto::{SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::{
    DigitallySignedStruct, HandshakeKind, NamedGroup, SignatureScheme, SupportedCipherSuite,
    SupportedProtocolVersion,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The JSON (`--json`) is one object whose top-level fields are stable:
const JSON_HELP: &str = "\
With --json, one JSON object with these stable top-level fields:
  target, server_name        what was scanned
  versions                   [\"TLSv1.3\", \"TLSv1.2\"] accepted
  groups_accepted            OpenSSL names of the groups accepted, each offered alone
  preferred_group            the group chosen when every group is offered (Q-TLS order, key
                             share for the first), or null
  hello_retry_groups         groups the server reached only through a HelloRetryRequest
  signature_schemes_accepted rustls names (as `qtls client --json`), each offered alone
  cipher_suites              rustls names of the suites accepted, each offered alone
  chain                      the certificates as sent: subject, issuer, key_algorithm,
                             signature_algorithm, not_before, not_after (RFC 3339), bytes,
                             post_quantum
  chain_verified             null without --ca, else {ok, error, path}
  chain_post_quantum         every signature and key of the chain is ML-DSA or composite
  ocsp                       {stapled, bytes, status, verified, next_update}
  resumption                 {tls13_ticket_issued, tls13_resumed, tls12_session_id,
                             tls12_ticket}
  early_data                 {max_early_data_size, offered, accepted}
  client_auth                {requested, signature_schemes, certificate_authorities}
  bytes                      {probe, flights [{from, bytes, segments}], client_hello,
                             server_hello, hello_retry_request, certificate,
                             certificate_verify (TLS 1.2: ServerKeyExchange; TLS 1.3
                             Certificate and CertificateVerify are encrypted, so their
                             sizes are computed from the decoded values),
                             server_first_flight_segments (of
                             the server's largest flight, the one with its certificate),
                             tcp_connect_ms, handshake_ms}
  probes                     how many handshakes the scan made (about 30 to 45: one with
                             everything offered, then one per version, group, scheme
                             and suite, and a few for resumption and 0-RTT); three that
                             run into --timeout end the scan with an error
  verdict                    {pq_key_exchange, pq_key_exchange_preferred,
                             pq_authentication, pq_authentication_default,
                             key_exchange (hybrid, pqc, classical), authentication
                             (composite, ml-dsa, classical), kind (hybrid, pqc-only,
                             classical, partial, or mixed), advice [..]}";

/// TCP's usual maximum segment size on Ethernet, to count segments per flight.
const SEGMENT: usize = 1460;

/// Received bytes kept per probe to decode plaintext handshake messages.
const KEEP_RECEIVED: usize = 256 * 1024;

/// Arguments of `qtls scan`.
#[derive(Args)]
#[command(after_long_help = JSON_HELP)]
pub(crate) struct ScanArgs {
    /// Server address, HOST:PORT.
    target: String,
    /// Name to send as SNI and to verify with --ca (default: the host of HOST:PORT).
    #[arg(long)]
    servername: Option<String>,
    /// Trust anchors (PEM) to verify the chain and its OCSP staple with.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Print one JSON object (fields: see `qtls scan --help`).
    #[arg(long)]
    pub(crate) json: bool,
    /// At most this many handshakes per second (`10/s`).
    #[arg(long, default_value = "10/s")]
    rate: Rate,
    /// Time limit of each probe (TCP connect plus handshake).
    #[arg(long, default_value = "5s")]
    timeout: humantime::Duration,
}

/// Handshakes per second.
#[derive(Clone, Copy, Debug)]
struct Rate(f64);

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = s.trim().trim_end_matches("/s");
        match number.parse::<f64>() {
            Ok(n) if n > 0.0 && n.is_finite() => Ok(Self(n)),
            _ => Err(format!(
                "{s:?}: give a positive number per second, e.g. 10/s"
            )),
        }
    }
}

/// Records what the server sent: the scanner reports, it does not decide trust (the chain
/// is verified afterwards against --ca); the handshake signature is verified, so a scheme
/// counts as accepted only when the server really signed with it.
#[derive(Debug)]
struct Recorder {
    offered: Vec<SignatureScheme>,
    algorithms: WebPkiSupportedAlgorithms,
    seen: Mutex<Seen>,
}

#[derive(Clone, Debug, Default)]
struct Seen {
    certs: Vec<CertificateDer<'static>>,
    ocsp: Vec<u8>,
    scheme: Option<SignatureScheme>,
    signature_len: usize,
}

impl Recorder {
    fn record_signature(&self, dss: &DigitallySignedStruct) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.scheme = Some(dss.scheme);
        seen.signature_len = dss.signature().len();
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.certs = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        seen.ocsp = ocsp_response.to_vec();
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record_signature(dss);
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record_signature(dss);
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.offered.clone()
    }
}

/// Records a CertificateRequest (RFC 8446 §4.3.2) and answers it with no certificate.
#[derive(Debug, Default)]
struct Requested(Mutex<Option<CertificateRequestSeen>>);

/// The CertificateRequest's certificate_authorities (DER names) and signature schemes.
type CertificateRequestSeen = (Vec<Vec<u8>>, Vec<SignatureScheme>);

impl ResolvesClientCert for Requested {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((
            root_hint_subjects.iter().map(|s| s.to_vec()).collect(),
            sigschemes.to_vec(),
        ));
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A session store that also notes what the server issued.
#[derive(Debug)]
struct Store {
    inner: ClientSessionMemoryCache,
    tickets: Mutex<Vec<u32>>,
    tls12: Mutex<u32>,
}

impl Store {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: ClientSessionMemoryCache::new(8),
            tickets: Mutex::new(Vec::new()),
            tls12: Mutex::new(0),
        })
    }

    fn tickets(&self) -> Vec<u32> {
        self.tickets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ClientSessionStore for Store {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }
    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(server_name)
    }
    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        *self.tls12.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.inner.set_tls12_session(server_name, value);
    }
    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }
    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.tickets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(value.max_early_data_size());
        self.inner.insert_tls13_ticket(server_name, value);
    }
    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}

/// The order of reads and writes on the wire, and the bytes read (up to [`KEEP_RECEIVED`]).
#[derive(Debug, Default)]
struct WireLog {
    /// (written by us, bytes), consecutive same-direction transfers merged.
    flights: Vec<(bool, usize)>,
    received: Vec<u8>,
    /// A middlebox-compatibility ChangeCipherSpec (RFC 8446 §D.4) written while the server's
    /// flight is still arriving: counted with our next flight, so it does not split theirs.
    pending_ccs: usize,
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
struct Wire<S> {
    inner: S,
    log: Arc<Mutex<WireLog>>,
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
        let room = KEEP_RECEIVED.saturating_sub(log.received.len());
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

/// What one probe offers.
#[derive(Clone)]
struct Probe {
    groups: Vec<&'static dyn SupportedKxGroup>,
    suites: Vec<SupportedCipherSuite>,
    versions: Vec<&'static SupportedProtocolVersion>,
    schemes: Vec<SignatureScheme>,
    store: Option<Session>,
    early_data: bool,
    /// Wait briefly after the handshake for session tickets (RFC 8446 §4.6.1).
    linger: bool,
}

/// A session store shared by the probes that try to resume, with the verifier and
/// resolver it was made with: rustls resumes only under the same ones (by identity).
#[derive(Clone)]
struct Session {
    store: Arc<Store>,
    tls12: Tls12Resumption,
    recorder: Arc<Recorder>,
    requested: Arc<Requested>,
}

impl Session {
    fn new(tls12: Tls12Resumption, schemes: &[SignatureScheme]) -> Self {
        Self {
            store: Store::new(),
            tls12,
            recorder: Arc::new(Recorder {
                offered: schemes.to_vec(),
                algorithms: qtls_provider::compatible().signature_verification_algorithms,
                seen: Mutex::default(),
            }),
            requested: Arc::new(Requested::default()),
        }
    }
}

/// What one probe saw.
#[derive(Debug, Default)]
struct Outcome {
    version: Option<rustls::ProtocolVersion>,
    group: Option<NamedGroup>,
    suite: Option<String>,
    kind: Option<HandshakeKind>,
    seen: Seen,
    client_auth: Option<CertificateRequestSeen>,
    wire: WireLog,
    connect_ms: f64,
    handshake_ms: f64,
    early_data_offered: bool,
    early_data_accepted: bool,
}

/// Why a probe failed, worded for a person.
#[derive(Debug)]
enum ProbeError {
    /// No TCP connection (refused, unreachable) or timed out connecting.
    Connect(String),
    /// The handshake did not finish in time.
    Timeout,
    /// The peer closed, sent a non-TLS byte, or an alert.
    Handshake(String),
    /// We could not build the client for this offer (not the server's fault).
    Local(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(why) => write!(f, "cannot connect: {why}"),
            Self::Timeout => write!(f, "no answer within the time limit (the server stalls)"),
            Self::Handshake(why) => write!(f, "{why}"),
            Self::Local(why) => write!(f, "cannot offer this: {why}"),
        }
    }
}

fn describe_io(error: &std::io::Error) -> String {
    if let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return match tls {
            rustls::Error::InvalidMessage(_) => {
                format!("not a TLS server (it answered with something that is not TLS: {tls})")
            }
            rustls::Error::AlertReceived(alert) => format!("the server refused: alert {alert:?}"),
            other => format!("TLS error: {other}"),
        };
    }
    match error.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the handshake".into()
        }
        std::io::ErrorKind::ConnectionReset => {
            "the server reset the connection during the handshake".into()
        }
        _ => error.to_string(),
    }
}

struct Scanner {
    addr: String,
    name: ServerName<'static>,
    timeout: Duration,
    interval: Duration,
    next: Instant,
    probes: usize,
    timeouts: usize,
    all_schemes: Vec<SignatureScheme>,
}

/// Stop after this many probes ran into the time limit: the server stalls.
const MAX_TIMEOUTS: usize = 3;

impl Scanner {
    async fn run(&mut self, probe: &Probe) -> Result<Outcome, ProbeError> {
        if self.timeouts >= MAX_TIMEOUTS {
            return Err(ProbeError::Timeout);
        }
        tokio::time::sleep_until(self.next.into()).await;
        self.next = Instant::now() + self.interval;
        self.probes += 1;
        let result = self.handshake(probe).await;
        if matches!(result, Err(ProbeError::Timeout)) {
            self.timeouts += 1;
        }
        result
    }

    async fn handshake(&self, probe: &Probe) -> Result<Outcome, ProbeError> {
        let mut provider = ProviderBuilder::new()
            .preset(Preset::Compatible)
            .kx_groups(probe.groups.clone())
            .build()
            .map_err(|e| ProbeError::Local(e.to_string()))?;
        provider.cipher_suites = probe.suites.clone();
        let (recorder, requested) = match &probe.store {
            Some(session) => (session.recorder.clone(), session.requested.clone()),
            None => (
                Arc::new(Recorder {
                    offered: probe.schemes.clone(),
                    algorithms: provider.signature_verification_algorithms,
                    seen: Mutex::default(),
                }),
                Arc::new(Requested::default()),
            ),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&probe.versions)
            .map_err(|e| ProbeError::Local(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_client_cert_resolver(requested.clone());
        config.resumption = match &probe.store {
            Some(session) => {
                Resumption::store(session.store.clone()).tls12_resumption(session.tls12)
            }
            None => Resumption::disabled(),
        };
        config.enable_early_data = probe.early_data;
        let connector = TlsConnector::from(Arc::new(config)).early_data(probe.early_data);
        let log = Arc::new(Mutex::new(WireLog::default()));
        let start = Instant::now();
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| ProbeError::Connect("timed out".into()))?
            .map_err(|e| ProbeError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let connect_ms = start.elapsed().as_secs_f64() * 1e3;
        let wire = Wire {
            inner: tcp,
            log: log.clone(),
        };
        let remaining = self.timeout.saturating_sub(start.elapsed());
        let host = match &self.name {
            ServerName::DnsName(name) => name.as_ref().to_string(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            _ => String::new(),
        };
        let (mut tls, early_data_offered) = tokio::time::timeout(remaining, async {
            let mut tls = connector
                .connect(self.name.clone(), wire)
                .await
                .map_err(|e| ProbeError::Handshake(describe_io(&e)))?;
            // With a ticket that allows it the stream is still handshaking: this goes out as
            // 0-RTT data (RFC 8446 §4.2.10), and flushing completes the handshake.
            let offered = tls.get_mut().1.early_data().is_some();
            if offered {
                let request =
                    format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
                tls.write_all(request.as_bytes())
                    .await
                    .map_err(|e| ProbeError::Handshake(describe_io(&e)))?;
                tls.flush()
                    .await
                    .map_err(|e| ProbeError::Handshake(describe_io(&e)))?;
            }
            Ok::<_, ProbeError>((tls, offered))
        })
        .await
        .map_err(|_| ProbeError::Timeout)??;
        let handshake_ms = start.elapsed().as_secs_f64() * 1e3;
        let mut wire_log = std::mem::take(&mut *log.lock().unwrap_or_else(|p| p.into_inner()));
        if wire_log.pending_ccs > 0 {
            let ccs = std::mem::take(&mut wire_log.pending_ccs);
            wire_log.flights.push((true, ccs));
        }
        let connection = tls.get_ref().1;
        let mut outcome = Outcome {
            version: connection.protocol_version(),
            group: connection
                .negotiated_key_exchange_group()
                .map(|group| group.name()),
            suite: connection
                .negotiated_cipher_suite()
                .map(|suite| format!("{:?}", suite.suite())),
            kind: connection.handshake_kind(),
            seen: Seen::default(),
            client_auth: None,
            wire: wire_log,
            connect_ms,
            handshake_ms,
            early_data_offered,
            early_data_accepted: early_data_offered && connection.is_early_data_accepted(),
        };
        if probe.linger {
            // Tickets come after the handshake; a read processes them (none is awaited for
            // longer than a second, or the probe's limit).
            let before = probe
                .store
                .as_ref()
                .map_or(0, |session| session.store.tickets().len());
            let deadline = Instant::now() + self.timeout.min(Duration::from_secs(1));
            let mut buf = [0u8; 4096];
            while Instant::now() < deadline {
                tokio::select! {
                    read = tls.read(&mut buf) => if matches!(read, Ok(0) | Err(_)) { break },
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                let now = probe
                    .store
                    .as_ref()
                    .map_or(0, |session| session.store.tickets().len());
                if now > before {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ =
                        tokio::time::timeout(Duration::from_millis(1), tls.read(&mut buf)).await;
                    break;
                }
            }
        }
        outcome.seen = recorder
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        outcome.client_auth = requested
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let _ = tokio::time::timeout(Duration::from_millis(100), tls.shutdown()).await;
        Ok(outcome)
    }
}

fn all_groups() -> Vec<(&'static str, &'static dyn SupportedKxGroup)> {
    qtls_provider::GROUP_NAMES
        .iter()
        .filter_map(|name| {
            qtls_provider::group_by_name(name, qtls_provider::Backend::AwsLc)
                .ok()
                .map(|group| (*name, group))
        })
        .collect()
}

fn all_suites() -> Vec<SupportedCipherSuite> {
    rustls::crypto::aws_lc_rs::default_provider().cipher_suites
}

/// The schemes probed one by one: pure ML-DSA, composite, ECDSA, RSA-PSS, Ed25519.
fn probed_schemes(code_points: &CodePoints) -> Vec<SignatureScheme> {
    let mut schemes = vec![
        SignatureScheme::ML_DSA_44,
        SignatureScheme::ML_DSA_65,
        SignatureScheme::ML_DSA_87,
    ];
    schemes.extend(
        CompositeAlgorithm::ALL
            .iter()
            .map(|alg| SignatureScheme::from(code_points.composite(*alg))),
    );
    schemes.extend([
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureScheme::ECDSA_NISTP384_SHA384,
        SignatureScheme::ECDSA_NISTP521_SHA512,
        SignatureScheme::RSA_PSS_SHA256,
        SignatureScheme::RSA_PSS_SHA384,
        SignatureScheme::RSA_PSS_SHA512,
        SignatureScheme::ED25519,
    ]);
    schemes
}

fn version_name(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}

/// One certificate as sent.
#[derive(Debug, Serialize)]
struct ChainEntry {
    subject: String,
    issuer: String,
    key_algorithm: String,
    signature_algorithm: String,
    not_before: String,
    not_after: String,
    bytes: usize,
    post_quantum: bool,
}

fn signature_algorithm_name(oid: der::oid::ObjectIdentifier) -> (String, bool) {
    for level in MlDsaLevel::ALL {
        if level.oid() == oid {
            return (level.name().to_string(), true);
        }
    }
    for alg in CompositeAlgorithm::ALL {
        if alg.oid() == oid {
            return (alg.name().to_string(), true);
        }
    }
    let name = der::oid::db::DB
        .by_oid(&oid)
        .map(str::to_string)
        .unwrap_or_else(|| oid.to_string());
    (name, false)
}

fn is_pq_key_name(name: &str) -> bool {
    name.starts_with("ML-DSA") || name.starts_with("MLDSA")
}

fn rfc3339(time: &x509_cert::time::Time) -> String {
    let secs = time.to_unix_duration().as_secs() as i64;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

fn chain_entry(der_cert: &CertificateDer<'_>) -> ChainEntry {
    match x509_cert::Certificate::from_der(der_cert.as_ref()) {
        Ok(cert) => {
            let tbs = &cert.tbs_certificate;
            let key_algorithm = tbs
                .subject_public_key_info
                .to_der()
                .map(|spki| qtls_provider::public_key_algorithm_name(&spki))
                .unwrap_or_else(|e| format!("unreadable ({e})"));
            let (signature_algorithm, pq_signature) =
                signature_algorithm_name(cert.signature_algorithm.oid);
            ChainEntry {
                subject: tbs.subject.to_string(),
                issuer: tbs.issuer.to_string(),
                post_quantum: pq_signature && is_pq_key_name(&key_algorithm),
                key_algorithm,
                signature_algorithm,
                not_before: rfc3339(&tbs.validity.not_before),
                not_after: rfc3339(&tbs.validity.not_after),
                bytes: der_cert.as_ref().len(),
            }
        }
        Err(e) => ChainEntry {
            subject: format!("(does not parse: {e})"),
            issuer: String::new(),
            key_algorithm: String::new(),
            signature_algorithm: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            bytes: der_cert.as_ref().len(),
            post_quantum: false,
        },
    }
}

#[derive(Debug, Default, Serialize)]
struct Ocsp {
    stapled: bool,
    bytes: usize,
    /// good, revoked, unknown or invalid (null without a staple).
    status: Option<String>,
    /// With --ca: whether the staple's signature and CertID check out (qtls-verifier).
    verified: Option<bool>,
    next_update: Option<String>,
    error: Option<String>,
}

fn staple_report(
    staple: &[u8],
    certs: &[CertificateDer<'static>],
    verifier: Option<&qtls_verifier::ChainVerifier>,
    issuer: Option<&CertificateDer<'static>>,
) -> Ocsp {
    fn significant(serial: &[u8]) -> &[u8] {
        let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
        &serial[start..]
    }
    if staple.is_empty() {
        return Ocsp::default();
    }
    let mut report = Ocsp {
        stapled: true,
        bytes: staple.len(),
        ..Ocsp::default()
    };
    let Some(leaf) = certs.first() else {
        return report;
    };
    match (
        qtls_pki::OcspResponse::from_der(staple.to_vec()),
        qtls_pki::Certificate::from_der(leaf.to_vec()),
    ) {
        (Ok(response), Ok(certificate)) => {
            let serial = significant(certificate.serial());
            let single = response
                .responses()
                .iter()
                .find(|single| significant(&single.cert_id.serial()) == serial);
            report.status = Some(
                match single.map(|s| &s.status) {
                    Some(qtls_pki::OcspCertStatus::Good) => "good",
                    Some(qtls_pki::OcspCertStatus::Revoked { .. }) => "revoked",
                    _ => "unknown",
                }
                .into(),
            );
            report.next_update = single.and_then(|s| s.next_update).and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            });
        }
        _ => report.status = Some("invalid".into()),
    }
    if let (Some(verifier), Some(issuer)) = (verifier, issuer) {
        match verifier.check_ocsp_response(staple, leaf, issuer, UnixTime::now()) {
            Ok(_) => report.verified = Some(true),
            Err(e) => {
                report.verified = Some(false);
                report.error = Some(e.to_string());
            }
        }
    }
    report
}

#[derive(Debug, Serialize)]
struct Verified {
    ok: bool,
    error: Option<String>,
    /// Subjects from the end entity to the trust anchor.
    path: Vec<String>,
    /// Signature algorithms along the path, the trust anchor's included.
    path_signature_algorithms: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
struct Resumption13 {
    tls13_ticket_issued: Option<bool>,
    tls13_resumed: Option<bool>,
    tls12_session_id: Option<bool>,
    tls12_ticket: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
struct EarlyData {
    max_early_data_size: Option<u32>,
    offered: bool,
    accepted: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
struct ClientAuth {
    requested: bool,
    signature_schemes: Vec<String>,
    certificate_authorities: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Flight {
    from: &'static str,
    bytes: usize,
    segments: usize,
}

#[derive(Debug, Default, Serialize)]
struct Bytes {
    /// Which probe these numbers come from.
    probe: String,
    flights: Vec<Flight>,
    client_hello: Option<usize>,
    server_hello: Option<usize>,
    hello_retry_request: Option<usize>,
    /// The Certificate message; for TLS 1.3 (encrypted) computed from the decoded
    /// certificates and staple as RFC 8446 §4.4.2 encodes them.
    certificate: Option<usize>,
    /// The CertificateVerify message; for TLS 1.3 computed from the signature's length
    /// (RFC 8446 §4.4.3); for TLS 1.2 the ServerKeyExchange, which carries the signature.
    certificate_verify: Option<usize>,
    server_first_flight_segments: usize,
    tcp_connect_ms: f64,
    handshake_ms: f64,
}

#[derive(Debug, Default, Serialize)]
struct Verdict {
    pq_key_exchange: bool,
    pq_key_exchange_preferred: bool,
    pq_authentication: bool,
    pq_authentication_default: bool,
    /// What a client offering everything gets: hybrid, pqc or classical.
    key_exchange: &'static str,
    /// The default CertificateVerify: composite, ml-dsa or classical.
    authentication: &'static str,
    kind: &'static str,
    advice: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    target: String,
    server_name: String,
    versions: Vec<String>,
    groups_accepted: Vec<String>,
    preferred_group: Option<String>,
    hello_retry_groups: Vec<String>,
    signature_schemes_accepted: Vec<String>,
    default_signature_scheme: Option<String>,
    cipher_suites: Vec<String>,
    chain: Vec<ChainEntry>,
    chain_verified: Option<Verified>,
    chain_post_quantum: bool,
    ocsp: Ocsp,
    resumption: Resumption13,
    early_data: EarlyData,
    client_auth: ClientAuth,
    bytes: Bytes,
    probes: usize,
    verdict: Verdict,
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

fn bytes_of(label: String, outcome: &Outcome) -> Bytes {
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
        let entries: usize = certs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let extensions = if i == 0 && !outcome.seen.ocsp.is_empty() {
                    4 + 1 + 3 + outcome.seen.ocsp.len()
                } else {
                    0
                };
                3 + c.as_ref().len() + 2 + extensions
            })
            .sum();
        (
            (!certs.is_empty()).then_some(4 + 1 + 3 + entries),
            (outcome.seen.signature_len > 0).then_some(4 + 2 + 2 + outcome.seen.signature_len),
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

pub(crate) async fn run(args: ScanArgs) -> Result<(), Error> {
    let code_points = CodePoints::DEFAULT;
    let name = match &args.servername {
        Some(name) => name.clone(),
        None => args
            .target
            .rsplit_once(':')
            .map(|(host, _)| host.trim_matches(['[', ']']).to_string())
            .ok_or_else(|| Error::Config(format!("{:?}: give HOST:PORT", args.target)))?,
    };
    let server_name = ServerName::try_from(name.clone())
        .map_err(|_| Error::Config(format!("invalid server name {name:?}")))?;
    let roots = match &args.ca {
        Some(path) => Some(qtls::read_certificates(path)?),
        None => None,
    };
    let verification_provider = qtls_provider::compatible();
    let all_schemes = verification_provider
        .signature_verification_algorithms
        .supported_schemes();
    let groups = all_groups();
    let suites = all_suites();
    let mut scanner = Scanner {
        addr: args.target.clone(),
        name: server_name.clone(),
        timeout: (*args.timeout).max(Duration::from_millis(1)),
        interval: Duration::from_secs_f64(1.0 / args.rate.0),
        next: Instant::now(),
        probes: 0,
        timeouts: 0,
        all_schemes,
    };
    let both = vec![&rustls::version::TLS13, &rustls::version::TLS12];
    let base = Probe {
        groups: groups.iter().map(|(_, g)| *g).collect(),
        suites: suites.clone(),
        versions: both.clone(),
        schemes: scanner.all_schemes.clone(),
        store: None,
        early_data: false,
        linger: false,
    };
    let refused = |e: ProbeError| Error::Rejected(format!("scan of {}: {e}", args.target));
    // Everything offered: if this fails, nothing narrower will succeed.
    let baseline = scanner.run(&base).await.map_err(refused)?;

    let mut report = Report {
        target: args.target.clone(),
        server_name: name.clone(),
        ..Report::default()
    };
    let mut versions = Vec::new();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let probe = Probe {
            versions: vec![version],
            ..base.clone()
        };
        if scanner.run(&probe).await.is_ok() {
            versions.push(version);
            report.versions.push(version_name(version.version));
        }
    }
    if versions.is_empty() {
        return Err(refused(ProbeError::Handshake(
            "the server completed a handshake only when offered both versions at once".into(),
        )));
    }
    let base = Probe {
        versions: versions.clone(),
        ..base
    };

    let group_label = |group: NamedGroup| group_name(group, &code_points);
    report.preferred_group = baseline.group.map(group_label);
    if baseline.kind == Some(HandshakeKind::FullWithHelloRetryRequest) {
        if let Some(group) = &report.preferred_group {
            report.hello_retry_groups.push(group.clone());
        }
    }
    let mut bytes_probe: Option<(String, Outcome)> = None;
    for (name, group) in &groups {
        let probe = Probe {
            groups: vec![*group],
            ..base.clone()
        };
        if let Ok(outcome) = scanner.run(&probe).await {
            if outcome.group.map(group_label).as_deref() == Some(name) {
                report.groups_accepted.push(name.to_string());
                let hrr = outcome.kind == Some(HandshakeKind::FullWithHelloRetryRequest);
                if hrr && !report.hello_retry_groups.iter().any(|g| g == name) {
                    report.hello_retry_groups.push(name.to_string());
                }
                if report.preferred_group.as_deref() == Some(name) && !hrr {
                    bytes_probe = Some((format!("{name} offered alone"), outcome));
                }
            }
        }
    }

    for scheme in probed_schemes(&code_points) {
        if !scanner.all_schemes.contains(&scheme) {
            continue;
        }
        let probe = Probe {
            schemes: vec![scheme],
            ..base.clone()
        };
        if let Ok(outcome) = scanner.run(&probe).await {
            if outcome.seen.scheme == Some(scheme) {
                report
                    .signature_schemes_accepted
                    .push(code_points.scheme_name(scheme));
            }
        }
    }
    report.default_signature_scheme = baseline.seen.scheme.map(|s| code_points.scheme_name(s));

    for suite in &suites {
        if !versions
            .iter()
            .any(|v| v.version == suite.version().version)
        {
            continue;
        }
        let probe = Probe {
            suites: vec![*suite],
            ..base.clone()
        };
        if let Ok(outcome) = scanner.run(&probe).await {
            if let Some(name) = outcome.suite {
                if !report.cipher_suites.contains(&name) {
                    report.cipher_suites.push(name);
                }
            }
        }
    }

    // Resumption: TLS 1.3 tickets (RFC 8446 §4.6.1), then TLS 1.2 session IDs and tickets.
    if versions.contains(&&rustls::version::TLS13) {
        let session = Session::new(Tls12Resumption::SessionIdOrTickets, &base.schemes);
        let store = session.store.clone();
        let probe = Probe {
            versions: vec![&rustls::version::TLS13],
            store: Some(session),
            linger: true,
            ..base.clone()
        };
        if scanner.run(&probe).await.is_ok() {
            let tickets = store.tickets();
            report.resumption.tls13_ticket_issued = Some(!tickets.is_empty());
            if !tickets.is_empty() {
                let second = scanner.run(&probe).await;
                report.resumption.tls13_resumed = Some(
                    second
                        .as_ref()
                        .is_ok_and(|o| o.kind == Some(HandshakeKind::Resumed)),
                );
                let max = store.tickets().into_iter().max().unwrap_or(0);
                report.early_data.max_early_data_size = Some(max);
                if max > 0 && !store.tickets().is_empty() {
                    let early = Probe {
                        early_data: true,
                        linger: false,
                        ..probe.clone()
                    };
                    if let Ok(outcome) = scanner.run(&early).await {
                        report.early_data.offered = outcome.early_data_offered;
                        report.early_data.accepted = Some(outcome.early_data_accepted);
                    }
                }
            }
        }
    }
    if versions.contains(&&rustls::version::TLS12) {
        for (mode, slot) in [
            (Tls12Resumption::SessionIdOnly, 0),
            (Tls12Resumption::SessionIdOrTickets, 1),
        ] {
            let probe = Probe {
                versions: vec![&rustls::version::TLS12],
                store: Some(Session::new(mode, &base.schemes)),
                ..base.clone()
            };
            let resumed = match scanner.run(&probe).await {
                Ok(_) => scanner
                    .run(&probe)
                    .await
                    .is_ok_and(|o| o.kind == Some(HandshakeKind::Resumed)),
                Err(_) => false,
            };
            if slot == 0 {
                report.resumption.tls12_session_id = Some(resumed);
            } else {
                report.resumption.tls12_ticket = Some(resumed);
            }
        }
    }

    // Client authentication, as the baseline's CertificateRequest asked for it.
    if let Some((authorities, schemes)) = &baseline.client_auth {
        report.client_auth = ClientAuth {
            requested: true,
            signature_schemes: schemes
                .iter()
                .map(|s| code_points.scheme_name(*s))
                .collect(),
            certificate_authorities: authorities
                .iter()
                .map(|dn| distinguished_name(dn))
                .collect(),
        };
    }

    // The chain as sent, and whether it verifies against --ca.
    let certs = baseline.seen.certs.clone();
    report.chain = certs.iter().map(chain_entry).collect();
    let mut chain_pq = !report.chain.is_empty() && report.chain.iter().all(|c| c.post_quantum);
    let mut verifier = None;
    let mut issuer = certs.get(1).cloned();
    if let Some(roots) = roots {
        let built =
            qtls_verifier::ServerVerifierBuilder::new(roots.clone(), &verification_provider)
                .revocation_policy(qtls_verifier::RevocationPolicy::Off)
                .build_chain_verifier();
        match built {
            Ok(chain_verifier) => {
                let result = match certs.split_first() {
                    Some((leaf, intermediates)) => chain_verifier
                        .verify(
                            leaf,
                            intermediates,
                            qtls_verifier::Purpose::Server,
                            Some(&server_name),
                            &baseline.seen.ocsp,
                            UnixTime::now(),
                        )
                        .map_err(|e| e.to_string()),
                    None => Err("the server sent no certificate".into()),
                };
                report.chain_verified = Some(match result {
                    Ok(path) => {
                        chain_pq = chain_pq
                            && path.certificates.iter().all(|c| {
                                c.signature_algorithm.starts_with("ML-DSA")
                                    || c.signature_algorithm.starts_with("MLDSA")
                            });
                        if issuer.is_none() && path.certificates.len() == 2 {
                            // The issuer is the trust anchor itself.
                            issuer = roots.iter().find_map(|root| {
                                let parsed = x509_cert::Certificate::from_der(root).ok()?;
                                (parsed.tbs_certificate.subject.to_string()
                                    == path.certificates[1].subject)
                                    .then(|| root.clone())
                            });
                        }
                        Verified {
                            ok: true,
                            error: None,
                            path: path
                                .certificates
                                .iter()
                                .map(|c| c.subject.clone())
                                .collect(),
                            path_signature_algorithms: path
                                .certificates
                                .iter()
                                .map(|c| c.signature_algorithm.clone())
                                .collect(),
                        }
                    }
                    Err(error) => Verified {
                        ok: false,
                        error: Some(error),
                        path: Vec::new(),
                        path_signature_algorithms: Vec::new(),
                    },
                });
                verifier = Some(chain_verifier);
            }
            Err(e) => return Err(Error::Config(format!("--ca: {e}"))),
        }
    }
    report.chain_post_quantum = chain_pq;
    report.ocsp = staple_report(
        &baseline.seen.ocsp,
        &certs,
        verifier.as_ref(),
        issuer.as_ref(),
    );

    if scanner.timeouts >= MAX_TIMEOUTS {
        return Err(Error::Rejected(format!(
            "scan of {}: the server stopped answering after {} handshakes ({} ran into the \
             {:?} limit): it stalls or rate-limits; try a lower --rate",
            args.target, scanner.probes, scanner.timeouts, scanner.timeout
        )));
    }
    let (label, outcome) =
        bytes_probe.unwrap_or_else(|| ("everything offered".to_string(), baseline));
    report.bytes = bytes_of(label, &outcome);
    report.probes = scanner.probes;
    report.verdict = verdict(&report, &code_points);

    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| Error::Config(e.to_string()))?
        );
    } else {
        print_table(&report);
    }
    Ok(())
}

/// A certificate_authorities entry as RFC 4514 text: rustls hands over the Name's contents
/// without its outer SEQUENCE header (RFC 8446 §4.2.4 carries the whole DER Name).
fn distinguished_name(dn: &[u8]) -> String {
    let parse = |der: &[u8]| x509_cert::name::Name::from_der(der).map(|n| n.to_string());
    if let Ok(name) = parse(dn) {
        return name;
    }
    let mut wrapped = vec![0x30];
    match u32::try_from(dn.len()) {
        Ok(len) if len < 0x80 => wrapped.push(len as u8),
        Ok(len) => {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            wrapped.push(0x80 | (4 - skip) as u8);
            wrapped.extend_from_slice(&bytes[skip..]);
        }
        Err(_) => return hex::encode(dn),
    }
    wrapped.extend_from_slice(dn);
    parse(&wrapped).unwrap_or_else(|_| hex::encode(dn))
}

fn is_pq_group_name(name: &str) -> bool {
    name.contains("MLKEM")
}

fn is_pq_scheme_name(name: &str) -> bool {
    name.starts_with("ML_DSA") || name.starts_with("MLDSA")
}

fn verdict(report: &Report, _code_points: &CodePoints) -> Verdict {
    let pq_groups: Vec<&String> = report
        .groups_accepted
        .iter()
        .filter(|g| is_pq_group_name(g))
        .collect();
    let pq_schemes: Vec<&String> = report
        .signature_schemes_accepted
        .iter()
        .filter(|s| is_pq_scheme_name(s))
        .collect();
    let preferred = report.preferred_group.as_deref().unwrap_or("");
    let default_scheme = report.default_signature_scheme.as_deref().unwrap_or("");
    let mut v = Verdict {
        pq_key_exchange: !pq_groups.is_empty(),
        pq_key_exchange_preferred: is_pq_group_name(preferred),
        pq_authentication: !pq_schemes.is_empty(),
        pq_authentication_default: is_pq_scheme_name(default_scheme),
        ..Verdict::default()
    };
    v.key_exchange = if !is_pq_group_name(preferred) {
        "classical"
    } else if preferred.starts_with("MLKEM") {
        "pqc"
    } else {
        "hybrid"
    };
    v.authentication = if default_scheme.starts_with("MLDSA") {
        "composite"
    } else if default_scheme.starts_with("ML_DSA") {
        "ml-dsa"
    } else {
        "classical"
    };
    v.kind = match (v.key_exchange, v.authentication) {
        ("classical", "classical") => "classical",
        ("hybrid", "composite") => "hybrid",
        ("pqc", "ml-dsa") => "pqc-only",
        ("classical", _) | (_, "classical") => "partial",
        _ => "mixed",
    };
    if !v.pq_key_exchange {
        v.advice.push(
            "enable a hybrid key exchange (X25519MLKEM768, SecP384r1MLKEM1024) in TLS 1.3".into(),
        );
    } else if !v.pq_key_exchange_preferred {
        v.advice.push(format!(
            "prefer {} over {preferred}: a client offering both gets a classical key exchange",
            pq_groups[0]
        ));
    }
    if report
        .hello_retry_groups
        .iter()
        .any(|g| g == preferred && is_pq_group_name(g))
    {
        v.advice.push(format!(
            "{preferred} costs a HelloRetryRequest (an extra round trip) for clients that \
             send a key share for another group first"
        ));
    }
    if !v.pq_authentication {
        v.advice.push(
            "serve a composite (MLDSA65-ECDSA-P384-SHA512) or ML-DSA certificate, beside the \
             classical one for old clients"
                .into(),
        );
    } else if !report.chain_post_quantum {
        v.advice.push(
            "the chain is not post-quantum end to end: have the CAs sign with ML-DSA or \
             composite keys too"
                .into(),
        );
    }
    if report.versions.iter().any(|v| v == "TLSv1.2") {
        v.advice.push(
            "TLS 1.2 is accepted and has no post-quantum key exchange: a client that offers \
             only TLS 1.2 connects without it"
                .into(),
        );
    }
    v
}

fn print_table(report: &Report) {
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    };
    let opt = |item: &Option<String>| item.clone().unwrap_or_else(|| "-".into());
    let yes = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    };
    println!(
        "target              {} (SNI {})",
        report.target, report.server_name
    );
    println!("versions            {}", list(&report.versions));
    println!("groups accepted     {}", list(&report.groups_accepted));
    println!("preferred group     {}", opt(&report.preferred_group));
    println!("needed HRR          {}", list(&report.hello_retry_groups));
    println!(
        "signature schemes   {}",
        list(&report.signature_schemes_accepted)
    );
    println!("cipher suites       {}", list(&report.cipher_suites));
    println!(
        "chain               {} certificate(s) as sent",
        report.chain.len()
    );
    for (i, cert) in report.chain.iter().enumerate() {
        println!(
            "  [{i}] {}  issuer {}\n      key {}, signed {}, {} bytes, {} .. {}",
            cert.subject,
            cert.issuer,
            cert.key_algorithm,
            cert.signature_algorithm,
            cert.bytes,
            cert.not_before,
            cert.not_after
        );
    }
    match &report.chain_verified {
        None => println!("verified            - (no --ca)"),
        Some(v) if v.ok => println!("verified            yes: {}", v.path.join(" <- ")),
        Some(v) => println!("verified            NO: {}", opt(&v.error)),
    }
    println!(
        "post-quantum chain  {}",
        if report.chain_post_quantum {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "OCSP staple         {}",
        if report.ocsp.stapled {
            format!(
                "{} ({} bytes, verified {}, next update {})",
                opt(&report.ocsp.status),
                report.ocsp.bytes,
                yes(report.ocsp.verified),
                opt(&report.ocsp.next_update)
            )
        } else {
            "none".into()
        }
    );
    println!(
        "resumption          TLS 1.3 ticket issued {}, resumed {}; TLS 1.2 session ID {}, ticket {}",
        yes(report.resumption.tls13_ticket_issued),
        yes(report.resumption.tls13_resumed),
        yes(report.resumption.tls12_session_id),
        yes(report.resumption.tls12_ticket)
    );
    println!(
        "0-RTT               max_early_data_size {}, accepted {}",
        report
            .early_data
            .max_early_data_size
            .map_or("-".into(), |n| n.to_string()),
        yes(report.early_data.accepted)
    );
    println!(
        "client certificate  {}",
        if report.client_auth.requested {
            format!(
                "requested (schemes {}; CAs {})",
                list(&report.client_auth.signature_schemes),
                list(&report.client_auth.certificate_authorities)
            )
        } else {
            "not requested".into()
        }
    );
    let b = &report.bytes;
    let show = |n: Option<usize>| n.map_or("-".into(), |n| n.to_string());
    println!(
        "bytes ({})  flights {}",
        b.probe,
        b.flights
            .iter()
            .map(|f| format!("{} {} ({} seg)", f.from, f.bytes, f.segments))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!(
        "  ClientHello {}, ServerHello {}, HRR {}, Certificate {}, CertificateVerify {}; \
         connect {:.1} ms, handshake {:.1} ms",
        show(b.client_hello),
        show(b.server_hello),
        show(b.hello_retry_request),
        show(b.certificate),
        show(b.certificate_verify),
        b.tcp_connect_ms,
        b.handshake_ms
    );
    let v = &report.verdict;
    println!(
        "verdict             PQ key exchange {}{}, PQ authentication {}{}: {} ({} key \
         exchange, {} authentication)",
        if v.pq_key_exchange { "yes" } else { "no" },
        match (v.pq_key_exchange, v.pq_key_exchange_preferred) {
            (true, true) => " (preferred)",
            (true, false) => " (only on request)",
            _ => "",
        },
        if v.pq_authentication { "yes" } else { "no" },
        match (v.pq_authentication, v.pq_authentication_default) {
            (true, true) => " (default)",
            (true, false) => " (only on request)",
            _ => "",
        },
        v.kind,
        v.key_exchange,
        v.authentication
    );
    for advice in &v.advice {
        println!("  - {advice}");
    }
    println!("({} handshakes)", report.probes);
}
