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
    /// The response body.
    pub body: String,
}

/// Connects to `addr`, handshakes with `server_name`, sends `GET /` and reads the response.
pub async fn get(
    addr: &str,
    server_name: ServerName<'static>,
    config: rustls::ClientConfig,
    scheme: SchemeRecord,
    code_points: &CodePoints,
    timeout: Duration,
) -> Result<ClientReport, Error> {
    let host = match &server_name {
        ServerName::DnsName(name) => name.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "localhost".to_string(),
    };
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout("TCP connect"))??;
    let (counting, counters) = CountingStream::new(tcp);
    let mut tls = tokio::time::timeout(timeout, connector.connect(server_name, counting))
        .await
        .map_err(|_| Error::Timeout("TLS handshake"))??;
    let (handshake_bytes_sent, handshake_bytes_received) = (counters.written(), counters.read());
    let recorded = *scheme.lock().unwrap_or_else(|p| p.into_inner());
    let info = ConnectionInfo::of(tls.get_ref().1, recorded, code_points);
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
    })
}
