//! Issuing X.509 certificates for hybrid post-quantum TLS.
//!
//! Certificates are signed with composite ML-DSA (MLDSA65-ECDSA-P384-SHA512,
//! draft-ietf-lamps-pq-composite-sigs), pure ML-DSA (RFC 9881) or ECDSA, using the keys of
//! [`qtls_provider`]. Two levels of API:
//!
//! - [`Pki::generate`] makes a whole test hierarchy in one [`Profile`]: root CA,
//!   intermediate CA, server, client and OCSP-responder certificates with their keys, and
//!   [`Pki::write_to_dir`] stores it as PEM files that OpenSSL 4 reads (for the ML-DSA
//!   profiles; OpenSSL has no composite ML-DSA).
//! - [`CertificateBuilder`] issues one certificate: subject, serial, validity from an
//!   explicit clock, SubjectAltName (DNS, wildcard, IP), and the extensions RFC 5280 §4.2
//!   defines that its [`Usage`] implies, plus AuthorityInfoAccess, CRLDistributionPoints and
//!   must-staple on request.
//!
//! Revocation (RFC 5280 §5, RFC 6960):
//!
//! - [`RevocationIndex`]: which certificates a CA issued and which are revoked, in OpenSSL's
//!   `index.txt` format (`revoked.txt` in a PKI directory, so `openssl ocsp -index` reads it
//!   too); [`Pki::write_to_dir`] records the end-entity certificates there and
//!   [`Pki::revoke_in_dir`] revokes one.
//! - [`CrlBuilder`] signs a CRL ([`RevocationList`]); [`Pki::issue_crl_in_dir`] makes the
//!   intermediate CA's from its index, [`Pki::write_issuer_crl_in_dir`] the intermediate's or
//!   the root's ([`CaLevel`]), whose index `root-revoked.txt` lists the intermediate CA
//!   ([`Pki::revoke_intermediate_in_dir`]).
//! - A PKI directory's files are replaced atomically and changed under an exclusive lock
//!   ([`PkiDirLock`]); CA keys may be stored encrypted ([`Passphrase`],
//!   [`encrypt_private_key_pem`], [`read_private_key`]) and the root key elsewhere
//!   ([`PkiWriteOptions`]).
//! - [`OcspResponseBuilder`] signs OCSP responses (by the CA or a delegated responder) and
//!   [`OcspResponder`] answers DER OCSP requests from a revocation index.
//!
//! ```
//! use qtls_pki::{Pki, PkiOptions, Profile};
//!
//! // 2026-01-01T00:00:00Z
//! let now = time::OffsetDateTime::from_unix_timestamp(1_767_225_600)?;
//! let mut options = PkiOptions::new(now);
//! options.profile = Profile::MlDsa65;
//! options.hosts = vec!["localhost".into(), "*.example.com".into(), "127.0.0.1".into()];
//! options.ocsp_url = Some("http://127.0.0.1:8080/ocsp".into());
//! let pki = Pki::generate(&options)?;
//!
//! let server = pki.server().certificate();
//! assert_eq!(server.subject(), "CN=localhost,O=Q-TLS");
//! assert_eq!(
//!     server.authority_key_identifier(),
//!     pki.intermediate().certificate().subject_key_identifier()
//! );
//! # let dir = std::env::temp_dir().join(format!("qtls-pki-doctest-{}", std::process::id()));
//! let written = pki.write_to_dir(&dir)?;
//! assert_eq!(written.len(), Pki::FILE_NAMES.len());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod builder;
mod certificate;
mod crl;
mod error;
mod files;
#[doc(hidden)]
pub mod fuzzing;
mod keyfile;
mod ocsp;
mod pki;
mod profile;
mod public_key;
mod revocation;

pub use builder::{CertificateBuilder, Usage, ID_PE_TLS_FEATURE, ID_PKIX_OCSP_NOCHECK};
pub use certificate::{Certificate, CertifiedKeyPair};
pub use crl::{CrlBuilder, RevocationList};
pub use error::Error;
pub use files::{exposed_file_mode, PkiDirLock};
pub use keyfile::{
    encrypt_private_key_pem, read_private_key, Passphrase, MAX_PBKDF2_ITERATIONS, PBKDF2_ITERATIONS,
};
pub use ocsp::{
    OcspCertId, OcspCertStatus, OcspHash, OcspRequestBuilder, OcspResponder, OcspResponse,
    OcspResponseBuilder, OcspSingleResponse,
};
pub use pki::{CaLevel, Pki, PkiOptions, PkiWriteOptions};
pub use profile::Profile;
pub use public_key::SubjectPublicKey;
pub use qtls_provider::{Backend, KeyAlgorithm, KeyPair};
pub use revocation::{
    parse_serial, serial_hex, IndexEntry, IndexStatus, RevocationIndex, RevocationReason,
    RevokedCertificate,
};
/// The x509-cert crate, whose types [`Certificate::x509`] returns.
pub use x509_cert;
/// The x509-ocsp crate, whose types [`OcspResponse::basic`] returns.
pub use x509_ocsp;
