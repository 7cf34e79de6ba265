//! Composite MLDSA65-ECDSA-P384-SHA512 sign and verify beside its halves, measured in the
//! same run on each backend.
//!
//! The halves are timed as the composite runs them: over the message representative
//! M' = Prefix ‖ Label ‖ len(ctx) ‖ ctx ‖ SHA-512(M), ML-DSA-65 with ctx = Label (33 bytes)
//! and ECDSA-P384/SHA-384. Pure ML-DSA-65 with an empty context (aws-lc-rs's own path on
//! that backend) is measured for reference.
//!
//! `scripts/bench-ratios.py` turns the estimates into the ratios in BENCHMARKS.md.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use qtls_provider::primitives::{composite_verify, ecdsa_verify, ml_dsa_verify};
use qtls_provider::{Backend, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel};

const COMPOSITE: CompositeAlgorithm = CompositeAlgorithm::MlDsa65EcdsaP384Sha512;

/// A TLS 1.3 server CertificateVerify input: 64 spaces, the context string, 0, a SHA-384
/// transcript hash.
fn certificate_verify_message() -> Vec<u8> {
    let mut message = vec![0x20; 64];
    message.extend_from_slice(b"TLS 1.3, server CertificateVerify\0");
    message.extend((0u8..48).map(|i| i.wrapping_mul(37)));
    message
}

fn sign(c: &mut Criterion) {
    let message = certificate_verify_message();
    let label = COMPOSITE.label();
    assert_eq!(label.len(), 33);
    let representative = COMPOSITE.message_representative(&message, b"").unwrap();

    for &backend in Backend::available() {
        let composite = KeyPair::generate(KeyAlgorithm::Composite(COMPOSITE), backend).unwrap();
        let ml_dsa = KeyPair::generate(KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65), backend).unwrap();
        let ecdsa = KeyPair::generate(KeyAlgorithm::Ecdsa(EcCurve::P384), backend).unwrap();

        let composite_sig = composite.sign(&message).unwrap();
        let ml_dsa_ctx_sig = ml_dsa.sign_with_context(&representative, label).unwrap();
        let ml_dsa_pure_sig = ml_dsa.sign(&message).unwrap();
        let ecdsa_sig = ecdsa.sign(&representative).unwrap();
        assert!(composite_verify(
            COMPOSITE,
            backend,
            composite.public_key(),
            &message,
            b"",
            &composite_sig
        ));
        let ml_dsa65 = MlDsaLevel::MlDsa65;
        assert!(ml_dsa_verify(
            ml_dsa65,
            backend,
            ml_dsa.public_key(),
            &representative,
            label,
            &ml_dsa_ctx_sig
        ));
        assert!(ml_dsa_verify(
            ml_dsa65,
            backend,
            ml_dsa.public_key(),
            &message,
            b"",
            &ml_dsa_pure_sig
        ));
        assert!(ecdsa_verify(
            EcCurve::P384,
            ecdsa.public_key(),
            &representative,
            &ecdsa_sig
        ));

        let mut g = c.benchmark_group(format!("sign-{backend}"));
        g.bench_function("composite-MLDSA65-ECDSA-P384-sign", |b| {
            b.iter(|| black_box(composite.sign(black_box(&message)).unwrap()))
        });
        g.bench_function("composite-MLDSA65-ECDSA-P384-verify", |b| {
            b.iter(|| {
                assert!(composite_verify(
                    COMPOSITE,
                    backend,
                    composite.public_key(),
                    black_box(&message),
                    b"",
                    &composite_sig
                ))
            })
        });
        g.bench_function("ML-DSA-65-ctx-sign", |b| {
            b.iter(|| {
                black_box(
                    ml_dsa
                        .sign_with_context(black_box(&representative), label)
                        .unwrap(),
                )
            })
        });
        g.bench_function("ML-DSA-65-ctx-verify", |b| {
            b.iter(|| {
                assert!(ml_dsa_verify(
                    ml_dsa65,
                    backend,
                    ml_dsa.public_key(),
                    black_box(&representative),
                    label,
                    &ml_dsa_ctx_sig
                ))
            })
        });
        g.bench_function("ECDSA-P384-sign", |b| {
            b.iter(|| black_box(ecdsa.sign(black_box(&representative)).unwrap()))
        });
        g.bench_function("ECDSA-P384-verify", |b| {
            b.iter(|| {
                assert!(ecdsa_verify(
                    EcCurve::P384,
                    ecdsa.public_key(),
                    black_box(&representative),
                    &ecdsa_sig
                ))
            })
        });
        g.bench_function("ML-DSA-65-pure-sign", |b| {
            b.iter(|| black_box(ml_dsa.sign(black_box(&message)).unwrap()))
        });
        g.bench_function("ML-DSA-65-pure-verify", |b| {
            b.iter(|| {
                assert!(ml_dsa_verify(
                    ml_dsa65,
                    backend,
                    ml_dsa.public_key(),
                    black_box(&message),
                    b"",
                    &ml_dsa_pure_sig
                ))
            })
        });
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = sign
}
criterion_main!(benches);
