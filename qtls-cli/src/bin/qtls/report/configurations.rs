//! The configurations of the message-size table: classical TLS 1.3, Q-TLS hybrid and
//! PQC-only, each a key-exchange group and a certificate chain; their message sizes and the
//! server's CPU time per full handshake.

use std::path::Path;
use std::time::Duration;

use qtls::{Error, TlsSettings};
use qtls_provider::{CompositeAlgorithm, EcCurve, KeyAlgorithm, MlDsaLevel};

use super::client::{Client, Connection, Request};
use super::cpu::Cpu;
use super::model::{CpuPerHandshake, Measured, Messages};
use super::servers::ServerProcess;

/// Bounds one connection of the report (loopback, plus at most a few delayed RTTs).
pub(super) const CONNECTION_LIMIT: Duration = Duration::from_secs(30);

/// Handshakes before the CPU is read, so that lazily built state is not counted.
const WARMUP: usize = 2;

/// One configuration.
pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) label: &'static str,
    pub(super) group: &'static str,
    pub(super) certificate: &'static str,
    pub(super) preset: &'static str,
    pub(super) algorithm: KeyAlgorithm,
    /// Why `openssl s_server` cannot serve it, if it cannot.
    pub(super) no_openssl: Option<&'static str>,
}

/// The classical baseline first: ratios are taken to it.
pub(super) fn specs() -> Vec<Spec> {
    vec![
        Spec {
            name: "classical",
            label: "Classical TLS 1.3",
            group: "X25519",
            certificate: "ECDSA P-256",
            preset: "compatible",
            algorithm: KeyAlgorithm::Ecdsa(EcCurve::P256),
            no_openssl: None,
        },
        Spec {
            name: "classical-p384",
            label: "Classical TLS 1.3 (P-384)",
            group: "X25519",
            certificate: "ECDSA P-384",
            preset: "compatible",
            algorithm: KeyAlgorithm::Ecdsa(EcCurve::P384),
            no_openssl: None,
        },
        Spec {
            name: "hybrid",
            label: "Q-TLS hybrid",
            group: "SecP384r1MLKEM1024",
            certificate: "MLDSA65-ECDSA-P384 (composite)",
            preset: "hybrid",
            algorithm: KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
            no_openssl: Some("OpenSSL 4 has no composite ML-DSA signatures"),
        },
        Spec {
            name: "pqc-only",
            label: "PQC-only",
            group: "MLKEM1024",
            certificate: "ML-DSA-87",
            preset: "pqc-only",
            algorithm: KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa87),
            no_openssl: None,
        },
    ]
}

impl Spec {
    /// `qtls client --preset P --group G --ca ROOT`'s configuration.
    pub(super) fn client(&self, root: &Path) -> Result<Client, Error> {
        let settings = TlsSettings {
            preset: self.preset.parse()?,
            groups: vec![self.group.to_string()],
            ..TlsSettings::default()
        };
        Client::new(&settings, qtls::read_certificates(root)?)
    }
}

/// The sizes one connection saw.
pub(super) fn messages(connection: &Connection) -> Messages {
    let share = |hello: &Option<super::hello::Hello>| {
        hello
            .as_ref()
            .and_then(|h| h.key_shares.iter().map(|s| s.1).reduce(|a, b| a + b))
    };
    Messages {
        client_hello: connection.client_hello.as_ref().map(|h| h.message_len),
        server_hello: connection.server_hello.as_ref().map(|h| h.message_len),
        certificate: connection.certificate,
        certificate_verify: connection.certificate_verify,
        client_key_share: share(&connection.client_hello),
        server_key_share: share(&connection.server_hello),
        handshake_total: Some((connection.sent + connection.received) as usize),
    }
}

/// One full handshake with a `GET /` for the sizes, then `handshakes` more (each with a
/// fresh session cache, closed right after the handshake) for the server's CPU time.
pub(super) async fn measure(
    client: &Client,
    server: &mut ServerProcess,
    handshakes: u64,
) -> Result<Measured, Error> {
    let failed = |server: &ServerProcess, e: Error| server.failed(&format!("handshake: {e}"));
    let first = match client
        .fresh(false)
        .connect(server.addr, Request::Get, CONNECTION_LIMIT)
        .await
    {
        Ok(first) => first,
        Err(e) => return Err(failed(server, e)),
    };
    if first.http_status.is_none() {
        return Err(server.failed("no HTTP response to GET /"));
    }
    for _ in 0..WARMUP {
        if let Err(e) = client
            .fresh(false)
            .connect(server.addr, Request::Close, CONNECTION_LIMIT)
            .await
        {
            return Err(failed(server, e));
        }
    }
    let before = Cpu::read(server.pid())?;
    for _ in 0..handshakes {
        if let Err(e) = client
            .fresh(false)
            .connect(server.addr, Request::Close, CONNECTION_LIMIT)
            .await
        {
            return Err(failed(server, e));
        }
    }
    let (ns, precise) = Cpu::read(server.pid())?.since(&before);
    server.check_running()?;
    Ok(Measured {
        server: server.name.clone(),
        negotiated_group: first.group.clone(),
        signature_scheme: first.signature_scheme.clone(),
        cipher_suite: first.cipher_suite.clone(),
        messages: messages(&first),
        ratio_to_classical: None,
        handshake_bytes_sent: first.sent,
        handshake_bytes_received: first.received,
        cpu: Some(CpuPerHandshake {
            handshakes,
            microseconds: ns as f64 / 1000.0 / handshakes.max(1) as f64,
            precise,
        }),
    })
}
