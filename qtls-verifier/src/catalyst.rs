//! Catalyst dual-key certificates (ITU-T X.509 (10/2019) §7.2.2, §9.8): an alternative
//! signature over the PreTBSCertificate, by the issuer's alternative key.

use const_oid::ObjectIdentifier;
use der::asn1::AnyRef;
use der::{Decode, Encode, Reader, SliceReader};
use rustls_pki_types::SignatureVerificationAlgorithm;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use crate::cert::{algorithm_contents, verify_with, ParsedCert};
use crate::error::Error;

/// subjectAltPublicKeyInfo.
pub(crate) const SUBJECT_ALT_PUBLIC_KEY_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.72");
/// altSignatureAlgorithm.
pub(crate) const ALT_SIGNATURE_ALGORITHM: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.73");
/// altSignatureValue.
pub(crate) const ALT_SIGNATURE_VALUE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.74");

/// Checks `cert`'s alternative signature under `issuer`'s subjectAltPublicKeyInfo ([X.509 (10/2019) §7.2.2](https://www.itu.int/rec/T-REC-X.509-201910-I/en)).
// An issuer with an alternative key signs every child with it too; a child without the
// signature is refused (unless `allow_stripped`), or an attacker who forges only the
// classical signature would strip the extensions and pass.
pub(crate) fn check(
    cert: &ParsedCert,
    issuer: &ParsedCert,
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    allow_stripped: bool,
) -> Result<(), Error> {
    let fail = |why: &str| Error::AlternativeSignature {
        subject: cert.subject(),
        why: why.to_string(),
    };
    let Some(signature_value) = cert.extension(&ALT_SIGNATURE_VALUE) else {
        if issuer.extension(&SUBJECT_ALT_PUBLIC_KEY_INFO).is_some() && !allow_stripped {
            return Err(fail(
                "the issuer carries subjectAltPublicKeyInfo but the certificate has no altSignatureValue",
            ));
        }
        return Ok(());
    };
    let algorithm = cert
        .extension(&ALT_SIGNATURE_ALGORITHM)
        .ok_or_else(|| fail("altSignatureValue without altSignatureAlgorithm"))?;
    let issuer_key = issuer
        .extension(&SUBJECT_ALT_PUBLIC_KEY_INFO)
        .ok_or_else(|| fail("the issuer has no subjectAltPublicKeyInfo"))?;
    let issuer_key = SubjectPublicKeyInfoOwned::from_der(issuer_key)
        .map_err(|e| fail(&format!("issuer's subjectAltPublicKeyInfo: {e}")))?;
    let signature = der::asn1::BitString::from_der(signature_value)
        .map_err(|e| fail(&format!("altSignatureValue: {e}")))?;
    let pre_tbs =
        pre_tbs_certificate(cert).map_err(|e| fail(&format!("PreTBSCertificate: {e}")))?;
    let key_algorithm = algorithm_contents(&issuer_key.algorithm.to_der().unwrap_or_default());
    verify_with(
        algorithms,
        &algorithm_contents(algorithm),
        &key_algorithm,
        issuer_key.subject_public_key.raw_bytes(),
        &pre_tbs,
        signature.raw_bytes(),
    )
    .then_some(())
    .ok_or_else(|| fail("does not verify"))
}

/// The TBSCertificate without its `signature` field and without the altSignatureValue
/// extension; the other extensions stay, in order (X.509 (10/2019) §7.2.2).
pub(crate) fn pre_tbs_certificate(cert: &ParsedCert) -> Result<Vec<u8>, der::Error> {
    let mut tbs = cert.cert.tbs_certificate.clone();
    if let Some(extensions) = tbs.extensions.as_mut() {
        extensions.retain(|ext| ext.extn_id != ALT_SIGNATURE_VALUE);
    }
    let encoded = tbs.to_der()?;
    let outer = AnyRef::from_der(&encoded)?;
    let mut reader = SliceReader::new(outer.value())?;
    let mut fields = Vec::new();
    let mut index = 0;
    // With a version field ([0]) the signature AlgorithmIdentifier is the third element.
    let has_version = outer.value().first() == Some(&0xa0);
    let signature_index = if has_version { 2 } else { 1 };
    while !reader.is_finished() {
        let field: AnyRef<'_> = reader.decode()?;
        if index != signature_index {
            fields.extend(field.to_der()?);
        }
        index += 1;
    }
    let sequence = der::asn1::AnyRef::new(der::Tag::Sequence, &fields)?;
    sequence.to_der()
}
