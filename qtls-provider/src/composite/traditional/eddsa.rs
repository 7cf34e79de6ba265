//! The EdDSA components: pure Ed25519 (aws-lc-rs) and pure Ed448 with an empty context
//! (`ed448-goldilocks`, as aws-lc-rs has no Ed448), keys as raw RFC 8032 seeds
//! ([draft-ietf-lamps-pq-composite-sigs-19 §4](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-4)).

use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _};
use zeroize::Zeroizing;

use crate::error::Error;

const ED25519_SEED_LEN: usize = 32;
const ED448_SEED_LEN: usize = 57;

fn seed_len_error(name: &str, expected: usize, actual: usize) -> Error {
    Error::InvalidPrivateKey(format!(
        "{name} private key is {actual} bytes, expected the raw {expected}-byte seed"
    ))
}

pub(crate) struct Ed25519Key(Ed25519KeyPair);

impl Ed25519Key {
    pub(super) fn generate() -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; ED25519_SEED_LEN]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| Error::Backend("random seed"))?;
        Self::from_seed(seed.as_ref())
    }

    pub(super) fn from_seed(seed: &[u8]) -> Result<Self, Error> {
        if seed.len() != ED25519_SEED_LEN {
            return Err(seed_len_error("Ed25519", ED25519_SEED_LEN, seed.len()));
        }
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(Self)
            .map_err(|e| Error::InvalidPrivateKey(format!("Ed25519 seed rejected: {e}")))
    }

    pub(super) fn seed(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.0
            .seed()
            .and_then(|seed| seed.as_be_bytes())
            .map(|bytes| Zeroizing::new(bytes.as_ref().to_vec()))
            .map_err(|_| Error::Backend("Ed25519 seed export"))
    }

    pub(super) fn public_key(&self) -> Vec<u8> {
        self.0.public_key().as_ref().to_vec()
    }

    pub(super) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).as_ref().to_vec()
    }
}

pub(crate) struct Ed448Key {
    seed: Zeroizing<[u8; ED448_SEED_LEN]>,
    key: ed448_goldilocks::SigningKey,
}

impl Ed448Key {
    pub(super) fn generate() -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; ED448_SEED_LEN]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| Error::Backend("random seed"))?;
        Self::from_seed(seed.as_ref())
    }

    pub(super) fn from_seed(seed: &[u8]) -> Result<Self, Error> {
        let seed: [u8; ED448_SEED_LEN] = seed
            .try_into()
            .map_err(|_| seed_len_error("Ed448", ED448_SEED_LEN, seed.len()))?;
        let key = ed448_goldilocks::SigningKey::try_from(&seed[..])
            .map_err(|e| Error::InvalidPrivateKey(format!("Ed448 seed rejected: {e}")))?;
        Ok(Self {
            seed: Zeroizing::new(seed),
            key,
        })
    }

    pub(super) fn seed(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.seed.to_vec())
    }

    pub(super) fn public_key(&self) -> Vec<u8> {
        self.key.verifying_key().to_bytes().to_vec()
    }

    pub(super) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign_raw(message).to_bytes().to_vec()
    }
}

pub(super) fn verify_ed25519(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

pub(super) fn verify_ed448(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(public_key) = <&[u8; ED448_SEED_LEN]>::try_from(public_key) else {
        return false;
    };
    // RFC 8032 §5.2.3: in a 57-byte point encoding only bit 455 (x's sign) may be set in
    // the last byte; with any of bits 448-454 set, y ≥ p and decoding fails.
    // ed448-goldilocks 0.14.0-pre.15 ignores those bits in R (Wycheproof ed448 tc 63-69).
    let unused_bits_set = |point: &[u8]| point.get(56).is_none_or(|last| last & 0x7f != 0);
    if signature.len() != 2 * ED448_SEED_LEN
        || unused_bits_set(public_key)
        || unused_bits_set(&signature[..ED448_SEED_LEN])
    {
        return false;
    }
    let (Ok(key), Ok(signature)) = (
        ed448_goldilocks::VerifyingKey::from_bytes(public_key),
        ed448_goldilocks::Signature::try_from(signature),
    ) else {
        return false;
    };
    key.verify_raw(&signature, message).is_ok()
}
