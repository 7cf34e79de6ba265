//! In-process TLS 1.3 for the root crate's benches: a PKI, configurations on a fixed clock,
//! and a driver that moves records between a client and a server in one thread. Used with
//! `#[path = "support/inproc.rs"] mod inproc;`.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use qtls_pki::{CertificateBuilder, CertifiedKeyPair, Usage};
use qtls_provider::{Backend, KeyAlgorithm, KeyPair};
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use time::OffsetDateTime;

/// 2026-01-01T00:00:00Z: the PKI's notBefore.
pub const NOW_UNIX: i64 = 1_767_225_600;

/// A rustls clock fixed one day after the PKI was issued.
#[derive(Debug)]
pub struct FixedClock;

impl rustls::time_provider::TimeProvider for FixedClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(
            (NOW_UNIX + 86_400) as u64,
        )))
    }
}

pub struct BenchPki {
    pub root: CertificateDer<'static>,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Vec<u8>,
}

/// Root → intermediate → leaf "localhost", every key of `algorithm`.
pub fn pki(algorithm: KeyAlgorithm) -> BenchPki {
    let now = OffsetDateTime::from_unix_timestamp(NOW_UNIX).unwrap();
    let until = now + time::Duration::days(3650);
    let root_key = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
    let root = CertificateBuilder::new(Usage::RootCa, "Bench Root")
        .validity(now, until)
        .self_signed(&root_key)
        .unwrap();
    let root = CertifiedKeyPair::new(root, root_key).unwrap();
    let intermediate_key = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
    let intermediate =
        CertificateBuilder::new(Usage::IntermediateCa { path_len: Some(0) }, "Bench CA")
            .validity(now, until)
            .signed_by(&intermediate_key, &root)
            .unwrap();
    let leaf_key = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
    let leaf = CertificateBuilder::new(Usage::ServerLeaf, "localhost")
        .validity(now, until)
        .dns_names(["localhost"])
        .signed_by(
            &leaf_key,
            &CertifiedKeyPair::new(intermediate.clone(), intermediate_key).unwrap(),
        )
        .unwrap();
    BenchPki {
        root: root.certificate().to_certificate_der(),
        chain: vec![leaf.to_certificate_der(), intermediate.to_certificate_der()],
        key: leaf_key.to_pkcs8_der().unwrap().to_vec(),
    }
}

/// A TLS 1.3 server of the PKI's leaf, with rustls's defaults otherwise.
pub fn server_config(pki: &BenchPki, provider: Arc<CryptoProvider>) -> ServerConfig {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone()));
    ServerConfig::builder_with_details(provider, Arc::new(FixedClock))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), key)
        .unwrap()
}

/// A TLS 1.3 client trusting the PKI's root, with rustls's defaults otherwise.
pub fn client_config(pki: &BenchPki, provider: Arc<CryptoProvider>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(pki.root.clone()).unwrap();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    let verifier: Arc<dyn ServerCertVerifier> = verifier;
    ClientConfig::builder_with_details(provider, Arc::new(FixedClock))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// Moves records between the two sides until neither has anything to say; `read_tls` takes
/// a flight in pieces, so each is fed until it is used up. Returns the time spent in the
/// server's calls (reading, processing and writing its records).
pub fn drive(client: &mut ClientConnection, server: &mut ServerConnection) -> Duration {
    let mut buf = Vec::with_capacity(32 * 1024);
    let mut server_time = Duration::ZERO;
    for _ in 0..20 {
        let mut progressed = false;
        buf.clear();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
            progressed = true;
        }
        let mut pending = buf.as_slice();
        let started = Instant::now();
        while !pending.is_empty() {
            server.read_tls(&mut pending).unwrap();
            server.process_new_packets().unwrap();
        }
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
            progressed = true;
        }
        server_time += started.elapsed();
        let mut pending = buf.as_slice();
        while !pending.is_empty() {
            client.read_tls(&mut pending).unwrap();
            client.process_new_packets().unwrap();
        }
        if !progressed {
            return server_time;
        }
    }
    server_time
}
