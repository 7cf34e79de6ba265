//! The 18 composite algorithms of [draft-ietf-lamps-pq-composite-sigs-19 §6](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-6)
//! (OIDs, labels, pre-hashes, component parameters) with the sizes of its Appendix A, and
//! the TLS names of [draft-reddy-tls-composite-mldsa-10 §2](https://datatracker.ietf.org/doc/html/draft-reddy-tls-composite-mldsa-10#section-2).

use super::combiner::PreHash;
use super::traditional::{ComponentHash, CompositeCurve, Traditional};
use super::CompositeAlgorithm;
use crate::mldsa::MlDsaLevel;

/// A length from the draft's size table (Appendix A): fixed, or a maximum where the draft
/// marks it `*` (RSA keys, DER ECDSA signatures).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncodedLen {
    /// Exactly this many bytes.
    Exact(usize),
    /// At most this many bytes (and more than the ML-DSA component alone).
    AtMost(usize),
}

impl EncodedLen {
    /// Whether `len` bytes are allowed, given that the ML-DSA component alone takes
    /// `ml_dsa_len` bytes and the traditional one at least one.
    pub const fn admits(self, len: usize, ml_dsa_len: usize) -> bool {
        match self {
            Self::Exact(n) => len == n,
            Self::AtMost(n) => len > ml_dsa_len && len <= n,
        }
    }

    /// The largest length allowed.
    pub const fn max(self) -> usize {
        match self {
            Self::Exact(n) | Self::AtMost(n) => n,
        }
    }
}

/// One row of the algorithm table.
pub(crate) struct Spec {
    pub(crate) algorithm: CompositeAlgorithm,
    /// The draft's name without `id-`.
    pub(crate) name: &'static str,
    /// 1.3.6.1.5.5.7.6.<oid_arc>.
    pub(crate) oid_arc: u8,
    pub(crate) label: &'static [u8],
    pub(crate) ml_dsa: MlDsaLevel,
    pub(crate) traditional: Traditional,
    pub(crate) prehash: PreHash,
    pub(crate) public_key: EncodedLen,
    pub(crate) private_key: EncodedLen,
    pub(crate) signature: EncodedLen,
    /// The readable name `qtls pki` and `qtls hsm` take.
    pub(crate) cli_name: &'static str,
    /// draft-reddy-tls-composite-mldsa-10's SignatureScheme name (draft-beck-tls-hybrid-codepoints'
    /// for the three reddy leaves out: brainpool and P-521).
    pub(crate) tls_name: &'static str,
    /// Q-TLS's provisional SignatureScheme value (the drafts assign none: all TBD).
    pub(crate) default_code_point: u16,
}

/// The table, in OID order: `SPECS[alg.index()].algorithm == alg`.
pub(crate) const SPECS: [Spec; 18] = [
    Spec {
        algorithm: CompositeAlgorithm::MlDsa44Rsa2048PssSha256,
        name: "MLDSA44-RSA2048-PSS-SHA256",
        oid_arc: 37,
        label: b"COMPSIG-MLDSA44-RSA2048-PSS-SHA256",
        ml_dsa: MlDsaLevel::MlDsa44,
        traditional: Traditional::RsaPss {
            bits: 2048,
            hash: ComponentHash::Sha256,
        },
        prehash: PreHash::Sha256,
        public_key: EncodedLen::AtMost(1582),
        private_key: EncodedLen::AtMost(1226),
        signature: EncodedLen::Exact(2676),
        cli_name: "mldsa44-rsa2048-pss",
        tls_name: "mldsa44_rsa2048_pss_sha256",
        default_code_point: 0xFF25,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256,
        name: "MLDSA44-RSA2048-PKCS15-SHA256",
        oid_arc: 38,
        label: b"COMPSIG-MLDSA44-RSA2048-PKCS15-SHA256",
        ml_dsa: MlDsaLevel::MlDsa44,
        traditional: Traditional::RsaPkcs1v15 {
            bits: 2048,
            hash: ComponentHash::Sha256,
        },
        prehash: PreHash::Sha256,
        public_key: EncodedLen::AtMost(1582),
        private_key: EncodedLen::AtMost(1226),
        signature: EncodedLen::Exact(2676),
        cli_name: "mldsa44-rsa2048-pkcs15",
        tls_name: "mldsa44_rsa2048_pkcs15_sha256",
        default_code_point: 0xFF26,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa44Ed25519Sha512,
        name: "MLDSA44-Ed25519-SHA512",
        oid_arc: 39,
        label: b"COMPSIG-MLDSA44-Ed25519-SHA512",
        ml_dsa: MlDsaLevel::MlDsa44,
        traditional: Traditional::Ed25519,
        prehash: PreHash::Sha512,
        public_key: EncodedLen::Exact(1344),
        private_key: EncodedLen::Exact(64),
        signature: EncodedLen::Exact(2484),
        cli_name: "mldsa44-ed25519",
        tls_name: "mldsa44_ed25519_sha512",
        default_code_point: 0xFF27,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa44EcdsaP256Sha256,
        name: "MLDSA44-ECDSA-P256-SHA256",
        oid_arc: 40,
        label: b"COMPSIG-MLDSA44-ECDSA-P256-SHA256",
        ml_dsa: MlDsaLevel::MlDsa44,
        traditional: Traditional::Ecdsa {
            curve: CompositeCurve::P256,
            hash: ComponentHash::Sha256,
        },
        prehash: PreHash::Sha256,
        public_key: EncodedLen::Exact(1377),
        private_key: EncodedLen::Exact(83),
        signature: EncodedLen::AtMost(2492),
        cli_name: "mldsa44-ecdsa-p256",
        tls_name: "mldsa44_ecdsa_secp256r1_sha256",
        default_code_point: 0x0907,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa65Rsa3072PssSha512,
        name: "MLDSA65-RSA3072-PSS-SHA512",
        oid_arc: 41,
        label: b"COMPSIG-MLDSA65-RSA3072-PSS-SHA512",
        ml_dsa: MlDsaLevel::MlDsa65,
        traditional: Traditional::RsaPss {
            bits: 3072,
            hash: ComponentHash::Sha256,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::AtMost(2350),
        private_key: EncodedLen::AtMost(1802),
        signature: EncodedLen::Exact(3693),
        cli_name: "mldsa65-rsa3072-pss",
        tls_name: "mldsa65_rsa3072_pss_sha512",
        default_code_point: 0xFF29,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa65Rsa3072Pkcs15Sha512,
        name: "MLDSA65-RSA3072-PKCS15-SHA512",
        oid_arc: 42,
        label: b"COMPSIG-MLDSA65-RSA3072-PKCS15-SHA512",
        ml_dsa: MlDsaLevel::MlDsa65,
        traditional: Traditional::RsaPkcs1v15 {
            bits: 3072,
            hash: ComponentHash::Sha256,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::AtMost(2350),
        private_key: EncodedLen::AtMost(1802),
        signature: EncodedLen::Exact(3693),
        cli_name: "mldsa65-rsa3072-pkcs15",
        tls_name: "mldsa65_rsa3072_pkcs15_sha512",
        default_code_point: 0xFF2A,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa65Rsa4096PssSha512,
        name: "MLDSA65-RSA4096-PSS-SHA512",
        oid_arc: 43,
        label: b"COMPSIG-MLDSA65-RSA4096-PSS-SHA512",
        ml_dsa: MlDsaLevel::MlDsa65,
        traditional: Traditional::RsaPss {
            bits: 4096,
            hash: ComponentHash::Sha384,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::AtMost(2478),
        private_key: EncodedLen::AtMost(2383),
        signature: EncodedLen::Exact(3821),
        cli_name: "mldsa65-rsa4096-pss",
        tls_name: "mldsa65_rsa4096_pss_sha512",
        default_code_point: 0xFF2B,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa65Rsa4096Pkcs15Sha512,
        name: "MLDSA65-RSA4096-PKCS15-SHA512",
        oid_arc: 44,
        label: b"COMPSIG-MLDSA65-RSA4096-PKCS15-SHA512",
        ml_dsa: MlDsaLevel::MlDsa65,
        traditional: Traditional::RsaPkcs1v15 {
            bits: 4096,
            hash: ComponentHash::Sha384,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::AtMost(2478),
        private_key: EncodedLen::AtMost(2383),
        signature: EncodedLen::Exact(3821),
        cli_name: "mldsa65-rsa4096-pkcs15",
        tls_name: "mldsa65_rsa4096_pkcs15_sha512",
        default_code_point: 0xFF2C,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa65EcdsaP256Sha512,
        name: "MLDSA65-ECDSA-P256-SHA512",
        oid_arc: 45,
        label: b"COMPSIG-MLDSA65-ECDSA-P256-SHA512",
        ml_dsa: MlDsaLevel::MlDsa65,
        traditional: Traditional::Ecdsa {
            curve: CompositeCurve::P256,
            hash: ComponentHash::Sha256,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::Exact(2017),
        private_key: EncodedLen::Exact(83),
        signature: EncodedLen::AtMost(3381),
        cli_name: "mldsa65-ecdsa-p256",
        tls_name: "mldsa65_ecdsa_secp256r1_sha512",
        default_code_point: 0xFF2D,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa65EcdsaP384Sha512,
        name: "MLDSA65-ECDSA-P384-SHA512",
        oid_arc: 46,
        label: b"COMPSIG-MLDSA65-ECDSA-P384-SHA512",
        ml_dsa: MlDsaLevel::MlDsa65,
        traditional: Traditional::Ecdsa {
            curve: CompositeCurve::P384,
            hash: ComponentHash::Sha384,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::Exact(2049),
        private_key: EncodedLen::Exact(96),
        signature: EncodedLen::AtMost(3413),
        cli_name: "mldsa65-ecdsa-p384",
        tls_name: "mldsa65_ecdsa_secp384r1_sha512",
        default_code_point: 0x0908,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa65EcdsaBrainpoolP256r1Sha512,
        name: "MLDSA65-ECDSA-brainpoolP256r1-SHA512",
        oid_arc: 47,
        label: b"COMPSIG-MLDSA65-ECDSA-BP256-SHA512",
        ml_dsa: MlDsaLevel::MlDsa65,
        traditional: Traditional::Ecdsa {
            curve: CompositeCurve::BrainpoolP256r1,
            hash: ComponentHash::Sha256,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::Exact(2017),
        private_key: EncodedLen::Exact(84),
        signature: EncodedLen::AtMost(3381),
        cli_name: "mldsa65-ecdsa-bp256",
        tls_name: "mldsa65_ecdsa_brainpoolP256r1tls13_sha512",
        default_code_point: 0xFF2F,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa65Ed25519Sha512,
        name: "MLDSA65-Ed25519-SHA512",
        oid_arc: 48,
        label: b"COMPSIG-MLDSA65-Ed25519-SHA512",
        ml_dsa: MlDsaLevel::MlDsa65,
        traditional: Traditional::Ed25519,
        prehash: PreHash::Sha512,
        public_key: EncodedLen::Exact(1984),
        private_key: EncodedLen::Exact(64),
        signature: EncodedLen::Exact(3373),
        cli_name: "mldsa65-ed25519",
        tls_name: "mldsa65_ed25519_sha512",
        default_code_point: 0xFF30,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa87EcdsaP384Sha512,
        name: "MLDSA87-ECDSA-P384-SHA512",
        oid_arc: 49,
        label: b"COMPSIG-MLDSA87-ECDSA-P384-SHA512",
        ml_dsa: MlDsaLevel::MlDsa87,
        traditional: Traditional::Ecdsa {
            curve: CompositeCurve::P384,
            hash: ComponentHash::Sha384,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::Exact(2689),
        private_key: EncodedLen::Exact(96),
        signature: EncodedLen::AtMost(4731),
        cli_name: "mldsa87-ecdsa-p384",
        tls_name: "mldsa87_ecdsa_secp384r1_sha512",
        default_code_point: 0x0909,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa87EcdsaBrainpoolP384r1Sha512,
        name: "MLDSA87-ECDSA-brainpoolP384r1-SHA512",
        oid_arc: 50,
        label: b"COMPSIG-MLDSA87-ECDSA-BP384-SHA512",
        ml_dsa: MlDsaLevel::MlDsa87,
        traditional: Traditional::Ecdsa {
            curve: CompositeCurve::BrainpoolP384r1,
            hash: ComponentHash::Sha384,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::Exact(2689),
        private_key: EncodedLen::Exact(100),
        signature: EncodedLen::AtMost(4731),
        cli_name: "mldsa87-ecdsa-bp384",
        tls_name: "mldsa87_ecdsa_brainpoolP384r1tls13_sha512",
        default_code_point: 0xFF32,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa87Ed448Shake256,
        name: "MLDSA87-Ed448-SHAKE256",
        oid_arc: 51,
        label: b"COMPSIG-MLDSA87-Ed448-SHAKE256",
        ml_dsa: MlDsaLevel::MlDsa87,
        traditional: Traditional::Ed448,
        prehash: PreHash::Shake256,
        public_key: EncodedLen::Exact(2649),
        private_key: EncodedLen::Exact(89),
        signature: EncodedLen::Exact(4741),
        cli_name: "mldsa87-ed448",
        tls_name: "mldsa87_ed448_shake256",
        default_code_point: 0xFF33,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa87Rsa3072PssSha512,
        name: "MLDSA87-RSA3072-PSS-SHA512",
        oid_arc: 52,
        label: b"COMPSIG-MLDSA87-RSA3072-PSS-SHA512",
        ml_dsa: MlDsaLevel::MlDsa87,
        traditional: Traditional::RsaPss {
            bits: 3072,
            hash: ComponentHash::Sha256,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::AtMost(2990),
        private_key: EncodedLen::AtMost(1802),
        signature: EncodedLen::Exact(5011),
        cli_name: "mldsa87-rsa3072-pss",
        tls_name: "mldsa87_rsa3072_pss_sha512",
        default_code_point: 0xFF34,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa87Rsa4096PssSha512,
        name: "MLDSA87-RSA4096-PSS-SHA512",
        oid_arc: 53,
        label: b"COMPSIG-MLDSA87-RSA4096-PSS-SHA512",
        ml_dsa: MlDsaLevel::MlDsa87,
        traditional: Traditional::RsaPss {
            bits: 4096,
            hash: ComponentHash::Sha384,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::AtMost(3118),
        private_key: EncodedLen::AtMost(2383),
        signature: EncodedLen::Exact(5139),
        cli_name: "mldsa87-rsa4096-pss",
        tls_name: "mldsa87_rsa4096_pss_sha512",
        default_code_point: 0xFF35,
    },
    Spec {
        algorithm: CompositeAlgorithm::MlDsa87EcdsaP521Sha512,
        name: "MLDSA87-ECDSA-P521-SHA512",
        oid_arc: 54,
        label: b"COMPSIG-MLDSA87-ECDSA-P521-SHA512",
        ml_dsa: MlDsaLevel::MlDsa87,
        traditional: Traditional::Ecdsa {
            curve: CompositeCurve::P521,
            hash: ComponentHash::Sha512,
        },
        prehash: PreHash::Sha512,
        public_key: EncodedLen::Exact(2725),
        private_key: EncodedLen::Exact(114),
        signature: EncodedLen::AtMost(4766),
        cli_name: "mldsa87-ecdsa-p521",
        tls_name: "mldsa87_ecdsa_secp521r1_sha512",
        default_code_point: 0xFF36,
    },
];

const _: () = {
    let mut i = 0;
    while i < SPECS.len() {
        assert!(SPECS[i].algorithm as usize == i);
        assert!(SPECS[i].oid_arc as usize == 37 + i);
        i += 1;
    }
};
