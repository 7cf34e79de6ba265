//! Composite public keys whose ECDSA point is not in the uncompressed form (0x04 ‖ X ‖ Y), as
//! draft-ietf-lamps-pq-composite-sigs §5.1 requires: X9.62's hybrid forms 0x06/0x07 carry the
//! same point, and aws-lc parses them, so a certificate re-issued with such a key must be
//! refused by the verifier, not only by the curve arithmetic.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use der::asn1::BitString;
use der::{Decode, Encode};
use qtls_pki::CertifiedKeyPair;
use qtls_provider::{CompositeAlgorithm, KeyAlgorithm};
use qtls_verifier::Purpose;
use rustls::pki_types::CertificateDer;
use rustls::{AlertDescription as Alert, CertificateError as CE};

const ALGORITHM: CompositeAlgorithm = CompositeAlgorithm::MlDsa65EcdsaP384Sha512;

/// The two hybrid prefixes for `point`: the one that matches Y's parity (a valid X9.62
/// hybrid encoding of the same point) and the one that does not.
fn hybrid_prefixes(point: &[u8]) -> [u8; 2] {
    let odd = point.last().unwrap() & 1;
    [0x06 | odd, 0x06 | (odd ^ 1)]
}

/// `cert` with the first byte of its composite key's ECDSA point set to `prefix`, signed
/// again by `issuer` (so the chain signature is valid).
fn with_point_prefix(
    cert: &CertificateDer<'_>,
    issuer: &CertifiedKeyPair,
    prefix: u8,
) -> CertificateDer<'static> {
    let mut parsed = x509_cert::Certificate::from_der(cert.as_ref()).unwrap();
    let spki = &mut parsed.tbs_certificate.subject_public_key_info;
    let mut key = spki.subject_public_key.raw_bytes().to_vec();
    key[ALGORITHM.ml_dsa().public_key_len()] = prefix;
    spki.subject_public_key = BitString::from_bytes(&key).unwrap();
    let signature = issuer
        .key()
        .sign(&parsed.tbs_certificate.to_der().unwrap())
        .unwrap();
    parsed.signature = BitString::from_bytes(&signature).unwrap();
    CertificateDer::from(parsed.to_der().unwrap())
}

fn point_of(cert: &CertificateDer<'_>) -> Vec<u8> {
    let parsed = x509_cert::Certificate::from_der(cert.as_ref()).unwrap();
    parsed
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()[ALGORITHM.ml_dsa().public_key_len()..]
        .to_vec()
}

fn assert_refused_key(result: Result<qtls_verifier::VerifiedChain, qtls_verifier::Error>) {
    match result {
        Err(error) => {
            assert_eq!(error.certificate_error(), CE::BadEncoding, "{error}");
            assert!(error.to_string().contains("uncompressed"), "{error}");
        }
        Ok(_) => panic!("a composite key with a non-uncompressed point verified"),
    }
}

#[test]
fn leaf_with_a_hybrid_point_is_bad_certificate() {
    let pki = TestPki::new(KeyAlgorithm::Composite(ALGORITHM));
    let leaf = pki.server_leaf();
    let chain = pki.chain(leaf.certificate());
    let point = point_of(&chain[0]);
    assert_eq!(point[0], 0x04);
    for prefix in hybrid_prefixes(&point) {
        eprintln!("prefix {prefix:#04x}");
        let modified = with_point_prefix(&chain[0], &pki.intermediate, prefix);
        let verifier = verifier(&pki).build_chain_verifier().unwrap();
        assert_refused_key(verifier.verify(
            &modified,
            &chain[1..],
            Purpose::Server,
            None,
            &[],
            now(),
        ));
        let outcome = handshake(
            vec![modified, chain[1].clone()],
            leaf.key(),
            None,
            verifier_for(&pki),
            now(),
        );
        assert_refused(&outcome, &CE::BadEncoding, Alert::BadCertificate);
    }
}

#[test]
fn intermediate_with_a_hybrid_point_is_bad_certificate() {
    let pki = TestPki::new(KeyAlgorithm::Composite(ALGORITHM));
    let leaf = pki.server_leaf();
    let chain = pki.chain(leaf.certificate());
    let point = point_of(&chain[1]);
    for prefix in hybrid_prefixes(&point) {
        eprintln!("prefix {prefix:#04x}");
        let intermediate = with_point_prefix(&chain[1], &pki.root, prefix);
        assert_refused_key(verifier(&pki).build_chain_verifier().unwrap().verify(
            &chain[0],
            &[intermediate],
            Purpose::Server,
            None,
            &[],
            now(),
        ));
    }
}

/// rustls's own verifier does not look at the key's encoding; the provider's composite
/// algorithm (shared by chains and CertificateVerify) refuses the signature instead.
#[test]
fn certificate_verify_under_a_hybrid_point_fails_in_the_provider() {
    let pki = TestPki::new(KeyAlgorithm::Composite(ALGORITHM));
    let leaf = pki.server_leaf();
    let chain = pki.chain(leaf.certificate());
    let prefix = hybrid_prefixes(&point_of(&chain[0]))[0];
    let modified = with_point_prefix(&chain[0], &pki.intermediate, prefix);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.roots()[0].clone()).unwrap();
    let stock =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap();
    let outcome = handshake(
        vec![modified, chain[1].clone()],
        leaf.key(),
        None,
        stock,
        now(),
    );
    assert_refused(&outcome, &CE::BadSignature, Alert::DecryptError);
}

fn verifier_for(pki: &TestPki) -> Arc<qtls_verifier::QtlsServerVerifier> {
    verifier(pki).build().unwrap()
}
