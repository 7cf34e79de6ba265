//! A parsed certificate with the fields revocation and policy checks need.

use const_oid::db::rfc5280;
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use rustls_pki_types::SignatureVerificationAlgorithm;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, CrlDistributionPoints, KeyUsage,
    SubjectKeyIdentifier,
};
use x509_cert::Certificate;

use crate::error::Error;

/// id-ad-ocsp (RFC 5280 §4.2.2.1).
const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// id-pe-tlsfeature (RFC 7633).
const ID_PE_TLS_FEATURE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.24");
/// The TLS feature status_request (5) as RFC 7633 encodes it: `SEQUENCE { INTEGER 5 }`.
const MUST_STAPLE: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x05];

/// A certificate, decoded once.
#[derive(Clone, Debug)]
pub(crate) struct ParsedCert {
    pub(crate) der: Vec<u8>,
    pub(crate) cert: Certificate,
}

impl ParsedCert {
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, Error> {
        let cert = Certificate::from_der(der).map_err(|_| Error::Chain(webpki::Error::BadDer))?;
        Ok(Self {
            der: der.to_vec(),
            cert,
        })
    }

    pub(crate) fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    pub(crate) fn subject_der(&self) -> Vec<u8> {
        self.cert
            .tbs_certificate
            .subject
            .to_der()
            .unwrap_or_default()
    }

    pub(crate) fn serial(&self) -> &[u8] {
        self.cert.tbs_certificate.serial_number.as_bytes()
    }

    /// The public key: the SubjectPublicKeyInfo BIT STRING contents.
    pub(crate) fn public_key(&self) -> &[u8] {
        self.cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
    }

    /// The SubjectPublicKeyInfo algorithm, as webpki compares AlgorithmIdentifiers.
    pub(crate) fn public_key_algorithm(&self) -> Vec<u8> {
        algorithm_contents(
            &self
                .cert
                .tbs_certificate
                .subject_public_key_info
                .algorithm
                .to_der()
                .unwrap_or_default(),
        )
    }

    pub(crate) fn signature_algorithm_oid(&self) -> ObjectIdentifier {
        self.cert.signature_algorithm.oid
    }

    pub(crate) fn extension(&self, oid: &ObjectIdentifier) -> Option<&[u8]> {
        self.cert
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|ext| ext.extn_id == *oid)
            .map(|ext| ext.extn_value.as_bytes())
    }

    pub(crate) fn subject_key_identifier(&self) -> Option<Vec<u8>> {
        let value = self.extension(&rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)?;
        SubjectKeyIdentifier::from_der(value)
            .ok()
            .map(|ski| ski.0.as_bytes().to_vec())
    }

    pub(crate) fn authority_key_identifier(&self) -> Option<Vec<u8>> {
        let value = self.extension(&rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER)?;
        AuthorityKeyIdentifier::from_der(value)
            .ok()?
            .key_identifier
            .map(|id| id.as_bytes().to_vec())
    }

    pub(crate) fn key_usage(&self) -> Option<KeyUsage> {
        KeyUsage::from_der(self.extension(&rfc5280::ID_CE_KEY_USAGE)?).ok()
    }

    /// HTTP URLs of the certificate's OCSP responders (AIA id-ad-ocsp).
    pub(crate) fn ocsp_urls(&self) -> Vec<String> {
        let Some(value) = self.extension(&rfc5280::ID_PE_AUTHORITY_INFO_ACCESS) else {
            return Vec::new();
        };
        AuthorityInfoAccessSyntax::from_der(value)
            .map(|aia| {
                aia.0
                    .iter()
                    .filter(|ad| ad.access_method == ID_AD_OCSP)
                    .filter_map(|ad| uri_of(&ad.access_location))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// HTTP URLs of the certificate's CRL distribution points.
    pub(crate) fn crl_urls(&self) -> Vec<String> {
        let Some(value) = self.extension(&rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS) else {
            return Vec::new();
        };
        CrlDistributionPoints::from_der(value)
            .map(|points| {
                points
                    .0
                    .iter()
                    .filter_map(|point| match &point.distribution_point {
                        Some(DistributionPointName::FullName(names)) => {
                            Some(names.iter().filter_map(uri_of).collect::<Vec<_>>())
                        }
                        _ => None,
                    })
                    .flatten()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// RFC 7633: the TLS feature extension lists status_request.
    pub(crate) fn must_staple(&self) -> bool {
        self.extension(&ID_PE_TLS_FEATURE)
            .is_some_and(|value| value == MUST_STAPLE)
    }

    /// Whether this is the certificate of `anchor` (same subject and public key).
    pub(crate) fn matches_anchor(&self, anchor: &rustls_pki_types::TrustAnchor<'_>) -> bool {
        let spki = self
            .cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap_or_default();
        algorithm_contents(&self.subject_der()) == anchor.subject.as_ref()
            && algorithm_contents(&spki) == anchor.subject_public_key_info.as_ref()
    }

    /// subjectAltName entries as `DNS:name`, `IP:addr`, `URI:uri`, `email:addr`.
    pub(crate) fn subject_alt_names(&self) -> Vec<String> {
        use x509_cert::ext::pkix::SubjectAltName;
        let Some(value) = self.extension(&rfc5280::ID_CE_SUBJECT_ALT_NAME) else {
            return Vec::new();
        };
        let Ok(names) = SubjectAltName::from_der(value) else {
            return Vec::new();
        };
        names
            .0
            .iter()
            .filter_map(|name| match name {
                GeneralName::DnsName(dns) => Some(format!("DNS:{}", dns.as_str())),
                GeneralName::UniformResourceIdentifier(uri) => {
                    Some(format!("URI:{}", uri.as_str()))
                }
                GeneralName::Rfc822Name(mail) => Some(format!("email:{}", mail.as_str())),
                GeneralName::IpAddress(ip) => match ip.as_bytes().len() {
                    4 => <[u8; 4]>::try_from(ip.as_bytes())
                        .ok()
                        .map(|b| format!("IP:{}", std::net::Ipv4Addr::from(b))),
                    16 => <[u8; 16]>::try_from(ip.as_bytes())
                        .ok()
                        .map(|b| format!("IP:{}", std::net::Ipv6Addr::from(b))),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// Refuses a composite public key of a length or component form the draft forbids (an EC point not uncompressed, an RSA key not a bare RSAPublicKey of the exact size: [draft-ietf-lamps-pq-composite-sigs-19 §4.1](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-4.1)).
    pub(crate) fn check_public_key(&self) -> Result<(), Error> {
        let oid = self
            .cert
            .tbs_certificate
            .subject_public_key_info
            .algorithm
            .oid;
        let Some(algorithm) = qtls_provider::CompositeAlgorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.oid() == oid)
        else {
            return Ok(());
        };
        algorithm
            .split_public_key(self.public_key())
            .map(|_| ())
            .map_err(|e| Error::InvalidPublicKey {
                subject: self.subject(),
                why: e.to_string(),
            })
    }

    /// Whether `issuer` signed this certificate, by the provider's algorithms.
    pub(crate) fn is_signed_by(
        &self,
        issuer_public_key: &[u8],
        issuer_public_key_algorithm: &[u8],
        algorithms: &[&dyn SignatureVerificationAlgorithm],
    ) -> bool {
        let Ok(tbs) = self.cert.tbs_certificate.to_der() else {
            return false;
        };
        let signature_algorithm =
            algorithm_contents(&self.cert.signature_algorithm.to_der().unwrap_or_default());
        verify_with(
            algorithms,
            &signature_algorithm,
            issuer_public_key_algorithm,
            issuer_public_key,
            &tbs,
            self.cert.signature.raw_bytes(),
        )
    }
}

/// Verifies `signature` over `message` with the first algorithm matching both identifiers.
pub(crate) fn verify_with(
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    signature_algorithm: &[u8],
    public_key_algorithm: &[u8],
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    algorithms
        .iter()
        .filter(|alg| {
            alg.signature_alg_id().as_ref() == signature_algorithm
                && alg.public_key_alg_id().as_ref() == public_key_algorithm
        })
        .any(|alg| alg.verify_signature(public_key, message, signature).is_ok())
}

/// The contents of a DER AlgorithmIdentifier SEQUENCE (what pki-types'
/// [`AlgorithmIdentifier`] holds).
pub(crate) fn algorithm_contents(sequence_der: &[u8]) -> Vec<u8> {
    der::asn1::AnyRef::from_der(sequence_der)
        .map(|any| any.value().to_vec())
        .unwrap_or_default()
}

fn uri_of(name: &GeneralName) -> Option<String> {
    match name {
        GeneralName::UniformResourceIdentifier(uri) if uri.as_str().starts_with("http://") => {
            Some(uri.as_str().to_string())
        }
        _ => None,
    }
}
