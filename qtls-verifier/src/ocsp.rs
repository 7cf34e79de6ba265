//! OCSP (RFC 6960): building requests and accepting responses.

use std::time::Duration;

use aws_lc_rs::digest;
use const_oid::ObjectIdentifier;
use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use rustls_pki_types::{SignatureVerificationAlgorithm, UnixTime};
use spki_shim::AlgorithmIdentifierOwned;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    ResponderId, TbsRequest,
};

use crate::cert::{algorithm_contents, verify_with, ParsedCert};
use crate::error::OcspError;

mod spki_shim {
    pub(crate) use x509_cert::spki::AlgorithmIdentifierOwned;
}

/// id-pkix-ocsp-basic.
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-kp-OCSPSigning (RFC 6960 §4.2.2.2).
const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// A certificate's status as an accepted OCSP response gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OcspStatus {
    Good,
    Revoked,
    Unknown,
}

/// An accepted answer and how long it may be relied on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OcspAnswer {
    pub(crate) status: OcspStatus,
    /// Until when the answer may be cached: nextUpdate, else thisUpdate + the maximum age.
    pub(crate) valid_until: UnixTime,
}

/// What an OCSP answer is checked against.
pub(crate) struct OcspContext<'a> {
    pub(crate) cert: &'a ParsedCert,
    pub(crate) issuer: &'a ParsedCert,
    pub(crate) algorithms: &'a [&'a dyn SignatureVerificationAlgorithm],
    pub(crate) now: UnixTime,
    /// Tolerated clock difference to the responder.
    pub(crate) skew: Duration,
    /// How old a response without nextUpdate may be.
    pub(crate) max_age: Duration,
}

/// An OCSPRequest for `cert` (SHA-1 CertID, the hash every responder supports).
pub(crate) fn request_der(cert: &ParsedCert, issuer: &ParsedCert) -> Result<Vec<u8>, OcspError> {
    let request = OcspRequest {
        tbs_request: TbsRequest {
            request_list: vec![Request {
                req_cert: cert_id(ID_SHA1, cert, issuer)?,
                single_request_extensions: None,
            }],
            ..TbsRequest::default()
        },
        optional_signature: None,
    };
    request
        .to_der()
        .map_err(|e| OcspError::Malformed(format!("encoding the request: {e}")))
}

fn hash(algorithm: ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    let algorithm = match algorithm {
        ID_SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        ID_SHA256 => &digest::SHA256,
        _ => return None,
    };
    Some(digest::digest(algorithm, data).as_ref().to_vec())
}

fn cert_id(
    hash_algorithm: ObjectIdentifier,
    cert: &ParsedCert,
    issuer: &ParsedCert,
) -> Result<CertId, OcspError> {
    let bad = |e: der::Error| OcspError::Malformed(e.to_string());
    let name_hash = hash(hash_algorithm, &issuer.subject_der())
        .ok_or_else(|| OcspError::Malformed("hash".into()))?;
    let key_hash = hash(hash_algorithm, issuer.public_key())
        .ok_or_else(|| OcspError::Malformed("hash".into()))?;
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: hash_algorithm,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(name_hash).map_err(bad)?,
        issuer_key_hash: OctetString::new(key_hash).map_err(bad)?,
        serial_number: SerialNumber::new(cert.serial()).map_err(bad)?,
    })
}

/// Whether `id` names `cert` as issued by `issuer` (RFC 6960 §4.1.1), for either hash.
fn cert_id_matches(id: &CertId, cert: &ParsedCert, issuer: &ParsedCert) -> bool {
    let Some(name_hash) = hash(id.hash_algorithm.oid, &issuer.subject_der()) else {
        return false;
    };
    let Some(key_hash) = hash(id.hash_algorithm.oid, issuer.public_key()) else {
        return false;
    };
    id.issuer_name_hash.as_bytes() == name_hash.as_slice()
        && id.issuer_key_hash.as_bytes() == key_hash.as_slice()
        && id.serial_number.as_bytes() == cert.serial()
}

/// Accepts an OCSPResponse for `context.cert` (RFC 6960 §3.2): a successful basic response
/// with a matching CertID, signed by the issuer or by a responder the issuer certified for
/// OCSPSigning, current at `now` (± skew).
pub(crate) fn check_response(
    der: &[u8],
    context: &OcspContext<'_>,
) -> Result<OcspAnswer, OcspError> {
    let response = OcspResponse::from_der(der).map_err(|e| OcspError::Malformed(e.to_string()))?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(OcspError::Status(format!("{:?}", response.response_status)));
    }
    let bytes = response
        .response_bytes
        .ok_or_else(|| OcspError::Malformed("successful response without responseBytes".into()))?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(OcspError::Malformed(format!(
            "response type {} is not id-pkix-ocsp-basic",
            bytes.response_type
        )));
    }
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes())
        .map_err(|e| OcspError::Malformed(e.to_string()))?;
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|single| cert_id_matches(&single.cert_id, context.cert, context.issuer))
        .ok_or(OcspError::NoMatchingCertId)?;

    verify_signature(&basic, context)?;

    let now = context.now.as_secs();
    let skew = context.skew.as_secs();
    let this_update = unix_secs(&single.this_update.0);
    if this_update > now + skew {
        return Err(OcspError::Stale(format!(
            "thisUpdate is {}s in the future",
            this_update - now
        )));
    }
    let valid_until = match &single.next_update {
        Some(next) => {
            let next_update = unix_secs(&next.0);
            if next_update + skew <= now {
                return Err(OcspError::Stale(format!(
                    "nextUpdate passed {}s ago",
                    now - next_update
                )));
            }
            next_update
        }
        None => {
            let expires = this_update + context.max_age.as_secs();
            if expires + skew <= now {
                return Err(OcspError::Stale(format!(
                    "no nextUpdate and thisUpdate is over {}s old",
                    context.max_age.as_secs()
                )));
            }
            expires
        }
    };
    let status = match single.cert_status {
        CertStatus::Good(_) => OcspStatus::Good,
        CertStatus::Revoked(_) => OcspStatus::Revoked,
        CertStatus::Unknown(_) => OcspStatus::Unknown,
    };
    Ok(OcspAnswer {
        status,
        valid_until: UnixTime::since_unix_epoch(Duration::from_secs(valid_until)),
    })
}

fn unix_secs(time: &der::asn1::GeneralizedTime) -> u64 {
    time.to_unix_duration().as_secs()
}

/// RFC 6960 §4.2.2.2: the signer is the issuer, or a certificate the issuer signed directly
/// with id-kp-OCSPSigning in its EKU, valid now.
fn verify_signature(basic: &BasicOcspResponse, context: &OcspContext<'_>) -> Result<(), OcspError> {
    let tbs = basic
        .tbs_response_data
        .to_der()
        .map_err(|e| OcspError::Malformed(e.to_string()))?;
    let signature_algorithm =
        algorithm_contents(&basic.signature_algorithm.to_der().unwrap_or_default());
    let signature = basic.signature.raw_bytes();
    let responder = &basic.tbs_response_data.responder_id;

    if names(responder, context.issuer) {
        return verify_with(
            context.algorithms,
            &signature_algorithm,
            &context.issuer.public_key_algorithm(),
            context.issuer.public_key(),
            &tbs,
            signature,
        )
        .then_some(())
        .ok_or(OcspError::BadSignature);
    }

    let candidates = basic.certs.iter().flatten().filter_map(|cert| {
        let der = cert.to_der().ok()?;
        ParsedCert::from_der(&der).ok()
    });
    for signer in candidates {
        if !names(responder, &signer) {
            continue;
        }
        let who = signer.subject();
        if signer.cert.tbs_certificate.issuer != context.issuer.cert.tbs_certificate.subject
            || !signer.is_signed_by(
                context.issuer.public_key(),
                &context.issuer.public_key_algorithm(),
                context.algorithms,
            )
        {
            return Err(OcspError::UnauthorizedSigner(format!(
                "{who} is not certified by the certificate's issuer"
            )));
        }
        if !has_ocsp_signing(&signer) {
            return Err(OcspError::UnauthorizedSigner(format!(
                "{who} lacks id-kp-OCSPSigning"
            )));
        }
        let validity = &signer.cert.tbs_certificate.validity;
        let now = context.now.as_secs();
        if validity.not_before.to_unix_duration().as_secs() > now + context.skew.as_secs()
            || validity.not_after.to_unix_duration().as_secs() + context.skew.as_secs() < now
        {
            return Err(OcspError::UnauthorizedSigner(format!(
                "{who} is not valid now"
            )));
        }
        return verify_with(
            context.algorithms,
            &signature_algorithm,
            &signer.public_key_algorithm(),
            signer.public_key(),
            &tbs,
            signature,
        )
        .then_some(())
        .ok_or(OcspError::BadSignature);
    }
    Err(OcspError::UnauthorizedSigner(
        "the responder is neither the issuer nor an included certificate".into(),
    ))
}

/// Whether a ResponderID names `cert` (byName: its subject; byKey: SHA-1 of its key).
fn names(responder: &ResponderId, cert: &ParsedCert) -> bool {
    match responder {
        ResponderId::ByName(name) => *name == cert.cert.tbs_certificate.subject,
        ResponderId::ByKey(key_hash) => {
            hash(ID_SHA1, cert.public_key()).as_deref() == Some(key_hash.as_bytes())
        }
    }
}

fn has_ocsp_signing(cert: &ParsedCert) -> bool {
    use x509_cert::ext::pkix::ExtendedKeyUsage;
    cert.cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|ext| ext.extn_id == const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE)
        .filter_map(|ext| ExtendedKeyUsage::from_der(ext.extn_value.as_bytes()).ok())
        .any(|eku| eku.0.contains(&ID_KP_OCSP_SIGNING))
}
