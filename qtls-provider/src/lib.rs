//! A rustls [`CryptoProvider`](rustls::crypto::CryptoProvider) for hybrid post-quantum
//! TLS 1.3.
//!
//! On top of rustls's own aws-lc-rs provider it adds:
//! - the key-exchange groups **SecP384r1MLKEM1024** (0x11ED) and **X25519MLKEM1024**
//!   (private-use 0xFE40 by default), beside rustls's X25519MLKEM768, SecP256r1MLKEM768 and
//!   MLKEM1024 ([`kx_group`]);
//! - **composite ML-DSA** signatures: all 18 algorithms of
//!   [draft-ietf-lamps-pq-composite-sigs-19](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19)
//!   ([`CompositeAlgorithm`]; ML-DSA-44/65/87 with RSASSA-PSS, RSASSA-PKCS1-v1_5, ECDSA on
//!   P-256/P-384/P-521/brainpoolP256r1/brainpoolP384r1, Ed25519 or Ed448) in certificate
//!   chains ([`webpki_algs`]), and the 15 that
//!   [draft-reddy-tls-composite-mldsa-10](https://datatracker.ietf.org/doc/html/draft-reddy-tls-composite-mldsa-10)
//!   and draft-beck-tls-hybrid-codepoints allow in TLS 1.3 CertificateVerify, under settable
//!   provisional code points ([`CodePoints`]: MLDSA65-ECDSA-P384-SHA512 is 0x0908, the
//!   RSASSA-PKCS1-v1_5 composites are X.509 only);
//! - key loading for ML-DSA (seed, expanded or both), composite (every form the draft allows)
//!   and ECDSA keys ([`KeyPair`]);
//! - presets ([`hybrid`], [`pqc_only`], [`compatible`]) and a [`ProviderBuilder`];
//! - a second backend, liboqs, for ML-KEM and ML-DSA (cargo feature `oqs`, [`Backend`]).
//!
//! ```
//! use std::sync::Arc;
//!
//! let provider = Arc::new(qtls_provider::hybrid());
//! let config = rustls::ClientConfig::builder_with_provider(provider)
//!     .with_protocol_versions(qtls_provider::Preset::Hybrid.protocol_versions())?
//!     .with_root_certificates(rustls::RootCertStore::empty())
//!     .with_no_client_auth();
//! # let _ = config;
//! # Ok::<(), rustls::Error>(())
//! ```

#![forbid(unsafe_code)]

mod backend;
mod code_points;
mod composite;
mod ecdsa;
mod error;
mod hybrid;
mod interned;
mod keys;
mod kx;
mod mldsa;
mod mldsa_context;
mod mlkem;
mod provider;
mod sign;
mod suites;
mod verify;

pub use backend::Backend;
pub use code_points::CodePoints;
pub use composite::{
    ComponentHash, CompositeAlgorithm, CompositeCurve, EncodedLen, PreHash, Traditional,
};
pub use ecdsa::EcCurve;
pub use error::{Error, NameKind};
pub use keys::{
    private_key_algorithm_name, private_key_der_from_pem, public_key_algorithm_name, KeyAlgorithm,
    KeyPair,
};
pub use kx::{
    group_by_name, group_display_name, is_post_quantum_group, kx_group,
    x25519_mlkem1024_with_code_point, GROUP_NAMES, SECP384R1MLKEM1024_CODE_POINT,
    X25519MLKEM1024_DEFAULT_CODE_POINT,
};
pub use mldsa::MlDsaLevel;
pub use provider::{compatible, hybrid, pqc_only, Preset, ProviderBuilder};
pub use sign::QtlsSigningKey;
pub use suites::{cipher_suite_by_name, cipher_suites_by_names};
pub use verify::webpki_algs;

/// Low-level primitives, exposed for known-answer tests, benchmarks and cross-checks
/// between backends. Not needed to use the provider.
pub mod primitives {
    use crate::backend::Backend;
    use crate::error::Error;
    use crate::mlkem::{self, MlKemLevel};
    use crate::{CompositeAlgorithm, EcCurve, MlDsaLevel};

    /// ML-KEM-768 or ML-KEM-1024.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum MlKem {
        /// ML-KEM-768.
        MlKem768,
        /// ML-KEM-1024.
        MlKem1024,
    }

    impl MlKem {
        fn level(self) -> MlKemLevel {
            match self {
                Self::MlKem768 => MlKemLevel::MlKem768,
                Self::MlKem1024 => MlKemLevel::MlKem1024,
            }
        }
    }

    /// The FIPS 203 §7.2 modulus check on an encapsulation key (length included).
    pub fn ml_kem_check_encapsulation_key(
        kem: MlKem,
        encapsulation_key: &[u8],
    ) -> Result<(), Error> {
        mlkem::check_encapsulation_key(kem.level(), encapsulation_key)
    }

    /// ML-KEM.Encaps to `encapsulation_key` after the FIPS 203 §7.2 checks:
    /// (ciphertext, shared secret).
    pub fn ml_kem_encapsulate(
        kem: MlKem,
        backend: Backend,
        encapsulation_key: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        mlkem::encapsulate(kem.level(), backend, encapsulation_key)
            .map(|(ct, ss)| (ct, ss.to_vec()))
    }

    /// A fresh ML-KEM decapsulation key.
    pub struct MlKemDecapsulationKey(mlkem::DecapsulationKey);

    impl MlKemDecapsulationKey {
        /// ML-KEM.KeyGen.
        pub fn generate(kem: MlKem, backend: Backend) -> Result<Self, Error> {
            mlkem::DecapsulationKey::generate(kem.level(), backend).map(Self)
        }

        /// From an expanded decapsulation key dk (FIPS 203 Alg. 16 output).
        pub fn from_bytes(
            kem: MlKem,
            backend: Backend,
            decapsulation_key: &[u8],
        ) -> Result<Self, Error> {
            mlkem::DecapsulationKey::from_bytes(kem.level(), backend, decapsulation_key).map(Self)
        }

        /// The expanded decapsulation key dk for the 64-byte seed d ‖ z (FIPS 203
        /// Alg. 16 ML-KEM.KeyGen_internal). Only liboqs exposes derandomised key generation.
        #[cfg(feature = "oqs")]
        pub fn expand_seed(kem: MlKem, seed: &[u8]) -> Result<Vec<u8>, Error> {
            mlkem::expand_seed(kem.level(), seed)
        }

        /// The encapsulation key.
        pub fn encapsulation_key(&self) -> &[u8] {
            self.0.encapsulation_key()
        }

        /// ML-KEM.Decaps.
        pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
            self.0.decapsulate(ciphertext).map(|ss| ss.to_vec())
        }
    }

    /// ECDSA verification (DER signature, the curve's hash), as the composite ECDSA half does.
    pub fn ecdsa_verify(curve: EcCurve, point: &[u8], message: &[u8], signature: &[u8]) -> bool {
        crate::ecdsa::verify(curve, point, message, signature)
    }

    /// A composite's traditional component alone, for benchmarks and cross-checks: the key
    /// the composite would hold beside its ML-DSA key.
    pub struct CompositeTraditionalKey(crate::composite::TradKey);

    impl CompositeTraditionalKey {
        /// A fresh key of `algorithm`'s traditional component.
        pub fn generate(algorithm: CompositeAlgorithm) -> Result<Self, Error> {
            crate::composite::TradKey::generate(algorithm.traditional()).map(Self)
        }

        /// The public key in the draft's encoding (RSAPublicKey, uncompressed point, raw
        /// EdDSA key).
        pub fn public_key(&self) -> Vec<u8> {
            self.0.public_key()
        }

        /// Trad.Sign(tradSK, M'), as the composite signs M'.
        pub fn sign(&self, representative: &[u8]) -> Result<Vec<u8>, Error> {
            self.0.sign(representative)
        }
    }

    /// The traditional half of a composite alone: Trad.Verify(tradPK, M', tradSig) with the
    /// draft's checks on the key's encoding, for known-answer tests of each component.
    pub fn composite_traditional_verify(
        algorithm: CompositeAlgorithm,
        traditional_public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        crate::composite::traditional_verify(algorithm, traditional_public_key, message, signature)
    }

    /// ML-DSA.Verify with a context string on `backend`.
    pub fn ml_dsa_verify(
        level: MlDsaLevel,
        backend: Backend,
        public_key: &[u8],
        message: &[u8],
        context: &[u8],
        signature: &[u8],
    ) -> bool {
        crate::mldsa::verify(level, backend, public_key, message, context, signature)
    }

    /// Composite-ML-DSA.Verify with a context string on `backend`.
    pub fn composite_verify(
        algorithm: CompositeAlgorithm,
        backend: Backend,
        public_key: &[u8],
        message: &[u8],
        context: &[u8],
        signature: &[u8],
    ) -> bool {
        crate::composite::verify(algorithm, backend, public_key, message, context, signature)
    }
}
