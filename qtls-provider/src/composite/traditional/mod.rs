//! The traditional component of a composite: its parameters, key encodings
//! ([draft-ietf-lamps-pq-composite-sigs-19 §4](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-4)),
//! signing and verification over M'.
//!
//! RSA, ECDSA on the NIST curves and Ed25519 come from aws-lc-rs; ECDSA on the brainpool
//! curves from RustCrypto's `bp256`/`bp384` and Ed448 from `ed448-goldilocks`, which
//! aws-lc-rs lacks.

mod brainpool;
mod ec_private_key;
mod eddsa;
mod nist;
mod rsa;

use zeroize::Zeroizing;

use crate::error::Error;

/// The hash a traditional component applies to M' itself.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ComponentHash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// The elliptic curve of a composite's ECDSA component.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompositeCurve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
    /// brainpoolP256r1 ([RFC 5639](https://www.rfc-editor.org/rfc/rfc5639)).
    BrainpoolP256r1,
    /// brainpoolP384r1 ([RFC 5639](https://www.rfc-editor.org/rfc/rfc5639)).
    BrainpoolP384r1,
}

impl CompositeCurve {
    /// The curve's object identifier (RFC 5480, RFC 5639).
    pub const fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            Self::P256 => const_oid::db::rfc5912::SECP_256_R_1,
            Self::P384 => const_oid::db::rfc5912::SECP_384_R_1,
            Self::P521 => const_oid::db::rfc5912::SECP_521_R_1,
            Self::BrainpoolP256r1 => {
                const_oid::ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.7")
            }
            Self::BrainpoolP384r1 => {
                const_oid::ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.11")
            }
        }
    }

    /// The curve's name, e.g. `P-256`, `brainpoolP256r1`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
            Self::BrainpoolP256r1 => "brainpoolP256r1",
            Self::BrainpoolP384r1 => "brainpoolP384r1",
        }
    }

    /// Length of a private scalar (and of a coordinate) in bytes.
    pub const fn scalar_len(self) -> usize {
        match self {
            Self::P256 | Self::BrainpoolP256r1 => 32,
            Self::P384 | Self::BrainpoolP384r1 => 48,
            Self::P521 => 66,
        }
    }

    /// Uncompressed point length: 0x04 ‖ X ‖ Y, the only form the draft allows.
    pub const fn point_len(self) -> usize {
        1 + 2 * self.scalar_len()
    }

    /// The same curve as a stand-alone ECDSA key's [`EcCurve`](crate::EcCurve), if it is one.
    pub const fn ec_curve(self) -> Option<crate::EcCurve> {
        match self {
            Self::P256 => Some(crate::EcCurve::P256),
            Self::P384 => Some(crate::EcCurve::P384),
            _ => None,
        }
    }
}

/// The traditional component of a composite algorithm, with the draft's parameters.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Traditional {
    /// RSASSA-PSS ([RFC 8017 §8.1](https://www.rfc-editor.org/rfc/rfc8017#section-8.1)): MGF1
    /// with `hash`, salt length = the hash's length, trailer field 1.
    RsaPss {
        /// Modulus size in bits (exactly).
        bits: u16,
        /// Message hash and MGF1 hash.
        hash: ComponentHash,
    },
    /// RSASSA-PKCS1-v1_5 ([RFC 8017 §8.2](https://www.rfc-editor.org/rfc/rfc8017#section-8.2)).
    /// X.509 only: TLS 1.3 CertificateVerify never uses it (draft-reddy-tls-composite-mldsa §3).
    RsaPkcs1v15 {
        /// Modulus size in bits (exactly).
        bits: u16,
        /// Message hash.
        hash: ComponentHash,
    },
    /// ECDSA with a DER Ecdsa-Sig-Value ([RFC 3279 §2.2.3](https://www.rfc-editor.org/rfc/rfc3279#section-2.2.3)).
    Ecdsa {
        /// The curve.
        curve: CompositeCurve,
        /// The hash ECDSA applies to M'.
        hash: ComponentHash,
    },
    /// Pure Ed25519 ([RFC 8032 §5.1](https://www.rfc-editor.org/rfc/rfc8032#section-5.1)).
    Ed25519,
    /// Pure Ed448 with an empty context ([RFC 8032 §5.2](https://www.rfc-editor.org/rfc/rfc8032#section-5.2)).
    Ed448,
}

impl Traditional {
    /// A short name: `RSA-4096 PSS`, `RSA-2048 PKCS#1 v1.5`, `ECDSA P-384`, `Ed448`.
    pub fn name(self) -> String {
        match self {
            Self::RsaPss { bits, .. } => format!("RSA-{bits} PSS"),
            Self::RsaPkcs1v15 { bits, .. } => format!("RSA-{bits} PKCS#1 v1.5"),
            Self::Ecdsa { curve, .. } => format!("ECDSA {}", curve.name()),
            Self::Ed25519 => "Ed25519".into(),
            Self::Ed448 => "Ed448".into(),
        }
    }

    /// Checks the draft's encoding of a traditional public key: a DER RSAPublicKey of the
    /// exact modulus size, an uncompressed point of the curve's length, a raw 32/57-byte
    /// EdDSA key. Whether an EC point is on its curve is left to verification.
    pub(crate) fn check_public_key(self, public_key: &[u8]) -> Result<(), String> {
        match self {
            Self::RsaPss { bits, .. } | Self::RsaPkcs1v15 { bits, .. } => {
                rsa::check_public_key(bits, public_key)
            }
            Self::Ecdsa { curve, .. } => match public_key.first() {
                _ if public_key.len() != curve.point_len() => Err(format!(
                    "the ECDSA point is {} bytes, expected {} (uncompressed {})",
                    public_key.len(),
                    curve.point_len(),
                    curve.name()
                )),
                Some(0x04) => Ok(()),
                Some(prefix) => Err(format!(
                    "the ECDSA point starts with {prefix:#04x}, not 0x04 (uncompressed)"
                )),
                None => Err("no ECDSA point".into()),
            },
            Self::Ed25519 | Self::Ed448 => {
                let expected = if self == Self::Ed25519 { 32 } else { 57 };
                if public_key.len() == expected {
                    Ok(())
                } else {
                    Err(format!(
                        "the {} key is {} bytes, expected {expected}",
                        self.name(),
                        public_key.len()
                    ))
                }
            }
        }
    }
}

/// A traditional private key.
pub(crate) enum TradKey {
    Rsa(rsa::RsaKey),
    Nist(nist::NistKey),
    Brainpool(brainpool::BrainpoolKey),
    Ed25519(eddsa::Ed25519Key),
    // The expanded Ed448 key is large; boxed so the other keys stay small.
    Ed448(Box<eddsa::Ed448Key>),
}

impl TradKey {
    /// A fresh key (draft §3.1: both components are generated anew).
    pub(crate) fn generate(traditional: Traditional) -> Result<Self, Error> {
        Ok(match traditional {
            Traditional::RsaPss { .. } | Traditional::RsaPkcs1v15 { .. } => {
                Self::Rsa(rsa::RsaKey::generate(traditional)?)
            }
            Traditional::Ecdsa { curve, .. } => match curve {
                CompositeCurve::BrainpoolP256r1 | CompositeCurve::BrainpoolP384r1 => {
                    Self::Brainpool(brainpool::BrainpoolKey::generate(curve)?)
                }
                _ => Self::Nist(nist::NistKey::generate(curve)?),
            },
            Traditional::Ed25519 => Self::Ed25519(eddsa::Ed25519Key::generate()?),
            Traditional::Ed448 => Self::Ed448(Box::new(eddsa::Ed448Key::generate()?)),
        })
    }

    /// From the draft's private-key encoding of the component (§4.2): RSAPrivateKey,
    /// ECPrivateKey, or the raw EdDSA seed; any other form is refused.
    pub(crate) fn from_der(traditional: Traditional, der: &[u8]) -> Result<Self, Error> {
        Ok(match traditional {
            Traditional::RsaPss { .. } | Traditional::RsaPkcs1v15 { .. } => {
                Self::Rsa(rsa::RsaKey::from_der(traditional, der)?)
            }
            Traditional::Ecdsa { curve, .. } => {
                let parsed = ec_private_key::parse(curve, der)?;
                let key = match curve {
                    CompositeCurve::BrainpoolP256r1 | CompositeCurve::BrainpoolP384r1 => {
                        Self::Brainpool(brainpool::BrainpoolKey::from_scalar(
                            curve,
                            &parsed.scalar,
                        )?)
                    }
                    _ => Self::Nist(nist::NistKey::from_scalar(curve, &parsed.scalar)?),
                };
                if let Some(public_key) = parsed.public_key {
                    if public_key != key.public_key() {
                        return Err(Error::InvalidPrivateKey(format!(
                            "the ECPrivateKey's publicKey is not the ECDSA {} key's",
                            curve.name()
                        )));
                    }
                }
                key
            }
            Traditional::Ed25519 => Self::Ed25519(eddsa::Ed25519Key::from_seed(der)?),
            Traditional::Ed448 => Self::Ed448(Box::new(eddsa::Ed448Key::from_seed(der)?)),
        })
    }

    /// The draft's canonical private-key encoding: two-prime RSAPrivateKey version 0,
    /// ECPrivateKey with the named curve and without the public key, or the raw seed.
    pub(crate) fn to_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        match self {
            Self::Rsa(key) => key.to_der(),
            Self::Nist(key) => ec_private_key::encode(key.curve(), &key.scalar()?),
            Self::Brainpool(key) => ec_private_key::encode(key.curve(), &key.scalar()),
            Self::Ed25519(key) => key.seed(),
            Self::Ed448(key) => Ok(key.seed()),
        }
    }

    /// The draft's public-key encoding of the component.
    pub(crate) fn public_key(&self) -> Vec<u8> {
        match self {
            Self::Rsa(key) => key.public_key(),
            Self::Nist(key) => key.public_key(),
            Self::Brainpool(key) => key.public_key(),
            Self::Ed25519(key) => key.public_key(),
            Self::Ed448(key) => key.public_key(),
        }
    }

    /// Trad.Sign(tradSK, M').
    pub(crate) fn sign(&self, representative: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Self::Rsa(key) => key.sign(representative),
            Self::Nist(key) => key.sign(representative),
            Self::Brainpool(key) => key.sign(representative),
            Self::Ed25519(key) => Ok(key.sign(representative)),
            Self::Ed448(key) => Ok(key.sign(representative)),
        }
    }
}

/// Trad.Verify(tradPK, M', tradSig): any encoding problem makes the signature invalid.
pub(crate) fn verify(
    traditional: Traditional,
    public_key: &[u8],
    representative: &[u8],
    signature: &[u8],
) -> bool {
    if traditional.check_public_key(public_key).is_err() {
        return false;
    }
    match traditional {
        Traditional::RsaPss { .. } | Traditional::RsaPkcs1v15 { .. } => {
            rsa::verify(traditional, public_key, representative, signature)
        }
        Traditional::Ecdsa { curve, .. } => match curve {
            CompositeCurve::BrainpoolP256r1 | CompositeCurve::BrainpoolP384r1 => {
                brainpool::verify(curve, public_key, representative, signature)
            }
            _ => nist::verify(curve, public_key, representative, signature),
        },
        Traditional::Ed25519 => eddsa::verify_ed25519(public_key, representative, signature),
        Traditional::Ed448 => eddsa::verify_ed448(public_key, representative, signature),
    }
}
