//! Chain verification without revocation (RFC 5280 §6): each failure as the exact rustls
//! error and the alert (RFC 8446 §6.2) the server receives in a real handshake.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use qtls_pki::{CertificateBuilder, CertifiedKeyPair, Usage};
use qtls_provider::{Backend, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel};
use qtls_verifier::{ChainVerifier, Error, Purpose};
use rustls::{AlertDescription as Alert, CertificateError as CE};

const COMPOSITE: KeyAlgorithm = KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512);

fn server_verifier(pki: &TestPki) -> Arc<qtls_verifier::QtlsServerVerifier> {
    verifier(pki).build().unwrap()
}

#[test]
fn valid_chains_of_every_algorithm_verify_and_handshake() {
    for algorithm in [
        COMPOSITE,
        KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
        KeyAlgorithm::Ecdsa(EcCurve::P384),
    ] {
        let pki = TestPki::new(algorithm);
        let leaf = pki.server_leaf();
        let chain = pki.chain(leaf.certificate());
        let verified = verifier(&pki)
            .build_chain_verifier()
            .unwrap()
            .verify(
                &chain[0],
                &chain[1..],
                Purpose::Server,
                Some(&"localhost".try_into().unwrap()),
                &[],
                now(),
            )
            .unwrap();
        assert_eq!(verified.certificates.len(), 3);
        assert_eq!(verified.end_entity().subject, "CN=localhost");
        assert_eq!(verified.certificates[2].subject, "CN=Test Root");
        let expected_name = match algorithm {
            KeyAlgorithm::Ecdsa(_) => "ecdsa-with-SHA384",
            other => other.name(),
        };
        assert_eq!(verified.end_entity().signature_algorithm, expected_name);
        assert_eq!(verified.subject_alt_names, vec!["DNS:localhost"]);
        let outcome = handshake(chain, leaf.key(), None, server_verifier(&pki), now());
        assert!(
            outcome.client.is_ok() && outcome.server.is_ok(),
            "{algorithm}: {:?}",
            outcome.client
        );
    }
}

#[test]
fn expired_and_not_yet_valid() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    for (time, expected) in [
        (at(ISSUED + 400 * DAY), CE::Expired),
        (at(ISSUED - DAY), CE::NotValidYet),
    ] {
        let outcome = handshake(
            pki.chain(leaf.certificate()),
            leaf.key(),
            None,
            server_verifier(&pki),
            time,
        );
        let expected_context = match expected {
            CE::Expired => CE::ExpiredContext {
                time,
                not_after: at(ISSUED + 365 * DAY),
            },
            _ => CE::NotValidYetContext {
                time,
                not_before: at(ISSUED),
            },
        };
        assert_refused(&outcome, &expected_context, Alert::CertificateExpired);
    }
}

/// Flip one byte of the leaf's signature: in the ML-DSA half, then in the ECDSA half.
#[test]
fn bad_signature_in_either_half_of_a_composite_is_bad_certificate() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    let der = leaf.certificate().der().to_vec();
    let signature_len = leaf.certificate().x509().signature.raw_bytes().len();
    let signature_start = der.len() - signature_len;
    let ml_dsa_len = MlDsaLevel::MlDsa65.signature_len();
    // The last byte of the ECDSA half is the low byte of s: changing it breaks only that half.
    for (half, offset) in [("ML-DSA", 100), ("ECDSA", signature_len - 1)] {
        assert!(half != "ECDSA" || offset > ml_dsa_len);
        let mut bad = der.clone();
        bad[signature_start + offset] ^= 0x01;
        let chain = vec![
            rustls::pki_types::CertificateDer::from(bad),
            pki.intermediate.certificate().to_certificate_der(),
        ];
        let direct = verifier(&pki).build_chain_verifier().unwrap().verify(
            &chain[0],
            &chain[1..],
            Purpose::Server,
            None,
            &[],
            now(),
        );
        assert!(
            matches!(
                direct,
                Err(Error::Chain(webpki::Error::InvalidSignatureForPublicKey))
            ),
            "{half}: {direct:?}"
        );
        let outcome = handshake(chain, leaf.key(), None, server_verifier(&pki), now());
        assert_refused(&outcome, &CE::BadEncoding, Alert::BadCertificate);
    }
}

#[test]
fn unknown_ca() {
    let pki = TestPki::new(COMPOSITE);
    let other = TestPki::with_root_name(COMPOSITE, "Other Root");
    let leaf = pki.server_leaf();
    let outcome = handshake(
        pki.chain(leaf.certificate()),
        leaf.key(),
        None,
        server_verifier(&other),
        now(),
    );
    assert_refused(&outcome, &CE::UnknownIssuer, Alert::UnknownCA);
}

#[test]
fn name_mismatch() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.leaf(pki.leaf_builder(Usage::ServerLeaf, "example.com"));
    let outcome = handshake(
        pki.chain(leaf.certificate()),
        leaf.key(),
        None,
        server_verifier(&pki),
        now(),
    );
    assert_refused(
        &outcome,
        &CE::NotValidForNameContext {
            expected: "localhost".try_into().unwrap(),
            presented: vec![],
        },
        Alert::BadCertificate,
    );
}

#[test]
fn wildcard_and_ip_names() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.leaf(
        CertificateBuilder::new(Usage::ServerLeaf, "wild")
            .validity(issued(), issued() + time::Duration::days(30))
            .hosts(["*.example.com", "127.0.0.1"]),
    );
    let chain = pki.chain(leaf.certificate());
    let verifier = verifier(&pki).build_chain_verifier().unwrap();
    for name in ["a.example.com", "127.0.0.1"] {
        verifier
            .verify(
                &chain[0],
                &chain[1..],
                Purpose::Server,
                Some(&name.try_into().unwrap()),
                &[],
                now(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in ["example.com", "a.b.example.com", "127.0.0.2"] {
        let error = verifier
            .verify(
                &chain[0],
                &chain[1..],
                Purpose::Server,
                Some(&name.try_into().unwrap()),
                &[],
                now(),
            )
            .unwrap_err();
        assert!(
            matches!(error.certificate_error(), CE::NotValidForNameContext { .. }),
            "{name}"
        );
    }
}

#[test]
fn wrong_eku_is_unsupported_certificate() {
    let pki = TestPki::new(COMPOSITE);
    let client_leaf = pki.leaf(pki.leaf_builder(Usage::ClientLeaf, "localhost"));
    let outcome = handshake(
        pki.chain(client_leaf.certificate()),
        client_leaf.key(),
        None,
        server_verifier(&pki),
        now(),
    );
    assert_refused(&outcome, &CE::InvalidPurpose, Alert::UnsupportedCertificate);
}

#[test]
fn ca_false_intermediate_is_bad_certificate() {
    let pki = TestPki::new(COMPOSITE);
    // A leaf certificate (CA:FALSE) that nevertheless signs the server's certificate.
    let not_a_ca = pki.leaf(pki.leaf_builder(Usage::ServerLeaf, "not-a-ca"));
    let key = KeyPair::generate(COMPOSITE, Backend::AwsLc).unwrap();
    let leaf = pki
        .leaf_builder(Usage::ServerLeaf, "localhost")
        .danger_signed_by_any_issuer(&key, &not_a_ca)
        .unwrap();
    let chain = vec![
        leaf.to_certificate_der(),
        not_a_ca.certificate().to_certificate_der(),
        pki.intermediate.certificate().to_certificate_der(),
    ];
    let direct = verifier(&pki).build_chain_verifier().unwrap().verify(
        &chain[0],
        &chain[1..],
        Purpose::Server,
        None,
        &[],
        now(),
    );
    assert!(
        matches!(direct, Err(Error::Chain(webpki::Error::EndEntityUsedAsCa))),
        "{direct:?}"
    );
    let outcome = handshake(chain, &key, None, server_verifier(&pki), now());
    assert_refused(&outcome, &CE::BadEncoding, Alert::BadCertificate);
}

#[test]
fn path_too_long_is_refused() {
    let pki = TestPki::new(COMPOSITE);
    // The intermediate has pathLenConstraint 0, yet a second CA hangs below it.
    let sub_key = KeyPair::generate(COMPOSITE, Backend::AwsLc).unwrap();
    let sub = CertificateBuilder::new(Usage::IntermediateCa { path_len: None }, "Sub CA")
        .validity(issued(), issued() + time::Duration::days(3650))
        .danger_signed_by_any_issuer(&sub_key, &pki.intermediate)
        .unwrap();
    let sub = CertifiedKeyPair::new(sub, sub_key).unwrap();
    let key = KeyPair::generate(COMPOSITE, Backend::AwsLc).unwrap();
    let leaf = pki
        .leaf_builder(Usage::ServerLeaf, "localhost")
        .signed_by(&key, &sub)
        .unwrap();
    let chain = vec![
        leaf.to_certificate_der(),
        sub.certificate().to_certificate_der(),
        pki.intermediate.certificate().to_certificate_der(),
    ];
    let direct = verifier(&pki).build_chain_verifier().unwrap().verify(
        &chain[0],
        &chain[1..],
        Purpose::Server,
        None,
        &[],
        now(),
    );
    assert!(
        matches!(
            direct,
            Err(Error::Chain(webpki::Error::PathLenConstraintViolated))
        ),
        "{direct:?}"
    );
    let outcome = handshake(chain, &key, None, server_verifier(&pki), now());
    assert_refused(&outcome, &CE::BadEncoding, Alert::BadCertificate);
}

#[test]
fn post_quantum_policy_refuses_classical_chains_and_signatures() {
    let classical = TestPki::new(KeyAlgorithm::Ecdsa(EcCurve::P384));
    let leaf = classical.server_leaf();
    let chain = classical.chain(leaf.certificate());
    let strict = verifier(&classical)
        .require_pq_signatures(true)
        .build_chain_verifier()
        .unwrap();
    let error = strict
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap_err();
    assert!(matches!(error, Error::NotPostQuantum { .. }), "{error}");
    // In a handshake the client offers only PQ schemes, so the ECDSA server cannot sign.
    let outcome = handshake(
        chain,
        leaf.key(),
        None,
        verifier(&classical)
            .require_pq_signatures(true)
            .build()
            .unwrap(),
        now(),
    );
    assert!(
        outcome.server.is_err(),
        "server must fail: no PQ scheme offered"
    );
    assert!(outcome.client.is_err());
    // A PQ chain passes the same policy.
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    let outcome = handshake(
        pki.chain(leaf.certificate()),
        leaf.key(),
        None,
        verifier(&pki).require_pq_signatures(true).build().unwrap(),
        now(),
    );
    assert!(outcome.client.is_ok(), "{:?}", outcome.client);
}

#[test]
fn key_identifier_mismatch_is_refused() {
    // Two intermediates with the same name but different keys: a leaf from one presented
    // with the other fails (signature), and the AKI check names the mismatch first when
    // path building succeeds through webpki... exercised through ChainVerifier directly.
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    let verifier: ChainVerifier = verifier(&pki).build_chain_verifier().unwrap();
    let chain = pki.chain(leaf.certificate());
    assert!(verifier
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .is_ok());
    let aki = leaf
        .certificate()
        .authority_key_identifier()
        .unwrap()
        .to_vec();
    assert_eq!(
        aki,
        pki.intermediate
            .certificate()
            .subject_key_identifier()
            .unwrap()
    );
}

#[test]
fn composite_trust_anchors_from_the_lamps_vectors_verify_their_self_signatures() {
    use base64::Engine as _;
    let Some(vectors) = common_vectors() else {
        return;
    };
    let provider = provider();
    let mut checked = 0;
    for test in vectors["tests"].as_array().unwrap() {
        let id = test["tcId"].as_str().unwrap();
        let supported = id.starts_with("id-ML-DSA-")
            || matches!(
                id,
                "id-MLDSA44-ECDSA-P256-SHA256"
                    | "id-MLDSA65-ECDSA-P384-SHA512"
                    | "id-MLDSA87-ECDSA-P384-SHA512"
            );
        if !supported {
            continue;
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(test["x5c"].as_str().unwrap())
            .unwrap();
        let cert = rustls::pki_types::CertificateDer::from(der.clone());
        let verifier = qtls_verifier::ServerVerifierBuilder::new(vec![cert.clone()], &provider)
            .revocation_policy(qtls_verifier::RevocationPolicy::Off)
            .build_chain_verifier()
            .unwrap();
        assert!(verifier.self_signature_verifies(&cert), "{id}");
        let mut bad = der;
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(
            !verifier.self_signature_verifies(&bad.into()),
            "{id} tampered"
        );
        checked += 1;
    }
    assert_eq!(checked, 6);
}

fn common_vectors() -> Option<serde_json::Value> {
    let bytes = qtls_test_support::vectors::composite_vectors()?;
    Some(serde_json::from_slice(&bytes).unwrap())
}

/// The server signs CertificateVerify with a key that is not its certificate's: the client
/// refuses with BadSignature and the server receives decrypt_error.
#[test]
fn invalid_certificate_verify_is_decrypt_error() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    let impostor = KeyPair::generate(COMPOSITE, Backend::AwsLc).unwrap();
    let outcome = handshake(
        pki.chain(leaf.certificate()),
        &impostor,
        None,
        server_verifier(&pki),
        now(),
    );
    assert_refused(&outcome, &CE::BadSignature, Alert::DecryptError);
}

/// Known intermediates stand in for ones the peer does not send
/// ([`qtls_verifier::VerifierBuilder::intermediates`]); they are path candidates only.
#[test]
fn known_intermediates_complete_a_chain_sent_without_them() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    let chain = pki.chain(leaf.certificate());
    let name = "localhost".try_into().unwrap();
    let verify = |builder: qtls_verifier::ServerVerifierBuilder| {
        builder.build_chain_verifier().unwrap().verify(
            &chain[0],
            &[],
            Purpose::Server,
            Some(&name),
            &[],
            now(),
        )
    };
    // The leaf alone: no path to the root, as before.
    assert!(matches!(
        verify(verifier(&pki)),
        Err(Error::Chain(webpki::Error::UnknownIssuer))
    ));
    // With the intermediate known beforehand: the same three-certificate path.
    let verified = verify(verifier(&pki).intermediates(chain[1..].to_vec())).unwrap();
    assert_eq!(verified.certificates.len(), 3);
    assert_eq!(verified.certificates[2].subject, "CN=Test Root");
    // A known certificate is never an anchor: the intermediate alone as "root" of a leaf
    // from another hierarchy does not make it trusted.
    let other = TestPki::with_root_name(COMPOSITE, "Other Root");
    let other_chain = other.chain(other.server_leaf().certificate());
    let stranger = verifier(&pki)
        .intermediates(other_chain[1..].to_vec())
        .build_chain_verifier()
        .unwrap()
        .verify(
            &other_chain[0],
            &[],
            Purpose::Server,
            Some(&name),
            &[],
            now(),
        );
    assert!(matches!(
        stranger,
        Err(Error::Chain(webpki::Error::UnknownIssuer))
    ));
}

#[test]
fn an_unusable_known_intermediate_is_refused_when_building() {
    let pki = TestPki::new(COMPOSITE);
    let garbage = rustls_pki_types::CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    let error = verifier(&pki)
        .intermediates(vec![garbage])
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            qtls_verifier::VerifierBuilderError::Intermediate { index: 0, .. }
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("known intermediate #0 is unusable"),
        "{error}"
    );
}
