//! ECDSA on brainpoolP256r1 (SHA-256) and brainpoolP384r1 (SHA-384)
//! ([draft-ietf-lamps-pq-composite-sigs-19 §6](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-6)),
//! on RustCrypto's `bp256`/`bp384` (aws-lc-rs has no brainpool curves). Signing is
//! deterministic ([RFC 6979](https://www.rfc-editor.org/rfc/rfc6979)).

use bp256::BrainpoolP256r1;
use bp384::BrainpoolP384r1;
use signature::{Signer as _, Verifier as _};
use zeroize::Zeroizing;

use super::CompositeCurve;
use crate::error::Error;

pub(crate) enum BrainpoolKey {
    P256(ecdsa::SigningKey<BrainpoolP256r1>),
    P384(ecdsa::SigningKey<BrainpoolP384r1>),
}

/// Runs `$body` with `$key` bound to the curve-specific signing key.
macro_rules! with_key {
    ($self:expr, $key:ident => $body:expr) => {
        match $self {
            BrainpoolKey::P256($key) => $body,
            BrainpoolKey::P384($key) => $body,
        }
    };
}

impl BrainpoolKey {
    pub(super) fn generate(curve: CompositeCurve) -> Result<Self, Error> {
        // A uniform scalar by rejection: the orders are well below 2^256 / 2^384, so about
        // a third (P256r1) or a half (P384r1) of candidates are out of range and redrawn.
        let mut candidate = Zeroizing::new(vec![0u8; curve.scalar_len()]);
        for _ in 0..256 {
            aws_lc_rs::rand::fill(&mut candidate).map_err(|_| Error::Backend("random scalar"))?;
            if let Ok(key) = Self::from_scalar(curve, &candidate) {
                return Ok(key);
            }
        }
        Err(Error::Backend("brainpool key generation"))
    }

    pub(super) fn from_scalar(curve: CompositeCurve, scalar: &[u8]) -> Result<Self, Error> {
        let invalid = || {
            Error::InvalidPrivateKey(format!(
                "ECDSA {} private key is zero or not below the group order",
                curve.name()
            ))
        };
        match curve {
            CompositeCurve::BrainpoolP256r1 => ecdsa::SigningKey::from_slice(scalar)
                .map(Self::P256)
                .map_err(|_| invalid()),
            CompositeCurve::BrainpoolP384r1 => ecdsa::SigningKey::from_slice(scalar)
                .map(Self::P384)
                .map_err(|_| invalid()),
            _ => Err(Error::Backend("not a brainpool curve")),
        }
    }

    pub(super) fn curve(&self) -> CompositeCurve {
        match self {
            Self::P256(_) => CompositeCurve::BrainpoolP256r1,
            Self::P384(_) => CompositeCurve::BrainpoolP384r1,
        }
    }

    pub(super) fn scalar(&self) -> Zeroizing<Vec<u8>> {
        with_key!(self, key => Zeroizing::new(key.to_bytes().to_vec()))
    }

    /// The uncompressed point.
    pub(super) fn public_key(&self) -> Vec<u8> {
        with_key!(self, key => key.verifying_key().to_sec1_point(false).as_bytes().to_vec())
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        with_key!(self, key => {
            let signature: ecdsa::der::Signature<_> =
                key.try_sign(message).map_err(|_| Error::Backend("brainpool ECDSA signing"))?;
            Ok(signature.as_bytes().to_vec())
        })
    }
}

/// ECDSA verification of a DER signature; the point was checked to be uncompressed.
pub(super) fn verify(
    curve: CompositeCurve,
    point: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    match curve {
        CompositeCurve::BrainpoolP256r1 => {
            let (Ok(key), Ok(signature)) = (
                ecdsa::VerifyingKey::<BrainpoolP256r1>::from_sec1_bytes(point),
                ecdsa::der::Signature::<BrainpoolP256r1>::from_bytes(signature),
            ) else {
                return false;
            };
            key.verify(message, &signature).is_ok()
        }
        CompositeCurve::BrainpoolP384r1 => {
            let (Ok(key), Ok(signature)) = (
                ecdsa::VerifyingKey::<BrainpoolP384r1>::from_sec1_bytes(point),
                ecdsa::der::Signature::<BrainpoolP384r1>::from_bytes(signature),
            ) else {
                return false;
            };
            key.verify(message, &signature).is_ok()
        }
        _ => false,
    }
}
