//! Streams that deliver their bytes the way a hostile or slow peer does.

use std::io::{Cursor, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// A stream that hands out one byte per read, as a peer sending 1-byte TLS records does.
#[derive(Debug)]
pub struct OneByteAtATime(pub Cursor<Vec<u8>>);

impl AsyncRead for OneByteAtATime {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let mut byte = [0u8; 1];
        let n = self.0.read(&mut byte)?;
        buf.put_slice(&byte[..n]);
        Poll::Ready(Ok(()))
    }
}
