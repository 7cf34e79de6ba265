//! The encodings of draft-ietf-lamps-pq-composite-sigs-19 on the LAMPS vectors' keys: the
//! message representative M' (§2.2, the draft's sample), the size table (Appendix A), the
//! public-key forms (§4.1) and every private-key form the draft allows or forbids (§4.2,
//! §5.3: PKCS#8 v1/v2, ECPrivateKey with and without its options, RSAPrivateKey versions,
//! raw EdDSA seeds).

#![allow(clippy::unwrap_used, missing_docs)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use der::asn1::AnyRef;
use der::{Decode, Encode};
use qtls_provider::{
    primitives, Backend, CompositeAlgorithm, CompositeCurve, EncodedLen, Error, KeyPair,
    Traditional,
};
use serde::Deserialize;
use spki::AlgorithmIdentifierRef;

#[derive(Deserialize)]
struct Vectors {
    tests: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    #[serde(rename = "tcId")]
    tc_id: String,
    pk: String,
    sk: String,
    s: String,
}

/// (algorithm, public key, raw private key, signature of "m").
type Entry = (CompositeAlgorithm, Vec<u8>, Vec<u8>, Vec<u8>);

/// The composite vectors.
fn vectors() -> Option<Vec<Entry>> {
    let bytes = qtls_test_support::vectors::composite_vectors()?;
    let vectors: Vectors = serde_json::from_slice(&bytes).unwrap();
    let b64 = |s: &str| B64.decode(s).unwrap();
    Some(
        vectors
            .tests
            .iter()
            .filter_map(|v| {
                CompositeAlgorithm::from_name(&v.tc_id)
                    .map(|alg| (alg, b64(&v.pk), b64(&v.sk), b64(&v.s)))
            })
            .collect(),
    )
}

fn vector(algorithm: CompositeAlgorithm) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    vectors()?
        .into_iter()
        .find(|v| v.0 == algorithm)
        .map(|(_, pk, sk, s)| (pk, sk, s))
}

/// The vectors' message.
const M: &[u8] = b"The quick brown fox jumps over the lazy dog.";

fn pkcs8(algorithm: CompositeAlgorithm, private_key: &[u8], public_key: Option<&[u8]>) -> Vec<u8> {
    pkcs8::PrivateKeyInfo {
        algorithm: AlgorithmIdentifierRef {
            oid: algorithm.oid(),
            parameters: None,
        },
        private_key,
        public_key,
    }
    .to_der()
    .unwrap()
}

fn load(der: &[u8]) -> Result<KeyPair, Error> {
    KeyPair::from_pkcs8_der(der, Backend::AwsLc)
}

/// A DER TLV with a definite length.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = vec![tag];
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(contents);
    out
}

fn hex_after(text: &str, field: &str) -> Vec<u8> {
    let start = text.find(field).unwrap() + field.len();
    let digits: String = text[start..]
        .lines()
        .map(str::trim)
        .take_while(|line| !line.is_empty())
        .collect();
    hex::decode(digits).unwrap()
}

#[test]
fn the_message_representative_is_the_drafts_sample() {
    let dir = qtls_test_support::vectors::shared_dir().join("vectors/composite");
    let Some(samples) = qtls_test_support::require(
        "the draft's M' samples",
        "set QTLS_SHARED_DIR to the project's shared folder (./scripts/test.sh does)",
        ["messageFormatSample_ctx.md", "messageFormatSample_noctx.md"]
            .iter()
            .map(|name| std::fs::read_to_string(dir.join(name)).ok())
            .collect::<Option<Vec<_>>>(),
    ) else {
        return;
    };
    let algorithm = CompositeAlgorithm::MlDsa65EcdsaP256Sha512;
    for (sample, ctx) in samples
        .iter()
        .zip([&hex::decode("0813061205162623").unwrap()[..], b""])
    {
        assert!(sample.contains("id-MLDSA65-ECDSA-P256-SHA512"));
        let m = hex::decode("00010203040506070809").unwrap();
        assert_eq!(
            algorithm.message_representative(&m, ctx).unwrap(),
            hex_after(sample, "M': ")
        );
    }
}

#[test]
fn contexts_over_255_bytes_are_refused() {
    let Some((pk, sk, s)) = vector(CompositeAlgorithm::MlDsa44Ed25519Sha512) else {
        return;
    };
    let key = load(&pkcs8(CompositeAlgorithm::MlDsa44Ed25519Sha512, &sk, None)).unwrap();
    let long = [7u8; 256];
    assert_eq!(
        key.sign_with_context(M, &long).unwrap_err(),
        Error::ContextTooLong(256)
    );
    assert!(key.sign_with_context(M, &long[..255]).is_ok());
    for &backend in Backend::available() {
        assert!(primitives::composite_verify(
            CompositeAlgorithm::MlDsa44Ed25519Sha512,
            backend,
            &pk,
            M,
            b"",
            &s
        ));
        assert!(!primitives::composite_verify(
            CompositeAlgorithm::MlDsa44Ed25519Sha512,
            backend,
            &pk,
            M,
            &long,
            &s
        ));
    }
}

#[test]
fn lengths_follow_the_size_table() {
    let Some(vectors) = vectors() else { return };
    assert_eq!(vectors.len(), 18);
    for (algorithm, pk, _, s) in vectors {
        let name = algorithm.name();
        let (ml_dsa_pk, ml_dsa_sig) = (
            algorithm.ml_dsa().public_key_len(),
            algorithm.ml_dsa().signature_len(),
        );
        assert!(
            algorithm.public_key_len().admits(pk.len(), ml_dsa_pk),
            "{name}"
        );
        assert!(
            algorithm.signature_len().admits(s.len(), ml_dsa_sig),
            "{name}"
        );
        // A key a byte short or long: the traditional half no longer parses or has the
        // wrong length.
        for len in [pk.len() - 1, pk.len() + 1] {
            let mut resized = pk.clone();
            resized.resize(len, 0);
            assert!(
                matches!(
                    algorithm.check_public_key(&resized),
                    Err(Error::InvalidPublicKey { .. })
                ),
                "{name} {len}"
            );
        }
        // A signature one byte over the table's maximum (exact ones: one byte either way).
        let max = algorithm.signature_len().max();
        let mut over = s.clone();
        over.resize(max + 1, 0);
        assert!(algorithm.split_signature(&over).is_none(), "{name}");
        if let EncodedLen::Exact(n) = algorithm.signature_len() {
            assert_eq!(s.len(), n);
            assert!(algorithm.split_signature(&s[..n - 1]).is_none());
        }
        assert!(algorithm.split_signature(&s[..ml_dsa_sig]).is_none());
        for &backend in Backend::available() {
            assert!(!primitives::composite_verify(
                algorithm, backend, &pk, M, b"", &over
            ));
        }
        // The traditional public key's own form.
        let traditional_pk = &pk[ml_dsa_pk..];
        match algorithm.traditional() {
            Traditional::Ecdsa { curve, .. } => {
                assert_eq!(traditional_pk.len(), curve.point_len());
                assert_eq!(traditional_pk[0], 0x04);
                // The compressed form of the same point is refused, though shorter.
                let mut compressed = vec![0x02 | (traditional_pk.last().unwrap() & 1)];
                compressed.extend_from_slice(&traditional_pk[1..=curve.scalar_len()]);
                let key = [&pk[..ml_dsa_pk], &compressed].concat();
                assert!(algorithm.check_public_key(&key).is_err(), "{name}");
            }
            Traditional::RsaPss { bits, .. } | Traditional::RsaPkcs1v15 { bits, .. } => {
                // RSAPublicKey, not a SubjectPublicKeyInfo: aws-lc would take either.
                let spki = spki::SubjectPublicKeyInfoRef {
                    algorithm: AlgorithmIdentifierRef {
                        oid: const_oid::db::rfc5912::RSA_ENCRYPTION,
                        parameters: Some(AnyRef::NULL),
                    },
                    subject_public_key: der::asn1::BitStringRef::new(0, traditional_pk).unwrap(),
                }
                .to_der()
                .unwrap();
                let trad_sig = &s[ml_dsa_sig..];
                let m_prime = algorithm.message_representative(M, b"").unwrap();
                assert!(primitives::composite_traditional_verify(
                    algorithm,
                    traditional_pk,
                    &m_prime,
                    trad_sig
                ));
                assert!(!primitives::composite_traditional_verify(
                    algorithm, &spki, &m_prime, trad_sig
                ));
                assert_eq!(trad_sig.len(), usize::from(bits) / 8);
            }
            Traditional::Ed25519 => assert_eq!(traditional_pk.len(), 32),
            Traditional::Ed448 => assert_eq!(traditional_pk.len(), 57),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn rsa_keys_of_another_size_are_refused() {
    let Some(vectors) = vectors() else { return };
    let find = |alg| vectors.iter().find(|v| v.0 == alg).unwrap();
    let (_, pk_2048, sk_2048, _) = find(CompositeAlgorithm::MlDsa44Rsa2048PssSha256);
    let (_, pk_3072, sk_3072, _) = find(CompositeAlgorithm::MlDsa65Rsa3072PssSha512);
    // An RSA-2048 component under the RSA-3072 algorithm, public and private.
    let key = [&pk_3072[..1952], &pk_2048[1312..]].concat();
    let error = CompositeAlgorithm::MlDsa65Rsa3072PssSha512
        .check_public_key(&key)
        .unwrap_err()
        .to_string();
    assert!(error.contains("2048 bits, expected 3072"), "{error}");
    let private = [&sk_3072[..32], &sk_2048[32..]].concat();
    let error = load(&pkcs8(
        CompositeAlgorithm::MlDsa65Rsa3072PssSha512,
        &private,
        None,
    ))
    .unwrap_err()
    .to_string();
    assert!(error.contains("2048 bits"), "{error}");
}

#[test]
fn private_keys_load_in_every_form_the_draft_allows() {
    let Some(vectors) = vectors() else { return };
    for (algorithm, pk, sk, _) in vectors {
        let name = algorithm.name();
        let v1 = pkcs8(algorithm, &sk, None);
        let key = load(&v1).unwrap();
        assert_eq!(key.public_key(), pk.as_slice(), "{name}");
        // v2 (OneAsymmetricKey) with the matching publicKey; exported back as v1.
        let v2 = pkcs8(algorithm, &sk, Some(&pk));
        assert_eq!(load(&v2).unwrap().to_pkcs8_der().unwrap().as_slice(), v1);
        // v2 with another key's publicKey.
        let mut other = pk.clone();
        other[10] ^= 1;
        let error = load(&pkcs8(algorithm, &sk, Some(&other))).unwrap_err();
        assert!(error.to_string().contains("publicKey"), "{name}: {error}");
        // Attributes [0] are allowed (and dropped): v1 with an empty attribute set.
        let algorithm_id = AlgorithmIdentifierRef {
            oid: algorithm.oid(),
            parameters: None,
        }
        .to_der()
        .unwrap();
        let with_attributes = tlv(
            0x30,
            &[
                &[2, 1, 0][..],
                &algorithm_id,
                &tlv(0x04, &sk),
                &[0xa0, 0x00],
            ]
            .concat(),
        );
        assert_eq!(load(&with_attributes).unwrap().public_key(), pk.as_slice());
        // Parameters MUST be absent (§5.3): NULL is refused.
        let with_null = pkcs8::PrivateKeyInfo {
            algorithm: AlgorithmIdentifierRef {
                oid: algorithm.oid(),
                parameters: Some(AnyRef::NULL),
            },
            private_key: &sk,
            public_key: None,
        }
        .to_der()
        .unwrap();
        let error = load(&with_null).unwrap_err().to_string();
        assert!(error.contains("absent parameters"), "{name}: {error}");
        // Nothing but the seed, or a seed one byte short.
        assert!(load(&pkcs8(algorithm, &sk[..32], None)).is_err());
        assert!(load(&pkcs8(algorithm, &sk[1..], None)).is_err(), "{name}");
    }
}

#[test]
fn ec_private_keys_are_read_leniently_and_written_canonically() {
    let Some(vectors) = vectors() else { return };
    for (algorithm, pk, sk, _) in vectors {
        let Traditional::Ecdsa { curve, .. } = algorithm.traditional() else {
            continue;
        };
        let name = algorithm.name();
        let canonical = pkcs8(algorithm, &sk, None);
        let (seed, ec) = sk.split_at(32);
        let parsed = sec1::EcPrivateKey::from_der(ec).unwrap();
        assert_eq!(
            parsed.parameters.and_then(|p| p.named_curve()),
            Some(curve.oid())
        );
        assert!(parsed.public_key.is_none());
        let point = &pk[algorithm.ml_dsa().public_key_len()..];
        let variant = |parameters, public_key| {
            let ec = sec1::EcPrivateKey {
                private_key: parsed.private_key,
                parameters,
                public_key,
            }
            .to_der()
            .unwrap();
            pkcs8(algorithm, &[seed, &ec].concat(), None)
        };
        let named = Some(sec1::EcParameters::NamedCurve(curve.oid()));
        // With the matching publicKey, or without parameters: loaded, written canonically.
        for lenient in [variant(named, Some(point)), variant(None, None)] {
            let key = load(&lenient).unwrap();
            assert_eq!(key.public_key(), pk.as_slice(), "{name}");
            assert_eq!(key.to_pkcs8_der().unwrap().as_slice(), canonical);
        }
        // Another curve, or a publicKey that is not the key's.
        let other_curve = if curve == CompositeCurve::P256 {
            CompositeCurve::P384
        } else {
            CompositeCurve::P256
        };
        let error = load(&variant(
            Some(sec1::EcParameters::NamedCurve(other_curve.oid())),
            None,
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("curve"), "{name}: {error}");
        let mut wrong_point = point.to_vec();
        wrong_point[5] ^= 1;
        let error = load(&variant(named, Some(&wrong_point)))
            .unwrap_err()
            .to_string();
        assert!(error.contains("publicKey"), "{name}: {error}");
        // A PKCS#8 PrivateKeyInfo where the ECPrivateKey belongs.
        let nested = pkcs8::PrivateKeyInfo {
            algorithm: AlgorithmIdentifierRef {
                oid: const_oid::db::rfc5912::ID_EC_PUBLIC_KEY,
                parameters: Some(AnyRef::from(&curve.oid())),
            },
            private_key: ec,
            public_key: None,
        }
        .to_der()
        .unwrap();
        assert!(
            load(&pkcs8(algorithm, &[seed, &nested].concat(), None)).is_err(),
            "{name}"
        );
    }
}

#[test]
fn rsa_private_keys_must_be_two_prime_rsa_private_keys() {
    let Some(vectors) = vectors() else { return };
    for (algorithm, _, sk, _) in vectors {
        let (Traditional::RsaPss { .. } | Traditional::RsaPkcs1v15 { .. }) =
            algorithm.traditional()
        else {
            continue;
        };
        let name = algorithm.name();
        let (seed, rsa) = sk.split_at(32);
        // 30 82 LL LL 02 01 00: the version INTEGER is the 7th byte.
        assert_eq!(&rsa[4..7], &[2, 1, 0], "{name}");
        let mut version_1 = rsa.to_vec();
        version_1[6] = 1;
        let error = load(&pkcs8(algorithm, &[seed, &version_1].concat(), None))
            .unwrap_err()
            .to_string();
        assert!(error.contains("version 1"), "{name}: {error}");
        // Bytes after the key.
        let trailing = [seed, rsa, &[0]].concat();
        assert!(load(&pkcs8(algorithm, &trailing, None)).is_err(), "{name}");
        // The RSAPrivateKey inside a PKCS#8 PrivateKeyInfo.
        let nested = pkcs8::PrivateKeyInfo {
            algorithm: AlgorithmIdentifierRef {
                oid: const_oid::db::rfc5912::RSA_ENCRYPTION,
                parameters: Some(AnyRef::NULL),
            },
            private_key: rsa,
            public_key: None,
        }
        .to_der()
        .unwrap();
        assert!(
            load(&pkcs8(algorithm, &[seed, &nested].concat(), None)).is_err(),
            "{name}"
        );
    }
}

#[test]
fn eddsa_private_keys_are_raw_seeds() {
    let Some(vectors) = vectors() else { return };
    for (algorithm, pk, sk, _) in vectors {
        let seed_len = match algorithm.traditional() {
            Traditional::Ed25519 => 32,
            Traditional::Ed448 => 57,
            _ => continue,
        };
        let name = algorithm.name();
        assert_eq!(sk.len(), 32 + seed_len, "{name}");
        assert_eq!(
            load(&pkcs8(algorithm, &sk, None)).unwrap().public_key(),
            pk.as_slice()
        );
        // RFC 8410's CurvePrivateKey (an OCTET STRING around the seed) is not the draft's form.
        let wrapped = [&sk[..32], &tlv(0x04, &sk[32..])].concat();
        assert!(load(&pkcs8(algorithm, &wrapped, None)).is_err(), "{name}");
        assert!(load(&pkcs8(algorithm, &sk[..sk.len() - 1], None)).is_err());
        assert!(load(&pkcs8(algorithm, &[&sk[..], &[0]].concat(), None)).is_err());
    }
}
