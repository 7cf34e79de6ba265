//! Stand-alone ECDSA keys on the NIST curves ([RFC 5480](https://www.rfc-editor.org/rfc/rfc5480)),
//! which sign certificates with the curve's own hash (P-256/SHA-256, P-384/SHA-384).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use zeroize::Zeroizing;

use crate::error::Error;

/// An elliptic curve of a stand-alone ECDSA key.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcCurve {
    /// NIST P-256 (secp256r1), signing with SHA-256.
    P256,
    /// NIST P-384 (secp384r1), signing with SHA-384.
    P384,
}

impl EcCurve {
    /// Uncompressed point length: 0x04 ‖ X ‖ Y.
    pub const fn point_len(self) -> usize {
        match self {
            Self::P256 => 65,
            Self::P384 => 97,
        }
    }

    /// The curve's object identifier (RFC 5480).
    pub const fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            Self::P256 => const_oid::db::rfc5912::SECP_256_R_1,
            Self::P384 => const_oid::db::rfc5912::SECP_384_R_1,
        }
    }

    pub(crate) fn signing(self) -> &'static signature::EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            Self::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        }
    }

    pub(crate) fn verification(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            Self::P384 => &signature::ECDSA_P384_SHA384_ASN1,
        }
    }
}

/// A stand-alone ECDSA private key.
pub(crate) struct EcdsaKey {
    curve: EcCurve,
    key_pair: EcdsaKeyPair,
}

impl EcdsaKey {
    pub(crate) fn generate(curve: EcCurve) -> Result<Self, Error> {
        let key_pair = EcdsaKeyPair::generate(curve.signing())
            .map_err(|_| Error::Backend("ECDSA key generation"))?;
        Ok(Self { curve, key_pair })
    }

    /// From PKCS#8 or an RFC 5915 ECPrivateKey.
    pub(crate) fn from_der(curve: EcCurve, der: &[u8]) -> Result<Self, Error> {
        let key_pair = EcdsaKeyPair::from_private_key_der(curve.signing(), der)
            .map_err(|e| Error::InvalidPrivateKey(format!("ECDSA {curve:?} key rejected: {e}")))?;
        Ok(Self { curve, key_pair })
    }

    pub(crate) fn curve(&self) -> EcCurve {
        self.curve
    }

    pub(crate) fn public_point(&self) -> &[u8] {
        self.key_pair.public_key().as_ref()
    }

    /// PKCS#8 v1 with id-ecPublicKey and the curve OID.
    pub(crate) fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.key_pair
            .to_pkcs8v1()
            .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
            .map_err(|_| Error::Backend("ECDSA PKCS#8 export"))
    }

    /// ECDSA over `message`, hashed with the curve's hash; DER Ecdsa-Sig-Value.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.key_pair
            .sign(&SystemRandom::new(), message)
            .map(|sig| sig.as_ref().to_vec())
            .map_err(|_| Error::Backend("ECDSA signing"))
    }
}

/// ECDSA verification of a DER signature over `message` hashed with the curve's hash.
pub(crate) fn verify(curve: EcCurve, point: &[u8], message: &[u8], signature: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(curve.verification(), point)
        .verify(message, signature)
        .is_ok()
}
