use core::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::CertificateError;

/// Everything that can make a chain fail verification.
///
/// Each converts to the [`CertificateError`] whose alert [RFC 8446 §6.2](https://www.rfc-editor.org/rfc/rfc8446#section-6.2) names for it (see
/// [`Error::certificate_error`]); a verifier that fails to build says why with
/// [`VerifierBuilderError`].
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Error {
    /// rustls-webpki refused the chain (expiry, unknown issuer, name, EKU, constraints...).
    Chain(webpki::Error),
    /// A certificate in the chain is not signed with ML-DSA or composite ML-DSA while
    /// post-quantum signatures are required.
    NotPostQuantum {
        /// The subject of the certificate.
        subject: String,
        /// The signature algorithm's OID.
        algorithm: String,
    },
    /// A peer's CertificateVerify used a classical scheme while post-quantum signatures are
    /// required (logged; the rustls verifiers refuse it as a scheme they did not offer, with
    /// illegal_parameter).
    ClassicalHandshakeSignature(rustls::SignatureScheme),
    /// A certificate's KeyUsage does not allow its use in the chain.
    KeyUsage {
        /// The subject of the certificate.
        subject: String,
        /// What the usage lacks.
        missing: &'static str,
    },
    /// An AuthorityKeyIdentifier does not match the issuer's SubjectKeyIdentifier.
    KeyIdentifierMismatch {
        /// The subject of the certificate whose AKI is wrong.
        subject: String,
    },
    /// A Catalyst alternative signature (ITU-T X.509 2019 §7.2.2) does not verify.
    AlternativeSignature {
        /// The subject of the certificate.
        subject: String,
        /// Why.
        why: String,
    },
    /// A certificate's public key is malformed for its algorithm (a composite key whose ECDSA point is not uncompressed, [draft-ietf-lamps-pq-composite-sigs](https://datatracker.ietf.org/doc/draft-ietf-lamps-pq-composite-sigs/)).
    InvalidPublicKey {
        /// The subject of the certificate.
        subject: String,
        /// What is wrong with the key.
        why: String,
    },
    /// A certificate is revoked.
    Revoked {
        /// The subject of the revoked certificate.
        subject: String,
        /// Where the status came from.
        source: StatusSource,
    },
    /// The revocation status of a certificate could not be learnt and the policy is
    /// hard-fail.
    RevocationUnknown {
        /// The subject of the certificate.
        subject: String,
        /// Its serial number, hex.
        serial: String,
        /// What was tried and why each failed.
        attempts: Vec<String>,
    },
    /// A stapled OCSP response is unusable (bad signature, unauthorized signer, stale, for
    /// another certificate...).
    BadStaple(OcspError),
    /// The leaf demands a stapled OCSP response (RFC 7633 must-staple) and none came.
    MissingStaple {
        /// The leaf's subject.
        subject: String,
    },
    /// An OCSP responder or CRL distribution point could not be reached, or did not answer
    /// with a response.
    Fetch {
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// Where a revocation status was learnt.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusSource {
    /// An OCSP response stapled to the handshake.
    StapledOcsp,
    /// An OCSP response fetched from the certificate's AIA responder.
    OnlineOcsp,
    /// A certificate revocation list.
    Crl,
}

impl fmt::Display for StatusSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StapledOcsp => "stapled OCSP",
            Self::OnlineOcsp => "online OCSP",
            Self::Crl => "CRL",
        })
    }
}

/// Why an OCSP response was not accepted (RFC 6960 §3.2).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspError {
    /// Not a DER OCSPResponse / BasicOCSPResponse.
    Malformed(String),
    /// responseStatus was not successful.
    Status(String),
    /// No SingleResponse carries the certificate's CertID.
    NoMatchingCertId,
    /// The signer is neither the issuer nor a responder the issuer authorized.
    UnauthorizedSigner(String),
    /// The response signature does not verify.
    BadSignature,
    /// thisUpdate is in the future, or the response is past nextUpdate / too old.
    Stale(String),
    /// A nonce was sent and the response did not echo it.
    NonceMismatch,
}

impl fmt::Display for OcspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed OCSP response: {why}"),
            Self::Status(status) => write!(f, "OCSP responder answered {status}"),
            Self::NoMatchingCertId => write!(f, "OCSP response is for another certificate"),
            Self::UnauthorizedSigner(who) => {
                write!(
                    f,
                    "OCSP response signed by an unauthorized responder: {who}"
                )
            }
            Self::BadSignature => write!(f, "OCSP response signature does not verify"),
            Self::Stale(why) => write!(f, "OCSP response is not current: {why}"),
            Self::NonceMismatch => write!(f, "OCSP response does not echo the request nonce"),
        }
    }
}

impl std::error::Error for OcspError {}

impl Error {
    /// The rustls error this failure becomes, choosing the alert:
    /// expired → certificate_expired; bad chain signature, name mismatch, broken
    /// constraints → bad_certificate; unknown CA or unknown revocation status → unknown_ca
    /// (except in [`crate::QtlsServerVerifier`], where an unknown revocation status keeps its
    /// explanation in the client's error and is certificate_unknown);
    /// revoked → certificate_revoked; wrong KeyUsage/EKU → unsupported_certificate; bad or
    /// missing staple → bad_certificate_status_response; classical signature under a PQ
    /// requirement → (chain) bad_certificate; the rustls verifiers answer a CertificateVerify
    /// whose scheme was not offered or does not fit the key with illegal_parameter
    /// (RFC 8446 §4.4.3), not through this mapping.
    pub fn certificate_error(&self) -> CertificateError {
        use webpki::Error as W;
        match self {
            Self::Chain(error) => match error {
                W::CertExpired { time, not_after } => CertificateError::ExpiredContext {
                    time: *time,
                    not_after: *not_after,
                },
                W::CertNotValidYet { time, not_before } => CertificateError::NotValidYetContext {
                    time: *time,
                    not_before: *not_before,
                },
                W::InvalidCertValidity => CertificateError::Expired,
                W::UnknownIssuer => CertificateError::UnknownIssuer,
                W::CertRevoked => CertificateError::Revoked,
                W::UnknownRevocationStatus => CertificateError::UnknownRevocationStatus,
                W::CrlExpired { time, next_update } => {
                    CertificateError::ExpiredRevocationListContext {
                        time: *time,
                        next_update: *next_update,
                    }
                }
                W::CertNotValidForName(context) => CertificateError::NotValidForNameContext {
                    expected: context.expected.clone(),
                    presented: context.presented.clone(),
                },
                #[allow(deprecated)]
                W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) => {
                    CertificateError::InvalidPurpose
                }
                // A bad signature inside the chain is the certificate's fault, not the
                // handshake's: bad_certificate, where rustls would say decrypt_error.
                W::InvalidSignatureForPublicKey
                | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
                | W::CaUsedAsEndEntity
                | W::EndEntityUsedAsCa
                | W::PathLenConstraintViolated
                | W::BadDer
                | W::BadDerTime
                | W::TrailingData(_)
                | W::UnsupportedCriticalExtension => CertificateError::BadEncoding,
                other => other_error(Self::Chain(other.clone())),
            },
            Self::NotPostQuantum { .. }
            | Self::KeyIdentifierMismatch { .. }
            | Self::AlternativeSignature { .. }
            | Self::InvalidPublicKey { .. } => CertificateError::BadEncoding,
            Self::ClassicalHandshakeSignature(_) => other_error(self.clone()),
            Self::KeyUsage { .. } => CertificateError::InvalidPurpose,
            Self::Revoked { .. } => CertificateError::Revoked,
            Self::RevocationUnknown { .. } => CertificateError::UnknownRevocationStatus,
            Self::BadStaple(_) | Self::MissingStaple { .. } => {
                CertificateError::InvalidOcspResponse
            }
            Self::Fetch { .. } => other_error(self.clone()),
        }
    }
}

fn other_error(error: Error) -> CertificateError {
    CertificateError::Other(rustls::OtherError(Arc::new(error)))
}

impl From<Error> for rustls::Error {
    fn from(error: Error) -> Self {
        tracing::warn!("certificate rejected: {error}");
        Self::InvalidCertificate(error.certificate_error())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Chain(error) => write!(f, "chain verification failed: {error}"),
            Self::NotPostQuantum { subject, algorithm } => write!(
                f,
                "{subject} is signed with {algorithm}, not ML-DSA or composite ML-DSA"
            ),
            Self::ClassicalHandshakeSignature(scheme) => write!(
                f,
                "CertificateVerify used {scheme:?}, not ML-DSA or composite ML-DSA"
            ),
            Self::KeyUsage { subject, missing } => {
                write!(f, "{subject}: KeyUsage lacks {missing}")
            }
            Self::KeyIdentifierMismatch { subject } => write!(
                f,
                "{subject}: AuthorityKeyIdentifier does not match the issuer's SubjectKeyIdentifier"
            ),
            Self::AlternativeSignature { subject, why } => {
                write!(f, "{subject}: alternative (Catalyst) signature: {why}")
            }
            Self::InvalidPublicKey { subject, why } => {
                write!(f, "{subject}: unusable public key: {why}")
            }
            Self::Revoked { subject, source } => write!(f, "{subject} is revoked ({source})"),
            Self::RevocationUnknown {
                subject,
                serial,
                attempts,
            } => write!(
                f,
                "revocation status of {subject} (serial {serial}) unknown, hard-fail refuses it; \
                 tried: {}",
                if attempts.is_empty() {
                    "nothing (no OCSP or CRL source configured)".to_owned()
                } else {
                    attempts.join("; ")
                }
            ),
            Self::BadStaple(error) => write!(f, "stapled OCSP response rejected: {error}"),
            Self::MissingStaple { subject } => write!(
                f,
                "{subject} requires a stapled OCSP response (must-staple) and none was sent"
            ),
            Self::Fetch { url, reason } => write!(f, "fetching {url}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// Why a [`crate::ServerVerifierBuilder`] or [`crate::ClientVerifierBuilder`] did not build;
/// each names the input at fault.
#[non_exhaustive]
#[derive(Debug)]
pub enum VerifierBuilderError {
    /// No trust anchor was given.
    NoTrustAnchors,
    /// A trust anchor is not a usable certificate ([RFC 5280 §6.1.1](https://www.rfc-editor.org/rfc/rfc5280#section-6.1.1)).
    TrustAnchor {
        /// Its position among the roots given, from 0.
        index: usize,
        /// Why rustls-webpki refused it.
        error: webpki::Error,
    },
    /// A known intermediate given to `intermediates` is not a certificate with a usable key.
    Intermediate {
        /// Its position among the intermediates given, from 0.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A CRL given to `crls` does not parse ([RFC 5280 §5.1](https://www.rfc-editor.org/rfc/rfc5280#section-5.1)).
    Crl {
        /// Its position among the CRLs given, from 0.
        index: usize,
        /// Why it does not parse.
        reason: String,
    },
    /// A CRL file cannot be read, or holds no CRL that parses.
    CrlFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The OCSP responder URL is unusable (the verifier fetches over plain `http://`, [RFC 6960 Appendix A.1](https://www.rfc-editor.org/rfc/rfc6960#appendix-A.1)).
    OcspResponderUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Post-quantum signatures are required and the provider verifies none.
    NoPostQuantumSchemes,
    /// The thread that re-reads the CRL files could not be started.
    CrlFileWatcher(std::io::Error),
}

impl fmt::Display for VerifierBuilderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTrustAnchors => f.write_str("no trust anchors given"),
            Self::TrustAnchor { index, error } => {
                write!(f, "trust anchor #{index} is unusable: {error}")
            }
            Self::Intermediate { index, reason } => {
                write!(f, "known intermediate #{index} is unusable: {reason}")
            }
            Self::Crl { index, reason } => write!(f, "CRL #{index} does not parse: {reason}"),
            Self::CrlFile { path, reason } => {
                write!(f, "CRL file {}: {reason}", path.display())
            }
            Self::OcspResponderUrl { url, reason } => {
                write!(f, "OCSP responder URL {url:?}: {reason}")
            }
            Self::NoPostQuantumSchemes => f.write_str(
                "post-quantum signatures required, but the provider verifies no ML-DSA or \
                 composite scheme",
            ),
            Self::CrlFileWatcher(error) => {
                write!(f, "cannot start the CRL file watcher thread: {error}")
            }
        }
    }
}

impl std::error::Error for VerifierBuilderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::TrustAnchor { error, .. } => Some(error),
            Self::CrlFileWatcher(error) => Some(error),
            _ => None,
        }
    }
}
