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
//! send_intermediates = true         # false: the leaf alone, for clients that hold them
//!
//! [client_auth]
//! ca = "pki/root.pem"
//! required = true
//! revocation = "soft-fail"         # off | soft-fail | hard-fail
//! revocation_depth = "chain"        # chain | end-entity (only the client's certificate)
//! crls = ["pki/intermediate.crl"]   # re-read within seconds of a change
//! ocsp_responder = "http://127.0.0.1:8080/"  # instead of the certificates' AIA
//! intermediates = ["pki/intermediate.pem"]  # for clients that send their leaf alone
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

mod sections;
mod settings;

use std::path::Path;

use serde::Deserialize;

use qtls::Error;

pub use self::sections::{
    CacheSection, CertificateSection, ClientAuthSection, HsmSection, HsmTokenSection,
    KeyUpdateSection, ListenSection, MetricsSection, PolicySection, RefreshSection,
    RevocationDepthSetting, RevocationSetting, SessionsSection, StaplingSection, TimeoutSection,
};

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

/// The longest `--validity` of `qtls ocsp-responder`, in seconds (7 days).
pub const MAX_OCSP_VALIDITY_SECS: u32 = 7 * 24 * 3600;

// The bounds on the server's early-data and handshake settings are the library's, so that
// qtls.toml, the flags and `AcceptorBuilder::build` refuse the same values in the same words.
pub use qtls::bounds::{
    check_early_data_window, check_handshake_timeout, check_max_early_data, MAX_EARLY_DATA_SIZE,
    MAX_EARLY_DATA_WINDOW,
};

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

    use std::time::Duration;

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
