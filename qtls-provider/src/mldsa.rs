//! ML-DSA (FIPS 204) keys, signing and verification on either backend.
//!
//! Keys are kept as the 32-byte seed ξ (FIPS 204 §6.1, the RFC 9881 recommended private-key
//! form) when it is known, and always as the expanded signing key (FIPS 204 Alg. 24 skEncode),
//! which is what liboqs signs with.

use aws_lc_rs::encoding::AsRawBytes;
use aws_lc_rs::signature::{self, KeyPair as _, PqdsaKeyPair, PqdsaSigningAlgorithm};
use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::error::Error;
use crate::mldsa_context::{self, ContextSigningKey};

/// Length of an ML-DSA seed ξ (FIPS 204 Alg. 1).
pub(crate) const SEED_LEN: usize = 32;

/// An ML-DSA parameter set (FIPS 204 §4, Table 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MlDsaLevel {
    /// ML-DSA-44 (NIST category 2).
    MlDsa44,
    /// ML-DSA-65 (NIST category 3; "Dilithium3" in older documents).
    MlDsa65,
    /// ML-DSA-87 (NIST category 5).
    MlDsa87,
}

impl MlDsaLevel {
    /// Every parameter set.
    pub const ALL: [Self; 3] = [Self::MlDsa44, Self::MlDsa65, Self::MlDsa87];

    /// Public key size in bytes (FIPS 204 Table 2).
    pub const fn public_key_len(self) -> usize {
        match self {
            Self::MlDsa44 => 1312,
            Self::MlDsa65 => 1952,
            Self::MlDsa87 => 2592,
        }
    }

    /// Signature size in bytes (FIPS 204 Table 2).
    pub const fn signature_len(self) -> usize {
        match self {
            Self::MlDsa44 => 2420,
            Self::MlDsa65 => 3309,
            Self::MlDsa87 => 4627,
        }
    }

    /// Expanded private key size in bytes (FIPS 204 Table 2).
    pub const fn expanded_key_len(self) -> usize {
        match self {
            Self::MlDsa44 => 2560,
            Self::MlDsa65 => 4032,
            Self::MlDsa87 => 4896,
        }
    }

    /// The RFC 9881 object identifier (id-ml-dsa-44/65/87).
    pub const fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            Self::MlDsa44 => const_oid::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.17"),
            Self::MlDsa65 => const_oid::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.18"),
            Self::MlDsa87 => const_oid::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.19"),
        }
    }

    /// The name used by FIPS 204 and OpenSSL, e.g. `ML-DSA-65`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::MlDsa44 => "ML-DSA-44",
            Self::MlDsa65 => "ML-DSA-65",
            Self::MlDsa87 => "ML-DSA-87",
        }
    }

    pub(crate) fn from_oid(oid: &const_oid::ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.oid() == *oid)
    }

    fn aws_lc_signing(self) -> &'static PqdsaSigningAlgorithm {
        match self {
            Self::MlDsa44 => &signature::ML_DSA_44_SIGNING,
            Self::MlDsa65 => &signature::ML_DSA_65_SIGNING,
            Self::MlDsa87 => &signature::ML_DSA_87_SIGNING,
        }
    }

    fn aws_lc_verification(self) -> &'static signature::PqdsaVerificationAlgorithm {
        match self {
            Self::MlDsa44 => &signature::ML_DSA_44,
            Self::MlDsa65 => &signature::ML_DSA_65,
            Self::MlDsa87 => &signature::ML_DSA_87,
        }
    }

    #[cfg(feature = "oqs")]
    fn oqs(self) -> oqs::sig::Algorithm {
        match self {
            Self::MlDsa44 => oqs::sig::Algorithm::MlDsa44,
            Self::MlDsa65 => oqs::sig::Algorithm::MlDsa65,
            Self::MlDsa87 => oqs::sig::Algorithm::MlDsa87,
        }
    }
}

/// An ML-DSA private key with its public key.
pub(crate) struct MlDsaKey {
    level: MlDsaLevel,
    backend: Backend,
    seed: Option<Zeroizing<[u8; SEED_LEN]>>,
    expanded: Zeroizing<Vec<u8>>,
    /// aws-lc-rs always holds the key: it expands seeds and signs with an empty context.
    aws_lc: PqdsaKeyPair,
    /// libcrux signs with a non-empty context on the aws-lc-rs backend ([`mldsa_context`]).
    with_context: Option<ContextSigningKey>,
    #[cfg(feature = "oqs")]
    oqs: Option<(oqs::sig::Sig, oqs::sig::SecretKey)>,
}

impl MlDsaKey {
    /// ML-DSA.KeyGen (FIPS 204 Alg. 1) from fresh randomness.
    pub(crate) fn generate(level: MlDsaLevel, backend: Backend) -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| Error::Backend("random seed"))?;
        Self::from_seed(level, backend, &seed)
    }

    /// ML-DSA.KeyGen_internal (FIPS 204 Alg. 6) from the seed ξ.
    pub(crate) fn from_seed(
        level: MlDsaLevel,
        backend: Backend,
        seed: &[u8; SEED_LEN],
    ) -> Result<Self, Error> {
        let aws_lc = PqdsaKeyPair::from_seed(level.aws_lc_signing(), seed).map_err(|e| {
            Error::InvalidPrivateKey(format!("{} seed rejected: {e}", level.name()))
        })?;
        Self::new(level, backend, Some(Zeroizing::new(*seed)), aws_lc)
    }

    /// From the expanded private key (FIPS 204 Alg. 25 skDecode input).
    pub(crate) fn from_expanded(
        level: MlDsaLevel,
        backend: Backend,
        expanded: &[u8],
    ) -> Result<Self, Error> {
        if expanded.len() != level.expanded_key_len() {
            return Err(Error::InvalidPrivateKey(format!(
                "{} expanded key is {} bytes, expected {}",
                level.name(),
                expanded.len(),
                level.expanded_key_len()
            )));
        }
        let aws_lc =
            PqdsaKeyPair::from_raw_private_key(level.aws_lc_signing(), expanded).map_err(|e| {
                Error::InvalidPrivateKey(format!("{} expanded key rejected: {e}", level.name()))
            })?;
        Self::new(level, backend, None, aws_lc)
    }

    fn new(
        level: MlDsaLevel,
        backend: Backend,
        seed: Option<Zeroizing<[u8; SEED_LEN]>>,
        aws_lc: PqdsaKeyPair,
    ) -> Result<Self, Error> {
        let backend = backend.ensure_available()?;
        let expanded = Zeroizing::new(
            aws_lc
                .private_key()
                .as_raw_bytes()
                .map_err(|_| Error::Backend("ML-DSA expanded key export"))?
                .as_ref()
                .to_vec(),
        );
        #[cfg(feature = "oqs")]
        let oqs = match backend {
            Backend::Oqs => {
                let sig = oqs_sig(level)?;
                let sk = sig
                    .secret_key_from_bytes(&expanded)
                    .ok_or(Error::Backend("liboqs ML-DSA secret key length"))?
                    .to_owned();
                Some((sig, sk))
            }
            _ => None,
        };
        let with_context = match backend {
            Backend::AwsLc => Some(ContextSigningKey::new(level, &expanded)?),
            Backend::Oqs => None,
        };
        Ok(Self {
            level,
            backend,
            seed,
            expanded,
            aws_lc,
            with_context,
            #[cfg(feature = "oqs")]
            oqs,
        })
    }

    pub(crate) fn level(&self) -> MlDsaLevel {
        self.level
    }

    pub(crate) fn seed(&self) -> Option<&[u8; SEED_LEN]> {
        self.seed.as_deref()
    }

    pub(crate) fn expanded(&self) -> &[u8] {
        &self.expanded
    }

    pub(crate) fn public_key(&self) -> &[u8] {
        self.aws_lc.public_key().as_ref()
    }

    /// ML-DSA.Sign (FIPS 204 Alg. 2, hedged) of `message` with context string `context`.
    pub(crate) fn sign(&self, message: &[u8], context: &[u8]) -> Result<Vec<u8>, Error> {
        if context.len() > 255 {
            return Err(Error::ContextTooLong(context.len()));
        }
        #[cfg(feature = "oqs")]
        if let Some((sig, sk)) = &self.oqs {
            let signature = if context.is_empty() {
                sig.sign(message, sk)
            } else {
                sig.sign_with_ctx_str(message, context, sk)
            };
            return signature
                .map(|s| s.into_vec())
                .map_err(|_| Error::Backend("liboqs ML-DSA signing"));
        }
        if context.is_empty() {
            let mut signature = vec![0; self.level.signature_len()];
            let len = self
                .aws_lc
                .sign(message, &mut signature)
                .map_err(|_| Error::Backend("aws-lc-rs ML-DSA signing"))?;
            signature.truncate(len);
            return Ok(signature);
        }
        let key = self
            .with_context
            .as_ref()
            .ok_or(Error::Backend("ML-DSA with a context: no signing key"))?;
        let mut rnd = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(rnd.as_mut()).map_err(|_| Error::Backend("random"))?;
        key.sign(message, context, &rnd)
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }
}

/// ML-DSA.Verify (FIPS 204 Alg. 3) on `backend`. Wrong lengths are simply invalid.
pub(crate) fn verify(
    level: MlDsaLevel,
    backend: Backend,
    public_key: &[u8],
    message: &[u8],
    context: &[u8],
    signature: &[u8],
) -> bool {
    if public_key.len() != level.public_key_len()
        || signature.len() != level.signature_len()
        || context.len() > 255
    {
        return false;
    }
    match backend {
        #[cfg(feature = "oqs")]
        Backend::Oqs => {
            let Ok(sig) = oqs_sig(level) else {
                return false;
            };
            let (Some(pk), Some(s)) = (
                sig.public_key_from_bytes(public_key),
                sig.signature_from_bytes(signature),
            ) else {
                return false;
            };
            let verified = if context.is_empty() {
                sig.verify(message, s, pk).is_ok()
            } else {
                sig.verify_with_ctx_str(message, s, context, pk).is_ok()
            };
            verified && z_within_bound(level, signature)
        }
        _ if context.is_empty() => {
            signature::UnparsedPublicKey::new(level.aws_lc_verification(), public_key)
                .verify(message, signature)
                .is_ok()
        }
        _ => mldsa_context::verify(level, public_key, message, context, signature),
    }
}

/// FIPS 204 Alg. 8 line 13: every coefficient of the response z must satisfy
/// ‖z‖∞ < γ1 − β. liboqs 0.13 dispatches to pq-crystals' AVX2 verifier, which omits this
/// check (pq-crystals/dilithium#113) and so accepts Wycheproof's "violate index ..."
/// signatures; checking it here keeps the oqs backend's verdicts equal to aws-lc-rs's.
#[cfg(feature = "oqs")]
fn z_within_bound(level: MlDsaLevel, signature: &[u8]) -> bool {
    // (c̃ bytes = λ/4, ℓ, log2 γ1, β = τ·η), FIPS 204 Table 1.
    let (c_tilde_len, l, gamma1_log2, beta): (usize, usize, u32, i32) = match level {
        MlDsaLevel::MlDsa44 => (32, 4, 17, 78),
        MlDsaLevel::MlDsa65 => (48, 5, 19, 196),
        MlDsaLevel::MlDsa87 => (64, 7, 19, 120),
    };
    let gamma1 = 1i32 << gamma1_log2;
    // BitPack(z, γ1 − 1, γ1) stores γ1 − z in 1 + log2 γ1 bits, little-endian (Alg. 17).
    let width = gamma1_log2 + 1;
    let z_len = l * 32 * width as usize;
    let Some(packed) = signature.get(c_tilde_len..c_tilde_len + z_len) else {
        return false;
    };
    let mask = (1u64 << width) - 1;
    let (mut bits, mut held) = (0u64, 0u32);
    for byte in packed {
        bits |= u64::from(*byte) << held;
        held += 8;
        while held >= width {
            let stored = (bits & mask) as i32;
            bits >>= width;
            held -= width;
            if (gamma1 - stored).abs() >= gamma1 - beta {
                return false;
            }
        }
    }
    true
}

#[cfg(feature = "oqs")]
fn oqs_sig(level: MlDsaLevel) -> Result<oqs::sig::Sig, Error> {
    oqs::init();
    oqs::sig::Sig::new(level.oqs()).map_err(|_| Error::Backend("liboqs ML-DSA unavailable"))
}
