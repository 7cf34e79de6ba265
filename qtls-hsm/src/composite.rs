//! Composite ML-DSA keys in a token ([draft-ietf-lamps-pq-composite-sigs-19](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19)):
//! which composites a token can hold, how a key pair in a token says which composite it is,
//! and how its traditional half signs M'.
//!
//! A composite is an ML-DSA key pair and a traditional key pair under one CKA_LABEL and
//! CKA_ID. The objects name the algorithm themselves: the ML-DSA parameter set
//! (CKA_PARAMETER_SET), the traditional key's type and size (CKA_EC_PARAMS for ECDSA and
//! EdDSA, CKA_MODULUS for RSA) and, for RSA only, the padding: ML-DSA-44 + RSA-2048,
//! ML-DSA-65 + RSA-3072 and ML-DSA-65 + RSA-4096 are each both a PSS and a PKCS#1 v1.5
//! composite. The RSA private key records it in CKA_ALLOWED_MECHANISMS
//! ([PKCS #11 v3.1 §4.7, key objects](https://docs.oasis-open.org/pkcs11/pkcs11-spec/v3.1/os/pkcs11-spec-v3.1-os.html)):
//! exactly `CKM_RSA_PKCS_PSS` or exactly `CKM_RSA_PKCS`, the one mechanism its composite signs
//! with, so the token itself refuses the other padding. Keys made here are also
//! CKA_MODIFIABLE and CKA_COPYABLE false (§4.4, storage objects), so the record cannot be
//! rewritten or copied into a key that claims the other composite. An RSA key whose
//! CKA_ALLOWED_MECHANISMS says anything else is refused ([`Error::CompositeMismatch`]), as
//! is a pair whose ML-DSA level and traditional key form no composite of the draft.

use aws_lc_rs::digest;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::types::Ulong;
use qtls_provider::{ComponentHash, CompositeAlgorithm, CompositeCurve, MlDsaLevel, Traditional};

use crate::error::Error;

/// A hash a traditional half applies to M' (SHA-2, [FIPS 180-4](https://csrc.nist.gov/pubs/fips/180-4/upd1/final)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn of(hash: ComponentHash) -> Option<Self> {
        match hash {
            ComponentHash::Sha256 => Some(Self::Sha256),
            ComponentHash::Sha384 => Some(Self::Sha384),
            ComponentHash::Sha512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Each NIST curve with its own hash, as stand-alone ECDSA keys and the composites use it.
    pub(crate) fn of_curve(curve: CompositeCurve) -> Self {
        match curve {
            CompositeCurve::P256 => Self::Sha256,
            CompositeCurve::P384 => Self::Sha384,
            _ => Self::Sha512,
        }
    }

    pub(crate) fn digest(self, message: &[u8]) -> digest::Digest {
        let algorithm = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(algorithm, message)
    }

    fn mechanism(self) -> MechanismType {
        match self {
            Self::Sha256 => MechanismType::SHA256,
            Self::Sha384 => MechanismType::SHA384,
            Self::Sha512 => MechanismType::SHA512,
        }
    }

    fn mgf1(self) -> PkcsMgfType {
        match self {
            Self::Sha256 => PkcsMgfType::MGF1_SHA256,
            Self::Sha384 => PkcsMgfType::MGF1_SHA384,
            Self::Sha512 => PkcsMgfType::MGF1_SHA512,
        }
    }

    fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The DER DigestInfo before the digest: `SEQUENCE { SEQUENCE { hash OID, NULL },
    /// OCTET STRING (len) }` ([RFC 8017 §9.2, note 1](https://www.rfc-editor.org/rfc/rfc8017#section-9.2)).
    // Three fixed byte strings from the RFC; CKM_RSA_PKCS pads the DigestInfo it is given.
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Self::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Self::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Self::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// The RSASSA padding of an RSA half: what the RSA key pair itself does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RsaPadding {
    /// RSASSA-PSS ([RFC 8017 §8.1](https://www.rfc-editor.org/rfc/rfc8017#section-8.1)).
    Pss,
    /// RSASSA-PKCS1-v1_5 ([RFC 8017 §8.2](https://www.rfc-editor.org/rfc/rfc8017#section-8.2)).
    Pkcs1v15,
}

impl RsaPadding {
    /// The one mechanism the RSA private key allows, and signs with.
    pub(crate) fn mechanism(self) -> MechanismType {
        match self {
            Self::Pss => MechanismType::RSA_PKCS_PSS,
            Self::Pkcs1v15 => MechanismType::RSA_PKCS,
        }
    }

    pub(crate) fn mechanism_name(self) -> &'static str {
        match self {
            Self::Pss => "CKM_RSA_PKCS_PSS",
            Self::Pkcs1v15 => "CKM_RSA_PKCS",
        }
    }

    /// The padding a private key's CKA_ALLOWED_MECHANISMS records: exactly one of the two
    /// mechanisms (repeated or not); anything else records none.
    pub(crate) fn from_allowed(allowed: &[MechanismType]) -> Option<Self> {
        [Self::Pss, Self::Pkcs1v15].into_iter().find(|padding| {
            !allowed.is_empty() && allowed.iter().all(|m| *m == padding.mechanism())
        })
    }
}

/// The Edwards curve of an EdDSA half ([RFC 8032](https://www.rfc-editor.org/rfc/rfc8032)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Edwards {
    Ed25519,
    Ed448,
}

impl Edwards {
    const ALL: [Self; 2] = [Self::Ed25519, Self::Ed448];

    /// CKA_EC_PARAMS as written here: the DER OID id-Ed25519 / id-Ed448
    /// ([RFC 8410 §3](https://www.rfc-editor.org/rfc/rfc8410#section-3)).
    pub(crate) fn ec_params(self) -> &'static [u8] {
        match self {
            Self::Ed25519 => &[0x06, 0x03, 0x2b, 0x65, 0x70],
            Self::Ed448 => &[0x06, 0x03, 0x2b, 0x65, 0x71],
        }
    }

    /// The DER PrintableString curve name (`curveName`) PKCS #11 v3.0 and later also allow in
    /// an Edwards key's CKA_EC_PARAMS.
    fn curve_name(self) -> &'static [u8] {
        match self {
            Self::Ed25519 => b"\x13\x0cedwards25519",
            Self::Ed448 => b"\x13\x0aedwards448",
        }
    }

    /// The curve a CKA_EC_PARAMS value names, in either form.
    pub(crate) fn from_ec_params(params: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|curve| params == curve.ec_params() || params == curve.curve_name())
    }

    /// The public key's length, the encoding of RFC 8032 §5.1.2 / §5.2.2.
    pub(crate) fn key_len(self) -> usize {
        match self {
            Self::Ed25519 => 32,
            Self::Ed448 => 57,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "Ed25519",
            Self::Ed448 => "Ed448",
        }
    }
}

/// How a composite's traditional half is kept in a token and signs M'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenTraditional {
    /// CKK_EC on P-256, P-384 or P-521; CKM_ECDSA over the hash of M'.
    Ecdsa { curve: CompositeCurve, hash: Hash },
    /// CKK_RSA of `bits` bits; CKM_RSA_PKCS_PSS (salt and MGF1 with the hash) or
    /// CKM_RSA_PKCS (a DigestInfo) over the hash of M'.
    Rsa {
        bits: u16,
        padding: RsaPadding,
        hash: Hash,
    },
    /// CKK_EC_EDWARDS; CKM_EDDSA over M' itself (pure Ed25519, Ed448 with an empty context).
    Eddsa(Edwards),
}

impl TokenTraditional {
    /// How the token finds this half: what [`pair`] matches.
    pub(crate) fn found(self) -> FoundTraditional {
        match self {
            Self::Ecdsa { curve, .. } => FoundTraditional::Ec(curve),
            Self::Rsa { bits, padding, .. } => FoundTraditional::Rsa {
                bits: usize::from(bits),
                padding: Some(padding),
            },
            Self::Eddsa(curve) => FoundTraditional::Edwards(curve),
        }
    }

    /// The key pair generation mechanism, with its PKCS#11 name.
    pub(crate) fn key_pair_gen(self) -> (MechanismType, &'static str) {
        match self {
            Self::Ecdsa { .. } => (MechanismType::ECC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"),
            Self::Rsa { .. } => (
                MechanismType::RSA_PKCS_KEY_PAIR_GEN,
                "CKM_RSA_PKCS_KEY_PAIR_GEN",
            ),
            Self::Eddsa(_) => (
                MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
                "CKM_EC_EDWARDS_KEY_PAIR_GEN",
            ),
        }
    }

    /// The signing mechanism, with its PKCS#11 name.
    pub(crate) fn signing(self) -> (MechanismType, &'static str) {
        match self {
            Self::Ecdsa { .. } => (MechanismType::ECDSA, "CKM_ECDSA"),
            Self::Rsa { padding, .. } => (padding.mechanism(), padding.mechanism_name()),
            Self::Eddsa(_) => (MechanismType::EDDSA, "CKM_EDDSA"),
        }
    }
}

/// The curves an ECDSA half may use in a token: the NIST curves of the composites. No token
/// at hand holds ML-DSA and brainpool keys together (below).
pub(crate) const TOKEN_CURVES: [CompositeCurve; 3] = [
    CompositeCurve::P256,
    CompositeCurve::P384,
    CompositeCurve::P521,
];

/// How qtls-hsm keeps `algorithm`'s traditional half in a token, or
/// [`Error::CompositeNotInToken`] saying why it cannot.
///
/// 16 of the 18 composites of [draft-ietf-lamps-pq-composite-sigs-19 §6](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-6)
/// can be held: RSA-PSS, RSA PKCS#1 v1.5, ECDSA on the NIST curves, Ed25519 and Ed448 halves.
/// The two with a brainpool half are refused: no token that the tests can run has both
/// ML-DSA and brainpool curves (Kryoptic 1.5 has ML-DSA and only the NIST curves, SoftHSM2
/// 2.6 has brainpool and no ML-DSA), so such a pair could never be generated or checked.
pub(crate) fn token_traditional(algorithm: CompositeAlgorithm) -> Result<TokenTraditional, Error> {
    let refuse = |reason: &'static str| Error::CompositeNotInToken {
        algorithm: algorithm.name(),
        reason,
    };
    let hash = |hash: ComponentHash| {
        Hash::of(hash)
            .ok_or_else(|| refuse("its traditional half uses a hash qtls-hsm does not know"))
    };
    match algorithm.traditional() {
        Traditional::Ecdsa { curve, hash: h } if TOKEN_CURVES.contains(&curve) => {
            Ok(TokenTraditional::Ecdsa {
                curve,
                hash: hash(h)?,
            })
        }
        Traditional::Ecdsa { .. } => Err(refuse(BRAINPOOL_REASON)),
        Traditional::RsaPss { bits, hash: h } => Ok(TokenTraditional::Rsa {
            bits,
            padding: RsaPadding::Pss,
            hash: hash(h)?,
        }),
        Traditional::RsaPkcs1v15 { bits, hash: h } => Ok(TokenTraditional::Rsa {
            bits,
            padding: RsaPadding::Pkcs1v15,
            hash: hash(h)?,
        }),
        Traditional::Ed25519 => Ok(TokenTraditional::Eddsa(Edwards::Ed25519)),
        Traditional::Ed448 => Ok(TokenTraditional::Eddsa(Edwards::Ed448)),
        _ => Err(refuse("its traditional half is one qtls-hsm does not know")),
    }
}

/// Why the brainpool composites are refused.
pub(crate) const BRAINPOOL_REASON: &str =
    "its ECDSA half is on a brainpool curve, and no token at hand holds ML-DSA and brainpool \
     keys together: Kryoptic 1.5, which has ML-DSA, has only the NIST curves P-256, P-384 and \
     P-521, and SoftHSM2 2.6, which has brainpool, has no ML-DSA";

/// A traditional private key as found in a token, before it is paired with the ML-DSA key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FoundTraditional {
    /// CKK_EC on a NIST curve.
    Ec(CompositeCurve),
    /// CKK_RSA with a modulus of `bits` bits, and the padding its CKA_ALLOWED_MECHANISMS
    /// records, if it records one.
    Rsa {
        bits: usize,
        padding: Option<RsaPadding>,
    },
    /// CKK_EC_EDWARDS.
    Edwards(Edwards),
}

impl FoundTraditional {
    /// E.g. `RSA-4096 PSS`, `ECDSA P-384`, `Ed448`.
    pub(crate) fn describe(self) -> String {
        match self {
            Self::Ec(curve) => format!("ECDSA {}", curve.name()),
            Self::Rsa { bits, padding } => match padding {
                Some(RsaPadding::Pss) => format!("RSA-{bits} PSS"),
                Some(RsaPadding::Pkcs1v15) => format!("RSA-{bits} PKCS#1 v1.5"),
                None => format!("RSA-{bits}"),
            },
            Self::Edwards(curve) => curve.name().to_owned(),
        }
    }
}

/// The composite that an ML-DSA key of `level` and `found` form, or why they form none.
pub(crate) fn pair(
    level: MlDsaLevel,
    found: FoundTraditional,
) -> Result<CompositeAlgorithm, String> {
    let find = |found: FoundTraditional| {
        CompositeAlgorithm::ALL.into_iter().find(|alg| {
            alg.ml_dsa() == level && token_traditional(*alg).is_ok_and(|trad| trad.found() == found)
        })
    };
    if let FoundTraditional::Rsa {
        bits,
        padding: None,
    } = found
    {
        let with = |padding| FoundTraditional::Rsa {
            bits,
            padding: Some(padding),
        };
        if find(with(RsaPadding::Pss)).is_some() || find(with(RsaPadding::Pkcs1v15)).is_some() {
            return Err(format!(
                "the {} key's CKA_ALLOWED_MECHANISMS does not record whether it is the PSS or \
                 the PKCS#1 v1.5 composite (it must be exactly CKM_RSA_PKCS_PSS or exactly \
                 CKM_RSA_PKCS)",
                found.describe()
            ));
        }
    }
    find(found).ok_or_else(|| {
        format!(
            "{} + {} is not a composite algorithm of draft-ietf-lamps-pq-composite-sigs",
            level.name(),
            found.describe()
        )
    })
}

/// Trad.Sign(tradSK, M') in the token ([draft-ietf-lamps-pq-composite-sigs-19 §3.2](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-3.2)),
/// as the provider signs it in software: ECDSA as a DER Ecdsa-Sig-Value, RSASSA-PSS with
/// MGF1 and a salt as long as the hash (trailer field 1), RSASSA-PKCS1-v1_5, pure Ed25519, and
/// Ed448 with an empty context (RFC 8032 §5.2: dom4(0, "")).
pub(crate) fn sign(
    session: &Session,
    token: &str,
    key: ObjectHandle,
    traditional: TokenTraditional,
    representative: &[u8],
) -> Result<Vec<u8>, Error> {
    let failed = |name: &str, e| Error::pkcs11(token, format!("C_Sign ({name})"), e);
    match traditional {
        TokenTraditional::Ecdsa { hash, .. } => {
            crate::key::ecdsa(session, token, key, hash, representative)
        }
        TokenTraditional::Rsa {
            padding: RsaPadding::Pss,
            hash,
            ..
        } => {
            let params = PkcsPssParams {
                hash_alg: hash.mechanism(),
                mgf: hash.mgf1(),
                s_len: Ulong::try_from(hash.len()).map_err(|e| failed("CKM_RSA_PKCS_PSS", e))?,
            };
            session
                .sign(
                    &Mechanism::RsaPkcsPss(params),
                    key,
                    hash.digest(representative).as_ref(),
                )
                .map_err(|e| failed("CKM_RSA_PKCS_PSS", e))
        }
        TokenTraditional::Rsa {
            padding: RsaPadding::Pkcs1v15,
            hash,
            ..
        } => {
            let digest_info = [
                hash.digest_info_prefix(),
                hash.digest(representative).as_ref(),
            ]
            .concat();
            session
                .sign(&Mechanism::RsaPkcs, key, &digest_info)
                .map_err(|e| failed("CKM_RSA_PKCS", e))
        }
        TokenTraditional::Eddsa(curve) => {
            // Ed25519 without parameters is pure Ed25519; Ed448 needs them (phFlag false).
            let scheme = match curve {
                Edwards::Ed25519 => EddsaSignatureScheme::Pure,
                Edwards::Ed448 => EddsaSignatureScheme::Ed448(&[]),
            };
            session
                .sign(
                    &Mechanism::Eddsa(EddsaParams::new(scheme)),
                    key,
                    representative,
                )
                .map_err(|e| failed("CKM_EDDSA", e))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_composite_but_brainpool_pairs_back_to_itself() {
        let mut held = 0;
        for algorithm in CompositeAlgorithm::ALL {
            match token_traditional(algorithm) {
                Ok(traditional) => {
                    held += 1;
                    assert_eq!(
                        pair(algorithm.ml_dsa(), traditional.found()),
                        Ok(algorithm),
                        "{}",
                        algorithm.name()
                    );
                }
                Err(Error::CompositeNotInToken {
                    algorithm: name,
                    reason,
                }) => {
                    assert_eq!(name, algorithm.name());
                    assert!(name.contains("brainpool"), "{name}");
                    assert!(reason.contains("brainpool") && reason.contains("Kryoptic"));
                }
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(held, 16);
    }

    #[test]
    fn ecdsa_halves_hash_as_stand_alone_keys_do() {
        for algorithm in CompositeAlgorithm::ALL {
            if let Ok(TokenTraditional::Ecdsa { curve, hash }) = token_traditional(algorithm) {
                assert_eq!(hash, Hash::of_curve(curve), "{}", algorithm.name());
            }
        }
    }

    #[test]
    fn mismatched_and_unrecorded_pairs_are_refused() {
        let rsa = |bits, padding| FoundTraditional::Rsa { bits, padding };
        let reason = pair(MlDsaLevel::MlDsa44, rsa(4096, Some(RsaPadding::Pss))).unwrap_err();
        assert!(reason.contains("ML-DSA-44 + RSA-4096 PSS"), "{reason}");
        // The PKCS#1 v1.5 composites stop at ML-DSA-65.
        assert!(pair(MlDsaLevel::MlDsa87, rsa(3072, Some(RsaPadding::Pkcs1v15))).is_err());
        assert!(pair(
            MlDsaLevel::MlDsa65,
            FoundTraditional::Edwards(Edwards::Ed448)
        )
        .is_err());
        assert!(pair(
            MlDsaLevel::MlDsa87,
            FoundTraditional::Edwards(Edwards::Ed25519)
        )
        .is_err());
        assert!(pair(MlDsaLevel::MlDsa65, rsa(2048, Some(RsaPadding::Pss))).is_err());
        let reason = pair(MlDsaLevel::MlDsa65, rsa(4096, None)).unwrap_err();
        assert!(reason.contains("CKA_ALLOWED_MECHANISMS"), "{reason}");
        // Unrecorded, but no composite with either padding anyway.
        let reason = pair(MlDsaLevel::MlDsa87, rsa(2048, None)).unwrap_err();
        assert!(reason.contains("ML-DSA-87 + RSA-2048 is not"), "{reason}");
        assert_eq!(
            pair(MlDsaLevel::MlDsa65, rsa(4096, Some(RsaPadding::Pkcs1v15))),
            Ok(CompositeAlgorithm::MlDsa65Rsa4096Pkcs15Sha512)
        );
    }

    #[test]
    fn allowed_mechanisms_record_one_padding() {
        let (pss, pkcs) = (MechanismType::RSA_PKCS_PSS, MechanismType::RSA_PKCS);
        assert_eq!(RsaPadding::from_allowed(&[pss]), Some(RsaPadding::Pss));
        assert_eq!(
            RsaPadding::from_allowed(&[pkcs]),
            Some(RsaPadding::Pkcs1v15)
        );
        assert_eq!(
            RsaPadding::from_allowed(&[pkcs, pkcs]),
            Some(RsaPadding::Pkcs1v15)
        );
        assert_eq!(RsaPadding::from_allowed(&[]), None);
        assert_eq!(RsaPadding::from_allowed(&[pss, pkcs]), None);
        assert_eq!(
            RsaPadding::from_allowed(&[MechanismType::SHA384_RSA_PKCS_PSS]),
            None
        );
    }

    #[test]
    fn edwards_curves_are_read_by_oid_or_name() {
        for curve in Edwards::ALL {
            assert_eq!(Edwards::from_ec_params(curve.ec_params()), Some(curve));
            assert_eq!(Edwards::from_ec_params(curve.curve_name()), Some(curve));
        }
        assert_eq!(
            Edwards::from_ec_params(&[0x06, 0x03, 0x2b, 0x65, 0x6e]),
            None
        );
    }

    #[test]
    fn digest_infos_are_rfc_8017s() {
        use der::Decode;
        // AlgorithmIdentifier { hash OID, NULL } and an OCTET STRING of the hash's length.
        for (hash, oid) in [
            (Hash::Sha256, "2.16.840.1.101.3.4.2.1"),
            (Hash::Sha384, "2.16.840.1.101.3.4.2.2"),
            (Hash::Sha512, "2.16.840.1.101.3.4.2.3"),
        ] {
            let info = [hash.digest_info_prefix(), hash.digest(b"m").as_ref()].concat();
            let parsed = pkcs8::spki::AlgorithmIdentifierOwned::from_der(&info[2..2 + 15]).unwrap();
            assert_eq!(parsed.oid.to_string(), oid);
            assert_eq!(usize::from(info[1]) + 2, info.len());
            assert_eq!(usize::from(info[18]), hash.len());
        }
    }
}
