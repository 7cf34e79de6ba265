//! A tokio TLS server that answers HTTP GET with a JSON description of the connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use qtls_provider::CodePoints;
use rustls::SignatureScheme;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::connection::ConnectionInfo;
use crate::error::Error;

/// The largest HTTP request head the server reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// A TLS server bound to a listener.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    scheme: Option<SignatureScheme>,
    code_points: CodePoints,
    handshake_timeout: Duration,
}

impl Server {
    /// Binds `addr` and serves `config`, whose key signs with `scheme`.
    pub async fn bind(
        addr: SocketAddr,
        config: rustls::ServerConfig,
        scheme: Option<SignatureScheme>,
        code_points: CodePoints,
    ) -> Result<Self, Error> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            scheme,
            code_points,
            handshake_timeout: Duration::from_secs(10),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.listener.local_addr()?)
    }

    /// Accepts connections until the task is dropped; each runs on its own task.
    pub async fn run(self) -> Result<(), Error> {
        let this = Arc::new(self);
        loop {
            let (tcp, peer) = this.listener.accept().await?;
            let server = Arc::clone(&this);
            tokio::spawn(async move {
                match server.serve_one(tcp).await {
                    Ok(info) => tracing::info!(%peer, ?info, "served"),
                    Err(e) => tracing::warn!(%peer, "connection failed: {e}"),
                }
            });
        }
    }

    /// Accepts one connection and serves it (for tests and demos).
    pub async fn accept_one(&self) -> Result<ConnectionInfo, Error> {
        let (tcp, _) = self.listener.accept().await?;
        self.serve_one(tcp).await
    }

    /// Handshakes on one accepted TCP connection and answers one HTTP request.
    pub async fn serve_one(&self, tcp: TcpStream) -> Result<ConnectionInfo, Error> {
        let mut tls = tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(tcp))
            .await
            .map_err(|_| Error::Timeout("TLS handshake"))??;
        let info = ConnectionInfo::of(tls.get_ref().1, self.scheme, &self.code_points);
        let head = tokio::time::timeout(self.handshake_timeout, read_request_head(&mut tls))
            .await
            .map_err(|_| Error::Timeout("HTTP request"))??;
        let (status, body) = match head.split_whitespace().next() {
            Some("GET" | "HEAD") => (
                "200 OK",
                serde_json::to_string(&info).map_err(|e| Error::Http(e.to_string()))?,
            ),
            Some(_) => (
                "405 Method Not Allowed",
                "{\"error\":\"method not allowed\"}".into(),
            ),
            None => ("400 Bad Request", "{\"error\":\"empty request\"}".into()),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
            body.len() + 1
        );
        tls.write_all(response.as_bytes()).await?;
        // close_notify, then the TCP FIN.
        tls.shutdown().await?;
        Ok(info)
    }
}

/// Reads up to the blank line ending an HTTP/1.x request head.
async fn read_request_head<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<String, Error> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let read = stream.read(&mut buf).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buf[..read]);
        if head.len() > MAX_REQUEST_HEAD {
            return Err(Error::Http(format!(
                "request head over {MAX_REQUEST_HEAD} bytes"
            )));
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
