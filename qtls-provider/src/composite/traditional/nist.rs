//! ECDSA on P-256, P-384 and P-521 (aws-lc-rs), each with its own hash
//! ([draft-ietf-lamps-pq-composite-sigs-19 §6](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-6)).

use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use zeroize::Zeroizing;

use super::{ec_private_key, CompositeCurve};
use crate::error::Error;

fn signing(curve: CompositeCurve) -> &'static signature::EcdsaSigningAlgorithm {
    match curve {
        CompositeCurve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        CompositeCurve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        _ => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
    }
}

fn verification(curve: CompositeCurve) -> &'static signature::EcdsaVerificationAlgorithm {
    match curve {
        CompositeCurve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
        CompositeCurve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
        _ => &signature::ECDSA_P521_SHA512_ASN1,
    }
}

pub(crate) struct NistKey {
    curve: CompositeCurve,
    key_pair: EcdsaKeyPair,
}

impl NistKey {
    pub(super) fn generate(curve: CompositeCurve) -> Result<Self, Error> {
        let key_pair = EcdsaKeyPair::generate(signing(curve))
            .map_err(|_| Error::Backend("ECDSA key generation"))?;
        Ok(Self { curve, key_pair })
    }

    pub(super) fn from_scalar(curve: CompositeCurve, scalar: &[u8]) -> Result<Self, Error> {
        // The canonical ECPrivateKey: aws-lc computes the public point from the scalar.
        let der = ec_private_key::encode(curve, scalar)?;
        let key_pair = EcdsaKeyPair::from_private_key_der(signing(curve), &der).map_err(|e| {
            Error::InvalidPrivateKey(format!("ECDSA {} key rejected: {e}", curve.name()))
        })?;
        Ok(Self { curve, key_pair })
    }

    pub(super) fn curve(&self) -> CompositeCurve {
        self.curve
    }

    pub(super) fn scalar(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.key_pair
            .private_key()
            .as_be_bytes()
            .map(|bytes| Zeroizing::new(bytes.as_ref().to_vec()))
            .map_err(|_| Error::Backend("ECDSA private key export"))
    }

    pub(super) fn public_key(&self) -> Vec<u8> {
        self.key_pair.public_key().as_ref().to_vec()
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.key_pair
            .sign(&SystemRandom::new(), message)
            .map(|sig| sig.as_ref().to_vec())
            .map_err(|_| Error::Backend("ECDSA signing"))
    }
}

pub(super) fn verify(
    curve: CompositeCurve,
    point: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    signature::UnparsedPublicKey::new(verification(curve), point)
        .verify(message, signature)
        .is_ok()
}
