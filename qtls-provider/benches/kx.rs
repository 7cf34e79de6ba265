//! Key-exchange cost of each Q-TLS group beside its parts, measured in the same run.
//!
//! Client cost = `group.start()` + `active.complete(server_share)`; server cost =
//! `group.start_and_complete(client_share)`. The parts are rustls's own ECDH groups (same
//! operations) and ML-KEM keygen + decaps (client) / encaps (server). Each backend in
//! `Backend::available()` is measured (`--features oqs` adds liboqs); ECDH is always
//! aws-lc-rs, so its parts are measured again beside each backend's groups.
//!
//! `scripts/bench-ratios.py` turns the estimates into the ratios in BENCHMARKS.md.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use qtls_provider::primitives::{ml_kem_encapsulate, MlKem, MlKemDecapsulationKey};
use qtls_provider::{group_by_name, kx_group, Backend};
use rustls::crypto::SupportedKxGroup;

/// The Q-TLS groups measured, by OpenSSL name.
const GROUPS: [&str; 4] = [
    "SecP384r1MLKEM1024",
    "X25519MLKEM1024",
    "X25519MLKEM768",
    "MLKEM1024",
];

/// (client share, server share) for `group`, so that each side can be timed alone.
fn shares(group: &dyn SupportedKxGroup) -> (Vec<u8>, Vec<u8>) {
    let client = group.start().unwrap();
    let client_share = client.pub_key().to_vec();
    let server = group.start_and_complete(&client_share).unwrap();
    let server_share = server.pub_key.clone();
    // The shares really agree: the measured operations are the ones a handshake runs.
    let client_secret = client.complete(&server_share).unwrap();
    assert_eq!(
        client_secret.secret_bytes(),
        server.secret.secret_bytes(),
        "{:?}",
        group.name()
    );
    (client_share, server_share)
}

/// `name-client` and `name-server` for one rustls-style group.
fn bench_group(c: &mut Criterion, backend: Backend, name: &str, group: &dyn SupportedKxGroup) {
    let (client_share, server_share) = shares(group);
    let mut g = c.benchmark_group(format!("kx-{backend}"));
    g.bench_function(format!("{name}-client"), |b| {
        b.iter(|| {
            let active = group.start().unwrap();
            black_box(active.complete(black_box(&server_share)).unwrap())
        })
    });
    g.bench_function(format!("{name}-server"), |b| {
        b.iter(|| black_box(group.start_and_complete(black_box(&client_share)).unwrap()))
    });
    g.finish();
}

/// ML-KEM alone: keygen + decaps (client side), encaps (server side, FIPS 203 §7.2 checks
/// included, as the groups do them).
fn bench_ml_kem(c: &mut Criterion, backend: Backend, name: &str, kem: MlKem) {
    let key = MlKemDecapsulationKey::generate(kem, backend).unwrap();
    let ek = key.encapsulation_key().to_vec();
    let (ct, ss) = ml_kem_encapsulate(kem, backend, &ek).unwrap();
    assert_eq!(key.decapsulate(&ct).unwrap(), ss);
    let mut g = c.benchmark_group(format!("kx-{backend}"));
    g.bench_function(format!("part-{name}-client"), |b| {
        b.iter(|| {
            let key = MlKemDecapsulationKey::generate(kem, backend).unwrap();
            black_box(key.encapsulation_key());
            black_box(key.decapsulate(black_box(&ct)).unwrap())
        })
    });
    g.bench_function(format!("part-{name}-server"), |b| {
        b.iter(|| black_box(ml_kem_encapsulate(kem, backend, black_box(&ek)).unwrap()))
    });
    g.finish();
}

fn kx(c: &mut Criterion) {
    for &backend in Backend::available() {
        // Parts first, then the groups built from them.
        bench_group(c, backend, "part-P-384", kx_group::SECP384R1);
        bench_group(c, backend, "part-X25519", kx_group::X25519);
        bench_ml_kem(c, backend, "ML-KEM-1024", MlKem::MlKem1024);
        bench_ml_kem(c, backend, "ML-KEM-768", MlKem::MlKem768);
        for name in GROUPS {
            bench_group(c, backend, name, group_by_name(name, backend).unwrap());
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = kx
}
criterion_main!(benches);
