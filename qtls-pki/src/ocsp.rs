//! OCSP (RFC 6960): CertIDs, requests, signed responses, and a responder that answers from a
//! [`RevocationIndex`].

use const_oid::db::{rfc5280, rfc5912, rfc6960};
use const_oid::ObjectIdentifier;
use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::{Any, Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use time::{Duration, OffsetDateTime};
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponseStatus,
    Request, ResponderId, ResponseData, RevokedInfo, SingleResponse, TbsRequest, Version,
};

use crate::builder::key_identifier;
use crate::certificate::{Certificate, CertifiedKeyPair};
use crate::crl::signed_part;
use crate::error::Error;
use crate::revocation::{
    normalize_serial, serial_hex, IndexStatus, RevocationIndex, RevocationReason,
};

/// The hash algorithm of a CertID (RFC 6960 §4.1.1). OpenSSL and most clients use SHA-1;
/// RFC 6960 §B.2 and RFC 5019 keep SHA-1 as the interoperable default.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OcspHash {
    /// SHA-1 (1.3.14.3.2.26).
    Sha1,
    /// SHA-256 (2.16.840.1.101.3.4.2.1).
    Sha256,
    /// SHA-384 (2.16.840.1.101.3.4.2.2).
    Sha384,
    /// SHA-512 (2.16.840.1.101.3.4.2.3).
    Sha512,
}

impl OcspHash {
    /// Every supported algorithm.
    pub const ALL: [Self; 4] = [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512];

    /// The algorithm's OID.
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => rfc5912::ID_SHA_1,
            Self::Sha256 => rfc5912::ID_SHA_256,
            Self::Sha384 => rfc5912::ID_SHA_384,
            Self::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// The algorithm with OID `oid`, if supported.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|hash| hash.oid() == *oid)
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::digest;
        let algorithm = match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(algorithm, data).as_ref().to_vec()
    }
}

/// Which certificate an OCSP request or response is about (RFC 6960 §4.1.1 CertID):
/// issuerNameHash = H(DER issuer Name), issuerKeyHash = H(issuer public key BIT STRING
/// contents), and the certificate's serial number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspCertId {
    hash: OcspHash,
    inner: CertId,
}

impl OcspCertId {
    /// The CertID of serial number `serial` (big-endian octets) issued by `issuer`. The hash
    /// AlgorithmIdentifier carries NULL parameters, as OpenSSL writes it.
    pub fn new(hash: OcspHash, issuer: &Certificate, serial: &[u8]) -> Result<Self, Error> {
        let encoding = |field: &'static str| {
            move |e: der::Error| Error::ArtifactEncoding {
                artifact: "OCSP CertID".into(),
                field,
                reason: e.to_string(),
            }
        };
        let serial = normalize_serial(serial);
        let serial_number = SerialNumber::new(&serial).map_err(|_| Error::InvalidSerial {
            serial: serial_hex(&serial),
            reason: "it must fit in 20 octets once DER-encoded",
        })?;
        Ok(Self {
            hash,
            inner: CertId {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: hash.oid(),
                    parameters: Some(Any::from(Null)),
                },
                issuer_name_hash: OctetString::new(hash.digest(&issuer.subject_name_der()?))
                    .map_err(encoding("issuerNameHash"))?,
                issuer_key_hash: OctetString::new(hash.digest(issuer.public_key()))
                    .map_err(encoding("issuerKeyHash"))?,
                serial_number,
            },
        })
    }

    /// The CertID of `certificate`, which `issuer` issued.
    pub fn for_certificate(
        hash: OcspHash,
        issuer: &Certificate,
        certificate: &Certificate,
    ) -> Result<Self, Error> {
        Self::new(hash, issuer, certificate.serial())
    }

    /// Wraps a parsed CertID; fails when its hash algorithm is not one of [`OcspHash::ALL`].
    pub fn from_x509(cert_id: &CertId) -> Result<Self, Error> {
        let hash =
            OcspHash::from_oid(&cert_id.hash_algorithm.oid).ok_or_else(|| Error::InvalidOcsp {
                what: "CertID",
                reason: format!("unsupported hash algorithm {}", cert_id.hash_algorithm.oid),
            })?;
        Ok(Self {
            hash,
            inner: cert_id.clone(),
        })
    }

    /// The CertID as x509-ocsp encodes it.
    pub fn x509(&self) -> &CertId {
        &self.inner
    }

    /// The hash algorithm.
    pub fn hash(&self) -> OcspHash {
        self.hash
    }

    /// issuerNameHash.
    pub fn issuer_name_hash(&self) -> &[u8] {
        self.inner.issuer_name_hash.as_bytes()
    }

    /// issuerKeyHash.
    pub fn issuer_key_hash(&self) -> &[u8] {
        self.inner.issuer_key_hash.as_bytes()
    }

    /// The serial number, big-endian without leading zero octets.
    pub fn serial(&self) -> Vec<u8> {
        normalize_serial(self.inner.serial_number.as_bytes())
    }

    /// Whether issuerNameHash and issuerKeyHash are those of `issuer`.
    pub fn is_for_issuer(&self, issuer: &Certificate) -> bool {
        issuer.subject_name_der().is_ok_and(|name| {
            self.hash.digest(&name) == self.issuer_name_hash()
                && self.hash.digest(issuer.public_key()) == self.issuer_key_hash()
        })
    }

    /// Whether both name the same certificate: same hash algorithm, hashes and serial
    /// (AlgorithmIdentifier parameters NULL or absent alike).
    pub fn same_certificate(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.issuer_name_hash() == other.issuer_name_hash()
            && self.issuer_key_hash() == other.issuer_key_hash()
            && self.serial() == other.serial()
    }
}

/// A certificate's status in an OCSP response (RFC 6960 §2.2, §4.2.1 CertStatus).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspCertStatus {
    /// good: not revoked.
    Good,
    /// revoked at `time`, for `reason` if one is given.
    Revoked {
        /// revocationTime.
        time: OffsetDateTime,
        /// revocationReason, or `None` when absent.
        reason: Option<RevocationReason>,
    },
    /// unknown: the responder does not know the certificate.
    Unknown,
}

impl OcspCertStatus {
    /// The status of serial number `serial` in `index`: `V` and `E` entries are good (issued,
    /// not revoked), `R` entries revoked, and serials not in the index unknown.
    pub fn from_index(index: &RevocationIndex, serial: &[u8]) -> Self {
        match index.get(serial).map(|entry| entry.status) {
            Some(IndexStatus::Revoked { time, reason }) => Self::Revoked { time, reason },
            Some(_) => Self::Good,
            None => Self::Unknown,
        }
    }

    fn to_x509(self) -> Result<CertStatus, String> {
        Ok(match self {
            Self::Good => CertStatus::good(),
            Self::Unknown => CertStatus::unknown(),
            Self::Revoked { time, reason } => CertStatus::Revoked(RevokedInfo {
                revocation_time: generalized_time(time)?,
                revocation_reason: reason.map(RevocationReason::to_x509),
            }),
        })
    }

    fn from_x509(status: &CertStatus) -> Self {
        match status {
            CertStatus::Good(_) => Self::Good,
            CertStatus::Unknown(_) => Self::Unknown,
            CertStatus::Revoked(info) => Self::Revoked {
                time: from_generalized_time(info.revocation_time),
                reason: info.revocation_reason.map(RevocationReason::from_x509),
            },
        }
    }
}

/// One certificate's answer in an OCSP response (RFC 6960 §4.2.1 SingleResponse).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspSingleResponse {
    /// The certificate.
    pub cert_id: OcspCertId,
    /// Its status.
    pub status: OcspCertStatus,
    /// When the status was known to be correct.
    pub this_update: OffsetDateTime,
    /// When newer information will be available, if said.
    pub next_update: Option<OffsetDateTime>,
}

/// A nonce to put in a response: given as the nonce itself, or copied from a request's
/// extension value as it stands.
#[derive(Clone, Debug)]
enum NonceValue {
    Nonce(Vec<u8>),
    ExtnValue(Vec<u8>),
}

/// Builds and signs an OCSP response (RFC 6960 §4.2.1): a BasicOCSPResponse with one
/// SingleResponse per certificate, responderID byKey, optional nonce echo, signed by the CA
/// itself or by a delegated responder certificate (which goes in `certs`).
///
/// ```
/// use qtls_pki::{OcspCertId, OcspCertStatus, OcspHash, OcspResponseBuilder, Pki, PkiOptions, Profile};
///
/// let now = time::OffsetDateTime::from_unix_timestamp(1_767_225_600)?; // 2026-01-01
/// let mut options = PkiOptions::new(now);
/// options.profile = Profile::EcdsaP384;
/// let pki = Pki::generate(&options)?;
/// let ca = pki.intermediate().certificate();
/// let id = OcspCertId::for_certificate(OcspHash::Sha256, ca, pki.server().certificate())?;
///
/// let response = OcspResponseBuilder::new(now)
///     .next_update(now + time::Duration::hours(1))
///     .status(id.clone(), OcspCertStatus::Good)
///     .build(ca, pki.ocsp_responder())?;
/// let single = &response.responses()[0];
/// assert!(single.cert_id.same_certificate(&id));
/// assert_eq!(single.status, OcspCertStatus::Good);
/// assert_eq!(response.certificates()?.len(), 1); // the delegated responder's certificate
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct OcspResponseBuilder {
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    produced_at: Option<OffsetDateTime>,
    statuses: Vec<(OcspCertId, OcspCertStatus)>,
    nonce: Option<NonceValue>,
}

impl OcspResponseBuilder {
    /// Starts a response whose statuses were correct at `this_update` (whole seconds), which
    /// is also producedAt unless [`produced_at`](Self::produced_at) says otherwise.
    pub fn new(this_update: OffsetDateTime) -> Self {
        Self {
            this_update,
            next_update: None,
            produced_at: None,
            statuses: Vec::new(),
            nonce: None,
        }
    }

    /// Sets nextUpdate of every SingleResponse: by when newer information will be available.
    /// Without it, RFC 6960 §4.2.2.1 says newer information is always available.
    pub fn next_update(mut self, next_update: OffsetDateTime) -> Self {
        self.next_update = Some(next_update);
        self
    }

    /// Sets producedAt: when the response was signed. Default: thisUpdate.
    pub fn produced_at(mut self, produced_at: OffsetDateTime) -> Self {
        self.produced_at = Some(produced_at);
        self
    }

    /// Adds a SingleResponse: `cert_id` has `status`.
    pub fn status(mut self, cert_id: OcspCertId, status: OcspCertStatus) -> Self {
        self.statuses.push((cert_id, status));
        self
    }

    /// Echoes a request's nonce (RFC 6960 §4.4.1, RFC 8954): the response gets a
    /// non-critical id-pkix-ocsp-nonce extension holding `nonce` as an OCTET STRING.
    pub fn nonce(mut self, nonce: impl Into<Vec<u8>>) -> Self {
        self.nonce = Some(NonceValue::Nonce(nonce.into()));
        self
    }

    /// Signs the response for certificates issued by `issuer` with `signer`'s key.
    ///
    /// `signer` must be `issuer` itself, or a delegated responder: issued by `issuer`
    /// (issuer name, and AuthorityKeyIdentifier when both have key identifiers) with
    /// id-kp-OCSPSigning in its ExtendedKeyUsage (RFC 6960 §4.2.2.2); a delegated
    /// responder's certificate is put in `certs` so clients can check it. Every CertID must
    /// name `issuer`. Also fails without any status, or when nextUpdate is not after
    /// thisUpdate.
    pub fn build(
        self,
        issuer: &Certificate,
        signer: &CertifiedKeyPair,
    ) -> Result<OcspResponse, Error> {
        let delegated = check_responder(issuer, signer.certificate())?;
        for (cert_id, _) in &self.statuses {
            if !cert_id.is_for_issuer(issuer) {
                return Err(Error::CertIdMismatch {
                    serial: serial_hex(&cert_id.serial()),
                    issuer: issuer.subject(),
                });
            }
        }
        self.sign(signer, delegated)
    }

    /// Signs the response with `signer`'s key without the checks of
    /// [`build`](Self::build): for testing clients against responses from unauthorized
    /// responders or for other issuers. The signer's certificate always goes in `certs`.
    pub fn build_unchecked(self, signer: &CertifiedKeyPair) -> Result<OcspResponse, Error> {
        self.sign(signer, true)
    }

    fn sign(self, signer: &CertifiedKeyPair, include_signer: bool) -> Result<OcspResponse, Error> {
        let encoding = |field: &'static str| {
            move |e: der::Error| Error::ArtifactEncoding {
                artifact: "OCSP response".into(),
                field,
                reason: e.to_string(),
            }
        };
        let times = |reason: String| Error::InvalidUpdateTimes {
            artifact: "OCSP response",
            reason,
        };
        if self.statuses.is_empty() {
            return Err(Error::InvalidOcsp {
                what: "OCSP response",
                reason: "no certificate status to put in it".into(),
            });
        }
        if let Some(next_update) = self.next_update {
            if next_update <= self.this_update {
                return Err(times(format!(
                    "nextUpdate {next_update} is not after thisUpdate {}",
                    self.this_update
                )));
            }
        }
        let this_update = generalized_time(self.this_update)
            .map_err(|reason| times(format!("thisUpdate: {reason}")))?;
        let next_update = self
            .next_update
            .map(generalized_time)
            .transpose()
            .map_err(|reason| times(format!("nextUpdate: {reason}")))?;
        let produced_at = generalized_time(self.produced_at.unwrap_or(self.this_update))
            .map_err(|reason| times(format!("producedAt: {reason}")))?;

        let mut responses = Vec::with_capacity(self.statuses.len());
        for (cert_id, status) in self.statuses {
            responses.push(SingleResponse {
                cert_id: cert_id.inner,
                cert_status: status
                    .to_x509()
                    .map_err(|reason| times(format!("revocationTime: {reason}")))?,
                this_update,
                next_update,
                single_extensions: None,
            });
        }
        let nonce = match self.nonce {
            None => None,
            Some(NonceValue::ExtnValue(value)) => Some(value),
            Some(NonceValue::Nonce(nonce)) => Some(
                OctetString::new(nonce)
                    .and_then(|nonce| nonce.to_der())
                    .map_err(encoding("nonce"))?,
            ),
        };
        let response_extensions = nonce
            .map(|value| {
                OctetString::new(value).map(|extn_value| {
                    vec![Extension {
                        extn_id: rfc6960::ID_PKIX_OCSP_NONCE,
                        critical: false,
                        extn_value,
                    }]
                })
            })
            .transpose()
            .map_err(encoding("nonce"))?;

        let signer_cert = signer.certificate();
        let tbs_response_data = ResponseData {
            version: Version::V1,
            // RFC 6960 §4.2.1: KeyHash = SHA-1 of the responder's public key BIT STRING
            // contents; shorter than a Name and independent of the certificate.
            responder_id: ResponderId::ByKey(
                OctetString::new(key_identifier(signer_cert.public_key()))
                    .map_err(encoding("responderID"))?,
            ),
            produced_at,
            responses,
            response_extensions,
        };
        let tbs_der = tbs_response_data
            .to_der()
            .map_err(encoding("tbsResponseData"))?;
        let signature_value = signer.key().sign(&tbs_der).map_err(|source| Error::Key {
            context: format!(
                "signing an OCSP response with the key of {:?} ({})",
                signer_cert.subject(),
                signer.key().algorithm()
            ),
            source,
        })?;
        let signature_algorithm =
            AlgorithmIdentifierOwned::from_der(&signer.key().algorithm().signature_algorithm_der())
                .map_err(encoding("signatureAlgorithm"))?;
        let basic = BasicOcspResponse {
            tbs_response_data,
            signature_algorithm,
            signature: BitString::from_bytes(&signature_value).map_err(encoding("signature"))?,
            certs: include_signer.then(|| vec![signer_cert.x509().clone()]),
        };
        let response =
            x509_ocsp::OcspResponse::successful(basic).map_err(encoding("responseBytes"))?;
        OcspResponse::from_der(response.to_der().map_err(encoding("OCSPResponse"))?)
    }
}

/// RFC 6960 §4.2.2.2: whether `signer` may sign responses about `issuer`'s certificates;
/// `Ok(true)` for a delegated responder, `Ok(false)` for the issuer itself.
fn check_responder(issuer: &Certificate, signer: &Certificate) -> Result<bool, Error> {
    let issuer_tbs = &issuer.x509().tbs_certificate;
    let signer_tbs = &signer.x509().tbs_certificate;
    if signer.der() == issuer.der()
        || (signer_tbs.subject == issuer_tbs.subject && signer.public_key() == issuer.public_key())
    {
        return Ok(false);
    }
    let refuse = |reason| Error::UnauthorizedResponder {
        responder: signer.subject(),
        issuer: issuer.subject(),
        reason,
    };
    if signer_tbs.issuer != issuer_tbs.subject {
        return Err(refuse(
            "it is neither the issuer nor a certificate the issuer issued",
        ));
    }
    if let (Some(aki), Some(ski)) = (
        signer.authority_key_identifier(),
        issuer.subject_key_identifier(),
    ) {
        if aki != ski {
            return Err(refuse(
                "its AuthorityKeyIdentifier is not the issuer's SubjectKeyIdentifier",
            ));
        }
    }
    let ocsp_signing = signer
        .extension(&rfc5280::ID_CE_EXT_KEY_USAGE)
        .and_then(|(_, value)| ExtendedKeyUsage::from_der(value).ok())
        .is_some_and(|eku| eku.0.contains(&rfc5280::ID_KP_OCSP_SIGNING));
    if !ocsp_signing {
        return Err(refuse("its ExtendedKeyUsage lacks id-kp-OCSPSigning"));
    }
    Ok(true)
}

/// A DER OCSPResponse (RFC 6960 §4.2.1) and the fields this crate reads back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspResponse {
    der: Vec<u8>,
    status: OcspResponseStatus,
    basic_der: Option<Vec<u8>>,
    basic: Option<BasicOcspResponse>,
    responses: Vec<OcspSingleResponse>,
}

impl OcspResponse {
    /// An unsuccessful response: only a responseStatus, such as malformedRequest or
    /// unauthorized (RFC 6960 §4.2.1, §2.3).
    pub fn error(status: OcspResponseStatus) -> Self {
        let response = x509_ocsp::OcspResponse {
            response_status: status,
            response_bytes: None,
        };
        // SEQUENCE { ENUMERATED status }: encoding cannot fail.
        let der = response
            .to_der()
            .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, status as u8]);
        Self {
            der,
            status,
            basic_der: None,
            basic: None,
            responses: Vec::new(),
        }
    }

    /// Parses a DER OCSPResponse; a successful one must hold a BasicOCSPResponse.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let der = der.into();
        let invalid = |reason: String| Error::InvalidOcsp {
            what: "OCSP response",
            reason,
        };
        let parsed = x509_ocsp::OcspResponse::from_der(&der).map_err(|e| invalid(e.to_string()))?;
        let status = parsed.response_status;
        let Some(bytes) = parsed.response_bytes else {
            if status == OcspResponseStatus::Successful {
                return Err(invalid("successful, but without responseBytes".into()));
            }
            return Ok(Self {
                der,
                status,
                basic_der: None,
                basic: None,
                responses: Vec::new(),
            });
        };
        if bytes.response_type != rfc6960::ID_PKIX_OCSP_BASIC {
            return Err(invalid(format!(
                "responseType {}, expected id-pkix-ocsp-basic",
                bytes.response_type
            )));
        }
        let basic_der = bytes.response.as_bytes().to_vec();
        let basic = BasicOcspResponse::from_der(&basic_der)
            .map_err(|e| invalid(format!("BasicOCSPResponse: {e}")))?;
        let responses = basic
            .tbs_response_data
            .responses
            .iter()
            .map(|single| {
                Ok(OcspSingleResponse {
                    cert_id: OcspCertId::from_x509(&single.cert_id)?,
                    status: OcspCertStatus::from_x509(&single.cert_status),
                    this_update: from_generalized_time(single.this_update),
                    next_update: single.next_update.map(from_generalized_time),
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Self {
            der,
            status,
            basic_der: Some(basic_der),
            basic: Some(basic),
            responses,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER encoding, by value.
    pub fn into_der(self) -> Vec<u8> {
        self.der
    }

    /// responseStatus.
    pub fn status(&self) -> OcspResponseStatus {
        self.status
    }

    /// The parsed BasicOCSPResponse of a successful response.
    pub fn basic(&self) -> Option<&BasicOcspResponse> {
        self.basic.as_ref()
    }

    /// The DER tbsResponseData as it stands in the response: what the signature covers.
    pub fn tbs_response_data_der(&self) -> Option<&[u8]> {
        self.basic_der.as_deref().and_then(signed_part)
    }

    /// The SingleResponses, in order.
    pub fn responses(&self) -> &[OcspSingleResponse] {
        &self.responses
    }

    /// The SingleResponse about the same certificate as `cert_id`, if any.
    pub fn find(&self, cert_id: &OcspCertId) -> Option<&OcspSingleResponse> {
        self.responses
            .iter()
            .find(|single| single.cert_id.same_certificate(cert_id))
    }

    /// producedAt.
    pub fn produced_at(&self) -> Option<OffsetDateTime> {
        self.basic
            .as_ref()
            .map(|basic| from_generalized_time(basic.tbs_response_data.produced_at))
    }

    /// The responderID's KeyHash, when the responder is identified by key.
    pub fn responder_key_hash(&self) -> Option<&[u8]> {
        match &self.basic.as_ref()?.tbs_response_data.responder_id {
            ResponderId::ByKey(hash) => Some(hash.as_bytes()),
            ResponderId::ByName(_) => None,
        }
    }

    /// The nonce (the contents of the nonce extension's OCTET STRING), if present.
    pub fn nonce(&self) -> Option<Vec<u8>> {
        let extensions = self
            .basic
            .as_ref()?
            .tbs_response_data
            .response_extensions
            .as_deref()?;
        let value = extensions
            .iter()
            .find(|ext| ext.extn_id == rfc6960::ID_PKIX_OCSP_NONCE)?
            .extn_value
            .as_bytes();
        Some(
            OctetString::from_der(value)
                .map(|nonce| nonce.as_bytes().to_vec())
                .unwrap_or_else(|_| value.to_vec()),
        )
    }

    /// The certificates in `certs`, parsed: a delegated responder's certificate.
    pub fn certificates(&self) -> Result<Vec<Certificate>, Error> {
        let Some(certs) = self.basic.as_ref().and_then(|basic| basic.certs.as_ref()) else {
            return Ok(Vec::new());
        };
        certs
            .iter()
            .map(|cert| {
                let der = cert.to_der().map_err(|e| Error::InvalidCertificate {
                    source_name: "OCSP response certs".into(),
                    reason: e.to_string(),
                })?;
                Certificate::from_der(der)
            })
            .collect()
    }
}

/// Builds a DER OCSPRequest (RFC 6960 §4.1.1): unsigned, one Request per CertID, optional
/// nonce.
#[derive(Clone, Debug, Default)]
pub struct OcspRequestBuilder {
    cert_ids: Vec<OcspCertId>,
    nonce: Option<Vec<u8>>,
}

impl OcspRequestBuilder {
    /// An empty request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for the status of `cert_id`.
    pub fn cert_id(mut self, cert_id: OcspCertId) -> Self {
        self.cert_ids.push(cert_id);
        self
    }

    /// Adds a nonce extension (RFC 8954: 1 to 32 octets recommended).
    pub fn nonce(mut self, nonce: impl Into<Vec<u8>>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// The DER OCSPRequest; fails without any CertID.
    pub fn build(self) -> Result<Vec<u8>, Error> {
        let encoding = |e: der::Error| Error::ArtifactEncoding {
            artifact: "OCSP request".into(),
            field: "OCSPRequest",
            reason: e.to_string(),
        };
        if self.cert_ids.is_empty() {
            return Err(Error::InvalidOcsp {
                what: "OCSP request",
                reason: "no CertID to ask about".into(),
            });
        }
        let request_extensions = self
            .nonce
            .map(|nonce| -> der::Result<_> {
                Ok(vec![Extension {
                    extn_id: rfc6960::ID_PKIX_OCSP_NONCE,
                    critical: false,
                    extn_value: OctetString::new(OctetString::new(nonce)?.to_der()?)?,
                }])
            })
            .transpose()
            .map_err(encoding)?;
        OcspRequest {
            tbs_request: TbsRequest {
                version: Version::V1,
                requestor_name: None,
                request_list: self
                    .cert_ids
                    .into_iter()
                    .map(|id| Request {
                        req_cert: id.inner,
                        single_request_extensions: None,
                    })
                    .collect(),
                request_extensions,
            },
            optional_signature: None,
        }
        .to_der()
        .map_err(encoding)
    }
}

/// Answers OCSP requests for the certificates one CA issued, from its [`RevocationIndex`]:
/// the transport-free core of an OCSP responder (RFC 6960 §2).
///
/// Statuses come from [`OcspCertStatus::from_index`]; thisUpdate and producedAt are the
/// clock passed to [`respond`](Self::respond), nextUpdate that plus the validity. A request
/// nonce of 1 to 32 octets is echoed. Errors are answered as RFC 6960 §2.3
/// says: a request that does not parse or asks about nothing, or whose nonce is not an
/// OCTET STRING of 1 to 32 octets
/// ([RFC 8954 §2.1](https://www.rfc-editor.org/rfc/rfc8954#section-2.1)), gets
/// malformedRequest; one with a CertID of another issuer or with a hash algorithm outside
/// [`OcspHash::ALL`] (the responder cannot answer it authoritatively) gets unauthorized; a
/// signer certificate not valid at that clock
/// ([`check_signer_validity`](Self::check_signer_validity)) or a failed signature gets
/// internalError.
#[derive(Debug)]
pub struct OcspResponder {
    issuer: Certificate,
    signer: CertifiedKeyPair,
    index: RevocationIndex,
    validity: Duration,
}

impl OcspResponder {
    /// A responder for `issuer`'s certificates that signs with `signer` (the issuer itself or
    /// a delegated responder, checked as [`OcspResponseBuilder::build`] does) and whose
    /// responses are valid for `validity` (nextUpdate - thisUpdate, positive).
    pub fn new(
        issuer: Certificate,
        signer: CertifiedKeyPair,
        index: RevocationIndex,
        validity: Duration,
    ) -> Result<Self, Error> {
        check_responder(&issuer, signer.certificate())?;
        if !validity.is_positive() {
            return Err(Error::InvalidUpdateTimes {
                artifact: "OCSP response",
                reason: format!("validity {validity} is not positive"),
            });
        }
        Ok(Self {
            issuer,
            signer,
            index,
            validity,
        })
    }

    /// The CA whose certificates this responder answers for.
    pub fn issuer(&self) -> &Certificate {
        &self.issuer
    }

    /// The certificate and key that sign the responses.
    pub fn signer(&self) -> &CertifiedKeyPair {
        &self.signer
    }

    /// The revocation index answers come from.
    pub fn index(&self) -> &RevocationIndex {
        &self.index
    }

    /// Replaces the revocation index, e.g. after the file changed.
    pub fn set_index(&mut self, index: RevocationIndex) {
        self.index = index;
    }

    /// Whether the signer's certificate is valid at `now` (notBefore through notAfter,
    /// [RFC 5280 §4.1.2.5](https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.5)): a
    /// response it signs outside that window is one clients reject.
    pub fn check_signer_validity(&self, now: OffsetDateTime) -> Result<(), Error> {
        let certificate = self.signer.certificate();
        let (not_before, not_after) = (certificate.not_before(), certificate.not_after());
        if now < not_before || now > not_after {
            return Err(Error::ResponderCertificateNotValid {
                subject: certificate.subject(),
                not_before,
                not_after,
                now,
            });
        }
        Ok(())
    }

    /// How long responses are valid.
    pub fn validity(&self) -> Duration {
        self.validity
    }

    /// The DER OCSPResponse to the DER OCSPRequest `request_der`, at time `now`.
    pub fn respond(&self, request_der: &[u8], now: OffsetDateTime) -> Vec<u8> {
        self.answer(request_der, now).into_der()
    }

    /// [`respond`](Self::respond), returning the response parsed, for logging.
    pub fn answer(&self, request_der: &[u8], now: OffsetDateTime) -> OcspResponse {
        let Ok(request) = OcspRequest::from_der(request_der) else {
            return OcspResponse::error(OcspResponseStatus::MalformedRequest);
        };
        let tbs = &request.tbs_request;
        if tbs.request_list.is_empty() {
            return OcspResponse::error(OcspResponseStatus::MalformedRequest);
        }
        let nonce = match request_nonce(tbs) {
            Ok(nonce) => nonce,
            Err(()) => return OcspResponse::error(OcspResponseStatus::MalformedRequest),
        };
        // RFC 6960 §2.3: internalError ("retry, potentially with another responder") rather
        // than a signature clients would reject.
        if self.check_signer_validity(now).is_err() {
            return OcspResponse::error(OcspResponseStatus::InternalError);
        }
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let mut builder = OcspResponseBuilder::new(now);
        if let Some(next_update) = now.checked_add(self.validity) {
            builder = builder.next_update(next_update);
        }
        for single in &tbs.request_list {
            let Ok(cert_id) = OcspCertId::from_x509(&single.req_cert) else {
                return OcspResponse::error(OcspResponseStatus::Unauthorized);
            };
            if !cert_id.is_for_issuer(&self.issuer) {
                return OcspResponse::error(OcspResponseStatus::Unauthorized);
            }
            let status = OcspCertStatus::from_index(&self.index, &cert_id.serial());
            builder = builder.status(cert_id, status);
        }
        // Copied as sent (it was checked to be the DER OCTET STRING), so clients comparing
        // extension values match.
        builder.nonce = nonce.map(NonceValue::ExtnValue);
        builder
            .build(&self.issuer, &self.signer)
            .unwrap_or_else(|_| OcspResponse::error(OcspResponseStatus::InternalError))
    }
}

/// The most octets of a request nonce the responder echoes
/// ([RFC 8954 §2.1](https://www.rfc-editor.org/rfc/rfc8954#section-2.1)).
const MAX_NONCE_LEN: usize = 32;

/// The extnValue of the request's nonce extension, if it has one: `Err` (answered with
/// malformedRequest, as [RFC 8954 §2.1](https://www.rfc-editor.org/rfc/rfc8954#section-2.1)
/// says) unless it is exactly one DER OCTET STRING of 1 to [`MAX_NONCE_LEN`] octets, and
/// for a second nonce extension (RFC 5280 §4.2: an extension appears at most once).
fn request_nonce(tbs: &TbsRequest) -> Result<Option<Vec<u8>>, ()> {
    let mut nonces = tbs
        .request_extensions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|ext| ext.extn_id == rfc6960::ID_PKIX_OCSP_NONCE);
    let Some(nonce) = nonces.next() else {
        return Ok(None);
    };
    if nonces.next().is_some() {
        return Err(());
    }
    let extn_value = nonce.extn_value.as_bytes();
    // from_der refuses trailing bytes and other tags.
    let octets = OctetString::from_der(extn_value).map_err(|_| ())?;
    if octets.as_bytes().is_empty() || octets.as_bytes().len() > MAX_NONCE_LEN {
        return Err(());
    }
    Ok(Some(extn_value.to_vec()))
}

/// OCSP times are GeneralizedTime, whatever the year (RFC 6960 §4.2.1); whole seconds.
fn generalized_time(time: OffsetDateTime) -> Result<OcspGeneralizedTime, String> {
    let seconds =
        u64::try_from(time.unix_timestamp()).map_err(|_| format!("{time} is before 1970"))?;
    der::DateTime::from_unix_duration(core::time::Duration::from_secs(seconds))
        .map(|date_time| OcspGeneralizedTime(GeneralizedTime::from_date_time(date_time)))
        .map_err(|e| format!("{time}: {e}"))
}

fn from_generalized_time(time: OcspGeneralizedTime) -> OffsetDateTime {
    let seconds = i64::try_from(time.0.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Pki, PkiOptions, Profile};

    fn clock() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
    }

    fn pki() -> Pki {
        let mut options = PkiOptions::new(clock());
        options.profile = Profile::EcdsaP384;
        Pki::generate(&options).unwrap()
    }

    #[test]
    fn cert_ids_hash_the_issuer_name_and_key() {
        let pki = pki();
        let ca = pki.intermediate().certificate();
        let server = pki.server().certificate();
        for hash in OcspHash::ALL {
            let id = OcspCertId::for_certificate(hash, ca, server).unwrap();
            assert_eq!(
                id.issuer_name_hash(),
                hash.digest(&ca.subject_name_der().unwrap())
            );
            assert_eq!(id.issuer_key_hash(), hash.digest(ca.public_key()));
            assert_eq!(id.serial(), normalize_serial(server.serial()));
            assert!(id.is_for_issuer(ca));
            assert!(!id.is_for_issuer(pki.root().certificate()));
            assert_eq!(OcspCertId::from_x509(id.x509()).unwrap(), id);
        }
        assert_eq!(OcspHash::Sha1.digest(b"").len(), 20);
        let mut other = OcspCertId::new(OcspHash::Sha1, ca, &[1]).unwrap().inner;
        other.hash_algorithm.oid = rfc5912::ID_MD_5;
        assert!(OcspCertId::from_x509(&other).is_err());
    }

    #[test]
    fn only_the_issuer_or_its_ocsp_signers_may_sign() {
        let pki = pki();
        let ca = pki.intermediate().certificate();
        assert!(!check_responder(ca, ca).unwrap());
        assert!(check_responder(ca, pki.ocsp_responder().certificate()).unwrap());
        for (signer, expected) in [
            (pki.server().certificate(), "id-kp-OCSPSigning"),
            (pki.root().certificate(), "neither the issuer"),
        ] {
            let error = check_responder(ca, signer).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn builder_refuses_what_clients_would_reject() {
        let pki = pki();
        let ca = pki.intermediate().certificate();
        let id =
            OcspCertId::for_certificate(OcspHash::Sha1, ca, pki.server().certificate()).unwrap();
        let empty = OcspResponseBuilder::new(clock())
            .build(ca, pki.intermediate())
            .unwrap_err();
        assert!(matches!(empty, Error::InvalidOcsp { .. }), "{empty}");
        let backwards = OcspResponseBuilder::new(clock())
            .next_update(clock())
            .status(id.clone(), OcspCertStatus::Good)
            .build(ca, pki.intermediate())
            .unwrap_err();
        assert!(
            matches!(backwards, Error::InvalidUpdateTimes { .. }),
            "{backwards}"
        );
        let root_id = OcspCertId::for_certificate(
            OcspHash::Sha1,
            pki.root().certificate(),
            pki.intermediate().certificate(),
        )
        .unwrap();
        let mismatch = OcspResponseBuilder::new(clock())
            .status(root_id.clone(), OcspCertStatus::Good)
            .build(ca, pki.intermediate())
            .unwrap_err();
        assert!(
            matches!(mismatch, Error::CertIdMismatch { .. }),
            "{mismatch}"
        );
        let unauthorized = OcspResponseBuilder::new(clock())
            .status(id.clone(), OcspCertStatus::Good)
            .build(ca, pki.server())
            .unwrap_err();
        assert!(
            matches!(unauthorized, Error::UnauthorizedResponder { .. }),
            "{unauthorized}"
        );
        // build_unchecked signs anyway, for testing clients.
        let response = OcspResponseBuilder::new(clock())
            .status(root_id, OcspCertStatus::Good)
            .build_unchecked(pki.server())
            .unwrap();
        assert_eq!(
            response.certificates().unwrap()[0],
            *pki.server().certificate()
        );
    }

    #[test]
    fn error_responses_are_just_a_status() {
        let response = OcspResponse::error(OcspResponseStatus::Unauthorized);
        assert_eq!(response.der(), [0x30, 0x03, 0x0a, 0x01, 0x06]);
        let parsed = OcspResponse::from_der(response.der().to_vec()).unwrap();
        assert_eq!(parsed.status(), OcspResponseStatus::Unauthorized);
        assert!(parsed.basic().is_none() && parsed.responses().is_empty());
        // successful without responseBytes is not a response.
        assert!(OcspResponse::from_der(vec![0x30, 0x03, 0x0a, 0x01, 0x00]).is_err());
    }

    /// A request about the server certificate whose nonce extension holds `extn_value`.
    fn request_with_nonce_extn_value(pki: &Pki, extn_value: Vec<u8>) -> Vec<u8> {
        let ca = pki.intermediate().certificate();
        let id =
            OcspCertId::for_certificate(OcspHash::Sha1, ca, pki.server().certificate()).unwrap();
        let der = OcspRequestBuilder::new()
            .cert_id(id)
            .nonce([1; 16])
            .build()
            .unwrap();
        let mut request = OcspRequest::from_der(&der).unwrap();
        request.tbs_request.request_extensions.as_mut().unwrap()[0].extn_value =
            OctetString::new(extn_value).unwrap();
        request.to_der().unwrap()
    }

    fn responder(pki: &Pki) -> OcspResponder {
        let signer = pki.ocsp_responder();
        let key = signer.key().to_pkcs8_pem().unwrap();
        let signer = CertifiedKeyPair::new(
            signer.certificate().clone(),
            qtls_provider::KeyPair::from_pem(key.as_bytes(), Default::default()).unwrap(),
        )
        .unwrap();
        OcspResponder::new(
            pki.intermediate().certificate().clone(),
            signer,
            RevocationIndex::default(),
            Duration::hours(1),
        )
        .unwrap()
    }

    fn octet_string(nonce: &[u8]) -> Vec<u8> {
        OctetString::new(nonce).unwrap().to_der().unwrap()
    }

    #[test]
    fn nonces_of_1_to_32_octets_are_echoed_as_sent() {
        let pki = pki();
        let responder = responder(&pki);
        for len in [1, 16, 32] {
            let nonce = vec![0xa5; len];
            let response = responder.answer(
                &request_with_nonce_extn_value(&pki, octet_string(&nonce)),
                clock(),
            );
            assert_eq!(response.status(), OcspResponseStatus::Successful, "{len}");
            assert_eq!(response.nonce(), Some(nonce), "{len}");
        }
        // Without a nonce, none comes back.
        let id = OcspCertId::for_certificate(
            OcspHash::Sha1,
            pki.intermediate().certificate(),
            pki.server().certificate(),
        )
        .unwrap();
        let plain = OcspRequestBuilder::new().cert_id(id).build().unwrap();
        let response = responder.answer(&plain, clock());
        assert_eq!(response.status(), OcspResponseStatus::Successful);
        assert_eq!(response.nonce(), None);
    }

    /// RFC 8954 §2.1: a nonce of 0 or more than 32 octets gets malformedRequest, and so does
    /// one that is not an OCTET STRING (RFC 2560 clients sent raw bytes); never echoed.
    #[test]
    fn nonces_that_are_empty_too_long_or_not_an_octet_string_are_malformed() {
        let pki = pki();
        let responder = responder(&pki);
        let mut too_long_header = octet_string(&[0x5a; 33]);
        too_long_header.truncate(2);
        for (what, extn_value) in [
            ("empty", octet_string(&[])),
            ("33 octets", octet_string(&[0x5a; 33])),
            ("64 KiB", octet_string(&vec![0x5a; 65_536])),
            ("raw bytes", vec![0x5a; 16]),
            ("an INTEGER", vec![0x02, 0x01, 0x05]),
            (
                "an OCTET STRING and more",
                [octet_string(&[1; 16]), vec![0]].concat(),
            ),
            ("a truncated OCTET STRING", too_long_header),
            ("nothing", Vec::new()),
        ] {
            let response =
                responder.answer(&request_with_nonce_extn_value(&pki, extn_value), clock());
            assert_eq!(
                response.status(),
                OcspResponseStatus::MalformedRequest,
                "{what}"
            );
            assert_eq!(response.nonce(), None, "{what}");
        }
    }

    /// RFC 6960 §2.3: a responder whose certificate is past its notAfter (or before its
    /// notBefore) answers internalError instead of signing.
    #[test]
    fn responder_refuses_to_sign_outside_its_certificate_validity() {
        let pki = pki();
        let responder = responder(&pki);
        let signer = pki.ocsp_responder().certificate();
        let id = OcspCertId::for_certificate(
            OcspHash::Sha1,
            pki.intermediate().certificate(),
            pki.server().certificate(),
        )
        .unwrap();
        let request = OcspRequestBuilder::new().cert_id(id).build().unwrap();
        assert!(responder.check_signer_validity(clock()).is_ok());
        for now in [
            signer.not_after() + Duration::seconds(1),
            signer.not_before() - Duration::seconds(1),
        ] {
            let error = responder.check_signer_validity(now).unwrap_err();
            assert!(
                matches!(error, Error::ResponderCertificateNotValid { .. }),
                "{error}"
            );
            let message = error.to_string();
            assert!(message.contains(&signer.subject()), "{message}");
            assert!(
                message.contains(&signer.not_after().date().to_string()),
                "{message}"
            );
            let response = responder.answer(&request, now);
            assert_eq!(response.status(), OcspResponseStatus::InternalError);
        }
        // notAfter itself is still valid (RFC 5280 §4.1.2.5).
        assert!(responder.check_signer_validity(signer.not_after()).is_ok());
    }

    #[test]
    fn requests_round_trip() {
        let pki = pki();
        let ca = pki.intermediate().certificate();
        let id =
            OcspCertId::for_certificate(OcspHash::Sha256, ca, pki.client().certificate()).unwrap();
        let der = OcspRequestBuilder::new()
            .cert_id(id.clone())
            .nonce([7; 16])
            .build()
            .unwrap();
        let request = OcspRequest::from_der(&der).unwrap();
        assert_eq!(request.tbs_request.request_list[0].req_cert, *id.x509());
        assert_eq!(request.nonce().unwrap().0.as_bytes(), [7; 16]);
        assert!(OcspRequestBuilder::new().build().is_err());
    }
}
