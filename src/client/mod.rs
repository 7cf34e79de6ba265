//! A tokio TLS client that handshakes, sends one GET and reports what was negotiated.

use std::sync::Arc;
use std::time::Duration;

use qtls_provider::{CodePoints, Preset};
use rustls_pki_types::ServerName;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::connection::{ConnectionInfo, CountingStream};
use crate::error::Error;
use crate::key_update::{KeyUpdatePolicy, KeyUpdating};
use crate::tls::SchemeRecord;

/// The most response bytes the client keeps.
const MAX_RESPONSE: usize = 1024 * 1024;

/// The largest response head the client parses (a longer one is kept unparsed).
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// What one client connection negotiated, cost and received.
#[derive(Clone, Debug, Serialize)]
pub struct ClientReport {
    /// The negotiated parameters.
    #[serde(flatten)]
    pub info: ConnectionInfo,
    /// Bytes the client wrote during the handshake.
    pub handshake_bytes_sent: u64,
    /// Bytes the client read during the handshake.
    pub handshake_bytes_received: u64,
    /// The HTTP status line of the response.
    pub http_status: Option<String>,
    /// Whether the session was resumed (PSK) rather than fully authenticated.
    pub resumed: bool,
    /// Whether the client sent its request as early data (it held a ticket allowing it).
    pub early_data_offered: bool,
    /// Whether the server accepted the early data.
    pub early_data_accepted: bool,
    /// Whether the server answered the early request with 425 Too Early and the client
    /// sent it again after the handshake.
    pub retried_after_425: bool,
    /// The stapled OCSP status of the server's certificate: `good`, `unknown` (the
    /// responder does not know it), or `none` when the server stapled nothing (`revoked`
    /// fails the handshake).
    pub ocsp_status: Option<String>,
    /// The alert that ended a failed attempt before this one (with `--fallback`).
    pub alert: Option<String>,
    /// Whether the key exchange has a post-quantum (ML-KEM) part.
    pub post_quantum_kx: bool,
    /// The response body.
    pub body: String,
}

/// What a verified OCSP staple says of the server's certificate
/// ([RFC 6960 §4.2.1](https://www.rfc-editor.org/rfc/rfc6960#section-4.2.1)): `good`,
/// `revoked` or `unknown` (also for a staple without an answer about it); `none` without a
/// staple; `invalid` for one that does not parse.
pub(crate) fn staple_status(
    ocsp_response: &[u8],
    end_entity: &rustls_pki_types::CertificateDer<'_>,
) -> &'static str {
    // A DER INTEGER may carry leading zero octets; CertIDs and certificates need not agree.
    fn significant(serial: &[u8]) -> &[u8] {
        let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
        &serial[start..]
    }
    if ocsp_response.is_empty() {
        return "none";
    }
    let (Ok(response), Ok(certificate)) = (
        qtls_pki::OcspResponse::from_der(ocsp_response.to_vec()),
        qtls_pki::Certificate::from_der(end_entity.to_vec()),
    ) else {
        return "invalid";
    };
    let serial = significant(certificate.serial());
    match response
        .responses()
        .iter()
        .find(|single| significant(&single.cert_id.serial()) == serial)
        .map(|single| single.status)
    {
        Some(qtls_pki::OcspCertStatus::Good) => "good",
        Some(qtls_pki::OcspCertStatus::Revoked { .. }) => "revoked",
        _ => "unknown",
    }
}

/// A client connection that updates its traffic keys by a [`KeyUpdatePolicy`].
pub type ClientStream = KeyUpdating<tokio_rustls::client::TlsStream<TcpStream>>;

/// Connects to `addr` and handshakes with `server_name`; the stream updates its traffic keys
/// by `key_update` (on top of rustls's own updates).
pub async fn connect(
    addr: &str,
    server_name: ServerName<'static>,
    config: impl Into<Arc<rustls::ClientConfig>>,
    key_update: KeyUpdatePolicy,
    timeout: Duration,
) -> Result<ClientStream, Error> {
    let connector = TlsConnector::from(config.into());
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout("TCP connect"))??;
    let tls = tokio::time::timeout(timeout, connector.connect(server_name, tcp))
        .await
        .map_err(|_| Error::Timeout("TLS handshake"))??;
    Ok(KeyUpdating::new(tls, key_update, "client"))
}

/// Connects to `addr`, handshakes with `server_name`, sends `GET /` and reads the response.
pub async fn get(
    addr: &str,
    server_name: ServerName<'static>,
    config: impl Into<Arc<rustls::ClientConfig>>,
    scheme: SchemeRecord,
    code_points: &CodePoints,
    timeout: Duration,
) -> Result<ClientReport, Error> {
    request(
        addr,
        server_name,
        config.into(),
        scheme,
        code_points,
        timeout,
        &HttpRequest::default(),
    )
    .await
}

/// The request a client sends: `GET /` by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method (`GET`, `POST`, ...).
    pub method: String,
    /// Bytes of body to send (a POST's), each `x`.
    pub body_len: usize,
    /// Send the request as early data (0-RTT) when the client holds a ticket that allows
    /// it; after a rejection, or a 425 Too Early, it is sent again after the handshake.
    pub early_data: bool,
}

impl Default for HttpRequest {
    fn default() -> Self {
        Self {
            method: "GET".into(),
            body_len: 0,
            early_data: false,
        }
    }
}

impl HttpRequest {
    fn bytes(&self, host: &str) -> Vec<u8> {
        let mut request = format!(
            "{} / HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.method, self.body_len
        )
        .into_bytes();
        request.resize(request.len() + self.body_len, b'x');
        request
    }
}

/// Connects to `addr`, handshakes with `server_name` (sending `request` as early data when
/// it asks to and `config` holds a suitable ticket), sends `request` and reads the response;
/// a `425 Too Early` answer to early data is followed by the same request once more.
pub async fn request(
    addr: &str,
    server_name: ServerName<'static>,
    config: Arc<rustls::ClientConfig>,
    scheme: SchemeRecord,
    code_points: &CodePoints,
    timeout: Duration,
    request: &HttpRequest,
) -> Result<ClientReport, Error> {
    request_with_policy(
        addr,
        server_name,
        config,
        scheme,
        code_points,
        timeout,
        KeyUpdatePolicy::default(),
        request,
    )
    .await
}

#[allow(clippy::too_many_arguments)] // One internal function behind the public ones.
async fn request_with_policy(
    addr: &str,
    server_name: ServerName<'static>,
    config: Arc<rustls::ClientConfig>,
    scheme: SchemeRecord,
    code_points: &CodePoints,
    timeout: Duration,
    key_update: KeyUpdatePolicy,
    request: &HttpRequest,
) -> Result<ClientReport, Error> {
    let host = match &server_name {
        ServerName::DnsName(name) => name.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "localhost".to_string(),
    };
    let early_data = request.early_data && config.enable_early_data;
    let connector = TlsConnector::from(config).early_data(early_data);
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout("TCP connect"))??;
    let _ = tcp.set_nodelay(true);
    let (counting, counters) = CountingStream::new(tcp);
    let mut tls = tokio::time::timeout(timeout, connector.connect(server_name, counting))
        .await
        .map_err(|_| Error::Timeout("TLS handshake"))??;
    let request_bytes = request.bytes(&host);
    // With a ticket that allows it, the stream is still in its handshake: what is written
    // now goes out as early data (up to the ticket's limit), and flushing completes the
    // handshake, re-sending the early data if the server skipped it.
    let early_data_offered = tls.get_mut().1.early_data().is_some();
    if early_data_offered {
        tokio::time::timeout(timeout, async {
            tls.write_all(&request_bytes).await?;
            tls.flush().await
        })
        .await
        .map_err(|_| Error::Timeout("TLS handshake with early data"))??;
    }
    let (handshake_bytes_sent, handshake_bytes_received) = (counters.written(), counters.read());
    let connection = tls.get_ref().1;
    let info = ConnectionInfo::of(connection, scheme.scheme(), code_points);
    let resumed = connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let early_data_accepted = connection.is_early_data_accepted();
    let post_quantum_kx = connection
        .negotiated_key_exchange_group()
        .is_some_and(|group| qtls_provider::is_post_quantum_group(group.name(), code_points));
    let mut tls = KeyUpdating::new(tls, key_update, "client");
    let (response, retried_after_425) = tokio::time::timeout(timeout, async {
        if !early_data_offered {
            tls.write_all(&request_bytes).await?;
        }
        let mut reader = ResponseReader::default();
        let mut retried = false;
        if early_data_accepted {
            // The server may answer early data with 425 and wait for the request again.
            let first = reader.head_and_body(&mut tls).await?;
            if first.starts_with(b"HTTP/1.1 425") {
                tracing::info!("425 Too Early: sending the request again after the handshake");
                tls.write_all(&request_bytes).await?;
                retried = true;
            } else {
                reader.keep(first);
            }
        }
        let response = reader.rest(&mut tls).await?;
        // close_notify: we are done too (the server may already have sent its own).
        let _ = tls.shutdown().await;
        Ok::<_, Error>((response, retried))
    })
    .await
    .map_err(|_| Error::Timeout("HTTP response"))??;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok(ClientReport {
        info,
        handshake_bytes_sent,
        handshake_bytes_received,
        http_status: head.lines().next().map(str::to_string),
        body: body.trim_end().to_string(),
        resumed,
        early_data_offered,
        early_data_accepted,
        retried_after_425,
        ocsp_status: scheme.ocsp_status(),
        alert: None,
        post_quantum_kx,
    })
}

/// Reads HTTP/1.1 responses: one by its Content-Length, or the rest until close.
#[derive(Default)]
pub(crate) struct ResponseReader {
    buffered: Vec<u8>,
    kept: Vec<u8>,
    pub(crate) head_end: crate::http1::HeadEnd,
}

impl ResponseReader {
    /// One response, head and body (by Content-Length). Each byte of the head is looked at a
    /// bounded number of times however it is cut into reads; a head that does not parse, or
    /// whose Content-Length is not one number, is an error.
    pub(crate) async fn head_and_body<S: AsyncRead + Unpin>(
        &mut self,
        tls: &mut S,
    ) -> Result<Vec<u8>, Error> {
        let head_end = loop {
            if let Some(end) = self.head_end.find(&self.buffered) {
                break end;
            }
            if self.buffered.len() > MAX_RESPONSE_HEAD || !self.fill(tls).await? {
                self.head_end.restart();
                return Ok(std::mem::take(&mut self.buffered));
            }
        };
        self.head_end.restart();
        self.head_end.parsed(head_end);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&self.buffered[..head_end]) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(Error::Http("incomplete response head".into()))
            }
            Err(e) => return Err(Error::Http(format!("malformed response head: {e}"))),
        }
        let body_len = crate::http1::content_length(response.headers)
            .map_err(Error::Http)?
            .map_or(0, |length| usize::try_from(length).unwrap_or(usize::MAX))
            .min(MAX_RESPONSE);
        while self.buffered.len() < head_end + body_len {
            if !self.fill(tls).await? {
                break;
            }
        }
        let end = (head_end + body_len).min(self.buffered.len());
        Ok(self.buffered.drain(..end).collect())
    }

    /// Hands a response read by [`Self::head_and_body`] back, to be returned by [`Self::rest`].
    fn keep(&mut self, response: Vec<u8>) {
        self.kept = response;
    }

    /// Everything until the server closes, after anything kept.
    async fn rest<S: AsyncRead + Unpin>(&mut self, tls: &mut S) -> Result<Vec<u8>, Error> {
        while self.buffered.len() <= MAX_RESPONSE && self.fill(tls).await? {}
        let mut response = std::mem::take(&mut self.kept);
        response.append(&mut self.buffered);
        Ok(response)
    }

    /// Reads more; false at the end of the stream.
    async fn fill<S: AsyncRead + Unpin>(&mut self, tls: &mut S) -> Result<bool, Error> {
        let mut buf = [0u8; 4096];
        match tls.read(&mut buf).await {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buffered.extend_from_slice(&buf[..n]);
                Ok(true)
            }
            // Servers that close without close_notify still gave us their response.
            Err(e)
                if e.kind() == std::io::ErrorKind::UnexpectedEof
                    && !(self.buffered.is_empty() && self.kept.is_empty()) =>
            {
                Ok(false)
            }
            Err(e) => Err(Error::from(e)),
        }
    }
}

/// A client's settings: policy, trust anchors, identity, and the fallback preset.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Policy, backend, code points, groups.
    pub settings: crate::TlsSettings,
    /// Trust anchors for the server's chain.
    pub roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// Client certificate and key for mTLS.
    pub identity: Option<crate::Identity>,
    /// After a handshake_failure alert, retry once as this says, say so in the log, and
    /// report the first alert.
    pub fallback: Option<Fallback>,
    /// Limit for each step (connect, handshake, response).
    pub timeout: Duration,
    /// When the connection updates its traffic keys (besides rustls's own updates).
    pub key_update: KeyUpdatePolicy,
    /// What to send; with `early_data`, a resumed connection sends it as 0-RTT data.
    pub request: HttpRequest,
}

/// What a client retries with after a handshake_failure alert.
///
/// Alerts are not authenticated (RFC 8446 §6): anyone on the path can end a handshake with
/// handshake_failure. A fallback that answered it with classical key exchange would let them
/// strip the post-quantum protection ("harvest now, decrypt later"), so every fallback keeps
/// it except [`Fallback::DangerClassical`], which the user must ask for by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fallback {
    /// The preset's post-quantum groups only, over TLS 1.3 (for `compatible`: every hybrid
    /// group, then ML-KEM alone, and every TLS 1.3 cipher suite and signature algorithm).
    PostQuantum(Preset),
    /// The compatible preset as it is: classical groups and TLS 1.2 included, so an on-path
    /// attacker who forges one alert gets a connection without post-quantum key exchange.
    DangerClassical,
}

impl From<Preset> for Fallback {
    fn from(preset: Preset) -> Self {
        Self::PostQuantum(preset)
    }
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PostQuantum(preset) => write!(f, "{preset}"),
            Self::DangerClassical => f.write_str("classical"),
        }
    }
}

impl std::str::FromStr for Fallback {
    type Err = Error;

    /// `hybrid`, `pqc-only`, `compatible` (post-quantum key exchange kept) or `classical`.
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.eq_ignore_ascii_case("classical") {
            return Ok(Self::DangerClassical);
        }
        s.parse::<Preset>().map(Self::PostQuantum).map_err(|_| {
            Error::Config(format!(
                "unknown fallback {s:?}; known: hybrid, pqc-only, compatible (post-quantum key \
                 exchange kept), classical (without post-quantum key exchange)"
            ))
        })
    }
}

impl Fallback {
    /// The settings of the retry after `first` failed.
    fn settings(self, first: &crate::TlsSettings) -> Result<crate::TlsSettings, Error> {
        let preset = match self {
            Self::PostQuantum(preset) => preset,
            Self::DangerClassical => Preset::Compatible,
        };
        let mut settings = crate::TlsSettings {
            preset,
            groups: Vec::new(),
            cipher_suites: Vec::new(),
            ..first.clone()
        };
        if self == Self::DangerClassical {
            return Ok(settings);
        }
        if !preset.requires_post_quantum_kx() {
            settings.groups = POST_QUANTUM_GROUPS.iter().map(|g| g.to_string()).collect();
            // rustls has no post-quantum group for TLS 1.2.
            settings.cipher_suites = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES
                .iter()
                .filter(|suite| suite.version() == &rustls::version::TLS13)
                .map(|suite| format!("{:?}", suite.suite()))
                .collect();
        }
        // Fail closed should a preset ever change: every group offered is post-quantum.
        let provider = settings.provider()?;
        let classical: Vec<_> = provider
            .kx_groups
            .iter()
            .filter(|group| {
                !qtls_provider::is_post_quantum_group(group.name(), &settings.code_points)
            })
            .map(|group| group.name())
            .collect();
        if !classical.is_empty() {
            return Err(Error::Config(format!(
                "fallback {self} would offer classical groups {classical:?}"
            )));
        }
        Ok(settings)
    }
}

/// The groups of a post-quantum fallback from the compatible preset, in preference order.
const POST_QUANTUM_GROUPS: [&str; 6] = [
    "SecP384r1MLKEM1024",
    "X25519MLKEM1024",
    "X25519MLKEM768",
    "SecP256r1MLKEM768",
    "MLKEM1024",
    "MLKEM768",
];

/// [`get`] with [`ClientOptions`], retrying once as [`ClientOptions::fallback`] says after
/// handshake_failure.
pub async fn fetch(
    addr: &str,
    server_name: ServerName<'static>,
    options: &ClientOptions,
) -> Result<ClientReport, Error> {
    let attempt = |settings: crate::TlsSettings| {
        let server_name = server_name.clone();
        async move {
            let (config, record) =
                crate::client_config(&settings, options.roots.clone(), options.identity.as_ref())?;
            request_with_policy(
                addr,
                server_name,
                Arc::new(config),
                record,
                &settings.code_points,
                options.timeout,
                options.key_update,
                &options.request,
            )
            .await
        }
    };
    let first = attempt(options.settings.clone()).await;
    let fallback = match (first, options.fallback) {
        (Err(error), Some(fallback)) if is_handshake_failure(&error) => fallback,
        (other, _) => return other,
    };
    let settings = fallback.settings(&options.settings)?;
    let preset = options.settings.preset;
    match fallback {
        Fallback::PostQuantum(_) => tracing::warn!(
            "handshake_failure with preset {preset}; retrying once with preset {fallback} \
             (post-quantum groups only)"
        ),
        Fallback::DangerClassical => tracing::warn!(
            "handshake_failure with preset {preset}; retrying once with preset compatible \
             WITHOUT post-quantum key exchange (--fallback classical): an on-path attacker can \
             send that alert"
        ),
    }
    match attempt(settings).await {
        Ok(mut report) => {
            report.alert = Some("handshake_failure".into());
            Ok(report)
        }
        Err(error) => {
            if let Fallback::PostQuantum(_) = fallback {
                tracing::warn!(
                    "the fallback failed too ({error}): it keeps post-quantum key exchange, \
                     because a handshake_failure alert is unauthenticated and anyone on the \
                     path can send one. If the server has no post-quantum group, only \
                     `--fallback classical` connects, without post-quantum protection"
                );
            }
            Err(error)
        }
    }
}

/// What `settings` makes a client offer, by name: key-exchange groups and the signature
/// schemes its server verifier accepts (RFC 8446 §4.2.7, §4.2.3), in preference order.
struct Offer {
    groups: Vec<String>,
    schemes: Vec<String>,
    /// Every group offered has an ML-KEM part.
    post_quantum_groups_only: bool,
    /// Some group offered has an ML-KEM part.
    any_post_quantum_group: bool,
    /// Every scheme accepted is ML-DSA or composite.
    post_quantum_schemes_only: bool,
}

impl Offer {
    fn of(
        settings: &crate::TlsSettings,
        roots: &[rustls_pki_types::CertificateDer<'static>],
    ) -> Result<Self, Error> {
        let provider = settings.provider()?;
        let code_points = &settings.code_points;
        let groups: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        let verifier = qtls_verifier::ServerVerifierBuilder::new(roots.to_vec(), &provider)
            .revocation_policy(qtls_verifier::RevocationPolicy::Off)
            .online_ocsp(false)
            .fetch_crls(false)
            .build()
            .map_err(|e| Error::Config(format!("server verifier: {e}")))?;
        let schemes =
            rustls::client::danger::ServerCertVerifier::supported_verify_schemes(verifier.as_ref());
        let is_pq_group =
            |g: &rustls::NamedGroup| qtls_provider::is_post_quantum_group(*g, code_points);
        Ok(Self {
            post_quantum_groups_only: !groups.is_empty() && groups.iter().all(is_pq_group),
            any_post_quantum_group: groups.iter().any(is_pq_group),
            post_quantum_schemes_only: !schemes.is_empty()
                && schemes
                    .iter()
                    .all(|s| code_points.is_post_quantum_scheme(*s)),
            groups: groups
                .iter()
                .map(|g| crate::group_name(*g, code_points))
                .collect(),
            schemes: schemes
                .iter()
                .map(|s| code_points.scheme_name(*s))
                .collect(),
        })
    }
}

/// For a handshake the server refused over its parameters (handshake_failure or
/// insufficient_security received, [RFC 8446 §6.2](https://www.rfc-editor.org/rfc/rfc8446#section-6.2);
/// handshake_failure sent), lines saying what this client offered and the likely cause,
/// worked out from the alert and `options` (after a `fallback`, from the retry's settings,
/// which produced the error). Alerts carry no reason, so the causes are the candidates this
/// configuration makes likely. `None` for other errors.
pub fn explain_handshake_failure(options: &ClientOptions, error: &Error) -> Option<Vec<String>> {
    let (direction, alert) = error.alert()?;
    if !matches!(
        (direction, alert.as_str()),
        ("received", "handshake_failure" | "insufficient_security") | ("sent", "handshake_failure")
    ) {
        return None;
    }
    let settings = match options.fallback {
        Some(fallback) if alert == "handshake_failure" => fallback
            .settings(&options.settings)
            .unwrap_or_else(|_| options.settings.clone()),
        _ => options.settings.clone(),
    };
    let offer = Offer::of(&settings, &options.roots).ok()?;
    let groups = offer.groups.join(", ");
    let mut lines = vec![
        format!("the handshake failed: {alert} {direction}"),
        format!("key-exchange groups we offered: {groups}"),
        format!("signature schemes we offered: {}", offer.schemes.join(", ")),
    ];
    let mut causes = Vec::new();
    match (direction, alert.as_str()) {
        ("received", "insufficient_security") if !offer.any_post_quantum_group => {
            causes.push(format!(
                "the server requires post-quantum key exchange and we offered no post-quantum \
                 key exchange ({groups}): offer an ML-KEM group (--preset hybrid, or --group \
                 X25519MLKEM768)"
            ))
        }
        ("received", "insufficient_security") => causes.push(
            "the server found what we offered too weak for its policy (it may require \
             post-quantum signatures, or a group or cipher suite we did not offer)"
                .into(),
        ),
        ("received", _) => {
            if offer.post_quantum_schemes_only {
                causes.push(
                    "the server offers no composite/ML-DSA scheme we accept: we accept \
                     post-quantum signatures only, so a server whose certificates are all \
                     classical (ECDSA, RSA, Ed25519) cannot authenticate to us (--preset \
                     hybrid or compatible accepts those too)"
                        .into(),
                );
            }
            if offer.post_quantum_groups_only {
                causes.push(format!(
                    "no key-exchange group in common: we offered post-quantum groups only \
                     ({groups}), and a server without them refuses us"
                ));
            } else if !settings.groups.is_empty() {
                causes.push(format!(
                    "no key-exchange group in common: we offered only {groups} (--group)"
                ));
            }
            if !settings.cipher_suites.is_empty() {
                causes.push(format!(
                    "no cipher suite in common: we offered only {} (--cipher-suite)",
                    settings.cipher_suites.join(", ")
                ));
            }
            if causes.is_empty() {
                causes.push(
                    "no key-exchange group, cipher suite or signature scheme in common with \
                     the server"
                        .into(),
                );
            }
        }
        _ => causes.push(
            "the server chose parameters we did not offer or cannot use (a group, cipher \
             suite or signature scheme outside the lists above)"
                .into(),
        ),
    }
    lines.extend(
        causes
            .into_iter()
            .map(|cause| format!("likely cause: {cause}")),
    );
    Some(lines)
}

fn is_handshake_failure(error: &Error) -> bool {
    matches!(error.alert(), Some((_, alert)) if alert == "handshake_failure")
}

/// Two connections with one client configuration (so one session cache): the first to
/// `first`, the second to `second`, which tries to resume the first's session (stateful or
/// ticket, whichever the server gave) — on another node of a fleet, say.
pub async fn fetch_and_reconnect(
    first: &str,
    second: &str,
    server_name: ServerName<'static>,
    options: &ClientOptions,
) -> Result<(ClientReport, ClientReport), Error> {
    let settings = &options.settings;
    let (mut config, record) =
        crate::client_config(settings, options.roots.clone(), options.identity.as_ref())?;
    config.enable_early_data = options.request.early_data;
    let config = Arc::new(config);
    let report_first = request_with_policy(
        first,
        server_name.clone(),
        Arc::clone(&config),
        Arc::clone(&record),
        &settings.code_points,
        options.timeout,
        options.key_update,
        &options.request,
    )
    .await?;
    let report_second = request_with_policy(
        second,
        server_name,
        config,
        record,
        &settings.code_points,
        options.timeout,
        options.key_update,
        &options.request,
    )
    .await?;
    Ok((report_first, report_second))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    use qtls_test_support::io::OneByteAtATime;

    fn stream(text: &str) -> OneByteAtATime {
        OneByteAtATime(std::io::Cursor::new(text.as_bytes().to_vec()))
    }

    #[tokio::test]
    async fn a_head_read_one_byte_at_a_time_is_scanned_a_bounded_number_of_times() {
        let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
        for len in [0, 1, 2, 3, 10, 100, 1000] {
            head.push_str(&format!("X-Padding: {}\r\n", "a".repeat(len)));
        }
        head.push_str(&format!("X-Padding: {}\r\n\r\n", "a".repeat(30_000)));
        let mut reader = ResponseReader::default();
        let response = reader
            .head_and_body(&mut stream(&format!("{head}okEXTRA")))
            .await
            .unwrap();
        assert_eq!(response, format!("{head}ok").into_bytes());
        assert!(
            reader.head_end.scanned() <= 4 * head.len() as u64,
            "{} bytes examined for a head of {}",
            reader.head_end.scanned(),
            head.len()
        );
    }

    #[tokio::test]
    async fn content_lengths_must_be_one_unsigned_number() {
        for header in [
            "Content-Length: +2",
            "Content-Length: 2\r\nContent-Length: 3",
            "Content-Length: 2, 3",
            "Content-Length: -1",
        ] {
            let mut reader = ResponseReader::default();
            let result = reader
                .head_and_body(&mut stream(&format!(
                    "HTTP/1.1 425 Too Early\r\n{header}\r\n\r\nok"
                )))
                .await;
            assert!(result.is_err(), "{header:?}: {result:?}");
        }
        let mut reader = ResponseReader::default();
        let response = reader
            .head_and_body(&mut stream(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nokEXTRA",
            ))
            .await
            .unwrap();
        assert!(response.ends_with(b"\r\n\r\nok"));
    }
}
