//! [`EarlyDataStream`]: the server stream that reads early data before the handshake is
//! complete, and skips the early records the server did not accept.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use rustls::ServerConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::EarlyDataProgress;
use crate::gate::RECORD_HEADER;

/// The largest TLSCiphertext fragment (RFC 8446 §5.2: 2^14 + 256).
const MAX_ENCRYPTED_RECORD: usize = 16384 + 256;
/// ContentType application_data and change_cipher_spec (RFC 8446 §5.1).
const APPLICATION_DATA: u8 = 0x17;
const CHANGE_CIPHER_SPEC: u8 = 0x14;

/// The records of `arrived` with the complete application_data records among them dropped
/// while their lengths fit `budget`; change_cipher_spec records are kept in place, and
/// everything from the first other record (or partial record) on is kept as it is.
pub(crate) fn drop_early_records(arrived: &[u8], mut budget: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut rest = arrived;
    while rest.len() >= RECORD_HEADER {
        let length = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        let Some(record) = rest.get(..RECORD_HEADER + length) else {
            break; // partial
        };
        match record[0] {
            APPLICATION_DATA if length <= budget && length <= MAX_ENCRYPTED_RECORD => {
                budget -= length;
            }
            CHANGE_CIPHER_SPEC => kept.extend_from_slice(record),
            _ => break,
        }
        rest = &rest[record.len()..];
    }
    kept.extend_from_slice(rest);
    kept
}

/// A server TLS stream that lets the application read early data before the handshake is
/// complete (and answer it in the server's first flight); after that it is an ordinary
/// TLS stream. The acceptor uses it for connections whose ClientHello offers early data,
/// and for handshakes whose records it processes off the runtime's workers (a key in a
/// token, client-certificate verification).
pub struct EarlyDataStream<IO> {
    io: IO,
    connection: ServerConnection,
    progress: Arc<EarlyDataProgress>,
    close_notify_sent: bool,
    /// Process handshake records off the runtime's workers (`block_in_place`): the server's
    /// key or ticketer is in a token, or client chains are verified (which may fetch).
    offload_processing: bool,
}

impl<IO> core::fmt::Debug for EarlyDataStream<IO> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EarlyDataStream")
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl<IO> EarlyDataStream<IO> {
    pub(crate) fn new(io: IO, connection: ServerConnection) -> Self {
        Self {
            io,
            connection,
            progress: Arc::default(),
            close_notify_sent: false,
            offload_processing: false,
        }
    }

    /// Processes records inside `tokio::task::block_in_place` (on a multi-threaded runtime
    /// only; elsewhere this is ignored).
    pub(crate) fn with_offloaded_processing(mut self, offload: bool) -> Self {
        self.offload_processing = offload && crate::blocking::can_block_in_place();
        self
    }

    /// The transport and the rustls connection.
    pub fn get_ref(&self) -> (&IO, &ServerConnection) {
        (&self.io, &self.connection)
    }

    /// The transport and the rustls connection, mutably.
    pub fn get_mut(&mut self) -> (&mut IO, &mut ServerConnection) {
        (&mut self.io, &mut self.connection)
    }

    pub(crate) fn progress(&self) -> &Arc<EarlyDataProgress> {
        &self.progress
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> EarlyDataStream<IO> {
    /// Skips the records of early data the server did not accept that have already arrived,
    /// up to `budget` bytes (RFC 8446 §4.2.10: "skips past early data ... up to the
    /// configured max_early_data_size"). Call it before [`Self::start`] sends the server's
    /// flight: a client cannot send its second flight before receiving ours, so every
    /// application_data record that arrived by then is early data, and dropping it here
    /// needs no trial decryption.
    ///
    /// Why not leave it to rustls: rustls 0.23 trial-decrypts such records with the
    /// handshake key, but does not mark a dropped record consumed until a later record
    /// decrypts, so every `process_new_packets` call until the client's Finished drops the
    /// same records again and charges them again to the 16 KiB allowance; early data of a
    /// few KiB read in several pieces then ends in bad_record_mac. Records that arrive
    /// after our flight are still left to rustls's trial decryption.
    pub(crate) async fn skip_rejected_early_data(&mut self, budget: usize) -> io::Result<()> {
        // Enough for the allowance in whole records plus one record's worth beyond it.
        let limit = budget + 2 * (RECORD_HEADER + MAX_ENCRYPTED_RECORD);
        let mut arrived = Vec::new();
        std::future::poll_fn(|cx| {
            let mut chunk = [0u8; 4096];
            while arrived.len() < limit {
                let want = chunk.len().min(limit - arrived.len());
                let mut buf = ReadBuf::new(&mut chunk[..want]);
                match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                        arrived.extend_from_slice(buf.filled());
                    }
                    // End of stream: rustls will see it when it next reads.
                    Poll::Ready(Ok(())) => break,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    // Nothing more now; what comes later is rustls's.
                    Poll::Pending => break,
                }
            }
            Poll::Ready(Ok(()))
        })
        .await?;
        let kept = drop_early_records(&arrived, budget);
        let mut rest = &kept[..];
        while !rest.is_empty() {
            if self.connection.read_tls(&mut rest)? == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Processes what arrived with the ClientHello (early data included) and sends the
    /// server's flight.
    pub(crate) async fn start(&mut self) -> io::Result<()> {
        if let Err(e) = self.connection.process_new_packets() {
            let _ = std::future::poll_fn(|cx| self.poll_flush_tls(cx)).await;
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        self.note_handshake_state();
        std::future::poll_fn(|cx| self.poll_flush_tls(cx)).await
    }

    fn note_handshake_state(&self) {
        if !self.connection.is_handshaking() {
            self.progress
                .handshake_complete
                .store(true, Ordering::Relaxed);
        }
    }

    /// Drives the rest of the handshake: the client's Finished, then the sessions rustls
    /// issues after it. Application data that arrives meanwhile stays in rustls's buffer.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_flush_tls(cx))?;
            if !self.connection.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if ready!(self.poll_read_tls(cx))? == 0 {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Drives the handshake to its end (for a connection whose early data was skipped).
    pub(crate) async fn complete_handshake(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_handshake(cx)).await
    }

    /// Reads TLS records from the transport and processes them; 0 at end of stream.
    fn poll_read_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let read = match self.connection.read_tls(&mut SyncAdapter {
            io: &mut self.io,
            cx,
        }) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
            Err(e) => return Poll::Ready(Err(e)),
        };
        // After the handshake nothing blocks (no signing, tickets or verification), and
        // moving the worker off its thread for every record would cost more than the record.
        let processed = if self.offload_processing && self.connection.is_handshaking() {
            tokio::task::block_in_place(|| self.connection.process_new_packets())
        } else {
            self.connection.process_new_packets()
        };
        if let Err(e) = processed {
            // Send the alert rustls queued; the error is what the caller needs to hear.
            let _ = self.poll_flush_tls(cx);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
        self.note_handshake_state();
        Poll::Ready(Ok(read))
    }

    /// Writes every TLS record rustls has queued.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.connection.wants_write() {
            let written = match self.connection.write_tls(&mut SyncAdapter {
                io: &mut self.io,
                cx,
            }) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for EarlyDataStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            // Early data first: it precedes everything sent after the handshake.
            if let Some(mut early) = this.connection.early_data() {
                let n = early.read(buf.initialize_unfilled())?;
                if n > 0 {
                    buf.advance(n);
                    this.progress
                        .early_bytes_read
                        .fetch_add(n as u64, Ordering::Relaxed);
                    return Poll::Ready(Ok(()));
                }
            }
            match this.connection.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Our flight (or an alert, a KeyUpdate) may be waiting; reading goes on regardless.
            if let Poll::Ready(Err(e)) = this.poll_flush_tls(cx) {
                return Poll::Ready(Err(e));
            }
            ready!(this.poll_read_tls(cx))?;
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for EarlyDataStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let accepted = this.connection.writer().write(buf)?;
            match this.poll_flush_tls(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // rustls's buffer is full and the transport is not taking more: wait for it.
                Poll::Pending if accepted == 0 => return Poll::Pending,
                Poll::Pending => return Poll::Ready(Ok(accepted)),
                Poll::Ready(Ok(())) if accepted > 0 || buf.is_empty() => {
                    return Poll::Ready(Ok(accepted))
                }
                // Everything went out and rustls took nothing: its buffer was full, and is
                // empty now; or it holds the data until the handshake completes.
                Poll::Ready(Ok(())) if this.connection.is_handshaking() => {
                    if ready!(this.poll_read_tls(cx))? == 0 {
                        return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
                    }
                }
                Poll::Ready(Ok(())) => {}
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.connection.writer().flush()?;
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Closing before the client's Finished would leave the client without the sessions
        // rustls issues after it, and so without 0-RTT next time.
        if !this.close_notify_sent && this.connection.is_handshaking() {
            ready!(this.poll_handshake(cx))?;
        }
        if !this.close_notify_sent {
            this.connection.send_close_notify();
            this.close_notify_sent = true;
        }
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// `std::io` over a tokio transport for rustls's `read_tls` / `write_tls`: `Pending` becomes
/// `WouldBlock` (and the waker is registered).
struct SyncAdapter<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: AsyncRead + Unpin> Read for SyncAdapter<'_, '_, IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut *self.io).poll_read(self.cx, &mut buf) {
            Poll::Ready(Ok(())) => Ok(buf.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<IO: AsyncWrite + Unpin> Write for SyncAdapter<'_, '_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// A server TLS stream from [`crate::QtlsAcceptor`]: tokio-rustls's, or an
/// [`EarlyDataStream`] for a connection that offered early data.
#[derive(Debug)]
pub enum ServerTlsStream<IO> {
    /// The usual case.
    Standard(tokio_rustls::server::TlsStream<IO>),
    /// The ClientHello offered early data.
    EarlyData(EarlyDataStream<IO>),
}

impl<IO> ServerTlsStream<IO> {
    /// The transport and the rustls connection.
    pub fn get_ref(&self) -> (&IO, &ServerConnection) {
        match self {
            Self::Standard(tls) => tls.get_ref(),
            Self::EarlyData(tls) => tls.get_ref(),
        }
    }

    /// The transport and the rustls connection, mutably.
    pub fn get_mut(&mut self) -> (&mut IO, &mut ServerConnection) {
        match self {
            Self::Standard(tls) => tls.get_mut(),
            Self::EarlyData(tls) => tls.get_mut(),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for ServerTlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Standard(tls) => Pin::new(tls).poll_read(cx, buf),
            Self::EarlyData(tls) => Pin::new(tls).poll_read(cx, buf),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ServerTlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Standard(tls) => Pin::new(tls).poll_write(cx, buf),
            Self::EarlyData(tls) => Pin::new(tls).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Standard(tls) => Pin::new(tls).poll_flush(cx),
            Self::EarlyData(tls) => Pin::new(tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Standard(tls) => Pin::new(tls).poll_shutdown(cx),
            Self::EarlyData(tls) => Pin::new(tls).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record(kind: u8, length: usize) -> Vec<u8> {
        let mut record = vec![kind, 3, 3];
        record.extend((length as u16).to_be_bytes());
        record.extend(std::iter::repeat_n(0xee, length));
        record
    }

    #[test]
    fn early_records_are_dropped_within_the_budget_and_the_rest_kept_in_order() {
        let ccs = record(CHANGE_CIPHER_SPEC, 1);
        let early = record(APPLICATION_DATA, 4000);
        let arrived = [ccs.clone(), early.clone(), early.clone(), early.clone()].concat();
        // All three fit 16 KiB: only the change_cipher_spec stays.
        assert_eq!(drop_early_records(&arrived, 16384), ccs);
        // Two fit 9000 bytes; the third, and all after it, go to rustls.
        assert_eq!(
            drop_early_records(&arrived, 9000),
            [ccs.clone(), early.clone()].concat()
        );
        // A partial record and anything that is not application data end the dropping.
        let partial = &early[..100];
        assert_eq!(
            drop_early_records(&[early.clone(), partial.to_vec()].concat(), 16384),
            partial
        );
        let alert = record(0x15, 2);
        assert_eq!(
            drop_early_records(&[alert.clone(), early.clone()].concat(), 16384),
            [alert, early].concat()
        );
        for cut in 0..arrived.len() {
            let _ = drop_early_records(&arrived[..cut], 16384);
        }
    }
}
