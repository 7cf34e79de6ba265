//! `qtls pki issue --ocsp-url --crl-url` (issue #12, item 2): a certificate for a key in a
//! token carries the OCSP responder (AuthorityInfoAccess, RFC 5280 §4.2.2.1) and the CRL
//! distribution point (RFC 5280 §4.2.1.13) it is given, so relying parties can learn of its
//! revocation.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;
use qtls_test_support::tokens;

use std::process::Command;

use qtls_pki::Certificate;
use support::{qtls_bin, run, COMMAND_TIMEOUT};

fn qtls() -> Command {
    let mut cmd = Command::new(qtls_bin());
    cmd.env_remove("QTLS_CA_PASSPHRASE")
        .envs(tokens::child_env())
        .env("QTLS_HSM_PIN", tokens::USER_PIN);
    cmd
}

#[test]
fn issued_certificates_carry_the_ocsp_and_crl_addresses() {
    let Some(module) = tokens::kryoptic() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    run(
        qtls()
            .args(["pki", "init", "--profile", "ecdsa-p384", "--dir"])
            .arg(dir.path()),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki init");
    let label = tokens::unique("pki-urls");
    run(
        qtls()
            .args(["hsm", "keygen", "--module"])
            .arg(&module)
            .args(["--token", tokens::PRIMARY, "--label", &label])
            .args(["--alg", "ecdsa-p384"]),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls hsm keygen");
    let chain = dir.path().join("hsm-chain.pem");
    run(
        qtls()
            .args(["pki", "issue", "--dir"])
            .arg(dir.path())
            .args(["--name", "hsm.test", "--hsm-module"])
            .arg(&module)
            .args(["--hsm-token", tokens::PRIMARY, "--hsm-key", &label])
            .args(["--ocsp-url", "http://127.0.0.1:9/ocsp"])
            .args(["--crl-url", "http://127.0.0.1:9/intermediate.crl"])
            .arg("--out")
            .arg(&chain),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki issue --ocsp-url --crl-url");
    let leaf = Certificate::read_pem_file(&chain).unwrap().remove(0);
    let (ocsp, crls) = qtls_verifier::ChainVerifier::revocation_urls(&leaf.to_certificate_der());
    assert_eq!(ocsp, ["http://127.0.0.1:9/ocsp"]);
    assert_eq!(crls, ["http://127.0.0.1:9/intermediate.crl"]);
}
