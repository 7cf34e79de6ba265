//! Algorithm profiles: which key and signature algorithms a whole hierarchy uses.

use core::fmt;
use core::str::FromStr;

use qtls_provider::{CompositeAlgorithm, EcCurve, KeyAlgorithm, MlDsaLevel};

use crate::error::Error;

/// The key and signature algorithms of the certificates in a [`Pki`](crate::Pki).
///
/// Spelled on command lines by [`Profile::name`]: one readable name per composite algorithm
/// of draft-ietf-lamps-pq-composite-sigs-19 (`mldsa65-ecdsa-p384`, the default, also
/// spelled `composite`; `mldsa65-rsa4096-pss`, `mldsa87-ed448`, ...), and `mldsa65`,
/// `mldsa87`, `ecdsa-p384`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Composite ML-DSA for every key
    /// ([draft-ietf-lamps-pq-composite-sigs-19](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19)).
    /// With an RSASSA-PKCS1-v1_5 composite, which may not sign a TLS 1.3 CertificateVerify
    /// (draft-reddy-tls-composite-mldsa-10 §3), only the CAs and the OCSP responder use it:
    /// the TLS server and client keys use the RSASSA-PSS composite of the same sizes
    /// ([`Profile::leaf_key_algorithm`]).
    Composite(CompositeAlgorithm),
    /// Pure ML-DSA-65 (FIPS 204, RFC 9881, OID 2.16.840.1.101.3.4.3.18).
    MlDsa65,
    /// Pure ML-DSA-87 (FIPS 204, RFC 9881, OID 2.16.840.1.101.3.4.3.19).
    MlDsa87,
    /// Classical ECDSA P-384 with SHA-384 (RFC 5758).
    EcdsaP384,
}

impl Default for Profile {
    fn default() -> Self {
        Self::COMPOSITE
    }
}

impl Profile {
    /// The default: composite MLDSA65-ECDSA-P384-SHA512 (OID 1.3.6.1.5.5.7.6.46).
    pub const COMPOSITE: Self = Self::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512);

    /// Every profile: the default, the other 17 composites in OID order, then `mldsa65`,
    /// `mldsa87` and `ecdsa-p384`.
    pub const ALL: [Self; 21] = {
        let mut all = [Self::COMPOSITE; 21];
        let (mut i, mut next) = (0, 1);
        while i < CompositeAlgorithm::ALL.len() {
            let alg = CompositeAlgorithm::ALL[i];
            if !matches!(alg, CompositeAlgorithm::MlDsa65EcdsaP384Sha512) {
                all[next] = Self::Composite(alg);
                next += 1;
            }
            i += 1;
        }
        all[18] = Self::MlDsa65;
        all[19] = Self::MlDsa87;
        all[20] = Self::EcdsaP384;
        all
    };

    /// The command-line spelling: `mldsa65-ecdsa-p384`, `mldsa65-rsa4096-pss`, `mldsa65`,
    /// `ecdsa-p384`, ... ([`CompositeAlgorithm::cli_name`] for composites).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Composite(alg) => alg.cli_name(),
            Self::MlDsa65 => "mldsa65",
            Self::MlDsa87 => "mldsa87",
            Self::EcdsaP384 => "ecdsa-p384",
        }
    }

    /// What the profile issues, for `--help`: the algorithm's name and, for the
    /// RSASSA-PKCS1-v1_5 composites, the algorithm of the TLS leaves.
    pub fn description(self) -> String {
        let (ca, leaf) = (self.key_algorithm(), self.leaf_key_algorithm());
        let mut text = if ca == leaf {
            ca.name().to_owned()
        } else {
            format!("{ca} CAs and OCSP responder, {leaf} TLS server and client keys")
        };
        if self == Self::COMPOSITE {
            text.push_str(" (the default; also `composite`)");
        }
        text
    }

    /// The key algorithm of the CAs and the OCSP responder, which sign certificates, CRLs
    /// and OCSP responses.
    pub const fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            Self::Composite(alg) => KeyAlgorithm::Composite(alg),
            Self::MlDsa65 => KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
            Self::MlDsa87 => KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa87),
            Self::EcdsaP384 => KeyAlgorithm::Ecdsa(EcCurve::P384),
        }
    }

    /// The key algorithm of the TLS server and client keys, which sign CertificateVerify:
    /// [`Profile::key_algorithm`], except that an RSASSA-PKCS1-v1_5 composite becomes its
    /// RSASSA-PSS counterpart ([`CompositeAlgorithm::certificate_verify_counterpart`]).
    pub const fn leaf_key_algorithm(self) -> KeyAlgorithm {
        match self {
            Self::Composite(alg) => KeyAlgorithm::Composite(alg.certificate_verify_counterpart()),
            other => other.key_algorithm(),
        }
    }

    /// The profile whose CA keys use `algorithm`, if there is one.
    pub fn from_key_algorithm(algorithm: KeyAlgorithm) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|profile| profile.key_algorithm() == algorithm)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = Error;

    /// Accepts [`Profile::name`] case-insensitively, `composite` for the default, and every
    /// spelling [`KeyAlgorithm`]'s `FromStr` accepts for the profiles' algorithms (for
    /// example `MLDSA65-RSA4096-PSS-SHA512`, `id-MLDSA87-Ed448-SHAKE256`, `ML-DSA-65`, `p384`).
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.eq_ignore_ascii_case("composite") {
            return Ok(Self::COMPOSITE);
        }
        Self::ALL
            .into_iter()
            .find(|profile| profile.name().eq_ignore_ascii_case(s))
            .or_else(|| {
                s.parse::<KeyAlgorithm>()
                    .ok()
                    .and_then(Self::from_key_algorithm)
            })
            .ok_or_else(|| Error::UnknownProfile(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_round_trip() {
        for profile in Profile::ALL {
            assert_eq!(profile.to_string().parse::<Profile>().unwrap(), profile);
            assert_eq!(
                profile.key_algorithm().name().parse::<Profile>().unwrap(),
                profile
            );
            assert_eq!(
                Profile::from_key_algorithm(profile.key_algorithm()),
                Some(profile)
            );
        }
        let names: std::collections::HashSet<_> = Profile::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names.len(), Profile::ALL.len());
        assert_eq!("ECDSA-P384".parse::<Profile>().unwrap(), Profile::EcdsaP384);
        assert_eq!("p384".parse::<Profile>().unwrap(), Profile::EcdsaP384);
        for default in [
            "composite",
            "mldsa65-ecdsa-p384",
            "MLDSA65-ECDSA-P384-SHA512",
        ] {
            assert_eq!(default.parse::<Profile>().unwrap(), Profile::COMPOSITE);
        }
        assert_eq!(
            "mldsa65-rsa4096-pss".parse::<Profile>().unwrap(),
            Profile::Composite(CompositeAlgorithm::MlDsa65Rsa4096PssSha512)
        );
        assert_eq!(
            "id-MLDSA87-Ed448-SHAKE256".parse::<Profile>().unwrap(),
            Profile::Composite(CompositeAlgorithm::MlDsa87Ed448Shake256)
        );
        // Algorithms qtls-provider has but no profile uses.
        assert!("mldsa44".parse::<Profile>().is_err());
        assert_eq!(Profile::default().key_algorithm(), KeyAlgorithm::DEFAULT);
        let unknown = "rsa".parse::<Profile>().unwrap_err().to_string();
        assert!(unknown.contains("\"rsa\""), "{unknown}");
        assert!(unknown.contains("mldsa44-rsa2048-pkcs15"), "{unknown}");
    }

    #[test]
    fn pkcs1_v15_profiles_give_tls_leaves_the_pss_composite() {
        for profile in Profile::ALL {
            let (ca, leaf) = (profile.key_algorithm(), profile.leaf_key_algorithm());
            match ca {
                KeyAlgorithm::Composite(alg) if !alg.tls_certificate_verify() => {
                    let KeyAlgorithm::Composite(leaf) = leaf else {
                        panic!("{profile}: {leaf}")
                    };
                    assert!(leaf.tls_certificate_verify());
                    assert!(
                        leaf.name().replace("PSS", "PKCS15") == alg.name(),
                        "{profile}"
                    );
                    assert!(profile.description().contains(leaf.name()));
                }
                _ => assert_eq!(ca, leaf, "{profile}"),
            }
        }
    }
}
