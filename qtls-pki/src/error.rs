//! The crate's one error type.

use core::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while issuing, parsing or storing certificates.
///
/// Each variant says what failed and with which input (a subject, a host name, a file).
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// A key operation in `qtls-provider` failed: generating, signing, loading or exporting.
    Key {
        /// What was being done, e.g. `generating the root CA key (ML-DSA-65)`.
        context: String,
        /// The provider's error.
        source: qtls_provider::Error,
    },
    /// A certificate field could not be encoded to DER.
    Encoding {
        /// The certificate's subject.
        subject: String,
        /// The field, e.g. `SubjectAltName`.
        field: &'static str,
        /// The encoder's message.
        reason: String,
    },
    /// A certificate (DER or PEM) could not be parsed.
    InvalidCertificate {
        /// Where it came from: a file name or `DER input`.
        source_name: String,
        /// The parser's message.
        reason: String,
    },
    /// A host name or address for the SubjectAltName is not a valid DNS name, wildcard DNS
    /// name or IP address (RFC 5280 §4.2.1.6).
    InvalidHost {
        /// The input as given.
        host: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A serial number given to the builder breaks RFC 5280 §4.1.2.2 (positive, non-zero,
    /// at most 20 octets).
    InvalidSerial {
        /// The serial number in hex, as given.
        serial: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A certificate builder was used without [`CertificateBuilder::validity`].
    ///
    /// [`CertificateBuilder::validity`]: crate::CertificateBuilder::validity
    MissingValidity {
        /// The certificate's subject.
        subject: String,
    },
    /// A validity period that cannot be encoded (RFC 5280 §4.1.2.5): notAfter not after
    /// notBefore, a time before 1970 or after 9999, or an overflowing duration.
    InvalidValidity {
        /// The certificate's subject.
        subject: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The issuer certificate may not sign certificates (RFC 5280 §4.2.1.9): it is not a
    /// CA, or its pathLenConstraint forbids issuing another CA.
    InvalidIssuer {
        /// The issuer's subject.
        issuer: String,
        /// Why it may not sign.
        reason: &'static str,
    },
    /// A private key does not belong to the certificate it was paired with.
    KeyMismatch {
        /// The certificate's subject.
        subject: String,
    },
    /// An algorithm profile name that is not one of [`Profile::ALL`](crate::Profile::ALL).
    UnknownProfile(String),
    /// [`PkiOptions`](crate::PkiOptions) that cannot produce a hierarchy.
    InvalidOptions(String),
    /// The system random number generator failed.
    Random,
    /// Reading or writing a file failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key { context, source } => write!(f, "{context}: {source}"),
            Self::Encoding {
                subject,
                field,
                reason,
            } => write!(
                f,
                "cannot encode {field} of the certificate for {subject:?}: {reason}"
            ),
            Self::InvalidCertificate {
                source_name,
                reason,
            } => write!(f, "invalid certificate in {source_name}: {reason}"),
            Self::InvalidHost { host, reason } => {
                write!(f, "invalid host {host:?} for subjectAltName: {reason}")
            }
            Self::InvalidSerial { serial, reason } => {
                write!(f, "invalid serial number {serial}: {reason}")
            }
            Self::MissingValidity { subject } => write!(
                f,
                "no validity period set for the certificate for {subject:?}"
            ),
            Self::InvalidValidity { subject, reason } => write!(
                f,
                "invalid validity period for the certificate for {subject:?}: {reason}"
            ),
            Self::InvalidIssuer { issuer, reason } => {
                write!(f, "{issuer:?} cannot issue this certificate: {reason}")
            }
            Self::KeyMismatch { subject } => write!(
                f,
                "the private key does not match the public key of the certificate for {subject:?}"
            ),
            Self::UnknownProfile(name) => write!(
                f,
                "unknown certificate profile {name:?}; known: composite, mldsa65, mldsa87, \
                 ecdsa-p384"
            ),
            Self::InvalidOptions(why) => write!(f, "invalid PKI options: {why}"),
            Self::Random => f.write_str("the system random number generator failed"),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Key { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
