//! Keys in a token: naming them, finding their objects, their public keys, and signing.

use core::fmt;

use aws_lc_rs::digest;
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{
    Attribute, AttributeType, KeyType, MlDsaParameterSetType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;
use der::asn1::{OctetStringRef, SequenceOf, UintRef};
use der::Encode;
use qtls_provider::{
    CompositeAlgorithm, CompositeCurve, EcCurve, KeyAlgorithm, MlDsaLevel, Traditional,
};

use crate::error::Error;
use crate::uri::{ObjectType, Pkcs11Uri};

/// Names a key in a token by its label (CKA_LABEL), its ID (CKA_ID), or both.
///
/// A key is the private key object(s) with that name and the matching public key object(s):
/// one EC key pair (ECDSA), one ML-DSA key pair, or one of each (composite ML-DSA, the
/// pairing of ML-DSA level and curve deciding which composite algorithm).
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
/// key, `mldsaPK ‖ point` for composite).
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
        ecdsa: ObjectHandle,
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

/// One half of a key: an EC or ML-DSA private key with its public key.
struct Half {
    private: ObjectHandle,
    kind: HalfKind,
    public_key: Vec<u8>,
    sensitive: bool,
    extractable: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum HalfKind {
    /// P-256, P-384 or P-521.
    Ec(CompositeCurve),
    MlDsa(MlDsaLevel),
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
            .map(|h| match h.kind {
                HalfKind::Ec(curve) => match curve.ec_curve() {
                    Some(curve) => KeyAlgorithm::Ecdsa(curve).name(),
                    None => "ECDSA-P521",
                },
                HalfKind::MlDsa(level) => level.name(),
            })
            .collect::<Vec<_>>()
            .join(" + ")
    };
    match halves.as_slice() {
        [half] => {
            let (algorithm, handles) = match half.kind {
                HalfKind::Ec(curve) => (
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
            let (ml_dsa, ec) = match (a.kind, b.kind) {
                (HalfKind::MlDsa(_), HalfKind::Ec(_)) => (a, b),
                (HalfKind::Ec(_), HalfKind::MlDsa(_)) => (b, a),
                _ => {
                    return Err(invalid(format!(
                        "two private keys of one kind ({}) share the name",
                        describe(&halves)
                    )))
                }
            };
            let (HalfKind::MlDsa(level), HalfKind::Ec(curve)) = (ml_dsa.kind, ec.kind) else {
                unreachable!("sorted above");
            };
            let algorithm = CompositeAlgorithm::ALL
                .into_iter()
                .find(|alg| alg.ml_dsa() == level && composite_ec_curve(*alg).ok() == Some(curve))
                .ok_or_else(|| {
                    invalid(format!(
                        "{} is not a composite algorithm",
                        describe(&halves)
                    ))
                })?;
            Ok(TokenKey {
                public: HsmPublicKey::new(
                    KeyAlgorithm::Composite(algorithm),
                    [ml_dsa.public_key.as_slice(), &ec.public_key].concat(),
                )
                .map_err(|e| invalid(e.to_string()))?,
                handles: KeyHandles::Composite {
                    ml_dsa: ml_dsa.private,
                    ecdsa: ec.private,
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
    let (mut sensitive, mut extractable) = (false, true);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::Id(v) => id = v,
            Attribute::Label(v) => label = v,
            Attribute::EcParams(v) => ec_params = Some(v),
            Attribute::ParameterSet(p) => parameter_set = Some(MlDsaParameterSetType::from(p)),
            Attribute::Sensitive(b) => sensitive = b,
            Attribute::Extractable(b) => extractable = b,
            _ => {}
        }
    }
    let kind = match key_type {
        Some(t) if t == KeyType::EC => {
            let params = ec_params.ok_or_else(|| invalid("EC key without CKA_EC_PARAMS".into()))?;
            HalfKind::Ec(curve_from_params(&params).ok_or_else(|| {
                invalid("EC key on a curve other than P-256, P-384 or P-521".into())
            })?)
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
        HalfKind::Ec(_) => KeyType::EC,
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
        HalfKind::Ec(curve) => {
            let point = single_bytes(session, token, public, AttributeType::EcPoint)?;
            ec_point(curve, &point)
                .ok_or_else(|| invalid("CKA_EC_POINT is not an uncompressed point".into()))?
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
            Attribute::EcPoint(v) | Attribute::Value(v) => Some(v),
            _ => None,
        })
        .ok_or_else(|| Error::InvalidKey {
            token: token.to_owned(),
            key: String::new(),
            reason: format!("public key object lacks {attribute}"),
        })
}

/// The curves a token key's EC half may use here: the NIST curves of the composites (the
/// test tokens with ML-DSA, Kryoptic, have no brainpool curves).
const TOKEN_CURVES: [CompositeCurve; 3] = [
    CompositeCurve::P256,
    CompositeCurve::P384,
    CompositeCurve::P521,
];

/// The curve of a stand-alone ECDSA key.
pub(crate) fn token_curve(curve: EcCurve) -> CompositeCurve {
    match curve {
        EcCurve::P256 => CompositeCurve::P256,
        // EcCurve is non-exhaustive; P-384 is the other curve it has.
        _ => CompositeCurve::P384,
    }
}

/// Whether qtls-hsm can keep a composite of `algorithm` in a token, as an ML-DSA key and an
/// EC key under one name: for an ECDSA half on P-256, P-384 or P-521, its curve; otherwise
/// [`Error::CompositeNotInToken`] saying why not.
pub(crate) fn composite_ec_curve(algorithm: CompositeAlgorithm) -> Result<CompositeCurve, Error> {
    let refuse = |reason: &'static str| Error::CompositeNotInToken {
        algorithm: algorithm.name(),
        reason,
    };
    match algorithm.traditional() {
        Traditional::Ecdsa { curve, .. } if TOKEN_CURVES.contains(&curve) => Ok(curve),
        Traditional::Ecdsa { .. } => Err(refuse(
            "brainpool curves: Kryoptic, the token with ML-DSA, has no brainpool curves (only \
             P-256, P-384, P-521), and SoftHSM2, which has them, has no ML-DSA",
        )),
        Traditional::RsaPss { .. } | Traditional::RsaPkcs1v15 { .. } => Err(refuse(
            "RSA halves: qtls-hsm does not generate, read or sign with token RSA keys yet, and \
             an ML-DSA + RSA key pair in a token does not say whether it is the PSS or the \
             PKCS#1 v1.5 composite",
        )),
        _ => Err(refuse(
            "EdDSA halves: qtls-hsm does not drive CKM_EDDSA yet (Kryoptic has Ed25519 and \
             Ed448, SoftHSM2 has no ML-DSA)",
        )),
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
        KeyHandles::Ecdsa { private, curve } => ecdsa(session, token, private, curve, message),
        KeyHandles::MlDsa { private } => ml_dsa(session, token, private, message, None),
        KeyHandles::Composite {
            ml_dsa: ml_dsa_key,
            ecdsa: ecdsa_key,
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
            let curve = composite_ec_curve(algorithm)?;
            let ecdsa_sig = ecdsa(session, token, ecdsa_key, curve, &representative)?;
            Ok([ml_dsa_sig, ecdsa_sig].concat())
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

/// CKM_ECDSA over the curve's hash computed here: SoftHSM2 has no CKM_ECDSA_SHA384, and
/// hashing outside keeps one code path for every token.
fn ecdsa(
    session: &Session,
    token: &str,
    key: ObjectHandle,
    curve: CompositeCurve,
    message: &[u8],
) -> Result<Vec<u8>, Error> {
    // Each NIST curve with its own hash (P-521 with SHA-512, draft-ietf-lamps-pq-composite-sigs §6).
    let hash = match curve {
        CompositeCurve::P256 => &digest::SHA256,
        CompositeCurve::P384 => &digest::SHA384,
        _ => &digest::SHA512,
    };
    let digest = digest::digest(hash, message);
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
    fn composites_a_token_cannot_hold_are_refused_with_the_reason() {
        for algorithm in CompositeAlgorithm::ALL {
            match (algorithm.traditional(), composite_ec_curve(algorithm)) {
                (qtls_provider::Traditional::Ecdsa { curve, .. }, Ok(held)) => {
                    assert_eq!(curve, held);
                    assert!(curve.name().starts_with("P-"));
                }
                (
                    traditional,
                    Err(Error::CompositeNotInToken {
                        algorithm: name,
                        reason,
                    }),
                ) => {
                    assert_eq!(name, algorithm.name());
                    let family = match traditional {
                        qtls_provider::Traditional::Ecdsa { .. } => "brainpool",
                        qtls_provider::Traditional::RsaPss { .. }
                        | qtls_provider::Traditional::RsaPkcs1v15 { .. } => "RSA",
                        _ => "EdDSA",
                    };
                    assert!(reason.contains(family), "{name}: {reason}");
                }
                (traditional, other) => panic!("{traditional:?}: {other:?}"),
            }
        }
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
