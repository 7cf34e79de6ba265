//! `qtls verify`: the verified path is printed, and each failure names itself and its alert.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::process::Command;
use std::time::Duration;

use support::{qtls_bin, run};

fn qtls(args: &[&str]) -> support::Output {
    run(Command::new(qtls_bin()).args(args), Duration::from_secs(60))
}

#[test]
fn verify_prints_the_path_and_names_failures_with_their_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let pki = pki.to_str().unwrap();
    qtls(&["pki", "init", "--dir", pki, "--profile", "composite"]).expect_success("pki init");
    let root = format!("{pki}/root.pem");
    let chain = format!("{pki}/server-chain.pem");

    let ok = qtls(&["verify", "--ca", &root, "--hostname", "localhost", &chain])
        .expect_success("verify");
    assert!(
        ok.stdout.contains("OK: verified path (3 certificates)"),
        "{}",
        ok.stdout
    );
    assert!(
        ok.stdout.contains("algorithm  MLDSA65-ECDSA-P384-SHA512"),
        "{}",
        ok.stdout
    );
    assert!(
        ok.stdout.contains("revocation not checked"),
        "{}",
        ok.stdout
    );

    let other = dir.path().join("other");
    let other = other.to_str().unwrap();
    qtls(&["pki", "init", "--dir", other, "--profile", "mldsa65"]).expect_success("pki init");
    let other_root = format!("{other}/root.pem");
    for (ca, args, alert) in [
        (
            &root,
            vec!["--hostname", "example.com"],
            "alert bad_certificate",
        ),
        (
            &root,
            vec!["--purpose", "client"],
            "alert unsupported_certificate",
        ),
        (
            &root,
            vec!["--at", "2040-01-01T00:00:00Z"],
            "alert certificate_expired",
        ),
        // Both PKIs name their root "Q-TLS Root CA": webpki finds the other PKI's root by
        // name, and its ML-DSA-65 key cannot have made the composite signature.
        (&other_root, vec![], "alert bad_certificate"),
    ] {
        let mut all = vec!["verify", "--ca", ca];
        all.extend(args.iter().copied());
        all.push(&chain);
        let out = qtls(&all);
        assert!(!out.success(), "{args:?} succeeded");
        assert!(out.stderr.contains(alert), "{args:?}: {}", out.stderr);
    }

    // Revoke the server certificate and sign a CRL: verification with it fails.
    let leaf = format!("{pki}/server.pem");
    qtls(&[
        "pki",
        "revoke",
        "--dir",
        pki,
        "--cert",
        &leaf,
        "--reason",
        "keyCompromise",
    ])
    .expect_success("revoke");
    let crl = format!("{pki}/crl.pem");
    qtls(&["pki", "crl", "--dir", pki, "--out", &crl]).expect_success("crl");
    let revoked = qtls(&["verify", "--ca", &root, "--crl", &crl, &chain]);
    assert!(!revoked.success());
    assert!(
        revoked.stderr.contains("alert certificate_revoked"),
        "{}",
        revoked.stderr
    );
    // The client certificate is not on the CRL: good by CRL (the intermediate: unknown, soft-fail).
    let client = format!("{pki}/client-chain.pem");
    let good = qtls(&[
        "verify",
        "--ca",
        &root,
        "--purpose",
        "client",
        "--crl",
        &crl,
        &client,
    ])
    .expect_success("client");
    assert!(
        good.stdout.contains("revocation good (CRL)"),
        "{}",
        good.stdout
    );
    let hard = qtls(&[
        "verify",
        "--ca",
        &root,
        "--purpose",
        "client",
        "--crl",
        &crl,
        "--hard-fail",
        &client,
    ]);
    assert!(!hard.success());
    assert!(hard.stderr.contains("alert unknown_ca"), "{}", hard.stderr);
}
