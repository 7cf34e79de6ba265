//! Composite ML-DSA ([draft-ietf-lamps-pq-composite-sigs-19](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19)):
//! an ML-DSA signature and a traditional signature (RSA, ECDSA or EdDSA) over one message
//! representative, both of which must verify. All 18 algorithms of the draft.
//!
//! Sign(sk, M, ctx) (§3.2): `M' = Prefix ‖ Label ‖ len(ctx) ‖ ctx ‖ PH(M)`,
//! `mldsaSig = ML-DSA.Sign(mldsaSK, M', ctx = Label)`, `tradSig = Trad.Sign(tradSK, M')`,
//! output `mldsaSig ‖ tradSig`. Keys and signatures are plain concatenations (§4), split at
//! the fixed ML-DSA sizes, with lengths bounded by the size table of Appendix A.

mod algorithms;
mod combiner;
mod traditional;

use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::error::Error;
use crate::mldsa::{self, MlDsaKey, MlDsaLevel, SEED_LEN};
use algorithms::{Spec, SPECS};
pub(crate) use traditional::TradKey;

pub use algorithms::EncodedLen;
pub use combiner::PreHash;
pub use traditional::{ComponentHash, CompositeCurve, Traditional};

/// A composite ML-DSA algorithm, in the draft's OID order (1.3.6.1.5.5.7.6.37 to .54).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompositeAlgorithm {
    /// id-MLDSA44-RSA2048-PSS-SHA256 (1.3.6.1.5.5.7.6.37).
    MlDsa44Rsa2048PssSha256,
    /// id-MLDSA44-RSA2048-PKCS15-SHA256 (1.3.6.1.5.5.7.6.38): X.509 only, not TLS 1.3.
    MlDsa44Rsa2048Pkcs15Sha256,
    /// id-MLDSA44-Ed25519-SHA512 (1.3.6.1.5.5.7.6.39).
    MlDsa44Ed25519Sha512,
    /// id-MLDSA44-ECDSA-P256-SHA256 (1.3.6.1.5.5.7.6.40).
    MlDsa44EcdsaP256Sha256,
    /// id-MLDSA65-RSA3072-PSS-SHA512 (1.3.6.1.5.5.7.6.41).
    MlDsa65Rsa3072PssSha512,
    /// id-MLDSA65-RSA3072-PKCS15-SHA512 (1.3.6.1.5.5.7.6.42): X.509 only, not TLS 1.3.
    MlDsa65Rsa3072Pkcs15Sha512,
    /// id-MLDSA65-RSA4096-PSS-SHA512 (1.3.6.1.5.5.7.6.43).
    MlDsa65Rsa4096PssSha512,
    /// id-MLDSA65-RSA4096-PKCS15-SHA512 (1.3.6.1.5.5.7.6.44): X.509 only, not TLS 1.3.
    MlDsa65Rsa4096Pkcs15Sha512,
    /// id-MLDSA65-ECDSA-P256-SHA512 (1.3.6.1.5.5.7.6.45).
    MlDsa65EcdsaP256Sha512,
    /// id-MLDSA65-ECDSA-P384-SHA512 (1.3.6.1.5.5.7.6.46): the Q-TLS default.
    MlDsa65EcdsaP384Sha512,
    /// id-MLDSA65-ECDSA-brainpoolP256r1-SHA512 (1.3.6.1.5.5.7.6.47).
    MlDsa65EcdsaBrainpoolP256r1Sha512,
    /// id-MLDSA65-Ed25519-SHA512 (1.3.6.1.5.5.7.6.48).
    MlDsa65Ed25519Sha512,
    /// id-MLDSA87-ECDSA-P384-SHA512 (1.3.6.1.5.5.7.6.49).
    MlDsa87EcdsaP384Sha512,
    /// id-MLDSA87-ECDSA-brainpoolP384r1-SHA512 (1.3.6.1.5.5.7.6.50).
    MlDsa87EcdsaBrainpoolP384r1Sha512,
    /// id-MLDSA87-Ed448-SHAKE256 (1.3.6.1.5.5.7.6.51).
    MlDsa87Ed448Shake256,
    /// id-MLDSA87-RSA3072-PSS-SHA512 (1.3.6.1.5.5.7.6.52).
    MlDsa87Rsa3072PssSha512,
    /// id-MLDSA87-RSA4096-PSS-SHA512 (1.3.6.1.5.5.7.6.53).
    MlDsa87Rsa4096PssSha512,
    /// id-MLDSA87-ECDSA-P521-SHA512 (1.3.6.1.5.5.7.6.54).
    MlDsa87EcdsaP521Sha512,
}

impl CompositeAlgorithm {
    /// Every composite algorithm of the draft, in OID order.
    pub const ALL: [Self; 18] = [
        Self::MlDsa44Rsa2048PssSha256,
        Self::MlDsa44Rsa2048Pkcs15Sha256,
        Self::MlDsa44Ed25519Sha512,
        Self::MlDsa44EcdsaP256Sha256,
        Self::MlDsa65Rsa3072PssSha512,
        Self::MlDsa65Rsa3072Pkcs15Sha512,
        Self::MlDsa65Rsa4096PssSha512,
        Self::MlDsa65Rsa4096Pkcs15Sha512,
        Self::MlDsa65EcdsaP256Sha512,
        Self::MlDsa65EcdsaP384Sha512,
        Self::MlDsa65EcdsaBrainpoolP256r1Sha512,
        Self::MlDsa65Ed25519Sha512,
        Self::MlDsa87EcdsaP384Sha512,
        Self::MlDsa87EcdsaBrainpoolP384r1Sha512,
        Self::MlDsa87Ed448Shake256,
        Self::MlDsa87Rsa3072PssSha512,
        Self::MlDsa87Rsa4096PssSha512,
        Self::MlDsa87EcdsaP521Sha512,
    ];

    const fn spec(self) -> &'static Spec {
        &SPECS[self as usize]
    }

    /// The position in [`ALL`](Self::ALL) (the OID's last arc minus 37).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The algorithm's object identifier (draft §6, early-allocated by IANA: 1.3.6.1.5.5.7.6.37-54).
    pub const fn oid(self) -> const_oid::ObjectIdentifier {
        // id-alg (1.3.6.1.5.5.7.6) and one arc below 128 always fit an OID.
        match const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.6")
            .push_arc(self.spec().oid_arc as u32)
        {
            Ok(oid) => oid,
            Err(_) => panic!("a composite OID fits"),
        }
    }

    /// The DER of the AlgorithmIdentifier's contents (the OID, parameters absent), as
    /// rustls-webpki compares them.
    pub(crate) const fn algorithm_identifier_contents(self) -> &'static [u8] {
        &ALGORITHM_IDENTIFIERS[self as usize]
    }

    /// The algorithm's name without the `id-` prefix, e.g. `MLDSA65-ECDSA-P384-SHA512`.
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// The domain-separation label (draft §6, "Label").
    pub const fn label(self) -> &'static [u8] {
        self.spec().label
    }

    /// The readable name `qtls pki --profile` and `qtls hsm keygen --alg` take, e.g.
    /// `mldsa65-rsa4096-pss`.
    pub const fn cli_name(self) -> &'static str {
        self.spec().cli_name
    }

    /// The SignatureScheme name of draft-reddy-tls-composite-mldsa-10, e.g.
    /// `mldsa65_ecdsa_secp384r1_sha512` (draft-beck-tls-hybrid-codepoints' for the brainpool
    /// and P-521 composites, which the reddy draft does not cover).
    pub const fn tls_name(self) -> &'static str {
        self.spec().tls_name
    }

    /// The TLS SignatureScheme used by default. [draft-reddy-tls-composite-mldsa-10](https://datatracker.ietf.org/doc/html/draft-reddy-tls-composite-mldsa-10#section-6)
    /// leaves every value TBD: the three ECDSA composites Q-TLS already served keep the values
    /// of the draft's 2024-2025 revisions (0x0907-0x0909), the others take private-use
    /// 0xFF00 | OID arc ([RFC 8446 §4.2.3](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.3)).
    pub const fn default_code_point(self) -> u16 {
        self.spec().default_code_point
    }

    /// Whether TLS 1.3 CertificateVerify may use it: every composite but the three with
    /// RSASSA-PKCS1-v1_5, which are for certificates only ([draft-reddy-tls-composite-mldsa-10 §3](https://datatracker.ietf.org/doc/html/draft-reddy-tls-composite-mldsa-10#section-3)).
    pub const fn tls_certificate_verify(self) -> bool {
        !matches!(self.spec().traditional, Traditional::RsaPkcs1v15 { .. })
    }

    /// For a composite that may not sign a TLS 1.3 CertificateVerify (RSASSA-PKCS1-v1_5),
    /// the one with the same ML-DSA level and RSA size that may (RSASSA-PSS); else itself.
    pub const fn certificate_verify_counterpart(self) -> Self {
        match self {
            Self::MlDsa44Rsa2048Pkcs15Sha256 => Self::MlDsa44Rsa2048PssSha256,
            Self::MlDsa65Rsa3072Pkcs15Sha512 => Self::MlDsa65Rsa3072PssSha512,
            Self::MlDsa65Rsa4096Pkcs15Sha512 => Self::MlDsa65Rsa4096PssSha512,
            other => other,
        }
    }

    /// The ML-DSA component.
    pub const fn ml_dsa(self) -> MlDsaLevel {
        self.spec().ml_dsa
    }

    /// The traditional component.
    pub const fn traditional(self) -> Traditional {
        self.spec().traditional
    }

    /// The pre-hash PH.
    pub const fn prehash(self) -> PreHash {
        self.spec().prehash
    }

    /// Composite public key length (draft Appendix A).
    pub const fn public_key_len(self) -> EncodedLen {
        self.spec().public_key
    }

    /// Composite private key length of the canonical encoding (draft Appendix A).
    pub const fn private_key_len(self) -> EncodedLen {
        self.spec().private_key
    }

    /// Composite signature length (draft Appendix A).
    pub const fn signature_len(self) -> EncodedLen {
        self.spec().signature
    }

    /// The algorithm with this OID.
    pub fn from_oid(oid: &const_oid::ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.oid() == *oid)
    }

    /// The algorithm by any of its names, case-insensitively and with `_` for `-`: the
    /// draft's (with or without `id-`), [`cli_name`](Self::cli_name) or
    /// [`tls_name`](Self::tls_name).
    pub fn from_name(name: &str) -> Option<Self> {
        let normal = |s: &str| s.to_ascii_lowercase().replace('_', "-");
        let wanted = normal(name);
        let wanted = wanted.strip_prefix("id-").unwrap_or(&wanted);
        Self::ALL.into_iter().find(|alg| {
            [alg.name(), alg.cli_name(), alg.tls_name()]
                .iter()
                .any(|known| normal(known) == wanted)
        })
    }

    /// Checks a composite public key: the size table's length and the traditional
    /// component's encoding (an uncompressed point, a DER RSAPublicKey of the exact
    /// modulus size, a raw EdDSA key) (draft §4.1, Appendix A).
    pub fn check_public_key(self, public_key: &[u8]) -> Result<(), Error> {
        self.split_public_key(public_key).map(|_| ())
    }

    /// Splits a checked composite public key into the ML-DSA key and the traditional key
    /// ([`check_public_key`](Self::check_public_key) says what is checked).
    // aws-lc also parses X9.62's compressed and hybrid (0x06/0x07) forms and SPKI-wrapped
    // RSA keys; the draft allows neither, so the forms are checked here.
    pub fn split_public_key(self, public_key: &[u8]) -> Result<(&[u8], &[u8]), Error> {
        let invalid = |reason: String| Error::InvalidPublicKey {
            algorithm: self.name(),
            reason,
        };
        let ml_dsa_len = self.ml_dsa().public_key_len();
        if !self.public_key_len().admits(public_key.len(), ml_dsa_len) {
            return Err(invalid(format!(
                "{} bytes, expected {}",
                public_key.len(),
                describe(self.public_key_len(), ml_dsa_len)
            )));
        }
        let (ml_dsa, traditional) = public_key.split_at(ml_dsa_len);
        self.traditional()
            .check_public_key(traditional)
            .map_err(invalid)?;
        Ok((ml_dsa, traditional))
    }

    /// Splits a composite signature into the ML-DSA and traditional signatures, or `None`
    /// for a length the size table does not allow.
    pub fn split_signature(self, signature: &[u8]) -> Option<(&[u8], &[u8])> {
        let ml_dsa_len = self.ml_dsa().signature_len();
        self.signature_len()
            .admits(signature.len(), ml_dsa_len)
            .then(|| signature.split_at(ml_dsa_len))
    }

    /// M' = Prefix ‖ Label ‖ len(ctx) ‖ ctx ‖ PH(M) (draft §2.2).
    pub fn message_representative(self, message: &[u8], context: &[u8]) -> Result<Vec<u8>, Error> {
        combiner::message_representative(self, message, context)
    }
}

fn describe(len: EncodedLen, ml_dsa_len: usize) -> String {
    match len {
        EncodedLen::Exact(n) => n.to_string(),
        EncodedLen::AtMost(n) => format!("{} to {n}", ml_dsa_len + 1),
    }
}

/// `06 08 2B 06 01 05 05 07 06 <arc>` for each algorithm.
static ALGORITHM_IDENTIFIERS: [[u8; 10]; 18] = {
    let mut all = [[6, 8, 0x2b, 6, 1, 5, 5, 7, 6, 0]; 18];
    let mut i = 0;
    while i < 18 {
        all[i][9] = SPECS[i].oid_arc;
        i += 1;
    }
    all
};

/// A composite private key: the ML-DSA half and the traditional half.
pub(crate) struct CompositeKey {
    algorithm: CompositeAlgorithm,
    ml_dsa: MlDsaKey,
    traditional: TradKey,
    public_key: Vec<u8>,
}

impl CompositeKey {
    /// KeyGen (draft §3.1): both components fresh.
    pub(crate) fn generate(algorithm: CompositeAlgorithm, backend: Backend) -> Result<Self, Error> {
        let ml_dsa = MlDsaKey::generate(algorithm.ml_dsa(), backend)?;
        let traditional = TradKey::generate(algorithm.traditional())?;
        Ok(Self::new(algorithm, ml_dsa, traditional))
    }

    /// From the raw composite private key: ML-DSA seed (32) ‖ the traditional private key
    /// in the draft's encoding (§4.2).
    pub(crate) fn from_raw(
        algorithm: CompositeAlgorithm,
        backend: Backend,
        raw: &[u8],
    ) -> Result<Self, Error> {
        if raw.len() <= SEED_LEN {
            return Err(Error::InvalidPrivateKey(format!(
                "{} private key is {} bytes, too short for seed ‖ {} key",
                algorithm.name(),
                raw.len(),
                algorithm.traditional().name()
            )));
        }
        let (seed, traditional) = raw.split_at(SEED_LEN);
        let seed: &[u8; SEED_LEN] = seed
            .try_into()
            .map_err(|_| Error::InvalidPrivateKey("composite seed".into()))?;
        let ml_dsa = MlDsaKey::from_seed(algorithm.ml_dsa(), backend, seed)?;
        let traditional = TradKey::from_der(algorithm.traditional(), traditional)?;
        Ok(Self::new(algorithm, ml_dsa, traditional))
    }

    fn new(algorithm: CompositeAlgorithm, ml_dsa: MlDsaKey, traditional: TradKey) -> Self {
        let public_key = [ml_dsa.public_key(), &traditional.public_key()].concat();
        Self {
            algorithm,
            ml_dsa,
            traditional,
            public_key,
        }
    }

    pub(crate) fn algorithm(&self) -> CompositeAlgorithm {
        self.algorithm
    }

    pub(crate) fn backend(&self) -> Backend {
        self.ml_dsa.backend()
    }

    pub(crate) fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The raw private key: seed ‖ the traditional key's canonical encoding.
    pub(crate) fn to_raw(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let seed = self.ml_dsa.seed().ok_or_else(|| {
            Error::InvalidPrivateKey("composite key has no ML-DSA seed to export".into())
        })?;
        let traditional = self.traditional.to_der()?;
        Ok(Zeroizing::new(
            [seed.as_slice(), traditional.as_slice()].concat(),
        ))
    }

    /// Composite-ML-DSA.Sign(sk, M, ctx) (draft §3.2).
    pub(crate) fn sign(&self, message: &[u8], context: &[u8]) -> Result<Vec<u8>, Error> {
        let representative = self.algorithm.message_representative(message, context)?;
        let ml_dsa_sig = self.ml_dsa.sign(&representative, self.algorithm.label())?;
        let traditional_sig = self.traditional.sign(&representative)?;
        Ok([ml_dsa_sig, traditional_sig].concat())
    }
}

/// Composite-ML-DSA.Verify(pk, M, ctx, s) (draft §3.3): both halves must verify; any length
/// or encoding problem makes the signature invalid.
pub(crate) fn verify(
    algorithm: CompositeAlgorithm,
    backend: Backend,
    public_key: &[u8],
    message: &[u8],
    context: &[u8],
    signature: &[u8],
) -> bool {
    let Ok((ml_dsa_pk, traditional_pk)) = algorithm.split_public_key(public_key) else {
        return false;
    };
    let Some((ml_dsa_sig, traditional_sig)) = algorithm.split_signature(signature) else {
        return false;
    };
    let Ok(representative) = algorithm.message_representative(message, context) else {
        return false;
    };
    let ml_dsa_ok = mldsa::verify(
        algorithm.ml_dsa(),
        backend,
        ml_dsa_pk,
        &representative,
        algorithm.label(),
        ml_dsa_sig,
    );
    let traditional_ok = traditional::verify(
        algorithm.traditional(),
        traditional_pk,
        &representative,
        traditional_sig,
    );
    ml_dsa_ok && traditional_ok
}

/// The traditional half alone: Trad.Verify(tradPK, M', tradSig), with the draft's encoding
/// checks on the key.
pub(crate) fn traditional_verify(
    algorithm: CompositeAlgorithm,
    public_key: &[u8],
    representative: &[u8],
    signature: &[u8],
) -> bool {
    traditional::verify(
        algorithm.traditional(),
        public_key,
        representative,
        signature,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_table_matches_the_enum_and_the_oids() {
        for (i, algorithm) in CompositeAlgorithm::ALL.into_iter().enumerate() {
            assert_eq!(algorithm.index(), i);
            assert_eq!(
                algorithm.oid().to_string(),
                format!("1.3.6.1.5.5.7.6.{}", 37 + i)
            );
            let der = der::Encode::to_der(&algorithm.oid()).unwrap();
            assert_eq!(algorithm.algorithm_identifier_contents(), der.as_slice());
            assert_eq!(
                CompositeAlgorithm::from_oid(&algorithm.oid()),
                Some(algorithm)
            );
            let label = core::str::from_utf8(algorithm.label()).unwrap();
            assert!(label.starts_with("COMPSIG-MLDSA"), "{label}");
            for name in [
                algorithm.name().to_owned(),
                format!("id-{}", algorithm.name()),
                algorithm.cli_name().to_owned(),
                algorithm.tls_name().to_owned(),
                algorithm.cli_name().to_uppercase().replace('-', "_"),
            ] {
                assert_eq!(
                    CompositeAlgorithm::from_name(&name),
                    Some(algorithm),
                    "{name}"
                );
            }
        }
        assert_eq!(CompositeAlgorithm::from_name("mldsa65-rsa4096"), None);
        for algorithm in CompositeAlgorithm::ALL {
            let counterpart = algorithm.certificate_verify_counterpart();
            assert!(counterpart.tls_certificate_verify());
            assert_eq!(counterpart.ml_dsa(), algorithm.ml_dsa());
            assert_eq!(counterpart == algorithm, algorithm.tls_certificate_verify());
            if let (
                Traditional::RsaPkcs1v15 { bits, .. },
                Traditional::RsaPss { bits: pss_bits, .. },
            ) = (algorithm.traditional(), counterpart.traditional())
            {
                assert_eq!(bits, pss_bits);
            }
        }
    }

    #[test]
    fn ecdsa_points_must_be_uncompressed() {
        for algorithm in CompositeAlgorithm::ALL {
            let Traditional::Ecdsa { curve, .. } = algorithm.traditional() else {
                continue;
            };
            let key = CompositeKey::generate(algorithm, Backend::AwsLc).unwrap();
            let public_key = key.public_key().to_vec();
            let (ml_dsa, point) = algorithm.split_public_key(&public_key).unwrap();
            assert_eq!(ml_dsa.len(), algorithm.ml_dsa().public_key_len());
            assert_eq!(point.len(), curve.point_len());
            let offset = ml_dsa.len();
            for prefix in [0x00, 0x02, 0x03, 0x05, 0x06, 0x07] {
                let mut modified = public_key.clone();
                modified[offset] = prefix;
                match algorithm.split_public_key(&modified) {
                    Err(Error::InvalidPublicKey {
                        algorithm: name,
                        reason,
                    }) => {
                        assert_eq!(name, algorithm.name());
                        assert!(reason.contains(&format!("{prefix:#04x}")), "{reason}");
                    }
                    other => panic!("prefix {prefix:#04x}: {other:?}"),
                }
            }
            for len in [0, offset, public_key.len() - 1, public_key.len() + 1] {
                let mut resized = public_key.clone();
                resized.resize(len, 0x04);
                assert!(matches!(
                    algorithm.split_public_key(&resized),
                    Err(Error::InvalidPublicKey { .. })
                ));
            }
        }
    }
}
