//! Building, encoding and signing one certificate (RFC 5280 §4.1).

use std::net::IpAddr;

use const_oid::db::{rfc4519, rfc5280};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, GeneralizedTime, Ia5String, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode, Tag};
use qtls_provider::KeyPair;
use rustls_pki_types::DnsName;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::certificate::{Certificate, CertifiedKeyPair};
use crate::error::Error;
use crate::public_key::SubjectPublicKey;

/// id-pe-tlsfeature (RFC 7633 §6): the TLS Feature extension, used for must-staple.
pub const ID_PE_TLS_FEATURE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.24");

/// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): a delegated OCSP responder's certificate is
/// not checked for revocation.
pub const ID_PKIX_OCSP_NOCHECK: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");

/// The TLS Feature extension's value for must-staple: `SEQUENCE { INTEGER 5 }`, i.e. the
/// TLS `status_request` extension (RFC 7633 §4.2.2).
const MUST_STAPLE_VALUE: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x05];

/// The id-pkix-ocsp-nocheck extension's value: ASN.1 NULL.
const NULL_VALUE: [u8; 2] = [0x05, 0x00];

/// The length of generated serial numbers: 128 bits, within RFC 5280 §4.1.2.2's 20 octets.
const SERIAL_LEN: usize = 16;

/// What a certificate is for; decides BasicConstraints, KeyUsage and ExtendedKeyUsage.
///
/// | usage | BasicConstraints (critical) | KeyUsage (critical) | ExtendedKeyUsage |
/// |---|---|---|---|
/// | `RootCa` | cA | keyCertSign, cRLSign | — |
/// | `IntermediateCa` | cA, pathLenConstraint | keyCertSign, cRLSign | — |
/// | `ServerLeaf` | not cA | digitalSignature | serverAuth |
/// | `ClientLeaf` | not cA | digitalSignature | clientAuth |
/// | `OcspResponder` | not cA | digitalSignature | OCSPSigning, plus id-pkix-ocsp-nocheck |
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Usage {
    /// A self-signed trust anchor (RFC 5280 §4.2.1.9 cA, no path length limit).
    RootCa,
    /// A subordinate CA; `path_len` is the pathLenConstraint (RFC 5280 §4.2.1.9): the number
    /// of further CA certificates allowed below it (`Some(0)`: only end-entity certificates).
    IntermediateCa {
        /// The pathLenConstraint, or `None` for no limit.
        path_len: Option<u8>,
    },
    /// A TLS server certificate (id-kp-serverAuth, RFC 5280 §4.2.1.12).
    ServerLeaf,
    /// A TLS client certificate (id-kp-clientAuth, RFC 5280 §4.2.1.12).
    ClientLeaf,
    /// A delegated OCSP responder (id-kp-OCSPSigning and id-pkix-ocsp-nocheck, RFC 6960
    /// §4.2.2.2).
    OcspResponder,
}

impl Usage {
    /// Whether certificates of this usage are CA certificates.
    pub const fn is_ca(self) -> bool {
        matches!(self, Self::RootCa | Self::IntermediateCa { .. })
    }

    fn extended_key_usage(self) -> Option<ObjectIdentifier> {
        match self {
            Self::RootCa | Self::IntermediateCa { .. } => None,
            Self::ServerLeaf => Some(rfc5280::ID_KP_SERVER_AUTH),
            Self::ClientLeaf => Some(rfc5280::ID_KP_CLIENT_AUTH),
            Self::OcspResponder => Some(rfc5280::ID_KP_OCSP_SIGNING),
        }
    }
}

/// Builds one X.509 v3 certificate and signs it.
///
/// The subject is `O=<organization>, CN=<common name>` (UTF8String, RFC 5280 §4.1.2.6).
/// Every certificate gets a SubjectKeyIdentifier (RFC 5280 §4.2.1.2 method 1: SHA-1 of the
/// subject public key BIT STRING contents); issued ones also get an AuthorityKeyIdentifier
/// (§4.2.1.1) holding the issuer's SubjectKeyIdentifier. The signature algorithm is the
/// signing key's: composite ML-DSA and ML-DSA sign the DER tbsCertificate with an empty
/// context (draft-ietf-lamps-pq-composite-sigs, RFC 9881), ECDSA with the curve's hash.
///
/// ```
/// use qtls_pki::{CertificateBuilder, Usage};
/// use qtls_provider::{Backend, KeyAlgorithm, KeyPair};
///
/// let now = time::OffsetDateTime::from_unix_timestamp(1_767_225_600)?; // 2026-01-01
/// let key = KeyPair::generate(KeyAlgorithm::DEFAULT, Backend::AwsLc)?;
/// let root = CertificateBuilder::new(Usage::RootCa, "Example Root CA")
///     .organization("Example")
///     .validity(now, now + time::Duration::days(3650))
///     .self_signed(&key)?;
/// assert!(root.is_ca());
/// assert_eq!(root.subject(), "CN=Example Root CA,O=Example");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct CertificateBuilder {
    usage: Usage,
    common_name: String,
    organization: Option<String>,
    serial: Option<Vec<u8>>,
    validity: Option<(OffsetDateTime, OffsetDateTime)>,
    dns_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    ocsp_url: Option<String>,
    crl_url: Option<String>,
    must_staple: bool,
}

impl CertificateBuilder {
    /// Starts a certificate for `usage` whose subject has the commonName `common_name`.
    pub fn new(usage: Usage, common_name: impl Into<String>) -> Self {
        Self {
            usage,
            common_name: common_name.into(),
            organization: None,
            serial: None,
            validity: None,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            ocsp_url: None,
            crl_url: None,
            must_staple: false,
        }
    }

    /// Adds an organizationName to the subject.
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// Sets the serial number: unsigned big-endian octets, non-zero, at most 20 octets once
    /// encoded (RFC 5280 §4.1.2.2). Without it, a random positive 128-bit serial is used.
    pub fn serial(mut self, serial: impl Into<Vec<u8>>) -> Self {
        self.serial = Some(serial.into());
        self
    }

    /// Sets the validity period (RFC 5280 §4.1.2.5), both ends inclusive; sub-second parts
    /// are dropped. Required.
    pub fn validity(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        self.validity = Some((not_before, not_after));
        self
    }

    /// Adds dNSName entries to the SubjectAltName (RFC 5280 §4.2.1.6). A leading `*.` makes
    /// a wildcard name (RFC 6125 §6.4.3).
    pub fn dns_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dns_names.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds iPAddress entries to the SubjectAltName (RFC 5280 §4.2.1.6).
    pub fn ip_addresses(mut self, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.ip_addresses.extend(addresses);
        self
    }

    /// Adds host names and addresses to the SubjectAltName: entries that parse as an IP
    /// address become iPAddress, the rest dNSName.
    pub fn hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for host in hosts {
            let host = host.as_ref().trim();
            match host.parse::<IpAddr>() {
                Ok(ip) => self.ip_addresses.push(ip),
                Err(_) => self.dns_names.push(host.to_owned()),
            }
        }
        self
    }

    /// Sets the OCSP responder URL of the AuthorityInfoAccess extension
    /// (RFC 5280 §4.2.2.1, id-ad-ocsp).
    pub fn ocsp_url(mut self, url: impl Into<String>) -> Self {
        self.ocsp_url = Some(url.into());
        self
    }

    /// Sets the URL of the CRLDistributionPoints extension (RFC 5280 §4.2.1.13).
    pub fn crl_url(mut self, url: impl Into<String>) -> Self {
        self.crl_url = Some(url.into());
        self
    }

    /// Adds the TLS Feature extension with `status_request` (RFC 7633 must-staple).
    pub fn must_staple(mut self, must_staple: bool) -> Self {
        self.must_staple = must_staple;
        self
    }

    /// Signs the certificate with its own key: issuer = subject, no AuthorityKeyIdentifier
    /// (RFC 5280 §4.2.1.1 allows omitting it in self-signed certificates).
    pub fn self_signed(self, key: &KeyPair) -> Result<Certificate, Error> {
        self.issue(&SubjectPublicKey::from_key_pair(key), None, key)
    }

    /// Issues a certificate for `subject_key`'s public key, signed by `issuer`.
    ///
    /// Fails when the issuer is not a CA, its KeyUsage lacks keyCertSign, or a CA
    /// certificate is requested below an issuer whose pathLenConstraint is 0
    /// (RFC 5280 §4.2.1.3, §4.2.1.9).
    pub fn signed_by(
        self,
        subject_key: &KeyPair,
        issuer: &CertifiedKeyPair,
    ) -> Result<Certificate, Error> {
        self.signed_by_for_public_key(&SubjectPublicKey::from_key_pair(subject_key), issuer)
    }

    /// Issues a certificate for a public key whose private key is not at hand (it stays in
    /// an HSM, or with the requester), signed by `issuer`, with the checks of
    /// [`Self::signed_by`].
    ///
    /// ```
    /// use qtls_pki::{CertificateBuilder, CertifiedKeyPair, SubjectPublicKey, Usage};
    /// use qtls_provider::{Backend, KeyAlgorithm, KeyPair};
    ///
    /// let now = time::OffsetDateTime::from_unix_timestamp(1_767_225_600)?; // 2026-01-01
    /// let ca_key = KeyPair::generate(KeyAlgorithm::DEFAULT, Backend::AwsLc)?;
    /// let ca_cert = CertificateBuilder::new(Usage::RootCa, "CA")
    ///     .validity(now, now + time::Duration::days(30))
    ///     .self_signed(&ca_key)?;
    /// let ca = CertifiedKeyPair::new(ca_cert, ca_key)?;
    ///
    /// // Only the public half travels, e.g. read from a token.
    /// let remote = KeyPair::generate(KeyAlgorithm::DEFAULT, Backend::AwsLc)?;
    /// let public = SubjectPublicKey::new(KeyAlgorithm::DEFAULT, remote.public_key())?;
    /// let leaf = CertificateBuilder::new(Usage::ServerLeaf, "localhost")
    ///     .hosts(["localhost"])
    ///     .validity(now, now + time::Duration::days(1))
    ///     .signed_by_for_public_key(&public, &ca)?;
    /// assert_eq!(leaf.public_key(), remote.public_key());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn signed_by_for_public_key(
        self,
        subject: &SubjectPublicKey,
        issuer: &CertifiedKeyPair,
    ) -> Result<Certificate, Error> {
        let issuer_cert = issuer.certificate();
        let refuse = |reason: &'static str| Error::InvalidIssuer {
            issuer: issuer_cert.subject(),
            reason,
        };
        if !issuer_cert.is_ca() {
            return Err(refuse("it is not a CA (BasicConstraints cA is not set)"));
        }
        if let Some((_, value)) = issuer_cert.extension(&rfc5280::ID_CE_KEY_USAGE) {
            let usage = KeyUsage::from_der(value).map_err(|e| Error::InvalidCertificate {
                source_name: issuer_cert.subject(),
                reason: format!("KeyUsage: {e}"),
            })?;
            if !usage.key_cert_sign() {
                return Err(refuse("its KeyUsage lacks keyCertSign"));
            }
        }
        if self.usage.is_ca() && issuer_cert.path_len() == Some(0) {
            return Err(refuse(
                "its pathLenConstraint is 0, so it may issue only end-entity certificates",
            ));
        }
        self.issue(subject, Some(issuer_cert), issuer.key())
    }

    /// Issues like [`Self::signed_by`] but without its issuer checks, so tests can make the
    /// chains a verifier must refuse (a CA:FALSE issuer, a broken path length).
    pub fn danger_signed_by_any_issuer(
        self,
        subject_key: &KeyPair,
        issuer: &CertifiedKeyPair,
    ) -> Result<Certificate, Error> {
        self.issue(
            &SubjectPublicKey::from_key_pair(subject_key),
            Some(issuer.certificate()),
            issuer.key(),
        )
    }

    fn issue(
        self,
        subject_key: &SubjectPublicKey,
        issuer: Option<&Certificate>,
        signer: &KeyPair,
    ) -> Result<Certificate, Error> {
        let subject_label = match &self.organization {
            Some(o) => format!("CN={},O={o}", self.common_name),
            None => format!("CN={}", self.common_name),
        };
        let encoding = |field: &'static str| {
            let subject = subject_label.clone();
            move |e: der::Error| Error::Encoding {
                subject,
                field,
                reason: e.to_string(),
            }
        };

        for dns_name in &self.dns_names {
            check_dns_name(dns_name)?;
        }
        let subject =
            name(&self.common_name, self.organization.as_deref()).map_err(encoding("subject"))?;
        let issuer_name = match issuer {
            Some(issuer) => issuer.x509().tbs_certificate.subject.clone(),
            None => subject.clone(),
        };
        let serial_number = self.serial_number()?;
        let validity = self.encoded_validity(&subject_label)?;
        let signature =
            AlgorithmIdentifierOwned::from_der(&signer.algorithm().signature_algorithm_der())
                .map_err(encoding("signature AlgorithmIdentifier"))?;
        let subject_public_key_info =
            SubjectPublicKeyInfoOwned::from_der(&subject_key.subject_public_key_info_der()?)
                .map_err(encoding("SubjectPublicKeyInfo"))?;
        let subject_key_id = key_identifier(subject_key.public_key());
        let authority_key_id = issuer.map(|issuer| {
            issuer
                .subject_key_identifier()
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|| key_identifier(issuer.public_key()))
        });
        let extensions = self
            .extensions(&subject_key_id, authority_key_id.as_deref())
            .map_err(|(field, e)| encoding(field)(e))?;

        let tbs_certificate = TbsCertificate {
            version: Version::V3,
            serial_number,
            signature: signature.clone(),
            issuer: issuer_name,
            validity,
            subject,
            subject_public_key_info,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        };
        let tbs_der = tbs_certificate
            .to_der()
            .map_err(encoding("tbsCertificate"))?;
        let signature_value = signer.sign(&tbs_der).map_err(|source| Error::Key {
            context: format!(
                "signing the certificate for {subject_label:?} with {}",
                signer.algorithm()
            ),
            source,
        })?;
        let certificate = x509_cert::Certificate {
            tbs_certificate,
            signature_algorithm: signature,
            signature: BitString::from_bytes(&signature_value)
                .map_err(encoding("signatureValue"))?,
        };
        Certificate::from_der(certificate.to_der().map_err(encoding("Certificate"))?)
    }

    /// RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets.
    fn serial_number(&self) -> Result<SerialNumber, Error> {
        let bytes = match &self.serial {
            Some(bytes) => bytes.clone(),
            None => random_serial()?,
        };
        let invalid = |reason| Error::InvalidSerial {
            serial: hex(&bytes),
            reason,
        };
        if bytes.iter().all(|b| *b == 0) {
            return Err(invalid("it must be greater than zero"));
        }
        SerialNumber::new(&bytes).map_err(|_| invalid("it must fit in 20 octets once DER-encoded"))
    }

    /// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    fn encoded_validity(&self, subject: &str) -> Result<Validity, Error> {
        let (not_before, not_after) = self.validity.ok_or_else(|| Error::MissingValidity {
            subject: subject.to_owned(),
        })?;
        let invalid = |reason: String| Error::InvalidValidity {
            subject: subject.to_owned(),
            reason,
        };
        if not_after <= not_before {
            return Err(invalid(format!(
                "notAfter {not_after} is not after notBefore {not_before}"
            )));
        }
        Ok(Validity {
            not_before: x509_time(not_before).map_err(&invalid)?,
            not_after: x509_time(not_after).map_err(&invalid)?,
        })
    }

    /// The extensions, in the order OpenSSL prints them; on failure, the extension's name.
    fn extensions(
        &self,
        subject_key_id: &[u8],
        authority_key_id: Option<&[u8]>,
    ) -> Result<Vec<Extension>, (&'static str, der::Error)> {
        let mut extensions = Vec::new();

        // RFC 5280 §4.2.1.9: critical in CA certificates; critical here in all.
        let basic_constraints = match self.usage {
            Usage::RootCa => BasicConstraints {
                ca: true,
                path_len_constraint: None,
            },
            Usage::IntermediateCa { path_len } => BasicConstraints {
                ca: true,
                path_len_constraint: path_len,
            },
            _ => BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
        };
        extensions.push(
            extension(rfc5280::ID_CE_BASIC_CONSTRAINTS, true, &basic_constraints)
                .map_err(|e| ("BasicConstraints", e))?,
        );

        // RFC 5280 §4.2.1.3: SHOULD be critical.
        let key_usage = if self.usage.is_ca() {
            KeyUsages::KeyCertSign | KeyUsages::CRLSign
        } else {
            KeyUsages::DigitalSignature.into()
        };
        extensions.push(
            extension(rfc5280::ID_CE_KEY_USAGE, true, &KeyUsage(key_usage))
                .map_err(|e| ("KeyUsage", e))?,
        );

        // RFC 5280 §4.2.1.12.
        if let Some(purpose) = self.usage.extended_key_usage() {
            extensions.push(
                extension(
                    rfc5280::ID_CE_EXT_KEY_USAGE,
                    false,
                    &ExtendedKeyUsage(vec![purpose]),
                )
                .map_err(|e| ("ExtendedKeyUsage", e))?,
            );
        }

        // RFC 5280 §4.2.1.2 and §4.2.1.1.
        let ski = SubjectKeyIdentifier(
            OctetString::new(subject_key_id).map_err(|e| ("SubjectKeyIdentifier", e))?,
        );
        extensions.push(
            extension(rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER, false, &ski)
                .map_err(|e| ("SubjectKeyIdentifier", e))?,
        );
        if let Some(authority_key_id) = authority_key_id {
            let aki = AuthorityKeyIdentifier {
                key_identifier: Some(
                    OctetString::new(authority_key_id)
                        .map_err(|e| ("AuthorityKeyIdentifier", e))?,
                ),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            extensions.push(
                extension(rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER, false, &aki)
                    .map_err(|e| ("AuthorityKeyIdentifier", e))?,
            );
        }

        // RFC 5280 §4.2.1.6: non-critical, as the subject is never empty.
        if !self.dns_names.is_empty() || !self.ip_addresses.is_empty() {
            let mut names = Vec::new();
            for dns_name in &self.dns_names {
                names.push(GeneralName::DnsName(
                    Ia5String::new(dns_name).map_err(|e| ("SubjectAltName", e))?,
                ));
            }
            for ip in &self.ip_addresses {
                names.push(GeneralName::from(*ip));
            }
            extensions.push(
                extension(
                    rfc5280::ID_CE_SUBJECT_ALT_NAME,
                    false,
                    &SubjectAltName(names),
                )
                .map_err(|e| ("SubjectAltName", e))?,
            );
        }

        // RFC 5280 §4.2.2.1: MUST be non-critical.
        if let Some(url) = &self.ocsp_url {
            let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
                access_method: rfc5280::ID_AD_OCSP,
                access_location: GeneralName::UniformResourceIdentifier(
                    Ia5String::new(url).map_err(|e| ("AuthorityInfoAccess", e))?,
                ),
            }]);
            extensions.push(
                extension(rfc5280::ID_PE_AUTHORITY_INFO_ACCESS, false, &aia)
                    .map_err(|e| ("AuthorityInfoAccess", e))?,
            );
        }

        // RFC 5280 §4.2.1.13: SHOULD be non-critical.
        if let Some(url) = &self.crl_url {
            let crl_dp = CrlDistributionPoints(vec![DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![
                    GeneralName::UniformResourceIdentifier(
                        Ia5String::new(url).map_err(|e| ("CRLDistributionPoints", e))?,
                    ),
                ])),
                reasons: None,
                crl_issuer: None,
            }]);
            extensions.push(
                extension(rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS, false, &crl_dp)
                    .map_err(|e| ("CRLDistributionPoints", e))?,
            );
        }

        if self.must_staple {
            extensions.push(raw_extension(ID_PE_TLS_FEATURE, &MUST_STAPLE_VALUE)?);
        }
        if self.usage == Usage::OcspResponder {
            extensions.push(raw_extension(ID_PKIX_OCSP_NOCHECK, &NULL_VALUE)?);
        }
        Ok(extensions)
    }
}

/// Checks a dNSName for the SubjectAltName: a valid DNS name (RFC 1034 preferred syntax as
/// rustls-pki-types checks it), optionally with `*` as its whole leftmost label.
pub(crate) fn check_dns_name(name: &str) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidHost {
        host: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    let base = name.strip_prefix("*.").unwrap_or(name);
    if base.contains('*') {
        return Err(invalid(
            "a wildcard must be the whole leftmost label, as in *.example.com",
        ));
    }
    if base.len() != name.len() && !base.contains('.') {
        return Err(invalid(
            "a wildcard needs at least two labels after it, as in *.example.com",
        ));
    }
    DnsName::try_from(base)
        .map(|_| ())
        .map_err(|_| invalid("it is neither an IP address nor a valid DNS name"))
}

/// `O=organization, CN=common name` (most significant RDN first), as UTF8Strings.
fn name(common_name: &str, organization: Option<&str>) -> der::Result<Name> {
    let mut rdns = Vec::new();
    if let Some(organization) = organization {
        rdns.push(rdn(rfc4519::ORGANIZATION_NAME, organization)?);
    }
    rdns.push(rdn(rfc4519::COMMON_NAME, common_name)?);
    Ok(RdnSequence(rdns))
}

fn rdn(oid: ObjectIdentifier, value: &str) -> der::Result<RelativeDistinguishedName> {
    let value = Any::new(Tag::Utf8String, value.as_bytes())?;
    Ok(RelativeDistinguishedName(SetOfVec::try_from(vec![
        AttributeTypeAndValue { oid, value },
    ])?))
}

pub(crate) fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: &impl Encode,
) -> der::Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

fn raw_extension(
    oid: ObjectIdentifier,
    value: &[u8],
) -> Result<Extension, (&'static str, der::Error)> {
    Ok(Extension {
        extn_id: oid,
        critical: false,
        extn_value: OctetString::new(value).map_err(|e| ("extension", e))?,
    })
}

/// RFC 5280 §4.2.1.2 method (1): the SHA-1 of the subject public key BIT STRING contents.
pub(crate) fn key_identifier(public_key: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, public_key)
        .as_ref()
        .to_vec()
}

/// 128 random bits, top bit clear (positive) and second bit set (always 16 octets).
fn random_serial() -> Result<Vec<u8>, Error> {
    use aws_lc_rs::rand::SecureRandom;

    let mut serial = vec![0u8; SERIAL_LEN];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| Error::Random)?;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

pub(crate) fn x509_time(time: OffsetDateTime) -> Result<Time, String> {
    let seconds =
        u64::try_from(time.unix_timestamp()).map_err(|_| format!("{time} is before 1970"))?;
    let date_time = der::DateTime::from_unix_duration(core::time::Duration::from_secs(seconds))
        .map_err(|e| format!("{time}: {e}"))?;
    if date_time.year() < 2050 {
        UtcTime::from_date_time(date_time)
            .map(Time::UtcTime)
            .map_err(|e| format!("{time}: {e}"))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(
            date_time,
        )))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use qtls_provider::{Backend, EcCurve, KeyAlgorithm};
    use time::Duration;

    use super::*;

    fn clock() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
    }

    fn key() -> KeyPair {
        KeyPair::generate(KeyAlgorithm::Ecdsa(EcCurve::P256), Backend::AwsLc).unwrap()
    }

    fn builder(usage: Usage) -> CertificateBuilder {
        CertificateBuilder::new(usage, "test").validity(clock(), clock() + Duration::days(1))
    }

    fn ca(usage: Usage) -> CertifiedKeyPair {
        let key = key();
        let cert = builder(usage).self_signed(&key).unwrap();
        CertifiedKeyPair::new(cert, key).unwrap()
    }

    #[test]
    fn serial_numbers_follow_rfc_5280() {
        let key = key();
        let zero = builder(Usage::ServerLeaf).serial([0, 0]).self_signed(&key);
        assert!(matches!(zero, Err(Error::InvalidSerial { .. })), "{zero:?}");
        let long = builder(Usage::ServerLeaf).serial([1; 21]).self_signed(&key);
        assert!(matches!(long, Err(Error::InvalidSerial { .. })), "{long:?}");
        // 20 octets with the top bit set need a 21st (sign) octet: too long.
        let signed = builder(Usage::ServerLeaf)
            .serial([0x80; 20])
            .self_signed(&key);
        assert!(
            matches!(signed, Err(Error::InvalidSerial { .. })),
            "{signed:?}"
        );
        let cert = builder(Usage::ServerLeaf)
            .serial([0x7f; 20])
            .self_signed(&key)
            .unwrap();
        assert_eq!(cert.serial(), &[0x7f; 20]);
        // Leading zero octets are not part of the value.
        let cert = builder(Usage::ServerLeaf)
            .serial([0, 0, 5])
            .self_signed(&key)
            .unwrap();
        assert_eq!(cert.serial(), &[5]);
        let message = zero.unwrap_err().to_string();
        assert!(message.contains("0000"), "{message}");
    }

    #[test]
    fn validity_is_required_and_ordered() {
        let key = key();
        let missing = CertificateBuilder::new(Usage::RootCa, "no validity").self_signed(&key);
        assert!(
            matches!(&missing, Err(Error::MissingValidity { subject }) if subject == "CN=no validity"),
            "{missing:?}"
        );
        let backwards = CertificateBuilder::new(Usage::RootCa, "backwards")
            .validity(clock(), clock() - Duration::seconds(1))
            .self_signed(&key);
        assert!(
            matches!(backwards, Err(Error::InvalidValidity { .. })),
            "{backwards:?}"
        );
        let before_1970 = CertificateBuilder::new(Usage::RootCa, "old")
            .validity(OffsetDateTime::UNIX_EPOCH - Duration::days(1), clock())
            .self_signed(&key);
        assert!(
            matches!(before_1970, Err(Error::InvalidValidity { .. })),
            "{before_1970:?}"
        );
    }

    #[test]
    fn utc_time_through_2049_generalized_time_after() {
        let key = key();
        let end_2049 = OffsetDateTime::from_unix_timestamp(2_524_607_999).unwrap(); // 2049-12-31T23:59:59Z
        let cert = CertificateBuilder::new(Usage::RootCa, "long")
            .validity(clock(), end_2049)
            .self_signed(&key)
            .unwrap();
        let validity = cert.x509().tbs_certificate.validity;
        assert!(matches!(validity.not_before, Time::UtcTime(_)));
        assert!(matches!(validity.not_after, Time::UtcTime(_)));
        let cert = CertificateBuilder::new(Usage::RootCa, "longer")
            .validity(clock(), end_2049 + Duration::seconds(1))
            .self_signed(&key)
            .unwrap();
        let validity = cert.x509().tbs_certificate.validity;
        assert!(matches!(validity.not_after, Time::GeneralTime(_)));
        assert_eq!(cert.not_after(), end_2049 + Duration::seconds(1));
    }

    #[test]
    fn sub_second_clocks_are_truncated() {
        let key = key();
        let now = clock() + Duration::milliseconds(750);
        let cert = CertificateBuilder::new(Usage::RootCa, "ms")
            .validity(now, now + Duration::days(1))
            .self_signed(&key)
            .unwrap();
        assert_eq!(cert.not_before(), clock());
    }

    #[test]
    fn bad_hosts_are_rejected() {
        let key = key();
        for host in [
            "*foo.example.com",
            "foo.*.example.com",
            "*.com",
            "exa mple.com",
            "",
            "*",
        ] {
            let result = builder(Usage::ServerLeaf)
                .dns_names([host])
                .self_signed(&key);
            match result {
                Err(Error::InvalidHost { host: h, .. }) => assert_eq!(h, host),
                other => panic!("{host:?} accepted: {other:?}"),
            }
        }
        let cert = builder(Usage::ServerLeaf)
            .hosts(["a.test", " 10.0.0.1 ", "*.b.test", "fe80::1"])
            .self_signed(&key)
            .unwrap();
        let (_, san) = cert
            .x509()
            .tbs_certificate
            .get::<SubjectAltName>()
            .unwrap()
            .unwrap();
        assert_eq!(san.0.len(), 4);
    }

    #[test]
    fn issuers_must_be_cas_with_room_in_the_path() {
        let leaf_issuer = ca(Usage::ServerLeaf);
        let refused = builder(Usage::ServerLeaf).signed_by(&key(), &leaf_issuer);
        assert!(
            matches!(refused, Err(Error::InvalidIssuer { .. })),
            "{refused:?}"
        );

        let last_ca = ca(Usage::IntermediateCa { path_len: Some(0) });
        let refused = builder(Usage::IntermediateCa { path_len: None }).signed_by(&key(), &last_ca);
        assert!(
            matches!(refused, Err(Error::InvalidIssuer { .. })),
            "{refused:?}"
        );
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("pathLenConstraint is 0"), "{message}");
        let leaf = builder(Usage::ServerLeaf)
            .signed_by(&key(), &last_ca)
            .unwrap();
        assert_eq!(leaf.issuer(), "CN=test");

        let root = ca(Usage::RootCa);
        let sub = builder(Usage::IntermediateCa { path_len: Some(1) })
            .signed_by(&key(), &root)
            .unwrap();
        assert_eq!(sub.path_len(), Some(1));
        assert_eq!(
            sub.authority_key_identifier(),
            root.certificate().subject_key_identifier()
        );
    }

    #[test]
    fn key_must_match_certificate() {
        let cert = builder(Usage::RootCa).self_signed(&key()).unwrap();
        let mismatch = CertifiedKeyPair::new(cert.clone(), key());
        assert!(
            matches!(mismatch, Err(Error::KeyMismatch { .. })),
            "{mismatch:?}"
        );
        let other_type =
            KeyPair::generate(KeyAlgorithm::Ecdsa(EcCurve::P384), Backend::AwsLc).unwrap();
        let mismatch = CertifiedKeyPair::new(cert, other_type);
        assert!(
            matches!(mismatch, Err(Error::KeyMismatch { .. })),
            "{mismatch:?}"
        );
    }

    #[test]
    fn pem_round_trip() {
        let cert = builder(Usage::RootCa).self_signed(&key()).unwrap();
        let pem = cert.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(Certificate::from_pem(pem.as_bytes()).unwrap(), cert);
        let two = pem.clone() + &pem;
        assert_eq!(
            Certificate::from_pem_chain(two.as_bytes()).unwrap().len(),
            2
        );
        assert!(Certificate::from_pem(b"no pem here").is_err());
        assert!(Certificate::from_der(vec![0x30, 0x00]).is_err());
    }
}
