//! Revocation: stapled OCSP (RFC 6960, RFC 8446 §4.4.2.1), online OCSP, CRLs (RFC 5280 §5);
//! soft and hard fail; the alert each failure sends (RFC 8446 §6.2).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use qtls_pki::{
    CertifiedKeyPair, CrlBuilder, OcspCertId, OcspCertStatus, OcspHash, OcspResponseBuilder,
    RevocationReason, Usage,
};
use qtls_provider::{CompositeAlgorithm, KeyAlgorithm, MlDsaLevel};
use qtls_verifier::{Error, OcspError, Purpose, RevocationPolicy, RevocationStatus, StatusSource};
use rustls::{AlertDescription as Alert, CertificateError as CE};

const COMPOSITE: KeyAlgorithm = KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512);

fn hours(n: i64) -> time::Duration {
    time::Duration::hours(n)
}

/// An OCSP response for `leaf` signed by `signer`, issued at issuance + 1 day - 1 hour,
/// valid for `valid_for`.
fn ocsp(
    pki: &TestPki,
    leaf: &CertifiedKeyPair,
    status: OcspCertStatus,
    signer: &CertifiedKeyPair,
    valid_for: time::Duration,
) -> Vec<u8> {
    let this_update = issued() + time::Duration::days(1) - hours(1);
    let id = OcspCertId::for_certificate(
        OcspHash::Sha1,
        pki.intermediate.certificate(),
        leaf.certificate(),
    )
    .unwrap();
    OcspResponseBuilder::new(this_update)
        .next_update(this_update + valid_for)
        .status(id, status)
        .build_unchecked(signer)
        .unwrap()
        .into_der()
}

fn revoked() -> OcspCertStatus {
    OcspCertStatus::Revoked {
        time: issued() + hours(2),
        reason: Some(RevocationReason::KeyCompromise),
    }
}

fn staple_verifier(pki: &TestPki) -> qtls_verifier::ServerVerifierBuilder {
    verifier(pki)
        .revocation_policy(RevocationPolicy::SoftFail)
        .online_ocsp(false)
        .fetch_crls(false)
        .revocation_depth(qtls_verifier::RevocationDepth::EndEntity)
}

#[test]
fn good_staple_is_accepted_and_reported() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    let staple = ocsp(
        &pki,
        &leaf,
        OcspCertStatus::Good,
        &pki.intermediate,
        hours(48),
    );
    let chain = pki.chain(leaf.certificate());
    let verified = staple_verifier(&pki)
        .build_chain_verifier()
        .unwrap()
        .verify(
            &chain[0],
            &chain[1..],
            Purpose::Server,
            None,
            &staple,
            now(),
        )
        .unwrap();
    assert_eq!(
        verified.end_entity().revocation,
        RevocationStatus::Good(StatusSource::StapledOcsp)
    );
    let outcome = handshake(
        chain,
        leaf.key(),
        Some(staple),
        staple_verifier(&pki).build().unwrap(),
        now(),
    );
    assert!(outcome.client.is_ok(), "{:?}", outcome.client);
}

#[test]
fn revoked_by_staple_is_certificate_revoked() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    let staple = ocsp(&pki, &leaf, revoked(), &pki.intermediate, hours(48));
    let outcome = handshake(
        pki.chain(leaf.certificate()),
        leaf.key(),
        Some(staple),
        staple_verifier(&pki).build().unwrap(),
        now(),
    );
    assert_refused(&outcome, &CE::Revoked, Alert::CertificateRevoked);
}

#[test]
fn bad_staples_are_bad_certificate_status_response() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    let other = pki.server_leaf();
    // A responder the intermediate never authorised (a leaf of the same CA without the EKU).
    let unauthorized = pki.leaf(pki.leaf_builder(Usage::ServerLeaf, "not-a-responder"));
    let stale_this_update = issued() + time::Duration::days(1) - hours(30);
    let stale = {
        let id = OcspCertId::for_certificate(
            OcspHash::Sha1,
            pki.intermediate.certificate(),
            leaf.certificate(),
        )
        .unwrap();
        OcspResponseBuilder::new(stale_this_update)
            .next_update(stale_this_update + hours(24))
            .status(id, OcspCertStatus::Good)
            .build_unchecked(&pki.intermediate)
            .unwrap()
            .into_der()
    };
    // Flip a bit inside the response's signature value (not in the `certs` that follow it).
    let mut tampered = ocsp(
        &pki,
        &leaf,
        OcspCertStatus::Good,
        &pki.intermediate,
        hours(48),
    );
    let signature = qtls_pki::OcspResponse::from_der(tampered.clone())
        .unwrap()
        .basic()
        .unwrap()
        .signature
        .raw_bytes()
        .to_vec();
    let at = tampered
        .windows(signature.len())
        .position(|w| w == signature.as_slice())
        .unwrap();
    tampered[at + 10] ^= 0x01;
    type Case = (&'static str, Vec<u8>, fn(&OcspError) -> bool);
    let cases: Vec<Case> = vec![
        ("stale", stale, |e| matches!(e, OcspError::Stale(_))),
        (
            "unauthorized responder",
            ocsp(&pki, &leaf, OcspCertStatus::Good, &unauthorized, hours(48)),
            |e| matches!(e, OcspError::UnauthorizedSigner(_)),
        ),
        (
            "CertID for another certificate",
            ocsp(
                &pki,
                &other,
                OcspCertStatus::Good,
                &pki.intermediate,
                hours(48),
            ),
            |e| matches!(e, OcspError::NoMatchingCertId),
        ),
        ("bad signature", tampered, |e| {
            matches!(e, OcspError::BadSignature)
        }),
        ("garbage", b"not an OCSP response".to_vec(), |e| {
            matches!(e, OcspError::Malformed(_))
        }),
    ];
    let chain = pki.chain(leaf.certificate());
    for (case, staple, expected) in cases {
        let error = staple_verifier(&pki)
            .build_chain_verifier()
            .unwrap()
            .verify(
                &chain[0],
                &chain[1..],
                Purpose::Server,
                None,
                &staple,
                now(),
            )
            .unwrap_err();
        match &error {
            Error::BadStaple(e) => assert!(expected(e), "{case}: {e}"),
            other => panic!("{case}: {other}"),
        }
        let outcome = handshake(
            chain.clone(),
            leaf.key(),
            Some(staple),
            staple_verifier(&pki).build().unwrap(),
            now(),
        );
        assert_refused(
            &outcome,
            &CE::InvalidOcspResponse,
            Alert::BadCertificateStatusResponse,
        );
    }
}

#[test]
fn delegated_responder_is_accepted() {
    let pki = TestPki::new(KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65));
    let leaf = pki.server_leaf();
    let responder = pki.leaf(pki.leaf_builder(Usage::OcspResponder, "responder"));
    let staple = ocsp(&pki, &leaf, OcspCertStatus::Good, &responder, hours(48));
    let chain = pki.chain(leaf.certificate());
    staple_verifier(&pki)
        .build_chain_verifier()
        .unwrap()
        .verify(
            &chain[0],
            &chain[1..],
            Purpose::Server,
            None,
            &staple,
            now(),
        )
        .unwrap();
}

#[test]
fn must_staple_without_a_staple_is_refused() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.leaf(
        pki.leaf_builder(Usage::ServerLeaf, "localhost")
            .must_staple(true),
    );
    let outcome = handshake(
        pki.chain(leaf.certificate()),
        leaf.key(),
        None,
        staple_verifier(&pki).build().unwrap(),
        now(),
    );
    assert_refused(
        &outcome,
        &CE::InvalidOcspResponse,
        Alert::BadCertificateStatusResponse,
    );
}

/// A PKI whose leaf names an OCSP responder at `url` (and optionally a CRL).
fn online_pki(ocsp_url: &str, crl_url: Option<&str>) -> (TestPki, CertifiedKeyPair) {
    let pki = TestPki::new(COMPOSITE);
    let mut builder = pki
        .leaf_builder(Usage::ServerLeaf, "localhost")
        .ocsp_url(ocsp_url);
    if let Some(crl) = crl_url {
        builder = builder.crl_url(crl);
    }
    let leaf = pki.leaf(builder);
    (pki, leaf)
}

fn online_verifier(
    pki: &TestPki,
    policy: RevocationPolicy,
) -> qtls_verifier::ServerVerifierBuilder {
    verifier(pki)
        .revocation_policy(policy)
        .revocation_depth(qtls_verifier::RevocationDepth::EndEntity)
        .timeouts(Duration::from_millis(300), Duration::from_millis(500))
}

#[test]
fn online_ocsp_good_is_cached_and_revoked_is_refused() {
    // The responder answers with whatever status the test sets, for the PKI made below.
    let status = Arc::new(std::sync::Mutex::new(OcspCertStatus::Good));
    let shared: Arc<std::sync::OnceLock<(TestPki, CertifiedKeyPair)>> = Arc::default();
    let (s, p) = (Arc::clone(&status), Arc::clone(&shared));
    let responder = HttpResponder::start(Behaviour::Answer(Arc::new(move |_request| {
        let (pki, leaf) = p.get().unwrap();
        ocsp(pki, leaf, *s.lock().unwrap(), &pki.intermediate, hours(48))
    })));
    let (pki, leaf) = {
        let (pki, leaf) = online_pki(&responder.url, None);
        assert!(shared.set((pki, leaf)).is_ok());
        let (pki, leaf) = shared.get().unwrap();
        (pki, leaf)
    };
    let chain = pki.chain(leaf.certificate());
    let verifier = online_verifier(pki, RevocationPolicy::HardFail)
        .build_chain_verifier()
        .unwrap();

    let verified = verifier
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap();
    assert_eq!(
        verified.end_entity().revocation,
        RevocationStatus::Good(StatusSource::OnlineOcsp)
    );
    assert_eq!(responder.count(), 1);
    // A second verification is answered from the cache: no new request.
    verifier
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap();
    assert_eq!(responder.count(), 1);

    // A fresh verifier sees the revocation and refuses with certificate_revoked.
    *status.lock().unwrap() = revoked();
    let error = online_verifier(pki, RevocationPolicy::HardFail)
        .build_chain_verifier()
        .unwrap()
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Revoked {
                source: StatusSource::OnlineOcsp,
                ..
            }
        ),
        "{error}"
    );
    let outcome = handshake(
        chain.clone(),
        leaf.key(),
        None,
        online_verifier(pki, RevocationPolicy::HardFail)
            .build()
            .unwrap(),
        now(),
    );
    assert_refused(&outcome, &CE::Revoked, Alert::CertificateRevoked);
}

#[test]
fn revoked_by_crl_is_certificate_revoked() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    let crl = CrlBuilder::new(1)
        .update_times(issued() + hours(12), issued() + time::Duration::days(7))
        .revoke(
            leaf.certificate().serial().to_vec(),
            issued() + hours(2),
            Some(RevocationReason::KeyCompromise),
        )
        .build(&pki.intermediate)
        .unwrap();
    let crl_der = rustls::pki_types::CertificateRevocationListDer::from(crl.der().to_vec());
    let builder = verifier(&pki)
        .revocation_policy(RevocationPolicy::HardFail)
        .online_ocsp(false)
        .fetch_crls(false)
        .revocation_depth(qtls_verifier::RevocationDepth::EndEntity)
        .crls(vec![crl_der.clone()]);
    let chain = pki.chain(leaf.certificate());
    let error = builder
        .clone()
        .build_chain_verifier()
        .unwrap()
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Revoked {
                source: StatusSource::Crl,
                ..
            }
        ),
        "{error}"
    );
    let outcome = handshake(chain, leaf.key(), None, builder.build().unwrap(), now());
    assert_refused(&outcome, &CE::Revoked, Alert::CertificateRevoked);

    // Another leaf of the same CA is good by the same CRL.
    let good = pki.server_leaf();
    let chain = pki.chain(good.certificate());
    let verified = verifier(&pki)
        .revocation_policy(RevocationPolicy::HardFail)
        .online_ocsp(false)
        .fetch_crls(false)
        .revocation_depth(qtls_verifier::RevocationDepth::EndEntity)
        .crls(vec![crl_der])
        .build_chain_verifier()
        .unwrap()
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap();
    assert_eq!(
        verified.end_entity().revocation,
        RevocationStatus::Good(StatusSource::Crl)
    );
}

#[test]
fn crl_fetched_from_the_distribution_point_when_ocsp_is_down() {
    let crl_holder: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
    let served = Arc::clone(&crl_holder);
    let crl_server = HttpResponder::start(Behaviour::Answer(Arc::new(move |_| {
        served.lock().unwrap().clone()
    })));
    let (pki, leaf) = online_pki(&dead_url(), Some(&crl_server.url));
    let crl = CrlBuilder::new(7)
        .update_times(issued() + hours(12), issued() + time::Duration::days(7))
        .revoke(
            leaf.certificate().serial().to_vec(),
            issued() + hours(2),
            None,
        )
        .build(&pki.intermediate)
        .unwrap();
    *crl_holder.lock().unwrap() = crl.der().to_vec();
    let chain = pki.chain(leaf.certificate());
    let verifier = online_verifier(&pki, RevocationPolicy::HardFail)
        .build_chain_verifier()
        .unwrap();
    let error = verifier
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Revoked {
                source: StatusSource::Crl,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(crl_server.count(), 1);
    // The CRL is cached until nextUpdate.
    let _ = verifier.verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now());
    assert_eq!(crl_server.count(), 1);
}

#[test]
fn soft_and_hard_fail_with_the_responder_down_slow_or_answering_garbage() {
    let slow = HttpResponder::start(Behaviour::Slow(
        Duration::from_secs(3),
        Arc::new(|_| Vec::new()),
    ));
    let garbage =
        HttpResponder::start(Behaviour::Answer(Arc::new(|_| b"\x30\x03garbage".to_vec())));
    for (case, url) in [
        ("down", dead_url()),
        ("slow", slow.url.clone()),
        ("garbage", garbage.url.clone()),
    ] {
        let (pki, leaf) = online_pki(&url, None);
        let chain = pki.chain(leaf.certificate());

        let started = Instant::now();
        let soft = online_verifier(&pki, RevocationPolicy::SoftFail)
            .build_chain_verifier()
            .unwrap()
            .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{case}: took {:?}",
            started.elapsed()
        );
        assert!(
            matches!(&soft.end_entity().revocation, RevocationStatus::Unknown { attempts } if !attempts.is_empty()),
            "{case}: {:?}",
            soft.end_entity().revocation
        );

        let started = Instant::now();
        let outcome = handshake(
            chain,
            leaf.key(),
            None,
            online_verifier(&pki, RevocationPolicy::HardFail)
                .build()
                .unwrap(),
            now(),
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{case}: took {:?}",
            started.elapsed()
        );
        assert_refused_for_unknown_status(
            &outcome,
            "CN=localhost",
            leaf.certificate().serial(),
            &["OCSP http://127.0.0.1:", "no CRL"],
        );
    }
}

#[test]
fn intermediates_are_checked_too() {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.server_leaf();
    // The root revokes the intermediate.
    let crl = CrlBuilder::new(1)
        .update_times(issued() + hours(12), issued() + time::Duration::days(7))
        .revoke(
            pki.intermediate.certificate().serial().to_vec(),
            issued() + hours(2),
            Some(RevocationReason::CaCompromise),
        )
        .build(&pki.root)
        .unwrap();
    let chain = pki.chain(leaf.certificate());
    let error = verifier(&pki)
        .revocation_policy(RevocationPolicy::SoftFail)
        .online_ocsp(false)
        .fetch_crls(false)
        .crls(vec![crl.der().to_vec().into()])
        .build_chain_verifier()
        .unwrap()
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap_err();
    match error {
        Error::Revoked { subject, source } => {
            assert_eq!(subject, "CN=Test Intermediate");
            assert_eq!(source, StatusSource::Crl);
        }
        other => panic!("{other}"),
    }
}

/// A CRL with the intermediate's name but signed by another key (a forged plain-HTTP answer),
/// valid for ten years and revoking nothing.
fn forged_crl() -> Vec<u8> {
    let impostor = TestPki::new(COMPOSITE);
    CrlBuilder::new(99)
        .update_times(issued() + hours(12), issued() + time::Duration::days(3650))
        .build(&impostor.intermediate)
        .unwrap()
        .der()
        .to_vec()
}

#[test]
fn a_badly_signed_crl_is_not_cached() {
    // The distribution point answers the forged CRL once, then the genuine one.
    let answers: Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Arc::default();
    let queue = Arc::clone(&answers);
    let crl_server = HttpResponder::start(Behaviour::Answer(Arc::new(move |_| {
        let mut queue = queue.lock().unwrap();
        if queue.len() > 1 {
            queue.remove(0)
        } else {
            queue[0].clone()
        }
    })));
    let (pki, leaf) = online_pki(&dead_url(), Some(&crl_server.url));
    let genuine = CrlBuilder::new(2)
        .update_times(issued() + hours(12), issued() + time::Duration::days(7))
        .revoke(
            leaf.certificate().serial().to_vec(),
            issued() + hours(2),
            Some(RevocationReason::KeyCompromise),
        )
        .build(&pki.intermediate)
        .unwrap();
    *answers.lock().unwrap() = vec![forged_crl(), genuine.der().to_vec()];
    let chain = pki.chain(leaf.certificate());
    let verifier = online_verifier(&pki, RevocationPolicy::SoftFail)
        .build_chain_verifier()
        .unwrap();

    // The forged CRL settles nothing: soft-fail lets the leaf through as unknown.
    let first = verifier
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap();
    match &first.end_entity().revocation {
        RevocationStatus::Unknown { attempts } => assert!(
            attempts
                .iter()
                .any(|a| a.contains("signature does not verify")),
            "{attempts:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(crl_server.count(), 1);

    // It was not cached: the next verification fetches again and sees the revocation.
    let error = verifier
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Revoked {
                source: StatusSource::Crl,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(crl_server.count(), 2);

    // The genuine CRL is cached until its nextUpdate.
    let error = verifier
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap_err();
    assert!(matches!(error, Error::Revoked { .. }), "{error}");
    assert_eq!(crl_server.count(), 2);
}

#[test]
fn the_crl_cache_is_bounded() {
    let crl_holder: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
    let served = Arc::clone(&crl_holder);
    let crl_server = HttpResponder::start(Behaviour::Answer(Arc::new(move |_| {
        served.lock().unwrap().clone()
    })));
    let pki = TestPki::new(COMPOSITE);
    let crl = CrlBuilder::new(3)
        .update_times(issued() + hours(12), issued() + time::Duration::days(7))
        .build(&pki.intermediate)
        .unwrap();
    *crl_holder.lock().unwrap() = crl.der().to_vec();
    // 65 leaves, each naming its own distribution point URL (the same CRL behind each).
    let leaves: Vec<CertifiedKeyPair> = (0..65)
        .map(|n| {
            pki.leaf(
                pki.leaf_builder(Usage::ServerLeaf, "localhost")
                    .crl_url(format!("{}crl-{n}", crl_server.url)),
            )
        })
        .collect();
    let verifier = verifier(&pki)
        .revocation_policy(RevocationPolicy::HardFail)
        .online_ocsp(false)
        .revocation_depth(qtls_verifier::RevocationDepth::EndEntity)
        .build_chain_verifier()
        .unwrap();
    let verify_all = || {
        for leaf in &leaves {
            let chain = pki.chain(leaf.certificate());
            let verified = verifier
                .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
                .unwrap();
            assert_eq!(
                verified.end_entity().revocation,
                RevocationStatus::Good(StatusSource::Crl)
            );
        }
    };
    verify_all();
    assert_eq!(crl_server.count(), 65);
    // 64 CRLs fit: going round again fetches at least one of the 65 URLs again.
    verify_all();
    assert!(crl_server.count() > 65, "{}", crl_server.count());
}
