//! ML-DSA-65 with a 33-byte context string (a composite label), side by side in one run:
//! libcrux-ml-dsa (what the aws-lc-rs backend uses), RustCrypto's `ml-dsa` (what it used
//! before), liboqs through `oqs` (with `--features oqs`), against aws-lc-rs's pure ML-DSA-65
//! (empty context, its only mode) as the baseline.
//!
//! - `mldsa-ctx/<implementation>-<op>`: each operation alone, for absolute times;
//! - `mldsa-ctx-ratio/<implementation>-<op>`: the implementation's sign (verify) with the
//!   context over aws-lc-rs's pure sign (verify), run interleaved (paired ratios, see
//!   `qtls-test-support/src/bench.rs`); issue #13's targets are ≤ 1.25 for libcrux.
//!
//! `cargo bench -p qtls-provider --features oqs --bench mldsa_context`

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use aws_lc_rs::encoding::AsRawBytes;
use aws_lc_rs::signature::{
    KeyPair as _, PqdsaKeyPair, UnparsedPublicKey, ML_DSA_65, ML_DSA_65_SIGNING,
};
use clock::{BenchClock, Ratio};
use criterion::{criterion_group, criterion_main, Criterion};
use libcrux_ml_dsa::{ml_dsa_65, MLDSASigningKey};
use qtls_test_support::bench as clock;

/// The composite label of MLDSA65-ECDSA-P384-SHA512: 33 bytes, the context the composite's
/// ML-DSA half signs with.
const CONTEXT: &[u8] = b"COMPSIG-MLDSA65-ECDSA-P384-SHA512";

/// The size of a composite message representative with that label (prefix 32, label 33,
/// length byte, SHA-512 64).
const MESSAGE: [u8; 130] = [0x5a; 130];

struct Fixture {
    aws_lc: PqdsaKeyPair,
    aws_lc_sig: Vec<u8>,
    libcrux_key: Box<MLDSASigningKey<4032>>,
    libcrux_public: ml_dsa_65::MLDSA65VerificationKey,
    libcrux_sig: ml_dsa_65::MLDSA65Signature,
    rust_crypto_key: ml_dsa::ExpandedSigningKey<ml_dsa::MlDsa65>,
    rust_crypto_public: ml_dsa::VerifyingKey<ml_dsa::MlDsa65>,
    rust_crypto_sig: ml_dsa::Signature<ml_dsa::MlDsa65>,
    #[cfg(feature = "oqs")]
    oqs: (
        oqs::sig::Sig,
        oqs::sig::SecretKey,
        oqs::sig::PublicKey,
        oqs::sig::Signature,
    ),
}

impl Fixture {
    fn new() -> Self {
        let aws_lc = PqdsaKeyPair::from_seed(&ML_DSA_65_SIGNING, &[42; 32]).unwrap();
        let expanded = aws_lc
            .private_key()
            .as_raw_bytes()
            .unwrap()
            .as_ref()
            .to_vec();
        let public = aws_lc.public_key().as_ref().to_vec();
        let mut aws_lc_sig = vec![0; 3309];
        aws_lc.sign(&MESSAGE, &mut aws_lc_sig).unwrap();

        let mut libcrux_key = Box::new(MLDSASigningKey::<4032>::zero());
        libcrux_key.as_mut_slice().copy_from_slice(&expanded);
        let libcrux_public =
            ml_dsa_65::MLDSA65VerificationKey::new(public.clone().try_into().unwrap());
        let libcrux_sig = ml_dsa_65::sign(&libcrux_key, &MESSAGE, CONTEXT, [1; 32]).unwrap();

        #[allow(deprecated)]
        let rust_crypto_key = ml_dsa::ExpandedSigningKey::<ml_dsa::MlDsa65>::from_expanded(
            &expanded.as_slice().try_into().unwrap(),
        );
        let rust_crypto_public =
            ml_dsa::VerifyingKey::<ml_dsa::MlDsa65>::decode(&public.as_slice().try_into().unwrap());
        let rust_crypto_sig = rust_crypto_key.sign_internal(
            &[&[0, CONTEXT.len() as u8], CONTEXT, &MESSAGE],
            &[1; 32].into(),
        );

        #[cfg(feature = "oqs")]
        let oqs = {
            oqs::init();
            let sig = oqs::sig::Sig::new(oqs::sig::Algorithm::MlDsa65).unwrap();
            let sk = sig.secret_key_from_bytes(&expanded).unwrap().to_owned();
            let pk = sig.public_key_from_bytes(&public).unwrap().to_owned();
            let signature = sig.sign_with_ctx_str(&MESSAGE, CONTEXT, &sk).unwrap();
            (sig, sk, pk, signature)
        };
        Self {
            aws_lc,
            aws_lc_sig,
            libcrux_key,
            libcrux_public,
            libcrux_sig,
            rust_crypto_key,
            rust_crypto_public,
            rust_crypto_sig,
            #[cfg(feature = "oqs")]
            oqs,
        }
    }

    fn run(&self, op: Op) {
        match op {
            Op::AwsLcPureSign => {
                let mut sig = [0; 3309];
                black_box(self.aws_lc.sign(&MESSAGE, &mut sig).unwrap());
            }
            Op::AwsLcPureVerify => assert!(UnparsedPublicKey::new(
                &ML_DSA_65,
                self.aws_lc.public_key().as_ref()
            )
            .verify(&MESSAGE, &self.aws_lc_sig)
            .is_ok()),
            Op::LibcruxSign => {
                let mut rnd = [0; 32];
                aws_lc_rs::rand::fill(&mut rnd).unwrap();
                black_box(ml_dsa_65::sign(&self.libcrux_key, &MESSAGE, CONTEXT, rnd).unwrap());
            }
            Op::LibcruxVerify => assert!(ml_dsa_65::verify(
                &self.libcrux_public,
                &MESSAGE,
                CONTEXT,
                &self.libcrux_sig
            )
            .is_ok()),
            Op::RustCryptoSign => {
                let mut rnd = [0; 32];
                aws_lc_rs::rand::fill(&mut rnd).unwrap();
                black_box(
                    self.rust_crypto_key.sign_internal(
                        &[&[0, CONTEXT.len() as u8], CONTEXT, &MESSAGE],
                        &rnd.into(),
                    ),
                );
            }
            Op::RustCryptoVerify => assert!(self.rust_crypto_public.verify_with_context(
                &MESSAGE,
                CONTEXT,
                &self.rust_crypto_sig
            )),
            #[cfg(feature = "oqs")]
            Op::OqsSign => {
                let (sig, sk, _, _) = &self.oqs;
                black_box(sig.sign_with_ctx_str(&MESSAGE, CONTEXT, sk).unwrap());
            }
            #[cfg(feature = "oqs")]
            Op::OqsVerify => {
                let (sig, _, pk, signature) = &self.oqs;
                assert!(sig
                    .verify_with_ctx_str(&MESSAGE, signature, CONTEXT, pk)
                    .is_ok());
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Op {
    AwsLcPureSign,
    AwsLcPureVerify,
    LibcruxSign,
    LibcruxVerify,
    RustCryptoSign,
    RustCryptoVerify,
    #[cfg(feature = "oqs")]
    OqsSign,
    #[cfg(feature = "oqs")]
    OqsVerify,
}

impl Op {
    fn all() -> Vec<Self> {
        let mut ops = vec![
            Self::AwsLcPureSign,
            Self::AwsLcPureVerify,
            Self::LibcruxSign,
            Self::LibcruxVerify,
            Self::RustCryptoSign,
            Self::RustCryptoVerify,
        ];
        #[cfg(feature = "oqs")]
        ops.extend([Self::OqsSign, Self::OqsVerify]);
        ops
    }

    fn name(self) -> &'static str {
        match self {
            Self::AwsLcPureSign => "aws-lc-rs-pure-sign",
            Self::AwsLcPureVerify => "aws-lc-rs-pure-verify",
            Self::LibcruxSign => "libcrux-ctx-sign",
            Self::LibcruxVerify => "libcrux-ctx-verify",
            Self::RustCryptoSign => "rustcrypto-ctx-sign",
            Self::RustCryptoVerify => "rustcrypto-ctx-verify",
            #[cfg(feature = "oqs")]
            Self::OqsSign => "oqs-ctx-sign",
            #[cfg(feature = "oqs")]
            Self::OqsVerify => "oqs-ctx-verify",
        }
    }

    /// aws-lc-rs's pure operation of the same kind: the denominator of the ratio.
    fn baseline(self) -> Self {
        if self.name().ends_with("sign") {
            Self::AwsLcPureSign
        } else {
            Self::AwsLcPureVerify
        }
    }
}

fn alone(c: &mut Criterion<BenchClock>) {
    let fixture = Fixture::new();
    let mut g = clock::group(c, "mldsa-ctx");
    for op in Op::all() {
        g.bench_function(op.name(), |b| b.iter(|| fixture.run(op)));
    }
    g.finish();
}

fn ratios(c: &mut Criterion<Ratio>) {
    let fixture = &Fixture::new();
    let mut g = clock::ratio_group(c, "mldsa-ctx-ratio");
    for op in Op::all() {
        if op.baseline().name() == op.name() {
            continue;
        }
        g.bench_function(op.name(), |b| {
            b.iter_custom(|iters| {
                let mut top = || fixture.run(op);
                let mut bottom = || fixture.run(op.baseline());
                clock::paired(iters, &mut top, &mut [&mut bottom])
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = clock::criterion(3);
    targets = alone
}
criterion_group! {
    name = ratio_benches;
    // Signing repeats a random number of rounds (rejection sampling): the longest window the
    // short configuration allows.
    config = clock::ratio_criterion(5);
    targets = ratios
}
criterion_main!(benches, ratio_benches);
