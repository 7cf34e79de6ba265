//! Private keys of every supported type: generation, PKCS#8 / SEC1 / PEM loading and export,
//! and signing with the semantics X.509 and TLS 1.3 share (pure ML-DSA and composite with
//! ctx = "", ECDSA with the curve's own hash).

use core::fmt;
use core::str::FromStr;

use der::asn1::{AnyRef, BitStringRef, ContextSpecificRef, OctetStringRef};
use der::{Decode, Encode, Reader, SliceReader, Tag, TagMode, TagNumber, Tagged};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use spki::{AlgorithmIdentifierRef, ObjectIdentifier};
use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::composite::{CompositeAlgorithm, CompositeKey};
use crate::ecdsa::{EcCurve, EcdsaKey};
use crate::error::Error;
use crate::mldsa::{MlDsaKey, MlDsaLevel, SEED_LEN};

/// id-ecPublicKey (RFC 5480).
const ID_EC_PUBLIC_KEY: ObjectIdentifier = const_oid::db::rfc5912::ID_EC_PUBLIC_KEY;

/// The algorithm of a key pair, which is also the algorithm it signs certificates with.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// Pure ML-DSA (FIPS 204, RFC 9881).
    MlDsa(MlDsaLevel),
    /// Composite ML-DSA + a traditional algorithm (draft-ietf-lamps-pq-composite-sigs).
    Composite(CompositeAlgorithm),
    /// ECDSA; certificates are signed with the curve's hash (P-256/SHA-256, P-384/SHA-384).
    Ecdsa(EcCurve),
}

impl KeyAlgorithm {
    /// The DER SubjectPublicKeyInfo of `public_key` (as it stands in the BIT STRING) for a
    /// key of this algorithm: for ECDSA id-ecPublicKey with the named curve (RFC 5480), for
    /// ML-DSA and composite the algorithm OID with absent parameters (RFC 9881,
    /// draft-ietf-lamps-pq-composite-sigs). For keys held elsewhere, such as in a token.
    /// [`Error::Der`] for a key longer than a DER length can say (256 MiB).
    pub fn subject_public_key_info_der(&self, public_key: &[u8]) -> Result<Vec<u8>, Error> {
        let (oid, curve) = match self {
            Self::MlDsa(level) => (level.oid(), None),
            Self::Composite(alg) => (alg.oid(), None),
            Self::Ecdsa(curve) => (ID_EC_PUBLIC_KEY, Some(curve.oid())),
        };
        let der_error = |error| Error::Der {
            what: "SubjectPublicKeyInfo",
            error,
        };
        spki::SubjectPublicKeyInfoRef {
            algorithm: AlgorithmIdentifierRef {
                oid,
                parameters: curve.as_ref().map(AnyRef::from),
            },
            subject_public_key: BitStringRef::new(0, public_key).map_err(der_error)?,
        }
        .to_der()
        .map_err(der_error)
    }

    /// The Q-TLS default: composite MLDSA65-ECDSA-P384-SHA512.
    pub const DEFAULT: Self = Self::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512);

    /// Every algorithm, in the order `--help` texts list them: the default, the other
    /// composites in OID order, ML-DSA, ECDSA.
    pub const ALL: [Self; 23] = {
        let mut all = [Self::DEFAULT; 23];
        let mut i = 0;
        let mut next = 1;
        while i < CompositeAlgorithm::ALL.len() {
            let alg = CompositeAlgorithm::ALL[i];
            if !matches!(alg, CompositeAlgorithm::MlDsa65EcdsaP384Sha512) {
                all[next] = Self::Composite(alg);
                next += 1;
            }
            i += 1;
        }
        all[18] = Self::MlDsa(MlDsaLevel::MlDsa44);
        all[19] = Self::MlDsa(MlDsaLevel::MlDsa65);
        all[20] = Self::MlDsa(MlDsaLevel::MlDsa87);
        all[21] = Self::Ecdsa(EcCurve::P256);
        all[22] = Self::Ecdsa(EcCurve::P384);
        all
    };

    /// The readable name the CLI lists: `mldsa65-rsa4096-pss`, `mldsa87`, `ecdsa-p384`.
    pub const fn cli_name(self) -> &'static str {
        match self {
            Self::MlDsa(MlDsaLevel::MlDsa44) => "mldsa44",
            Self::MlDsa(MlDsaLevel::MlDsa65) => "mldsa65",
            Self::MlDsa(MlDsaLevel::MlDsa87) => "mldsa87",
            Self::Composite(alg) => alg.cli_name(),
            Self::Ecdsa(EcCurve::P256) => "ecdsa-p256",
            Self::Ecdsa(EcCurve::P384) => "ecdsa-p384",
        }
    }

    /// A human-readable name, e.g. `ML-DSA-65`, `MLDSA65-ECDSA-P384-SHA512`, `ECDSA-P384`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::MlDsa(level) => level.name(),
            Self::Composite(alg) => alg.name(),
            Self::Ecdsa(EcCurve::P256) => "ECDSA-P256",
            Self::Ecdsa(EcCurve::P384) => "ECDSA-P384",
        }
    }

    /// Whether signatures of this algorithm resist a quantum adversary (ML-DSA or composite).
    pub const fn is_post_quantum(self) -> bool {
        matches!(self, Self::MlDsa(_) | Self::Composite(_))
    }

    /// The DER AlgorithmIdentifier (a full SEQUENCE) for signatures by this key in X.509
    /// certificates, CRLs and OCSP responses.
    pub fn signature_algorithm_der(self) -> Vec<u8> {
        let oid = match self {
            Self::MlDsa(level) => level.oid(),
            Self::Composite(alg) => alg.oid(),
            Self::Ecdsa(EcCurve::P256) => const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
            Self::Ecdsa(EcCurve::P384) => const_oid::db::rfc5912::ECDSA_WITH_SHA_384,
        };
        // An OID is at most 39 bytes (const-oid's bound), far below any DER length limit.
        #[allow(clippy::expect_used)]
        AlgorithmIdentifierRef {
            oid,
            parameters: None,
        }
        .to_der()
        .expect("an OID-only AlgorithmIdentifier always encodes")
    }

    fn from_pkcs8_algorithm(algorithm: &AlgorithmIdentifierRef<'_>) -> Result<Self, Error> {
        if let Some(level) = MlDsaLevel::from_oid(&algorithm.oid) {
            return Ok(Self::MlDsa(level));
        }
        if let Some(alg) = CompositeAlgorithm::from_oid(&algorithm.oid) {
            return Ok(Self::Composite(alg));
        }
        if algorithm.oid == ID_EC_PUBLIC_KEY {
            let curve_oid = algorithm
                .parameters_oid()
                .map_err(|_| Error::InvalidPrivateKey("EC key without a named curve".into()))?;
            return curve_from_oid(&curve_oid).map(Self::Ecdsa);
        }
        Err(Error::UnsupportedAlgorithm(format!(
            "private key algorithm {}",
            algorithm.oid
        )))
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = Error;

    /// Accepts the CLI spellings (`composite`, `mldsa65`, `ecdsa-p384`, ...) and the names
    /// [`KeyAlgorithm::name`] returns, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Error> {
        let wanted = s.to_ascii_lowercase().replace(['_', ' '], "-");
        let alias = match wanted.as_str() {
            "composite" => Some(Self::DEFAULT),
            "mldsa44" => Some(Self::MlDsa(MlDsaLevel::MlDsa44)),
            "mldsa65" | "dilithium3" => Some(Self::MlDsa(MlDsaLevel::MlDsa65)),
            "mldsa87" => Some(Self::MlDsa(MlDsaLevel::MlDsa87)),
            "p256" | "ecdsa-p256" => Some(Self::Ecdsa(EcCurve::P256)),
            "p384" | "ecdsa-p384" => Some(Self::Ecdsa(EcCurve::P384)),
            _ => None,
        };
        alias
            .or_else(|| CompositeAlgorithm::from_name(&wanted).map(Self::Composite))
            .or_else(|| {
                Self::ALL
                    .into_iter()
                    .find(|alg| alg.name().eq_ignore_ascii_case(&wanted))
            })
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|alg| alg.cli_name()).collect();
                Error::UnsupportedAlgorithm(format!(
                    "{s:?}; known: composite, {}",
                    known.join(", ")
                ))
            })
    }
}

/// A private key with its public key, on one backend.
pub struct KeyPair {
    inner: KeyInner,
    /// Encoded once, when the key is made, so that reading it cannot fail.
    spki: Vec<u8>,
}

enum KeyInner {
    MlDsa(MlDsaKey),
    Composite(CompositeKey),
    Ecdsa(EcdsaKey),
}

impl KeyPair {
    /// Generates a fresh key pair.
    pub fn generate(algorithm: KeyAlgorithm, backend: Backend) -> Result<Self, Error> {
        let inner = match algorithm {
            KeyAlgorithm::MlDsa(level) => KeyInner::MlDsa(MlDsaKey::generate(level, backend)?),
            KeyAlgorithm::Composite(alg) => {
                KeyInner::Composite(CompositeKey::generate(alg, backend)?)
            }
            KeyAlgorithm::Ecdsa(curve) => KeyInner::Ecdsa(EcdsaKey::generate(curve)?),
        };
        Self::new(inner)
    }

    fn new(inner: KeyInner) -> Result<Self, Error> {
        let mut key = Self {
            inner,
            spki: Vec::new(),
        };
        key.spki = key
            .algorithm()
            .subject_public_key_info_der(key.public_key())?;
        Ok(key)
    }

    /// Loads a PEM document holding one private key: `PRIVATE KEY` (PKCS#8, every type) or
    /// `EC PRIVATE KEY` (SEC1); see [`private_key_der_from_pem`] for what is refused.
    pub fn from_pem(pem: &[u8], backend: Backend) -> Result<Self, Error> {
        let der = private_key_der_from_pem(pem)?;
        Self::from_der(&der, backend)
    }

    /// Loads a DER private key (PKCS#8, or SEC1 for ECDSA).
    pub fn from_der(der: &PrivateKeyDer<'_>, backend: Backend) -> Result<Self, Error> {
        match der {
            PrivateKeyDer::Pkcs8(pkcs8) => Self::from_pkcs8_der(pkcs8.secret_pkcs8_der(), backend),
            PrivateKeyDer::Sec1(sec1) => {
                let parsed = sec1::EcPrivateKey::from_der(sec1.secret_sec1_der())
                    .map_err(|e| Error::InvalidPrivateKey(format!("SEC1 ECPrivateKey: {e}")))?;
                let curve_oid = parsed
                    .parameters
                    .and_then(|p| p.named_curve())
                    .ok_or_else(|| Error::InvalidPrivateKey("SEC1 key without a curve".into()))?;
                let curve = curve_from_oid(&curve_oid)?;
                Self::new(KeyInner::Ecdsa(EcdsaKey::from_der(
                    curve,
                    sec1.secret_sec1_der(),
                )?))
            }
            _ => Err(Error::UnsupportedAlgorithm(
                "PKCS#1 RSA keys (use rustls's own key loading for RSA)".into(),
            )),
        }
    }

    /// Loads a PKCS#8 (RFC 5958) private key.
    ///
    /// ML-DSA keys may use any of RFC 9881's forms: `seed`, `expandedKey` or `both` (in which
    /// case the seed must reproduce the expanded key). Composite keys hold `seed ‖ tradSK`
    /// (draft-ietf-lamps-pq-composite-sigs-19 §4.2), as PKCS#8 v1 or v2 (whose publicKey
    /// must match).
    pub fn from_pkcs8_der(der: &[u8], backend: Backend) -> Result<Self, Error> {
        let info = pkcs8::PrivateKeyInfo::from_der(der)
            .map_err(|e| Error::InvalidPrivateKey(format!("PKCS#8: {e}")))?;
        let inner = match KeyAlgorithm::from_pkcs8_algorithm(&info.algorithm)? {
            KeyAlgorithm::MlDsa(level) => {
                if info.algorithm.parameters.is_some() {
                    return Err(Error::InvalidPrivateKey(format!(
                        "{} AlgorithmIdentifier must have absent parameters",
                        level.name()
                    )));
                }
                KeyInner::MlDsa(parse_ml_dsa_private_key(level, backend, info.private_key)?)
            }
            KeyAlgorithm::Composite(alg) => {
                // draft-ietf-lamps-pq-composite-sigs-19 §5.3: parameters MUST be absent, and
                // a publicKey, if present, MUST be the composite public key.
                if info.algorithm.parameters.is_some() {
                    return Err(Error::InvalidPrivateKey(format!(
                        "{} AlgorithmIdentifier must have absent parameters",
                        alg.name()
                    )));
                }
                let key = CompositeKey::from_raw(alg, backend, info.private_key)?;
                if let Some(public_key) = info.public_key {
                    if public_key != key.public_key() {
                        return Err(Error::InvalidPrivateKey(format!(
                            "the PKCS#8 publicKey is not this {} key's",
                            alg.name()
                        )));
                    }
                }
                KeyInner::Composite(key)
            }
            KeyAlgorithm::Ecdsa(curve) => KeyInner::Ecdsa(EcdsaKey::from_der(curve, der)?),
        };
        Self::new(inner)
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match &self.inner {
            KeyInner::MlDsa(key) => KeyAlgorithm::MlDsa(key.level()),
            KeyInner::Composite(key) => KeyAlgorithm::Composite(key.algorithm()),
            KeyInner::Ecdsa(key) => KeyAlgorithm::Ecdsa(key.curve()),
        }
    }

    /// The backend computing this key's ML-DSA operations.
    pub fn backend(&self) -> Backend {
        match &self.inner {
            KeyInner::MlDsa(key) => key.backend(),
            KeyInner::Composite(key) => key.backend(),
            KeyInner::Ecdsa(_) => Backend::AwsLc,
        }
    }

    /// The public key as it stands in the SubjectPublicKeyInfo BIT STRING.
    pub fn public_key(&self) -> &[u8] {
        match &self.inner {
            KeyInner::MlDsa(key) => key.public_key(),
            KeyInner::Composite(key) => key.public_key(),
            KeyInner::Ecdsa(key) => key.public_point(),
        }
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn subject_public_key_info_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    /// Signs `message` as X.509 and TLS 1.3 do: pure ML-DSA and composite ML-DSA with an
    /// empty context, ECDSA with the curve's hash (DER signature).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.inner {
            KeyInner::MlDsa(key) => key.sign(message, b""),
            KeyInner::Composite(key) => key.sign(message, b""),
            KeyInner::Ecdsa(key) => key.sign(message),
        }
    }

    /// Signs with an explicit context string (ML-DSA and composite only; at most 255 bytes).
    pub fn sign_with_context(&self, message: &[u8], context: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.inner {
            KeyInner::MlDsa(key) => key.sign(message, context),
            KeyInner::Composite(key) => key.sign(message, context),
            KeyInner::Ecdsa(_) => Err(Error::UnsupportedAlgorithm(
                "context strings with ECDSA".into(),
            )),
        }
    }

    /// The PKCS#8 v1 encoding: ML-DSA in RFC 9881 `seed` form when the seed is known (else
    /// `expandedKey`), composite as `seed ‖ tradSK`, ECDSA with id-ecPublicKey.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        match &self.inner {
            KeyInner::MlDsa(key) => {
                let der_error = |error| Error::Der {
                    what: "ML-DSA private key",
                    error,
                };
                let private_key = Zeroizing::new(
                    match key.seed() {
                        // seed [0] IMPLICIT OCTET STRING (SIZE (32))
                        Some(seed) => OctetStringRef::new(seed.as_slice()).and_then(|seed| {
                            ContextSpecificRef {
                                tag_number: TagNumber::N0,
                                tag_mode: TagMode::Implicit,
                                value: &seed,
                            }
                            .to_der()
                        }),
                        None => OctetStringRef::new(key.expanded()).and_then(|os| os.to_der()),
                    }
                    .map_err(der_error)?,
                );
                encode_pkcs8(key.level().oid(), &private_key)
            }
            KeyInner::Composite(key) => encode_pkcs8(key.algorithm().oid(), &key.to_raw()?),
            KeyInner::Ecdsa(key) => key.to_pkcs8_der(),
        }
    }

    /// The PKCS#8 encoding as a `PRIVATE KEY` PEM document.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        let der = self.to_pkcs8_der()?;
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &der)
            .map(Zeroizing::new)
            .map_err(|e| Error::Pem(e.to_string()))
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("algorithm", &self.algorithm())
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// RFC 9881 §6: `ML-DSA-PrivateKey ::= CHOICE { seed [0] IMPLICIT OCTET STRING (SIZE (32)),
/// expandedKey OCTET STRING, both SEQUENCE { seed, expandedKey } }`.
fn parse_ml_dsa_private_key(
    level: MlDsaLevel,
    backend: Backend,
    private_key: &[u8],
) -> Result<MlDsaKey, Error> {
    let bad =
        |what: &str| Error::InvalidPrivateKey(format!("{} private key: {what}", level.name()));
    let choice = AnyRef::from_der(private_key).map_err(|e| bad(&e.to_string()))?;
    let seed_of = |bytes: &[u8]| -> Result<[u8; SEED_LEN], Error> {
        bytes.try_into().map_err(|_| {
            bad(&format!(
                "seed is {} bytes, expected {SEED_LEN}",
                bytes.len()
            ))
        })
    };
    match choice.tag() {
        Tag::ContextSpecific {
            constructed: false,
            number: TagNumber::N0,
        } => MlDsaKey::from_seed(level, backend, &Zeroizing::new(seed_of(choice.value())?)),
        Tag::OctetString => MlDsaKey::from_expanded(level, backend, choice.value()),
        Tag::Sequence => {
            let mut reader = SliceReader::new(choice.value()).map_err(|e| bad(&e.to_string()))?;
            let seed = OctetStringRef::decode(&mut reader).map_err(|e| bad(&e.to_string()))?;
            let expanded = OctetStringRef::decode(&mut reader).map_err(|e| bad(&e.to_string()))?;
            reader.finish(()).map_err(|e| bad(&e.to_string()))?;
            let key =
                MlDsaKey::from_seed(level, backend, &Zeroizing::new(seed_of(seed.as_bytes())?))?;
            if key.expanded() != expanded.as_bytes() {
                return Err(bad("seed does not reproduce the expanded key"));
            }
            Ok(key)
        }
        other => Err(bad(&format!("unexpected tag {other}"))),
    }
}

/// The one private key of a PEM document ([RFC 7468](https://www.rfc-editor.org/rfc/rfc7468)): `PRIVATE KEY`, `EC PRIVATE KEY` or `RSA PRIVATE KEY`;
/// [`Error::SeveralPrivateKeys`] for more than one, [`Error::EncryptedPrivateKey`] for an
/// `ENCRYPTED PRIVATE KEY`.
// rustls-pki-types takes the first key and skips the rest, and skips encrypted blocks as
// unknown: a second key went unnoticed, and an encrypted key read as "no items found".
pub fn private_key_der_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    let keys = PrivateKeyDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem(e.to_string()))?;
    let marker = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
    let encrypted = pem.windows(marker.len()).filter(|w| w == marker).count();
    match keys.len() + encrypted {
        0 => Err(Error::Pem(
            "no PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block".into(),
        )),
        1 if encrypted == 1 => Err(Error::EncryptedPrivateKey),
        1 => keys
            .into_iter()
            .next()
            .ok_or_else(|| Error::Pem("no private key".into())),
        count => Err(Error::SeveralPrivateKeys(count)),
    }
}

/// The algorithm of a DER SubjectPublicKeyInfo ([RFC 5280 §4.1.2.7](https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.7)), named as
/// [`KeyAlgorithm::name`] names ours (`ML-DSA-65`, `ECDSA-P384`...), else `RSA`, `Ed25519`,
/// `Ed448`, or the OID.
pub fn public_key_algorithm_name(spki_der: &[u8]) -> String {
    match spki::SubjectPublicKeyInfoRef::from_der(spki_der) {
        Ok(info) => algorithm_name(&info.algorithm),
        Err(e) => format!("an unreadable SubjectPublicKeyInfo ({e})"),
    }
}

/// The algorithm of a private key, named as [`public_key_algorithm_name`] names them, with
/// its encoding when that is not PKCS#8 (`RSA (PKCS#1)`, `ECDSA-P384 (SEC1)`).
pub fn private_key_algorithm_name(key: &PrivateKeyDer<'_>) -> String {
    match key {
        PrivateKeyDer::Pkcs1(_) => "RSA (PKCS#1)".into(),
        PrivateKeyDer::Sec1(sec1) => {
            let curve = sec1::EcPrivateKey::from_der(sec1.secret_sec1_der())
                .ok()
                .and_then(|parsed| parsed.parameters.and_then(|p| p.named_curve()));
            match curve {
                Some(oid) => match curve_from_oid(&oid) {
                    Ok(curve) => format!("{} (SEC1)", KeyAlgorithm::Ecdsa(curve).name()),
                    Err(_) => format!("ECDSA on curve {oid} (SEC1)"),
                },
                None => "ECDSA without a named curve (SEC1)".into(),
            }
        }
        PrivateKeyDer::Pkcs8(pkcs8) => {
            match pkcs8::PrivateKeyInfo::from_der(pkcs8.secret_pkcs8_der()) {
                Ok(info) => algorithm_name(&info.algorithm),
                Err(e) => format!("an unreadable PKCS#8 key ({e})"),
            }
        }
        _ => "an unknown key type".into(),
    }
}

fn algorithm_name(algorithm: &AlgorithmIdentifierRef<'_>) -> String {
    if let Ok(ours) = KeyAlgorithm::from_pkcs8_algorithm(algorithm) {
        return ours.name().to_owned();
    }
    let oid = algorithm.oid;
    if oid == const_oid::db::rfc5912::RSA_ENCRYPTION {
        "RSA".into()
    } else if oid == const_oid::db::rfc8410::ID_ED_25519 {
        "Ed25519".into()
    } else if oid == const_oid::db::rfc8410::ID_ED_448 {
        "Ed448".into()
    } else if oid == ID_EC_PUBLIC_KEY {
        match algorithm.parameters_oid() {
            Ok(curve) => format!("ECDSA on curve {curve}"),
            Err(_) => "ECDSA without a named curve".into(),
        }
    } else {
        format!("algorithm {oid}")
    }
}

fn curve_from_oid(oid: &ObjectIdentifier) -> Result<EcCurve, Error> {
    [EcCurve::P256, EcCurve::P384]
        .into_iter()
        .find(|curve| curve.oid() == *oid)
        .ok_or_else(|| Error::UnsupportedAlgorithm(format!("elliptic curve {oid}")))
}

fn encode_pkcs8(oid: ObjectIdentifier, private_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    pkcs8::PrivateKeyInfo {
        algorithm: AlgorithmIdentifierRef {
            oid,
            parameters: None,
        },
        private_key,
        public_key: None,
    }
    .to_der()
    .map(Zeroizing::new)
    .map_err(|error| Error::Der {
        what: "PKCS#8 PrivateKeyInfo",
        error,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_pem_document_must_hold_exactly_one_unencrypted_key() {
        let pem = |alg| {
            KeyPair::generate(alg, Backend::AwsLc)
                .unwrap()
                .to_pkcs8_pem()
                .unwrap()
                .to_string()
        };
        let (mldsa, ecdsa) = (
            pem(KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65)),
            pem(KeyAlgorithm::Ecdsa(EcCurve::P384)),
        );
        let two = format!("{ecdsa}{mldsa}");
        assert_eq!(
            KeyPair::from_pem(two.as_bytes(), Backend::AwsLc).err(),
            Some(Error::SeveralPrivateKeys(2))
        );
        // The body does not matter: the label says it is encrypted.
        let encrypted = mldsa.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY");
        let error = KeyPair::from_pem(encrypted.as_bytes(), Backend::AwsLc).err();
        assert_eq!(error, Some(Error::EncryptedPrivateKey));
        assert!(error.unwrap().to_string().contains("passphrase"));
        let none = KeyPair::from_pem(b"nothing here", Backend::AwsLc)
            .err()
            .unwrap();
        assert!(none.to_string().contains("no PRIVATE KEY"), "{none}");
    }

    #[test]
    fn algorithms_are_named_from_keys_and_certificates_keys() {
        for algorithm in KeyAlgorithm::ALL {
            let key = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
            let der =
                PrivateKeyDer::from_pem_slice(key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
            assert_eq!(private_key_algorithm_name(&der), algorithm.name());
            assert_eq!(
                public_key_algorithm_name(&key.subject_public_key_info_der()),
                algorithm.name()
            );
        }
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&rsa)
            .unwrap();
        let der = PrivateKeyDer::Pkcs8(pkcs8.as_ref().to_vec().into());
        assert_eq!(private_key_algorithm_name(&der), "RSA");
    }

    #[test]
    fn every_algorithm_round_trips_through_pkcs8_and_pem() {
        for algorithm in KeyAlgorithm::ALL {
            for &backend in Backend::available() {
                let key = KeyPair::generate(algorithm, backend).unwrap();
                let pem = key.to_pkcs8_pem().unwrap();
                let again = KeyPair::from_pem(pem.as_bytes(), backend).unwrap();
                assert_eq!(again.algorithm(), algorithm);
                assert_eq!(again.public_key(), key.public_key());
                let signature = key.sign(b"message").unwrap();
                assert!(!signature.is_empty());
            }
        }
    }

    #[test]
    fn ml_dsa_keys_load_from_every_rfc_9881_form() {
        let key =
            KeyPair::generate(KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65), Backend::AwsLc).unwrap();
        let KeyInner::MlDsa(inner) = &key.inner else {
            unreachable!()
        };
        let seed = *inner.seed().unwrap();
        let expanded = inner.expanded().to_vec();
        let oid = MlDsaLevel::MlDsa65.oid();
        let expanded_os = OctetStringRef::new(&expanded).unwrap().to_der().unwrap();
        // The seed form is `[0] IMPLICIT OCTET STRING`: 0x80, length 32, the seed.
        let seed_form = [&[0x80, 0x20][..], &seed].concat();
        let pkcs8 = key.to_pkcs8_der().unwrap();
        assert!(pkcs8.windows(seed_form.len()).any(|w| w == seed_form));
        let both = sequence(&[&seed, &expanded]);
        for private_key in [both, expanded_os] {
            let pkcs8 = encode_pkcs8(oid, &private_key).unwrap();
            let loaded = KeyPair::from_pkcs8_der(&pkcs8, Backend::AwsLc).unwrap();
            assert_eq!(loaded.public_key(), key.public_key());
        }
        // `both` whose seed does not reproduce the expanded key is refused.
        let other_seed = [7u8; 32];
        let mismatched = sequence(&[&other_seed, &expanded]);
        let error =
            KeyPair::from_pkcs8_der(&encode_pkcs8(oid, &mismatched).unwrap(), Backend::AwsLc)
                .unwrap_err()
                .to_string();
        assert!(error.contains("does not reproduce"), "{error}");
        // A seed of the wrong length is refused with its length named.
        let short = encode_pkcs8(
            oid,
            &[0x80, 31]
                .iter()
                .copied()
                .chain([0u8; 31])
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let error = KeyPair::from_pkcs8_der(&short, Backend::AwsLc)
            .unwrap_err()
            .to_string();
        assert!(error.contains("31 bytes"), "{error}");
    }

    /// `SEQUENCE { OCTET STRING... }`, RFC 9881's `both` form.
    fn sequence(octet_strings: &[&[u8]]) -> Vec<u8> {
        let mut sequence = der::asn1::SequenceOf::<OctetStringRef<'_>, 2>::new();
        for bytes in octet_strings {
            sequence.add(OctetStringRef::new(bytes).unwrap()).unwrap();
        }
        sequence.to_der().unwrap()
    }

    #[test]
    fn a_spki_over_64_kib_round_trips() {
        // Longer than any real key: the length must be written in full, never cut to 16 bits.
        let public_key: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let der = KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65)
            .subject_public_key_info_der(&public_key)
            .unwrap();
        let info = spki::SubjectPublicKeyInfoRef::from_der(&der).unwrap();
        assert_eq!(info.algorithm.oid, MlDsaLevel::MlDsa65.oid());
        assert_eq!(info.subject_public_key.raw_bytes(), public_key.as_slice());
    }

    #[test]
    fn algorithm_names_parse() {
        assert_eq!(
            "composite".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::DEFAULT
        );
        assert_eq!(
            "ML-DSA-87".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa87)
        );
        assert!("rsa"
            .parse::<KeyAlgorithm>()
            .unwrap_err()
            .to_string()
            .contains("known:"));
    }
}
