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
//! Two benchmark groups per backend (see `qtls-test-support/src/bench.rs`):
//! - `handshake-<backend>/<name>`: each handshake alone (thread CPU time unless
//!   `QTLS_BENCH_CLOCK=wall`), for absolute times;
//! - `handshake-ratio-<backend>/<group>-<scheme>`: handshake / baseline, run interleaved;
//!   BENCHMARKS.md reports these.
//!
//! `scripts/bench-ratios.py` turns the estimates into the tables in BENCHMARKS.md.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::bench as clock;
use qtls_test_support::handshake as inproc;

use std::hint::black_box;
use std::sync::Arc;

use clock::{BenchClock, Ratio};
use criterion::{criterion_group, criterion_main, Criterion};
use inproc::drive_ok as drive;
use qtls_provider::{
    Backend, CompositeAlgorithm, EcCurve, KeyAlgorithm, MlDsaLevel, Preset, ProviderBuilder,
};
use qtls_test_support::pki::{server_identity as pki, ServerIdentity as BenchPki};
use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

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
    let mut config = inproc::server_config(pki, provider);
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Arc::new(config)
}

fn client_config(pki: &BenchPki, provider: Arc<CryptoProvider>) -> Arc<ClientConfig> {
    let mut config = inproc::client_config(pki, provider);
    config.resumption = Resumption::disabled();
    Arc::new(config)
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
