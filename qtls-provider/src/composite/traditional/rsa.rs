//! The RSA component (aws-lc-rs): RSASSA-PSS or RSASSA-PKCS1-v1_5 with a modulus of exactly
//! 2048, 3072 or 4096 bits, keys as PKCS#1 RSAPublicKey / RSAPrivateKey
//! ([draft-ietf-lamps-pq-composite-sigs-19 §4](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-4)).

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use der::asn1::UintRef;
use der::{Decode, Sequence};
use zeroize::Zeroizing;

use super::{ComponentHash, Traditional};
use crate::error::Error;

/// RSAPublicKey ([RFC 8017 A.1.1](https://www.rfc-editor.org/rfc/rfc8017#appendix-A.1.1)).
#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// Two-prime RSAPrivateKey ([RFC 8017 A.1.2](https://www.rfc-editor.org/rfc/rfc8017#appendix-A.1.2)):
/// version 0, no otherPrimeInfos.
#[derive(Sequence)]
struct RsaPrivateKey<'a> {
    version: u8,
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
    private_exponent: UintRef<'a>,
    prime1: UintRef<'a>,
    prime2: UintRef<'a>,
    exponent1: UintRef<'a>,
    exponent2: UintRef<'a>,
    coefficient: UintRef<'a>,
}

fn bits_and_hash(traditional: Traditional) -> (u16, ComponentHash) {
    match traditional {
        Traditional::RsaPss { bits, hash } | Traditional::RsaPkcs1v15 { bits, hash } => {
            (bits, hash)
        }
        // Only called for RSA components; the sizes below then refuse everything.
        _ => (0, ComponentHash::Sha256),
    }
}

/// The modulus size in bits of a big-endian unsigned integer without leading zeros.
fn bit_len(unsigned: &[u8]) -> usize {
    match unsigned.first() {
        Some(first) => unsigned.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

pub(super) fn check_public_key(bits: u16, public_key: &[u8]) -> Result<(), String> {
    // aws-lc would also take a SubjectPublicKeyInfo here; the draft allows RSAPublicKey only.
    let parsed = RsaPublicKey::from_der(public_key)
        .map_err(|e| format!("the RSA key is not a DER RSAPublicKey: {e}"))?;
    let modulus_bits = bit_len(parsed.modulus.as_bytes());
    if modulus_bits != usize::from(bits) {
        return Err(format!(
            "the RSA modulus has {modulus_bits} bits, expected {bits}"
        ));
    }
    let exponent = parsed.public_exponent.as_bytes();
    if exponent.last().is_none_or(|last| last & 1 == 0) || exponent == [1] {
        return Err("the RSA public exponent is not an odd number above 1".into());
    }
    Ok(())
}

pub(crate) struct RsaKey {
    traditional: Traditional,
    key_pair: RsaKeyPair,
}

impl RsaKey {
    pub(super) fn generate(traditional: Traditional) -> Result<Self, Error> {
        let size = match bits_and_hash(traditional).0 {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => return Err(Error::Backend("RSA key size")),
        };
        let key_pair =
            RsaKeyPair::generate(size).map_err(|_| Error::Backend("RSA key generation"))?;
        Ok(Self {
            traditional,
            key_pair,
        })
    }

    pub(super) fn from_der(traditional: Traditional, der: &[u8]) -> Result<Self, Error> {
        let (bits, _) = bits_and_hash(traditional);
        let bad =
            |why: String| Error::InvalidPrivateKey(format!("RSA-{bits} RSAPrivateKey: {why}"));
        // Checked here first: aws-lc's parser would also read a PKCS#8 PrivateKeyInfo from
        // another entry point, and ignores bytes after the key.
        let parsed = RsaPrivateKey::from_der(der).map_err(|e| bad(e.to_string()))?;
        if parsed.version != 0 {
            return Err(bad(format!(
                "version {}, only two-prime keys (version 0) are allowed",
                parsed.version
            )));
        }
        let modulus_bits = bit_len(parsed.modulus.as_bytes());
        if modulus_bits != usize::from(bits) {
            return Err(bad(format!("the modulus has {modulus_bits} bits")));
        }
        let key_pair = RsaKeyPair::from_der(der).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            traditional,
            key_pair,
        })
    }

    /// RSAPrivateKey, version 0: aws-lc writes it inside PKCS#8; this takes it out.
    pub(super) fn to_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let pkcs8: Pkcs8V1Der<'static> = self
            .key_pair
            .as_der()
            .map_err(|_| Error::Backend("RSA private key export"))?;
        let info = pkcs8::PrivateKeyInfo::from_der(pkcs8.as_ref())
            .map_err(|e| Error::InvalidPrivateKey(format!("RSA PKCS#8 export: {e}")))?;
        Ok(Zeroizing::new(info.private_key.to_vec()))
    }

    pub(super) fn public_key(&self) -> Vec<u8> {
        self.key_pair.public_key().as_ref().to_vec()
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let encoding: &'static dyn signature::RsaEncoding = match self.traditional {
            Traditional::RsaPss {
                hash: ComponentHash::Sha256,
                ..
            } => &signature::RSA_PSS_SHA256,
            Traditional::RsaPss { .. } => &signature::RSA_PSS_SHA384,
            Traditional::RsaPkcs1v15 {
                hash: ComponentHash::Sha256,
                ..
            } => &signature::RSA_PKCS1_SHA256,
            _ => &signature::RSA_PKCS1_SHA384,
        };
        let mut signature = vec![0u8; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(encoding, &SystemRandom::new(), message, &mut signature)
            .map_err(|_| Error::Backend("RSA signing"))?;
        Ok(signature)
    }
}

/// RSASSA-PSS (salt = hash length, aws-lc's default) or PKCS#1 v1.5 verification; the
/// public key was checked by [`check_public_key`].
pub(super) fn verify(
    traditional: Traditional,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    let (bits, hash) = bits_and_hash(traditional);
    if signature.len() != usize::from(bits) / 8 {
        return false;
    }
    let algorithm: &'static signature::RsaParameters = match (traditional, hash) {
        (Traditional::RsaPss { .. }, ComponentHash::Sha256) => &signature::RSA_PSS_2048_8192_SHA256,
        (Traditional::RsaPss { .. }, _) => &signature::RSA_PSS_2048_8192_SHA384,
        (_, ComponentHash::Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        _ => &signature::RSA_PKCS1_2048_8192_SHA384,
    };
    signature::UnparsedPublicKey::new(algorithm, public_key)
        .verify(message, signature)
        .is_ok()
}
