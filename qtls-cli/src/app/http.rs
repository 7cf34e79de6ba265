//! The demo and diagnostic HTTP/1.x app of `qtls server`: one request answered with a JSON
//! description of the connection, early requests held to safe methods. Production HTTP goes
//! through hyper on the library's streams (`examples/hyper_server.rs`).

use std::time::Duration;

use qtls::http1::{content_length, HeadEnd};
use qtls::{Acl, ConnectionContext, ConnectionInfo, Error};
use qtls_verifier::ClientIdentity;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::server::{CloseKind, ServedConnection};

/// The largest HTTP request head the server reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The JSON body describing a connection.
#[derive(Serialize)]
struct Description<'a> {
    #[serde(flatten)]
    info: &'a ConnectionInfo,
    client: Option<ClientDescription<'a>>,
    method: &'a str,
    body_bytes: u64,
    /// Whether the request was read as early data, before the handshake completed.
    early_data: bool,
}

#[derive(Serialize)]
struct ClientDescription<'a> {
    subject: &'a str,
    serial: &'a str,
    issuer: &'a str,
    subject_alt_names: &'a [String],
}

impl<'a> From<&'a ClientIdentity> for ClientDescription<'a> {
    fn from(identity: &'a ClientIdentity) -> Self {
        Self {
            subject: &identity.subject,
            serial: &identity.serial,
            issuer: &identity.issuer,
            subject_alt_names: &identity.subject_alt_names,
        }
    }
}

/// Answers one HTTP/1.x request on an accepted TLS stream, then closes with close_notify
/// and waits for the peer's.
///
/// GET and HEAD get a JSON description of the connection, POST the same with the size of
/// its body. A request that arrives as early data (see [`qtls::EarlyDataStatus`]) is
/// answered at once, possibly before the handshake is complete, only when its method is
/// safe (GET, HEAD, OPTIONS); any other gets `425 Too Early` (RFC 8470 §5.2) and the
/// connection stays open for the client to repeat it after the handshake.
pub async fn serve_http<S>(
    mut tls: S,
    context: ConnectionContext,
    acl_403: Option<&Acl>,
    idle_timeout: Duration,
) -> Result<ServedConnection, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut requests = RequestReader::default();
    let mut early = EarlyRequests::default();
    let (request, from_early_data) = loop {
        let request = match tokio::time::timeout(idle_timeout, requests.next(&mut tls)).await {
            Err(_) => return Err(Error::Timeout("HTTP request")),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tracing::warn!("connection truncated: the peer closed without close_notify before sending a request");
                return Ok(ServedConnection {
                    context,
                    status: None,
                    close: CloseKind::Truncated,
                    early,
                });
            }
            Ok(result) => result?,
        };
        let Some(request) = request else {
            // close_notify before any request: answer it with ours.
            let _ = tokio::time::timeout(idle_timeout, tls.shutdown()).await;
            return Ok(ServedConnection {
                context,
                status: None,
                close: CloseKind::Clean,
                early,
            });
        };
        // Early data is the first part of what the client sends: a request that starts in
        // it came (at least in part) as early data, whether or not the handshake completed
        // meanwhile, which depends on how the client's flights were cut into segments.
        let from_early_data = request.starts_at < context.early_data.early_bytes_read();
        if !from_early_data || request.is_safe() || request.chunked {
            break (request, from_early_data);
        }
        if early.too_early > 0 || request.method.is_empty() {
            // One 425 is all a client needs; more unsafe requests before the handshake (or
            // garbage) end the connection rather than fill it with answers.
            tracing::warn!("more unsafe requests in early data: closing");
            let _ = tokio::time::timeout(idle_timeout, tls.shutdown()).await;
            return Ok(ServedConnection {
                context,
                status: None,
                close: CloseKind::Clean,
                early,
            });
        }
        // Not once more than the client meant: answer after the handshake, when a replay
        // can no longer get here.
        early.too_early += 1;
        tracing::info!(
            "{} in early data: 425 Too Early, waiting for it after the handshake",
            request.method
        );
        let body = "{\"error\":\"too early\"}\n";
        let response = format!(
            "HTTP/1.1 425 Too Early\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tokio::time::timeout(idle_timeout, async {
            tls.write_all(response.as_bytes()).await?;
            tls.flush().await
        })
        .await
        .map_err(|_| Error::Timeout("writing 425 Too Early"))??;
    };
    if let Some(why) = &request.malformed {
        tracing::info!("400 Bad Request: {why}");
    }
    if request.chunked {
        // Bodies are read by Content-Length only; a chunked one cannot be skipped safely.
        let response =
            "HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        tls.write_all(response.as_bytes()).await?;
        let _ = tokio::time::timeout(idle_timeout, tls.shutdown()).await;
        return Ok(ServedConnection {
            context,
            status: Some(411),
            close: CloseKind::Clean,
            early,
        });
    }
    if from_early_data {
        early.answered += 1;
    }
    let denied = match (acl_403, &context.client) {
        (Some(acl), Some(identity)) => !acl.permits(identity),
        (Some(acl), None) => !acl.allow.is_empty(),
        _ => false,
    };
    let (status, reason, body) = if denied {
        (403, "Forbidden", "{\"error\":\"forbidden\"}".to_string())
    } else {
        match request.method.as_str() {
            "GET" | "HEAD" | "POST" | "OPTIONS" => {
                let description = Description {
                    info: &context.info,
                    client: context.client.as_ref().map(ClientDescription::from),
                    method: &request.method,
                    body_bytes: request.body_bytes,
                    early_data: from_early_data,
                };
                let body =
                    serde_json::to_string(&description).map_err(|e| Error::Http(e.to_string()))?;
                (200, "OK", body)
            }
            "" => (
                400,
                "Bad Request",
                "{\"error\":\"bad request\"}".to_string(),
            ),
            _ => (
                405,
                "Method Not Allowed",
                "{\"error\":\"method not allowed\"}".to_string(),
            ),
        }
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len() + 1
    )
    .into_bytes();
    if request.method != "HEAD" {
        response.extend_from_slice(body.as_bytes());
        response.push(b'\n');
    }
    tokio::time::timeout(idle_timeout, tls.write_all(&response))
        .await
        .map_err(|_| Error::Timeout("writing the response"))??;
    // close_notify, then the TCP FIN; the peer may still read the response after having
    // closed its own side (half-close). After early data that waits for the client's
    // Finished (see `EarlyDataStream`), which a client that vanished never sends.
    match tokio::time::timeout(idle_timeout, tls.shutdown()).await {
        Ok(result) => result?,
        Err(_) => {
            return Ok(ServedConnection {
                context,
                status: Some(status),
                close: CloseKind::PeerKeptOpen,
                early,
            })
        }
    }
    let close = drain_until_close(&mut tls, idle_timeout).await;
    if close == CloseKind::Truncated {
        tracing::warn!("connection truncated: the peer closed without close_notify");
    }
    Ok(ServedConnection {
        context,
        status: Some(status),
        close,
        early,
    })
}

/// Requests of a connection that came as early data, by what the server did with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EarlyRequests {
    /// Answered before the handshake completed (safe methods).
    pub answered: u64,
    /// Answered with 425 Too Early.
    pub too_early: u64,
}

/// One HTTP/1.x request, its body read and counted.
#[derive(Debug)]
pub(crate) struct Request {
    method: String,
    body_bytes: u64,
    /// Where in the stream of the client's bytes it starts.
    starts_at: u64,
    /// Whether it has a `Transfer-Encoding` (whose body is not read).
    chunked: bool,
    /// Why it gets 400 and a close: a head that does not parse or is too large, or a length
    /// that is not one number. Its method is empty and its body is not read.
    pub(crate) malformed: Option<String>,
}

impl Request {
    /// RFC 9110 §9.2.1 safe methods (TRACE aside).
    fn is_safe(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }

    fn malformed(starts_at: u64, why: String) -> Self {
        Self {
            method: String::new(),
            body_bytes: 0,
            starts_at,
            chunked: false,
            malformed: Some(why),
        }
    }
}

/// Reads HTTP/1.x requests off a stream, keeping bytes read past one for the next.
///
/// Each byte of a head is looked at a bounded number of times however it is cut into reads
/// (see [`HeadEnd`]), then parsed once by `httparse`; heads are at most [`MAX_REQUEST_HEAD`]
/// bytes and [`RequestReader::MAX_HEADERS`] fields, bodies (read and discarded) at most
/// [`RequestReader::MAX_BODY`] bytes.
#[derive(Default)]
pub(crate) struct RequestReader {
    buffered: Vec<u8>,
    /// Bytes read from the stream so far (`buffered` being the last of them).
    read: u64,
    pub(crate) head_end: HeadEnd,
}

impl RequestReader {
    /// The largest request body the server reads (and discards).
    const MAX_BODY: u64 = 1024 * 1024;

    /// The most header fields a request may have.
    const MAX_HEADERS: usize = 64;

    /// The next request; `None` when the peer sent close_notify before one.
    pub(crate) async fn next<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> std::io::Result<Option<Request>> {
        let mut buf = [0u8; 4096];
        let starts_at = self.read - self.buffered.len() as u64;
        let head_end = loop {
            if let Some(end) = self.head_end.find(&self.buffered) {
                break Some(end);
            }
            if self.buffered.len() > MAX_REQUEST_HEAD {
                break None;
            }
            let read = stream.read(&mut buf).await?;
            if read == 0 {
                if self.buffered.is_empty() {
                    return Ok(None);
                }
                // close_notify in the middle of a head (RFC 9112 §8: incomplete).
                break None;
            }
            self.read += read as u64;
            self.buffered.extend_from_slice(&buf[..read]);
        };
        self.head_end.restart();
        let Some(head_end) = head_end.filter(|&end| end <= MAX_REQUEST_HEAD) else {
            return Ok(Some(Request::malformed(
                starts_at,
                format!("no complete request head in {MAX_REQUEST_HEAD} bytes"),
            )));
        };
        let parsed = parse_request_head(&self.buffered[..head_end], &mut self.head_end);
        self.buffered.drain(..head_end);
        let (method, chunked, length) = match parsed {
            Ok(parsed) => parsed,
            Err(why) => return Ok(Some(Request::malformed(starts_at, why))),
        };
        let body_bytes = if chunked { 0 } else { length };
        if body_bytes > Self::MAX_BODY {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "request body of {body_bytes} bytes, over {}",
                    Self::MAX_BODY
                ),
            ));
        }
        let mut left = body_bytes;
        loop {
            let from_buffer = left.min(self.buffered.len() as u64);
            self.buffered.drain(..from_buffer as usize);
            left -= from_buffer;
            if left == 0 {
                break;
            }
            let read = stream.read(&mut buf).await?;
            if read == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.read += read as u64;
            self.buffered.extend_from_slice(&buf[..read]);
        }
        Ok(Some(Request {
            method,
            body_bytes,
            starts_at,
            chunked,
            malformed: None,
        }))
    }
}

/// Parses a complete request head: its method, whether it has a Transfer-Encoding, and its
/// Content-Length (0 without one).
fn parse_request_head(head: &[u8], work: &mut HeadEnd) -> Result<(String, bool, u64), String> {
    work.parsed(head.len());
    let mut headers = [httparse::EMPTY_HEADER; RequestReader::MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("incomplete request head".into()),
        Err(e) => return Err(format!("malformed request head: {e}")),
    }
    let chunked = request
        .headers
        .iter()
        .any(|header| header.name.eq_ignore_ascii_case("transfer-encoding"));
    let length = content_length(request.headers)?.unwrap_or(0);
    Ok((
        request.method.unwrap_or_default().to_string(),
        chunked,
        length,
    ))
}

/// Reads until the peer's close_notify or `idle_timeout`, saying which came.
async fn drain_until_close<S: AsyncRead + Unpin>(tls: &mut S, idle_timeout: Duration) -> CloseKind {
    let mut sink = [0u8; 1024];
    let drained = tokio::time::timeout(idle_timeout, async {
        loop {
            match tls.read(&mut sink).await {
                Ok(0) => return CloseKind::Clean,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return CloseKind::Truncated
                }
                Err(_) => return CloseKind::Truncated,
            }
        }
    })
    .await;
    drained.unwrap_or(CloseKind::PeerKeptOpen)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use qtls::early_data::{EarlyDataProgress, EarlyDataStatus};
    use qtls_test_support::io::OneByteAtATime;

    /// Serves `input`, of which the first `early` bytes count as early data; returns the
    /// status lines sent and what `serve_http` reported.
    async fn serve(input: &str, early: usize) -> (Vec<String>, ServedConnection) {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        client.write_all(input.as_bytes()).await.unwrap();
        client.shutdown().await.unwrap();
        let context = ConnectionContext {
            info: ConnectionInfo::default(),
            client: None,
            early_data: EarlyDataStatus::Accepted(EarlyDataProgress::after_reading(early as u64)),
        };
        let served = serve_http(server, context, None, Duration::from_secs(5))
            .await
            .unwrap();
        let mut output = String::new();
        client.read_to_string(&mut output).await.unwrap();
        let statuses = output
            .lines()
            .filter(|line| line.starts_with("HTTP/1.1"))
            .map(str::to_string)
            .collect();
        (statuses, served)
    }

    #[tokio::test]
    async fn unsafe_requests_in_early_data_get_425_even_when_pipelined() {
        let post = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        let get = "GET / HTTP/1.1\r\n\r\n";
        // A POST in early data, then (after the handshake) the client's retry.
        let (statuses, served) = serve(&format!("{post}{post}"), post.len()).await;
        assert_eq!(statuses, ["HTTP/1.1 425 Too Early", "HTTP/1.1 200 OK"]);
        assert_eq!((served.early.too_early, served.early.answered), (1, 0));

        // Two POSTs in early data, read in one go: one 425, then the connection ends.
        let (statuses, served) = serve(&format!("{post}{post}{get}"), 2 * post.len()).await;
        assert_eq!(statuses, ["HTTP/1.1 425 Too Early"]);
        assert_eq!((served.status, served.early.too_early), (None, 1));

        // A POST that starts in early data and ends after it is early too.
        let (statuses, _) = serve(&format!("{post}{get}"), 5).await;
        assert_eq!(statuses, ["HTTP/1.1 425 Too Early", "HTTP/1.1 200 OK"]);

        // A GET in early data is answered at once.
        let (statuses, served) = serve(get, get.len()).await;
        assert_eq!(statuses, ["HTTP/1.1 200 OK"]);
        assert_eq!(served.early.answered, 1);
    }

    #[tokio::test]
    async fn a_head_read_one_byte_at_a_time_is_scanned_a_bounded_number_of_times() {
        // Lines of every length, the longest nearly filling the head.
        let mut head = String::from("POST / HTTP/1.1\r\nContent-Length: 2\r\n");
        for len in [0, 1, 2, 3, 10, 100, 1000] {
            head.push_str(&format!("X-Padding: {}\r\n", "a".repeat(len)));
        }
        let rest = MAX_REQUEST_HEAD - head.len() - 20;
        head.push_str(&format!("X-Padding: {}\r\n\r\n", "a".repeat(rest)));
        let mut stream = OneByteAtATime(std::io::Cursor::new(format!("{head}ok").into_bytes()));
        let mut reader = RequestReader::default();
        let request = reader.next(&mut stream).await.unwrap().unwrap();
        assert_eq!((request.method.as_str(), request.body_bytes), ("POST", 2));
        assert!(
            reader.head_end.scanned() <= 4 * head.len() as u64,
            "{} bytes examined for a head of {}",
            reader.head_end.scanned(),
            head.len()
        );
    }

    #[tokio::test]
    async fn content_lengths_must_be_one_unsigned_number() {
        let bad = [
            "Content-Length: +5",
            "Content-Length: -5",
            "Content-Length: 5x",
            "Content-Length: 0x5",
            "Content-Length: ",
            "Content-Length: 5\r\nContent-Length: 3",
            "Content-Length: 5, 3",
            "Content-Length: 99999999999999999999999",
        ];
        for header in bad {
            let input = format!("POST / HTTP/1.1\r\n{header}\r\n\r\nhello");
            let (statuses, served) = serve(&input, 0).await;
            assert_eq!(statuses, ["HTTP/1.1 400 Bad Request"], "{header:?}");
            assert_eq!(served.status, Some(400), "{header:?}");
        }
        // RFC 9110 §8.6: a repeated length is one length.
        for header in [
            "Content-Length: 5",
            "Content-Length: 5\r\nContent-Length: 5",
            "Content-Length: 5, 5",
        ] {
            let input = format!("POST / HTTP/1.1\r\n{header}\r\n\r\nhello");
            let (statuses, _) = serve(&input, 0).await;
            assert_eq!(statuses, ["HTTP/1.1 200 OK"], "{header:?}");
        }
    }

    #[tokio::test]
    async fn malformed_and_oversized_heads_get_400() {
        let long = format!(
            "GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n",
            "a".repeat(MAX_REQUEST_HEAD)
        );
        let endless = format!("GET / HTTP/1.1\r\nX-Long: {}", "a".repeat(MAX_REQUEST_HEAD));
        for input in [
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
            "NOT HTTP\r\n\r\n",
            &long,
            &endless,
        ] {
            let (statuses, served) = serve(input, 0).await;
            assert_eq!(statuses, ["HTTP/1.1 400 Bad Request"], "{input:.60}");
            assert_eq!(served.status, Some(400));
        }
    }

    #[tokio::test]
    async fn chunked_bodies_are_refused() {
        let input = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        // After the handshake, and in early data (no 425 for a request that is refused).
        for early in [0, input.len()] {
            let (statuses, served) = serve(input, early).await;
            assert_eq!(statuses, ["HTTP/1.1 411 Length Required"]);
            assert_eq!((served.status, served.early.too_early), (Some(411), 0));
        }
    }
}
