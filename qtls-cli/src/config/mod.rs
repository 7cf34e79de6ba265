//! `qtls.toml`: the server configuration file. Its sections (listen, policy, certificate,
//! client_auth, ocsp_stapling, sessions, key_update, metrics, hsm) mirror the CLI's flags;
//! unknown keys are errors that name the key, and values are checked on load.
//!
//! ```toml
//! [listen]
//! address = "127.0.0.1:8443"
//! max_connections = 1024
//! max_blocking_handshakes = 64     # handshakes processed off the workers at once
//! handshake_timeout = "10s"
//!
//! [policy]
//! preset = "hybrid"                 # hybrid | pqc-only | compatible
//! # cipher_suites = ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"]  # OpenSSL names
//! require_post_quantum_kx = true    # refuse ClientHellos without a PQ group (alert 71)
//!
//! [[certificate]]
//! chain = "pki/server-chain.pem"
//! key = "pki/server.key"
//!
//! [client_auth]
//! ca = "pki/root.pem"
//! required = true
//! revocation = "soft-fail"         # off | soft-fail | hard-fail
//! revocation_depth = "chain"        # chain | end-entity (only the client's certificate)
//! crls = ["pki/intermediate.crl"]   # re-read within seconds of a change
//! ocsp_responder = "http://127.0.0.1:8080/"  # instead of the certificates' AIA
//! deny_with = "alert"               # alert (access_denied) | http403
//! allow = [{ subject = "CN=qtls-client,O=Q-TLS" }]
//!
//! [ocsp_stapling]
//! enabled = true
//! on_failure = "soft-fail"
//! cache = { dir = "/var/cache/qtls", refresh_before_expiry = "2h" }
//! timeout = { connect = "5s", read = "10s" }
//! background_refresh = { enabled = true, interval = "1h" }
//!
//! [sessions]
//! store = "redis://127.0.0.1:6379"  # memory | off | redis://H:P | redis+cluster://H1:P1,H2:P2
//! # redis_password_file = "/etc/qtls/redis.pass"  # the password, not in the URL (mode 600)
//! memory_bytes = 33_554_432         # the memory store's bound (identifiers and sessions)
//! tickets = "off"                   # off | software | fleet | hsm
//! ticket_key_file = "/etc/qtls/fleet.key"
//! queue_store_writes = false        # true: do not wait for Redis to confirm stored sessions
//! early_data = true                 # 0-RTT on single-use stateful sessions
//! max_early_data = 16384
//! early_data_window = "10s"
//!
//! [hsm]                             # the server key in a PKCS#11 token (as the --hsm-* flags)
//! module = "/usr/lib/softhsm/libsofthsm2.so"
//! token = "qtls"
//! key = "server"                    # CKA_LABEL
//! chain = "pki/hsm-chain.pem"
//! pin_file = "/etc/qtls/hsm.pin"    # mode 600; default: the QTLS_HSM_PIN variable
//! backup = { module = "/usr/lib/softhsm/libsofthsm2.so", token = "qtls-backup" }
//! op_timeout = "5s"
//! probe_interval = "1s"
//! ticket_rotation = "24h"           # or tickets = false
//!
//! [key_update]
//! bytes = 100_000_000_000           # update traffic keys after this many bytes...
//! interval = "24h"                  # ...or this long, whichever comes first
//!
//! [metrics]
//! address = "127.0.0.1:9100"        # GET /metrics (Prometheus text format)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::server::{ClientAuth, Limits, ServerSettings};
use qtls::Error;
use qtls::TlsSettings;
use qtls::{Acl, AclRule, DenyWith};
use qtls::{StapleFailurePolicy, StaplingConfig};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Where and how many.
    #[serde(default)]
    pub listen: ListenSection,
    /// The TLS policy.
    #[serde(default)]
    pub policy: PolicySection,
    /// Certificate chains and keys, in preference order.
    #[serde(default, rename = "certificate")]
    pub certificates: Vec<CertificateSection>,
    /// Client certificates.
    pub client_auth: Option<ClientAuthSection>,
    /// OCSP stapling.
    pub ocsp_stapling: Option<StaplingSection>,
    /// Session resumption.
    pub sessions: Option<SessionsSection>,
    /// A server key in a PKCS#11 token (the `--hsm-*` options of `qtls server`).
    pub hsm: Option<HsmSection>,
    /// The KeyUpdate policy.
    pub key_update: Option<KeyUpdateSection>,
    /// The `/metrics` endpoint.
    pub metrics: Option<MetricsSection>,
}

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
    /// The server's HSM settings this section describes.
    pub fn settings(&self) -> qtls::hsm::HsmSettings {
        use qtls::hsm::{HsmSettings, HsmToken};
        let mut hsm = HsmSettings::new(
            self.chain.clone(),
            self.key.clone(),
            HsmToken {
                module: self.module.clone(),
                token: self.token.clone(),
                pin_file: self.pin_file.clone(),
            },
        );
        hsm.backup = self.backup.as_ref().map(|backup| HsmToken {
            module: backup.module.clone(),
            token: backup.token.clone(),
            pin_file: backup.pin_file.clone().or_else(|| self.pin_file.clone()),
        });
        if let Some(sessions) = self.sessions {
            hsm.sessions = sessions;
        }
        if let Some(timeout) = self.op_timeout {
            hsm.op_timeout = timeout;
        }
        if let Some(interval) = self.probe_interval {
            hsm.probe_interval = interval;
        }
        if let Some(rotation) = self.ticket_rotation {
            hsm.ticket_rotation = Some(rotation);
        }
        if !self.tickets {
            hsm.ticket_rotation = None;
        }
        hsm.danger_allow_exportable_keys = self.danger_allow_exportable_key;
        hsm
    }

    fn validate(&self) -> Result<(), String> {
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

/// The longest `--validity` of `qtls ocsp-responder`, in seconds (7 days).
pub const MAX_OCSP_VALIDITY_SECS: u32 = 7 * 24 * 3600;

// The bounds on the server's early-data and handshake settings are the library's, so that
// qtls.toml, the flags and `AcceptorBuilder::build` refuse the same values in the same words.
pub use qtls::bounds::{
    check_early_data_window, check_handshake_timeout, check_max_early_data, MAX_EARLY_DATA_SIZE,
    MAX_EARLY_DATA_WINDOW,
};

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

impl ConfigFile {
    /// Reads and validates `path`. Errors name the file and the offending key.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::File {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        file.validate()?;
        Ok(file)
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(preset) = &self.policy.preset {
            preset
                .parse::<qtls_provider::Preset>()
                .map_err(|e| format!("policy.preset: {e}"))?;
        }
        if let Some(backend) = &self.policy.backend {
            backend
                .parse::<qtls_provider::Backend>()
                .map_err(|e| format!("policy.backend: {e}"))?;
        }
        for group in &self.policy.groups {
            qtls_provider::group_by_name(group, qtls_provider::Backend::AwsLc)
                .map_err(|e| format!("policy.groups: {e}"))?;
        }
        self.cipher_suites()
            .map_err(|e| format!("policy.cipher_suites: {e}"))?;
        if let Some(sessions) = &self.sessions {
            parse_store(&sessions.store).map_err(|e| format!("sessions.store: {e}"))?;
            parse_tickets(&sessions.tickets).map_err(|e| format!("sessions.tickets: {e}"))?;
            if let Some(max) = sessions.max_early_data {
                check_max_early_data("sessions.max_early_data", max)?;
            }
            if let Some(window) = sessions.early_data_window {
                check_early_data_window("sessions.early_data_window", window)?;
            }
            if sessions.redis_password_file.is_some()
                && !matches!(
                    parse_store(&sessions.store),
                    Ok(crate::server::SessionStoreSetting::Redis(_))
                )
            {
                return Err("sessions.redis_password_file needs a Redis store".into());
            }
            if sessions.memory_bytes == Some(0) {
                return Err(
                    "sessions.memory_bytes must be at least 1 (store = \"off\" stores nothing)"
                        .into(),
                );
            }
        }
        check_handshake_timeout("listen.handshake_timeout", self.listen.handshake_timeout)?;
        if let Some(hsm) = &self.hsm {
            hsm.validate()?;
        }
        if self.listen.max_connections == 0 {
            return Err("listen.max_connections must be at least 1".into());
        }
        if self.listen.max_blocking_handshakes == 0 {
            return Err("listen.max_blocking_handshakes must be at least 1".into());
        }
        if let Some(stapling) = &self.ocsp_stapling {
            if stapling.background_refresh.interval.is_zero() {
                return Err("ocsp_stapling.background_refresh.interval must not be 0".into());
            }
            if let Some(url) = &stapling.responder_url {
                if !url.starts_with("http://") {
                    return Err(format!(
                        "ocsp_stapling.responder_url: {url:?} is not an http:// URL"
                    ));
                }
            }
        }
        Ok(())
    }

    fn session_settings(&self) -> Result<crate::server::SessionSettings, String> {
        let Some(sessions) = &self.sessions else {
            return Ok(crate::server::SessionSettings::default());
        };
        let mut store = parse_store(&sessions.store)?;
        if let crate::server::SessionStoreSetting::Redis(target) = &mut store {
            if target.has_password() {
                tracing::warn!(
                    "sessions.store: the Redis URL holds a password; put it in a file named by \
                     sessions.redis_password_file instead"
                );
            }
            if let Some(path) = &sessions.redis_password_file {
                let password = qtls::sessions::read_secret_file(path, "Redis password")
                    .map_err(|e| format!("sessions.redis_password_file: {e}"))?;
                *target = target
                    .with_password(&password)
                    .map_err(|e| format!("sessions.redis_password_file: {e}"))?;
            }
        }
        Ok(crate::server::SessionSettings {
            store,
            tickets: parse_tickets(&sessions.tickets)?,
            fleet_secret: sessions.ticket_key_file.clone(),
            ticket_rotation: sessions.ticket_rotation,
            memory_store_bytes: sessions.memory_bytes,
            queue_store_writes: sessions.queue_store_writes,
            early_data: {
                let mut early_data = qtls::EarlyDataSettings::default();
                early_data.enabled = sessions.early_data;
                if let Some(max) = sessions.max_early_data {
                    early_data = early_data.with_max_size(max);
                }
                if let Some(window) = sessions.early_data_window {
                    early_data = early_data.with_freshness_window(window);
                }
                early_data
            },
        })
    }

    /// `[policy] cipher_suites` by rustls name, for the preset the file names; empty: the
    /// preset's.
    fn cipher_suites(&self) -> Result<Vec<String>, Error> {
        if self.policy.cipher_suites.is_empty() {
            return Ok(Vec::new());
        }
        let preset = match &self.policy.preset {
            Some(preset) => preset.parse()?,
            None => qtls_provider::Preset::default(),
        };
        Ok(
            qtls_provider::cipher_suites_by_names(&self.policy.cipher_suites.join(":"), preset)?
                .iter()
                .map(|suite| format!("{:?}", suite.suite()))
                .collect(),
        )
    }

    /// The server settings this file describes.
    pub fn server_settings(&self) -> Result<ServerSettings, Error> {
        let mut tls = TlsSettings::default();
        if let Some(preset) = &self.policy.preset {
            tls.preset = preset.parse()?;
        }
        if let Some(backend) = &self.policy.backend {
            tls.backend = backend.parse()?;
        }
        tls.groups = self.policy.groups.clone();
        tls.cipher_suites = self.cipher_suites()?;
        Ok(ServerSettings {
            sessions: self.session_settings().map_err(Error::Config)?,
            tls,
            certificates: self
                .certificates
                .iter()
                .map(|c| (c.chain.clone(), c.key.clone()))
                .collect(),
            client_auth: self.client_auth.as_ref().map(|auth| ClientAuth {
                ca: auth.ca.clone(),
                required: auth.required,
                revocation: match auth.revocation {
                    RevocationSetting::Off => qtls_verifier::RevocationPolicy::Off,
                    RevocationSetting::SoftFail => qtls_verifier::RevocationPolicy::SoftFail,
                    RevocationSetting::HardFail => qtls_verifier::RevocationPolicy::HardFail,
                },
                revocation_depth: match auth.revocation_depth {
                    RevocationDepthSetting::Chain => qtls_verifier::RevocationDepth::Chain,
                    RevocationDepthSetting::EndEntity => qtls_verifier::RevocationDepth::EndEntity,
                },
                crl_files: auth.crls.clone(),
                ocsp_responder: auth.ocsp_responder.clone(),
                acl: Acl {
                    allow: auth.allow.clone(),
                },
                deny_with: auth.deny_with,
            }),
            stapling: self
                .ocsp_stapling
                .as_ref()
                .filter(|s| s.enabled)
                .map(|s| StaplingConfig {
                    responder: s.responder_url.clone(),
                    cache_dir: s.cache.dir.clone(),
                    check_interval: if s.background_refresh.enabled {
                        s.background_refresh.interval
                    } else {
                        Duration::MAX / 4
                    },
                    refresh_before: s.cache.refresh_before_expiry,
                    timeout: s.timeout.connect.max(s.timeout.read),
                    on_failure: s.on_failure,
                    stop_serving_revoked: s.stop_serving_revoked,
                }),
            require_post_quantum: self.policy.require_post_quantum_kx,
            require_pq_signatures: self.policy.require_pq_signatures,
            limits: Limits {
                max_connections: self.listen.max_connections,
                max_blocking_handshakes: self.listen.max_blocking_handshakes,
                handshake_timeout: self.listen.handshake_timeout,
                idle_timeout: self.listen.idle_timeout,
                key_update: self.key_update_policy(),
                ..Limits::default()
            },
            hsm: self.hsm.as_ref().map(HsmSection::settings),
            application: crate::server::Application::default(),
        })
    }

    fn key_update_policy(&self) -> qtls::KeyUpdatePolicy {
        let mut policy = qtls::KeyUpdatePolicy::default();
        if let Some(section) = &self.key_update {
            if let Some(bytes) = section.bytes {
                policy.bytes = bytes;
            }
            if let Some(interval) = section.interval {
                policy.interval = interval;
            }
        }
        policy
    }
}

/// `memory`, `off` or a Redis URL.
pub fn parse_store(text: &str) -> Result<crate::server::SessionStoreSetting, String> {
    use crate::server::SessionStoreSetting;
    match text {
        "memory" => Ok(SessionStoreSetting::Memory),
        "off" => Ok(SessionStoreSetting::Off),
        url if url.starts_with("redis") || url.starts_with("unix://") => url
            .parse()
            .map(SessionStoreSetting::Redis)
            .map_err(|e: Error| e.to_string()),
        other => Err(format!(
            "{other:?}: expected memory, off, redis://HOST:PORT or redis+cluster://H1:P1,H2:P2"
        )),
    }
}

/// `off`, `software`, `fleet` or `hsm`.
pub fn parse_tickets(text: &str) -> Result<crate::server::TicketSetting, String> {
    use crate::server::TicketSetting;
    match text {
        "off" => Ok(TicketSetting::Off),
        "software" => Ok(TicketSetting::Software),
        "fleet" => Ok(TicketSetting::Fleet),
        "hsm" => Ok(TicketSetting::Hsm),
        other => Err(format!("{other:?}: expected off, software, fleet or hsm")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("mod.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let file = ConfigFile::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(file.certificates.len(), 1);
        let auth = file.client_auth.as_ref().map(|a| a.allow.len());
        assert_eq!(auth, Some(1));
        let stapling = file
            .ocsp_stapling
            .as_ref()
            .map(|s| s.cache.refresh_before_expiry);
        assert_eq!(stapling, Some(Duration::from_secs(7200)));
        let settings = file.server_settings().unwrap();
        assert_eq!(settings.limits.key_update, qtls::KeyUpdatePolicy::default());
        assert_eq!(
            settings.sessions.early_data,
            qtls::EarlyDataSettings::enabled()
        );
        assert_eq!(settings.sessions.tickets, crate::server::TicketSetting::Off);
        assert_eq!(settings.sessions.memory_store_bytes, Some(32 << 20));
        let hsm = settings.hsm.as_ref().unwrap();
        assert_eq!(
            (hsm.key.as_str(), hsm.primary.token.as_str()),
            ("server", "qtls")
        );
        let backup = hsm.backup.as_ref().unwrap();
        assert_eq!(backup.token, "qtls-backup");
        assert_eq!(backup.pin_file, hsm.primary.pin_file);
        assert_eq!(hsm.ticket_rotation, Some(Duration::from_secs(24 * 3600)));
        assert!(matches!(
            settings.sessions.store,
            crate::server::SessionStoreSetting::Redis(_)
        ));
        assert_eq!(
            file.metrics.map(|m| m.address.port()),
            Some(9100),
            "metrics address"
        );
    }

    #[test]
    fn errors_name_the_bad_key() {
        for (text, expected) in [
            ("[listen]\nadress = \"127.0.0.1:1\"", "adress"),
            ("[policy]\npreset = \"fast\"", "policy.preset"),
            ("[policy]\ngroups = [\"Kyber\"]", "policy.groups"),
            (
                "[listen]\nhandshake_timeout = \"soon\"",
                "handshake_timeout",
            ),
            (
                "[ocsp_stapling]\nresponder_url = \"ftp://x\"",
                "ocsp_stapling.responder_url",
            ),
            ("[ocsp_stapling]\non_failure = \"maybe\"", "on_failure"),
            ("[key_update]\nbites = 1", "bites"),
            ("[key_update]\ninterval = \"often\"", "interval"),
            ("[key_update]\nbytes = -1", "bytes"),
            ("[metrics]\naddress = \"nowhere\"", "address"),
            ("[sessions]\nmemory_bytes = 0", "sessions.memory_bytes"),
            ("[hsm]\nmodul = \"x.so\"", "modul"),
            (
                "[hsm]\nmodule = \"m.so\"\ntoken = \"t\"\nkey = \"k\"\nchain = \"c.pem\"\npin = \"1234\"",
                "pin",
            ),
            (
                "[hsm]\nmodule = \"m.so\"\ntoken = \"t\"\nkey = \"k\"\nchain = \"c.pem\"\nbackup = { module = \"b.so\", tokn = \"b\" }",
                "tokn",
            ),
            ("[sessions]\nearly_data_window = \"61s\"", "sessions.early_data_window"),
            ("[sessions]\nmax_early_data = 0", "sessions.max_early_data"),
            ("[sessions]\nmax_early_data = 16777217", "sessions.max_early_data"),
            ("[listen]\nhandshake_timeout = \"0s\"", "listen.handshake_timeout"),
            (
                "[sessions]\nstore = \"memory\"\nredis_password_file = \"p\"",
                "sessions.redis_password_file",
            ),
        ] {
            let error = ConfigFile::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
