//! The LAMPS composite-signature vectors (../shared/vectors/composite/testvectors.json of
//! draft-ietf-lamps-pq-composite-sigs-14 to -19, read by path: `QTLS_SHARED_DIR`, default
//! `../shared` beside the workspace): all 18 composites and the 3 pure ML-DSA entries. Where
//! they are absent the test says so and passes, except with `CI=true`, where it fails.

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
    sk: String,
    sk_pkcs8: String,
    s: String,
    #[serde(rename = "sWithContext")]
    s_with_context: String,
}

#[derive(Clone, Copy, Debug)]
enum Algorithm {
    Composite(CompositeAlgorithm),
    MlDsa(MlDsaLevel),
}

impl Algorithm {
    /// Every tcId of the file maps to one of ours: an unknown one fails the test.
    fn of(tc_id: &str) -> Self {
        if let Some(alg) = CompositeAlgorithm::from_name(tc_id) {
            return Self::Composite(alg);
        }
        let level = MlDsaLevel::ALL
            .into_iter()
            .find(|level| tc_id == format!("id-{}", level.name()))
            .unwrap_or_else(|| panic!("{tc_id} is not an algorithm Q-TLS implements"));
        Self::MlDsa(level)
    }

    fn verify(self, backend: Backend, pk: &[u8], m: &[u8], ctx: &[u8], sig: &[u8]) -> bool {
        match self {
            Self::Composite(alg) => primitives::composite_verify(alg, backend, pk, m, ctx, sig),
            Self::MlDsa(level) => primitives::ml_dsa_verify(level, backend, pk, m, ctx, sig),
        }
    }

    fn webpki(self, backend: Backend) -> &'static dyn SignatureVerificationAlgorithm {
        match (self, backend) {
            #[cfg(feature = "oqs")]
            (Self::Composite(alg), Backend::Oqs) => webpki_algs::oqs::composite(alg),
            #[cfg(feature = "oqs")]
            (Self::MlDsa(level), Backend::Oqs) => match level {
                MlDsaLevel::MlDsa44 => webpki_algs::oqs::ML_DSA_44,
                MlDsaLevel::MlDsa65 => webpki_algs::oqs::ML_DSA_65,
                MlDsaLevel::MlDsa87 => webpki_algs::oqs::ML_DSA_87,
            },
            (Self::Composite(alg), _) => webpki_algs::composite(alg),
            (Self::MlDsa(level), _) => match level {
                MlDsaLevel::MlDsa44 => webpki_algs::ML_DSA_44,
                MlDsaLevel::MlDsa65 => webpki_algs::ML_DSA_65,
                MlDsaLevel::MlDsa87 => webpki_algs::ML_DSA_87,
            },
        }
    }

    /// Where the ML-DSA part of a signature and of a public key ends.
    fn ml_dsa_lens(self) -> (usize, usize) {
        let level = match self {
            Self::Composite(alg) => alg.ml_dsa(),
            Self::MlDsa(level) => level,
        };
        (level.signature_len(), level.public_key_len())
    }
}

fn load() -> Option<Vectors> {
    let bytes = qtls_test_support::vectors::composite_vectors()?;
    Some(serde_json::from_slice(&bytes).unwrap())
}

fn b64(s: &str) -> Vec<u8> {
    B64.decode(s).unwrap()
}

#[test]
fn the_file_covers_all_18_composites_and_3_ml_dsa() {
    let Some(vectors) = load() else { return };
    let composites: Vec<CompositeAlgorithm> = vectors
        .tests
        .iter()
        .filter_map(|v| match Algorithm::of(&v.tc_id) {
            Algorithm::Composite(alg) => Some(alg),
            Algorithm::MlDsa(_) => None,
        })
        .collect();
    assert_eq!(composites, CompositeAlgorithm::ALL.to_vec());
    assert_eq!(vectors.tests.len(), 21);
}

#[test]
fn signatures_verify_and_flipped_bits_in_either_half_fail() {
    let Some(vectors) = load() else { return };
    let (m, ctx) = (b64(&vectors.m), b64(&vectors.ctx));
    let mut checked = 0;
    for vector in &vectors.tests {
        let alg = Algorithm::of(&vector.tc_id);
        let pk = b64(&vector.pk);
        let (ml_dsa_sig_len, _) = alg.ml_dsa_lens();
        for (sig, ctx) in [
            (b64(&vector.s), &b""[..]),
            (b64(&vector.s_with_context), &ctx[..]),
        ] {
            if let Algorithm::Composite(composite) = alg {
                assert!(
                    composite.split_signature(&sig).is_some(),
                    "{}",
                    vector.tc_id
                );
            }
            for &backend in Backend::available() {
                assert!(
                    alg.verify(backend, &pk, &m, ctx, &sig),
                    "{} on {backend}",
                    vector.tc_id
                );
                // Both ends of the ML-DSA half, the start and the end of the traditional
                // half (for pure ML-DSA: the end of its signature).
                for index in [0, ml_dsa_sig_len - 1, ml_dsa_sig_len, sig.len() - 1] {
                    let Some(byte) = sig.get(index) else { continue };
                    let mut bad = sig.clone();
                    bad[index] = byte ^ 0x01;
                    assert!(
                        !alg.verify(backend, &pk, &m, ctx, &bad),
                        "{} bit in byte {index} on {backend}",
                        vector.tc_id
                    );
                }
                assert!(!alg.verify(backend, &pk, b"another message", ctx, &sig));
                assert!(!alg.verify(backend, &pk, &m, b"another context", &sig));
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 21, "expected 18 composite and 3 ML-DSA vectors");
}

#[test]
fn tampered_public_key_halves_and_truncated_signatures_fail() {
    let Some(vectors) = load() else { return };
    let m = b64(&vectors.m);
    for vector in &vectors.tests {
        let alg @ Algorithm::Composite(composite) = Algorithm::of(&vector.tc_id) else {
            continue;
        };
        let pk = b64(&vector.pk);
        let sig = b64(&vector.s);
        let (ml_dsa_sig_len, ml_dsa_pk_len) = alg.ml_dsa_lens();
        for &backend in Backend::available() {
            // A byte inside each half of the public key (for RSA, inside the modulus).
            for index in [5, ml_dsa_pk_len - 1, ml_dsa_pk_len + 20, pk.len() - 8] {
                let mut bad_pk = pk.clone();
                bad_pk[index] ^= 0x10;
                assert!(
                    !alg.verify(backend, &bad_pk, &m, b"", &sig),
                    "{} public-key byte {index} on {backend}",
                    vector.tc_id
                );
            }
            // The public key with either half swapped for another vector's of the same shape
            // is caught by the checks above; a cut or lengthened key is invalid outright.
            for len in [pk.len() - 1, pk.len() + 1, ml_dsa_pk_len] {
                let mut resized = pk.clone();
                resized.resize(len, 0);
                assert!(!alg.verify(backend, &resized, &m, b"", &sig));
                assert!(composite.check_public_key(&resized).is_err());
            }
            // A truncated traditional half, a traditional half alone, an ML-DSA half alone.
            assert!(!alg.verify(backend, &pk, &m, b"", &sig[..ml_dsa_sig_len + 8]));
            assert!(!alg.verify(backend, &pk, &m, b"", &sig[..sig.len() - 1]));
            assert!(!alg.verify(backend, &pk, &m, b"", &sig[..ml_dsa_sig_len]));
            assert!(!alg.verify(backend, &pk, &m, b"", &sig[ml_dsa_sig_len..]));
            let mut longer = sig.clone();
            longer.push(0);
            assert!(!alg.verify(backend, &pk, &m, b"", &longer));
        }
    }
}

#[test]
fn self_signed_certificates_verify_through_the_webpki_algorithm_objects() {
    let Some(vectors) = load() else { return };
    let mut checked = 0;
    for vector in &vectors.tests {
        let alg = Algorithm::of(&vector.tc_id);
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
            let verifier = alg.webpki(backend);
            let sig_alg_der = cert.signature_algorithm.to_der().unwrap();
            // rustls-webpki compares the AlgorithmIdentifier's contents (without the SEQUENCE).
            assert_eq!(
                &sig_alg_der[2..],
                verifier.signature_alg_id().as_ref(),
                "{}",
                vector.tc_id
            );
            let spki_alg_der = cert
                .tbs_certificate
                .subject_public_key_info
                .algorithm
                .to_der()
                .unwrap();
            assert_eq!(&spki_alg_der[2..], verifier.public_key_alg_id().as_ref());
            verifier
                .verify_signature(spki_key, &tbs, signature)
                .unwrap_or_else(|_| panic!("{} on {backend}", vector.tc_id));
            let mut bad = tbs.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(verifier
                .verify_signature(spki_key, &bad, signature)
                .is_err());
        }
        checked += 1;
    }
    assert_eq!(checked, 21);
}

#[test]
fn private_keys_load_reproduce_the_public_key_and_export_byte_for_byte() {
    let Some(vectors) = load() else { return };
    let (m, ctx) = (b64(&vectors.m), b64(&vectors.ctx));
    for vector in &vectors.tests {
        let alg = Algorithm::of(&vector.tc_id);
        let pkcs8 = b64(&vector.sk_pkcs8);
        let pk = b64(&vector.pk);
        if let Algorithm::Composite(composite) = alg {
            // sk_pkcs8 is PKCS#8 v1 around the raw key `sk` (seed ‖ tradSK).
            let info = pkcs8::PrivateKeyInfo::from_der(&pkcs8).unwrap();
            assert_eq!(info.private_key, b64(&vector.sk).as_slice());
            assert_eq!(info.algorithm.oid, composite.oid());
            assert!(composite.public_key_len().admits(pk.len(), 0));
            assert!(composite
                .private_key_len()
                .admits(info.private_key.len(), 32));
        }
        for &backend in Backend::available() {
            let key = KeyPair::from_pkcs8_der(&pkcs8, backend).unwrap();
            assert_eq!(key.public_key(), pk.as_slice(), "{}", vector.tc_id);
            // The canonical export is the vector's own encoding, for every composite.
            if let Algorithm::Composite(_) = alg {
                assert_eq!(
                    key.to_pkcs8_der().unwrap().as_slice(),
                    pkcs8.as_slice(),
                    "{}",
                    vector.tc_id
                );
            }
            // Our signatures verify under the vector's public key, on every backend.
            let sig = key.sign(&m).unwrap();
            let ctx_sig = key.sign_with_context(&m, &ctx).unwrap();
            for &verifier in Backend::available() {
                assert!(alg.verify(verifier, &pk, &m, b"", &sig), "{}", vector.tc_id);
                assert!(alg.verify(verifier, &pk, &m, &ctx, &ctx_sig));
                assert!(!alg.verify(verifier, &pk, &m, b"", &ctx_sig));
                alg.webpki(verifier)
                    .verify_signature(&pk, &m, &sig)
                    .unwrap();
            }
            let again = KeyPair::from_pkcs8_der(&key.to_pkcs8_der().unwrap(), backend).unwrap();
            assert_eq!(again.public_key(), pk.as_slice());
        }
    }
}
