//! mTLS: client chains checked like server chains, each failure's alert, and the verified
//! client identity bound to the connection.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use qtls_pki::{CrlBuilder, RevocationReason, Usage};
use qtls_provider::{CompositeAlgorithm, KeyAlgorithm};
use qtls_verifier::{ClientIdentity, RevocationPolicy, RevocationStatus, StatusSource};
use rustls::{AlertDescription as Alert, CertificateError as CE};

const COMPOSITE: KeyAlgorithm = KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512);

fn built_client_verifier(pki: &TestPki) -> Arc<qtls_verifier::QtlsClientVerifier> {
    common::client_verifier(pki).build().unwrap()
}

/// Asserts the server refused the client with `expected` and the client received `alert`.
fn assert_client_refused(outcome: &Outcome, expected: &CE, alert: Alert) {
    match &outcome.server {
        Err(rustls::Error::InvalidCertificate(error)) => assert_eq!(
            std::mem::discriminant(error),
            std::mem::discriminant(expected),
            "server error {error:?}, expected {expected:?}"
        ),
        other => panic!("server: expected {expected:?}, got {other:?}"),
    }
    assert_eq!(outcome.client, Err(rustls::Error::AlertReceived(alert)));
}

#[test]
fn verified_client_identity_is_available_after_the_handshake() {
    let pki = TestPki::new(COMPOSITE);
    let client = pki.leaf(
        pki.leaf_builder(Usage::ClientLeaf, "alice")
            .hosts(["alice.example.com"]),
    );
    let verifier = built_client_verifier(&pki);
    let (outcome, server) = mutual_handshake(
        &pki,
        Some((pki.chain(client.certificate()), client.key())),
        Arc::clone(&verifier),
        now(),
    );
    assert!(
        outcome.client.is_ok() && outcome.server.is_ok(),
        "{:?} {:?}",
        outcome.client,
        outcome.server
    );
    let identity = ClientIdentity::from_connection(&server, &verifier).unwrap();
    assert_eq!(identity.subject, "CN=alice");
    assert_eq!(identity.issuer, "CN=Test Intermediate");
    assert_eq!(identity.trust_anchor, "CN=Test Root");
    let serial: String = client
        .certificate()
        .serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(identity.serial, serial);
    assert_eq!(
        identity.subject_alt_names,
        vec!["DNS:alice", "DNS:alice.example.com"]
    );
    assert_eq!(identity.revocation, RevocationStatus::NotChecked);
}

#[test]
fn missing_client_certificate_is_certificate_required() {
    let pki = TestPki::new(COMPOSITE);
    let (outcome, _) = mutual_handshake(&pki, None, built_client_verifier(&pki), now());
    assert_eq!(outcome.server, Err(rustls::Error::NoCertificatesPresented));
    assert_eq!(
        outcome.client,
        Err(rustls::Error::AlertReceived(Alert::CertificateRequired))
    );
    // ... unless anonymous clients are allowed, and then there is no identity.
    let verifier = common::client_verifier(&pki)
        .allow_unauthenticated(true)
        .build()
        .unwrap();
    let (outcome, server) = mutual_handshake(&pki, None, Arc::clone(&verifier), now());
    assert!(outcome.server.is_ok());
    assert!(ClientIdentity::from_connection(&server, &verifier).is_none());
}

#[test]
fn client_from_an_unknown_ca_is_unknown_ca() {
    let pki = TestPki::new(COMPOSITE);
    let other = TestPki::with_root_name(COMPOSITE, "Other Root");
    let client = other.leaf(other.leaf_builder(Usage::ClientLeaf, "mallory"));
    let (outcome, _) = mutual_handshake(
        &pki,
        Some((other.chain(client.certificate()), client.key())),
        built_client_verifier(&pki),
        now(),
    );
    assert_client_refused(&outcome, &CE::UnknownIssuer, Alert::UnknownCA);
}

#[test]
fn server_certificate_as_client_certificate_is_unsupported_certificate() {
    let pki = TestPki::new(COMPOSITE);
    let wrong = pki.server_leaf();
    let (outcome, _) = mutual_handshake(
        &pki,
        Some((pki.chain(wrong.certificate()), wrong.key())),
        built_client_verifier(&pki),
        now(),
    );
    assert_client_refused(&outcome, &CE::InvalidPurpose, Alert::UnsupportedCertificate);
}

#[test]
fn expired_client_certificate_is_certificate_expired() {
    let pki = TestPki::new(COMPOSITE);
    // Valid two days; the server's own certificate is still valid at day ten.
    let client = pki.leaf(
        pki.leaf_builder(Usage::ClientLeaf, "bob")
            .validity(issued(), issued() + time::Duration::days(2)),
    );
    let (outcome, _) = mutual_handshake(
        &pki,
        Some((pki.chain(client.certificate()), client.key())),
        built_client_verifier(&pki),
        at(ISSUED + 10 * DAY),
    );
    match &outcome.server {
        Err(rustls::Error::InvalidCertificate(CE::ExpiredContext { .. })) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        outcome.client,
        Err(rustls::Error::AlertReceived(Alert::CertificateExpired))
    );
}

#[test]
fn revoked_client_certificate_is_certificate_revoked_and_good_ones_carry_their_status() {
    let pki = TestPki::new(COMPOSITE);
    let revoked = pki.leaf(pki.leaf_builder(Usage::ClientLeaf, "eve"));
    let good = pki.leaf(pki.leaf_builder(Usage::ClientLeaf, "carol"));
    let crl = CrlBuilder::new(3)
        .update_times(
            issued() + time::Duration::hours(12),
            issued() + time::Duration::days(7),
        )
        .revoke(
            revoked.certificate().serial().to_vec(),
            issued() + time::Duration::hours(2),
            Some(RevocationReason::KeyCompromise),
        )
        .build(&pki.intermediate)
        .unwrap();
    let verifier = common::client_verifier(&pki)
        .revocation_policy(RevocationPolicy::HardFail)
        .revocation_depth(qtls_verifier::RevocationDepth::EndEntity)
        .online_ocsp(false)
        .fetch_crls(false)
        .crls(vec![crl.der().to_vec().into()])
        .build()
        .unwrap();
    let (outcome, _) = mutual_handshake(
        &pki,
        Some((pki.chain(revoked.certificate()), revoked.key())),
        Arc::clone(&verifier),
        now(),
    );
    assert_client_refused(&outcome, &CE::Revoked, Alert::CertificateRevoked);

    let (outcome, server) = mutual_handshake(
        &pki,
        Some((pki.chain(good.certificate()), good.key())),
        Arc::clone(&verifier),
        now(),
    );
    assert!(outcome.server.is_ok(), "{:?}", outcome.server);
    let identity = ClientIdentity::from_connection(&server, &verifier).unwrap();
    assert_eq!(identity.subject, "CN=carol");
    assert_eq!(identity.revocation_confirmed_by(), Some(StatusSource::Crl));
}
