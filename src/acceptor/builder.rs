//! Building a [`QtlsAcceptor`] on an existing rustls [`ServerConfig`](rustls::ServerConfig).

use std::sync::Arc;
use std::time::Duration;

use qtls_provider::CodePoints;
use qtls_verifier::QtlsClientVerifier;
use tokio::sync::Semaphore;

use super::QtlsAcceptor;
use crate::certs::CertificateSet;
use crate::early_data::EarlyDataSettings;
use crate::error::Error;

/// What the policy gate does with a ClientHello that offers no post-quantum key exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyExchangePolicy {
    /// Refuse it with insufficient_security before the ServerHello (the hybrid and
    /// PQC-only presets).
    #[default]
    RequirePostQuantum,
    /// Let rustls negotiate whatever group both sides have.
    Any,
}

/// Builds a [`QtlsAcceptor`] from a rustls [`ServerConfig`](rustls::ServerConfig): the
/// config's certificates, verifier, groups and session settings are used as they are; the
/// acceptor adds the policy gate, per-ClientHello certificate selection (with
/// [`Self::certificates`]), the client identity (with [`Self::client_verifier`]), bounds on
/// the handshake and early data handling.
#[derive(Debug)]
#[must_use]
pub struct AcceptorBuilder {
    config: Arc<rustls::ServerConfig>,
    certificates: Option<Arc<CertificateSet>>,
    client_verifier: Option<Arc<QtlsClientVerifier>>,
    acl: Option<crate::acl::Acl>,
    key_exchange: KeyExchangePolicy,
    code_points: CodePoints,
    handshake_timeout: Duration,
    blocking_handshakes: bool,
    allow_tls12: bool,
    max_offloaded_handshakes: usize,
    early_data_window: Duration,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl AcceptorBuilder {
    pub(super) fn new(config: Arc<rustls::ServerConfig>) -> Self {
        Self {
            config,
            certificates: None,
            client_verifier: None,
            acl: None,
            key_exchange: KeyExchangePolicy::default(),
            code_points: CodePoints::DEFAULT,
            handshake_timeout: Duration::from_secs(10),
            blocking_handshakes: false,
            allow_tls12: false,
            max_offloaded_handshakes: QtlsAcceptor::DEFAULT_MAX_OFFLOADED_HANDSHAKES,
            early_data_window: EarlyDataSettings::DEFAULT_FRESHNESS_WINDOW,
            metrics: None,
        }
    }

    /// Picks the served certificate per ClientHello from `certificates` before rustls sees
    /// it (the config's resolver should be the same set): a client offering no scheme any
    /// certificate signs with gets handshake_failure
    /// ([RFC 8446 §4.4.2.2](https://www.rfc-editor.org/rfc/rfc8446#section-4.4.2.2)), and
    /// [`crate::ConnectionInfo::signature_scheme`] is reported. Without it, the config's
    /// resolver decides alone.
    pub fn certificates(mut self, certificates: Arc<CertificateSet>) -> Self {
        self.certificates = Some(certificates);
        self
    }

    /// The verifier of the config's client authentication, so that the acceptor can report
    /// the verified client ([`crate::ConnectionContext::client`]) and re-check resumed
    /// sessions. Its handshakes are processed off the runtime's workers (verification may
    /// fetch OCSP responses or CRLs).
    pub fn client_verifier(mut self, verifier: Arc<QtlsClientVerifier>) -> Self {
        self.client_verifier = Some(verifier);
        self
    }

    /// Refuses resumed sessions whose client `acl` does not permit, as the config's
    /// [`crate::AuthorizingVerifier`] refuses full handshakes (rustls does not call it on
    /// resumption; see [`crate::Acl`] for how such a session is closed). Resumed sessions
    /// whose client certificate expired or is known to be revoked are refused with or
    /// without it.
    pub fn acl(mut self, acl: crate::acl::Acl) -> Self {
        self.acl = Some(acl);
        self
    }

    /// What the gate does with ClientHellos without a post-quantum group (default: refuse).
    pub fn key_exchange_policy(mut self, policy: KeyExchangePolicy) -> Self {
        self.key_exchange = policy;
        self
    }

    /// The code points of the provider's composite schemes and groups (default:
    /// [`CodePoints::DEFAULT`]), for telling post-quantum groups and schemes apart.
    pub fn code_points(mut self, code_points: CodePoints) -> Self {
        self.code_points = code_points;
        self
    }

    /// Limits the time from accept to a finished handshake (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Processes each handshake's records off the runtime's worker threads, for keys and
    /// ticketers that block on a token (see [`crate::hsm`]); a failure of our own signing
    /// key is then answered with an `internal_error` alert. Default off. Handshakes that
    /// verify client certificates are always processed off the workers.
    ///
    /// Only the processing of received records runs off the workers (`block_in_place`),
    /// never the wait for the peer's next flight, so a slow client holds no thread.
    pub fn blocking_handshakes(mut self, blocking: bool) -> Self {
        self.blocking_handshakes = blocking;
        self
    }

    /// Bounds how many handshakes processed off the workers (token keys, client-certificate
    /// verification) are under way at once (default
    /// [`QtlsAcceptor::DEFAULT_MAX_OFFLOADED_HANDSHAKES`]). Further ones wait for a slot,
    /// within their handshake timeout, after their ClientHello; one that gets no slot in
    /// time fails with [`super::AcceptError::Timeout`]. This keeps the threads such
    /// handshakes take (one each while processing) under tokio's blocking pool.
    pub fn max_offloaded_handshakes(mut self, max: usize) -> Self {
        self.max_offloaded_handshakes = max;
        self
    }

    /// Serves TLS 1.2 to clients that do not offer TLS 1.3, when the config has TLS 1.2
    /// and the policy is [`KeyExchangePolicy::Any`] (TLS 1.2 has no post-quantum key
    /// exchange). Default off: such clients get protocol_version.
    pub fn tls12(mut self, allowed: bool) -> Self {
        self.allow_tls12 = allowed;
        self
    }

    /// The ticket-age freshness window for early data
    /// ([`EarlyDataSettings::freshness_window`]). Early data itself is on when the config has
    /// a `max_early_data_size` and stateful sessions (see [`crate::early_data`]).
    pub fn early_data_window(mut self, window: Duration) -> Self {
        self.early_data_window = window;
        self
    }

    /// Counts what becomes of early data in `metrics` (as soon as it is decided, so that
    /// replays whose handshakes never complete are counted too).
    pub fn metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The acceptor; fails on a zero handshake timeout or slot count, an early-data window
    /// over the 60 s rustls allows for ticket ages, or TLS 1.2 under a post-quantum
    /// requirement.
    pub fn build(self) -> Result<QtlsAcceptor, Error> {
        let invalid = |setting: &'static str, value: String, expected: &'static str| {
            Err(Error::InvalidSetting {
                setting,
                value,
                expected,
            })
        };
        // The same bounds as qtls.toml and the CLI, from the same checks.
        crate::bounds::check_handshake_timeout("handshake_timeout", self.handshake_timeout)
            .map_err(Error::Config)?;
        crate::bounds::check_early_data_window("early_data_window", self.early_data_window)
            .map_err(Error::Config)?;
        if self.max_offloaded_handshakes == 0 {
            return invalid("max_offloaded_handshakes", "0".into(), "at least 1");
        }
        if self.allow_tls12 && self.key_exchange == KeyExchangePolicy::RequirePostQuantum {
            return invalid(
                "tls12",
                "true".into(),
                "off while post-quantum key exchange is required",
            );
        }
        Ok(QtlsAcceptor {
            config: self.config,
            certificates: self.certificates,
            client_verifier: self.client_verifier,
            acl: self.acl,
            require_post_quantum: self.key_exchange == KeyExchangePolicy::RequirePostQuantum,
            code_points: self.code_points,
            handshake_timeout: self.handshake_timeout,
            blocking_handshakes: self.blocking_handshakes,
            allow_tls12: self.allow_tls12,
            offload_slots: Arc::new(Semaphore::new(self.max_offloaded_handshakes)),
            early_data_window: self.early_data_window,
            metrics: self.metrics,
        })
    }
}
