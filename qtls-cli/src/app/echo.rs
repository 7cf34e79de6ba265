//! The echo app of `qtls server --app echo`: every byte back, for tests and tlsfuzzer.

use std::time::Duration;

use qtls::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::server::CloseKind;

/// Sends every byte read back on an accepted TLS stream until the peer's close_notify (or
/// `idle_timeout` without data), then closes with close_notify.
pub async fn serve_echo<S>(mut tls: S, idle_timeout: Duration) -> Result<CloseKind, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 64 * 1024];
    let close = loop {
        match tokio::time::timeout(idle_timeout, tls.read(&mut buf)).await {
            Err(_) => break CloseKind::PeerKeptOpen,
            Ok(Ok(0)) => break CloseKind::Clean,
            Ok(Ok(n)) => tls.write_all(&buf[..n]).await?,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break CloseKind::Truncated
            }
            Ok(Err(e)) => return Err(e.into()),
        }
    };
    let _ = tokio::time::timeout(idle_timeout, tls.shutdown()).await;
    Ok(close)
}
