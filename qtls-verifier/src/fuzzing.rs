//! Thin wrappers around this crate's parsers of peer input, for the cargo-fuzz targets in
//! the workspace's `fuzz/` directory and its corpus replay test.
//!
//! NOT part of the API: hidden from the docs, exempt from semver, and may change or go away
//! in any release. Each function calls the real code the verifier runs.

use std::time::Duration;

use rustls_pki_types::{SignatureVerificationAlgorithm, UnixTime};

/// A certificate's status from an accepted OCSP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspVerdict {
    /// The response says good.
    Good,
    /// The response says revoked.
    Revoked,
    /// The response says unknown.
    Unknown,
}

/// Checks the OCSP response `der` for `cert_der` issued by `issuer_der` as the verifier
/// does (RFC 6960 §3.2): the status and how long it may be cached (Unix seconds), or why it
/// is refused.
pub fn check_ocsp_response(
    der: &[u8],
    cert_der: &[u8],
    issuer_der: &[u8],
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    now_secs: u64,
) -> Result<(OcspVerdict, u64), String> {
    let cert = crate::cert::ParsedCert::from_der(cert_der).map_err(|e| e.to_string())?;
    let issuer = crate::cert::ParsedCert::from_der(issuer_der).map_err(|e| e.to_string())?;
    let context = crate::ocsp::OcspContext {
        cert: &cert,
        issuer: &issuer,
        algorithms,
        now: UnixTime::since_unix_epoch(Duration::from_secs(now_secs)),
        skew: Duration::from_secs(300),
        max_age: Duration::from_secs(7 * 24 * 3600),
    };
    let answer = crate::ocsp::check_response(der, &context).map_err(|e| e.to_string())?;
    let status = match answer.status {
        crate::ocsp::OcspStatus::Good => OcspVerdict::Good,
        crate::ocsp::OcspStatus::Revoked => OcspVerdict::Revoked,
        crate::ocsp::OcspStatus::Unknown => OcspVerdict::Unknown,
    };
    Ok((status, answer.valid_until.as_secs()))
}

/// The Catalyst PreTBSCertificate (X.509 (10/2019) §7.2.2) of the certificate `der`, as the
/// verifier builds it to check an alternative signature: `None` if the certificate does not
/// parse, else the encoding or why it fails.
pub fn catalyst_pre_tbs(der: &[u8]) -> Option<Result<Vec<u8>, String>> {
    let cert = crate::cert::ParsedCert::from_der(der).ok()?;
    Some(crate::catalyst::pre_tbs_certificate(&cert).map_err(|e| e.to_string()))
}
