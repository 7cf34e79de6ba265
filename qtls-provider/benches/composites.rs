//! Sign and verify for every composite of draft-ietf-lamps-pq-composite-sigs-19, beside its
//! two halves measured in the same run (issue #10).
//!
//! The halves are timed as the composite runs them: over the message representative
//! M' = Prefix ‖ Label ‖ len(ctx) ‖ ctx ‖ PH(M) of a TLS 1.3 CertificateVerify input, the
//! ML-DSA half with ctx = Label and the traditional half (RSA, ECDSA or EdDSA) on its own
//! key. The composite's extra work is PH(M), building M', splitting and checking encodings.
//!
//! Two groups per backend (see `qtls-test-support/src/bench.rs`):
//! - `composite-<backend>/<algorithm>-{sign,verify}`: the composite alone (thread CPU time
//!   unless `QTLS_BENCH_CLOCK=wall`), for absolute times;
//! - `composite-ratio-<backend>/<algorithm>-{sign,verify}`: composite / (ML-DSA half +
//!   traditional half), run interleaved; BENCHMARKS.md's verdicts use these (target ≤ 1.05).
//!
//! `QTLS_BENCH_BACKENDS=oqs` (or `aws-lc-rs,oqs`) picks the backends; default aws-lc-rs,
//! since only the ML-DSA half differs between them (`benches/sign.rs` compares those).

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::bench as clock;

use std::hint::black_box;

use clock::{BenchClock, Ratio};
use criterion::{criterion_group, criterion_main, Criterion};
use qtls_provider::primitives::{
    composite_traditional_verify, composite_verify, ml_dsa_verify, CompositeTraditionalKey,
};
use qtls_provider::{Backend, CompositeAlgorithm, KeyAlgorithm, KeyPair};

/// A TLS 1.3 server CertificateVerify input: 64 spaces, the context string, 0, a SHA-384
/// transcript hash.
fn certificate_verify_message() -> Vec<u8> {
    let mut message = vec![0x20; 64];
    message.extend_from_slice(b"TLS 1.3, server CertificateVerify\0");
    message.extend((0u8..48).map(|i| i.wrapping_mul(37)));
    message
}

fn backends() -> Vec<Backend> {
    let wanted = std::env::var("QTLS_BENCH_BACKENDS").unwrap_or_else(|_| "aws-lc-rs".into());
    wanted
        .split(',')
        .map(|name| name.trim().parse::<Backend>().unwrap())
        .filter(|backend| Backend::available().contains(backend))
        .collect()
}

/// One algorithm's keys and signatures on one backend.
struct Fixture {
    algorithm: CompositeAlgorithm,
    backend: Backend,
    message: Vec<u8>,
    representative: Vec<u8>,
    composite: KeyPair,
    ml_dsa: KeyPair,
    traditional: CompositeTraditionalKey,
    traditional_pk: Vec<u8>,
    composite_sig: Vec<u8>,
    ml_dsa_sig: Vec<u8>,
    traditional_sig: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    CompositeSign,
    CompositeVerify,
    MlDsaSign,
    MlDsaVerify,
    TraditionalSign,
    TraditionalVerify,
}

impl Fixture {
    fn new(algorithm: CompositeAlgorithm, backend: Backend) -> Self {
        let message = certificate_verify_message();
        let representative = algorithm.message_representative(&message, b"").unwrap();
        let composite = KeyPair::generate(KeyAlgorithm::Composite(algorithm), backend).unwrap();
        let ml_dsa = KeyPair::generate(KeyAlgorithm::MlDsa(algorithm.ml_dsa()), backend).unwrap();
        let traditional = CompositeTraditionalKey::generate(algorithm).unwrap();
        let fixture = Self {
            composite_sig: composite.sign(&message).unwrap(),
            ml_dsa_sig: ml_dsa
                .sign_with_context(&representative, algorithm.label())
                .unwrap(),
            traditional_sig: traditional.sign(&representative).unwrap(),
            traditional_pk: traditional.public_key(),
            algorithm,
            backend,
            message,
            representative,
            composite,
            ml_dsa,
            traditional,
        };
        for op in [Op::CompositeVerify, Op::MlDsaVerify, Op::TraditionalVerify] {
            assert!(fixture.verify(op), "{}", algorithm.name());
        }
        fixture
    }

    fn verify(&self, op: Op) -> bool {
        let m = black_box(&self.message);
        let r = black_box(&self.representative);
        match op {
            Op::CompositeVerify => composite_verify(
                self.algorithm,
                self.backend,
                self.composite.public_key(),
                m,
                b"",
                &self.composite_sig,
            ),
            Op::MlDsaVerify => ml_dsa_verify(
                self.algorithm.ml_dsa(),
                self.backend,
                self.ml_dsa.public_key(),
                r,
                self.algorithm.label(),
                &self.ml_dsa_sig,
            ),
            Op::TraditionalVerify => composite_traditional_verify(
                self.algorithm,
                &self.traditional_pk,
                r,
                &self.traditional_sig,
            ),
            _ => unreachable!(),
        }
    }

    fn run(&self, op: Op) {
        let m = black_box(&self.message);
        let r = black_box(&self.representative);
        match op {
            Op::CompositeSign => black_box(self.composite.sign(m).unwrap()),
            Op::MlDsaSign => black_box(
                self.ml_dsa
                    .sign_with_context(r, self.algorithm.label())
                    .unwrap(),
            ),
            Op::TraditionalSign => black_box(self.traditional.sign(r).unwrap()),
            verify => {
                assert!(self.verify(verify));
                Vec::new()
            }
        };
    }
}

fn fixtures() -> Vec<Fixture> {
    backends()
        .into_iter()
        .flat_map(|backend| {
            CompositeAlgorithm::ALL
                .into_iter()
                .map(move |alg| Fixture::new(alg, backend))
        })
        .collect()
}

/// Each composite alone.
fn composites(c: &mut Criterion<BenchClock>) {
    for fixture in fixtures() {
        let mut g = clock::group(c, &format!("composite-{}", fixture.backend));
        for (op, suffix) in [(Op::CompositeSign, "sign"), (Op::CompositeVerify, "verify")] {
            let name = format!("{}-{suffix}", fixture.algorithm.name());
            g.bench_function(name, |b| b.iter(|| fixture.run(op)));
        }
        g.finish();
    }
}

/// composite / (ML-DSA half + traditional half), interleaved.
fn composite_ratios(c: &mut Criterion<Ratio>) {
    for fixture in &fixtures() {
        let mut g = clock::ratio_group(c, &format!("composite-ratio-{}", fixture.backend));
        for (numerator, halves, suffix) in [
            (
                Op::CompositeSign,
                [Op::MlDsaSign, Op::TraditionalSign],
                "sign",
            ),
            (
                Op::CompositeVerify,
                [Op::MlDsaVerify, Op::TraditionalVerify],
                "verify",
            ),
        ] {
            let name = format!("{}-{suffix}", fixture.algorithm.name());
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut top = || fixture.run(numerator);
                    let (mut first, mut second) =
                        (|| fixture.run(halves[0]), || fixture.run(halves[1]));
                    let mut bottom: [&mut dyn FnMut(); 2] = [&mut first, &mut second];
                    clock::paired(iters, &mut top, &mut bottom)
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = clock::criterion(2);
    targets = composites
}
criterion_group! {
    name = ratios;
    // ML-DSA signing repeats a random number of rounds (rejection sampling): a longer window.
    config = clock::ratio_criterion(4);
    targets = composite_ratios
}
criterion_main!(benches, ratios);
