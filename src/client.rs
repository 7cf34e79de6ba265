//! A tokio TLS client that handshakes, sends one GET and reports what was negotiated.

use std::sync::Arc;
use std::time::Duration;

use qtls_provider::CodePoints;
use rustls_pki_types::ServerName;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::connection::{ConnectionInfo, CountingStream};
use crate::error::Error;
use crate::key_update::{KeyUpdatePolicy, KeyUpdating};
use crate::tls::SchemeRecord;

/// The most response bytes the client keeps.
const MAX_RESPONSE: usize = 1024 * 1024;

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
    /// The stapled OCSP status: `good`, or `none` when the server stapled nothing.
    pub ocsp_status: Option<String>,
    /// The alert that ended a failed attempt before this one (with `--fallback`).
    pub alert: Option<String>,
    /// The response body.
    pub body: String,
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
    get_with_policy(
        addr,
        server_name,
        config,
        scheme,
        code_points,
        timeout,
        KeyUpdatePolicy::default(),
    )
    .await
}

async fn get_with_policy(
    addr: &str,
    server_name: ServerName<'static>,
    config: impl Into<Arc<rustls::ClientConfig>>,
    scheme: SchemeRecord,
    code_points: &CodePoints,
    timeout: Duration,
    key_update: KeyUpdatePolicy,
) -> Result<ClientReport, Error> {
    let host = match &server_name {
        ServerName::DnsName(name) => name.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "localhost".to_string(),
    };
    let connector = TlsConnector::from(config.into());
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout("TCP connect"))??;
    let (counting, counters) = CountingStream::new(tcp);
    let tls = tokio::time::timeout(timeout, connector.connect(server_name, counting))
        .await
        .map_err(|_| Error::Timeout("TLS handshake"))??;
    let (handshake_bytes_sent, handshake_bytes_received) = (counters.written(), counters.read());
    let info = ConnectionInfo::of(tls.get_ref().1, scheme.scheme(), code_points);
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let mut tls = KeyUpdating::new(tls, key_update, "client");
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let response = tokio::time::timeout(timeout, async {
        tls.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    response.extend_from_slice(&buf[..n]);
                    if response.len() > MAX_RESPONSE {
                        break;
                    }
                }
                // Servers that close without close_notify still gave us their response.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {
                    break
                }
                Err(e) => return Err(Error::from(e)),
            }
        }
        // close_notify: we are done too (the server may already have sent its own).
        let _ = tls.shutdown().await;
        Ok::<_, Error>(response)
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
        ocsp_status: scheme.ocsp_status(),
        alert: None,
    })
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
    /// After a handshake_failure alert, retry once with this (broader) preset, say so in
    /// the log, and report the first alert (the design's scenario 1).
    pub fallback: Option<qtls_provider::Preset>,
    /// Limit for each step (connect, handshake, response).
    pub timeout: Duration,
    /// When the connection updates its traffic keys (besides rustls's own updates).
    pub key_update: KeyUpdatePolicy,
}

/// [`get`] with [`ClientOptions`], retrying once with the fallback preset after
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
            get_with_policy(
                addr,
                server_name,
                config,
                record,
                &settings.code_points,
                options.timeout,
                options.key_update,
            )
            .await
        }
    };
    match attempt(options.settings.clone()).await {
        Err(error) if options.fallback.is_some() && is_handshake_failure(&error) => {
            let fallback = options.fallback.unwrap_or_default();
            tracing::warn!(
                "handshake_failure with preset {}; retrying once with preset {fallback}",
                options.settings.preset
            );
            let settings = crate::TlsSettings {
                preset: fallback,
                groups: Vec::new(),
                cipher_suites: Vec::new(),
                ..options.settings.clone()
            };
            let mut report = attempt(settings).await?;
            report.alert = Some("handshake_failure".into());
            Ok(report)
        }
        other => other,
    }
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
    let (config, record) =
        crate::client_config(settings, options.roots.clone(), options.identity.as_ref())?;
    let config = Arc::new(config);
    let report_first = get_with_policy(
        first,
        server_name.clone(),
        Arc::clone(&config),
        Arc::clone(&record),
        &settings.code_points,
        options.timeout,
        options.key_update,
    )
    .await?;
    let report_second = get_with_policy(
        second,
        server_name,
        config,
        record,
        &settings.code_points,
        options.timeout,
        options.key_update,
    )
    .await?;
    Ok((report_first, report_second))
}
