//! An OCSP responder over HTTP (RFC 6960 Appendix A) on hyper: POST
//! `application/ocsp-request` bodies and GET `/{url-encoded base64 request}`, answered with
//! `200 application/ocsp-response` by a [`qtls_pki::OcspResponder`], whose revocation index
//! is re-read whenever its file changes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine;
use der::Decode;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use qtls_pki::x509_ocsp::OcspRequest;
use qtls_pki::{OcspResponder, RevocationIndex};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use qtls::Error;

/// The media type of OCSP requests (RFC 6960 §A.1).
pub const OCSP_REQUEST_TYPE: &str = "application/ocsp-request";

/// The media type of OCSP responses (RFC 6960 §A.2).
pub const OCSP_RESPONSE_TYPE: &str = "application/ocsp-response";

/// The largest request body accepted. A request for one certificate is about 100 bytes; this
/// leaves room for many CertIDs or a signed request, and bounds what a client can make the
/// responder buffer.
const MAX_REQUEST_BODY: usize = 64 * 1024;

/// How many suffixes of a GET path are base64-decoded at most (each with both alphabets):
/// the longest few that could be a request, so a path costs a small multiple of its length.
pub(crate) const MAX_GET_CANDIDATES: usize = 4;

/// The largest request head: a GET carries the request in its path, which hyper caps at
/// 64 KiB.
const MAX_REQUEST_HEAD: usize = 80 * 1024;

/// The most header fields a request may have (hyper answers more with 431).
const MAX_HEADERS: usize = 32;

/// How long the accept loop waits after a failed accept (out of descriptors, say) before
/// trying again, instead of spinning or giving up.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How many serials of one request the info log line names; the rest are counted (all of
/// them are logged at debug).
const LOGGED_SERIALS: usize = 4;

/// An HTTP OCSP responder bound to a TCP address.
///
/// ```no_run
/// use std::time::Duration as StdDuration;
/// use qtls_pki::{Certificate, CertifiedKeyPair, OcspResponder, RevocationIndex};
/// use std::path::Path;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let ca = Certificate::read_pem_file(Path::new("pki/intermediate.pem"))?.remove(0);
/// let signer = CertifiedKeyPair::read_pem_files(
///     Path::new("pki/ocsp.pem"),
///     Path::new("pki/ocsp.key"),
///     Default::default(),
/// )?;
/// let index_path = Path::new("pki/revoked.txt");
/// let responder = OcspResponder::new(
///     ca,
///     signer,
///     RevocationIndex::read(index_path)?,
///     time::Duration::hours(1),
/// )?;
/// let server = qtls_cli::OcspServer::bind(
///     "127.0.0.1:8080".parse()?,
///     responder,
///     Some(index_path.to_owned()),
/// )
/// .await?;
/// println!("OCSP on http://{}/", server.local_addr()?);
/// server.run().await?;
/// # Ok(())
/// # }
/// ```
pub struct OcspServer {
    listener: TcpListener,
    state: Arc<State>,
    max_connections: usize,
}

struct State {
    responder: RwLock<OcspResponder>,
    index: Option<IndexFile>,
    clock: fn() -> OffsetDateTime,
    request_timeout: Duration,
    /// Whether the signer's certificate was outside its validity when last looked at, so
    /// the change is logged once, not on every request.
    signer_invalid: AtomicBool,
}

/// The revocation index file and what it looked like when last read.
struct IndexFile {
    path: PathBuf,
    seen: Mutex<Option<FileStamp>>,
}

/// Enough of a file's metadata to notice a change: an in-place edit changes the length or
/// mtime, a replacing rename (as [`RevocationIndex::write`] does) the inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(metadata: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode,
        }
    }
}

impl OcspServer {
    /// Connections served at once unless [`Self::with_max_connections`] says otherwise.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

    /// How long a client may take to send a request's head, and then its body, unless
    /// [`Self::with_request_timeout`] says otherwise.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

    /// Binds `addr`. With `index_path`, the responder's revocation index is re-read from that
    /// file before a request is answered whenever the file changed (a file that fails to
    /// read or parse is logged and the previous index kept).
    pub async fn bind(
        addr: SocketAddr,
        responder: OcspResponder,
        index_path: Option<PathBuf>,
    ) -> Result<Self, Error> {
        let index = index_path.map(|path| {
            let seen = std::fs::metadata(&path).ok().map(|m| FileStamp::of(&m));
            IndexFile {
                path,
                seen: Mutex::new(seen),
            }
        });
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            state: Arc::new(State {
                responder: RwLock::new(responder),
                index,
                clock: OffsetDateTime::now_utc,
                request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
                signer_invalid: AtomicBool::new(false),
            }),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        })
    }

    /// Sets the clock responses are dated by (thisUpdate, producedAt). Default: the system
    /// clock.
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Self {
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.clock = clock;
        }
        self
    }

    /// Sets how many connections are served at once (at least 1); further ones wait in the
    /// listen backlog, so a flood of clients costs a bounded number of descriptors and tasks.
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Sets how long a client may take to send a request's head, and then its body (each
    /// bounded in size too); a slower one is closed (408 for a body).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.request_timeout = timeout;
        }
        self
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves connections until the task is dropped, at most
    /// [`Self::with_max_connections`] at once; a failed accept (out of descriptors, say) is
    /// logged and retried after a pause, never the end. While the signer's certificate is
    /// outside its validity every request is answered internalError
    /// ([RFC 6960 §2.3](https://www.rfc-editor.org/rfc/rfc6960#section-2.3)), logged at error
    /// level when that starts: at startup, or the moment it expires.
    pub async fn run(self) -> Result<(), Error> {
        self.state.note_signer_validity();
        let expiry_watch = {
            let state = Arc::clone(&self.state);
            let not_after = state
                .responder
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .signer()
                .certificate()
                .not_after();
            let left = not_after - (state.clock)() + time::Duration::seconds(1);
            tokio::spawn(async move {
                if let Ok(left) = Duration::try_from(left) {
                    tokio::time::sleep(left).await;
                    state.note_signer_validity();
                }
            })
        };
        let _abort_watch = AbortOnDrop(expiry_watch);
        let permits = Arc::new(Semaphore::new(self.max_connections));
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.state.request_timeout)
            .max_header_size(MAX_REQUEST_HEAD)
            .max_headers(MAX_HEADERS);
        // One warning per run of failed accepts, not one per retry.
        let mut failing = false;
        loop {
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .map_err(|_| Error::Config("semaphore closed".into()))?;
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!("accept failed: {e}; retrying every {ACCEPT_BACKOFF:?}");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            if std::mem::replace(&mut failing, false) {
                tracing::info!("accepting connections again");
            }
            let state = Arc::clone(&self.state);
            let http = http.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let service = service_fn(move |request| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(handle(&state, request, peer).await) }
                });
                let served = http.serve_connection(TokioIo::new(stream), service).await;
                if let Err(e) = served {
                    tracing::debug!(%peer, "OCSP connection ended: {e}");
                }
            });
        }
    }
}

async fn handle(
    state: &State,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let request_der = match *request.method() {
        Method::POST => {
            let content_type = request.headers().get(CONTENT_TYPE);
            if content_type.is_some_and(|value| !is_ocsp_request_type(value)) {
                return plain(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "expected Content-Type: application/ocsp-request\n",
                );
            }
            let body = Limited::new(request.into_body(), MAX_REQUEST_BODY).collect();
            match tokio::time::timeout(state.request_timeout, body).await {
                Ok(Ok(body)) => body.to_bytes().to_vec(),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "unreadable OCSP request body: {e}");
                    return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
                }
                Err(_) => {
                    tracing::debug!(%peer, "OCSP request body too slow");
                    // hyper closes a connection whose request body was not read to the end.
                    return plain(StatusCode::REQUEST_TIMEOUT, "request body too slow\n");
                }
            }
        }
        Method::GET => request_from_path(request.uri().path()),
        _ => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST\n");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, POST"));
            return response;
        }
    };
    state.refresh_index();
    state.note_signer_validity();
    let now = (state.clock)();
    let answer = state
        .responder
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .answer(&request_der, now);
    let statuses = |responses: &[qtls_pki::OcspSingleResponse]| {
        responses
            .iter()
            .map(|single| {
                (
                    qtls_pki::serial_hex(&single.cert_id.serial()),
                    single.status,
                )
            })
            .collect::<Vec<_>>()
    };
    let responses = answer.responses();
    // One line per request whatever it asks about: a few serials, and how many there were.
    tracing::info!(
        %peer,
        status = ?answer.status(),
        serials = responses.len(),
        first = ?statuses(&responses[..responses.len().min(LOGGED_SERIALS)]),
        "OCSP"
    );
    tracing::debug!(%peer, statuses = ?statuses(responses), "OCSP answer in full");
    let mut response = Response::new(Full::new(Bytes::from(answer.into_der())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(OCSP_RESPONSE_TYPE));
    response
}

/// Aborts a task when dropped, so the expiry watch ends with [`OcspServer::run`].
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl State {
    /// Logs, once per change, whether the signer's certificate is valid by the clock.
    fn note_signer_validity(&self) {
        let checked = self
            .responder
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .check_signer_validity((self.clock)());
        let invalid = checked.is_err();
        if self.signer_invalid.swap(invalid, Ordering::Relaxed) == invalid {
            return;
        }
        match checked {
            Err(e) => tracing::error!("{e}; answering every request with internalError"),
            Ok(()) => tracing::info!("the OCSP responder certificate is valid; signing again"),
        }
    }

    fn refresh_index(&self) {
        let Some(file) = &self.index else { return };
        let stamp = match std::fs::metadata(&file.path) {
            Ok(metadata) => FileStamp::of(&metadata),
            Err(e) => {
                tracing::warn!(path = %file.path.display(), "cannot stat the revocation index: {e}");
                return;
            }
        };
        let mut seen = file.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == Some(stamp) {
            return;
        }
        match RevocationIndex::read(&file.path) {
            Ok(index) => {
                tracing::info!(
                    path = %file.path.display(),
                    entries = index.entries().len(),
                    revoked = index.revoked().len(),
                    "revocation index re-read"
                );
                self.responder
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .set_index(index);
                *seen = Some(stamp);
            }
            Err(e) => tracing::warn!("keeping the previous revocation index: {e}"),
        }
    }
}

fn is_ocsp_request_type(value: &HeaderValue) -> bool {
    value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(OCSP_REQUEST_TYPE))
}

/// RFC 6960 §A.1: `GET {url}/{url-encoding of base-64 encoding of the DER OCSPRequest}`. The
/// responder's own URL may have a path, and clients do not always percent-encode the `/` of
/// base64, so the request is the longest path suffix (after a `/`) that decodes to one.
/// Anything else yields bytes the responder answers with malformedRequest.
fn request_from_path(path: &str) -> Vec<u8> {
    decode_get_path(path).0
}

/// [`request_from_path`], and how many base64 decodes it tried: at most
/// 2 × [`MAX_GET_CANDIDATES`], each linear in the path, so a path costs O(its length).
pub(crate) fn decode_get_path(path: &str) -> (Vec<u8>, usize) {
    let decoded = percent_decode(path.trim_start_matches('/'));
    let bytes = decoded.as_bytes();
    // The request is base64 throughout (`/` being a base64 character too), so it starts
    // after the last byte that is not.
    let floor = bytes
        .iter()
        .rposition(|&b| !is_base64_byte(b))
        .map_or(0, |at| at + 1);
    // A DER OCSPRequest is a SEQUENCE (0x30), whose base64 starts with `M`; padded base64
    // comes in groups of 4. Candidates are tried longest first.
    let candidates = std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'/')
                .map(|(at, _)| at + 1),
        )
        .filter(|&start| {
            start >= floor
                && bytes.get(start) == Some(&b'M')
                && (bytes.len() - start).is_multiple_of(4)
        })
        .take(MAX_GET_CANDIDATES);
    let mut attempts = 0;
    for start in candidates {
        let candidate = &decoded[start..];
        for engine in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE,
        ] {
            attempts += 1;
            if let Ok(der) = engine.decode(candidate) {
                if OcspRequest::from_der(&der).is_ok() {
                    return (der, attempts);
                }
            }
        }
    }
    (Vec::new(), attempts)
}

/// Whether `b` belongs to the standard or the URL-safe base64 alphabet, or is padding.
fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'=')
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use base64::Engine;

    use super::*;

    #[test]
    fn get_paths_decode_with_or_without_percent_encoding_and_prefixes() {
        // A syntactically valid request: one SHA-1 CertID.
        let pki = qtls_pki::Pki::generate(&{
            let mut options = qtls_pki::PkiOptions::new(
                OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap(),
            );
            options.profile = qtls_pki::Profile::EcdsaP384;
            options
        })
        .unwrap();
        let id = qtls_pki::OcspCertId::for_certificate(
            qtls_pki::OcspHash::Sha1,
            pki.intermediate().certificate(),
            pki.server().certificate(),
        )
        .unwrap();
        let der = qtls_pki::OcspRequestBuilder::new()
            .cert_id(id)
            .nonce([0xff; 32])
            .build()
            .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let encoded = b64
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D");
        for path in [
            format!("/{b64}"),
            format!("/{encoded}"),
            format!("/ocsp/{b64}"),
            format!("/ocsp/{encoded}"),
        ] {
            assert_eq!(request_from_path(&path), der, "{path}");
        }
        assert!(request_from_path("/").is_empty());
        assert!(request_from_path("/not-base64!").is_empty());
        assert_eq!(percent_decode("a%2fb%zz%4"), "a/b%zz%4");
    }

    #[test]
    fn get_paths_cost_a_bounded_number_of_decodes() {
        // 65,000 slashes (hyper's longest URI; leading ones are trimmed, not tried), slashes
        // after a first segment, and slashes before aligned candidates that all look like
        // the start of a DER SEQUENCE.
        for path in [
            "/".repeat(65_000),
            format!("/x{}", "/".repeat(65_000)),
            format!("/ocsp/{}", "MAA/".repeat(16_000)),
            format!("/{}", "M///".repeat(16_000)),
        ] {
            let (der, attempts) = decode_get_path(&path);
            assert!(der.is_empty());
            assert!(
                attempts <= 2 * MAX_GET_CANDIDATES,
                "{attempts} base64 decodes for a path of {} bytes",
                path.len()
            );
        }
    }

    #[test]
    fn content_types() {
        for ok in [
            "application/ocsp-request",
            "Application/OCSP-Request; charset=x",
        ] {
            assert!(is_ocsp_request_type(&HeaderValue::from_static(ok)), "{ok}");
        }
        assert!(!is_ocsp_request_type(&HeaderValue::from_static(
            "text/plain"
        )));
    }
}
