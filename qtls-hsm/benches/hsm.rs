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

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

#[path = "../tests/support/tls.rs"]
mod tls;
#[path = "../tests/support/tokens.rs"]
mod tokens;

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
    targets = sign, handshake
}
criterion_main!(benches);
