//! The crate's one error type.

use core::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while issuing, parsing or storing certificates, CRLs, OCSP
/// responses and revocation indexes.
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
    /// A public key given without its private key does not fit its algorithm.
    InvalidPublicKey {
        /// The algorithm it was given for, e.g. `ML-DSA-65`.
        algorithm: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CRL or OCSP field could not be encoded to DER.
    ArtifactEncoding {
        /// What was being made, e.g. `CRL of "CN=Q-TLS Intermediate CA,O=Q-TLS"`.
        artifact: String,
        /// The field, e.g. `revokedCertificates`.
        field: &'static str,
        /// The encoder's message.
        reason: String,
    },
    /// A revocation reason that is not one of RFC 5280 §5.3.1's, or cannot be used here.
    InvalidRevocationReason {
        /// The reason as given.
        reason: String,
        /// Why it was rejected, or the names that are known.
        why: &'static str,
    },
    /// A line of a revocation index (OpenSSL `index.txt` format) could not be parsed.
    InvalidIndex {
        /// The file name.
        source_name: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A serial number to revoke is not in the revocation index: this CA did not issue it.
    UnknownSerial {
        /// The serial number, upper-case hex.
        serial: String,
    },
    /// A certificate to revoke is revoked already.
    AlreadyRevoked {
        /// The serial number, upper-case hex.
        serial: String,
        /// When it was revoked.
        revoked_at: time::OffsetDateTime,
    },
    /// thisUpdate / nextUpdate of a CRL (RFC 5280 §5.1.2.4-5) or OCSP response
    /// (RFC 6960 §4.2.1) that are missing, out of order or cannot be encoded.
    InvalidUpdateTimes {
        /// `CRL` or `OCSP response`.
        artifact: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A CRL (DER or PEM) could not be parsed.
    InvalidCrl {
        /// Where it came from: a file name or `DER input`.
        source_name: String,
        /// The parser's message.
        reason: String,
    },
    /// An OCSP request or response could not be parsed, or is not one this crate can make.
    InvalidOcsp {
        /// `OCSP request` or `OCSP response`.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A certificate may not sign OCSP responses for an issuer (RFC 6960 §4.2.2.2): it is
    /// neither the issuer itself nor a certificate the issuer gave id-kp-OCSPSigning.
    UnauthorizedResponder {
        /// The would-be signer's subject.
        responder: String,
        /// The issuer's subject.
        issuer: String,
        /// Why it is not authorized.
        reason: &'static str,
    },
    /// A CertID of an OCSP response names another issuer than the one the response is for
    /// (RFC 6960 §4.1.1).
    CertIdMismatch {
        /// The CertID's serial number, upper-case hex.
        serial: String,
        /// The subject of the issuer the response is for.
        issuer: String,
    },
    /// The certificate an OCSP responder signs with is not valid at the time of signing
    /// (RFC 5280 §4.1.2.5): past its notAfter or before its notBefore, so clients would
    /// reject its responses ([RFC 6960 §3.2](https://www.rfc-editor.org/rfc/rfc6960#section-3.2)).
    ResponderCertificateNotValid {
        /// The responder certificate's subject.
        subject: String,
        /// Its notBefore.
        not_before: time::OffsetDateTime,
        /// Its notAfter.
        not_after: time::OffsetDateTime,
        /// The time of signing.
        now: time::OffsetDateTime,
    },
    /// A private key file is encrypted (`ENCRYPTED PRIVATE KEY`, PKCS#8 with PBES2) and no
    /// passphrase was given.
    EncryptedKey {
        /// The key file.
        path: PathBuf,
    },
    /// An encrypted private key could not be decrypted: a wrong passphrase, or an
    /// encryption scheme this crate does not read.
    KeyDecryption {
        /// The key file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A private key could not be encrypted.
    KeyEncryption(String),
    /// A passphrase that cannot be used (empty).
    InvalidPassphrase(String),
    /// A directory already holds a PKI, which writing a new one would replace: its CA keys
    /// and its revocation index.
    PkiExists {
        /// The file found, e.g. `dir/root.key`.
        path: PathBuf,
    },
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
            Self::UnknownProfile(name) => {
                let known: Vec<&str> = crate::Profile::ALL.iter().map(|p| p.name()).collect();
                write!(
                    f,
                    "unknown certificate profile {name:?}; known: composite, {}",
                    known.join(", ")
                )
            }
            Self::InvalidOptions(why) => write!(f, "invalid PKI options: {why}"),
            Self::Random => f.write_str("the system random number generator failed"),
            Self::InvalidPublicKey { algorithm, reason } => {
                write!(f, "{algorithm} public key: {reason}")
            }
            Self::ArtifactEncoding {
                artifact,
                field,
                reason,
            } => write!(f, "cannot encode {field} of the {artifact}: {reason}"),
            Self::InvalidRevocationReason { reason, why } => {
                write!(f, "invalid revocation reason {reason:?}: {why}")
            }
            Self::InvalidIndex {
                source_name,
                line,
                reason,
            } => write!(f, "{source_name} line {line}: {reason}"),
            Self::UnknownSerial { serial } => write!(
                f,
                "serial number {serial} is not in the revocation index (not issued by this CA)"
            ),
            Self::AlreadyRevoked { serial, revoked_at } => {
                write!(
                    f,
                    "serial number {serial} was already revoked at {revoked_at}"
                )
            }
            Self::InvalidUpdateTimes { artifact, reason } => {
                write!(
                    f,
                    "invalid thisUpdate/nextUpdate for the {artifact}: {reason}"
                )
            }
            Self::InvalidCrl {
                source_name,
                reason,
            } => write!(f, "invalid CRL in {source_name}: {reason}"),
            Self::InvalidOcsp { what, reason } => write!(f, "invalid {what}: {reason}"),
            Self::UnauthorizedResponder {
                responder,
                issuer,
                reason,
            } => write!(
                f,
                "{responder:?} may not sign OCSP responses for {issuer:?}: {reason}"
            ),
            Self::CertIdMismatch { serial, issuer } => write!(
                f,
                "the CertID for serial number {serial} names another issuer than {issuer:?}"
            ),
            Self::ResponderCertificateNotValid {
                subject,
                not_before,
                not_after,
                now,
            } => {
                let state = if now < not_before {
                    "is not valid yet"
                } else {
                    "has expired"
                };
                let rfc3339 = |t: &time::OffsetDateTime| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_else(|_| t.to_string())
                };
                let (not_before, not_after, now) =
                    (rfc3339(not_before), rfc3339(not_after), rfc3339(now));
                write!(
                    f,
                    "the OCSP responder certificate {subject:?} {state}: valid from {not_before} \
                     to {not_after}, and it is now {now}; issue a new one (qtls pki init, or a \
                     delegated responder certificate) and restart the responder"
                )
            }
            Self::EncryptedKey { path } => write!(
                f,
                "{} is an encrypted private key (ENCRYPTED PRIVATE KEY): give its passphrase \
                 with --passphrase-file or the QTLS_CA_PASSPHRASE environment variable",
                path.display()
            ),
            Self::KeyDecryption { path, reason } => write!(
                f,
                "cannot decrypt the private key {} with the passphrase given: {reason}",
                path.display()
            ),
            Self::KeyEncryption(reason) => write!(f, "cannot encrypt a private key: {reason}"),
            Self::InvalidPassphrase(reason) => write!(f, "invalid passphrase: {reason}"),
            Self::PkiExists { path } => write!(
                f,
                "{} exists: the directory already holds a PKI, and writing a new one would \
                 replace its CA keys and revocation index",
                path.display()
            ),
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
