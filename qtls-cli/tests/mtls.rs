//! Mutual TLS against `qtls server --client-ca ROOT --require-client-cert --allow-subject ...`
//! with composite certificates: a permitted client is served and its verified identity
//! reaches the handler; every client-side failure gets its own alert, as the client receives
//! it: no certificate (certificate_required), an unknown CA (unknown_ca), a client certificate
//! revoked by OCSP (certificate_revoked), a certificate without clientAuth
//! (unsupported_certificate), an ACL deny (access_denied, or HTTP 403 in http403 mode).

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::ffi::OsString;
use std::time::Duration;

use qtls_pki::{Pki, PkiOptions, Profile};
use runtime_support::{
    expect_line, run_client, start_responder, start_server, test_pki, ClientRun, PkiSpec, TestPki,
};
use time::OffsetDateTime;

fn composite_pki(ocsp_url: Option<String>) -> TestPki {
    test_pki(PkiSpec {
        profile: Profile::COMPOSITE,
        ocsp_url,
        ..PkiSpec::default()
    })
}

/// `qtls server` requiring a client certificate from `pki`'s root, allowing `allow`.
fn mtls_server(pki: &TestPki, allow: &str, extra: &[&str]) -> support::Server {
    let mut args: Vec<OsString> = pki.server_cert_args();
    args.extend(
        [
            OsString::from("--client-ca"),
            pki.root().into(),
            "--require-client-cert".into(),
            "--allow-subject".into(),
            allow.into(),
        ]
        .into_iter()
        .chain(extra.iter().map(OsString::from)),
    );
    start_server(args)
}

fn with_identity(chain: std::path::PathBuf, key: std::path::PathBuf) -> Vec<OsString> {
    vec!["--cert".into(), chain.into(), "--key".into(), key.into()]
}

fn assert_alert(run: &ClientRun, alert: &str) {
    assert!(!run.succeeded(), "{}", run.describe());
    assert_eq!(
        run.alert(),
        (Some(alert), Some("received")),
        "{}",
        run.describe()
    );
}

fn body(run: &ClientRun) -> serde_json::Value {
    serde_json::from_str(run.json["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", run.describe()))
}

#[test]
fn permitted_client_is_served_and_its_identity_reaches_the_handler() {
    let pki = composite_pki(None);
    let subject = pki.client_subject();
    assert_eq!(subject, "CN=qtls-client,O=Q-TLS");
    let server = mtls_server(&pki, &subject, &[]);
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["http_status"], "HTTP/1.1 200 OK");
    assert_eq!(
        run.json["signature_scheme"],
        "MLDSA65_ECDSA_P384_SHA512",
        "{}",
        run.describe()
    );
    let served = body(&run);
    assert_eq!(served["client"]["subject"], subject.as_str(), "{served}");
    assert_eq!(
        served["client"]["issuer"], "CN=Q-TLS Intermediate CA,O=Q-TLS",
        "{served}"
    );
    expect_line(
        &server,
        &[
            "served",
            "client=Some(\"CN=qtls-client,O=Q-TLS\")",
            "status=Some(200)",
        ],
    );
}

#[test]
fn client_without_a_certificate_gets_certificate_required() {
    let pki = composite_pki(None);
    let server = mtls_server(&pki, &pki.client_subject(), &[]);
    let run = run_client(server.port, &pki.root(), Vec::<OsString>::new());
    assert_alert(&run, "certificate_required");
    expect_line(&server, &["connection failed", "certificate_required sent"]);
    // The alert comes after the client's Finished: a client that sends no request hears it
    // while it waits for the server to close.
    let run = run_client(server.port, &pki.root(), ["--no-request"]);
    assert_alert(&run, "certificate_required");
}

#[test]
fn client_certificate_from_an_unknown_ca_gets_unknown_ca() {
    let pki = composite_pki(None);
    // Another hierarchy with other CA names (a same-named CA would fail on its signature).
    let mut options = PkiOptions::new(OffsetDateTime::now_utc() - time::Duration::hours(1));
    options.profile = Profile::COMPOSITE;
    options.organization = "Elsewhere".into();
    let other = Pki::generate(&options).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    other.write_to_dir(other_dir.path()).unwrap();

    let server = mtls_server(&pki, &pki.client_subject(), &[]);
    let run = run_client(
        server.port,
        &pki.root(),
        with_identity(
            other_dir.path().join("client-chain.pem"),
            other_dir.path().join("client.key"),
        ),
    );
    assert_alert(&run, "unknown_ca");
    expect_line(&server, &["connection failed", "unknown_ca sent"]);
}

#[test]
fn client_certificate_revoked_by_ocsp_gets_certificate_revoked() {
    let responder_port = support::free_port();
    let pki = composite_pki(Some(format!("http://127.0.0.1:{responder_port}/")));
    let responder = start_responder(&pki, responder_port, 3600);
    let server = mtls_server(&pki, &pki.client_subject(), &[]);

    // Before the revocation the server asks the responder and lets the client in.
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());

    // A second client certificate of the same CA, then revoked with `qtls pki revoke`.
    let revoked = pki.pki.intermediate();
    let key = qtls_provider::KeyPair::generate(
        Profile::COMPOSITE.key_algorithm(),
        qtls_provider::Backend::AwsLc,
    )
    .unwrap();
    let now = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let cert = qtls_pki::CertificateBuilder::new(qtls_pki::Usage::ClientLeaf, "revoked-client")
        .organization("Q-TLS")
        .validity(now, now + time::Duration::days(30))
        .ocsp_url(format!("http://127.0.0.1:{responder_port}/"))
        .signed_by(&key, revoked)
        .unwrap();
    let index_path = pki.path("revoked.txt");
    let mut index = qtls_pki::RevocationIndex::read(&index_path).unwrap();
    index.add_issued(&cert);
    index.write(&index_path).unwrap();
    let chain = pki.path("revoked-client-chain.pem");
    std::fs::write(
        &chain,
        cert.to_pem().unwrap() + &revoked.certificate().to_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(pki.path("revoked-client.pem"), cert.to_pem().unwrap()).unwrap();
    let key_path = pki.path("revoked-client.key");
    std::fs::write(&key_path, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    support::run(
        runtime_support::qtls()
            .args(["pki", "revoke", "--dir"])
            .arg(pki.dir.path())
            .arg("--cert")
            .arg(pki.path("revoked-client.pem"))
            .args(["--reason", "keyCompromise"]),
        Duration::from_secs(20),
    )
    .expect_success("qtls pki revoke");

    let run = run_client(server.port, &pki.root(), with_identity(chain, key_path));
    assert_alert(&run, "certificate_revoked");
    expect_line(&server, &["connection failed", "certificate_revoked sent"]);
    // The responder was asked about it (the server checked online, not from a cache).
    assert!(
        runtime_support::log_of(&responder).contains("Revoked"),
        "{}",
        runtime_support::log_of(&responder)
    );
}

#[test]
fn client_certificate_without_client_auth_eku_gets_unsupported_certificate() {
    let pki = composite_pki(None);
    let server = mtls_server(&pki, "CN=localhost,O=Q-TLS", &[]);
    // The server certificate (serverAuth only) presented as a client certificate.
    let run = run_client(
        server.port,
        &pki.root(),
        with_identity(pki.server_chain(), pki.server_key()),
    );
    assert_alert(&run, "unsupported_certificate");
    expect_line(
        &server,
        &["connection failed", "unsupported_certificate sent"],
    );
}

#[test]
fn client_denied_by_the_acl_gets_access_denied() {
    let pki = composite_pki(None);
    let server = mtls_server(&pki, "CN=someone-else,O=Q-TLS", &[]);
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert_alert(&run, "access_denied");
    expect_line(
        &server,
        &["client denied by the ACL", "subject=CN=qtls-client,O=Q-TLS"],
    );
    expect_line(&server, &["connection failed", "access_denied sent"]);
}

#[test]
fn client_denied_by_the_acl_in_http403_mode_gets_403() {
    let pki = composite_pki(None);
    let server = mtls_server(&pki, "CN=someone-else,O=Q-TLS", &["--deny-with", "http403"]);
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["http_status"], "HTTP/1.1 403 Forbidden");
    assert_eq!(body(&run)["error"], "forbidden");
    expect_line(&server, &["served", "status=Some(403)"]);
}

/// `qtls server --client-ca ROOT --allow-subject ...` without `--require-client-cert`.
fn acl_server_without_require(pki: &TestPki, extra: &[&str]) -> support::Server {
    let mut args: Vec<OsString> = pki.server_cert_args();
    args.extend(
        [
            OsString::from("--client-ca"),
            pki.root().into(),
            "--allow-subject".into(),
            pki.client_subject().into(),
        ]
        .into_iter()
        .chain(extra.iter().map(OsString::from)),
    );
    start_server(args)
}

/// Issue #12 item 1: an allow-list implies a client certificate; without one a client got
/// 200 while a listed or unlisted certificate was checked.
#[test]
fn allow_list_without_require_client_cert_still_requires_a_certificate() {
    let pki = composite_pki(None);
    let server = acl_server_without_require(&pki, &[]);
    let run = run_client(server.port, &pki.root(), Vec::<OsString>::new());
    assert_alert(&run, "certificate_required");
    expect_line(
        &server,
        &["requiring a client certificate", "allow-list has 1 rule"],
    );
    expect_line(&server, &["connection failed", "certificate_required sent"]);
    // The listed client still gets in.
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["http_status"], "HTTP/1.1 200 OK");
}

/// As above with `--deny-with http403`: a client without a certificate is not served either.
#[test]
fn allow_list_in_http403_mode_without_require_client_cert_requires_a_certificate() {
    let pki = composite_pki(None);
    let server = acl_server_without_require(&pki, &["--deny-with", "http403"]);
    let run = run_client(server.port, &pki.root(), Vec::<OsString>::new());
    assert_alert(&run, "certificate_required");
}

/// Without an allow-list the client certificate stays optional: a client without one is served.
#[test]
fn client_ca_without_allow_list_keeps_the_certificate_optional() {
    let pki = composite_pki(None);
    let mut args: Vec<OsString> = pki.server_cert_args();
    args.extend([OsString::from("--client-ca"), pki.root().into()]);
    let server = start_server(args);
    let run = run_client(server.port, &pki.root(), Vec::<OsString>::new());
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["http_status"], "HTTP/1.1 200 OK");
}
