//! A tokio TLS client that handshakes, sends one GET (or nothing) and reports what was
//! negotiated.

mod explain;
mod options;
mod report;
mod response;

use std::sync::Arc;
use std::time::Duration;

use qtls_provider::CodePoints;
use rustls_pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::connection::{ConnectionInfo, CountingStream};
use crate::error::Error;
use crate::key_update::{KeyUpdatePolicy, KeyUpdating};
use crate::tls::SchemeRecord;

pub use self::explain::explain_handshake_failure;
pub use self::options::{ClientOptions, Fallback};
pub(crate) use self::report::staple_status;
pub use self::report::ClientReport;
pub(crate) use self::response::ResponseReader;

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
        Some(request),
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
    request: Option<&HttpRequest>,
) -> Result<ClientReport, Error> {
    let host = match &server_name {
        ServerName::DnsName(name) => name.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "localhost".to_string(),
    };
    let early_data = request.is_some_and(|request| request.early_data) && config.enable_early_data;
    let connector = TlsConnector::from(config).early_data(early_data);
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout("TCP connect"))??;
    let _ = tcp.set_nodelay(true);
    let (counting, counters) = CountingStream::new(tcp);
    let mut tls = tokio::time::timeout(timeout, connector.connect(server_name, counting))
        .await
        .map_err(|_| Error::Timeout("TLS handshake"))??;
    let Some(request_bytes) = request.map(|request| request.bytes(&host)) else {
        return handshake_only(tls, counters, scheme, code_points, timeout).await;
    };
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
    let mut report = handshake_report(tls.get_ref().1, &counters, &scheme, code_points);
    report.early_data_offered = early_data_offered;
    let early_data_accepted = report.early_data_accepted;
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
    report.http_status = head.lines().next().map(str::to_string);
    report.body = body.trim_end().to_string();
    report.retried_after_425 = retried_after_425;
    Ok(report)
}

/// What the handshake of `connection` negotiated, before any request: the bytes `counters`
/// counted so far, no early data offered, no HTTP answer.
fn handshake_report(
    connection: &rustls::ClientConnection,
    counters: &crate::connection::ByteCounters,
    scheme: &SchemeRecord,
    code_points: &CodePoints,
) -> ClientReport {
    ClientReport {
        info: ConnectionInfo::of(connection, scheme.scheme(), code_points),
        handshake_bytes_sent: counters.written(),
        handshake_bytes_received: counters.read(),
        http_status: None,
        body: String::new(),
        resumed: connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        early_data_offered: false,
        early_data_accepted: connection.is_early_data_accepted(),
        retried_after_425: false,
        ocsp_status: scheme.ocsp_status(),
        alert: None,
        post_quantum_kx: connection
            .negotiated_key_exchange_group()
            .is_some_and(|group| qtls_provider::is_post_quantum_group(group.name(), code_points)),
    }
}

/// The report of a connection that sends no request: the handshake, then close_notify, and
/// whatever the server sends until it closes (its session tickets among it), read for at
/// most `timeout` and dropped.
async fn handshake_only(
    mut tls: tokio_rustls::client::TlsStream<CountingStream<TcpStream>>,
    counters: crate::connection::ByteCounters,
    scheme: SchemeRecord,
    code_points: &CodePoints,
    timeout: Duration,
) -> Result<ClientReport, Error> {
    let report = handshake_report(tls.get_ref().1, &counters, &scheme, code_points);
    // A TLS 1.3 server refuses a client certificate after the client's Finished, so its
    // alert arrives here; anything else about how it ends the connection is not ours to judge.
    let closed = tokio::time::timeout(timeout, async {
        tls.shutdown().await?;
        let mut sink = [0u8; 4096];
        while tokio::io::AsyncReadExt::read(&mut tls, &mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
    match closed {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            return Err(Error::Io(e));
        }
        Ok(Err(e)) => tracing::debug!("after close_notify: {e}"),
        Err(_) => tracing::info!("the server did not close within {timeout:?} of close_notify"),
    }
    Ok(report)
}

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
            let (config, record) = crate::client_config_with_intermediates(
                &settings,
                options.roots.clone(),
                options.intermediates.clone(),
                options.identity.as_ref(),
            )?;
            request_with_policy(
                addr,
                server_name,
                Arc::new(config),
                record,
                &settings.code_points,
                options.timeout,
                options.key_update,
                options.request.as_ref(),
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
    let (mut config, record) = crate::client_config_with_intermediates(
        settings,
        options.roots.clone(),
        options.intermediates.clone(),
        options.identity.as_ref(),
    )?;
    config.enable_early_data = options
        .request
        .as_ref()
        .is_some_and(|request| request.early_data);
    let config = Arc::new(config);
    let report_first = request_with_policy(
        first,
        server_name.clone(),
        Arc::clone(&config),
        Arc::clone(&record),
        &settings.code_points,
        options.timeout,
        options.key_update,
        options.request.as_ref(),
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
        options.request.as_ref(),
    )
    .await?;
    Ok((report_first, report_second))
}
