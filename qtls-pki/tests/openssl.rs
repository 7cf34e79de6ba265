//! OpenSSL 4 reads and verifies the ML-DSA and ECDSA hierarchies (`openssl x509 -text`,
//! `openssl verify -x509_strict`) and their PKCS#8 keys, and prints composite ones.
//!
//! Needs `QTLS_OPENSSL` (an OpenSSL 4 `openssl` binary; `scripts/openssl.sh` builds one).
//! Without it the tests are skipped, except under `CI=true`, where they fail.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use qtls_pki::{Pki, PkiOptions, Profile};
use time::Duration;

use qtls_test_support::clock::issued;

use qtls_test_support::openssl::{require_openssl as openssl, run_in as run};

fn check(profile: Profile, signature_name: &str) {
    let Some(openssl) = openssl() else { return };
    let clock = issued();
    let mut options = PkiOptions::new(clock);
    options.profile = profile;
    options.hosts = vec![
        "localhost".into(),
        "*.example.com".into(),
        "127.0.0.1".into(),
        "::1".into(),
    ];
    options.ocsp_url = Some("http://127.0.0.1:8888/ocsp".into());
    options.crl_url = Some("http://127.0.0.1:8888/intermediate.crl".into());
    options.must_staple = true;
    let pki = Pki::generate(&options).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("qtls-pki-openssl-{profile}"));
    let _ = std::fs::remove_dir_all(&dir);
    pki.write_to_dir(&dir).unwrap();

    for name in ["root", "intermediate", "server", "client", "ocsp"] {
        let pem = format!("{name}.pem");
        let text = run(&openssl, &dir, &["x509", "-in", &pem, "-text", "-noout"]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains(&format!("Signature Algorithm: {signature_name}")),
            "{pem}:\n{text}"
        );
        assert!(
            text.contains("X509v3 Subject Key Identifier"),
            "{pem}:\n{text}"
        );
        // The key file holds the certificate's key.
        let key = format!("{name}.key");
        let from_key = run(&openssl, &dir, &["pkey", "-in", &key, "-pubout"]);
        let from_cert = run(&openssl, &dir, &["x509", "-in", &pem, "-pubkey", "-noout"]);
        assert_eq!(from_key.stdout, from_cert.stdout, "{key} vs {pem}");
    }

    let text = run(
        &openssl,
        &dir,
        &["x509", "-in", "server.pem", "-text", "-noout"],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "DNS:localhost, DNS:*.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
        "CA:FALSE",
        "Digital Signature",
        "TLS Web Server Authentication",
        "OCSP - URI:http://127.0.0.1:8888/ocsp",
        "URI:http://127.0.0.1:8888/intermediate.crl",
        "TLS Feature",
        "status_request",
        "Not Before: Jan  1 00:00:00 2026 GMT",
        "Not After : Apr  1 00:00:00 2026 GMT",
    ] {
        assert!(
            text.contains(expected),
            "server.pem lacks {expected:?}:\n{text}"
        );
    }
    let text = run(
        &openssl,
        &dir,
        &["x509", "-in", "intermediate.pem", "-text", "-noout"],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in ["CA:TRUE, pathlen:0", "Certificate Sign, CRL Sign"] {
        assert!(
            text.contains(expected),
            "intermediate.pem lacks {expected:?}:\n{text}"
        );
    }
    let text = run(
        &openssl,
        &dir,
        &["x509", "-in", "ocsp.pem", "-text", "-noout"],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in ["OCSP Signing", "OCSP No Check"] {
        assert!(
            text.contains(expected),
            "ocsp.pem lacks {expected:?}:\n{text}"
        );
    }

    let at = (clock + Duration::days(1)).unix_timestamp().to_string();
    for (leaf, purpose) in [
        ("server.pem", "sslserver"),
        ("client.pem", "sslclient"),
        ("ocsp.pem", "ocsphelper"),
    ] {
        let verify = [
            "verify",
            "-x509_strict",
            "-attime",
            &at,
            "-purpose",
            purpose,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "intermediate.pem",
            leaf,
        ];
        let out = run(&openssl, &dir, &verify);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("{leaf}: OK")),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The chain file, as a TLS server sends it, verifies too.
    run(
        &openssl,
        &dir,
        &[
            "verify",
            "-x509_strict",
            "-attime",
            &at,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "server-chain.pem",
            "server.pem",
        ],
    );
}

#[test]
fn openssl_reads_and_verifies_mldsa65() {
    check(Profile::MlDsa65, "ML-DSA-65");
}

#[test]
fn openssl_reads_and_verifies_mldsa87() {
    check(Profile::MlDsa87, "ML-DSA-87");
}

#[test]
fn openssl_reads_and_verifies_ecdsa_p384() {
    check(Profile::EcdsaP384, "ecdsa-with-SHA384");
}

/// OpenSSL 4 has no composite ML-DSA: it can print the certificates (with the algorithm as
/// a bare OID and "Unable to load Public Key") but not verify them.
#[test]
fn openssl_prints_composite() {
    let Some(openssl) = openssl() else { return };
    let clock = issued();
    let pki = Pki::generate(&PkiOptions::new(clock)).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qtls-pki-openssl-composite");
    let _ = std::fs::remove_dir_all(&dir);
    pki.write_to_dir(&dir).unwrap();
    for pem in ["root.pem", "intermediate.pem", "server.pem"] {
        let text = run(&openssl, &dir, &["x509", "-in", pem, "-text", "-noout"]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("Signature Algorithm: 1.3.6.1.5.5.7.6.46")
                || text.contains("MLDSA65-ECDSA-P384-SHA512"),
            "{pem}:\n{text}"
        );
        assert!(
            text.contains("X509v3 Subject Key Identifier"),
            "{pem}:\n{text}"
        );
    }
}
