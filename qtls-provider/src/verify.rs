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
#[derive(Clone, Copy, Debug)]
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

/// One verification object per composite algorithm on `backend`, in OID order.
const fn composite_table(backend: Backend) -> [CompositeVerify; 18] {
    let mut table = [CompositeVerify {
        algorithm: CompositeAlgorithm::ALL[0],
        backend,
    }; 18];
    let mut i = 0;
    while i < 18 {
        table[i].algorithm = CompositeAlgorithm::ALL[i];
        i += 1;
    }
    table
}

static AWS_LC: [CompositeVerify; 18] = composite_table(Backend::AwsLc);
#[cfg(feature = "oqs")]
static OQS: [CompositeVerify; 18] = composite_table(Backend::Oqs);

/// Verification algorithms, as rustls names its own in `webpki_algs`.
pub mod webpki_algs {
    use super::*;

    /// The composite algorithm's verification object on aws-lc-rs.
    pub fn composite(algorithm: CompositeAlgorithm) -> &'static dyn SignatureVerificationAlgorithm {
        &AWS_LC[algorithm.index()]
    }

    /// MLDSA44-RSA2048-PSS-SHA256 on aws-lc-rs.
    pub static MLDSA44_RSA2048_PSS_SHA256: &dyn SignatureVerificationAlgorithm = &AWS_LC[0];
    /// MLDSA44-RSA2048-PKCS15-SHA256 on aws-lc-rs.
    pub static MLDSA44_RSA2048_PKCS15_SHA256: &dyn SignatureVerificationAlgorithm = &AWS_LC[1];
    /// MLDSA44-Ed25519-SHA512 on aws-lc-rs.
    pub static MLDSA44_ED25519_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[2];
    /// MLDSA44-ECDSA-P256-SHA256 on aws-lc-rs.
    pub static MLDSA44_ECDSA_P256_SHA256: &dyn SignatureVerificationAlgorithm = &AWS_LC[3];
    /// MLDSA65-RSA3072-PSS-SHA512 on aws-lc-rs.
    pub static MLDSA65_RSA3072_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[4];
    /// MLDSA65-RSA3072-PKCS15-SHA512 on aws-lc-rs.
    pub static MLDSA65_RSA3072_PKCS15_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[5];
    /// MLDSA65-RSA4096-PSS-SHA512 on aws-lc-rs.
    pub static MLDSA65_RSA4096_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[6];
    /// MLDSA65-RSA4096-PKCS15-SHA512 on aws-lc-rs.
    pub static MLDSA65_RSA4096_PKCS15_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[7];
    /// MLDSA65-ECDSA-P256-SHA512 on aws-lc-rs.
    pub static MLDSA65_ECDSA_P256_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[8];
    /// MLDSA65-ECDSA-P384-SHA512 on aws-lc-rs.
    pub static MLDSA65_ECDSA_P384_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[9];
    /// MLDSA65-ECDSA-brainpoolP256r1-SHA512 on aws-lc-rs.
    pub static MLDSA65_ECDSA_BRAINPOOLP256R1_SHA512: &dyn SignatureVerificationAlgorithm =
        &AWS_LC[10];
    /// MLDSA65-Ed25519-SHA512 on aws-lc-rs.
    pub static MLDSA65_ED25519_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[11];
    /// MLDSA87-ECDSA-P384-SHA512 on aws-lc-rs.
    pub static MLDSA87_ECDSA_P384_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[12];
    /// MLDSA87-ECDSA-brainpoolP384r1-SHA512 on aws-lc-rs.
    pub static MLDSA87_ECDSA_BRAINPOOLP384R1_SHA512: &dyn SignatureVerificationAlgorithm =
        &AWS_LC[13];
    /// MLDSA87-Ed448-SHAKE256 on aws-lc-rs.
    pub static MLDSA87_ED448_SHAKE256: &dyn SignatureVerificationAlgorithm = &AWS_LC[14];
    /// MLDSA87-RSA3072-PSS-SHA512 on aws-lc-rs.
    pub static MLDSA87_RSA3072_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[15];
    /// MLDSA87-RSA4096-PSS-SHA512 on aws-lc-rs.
    pub static MLDSA87_RSA4096_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[16];
    /// MLDSA87-ECDSA-P521-SHA512 on aws-lc-rs.
    pub static MLDSA87_ECDSA_P521_SHA512: &dyn SignatureVerificationAlgorithm = &AWS_LC[17];
    /// Pure ML-DSA on aws-lc-rs: rustls-webpki's own objects.
    pub use webpki::aws_lc_rs::{ML_DSA_44, ML_DSA_65, ML_DSA_87};

    /// The same algorithms with the ML-DSA halves on liboqs.
    #[cfg(feature = "oqs")]
    pub mod oqs {
        use super::*;

        /// The composite algorithm's verification object with its ML-DSA half on liboqs.
        pub fn composite(
            algorithm: CompositeAlgorithm,
        ) -> &'static dyn SignatureVerificationAlgorithm {
            &OQS[algorithm.index()]
        }

        /// MLDSA44-RSA2048-PSS-SHA256 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA44_RSA2048_PSS_SHA256: &dyn SignatureVerificationAlgorithm = &OQS[0];
        /// MLDSA44-RSA2048-PKCS15-SHA256 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA44_RSA2048_PKCS15_SHA256: &dyn SignatureVerificationAlgorithm = &OQS[1];
        /// MLDSA44-Ed25519-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA44_ED25519_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[2];
        /// MLDSA44-ECDSA-P256-SHA256 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA44_ECDSA_P256_SHA256: &dyn SignatureVerificationAlgorithm = &OQS[3];
        /// MLDSA65-RSA3072-PSS-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA65_RSA3072_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[4];
        /// MLDSA65-RSA3072-PKCS15-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA65_RSA3072_PKCS15_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[5];
        /// MLDSA65-RSA4096-PSS-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA65_RSA4096_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[6];
        /// MLDSA65-RSA4096-PKCS15-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA65_RSA4096_PKCS15_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[7];
        /// MLDSA65-ECDSA-P256-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA65_ECDSA_P256_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[8];
        /// MLDSA65-ECDSA-P384-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA65_ECDSA_P384_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[9];
        /// MLDSA65-ECDSA-brainpoolP256r1-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA65_ECDSA_BRAINPOOLP256R1_SHA512: &dyn SignatureVerificationAlgorithm =
            &OQS[10];
        /// MLDSA65-Ed25519-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA65_ED25519_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[11];
        /// MLDSA87-ECDSA-P384-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA87_ECDSA_P384_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[12];
        /// MLDSA87-ECDSA-brainpoolP384r1-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA87_ECDSA_BRAINPOOLP384R1_SHA512: &dyn SignatureVerificationAlgorithm =
            &OQS[13];
        /// MLDSA87-Ed448-SHAKE256 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA87_ED448_SHAKE256: &dyn SignatureVerificationAlgorithm = &OQS[14];
        /// MLDSA87-RSA3072-PSS-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA87_RSA3072_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[15];
        /// MLDSA87-RSA4096-PSS-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA87_RSA4096_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[16];
        /// MLDSA87-ECDSA-P521-SHA512 on liboqs (traditional half as on aws-lc-rs).
        pub static MLDSA87_ECDSA_P521_SHA512: &dyn SignatureVerificationAlgorithm = &OQS[17];
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

/// The composite verification object of `backend`.
fn composite_algorithm(backend: Backend, algorithm: CompositeAlgorithm) -> Alg {
    match backend {
        #[cfg(feature = "oqs")]
        Backend::Oqs => webpki_algs::oqs::composite(algorithm),
        _ => webpki_algs::composite(algorithm),
    }
}

/// The ML-DSA verification object of `backend`.
fn ml_dsa_algorithm(backend: Backend, level: MlDsaLevel) -> Alg {
    match (backend, level) {
        #[cfg(feature = "oqs")]
        (Backend::Oqs, MlDsaLevel::MlDsa44) => webpki_algs::oqs::ML_DSA_44,
        #[cfg(feature = "oqs")]
        (Backend::Oqs, MlDsaLevel::MlDsa65) => webpki_algs::oqs::ML_DSA_65,
        #[cfg(feature = "oqs")]
        (Backend::Oqs, MlDsaLevel::MlDsa87) => webpki_algs::oqs::ML_DSA_87,
        (_, MlDsaLevel::MlDsa44) => webpki_algs::ML_DSA_44,
        (_, MlDsaLevel::MlDsa65) => webpki_algs::ML_DSA_65,
        (_, MlDsaLevel::MlDsa87) => webpki_algs::ML_DSA_87,
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
    let mut all: Vec<Alg> = Vec::new();
    let mut mapping: Vec<(SignatureScheme, &'static [Alg])> = Vec::new();
    for algorithm in CompositeAlgorithm::ALL {
        let verify = composite_algorithm(backend, algorithm);
        // Chains signed with every composite verify ...
        all.push(verify);
        // ... but the RSASSA-PKCS1-v1_5 ones are never offered in signature_algorithms,
        // so a CertificateVerify using one is refused as unadvertised (illegal_parameter),
        // as draft-reddy-tls-composite-mldsa-10 §3 requires.
        if algorithm.tls_certificate_verify() {
            mapping.push((
                SignatureScheme::from(code_points.composite(algorithm)),
                Box::leak(Box::new([verify])),
            ));
        }
    }
    for level in MlDsaLevel::ALL {
        let verify = ml_dsa_algorithm(backend, level);
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
