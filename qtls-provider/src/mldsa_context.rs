//! ML-DSA with a context string ([FIPS 204 §5.2](https://doi.org/10.6028/NIST.FIPS.204)
//! Alg. 2 and 3 with ctx ≠ ""), which composite signatures need for their ML-DSA half
//! ([draft-ietf-lamps-pq-composite-sigs §4.2](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs#section-4.2):
//! ctx = the composite label), on the aws-lc-rs backend.
//!
//! aws-lc-rs signs and verifies with the empty context only, and reaching AWS-LC's
//! `EVP_PKEY_CTX_set1_signature_context_string` would take FFI of our own. This module uses
//! [libcrux-ml-dsa](https://crates.io/crates/libcrux-ml-dsa) (Cryspen; field arithmetic, NTT
//! and encodings verified with hax/F*; AVX2 or portable code chosen at run time; Apache-2.0)
//! instead of RustCrypto's `ml-dsa` (portable Rust, 8x slower to sign than aws-lc-rs) and of
//! liboqs (a C build with cmake, and an AVX2 verifier that omits a bound check): BENCHMARKS.md
//! has the side-by-side measurement. Signatures are the same bytes for the same key, message,
//! context and randomness (tests cross-check against RustCrypto and the Wycheproof vectors).

use libcrux_ml_dsa::{
    ml_dsa_44, ml_dsa_65, ml_dsa_87, MLDSASignature, MLDSASigningKey, MLDSAVerificationKey,
};
use zeroize::Zeroize;

use crate::error::Error;
use crate::mldsa::MlDsaLevel;

/// An expanded ML-DSA signing key (FIPS 204 Alg. 24 skEncode) as libcrux signs with it,
/// zeroized on drop.
pub(crate) struct ContextSigningKey(Key);

/// Boxed: 2.5-4.8 KB of key that should not be copied around on the stack.
enum Key {
    MlDsa44(Box<MLDSASigningKey<2560>>),
    MlDsa65(Box<MLDSASigningKey<4032>>),
    MlDsa87(Box<MLDSASigningKey<4896>>),
}

/// A zeroed key box filled from `expanded`, if that has the level's length.
fn boxed<const N: usize>(expanded: &[u8]) -> Option<Box<MLDSASigningKey<N>>> {
    if expanded.len() != N {
        return None;
    }
    let mut key = Box::new(MLDSASigningKey::<N>::zero());
    key.as_mut_slice().copy_from_slice(expanded);
    Some(key)
}

impl ContextSigningKey {
    /// The key for `level` from its expanded form.
    pub(crate) fn new(level: MlDsaLevel, expanded: &[u8]) -> Result<Self, Error> {
        let key = match level {
            MlDsaLevel::MlDsa44 => boxed(expanded).map(Key::MlDsa44),
            MlDsaLevel::MlDsa65 => boxed(expanded).map(Key::MlDsa65),
            MlDsaLevel::MlDsa87 => boxed(expanded).map(Key::MlDsa87),
        };
        key.map(Self).ok_or_else(|| {
            Error::InvalidPrivateKey(format!(
                "{} expanded key is {} bytes, expected {}",
                level.name(),
                expanded.len(),
                level.expanded_key_len()
            ))
        })
    }

    /// ML-DSA.Sign (FIPS 204 Alg. 2) of `message` under `context` (at most 255 bytes), hedged
    /// with the caller's fresh `rnd`.
    pub(crate) fn sign(
        &self,
        message: &[u8],
        context: &[u8],
        rnd: &[u8; 32],
    ) -> Result<Vec<u8>, Error> {
        let signed = match &self.0 {
            Key::MlDsa44(key) => {
                ml_dsa_44::sign(key, message, context, *rnd).map(|s| s.as_slice().to_vec())
            }
            Key::MlDsa65(key) => {
                ml_dsa_65::sign(key, message, context, *rnd).map(|s| s.as_slice().to_vec())
            }
            Key::MlDsa87(key) => {
                ml_dsa_87::sign(key, message, context, *rnd).map(|s| s.as_slice().to_vec())
            }
        };
        signed.map_err(|e| match e {
            libcrux_ml_dsa::SigningError::ContextTooLongError => {
                Error::ContextTooLong(context.len())
            }
            // FIPS 204 Alg. 7 loops until a candidate passes; libcrux stops after 814
            // attempts (a probability below 2^-128 for a valid key), so this means a bad key.
            libcrux_ml_dsa::SigningError::RejectionSamplingError => {
                Error::Backend("libcrux ML-DSA signing gave up (rejection sampling)")
            }
        })
    }
}

impl Drop for ContextSigningKey {
    fn drop(&mut self) {
        match &mut self.0 {
            Key::MlDsa44(key) => key.as_mut_slice().zeroize(),
            Key::MlDsa65(key) => key.as_mut_slice().zeroize(),
            Key::MlDsa87(key) => key.as_mut_slice().zeroize(),
        }
    }
}

/// ML-DSA.Verify (FIPS 204 Alg. 3) of `signature` on `message` under `context`; keys and
/// signatures of the wrong length are simply invalid.
pub(crate) fn verify(
    level: MlDsaLevel,
    public_key: &[u8],
    message: &[u8],
    context: &[u8],
    signature: &[u8],
) -> bool {
    fn parts<const PK: usize, const SIG: usize>(
        public_key: &[u8],
        signature: &[u8],
    ) -> Option<(MLDSAVerificationKey<PK>, MLDSASignature<SIG>)> {
        Some((
            MLDSAVerificationKey::new(public_key.try_into().ok()?),
            MLDSASignature::new(signature.try_into().ok()?),
        ))
    }
    match level {
        MlDsaLevel::MlDsa44 => parts(public_key, signature)
            .is_some_and(|(pk, sig)| ml_dsa_44::verify(&pk, message, context, &sig).is_ok()),
        MlDsaLevel::MlDsa65 => parts(public_key, signature)
            .is_some_and(|(pk, sig)| ml_dsa_65::verify(&pk, message, context, &sig).is_ok()),
        MlDsaLevel::MlDsa87 => parts(public_key, signature)
            .is_some_and(|(pk, sig)| ml_dsa_87::verify(&pk, message, context, &sig).is_ok()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use wycheproof::mldsa_sign::{TestFlag, TestName, TestSet};
    use wycheproof::TestResult;

    const LEVELS: [(MlDsaLevel, TestName); 3] = [
        (MlDsaLevel::MlDsa44, TestName::MlDsa44SignNoSeed),
        (MlDsaLevel::MlDsa65, TestName::MlDsa65SignNoSeed),
        (MlDsaLevel::MlDsa87, TestName::MlDsa87SignNoSeed),
    ];

    /// Wycheproof's signatures fix rnd (zero for the deterministic variant, FIPS 204 §3.4),
    /// so the exact bytes are known: libcrux must produce them, contexts included.
    #[test]
    fn wycheproof_signatures_are_reproduced_byte_for_byte() {
        for (level, name) in LEVELS {
            let set = TestSet::load(name).unwrap();
            let mut reproduced = 0;
            let mut with_context = 0;
            for group in &set.test_groups {
                let (Some(expanded), Some(public)) = (&group.privkey, &group.pubkey) else {
                    continue;
                };
                let Ok(key) = ContextSigningKey::new(level, expanded) else {
                    assert!(group.tests.iter().all(|t| t.result != TestResult::Valid));
                    continue;
                };
                for test in &group.tests {
                    // Tests of Sign_internal on μ have no message; invalid ones are contexts
                    // over 255 bytes or keys that are refused above.
                    let Some(msg) = &test.msg else { continue };
                    if test.result != TestResult::Valid || test.flags.contains(&TestFlag::Internal)
                    {
                        continue;
                    }
                    let ctx = test.ctx.as_deref().map(|c| c.as_slice()).unwrap_or(b"");
                    let rnd: [u8; 32] = match &test.rnd {
                        Some(rnd) => rnd.as_slice().try_into().unwrap(),
                        None => [0; 32],
                    };
                    let sig = key.sign(msg, ctx, &rnd).unwrap();
                    assert_eq!(
                        sig,
                        test.sig.as_slice(),
                        "{} test {}: {}",
                        level.name(),
                        test.tc_id,
                        test.comment
                    );
                    assert!(verify(level, public, msg, ctx, &sig));
                    reproduced += 1;
                    with_context += usize::from(!ctx.is_empty());
                }
            }
            assert!(
                reproduced >= 10 && with_context >= 1,
                "{}: {reproduced} signatures reproduced, {with_context} with a context",
                level.name()
            );
        }
    }

    fn rust_crypto_sign<P: ml_dsa::MlDsaParams>(
        expanded: &[u8],
        msg: &[u8],
        ctx: &[u8],
        rnd: &[u8; 32],
    ) -> Vec<u8> {
        #[allow(deprecated)]
        let key = ml_dsa::ExpandedSigningKey::<P>::from_expanded(
            &ml_dsa::ExpandedSigningKeyBytes::<P>::try_from(expanded).unwrap(),
        );
        key.sign_internal(&[&[0, ctx.len() as u8], ctx, msg], &(*rnd).into())
            .encode()
            .to_vec()
    }

    fn rust_crypto_verify<P: ml_dsa::MlDsaParams>(
        public: &[u8],
        msg: &[u8],
        ctx: &[u8],
        sig: &[u8],
    ) -> bool {
        let key = ml_dsa::VerifyingKey::<P>::decode(
            &ml_dsa::EncodedVerifyingKey::<P>::try_from(public).unwrap(),
        );
        let sig = ml_dsa::Signature::<P>::try_from(sig).unwrap();
        key.verify_with_context(msg, ctx, &sig)
    }

    /// The same key, message, context and randomness give RustCrypto's bytes, and each
    /// verifies the other's signatures; any change to the signature, key, message or context
    /// fails.
    #[test]
    fn signatures_match_rust_crypto_and_tampering_fails() {
        let label = b"COMPSIG-MLDSA65-ECDSA-P384-SHA512";
        for level in MlDsaLevel::ALL {
            let seed = [level.public_key_len() as u8; 32];
            let aws = aws_lc_rs::signature::PqdsaKeyPair::from_seed(
                match level {
                    MlDsaLevel::MlDsa44 => &aws_lc_rs::signature::ML_DSA_44_SIGNING,
                    MlDsaLevel::MlDsa65 => &aws_lc_rs::signature::ML_DSA_65_SIGNING,
                    MlDsaLevel::MlDsa87 => &aws_lc_rs::signature::ML_DSA_87_SIGNING,
                },
                &seed,
            )
            .unwrap();
            use aws_lc_rs::encoding::AsRawBytes;
            use aws_lc_rs::signature::KeyPair;
            let expanded = aws.private_key().as_raw_bytes().unwrap().as_ref().to_vec();
            let public = aws.public_key().as_ref().to_vec();
            let key = ContextSigningKey::new(level, &expanded).unwrap();
            for (msg, rnd) in [(&b"composite M'"[..], [7u8; 32]), (&[0u8; 0][..], [0; 32])] {
                let ours = key.sign(msg, label, &rnd).unwrap();
                let (theirs, theirs_verifies_ours) = match level {
                    MlDsaLevel::MlDsa44 => (
                        rust_crypto_sign::<ml_dsa::MlDsa44>(&expanded, msg, label, &rnd),
                        rust_crypto_verify::<ml_dsa::MlDsa44>(&public, msg, label, &ours),
                    ),
                    MlDsaLevel::MlDsa65 => (
                        rust_crypto_sign::<ml_dsa::MlDsa65>(&expanded, msg, label, &rnd),
                        rust_crypto_verify::<ml_dsa::MlDsa65>(&public, msg, label, &ours),
                    ),
                    MlDsaLevel::MlDsa87 => (
                        rust_crypto_sign::<ml_dsa::MlDsa87>(&expanded, msg, label, &rnd),
                        rust_crypto_verify::<ml_dsa::MlDsa87>(&public, msg, label, &ours),
                    ),
                };
                assert_eq!(ours, theirs, "{}", level.name());
                assert!(theirs_verifies_ours, "{}", level.name());
                assert!(verify(level, &public, msg, label, &theirs));

                let mut sig = ours.clone();
                sig[level.signature_len() / 2] ^= 1;
                assert!(!verify(level, &public, msg, label, &sig));
                let mut bad_key = public.clone();
                bad_key[100] ^= 1;
                assert!(!verify(level, &bad_key, msg, label, &ours));
                assert!(!verify(level, &public, b"other", label, &ours));
                assert!(!verify(level, &public, msg, b"COMPSIG-OTHER", &ours));
                assert!(!verify(level, &public, msg, label, &ours[1..]));
            }
        }
    }

    #[test]
    fn keys_of_the_wrong_length_and_long_contexts_are_refused() {
        assert!(ContextSigningKey::new(MlDsaLevel::MlDsa65, &[0; 4031]).is_err());
        let key = ContextSigningKey::new(MlDsaLevel::MlDsa44, &[0; 2560]).unwrap();
        assert!(matches!(
            key.sign(b"m", &[0; 256], &[0; 32]),
            Err(Error::ContextTooLong(256))
        ));
    }
}
