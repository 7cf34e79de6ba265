//! mTLS sessions resumed after the client's authorization changed, against `qtls server`
//! processes and a rustls client that keeps its sessions: rustls resumes without calling the
//! certificate verifier, so the server checks the stored client chain right after the
//! handshake. An ACL that no longer permits the client (a server restarted with the same
//! ticket key), a client certificate that expired since the full handshake, and one the
//! server has since learnt is revoked (from its OCSP cache, without asking the responder)
//! each get the resumed connection closed without an answer, as does a session made without
//! a client certificate resumed where one is now required; in http403 mode an ACL deny
//! gets 403.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use qtls_pki::Profile;
use runtime_support::{
    count_lines, expect_line, log_of, start_responder, start_server, test_pki, PkiSpec, TestPki,
    RESPONDER_REQUEST,
};
use rustls_pki_types::ServerName;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn composite_pki(ocsp_url: Option<String>) -> TestPki {
    test_pki(PkiSpec {
        profile: Profile::COMPOSITE,
        ocsp_url,
        ..PkiSpec::default()
    })
}

/// `qtls server` requiring a client certificate from `pki`'s root, allowing `allow`.
fn mtls_server(pki: &TestPki, allow: &str, extra: &[OsString]) -> support::Server {
    let mut args: Vec<OsString> = pki.server_cert_args();
    args.extend([
        OsString::from("--client-ca"),
        pki.root().into(),
        "--require-client-cert".into(),
        "--allow-subject".into(),
        allow.into(),
    ]);
    args.extend(extra.iter().cloned());
    start_server(args)
}

/// What one connection of a [`Client`] saw.
#[derive(Debug)]
struct Visit {
    /// The handshake's outcome.
    handshake: Result<(), String>,
    /// Whether the session was resumed.
    resumed: bool,
    /// Everything the server sent after the handshake (empty: closed without an answer).
    response: String,
}

impl Visit {
    fn served_with(&self, status: &str) -> bool {
        self.handshake.is_ok() && self.response.starts_with(&format!("HTTP/1.1 {status}"))
    }
}

/// A TLS client with one client certificate and a session cache shared by its connections.
struct Client {
    config: Arc<rustls::ClientConfig>,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    fn new(pki: &TestPki, chain: &Path, key: &Path) -> Self {
        Self::with_identity(pki, Some((chain, key)))
    }

    fn with_identity(pki: &TestPki, identity: Option<(&Path, &Path)>) -> Self {
        let settings = qtls::TlsSettings::default();
        let provider = settings.provider().unwrap();
        let identity = identity.map(|(chain, key)| {
            qtls::Identity::from_pem_files(chain, key, &provider, &settings).unwrap()
        });
        let roots = qtls::read_certificates(&pki.root()).unwrap();
        let (config, _) = qtls::client_config(&settings, roots, identity.as_ref()).unwrap();
        Self {
            config: Arc::new(config),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// Connects to 127.0.0.1:`port`, resuming a session when it has one, sends a GET and
    /// reads until the server closes.
    fn get(&self, port: u16) -> Visit {
        self.runtime.block_on(async {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.config));
            let handshake = tokio::time::timeout(
                Duration::from_secs(10),
                connector.connect(ServerName::try_from("localhost").unwrap(), tcp),
            )
            .await
            .expect("the handshake took more than 10 s");
            let mut tls = match handshake {
                Ok(tls) => tls,
                Err(e) => {
                    return Visit {
                        handshake: Err(e.to_string()),
                        resumed: false,
                        response: String::new(),
                    }
                }
            };
            let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            let _ = tls
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await;
            let mut response = Vec::new();
            // An error after part of the answer (a reset) still leaves what was read.
            let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut response))
                .await
                .expect("neither an answer nor a close within 10 s");
            let _ = tls.shutdown().await;
            Visit {
                handshake: Ok(()),
                resumed,
                response: String::from_utf8_lossy(&response).into_owned(),
            }
        })
    }
}

/// A fleet secret for `--ticket-key-file`.
fn ticket_key(pki: &TestPki) -> OsString {
    let path = pki.path("ticket.key");
    std::fs::write(&path, "5f".repeat(32)).unwrap();
    path.into()
}

#[test]
fn resumption_is_refused_when_the_acl_no_longer_permits_the_client() {
    let pki = composite_pki(None);
    let key = ticket_key(&pki);
    let tickets = [OsString::from("--ticket-key-file"), key];
    let allowing = mtls_server(&pki, &pki.client_subject(), &tickets);
    // The same fleet secret: the server restarted with a narrower ACL (or another node).
    let denying = mtls_server(&pki, "CN=someone-else,O=Q-TLS", &tickets);
    let mut http403 = tickets.to_vec();
    http403.extend([OsString::from("--deny-with"), "http403".into()]);
    let denying_403 = mtls_server(&pki, "CN=someone-else,O=Q-TLS", &http403);
    let client = Client::new(&pki, &pki.client_chain(), &pki.client_key());

    let first = client.get(allowing.port);
    assert!(
        first.served_with("200") && !first.resumed,
        "{first:?}\n{}",
        log_of(&allowing)
    );

    let second = client.get(denying.port);
    assert!(second.resumed, "not resumed, proves nothing: {second:?}");
    assert!(
        second.handshake.is_ok() && second.response.is_empty(),
        "a resumed session got past an ACL that denies the client: {second:?}\n{}",
        log_of(&denying)
    );
    expect_line(
        &denying,
        &[
            "resumed session refused",
            "CN=qtls-client,O=Q-TLS",
            "denied by the ACL",
        ],
    );

    // In http403 mode the application answers a denied client, resumed or not.
    let third = client.get(denying_403.port);
    assert!(third.resumed, "not resumed, proves nothing: {third:?}");
    assert!(
        third.served_with("403"),
        "{third:?}\n{}",
        log_of(&denying_403)
    );
}

#[test]
fn resumption_is_refused_once_the_client_certificate_expired() {
    let pki = composite_pki(None);
    // A client certificate valid for a few more seconds.
    let key = qtls_provider::KeyPair::generate(
        Profile::COMPOSITE.key_algorithm(),
        qtls_provider::Backend::AwsLc,
    )
    .unwrap();
    let now = OffsetDateTime::now_utc();
    let not_after = now + time::Duration::seconds(8);
    let intermediate = pki.pki.intermediate();
    let cert = qtls_pki::CertificateBuilder::new(qtls_pki::Usage::ClientLeaf, "short-lived")
        .organization("Q-TLS")
        .validity(now - time::Duration::hours(1), not_after)
        .signed_by(&key, intermediate)
        .unwrap();
    let chain = pki.path("short-lived-chain.pem");
    std::fs::write(
        &chain,
        cert.to_pem().unwrap() + &intermediate.certificate().to_pem().unwrap(),
    )
    .unwrap();
    let key_path = pki.path("short-lived.key");
    std::fs::write(&key_path, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();

    let server = mtls_server(&pki, "CN=short-lived,O=Q-TLS", &[]);
    let client = Client::new(&pki, &chain, &key_path);
    let first = client.get(server.port);
    assert!(
        first.served_with("200") && !first.resumed,
        "{first:?}\n{}",
        log_of(&server)
    );

    // notAfter has whole seconds: wait until it is past.
    let expiry = UNIX_EPOCH + Duration::from_secs(not_after.unix_timestamp() as u64);
    if let Ok(left) = expiry.duration_since(SystemTime::now()) {
        std::thread::sleep(left + Duration::from_millis(1500));
    }
    let second = client.get(server.port);
    assert!(second.resumed, "not resumed, proves nothing: {second:?}");
    assert!(
        second.handshake.is_ok() && second.response.is_empty(),
        "a resumed session outlived its client certificate: {second:?}\n{}",
        log_of(&server)
    );
    expect_line(
        &server,
        &[
            "resumed session refused",
            "CN=short-lived,O=Q-TLS",
            "expired",
        ],
    );
}

#[test]
fn resumption_is_refused_once_the_server_learnt_the_client_certificate_is_revoked() {
    let responder_port = support::free_port();
    let pki = composite_pki(Some(format!("http://127.0.0.1:{responder_port}/")));
    // Answers valid for 2 s, so the server asks again for the next full handshake.
    let responder = start_responder(&pki, responder_port, 2);
    let server = mtls_server(&pki, &pki.client_subject(), &[]);
    let client = Client::new(&pki, &pki.client_chain(), &pki.client_key());
    let first = client.get(server.port);
    assert!(
        first.served_with("200") && !first.resumed,
        "{first:?}\n{}",
        log_of(&server)
    );

    support::run(
        runtime_support::qtls()
            .args(["pki", "revoke", "--dir"])
            .arg(pki.dir.path())
            .arg("--cert")
            .arg(pki.path("client.pem"))
            .args(["--reason", "keyCompromise"]),
        Duration::from_secs(20),
    )
    .expect_success("qtls pki revoke");
    std::thread::sleep(Duration::from_secs(3));

    // Another client with the same certificate makes a full handshake: the server asks the
    // responder again and learns of the revocation.
    let other = Client::new(&pki, &pki.client_chain(), &pki.client_key()).get(server.port);
    assert!(
        other.handshake.is_err() || other.response.is_empty(),
        "{other:?}\n{}",
        log_of(&server)
    );
    expect_line(&server, &["connection failed", "certificate_revoked sent"]);

    let asked = count_lines(&responder, RESPONDER_REQUEST);
    let second = client.get(server.port);
    assert!(second.resumed, "not resumed, proves nothing: {second:?}");
    assert!(
        second.handshake.is_ok() && second.response.is_empty(),
        "a resumed session of a revoked client was served: {second:?}\n{}",
        log_of(&server)
    );
    expect_line(
        &server,
        &[
            "resumed session refused",
            "CN=qtls-client,O=Q-TLS",
            "revoked",
        ],
    );
    // The resumption asked no one.
    assert_eq!(
        count_lines(&responder, RESPONDER_REQUEST),
        asked,
        "{}",
        log_of(&responder)
    );
}

#[test]
fn resumption_without_a_certificate_is_refused_where_one_is_now_required() {
    let pki = composite_pki(None);
    let key = ticket_key(&pki);
    let mut optional: Vec<OsString> = pki.server_cert_args();
    optional.extend([
        OsString::from("--client-ca"),
        pki.root().into(),
        "--ticket-key-file".into(),
        key.clone(),
    ]);
    let optional = start_server(optional);
    let tickets = [OsString::from("--ticket-key-file"), key];
    let required = mtls_server(&pki, &pki.client_subject(), &tickets);
    let client = Client::with_identity(&pki, None);

    let first = client.get(optional.port);
    assert!(
        first.served_with("200") && !first.resumed,
        "{first:?}\n{}",
        log_of(&optional)
    );
    let second = client.get(required.port);
    assert!(second.resumed, "not resumed, proves nothing: {second:?}");
    assert!(
        second.handshake.is_ok() && second.response.is_empty(),
        "a session without a client certificate was resumed where one is required: \
         {second:?}\n{}",
        log_of(&required)
    );
    expect_line(
        &required,
        &["resumed session refused", "without a client certificate"],
    );
}
