//! Reading the server's HTTP/1.1 response, bounded in size and in work per byte.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::Error;

/// The most response bytes the client keeps.
const MAX_RESPONSE: usize = 1024 * 1024;

/// The largest response head the client parses (a longer one is kept unparsed).
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

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
    pub(super) fn keep(&mut self, response: Vec<u8>) {
        self.kept = response;
    }

    /// Everything until the server closes, after anything kept.
    pub(super) async fn rest<S: AsyncRead + Unpin>(
        &mut self,
        tls: &mut S,
    ) -> Result<Vec<u8>, Error> {
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
