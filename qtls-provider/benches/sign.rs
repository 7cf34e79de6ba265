//! Composite MLDSA65-ECDSA-P384-SHA512 sign and verify beside its halves, measured in the
//! same run on each backend.
//!
//! The halves are timed as the composite runs them: over the message representative
//! M' = Prefix ‖ Label ‖ len(ctx) ‖ ctx ‖ SHA-512(M), ML-DSA-65 with ctx = Label (33 bytes)
//! and ECDSA-P384/SHA-384. Pure ML-DSA-65 with an empty context (aws-lc-rs's own path on
//! that backend) is measured for reference.
//!
//! Two benchmark groups per backend (see `qtls-test-support/src/bench.rs`):
//! - `sign-<backend>/<op>`: each operation alone (thread CPU time unless
//!   `QTLS_BENCH_CLOCK=wall`), for absolute times;
//! - `sign-ratio-<backend>/...`: composite / (ML-DSA-65 with ctx + ECDSA-P384), and ML-DSA-65
//!   with ctx / pure, run interleaved; the verdicts in BENCHMARKS.md use these.
//!
//! `scripts/bench-ratios.py` turns the estimates into the tables in BENCHMARKS.md.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::bench as clock;

use std::hint::black_box;

use clock::{BenchClock, Ratio};
use criterion::{criterion_group, criterion_main, Criterion};
use qtls_provider::primitives::{composite_verify, ecdsa_verify, ml_dsa_verify};
use qtls_provider::{Backend, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel};

const COMPOSITE: CompositeAlgorithm = CompositeAlgorithm::MlDsa65EcdsaP384Sha512;
const ML_DSA_65: MlDsaLevel = MlDsaLevel::MlDsa65;

/// A TLS 1.3 server CertificateVerify input: 64 spaces, the context string, 0, a SHA-384
/// transcript hash.
fn certificate_verify_message() -> Vec<u8> {
    let mut message = vec![0x20; 64];
    message.extend_from_slice(b"TLS 1.3, server CertificateVerify\0");
    message.extend((0u8..48).map(|i| i.wrapping_mul(37)));
    message
}

/// Keys and signatures for one backend.
struct Fixture {
    backend: Backend,
    message: Vec<u8>,
    /// M' for `message` with an empty context: what both composite halves sign.
    representative: Vec<u8>,
    composite: KeyPair,
    ml_dsa: KeyPair,
    ecdsa: KeyPair,
    composite_sig: Vec<u8>,
    ml_dsa_ctx_sig: Vec<u8>,
    ml_dsa_pure_sig: Vec<u8>,
    ecdsa_sig: Vec<u8>,
}

impl Fixture {
    fn new(backend: Backend) -> Self {
        let message = certificate_verify_message();
        let representative = COMPOSITE.message_representative(&message, b"").unwrap();
        let composite = KeyPair::generate(KeyAlgorithm::Composite(COMPOSITE), backend).unwrap();
        let ml_dsa = KeyPair::generate(KeyAlgorithm::MlDsa(ML_DSA_65), backend).unwrap();
        let ecdsa = KeyPair::generate(KeyAlgorithm::Ecdsa(EcCurve::P384), backend).unwrap();
        assert_eq!(COMPOSITE.label().len(), 33);
        let fixture = Self {
            composite_sig: composite.sign(&message).unwrap(),
            ml_dsa_ctx_sig: ml_dsa
                .sign_with_context(&representative, COMPOSITE.label())
                .unwrap(),
            ml_dsa_pure_sig: ml_dsa.sign(&message).unwrap(),
            ecdsa_sig: ecdsa.sign(&representative).unwrap(),
            backend,
            message,
            representative,
            composite,
            ml_dsa,
            ecdsa,
        };
        for op in Op::ALL {
            if op.name().ends_with("verify") {
                assert!(fixture.verify(op), "{}", op.name());
            }
        }
        fixture
    }

    fn sign(&self, op: Op) -> Vec<u8> {
        let m = black_box(&self.message);
        let r = black_box(&self.representative);
        match op {
            Op::CompositeSign => self.composite.sign(m),
            Op::MlDsaCtxSign => self.ml_dsa.sign_with_context(r, COMPOSITE.label()),
            Op::EcdsaSign => self.ecdsa.sign(r),
            Op::MlDsaPureSign => self.ml_dsa.sign(m),
            _ => unreachable!(),
        }
        .unwrap()
    }

    fn verify(&self, op: Op) -> bool {
        let m = black_box(&self.message);
        let r = black_box(&self.representative);
        let backend = self.backend;
        match op {
            Op::CompositeVerify => composite_verify(
                COMPOSITE,
                backend,
                self.composite.public_key(),
                m,
                b"",
                &self.composite_sig,
            ),
            Op::MlDsaCtxVerify => ml_dsa_verify(
                ML_DSA_65,
                backend,
                self.ml_dsa.public_key(),
                r,
                COMPOSITE.label(),
                &self.ml_dsa_ctx_sig,
            ),
            Op::EcdsaVerify => {
                ecdsa_verify(EcCurve::P384, self.ecdsa.public_key(), r, &self.ecdsa_sig)
            }
            Op::MlDsaPureVerify => ml_dsa_verify(
                ML_DSA_65,
                backend,
                self.ml_dsa.public_key(),
                m,
                b"",
                &self.ml_dsa_pure_sig,
            ),
            _ => unreachable!(),
        }
    }

    fn run(&self, op: Op) {
        if op.name().ends_with("verify") {
            assert!(self.verify(op));
        } else {
            black_box(self.sign(op));
        }
    }
}

#[derive(Clone, Copy)]
enum Op {
    CompositeSign,
    CompositeVerify,
    MlDsaCtxSign,
    MlDsaCtxVerify,
    EcdsaSign,
    EcdsaVerify,
    MlDsaPureSign,
    MlDsaPureVerify,
}

impl Op {
    const ALL: [Self; 8] = [
        Self::CompositeSign,
        Self::CompositeVerify,
        Self::MlDsaCtxSign,
        Self::MlDsaCtxVerify,
        Self::EcdsaSign,
        Self::EcdsaVerify,
        Self::MlDsaPureSign,
        Self::MlDsaPureVerify,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::CompositeSign => "composite-MLDSA65-ECDSA-P384-sign",
            Self::CompositeVerify => "composite-MLDSA65-ECDSA-P384-verify",
            Self::MlDsaCtxSign => "ML-DSA-65-ctx-sign",
            Self::MlDsaCtxVerify => "ML-DSA-65-ctx-verify",
            Self::EcdsaSign => "ECDSA-P384-sign",
            Self::EcdsaVerify => "ECDSA-P384-verify",
            Self::MlDsaPureSign => "ML-DSA-65-pure-sign",
            Self::MlDsaPureVerify => "ML-DSA-65-pure-verify",
        }
    }
}

/// Each operation alone.
fn sign(c: &mut Criterion<BenchClock>) {
    for &backend in Backend::available() {
        let fixture = Fixture::new(backend);
        let mut g = clock::group(c, &format!("sign-{backend}"));
        for op in Op::ALL {
            g.bench_function(op.name(), |b| b.iter(|| fixture.run(op)));
        }
        g.finish();
    }
}

/// composite / (ML-DSA-65 with ctx + ECDSA-P384), and ML-DSA-65 with ctx / pure, interleaved.
fn sign_ratios(c: &mut Criterion<Ratio>) {
    let comparisons = [
        (
            "composite-sign",
            Op::CompositeSign,
            &[Op::MlDsaCtxSign, Op::EcdsaSign][..],
        ),
        (
            "composite-verify",
            Op::CompositeVerify,
            &[Op::MlDsaCtxVerify, Op::EcdsaVerify][..],
        ),
        (
            "ML-DSA-65-ctx-vs-pure-sign",
            Op::MlDsaCtxSign,
            &[Op::MlDsaPureSign][..],
        ),
        (
            "ML-DSA-65-ctx-vs-pure-verify",
            Op::MlDsaCtxVerify,
            &[Op::MlDsaPureVerify][..],
        ),
    ];
    for &backend in Backend::available() {
        let fixture = &Fixture::new(backend);
        let mut g = clock::ratio_group(c, &format!("sign-ratio-{backend}"));
        for (name, numerator, denominator) in comparisons {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut top = || fixture.run(numerator);
                    let mut ops: Vec<_> = denominator
                        .iter()
                        .map(|&op| move || fixture.run(op))
                        .collect();
                    let mut bottom: Vec<&mut dyn FnMut()> =
                        ops.iter_mut().map(|op| op as &mut dyn FnMut()).collect();
                    clock::paired(iters, &mut top, &mut bottom)
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = clock::criterion(4);
    targets = sign
}
criterion_group! {
    name = ratios;
    // ML-DSA signing repeats a random number of rounds (rejection sampling): the longest
    // window the short configuration allows.
    config = clock::ratio_criterion(5);
    targets = sign_ratios
}
criterion_main!(benches, ratios);
