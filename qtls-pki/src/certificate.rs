//! Issued certificates, parsed back, and certificates paired with their private keys.

use std::path::Path;

use der::{Decode, Encode};
use qtls_provider::{Backend, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, SubjectKeyIdentifier};

use crate::error::Error;

/// An X.509 v3 certificate: its DER encoding and the fields this crate reads back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    parsed: x509_cert::Certificate,
    basic_constraints: Option<BasicConstraints>,
    subject_key_identifier: Option<Vec<u8>>,
    authority_key_identifier: Option<Vec<u8>>,
}

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Result<Self, Error> {
        Self::parse(der.into(), "DER input")
    }

    /// Parses the first `CERTIFICATE` block of a PEM document.
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        Self::parse_pem_chain(pem, "PEM input")?
            .into_iter()
            .next()
            .ok_or_else(|| Error::InvalidCertificate {
                source_name: "PEM input".into(),
                reason: "no CERTIFICATE block".into(),
            })
    }

    /// Parses every `CERTIFICATE` block of a PEM document (a chain), in order.
    pub fn from_pem_chain(pem: &[u8]) -> Result<Vec<Self>, Error> {
        Self::parse_pem_chain(pem, "PEM input")
    }

    /// Reads every certificate of a PEM file, in order.
    pub fn read_pem_file(path: &Path) -> Result<Vec<Self>, Error> {
        let pem = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_pem_chain(&pem, &path.display().to_string())
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER encoding as the type rustls takes.
    pub fn to_certificate_der(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.der.clone())
    }

    /// The PEM encoding (`-----BEGIN CERTIFICATE-----`, LF line endings).
    pub fn to_pem(&self) -> Result<String, Error> {
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &self.der).map_err(|e| {
            Error::Encoding {
                subject: self.subject(),
                field: "PEM",
                reason: e.to_string(),
            }
        })
    }

    /// The parsed certificate, for reading fields this type has no accessor for.
    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.parsed
    }

    /// The subject as an RFC 4514 string, e.g. `CN=Q-TLS Root CA,O=Q-TLS`.
    pub fn subject(&self) -> String {
        self.parsed.tbs_certificate.subject.to_string()
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        self.parsed.tbs_certificate.issuer.to_string()
    }

    /// The DER encoding of the subject Name: what OCSP's issuerNameHash hashes (RFC 6960
    /// §4.1.1) when this certificate is the issuer.
    pub fn subject_name_der(&self) -> Result<Vec<u8>, Error> {
        self.parsed
            .tbs_certificate
            .subject
            .to_der()
            .map_err(|e| Error::Encoding {
                subject: self.subject(),
                field: "subject",
                reason: e.to_string(),
            })
    }

    /// The serial number's content octets, big-endian (RFC 5280 §4.1.2.2).
    pub fn serial(&self) -> &[u8] {
        self.parsed.tbs_certificate.serial_number.as_bytes()
    }

    /// The start of the validity period (RFC 5280 §4.1.2.5).
    pub fn not_before(&self) -> OffsetDateTime {
        to_offset_date_time(self.parsed.tbs_certificate.validity.not_before)
    }

    /// The end of the validity period, inclusive (RFC 5280 §4.1.2.5).
    pub fn not_after(&self) -> OffsetDateTime {
        to_offset_date_time(self.parsed.tbs_certificate.validity.not_after)
    }

    /// The subject public key as it stands in the SubjectPublicKeyInfo BIT STRING: what
    /// the SubjectKeyIdentifier and OCSP's issuerKeyHash hash.
    pub fn public_key(&self) -> &[u8] {
        self.parsed
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
    }

    /// The SubjectKeyIdentifier extension's value (RFC 5280 §4.2.1.2), if present.
    pub fn subject_key_identifier(&self) -> Option<&[u8]> {
        self.subject_key_identifier.as_deref()
    }

    /// The keyIdentifier of the AuthorityKeyIdentifier extension (RFC 5280 §4.2.1.1), if
    /// present.
    pub fn authority_key_identifier(&self) -> Option<&[u8]> {
        self.authority_key_identifier.as_deref()
    }

    /// Whether BasicConstraints says this is a CA certificate (RFC 5280 §4.2.1.9).
    pub fn is_ca(&self) -> bool {
        self.basic_constraints.as_ref().is_some_and(|bc| bc.ca)
    }

    /// The pathLenConstraint of a CA certificate (RFC 5280 §4.2.1.9).
    pub fn path_len(&self) -> Option<u8> {
        self.basic_constraints
            .as_ref()
            .filter(|bc| bc.ca)
            .and_then(|bc| bc.path_len_constraint)
    }

    /// Whether the certificate is self-issued: issuer and subject names are equal
    /// (RFC 5280 §3.3).
    pub fn is_self_issued(&self) -> bool {
        self.parsed.tbs_certificate.issuer == self.parsed.tbs_certificate.subject
    }

    /// The extension `oid` (RFC 5280 §4.1.2.9), if present: its criticality and the DER
    /// contents of its extnValue.
    pub fn extension(&self, oid: &const_oid::ObjectIdentifier) -> Option<(bool, &[u8])> {
        self.parsed
            .tbs_certificate
            .extensions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|ext| ext.extn_id == *oid)
            .map(|ext| (ext.critical, ext.extn_value.as_bytes()))
    }

    fn parse(der: Vec<u8>, source_name: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidCertificate {
            source_name: source_name.to_owned(),
            reason,
        };
        let parsed = x509_cert::Certificate::from_der(&der).map_err(|e| invalid(e.to_string()))?;
        let basic_constraints = parsed
            .tbs_certificate
            .get::<BasicConstraints>()
            .map_err(|e| invalid(format!("BasicConstraints: {e}")))?
            .map(|(_, bc)| bc);
        let subject_key_identifier = parsed
            .tbs_certificate
            .get::<SubjectKeyIdentifier>()
            .map_err(|e| invalid(format!("SubjectKeyIdentifier: {e}")))?
            .map(|(_, ski)| ski.0.as_bytes().to_vec());
        let authority_key_identifier = parsed
            .tbs_certificate
            .get::<AuthorityKeyIdentifier>()
            .map_err(|e| invalid(format!("AuthorityKeyIdentifier: {e}")))?
            .and_then(|(_, aki)| aki.key_identifier)
            .map(|id| id.as_bytes().to_vec());
        Ok(Self {
            der,
            parsed,
            basic_constraints,
            subject_key_identifier,
            authority_key_identifier,
        })
    }

    fn parse_pem_chain(pem: &[u8], source_name: &str) -> Result<Vec<Self>, Error> {
        CertificateDer::pem_slice_iter(pem)
            .map(|der| {
                let der = der.map_err(|e| Error::InvalidCertificate {
                    source_name: source_name.to_owned(),
                    reason: format!("PEM: {e}"),
                })?;
                Self::parse(der.to_vec(), source_name)
            })
            .collect()
    }
}

impl AsRef<[u8]> for Certificate {
    fn as_ref(&self) -> &[u8] {
        &self.der
    }
}

/// A certificate together with its private key.
#[derive(Debug)]
pub struct CertifiedKeyPair {
    certificate: Certificate,
    key: KeyPair,
}

impl CertifiedKeyPair {
    /// Pairs a certificate with its private key; fails when the key's public key is not the
    /// certificate's subject public key.
    pub fn new(certificate: Certificate, key: KeyPair) -> Result<Self, Error> {
        let spki = &certificate.parsed.tbs_certificate.subject_public_key_info;
        let algorithm_matches =
            spki::SubjectPublicKeyInfoOwned::from_der(&key.subject_public_key_info_der())
                .is_ok_and(|key_spki| key_spki.algorithm == spki.algorithm);
        if !algorithm_matches || certificate.public_key() != key.public_key() {
            return Err(Error::KeyMismatch {
                subject: certificate.subject(),
            });
        }
        Ok(Self { certificate, key })
    }

    /// Reads a PEM certificate file (its first certificate) and a PEM private key file; an
    /// encrypted key fails with [`Error::EncryptedKey`] (see
    /// [`CertifiedKeyPair::read_pem_files_with_passphrase`]).
    pub fn read_pem_files(cert: &Path, key: &Path, backend: Backend) -> Result<Self, Error> {
        Self::read_pem_files_with_passphrase(cert, key, backend, None)
    }

    /// Reads a PEM certificate file (its first certificate) and a PEM private key file,
    /// which may be an `ENCRYPTED PRIVATE KEY` that `passphrase` decrypts
    /// ([`read_private_key`](crate::read_private_key)).
    pub fn read_pem_files_with_passphrase(
        cert: &Path,
        key: &Path,
        backend: Backend,
        passphrase: Option<&crate::Passphrase>,
    ) -> Result<Self, Error> {
        let certificate = Certificate::read_pem_file(cert)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::InvalidCertificate {
                source_name: cert.display().to_string(),
                reason: "no CERTIFICATE block".into(),
            })?;
        let key_pair = crate::keyfile::read_private_key(key, backend, passphrase)?;
        Self::new(certificate, key_pair)
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The private key.
    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    /// Splits into the certificate and the key.
    pub fn into_parts(self) -> (Certificate, KeyPair) {
        (self.certificate, self.key)
    }
}

/// Converts an X.509 time; times this crate can parse are all within `OffsetDateTime`'s
/// range (1970 to 9999).
pub(crate) fn to_offset_date_time(time: x509_cert::time::Time) -> OffsetDateTime {
    let seconds = i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
