//! Algorithm profiles: which key and signature algorithm a whole hierarchy uses.

use core::fmt;
use core::str::FromStr;

use qtls_provider::{CompositeAlgorithm, EcCurve, KeyAlgorithm, MlDsaLevel};

use crate::error::Error;

/// The key and signature algorithm of every certificate in a [`Pki`](crate::Pki).
///
/// Spelled on command lines as `composite` (the default), `mldsa65`, `mldsa87` and
/// `ecdsa-p384`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Composite MLDSA65-ECDSA-P384-SHA512 (draft-ietf-lamps-pq-composite-sigs,
    /// OID 1.3.6.1.5.5.7.6.46).
    #[default]
    Composite,
    /// Pure ML-DSA-65 (FIPS 204, RFC 9881, OID 2.16.840.1.101.3.4.3.18).
    MlDsa65,
    /// Pure ML-DSA-87 (FIPS 204, RFC 9881, OID 2.16.840.1.101.3.4.3.19).
    MlDsa87,
    /// Classical ECDSA P-384 with SHA-384 (RFC 5758).
    EcdsaP384,
}

impl Profile {
    /// Every profile, default first.
    pub const ALL: [Self; 4] = [
        Self::Composite,
        Self::MlDsa65,
        Self::MlDsa87,
        Self::EcdsaP384,
    ];

    /// The command-line spelling: `composite`, `mldsa65`, `mldsa87` or `ecdsa-p384`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Composite => "composite",
            Self::MlDsa65 => "mldsa65",
            Self::MlDsa87 => "mldsa87",
            Self::EcdsaP384 => "ecdsa-p384",
        }
    }

    /// The key algorithm every key of the hierarchy is generated with.
    pub const fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            Self::Composite => KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
            Self::MlDsa65 => KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
            Self::MlDsa87 => KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa87),
            Self::EcdsaP384 => KeyAlgorithm::Ecdsa(EcCurve::P384),
        }
    }

    /// The profile whose keys use `algorithm`, if there is one.
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

    /// Accepts [`Profile::name`] case-insensitively, and every spelling
    /// [`KeyAlgorithm`]'s `FromStr` accepts for the four profiles' algorithms (for example
    /// `MLDSA65-ECDSA-P384-SHA512`, `ML-DSA-65`, `p384`).
    fn from_str(s: &str) -> Result<Self, Error> {
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
        assert_eq!("ECDSA-P384".parse::<Profile>().unwrap(), Profile::EcdsaP384);
        assert_eq!("p384".parse::<Profile>().unwrap(), Profile::EcdsaP384);
        assert_eq!(
            "mldsa65-ecdsa-p384".parse::<Profile>().unwrap(),
            Profile::Composite
        );
        // Algorithms qtls-provider has but no profile uses.
        assert!("mldsa44".parse::<Profile>().is_err());
        assert_eq!(Profile::default().key_algorithm(), KeyAlgorithm::DEFAULT);
        let unknown = "rsa".parse::<Profile>().unwrap_err();
        assert!(unknown.to_string().contains("\"rsa\""), "{unknown}");
    }
}
