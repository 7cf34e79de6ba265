//! Errors an operator can act on when `qtls server --cert CHAIN --key KEY` gets the wrong key
//! file (issue #12, item 10): which algorithms disagree when the key does not fit the
//! certificate, a second key in the file refused rather than ignored, and an encrypted PKCS#8
//! key named as such rather than "no items found".

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use runtime_support::qtls;

const TIMEOUT: Duration = Duration::from_secs(60);

fn pki_init(dir: &Path, profile: &str) {
    support::run(
        qtls()
            .args(["pki", "init", "--dir"])
            .arg(dir)
            .args(["--profile", profile]),
        TIMEOUT,
    )
    .expect_success("qtls pki init");
}

/// Writes `contents` as a private key file (mode 600, as the server requires).
fn key_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Runs `qtls server` with `chain` and `key`, expecting it to refuse to start; its stderr.
fn server_refuses(chain: &Path, key: &Path) -> String {
    let out = support::run(
        qtls()
            .args(["server", "--listen", "127.0.0.1:0", "--cert"])
            .arg(chain)
            .arg("--key")
            .arg(key),
        TIMEOUT,
    );
    assert!(
        out.status.is_some() && !out.success(),
        "qtls server started with {}: {}\n{}",
        key.display(),
        out.stdout,
        out.stderr
    );
    out.stderr
}

fn assert_mentions(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}

#[test]
fn a_key_of_another_algorithm_names_both_algorithms() {
    let dir = tempfile::tempdir().unwrap();
    let (mldsa, ecdsa) = (dir.path().join("mldsa"), dir.path().join("ecdsa"));
    pki_init(&mldsa, "mldsa65");
    pki_init(&ecdsa, "ecdsa-p384");
    let stderr = server_refuses(&mldsa.join("server-chain.pem"), &ecdsa.join("server.key"));
    assert_mentions(&stderr, &["ML-DSA-65", "ECDSA-P384", "does not match"]);
}

#[test]
fn another_key_of_the_same_algorithm_says_so() {
    let dir = tempfile::tempdir().unwrap();
    pki_init(dir.path(), "mldsa65");
    let stderr = server_refuses(
        &dir.path().join("server-chain.pem"),
        &dir.path().join("client.key"),
    );
    assert_mentions(&stderr, &["ML-DSA-65", "another key", "does not match"]);
}

#[test]
fn a_pkcs1_rsa_key_names_rsa_and_the_certificates_algorithm() {
    let Some(openssl) = support::require("OpenSSL ($QTLS_OPENSSL)", support::openssl()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    pki_init(dir.path(), "mldsa65");
    let rsa = dir.path().join("rsa.key");
    support::run(
        support::openssl_command(&openssl)
            .args(["genrsa", "-traditional", "-out"])
            .arg(&rsa)
            .arg("2048"),
        TIMEOUT,
    )
    .expect_success("openssl genrsa -traditional");
    assert!(std::fs::read_to_string(&rsa)
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    std::fs::set_permissions(&rsa, std::fs::Permissions::from_mode(0o600)).unwrap();
    let stderr = server_refuses(&dir.path().join("server-chain.pem"), &rsa);
    assert_mentions(&stderr, &["RSA", "ML-DSA-65", "does not match"]);
}

#[test]
fn a_second_key_in_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    pki_init(dir.path(), "mldsa65");
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    // The right key first: today the second is silently ignored and the server starts.
    for (name, keys) in [
        ("right-first.key", [read("server.key"), read("client.key")]),
        ("wrong-first.key", [read("client.key"), read("server.key")]),
    ] {
        let path = key_file(dir.path(), name, &keys.concat());
        let stderr = server_refuses(&dir.path().join("server-chain.pem"), &path);
        assert_mentions(&stderr, &[name, "2 private keys", "exactly one"]);
    }
}

#[test]
fn an_encrypted_pkcs8_key_says_it_needs_a_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    pki_init(dir.path(), "mldsa65");
    let key = qtls_provider::KeyPair::from_pem(
        &std::fs::read(dir.path().join("server.key")).unwrap(),
        qtls_provider::Backend::AwsLc,
    )
    .unwrap();
    let passphrase = qtls_pki::Passphrase::new("correct horse").unwrap();
    let encrypted = qtls_pki::encrypt_private_key_pem(&key, &passphrase).unwrap();
    let path = key_file(dir.path(), "encrypted.key", encrypted.as_bytes());
    let stderr = server_refuses(&dir.path().join("server-chain.pem"), &path);
    assert_mentions(&stderr, &["encrypted.key", "encrypted", "passphrase"]);
    assert!(!stderr.contains("no items found"), "{stderr}");
}
