//! A client's settings, and the fallback after a handshake_failure alert.

use std::time::Duration;

use qtls_provider::Preset;

use super::HttpRequest;
use crate::error::Error;
use crate::key_update::KeyUpdatePolicy;

/// A client's settings: policy, trust anchors, identity, and the fallback preset.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Policy, backend, code points, groups.
    pub settings: crate::TlsSettings,
    /// Trust anchors for the server's chain.
    pub roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// Intermediate CA certificates known beforehand, for servers that send their leaf alone
    /// ([`crate::client_config_with_intermediates`]).
    pub intermediates: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// Client certificate and key for mTLS.
    pub identity: Option<crate::Identity>,
    /// After a handshake_failure alert, retry once as this says, say so in the log, and
    /// report the first alert.
    pub fallback: Option<Fallback>,
    /// Limit for each step (connect, handshake, response).
    pub timeout: Duration,
    /// When the connection updates its traffic keys (besides rustls's own updates).
    pub key_update: KeyUpdatePolicy,
    /// What to send; with `early_data`, a resumed connection sends it as 0-RTT data. `None`:
    /// only the handshake, then close_notify, reading until the server closes (so that the
    /// session tickets it sends after the handshake arrive), for servers of any protocol.
    pub request: Option<HttpRequest>,
}

/// What a client retries with after a handshake_failure alert.
///
/// Alerts are not authenticated (RFC 8446 §6): anyone on the path can end a handshake with
/// handshake_failure. A fallback that answered it with classical key exchange would let them
/// strip the post-quantum protection ("harvest now, decrypt later"), so every fallback keeps
/// it except [`Fallback::DangerClassical`], which the user must ask for by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fallback {
    /// The preset's post-quantum groups only, over TLS 1.3 (for `compatible`: every hybrid
    /// group, then ML-KEM alone, and every TLS 1.3 cipher suite and signature algorithm).
    PostQuantum(Preset),
    /// The compatible preset as it is: classical groups and TLS 1.2 included, so an on-path
    /// attacker who forges one alert gets a connection without post-quantum key exchange.
    DangerClassical,
}

impl From<Preset> for Fallback {
    fn from(preset: Preset) -> Self {
        Self::PostQuantum(preset)
    }
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PostQuantum(preset) => write!(f, "{preset}"),
            Self::DangerClassical => f.write_str("classical"),
        }
    }
}

impl std::str::FromStr for Fallback {
    type Err = Error;

    /// `hybrid`, `pqc-only`, `compatible` (post-quantum key exchange kept) or `classical`.
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.eq_ignore_ascii_case("classical") {
            return Ok(Self::DangerClassical);
        }
        s.parse::<Preset>().map(Self::PostQuantum).map_err(|_| {
            Error::Config(format!(
                "unknown fallback {s:?}; known: hybrid, pqc-only, compatible (post-quantum key \
                 exchange kept), classical (without post-quantum key exchange)"
            ))
        })
    }
}

impl Fallback {
    /// The settings of the retry after `first` failed.
    pub(super) fn settings(self, first: &crate::TlsSettings) -> Result<crate::TlsSettings, Error> {
        let preset = match self {
            Self::PostQuantum(preset) => preset,
            Self::DangerClassical => Preset::Compatible,
        };
        let mut settings = crate::TlsSettings {
            preset,
            groups: Vec::new(),
            cipher_suites: Vec::new(),
            ..first.clone()
        };
        if self == Self::DangerClassical {
            return Ok(settings);
        }
        if !preset.requires_post_quantum_kx() {
            settings.groups = POST_QUANTUM_GROUPS.iter().map(|g| g.to_string()).collect();
            // rustls has no post-quantum group for TLS 1.2.
            settings.cipher_suites = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES
                .iter()
                .filter(|suite| suite.version() == &rustls::version::TLS13)
                .map(|suite| format!("{:?}", suite.suite()))
                .collect();
        }
        // Fail closed should a preset ever change: every group offered is post-quantum.
        let provider = settings.provider()?;
        let classical: Vec<_> = provider
            .kx_groups
            .iter()
            .filter(|group| {
                !qtls_provider::is_post_quantum_group(group.name(), &settings.code_points)
            })
            .map(|group| group.name())
            .collect();
        if !classical.is_empty() {
            return Err(Error::Config(format!(
                "fallback {self} would offer classical groups {classical:?}"
            )));
        }
        Ok(settings)
    }
}

/// The groups of a post-quantum fallback from the compatible preset, in preference order.
const POST_QUANTUM_GROUPS: [&str; 6] = [
    "SecP384r1MLKEM1024",
    "X25519MLKEM1024",
    "X25519MLKEM768",
    "SecP256r1MLKEM768",
    "MLKEM1024",
    "MLKEM768",
];
