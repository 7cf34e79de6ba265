//! The sections of `qtls.toml` as serde reads them, with their defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use qtls::{AclRule, DenyWith, StapleFailurePolicy};

/// `[hsm]`: serve a key in a PKCS#11 token, with an optional backup token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmSection {
    /// The PKCS#11 module (`.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// The key's label (CKA_LABEL).
    pub key: String,
    /// The key's certificate chain (PEM, leaf first).
    pub chain: PathBuf,
    /// A file holding the user PIN (default: the `QTLS_HSM_PIN` environment variable).
    pub pin_file: Option<PathBuf>,
    /// A backup token holding the same key: `{ module, token, pin_file }` (its PIN file
    /// defaults to the primary's).
    pub backup: Option<HsmTokenSection>,
    /// Logged-in sessions per token (default 4).
    pub sessions: Option<usize>,
    /// How long one token operation may take (default 5s).
    #[serde(default, with = "humantime_serde_option")]
    pub op_timeout: Option<Duration>,
    /// How often a failed token is probed (default 1s).
    #[serde(default, with = "humantime_serde_option")]
    pub probe_interval: Option<Duration>,
    /// Session tickets from a key in the token (default true).
    #[serde(default = "yes")]
    pub tickets: bool,
    /// How often the token's ticket key is replaced (default 24h).
    #[serde(default, with = "humantime_serde_option")]
    pub ticket_rotation: Option<Duration>,
    /// DANGEROUS: serve a key that can leave the token (default false).
    #[serde(default)]
    pub danger_allow_exportable_key: bool,
}

/// `[hsm.backup]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmTokenSection {
    /// The PKCS#11 module (`.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// A file holding the user PIN.
    pub pin_file: Option<PathBuf>,
}

impl HsmSection {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.sessions == Some(0) {
            return Err("hsm.sessions must be at least 1".into());
        }
        for (key, value) in [
            ("hsm.op_timeout", self.op_timeout),
            ("hsm.probe_interval", self.probe_interval),
            ("hsm.ticket_rotation", self.ticket_rotation),
        ] {
            if value.is_some_and(|d| d.is_zero()) {
                return Err(format!("{key} must be above 0"));
            }
        }
        Ok(())
    }
}

/// `[key_update]`: update the traffic keys after `bytes` or `interval`, whichever first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyUpdateSection {
    /// Bytes (read and written) between updates; default 100 GB, 0: no byte limit.
    pub bytes: Option<u64>,
    /// Time between updates; default 24h, "0s": no time limit.
    #[serde(default, with = "humantime_serde_option")]
    pub interval: Option<Duration>,
}

/// `[metrics]`: serve `GET /metrics` in the Prometheus text format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Where to listen (its own listener, plain HTTP).
    pub address: SocketAddr,
}

/// `[sessions]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsSection {
    /// `memory`, `off`, `redis://HOST:PORT` or `redis+cluster://H1:P1,H2:P2`.
    #[serde(default = "memory")]
    pub store: String,
    /// `off`, `software`, `fleet` or `hsm`.
    #[serde(default = "off")]
    pub tickets: String,
    /// The fleet's shared secret file (Redis entries, fleet ticket keys).
    pub ticket_key_file: Option<PathBuf>,
    /// A file holding the Redis password (instead of one in the `store` URL); mode 600.
    pub redis_password_file: Option<PathBuf>,
    /// Ticket key rotation (default 24h).
    #[serde(default, with = "humantime_serde_option")]
    pub ticket_rotation: Option<Duration>,
    /// With `store = "memory"`: its bound in bytes of session identifiers and sessions
    /// (default 32 MiB); the oldest sessions are evicted beyond it.
    pub memory_bytes: Option<usize>,
    /// With a Redis store, only queue session writes instead of waiting for them (default
    /// false).
    #[serde(default)]
    pub queue_store_writes: bool,
    /// Accept 0-RTT early data (default false; needs `tickets = "off"`).
    #[serde(default)]
    pub early_data: bool,
    /// The most early data a client may send (default 16384; 1 to 16 MiB).
    pub max_early_data: Option<u32>,
    /// The ticket-age freshness window for early data (default 10s; at most 60s).
    #[serde(default, with = "humantime_serde_option")]
    pub early_data_window: Option<Duration>,
}

fn memory() -> String {
    "memory".into()
}
fn off() -> String {
    "off".into()
}

/// `[listen]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSection {
    /// `address = "127.0.0.1:8443"`.
    #[serde(default = "default_address")]
    pub address: SocketAddr,
    /// Connections served at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Handshakes processed off the runtime's workers at once (keys in a token, client
    /// certificate verification).
    #[serde(default = "default_max_blocking_handshakes")]
    pub max_blocking_handshakes: usize,
    /// From accept to a finished handshake.
    #[serde(default = "default_handshake_timeout", with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Waiting for a request or a close_notify.
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
}

impl Default for ListenSection {
    fn default() -> Self {
        Self {
            address: default_address(),
            max_connections: default_max_connections(),
            max_blocking_handshakes: default_max_blocking_handshakes(),
            handshake_timeout: default_handshake_timeout(),
            idle_timeout: default_idle_timeout(),
        }
    }
}

fn default_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}
fn default_max_connections() -> usize {
    1024
}
fn default_max_blocking_handshakes() -> usize {
    qtls::QtlsAcceptor::DEFAULT_MAX_OFFLOADED_HANDSHAKES
}
fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `[policy]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// `hybrid`, `pqc-only` or `compatible`.
    pub preset: Option<String>,
    /// `aws-lc-rs` or `oqs`.
    pub backend: Option<String>,
    /// Groups by OpenSSL name, replacing the preset's.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Cipher suites by OpenSSL name (`TLS_AES_128_GCM_SHA256`), replacing the preset's.
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    /// Refuse ClientHellos without a post-quantum group (default: as the preset requires).
    pub require_post_quantum_kx: Option<bool>,
    /// Serve and accept only ML-DSA / composite certificates.
    #[serde(default)]
    pub require_pq_signatures: bool,
}

/// `[[certificate]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSection {
    /// The chain, leaf first (PEM).
    pub chain: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// Whether the server sends the chain's intermediates (default true); `false` must be
    /// the same in every `[[certificate]]` (see `ServerSettings::omit_intermediates`).
    #[serde(default)]
    pub send_intermediates: Option<bool>,
}

/// `[client_auth]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthSection {
    /// Trust anchors for client chains.
    pub ca: PathBuf,
    /// Refuse clients without a certificate.
    #[serde(default = "yes")]
    pub required: bool,
    /// `off`, `soft-fail` or `hard-fail`.
    #[serde(default)]
    pub revocation: RevocationSetting,
    /// `chain` (default) or `end-entity`.
    #[serde(default)]
    pub revocation_depth: RevocationDepthSetting,
    /// CRL files (PEM or DER) for client chains, re-read when they change.
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// The OCSP responder asked about client certificates instead of their AIA address.
    #[serde(default)]
    pub ocsp_responder: Option<String>,
    /// Intermediate CA certificates of client chains known beforehand (PEM files).
    #[serde(default)]
    pub intermediates: Vec<PathBuf>,
    /// `alert` (access_denied) or `http403`.
    #[serde(default)]
    pub deny_with: DenyWith,
    /// Allow rules: `{ subject = ".." }`, `{ subject_alt_name = ".." }`, `{ issuer = ".." }`.
    #[serde(default)]
    pub allow: Vec<AclRule>,
}

fn yes() -> bool {
    true
}

/// Revocation checking of client certificates.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationSetting {
    /// No checking.
    Off,
    /// Unknown status passes.
    #[default]
    SoftFail,
    /// Unknown status rejects.
    HardFail,
}

/// Whose revocation is checked in client chains.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationDepthSetting {
    /// The client's certificate and its intermediates.
    #[default]
    Chain,
    /// The client's certificate only.
    EndEntity,
}

/// `[ocsp_stapling]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaplingSection {
    /// Staple at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Ask this responder instead of the certificate's AIA URL.
    pub responder_url: Option<String>,
    /// `soft-fail` or `hard-fail`.
    #[serde(default)]
    pub on_failure: StapleFailurePolicy,
    /// Stop serving a certificate the responder says is revoked.
    #[serde(default)]
    pub stop_serving_revoked: bool,
    /// `{ dir = "..", refresh_before_expiry = "2h" }`.
    #[serde(default)]
    pub cache: CacheSection,
    /// `{ connect = "5s", read = "10s" }`.
    #[serde(default)]
    pub timeout: TimeoutSection,
    /// `{ enabled = true, interval = "1h" }`.
    #[serde(default)]
    pub background_refresh: RefreshSection,
}

/// `[ocsp_stapling.cache]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// Directory for cached responses.
    pub dir: Option<PathBuf>,
    /// Refresh when less than this remains.
    #[serde(default = "two_hours", with = "humantime_serde")]
    pub refresh_before_expiry: Duration,
}

impl Default for CacheSection {
    fn default() -> Self {
        Self {
            dir: None,
            refresh_before_expiry: two_hours(),
        }
    }
}

fn two_hours() -> Duration {
    Duration::from_secs(7200)
}

/// `[ocsp_stapling.timeout]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSection {
    /// Connect timeout.
    #[serde(default = "five_seconds", with = "humantime_serde")]
    pub connect: Duration,
    /// Read timeout.
    #[serde(default = "five_seconds", with = "humantime_serde")]
    pub read: Duration,
}

impl Default for TimeoutSection {
    fn default() -> Self {
        Self {
            connect: five_seconds(),
            read: five_seconds(),
        }
    }
}

fn five_seconds() -> Duration {
    Duration::from_secs(5)
}

/// `[ocsp_stapling.background_refresh]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSection {
    /// Refresh in the background.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How often to check.
    #[serde(default = "one_hour", with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RefreshSection {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: one_hour(),
        }
    }
}

fn one_hour() -> Duration {
    Duration::from_secs(3600)
}

/// Optional durations.
mod humantime_serde_option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration: {e}")))
    }
}

/// Durations as `"10s"`, `"2h"`, `"500ms"`.
mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration: {e}")))
    }
}
