//! Composite ML-DSA (draft-ietf-lamps-pq-composite-sigs-19): an ML-DSA signature and an
//! ECDSA signature over one message representative, both of which must verify.
//!
//! Sign(sk, M, ctx) (draft §4.2):
//! `M' = Prefix ‖ Label ‖ len(ctx) ‖ ctx ‖ PH(M)`, `mldsaSig = ML-DSA.Sign(mldsaSK, M', ctx = Label)`,
//! `tradSig = ECDSA.Sign(tradSK, M')`, output `mldsaSig ‖ tradSig`.
//! Keys and signatures are plain concatenations (draft §5), split at the fixed ML-DSA sizes.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use der::{Decode, Encode};
use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::error::Error;
use crate::mldsa::{self, MlDsaKey, MlDsaLevel, SEED_LEN};

/// The 32-byte domain separator that starts every composite message representative.
const PREFIX: &[u8; 32] = b"CompositeAlgorithmSignatures2025";

/// A composite ML-DSA algorithm with an ECDSA traditional component.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompositeAlgorithm {
    /// id-MLDSA44-ECDSA-P256-SHA256 (1.3.6.1.5.5.7.6.40).
    MlDsa44EcdsaP256Sha256,
    /// id-MLDSA65-ECDSA-P384-SHA512 (1.3.6.1.5.5.7.6.46): the Q-TLS default.
    MlDsa65EcdsaP384Sha512,
    /// id-MLDSA87-ECDSA-P384-SHA512 (1.3.6.1.5.5.7.6.49).
    MlDsa87EcdsaP384Sha512,
}

impl CompositeAlgorithm {
    /// Every composite algorithm this crate implements.
    pub const ALL: [Self; 3] = [
        Self::MlDsa44EcdsaP256Sha256,
        Self::MlDsa65EcdsaP384Sha512,
        Self::MlDsa87EcdsaP384Sha512,
    ];

    /// The algorithm's object identifier (draft §7, early-allocated by IANA).
    pub const fn oid(self) -> const_oid::ObjectIdentifier {
        const_oid::ObjectIdentifier::new_unwrap(match self {
            Self::MlDsa44EcdsaP256Sha256 => "1.3.6.1.5.5.7.6.40",
            Self::MlDsa65EcdsaP384Sha512 => "1.3.6.1.5.5.7.6.46",
            Self::MlDsa87EcdsaP384Sha512 => "1.3.6.1.5.5.7.6.49",
        })
    }

    /// The DER of the AlgorithmIdentifier's contents (the OID, parameters absent), as
    /// rustls-webpki compares them.
    pub(crate) const fn algorithm_identifier_contents(self) -> &'static [u8] {
        match self {
            Self::MlDsa44EcdsaP256Sha256 => &[6, 8, 0x2b, 6, 1, 5, 5, 7, 6, 40],
            Self::MlDsa65EcdsaP384Sha512 => &[6, 8, 0x2b, 6, 1, 5, 5, 7, 6, 46],
            Self::MlDsa87EcdsaP384Sha512 => &[6, 8, 0x2b, 6, 1, 5, 5, 7, 6, 49],
        }
    }

    /// The algorithm's name without the `id-` prefix, e.g. `MLDSA65-ECDSA-P384-SHA512`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::MlDsa44EcdsaP256Sha256 => "MLDSA44-ECDSA-P256-SHA256",
            Self::MlDsa65EcdsaP384Sha512 => "MLDSA65-ECDSA-P384-SHA512",
            Self::MlDsa87EcdsaP384Sha512 => "MLDSA87-ECDSA-P384-SHA512",
        }
    }

    /// The domain-separation label (draft §7, "Label").
    pub const fn label(self) -> &'static [u8] {
        match self {
            Self::MlDsa44EcdsaP256Sha256 => b"COMPSIG-MLDSA44-ECDSA-P256-SHA256",
            Self::MlDsa65EcdsaP384Sha512 => b"COMPSIG-MLDSA65-ECDSA-P384-SHA512",
            Self::MlDsa87EcdsaP384Sha512 => b"COMPSIG-MLDSA87-ECDSA-P384-SHA512",
        }
    }

    /// The TLS SignatureScheme used by default ([draft-reddy-tls-composite-mldsa](https://datatracker.ietf.org/doc/draft-reddy-tls-composite-mldsa/);
    /// IANA has assigned none yet).
    pub const fn default_code_point(self) -> u16 {
        match self {
            Self::MlDsa44EcdsaP256Sha256 => 0x0907,
            Self::MlDsa65EcdsaP384Sha512 => 0x0908,
            Self::MlDsa87EcdsaP384Sha512 => 0x0909,
        }
    }

    /// The ML-DSA component.
    pub const fn ml_dsa(self) -> MlDsaLevel {
        match self {
            Self::MlDsa44EcdsaP256Sha256 => MlDsaLevel::MlDsa44,
            Self::MlDsa65EcdsaP384Sha512 => MlDsaLevel::MlDsa65,
            Self::MlDsa87EcdsaP384Sha512 => MlDsaLevel::MlDsa87,
        }
    }

    /// The ECDSA component's curve.
    pub const fn curve(self) -> EcCurve {
        match self {
            Self::MlDsa44EcdsaP256Sha256 => EcCurve::P256,
            Self::MlDsa65EcdsaP384Sha512 | Self::MlDsa87EcdsaP384Sha512 => EcCurve::P384,
        }
    }

    /// Composite public key size: ML-DSA key ‖ uncompressed point.
    pub const fn public_key_len(self) -> usize {
        self.ml_dsa().public_key_len() + self.curve().point_len()
    }

    /// Splits a composite public key into the ML-DSA key and the uncompressed (0x04) ECDSA point ([draft-ietf-lamps-pq-composite-sigs](https://datatracker.ietf.org/doc/draft-ietf-lamps-pq-composite-sigs/)).
    // aws-lc also parses X9.62's compressed and hybrid (0x06/0x07) forms; the draft allows
    // only the uncompressed one, so the form is checked here, not left to the curve code.
    pub fn split_public_key(self, public_key: &[u8]) -> Result<(&[u8], &[u8]), Error> {
        let invalid = |reason: String| Error::InvalidPublicKey {
            algorithm: self.name(),
            reason,
        };
        if public_key.len() != self.public_key_len() {
            return Err(invalid(format!(
                "{} bytes, expected {}",
                public_key.len(),
                self.public_key_len()
            )));
        }
        let (ml_dsa, point) = public_key.split_at(self.ml_dsa().public_key_len());
        match point.first() {
            Some(0x04) => Ok((ml_dsa, point)),
            Some(prefix) => Err(invalid(format!(
                "the ECDSA point starts with {prefix:#04x}, not 0x04 (uncompressed)"
            ))),
            None => Err(invalid("no ECDSA point".into())),
        }
    }

    pub(crate) fn from_oid(oid: &const_oid::ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.oid() == *oid)
    }

    /// PH(M): the pre-hash named in the algorithm's name.
    fn prehash(self, message: &[u8]) -> digest::Digest {
        let algorithm = match self {
            Self::MlDsa44EcdsaP256Sha256 => &digest::SHA256,
            Self::MlDsa65EcdsaP384Sha512 | Self::MlDsa87EcdsaP384Sha512 => &digest::SHA512,
        };
        digest::digest(algorithm, message)
    }

    /// M' = Prefix ‖ Label ‖ len(ctx) ‖ ctx ‖ PH(M) (draft §4.2 step 2).
    pub fn message_representative(self, message: &[u8], context: &[u8]) -> Result<Vec<u8>, Error> {
        let context_len =
            u8::try_from(context.len()).map_err(|_| Error::ContextTooLong(context.len()))?;
        let ph = self.prehash(message);
        Ok([
            PREFIX.as_slice(),
            self.label(),
            &[context_len],
            context,
            ph.as_ref(),
        ]
        .concat())
    }
}

/// An elliptic curve used by ECDSA keys and composite components.
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

/// An ECDSA private key, kept with its RFC 5915 encoding.
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

    /// RFC 5915 ECPrivateKey with the curve in `parameters` and no `publicKey`, as the
    /// composite private-key encoding asks ([draft-ietf-lamps-pq-composite-sigs](https://datatracker.ietf.org/doc/draft-ietf-lamps-pq-composite-sigs/)).
    pub(crate) fn to_ec_private_key_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let with_public = self
            .key_pair
            .private_key()
            .as_der()
            .map_err(|_| Error::Backend("ECDSA private key export"))?;
        let mut parsed = sec1::EcPrivateKey::from_der(with_public.as_ref())
            .map_err(|e| Error::InvalidPrivateKey(format!("ECPrivateKey re-encoding: {e}")))?;
        parsed.public_key = None;
        parsed.parameters = Some(sec1::EcParameters::NamedCurve(self.curve.oid()));
        parsed
            .to_der()
            .map(Zeroizing::new)
            .map_err(|e| Error::InvalidPrivateKey(format!("ECPrivateKey encoding: {e}")))
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

/// A composite private key: the ML-DSA half and the ECDSA half.
pub(crate) struct CompositeKey {
    algorithm: CompositeAlgorithm,
    ml_dsa: MlDsaKey,
    ecdsa: EcdsaKey,
    public_key: Vec<u8>,
}

impl CompositeKey {
    pub(crate) fn generate(algorithm: CompositeAlgorithm, backend: Backend) -> Result<Self, Error> {
        let ml_dsa = MlDsaKey::generate(algorithm.ml_dsa(), backend)?;
        let ecdsa = EcdsaKey::generate(algorithm.curve())?;
        Ok(Self::new(algorithm, ml_dsa, ecdsa))
    }

    /// From the raw composite private key: ML-DSA seed (32) ‖ DER ECPrivateKey (draft §5.2).
    pub(crate) fn from_raw(
        algorithm: CompositeAlgorithm,
        backend: Backend,
        raw: &[u8],
    ) -> Result<Self, Error> {
        if raw.len() <= SEED_LEN {
            return Err(Error::InvalidPrivateKey(format!(
                "{} private key is {} bytes, too short for seed ‖ ECPrivateKey",
                algorithm.name(),
                raw.len()
            )));
        }
        let (seed, ec_private_key) = raw.split_at(SEED_LEN);
        let seed: &[u8; SEED_LEN] = seed
            .try_into()
            .map_err(|_| Error::InvalidPrivateKey("composite seed".into()))?;
        let ml_dsa = MlDsaKey::from_seed(algorithm.ml_dsa(), backend, seed)?;
        let ecdsa = EcdsaKey::from_der(algorithm.curve(), ec_private_key)?;
        Ok(Self::new(algorithm, ml_dsa, ecdsa))
    }

    fn new(algorithm: CompositeAlgorithm, ml_dsa: MlDsaKey, ecdsa: EcdsaKey) -> Self {
        let public_key = [ml_dsa.public_key(), ecdsa.public_point()].concat();
        Self {
            algorithm,
            ml_dsa,
            ecdsa,
            public_key,
        }
    }

    pub(crate) fn algorithm(&self) -> CompositeAlgorithm {
        self.algorithm
    }

    pub(crate) fn backend(&self) -> Backend {
        self.ml_dsa.backend()
    }

    pub(crate) fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The raw private key: seed ‖ ECPrivateKey.
    pub(crate) fn to_raw(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let seed = self.ml_dsa.seed().ok_or_else(|| {
            Error::InvalidPrivateKey("composite key has no ML-DSA seed to export".into())
        })?;
        let ec = self.ecdsa.to_ec_private_key_der()?;
        Ok(Zeroizing::new([seed.as_slice(), ec.as_slice()].concat()))
    }

    /// Composite-ML-DSA.Sign(sk, M, ctx) (draft §4.2).
    pub(crate) fn sign(&self, message: &[u8], context: &[u8]) -> Result<Vec<u8>, Error> {
        let representative = self.algorithm.message_representative(message, context)?;
        let ml_dsa_sig = self.ml_dsa.sign(&representative, self.algorithm.label())?;
        let ecdsa_sig = self.ecdsa.sign(&representative)?;
        Ok([ml_dsa_sig, ecdsa_sig].concat())
    }
}

/// Composite-ML-DSA.Verify(pk, M, ctx, s) (draft §4.3): both halves must verify; any length
/// or encoding problem (a point that is not uncompressed included) makes the signature invalid.
pub(crate) fn verify(
    algorithm: CompositeAlgorithm,
    backend: Backend,
    public_key: &[u8],
    message: &[u8],
    context: &[u8],
    signature: &[u8],
) -> bool {
    let level = algorithm.ml_dsa();
    let Ok((ml_dsa_pk, ec_point)) = algorithm.split_public_key(public_key) else {
        return false;
    };
    if signature.len() <= level.signature_len() {
        return false;
    }
    let Ok(representative) = algorithm.message_representative(message, context) else {
        return false;
    };
    let (ml_dsa_sig, ecdsa_sig) = signature.split_at(level.signature_len());
    let ml_dsa_ok = mldsa::verify(
        level,
        backend,
        ml_dsa_pk,
        &representative,
        algorithm.label(),
        ml_dsa_sig,
    );
    let ecdsa_ok = ecdsa_verify(algorithm.curve(), ec_point, &representative, ecdsa_sig);
    ml_dsa_ok && ecdsa_ok
}

/// ECDSA verification of a DER signature over `message` hashed with the curve's hash.
pub(crate) fn ecdsa_verify(curve: EcCurve, point: &[u8], message: &[u8], signature: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(curve.verification(), point)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn split_public_key_accepts_only_the_uncompressed_point() {
        for algorithm in CompositeAlgorithm::ALL {
            let key = CompositeKey::generate(algorithm, Backend::AwsLc).unwrap();
            let public_key = key.public_key().to_vec();
            let (ml_dsa, point) = algorithm.split_public_key(&public_key).unwrap();
            assert_eq!(ml_dsa.len(), algorithm.ml_dsa().public_key_len());
            assert_eq!(point.len(), algorithm.curve().point_len());
            let offset = ml_dsa.len();
            for prefix in [0x00, 0x02, 0x03, 0x05, 0x06, 0x07] {
                let mut modified = public_key.clone();
                modified[offset] = prefix;
                match algorithm.split_public_key(&modified) {
                    Err(Error::InvalidPublicKey {
                        algorithm: name,
                        reason,
                    }) => {
                        assert_eq!(name, algorithm.name());
                        assert!(reason.contains(&format!("{prefix:#04x}")), "{reason}");
                    }
                    other => panic!("prefix {prefix:#04x}: {other:?}"),
                }
            }
            for len in [0, offset, public_key.len() - 1, public_key.len() + 1] {
                let mut resized = public_key.clone();
                resized.resize(len, 0x04);
                assert!(matches!(
                    algorithm.split_public_key(&resized),
                    Err(Error::InvalidPublicKey { .. })
                ));
            }
        }
    }
}
