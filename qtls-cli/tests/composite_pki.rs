//! The design's RSA-4096 + ML-DSA-65 certificates made and used by the CLI alone (issue #10):
//! `qtls pki init --profile mldsa65-rsa4096-pss` (and the PKCS#1 v1.5 profile, whose CAs sign
//! with MLDSA65-RSA4096-PKCS15-SHA512 over PSS leaves), then `qtls server` ↔ `qtls client`
//! with client authentication, each side on either backend. `--help` lists every profile.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use qtls_pki::Pki;
use qtls_provider::{Backend, CompositeAlgorithm, KeyAlgorithm};
use runtime_support::{qtls, run_client, start_server};

const TIMEOUT: Duration = Duration::from_secs(120);

/// `qtls pki init --profile PROFILE` into a fresh folder; its stdout too.
fn pki_init(profile: &str) -> (runtime_support::TestPki, String) {
    let dir = tempfile::Builder::new()
        .prefix("qtls-composite-pki-")
        .tempdir()
        .unwrap();
    let out = support::run(
        qtls()
            .args(["pki", "init", "--profile", profile, "--dir"])
            .arg(dir.path()),
        TIMEOUT,
    )
    .expect_success("qtls pki init");
    let pki = Pki::load_from_dir(dir.path(), Backend::AwsLc).unwrap();
    (runtime_support::TestPki { dir, pki }, out.stdout)
}

fn backends() -> Vec<&'static str> {
    Backend::available()
        .iter()
        .map(|backend| match backend {
            Backend::AwsLc => "aws-lc-rs",
            _ => "oqs",
        })
        .collect()
}

/// Serves `pki` with client authentication on `server_backend`, connects with its client
/// certificate on each backend; asserts the scheme both ways.
fn serve_and_connect(pki: &runtime_support::TestPki, scheme: &str) {
    for server_backend in backends() {
        let mut args = pki.server_cert_args();
        args.extend([
            OsString::from("--client-ca"),
            pki.root().into(),
            "--require-client-cert".into(),
            "--backend".into(),
            server_backend.into(),
        ]);
        let server = start_server(args);
        for client_backend in backends() {
            let mut args = pki.client_cert_args();
            args.extend(["--backend".into(), OsString::from(client_backend)]);
            let run = run_client(server.port, &pki.root(), args);
            let what = format!("server {server_backend}, client {client_backend}");
            assert!(run.succeeded(), "{what}: {}", run.describe());
            assert_eq!(run.json["signature_scheme"], scheme, "{what}");
            assert_eq!(run.json["peer_subject"], "CN=localhost,O=Q-TLS");
            // The demo app reports what the server saw of the client.
            let body: serde_json::Value =
                serde_json::from_str(run.json["body"].as_str().unwrap()).unwrap();
            assert_eq!(body["signature_scheme"], scheme, "{what}");
            assert_eq!(body["peer_subject"], "CN=qtls-client,O=Q-TLS", "{what}");
        }
    }
}

#[test]
fn an_rsa_4096_composite_pki_serves_mutual_tls_on_every_backend() {
    let (pki, stdout) = pki_init("mldsa65-rsa4096-pss");
    assert!(stdout.starts_with("mldsa65-rsa4096-pss PKI in"), "{stdout}");
    let rsa4096 = KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65Rsa4096PssSha512);
    for pair in [pki.pki.root(), pki.pki.server(), pki.pki.client()] {
        assert_eq!(pair.key().algorithm(), rsa4096);
    }
    serve_and_connect(&pki, "MLDSA65_RSA4096_PSS_SHA512");
}

#[test]
fn a_pkcs1_v15_profile_has_pss_leaves_and_its_ca_keys_cannot_serve() {
    let (pki, stdout) = pki_init("mldsa65-rsa4096-pkcs15");
    let (pkcs15, pss) = (
        CompositeAlgorithm::MlDsa65Rsa4096Pkcs15Sha512,
        CompositeAlgorithm::MlDsa65Rsa4096PssSha512,
    );
    for (pair, algorithm) in [
        (pki.pki.root(), pkcs15),
        (pki.pki.intermediate(), pkcs15),
        (pki.pki.ocsp_responder(), pkcs15),
        (pki.pki.server(), pss),
        (pki.pki.client(), pss),
    ] {
        assert_eq!(pair.key().algorithm(), KeyAlgorithm::Composite(algorithm));
        assert!(stdout.contains(algorithm.name()), "{stdout}");
    }
    serve_and_connect(&pki, "MLDSA65_RSA4096_PSS_SHA512");
    // The intermediate's PKCS#1 v1.5 key as a server key: refused at start-up, with the
    // algorithm to use instead.
    let out = support::run(
        qtls()
            .args(["server", "--listen", "127.0.0.1:0", "--cert"])
            .arg(pki.path("intermediate.pem"))
            .arg("--key")
            .arg(pki.path("intermediate.key")),
        TIMEOUT,
    );
    assert!(out.status.is_some() && !out.success(), "{}", out.stdout);
    for needle in [pkcs15.name(), pss.name(), "CertificateVerify"] {
        assert!(
            out.stderr.contains(needle),
            "{needle:?} missing: {}",
            out.stderr
        );
    }
}

#[test]
fn every_profile_is_listed_and_unknown_ones_are_refused_with_the_list() {
    let help = support::run(qtls().args(["pki", "init", "--help"]), TIMEOUT)
        .expect_success("qtls pki init --help")
        .stdout;
    for profile in qtls_pki::Profile::ALL {
        assert!(
            help.contains(&format!("- {}:", profile.name())),
            "{profile}: {help}"
        );
    }
    assert!(help.contains("also `composite`"), "{help}");
    let dir = tempfile::tempdir().unwrap();
    let out = support::run(
        qtls()
            .args(["pki", "init", "--profile", "mldsa65-rsa4096", "--dir"])
            .arg(dir.path().join("pki")),
        TIMEOUT,
    );
    assert!(!out.success());
    for needle in ["mldsa65-rsa4096", "mldsa65-rsa4096-pss", "mldsa87-ed448"] {
        assert!(out.stderr.contains(needle), "{needle:?}: {}", out.stderr);
    }
    assert!(!Path::new(&dir.path().join("pki")).exists());
}
