//! Error scenarios against the Q-TLS runtime, each asserting the alert (RFC 8446 §6.2) the
//! peer actually receives (scenario 8, a failing HSM, lives in tests/hsm_failover.rs):
//!
//! 1. no shared cipher suite: handshake_failure, then the client's fallback succeeds;
//! 2. expired server certificate: certificate_expired;
//! 3. revoked server certificate (stapled OCSP says revoked): certificate_revoked;
//! 4. invalid CertificateVerify signature: decrypt_error;
//! 5. TLS 1.2-only client (`openssl s_client -tls1_2`): protocol_version;
//! 6. Finished with a wrong MAC (tlslite-ng): decrypt_error, and a record-layer bit flip for
//!    contrast: bad_record_mac;
//! 7. classical groups only against the hybrid policy: insufficient_security, with
//!    `openssl s_client -groups X25519` and `qtls client --group X25519`.
//!
//! Real TCP on loopback; `qtls server` / `qtls client` processes, OpenSSL 4 and tlslite-ng as
//! peers (skipped without them, except under CI=true), and the library in-process where the
//! server must misbehave on purpose.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use qtls::client::ClientOptions;
use qtls::{CertificateSet, QtlsAcceptor, ServedCertificate, TlsSettings};
use qtls_cli::{Server, ServerSettings};
use qtls_pki::{OcspCertId, OcspCertStatus, OcspHash, OcspResponseBuilder, RevocationReason};
use qtls_provider::{Backend, KeyAlgorithm, KeyPair, MlDsaLevel, Preset};
use runtime_support::{expect_line, run_client, start_server, test_pki, PkiSpec, TestPki};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use time::OffsetDateTime;

/// Every in-process test step is bounded by this.
const STEP: Duration = Duration::from_secs(30);

fn args(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

/// `qtls server --preset hybrid` with `pki`'s server certificate, plus `extra`.
fn hybrid_server(pki: &TestPki, extra: &[&str]) -> support::Server {
    let mut all = args(&["--preset", "hybrid"]);
    all.extend(pki.server_cert_args());
    all.extend(args(extra));
    start_server(all)
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

fn library_settings(pki: &TestPki) -> ServerSettings {
    ServerSettings {
        certificates: vec![(pki.server_chain(), pki.server_key())],
        ..ServerSettings::default()
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

// 1. No shared cipher suite.

/// `qtls client --cipher-suite TLS13_AES_128_GCM_SHA256` against a hybrid server (only
/// TLS13_AES_256_GCM_SHA384): the server sends handshake_failure; with `--fallback compatible`
/// the client retries once with the broader preset, succeeds, says so in its log and reports
/// the first attempt's alert in its JSON.
#[test]
fn s1_no_shared_cipher_suite_is_handshake_failure_then_the_fallback_succeeds() {
    let pki = test_pki(PkiSpec::default());
    let server = hybrid_server(&pki, &[]);
    let restricted = ["--cipher-suite", "TLS13_AES_128_GCM_SHA256"];

    let first = run_client(server.port, &pki.root(), restricted);
    assert!(!first.succeeded(), "{}", first.describe());
    assert_eq!(
        first.alert(),
        (Some("handshake_failure"), Some("received")),
        "{}",
        first.describe()
    );
    expect_line(&server, &["connection failed", "handshake_failure sent"]);

    let mut with_fallback = args(&restricted);
    with_fallback.extend(args(&["--fallback", "compatible"]));
    let second = run_client(server.port, &pki.root(), with_fallback);
    assert!(second.succeeded(), "{}", second.describe());
    let v = &second.json;
    assert_eq!(v["alert"], "handshake_failure", "{}", second.describe());
    assert_eq!(v["cipher_suite"], "TLS13_AES_256_GCM_SHA384", "{v}");
    assert_eq!(v["group"], "SecP384r1MLKEM1024", "{v}");
    assert_eq!(v["http_status"], "HTTP/1.1 200 OK", "{v}");
    assert!(
        second
            .out
            .stderr
            .contains("handshake_failure with preset hybrid; retrying once with preset compatible"),
        "the fallback is not logged: {}",
        second.describe()
    );
}

/// The same through the library: `qtls::client::fetch` against an in-process `Server`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_library_fetch_falls_back_after_handshake_failure() {
    let pki = test_pki(PkiSpec::default());
    let server = Server::bind(loopback(), library_settings(&pki))
        .await
        .unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let shutdown = server.shutdown_handle();
    let running = tokio::spawn(server.run());

    let mut options = ClientOptions {
        settings: TlsSettings {
            cipher_suites: vec!["TLS13_AES_128_GCM_SHA256".into()],
            ..TlsSettings::default()
        },
        roots: qtls::read_certificates(&pki.root()).unwrap(),
        intermediates: Vec::new(),
        identity: None,
        fallback: None,
        timeout: Duration::from_secs(10),
        key_update: Default::default(),
        request: Some(Default::default()),
    };
    let error = tokio::time::timeout(STEP, qtls::client::fetch(&addr, localhost(), &options))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        error.alert(),
        Some(("received", "handshake_failure".to_string())),
        "{error}"
    );

    options.fallback = Some(Preset::Compatible.into());
    let report = tokio::time::timeout(STEP, qtls::client::fetch(&addr, localhost(), &options))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.alert.as_deref(), Some("handshake_failure"));
    assert_eq!(
        report.info.cipher_suite.as_deref(),
        Some("TLS13_AES_256_GCM_SHA384")
    );
    assert_eq!(report.http_status.as_deref(), Some("HTTP/1.1 200 OK"));

    shutdown.shutdown();
    tokio::time::timeout(STEP, running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

// 2. Expired server certificate.

/// A server certificate that expired 110 days ago: the client sends certificate_expired and
/// the server's log shows it received exactly that.
#[test]
fn s2_expired_server_certificate_is_certificate_expired() {
    let pki = test_pki(PkiSpec {
        now: OffsetDateTime::now_utc() - time::Duration::days(200),
        leaf_validity: time::Duration::days(90),
        ..PkiSpec::default()
    });
    let server = hybrid_server(&pki, &[]);
    let run = run_client(server.port, &pki.root(), Vec::<OsString>::new());
    assert!(!run.succeeded(), "{}", run.describe());
    assert_eq!(
        run.alert(),
        (Some("certificate_expired"), Some("sent")),
        "{}",
        run.describe()
    );
    expect_line(
        &server,
        &["connection failed", "certificate_expired received"],
    );
}

// 3. Revoked server certificate, by its stapled OCSP response.

/// A DER OCSP response from `pki`'s delegated responder about the server certificate.
fn staple(pki: &TestPki, status: OcspCertStatus) -> Vec<u8> {
    let intermediate = pki.pki.intermediate().certificate();
    let id =
        OcspCertId::for_certificate(OcspHash::Sha1, intermediate, pki.pki.server().certificate())
            .unwrap();
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    OcspResponseBuilder::new(now - time::Duration::minutes(1))
        .next_update(now + time::Duration::hours(1))
        .status(id, status)
        .build(intermediate, pki.pki.ocsp_responder())
        .unwrap()
        .der()
        .to_vec()
}

/// Serves one connection on the in-process `server` while `qtls client` connects; returns
/// the server's outcome (Err: its error text) and the client's run.
async fn one_connection(
    server: &Server,
    root: std::path::PathBuf,
) -> (Result<u16, String>, runtime_support::ClientRun) {
    let port = server.local_addr().unwrap().port();
    let client =
        tokio::task::spawn_blocking(move || run_client(port, &root, Vec::<OsString>::new()));
    let served = tokio::time::timeout(STEP, server.accept_one())
        .await
        .unwrap()
        .map(|served| served.status.unwrap_or_default())
        .map_err(|e| e.to_string());
    let client = tokio::time::timeout(STEP, client).await.unwrap().unwrap();
    (served, client)
}

/// A server that staples a response saying its certificate is revoked (the stapling service
/// itself never staples such a response, so the test installs it through the library's
/// `ServedCertificate::set_staple`): `qtls client` sends certificate_revoked, the server
/// receives it. A good staple on the same server is accepted (`ocsp_status` good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_revoked_staple_is_certificate_revoked() {
    let pki = test_pki(PkiSpec::default());
    let server = Server::bind(loopback(), library_settings(&pki))
        .await
        .unwrap();
    let served = Arc::clone(&server.acceptor().certificates().unwrap().certificates()[0]);

    served.set_staple(Some(staple(&pki, OcspCertStatus::Good)));
    let (outcome, client) = one_connection(&server, pki.root()).await;
    assert!(client.succeeded(), "{}", client.describe());
    assert_eq!(client.json["ocsp_status"], "good", "{}", client.describe());
    assert_eq!(outcome, Ok(200));

    served.set_staple(Some(staple(
        &pki,
        OcspCertStatus::Revoked {
            time: OffsetDateTime::now_utc() - time::Duration::hours(2),
            reason: Some(RevocationReason::KeyCompromise),
        },
    )));
    let (outcome, client) = one_connection(&server, pki.root()).await;
    assert!(!client.succeeded(), "{}", client.describe());
    assert_eq!(
        client.alert(),
        (Some("certificate_revoked"), Some("sent")),
        "{}",
        client.describe()
    );
    let error = outcome.unwrap_err();
    assert!(
        error.contains("alert certificate_revoked received"),
        "server: {error}"
    );
}

/// The server side of scenario 3: `qtls server --config` with stapling from a
/// `qtls ocsp-responder` that says the certificate is revoked (`qtls pki revoke`), and
/// `stop_serving_revoked = true`: the server logs the revocation as an error, stops serving
/// that certificate, and clients get internal_error.
#[test]
fn s3_server_whose_responder_says_revoked_stops_serving() {
    let responder_port = support::free_port();
    let pki = test_pki(PkiSpec {
        ocsp_url: Some(format!("http://127.0.0.1:{responder_port}/")),
        ..PkiSpec::default()
    });
    support::run(
        runtime_support::qtls()
            .args(["pki", "revoke", "--dir"])
            .arg(pki.dir.path())
            .arg("--cert")
            .arg(pki.path("server.pem"))
            .args(["--reason", "keyCompromise"]),
        Duration::from_secs(20),
    )
    .expect_success("qtls pki revoke");
    let _responder = runtime_support::start_responder(&pki, responder_port, 3600);

    let config = pki.path("qtls.toml");
    std::fs::write(
        &config,
        format!(
            "[policy]\npreset = \"hybrid\"\n\n\
             [[certificate]]\nchain = {:?}\nkey = {:?}\n\n\
             [ocsp_stapling]\non_failure = \"soft-fail\"\nstop_serving_revoked = true\n",
            pki.server_chain(),
            pki.server_key()
        ),
    )
    .unwrap();
    let server = start_server([OsString::from("--config"), config.into()]);
    expect_line(&server, &["ERROR", "REVOKED"]);
    expect_line(&server, &["stopped serving the revoked certificate"]);

    let run = run_client(server.port, &pki.root(), Vec::<OsString>::new());
    assert!(!run.succeeded(), "{}", run.describe());
    assert_eq!(
        run.alert(),
        (Some("internal_error"), Some("received")),
        "{}",
        run.describe()
    );
    expect_line(&server, &["refused (internal_error)"]);
}

// 4. Invalid CertificateVerify signature.

/// A server whose key does not match its certificate (`qtls server` refuses to load such a
/// pair, so the test builds the library's acceptor around a hand-made `CertifiedKey`): its
/// CertificateVerify does not verify, and the client answers decrypt_error. Checked with
/// `qtls client` and, when available, `openssl s_client`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_certificate_verify_by_the_wrong_key_is_decrypt_error() {
    let pki = test_pki(PkiSpec::default());
    let settings = TlsSettings::default();
    let provider = settings.provider().unwrap();
    let chain = qtls::read_certificates(&pki.server_chain()).unwrap();
    let wrong =
        KeyPair::generate(KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65), Backend::AwsLc).unwrap();
    let wrong_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        wrong.to_pkcs8_der().unwrap().to_vec(),
    ));
    let signer = provider.key_provider.load_private_key(wrong_der).unwrap();
    let certified = Arc::new(rustls::sign::CertifiedKey::new(chain, signer));
    assert!(
        certified.keys_match().is_err(),
        "the key must not match the certificate"
    );
    let scheme = settings.code_points.scheme_for(wrong.algorithm());
    let served = Arc::new(ServedCertificate::new(
        "mismatched key",
        certified,
        Some(scheme),
        &settings.code_points,
    ));
    let certificates = Arc::new(CertificateSet::new(vec![served], false));
    let config = qtls::server_config(&settings, certificates.clone(), None).unwrap();
    let acceptor = QtlsAcceptor::builder(Arc::new(config))
        .certificates(certificates)
        .code_points(settings.code_points)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept_one = || async {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::timeout(STEP, acceptor.accept(tcp))
            .await
            .unwrap()
            .map(|_| ())
            .map_err(|e| e.to_string())
    };

    let root = pki.root();
    let client =
        tokio::task::spawn_blocking(move || run_client(port, &root, Vec::<OsString>::new()));
    let outcome = tokio::time::timeout(STEP, accept_one()).await.unwrap();
    let client = client.await.unwrap();
    assert_eq!(
        client.alert(),
        (Some("decrypt_error"), Some("sent")),
        "{}",
        client.describe()
    );
    let error = outcome.unwrap_err();
    assert!(
        error.contains("alert decrypt_error received"),
        "server: {error}"
    );

    let Some(openssl) = support::require("OpenSSL 4 (QTLS_OPENSSL)", support::openssl()) else {
        return;
    };
    let root = pki.root();
    let client = tokio::task::spawn_blocking(move || {
        support::run_with_input(
            support::openssl_command(&openssl)
                .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
                .args([
                    "-tls1_3",
                    "-groups",
                    "SecP384r1MLKEM1024",
                    "-servername",
                    "localhost",
                ])
                .arg("-CAfile")
                .arg(root),
            b"",
            Duration::from_secs(20),
        )
    });
    let outcome = tokio::time::timeout(STEP, accept_one()).await.unwrap();
    let output = client.await.unwrap();
    let error = outcome.unwrap_err();
    assert!(
        error.contains("alert decrypt_error received"),
        "server: {error}\nopenssl: {}\n{}",
        output.stdout,
        output.stderr
    );
}

// 5. TLS 1.2-only client.

/// `openssl s_client -tls1_2` against `qtls server`: the policy gate answers the ClientHello
/// with protocol_version (alert 70) and logs why.
#[test]
fn s5_tls12_only_client_gets_protocol_version() {
    let Some(openssl) = support::require("OpenSSL 4 (QTLS_OPENSSL)", support::openssl()) else {
        return;
    };
    let pki = test_pki(PkiSpec::default());
    let server = hybrid_server(&pki, &[]);
    let out = support::run_with_input(
        support::openssl_command(&openssl)
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", server.port),
            ])
            .args(["-tls1_2", "-servername", "localhost"]),
        b"",
        Duration::from_secs(20),
    );
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert!(!out.success(), "s_client should fail: {all}");
    assert!(
        all.contains("alert protocol version") && all.contains("SSL alert number 70"),
        "s_client did not receive protocol_version: {all}"
    );
    expect_line(
        &server,
        &[
            "refused (protocol_version)",
            "client offers no protocol version we serve",
        ],
    );
    expect_line(
        &server,
        &["connection failed", "refused (protocol_version)"],
    );
}

// 6. Finished with a wrong MAC.

fn tlslite_tamper(python: &std::path::Path, port: u16, tamper: &str) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/tlslite_tamper.py");
    let out = support::run(
        Command::new(python)
            .arg(script)
            .args(["--port", &port.to_string(), "--tamper", tamper]),
        Duration::from_secs(30),
    );
    let v = support::last_json(&out.stdout);
    assert!(
        out.success(),
        "tlslite-ng (--tamper {tamper}) received no alert: {v}\n{}",
        out.stderr
    );
    v
}

/// tlslite-ng sends a client Finished whose verify_data is wrong (in an intact record): the
/// server answers decrypt_error (51). For contrast, a bit flipped in the Finished record's
/// AEAD tag is bad_record_mac (20), a different alert.
#[test]
fn s6_finished_with_a_wrong_mac_is_decrypt_error() {
    let Some(python) = support::require(
        "tlslite-ng venv (QTLS_TLSLITE_PYTHON)",
        support::tlslite_python(),
    ) else {
        return;
    };
    let pki = test_pki(PkiSpec::default());
    let server = hybrid_server(&pki, &[]);

    let v = tlslite_tamper(&python, server.port, "finished");
    assert_eq!(v["handshake_done"], true, "{v}");
    assert_eq!(v["alert"], "decrypt_error", "{v}");
    assert_eq!(v["alert_code"], 51, "{v}");
    assert!(v["response"].is_null(), "the server answered: {v}");

    let v = tlslite_tamper(&python, server.port, "record");
    assert_eq!(v["alert"], "bad_record_mac", "{v}");
    assert_eq!(v["alert_code"], 20, "{v}");

    // Both handshakes failed on the server, and it keeps serving.
    assert!(
        runtime_support::wait_for_count(&server, "connection failed: handshake failed", 2),
        "{}",
        runtime_support::log_of(&server)
    );
    let run = run_client(server.port, &pki.root(), Vec::<OsString>::new());
    assert!(run.succeeded(), "{}", run.describe());
}

// 7. Classical groups only against the hybrid policy.

/// `qtls client --group X25519` against the hybrid policy: the gate answers the ClientHello
/// with insufficient_security (71) and logs the groups offered.
#[test]
fn s7_qtls_client_with_only_x25519_gets_insufficient_security() {
    let pki = test_pki(PkiSpec::default());
    let server = hybrid_server(&pki, &[]);
    let run = run_client(server.port, &pki.root(), ["--group", "X25519"]);
    assert!(!run.succeeded(), "{}", run.describe());
    assert_eq!(
        run.alert(),
        (Some("insufficient_security"), Some("received")),
        "{}",
        run.describe()
    );
    expect_line(
        &server,
        &[
            "refused (insufficient_security)",
            "client offers no post-quantum key exchange (offered: X25519)",
        ],
    );
    // The same client with a hybrid group is served.
    let run = run_client(server.port, &pki.root(), ["--group", "X25519MLKEM768"]);
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["group"], "X25519MLKEM768");
}

/// `openssl s_client -groups X25519` against the hybrid policy: insufficient_security.
#[test]
fn s7_openssl_with_only_x25519_gets_insufficient_security() {
    let Some(openssl) = support::require("OpenSSL 4 (QTLS_OPENSSL)", support::openssl()) else {
        return;
    };
    let pki = test_pki(PkiSpec::default());
    let server = hybrid_server(&pki, &[]);
    let out = support::run_with_input(
        support::openssl_command(&openssl)
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", server.port),
            ])
            .args(["-tls1_3", "-groups", "X25519", "-servername", "localhost"]),
        b"",
        Duration::from_secs(20),
    );
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert!(!out.success(), "s_client should fail: {all}");
    assert!(
        all.contains("alert insufficient security") && all.contains("SSL alert number 71"),
        "s_client did not receive insufficient_security: {all}"
    );
    expect_line(
        &server,
        &["refused (insufficient_security)", "(offered: X25519)"],
    );
}
