//! The provisional TLS code points: every peer in a deployment must agree on them.

use rustls::SignatureScheme;

use crate::composite::CompositeAlgorithm;
use crate::ecdsa::EcCurve;
use crate::error::Error;
use crate::keys::KeyAlgorithm;
use crate::kx::X25519MLKEM1024_DEFAULT_CODE_POINT;

/// The TLS code points Q-TLS uses where IANA has assigned none yet ([draft-reddy-tls-composite-mldsa-10](https://datatracker.ietf.org/doc/html/draft-reddy-tls-composite-mldsa-10#section-6)
/// leaves them all TBD; [RFC 8446 §4.2.3](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.3) private use).
/// Every peer in a deployment must agree on them.
///
/// One field per composite algorithm, named after it; set one with a struct update
/// (`CodePoints { mldsa65_rsa4096_pss_sha512: 0xFE99, ..CodePoints::DEFAULT }`) or
/// [`with_composite`](Self::with_composite). MLDSA44-ECDSA-P256-SHA256,
/// MLDSA65-ECDSA-P384-SHA512 and MLDSA87-ECDSA-P384-SHA512 keep 0x0907-0x0909 (the values of
/// the draft's 2024-2025 revisions); the other 15 default to private-use 0xFF00 | OID arc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodePoints {
    /// NamedGroup for X25519MLKEM1024 (default 0xFE40, private use).
    pub x25519_mlkem1024: u16,
    /// SignatureScheme for MLDSA44-RSA2048-PSS-SHA256 (default 0xFF25).
    pub mldsa44_rsa2048_pss_sha256: u16,
    /// SignatureScheme for MLDSA44-RSA2048-PKCS15-SHA256 (default 0xFF26, X.509 only: never offered nor used in CertificateVerify).
    pub mldsa44_rsa2048_pkcs15_sha256: u16,
    /// SignatureScheme for MLDSA44-Ed25519-SHA512 (default 0xFF27).
    pub mldsa44_ed25519_sha512: u16,
    /// SignatureScheme for MLDSA44-ECDSA-P256-SHA256 (default 0x0907).
    pub mldsa44_ecdsa_p256_sha256: u16,
    /// SignatureScheme for MLDSA65-RSA3072-PSS-SHA512 (default 0xFF29).
    pub mldsa65_rsa3072_pss_sha512: u16,
    /// SignatureScheme for MLDSA65-RSA3072-PKCS15-SHA512 (default 0xFF2A, X.509 only: never offered nor used in CertificateVerify).
    pub mldsa65_rsa3072_pkcs15_sha512: u16,
    /// SignatureScheme for MLDSA65-RSA4096-PSS-SHA512 (default 0xFF2B).
    pub mldsa65_rsa4096_pss_sha512: u16,
    /// SignatureScheme for MLDSA65-RSA4096-PKCS15-SHA512 (default 0xFF2C, X.509 only: never offered nor used in CertificateVerify).
    pub mldsa65_rsa4096_pkcs15_sha512: u16,
    /// SignatureScheme for MLDSA65-ECDSA-P256-SHA512 (default 0xFF2D).
    pub mldsa65_ecdsa_p256_sha512: u16,
    /// SignatureScheme for MLDSA65-ECDSA-P384-SHA512 (default 0x0908).
    pub mldsa65_ecdsa_p384_sha512: u16,
    /// SignatureScheme for MLDSA65-ECDSA-brainpoolP256r1-SHA512 (default 0xFF2F).
    pub mldsa65_ecdsa_bp256_sha512: u16,
    /// SignatureScheme for MLDSA65-Ed25519-SHA512 (default 0xFF30).
    pub mldsa65_ed25519_sha512: u16,
    /// SignatureScheme for MLDSA87-ECDSA-P384-SHA512 (default 0x0909).
    pub mldsa87_ecdsa_p384_sha512: u16,
    /// SignatureScheme for MLDSA87-ECDSA-brainpoolP384r1-SHA512 (default 0xFF32).
    pub mldsa87_ecdsa_bp384_sha512: u16,
    /// SignatureScheme for MLDSA87-Ed448-SHAKE256 (default 0xFF33).
    pub mldsa87_ed448_shake256: u16,
    /// SignatureScheme for MLDSA87-RSA3072-PSS-SHA512 (default 0xFF34).
    pub mldsa87_rsa3072_pss_sha512: u16,
    /// SignatureScheme for MLDSA87-RSA4096-PSS-SHA512 (default 0xFF35).
    pub mldsa87_rsa4096_pss_sha512: u16,
    /// SignatureScheme for MLDSA87-ECDSA-P521-SHA512 (default 0xFF36).
    pub mldsa87_ecdsa_p521_sha512: u16,
}

impl CodePoints {
    /// Q-TLS's defaults (see the type's documentation) and 0xFE40.
    pub const DEFAULT: Self = Self {
        x25519_mlkem1024: X25519MLKEM1024_DEFAULT_CODE_POINT,
        mldsa44_rsa2048_pss_sha256: CompositeAlgorithm::MlDsa44Rsa2048PssSha256
            .default_code_point(),
        mldsa44_rsa2048_pkcs15_sha256: CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256
            .default_code_point(),
        mldsa44_ed25519_sha512: CompositeAlgorithm::MlDsa44Ed25519Sha512.default_code_point(),
        mldsa44_ecdsa_p256_sha256: CompositeAlgorithm::MlDsa44EcdsaP256Sha256.default_code_point(),
        mldsa65_rsa3072_pss_sha512: CompositeAlgorithm::MlDsa65Rsa3072PssSha512
            .default_code_point(),
        mldsa65_rsa3072_pkcs15_sha512: CompositeAlgorithm::MlDsa65Rsa3072Pkcs15Sha512
            .default_code_point(),
        mldsa65_rsa4096_pss_sha512: CompositeAlgorithm::MlDsa65Rsa4096PssSha512
            .default_code_point(),
        mldsa65_rsa4096_pkcs15_sha512: CompositeAlgorithm::MlDsa65Rsa4096Pkcs15Sha512
            .default_code_point(),
        mldsa65_ecdsa_p256_sha512: CompositeAlgorithm::MlDsa65EcdsaP256Sha512.default_code_point(),
        mldsa65_ecdsa_p384_sha512: CompositeAlgorithm::MlDsa65EcdsaP384Sha512.default_code_point(),
        mldsa65_ecdsa_bp256_sha512: CompositeAlgorithm::MlDsa65EcdsaBrainpoolP256r1Sha512
            .default_code_point(),
        mldsa65_ed25519_sha512: CompositeAlgorithm::MlDsa65Ed25519Sha512.default_code_point(),
        mldsa87_ecdsa_p384_sha512: CompositeAlgorithm::MlDsa87EcdsaP384Sha512.default_code_point(),
        mldsa87_ecdsa_bp384_sha512: CompositeAlgorithm::MlDsa87EcdsaBrainpoolP384r1Sha512
            .default_code_point(),
        mldsa87_ed448_shake256: CompositeAlgorithm::MlDsa87Ed448Shake256.default_code_point(),
        mldsa87_rsa3072_pss_sha512: CompositeAlgorithm::MlDsa87Rsa3072PssSha512
            .default_code_point(),
        mldsa87_rsa4096_pss_sha512: CompositeAlgorithm::MlDsa87Rsa4096PssSha512
            .default_code_point(),
        mldsa87_ecdsa_p521_sha512: CompositeAlgorithm::MlDsa87EcdsaP521Sha512.default_code_point(),
    };

    /// The SignatureScheme value for a composite algorithm.
    pub const fn composite(&self, algorithm: CompositeAlgorithm) -> u16 {
        match algorithm {
            CompositeAlgorithm::MlDsa44Rsa2048PssSha256 => self.mldsa44_rsa2048_pss_sha256,
            CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256 => self.mldsa44_rsa2048_pkcs15_sha256,
            CompositeAlgorithm::MlDsa44Ed25519Sha512 => self.mldsa44_ed25519_sha512,
            CompositeAlgorithm::MlDsa44EcdsaP256Sha256 => self.mldsa44_ecdsa_p256_sha256,
            CompositeAlgorithm::MlDsa65Rsa3072PssSha512 => self.mldsa65_rsa3072_pss_sha512,
            CompositeAlgorithm::MlDsa65Rsa3072Pkcs15Sha512 => self.mldsa65_rsa3072_pkcs15_sha512,
            CompositeAlgorithm::MlDsa65Rsa4096PssSha512 => self.mldsa65_rsa4096_pss_sha512,
            CompositeAlgorithm::MlDsa65Rsa4096Pkcs15Sha512 => self.mldsa65_rsa4096_pkcs15_sha512,
            CompositeAlgorithm::MlDsa65EcdsaP256Sha512 => self.mldsa65_ecdsa_p256_sha512,
            CompositeAlgorithm::MlDsa65EcdsaP384Sha512 => self.mldsa65_ecdsa_p384_sha512,
            CompositeAlgorithm::MlDsa65EcdsaBrainpoolP256r1Sha512 => {
                self.mldsa65_ecdsa_bp256_sha512
            }
            CompositeAlgorithm::MlDsa65Ed25519Sha512 => self.mldsa65_ed25519_sha512,
            CompositeAlgorithm::MlDsa87EcdsaP384Sha512 => self.mldsa87_ecdsa_p384_sha512,
            CompositeAlgorithm::MlDsa87EcdsaBrainpoolP384r1Sha512 => {
                self.mldsa87_ecdsa_bp384_sha512
            }
            CompositeAlgorithm::MlDsa87Ed448Shake256 => self.mldsa87_ed448_shake256,
            CompositeAlgorithm::MlDsa87Rsa3072PssSha512 => self.mldsa87_rsa3072_pss_sha512,
            CompositeAlgorithm::MlDsa87Rsa4096PssSha512 => self.mldsa87_rsa4096_pss_sha512,
            CompositeAlgorithm::MlDsa87EcdsaP521Sha512 => self.mldsa87_ecdsa_p521_sha512,
        }
    }

    /// These code points with `code_point` for `algorithm`.
    pub const fn with_composite(mut self, algorithm: CompositeAlgorithm, code_point: u16) -> Self {
        match algorithm {
            CompositeAlgorithm::MlDsa44Rsa2048PssSha256 => {
                self.mldsa44_rsa2048_pss_sha256 = code_point
            }
            CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256 => {
                self.mldsa44_rsa2048_pkcs15_sha256 = code_point
            }
            CompositeAlgorithm::MlDsa44Ed25519Sha512 => self.mldsa44_ed25519_sha512 = code_point,
            CompositeAlgorithm::MlDsa44EcdsaP256Sha256 => {
                self.mldsa44_ecdsa_p256_sha256 = code_point
            }
            CompositeAlgorithm::MlDsa65Rsa3072PssSha512 => {
                self.mldsa65_rsa3072_pss_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa65Rsa3072Pkcs15Sha512 => {
                self.mldsa65_rsa3072_pkcs15_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa65Rsa4096PssSha512 => {
                self.mldsa65_rsa4096_pss_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa65Rsa4096Pkcs15Sha512 => {
                self.mldsa65_rsa4096_pkcs15_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa65EcdsaP256Sha512 => {
                self.mldsa65_ecdsa_p256_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa65EcdsaP384Sha512 => {
                self.mldsa65_ecdsa_p384_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa65EcdsaBrainpoolP256r1Sha512 => {
                self.mldsa65_ecdsa_bp256_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa65Ed25519Sha512 => self.mldsa65_ed25519_sha512 = code_point,
            CompositeAlgorithm::MlDsa87EcdsaP384Sha512 => {
                self.mldsa87_ecdsa_p384_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa87EcdsaBrainpoolP384r1Sha512 => {
                self.mldsa87_ecdsa_bp384_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa87Ed448Shake256 => self.mldsa87_ed448_shake256 = code_point,
            CompositeAlgorithm::MlDsa87Rsa3072PssSha512 => {
                self.mldsa87_rsa3072_pss_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa87Rsa4096PssSha512 => {
                self.mldsa87_rsa4096_pss_sha512 = code_point
            }
            CompositeAlgorithm::MlDsa87EcdsaP521Sha512 => {
                self.mldsa87_ecdsa_p521_sha512 = code_point
            }
        }
        self
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
        let composites = CompositeAlgorithm::ALL.map(|alg| self.composite(alg));
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
