//! Certificate verification for hybrid post-quantum TLS: rustls
//! [`ServerCertVerifier`](rustls::client::danger::ServerCertVerifier) and
//! [`ClientCertVerifier`](rustls::server::danger::ClientCertVerifier) implementations over
//! rustls-webpki, with the provider's composite, ML-DSA and classical algorithms, and:
//! - revocation per certificate: the stapled OCSP response, then online OCSP (AIA), then
//!   CRLs (configured, or fetched and cached until nextUpdate once their signature verified,
//!   at most 64 CRLs and 64 MiB), soft- or hard-fail; a failed fetch is not retried for 30 s
//!   ([`VerifierBuilder::retry_failed_fetches_after`]);
//! - a post-quantum policy ([`VerifierBuilder::require_pq_signatures`]), with the schemes
//!   classified by the provider's own table (whatever its composite code points);
//! - Catalyst dual-key certificates (the alternative signature must verify too, and is
//!   required under an issuer with an alternative key);
//! - KeyUsage and AuthorityKeyIdentifier/SubjectKeyIdentifier consistency;
//! - the verified client identity, for authorization ([`ClientIdentity`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use qtls_verifier::{RevocationPolicy, ServerVerifierBuilder};
//!
//! # fn demo(roots: Vec<rustls::pki_types::CertificateDer<'static>>) -> Result<(), Box<dyn std::error::Error>> {
//! let provider = Arc::new(qtls_provider::hybrid());
//! let verifier = ServerVerifierBuilder::new(roots, &provider)
//!     .revocation_policy(RevocationPolicy::HardFail)
//!     .require_pq_signatures(true)
//!     .build()?;
//! let config = rustls::ClientConfig::builder_with_provider(provider)
//!     .with_protocol_versions(&[&rustls::version::TLS13])?
//!     .dangerous()
//!     .with_custom_certificate_verifier(verifier)
//!     .with_no_client_auth();
//! # let _ = config;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod builder;
mod catalyst;
mod cert;
mod error;
mod fetch;
#[doc(hidden)]
pub mod fuzzing;
mod identity;
mod ocsp;
mod rustls_verifiers;
mod verifier;

pub use builder::{
    ClientVerifierBuilder, ServerVerifierBuilder, VerifierBuilder, VerifiesClients, VerifiesServers,
};
pub use error::{Error, OcspError, StatusSource, VerifierBuilderError};

/// The subjectAltName DNS names of a DER certificate (None when it does not parse).
pub fn dns_names(cert: &rustls_pki_types::CertificateDer<'_>) -> Option<Vec<String>> {
    let parsed = cert::ParsedCert::from_der(cert.as_ref()).ok()?;
    Some(
        parsed
            .subject_alt_names()
            .into_iter()
            .filter_map(|name| name.strip_prefix("DNS:").map(str::to_string))
            .collect(),
    )
}
pub use identity::ClientIdentity;
pub use rustls_verifiers::{QtlsClientVerifier, QtlsServerVerifier};
pub use verifier::{
    CertificateReport, ChainVerifier, OcspSummary, Purpose, RevocationDepth, RevocationPolicy,
    RevocationStatus, VerifiedChain,
};
