//! What a [`crate::server::Server`] is built from: certificates, client authentication,
//! stapling, limits, session resumption and the application.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use qtls::{Acl, DenyWith, Error, QtlsAcceptor, StaplingConfig, TlsSettings};
use qtls_verifier::{RevocationDepth, RevocationPolicy};

/// Client authentication settings.
#[derive(Clone, Debug)]
pub struct ClientAuth {
    /// Trust anchors for client chains (PEM).
    pub ca: PathBuf,
    /// Refuse clients without a certificate (certificate_required); implied when `acl` has
    /// rules.
    pub required: bool,
    /// Revocation checking of client certificates.
    pub revocation: RevocationPolicy,
    /// Whose revocation is checked: the client's certificate only, or its intermediates too
    /// (each then needs a status source: a CRL from the root, or an OCSP address).
    pub revocation_depth: RevocationDepth,
    /// CRL files (PEM or DER) for client chains, re-read within a few seconds of a change
    /// ([RFC 5280 §5](https://www.rfc-editor.org/rfc/rfc5280#section-5)).
    pub crl_files: Vec<PathBuf>,
    /// The OCSP responder asked about client certificates instead of their AIA address
    /// ([RFC 6960](https://www.rfc-editor.org/rfc/rfc6960)).
    pub ocsp_responder: Option<String>,
    /// Intermediate CA certificates of client chains known beforehand (PEM files), used in
    /// path building when a client sends its leaf alone
    /// ([`qtls_verifier::VerifierBuilder::intermediates`]).
    pub intermediates: Vec<PathBuf>,
    /// Which verified clients may connect.
    pub acl: Acl,
    /// What a client the ACL denies gets.
    pub deny_with: DenyWith,
}

impl ClientAuth {
    /// Client certificates from `ca`'s hierarchy, optional, soft-fail revocation over the
    /// whole chain, no CRL files, every verified client allowed, denials by alert.
    pub fn new(ca: impl Into<PathBuf>) -> Self {
        Self {
            ca: ca.into(),
            required: false,
            revocation: RevocationPolicy::SoftFail,
            revocation_depth: RevocationDepth::Chain,
            crl_files: Vec::new(),
            ocsp_responder: None,
            intermediates: Vec::new(),
            acl: Acl::default(),
            deny_with: DenyWith::Alert,
        }
    }
}

/// Limits and timeouts.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Handshakes whose records are processed off the runtime's workers at once (a key or
    /// ticket key in a token, client-certificate verification, which may fetch OCSP or
    /// CRLs); further ones wait for a slot within the handshake timeout
    /// ([`qtls::AcceptorBuilder::max_offloaded_handshakes`]).
    pub max_blocking_handshakes: usize,
    /// From accept to a finished handshake.
    pub handshake_timeout: Duration,
    /// Waiting for a request, or for the peer's close_notify after the response.
    pub idle_timeout: Duration,
    /// How long shutdown waits for connections in progress.
    pub shutdown_grace: Duration,
    /// When connections update their traffic keys (besides rustls's own updates).
    pub key_update: qtls::KeyUpdatePolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_blocking_handshakes: QtlsAcceptor::DEFAULT_MAX_OFFLOADED_HANDSHAKES,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            key_update: qtls::KeyUpdatePolicy::default(),
        }
    }
}

/// Everything a server is built from.
#[derive(Clone, Debug, Default)]
pub struct ServerSettings {
    /// Policy, backend, code points, groups.
    pub tls: TlsSettings,
    /// Certificate chains and keys, in preference order (PEM files).
    pub certificates: Vec<(PathBuf, PathBuf)>,
    /// Send each certificate's leaf alone, without its intermediates, to clients provisioned
    /// with them (`qtls client --intermediates`): a composite ML-DSA-65 intermediate is some
    /// 5.8 KB, what keeps a hybrid first flight over one initial congestion window
    /// ([RFC 6928](https://www.rfc-editor.org/rfc/rfc6928), 10 segments). Clients without
    /// them get unknown_ca. Stapling still uses the whole chain.
    pub omit_intermediates: bool,
    /// Client authentication; None: no client certificates requested.
    pub client_auth: Option<ClientAuth>,
    /// OCSP stapling; None: no stapling.
    pub stapling: Option<StaplingConfig>,
    /// Refuse ClientHellos without a post-quantum group (None: as the preset requires).
    pub require_post_quantum: Option<bool>,
    /// Only post-quantum certificates are served.
    pub require_pq_signatures: bool,
    /// Limits and timeouts.
    pub limits: Limits,
    /// A certificate whose key is in a PKCS#11 token (served after `certificates`); its
    /// handshakes run off the runtime's workers (see [`qtls::hsm`]).
    pub hsm: Option<qtls::hsm::HsmSettings>,
    /// Session resumption: the stateful store and the ticketer.
    pub sessions: SessionSettings,
    /// What the server does with a connection after the handshake.
    pub application: Application,
}

/// What [`crate::Server::run`] does with a connection after the handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Application {
    /// Answers one HTTP/1.x request with a JSON description of the connection
    /// ([`crate::app::http::serve_http`]).
    #[default]
    Http,
    /// Sends every byte back until the client closes ([`crate::app::echo::serve_echo`]); for tests.
    Echo,
}

/// Where stateful sessions live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStoreSetting {
    /// In this process ([`qtls::sessions::MemorySessionStore`], bounded by
    /// [`SessionSettings::memory_store_bytes`]).
    #[default]
    Memory,
    /// In Redis or Redis Cluster, shared by a fleet; needs [`SessionSettings::fleet_secret`].
    Redis(qtls::sessions::RedisTarget),
    /// No stateful resumption.
    Off,
}

/// Which tickets the server issues (TLS 1.3 stateless resumption).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TicketSetting {
    /// No tickets: resumption is stateful only (what 0-RTT needs).
    #[default]
    Off,
    /// Random keys rotated in memory: one node.
    Software,
    /// Keys derived from [`SessionSettings::fleet_secret`] and the period: every node of a
    /// fleet resumes every node's tickets.
    Fleet,
    /// The ticket key in the PKCS#11 token (needs [`ServerSettings::hsm`] with a rotation).
    Hsm,
}

/// Session resumption settings.
#[derive(Clone, Debug, Default)]
pub struct SessionSettings {
    /// The stateful store.
    pub store: SessionStoreSetting,
    /// The tickets.
    pub tickets: TicketSetting,
    /// The fleet's shared secret (a file of at least 32 bytes, raw or hex): encrypts and
    /// authenticates Redis entries and derives fleet ticket keys.
    pub fleet_secret: Option<PathBuf>,
    /// Ticket key rotation (default 24 h).
    pub ticket_rotation: Option<Duration>,
    /// The memory store's bound in bytes of session identifiers and sessions (default
    /// `MemorySessionStore::DEFAULT_MAX_BYTES`, 32 MiB).
    pub memory_store_bytes: Option<usize>,
    /// 0-RTT (default off); needs a stateful store and tickets off.
    pub early_data: qtls::EarlyDataSettings,
    /// Whether a handshake waits for Redis to confirm each session it stores (default, exact:
    /// a client gets a session only once it is stored) or only queues the write (two Redis
    /// round trips less per handshake; see `RedisStoreBuilder::wait_for_puts`).
    pub queue_store_writes: bool,
}

impl SessionSettings {
    fn secret(&self, what: &str) -> Result<qtls::sessions::FleetSecret, Error> {
        let path = self.fleet_secret.as_ref().ok_or_else(|| {
            Error::Config(format!("{what} needs a fleet secret (--ticket-key-file)"))
        })?;
        qtls::sessions::FleetSecret::from_file(path)
    }

    /// Installs the store and the ticketer in `config`; returns the store and our software
    /// ticketer (for their counters), where there are.
    #[allow(clippy::type_complexity)] // A private pair, named at its one call site.
    pub(crate) fn apply(
        &self,
        config: &mut rustls::ServerConfig,
        hsm_ticketer: Option<Arc<dyn rustls::server::ProducesTickets>>,
    ) -> Result<
        (
            Option<Arc<dyn qtls::sessions::SessionStore>>,
            Option<Arc<qtls::sessions::RotatingTicketer>>,
        ),
        Error,
    > {
        use qtls::sessions::{MemorySessionStore, RedisSessionStore, RotatingTicketer};
        let store: Option<Arc<dyn qtls::sessions::SessionStore>> = match &self.store {
            SessionStoreSetting::Memory => Some(Arc::new(MemorySessionStore::with_max_bytes(
                self.memory_store_bytes
                    .unwrap_or(MemorySessionStore::DEFAULT_MAX_BYTES),
            ))),
            SessionStoreSetting::Redis(target) => Some(
                RedisSessionStore::builder(target.clone(), self.secret("a Redis session store")?)
                    .wait_for_puts(!self.queue_store_writes)
                    .build()?,
            ),
            SessionStoreSetting::Off => None,
        };
        config.session_storage = match &store {
            Some(store) => Arc::clone(store) as Arc<dyn rustls::server::StoresServerSessions>,
            None => Arc::new(rustls::server::NoServerSessionStorage {}),
        };
        let rotation = self
            .ticket_rotation
            .unwrap_or(RotatingTicketer::DEFAULT_ROTATION);
        let mut ours = None;
        match self.tickets {
            // A ticket key configured in the token (`--hsm-ticket-rotation`) is used as is.
            TicketSetting::Off => {
                if let Some(ticketer) = hsm_ticketer {
                    config.ticketer = ticketer;
                }
            }
            TicketSetting::Software => {
                let ticketer = RotatingTicketer::random()
                    .rotation_period(rotation)
                    .build()?;
                config.ticketer = Arc::clone(&ticketer) as Arc<dyn rustls::server::ProducesTickets>;
                ours = Some(ticketer);
            }
            TicketSetting::Fleet => {
                let ticketer = RotatingTicketer::fleet(self.secret("fleet tickets")?)
                    .rotation_period(rotation)
                    .build()?;
                config.ticketer = Arc::clone(&ticketer) as Arc<dyn rustls::server::ProducesTickets>;
                ours = Some(ticketer);
            }
            TicketSetting::Hsm => {
                config.ticketer = hsm_ticketer.ok_or_else(|| {
                    Error::Config("HSM tickets need --hsm-module with a ticket key rotation".into())
                })?;
            }
        }
        if self.early_data.enabled {
            // rustls accepts early data on stateful sessions only, and a session taken from
            // the store is what makes it single-use.
            if rustls::server::ProducesTickets::enabled(&*config.ticketer) {
                return Err(Error::Config(
                    "early data needs stateful sessions: turn tickets off (--tickets off)".into(),
                ));
            }
            if store.is_none() {
                return Err(Error::Config(
                    "early data needs a session store (--session-store memory or redis://...)"
                        .into(),
                ));
            }
            if self.queue_store_writes && matches!(self.store, SessionStoreSetting::Redis(_)) {
                // A queued write can land after the lookup that missed it; the session would
                // then be there for a replay of the flight that the client already re-sent.
                return Err(Error::Config(
                    "early data needs stored sessions confirmed: drop --queue-store-writes".into(),
                ));
            }
            if self.early_data.max_size == 0 {
                return Err(Error::Config(
                    "early data needs a maximum size above 0".into(),
                ));
            }
            config.max_early_data_size = self.early_data.max_size;
            // Answer an early request in the server's first flight ("half-RTT data").
            config.send_half_rtt_data = true;
        }
        Ok((store, ours))
    }
}

/// The bounds qtls.toml and the CLI put on these settings, checked by the same functions:
/// rustls refuses early data more than 60 s off (RFC 8446 §8.3), the early data a client
/// may send costs the server that much buffer, and a zero timeout cuts every handshake.
pub(crate) fn check_bounds(settings: &ServerSettings) -> Result<(), String> {
    use crate::config::{check_early_data_window, check_handshake_timeout, check_max_early_data};
    check_handshake_timeout(
        "limits.handshake_timeout",
        settings.limits.handshake_timeout,
    )?;
    let early = &settings.sessions.early_data;
    check_max_early_data("sessions.early_data.max_size", early.max_size)?;
    check_early_data_window(
        "sessions.early_data.freshness_window",
        early.freshness_window,
    )
}
