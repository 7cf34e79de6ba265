//! The provisional TLS code points: every peer in a deployment must agree on them.

use rustls::SignatureScheme;

use crate::composite::{CompositeAlgorithm, EcCurve};
use crate::error::Error;
use crate::keys::KeyAlgorithm;
use crate::kx::X25519MLKEM1024_DEFAULT_CODE_POINT;

/// The TLS code points Q-TLS uses where IANA has assigned none yet ([draft-reddy-tls-composite-mldsa](https://datatracker.ietf.org/doc/draft-reddy-tls-composite-mldsa/),
/// [RFC 8446 §4.2.7](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.7) private use).
/// Every peer in a deployment must agree on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodePoints {
    /// NamedGroup for X25519MLKEM1024 (default 0xFE40, private use).
    pub x25519_mlkem1024: u16,
    /// SignatureScheme for MLDSA44-ECDSA-P256-SHA256 (default 0x0907).
    pub mldsa44_ecdsa_p256_sha256: u16,
    /// SignatureScheme for MLDSA65-ECDSA-P384-SHA512 (default 0x0908).
    pub mldsa65_ecdsa_p384_sha512: u16,
    /// SignatureScheme for MLDSA87-ECDSA-P384-SHA512 (default 0x0909).
    pub mldsa87_ecdsa_p384_sha512: u16,
}

impl CodePoints {
    /// The values of draft-reddy-tls-composite-mldsa (Nov 2024 - Dec 2025) and 0xFE40.
    pub const DEFAULT: Self = Self {
        x25519_mlkem1024: X25519MLKEM1024_DEFAULT_CODE_POINT,
        mldsa44_ecdsa_p256_sha256: CompositeAlgorithm::MlDsa44EcdsaP256Sha256.default_code_point(),
        mldsa65_ecdsa_p384_sha512: CompositeAlgorithm::MlDsa65EcdsaP384Sha512.default_code_point(),
        mldsa87_ecdsa_p384_sha512: CompositeAlgorithm::MlDsa87EcdsaP384Sha512.default_code_point(),
    };

    /// The SignatureScheme value for a composite algorithm.
    pub fn composite(&self, algorithm: CompositeAlgorithm) -> u16 {
        match algorithm {
            CompositeAlgorithm::MlDsa44EcdsaP256Sha256 => self.mldsa44_ecdsa_p256_sha256,
            CompositeAlgorithm::MlDsa65EcdsaP384Sha512 => self.mldsa65_ecdsa_p384_sha512,
            CompositeAlgorithm::MlDsa87EcdsaP384Sha512 => self.mldsa87_ecdsa_p384_sha512,
        }
    }

    /// The composite algorithm signing under `scheme`, if any.
    pub fn composite_for(&self, scheme: SignatureScheme) -> Option<CompositeAlgorithm> {
        CompositeAlgorithm::ALL
            .into_iter()
            .find(|alg| self.composite(*alg) == u16::from(scheme))
    }

    /// A name for `scheme`: rustls's for the schemes it knows (`ML_DSA_65`,
    /// `ECDSA_NISTP384_SHA384`), `MLDSA65_ECDSA_P384_SHA512` style for composites.
    pub fn scheme_name(&self, scheme: SignatureScheme) -> String {
        match self.composite_for(scheme) {
            Some(alg) => alg.name().replace('-', "_"),
            None => format!("{scheme:?}"),
        }
    }

    /// Whether `scheme` is ML-DSA or composite.
    pub fn is_post_quantum_scheme(&self, scheme: SignatureScheme) -> bool {
        matches!(
            scheme,
            SignatureScheme::ML_DSA_44 | SignatureScheme::ML_DSA_65 | SignatureScheme::ML_DSA_87
        ) || self.composite_for(scheme).is_some()
    }

    /// The TLS 1.3 SignatureScheme for signatures by a key of `algorithm`.
    pub fn scheme_for(&self, algorithm: KeyAlgorithm) -> SignatureScheme {
        match algorithm {
            KeyAlgorithm::MlDsa(level) => match level {
                crate::MlDsaLevel::MlDsa44 => SignatureScheme::ML_DSA_44,
                crate::MlDsaLevel::MlDsa65 => SignatureScheme::ML_DSA_65,
                crate::MlDsaLevel::MlDsa87 => SignatureScheme::ML_DSA_87,
            },
            KeyAlgorithm::Composite(alg) => SignatureScheme::from(self.composite(alg)),
            KeyAlgorithm::Ecdsa(EcCurve::P256) => SignatureScheme::ECDSA_NISTP256_SHA256,
            KeyAlgorithm::Ecdsa(EcCurve::P384) => SignatureScheme::ECDSA_NISTP384_SHA384,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let composites = [
            self.mldsa44_ecdsa_p256_sha256,
            self.mldsa65_ecdsa_p384_sha512,
            self.mldsa87_ecdsa_p384_sha512,
        ];
        for (i, value) in composites.iter().enumerate() {
            let scheme = SignatureScheme::from(*value);
            if !matches!(scheme, SignatureScheme::Unknown(_)) {
                return Err(Error::CodePointTaken {
                    code_point: *value,
                    existing: format!("{scheme:?}"),
                });
            }
            let [high, low] = value.to_be_bytes();
            // rustls refuses TLS 1.3 schemes that look like TLS 1.2 hash/signature pairs.
            if high <= 0x03 || low <= 0x02 {
                return Err(Error::CodePointNotTls13(*value));
            }
            if composites[..i].contains(value) {
                return Err(Error::CodePointRepeated(*value));
            }
        }
        Ok(())
    }
}

impl Default for CodePoints {
    fn default() -> Self {
        Self::DEFAULT
    }
}
