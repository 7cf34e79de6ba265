//! The verifier tests' handshakes and responders, on qtls-test-support's fixed clock, test
//! PKIs and in-memory driver (re-exported here).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;

// Each test file uses its own subset.
#[allow(unused_imports)]
pub use qtls_test_support::{
    clock::{at, issued, now, FixedClock, DAY, ISSUED},
    handshake::{drive, Outcome, Resolver},
    pki::{ca, TestPki},
};

use qtls_provider::KeyPair;
use qtls_verifier::{ClientVerifierBuilder, ServerVerifierBuilder};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(qtls_provider::hybrid())
}

/// A server verifier trusting `pki`'s root, revocation off.
pub fn verifier(pki: &TestPki) -> ServerVerifierBuilder {
    ServerVerifierBuilder::new(pki.roots(), &provider())
        .revocation_policy(qtls_verifier::RevocationPolicy::Off)
}

/// A client verifier trusting `pki`'s root, revocation off.
pub fn client_verifier(pki: &TestPki) -> ClientVerifierBuilder {
    ClientVerifierBuilder::new(pki.roots(), &provider())
        .revocation_policy(qtls_verifier::RevocationPolicy::Off)
}

/// A full in-memory handshake at `time`: the server presents `chain` (signed by `key`),
/// staples `staple`, and the client verifies with `verifier`.
pub fn handshake(
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
    staple: Option<Vec<u8>>,
    verifier: Arc<dyn ServerCertVerifier>,
    time: UnixTime,
) -> Outcome {
    let provider = provider();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        key.to_pkcs8_der().unwrap().to_vec(),
    ));
    let signing_key = provider.key_provider.load_private_key(key_der).unwrap();
    let mut certified = CertifiedKey::new(chain, signing_key);
    certified.ocsp = staple;
    let clock = Arc::new(FixedClock(time));
    let server_config = ServerConfig::builder_with_details(Arc::clone(&provider), clock.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(Arc::new(certified))));
    let client_config = ClientConfig::builder_with_details(provider, clock)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
    let mut client =
        ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap()).unwrap();
    drive(&mut client, &mut server)
}

/// Asserts the client refused with `expected` and the server received `alert`.
pub fn assert_refused(
    outcome: &Outcome,
    expected: &rustls::CertificateError,
    alert: rustls::AlertDescription,
) {
    match &outcome.client {
        Err(rustls::Error::InvalidCertificate(error)) => assert_eq!(
            std::mem::discriminant(error),
            std::mem::discriminant(expected),
            "client error {error:?}, expected {expected:?}"
        ),
        other => panic!("client: expected {expected:?}, got {other:?}"),
    }
    assert_eq!(
        outcome.server,
        Err(rustls::Error::AlertReceived(alert)),
        "alert the server received"
    );
}

/// Asserts the client refused the server's chain for an unknown revocation status with an
/// error whose text names the certificate (`subject`, `serial`) and each source tried
/// (`tried`), and that the server received certificate_unknown.
pub fn assert_refused_for_unknown_status(
    outcome: &Outcome,
    subject: &str,
    serial: &[u8],
    tried: &[&str],
) {
    let error = match &outcome.client {
        Err(error @ rustls::Error::InvalidCertificate(rustls::CertificateError::Other(_))) => {
            error.to_string()
        }
        other => panic!("client: expected an explained unknown revocation status, got {other:?}"),
    };
    let serial: String = serial.iter().map(|b| format!("{b:02x}")).collect();
    for needle in [subject, &serial, "revocation status"].iter().chain(tried) {
        assert!(error.contains(needle), "{needle:?} missing from: {error}");
    }
    assert_eq!(
        outcome.server,
        Err(rustls::Error::AlertReceived(
            rustls::AlertDescription::CertificateUnknown
        )),
        "alert the server received"
    );
}

/// How a test HTTP responder makes an answer from a request body.
pub type Respond = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// What a test HTTP responder does with each request.
#[derive(Clone)]
pub enum Behaviour {
    /// Answer 200 with these bytes.
    Answer(Respond),
    /// Wait this long, then answer like `Answer`.
    Slow(std::time::Duration, Respond),
}

/// A tiny HTTP/1.1 responder on loopback (OCSP POSTs and CRL GETs), counting requests.
pub struct HttpResponder {
    pub url: String,
    pub requests: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl HttpResponder {
    pub fn start(behaviour: Behaviour) -> Self {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                let body = loop {
                    let Ok(n) = stream.read(&mut buf) else {
                        break Vec::new();
                    };
                    if n == 0 {
                        break Vec::new();
                    }
                    data.extend_from_slice(&buf[..n]);
                    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        while data.len() < end + 4 + length {
                            let Ok(n) = stream.read(&mut buf) else { break };
                            if n == 0 {
                                break;
                            }
                            data.extend_from_slice(&buf[..n]);
                        }
                        break data[end + 4..].to_vec();
                    }
                };
                let answer = match &behaviour {
                    Behaviour::Answer(f) => f(&body),
                    Behaviour::Slow(delay, f) => {
                        std::thread::sleep(*delay);
                        f(&body)
                    }
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&answer);
            }
        });
        Self {
            url,
            requests,
            stop,
        }
    }

    pub fn count(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for HttpResponder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A URL nothing listens on (a port bound then released).
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[derive(Debug)]
pub struct ClientCert(pub Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A server chain trusted by the client (from `server_pki`, no revocation), and a client
/// presenting `client` (or nothing), verified by `verifier` on the server. Returns both
/// outcomes and the server connection for inspecting the client identity.
pub fn mutual_handshake(
    server_pki: &TestPki,
    client: Option<(Vec<CertificateDer<'static>>, &KeyPair)>,
    verifier: Arc<qtls_verifier::QtlsClientVerifier>,
    time: UnixTime,
) -> (Outcome, ServerConnection) {
    let provider = provider();
    let load = |key: &KeyPair| {
        provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key.to_pkcs8_der().unwrap().to_vec(),
            )))
            .unwrap()
    };
    let server_leaf = server_pki.server_leaf();
    let server_key = CertifiedKey::new(
        server_pki.chain(server_leaf.certificate()),
        load(server_leaf.key()),
    );
    let clock = Arc::new(FixedClock(time));
    let server_config = ServerConfig::builder_with_details(Arc::clone(&provider), clock.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(Resolver(Arc::new(server_key))));
    let server_verifier = ServerVerifierBuilder::new(server_pki.roots(), &provider)
        .revocation_policy(qtls_verifier::RevocationPolicy::Off)
        .build()
        .unwrap();
    let builder = ClientConfig::builder_with_details(Arc::clone(&provider), clock)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(server_verifier);
    let client_config = match client {
        Some((chain, key)) => builder.with_client_cert_resolver(Arc::new(ClientCert(Arc::new(
            CertifiedKey::new(chain, load(key)),
        )))),
        None => builder.with_no_client_auth(),
    };
    let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
    let mut client =
        ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap()).unwrap();
    let outcome = drive(&mut client, &mut server);
    (outcome, server)
}
