//! Reading the ClientHello: record by record into rustls's
//! [`Acceptor`](rustls::server::Acceptor), with what the gate needs kept aside, and refusing
//! before the handshake with a plaintext alert.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::AcceptError;
use crate::gate::{plaintext_alert, RECORD_HEADER};

/// The most ClientHello record bytes read before giving up with decode_error: rustls takes
/// handshake messages of up to 64 KiB (its `MAX_HANDSHAKE_SIZE`), and a client may split
/// one into records of any size, so this leaves room for the record headers of a 64 KiB
/// hello in records of 1 KiB or more. A usual hello is 1-3 KiB, PQ key shares included.
pub(crate) const MAX_CLIENT_HELLO_RECORDS: usize = 64 * 1024 + 64 * 5 + 5;

/// Reads a ClientHello record by record into rustls's [`Acceptor`](rustls::server::Acceptor)
/// and returns it with the raw records (for the gate).
///
/// Each record is handed to the acceptor and processed before the next is read, so that
/// rustls takes a hello spread over several records up to its 64 KiB handshake limit (fed
/// all at once, unprocessed records beyond one record's size fill its buffer), and nothing
/// after the hello's last record (early data) is read from `io` here: it stays for the
/// connection. The work is linear in the bytes received, and at most
/// [`MAX_CLIENT_HELLO_RECORDS`] are kept.
pub(super) async fn read_client_hello<IO>(
    io: &mut IO,
) -> Result<(rustls::server::Accepted, Vec<u8>), AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut acceptor = rustls::server::Acceptor::default();
    let mut raw = Vec::with_capacity(4096);
    loop {
        let start = raw.len();
        // The first bytes of a header let rustls refuse what is not a handshake record.
        if let Some(accepted) = read_and_feed(io, &mut acceptor, &mut raw, RECORD_HEADER).await? {
            return Ok((accepted, raw));
        }
        let length = usize::from(u16::from_be_bytes([raw[start + 3], raw[start + 4]]));
        if raw.len() + length > MAX_CLIENT_HELLO_RECORDS {
            refuse(io, &plaintext_alert(rustls::AlertDescription::DecodeError)).await;
            return Err(AcceptError::ClientHelloTooLarge(raw.len() + length));
        }
        if let Some(accepted) = read_and_feed(io, &mut acceptor, &mut raw, length).await? {
            return Ok((accepted, raw));
        }
    }
}

/// Reads `n` more bytes onto `raw`, handing each piece to the acceptor as it comes.
async fn read_and_feed<IO>(
    io: &mut IO,
    acceptor: &mut rustls::server::Acceptor,
    raw: &mut Vec<u8>,
    n: usize,
) -> Result<Option<rustls::server::Accepted>, AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let end = raw.len() + n;
    while raw.len() < end {
        let at = raw.len();
        raw.resize(end, 0);
        let read = io.read(&mut raw[at..]).await;
        let read = match read {
            Ok(0) => {
                raw.truncate(at);
                return Err(AcceptError::Closed);
            }
            Ok(read) => read,
            Err(e) => return Err(AcceptError::Tls(e)),
        };
        raw.truncate(at + read);
        if let Some(accepted) = feed(acceptor, &raw[at..], io).await? {
            return Ok(Some(accepted));
        }
    }
    Ok(None)
}

/// Sends a refusal (an alert record) and closes. What the peer already sent is read first,
/// at most 64 KiB for at most 100 ms: closing a socket with unread input makes the kernel
/// answer with a reset, which can destroy the alert before the peer reads it.
pub(super) async fn refuse<IO: AsyncRead + AsyncWrite + Unpin>(io: &mut IO, record: &[u8]) {
    let _ = io.write_all(record).await;
    let _ = io.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut left = 64 * 1024usize;
    let _ = tokio::time::timeout(Duration::from_millis(100), async {
        while left > 0 {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(read) => left = left.saturating_sub(read),
            }
        }
    })
    .await;
}

/// Hands `bytes` to the acceptor and processes them; a refusal is answered with rustls's
/// alert.
async fn feed<IO>(
    acceptor: &mut rustls::server::Acceptor,
    mut bytes: &[u8],
    io: &mut IO,
) -> Result<Option<rustls::server::Accepted>, AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    while !bytes.is_empty() {
        acceptor.read_tls(&mut bytes).map_err(AcceptError::Tls)?;
    }
    match acceptor.accept() {
        Ok(accepted) => Ok(accepted),
        Err((error, mut alert)) => {
            let mut record = Vec::new();
            let _ = alert.write_all(&mut record);
            if record.is_empty() {
                // rustls queues no alert for some refusals of the first message (a
                // handshake message over its 64 KiB limit): send the one its error names.
                record.extend(plaintext_alert(match &error {
                    rustls::Error::InvalidMessage(invalid) => {
                        rustls::AlertDescription::from(*invalid)
                    }
                    rustls::Error::PeerIncompatible(_) => {
                        rustls::AlertDescription::HandshakeFailure
                    }
                    rustls::Error::PeerMisbehaved(_) => rustls::AlertDescription::IllegalParameter,
                    _ => rustls::AlertDescription::UnexpectedMessage,
                }));
            }
            refuse(io, &record).await;
            Err(AcceptError::Tls(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                error,
            )))
        }
    }
}
