//! Signature verification algorithms for rustls-webpki (certificate chains) and rustls
//! (CertificateVerify): the same objects serve both, listed in [`WebPkiSupportedAlgorithms`].

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::SignatureScheme;
use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};

use crate::backend::Backend;
use crate::code_points::CodePoints;
use crate::composite::{self, CompositeAlgorithm};
use crate::interned::Interned;
use crate::mldsa::{self, MlDsaLevel};

/// Composite ML-DSA verification (ctx = "", as in X.509 and TLS 1.3).
#[derive(Debug)]
pub(crate) struct CompositeVerify {
    pub(crate) algorithm: CompositeAlgorithm,
    pub(crate) backend: Backend,
}

impl SignatureVerificationAlgorithm for CompositeVerify {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        composite::verify(
            self.algorithm,
            self.backend,
            public_key,
            message,
            b"",
            signature,
        )
        .then_some(())
        .ok_or(InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        AlgorithmIdentifier::from_slice(self.algorithm.algorithm_identifier_contents())
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.public_key_alg_id()
    }
}

/// Pure ML-DSA verification (ctx = "") on a chosen backend (aws-lc-rs uses webpki's own).
#[cfg_attr(not(feature = "oqs"), allow(dead_code))]
#[derive(Debug)]
pub(crate) struct MlDsaVerify {
    pub(crate) level: MlDsaLevel,
    pub(crate) backend: Backend,
}

impl SignatureVerificationAlgorithm for MlDsaVerify {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        mldsa::verify(
            self.level,
            self.backend,
            public_key,
            message,
            b"",
            signature,
        )
        .then_some(())
        .ok_or(InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        match self.level {
            MlDsaLevel::MlDsa44 => rustls_pki_types::alg_id::ML_DSA_44,
            MlDsaLevel::MlDsa65 => rustls_pki_types::alg_id::ML_DSA_65,
            MlDsaLevel::MlDsa87 => rustls_pki_types::alg_id::ML_DSA_87,
        }
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.public_key_alg_id()
    }
}

/// Verification algorithms, as rustls names its own in `webpki_algs`.
pub mod webpki_algs {
    use super::*;

    /// MLDSA44-ECDSA-P256-SHA256 on aws-lc-rs.
    pub static MLDSA44_ECDSA_P256_SHA256: &dyn SignatureVerificationAlgorithm = &CompositeVerify {
        algorithm: CompositeAlgorithm::MlDsa44EcdsaP256Sha256,
        backend: Backend::AwsLc,
    };
    /// MLDSA65-ECDSA-P384-SHA512 on aws-lc-rs.
    pub static MLDSA65_ECDSA_P384_SHA512: &dyn SignatureVerificationAlgorithm = &CompositeVerify {
        algorithm: CompositeAlgorithm::MlDsa65EcdsaP384Sha512,
        backend: Backend::AwsLc,
    };
    /// MLDSA87-ECDSA-P384-SHA512 on aws-lc-rs.
    pub static MLDSA87_ECDSA_P384_SHA512: &dyn SignatureVerificationAlgorithm = &CompositeVerify {
        algorithm: CompositeAlgorithm::MlDsa87EcdsaP384Sha512,
        backend: Backend::AwsLc,
    };
    /// Pure ML-DSA on aws-lc-rs: rustls-webpki's own objects.
    pub use webpki::aws_lc_rs::{ML_DSA_44, ML_DSA_65, ML_DSA_87};

    /// The same algorithms on liboqs.
    #[cfg(feature = "oqs")]
    pub mod oqs {
        use super::*;

        /// MLDSA44-ECDSA-P256-SHA256 on liboqs (ECDSA half on aws-lc-rs).
        pub static MLDSA44_ECDSA_P256_SHA256: &dyn SignatureVerificationAlgorithm =
            &CompositeVerify {
                algorithm: CompositeAlgorithm::MlDsa44EcdsaP256Sha256,
                backend: Backend::Oqs,
            };
        /// MLDSA65-ECDSA-P384-SHA512 on liboqs (ECDSA half on aws-lc-rs).
        pub static MLDSA65_ECDSA_P384_SHA512: &dyn SignatureVerificationAlgorithm =
            &CompositeVerify {
                algorithm: CompositeAlgorithm::MlDsa65EcdsaP384Sha512,
                backend: Backend::Oqs,
            };
        /// MLDSA87-ECDSA-P384-SHA512 on liboqs (ECDSA half on aws-lc-rs).
        pub static MLDSA87_ECDSA_P384_SHA512: &dyn SignatureVerificationAlgorithm =
            &CompositeVerify {
                algorithm: CompositeAlgorithm::MlDsa87EcdsaP384Sha512,
                backend: Backend::Oqs,
            };
        /// ML-DSA-44 on liboqs.
        pub static ML_DSA_44: &dyn SignatureVerificationAlgorithm = &MlDsaVerify {
            level: MlDsaLevel::MlDsa44,
            backend: Backend::Oqs,
        };
        /// ML-DSA-65 on liboqs.
        pub static ML_DSA_65: &dyn SignatureVerificationAlgorithm = &MlDsaVerify {
            level: MlDsaLevel::MlDsa65,
            backend: Backend::Oqs,
        };
        /// ML-DSA-87 on liboqs.
        pub static ML_DSA_87: &dyn SignatureVerificationAlgorithm = &MlDsaVerify {
            level: MlDsaLevel::MlDsa87,
            backend: Backend::Oqs,
        };
    }
}

type Alg = &'static dyn SignatureVerificationAlgorithm;
type PostQuantumAlgorithms = ([(CompositeAlgorithm, Alg); 3], [(MlDsaLevel, Alg); 3]);

/// The composite and ML-DSA verification objects of `backend`.
fn post_quantum_algorithms(backend: Backend) -> PostQuantumAlgorithms {
    match backend {
        #[cfg(feature = "oqs")]
        Backend::Oqs => (
            [
                (
                    CompositeAlgorithm::MlDsa44EcdsaP256Sha256,
                    webpki_algs::oqs::MLDSA44_ECDSA_P256_SHA256,
                ),
                (
                    CompositeAlgorithm::MlDsa65EcdsaP384Sha512,
                    webpki_algs::oqs::MLDSA65_ECDSA_P384_SHA512,
                ),
                (
                    CompositeAlgorithm::MlDsa87EcdsaP384Sha512,
                    webpki_algs::oqs::MLDSA87_ECDSA_P384_SHA512,
                ),
            ],
            [
                (MlDsaLevel::MlDsa44, webpki_algs::oqs::ML_DSA_44),
                (MlDsaLevel::MlDsa65, webpki_algs::oqs::ML_DSA_65),
                (MlDsaLevel::MlDsa87, webpki_algs::oqs::ML_DSA_87),
            ],
        ),
        _ => (
            [
                (
                    CompositeAlgorithm::MlDsa44EcdsaP256Sha256,
                    webpki_algs::MLDSA44_ECDSA_P256_SHA256,
                ),
                (
                    CompositeAlgorithm::MlDsa65EcdsaP384Sha512,
                    webpki_algs::MLDSA65_ECDSA_P384_SHA512,
                ),
                (
                    CompositeAlgorithm::MlDsa87EcdsaP384Sha512,
                    webpki_algs::MLDSA87_ECDSA_P384_SHA512,
                ),
            ],
            [
                (MlDsaLevel::MlDsa44, webpki_algs::ML_DSA_44),
                (MlDsaLevel::MlDsa65, webpki_algs::ML_DSA_65),
                (MlDsaLevel::MlDsa87, webpki_algs::ML_DSA_87),
            ],
        ),
    }
}

/// Which signatures a provider accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SignaturePolicy {
    /// Composite, ML-DSA and every classical algorithm rustls supports.
    Any,
    /// Composite and ML-DSA only.
    PostQuantumOnly,
}

/// Builds (once per distinct configuration, then reuses) the table rustls and
/// rustls-webpki consult. rustls wants `&'static` tables; the code points are settable, so
/// each configuration's table is built once and kept for the life of the process.
pub(crate) fn supported_algorithms(
    backend: Backend,
    code_points: CodePoints,
    policy: SignaturePolicy,
) -> &'static WebPkiSupportedAlgorithms {
    type Key = (Backend, CodePoints, SignaturePolicy);
    static TABLES: Interned<Key, WebPkiSupportedAlgorithms> = Interned::new();
    let key = (backend, code_points, policy);
    TABLES.get_or_leak(key, || build_table(key))
}

fn build_table(
    (backend, code_points, policy): (Backend, CodePoints, SignaturePolicy),
) -> WebPkiSupportedAlgorithms {
    let (composites, ml_dsas) = post_quantum_algorithms(backend);
    let mut all: Vec<Alg> = Vec::new();
    let mut mapping: Vec<(SignatureScheme, &'static [Alg])> = Vec::new();
    for (algorithm, verify) in composites {
        all.push(verify);
        mapping.push((
            SignatureScheme::from(code_points.composite(algorithm)),
            Box::leak(Box::new([verify])),
        ));
    }
    for (level, verify) in ml_dsas {
        all.push(verify);
        let scheme = code_points.scheme_for(crate::KeyAlgorithm::MlDsa(level));
        mapping.push((scheme, Box::leak(Box::new([verify]))));
    }
    if policy == SignaturePolicy::Any {
        let classical =
            rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        let is_ml_dsa = |scheme: &SignatureScheme| {
            matches!(
                scheme,
                SignatureScheme::ML_DSA_44
                    | SignatureScheme::ML_DSA_65
                    | SignatureScheme::ML_DSA_87
            )
        };
        let ml_dsa_ids = [
            rustls_pki_types::alg_id::ML_DSA_44,
            rustls_pki_types::alg_id::ML_DSA_65,
            rustls_pki_types::alg_id::ML_DSA_87,
        ];
        all.extend(
            classical
                .all
                .iter()
                .filter(|alg| !ml_dsa_ids.contains(&alg.public_key_alg_id())),
        );
        mapping.extend(
            classical
                .mapping
                .iter()
                .filter(|(scheme, _)| !is_ml_dsa(scheme))
                .copied(),
        );
    }
    WebPkiSupportedAlgorithms {
        all: Box::leak(all.into_boxed_slice()),
        mapping: Box::leak(mapping.into_boxed_slice()),
    }
}
