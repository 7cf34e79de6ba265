//! Thin wrappers around the CLI's parsers of peer input (the demo HTTP app's request reader,
//! the OCSP responder's GET path), for the cargo-fuzz targets in `fuzz/` and the corpus
//! replay test.
//!
//! NOT part of the API: hidden from the docs, exempt from semver, and may change or go away
//! in any release. Each function calls the real parser the server uses.

use qtls::fuzzing::{run_ready, Chunked};

/// What the server's request reader made of a stream.
#[derive(Debug)]
pub struct RequestsRead {
    /// Each request read, in order (`Debug` of the server's request), up to the first
    /// malformed one (after which the server closes).
    pub requests: Vec<String>,
    /// How the reading ended: `Ok` at the end of the stream, else the error.
    pub end: Result<(), String>,
    /// Bytes the head finder looked at and parsed, to check the bound of RFC 9112 parsing.
    pub scanned: u64,
}

/// Reads HTTP/1.x requests from `stream` with the server's request reader, delivering at
/// most `chunk` bytes per read (at least 1), until the end of the stream or an error.
pub fn read_requests(stream: &[u8], chunk: usize) -> RequestsRead {
    let mut io = Chunked::new(stream, chunk);
    let mut reader = crate::app::http::RequestReader::default();
    let mut requests = Vec::new();
    let end = loop {
        match run_ready(reader.next(&mut io)) {
            Ok(Some(request)) => {
                requests.push(format!("{request:?}"));
                // The server answers a malformed request with 400 and closes.
                if request.malformed.is_some() {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e.to_string()),
        }
        // A request consumes at least one byte, so this ends; the bound is belt and braces.
        if requests.len() > stream.len() {
            break Err("more requests than bytes".into());
        }
    };
    RequestsRead {
        requests,
        end,
        scanned: reader.head_end.scanned(),
    }
}

/// The OCSP responder's GET path decoder: the DER request it finds (empty if none) and the
/// number of base64 decodes it tried.
pub fn ocsp_request_from_path(path: &str) -> (Vec<u8>, usize) {
    crate::ocsp_responder::decode_get_path(path)
}

/// The most base64 decodes [`ocsp_request_from_path`] may try.
pub const OCSP_GET_MAX_DECODES: usize = 2 * crate::ocsp_responder::MAX_GET_CANDIDATES;
