//! A tokio TLS server: the policy gate, certificate selection, mTLS with authorization,
//! OCSP stapling, connection limits, graceful shutdown and close_notify handling, answering
//! HTTP/1.x GET with a JSON description of the connection.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use qtls_verifier::{ClientIdentity, ClientVerifierBuilder, RevocationDepth, RevocationPolicy};
use rustls::server::danger::ClientCertVerifier;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::acceptor::{ConnectionContext, KeyExchangePolicy, QtlsAcceptor};
use crate::acl::{Acl, AuthorizingVerifier, DenyWith};
use crate::certs::{CertificateSet, ServedCertificate};
use crate::connection::ConnectionInfo;
use crate::error::Error;
use crate::stapling::{Stapler, StaplingConfig};
use crate::tls::{read_certificates, Identity, TlsSettings};

/// The largest HTTP request head the server reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

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
    /// ([`crate::AcceptorBuilder::max_offloaded_handshakes`]).
    pub max_blocking_handshakes: usize,
    /// From accept to a finished handshake.
    pub handshake_timeout: Duration,
    /// Waiting for a request, or for the peer's close_notify after the response.
    pub idle_timeout: Duration,
    /// How long shutdown waits for connections in progress.
    pub shutdown_grace: Duration,
    /// When connections update their traffic keys (besides rustls's own updates).
    pub key_update: crate::KeyUpdatePolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_blocking_handshakes: QtlsAcceptor::DEFAULT_MAX_OFFLOADED_HANDSHAKES,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            key_update: crate::KeyUpdatePolicy::default(),
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
    /// handshakes run off the runtime's workers (see [`crate::hsm`]).
    pub hsm: Option<crate::hsm::HsmSettings>,
    /// Session resumption: the stateful store and the ticketer.
    pub sessions: SessionSettings,
    /// What the server does with a connection after the handshake.
    pub application: Application,
}

/// What [`Server::run`] does with a connection after the handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Application {
    /// Answers one HTTP/1.x request with a JSON description of the connection
    /// ([`serve_http`]).
    #[default]
    Http,
    /// Sends every byte back until the client closes ([`serve_echo`]); for tests.
    Echo,
}

/// Where stateful sessions live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStoreSetting {
    /// In this process ([`crate::sessions::MemorySessionStore`], bounded by
    /// [`SessionSettings::memory_store_bytes`]).
    #[default]
    Memory,
    /// In Redis or Redis Cluster, shared by a fleet; needs [`SessionSettings::fleet_secret`].
    Redis(crate::sessions::RedisTarget),
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
    pub early_data: crate::EarlyDataSettings,
    /// Whether a handshake waits for Redis to confirm each session it stores (default, exact:
    /// a client gets a session only once it is stored) or only queues the write (two Redis
    /// round trips less per handshake; see `RedisStoreBuilder::wait_for_puts`).
    pub queue_store_writes: bool,
}

impl SessionSettings {
    fn secret(&self, what: &str) -> Result<crate::sessions::FleetSecret, Error> {
        let path = self.fleet_secret.as_ref().ok_or_else(|| {
            Error::Config(format!("{what} needs a fleet secret (--ticket-key-file)"))
        })?;
        crate::sessions::FleetSecret::from_file(path)
    }

    /// Installs the store and the ticketer in `config`; returns the store and our software
    /// ticketer (for their counters), where there are.
    #[allow(clippy::type_complexity)] // A private pair, named at its one call site.
    fn apply(
        &self,
        config: &mut rustls::ServerConfig,
        hsm_ticketer: Option<Arc<dyn rustls::server::ProducesTickets>>,
    ) -> Result<
        (
            Option<Arc<dyn crate::sessions::SessionStore>>,
            Option<Arc<crate::sessions::RotatingTicketer>>,
        ),
        Error,
    > {
        use crate::sessions::{MemorySessionStore, RedisSessionStore, RotatingTicketer};
        let store: Option<Arc<dyn crate::sessions::SessionStore>> = match &self.store {
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
fn check_bounds(settings: &ServerSettings) -> Result<(), String> {
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

/// A server ready to run: the listener, the acceptor and its staplers.
pub struct Server {
    listener: TcpListener,
    acceptor: QtlsAcceptor,
    staplers: Vec<Arc<Stapler>>,
    acl_403: Option<Acl>,
    limits: Limits,
    shutdown: watch::Sender<bool>,
    hsm: Option<qtls_hsm::Hsm>,
    application: Application,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Stops a running [`Server`]: it accepts no more connections and waits (within the grace
/// period) for those in progress.
#[derive(Clone, Debug)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Begins the graceful shutdown.
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

/// How one served connection ended.
#[derive(Clone, Debug)]
pub struct ServedConnection {
    /// What was negotiated and who the client is.
    pub context: ConnectionContext,
    /// The HTTP status sent (None when the client sent no request).
    pub status: Option<u16>,
    /// How the connection closed.
    pub close: CloseKind,
    /// Requests that came as early data.
    pub early: EarlyRequests,
}

/// How a connection closed, as the log reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseKind {
    /// close_notify both ways.
    Clean,
    /// The peer closed the TCP connection without close_notify (possible truncation).
    Truncated,
    /// The peer did not close within the idle timeout.
    PeerKeptOpen,
}

impl Server {
    /// Loads certificates, builds verifiers and staplers, and binds `addr`. Staples are
    /// fetched (or read from the disk cache) before this returns.
    /// Settings out of the ranges below are refused with [`Error::Config`], in the words
    /// qtls.toml and the CLI use for them ([`crate::config::check_handshake_timeout`],
    /// [`crate::config::check_max_early_data`], [`crate::config::check_early_data_window`]).
    pub async fn bind(addr: SocketAddr, settings: ServerSettings) -> Result<Self, Error> {
        if settings.certificates.is_empty() && settings.hsm.is_none() {
            return Err(Error::Config("no certificate configured".into()));
        }
        check_bounds(&settings).map_err(Error::Config)?;
        let provider = settings.tls.provider()?;
        let code_points = settings.tls.code_points;
        let mut served = Vec::new();
        let mut chains = Vec::new();
        for (chain, key) in &settings.certificates {
            crate::sessions::check_private_file(key, "private key")?;
            let identity = Identity::from_pem_files(chain, key, &provider, &settings.tls)?;
            chains.push(read_certificates(chain)?);
            served.push(Arc::new(ServedCertificate::new(
                chain.display().to_string(),
                Arc::clone(&identity.certified_key),
                identity.scheme,
                &code_points,
            )));
        }
        // Opening tokens blocks (module initialisation, login, key lookup).
        let hsm = match settings.hsm.clone() {
            Some(hsm_settings) => Some(
                tokio::task::spawn_blocking(move || hsm_settings.open(&code_points))
                    .await
                    .map_err(|e| Error::Config(format!("opening the HSM: {e}")))??,
            ),
            None => None,
        };
        if let Some(hsm) = &hsm {
            chains.push(hsm.identity.certified_key.cert.clone());
            served.push(Arc::new(ServedCertificate::new(
                format!("pkcs11 key {}", hsm.key.key_ref()),
                Arc::clone(&hsm.identity.certified_key),
                hsm.identity.scheme,
                &code_points,
            )));
        }
        let certificates = Arc::new(CertificateSet::new(
            served.clone(),
            settings.require_pq_signatures,
        ));

        let mut staplers = Vec::new();
        if let Some(stapling) = &settings.stapling {
            for (cert, chain) in served.iter().zip(&chains) {
                let stapler = Arc::new(Stapler::new(
                    Arc::clone(cert),
                    chain,
                    &provider,
                    stapling.clone(),
                )?);
                stapler.initialize().await;
                staplers.push(stapler);
            }
        }

        let mut acl_403 = None;
        let (client_verifier, reporting_verifier) = match &settings.client_auth {
            Some(auth) => {
                let roots = read_certificates(&auth.ca)?;
                // An allow-list implies a client certificate, as nginx's
                // `ssl_verify_client optional` plus a DN check denies a client without one.
                let required = auth.required || auth.acl.requires_certificate();
                if required && !auth.required {
                    tracing::info!(
                        "requiring a client certificate: the allow-list has {} rule(s)",
                        auth.acl.allow.len()
                    );
                }
                let verifier = ClientVerifierBuilder::new(roots, &provider)
                    .revocation_policy(auth.revocation)
                    .revocation_depth(auth.revocation_depth)
                    .crl_files(auth.crl_files.clone())
                    .ocsp_responder(auth.ocsp_responder.clone())
                    .require_pq_signatures(settings.require_pq_signatures)
                    .allow_unauthenticated(!required)
                    .build()
                    .map_err(|e| Error::Config(e.to_string()))?;
                let checking: Arc<dyn ClientCertVerifier> = match auth.deny_with {
                    DenyWith::Alert => Arc::new(AuthorizingVerifier::new(
                        Arc::clone(&verifier),
                        auth.acl.clone(),
                    )),
                    DenyWith::Http403 => {
                        acl_403 = Some(auth.acl.clone());
                        verifier.clone()
                    }
                };
                (Some(checking), Some(verifier))
            }
            None => (None, None),
        };

        let mut config = crate::tls::server_config(
            &settings.tls,
            Arc::clone(&certificates) as Arc<dyn rustls::server::ResolvesServerCert>,
            client_verifier,
        )?;
        let (store, ticketer) = settings.sessions.apply(
            &mut config,
            hsm.as_ref()
                .and_then(|hsm| hsm.ticketer.clone())
                .map(|ticketer| ticketer as Arc<dyn rustls::server::ProducesTickets>),
        )?;
        let require_post_quantum = settings
            .require_post_quantum
            .unwrap_or(settings.tls.preset.requires_post_quantum_kx());
        // TLS 1.2 carries no post-quantum key exchange: served only where the preset has it
        // and the policy does not require one (the gate refuses it otherwise).
        let allow_tls12 = !require_post_quantum
            && settings
                .tls
                .preset
                .protocol_versions()
                .iter()
                .any(|version| version.version == rustls::ProtocolVersion::TLSv1_2)
            && provider
                .cipher_suites
                .iter()
                .any(|suite| suite.version().version == rustls::ProtocolVersion::TLSv1_2);
        // The token's ticketer issues the tickets unless software or fleet tickets replaced
        // it (`apply` returns those).
        let hsm_ticketer = match &ticketer {
            Some(_) => None,
            None => hsm.as_ref().and_then(|hsm| hsm.ticketer.clone()),
        };
        // With a ticketer rustls resumes TLS 1.3 sessions from tickets only.
        let metrics = Arc::new(
            crate::metrics::Metrics::new(
                rustls::server::ProducesTickets::enabled(&*config.ticketer),
                store,
            )
            .with_ticketer(ticketer)
            .with_hsm(hsm.as_ref().map(|hsm| hsm.hsm.clone()), hsm_ticketer),
        );
        let mut acceptor = QtlsAcceptor::builder(Arc::new(config))
            .certificates(certificates)
            .key_exchange_policy(match require_post_quantum {
                true => KeyExchangePolicy::RequirePostQuantum,
                false => KeyExchangePolicy::Any,
            })
            .code_points(code_points)
            .handshake_timeout(settings.limits.handshake_timeout)
            .blocking_handshakes(hsm.is_some())
            .tls12(allow_tls12)
            .max_offloaded_handshakes(settings.limits.max_blocking_handshakes)
            .early_data_window(settings.sessions.early_data.freshness_window)
            .metrics(Arc::clone(&metrics));
        if let Some(verifier) = reporting_verifier {
            acceptor = acceptor.client_verifier(verifier);
        }
        // Resumed sessions skip the verifier: the acceptor applies the ACL to them.
        if let Some(auth) = settings
            .client_auth
            .as_ref()
            .filter(|a| a.deny_with == DenyWith::Alert)
        {
            acceptor = acceptor.acl(auth.acl.clone());
        }
        let acceptor = acceptor.build()?;
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            acceptor,
            staplers,
            acl_403,
            limits: settings.limits,
            shutdown,
            hsm: hsm.map(|hsm| hsm.hsm),
            application: settings.application,
            metrics,
        })
    }

    /// The server's counters (handshakes, resumptions, refusals, key updates, the session
    /// store's); serve them with [`crate::metrics::serve`].
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The tokens behind the HSM certificate, when there is one (for their status).
    pub fn hsm(&self) -> Option<&qtls_hsm::Hsm> {
        self.hsm.as_ref()
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.listener.local_addr()?)
    }

    /// The acceptor, for serving connections with another protocol stack (hyper, ...).
    pub fn acceptor(&self) -> &QtlsAcceptor {
        &self.acceptor
    }

    /// The OCSP staplers (one per certificate, when stapling is on).
    pub fn staplers(&self) -> &[Arc<Stapler>] {
        &self.staplers
    }

    /// A handle that stops [`Server::run`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Accepts and serves connections until shut down; each runs on its own task, at most
    /// `max_connections` at once.
    pub async fn run(self) -> Result<(), Error> {
        let refreshers: Vec<_> = self.staplers.iter().map(|s| s.spawn_refresh()).collect();
        let permits = Arc::new(Semaphore::new(self.limits.max_connections));
        let mut stop = self.shutdown.subscribe();
        let this = Arc::new(self);
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => permit.map_err(|_| Error::Config("semaphore closed".into()))?,
                _ = stop.changed() => break,
            };
            let (tcp, peer) = tokio::select! {
                accepted = this.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let server = Arc::clone(&this);
            tasks.spawn(async move {
                let _permit = permit;
                match server.serve_tcp(tcp).await {
                    Ok(served) => tracing::info!(
                        %peer,
                        group = ?served.context.info.group,
                        client = ?served.context.client.as_ref().map(|c| &c.subject),
                        status = ?served.status,
                        close = ?served.close,
                        "served"
                    ),
                    Err(e) => tracing::warn!(%peer, "connection failed: {e}"),
                }
            });
            while tasks.try_join_next().is_some() {}
        }
        tracing::info!("shutting down: waiting for {} connection(s)", tasks.len());
        let drained = tokio::time::timeout(this.limits.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "shutdown grace period over; aborting {} connection(s)",
                tasks.len()
            );
            tasks.abort_all();
        }
        for refresher in refreshers {
            refresher.abort();
        }
        this.metrics.log();
        Ok(())
    }

    /// Accepts one connection and serves it (for tests and demos).
    pub async fn accept_one(&self) -> Result<ServedConnection, Error> {
        let (tcp, _) = self.listener.accept().await?;
        self.serve_tcp(tcp).await
    }

    async fn serve_tcp(&self, tcp: TcpStream) -> Result<ServedConnection, Error> {
        self.metrics.connection();
        // Handshake flights and short answers are written in pieces: do not let Nagle's
        // algorithm hold them back for the peer's delayed ACK.
        let _ = tcp.set_nodelay(true);
        let (tls, context) = match self.acceptor.accept(tcp).await {
            Ok(accepted) => accepted,
            Err(e) => {
                match &e {
                    crate::AcceptError::Refused(refusal) => {
                        self.metrics.refused(crate::alert_name(refusal.alert()))
                    }
                    crate::AcceptError::Closed => {}
                    crate::AcceptError::ClientHelloTooLarge(_) => {
                        self.metrics.refused("decode_error".into())
                    }
                    crate::AcceptError::Timeout | crate::AcceptError::Tls(_) => {
                        self.metrics.handshake_failed()
                    }
                }
                return Err(Error::Accept(e));
            }
        };
        self.metrics.handshake(tls.get_ref().1.handshake_kind());
        let tls = crate::KeyUpdating::new(tls, self.limits.key_update, "server")
            .with_counter(self.metrics.key_update_counter());
        match self.application {
            Application::Http => {
                let served = serve_http(
                    tls,
                    context,
                    self.acl_403.as_ref(),
                    self.limits.idle_timeout,
                )
                .await?;
                self.metrics.early_requests(served.early);
                Ok(served)
            }
            Application::Echo => {
                let close = serve_echo(tls, self.limits.idle_timeout).await?;
                Ok(ServedConnection {
                    context,
                    status: None,
                    close,
                    early: EarlyRequests::default(),
                })
            }
        }
    }
}

/// The JSON body describing a connection.
#[derive(Serialize)]
struct Description<'a> {
    #[serde(flatten)]
    info: &'a ConnectionInfo,
    client: Option<ClientDescription<'a>>,
    method: &'a str,
    body_bytes: u64,
    /// Whether the request was read as early data, before the handshake completed.
    early_data: bool,
}

#[derive(Serialize)]
struct ClientDescription<'a> {
    subject: &'a str,
    serial: &'a str,
    issuer: &'a str,
    subject_alt_names: &'a [String],
}

impl<'a> From<&'a ClientIdentity> for ClientDescription<'a> {
    fn from(identity: &'a ClientIdentity) -> Self {
        Self {
            subject: &identity.subject,
            serial: &identity.serial,
            issuer: &identity.issuer,
            subject_alt_names: &identity.subject_alt_names,
        }
    }
}

/// Answers one HTTP/1.x request on an accepted TLS stream, then closes with close_notify
/// and waits for the peer's.
///
/// GET and HEAD get a JSON description of the connection, POST the same with the size of
/// its body. A request that arrives as early data (see [`crate::EarlyDataStatus`]) is
/// answered at once, possibly before the handshake is complete, only when its method is
/// safe (GET, HEAD, OPTIONS); any other gets `425 Too Early` (RFC 8470 §5.2) and the
/// connection stays open for the client to repeat it after the handshake.
pub async fn serve_http<S>(
    mut tls: S,
    context: ConnectionContext,
    acl_403: Option<&Acl>,
    idle_timeout: Duration,
) -> Result<ServedConnection, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut requests = RequestReader::default();
    let mut early = EarlyRequests::default();
    let (request, from_early_data) = loop {
        let request = match tokio::time::timeout(idle_timeout, requests.next(&mut tls)).await {
            Err(_) => return Err(Error::Timeout("HTTP request")),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tracing::warn!("connection truncated: the peer closed without close_notify before sending a request");
                return Ok(ServedConnection {
                    context,
                    status: None,
                    close: CloseKind::Truncated,
                    early,
                });
            }
            Ok(result) => result?,
        };
        let Some(request) = request else {
            // close_notify before any request: answer it with ours.
            let _ = tokio::time::timeout(idle_timeout, tls.shutdown()).await;
            return Ok(ServedConnection {
                context,
                status: None,
                close: CloseKind::Clean,
                early,
            });
        };
        // Early data is the first part of what the client sends: a request that starts in
        // it came (at least in part) as early data, whether or not the handshake completed
        // meanwhile, which depends on how the client's flights were cut into segments.
        let from_early_data = request.starts_at < context.early_data.early_bytes_read();
        if !from_early_data || request.is_safe() || request.chunked {
            break (request, from_early_data);
        }
        if early.too_early > 0 || request.method.is_empty() {
            // One 425 is all a client needs; more unsafe requests before the handshake (or
            // garbage) end the connection rather than fill it with answers.
            tracing::warn!("more unsafe requests in early data: closing");
            let _ = tokio::time::timeout(idle_timeout, tls.shutdown()).await;
            return Ok(ServedConnection {
                context,
                status: None,
                close: CloseKind::Clean,
                early,
            });
        }
        // Not once more than the client meant: answer after the handshake, when a replay
        // can no longer get here.
        early.too_early += 1;
        tracing::info!(
            "{} in early data: 425 Too Early, waiting for it after the handshake",
            request.method
        );
        let body = "{\"error\":\"too early\"}\n";
        let response = format!(
            "HTTP/1.1 425 Too Early\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tokio::time::timeout(idle_timeout, async {
            tls.write_all(response.as_bytes()).await?;
            tls.flush().await
        })
        .await
        .map_err(|_| Error::Timeout("writing 425 Too Early"))??;
    };
    if let Some(why) = &request.malformed {
        tracing::info!("400 Bad Request: {why}");
    }
    if request.chunked {
        // Bodies are read by Content-Length only; a chunked one cannot be skipped safely.
        let response =
            "HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        tls.write_all(response.as_bytes()).await?;
        let _ = tokio::time::timeout(idle_timeout, tls.shutdown()).await;
        return Ok(ServedConnection {
            context,
            status: Some(411),
            close: CloseKind::Clean,
            early,
        });
    }
    if from_early_data {
        early.answered += 1;
    }
    let denied = match (acl_403, &context.client) {
        (Some(acl), Some(identity)) => !acl.permits(identity),
        (Some(acl), None) => !acl.allow.is_empty(),
        _ => false,
    };
    let (status, reason, body) = if denied {
        (403, "Forbidden", "{\"error\":\"forbidden\"}".to_string())
    } else {
        match request.method.as_str() {
            "GET" | "HEAD" | "POST" | "OPTIONS" => {
                let description = Description {
                    info: &context.info,
                    client: context.client.as_ref().map(ClientDescription::from),
                    method: &request.method,
                    body_bytes: request.body_bytes,
                    early_data: from_early_data,
                };
                let body =
                    serde_json::to_string(&description).map_err(|e| Error::Http(e.to_string()))?;
                (200, "OK", body)
            }
            "" => (
                400,
                "Bad Request",
                "{\"error\":\"bad request\"}".to_string(),
            ),
            _ => (
                405,
                "Method Not Allowed",
                "{\"error\":\"method not allowed\"}".to_string(),
            ),
        }
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len() + 1
    )
    .into_bytes();
    if request.method != "HEAD" {
        response.extend_from_slice(body.as_bytes());
        response.push(b'\n');
    }
    tokio::time::timeout(idle_timeout, tls.write_all(&response))
        .await
        .map_err(|_| Error::Timeout("writing the response"))??;
    // close_notify, then the TCP FIN; the peer may still read the response after having
    // closed its own side (half-close). After early data that waits for the client's
    // Finished (see `EarlyDataStream`), which a client that vanished never sends.
    match tokio::time::timeout(idle_timeout, tls.shutdown()).await {
        Ok(result) => result?,
        Err(_) => {
            return Ok(ServedConnection {
                context,
                status: Some(status),
                close: CloseKind::PeerKeptOpen,
                early,
            })
        }
    }
    let close = drain_until_close(&mut tls, idle_timeout).await;
    if close == CloseKind::Truncated {
        tracing::warn!("connection truncated: the peer closed without close_notify");
    }
    Ok(ServedConnection {
        context,
        status: Some(status),
        close,
        early,
    })
}

/// Requests of a connection that came as early data, by what the server did with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EarlyRequests {
    /// Answered before the handshake completed (safe methods).
    pub answered: u64,
    /// Answered with 425 Too Early.
    pub too_early: u64,
}

/// One HTTP/1.x request, its body read and counted.
#[derive(Debug)]
pub(crate) struct Request {
    method: String,
    body_bytes: u64,
    /// Where in the stream of the client's bytes it starts.
    starts_at: u64,
    /// Whether it has a `Transfer-Encoding` (whose body is not read).
    chunked: bool,
    /// Why it gets 400 and a close: a head that does not parse or is too large, or a length
    /// that is not one number. Its method is empty and its body is not read.
    pub(crate) malformed: Option<String>,
}

impl Request {
    /// RFC 9110 §9.2.1 safe methods (TRACE aside).
    fn is_safe(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }

    fn malformed(starts_at: u64, why: String) -> Self {
        Self {
            method: String::new(),
            body_bytes: 0,
            starts_at,
            chunked: false,
            malformed: Some(why),
        }
    }
}

/// Reads HTTP/1.x requests off a stream, keeping bytes read past one for the next.
///
/// Each byte of a head is looked at a bounded number of times however it is cut into reads
/// (see [`HeadEnd`]), then parsed once by `httparse`; heads are at most [`MAX_REQUEST_HEAD`]
/// bytes and [`RequestReader::MAX_HEADERS`] fields, bodies (read and discarded) at most
/// [`RequestReader::MAX_BODY`] bytes.
#[derive(Default)]
pub(crate) struct RequestReader {
    buffered: Vec<u8>,
    /// Bytes read from the stream so far (`buffered` being the last of them).
    read: u64,
    pub(crate) head_end: HeadEnd,
}

impl RequestReader {
    /// The largest request body the server reads (and discards).
    const MAX_BODY: u64 = 1024 * 1024;

    /// The most header fields a request may have.
    const MAX_HEADERS: usize = 64;

    /// The next request; `None` when the peer sent close_notify before one.
    pub(crate) async fn next<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> std::io::Result<Option<Request>> {
        let mut buf = [0u8; 4096];
        let starts_at = self.read - self.buffered.len() as u64;
        let head_end = loop {
            if let Some(end) = self.head_end.find(&self.buffered) {
                break Some(end);
            }
            if self.buffered.len() > MAX_REQUEST_HEAD {
                break None;
            }
            let read = stream.read(&mut buf).await?;
            if read == 0 {
                if self.buffered.is_empty() {
                    return Ok(None);
                }
                // close_notify in the middle of a head (RFC 9112 §8: incomplete).
                break None;
            }
            self.read += read as u64;
            self.buffered.extend_from_slice(&buf[..read]);
        };
        self.head_end.restart();
        let Some(head_end) = head_end.filter(|&end| end <= MAX_REQUEST_HEAD) else {
            return Ok(Some(Request::malformed(
                starts_at,
                format!("no complete request head in {MAX_REQUEST_HEAD} bytes"),
            )));
        };
        let parsed = parse_request_head(&self.buffered[..head_end], &mut self.head_end);
        self.buffered.drain(..head_end);
        let (method, chunked, length) = match parsed {
            Ok(parsed) => parsed,
            Err(why) => return Ok(Some(Request::malformed(starts_at, why))),
        };
        let body_bytes = if chunked { 0 } else { length };
        if body_bytes > Self::MAX_BODY {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "request body of {body_bytes} bytes, over {}",
                    Self::MAX_BODY
                ),
            ));
        }
        let mut left = body_bytes;
        loop {
            let from_buffer = left.min(self.buffered.len() as u64);
            self.buffered.drain(..from_buffer as usize);
            left -= from_buffer;
            if left == 0 {
                break;
            }
            let read = stream.read(&mut buf).await?;
            if read == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.read += read as u64;
            self.buffered.extend_from_slice(&buf[..read]);
        }
        Ok(Some(Request {
            method,
            body_bytes,
            starts_at,
            chunked,
            malformed: None,
        }))
    }
}

/// Parses a complete request head: its method, whether it has a Transfer-Encoding, and its
/// Content-Length (0 without one).
fn parse_request_head(head: &[u8], work: &mut HeadEnd) -> Result<(String, bool, u64), String> {
    work.scanned += head.len() as u64;
    let mut headers = [httparse::EMPTY_HEADER; RequestReader::MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("incomplete request head".into()),
        Err(e) => return Err(format!("malformed request head: {e}")),
    }
    let chunked = request
        .headers
        .iter()
        .any(|header| header.name.eq_ignore_ascii_case("transfer-encoding"));
    let length = content_length(request.headers)?.unwrap_or(0);
    Ok((
        request.method.unwrap_or_default().to_string(),
        chunked,
        length,
    ))
}

/// Finds the empty line that ends an HTTP/1.x head (RFC 9112 §2.1; a bare LF ends a line
/// too, §2.2) in a buffer that grows between calls, looking at each byte once, a `\n` at most
/// three times, however the head is cut into reads.
#[derive(Debug, Default)]
pub(crate) struct HeadEnd {
    /// Bytes before this cannot begin the empty line.
    decided: usize,
    /// Bytes looked at (and parsed, by the callers), to test the bound.
    pub(crate) scanned: u64,
}

impl HeadEnd {
    /// Where the head in `buffered` ends (just past its empty line), once it is there.
    pub(crate) fn find(&mut self, buffered: &[u8]) -> Option<usize> {
        while let Some(&byte) = buffered.get(self.decided) {
            self.scanned += 1;
            if byte == b'\n' {
                match &buffered[self.decided + 1..] {
                    [b'\n', ..] => return Some(self.decided + 2),
                    [b'\r', b'\n', ..] => return Some(self.decided + 3),
                    // What follows has not arrived yet.
                    [] | [b'\r'] => return None,
                    _ => {}
                }
            }
            self.decided += 1;
        }
        None
    }

    /// Starts over for the next head, at the start of the buffer.
    pub(crate) fn restart(&mut self) {
        self.decided = 0;
    }
}

/// The body length a head's Content-Length fields give (RFC 9110 §8.6): `None` without one.
/// A value that is not all digits (`+5`, `-1`, `0x5`), that overflows, or fields (or list
/// members) that disagree are an error (RFC 9112 §6.3: 400 and close); identical repeats are
/// one length.
pub(crate) fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<u64>, String> {
    let mut length = None;
    let values = headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("content-length"))
        .flat_map(|header| header.value.split(|&b| b == b','));
    for value in values {
        let value = value.trim_ascii();
        let parsed = std::str::from_utf8(value)
            .ok()
            .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u64>().ok())
            .ok_or_else(|| {
                format!(
                    "Content-Length {:?} is not a length",
                    String::from_utf8_lossy(value)
                )
            })?;
        if length.is_some_and(|seen| seen != parsed) {
            return Err("Content-Length fields disagree".into());
        }
        length = Some(parsed);
    }
    Ok(length)
}

/// Sends every byte read back on an accepted TLS stream until the peer's close_notify (or
/// `idle_timeout` without data), then closes with close_notify.
pub async fn serve_echo<S>(mut tls: S, idle_timeout: Duration) -> Result<CloseKind, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 64 * 1024];
    let close = loop {
        match tokio::time::timeout(idle_timeout, tls.read(&mut buf)).await {
            Err(_) => break CloseKind::PeerKeptOpen,
            Ok(Ok(0)) => break CloseKind::Clean,
            Ok(Ok(n)) => tls.write_all(&buf[..n]).await?,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break CloseKind::Truncated
            }
            Ok(Err(e)) => return Err(e.into()),
        }
    };
    let _ = tokio::time::timeout(idle_timeout, tls.shutdown()).await;
    Ok(close)
}

async fn drain_until_close<S: AsyncRead + Unpin>(tls: &mut S, idle_timeout: Duration) -> CloseKind {
    let mut sink = [0u8; 1024];
    let drained = tokio::time::timeout(idle_timeout, async {
        loop {
            match tls.read(&mut sink).await {
                Ok(0) => return CloseKind::Clean,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return CloseKind::Truncated
                }
                Err(_) => return CloseKind::Truncated,
            }
        }
    })
    .await;
    drained.unwrap_or(CloseKind::PeerKeptOpen)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::early_data::{EarlyDataProgress, EarlyDataStatus};

    /// Serves `input`, of which the first `early` bytes count as early data; returns the
    /// status lines sent and what `serve_http` reported.
    async fn serve(input: &str, early: usize) -> (Vec<String>, ServedConnection) {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        client.write_all(input.as_bytes()).await.unwrap();
        client.shutdown().await.unwrap();
        let context = ConnectionContext {
            info: ConnectionInfo::default(),
            client: None,
            early_data: EarlyDataStatus::Accepted(EarlyDataProgress::after_reading(early as u64)),
        };
        let served = serve_http(server, context, None, Duration::from_secs(5))
            .await
            .unwrap();
        let mut output = String::new();
        client.read_to_string(&mut output).await.unwrap();
        let statuses = output
            .lines()
            .filter(|line| line.starts_with("HTTP/1.1"))
            .map(str::to_string)
            .collect();
        (statuses, served)
    }

    #[tokio::test]
    async fn unsafe_requests_in_early_data_get_425_even_when_pipelined() {
        let post = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        let get = "GET / HTTP/1.1\r\n\r\n";
        // A POST in early data, then (after the handshake) the client's retry.
        let (statuses, served) = serve(&format!("{post}{post}"), post.len()).await;
        assert_eq!(statuses, ["HTTP/1.1 425 Too Early", "HTTP/1.1 200 OK"]);
        assert_eq!((served.early.too_early, served.early.answered), (1, 0));

        // Two POSTs in early data, read in one go: one 425, then the connection ends.
        let (statuses, served) = serve(&format!("{post}{post}{get}"), 2 * post.len()).await;
        assert_eq!(statuses, ["HTTP/1.1 425 Too Early"]);
        assert_eq!((served.status, served.early.too_early), (None, 1));

        // A POST that starts in early data and ends after it is early too.
        let (statuses, _) = serve(&format!("{post}{get}"), 5).await;
        assert_eq!(statuses, ["HTTP/1.1 425 Too Early", "HTTP/1.1 200 OK"]);

        // A GET in early data is answered at once.
        let (statuses, served) = serve(get, get.len()).await;
        assert_eq!(statuses, ["HTTP/1.1 200 OK"]);
        assert_eq!(served.early.answered, 1);
    }

    /// A stream that hands out one byte per read, as a peer sending 1-byte TLS records does
    /// (the client's response reader's tests use it too).
    pub(crate) struct OneByteAtATime(pub(crate) std::io::Cursor<Vec<u8>>);

    impl AsyncRead for OneByteAtATime {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let mut byte = [0u8; 1];
            let n = std::io::Read::read(&mut self.0, &mut byte)?;
            buf.put_slice(&byte[..n]);
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_head_read_one_byte_at_a_time_is_scanned_a_bounded_number_of_times() {
        // Lines of every length, the longest nearly filling the head.
        let mut head = String::from("POST / HTTP/1.1\r\nContent-Length: 2\r\n");
        for len in [0, 1, 2, 3, 10, 100, 1000] {
            head.push_str(&format!("X-Padding: {}\r\n", "a".repeat(len)));
        }
        let rest = MAX_REQUEST_HEAD - head.len() - 20;
        head.push_str(&format!("X-Padding: {}\r\n\r\n", "a".repeat(rest)));
        let mut stream = OneByteAtATime(std::io::Cursor::new(format!("{head}ok").into_bytes()));
        let mut reader = RequestReader::default();
        let request = reader.next(&mut stream).await.unwrap().unwrap();
        assert_eq!((request.method.as_str(), request.body_bytes), ("POST", 2));
        assert!(
            reader.head_end.scanned <= 4 * head.len() as u64,
            "{} bytes examined for a head of {}",
            reader.head_end.scanned,
            head.len()
        );
    }

    #[tokio::test]
    async fn content_lengths_must_be_one_unsigned_number() {
        let bad = [
            "Content-Length: +5",
            "Content-Length: -5",
            "Content-Length: 5x",
            "Content-Length: 0x5",
            "Content-Length: ",
            "Content-Length: 5\r\nContent-Length: 3",
            "Content-Length: 5, 3",
            "Content-Length: 99999999999999999999999",
        ];
        for header in bad {
            let input = format!("POST / HTTP/1.1\r\n{header}\r\n\r\nhello");
            let (statuses, served) = serve(&input, 0).await;
            assert_eq!(statuses, ["HTTP/1.1 400 Bad Request"], "{header:?}");
            assert_eq!(served.status, Some(400), "{header:?}");
        }
        // RFC 9110 §8.6: a repeated length is one length.
        for header in [
            "Content-Length: 5",
            "Content-Length: 5\r\nContent-Length: 5",
            "Content-Length: 5, 5",
        ] {
            let input = format!("POST / HTTP/1.1\r\n{header}\r\n\r\nhello");
            let (statuses, _) = serve(&input, 0).await;
            assert_eq!(statuses, ["HTTP/1.1 200 OK"], "{header:?}");
        }
    }

    #[tokio::test]
    async fn malformed_and_oversized_heads_get_400() {
        let long = format!(
            "GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n",
            "a".repeat(MAX_REQUEST_HEAD)
        );
        let endless = format!("GET / HTTP/1.1\r\nX-Long: {}", "a".repeat(MAX_REQUEST_HEAD));
        for input in [
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
            "NOT HTTP\r\n\r\n",
            &long,
            &endless,
        ] {
            let (statuses, served) = serve(input, 0).await;
            assert_eq!(statuses, ["HTTP/1.1 400 Bad Request"], "{input:.60}");
            assert_eq!(served.status, Some(400));
        }
    }

    #[tokio::test]
    async fn chunked_bodies_are_refused() {
        let input = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        // After the handshake, and in early data (no 425 for a request that is refused).
        for early in [0, input.len()] {
            let (statuses, served) = serve(input, early).await;
            assert_eq!(statuses, ["HTTP/1.1 411 Length Required"]);
            assert_eq!((served.status, served.early.too_early), (Some(411), 0));
        }
    }
}
