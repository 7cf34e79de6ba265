//! The LAMPS composite-signature vectors (../shared/vectors/composite/testvectors.json,
//! read by path: `QTLS_SHARED_DIR`, default `../shared` beside the workspace). Where they are
//! absent the test says so and passes, except with `CI=true`, where it fails.

#![allow(clippy::unwrap_used, missing_docs)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use der::{Decode, Encode};
use qtls_provider::{primitives, webpki_algs, Backend, CompositeAlgorithm, KeyPair, MlDsaLevel};
use rustls_pki_types::SignatureVerificationAlgorithm;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    m: String,
    ctx: String,
    tests: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    #[serde(rename = "tcId")]
    tc_id: String,
    pk: String,
    x5c: String,
    sk_pkcs8: String,
    s: String,
    #[serde(rename = "sWithContext")]
    s_with_context: String,
}

enum Supported {
    Composite(CompositeAlgorithm),
    MlDsa(MlDsaLevel),
}

fn supported(tc_id: &str) -> Option<Supported> {
    Some(match tc_id {
        "id-MLDSA44-ECDSA-P256-SHA256" => {
            Supported::Composite(CompositeAlgorithm::MlDsa44EcdsaP256Sha256)
        }
        "id-MLDSA65-ECDSA-P384-SHA512" => {
            Supported::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512)
        }
        "id-MLDSA87-ECDSA-P384-SHA512" => {
            Supported::Composite(CompositeAlgorithm::MlDsa87EcdsaP384Sha512)
        }
        "id-ML-DSA-44" => Supported::MlDsa(MlDsaLevel::MlDsa44),
        "id-ML-DSA-65" => Supported::MlDsa(MlDsaLevel::MlDsa65),
        "id-ML-DSA-87" => Supported::MlDsa(MlDsaLevel::MlDsa87),
        _ => return None,
    })
}

fn load() -> Option<Vectors> {
    let bytes = qtls_test_support::vectors::composite_vectors()?;
    Some(serde_json::from_slice(&bytes).unwrap())
}

fn b64(s: &str) -> Vec<u8> {
    B64.decode(s).unwrap()
}

fn verify(
    supported: &Supported,
    backend: Backend,
    pk: &[u8],
    m: &[u8],
    ctx: &[u8],
    sig: &[u8],
) -> bool {
    match supported {
        Supported::Composite(alg) => primitives::composite_verify(*alg, backend, pk, m, ctx, sig),
        Supported::MlDsa(level) => primitives::ml_dsa_verify(*level, backend, pk, m, ctx, sig),
    }
}

fn webpki_alg(
    supported: &Supported,
    backend: Backend,
) -> &'static dyn SignatureVerificationAlgorithm {
    match (supported, backend) {
        #[cfg(feature = "oqs")]
        (Supported::Composite(alg), Backend::Oqs) => match alg {
            CompositeAlgorithm::MlDsa44EcdsaP256Sha256 => {
                webpki_algs::oqs::MLDSA44_ECDSA_P256_SHA256
            }
            CompositeAlgorithm::MlDsa65EcdsaP384Sha512 => {
                webpki_algs::oqs::MLDSA65_ECDSA_P384_SHA512
            }
            _ => webpki_algs::oqs::MLDSA87_ECDSA_P384_SHA512,
        },
        #[cfg(feature = "oqs")]
        (Supported::MlDsa(level), Backend::Oqs) => match level {
            MlDsaLevel::MlDsa44 => webpki_algs::oqs::ML_DSA_44,
            MlDsaLevel::MlDsa65 => webpki_algs::oqs::ML_DSA_65,
            MlDsaLevel::MlDsa87 => webpki_algs::oqs::ML_DSA_87,
        },
        (Supported::Composite(alg), _) => match alg {
            CompositeAlgorithm::MlDsa44EcdsaP256Sha256 => webpki_algs::MLDSA44_ECDSA_P256_SHA256,
            CompositeAlgorithm::MlDsa65EcdsaP384Sha512 => webpki_algs::MLDSA65_ECDSA_P384_SHA512,
            _ => webpki_algs::MLDSA87_ECDSA_P384_SHA512,
        },
        (Supported::MlDsa(level), _) => match level {
            MlDsaLevel::MlDsa44 => webpki_algs::ML_DSA_44,
            MlDsaLevel::MlDsa65 => webpki_algs::ML_DSA_65,
            MlDsaLevel::MlDsa87 => webpki_algs::ML_DSA_87,
        },
    }
}

#[test]
fn signatures_verify_and_flipped_bits_in_either_half_fail() {
    let Some(vectors) = load() else { return };
    let (m, ctx) = (b64(&vectors.m), b64(&vectors.ctx));
    let mut checked = 0;
    for vector in &vectors.tests {
        let Some(alg) = supported(&vector.tc_id) else {
            continue;
        };
        let pk = b64(&vector.pk);
        for (sig, ctx) in [
            (b64(&vector.s), &b""[..]),
            (b64(&vector.s_with_context), &ctx[..]),
        ] {
            for &backend in Backend::available() {
                assert!(
                    verify(&alg, backend, &pk, &m, ctx, &sig),
                    "{} on {backend}",
                    vector.tc_id
                );
                // The first byte is in the ML-DSA half; the last is in the ECDSA half (or
                // the end of the ML-DSA signature for pure ML-DSA).
                for index in [0, sig.len() / 2, sig.len() - 1] {
                    let mut bad = sig.clone();
                    bad[index] ^= 0x01;
                    assert!(
                        !verify(&alg, backend, &pk, &m, ctx, &bad),
                        "{} bit {index} on {backend}",
                        vector.tc_id
                    );
                }
                assert!(!verify(&alg, backend, &pk, b"another message", ctx, &sig));
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 6, "expected 3 composite and 3 ML-DSA vectors");
}

#[test]
fn composite_halves_fail_independently() {
    let Some(vectors) = load() else { return };
    let m = b64(&vectors.m);
    for vector in &vectors.tests {
        let Some(alg @ Supported::Composite(composite)) = supported(&vector.tc_id) else {
            continue;
        };
        let pk = b64(&vector.pk);
        let sig = b64(&vector.s);
        let ml_dsa_len = composite.ml_dsa().signature_len();
        for index in [5, ml_dsa_len - 1, ml_dsa_len + 10] {
            let mut bad = sig.clone();
            bad[index] ^= 0x80;
            for &backend in Backend::available() {
                assert!(
                    !verify(&alg, backend, &pk, &m, b"", &bad),
                    "{} byte {index}",
                    vector.tc_id
                );
            }
        }
        // A truncated ECDSA half and a swapped public-key half are invalid too.
        for &backend in Backend::available() {
            assert!(!verify(&alg, backend, &pk, &m, b"", &sig[..ml_dsa_len + 8]));
            let mut bad_pk = pk.clone();
            let last = bad_pk.len() - 1;
            bad_pk[last] ^= 0x01;
            assert!(!verify(&alg, backend, &bad_pk, &m, b"", &sig));
        }
    }
}

#[test]
fn self_signed_certificates_verify_through_the_webpki_algorithm_objects() {
    let Some(vectors) = load() else { return };
    let mut checked = 0;
    for vector in &vectors.tests {
        let Some(alg) = supported(&vector.tc_id) else {
            continue;
        };
        let cert = x509_cert::Certificate::from_der(&b64(&vector.x5c)).unwrap();
        let tbs = cert.tbs_certificate.to_der().unwrap();
        let spki_key = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let signature = cert.signature.raw_bytes();
        assert_eq!(spki_key, b64(&vector.pk).as_slice());
        for &backend in Backend::available() {
            let verifier = webpki_alg(&alg, backend);
            let sig_alg_der = cert.signature_algorithm.to_der().unwrap();
            // rustls-webpki compares the AlgorithmIdentifier's contents (without the SEQUENCE).
            assert_eq!(
                &sig_alg_der[2..],
                verifier.signature_alg_id().as_ref(),
                "{}",
                vector.tc_id
            );
            verifier
                .verify_signature(spki_key, &tbs, signature)
                .unwrap();
            let mut bad = tbs.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(verifier
                .verify_signature(spki_key, &bad, signature)
                .is_err());
        }
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn private_keys_load_reproduce_the_public_key_and_sign() {
    let Some(vectors) = load() else { return };
    for vector in &vectors.tests {
        let Some(alg) = supported(&vector.tc_id) else {
            continue;
        };
        let pkcs8 = b64(&vector.sk_pkcs8);
        let pk = b64(&vector.pk);
        for &backend in Backend::available() {
            let key = KeyPair::from_pkcs8_der(&pkcs8, backend).unwrap();
            assert_eq!(key.public_key(), pk.as_slice(), "{}", vector.tc_id);
            let sig = key.sign(b"round trip").unwrap();
            let ctx_sig = key.sign_with_context(b"round trip", b"ctx").unwrap();
            for &verifier in Backend::available() {
                assert!(verify(&alg, verifier, &pk, b"round trip", b"", &sig));
                assert!(verify(&alg, verifier, &pk, b"round trip", b"ctx", &ctx_sig));
                assert!(!verify(&alg, verifier, &pk, b"round trip", b"", &ctx_sig));
            }
            // Export and re-import gives the same key.
            let again = KeyPair::from_pkcs8_der(&key.to_pkcs8_der().unwrap(), backend).unwrap();
            assert_eq!(again.public_key(), pk.as_slice());
        }
    }
}
