//! [`EarlyDataStream`]: the server stream that reads early data before the handshake is
//! complete, and skips the early records the server did not accept.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use rustls::ServerConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::trial::{Filtering, HandshakeSecretCapture, RejectedEarlyData};
use super::EarlyDataProgress;

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
    /// Rejected early data still being skipped (see [`super::trial`]).
    rejected_early_data: Option<Box<RejectedEarlyData>>,
    /// What that filter passed on and rustls has yet to read.
    for_rustls: Vec<u8>,
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
            rejected_early_data: None,
            for_rustls: Vec::new(),
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
    /// Skips the early data the server did not accept by trial decryption, up to
    /// `allowance` bytes (see [`super::trial`]), with the client handshake traffic secret
    /// `capture` took from rustls. Without one (the server sent a HelloRetryRequest, which
    /// rustls skips early data after by itself, correctly) or for a cipher suite other than
    /// RFC 8446's, rustls alone skips it.
    pub(crate) fn skip_rejected_early_data(
        &mut self,
        capture: &HandshakeSecretCapture,
        allowance: usize,
    ) {
        let suite = match self.connection.negotiated_cipher_suite() {
            Some(rustls::SupportedCipherSuite::Tls13(suite)) => Some(suite),
            _ => None,
        };
        self.rejected_early_data = capture
            .opener(suite)
            .map(|opener| Box::new(RejectedEarlyData::new(opener, allowance)));
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
        let read = ready!(self.poll_feed_rustls(cx))?;
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

    /// Hands rustls the transport's bytes; 0 at end of stream. While rejected early data is
    /// being skipped they go through its filter, and rustls reads what the filter passes
    /// on; once that is done and read, straight from the transport.
    fn poll_feed_rustls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            if !self.for_rustls.is_empty() {
                let read = self.connection.read_tls(&mut &self.for_rustls[..])?;
                self.for_rustls.drain(..read);
                return Poll::Ready(Ok(read));
            }
            let Some(filter) = self.rejected_early_data.as_mut() else {
                return match self.connection.read_tls(&mut SyncAdapter {
                    io: &mut self.io,
                    cx,
                }) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                    read => Poll::Ready(read),
                };
            };
            let mut chunk = [0u8; 4096];
            let mut arrived = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut arrived))?;
            if arrived.filled().is_empty() {
                // End of stream: rustls gets what is left, then the end itself.
                if let Some(filter) = self.rejected_early_data.take() {
                    filter.finish(&mut self.for_rustls);
                }
                if self.for_rustls.is_empty() {
                    return Poll::Ready(self.connection.read_tls(&mut io::empty()));
                }
                continue;
            }
            if filter.push(arrived.filled(), &mut self.for_rustls) == Filtering::Done {
                self.rejected_early_data = None;
            }
        }
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
