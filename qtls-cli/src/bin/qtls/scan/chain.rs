//! The chain as sent, its OCSP staple and the certificate authorities a server asks for.

use der::{Decode, Encode};
use qtls_provider::{CompositeAlgorithm, MlDsaLevel};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::report::{ChainEntry, Ocsp};

fn signature_algorithm_name(oid: der::oid::ObjectIdentifier) -> (String, bool) {
    for level in MlDsaLevel::ALL {
        if level.oid() == oid {
            return (level.name().to_string(), true);
        }
    }
    for alg in CompositeAlgorithm::ALL {
        if alg.oid() == oid {
            return (alg.name().to_string(), true);
        }
    }
    let name = der::oid::db::DB
        .by_oid(&oid)
        .map(str::to_string)
        .unwrap_or_else(|| oid.to_string());
    (name, false)
}

fn is_pq_key_name(name: &str) -> bool {
    name.starts_with("ML-DSA") || name.starts_with("MLDSA")
}

fn rfc3339(time: &x509_cert::time::Time) -> String {
    let secs = time.to_unix_duration().as_secs() as i64;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

pub(super) fn chain_entry(der_cert: &CertificateDer<'_>) -> ChainEntry {
    match x509_cert::Certificate::from_der(der_cert.as_ref()) {
        Ok(cert) => {
            let tbs = &cert.tbs_certificate;
            let key_algorithm = tbs
                .subject_public_key_info
                .to_der()
                .map(|spki| qtls_provider::public_key_algorithm_name(&spki))
                .unwrap_or_else(|e| format!("unreadable ({e})"));
            let (signature_algorithm, pq_signature) =
                signature_algorithm_name(cert.signature_algorithm.oid);
            ChainEntry {
                subject: tbs.subject.to_string(),
                issuer: tbs.issuer.to_string(),
                post_quantum: pq_signature && is_pq_key_name(&key_algorithm),
                key_algorithm,
                signature_algorithm,
                not_before: rfc3339(&tbs.validity.not_before),
                not_after: rfc3339(&tbs.validity.not_after),
                bytes: der_cert.as_ref().len(),
            }
        }
        Err(e) => ChainEntry {
            subject: format!("(does not parse: {e})"),
            issuer: String::new(),
            key_algorithm: String::new(),
            signature_algorithm: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            bytes: der_cert.as_ref().len(),
            post_quantum: false,
        },
    }
}

pub(super) fn staple_report(
    staple: &[u8],
    certs: &[CertificateDer<'static>],
    verifier: Option<&qtls_verifier::ChainVerifier>,
    issuer: Option<&CertificateDer<'static>>,
) -> Ocsp {
    fn significant(serial: &[u8]) -> &[u8] {
        let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
        &serial[start..]
    }
    if staple.is_empty() {
        return Ocsp::default();
    }
    let mut report = Ocsp {
        stapled: true,
        bytes: staple.len(),
        ..Ocsp::default()
    };
    let Some(leaf) = certs.first() else {
        return report;
    };
    match (
        qtls_pki::OcspResponse::from_der(staple.to_vec()),
        qtls_pki::Certificate::from_der(leaf.to_vec()),
    ) {
        (Ok(response), Ok(certificate)) => {
            let serial = significant(certificate.serial());
            let single = response
                .responses()
                .iter()
                .find(|single| significant(&single.cert_id.serial()) == serial);
            report.status = Some(
                match single.map(|s| &s.status) {
                    Some(qtls_pki::OcspCertStatus::Good) => "good",
                    Some(qtls_pki::OcspCertStatus::Revoked { .. }) => "revoked",
                    _ => "unknown",
                }
                .into(),
            );
            report.next_update = single.and_then(|s| s.next_update).and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            });
        }
        _ => report.status = Some("invalid".into()),
    }
    if let (Some(verifier), Some(issuer)) = (verifier, issuer) {
        match verifier.check_ocsp_response(staple, leaf, issuer, UnixTime::now()) {
            Ok(_) => report.verified = Some(true),
            Err(e) => {
                report.verified = Some(false);
                report.error = Some(e.to_string());
            }
        }
    }
    report
}

/// A certificate_authorities entry as RFC 4514 text: rustls hands over the Name's contents
/// without its outer SEQUENCE header (RFC 8446 §4.2.4 carries the whole DER Name).
pub(super) fn distinguished_name(dn: &[u8]) -> String {
    let parse = |der: &[u8]| x509_cert::name::Name::from_der(der).map(|n| n.to_string());
    if let Ok(name) = parse(dn) {
        return name;
    }
    let mut wrapped = vec![0x30];
    match u32::try_from(dn.len()) {
        Ok(len) if len < 0x80 => wrapped.push(len as u8),
        Ok(len) => {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            wrapped.push(0x80 | (4 - skip) as u8);
            wrapped.extend_from_slice(&bytes[skip..]);
        }
        Err(_) => return hex::encode(dn),
    }
    wrapped.extend_from_slice(dn);
    parse(&wrapped).unwrap_or_else(|_| hex::encode(dn))
}
