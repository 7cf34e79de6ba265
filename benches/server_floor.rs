//! Server CPU per full handshake of Q-TLS's flagship configuration beside the server's
//! public-key floor, in one run (issue #13 part 1, last target).
//!
//! ```sh
//! cargo bench --workspace --all-features --locked --bench server_floor -- --save-baseline p1
//! ```
//!
//! The configuration: the Hybrid preset on aws-lc-rs (TLS 1.3, TLS13_AES_256_GCM_SHA384),
//! SecP384r1MLKEM1024 as the only group, a root → intermediate → leaf chain of composite
//! MLDSA65-ECDSA-P384-SHA512 certificates, no tickets, no resumption. Client and server run in
//! one thread with records moved through memory (`qtls_test_support::handshake`); only the
//! server connection's calls are timed (its creation, reading, processing and writing its
//! records).
//!
//! The floor is what the server cannot avoid, each operation called on aws-lc-rs directly:
//! a P-384 key pair and ECDH with the client's point, an ML-KEM-1024 encapsulation to the
//! client's key (parsing it included), one pure ML-DSA-65 signature (ctx = "") and one
//! ECDSA-P384 signature of a 146-byte TLS 1.3 CertificateVerify input.
//!
//! Benchmark groups (see `qtls-test-support/src/bench.rs`):
//! - `server-floor/…`: each operation alone, for scale. `handshake-server` is the time on a
//!   CPU of the server's calls (`OnCpu`, summed by the driver); the others are thread CPU
//!   time unless `QTLS_BENCH_CLOCK=wall`.
//! - `server-floor-ratio/…`, paired and interleaved, each operation timed on a CPU
//!   (`OnCpu`: wall time less the thread's waits for a CPU), which BENCHMARKS.md reports:
//!   - `handshake-server-vs-floor`: the target (≤ 1.25);
//!   - `handshake-server-vs-provider-crypto`: the server's handshake over the public-key
//!     operations Q-TLS's provider performs in it (the group's `start_and_complete` and the
//!     composite signature through rustls's `Signer`): what rustls's handshake adds;
//!   - `provider-crypto-vs-floor`: those operations over the floor: what the hybrid and
//!     composite code adds (the product of the two above is the target ratio);
//!   - `group-vs-floor-kx` and `composite-sign-vs-floor-signs`: the same, split;
//!   - `handshake-server-sha256-vs-floor`: the target's ratio with TLS13_AES_128_GCM_SHA256
//!     instead (outside the Hybrid preset): what SHA-384 (transcript and key schedule) costs
//!     on a CPU where aws-lc runs it in generic code.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::bench as clock;
use qtls_test_support::handshake as inproc;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P384};
use aws_lc_rs::kem::{DecapsulationKey, EncapsulationKey, ML_KEM_1024};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, PqdsaKeyPair, ECDSA_P384_SHA384_ASN1_SIGNING, ML_DSA_65_SIGNING,
};
use clock::{BenchClock, Ratio};
use criterion::{criterion_group, criterion_main, Criterion};
use qtls_provider::{Backend, CompositeAlgorithm, KeyAlgorithm};
use qtls_test_support::pki::{server_identity, ServerIdentity};
use qtls_test_support::stock::{full_handshake_configs as configs, Configs};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::SigningKey;
use rustls::{ClientConnection, ServerConnection};

const GROUP: &str = "SecP384r1MLKEM1024";
const COMPOSITE: CompositeAlgorithm = CompositeAlgorithm::MlDsa65EcdsaP384Sha512;

/// A TLS 1.3 server CertificateVerify input: 64 spaces, the context string, 0, a SHA-384
/// transcript hash (RFC 8446 §4.4.3).
fn certificate_verify_message() -> Vec<u8> {
    let mut message = vec![0x20; 64];
    message.extend_from_slice(b"TLS 1.3, server CertificateVerify\0");
    message.extend((0u8..48).map(|i| i.wrapping_mul(37)));
    message
}

/// The server's unavoidable public-key operations, on aws-lc-rs directly.
struct Floor {
    rng: SystemRandom,
    client_point: Vec<u8>,
    client_kem_key: Vec<u8>,
    ml_dsa: PqdsaKeyPair,
    ecdsa: EcdsaKeyPair,
    message: Vec<u8>,
}

impl Floor {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let client = EphemeralPrivateKey::generate(&ECDH_P384, &rng).unwrap();
        let kem = DecapsulationKey::generate(&ML_KEM_1024).unwrap();
        let floor = Self {
            client_point: client.compute_public_key().unwrap().as_ref().to_vec(),
            client_kem_key: kem
                .encapsulation_key()
                .unwrap()
                .key_bytes()
                .unwrap()
                .as_ref()
                .to_vec(),
            ml_dsa: PqdsaKeyPair::generate(&ML_DSA_65_SIGNING).unwrap(),
            ecdsa: EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).unwrap(),
            message: certificate_verify_message(),
            rng,
        };
        assert_eq!(floor.message.len(), 146);
        floor
    }

    /// A P-384 key pair, its public point, and ECDH with the client's point.
    fn ecdh(&self) {
        let key = EphemeralPrivateKey::generate(&ECDH_P384, &self.rng).unwrap();
        black_box(key.compute_public_key().unwrap());
        let peer = UnparsedPublicKey::new(&ECDH_P384, black_box(&self.client_point));
        let secret = agree_ephemeral(key, peer, (), |s| Ok::<_, ()>(s.to_vec())).unwrap();
        black_box(secret);
    }

    /// ML-KEM-1024 encapsulation to the client's key (parsed and checked first).
    fn encapsulate(&self) {
        let key = EncapsulationKey::new(&ML_KEM_1024, black_box(&self.client_kem_key)).unwrap();
        black_box(key.encapsulate().unwrap());
    }

    /// Pure ML-DSA-65 (ctx = "").
    fn ml_dsa_sign(&self) {
        let mut signature = vec![0; 3309];
        let n = self
            .ml_dsa
            .sign(black_box(&self.message), &mut signature)
            .unwrap();
        assert_eq!(n, 3309);
        black_box(signature);
    }

    fn ecdsa_sign(&self) {
        black_box(
            self.ecdsa
                .sign(&self.rng, black_box(&self.message))
                .unwrap(),
        );
    }
}

/// The public-key operations of Q-TLS's provider in the server's handshake.
struct ProviderCrypto {
    group: &'static dyn SupportedKxGroup,
    client_share: Vec<u8>,
    key: Arc<dyn SigningKey>,
    message: Vec<u8>,
}

impl ProviderCrypto {
    fn new(identity: &ServerIdentity, provider: &CryptoProvider) -> Self {
        let group = provider.kx_groups[0];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.clone()));
        let crypto = Self {
            group,
            client_share: group.start().unwrap().pub_key().to_vec(),
            key: provider.key_provider.load_private_key(key).unwrap(),
            message: certificate_verify_message(),
        };
        assert_eq!(
            crypto.group.name(),
            qtls_provider::group_by_name(GROUP, Backend::AwsLc)
                .unwrap()
                .name()
        );
        crypto
    }

    /// The group's server side: a hybrid share and the combined secret.
    fn kx(&self) {
        black_box(
            self.group
                .start_and_complete(black_box(&self.client_share))
                .unwrap(),
        );
    }

    /// The composite CertificateVerify signature, as rustls asks for it.
    fn sign(&self) {
        let scheme = rustls::SignatureScheme::from(0x0908);
        let signer = self.key.choose_scheme(&[scheme]).unwrap();
        black_box(signer.sign(black_box(&self.message)).unwrap());
    }
}

/// One full handshake; the time on a CPU of the server connection's calls.
fn server_handshake((client_config, server_config): &Configs) -> Duration {
    let mut client =
        ClientConnection::new(Arc::clone(client_config), "localhost".try_into().unwrap()).unwrap();
    let started = clock::OnCpu::start();
    let mut server = ServerConnection::new(Arc::clone(server_config)).unwrap();
    let created = started.elapsed();
    let time = created + inproc::drive_ok(&mut client, &mut server);
    assert!(!client.is_handshaking() && !server.is_handshaking());
    time
}

struct Fixture {
    configs: Configs,
    /// The same with TLS13_AES_128_GCM_SHA256, whose hashes run on the CPU's SHA extensions.
    sha256_configs: Configs,
    floor: Floor,
    crypto: ProviderCrypto,
}

fn fixture() -> Fixture {
    let provider = qtls_test_support::stock::hybrid_provider(GROUP);
    let identity = server_identity(KeyAlgorithm::Composite(COMPOSITE));
    let sha256 = Arc::new(CryptoProvider {
        cipher_suites: vec![rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256],
        ..(*provider).clone()
    });
    let sha256_configs = configs(&identity, sha256);
    let configs = configs(&identity, Arc::clone(&provider));
    // The configuration is the one described: check what a handshake negotiates.
    let mut client =
        ClientConnection::new(Arc::clone(&configs.0), "localhost".try_into().unwrap()).unwrap();
    let mut server = ServerConnection::new(Arc::clone(&configs.1)).unwrap();
    inproc::drive_ok(&mut client, &mut server);
    assert_eq!(
        client.negotiated_key_exchange_group().unwrap().name(),
        provider.kx_groups[0].name()
    );
    assert_eq!(
        format!("{:?}", client.negotiated_cipher_suite().unwrap().suite()),
        "TLS13_AES_256_GCM_SHA384"
    );
    assert_eq!(identity.chain.len(), 2);
    server_handshake(&sha256_configs);
    Fixture {
        sha256_configs,
        crypto: ProviderCrypto::new(&identity, &provider),
        floor: Floor::new(),
        configs,
    }
}

/// Time on a CPU, preemptions left out (see `qtls_test_support::bench::OnCpu`).
fn timed(op: impl FnOnce()) -> Duration {
    clock::on_cpu(op)
}

/// Each operation alone.
fn operations(c: &mut Criterion<BenchClock>) {
    let f = fixture();
    let mut g = clock::group(c, "server-floor");
    g.bench_function("handshake-server", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| server_handshake(&f.configs)).sum())
    });
    g.bench_function("floor-P-384-ecdh", |b| b.iter(|| f.floor.ecdh()));
    g.bench_function("floor-ML-KEM-1024-encaps", |b| {
        b.iter(|| f.floor.encapsulate())
    });
    g.bench_function("floor-ML-DSA-65-pure-sign", |b| {
        b.iter(|| f.floor.ml_dsa_sign())
    });
    g.bench_function("floor-ECDSA-P384-sign", |b| b.iter(|| f.floor.ecdsa_sign()));
    g.bench_function("provider-group-server", |b| b.iter(|| f.crypto.kx()));
    g.bench_function("provider-composite-sign", |b| b.iter(|| f.crypto.sign()));
    g.finish();
}

/// The ratios, each side interleaved with the other.
fn ratios(c: &mut Criterion<Ratio>) {
    let f = fixture();
    let floor = &f.floor;
    let crypto = &f.crypto;
    let mut g = clock::ratio_group(c, "server-floor-ratio");
    let handshake = || server_handshake(&f.configs);
    let floor_ops = || {
        [
            timed(|| floor.ecdh()),
            timed(|| floor.encapsulate()),
            timed(|| floor.ml_dsa_sign()),
            timed(|| floor.ecdsa_sign()),
        ]
    };
    g.bench_function("handshake-server-vs-floor", |b| {
        b.iter_custom(|iters| {
            clock::paired_timed(
                iters,
                &mut || handshake(),
                &mut [
                    &mut || timed(|| floor.ecdh()),
                    &mut || timed(|| floor.encapsulate()),
                    &mut || timed(|| floor.ml_dsa_sign()),
                    &mut || timed(|| floor.ecdsa_sign()),
                ],
            )
        })
    });
    g.bench_function("handshake-server-sha256-vs-floor", |b| {
        b.iter_custom(|iters| {
            clock::paired_timed(
                iters,
                &mut || server_handshake(&f.sha256_configs),
                &mut [&mut || floor_ops().into_iter().sum()],
            )
        })
    });
    g.bench_function("handshake-server-vs-provider-crypto", |b| {
        b.iter_custom(|iters| {
            clock::paired_timed(
                iters,
                &mut || handshake(),
                &mut [&mut || timed(|| crypto.kx()), &mut || {
                    timed(|| crypto.sign())
                }],
            )
        })
    });
    g.bench_function("provider-crypto-vs-floor", |b| {
        b.iter_custom(|iters| {
            clock::paired_timed(
                iters,
                &mut || timed(|| crypto.kx()) + timed(|| crypto.sign()),
                &mut [&mut || floor_ops().into_iter().sum()],
            )
        })
    });
    g.bench_function("group-vs-floor-kx", |b| {
        b.iter_custom(|iters| {
            clock::paired_timed(
                iters,
                &mut || timed(|| crypto.kx()),
                &mut [&mut || timed(|| floor.ecdh()), &mut || {
                    timed(|| floor.encapsulate())
                }],
            )
        })
    });
    g.bench_function("composite-sign-vs-floor-signs", |b| {
        b.iter_custom(|iters| {
            clock::paired_timed(
                iters,
                &mut || timed(|| crypto.sign()),
                &mut [&mut || timed(|| floor.ml_dsa_sign()), &mut || {
                    timed(|| floor.ecdsa_sign())
                }],
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = clock::criterion(3);
    targets = operations
}
criterion_group! {
    name = ratio_benches;
    config = clock::ratio_criterion(4);
    targets = ratios
}
criterion_main!(benches, ratio_benches);
