//! Keys in a token: naming them, finding their objects, their public keys, and signing.

use core::fmt;

use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{
    Attribute, AttributeType, KeyType, MlDsaParameterSetType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;
use der::asn1::{OctetStringRef, SequenceOf, UintRef};
use der::{Decode, Encode, Sequence};
use qtls_provider::{CompositeAlgorithm, CompositeCurve, EcCurve, KeyAlgorithm, MlDsaLevel};

use crate::composite::{self, Edwards, FoundTraditional, Hash, RsaPadding, TOKEN_CURVES};
use crate::error::Error;
use crate::uri::{ObjectType, Pkcs11Uri};

/// Names a key in a token by its label (CKA_LABEL), its ID (CKA_ID), or both.
///
/// A key is the private key object(s) with that name and the matching public key object(s):
/// one EC key pair (ECDSA), one ML-DSA key pair, or an ML-DSA key pair and a traditional
/// (EC, RSA or Edwards) key pair for a composite, the objects saying which composite (see
/// [`TokenAdmin`](crate::TokenAdmin)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyRef {
    label: Option<String>,
    id: Option<Vec<u8>>,
}

impl KeyRef {
    /// The key labelled `label`.
    pub fn label(label: impl Into<String>) -> Self {
        Self {
            label: Some(label.into()),
            id: None,
        }
    }

    /// The key with CKA_ID `id`.
    pub fn id(id: impl Into<Vec<u8>>) -> Self {
        Self {
            label: None,
            id: Some(id.into()),
        }
    }

    /// The key a PKCS#11 URI's `object` and `id` name; `type`, when given, must be `private`.
    pub fn from_uri(uri: &Pkcs11Uri) -> Result<Self, Error> {
        if matches!(uri.object_type, Some(t) if t != ObjectType::Private) {
            return Err(Error::InvalidUri(
                "a signing key URI must name a private key (type=private)".into(),
            ));
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(Error::InvalidUri(
                "the URI names no key (object= or id=)".into(),
            ));
        }
        Ok(Self {
            label: uri.object.clone(),
            id: uri.id.clone(),
        })
    }

    /// The label, if the key is named by one.
    pub fn label_str(&self) -> Option<&str> {
        self.label.as_deref()
    }

    fn template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(label) = &self.label {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &self.id {
            template.push(Attribute::Id(id.clone()));
        }
        template
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.label, &self.id) {
            (Some(label), None) => write!(f, "{label:?}"),
            (None, Some(id)) => write!(f, "with id {}", hex(id)),
            (Some(label), Some(id)) => write!(f, "{label:?} (id {})", hex(id)),
            (None, None) => f.write_str("(unnamed)"),
        }
    }
}

/// A token key's public key: its algorithm and the bytes that stand in the
/// SubjectPublicKeyInfo BIT STRING (the uncompressed point for ECDSA, the raw ML-DSA public
/// key, for composite `mldsaPK ‖ tradPK` with the uncompressed point, the DER RSAPublicKey
/// or the raw EdDSA key as [draft-ietf-lamps-pq-composite-sigs-19 §4.1](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-4.1) says).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HsmPublicKey {
    algorithm: KeyAlgorithm,
    public_key: Vec<u8>,
    /// Encoded once, when the key is read, so that reading it cannot fail.
    spki: Vec<u8>,
}

impl HsmPublicKey {
    pub(crate) fn new(
        algorithm: KeyAlgorithm,
        public_key: Vec<u8>,
    ) -> Result<Self, qtls_provider::Error> {
        Ok(Self {
            algorithm,
            spki: algorithm.subject_public_key_info_der(&public_key)?,
            public_key,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The public key as it stands in the SubjectPublicKeyInfo BIT STRING.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The DER SubjectPublicKeyInfo: for ECDSA id-ecPublicKey with the named curve
    /// (RFC 5480), for ML-DSA and composite the algorithm OID with absent parameters
    /// (RFC 9881, draft-ietf-lamps-pq-composite-sigs).
    pub fn subject_public_key_info_der(&self) -> Vec<u8> {
        self.spki.clone()
    }
}

/// The object handles of a key in one token, as found in one session (handles of token
/// objects are valid in every session of the process).
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyHandles {
    Ecdsa {
        private: ObjectHandle,
        curve: CompositeCurve,
    },
    MlDsa {
        private: ObjectHandle,
    },
    Composite {
        ml_dsa: ObjectHandle,
        traditional: ObjectHandle,
        algorithm: CompositeAlgorithm,
    },
}

/// A key found in a token.
#[derive(Clone, Debug)]
pub(crate) struct TokenKey {
    pub(crate) public: HsmPublicKey,
    pub(crate) handles: KeyHandles,
    /// The attribute that lets a private key object of it leave the token, if any:
    /// `CKA_EXTRACTABLE` (true) or `CKA_SENSITIVE` (false).
    pub(crate) exposure: Option<&'static str>,
}

impl TokenKey {
    /// Refuses a key that can leave the token ([`Error::ExportableKey`]) unless `allowed`.
    pub(crate) fn check_exposure(
        &self,
        token: &str,
        key: &KeyRef,
        allowed: bool,
    ) -> Result<(), Error> {
        match self.exposure {
            Some(attribute) if !allowed => Err(Error::ExportableKey {
                token: token.to_owned(),
                key: key.to_string(),
                attribute,
            }),
            _ => Ok(()),
        }
    }
}

/// One half of a key: an ML-DSA or traditional private key with its public key.
struct Half {
    private: ObjectHandle,
    kind: HalfKind,
    public_key: Vec<u8>,
    sensitive: bool,
    extractable: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum HalfKind {
    MlDsa(MlDsaLevel),
    Traditional(FoundTraditional),
}

impl HalfKind {
    fn describe(self) -> String {
        match self {
            Self::MlDsa(level) => level.name().to_owned(),
            Self::Traditional(found) => found.describe(),
        }
    }
}

/// RSAPublicKey ([RFC 8017 A.1.1](https://www.rfc-editor.org/rfc/rfc8017#appendix-A.1.1)),
/// the traditional public key of an RSA composite (draft-ietf-lamps-pq-composite-sigs §4.1).
#[derive(Sequence)]
pub(crate) struct RsaPublicKey<'a> {
    pub(crate) modulus: UintRef<'a>,
    pub(crate) public_exponent: UintRef<'a>,
}

/// Finds `key` in the token and reads its public key.
pub(crate) fn resolve(session: &Session, token: &str, key: &KeyRef) -> Result<TokenKey, Error> {
    let invalid = |reason: String| Error::InvalidKey {
        token: token.to_owned(),
        key: key.to_string(),
        reason,
    };
    let privates = session
        .find_objects(&key.template(ObjectClass::PRIVATE_KEY))
        .map_err(|e| Error::pkcs11(token, "C_FindObjects (private keys)", e))?;
    if privates.is_empty() {
        return Err(Error::KeyNotFound {
            token: token.to_owned(),
            key: key.to_string(),
        });
    }
    let mut halves = Vec::new();
    for private in privates {
        halves.push(read_half(session, token, key, private)?);
    }
    // A key that can leave the token defeats the point of keeping it there: the caller
    // refuses it unless told otherwise (PKCS#11 3.0 §4.9: CKA_EXTRACTABLE lets it be
    // wrapped out, a false CKA_SENSITIVE lets its value be read).
    let exposure = halves.iter().find_map(|half| {
        if half.extractable {
            Some("CKA_EXTRACTABLE")
        } else if !half.sensitive {
            Some("CKA_SENSITIVE")
        } else {
            None
        }
    });
    let describe = |halves: &[Half]| {
        halves
            .iter()
            .map(|h| h.kind.describe())
            .collect::<Vec<_>>()
            .join(" + ")
    };
    match halves.as_slice() {
        [half] => {
            let (algorithm, handles) = match half.kind {
                HalfKind::Traditional(FoundTraditional::Ec(curve)) => (
                    KeyAlgorithm::Ecdsa(curve.ec_curve().ok_or_else(|| {
                        invalid(format!(
                            "a stand-alone ECDSA {} key (only a composite's half may use it)",
                            curve.name()
                        ))
                    })?),
                    KeyHandles::Ecdsa {
                        private: half.private,
                        curve,
                    },
                ),
                HalfKind::Traditional(other) => {
                    return Err(invalid(format!(
                        "a stand-alone {} key (only a composite's half may use it)",
                        other.describe()
                    )))
                }
                HalfKind::MlDsa(level) => (
                    KeyAlgorithm::MlDsa(level),
                    KeyHandles::MlDsa {
                        private: half.private,
                    },
                ),
            };
            Ok(TokenKey {
                public: HsmPublicKey::new(algorithm, half.public_key.clone())
                    .map_err(|e| invalid(e.to_string()))?,
                handles,
                exposure,
            })
        }
        [a, b] => {
            let ((level, ml_dsa), (found, traditional)) = match (a.kind, b.kind) {
                (HalfKind::MlDsa(level), HalfKind::Traditional(found)) => ((level, a), (found, b)),
                (HalfKind::Traditional(found), HalfKind::MlDsa(level)) => ((level, b), (found, a)),
                _ => {
                    return Err(invalid(format!(
                        "two private keys of one kind ({}) share the name",
                        describe(&halves)
                    )))
                }
            };
            let algorithm =
                composite::pair(level, found).map_err(|reason| Error::CompositeMismatch {
                    token: token.to_owned(),
                    key: key.to_string(),
                    reason,
                })?;
            Ok(TokenKey {
                public: HsmPublicKey::new(
                    KeyAlgorithm::Composite(algorithm),
                    [ml_dsa.public_key.as_slice(), &traditional.public_key].concat(),
                )
                .map_err(|e| invalid(e.to_string()))?,
                handles: KeyHandles::Composite {
                    ml_dsa: ml_dsa.private,
                    traditional: traditional.private,
                    algorithm,
                },
                exposure,
            })
        }
        _ => Err(invalid(format!(
            "{} private keys share the name ({})",
            halves.len(),
            describe(&halves)
        ))),
    }
}

fn read_half(
    session: &Session,
    token: &str,
    key: &KeyRef,
    private: ObjectHandle,
) -> Result<Half, Error> {
    let invalid = |reason: String| Error::InvalidKey {
        token: token.to_owned(),
        key: key.to_string(),
        reason,
    };
    let attributes = session
        .get_attributes(
            private,
            &[
                AttributeType::KeyType,
                AttributeType::Id,
                AttributeType::Label,
                AttributeType::EcParams,
                AttributeType::ParameterSet,
                AttributeType::Modulus,
                AttributeType::AllowedMechanisms,
                AttributeType::Sensitive,
                AttributeType::Extractable,
            ],
        )
        .map_err(|e| Error::pkcs11(token, "C_GetAttributeValue (private key)", e))?;
    let mut key_type = None;
    let mut id = Vec::new();
    let mut label = Vec::new();
    let mut ec_params = None;
    let mut parameter_set = None;
    let mut modulus = None;
    let mut allowed = Vec::new();
    let (mut sensitive, mut extractable) = (false, true);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::Id(v) => id = v,
            Attribute::Label(v) => label = v,
            Attribute::EcParams(v) => ec_params = Some(v),
            Attribute::ParameterSet(p) => parameter_set = Some(MlDsaParameterSetType::from(p)),
            Attribute::Modulus(v) => modulus = Some(v),
            Attribute::AllowedMechanisms(v) => allowed = v,
            Attribute::Sensitive(b) => sensitive = b,
            Attribute::Extractable(b) => extractable = b,
            _ => {}
        }
    }
    let kind = match key_type {
        Some(t) if t == KeyType::EC => {
            let params = ec_params.ok_or_else(|| invalid("EC key without CKA_EC_PARAMS".into()))?;
            HalfKind::Traditional(FoundTraditional::Ec(
                curve_from_params(&params).ok_or_else(|| {
                    invalid("EC key on a curve other than P-256, P-384 or P-521".into())
                })?,
            ))
        }
        Some(t) if t == KeyType::RSA => {
            let modulus = modulus
                .as_deref()
                .ok_or_else(|| invalid("RSA key without CKA_MODULUS".into()))?;
            // The padding is the one thing an RSA key pair does not say by itself; the
            // composite module says how it is recorded.
            HalfKind::Traditional(FoundTraditional::Rsa {
                bits: bit_len(modulus),
                padding: RsaPadding::from_allowed(&allowed),
            })
        }
        Some(t) if t == KeyType::EC_EDWARDS => {
            let params =
                ec_params.ok_or_else(|| invalid("Edwards key without CKA_EC_PARAMS".into()))?;
            HalfKind::Traditional(FoundTraditional::Edwards(
                Edwards::from_ec_params(&params).ok_or_else(|| {
                    invalid("Edwards key on a curve other than Ed25519 or Ed448".into())
                })?,
            ))
        }
        Some(t) if t == KeyType::ML_DSA => {
            let set = parameter_set
                .ok_or_else(|| invalid("ML-DSA key without CKA_PARAMETER_SET".into()))?;
            HalfKind::MlDsa(
                level_from_parameter_set(set)
                    .ok_or_else(|| invalid("ML-DSA key with an unknown parameter set".into()))?,
            )
        }
        Some(other) => return Err(invalid(format!("unsupported key type {other}"))),
        None => return Err(invalid("private key without CKA_KEY_TYPE".into())),
    };

    // The public key object: same id when the private key has one (what pkcs11-tool and
    // this crate write), else the same label; and the same key type.
    let mut template = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
    if !id.is_empty() {
        template.push(Attribute::Id(id));
    } else {
        template.push(Attribute::Label(label));
    }
    template.push(Attribute::KeyType(match kind {
        HalfKind::Traditional(FoundTraditional::Ec(_)) => KeyType::EC,
        HalfKind::Traditional(FoundTraditional::Rsa { .. }) => KeyType::RSA,
        HalfKind::Traditional(FoundTraditional::Edwards(_)) => KeyType::EC_EDWARDS,
        HalfKind::MlDsa(_) => KeyType::ML_DSA,
    }));
    let publics = session
        .find_objects(&template)
        .map_err(|e| Error::pkcs11(token, "C_FindObjects (public key)", e))?;
    let public = match publics.as_slice() {
        [public] => *public,
        [] => {
            return Err(invalid(
                "no public key object beside the private key".into(),
            ))
        }
        _ => return Err(invalid("several public key objects match".into())),
    };
    let public_key = match kind {
        HalfKind::Traditional(FoundTraditional::Ec(curve)) => {
            let point = single_bytes(session, token, public, AttributeType::EcPoint)?;
            ec_point(curve, &point)
                .ok_or_else(|| invalid("CKA_EC_POINT is not an uncompressed point".into()))?
        }
        HalfKind::Traditional(FoundTraditional::Rsa { .. }) => {
            let public_modulus = single_bytes(session, token, public, AttributeType::Modulus)?;
            let exponent = single_bytes(session, token, public, AttributeType::PublicExponent)?;
            let key = |modulus, exponent| {
                Ok::<_, der::Error>(RsaPublicKey {
                    modulus: UintRef::new(modulus)?,
                    public_exponent: UintRef::new(exponent)?,
                })
            };
            let encoded = key(&public_modulus, &exponent).and_then(|key| key.to_der());
            // The SPKI goes into certificates: it must be the signing key's own.
            let private_modulus = modulus.as_deref().and_then(|m| UintRef::new(m).ok());
            if UintRef::new(&public_modulus).ok() != private_modulus {
                return Err(invalid(
                    "the RSA public key object has another modulus than the private key".into(),
                ));
            }
            encoded.map_err(|e| invalid(format!("RSA public key: {e}")))?
        }
        HalfKind::Traditional(FoundTraditional::Edwards(curve)) => {
            let point = single_bytes(session, token, public, AttributeType::EcPoint)?;
            edwards_point(curve, &point).ok_or_else(|| {
                invalid(format!(
                    "CKA_EC_POINT is not a {}-byte {} public key",
                    curve.key_len(),
                    curve.name()
                ))
            })?
        }
        HalfKind::MlDsa(level) => {
            let value = single_bytes(session, token, public, AttributeType::Value)?;
            if value.len() != level.public_key_len() {
                return Err(invalid(format!(
                    "{} public key is {} bytes, expected {}",
                    level.name(),
                    value.len(),
                    level.public_key_len()
                )));
            }
            value
        }
    };
    Ok(Half {
        private,
        kind,
        public_key,
        sensitive,
        extractable,
    })
}

fn single_bytes(
    session: &Session,
    token: &str,
    object: ObjectHandle,
    attribute: AttributeType,
) -> Result<Vec<u8>, Error> {
    let values = session
        .get_attributes(object, &[attribute])
        .map_err(|e| Error::pkcs11(token, "C_GetAttributeValue (public key)", e))?;
    values
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(v)
            | Attribute::Value(v)
            | Attribute::Modulus(v)
            | Attribute::PublicExponent(v) => Some(v),
            _ => None,
        })
        .ok_or_else(|| Error::InvalidKey {
            token: token.to_owned(),
            key: String::new(),
            reason: format!("public key object lacks {attribute}"),
        })
}

/// The curve of a stand-alone ECDSA key.
pub(crate) fn token_curve(curve: EcCurve) -> CompositeCurve {
    match curve {
        EcCurve::P256 => CompositeCurve::P256,
        // EcCurve is non-exhaustive; P-384 is the other curve it has.
        _ => CompositeCurve::P384,
    }
}

/// DER of a named curve's OID, as CKA_EC_PARAMS holds it.
pub(crate) fn ec_params(curve: CompositeCurve) -> Vec<u8> {
    // An OID is at most 39 bytes (const-oid's bound), far below any DER length limit.
    #[allow(clippy::expect_used)]
    curve.oid().to_der().expect("an OID always encodes")
}

fn curve_from_params(params: &[u8]) -> Option<CompositeCurve> {
    TOKEN_CURVES
        .into_iter()
        .find(|curve| ec_params(*curve) == params)
}

pub(crate) fn parameter_set(level: MlDsaLevel) -> MlDsaParameterSetType {
    match level {
        MlDsaLevel::MlDsa44 => MlDsaParameterSetType::ML_DSA_44,
        MlDsaLevel::MlDsa65 => MlDsaParameterSetType::ML_DSA_65,
        // MlDsaLevel is non-exhaustive; 87 is the last level FIPS 204 defines.
        _ => MlDsaParameterSetType::ML_DSA_87,
    }
}

fn level_from_parameter_set(set: MlDsaParameterSetType) -> Option<MlDsaLevel> {
    [
        MlDsaLevel::MlDsa44,
        MlDsaLevel::MlDsa65,
        MlDsaLevel::MlDsa87,
    ]
    .into_iter()
    .find(|level| parameter_set(*level) == set)
}

/// The uncompressed point from CKA_EC_POINT: PKCS#11 says a DER OCTET STRING holding the
/// point; some tokens return the bare point. The lengths tell them apart.
fn ec_point(curve: CompositeCurve, value: &[u8]) -> Option<Vec<u8>> {
    let len = curve.point_len();
    let point = match value {
        [0x04, l, rest @ ..] if usize::from(*l) == len && rest.len() == len => rest,
        [0x04, 0x81, l, rest @ ..] if usize::from(*l) == len && rest.len() == len => rest,
        bare if bare.len() == len => bare,
        _ => return None,
    };
    (point.first() == Some(&0x04)).then(|| point.to_vec())
}

/// The raw RFC 8032 public key from an Edwards key's CKA_EC_POINT: PKCS #11 v3.1 §6.3.5 says
/// the bare key (Kryoptic returns it so), v3.0 a DER OCTET STRING holding it.
fn edwards_point(curve: Edwards, value: &[u8]) -> Option<Vec<u8>> {
    let len = curve.key_len();
    match value {
        bare if bare.len() == len => Some(bare.to_vec()),
        [0x04, l, rest @ ..] if usize::from(*l) == len && rest.len() == len => Some(rest.to_vec()),
        _ => None,
    }
}

/// The size in bits of a big-endian unsigned integer (leading zero bytes allowed).
pub(crate) fn bit_len(unsigned: &[u8]) -> usize {
    let significant = unsigned
        .iter()
        .position(|b| *b != 0)
        .map_or(&[][..], |start| &unsigned[start..]);
    match significant.first() {
        Some(first) => significant.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// Reads a DER RSAPublicKey, as the composite public key carries it.
pub(crate) fn rsa_public_key(der: &[u8]) -> Result<RsaPublicKey<'_>, der::Error> {
    RsaPublicKey::from_der(der)
}

/// CKA_EC_POINT for a public key object: the point wrapped in a DER OCTET STRING.
pub(crate) fn ec_point_attribute(point: &[u8]) -> Result<Vec<u8>, Error> {
    OctetStringRef::new(point)
        .and_then(|point| point.to_der())
        .map_err(|e| Error::InvalidImport(format!("EC point of {} bytes: {e}", point.len())))
}

/// Signs `message` with a key in the token, with the semantics TLS 1.3 and X.509 share: pure
/// ML-DSA and composite with an empty context, ECDSA over the curve's hash (DER signature).
pub(crate) fn sign(
    session: &Session,
    token: &str,
    key: &TokenKey,
    message: &[u8],
) -> Result<Vec<u8>, Error> {
    match key.handles {
        KeyHandles::Ecdsa { private, curve } => {
            ecdsa(session, token, private, Hash::of_curve(curve), message)
        }
        KeyHandles::MlDsa { private } => ml_dsa(session, token, private, message, None),
        KeyHandles::Composite {
            ml_dsa: ml_dsa_key,
            traditional: traditional_key,
            algorithm,
        } => {
            // draft-ietf-lamps-pq-composite-sigs §4.2: both halves sign M', the ML-DSA half
            // with the algorithm's label as its context.
            let representative = algorithm
                .message_representative(message, b"")
                .map_err(|e| Error::InvalidConfig(e.to_string()))?;
            let ml_dsa_sig = ml_dsa(
                session,
                token,
                ml_dsa_key,
                &representative,
                Some(algorithm.label()),
            )?;
            let traditional = composite::token_traditional(algorithm)?;
            let traditional_sig = composite::sign(
                session,
                token,
                traditional_key,
                traditional,
                &representative,
            )?;
            Ok([ml_dsa_sig, traditional_sig].concat())
        }
    }
}

fn ml_dsa(
    session: &Session,
    token: &str,
    key: ObjectHandle,
    message: &[u8],
    context: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    // Hedged signing (the default), pure ML-DSA (FIPS 204 Alg. 2), with the context given.
    let mechanism = Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, context));
    session
        .sign(&mechanism, key, message)
        .map_err(|e| Error::pkcs11(token, "C_Sign (CKM_ML_DSA)", e))
}

/// CKM_ECDSA over the hash computed here: SoftHSM2 has no CKM_ECDSA_SHA384, and hashing
/// outside keeps one code path for every token.
pub(crate) fn ecdsa(
    session: &Session,
    token: &str,
    key: ObjectHandle,
    hash: Hash,
    message: &[u8],
) -> Result<Vec<u8>, Error> {
    // Each NIST curve with its own hash (P-521 with SHA-512, draft-ietf-lamps-pq-composite-sigs §6).
    let digest = hash.digest(message);
    let raw = session
        .sign(&Mechanism::Ecdsa, key, digest.as_ref())
        .map_err(|e| Error::pkcs11(token, "C_Sign (CKM_ECDSA)", e))?;
    ecdsa_raw_to_der(&raw).ok_or_else(|| Error::Pkcs11 {
        token: token.to_owned(),
        operation: "C_Sign (CKM_ECDSA)".into(),
        code: None,
        detail: format!("the token returned a {}-byte signature", raw.len()),
    })
}

/// PKCS#11 ECDSA signatures are `r ‖ s`, each as long as the curve order; X.509 and TLS want
/// DER `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` ([RFC 5480 §2.2](https://www.rfc-editor.org/rfc/rfc5480#section-2.2)).
/// None for an odd or empty length, or one beyond what a DER length can say.
pub(crate) fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut value = SequenceOf::<UintRef<'_>, 2>::new();
    value.add(UintRef::new(r).ok()?).ok()?;
    value.add(UintRef::new(s).ok()?).ok()?;
    value.to_der().ok()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ecdsa_signatures_convert_to_der() {
        // r with its top bit set needs a 0x00 pad; s with leading zeros loses them.
        let mut raw = vec![0x80; 48];
        raw.extend([0u8; 47]);
        raw.push(0x05);
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x36, 0x02, 0x31, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x05]);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_none());
        assert!(ecdsa_raw_to_der(&[]).is_none());
    }

    #[test]
    fn ecdsa_signatures_over_64_kib_convert_in_full() {
        use der::{Decode, Reader};
        // Far beyond any curve: the lengths must be written in full, never cut to 16 bits.
        let half = 70_000;
        let raw: Vec<u8> = (0..2 * half).map(|i| (i % 251 + 1) as u8).collect();
        let der = ecdsa_raw_to_der(&raw).unwrap();
        let mut reader = der::SliceReader::new(&der).unwrap();
        let (r, s) = reader
            .sequence(|seq| {
                let r = der::asn1::UintRef::decode(seq)?;
                let s = der::asn1::UintRef::decode(seq)?;
                Ok((r.as_bytes().to_vec(), s.as_bytes().to_vec()))
            })
            .unwrap();
        der::Reader::finish(reader, ()).unwrap();
        assert_eq!((r.as_slice(), s.as_slice()), raw.split_at(half));
    }

    #[test]
    fn ec_points_are_read_wrapped_or_bare() {
        let point: Vec<u8> = [0x04].into_iter().chain([7u8; 96]).collect();
        let wrapped = ec_point_attribute(&point).unwrap();
        assert_eq!(wrapped.len(), 99);
        assert_eq!(ec_point(CompositeCurve::P384, &wrapped).unwrap(), point);
        assert_eq!(ec_point(CompositeCurve::P384, &point).unwrap(), point);
        assert!(ec_point(CompositeCurve::P256, &point).is_none());
        let p256: Vec<u8> = [0x04].into_iter().chain([7u8; 64]).collect();
        assert_eq!(
            ec_point(CompositeCurve::P256, &ec_point_attribute(&p256).unwrap()).unwrap(),
            p256
        );
        // P-521's 133-byte point takes a long-form length in its OCTET STRING.
        let p521: Vec<u8> = [0x04].into_iter().chain([7u8; 132]).collect();
        let wrapped = ec_point_attribute(&p521).unwrap();
        assert_eq!(&wrapped[..3], &[0x04, 0x81, 133]);
        assert_eq!(ec_point(CompositeCurve::P521, &wrapped).unwrap(), p521);
    }

    #[test]
    fn spki_matches_the_provider() {
        use qtls_provider::{Backend, KeyPair};
        for algorithm in [
            KeyAlgorithm::Ecdsa(EcCurve::P384),
            KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
            KeyAlgorithm::DEFAULT,
        ] {
            let pair = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
            let public = HsmPublicKey::new(algorithm, pair.public_key().to_vec()).unwrap();
            assert_eq!(
                public.subject_public_key_info_der(),
                pair.subject_public_key_info_der(),
                "{algorithm}"
            );
        }
        for curve in TOKEN_CURVES {
            assert_eq!(curve_from_params(&ec_params(curve)), Some(curve));
        }
    }

    #[test]
    fn edwards_points_are_read_bare_or_wrapped() {
        for curve in [Edwards::Ed25519, Edwards::Ed448] {
            let key = vec![7u8; curve.key_len()];
            assert_eq!(edwards_point(curve, &key).unwrap(), key);
            let wrapped = ec_point_attribute(&key).unwrap();
            assert_eq!(edwards_point(curve, &wrapped).unwrap(), key);
            assert!(edwards_point(curve, &key[1..]).is_none());
        }
        // A 32-byte Ed25519 key is never taken for an Ed448 one, nor the other way round.
        assert!(edwards_point(Edwards::Ed448, &[7u8; 32]).is_none());
        assert!(edwards_point(Edwards::Ed25519, &[7u8; 57]).is_none());
    }

    #[test]
    fn modulus_sizes_ignore_leading_zero_bytes() {
        assert_eq!(bit_len(&[0x80; 256]), 2048);
        assert_eq!(bit_len(&[[0u8].as_slice(), &[0xc0; 384]].concat()), 3072);
        assert_eq!(bit_len(&[0x00, 0x01]), 1);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[]), 0);
    }

    #[test]
    fn key_refs_come_from_uris() {
        let uri: Pkcs11Uri = "pkcs11:token=t;object=srv;type=private".parse().unwrap();
        assert_eq!(KeyRef::from_uri(&uri).unwrap(), KeyRef::label("srv"));
        let uri: Pkcs11Uri = "pkcs11:object=srv;type=cert".parse().unwrap();
        assert!(KeyRef::from_uri(&uri).is_err());
        let uri: Pkcs11Uri = "pkcs11:token=t".parse().unwrap();
        assert!(KeyRef::from_uri(&uri).is_err());
        assert_eq!(KeyRef::id([0xab, 1]).to_string(), "with id ab01");
    }
}
