//! CRLs, OCSP responses and the revocation index, for every profile: parsed back with
//! x509-cert / x509-ocsp, their fields checked, their signatures verified with the webpki
//! algorithm objects of qtls-provider and rustls-webpki.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use der::{Decode, Encode};
use qtls_pki::x509_ocsp::{self, OcspResponseStatus};
use qtls_pki::{
    Certificate, CertifiedKeyPair, IndexStatus, KeyPair, OcspCertId, OcspCertStatus, OcspHash,
    OcspRequestBuilder, OcspResponder, OcspResponse, Pki, PkiOptions, Profile, RevocationIndex,
    RevocationList, RevocationReason,
};
use rustls_pki_types::SignatureVerificationAlgorithm;
use time::Duration;

use qtls_test_support::clock::issued as clock;

fn pki(profile: Profile) -> Pki {
    let mut options = PkiOptions::new(clock());
    options.profile = profile;
    Pki::generate(&options).unwrap()
}

/// A second copy of a certificate and key (key pairs are not `Clone`).
fn copy(pair: &CertifiedKeyPair) -> CertifiedKeyPair {
    let key = pair.key().to_pkcs8_pem().unwrap();
    CertifiedKeyPair::new(
        pair.certificate().clone(),
        KeyPair::from_pem(key.as_bytes(), Default::default()).unwrap(),
    )
    .unwrap()
}

fn dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Verifies `signature` over `message` by `signer`'s key with the algorithm named by the DER
/// AlgorithmIdentifier `algorithm`.
fn verify(
    signer: &Certificate,
    algorithm: &spki::AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) {
    let algorithms: [&dyn SignatureVerificationAlgorithm; 8] = [
        qtls_provider::webpki_algs::MLDSA44_ECDSA_P256_SHA256,
        qtls_provider::webpki_algs::MLDSA65_ECDSA_P384_SHA512,
        qtls_provider::webpki_algs::MLDSA87_ECDSA_P384_SHA512,
        qtls_provider::webpki_algs::ML_DSA_44,
        qtls_provider::webpki_algs::ML_DSA_65,
        qtls_provider::webpki_algs::ML_DSA_87,
        webpki::aws_lc_rs::ECDSA_P256_SHA256,
        webpki::aws_lc_rs::ECDSA_P384_SHA384,
    ];
    let algorithm_der = algorithm.to_der().unwrap();
    // AlgorithmIdentifier contents, without the outer SEQUENCE header (short form here).
    let contents = &algorithm_der[2..];
    let spki = signer
        .x509()
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    let verifier = algorithms
        .into_iter()
        .find(|alg| {
            alg.signature_alg_id().as_ref() == contents
                && spki
                    .windows(alg.public_key_alg_id().as_ref().len())
                    .any(|w| w == alg.public_key_alg_id().as_ref())
        })
        .unwrap_or_else(|| panic!("no verifier for {}", algorithm.oid));
    verifier
        .verify_signature(signer.public_key(), message, signature)
        .unwrap_or_else(|e| panic!("signature by {} does not verify: {e:?}", signer.subject()));
}

fn check_crl(profile: Profile) {
    let pki = pki(profile);
    let dir = dir(&format!("qtls-pki-crl-{profile}"));
    pki.write_to_dir(&dir).unwrap();
    let ca = pki.intermediate().certificate();
    let server = pki.server().certificate();
    let client = pki.client().certificate();

    // An empty CRL first: CRLNumber 1.
    let empty = Pki::issue_crl_in_dir(
        &dir,
        Default::default(),
        clock(),
        clock() + Duration::days(7),
    )
    .unwrap();
    assert_eq!(empty.crl_number(), Some(&[1][..]));
    assert!(empty.revoked().is_empty());

    let revoked_at = clock() + Duration::hours(2);
    let entry = Pki::revoke_in_dir(
        &dir,
        server.serial(),
        Some(RevocationReason::KeyCompromise),
        revoked_at,
    )
    .unwrap();
    assert_eq!(
        entry.status,
        IndexStatus::Revoked {
            time: revoked_at,
            reason: Some(RevocationReason::KeyCompromise)
        }
    );
    let this_update = clock() + Duration::hours(3);
    let crl = Pki::issue_crl_in_dir(
        &dir,
        Default::default(),
        this_update,
        this_update + Duration::days(7),
    )
    .unwrap();
    assert_eq!(crl.crl_number(), Some(&[2][..]));
    assert_eq!(
        std::fs::read_to_string(dir.join(Pki::CRL_NUMBER_FILE)).unwrap(),
        "03\n"
    );

    // Parsed back independently with x509-cert.
    let parsed = x509_cert::crl::CertificateList::from_der(crl.der()).unwrap();
    let tbs = &parsed.tbs_cert_list;
    assert_eq!(tbs.issuer, ca.x509().tbs_certificate.subject);
    assert_eq!(tbs.signature, parsed.signature_algorithm);
    assert_eq!(
        tbs.this_update.to_unix_duration().as_secs() as i64,
        this_update.unix_timestamp()
    );
    let entries = tbs.revoked_certificates.as_ref().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].serial_number, ca_serial(server));
    assert_eq!(
        entries[0].revocation_date.to_unix_duration().as_secs() as i64,
        revoked_at.unix_timestamp()
    );
    let reason = &entries[0].crl_entry_extensions.as_ref().unwrap()[0];
    assert_eq!(reason.extn_id, const_oid::db::rfc5280::ID_CE_CRL_REASONS);
    assert_eq!(reason.extn_value.as_bytes(), [0x0a, 0x01, 0x01]); // ENUMERATED keyCompromise
    assert_eq!(crl.authority_key_identifier(), ca.subject_key_identifier());
    assert!(crl.find(client.serial()).is_none());
    assert_eq!(crl.tbs_der(), tbs.to_der().unwrap());
    verify(
        ca,
        &parsed.signature_algorithm,
        crl.tbs_der(),
        parsed.signature.raw_bytes(),
    );

    // A stored CRL reads back from PEM and from DER.
    let pem_path = dir.join(Pki::CRL_FILE);
    std::fs::write(&pem_path, crl.to_pem().unwrap()).unwrap();
    assert_eq!(RevocationList::read_file(&pem_path).unwrap(), crl);
    let der_path = dir.join("intermediate.crl.der");
    std::fs::write(&der_path, crl.der()).unwrap();
    assert_eq!(RevocationList::read_file(&der_path).unwrap(), crl);
}

fn ca_serial(cert: &Certificate) -> x509_cert::serial_number::SerialNumber {
    cert.x509().tbs_certificate.serial_number.clone()
}

#[test]
fn crl_composite() {
    check_crl(Profile::COMPOSITE);
}

#[test]
fn crl_mldsa65() {
    check_crl(Profile::MlDsa65);
}

#[test]
fn crl_mldsa87() {
    check_crl(Profile::MlDsa87);
}

#[test]
fn crl_ecdsa_p384() {
    check_crl(Profile::EcdsaP384);
}

fn check_ocsp(profile: Profile) {
    let pki = pki(profile);
    let ca = pki.intermediate().certificate();
    let server = pki.server().certificate();
    let client = pki.client().certificate();
    let mut index = RevocationIndex::new();
    index.add_issued(server);
    index.add_issued(client);
    let revoked_at = clock() + Duration::minutes(5);
    index
        .revoke(
            server.serial(),
            Some(RevocationReason::Superseded),
            revoked_at,
        )
        .unwrap();
    let now = clock() + Duration::hours(1);

    for delegated in [true, false] {
        let signer = if delegated {
            pki.ocsp_responder()
        } else {
            pki.intermediate()
        };
        let responder =
            OcspResponder::new(ca.clone(), copy(signer), index.clone(), Duration::hours(4))
                .unwrap();

        for hash in [OcspHash::Sha1, OcspHash::Sha256] {
            let server_id = OcspCertId::for_certificate(hash, ca, server).unwrap();
            let client_id = OcspCertId::for_certificate(hash, ca, client).unwrap();
            let unknown_id = OcspCertId::new(hash, ca, &[0x12, 0x34]).unwrap();
            let request = OcspRequestBuilder::new()
                .cert_id(server_id.clone())
                .cert_id(client_id.clone())
                .cert_id(unknown_id.clone())
                .nonce(*b"0123456789abcdef")
                .build()
                .unwrap();
            let der = responder.respond(&request, now);

            // Parsed back independently with x509-ocsp.
            let outer = x509_ocsp::OcspResponse::from_der(&der).unwrap();
            assert_eq!(outer.response_status, OcspResponseStatus::Successful);
            let bytes = outer.response_bytes.unwrap();
            assert_eq!(
                bytes.response_type,
                const_oid::db::rfc6960::ID_PKIX_OCSP_BASIC
            );
            let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
            let data = &basic.tbs_response_data;
            assert_eq!(
                data.responder_id,
                x509_ocsp::ResponderId::ByKey(
                    der::asn1::OctetString::new(
                        OcspHash::Sha1.digest(signer.certificate().public_key())
                    )
                    .unwrap()
                )
            );
            assert_eq!(
                data.produced_at.0.to_unix_duration().as_secs() as i64,
                now.unix_timestamp()
            );
            assert_eq!(data.responses.len(), 3);
            assert_eq!(data.responses[0].cert_id, *server_id.x509());
            assert_eq!(data.nonce().unwrap().0.as_bytes(), b"0123456789abcdef");
            match &basic.certs {
                Some(certs) if delegated => {
                    assert_eq!(certs.len(), 1);
                    assert_eq!(certs[0], *signer.certificate().x509());
                }
                None if !delegated => {}
                other => panic!("certs for delegated={delegated}: {other:?}"),
            }
            verify(
                signer.certificate(),
                &basic.signature_algorithm,
                &data.to_der().unwrap(),
                basic.signature.raw_bytes(),
            );

            // And with qtls-pki's reader.
            let response = OcspResponse::from_der(der).unwrap();
            assert_eq!(
                response.tbs_response_data_der().unwrap(),
                data.to_der().unwrap()
            );
            assert_eq!(response.nonce().unwrap(), b"0123456789abcdef");
            let server_single = response.find(&server_id).unwrap();
            assert_eq!(
                server_single.status,
                OcspCertStatus::Revoked {
                    time: revoked_at,
                    reason: Some(RevocationReason::Superseded)
                }
            );
            assert_eq!(server_single.this_update, now);
            assert_eq!(server_single.next_update, Some(now + Duration::hours(4)));
            assert_eq!(
                response.find(&client_id).unwrap().status,
                OcspCertStatus::Good
            );
            assert_eq!(
                response.find(&unknown_id).unwrap().status,
                OcspCertStatus::Unknown
            );
            assert_eq!(
                response.certificates().unwrap().len(),
                usize::from(delegated)
            );
        }
    }
}

#[test]
fn ocsp_composite() {
    check_ocsp(Profile::COMPOSITE);
}

#[test]
fn ocsp_mldsa65() {
    check_ocsp(Profile::MlDsa65);
}

#[test]
fn ocsp_mldsa87() {
    check_ocsp(Profile::MlDsa87);
}

#[test]
fn ocsp_ecdsa_p384() {
    check_ocsp(Profile::EcdsaP384);
}

#[test]
fn responder_answers_bad_requests_with_error_statuses() {
    let pki = pki(Profile::EcdsaP384);
    let ca = pki.intermediate().certificate();
    let mut index = RevocationIndex::new();
    index.add_issued(pki.server().certificate());
    let responder = OcspResponder::new(
        ca.clone(),
        copy(pki.ocsp_responder()),
        index,
        Duration::hours(1),
    )
    .unwrap();
    let status = |request: &[u8]| {
        OcspResponse::from_der(responder.respond(request, clock()))
            .unwrap()
            .status()
    };

    assert_eq!(status(b""), OcspResponseStatus::MalformedRequest);
    assert_eq!(
        status(b"\x30\x03\x02\x01\x00"),
        OcspResponseStatus::MalformedRequest
    );
    let empty_list = x509_ocsp::OcspRequest {
        tbs_request: Default::default(),
        optional_signature: None,
    }
    .to_der()
    .unwrap();
    assert_eq!(status(&empty_list), OcspResponseStatus::MalformedRequest);

    // A CertID naming another issuer (the root), alone or beside a good one.
    let good = OcspCertId::for_certificate(OcspHash::Sha1, ca, pki.server().certificate()).unwrap();
    let other_issuer =
        OcspCertId::for_certificate(OcspHash::Sha1, pki.root().certificate(), ca).unwrap();
    let request = OcspRequestBuilder::new()
        .cert_id(other_issuer)
        .build()
        .unwrap();
    assert_eq!(status(&request), OcspResponseStatus::Unauthorized);
    let request = OcspRequestBuilder::new()
        .cert_id(good.clone())
        .cert_id(OcspCertId::for_certificate(OcspHash::Sha1, pki.root().certificate(), ca).unwrap())
        .build()
        .unwrap();
    assert_eq!(status(&request), OcspResponseStatus::Unauthorized);

    // A hash algorithm the responder does not know cannot be matched to the issuer.
    let mut md5 = x509_ocsp::OcspRequest::from_der(
        &OcspRequestBuilder::new()
            .cert_id(good.clone())
            .build()
            .unwrap(),
    )
    .unwrap();
    md5.tbs_request.request_list[0].req_cert.hash_algorithm.oid = const_oid::db::rfc5912::ID_MD_5;
    assert_eq!(
        status(&md5.to_der().unwrap()),
        OcspResponseStatus::Unauthorized
    );

    // A request without a nonce gets a response without one; SHA-384 CertIDs work too.
    let sha384 =
        OcspCertId::for_certificate(OcspHash::Sha384, ca, pki.server().certificate()).unwrap();
    let response = OcspResponse::from_der(
        responder.respond(
            &OcspRequestBuilder::new()
                .cert_id(sha384.clone())
                .build()
                .unwrap(),
            clock(),
        ),
    )
    .unwrap();
    assert_eq!(response.status(), OcspResponseStatus::Successful);
    assert!(response.nonce().is_none());
    assert_eq!(response.find(&sha384).unwrap().status, OcspCertStatus::Good);

    // A responder certificate that is not authorized is refused up front.
    let refused = OcspResponder::new(
        ca.clone(),
        copy(pki.server()),
        RevocationIndex::new(),
        Duration::hours(1),
    )
    .unwrap_err();
    assert!(refused.to_string().contains("OCSPSigning"), "{refused}");
}

#[test]
fn write_to_dir_records_issued_certificates_and_keeps_revocations() {
    let pki = pki(Profile::EcdsaP384);
    let dir = dir("qtls-pki-revocation-index");
    pki.write_to_dir(&dir).unwrap();
    let index_path = dir.join(RevocationIndex::FILE_NAME);
    let index = RevocationIndex::read(&index_path).unwrap();
    let serials: Vec<_> = index.entries().iter().map(|e| e.serial.clone()).collect();
    assert_eq!(
        serials,
        [pki.server(), pki.client(), pki.ocsp_responder()].map(|pair| qtls_pki::parse_serial(
            &qtls_pki::serial_hex(pair.certificate().serial())
        )
        .unwrap())
    );
    assert!(index
        .entries()
        .iter()
        .all(|e| e.status == IndexStatus::Valid));
    let text = std::fs::read_to_string(&index_path).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("V\t260401000000Z\t\t"), "{first}");
    assert!(
        first.ends_with("\tunknown\t/O=Q-TLS/CN=localhost"),
        "{first}"
    );

    Pki::revoke_in_dir(&dir, pki.client().certificate().serial(), None, clock()).unwrap();
    let again = Pki::revoke_in_dir(&dir, pki.client().certificate().serial(), None, clock());
    assert!(again.unwrap_err().to_string().contains("already revoked"));
    let unknown = Pki::revoke_in_dir(&dir, &[1, 2, 3], None, clock()).unwrap_err();
    assert!(unknown.to_string().contains("010203"), "{unknown}");

    // Rewriting the same hierarchy keeps the revocation; a new hierarchy starts afresh.
    pki.write_to_dir(&dir).unwrap();
    let index = RevocationIndex::read(&index_path).unwrap();
    assert!(matches!(
        index
            .get(pki.client().certificate().serial())
            .unwrap()
            .status,
        IndexStatus::Revoked { reason: None, .. }
    ));
    assert_eq!(index.entries().len(), 3);
    let other = self::pki(Profile::EcdsaP384);
    other.write_to_dir(&dir).unwrap();
    let index = RevocationIndex::read(&index_path).unwrap();
    assert_eq!(index.revoked().len(), 0);
    assert!(index.get(other.client().certificate().serial()).is_some());
}

/// The root CA's revocation index and CRL: `write_to_dir` lists the intermediate CA in
/// `root-revoked.txt`, `revoke_intermediate_in_dir` revokes it there (leaving the
/// intermediate's index alone), and `write_issuer_crl_in_dir(CaLevel::Root)` signs a CRL
/// listing it with the root key, numbered apart from the intermediate's CRLs; a key that is
/// not the directory's root CA is refused. The composite profile: the signature checked with
/// qtls-provider's verifier.
#[test]
fn root_crl_lists_the_revoked_intermediate() {
    use qtls_pki::CaLevel;
    let pki = pki(Profile::COMPOSITE);
    let dir = dir("qtls-pki-root-crl");
    let written = pki.write_to_dir(&dir).unwrap();
    assert!(written.contains(&dir.join(Pki::ROOT_INDEX_FILE)));
    let intermediate = pki.intermediate().certificate();
    let root_index = RevocationIndex::read(&dir.join(Pki::ROOT_INDEX_FILE)).unwrap();
    assert_eq!(root_index.entries().len(), 1);
    assert_eq!(
        root_index.get(intermediate.serial()).unwrap().status,
        IndexStatus::Valid
    );

    let out = dir.join(Pki::ROOT_CRL_FILE);
    let next = clock() + Duration::days(7);
    let refused = Pki::write_issuer_crl_in_dir(
        &dir,
        CaLevel::Root,
        pki.intermediate(),
        clock(),
        next,
        &out,
        false,
    )
    .unwrap_err();
    assert!(
        matches!(refused, qtls_pki::Error::InvalidIssuer { .. }),
        "{refused}"
    );
    assert!(!out.exists());
    let empty =
        Pki::write_issuer_crl_in_dir(&dir, CaLevel::Root, pki.root(), clock(), next, &out, false)
            .unwrap();
    assert_eq!(empty.crl_number(), Some(&[1][..]));
    assert!(empty.revoked().is_empty());

    let at = clock() + Duration::hours(1);
    let entry =
        Pki::revoke_intermediate_in_dir(&dir, Some(RevocationReason::CaCompromise), at).unwrap();
    assert_eq!(
        entry.serial,
        qtls_pki::parse_serial(&qtls_pki::serial_hex(intermediate.serial())).unwrap()
    );
    assert!(Pki::revoke_intermediate_in_dir(&dir, None, at).is_err());
    let index = RevocationIndex::read(&dir.join(RevocationIndex::FILE_NAME)).unwrap();
    assert!(index.revoked().is_empty(), "the intermediate's own index");

    let crl = Pki::write_issuer_crl_in_dir(&dir, CaLevel::Root, pki.root(), at, next, &out, true)
        .unwrap();
    assert_eq!(crl.crl_number(), Some(&[2][..]));
    assert_eq!(
        std::fs::read_to_string(dir.join(Pki::ROOT_CRL_NUMBER_FILE)).unwrap(),
        "03\n"
    );
    assert!(!dir.join(Pki::CRL_NUMBER_FILE).exists());
    let read = RevocationList::read_file(&out).unwrap();
    assert_eq!(read.der(), crl.der());
    assert_eq!(read.issuer(), pki.root().certificate().subject());
    assert_eq!(
        read.find(intermediate.serial()).unwrap().reason,
        Some(RevocationReason::CaCompromise)
    );
    let parsed = x509_cert::crl::CertificateList::from_der(crl.der()).unwrap();
    verify(
        pki.root().certificate(),
        &parsed.signature_algorithm,
        crl.tbs_der(),
        parsed.signature.raw_bytes(),
    );

    // The intermediate's CRL is still numbered from 1 and lists nothing.
    let intermediate_crl = Pki::write_crl_in_dir(
        &dir,
        pki.intermediate(),
        at,
        next,
        &dir.join(Pki::CRL_FILE),
        false,
    )
    .unwrap();
    assert_eq!(intermediate_crl.crl_number(), Some(&[1][..]));
    assert!(intermediate_crl.revoked().is_empty());

    // Rewriting the same hierarchy keeps the root's revocation too.
    pki.write_to_dir(&dir).unwrap();
    let root_index = RevocationIndex::read(&dir.join(Pki::ROOT_INDEX_FILE)).unwrap();
    assert_eq!(root_index.revoked().len(), 1);
}

/// `PkiOptions::ca_crl_url` puts a CRL distribution point in the intermediate CA certificate
/// only; `crl_url` stays in the end-entity certificates.
#[test]
fn ca_crl_url_goes_into_the_intermediate_certificate() {
    use const_oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS;
    let mut options = PkiOptions::new(clock());
    options.profile = Profile::EcdsaP384;
    options.ca_crl_url = Some("http://127.0.0.1:9/root.crl".into());
    options.crl_url = Some("http://127.0.0.1:9/intermediate.crl".into());
    let pki = Pki::generate(&options).unwrap();
    let dp = |pair: &CertifiedKeyPair| {
        pair.certificate()
            .extension(&ID_CE_CRL_DISTRIBUTION_POINTS)
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    };
    assert!(dp(pki.intermediate())
        .unwrap()
        .contains("127.0.0.1:9/root.crl"));
    assert!(dp(pki.root()).is_none());
    for leaf in [pki.server(), pki.client()] {
        let value = dp(leaf).unwrap();
        assert!(
            value.contains("intermediate.crl") && !value.contains("root.crl"),
            "{value}"
        );
    }
}
