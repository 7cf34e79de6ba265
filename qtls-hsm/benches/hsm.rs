//! Signatures per second through the session pool (1, 2 and 4 sessions) beside the token's raw
//! single-session rate in the same run, and a full TLS 1.3 handshake with the server key in a
//! token beside the same handshake with the same algorithm in software.
//!
//! Tokens as in the tests (`QTLS_TEST_PKCS11_MODULE` for Kryoptic, `QTLS_SOFTHSM_MODULE`);
//! without them the bench says what is missing and measures nothing.
//!
//! - `sign/<alg> (<token>)/raw-session`: one logged-in session, `C_SignInit` + `C_Sign` in a
//!   loop on the bench thread: the token's own rate, with no pool in between.
//! - `sign/<alg> (<token>)/pool-N`: 16 signatures per iteration from 8 threads at once through
//!   [`Hsm`] with N sessions (each call: queue, worker thread, token, answer).
//! - `handshake/<alg>/{token,software}`: in-memory client + server, full handshake
//!   (SecP384r1MLKEM1024, a 2-certificate chain verified by the client), no resumption.
//!
//! Before the criterion groups, `scaling` measures the same four ML-DSA-65 configurations
//! interleaved (round after round, each configuration 32 signatures per round) and prints
//! the median rate of each and the ratios: on a shared machine the background load moves
//! between criterion's groups, but not within a round. Each round also signs in software
//! (aws-lc-rs ML-DSA-65) on one thread and on two: the ratio of those says how much
//! parallelism the machine actually had to offer during the run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use qtls_test_support::hsm as tls;
use qtls_test_support::tokens;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use qtls_hsm::{Hsm, HsmSigningKey, KeyRef, TokenAdmin};
use qtls_provider::{
    Backend, CodePoints, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel,
};

/// Signatures per pool iteration, and the threads asking for them.
const BATCH: usize = 16;
const CALLERS: usize = 8;

fn token_key(module: &Path, token: &str, label: &str, sessions: usize) -> HsmSigningKey {
    Hsm::builder()
        .primary(
            tokens::config(module, token)
                .sessions(sessions)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
        .signing_key(&KeyRef::label(label), &CodePoints::DEFAULT)
        .unwrap()
}

/// The token's rate without the pool: one session, the bench thread calling cryptoki.
fn raw_signer(module: &Path, token: &str, label: &str, algorithm: KeyAlgorithm) -> impl FnMut() {
    let context = Pkcs11::new(module).unwrap();
    // qtls-hsm has initialised the module already (same library, same process).
    let _ = context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = context
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|slot| context.get_token_info(*slot).unwrap().label().trim_end() == token)
        .unwrap();
    let session = context.open_ro_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&AuthPin::from(tokens::USER_PIN)));
    let key = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .unwrap()[0];
    move || {
        let signature = match algorithm {
            KeyAlgorithm::MlDsa(_) => session.sign(
                &Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, None)),
                key,
                b"raw session",
            ),
            _ => session.sign(&Mechanism::Ecdsa, key, &[7u8; 48]),
        };
        std::hint::black_box(signature.unwrap());
    }
}

fn sign(c: &mut Criterion) {
    let mut cases = Vec::new();
    if let Some(kryoptic) = tokens::kryoptic() {
        cases.push((
            kryoptic.clone(),
            tokens::PRIMARY,
            "Kryoptic",
            KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
        ));
        cases.push((
            kryoptic,
            tokens::PRIMARY,
            "Kryoptic",
            KeyAlgorithm::Ecdsa(EcCurve::P384),
        ));
    }
    if let Some(softhsm) = tokens::softhsm() {
        cases.push((
            softhsm,
            tokens::SOFTHSM,
            "SoftHSM2",
            KeyAlgorithm::Ecdsa(EcCurve::P384),
        ));
    }
    for (module, token, token_name, algorithm) in cases {
        let label = tokens::unique("bench");
        TokenAdmin::open(&tokens::config(&module, token).build().unwrap())
            .unwrap()
            .generate(&label, algorithm)
            .unwrap();
        let mut group = c.benchmark_group(format!("sign/{algorithm} ({token_name})"));
        group.throughput(Throughput::Elements(1));
        let mut raw = raw_signer(&module, token, &label, algorithm);
        group.bench_function("raw-session", |b| b.iter(&mut raw));
        group.throughput(Throughput::Elements(BATCH as u64));
        for sessions in [1, 2, 4] {
            let key = token_key(&module, token, &label, sessions);
            group.bench_function(format!("pool-{sessions}"), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        std::thread::scope(|scope| {
                            for _ in 0..CALLERS {
                                scope.spawn(|| {
                                    for _ in 0..BATCH / CALLERS {
                                        std::hint::black_box(
                                            key.sign(b"through the pool").unwrap(),
                                        );
                                    }
                                });
                            }
                        });
                    }
                    start.elapsed()
                })
            });
        }
        group.finish();
    }
}

/// Median signatures per second of the raw session and the pools, measured interleaved.
fn scaling(_: &mut Criterion) {
    const ROUNDS: usize = 15;
    const PER_ROUND: usize = 32;
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let algorithm = KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65);
    let label = tokens::unique("scaling");
    TokenAdmin::open(&tokens::config(&kryoptic, tokens::PRIMARY).build().unwrap())
        .unwrap()
        .generate(&label, algorithm)
        .unwrap();
    let mut raw = raw_signer(&kryoptic, tokens::PRIMARY, &label, algorithm);
    let pools: Vec<(usize, HsmSigningKey)> = [1, 2, 4]
        .into_iter()
        .map(|n| (n, token_key(&kryoptic, tokens::PRIMARY, &label, n)))
        .collect();
    let software = Arc::new(KeyPair::generate(algorithm, Backend::AwsLc).unwrap());
    let software_rate = |threads: usize| {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    for _ in 0..PER_ROUND / threads {
                        std::hint::black_box(software.sign(b"calibration").unwrap());
                    }
                });
            }
        });
        PER_ROUND as f64 / start.elapsed().as_secs_f64()
    };
    let mut calibration: Vec<Vec<f64>> = vec![Vec::new(); 2];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); 1 + pools.len()];
    for _ in 0..ROUNDS {
        calibration[0].push(software_rate(1));
        calibration[1].push(software_rate(2));
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            raw();
        }
        rates[0].push(PER_ROUND as f64 / start.elapsed().as_secs_f64());
        for (i, (_, key)) in pools.iter().enumerate() {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..CALLERS {
                    scope.spawn(|| {
                        for _ in 0..PER_ROUND / CALLERS {
                            std::hint::black_box(key.sign(b"interleaved").unwrap());
                        }
                    });
                }
            });
            rates[i + 1].push(PER_ROUND as f64 / start.elapsed().as_secs_f64());
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let medians: Vec<f64> = rates.iter_mut().map(median).collect();
    let calibration: Vec<f64> = calibration.iter_mut().map(median).collect();
    println!(
        "scaling/ML-DSA-65 (Kryoptic), {} cores, {ROUNDS} interleaved rounds, median signatures/s:",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  software (aws-lc-rs) 1 thread: {:.0}, 2 threads: {:.0} ({:.2}x: the parallelism available)",
        calibration[0],
        calibration[1],
        calibration[1] / calibration[0]
    );
    println!("  raw single session: {:.0}", medians[0]);
    for (i, (n, _)) in pools.iter().enumerate() {
        println!(
            "  pool, {n} session(s): {:.0} ({:.2}x pool-1, {:.2}x raw)",
            medians[i + 1],
            medians[i + 1] / medians[1],
            medians[i + 1] / medians[0]
        );
    }
}

fn handshake(c: &mut Criterion) {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    for algorithm in [
        KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
        KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
        KeyAlgorithm::Ecdsa(EcCurve::P384),
    ] {
        let label = tokens::unique("bench-tls");
        TokenAdmin::open(&tokens::config(&kryoptic, tokens::PRIMARY).build().unwrap())
            .unwrap()
            .generate(&label, algorithm)
            .unwrap();
        let key = token_key(&kryoptic, tokens::PRIMARY, &label, 1);
        let in_token = Arc::new(tls::server_config(&key, false));
        let software = Arc::new(tls::server_config_for(
            tls::certified_software(KeyPair::generate(algorithm, Backend::AwsLc).unwrap()),
            false,
        ));
        let (client, _) = tls::client_config(None);
        let client = Arc::new(client);
        let mut group = c.benchmark_group(format!("handshake/{algorithm}"));
        for (name, server) in [("token (Kryoptic)", &in_token), ("software", &software)] {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let (mut c, mut s) = tls::pair(&client, server);
                    tls::drive(&mut c, &mut s).unwrap();
                    assert!(!c.is_handshaking());
                })
            });
        }
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = scaling, sign, handshake
}
criterion_main!(benches);
