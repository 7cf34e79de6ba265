//! Certificate revocation lists (RFC 5280 §5): issuing, encoding and reading back.

use std::path::Path;

use const_oid::db::rfc5280;
use der::asn1::{BitString, OctetString, Uint};
use der::{Decode, Encode, Header, SliceReader};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason, KeyUsage};
use x509_cert::serial_number::SerialNumber;
use x509_cert::Version;

use crate::builder::{extension, key_identifier, x509_time};
use crate::certificate::{to_offset_date_time, Certificate, CertifiedKeyPair};
use crate::error::Error;
use crate::revocation::{
    normalize_serial, serial_hex, RevocationIndex, RevocationReason, RevokedCertificate,
};

/// The PEM label of a CRL (RFC 7468 §5).
const PEM_LABEL: &str = "X509 CRL";

/// Builds a v2 CRL (RFC 5280 §5.1) and signs it with the issuing CA's key.
///
/// Every CRL carries the two extensions RFC 5280 §5.2 requires of conforming issuers:
/// AuthorityKeyIdentifier (the issuer's SubjectKeyIdentifier) and CRLNumber. Each revoked
/// certificate gets a reasonCode entry extension (§5.3.1) when a reason is given. The
/// signature algorithm is the issuer key's: composite ML-DSA, ML-DSA (RFC 9881: CRLs signed
/// with ctx = "") or ECDSA.
///
/// ```
/// use qtls_pki::{CrlBuilder, Pki, PkiOptions, Profile, RevocationReason};
///
/// let now = time::OffsetDateTime::from_unix_timestamp(1_767_225_600)?; // 2026-01-01
/// let mut options = PkiOptions::new(now);
/// options.profile = Profile::EcdsaP384;
/// let pki = Pki::generate(&options)?;
/// let serial = pki.server().certificate().serial().to_vec();
///
/// let crl = CrlBuilder::new(1)
///     .update_times(now, now + time::Duration::days(7))
///     .revoke(serial.clone(), now, Some(RevocationReason::KeyCompromise))
///     .build(pki.intermediate())?;
/// assert_eq!(crl.issuer(), "CN=Q-TLS Intermediate CA,O=Q-TLS");
/// assert_eq!(crl.find(&serial).unwrap().reason, Some(RevocationReason::KeyCompromise));
/// assert!(crl.to_pem()?.starts_with("-----BEGIN X509 CRL-----\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct CrlBuilder {
    number: u64,
    update_times: Option<(OffsetDateTime, OffsetDateTime)>,
    revoked: Vec<RevokedCertificate>,
}

impl CrlBuilder {
    /// Starts a CRL whose CRLNumber (RFC 5280 §5.2.3) is `number`: it must grow with every
    /// CRL the issuer publishes.
    pub fn new(number: u64) -> Self {
        Self {
            number,
            update_times: None,
            revoked: Vec::new(),
        }
    }

    /// Sets thisUpdate and nextUpdate (RFC 5280 §5.1.2.4-5, whole seconds): when this CRL was
    /// issued, and by when the next one will be. Required; nextUpdate must be later.
    pub fn update_times(
        mut self,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Self {
        self.update_times = Some((this_update, next_update));
        self
    }

    /// Lists the certificate with serial number `serial` (big-endian octets) as revoked at
    /// `revocation_time`, with a reasonCode if `reason` is given.
    pub fn revoke(
        mut self,
        serial: impl Into<Vec<u8>>,
        revocation_time: OffsetDateTime,
        reason: Option<RevocationReason>,
    ) -> Self {
        self.revoked.push(RevokedCertificate {
            serial: normalize_serial(&serial.into()),
            revocation_time,
            reason,
        });
        self
    }

    /// Lists every revoked certificate of `index`.
    pub fn revoked_from_index(mut self, index: &RevocationIndex) -> Self {
        self.revoked.extend(index.revoked());
        self
    }

    /// Encodes the CRL and signs it with `issuer`'s key.
    ///
    /// Fails when the update times are missing or out of order, a serial number is invalid or
    /// listed twice, a reason is removeFromCRL (delta CRLs only), or `issuer` may not sign
    /// CRLs: its KeyUsage lacks cRLSign (RFC 5280 §4.2.1.3).
    pub fn build(self, issuer: &CertifiedKeyPair) -> Result<RevocationList, Error> {
        let issuer_cert = issuer.certificate();
        let artifact = format!("CRL of {:?}", issuer_cert.subject());
        let encoding = |field: &'static str| {
            let artifact = artifact.clone();
            move |e: der::Error| Error::ArtifactEncoding {
                artifact,
                field,
                reason: e.to_string(),
            }
        };
        check_crl_signer(issuer_cert)?;
        let times = |reason: String| Error::InvalidUpdateTimes {
            artifact: "CRL",
            reason,
        };
        let (this_update, next_update) = self
            .update_times
            .ok_or_else(|| times("no thisUpdate/nextUpdate set".into()))?;
        if next_update <= this_update {
            return Err(times(format!(
                "nextUpdate {next_update} is not after thisUpdate {this_update}"
            )));
        }

        let mut entries = Vec::with_capacity(self.revoked.len());
        for (i, revoked) in self.revoked.iter().enumerate() {
            let invalid = |reason| Error::InvalidSerial {
                serial: serial_hex(&revoked.serial),
                reason,
            };
            if self.revoked[..i]
                .iter()
                .any(|earlier| earlier.serial == revoked.serial)
            {
                return Err(invalid("it is listed twice in the CRL"));
            }
            let serial_number = SerialNumber::new(&revoked.serial)
                .map_err(|_| invalid("it must fit in 20 octets once DER-encoded"))?;
            let extensions = match revoked.reason {
                Some(reason) => {
                    reason.check_revocable()?;
                    // RFC 5280 §5.3.1: reasonCode is non-critical.
                    Some(vec![extension(
                        rfc5280::ID_CE_CRL_REASONS,
                        false,
                        &reason.to_x509(),
                    )
                    .map_err(encoding("reasonCode"))?])
                }
                None => None,
            };
            entries.push(RevokedCert {
                serial_number,
                revocation_date: x509_time(revoked.revocation_time).map_err(|reason| {
                    Error::InvalidUpdateTimes {
                        artifact: "CRL",
                        reason: format!(
                            "revocationDate of serial {}: {reason}",
                            serial_hex(&revoked.serial)
                        ),
                    }
                })?,
                crl_entry_extensions: extensions,
            });
        }

        // RFC 5280 §5.2.1: keyIdentifier = the issuer's SubjectKeyIdentifier (or, for a
        // certificate without one, what §4.2.1.2 method 1 would make it).
        let authority_key_id = issuer_cert
            .subject_key_identifier()
            .map(<[u8]>::to_vec)
            .unwrap_or_else(|| key_identifier(issuer_cert.public_key()));
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(
                OctetString::new(authority_key_id).map_err(encoding("AuthorityKeyIdentifier"))?,
            ),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        let number =
            CrlNumber(Uint::new(&self.number.to_be_bytes()).map_err(encoding("CRLNumber"))?);
        let crl_extensions = vec![
            extension(rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER, false, &aki)
                .map_err(encoding("AuthorityKeyIdentifier"))?,
            // RFC 5280 §5.2.3: non-critical.
            extension(rfc5280::ID_CE_CRL_NUMBER, false, &number).map_err(encoding("CRLNumber"))?,
        ];

        let signature =
            AlgorithmIdentifierOwned::from_der(&issuer.key().algorithm().signature_algorithm_der())
                .map_err(encoding("signature AlgorithmIdentifier"))?;
        let tbs_cert_list = TbsCertList {
            // RFC 5280 §5.1.2.1: v2, as the CRL has extensions.
            version: Version::V2,
            signature: signature.clone(),
            issuer: issuer_cert.x509().tbs_certificate.subject.clone(),
            this_update: x509_time(this_update)
                .map_err(|reason| times(format!("thisUpdate: {reason}")))?,
            next_update: Some(
                x509_time(next_update).map_err(|reason| times(format!("nextUpdate: {reason}")))?,
            ),
            // RFC 5280 §5.1.2.6: absent, not empty, when nothing is revoked.
            revoked_certificates: (!entries.is_empty()).then_some(entries),
            crl_extensions: Some(crl_extensions),
        };
        let tbs_der = tbs_cert_list.to_der().map_err(encoding("tbsCertList"))?;
        let signature_value = issuer.key().sign(&tbs_der).map_err(|source| Error::Key {
            context: format!("signing the {artifact} with {}", issuer.key().algorithm()),
            source,
        })?;
        let crl = CertificateList {
            tbs_cert_list,
            signature_algorithm: signature,
            signature: BitString::from_bytes(&signature_value)
                .map_err(encoding("signatureValue"))?,
        };
        RevocationList::from_der(crl.to_der().map_err(encoding("CertificateList"))?)
    }
}

/// RFC 5280 §4.2.1.3: a CRL issuer's KeyUsage, when present, must include cRLSign.
fn check_crl_signer(issuer: &Certificate) -> Result<(), Error> {
    if let Some((_, value)) = issuer.extension(&rfc5280::ID_CE_KEY_USAGE) {
        let usage = KeyUsage::from_der(value).map_err(|e| Error::InvalidCertificate {
            source_name: issuer.subject(),
            reason: format!("KeyUsage: {e}"),
        })?;
        if !usage.crl_sign() {
            return Err(Error::InvalidIssuer {
                issuer: issuer.subject(),
                reason: "its KeyUsage lacks cRLSign",
            });
        }
    }
    Ok(())
}

/// A signed CRL: its DER encoding and the fields this crate reads back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationList {
    der: Vec<u8>,
    parsed: CertificateList,
    revoked: Vec<RevokedCertificate>,
    number: Option<Vec<u8>>,
    authority_key_identifier: Option<Vec<u8>>,
}

impl RevocationList {
    /// Parses a DER CRL.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Result<Self, Error> {
        Self::parse(der.into(), "DER input")
    }

    /// Parses the first `X509 CRL` block of a PEM document.
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        Self::parse_pem(pem, "PEM input")
    }

    /// Reads a CRL file, PEM or DER.
    pub fn read_file(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let name = path.display().to_string();
        if bytes.starts_with(b"-----BEGIN") {
            Self::parse_pem(&bytes, &name)
        } else {
            Self::parse(bytes, &name)
        }
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding (`-----BEGIN X509 CRL-----`, LF line endings), as OpenSSL writes it.
    pub fn to_pem(&self) -> Result<String, Error> {
        der::pem::encode_string(PEM_LABEL, der::pem::LineEnding::LF, &self.der).map_err(|e| {
            Error::ArtifactEncoding {
                artifact: format!("CRL of {:?}", self.issuer()),
                field: "PEM",
                reason: e.to_string(),
            }
        })
    }

    /// The parsed CRL, for reading fields this type has no accessor for.
    pub fn x509(&self) -> &CertificateList {
        &self.parsed
    }

    /// The DER tbsCertList: what the signature covers (RFC 5280 §5.1.1.3).
    pub fn tbs_der(&self) -> &[u8] {
        signed_part(&self.der).unwrap_or_default()
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        self.parsed.tbs_cert_list.issuer.to_string()
    }

    /// thisUpdate (RFC 5280 §5.1.2.4).
    pub fn this_update(&self) -> OffsetDateTime {
        to_offset_date_time(self.parsed.tbs_cert_list.this_update)
    }

    /// nextUpdate (RFC 5280 §5.1.2.5), if present.
    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.parsed
            .tbs_cert_list
            .next_update
            .map(to_offset_date_time)
    }

    /// The CRLNumber (RFC 5280 §5.2.3), big-endian without leading zero octets, if present.
    pub fn crl_number(&self) -> Option<&[u8]> {
        self.number.as_deref()
    }

    /// The keyIdentifier of the AuthorityKeyIdentifier extension (RFC 5280 §5.2.1).
    pub fn authority_key_identifier(&self) -> Option<&[u8]> {
        self.authority_key_identifier.as_deref()
    }

    /// The revoked certificates, in CRL order.
    pub fn revoked(&self) -> &[RevokedCertificate] {
        &self.revoked
    }

    /// The entry for serial number `serial` (leading zero octets ignored), if it is listed.
    pub fn find(&self, serial: &[u8]) -> Option<&RevokedCertificate> {
        let serial = normalize_serial(serial);
        self.revoked.iter().find(|revoked| revoked.serial == serial)
    }

    fn parse_pem(pem: &[u8], source_name: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidCrl {
            source_name: source_name.to_owned(),
            reason,
        };
        let text = core::str::from_utf8(pem).map_err(|_| invalid("PEM: not UTF-8".into()))?;
        let begin = format!("-----BEGIN {PEM_LABEL}-----");
        let start = text
            .find(&begin)
            .ok_or_else(|| invalid(format!("no {PEM_LABEL} block")))?;
        let (label, der) =
            der::pem::decode_vec(&pem[start..]).map_err(|e| invalid(format!("PEM: {e}")))?;
        if label != PEM_LABEL {
            return Err(invalid(format!(
                "PEM label {label:?}, expected {PEM_LABEL:?}"
            )));
        }
        Self::parse(der, source_name)
    }

    fn parse(der: Vec<u8>, source_name: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidCrl {
            source_name: source_name.to_owned(),
            reason,
        };
        let parsed = CertificateList::from_der(&der).map_err(|e| invalid(e.to_string()))?;
        let tbs = &parsed.tbs_cert_list;
        let mut revoked = Vec::new();
        for entry in tbs.revoked_certificates.as_deref().unwrap_or_default() {
            let reason = entry
                .crl_entry_extensions
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|ext| ext.extn_id == rfc5280::ID_CE_CRL_REASONS)
                .map(|ext| {
                    CrlReason::from_der(ext.extn_value.as_bytes())
                        .map(RevocationReason::from_x509)
                        .map_err(|e| invalid(format!("reasonCode: {e}")))
                })
                .transpose()?;
            revoked.push(RevokedCertificate {
                serial: normalize_serial(entry.serial_number.as_bytes()),
                revocation_time: to_offset_date_time(entry.revocation_date),
                reason,
            });
        }
        let extension = |oid| {
            tbs.crl_extensions
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|ext| ext.extn_id == oid)
                .map(|ext| ext.extn_value.as_bytes())
        };
        let number = extension(rfc5280::ID_CE_CRL_NUMBER)
            .map(|value| {
                CrlNumber::from_der(value)
                    .map(|number| normalize_serial(number.0.as_bytes()))
                    .map_err(|e| invalid(format!("CRLNumber: {e}")))
            })
            .transpose()?;
        let authority_key_identifier = extension(rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER)
            .map(|value| {
                AuthorityKeyIdentifier::from_der(value)
                    .map(|aki| aki.key_identifier.map(|id| id.as_bytes().to_vec()))
                    .map_err(|e| invalid(format!("AuthorityKeyIdentifier: {e}")))
            })
            .transpose()?
            .flatten();
        Ok(Self {
            der,
            parsed,
            revoked,
            number,
            authority_key_identifier,
        })
    }
}

/// The first element of a DER SEQUENCE, as it stands in the encoding: the to-be-signed part
/// of a CRL, certificate or BasicOCSPResponse.
pub(crate) fn signed_part(der: &[u8]) -> Option<&[u8]> {
    let mut reader = SliceReader::new(der).ok()?;
    let outer = Header::decode(&mut reader).ok()?;
    let start = usize::try_from(outer.encoded_len().ok()?).ok()?;
    let rest = der.get(start..)?;
    let mut reader = SliceReader::new(rest).ok()?;
    let inner = Header::decode(&mut reader).ok()?;
    let len = usize::try_from((inner.encoded_len().ok()? + inner.length).ok()?).ok()?;
    rest.get(..len)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use qtls_provider::{Backend, EcCurve, KeyAlgorithm, KeyPair};
    use time::Duration;

    use super::*;
    use crate::{CertificateBuilder, Usage};

    fn clock() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
    }

    fn ca(usage: Usage) -> CertifiedKeyPair {
        let key = KeyPair::generate(KeyAlgorithm::Ecdsa(EcCurve::P256), Backend::AwsLc).unwrap();
        let cert = CertificateBuilder::new(usage, "CRL test CA")
            .validity(clock(), clock() + Duration::days(30))
            .self_signed(&key)
            .unwrap();
        CertifiedKeyPair::new(cert, key).unwrap()
    }

    #[test]
    fn fields_round_trip() {
        let ca = ca(Usage::RootCa);
        let crl = CrlBuilder::new(0x1234)
            .update_times(clock(), clock() + Duration::days(7))
            .revoke([0, 0x80, 1], clock() - Duration::hours(1), None)
            .revoke([5], clock(), Some(RevocationReason::CertificateHold))
            .build(&ca)
            .unwrap();
        assert_eq!(crl.crl_number(), Some(&[0x12, 0x34][..]));
        assert_eq!(crl.this_update(), clock());
        assert_eq!(crl.next_update(), Some(clock() + Duration::days(7)));
        assert_eq!(
            crl.authority_key_identifier(),
            ca.certificate().subject_key_identifier()
        );
        assert_eq!(crl.revoked().len(), 2);
        assert_eq!(crl.find(&[0x80, 1]).unwrap().reason, None);
        assert_eq!(
            crl.find(&[5]).unwrap().reason,
            Some(RevocationReason::CertificateHold)
        );
        assert!(crl.find(&[6]).is_none());
        assert_eq!(crl.x509().tbs_cert_list.version, Version::V2);
        let tbs = crl.x509().tbs_cert_list.to_der().unwrap();
        assert_eq!(crl.tbs_der(), tbs);
        let pem = crl.to_pem().unwrap();
        assert_eq!(RevocationList::from_pem(pem.as_bytes()).unwrap(), crl);
    }

    #[test]
    fn an_empty_crl_has_no_revoked_certificates_field() {
        let crl = CrlBuilder::new(1)
            .update_times(clock(), clock() + Duration::days(1))
            .build(&ca(Usage::RootCa))
            .unwrap();
        assert!(crl.x509().tbs_cert_list.revoked_certificates.is_none());
        assert!(crl.revoked().is_empty());
    }

    #[test]
    fn bad_input_is_refused() {
        let ca = ca(Usage::RootCa);
        let missing = CrlBuilder::new(1).build(&ca).unwrap_err();
        assert!(
            matches!(missing, Error::InvalidUpdateTimes { .. }),
            "{missing}"
        );
        let backwards = CrlBuilder::new(1)
            .update_times(clock(), clock())
            .build(&ca)
            .unwrap_err();
        assert!(
            backwards.to_string().contains("is not after thisUpdate"),
            "{backwards}"
        );
        let twice = CrlBuilder::new(1)
            .update_times(clock(), clock() + Duration::days(1))
            .revoke([1], clock(), None)
            .revoke([0, 1], clock(), None)
            .build(&ca)
            .unwrap_err();
        assert!(twice.to_string().contains("listed twice"), "{twice}");
        let remove = CrlBuilder::new(1)
            .update_times(clock(), clock() + Duration::days(1))
            .revoke([1], clock(), Some(RevocationReason::RemoveFromCrl))
            .build(&ca)
            .unwrap_err();
        assert!(
            matches!(remove, Error::InvalidRevocationReason { .. }),
            "{remove}"
        );
        let leaf = ca_leaf();
        let refused = CrlBuilder::new(1)
            .update_times(clock(), clock() + Duration::days(1))
            .build(&leaf)
            .unwrap_err();
        assert!(refused.to_string().contains("cRLSign"), "{refused}");
        assert!(RevocationList::from_der(vec![0x30, 0]).is_err());
        assert!(RevocationList::from_pem(b"nothing").is_err());
    }

    fn ca_leaf() -> CertifiedKeyPair {
        let key = KeyPair::generate(KeyAlgorithm::Ecdsa(EcCurve::P256), Backend::AwsLc).unwrap();
        let cert = CertificateBuilder::new(Usage::ServerLeaf, "leaf")
            .validity(clock(), clock() + Duration::days(30))
            .self_signed(&key)
            .unwrap();
        CertifiedKeyPair::new(cert, key).unwrap()
    }
}
