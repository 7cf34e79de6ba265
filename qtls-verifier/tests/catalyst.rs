//! Catalyst dual-key certificates (ITU-T X.509 (10/2019) §7.2.2, §9.8,
//! <https://www.itu.int/rec/T-REC-X.509-201910-I/en>): a primary ECDSA-P384 signature over the
//! TBSCertificate and an alternative ML-DSA-65 signature, by the issuer's alternative key (its
//! subjectAltPublicKeyInfo), over the PreTBSCertificate. Both must verify; under an issuer
//! with an alternative key the alternative signature is required (unless the verifier is told
//! `dangerous_allow_stripped_alt_signatures`); under a plain issuer plain certificates pass.
//!
//! The certificates are built here from `x509-cert` types, and the PreTBSCertificate from its
//! own ASN.1 definition, independently of the crate's encoder.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::str::FromStr;
use std::time::Duration;

use common::{handshake, now, ISSUED};
use const_oid::db::rfc5280;
use const_oid::ObjectIdentifier;
use der::asn1::{BitString, Ia5String, OctetString, UtcTime};
use der::{Decode, Encode};
use qtls_provider::{Backend, EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel};
use qtls_verifier::{Error, Purpose, ServerVerifierBuilder};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{AlertDescription as Alert, CertificateError as CE};
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, Extensions};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate};

/// subjectAltPublicKeyInfo.
const SUBJECT_ALT_PUBLIC_KEY_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.72");
/// altSignatureAlgorithm.
const ALT_SIGNATURE_ALGORITHM: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.73");
/// altSignatureValue.
const ALT_SIGNATURE_VALUE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.74");

const PRIMARY: KeyAlgorithm = KeyAlgorithm::Ecdsa(EcCurve::P384);
const ALTERNATIVE: KeyAlgorithm = KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65);

/// X.509 (10/2019) §7.2.2:
///
/// ```text
/// PreTBSCertificate ::= SEQUENCE {
///   version                  [0]  Version DEFAULT v1,
///   serialNumber                  CertificateSerialNumber,
///   issuer                        Name,
///   validity                      Validity,
///   subject                       Name,
///   subjectPublicKeyInfo          SubjectPublicKeyInfo,
///   issuerUniqueIdentifier   [1] IMPLICIT UniqueIdentifier OPTIONAL,
///   subjectUniqueIdentifier  [2] IMPLICIT UniqueIdentifier OPTIONAL,
///   extensions               [3]  Extensions OPTIONAL }
/// ```
///
/// that is, the TBSCertificate without `signature`; `extensions` without altSignatureValue.
#[derive(Clone, Debug, der::Sequence)]
struct PreTbsCertificate {
    #[asn1(context_specific = "0", default = "Default::default")]
    version: Version,
    serial_number: SerialNumber,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    issuer_unique_id: Option<BitString>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    subject_unique_id: Option<BitString>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

fn pre_tbs_der(tbs: &TbsCertificate) -> Vec<u8> {
    let extensions = tbs.extensions.as_ref().map(|extensions| {
        extensions
            .iter()
            .filter(|ext| ext.extn_id != ALT_SIGNATURE_VALUE)
            .cloned()
            .collect::<Vec<_>>()
    });
    PreTbsCertificate {
        version: tbs.version,
        serial_number: tbs.serial_number.clone(),
        issuer: tbs.issuer.clone(),
        validity: tbs.validity,
        subject: tbs.subject.clone(),
        subject_public_key_info: tbs.subject_public_key_info.clone(),
        issuer_unique_id: tbs.issuer_unique_id.clone(),
        subject_unique_id: tbs.subject_unique_id.clone(),
        extensions,
    }
    .to_der()
    .unwrap()
}

fn extension(oid: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).unwrap(),
    }
}

fn encoded(oid: ObjectIdentifier, critical: bool, value: &impl Encode) -> Extension {
    extension(oid, critical, value.to_der().unwrap())
}

/// subjectAltPublicKeyInfo: the DER SubjectPublicKeyInfo of the alternative key.
fn subject_alt_public_key_info(key: &KeyPair) -> Extension {
    extension(
        SUBJECT_ALT_PUBLIC_KEY_INFO,
        false,
        key.subject_public_key_info_der(),
    )
}

/// altSignatureAlgorithm: the DER AlgorithmIdentifier of the alternative signature.
fn alt_signature_algorithm(key: &KeyPair) -> Extension {
    extension(
        ALT_SIGNATURE_ALGORITHM,
        false,
        key.algorithm().signature_algorithm_der(),
    )
}

/// altSignatureValue: the DER BIT STRING of the alternative signature.
fn alt_signature_value(signature: &[u8]) -> Extension {
    encoded(
        ALT_SIGNATURE_VALUE,
        false,
        &BitString::from_bytes(signature).unwrap(),
    )
}

fn key_id(key: &KeyPair) -> OctetString {
    OctetString::new(
        aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            key.public_key(),
        )
        .as_ref(),
    )
    .unwrap()
}

fn key(algorithm: KeyAlgorithm) -> KeyPair {
    KeyPair::generate(algorithm, Backend::AwsLc).unwrap()
}

fn tbs(
    serial: u8,
    issuer: &str,
    subject: &str,
    subject_key: &KeyPair,
    signer: &KeyPair,
    extensions: Vec<Extension>,
) -> TbsCertificate {
    let time = |unix: i64| {
        Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(unix as u64)).unwrap())
    };
    TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[serial]).unwrap(),
        signature: AlgorithmIdentifierOwned::from_der(
            &signer.algorithm().signature_algorithm_der(),
        )
        .unwrap(),
        issuer: Name::from_str(issuer).unwrap(),
        validity: Validity {
            not_before: time(ISSUED),
            not_after: time(ISSUED + 3650 * common::DAY),
        },
        subject: Name::from_str(subject).unwrap(),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(
            &subject_key.subject_public_key_info_der(),
        )
        .unwrap(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    }
}

/// Signs `tbs` with the primary key: the certificate.
fn sign(tbs: TbsCertificate, primary: &KeyPair) -> Certificate {
    let signature = primary.sign(&tbs.to_der().unwrap()).unwrap();
    Certificate {
        signature_algorithm: tbs.signature.clone(),
        tbs_certificate: tbs,
        signature: BitString::from_bytes(&signature).unwrap(),
    }
}

fn der_of(cert: &Certificate) -> CertificateDer<'static> {
    CertificateDer::from(cert.to_der().unwrap())
}

/// The extensions of `cert` with altSignatureValue's BIT STRING changed by `change`, signed
/// again with `primary`, so that only the alternative signature differs.
fn with_alt_signature(
    cert: &Certificate,
    primary: &KeyPair,
    change: impl Fn(&mut Vec<u8>),
) -> Certificate {
    let mut tbs = cert.tbs_certificate.clone();
    for ext in tbs.extensions.iter_mut().flatten() {
        if ext.extn_id == ALT_SIGNATURE_VALUE {
            let mut signature = BitString::from_der(ext.extn_value.as_bytes())
                .unwrap()
                .raw_bytes()
                .to_vec();
            change(&mut signature);
            *ext = alt_signature_value(&signature);
        }
    }
    sign(tbs, primary)
}

/// A Catalyst root: ECDSA-P384 primary key, ML-DSA-65 alternative key, self-signed with both.
struct Root {
    name: &'static str,
    primary: KeyPair,
    alternative: Option<KeyPair>,
    cert: Certificate,
}

impl Root {
    /// With `catalyst`, the root carries its alternative public key (subjectAltPublicKeyInfo)
    /// and signs itself with it too; without, it is a plain ECDSA root.
    fn new(catalyst: bool) -> Self {
        let name = if catalyst {
            "CN=Catalyst Root"
        } else {
            "CN=Plain Root"
        };
        let primary = key(PRIMARY);
        let alternative = catalyst.then(|| key(ALTERNATIVE));
        let mut extensions = vec![
            encoded(
                rfc5280::ID_CE_BASIC_CONSTRAINTS,
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                },
            ),
            encoded(
                rfc5280::ID_CE_KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            ),
            encoded(
                rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
                false,
                &SubjectKeyIdentifier(key_id(&primary)),
            ),
        ];
        if let Some(alternative) = &alternative {
            extensions.push(subject_alt_public_key_info(alternative));
            extensions.push(alt_signature_algorithm(alternative));
        }
        let mut tbs = tbs(1, name, name, &primary, &primary, extensions);
        if let Some(alternative) = &alternative {
            let signature = alternative.sign(&pre_tbs_der(&tbs)).unwrap();
            tbs.extensions
                .as_mut()
                .unwrap()
                .push(alt_signature_value(&signature));
        }
        let cert = sign(tbs, &primary);
        Self {
            name,
            primary,
            alternative,
            cert,
        }
    }

    fn builder(&self) -> ServerVerifierBuilder {
        ServerVerifierBuilder::new(vec![der_of(&self.cert)], &qtls_provider::hybrid())
            .revocation_policy(qtls_verifier::RevocationPolicy::Off)
    }

    fn verify(&self, leaf: &Certificate) -> Result<qtls_verifier::VerifiedChain, Error> {
        self.verify_with(self.builder(), leaf)
    }

    fn verify_with(
        &self,
        builder: ServerVerifierBuilder,
        leaf: &Certificate,
    ) -> Result<qtls_verifier::VerifiedChain, Error> {
        builder.build_chain_verifier().unwrap().verify(
            &der_of(leaf),
            &[],
            Purpose::Server,
            Some(&ServerName::try_from("localhost").unwrap()),
            &[],
            now(),
        )
    }

    fn server_verifier(&self) -> std::sync::Arc<qtls_verifier::QtlsServerVerifier> {
        ServerVerifierBuilder::new(vec![der_of(&self.cert)], &qtls_provider::hybrid())
            .revocation_policy(qtls_verifier::RevocationPolicy::Off)
            .build()
            .unwrap()
    }
}

/// What a leaf's alternative signature is.
enum Alt<'a> {
    /// No Catalyst extensions at all.
    None,
    /// By `key` over the PreTBSCertificate, altSignatureValue at `position` among the
    /// extensions (the others keep their order).
    PreTbs { key: &'a KeyPair, position: usize },
    /// By `key`, wrongly over the whole TBSCertificate (with its `signature` field).
    FullTbs { key: &'a KeyPair },
    /// altSignatureValue by `key` over the PreTBSCertificate, but no altSignatureAlgorithm.
    WithoutAlgorithm { key: &'a KeyPair },
}

/// A server leaf for `localhost` with an ECDSA-P384 key, issued by `root` with its primary key.
/// Its extensions: BasicConstraints, KeyUsage, EKU serverAuth, SAN, its own alternative key
/// (subjectAltPublicKeyInfo, when Catalyst), altSignatureAlgorithm, AKI, SKI; and
/// altSignatureValue where `alt` says.
fn leaf(root: &Root, leaf_key: &KeyPair, alt: Alt<'_>) -> Certificate {
    let mut extensions = vec![
        encoded(
            rfc5280::ID_CE_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
        ),
        encoded(
            rfc5280::ID_CE_KEY_USAGE,
            true,
            &KeyUsage(KeyUsages::DigitalSignature.into()),
        ),
        encoded(
            rfc5280::ID_CE_EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(vec![rfc5280::ID_KP_SERVER_AUTH]),
        ),
        encoded(
            rfc5280::ID_CE_SUBJECT_ALT_NAME,
            false,
            &SubjectAltName(vec![GeneralName::DnsName(
                Ia5String::new("localhost").unwrap(),
            )]),
        ),
    ];
    let alt_key = match &alt {
        Alt::None => None,
        Alt::PreTbs { key, .. } | Alt::FullTbs { key } | Alt::WithoutAlgorithm { key } => {
            Some(*key)
        }
    };
    if let Some(alt_key) = alt_key {
        // The leaf's own alternative key, as a dual-key certificate carries it.
        extensions.push(subject_alt_public_key_info(&key(ALTERNATIVE)));
        if !matches!(alt, Alt::WithoutAlgorithm { .. }) {
            extensions.push(alt_signature_algorithm(alt_key));
        }
    }
    extensions.push(encoded(
        rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(key_id(&root.primary)),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    ));
    extensions.push(encoded(
        rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &SubjectKeyIdentifier(key_id(leaf_key)),
    ));
    let mut tbs = tbs(
        2,
        root.name,
        "CN=localhost",
        leaf_key,
        &root.primary,
        extensions,
    );
    let (signature, position) = match alt {
        Alt::None => return sign(tbs, &root.primary),
        Alt::PreTbs { key, position } => (key.sign(&pre_tbs_der(&tbs)).unwrap(), position),
        Alt::FullTbs { key } => (key.sign(&tbs.to_der().unwrap()).unwrap(), usize::MAX),
        Alt::WithoutAlgorithm { key } => (key.sign(&pre_tbs_der(&tbs)).unwrap(), usize::MAX),
    };
    let extensions = tbs.extensions.as_mut().unwrap();
    let position = position.min(extensions.len());
    extensions.insert(position, alt_signature_value(&signature));
    sign(tbs, &root.primary)
}

fn assert_alternative_signature_error(
    result: Result<qtls_verifier::VerifiedChain, Error>,
    why: &str,
) {
    match result {
        Err(error @ Error::AlternativeSignature { .. }) => {
            assert_eq!(error.certificate_error(), CE::BadEncoding, "{error}");
            let Error::AlternativeSignature {
                subject,
                why: reason,
            } = &error
            else {
                unreachable!()
            };
            assert_eq!(subject, "CN=localhost");
            assert!(reason.contains(why), "{why:?} not in {reason:?}");
        }
        other => panic!("expected Error::AlternativeSignature ({why}), got {other:?}"),
    }
}

/// altSignatureValue right after altSignatureAlgorithm (AKI and SKI follow it), or last.
const MIDDLE: usize = 6;
const LAST: usize = usize::MAX;

#[test]
fn catalyst_chain_verifies() {
    let root = Root::new(true);
    let root_alternative = root.alternative.as_ref().unwrap();
    let leaf_key = key(PRIMARY);
    for position in [MIDDLE, LAST] {
        let cert = leaf(
            &root,
            &leaf_key,
            Alt::PreTbs {
                key: root_alternative,
                position,
            },
        );
        let ids: Vec<ObjectIdentifier> = cert
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .map(|ext| ext.extn_id)
            .collect();
        let value_at = ids.iter().position(|id| *id == ALT_SIGNATURE_VALUE);
        assert_eq!(value_at, Some(position.min(ids.len() - 1)), "{ids:?}");
        assert!(
            ids.contains(&SUBJECT_ALT_PUBLIC_KEY_INFO) && ids.contains(&ALT_SIGNATURE_ALGORITHM)
        );

        let verified = root.verify(&cert).unwrap();
        assert_eq!(verified.certificates.len(), 2);
        assert_eq!(verified.end_entity().subject, "CN=localhost");
        assert_eq!(
            verified.end_entity().signature_algorithm,
            "ecdsa-with-SHA384"
        );
        assert_eq!(verified.certificates[1].subject, "CN=Catalyst Root");
        assert_eq!(verified.subject_alt_names, ["DNS:localhost"]);

        let outcome = handshake(
            vec![der_of(&cert)],
            &leaf_key,
            None,
            root.server_verifier(),
            now(),
        );
        assert!(
            outcome.client.is_ok() && outcome.server.is_ok(),
            "client {:?}, server {:?}",
            outcome.client,
            outcome.server
        );
    }
}

#[test]
fn corrupted_alternative_signature_fails() {
    let root = Root::new(true);
    let leaf_key = key(PRIMARY);
    let good = leaf(
        &root,
        &leaf_key,
        Alt::PreTbs {
            key: root.alternative.as_ref().unwrap(),
            position: MIDDLE,
        },
    );
    let flip = |signature: &mut Vec<u8>| signature[100] ^= 0x01;

    // Re-signed with the primary key: only the alternative signature is wrong.
    let corrupted = with_alt_signature(&good, &root.primary, flip);
    assert_ne!(corrupted, good);
    assert_alternative_signature_error(root.verify(&corrupted), "does not verify");

    // The unchanged altSignatureValue, re-signed the same way, still verifies (so the
    // re-signing is not what fails above).
    let resigned = with_alt_signature(&good, &root.primary, |_| {});
    root.verify(&resigned).unwrap();

    // Not re-signed: the primary signature fails first, in rustls-webpki.
    let mut unsigned = corrupted.clone();
    unsigned.signature = good.signature.clone();
    match root.verify(&unsigned) {
        Err(error @ Error::Chain(webpki::Error::InvalidSignatureForPublicKey)) => {
            assert_eq!(error.certificate_error(), CE::BadEncoding)
        }
        other => panic!("{other:?}"),
    }

    // In a handshake: the client refuses with bad_certificate.
    let outcome = handshake(
        vec![der_of(&corrupted)],
        &leaf_key,
        None,
        root.server_verifier(),
        now(),
    );
    common::assert_refused(&outcome, &CE::BadEncoding, Alert::BadCertificate);
}

#[test]
fn alternative_signature_by_the_wrong_key_or_over_the_wrong_bytes_fails() {
    let root = Root::new(true);
    let root_alternative = root.alternative.as_ref().unwrap();
    let leaf_key = key(PRIMARY);
    let stranger = key(ALTERNATIVE);

    let cases = [
        (
            "another ML-DSA-65 key",
            Alt::PreTbs {
                key: &stranger,
                position: MIDDLE,
            },
            "does not verify",
        ),
        (
            "the TBSCertificate instead of the PreTBSCertificate",
            Alt::FullTbs {
                key: root_alternative,
            },
            "does not verify",
        ),
        (
            "no altSignatureAlgorithm",
            Alt::WithoutAlgorithm {
                key: root_alternative,
            },
            "without altSignatureAlgorithm",
        ),
    ];
    for (case, alt, why) in cases {
        eprintln!("case: {case}");
        assert_alternative_signature_error(root.verify(&leaf(&root, &leaf_key, alt)), why);
    }
}

#[test]
fn alternative_signature_under_an_issuer_without_alternative_key_fails() {
    let plain_root = Root::new(false);
    let leaf_key = key(PRIMARY);
    // The leaf's altSignatureValue verifies under some ML-DSA key, but its issuer publishes
    // none (no subjectAltPublicKeyInfo).
    let somebody = key(ALTERNATIVE);
    let cert = leaf(
        &plain_root,
        &leaf_key,
        Alt::PreTbs {
            key: &somebody,
            position: MIDDLE,
        },
    );
    assert_alternative_signature_error(
        plain_root.verify(&cert),
        "the issuer has no subjectAltPublicKeyInfo",
    );
}

#[test]
fn plain_certificates_under_a_plain_issuer_still_verify() {
    let root = Root::new(false);
    let leaf_key = key(PRIMARY);
    let cert = leaf(&root, &leaf_key, Alt::None);
    assert!(cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .all(|ext| ![
            SUBJECT_ALT_PUBLIC_KEY_INFO,
            ALT_SIGNATURE_ALGORITHM,
            ALT_SIGNATURE_VALUE
        ]
        .contains(&ext.extn_id)));
    let verified = root.verify(&cert).unwrap();
    assert_eq!(verified.end_entity().subject, "CN=localhost");
    assert_eq!(verified.certificates[1].subject, root.name);
    let outcome = handshake(
        vec![der_of(&cert)],
        &leaf_key,
        None,
        root.server_verifier(),
        now(),
    );
    assert!(outcome.client.is_ok(), "{:?}", outcome.client);
}

/// `cert` without altSignatureAlgorithm and altSignatureValue, signed again with `primary`:
/// what an attacker who can forge the classical signature would present.
fn stripped(cert: &Certificate, primary: &KeyPair) -> Certificate {
    let mut tbs = cert.tbs_certificate.clone();
    if let Some(extensions) = tbs.extensions.as_mut() {
        extensions.retain(|ext| {
            ext.extn_id != ALT_SIGNATURE_ALGORITHM && ext.extn_id != ALT_SIGNATURE_VALUE
        });
    }
    sign(tbs, primary)
}

#[test]
fn stripped_alternative_signature_under_a_catalyst_issuer_is_bad_certificate() {
    let root = Root::new(true);
    let leaf_key = key(PRIMARY);
    let good = leaf(
        &root,
        &leaf_key,
        Alt::PreTbs {
            key: root.alternative.as_ref().unwrap(),
            position: MIDDLE,
        },
    );
    root.verify(&good).unwrap();
    let cert = stripped(&good, &root.primary);
    assert!(cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .all(|ext| ![ALT_SIGNATURE_ALGORITHM, ALT_SIGNATURE_VALUE].contains(&ext.extn_id)));

    assert_alternative_signature_error(root.verify(&cert), "no altSignatureValue");
    let outcome = handshake(
        vec![der_of(&cert)],
        &leaf_key,
        None,
        root.server_verifier(),
        now(),
    );
    common::assert_refused(&outcome, &CE::BadEncoding, Alert::BadCertificate);

    // A leaf issued without any Catalyst extension under the Catalyst root: the same.
    let plain = leaf(&root, &leaf_key, Alt::None);
    assert_alternative_signature_error(root.verify(&plain), "no altSignatureValue");

    // The dangerous switch lets both through (and still checks a signature that is present).
    let relaxed = || root.builder().dangerous_allow_stripped_alt_signatures(true);
    for cert in [&cert, &plain] {
        root.verify_with(relaxed(), cert).unwrap();
    }
    let outcome = handshake(
        vec![der_of(&cert)],
        &leaf_key,
        None,
        relaxed().build().unwrap(),
        now(),
    );
    assert!(outcome.client.is_ok(), "{:?}", outcome.client);
    let corrupted = with_alt_signature(&good, &root.primary, |signature| signature[100] ^= 1);
    assert_alternative_signature_error(root.verify_with(relaxed(), &corrupted), "does not verify");
}
