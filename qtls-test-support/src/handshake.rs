//! The in-memory handshake driver: a rustls client and server in one thread, records moved
//! between them through byte buffers, and configurations on the fixed clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, ServerConfig,
    ServerConnection, SignatureScheme,
};

use crate::bench::OnCpu;
use crate::clock::FixedClock;
use crate::pki::ServerIdentity;

/// What each side of an exchange ended with.
#[derive(Debug)]
pub struct Outcome {
    /// The client's first error, if any.
    pub client: Result<(), rustls::Error>,
    /// The server's first error, if any.
    pub server: Result<(), rustls::Error>,
    /// Which side failed first (the other one may have failed on its alert).
    pub first_failure: Option<Side>,
}

/// One side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client.
    Client,
    /// The server.
    Server,
}

impl Outcome {
    /// Both sides finished without an error.
    pub fn is_ok(&self) -> bool {
        self.client.is_ok() && self.server.is_ok()
    }
}

/// A client and a server connection for `localhost`.
pub fn pair(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
) -> (ClientConnection, ServerConnection) {
    (
        ClientConnection::new(
            Arc::clone(client),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap(),
        ServerConnection::new(Arc::clone(server)).unwrap(),
    )
}

/// Moves records both ways until neither side has anything to send or a side fails; after a
/// failure the pending alerts are delivered once more, so each side sees what its peer sent.
pub fn drive(client: &mut ClientConnection, server: &mut ServerConnection) -> Outcome {
    drive_timed(client, server).0
}

/// [`drive`], also returning the time spent in the server's calls (reading, processing and
/// writing its records) on a CPU ([`crate::bench::OnCpu`]: preemptions left out), for the
/// benches.
pub fn drive_timed(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> (Outcome, Duration) {
    exchange(client, server, true)
}

/// Moves records both ways until neither side has anything to send or a side fails, and
/// then stops: the failing side's alert stays queued, for tests that look at it.
pub fn drive_until_failure(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), rustls::Error> {
    let outcome = exchange(client, server, false).0;
    match outcome.first_failure {
        Some(Side::Client) => outcome.client,
        Some(Side::Server) => outcome.server,
        None => Ok(()),
    }
}

fn exchange(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
    deliver_alerts: bool,
) -> (Outcome, Duration) {
    let mut outcome = Outcome {
        client: Ok(()),
        server: Ok(()),
        first_failure: None,
    };
    let mut server_time = Duration::ZERO;
    let mut buf = Vec::with_capacity(32 * 1024);
    // Each round moves at least one record; a handshake with tickets takes three or four.
    for _ in 0..32 {
        let sent_to_server = to_server(
            &mut buf,
            client,
            server,
            &mut outcome.server,
            &mut server_time,
        );
        note(&mut outcome.first_failure, &outcome.server, Side::Server);
        if outcome.first_failure.is_some() && !deliver_alerts {
            break;
        }
        let sent_to_client = to_client(
            &mut buf,
            server,
            client,
            &mut outcome.client,
            &mut server_time,
        );
        note(&mut outcome.first_failure, &outcome.client, Side::Client);
        if outcome.first_failure.is_some() {
            if deliver_alerts {
                to_server(
                    &mut buf,
                    client,
                    server,
                    &mut outcome.server,
                    &mut server_time,
                );
                to_client(
                    &mut buf,
                    server,
                    client,
                    &mut outcome.client,
                    &mut server_time,
                );
            }
            break;
        }
        if !sent_to_server && !sent_to_client {
            break;
        }
    }
    (outcome, server_time)
}

/// [`drive_timed`] for exchanges that must succeed (the benches): panics on a failure, else
/// returns the server's time.
pub fn drive_ok(client: &mut ClientConnection, server: &mut ServerConnection) -> Duration {
    let (outcome, server_time) = drive_timed(client, server);
    assert!(outcome.is_ok(), "in-memory exchange failed: {outcome:?}");
    server_time
}

fn note(first: &mut Option<Side>, result: &Result<(), rustls::Error>, side: Side) {
    if first.is_none() && result.is_err() {
        *first = Some(side);
    }
}

/// The client's pending records into the server; whether there were any.
fn to_server(
    buf: &mut Vec<u8>,
    client: &mut ClientConnection,
    server: &mut ServerConnection,
    result: &mut Result<(), rustls::Error>,
    server_time: &mut Duration,
) -> bool {
    buf.clear();
    while client.wants_write() {
        client.write_tls(buf).unwrap();
    }
    let started = OnCpu::start();
    // read_tls takes a flight in pieces, so each is fed until it is used up.
    let mut pending = buf.as_slice();
    while !pending.is_empty() && result.is_ok() {
        server.read_tls(&mut pending).unwrap();
        *result = server.process_new_packets().map(|_| ());
    }
    *server_time += started.elapsed();
    !buf.is_empty()
}

/// The server's pending records into the client (the server's writing counts as its time).
fn to_client(
    buf: &mut Vec<u8>,
    server: &mut ServerConnection,
    client: &mut ClientConnection,
    result: &mut Result<(), rustls::Error>,
    server_time: &mut Duration,
) -> bool {
    buf.clear();
    let started = OnCpu::start();
    while server.wants_write() {
        server.write_tls(buf).unwrap();
    }
    *server_time += started.elapsed();
    let mut pending = buf.as_slice();
    while !pending.is_empty() && result.is_ok() {
        client.read_tls(&mut pending).unwrap();
        *result = client.process_new_packets().map(|_| ());
    }
    !buf.is_empty()
}

/// A server certificate resolver that always answers with the same key.
#[derive(Debug)]
pub struct Resolver(pub Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// A TLS 1.3 server of `identity`'s leaf on the fixed clock, rustls's defaults otherwise.
pub fn server_config(identity: &ServerIdentity, provider: Arc<CryptoProvider>) -> ServerConfig {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.clone()));
    ServerConfig::builder_with_details(provider, Arc::new(FixedClock::default()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), key)
        .unwrap()
}

/// A TLS 1.3 client trusting `identity`'s root on the fixed clock, rustls's defaults otherwise.
pub fn client_config(identity: &ServerIdentity, provider: Arc<CryptoProvider>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(identity.root.clone()).unwrap();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    let verifier: Arc<dyn ServerCertVerifier> = verifier;
    ClientConfig::builder_with_details(provider, Arc::new(FixedClock::default()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// The CertificateVerify schemes a client saw.
pub type Seen = Arc<Mutex<Vec<SignatureScheme>>>;

/// A server certificate verifier that leaves every decision to `inner` and keeps what the
/// server sent: its last OCSP staple and the schemes of its TLS 1.3 CertificateVerify.
#[derive(Debug)]
pub struct Recording {
    /// The verifier that decides.
    pub inner: Arc<dyn ServerCertVerifier>,
    /// The staple of the last certificate verified (empty without one).
    pub staple: Mutex<Vec<u8>>,
    /// The CertificateVerify schemes seen.
    pub seen: Seen,
}

impl Recording {
    /// Records around `inner`.
    pub fn new(inner: Arc<dyn ServerCertVerifier>) -> Self {
        Self {
            inner,
            staple: Mutex::new(Vec::new()),
            seen: Seen::default(),
        }
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.staple.lock().unwrap() = ocsp_response.to_vec();
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.seen.lock().unwrap().push(dss.scheme);
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
