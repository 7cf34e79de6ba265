//! Full in-process TLS 1.3 handshakes (client and server in one thread, records moved
//! through memory buffers) for each Q-TLS group × signature scheme on the Hybrid preset,
//! beside rustls's own aws-lc-rs provider with X25519 and an ECDSA-P256 chain, measured in
//! the same run.
//!
//! Every handshake is a full one: client resumption and server tickets/session IDs are off,
//! so each iteration runs the key exchange, the CertificateVerify signature and the chain
//! verification (leaf + intermediate under a trusted root). Each backend in
//! `Backend::available()` is measured (`--features oqs` adds liboqs).
//!
//! Two benchmark groups per backend (see `qtls-provider/benches/support/clock.rs`):
//! - `handshake-<backend>/<name>`: each handshake alone (thread CPU time unless
//!   `QTLS_BENCH_CLOCK=wall`), for absolute times;
//! - `handshake-ratio-<backend>/<group>-<scheme>`: handshake / baseline, run interleaved;
//!   BENCHMARKS.md reports these.
//!
//! `scripts/bench-ratios.py` turns the estimates into the tables in BENCHMARKS.md.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../qtls-provider/benches/support/clock.rs"]
mod clock;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use clock::{BenchClock, Ratio};
use criterion::{criterion_group, criterion_main, Criterion};
use qtls_pki::{CertificateBuilder, CertifiedKeyPair, Usage};
use qtls_provider::{
    Backend, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel, Preset,
    ProviderBuilder,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use time::OffsetDateTime;

/// 2026-01-01T00:00:00Z: the PKI's notBefore.
const NOW_UNIX: i64 = 1_767_225_600;

const GROUPS: [&str; 4] = [
    "SecP384r1MLKEM1024",
    "X25519MLKEM1024",
    "X25519MLKEM768",
    "MLKEM1024",
];

const SCHEMES: [KeyAlgorithm; 3] = [
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
    KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
    KeyAlgorithm::Ecdsa(EcCurve::P384),
];

/// A rustls clock fixed one day after the PKI was issued.
#[derive(Debug)]
struct FixedClock;

impl rustls::time_provider::TimeProvider for FixedClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(
            (NOW_UNIX + 86_400) as u64,
        )))
    }
}

struct BenchPki {
    root: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

/// Root → intermediate → leaf "localhost", every key of `algorithm`.
fn pki(algorithm: KeyAlgorithm) -> BenchPki {
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

fn qtls_provider(backend: Backend, group: &'static dyn SupportedKxGroup) -> Arc<CryptoProvider> {
    Arc::new(
        ProviderBuilder::new()
            .preset(Preset::Hybrid)
            .backend(backend)
            .kx_groups(vec![group])
            .build()
            .unwrap(),
    )
}

/// rustls's own aws-lc-rs provider restricted to X25519.
fn baseline_provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
    Arc::new(provider)
}

fn server_config(pki: &BenchPki, provider: Arc<CryptoProvider>) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone()));
    let mut config = ServerConfig::builder_with_details(provider, Arc::new(FixedClock))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), key)
        .unwrap();
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Arc::new(config)
}

fn client_config(pki: &BenchPki, provider: Arc<CryptoProvider>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.root.clone()).unwrap();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    let verifier: Arc<dyn ServerCertVerifier> = verifier;
    let mut config = ClientConfig::builder_with_details(provider, Arc::new(FixedClock))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Arc::new(config)
}

/// Moves records between the two sides until neither has anything to say; `read_tls` takes
/// a flight in pieces, so each is fed until it is used up.
fn drive(client: &mut ClientConnection, server: &mut ServerConnection) {
    let mut buf = Vec::with_capacity(32 * 1024);
    for _ in 0..20 {
        let mut progressed = false;
        buf.clear();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
            progressed = true;
        }
        let mut pending = buf.as_slice();
        while !pending.is_empty() {
            server.read_tls(&mut pending).unwrap();
            server.process_new_packets().unwrap();
        }
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
            progressed = true;
        }
        let mut pending = buf.as_slice();
        while !pending.is_empty() {
            client.read_tls(&mut pending).unwrap();
            client.process_new_packets().unwrap();
        }
        if !progressed {
            return;
        }
    }
}

/// One full handshake; returns the client for the caller's checks.
fn handshake((client_config, server_config): &Configs) -> ClientConnection {
    let mut server = ServerConnection::new(Arc::clone(server_config)).unwrap();
    let mut client =
        ClientConnection::new(Arc::clone(client_config), "localhost".try_into().unwrap()).unwrap();
    drive(&mut client, &mut server);
    assert!(!client.is_handshaking() && !server.is_handshaking());
    client
}

type Configs = (Arc<ClientConfig>, Arc<ServerConfig>);

/// `(backend, [(group-scheme name, configs)])`.
type BackendConfigs = (Backend, Vec<(String, Configs)>);

/// The baseline's configurations and, per backend, `(name, configs)` for every group ×
/// scheme.
fn all_configs() -> (Configs, Vec<BackendConfigs>) {
    let baseline_pki = pki(KeyAlgorithm::Ecdsa(EcCurve::P256));
    let baseline = baseline_provider();
    let baseline = (
        client_config(&baseline_pki, Arc::clone(&baseline)),
        server_config(&baseline_pki, baseline),
    );
    assert!(handshake(&baseline)
        .negotiated_key_exchange_group()
        .is_some());

    let pkis: Vec<_> = SCHEMES.iter().map(|&alg| (alg, pki(alg))).collect();
    let per_backend = Backend::available()
        .iter()
        .map(|&backend| {
            let mut configs = Vec::new();
            for (algorithm, pki) in &pkis {
                for name in GROUPS {
                    let group = qtls_provider::group_by_name(name, backend).unwrap();
                    let provider = qtls_provider(backend, group);
                    let pair = (
                        client_config(pki, Arc::clone(&provider)),
                        server_config(pki, provider),
                    );
                    let client = handshake(&pair);
                    assert_eq!(
                        client.negotiated_key_exchange_group().unwrap().name(),
                        group.name()
                    );
                    configs.push((format!("{name}-{algorithm}"), pair));
                }
            }
            (backend, configs)
        })
        .collect();
    (baseline, per_backend)
}

/// Each handshake alone, the baseline first on each backend.
fn handshakes(c: &mut Criterion<BenchClock>) {
    let (baseline, per_backend) = all_configs();
    for (backend, configs) in &per_backend {
        let mut g = clock::group(c, &format!("handshake-{backend}"));
        g.bench_function("baseline-X25519-ECDSA-P256", |b| {
            b.iter(|| black_box(handshake(&baseline)))
        });
        for (name, pair) in configs {
            g.bench_function(name, |b| b.iter(|| black_box(handshake(pair))));
        }
        g.finish();
    }
}

/// Each handshake / the baseline, interleaved.
fn handshake_ratios(c: &mut Criterion<Ratio>) {
    let (baseline, per_backend) = all_configs();
    for (backend, configs) in &per_backend {
        let mut g = clock::ratio_group(c, &format!("handshake-ratio-{backend}"));
        for (name, pair) in configs {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    clock::paired(
                        iters,
                        &mut || {
                            black_box(handshake(pair));
                        },
                        &mut [&mut || {
                            black_box(handshake(&baseline));
                        }],
                    )
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = clock::criterion(3);
    targets = handshakes
}
criterion_group! {
    name = ratios;
    config = clock::ratio_criterion(3);
    targets = handshake_ratios
}
criterion_main!(benches, ratios);
