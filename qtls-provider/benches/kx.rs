//! Key-exchange cost of each Q-TLS group beside its parts, measured in the same run.
//!
//! Client cost = `group.start()` + `active.complete(server_share)`; server cost =
//! `group.start_and_complete(client_share)`. The parts are rustls's own ECDH groups (the
//! same operations) and ML-KEM keygen + decaps (client) / encaps (server, with the FIPS 203
//! §7.2 checks the groups run). Each backend in `Backend::available()` is measured
//! (`--features oqs` adds liboqs); ECDH is always aws-lc-rs, and is measured again beside
//! each backend's groups.
//!
//! Two benchmark groups per backend (see `qtls-test-support/src/bench.rs`):
//! - `kx-<backend>/<op>-<side>`: each operation alone (thread CPU time unless
//!   `QTLS_BENCH_CLOCK=wall`), for absolute times;
//! - `kx-ratio-<backend>/<group>-<side>`: group / (ECDH part + ML-KEM part), run
//!   interleaved; the verdicts in BENCHMARKS.md use these.
//!
//! `scripts/bench-ratios.py` turns the estimates into the tables in BENCHMARKS.md.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::bench as clock;

use std::hint::black_box;

use clock::{BenchClock, Ratio};
use criterion::{criterion_group, criterion_main, Criterion};
use qtls_provider::primitives::{ml_kem_encapsulate, MlKem, MlKemDecapsulationKey};
use qtls_provider::{group_by_name, kx_group, Backend};
use rustls::crypto::SupportedKxGroup;

/// Q-TLS group (OpenSSL name) → (its ECDH part, if any; its ML-KEM part).
const GROUPS: [(&str, Option<Ecdh>, MlKem); 4] = [
    ("SecP384r1MLKEM1024", Some(Ecdh::P384), MlKem::MlKem1024),
    ("X25519MLKEM1024", Some(Ecdh::X25519), MlKem::MlKem1024),
    ("X25519MLKEM768", Some(Ecdh::X25519), MlKem::MlKem768),
    ("MLKEM1024", None, MlKem::MlKem1024),
];

#[derive(Clone, Copy)]
enum Ecdh {
    P384,
    X25519,
}

impl Ecdh {
    fn name(self) -> &'static str {
        match self {
            Self::P384 => "P-384",
            Self::X25519 => "X25519",
        }
    }

    fn group(self) -> &'static dyn SupportedKxGroup {
        match self {
            Self::P384 => kx_group::SECP384R1,
            Self::X25519 => kx_group::X25519,
        }
    }
}

fn kem_name(kem: MlKem) -> &'static str {
    match kem {
        MlKem::MlKem768 => "ML-KEM-768",
        MlKem::MlKem1024 => "ML-KEM-1024",
    }
}

/// The client and the server operation of one key exchange, ready to run.
struct Sides {
    client: Box<dyn FnMut()>,
    server: Box<dyn FnMut()>,
}

impl Sides {
    fn side(&mut self, side: &str) -> &mut dyn FnMut() {
        match side {
            "client" => &mut *self.client,
            _ => &mut *self.server,
        }
    }
}

/// A rustls-style group: client `start` + `complete`, server `start_and_complete`.
fn group_sides(group: &'static dyn SupportedKxGroup) -> Sides {
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
    Sides {
        client: Box::new(move || {
            let active = group.start().unwrap();
            black_box(active.complete(black_box(&server_share)).unwrap());
        }),
        server: Box::new(move || {
            black_box(group.start_and_complete(black_box(&client_share)).unwrap());
        }),
    }
}

/// ML-KEM alone: keygen + decaps (client), encaps (server).
fn ml_kem_sides(kem: MlKem, backend: Backend) -> Sides {
    let key = MlKemDecapsulationKey::generate(kem, backend).unwrap();
    let ek = key.encapsulation_key().to_vec();
    let (ct, ss) = ml_kem_encapsulate(kem, backend, &ek).unwrap();
    assert_eq!(key.decapsulate(&ct).unwrap(), ss);
    Sides {
        client: Box::new(move || {
            let key = MlKemDecapsulationKey::generate(kem, backend).unwrap();
            black_box(key.encapsulation_key());
            black_box(key.decapsulate(black_box(&ct)).unwrap());
        }),
        server: Box::new(move || {
            black_box(ml_kem_encapsulate(kem, backend, black_box(&ek)).unwrap());
        }),
    }
}

fn bench_sides(c: &mut Criterion<BenchClock>, backend: Backend, name: &str, sides: &mut Sides) {
    let mut g = clock::group(c, &format!("kx-{backend}"));
    for side in ["client", "server"] {
        let op = sides.side(side);
        g.bench_function(format!("{name}-{side}"), |b| b.iter(&mut *op));
    }
    g.finish();
}

/// Each operation alone. Each group runs right after the parts it is made of.
fn kx(c: &mut Criterion<BenchClock>) {
    for &backend in Backend::available() {
        let mut done = Vec::new();
        for (name, ecdh, kem) in GROUPS {
            let mut parts: Vec<(String, Sides)> = Vec::new();
            if let Some(ecdh) = ecdh {
                parts.push((format!("part-{}", ecdh.name()), group_sides(ecdh.group())));
            }
            parts.push((
                format!("part-{}", kem_name(kem)),
                ml_kem_sides(kem, backend),
            ));
            for (part, mut sides) in parts {
                if !done.contains(&part) {
                    bench_sides(c, backend, &part, &mut sides);
                    done.push(part);
                }
            }
            let mut group = group_sides(group_by_name(name, backend).unwrap());
            bench_sides(c, backend, name, &mut group);
        }
    }
}

/// group / (ECDH part + ML-KEM part), interleaved.
fn kx_ratios(c: &mut Criterion<Ratio>) {
    for &backend in Backend::available() {
        let mut g = clock::ratio_group(c, &format!("kx-ratio-{backend}"));
        for (name, ecdh, kem) in GROUPS {
            let mut group = group_sides(group_by_name(name, backend).unwrap());
            let mut ecdh = ecdh.map(|ecdh| group_sides(ecdh.group()));
            let mut kem = ml_kem_sides(kem, backend);
            for side in ["client", "server"] {
                g.bench_function(format!("{name}-{side}"), |b| {
                    b.iter_custom(|iters| {
                        let mut parts: Vec<&mut dyn FnMut()> = Vec::new();
                        if let Some(ecdh) = ecdh.as_mut() {
                            parts.push(ecdh.side(side));
                        }
                        parts.push(kem.side(side));
                        clock::paired(iters, group.side(side), &mut parts)
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = clock::criterion(4);
    targets = kx
}
criterion_group! {
    name = ratios;
    config = clock::ratio_criterion(4);
    targets = kx_ratios
}
criterion_main!(benches, ratios);
