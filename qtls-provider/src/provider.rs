//! Building rustls `CryptoProvider`s: the presets and the builder behind them.

use core::fmt;
use core::str::FromStr;

use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::SupportedProtocolVersion;

use crate::backend::Backend;
use crate::code_points::CodePoints;
use crate::error::{Error, NameKind};
use crate::interned::Interned;
use crate::kx;
use crate::sign::QtlsKeyProvider;
use crate::verify::{self, SignaturePolicy};

static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// The policy a provider implements.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Preset {
    /// The Q-TLS Hybrid policy: TLS 1.3 only, TLS13_AES_256_GCM_SHA384 only, hybrid groups
    /// only (SecP384r1MLKEM1024, X25519MLKEM1024, X25519MLKEM768, SecP256r1MLKEM768, in that
    /// order); every signature algorithm (composite, ML-DSA, classical) is accepted.
    #[default]
    Hybrid,
    /// Post-quantum only: TLS 1.3, TLS13_AES_256_GCM_SHA384, MLKEM1024 as the only group,
    /// and only ML-DSA and composite signatures accepted (no classical chain or
    /// CertificateVerify verifies).
    PqcOnly,
    /// Hybrid groups preferred, classical groups (X25519, secp256r1, secp384r1) as fallback;
    /// every rustls cipher suite (TLS 1.3 and 1.2) and every signature algorithm.
    Compatible,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Self; 3] = [Self::Hybrid, Self::PqcOnly, Self::Compatible];

    /// The preset's CLI name: `hybrid`, `pqc-only`, `compatible`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hybrid => "hybrid",
            Self::PqcOnly => "pqc-only",
            Self::Compatible => "compatible",
        }
    }

    /// The protocol versions the preset allows, for rustls's `with_protocol_versions`.
    pub fn protocol_versions(self) -> &'static [&'static SupportedProtocolVersion] {
        match self {
            Self::Hybrid | Self::PqcOnly => TLS13_ONLY,
            Self::Compatible => rustls::DEFAULT_VERSIONS,
        }
    }

    /// Whether the preset requires a post-quantum key exchange.
    pub const fn requires_post_quantum_kx(self) -> bool {
        matches!(self, Self::Hybrid | Self::PqcOnly)
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s) || p.name().replace('-', "_") == s)
            .ok_or_else(|| Error::UnknownName {
                kind: NameKind::Preset,
                name: s.to_owned(),
                known: &["hybrid", "pqc-only", "compatible"],
            })
    }
}

/// Builds a [`CryptoProvider`]: a preset, a backend, code points and optionally an explicit
/// group list.
///
/// ```
/// use qtls_provider::{Backend, Preset, ProviderBuilder};
///
/// let provider = ProviderBuilder::new()
///     .preset(Preset::Hybrid)
///     .backend(Backend::AwsLc)
///     .build()?;
/// assert_eq!(provider.kx_groups[0].name(), qtls_provider::kx_group::SECP384R1MLKEM1024.name());
/// # Ok::<(), qtls_provider::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ProviderBuilder {
    preset: Preset,
    backend: Backend,
    code_points: CodePoints,
    kx_groups: Option<Vec<&'static dyn SupportedKxGroup>>,
}

impl ProviderBuilder {
    /// The Hybrid preset on aws-lc-rs with the default code points.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the preset.
    pub fn preset(mut self, preset: Preset) -> Self {
        self.preset = preset;
        self
    }

    /// Chooses the backend for ML-KEM and ML-DSA.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Sets every provisional code point at once.
    pub fn code_points(mut self, code_points: CodePoints) -> Self {
        self.code_points = code_points;
        self
    }

    /// Replaces the preset's groups (in preference order). The client offers a key share for
    /// the first; the server picks by its own order among those the client supports.
    pub fn kx_groups(mut self, groups: Vec<&'static dyn SupportedKxGroup>) -> Self {
        self.kx_groups = Some(groups);
        self
    }

    /// Builds the provider. Fails when the backend is not compiled in, a code point collides
    /// or is unusable in TLS 1.3, or the group list is empty.
    pub fn build(self) -> Result<CryptoProvider, Error> {
        let backend = self.backend.ensure_available()?;
        self.code_points.validate()?;
        let kx_groups = match self.kx_groups {
            Some(groups) => groups,
            None => self.preset_groups(backend)?,
        };
        if kx_groups.is_empty() {
            return Err(Error::NoKxGroups);
        }
        let defaults = rustls::crypto::aws_lc_rs::default_provider();
        let cipher_suites = match self.preset {
            Preset::Hybrid | Preset::PqcOnly => {
                vec![rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384]
            }
            Preset::Compatible => defaults.cipher_suites.clone(),
        };
        let policy = match self.preset {
            Preset::PqcOnly => SignaturePolicy::PostQuantumOnly,
            Preset::Hybrid | Preset::Compatible => SignaturePolicy::Any,
        };
        let key_provider: &'static QtlsKeyProvider = key_provider(backend, self.code_points);
        Ok(CryptoProvider {
            cipher_suites,
            kx_groups,
            signature_verification_algorithms: *verify::supported_algorithms(
                backend,
                self.code_points,
                policy,
            ),
            key_provider,
            ..defaults
        })
    }

    fn preset_groups(&self, backend: Backend) -> Result<Vec<&'static dyn SupportedKxGroup>, Error> {
        let group = |name| kx::group_by_name(name, backend);
        let x25519_mlkem1024 =
            kx::x25519_mlkem1024_with_code_point(self.code_points.x25519_mlkem1024, backend)?;
        let hybrids = vec![
            group("SecP384r1MLKEM1024")?,
            x25519_mlkem1024,
            group("X25519MLKEM768")?,
            group("SecP256r1MLKEM768")?,
        ];
        Ok(match self.preset {
            Preset::Hybrid => hybrids,
            Preset::PqcOnly => vec![group("MLKEM1024")?],
            Preset::Compatible => {
                let mut groups = hybrids;
                groups.extend([group("X25519")?, group("secp256r1")?, group("secp384r1")?]);
                groups
            }
        })
    }
}

fn key_provider(backend: Backend, code_points: CodePoints) -> &'static QtlsKeyProvider {
    static PROVIDERS: Interned<(Backend, CodePoints), QtlsKeyProvider> = Interned::new();
    PROVIDERS.get_or_leak((backend, code_points), || QtlsKeyProvider {
        backend,
        code_points,
    })
}

/// The Q-TLS Hybrid policy on aws-lc-rs (see [`Preset::Hybrid`]).
pub fn hybrid() -> CryptoProvider {
    preset_on_aws_lc(Preset::Hybrid)
}

/// Post-quantum only on aws-lc-rs (see [`Preset::PqcOnly`]).
pub fn pqc_only() -> CryptoProvider {
    preset_on_aws_lc(Preset::PqcOnly)
}

/// Hybrid preferred, classical fallback, on aws-lc-rs (see [`Preset::Compatible`]).
pub fn compatible() -> CryptoProvider {
    preset_on_aws_lc(Preset::Compatible)
}

fn preset_on_aws_lc(preset: Preset) -> CryptoProvider {
    // The default configuration has no fallible step: aws-lc-rs is always compiled in and the
    // default code points are valid (checked by the `presets_build` test).
    #[allow(clippy::expect_used)]
    ProviderBuilder::new()
        .preset(preset)
        .build()
        .expect("default provider configuration is valid")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rustls::SignatureScheme;

    use super::*;

    #[test]
    fn presets_build() {
        for preset in Preset::ALL {
            for &backend in Backend::available() {
                let provider = ProviderBuilder::new()
                    .preset(preset)
                    .backend(backend)
                    .build()
                    .unwrap();
                assert!(!provider.kx_groups.is_empty());
                let first = provider.kx_groups[0].name();
                match preset {
                    Preset::PqcOnly => assert_eq!(first, rustls::NamedGroup::MLKEM1024),
                    _ => assert_eq!(u16::from(first), crate::SECP384R1MLKEM1024_CODE_POINT),
                }
            }
        }
        assert_eq!(hybrid().cipher_suites.len(), 1);
        assert_eq!(pqc_only().kx_groups.len(), 1);
        assert!(compatible().kx_groups.len() > hybrid().kx_groups.len());
    }

    #[test]
    fn pqc_only_accepts_only_post_quantum_signatures() {
        let provider = pqc_only();
        let code_points = CodePoints::DEFAULT;
        let schemes: Vec<_> = provider
            .signature_verification_algorithms
            .mapping
            .iter()
            .map(|(scheme, _)| *scheme)
            .collect();
        // 15 composites and 3 ML-DSA: the three RSASSA-PKCS1-v1_5 composites verify chains
        // (`all`) but are never offered for CertificateVerify (draft-reddy-tls-composite-mldsa §3).
        assert_eq!(schemes.len(), 18);
        assert_eq!(provider.signature_verification_algorithms.all.len(), 21);
        assert!(schemes
            .iter()
            .all(|s| code_points.is_post_quantum_scheme(*s)));
        for alg in crate::CompositeAlgorithm::ALL {
            let scheme = SignatureScheme::from(code_points.composite(alg));
            assert_eq!(
                schemes.contains(&scheme),
                alg.tls_certificate_verify(),
                "{}",
                alg.name()
            );
        }
        let classical = hybrid()
            .signature_verification_algorithms
            .mapping
            .iter()
            .any(|(s, _)| *s == SignatureScheme::ECDSA_NISTP384_SHA384);
        assert!(classical);
    }

    #[test]
    fn code_points_are_settable_and_checked() {
        let custom = CodePoints {
            mldsa65_ecdsa_p384_sha512: 0x0a0b,
            x25519_mlkem1024: 0xfe41,
            ..CodePoints::DEFAULT
        };
        let provider = ProviderBuilder::new().code_points(custom).build().unwrap();
        let mapped = provider
            .signature_verification_algorithms
            .mapping
            .iter()
            .any(|(s, _)| u16::from(*s) == 0x0a0b);
        assert!(mapped);
        assert!(provider
            .kx_groups
            .iter()
            .any(|g| u16::from(g.name()) == 0xfe41));

        let taken = Error::CodePointTaken {
            code_point: 0x0403,
            existing: "ECDSA_NISTP256_SHA256".into(),
        };
        for (bad, expected) in [
            (0x0403, taken),
            (0x0901, Error::CodePointNotTls13(0x0901)),
            (0x0300, Error::CodePointNotTls13(0x0300)),
        ] {
            let codes = CodePoints {
                mldsa65_ecdsa_p384_sha512: bad,
                ..CodePoints::DEFAULT
            };
            let error = ProviderBuilder::new()
                .code_points(codes)
                .build()
                .unwrap_err();
            assert_eq!(error, expected, "{bad:#x}: {error}");
        }
        let twice = CodePoints::DEFAULT
            .with_composite(crate::CompositeAlgorithm::MlDsa87Ed448Shake256, 0x0908);
        assert_eq!(
            ProviderBuilder::new().code_points(twice).build().err(),
            Some(Error::CodePointRepeated(0x0908))
        );
        let collides = CodePoints {
            x25519_mlkem1024: 0x11ec,
            ..CodePoints::DEFAULT
        };
        assert_eq!(
            ProviderBuilder::new().code_points(collides).build().err(),
            Some(Error::CodePointTaken {
                code_point: 0x11ec,
                existing: "X25519MLKEM768".into()
            })
        );
        assert_eq!(
            ProviderBuilder::new().kx_groups(Vec::new()).build().err(),
            Some(Error::NoKxGroups)
        );
    }

    #[test]
    fn names_parse_and_unknown_names_list_the_known_ones() {
        assert_eq!("pqc-only".parse::<Preset>().unwrap(), Preset::PqcOnly);
        let error = "fast".parse::<Preset>().unwrap_err().to_string();
        assert!(error.contains("hybrid, pqc-only, compatible"), "{error}");
        let error = crate::group_by_name("X25519Kyber768", Backend::AwsLc)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("SecP384r1MLKEM1024") && error.contains("X25519Kyber768"),
            "{error}"
        );
        assert_eq!(
            crate::group_by_name("secp384r1mlkem1024", Backend::AwsLc)
                .unwrap()
                .name(),
            rustls::NamedGroup::from(0x11ed)
        );
        assert_eq!(
            CodePoints::DEFAULT.scheme_name(SignatureScheme::from(0x0908)),
            "MLDSA65_ECDSA_P384_SHA512"
        );
        assert_eq!(
            CodePoints::DEFAULT.scheme_name(SignatureScheme::ML_DSA_65),
            "ML_DSA_65"
        );
    }
}
