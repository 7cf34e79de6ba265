//! A tokio TLS server for the `qtls` CLI: the accept loop around [`qtls::QtlsAcceptor`]
//! (the policy gate, certificate selection, mTLS with authorization), OCSP stapling,
//! connection limits, graceful shutdown, and one of the demo applications ([`crate::app`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use qtls::{
    read_certificates, Acl, AuthorizingVerifier, CertificateSet, ConnectionContext, DenyWith,
    Error, Identity, KeyExchangePolicy, QtlsAcceptor, ServedCertificate, Stapler,
};
use qtls_verifier::ClientVerifierBuilder;
use rustls::server::danger::ClientCertVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::app::echo::serve_echo;
use crate::app::http::{serve_http, EarlyRequests};

mod settings;

use settings::check_bounds;
pub use settings::{
    Application, ClientAuth, Limits, ServerSettings, SessionSettings, SessionStoreSetting,
    TicketSetting,
};

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
    metrics: Arc<qtls::metrics::Metrics>,
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
    /// qtls.toml and the CLI use for them ([`qtls::bounds::check_handshake_timeout`],
    /// [`qtls::bounds::check_max_early_data`], [`qtls::bounds::check_early_data_window`]).
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
            qtls::sessions::check_private_file(key, "private key")?;
            let mut identity = Identity::from_pem_files(chain, key, &provider, &settings.tls)?;
            // The whole chain, as read, for stapling; what is served may be the leaf alone.
            chains.push(identity.certified_key.cert.clone());
            if settings.omit_intermediates {
                identity = identity.without_intermediates();
            }
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
            let identity = match settings.omit_intermediates {
                true => hsm.identity.without_intermediates(),
                false => hsm.identity.clone(),
            };
            served.push(Arc::new(ServedCertificate::new(
                format!("pkcs11 key {}", hsm.key.key_ref()),
                Arc::clone(&identity.certified_key),
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
                let mut intermediates = Vec::new();
                for path in &auth.intermediates {
                    intermediates.extend(read_certificates(path)?);
                }
                let verifier = ClientVerifierBuilder::new(roots, &provider)
                    .intermediates(intermediates)
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

        let mut config = qtls::server_config(
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
            qtls::metrics::Metrics::new(
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
    /// store's); serve them with [`crate::metrics_http::serve`].
    pub fn metrics(&self) -> &Arc<qtls::metrics::Metrics> {
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
                    qtls::AcceptError::Refused(refusal) => {
                        self.metrics.refused(qtls::alert_name(refusal.alert()))
                    }
                    qtls::AcceptError::Closed => {}
                    qtls::AcceptError::ClientHelloTooLarge(_) => {
                        self.metrics.refused("decode_error".into())
                    }
                    qtls::AcceptError::Timeout | qtls::AcceptError::Tls(_) => {
                        self.metrics.handshake_failed()
                    }
                }
                return Err(Error::Accept(e));
            }
        };
        self.metrics.handshake(tls.get_ref().1.handshake_kind());
        let tls = qtls::KeyUpdating::new(tls, self.limits.key_update, "server")
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
                self.metrics
                    .early_requests(served.early.answered, served.early.too_early);
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
