//! Blocking HTTP for OCSP ([RFC 6960 A.1](https://www.rfc-editor.org/rfc/rfc6960#appendix-A.1)) and CRLs, each request bounded in time and bytes.
//!
//! rustls verifiers are synchronous, so a fetch blocks its caller (run verification off async
//! workers). One request takes at most the connect timeout plus the read timeout, all of it
//! (connect, redirects, headers, body) under ureq's global timeout, and reads at most 64 KiB
//! (OCSP) or 16 MiB (CRL). The verifier tries at most 4 OCSP and 4 CRL URLs per certificate
//! and remembers a failed URL for a short window, so a silent responder costs one timeout
//! per window, not one per handshake.

use std::time::Duration;

/// The largest OCSP response accepted.
const MAX_OCSP_RESPONSE: u64 = 64 * 1024;
/// The largest CRL accepted.
const MAX_CRL: u64 = 16 * 1024 * 1024;

/// An HTTP client with connect and overall timeouts.
#[derive(Debug)]
pub(crate) struct Fetcher {
    agent: ureq::Agent,
}

impl Fetcher {
    pub(crate) fn new(connect_timeout: Duration, read_timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(connect_timeout + read_timeout))
            .http_status_as_error(false)
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// RFC 6960 Appendix A.1: POST the DER request as application/ocsp-request.
    pub(crate) fn ocsp(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, String> {
        let mut response = self
            .agent
            .post(url)
            .header("Content-Type", "application/ocsp-request")
            .send(request)
            .map_err(|e| e.to_string())?;
        if response.status() != 200 {
            return Err(format!("HTTP {}", response.status()));
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_OCSP_RESPONSE)
            .read_to_vec()
            .map_err(|e| e.to_string())
    }

    /// GET a CRL (DER, or PEM which is converted).
    pub(crate) fn crl(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self.agent.get(url).call().map_err(|e| e.to_string())?;
        if response.status() != 200 {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_CRL)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        if body.starts_with(b"-----BEGIN") {
            use rustls_pki_types::pem::PemObject;
            return rustls_pki_types::CertificateRevocationListDer::from_pem_slice(&body)
                .map(|der| der.to_vec())
                .map_err(|e| e.to_string());
        }
        Ok(body)
    }
}
