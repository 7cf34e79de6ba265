//! `qtls server`: flags, or a `qtls.toml` with flags on top.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use qtls::{AclRule, DenyWith, Error, StapleFailurePolicy, StaplingConfig};
use qtls_cli::config::ConfigFile;
use qtls_cli::{ClientAuth, Server, ServerSettings};
use qtls_provider::{Backend, Preset};
use qtls_verifier::{RevocationDepth, RevocationPolicy};

/// Arguments of `qtls server`.
#[derive(Args)]
pub(crate) struct ServerArgs {
    /// A `qtls.toml`; flags given as well override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8443).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Certificate chain, leaf first (PEM); repeat with --key for several chains.
    #[arg(long = "cert")]
    certs: Vec<PathBuf>,
    /// Private key (PEM) for the --cert at the same position.
    #[arg(long = "key")]
    keys: Vec<PathBuf>,
    /// Whether to send the intermediates of each --cert (`no`: the leaf alone, for clients
    /// provisioned with them, `qtls client --intermediates`, so that a hybrid first flight
    /// fits one initial congestion window; others get unknown_ca).
    #[arg(long, value_parser = crate::client_cmd::yes_no)]
    send_intermediates: Option<bool>,
    /// hybrid, pqc-only or compatible.
    #[arg(long)]
    preset: Option<Preset>,
    /// Key-exchange groups in preference order (OpenSSL names), replacing the preset's.
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Cipher suites in preference order, OpenSSL names separated by `:`, replacing the
    /// preset's: TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256;
    /// with `--preset compatible` also TLS 1.2 ones (ECDHE-RSA-AES256-GCM-SHA384, ...).
    #[arg(long, value_name = "LIST")]
    cipher_suites: Option<String>,
    /// Backend for ML-KEM and ML-DSA: aws-lc-rs or oqs.
    #[arg(long)]
    backend: Option<Backend>,
    /// Key-exchange policy: `pq-required` refuses ClientHellos without a post-quantum group
    /// (insufficient_security); `any` does not (default: as the preset requires).
    #[arg(long, value_parser = ["pq-required", "any"])]
    policy: Option<String>,
    /// Serve only ML-DSA / composite certificates and accept only such client chains.
    #[arg(long)]
    require_pq_signatures: bool,
    /// Trust anchors for client certificates (enables mTLS).
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Refuse clients without a certificate (needs --client-ca).
    #[arg(long)]
    require_client_cert: bool,
    /// Allow only clients with this subject DN (repeatable; none: every verified client).
    #[arg(long = "allow-subject")]
    allow_subjects: Vec<String>,
    /// What a denied client gets: alert (access_denied) or http403.
    #[arg(long, value_parser = ["alert", "http403"])]
    deny_with: Option<String>,
    /// Revocation checking of client certificates: off, soft-fail (default; an unknown
    /// status passes, logged) or hard-fail (an unknown status is refused with unknown_ca).
    #[arg(long, value_parser = ["off", "soft-fail", "hard-fail"])]
    client_revocation: Option<String>,
    /// Whose revocation is checked: chain (default: the client certificate and its
    /// intermediates, which then need a status source too) or end-entity.
    #[arg(long, value_parser = ["chain", "end-entity"])]
    client_revocation_depth: Option<String>,
    /// A CRL file (PEM or DER) for client certificates, e.g. the one `qtls pki crl`
    /// writes; re-read within seconds when it changes (repeatable).
    #[arg(long = "client-crl", value_name = "FILE")]
    client_crls: Vec<PathBuf>,
    /// Ask this OCSP responder about client certificates instead of their AIA address.
    #[arg(long, value_name = "URL")]
    client_ocsp_responder: Option<String>,
    /// Intermediate CA certificates of client chains (PEM), used when a client sends its leaf
    /// alone (`qtls client --send-intermediates no`); repeatable.
    #[arg(long = "client-intermediates", value_name = "FILE")]
    client_intermediates: Vec<PathBuf>,
    /// OCSP stapling: off, soft-fail or hard-fail.
    #[arg(long, value_parser = ["off", "soft-fail", "hard-fail"])]
    ocsp_stapling: Option<String>,
    /// OCSP responder to ask instead of the certificate's AIA URL.
    #[arg(long)]
    ocsp_responder: Option<String>,
    /// Directory where verified OCSP responses are cached across restarts.
    #[arg(long)]
    ocsp_cache: Option<PathBuf>,
    /// How often the stapler checks its response (e.g. 1h, 30s).
    #[arg(long)]
    ocsp_check_interval: Option<humantime::Duration>,
    /// Refresh the staple when less than this validity remains (e.g. 2h).
    #[arg(long)]
    ocsp_refresh_before: Option<humantime::Duration>,
    /// Connections served at once.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Handshakes processed off the runtime's workers at once (keys in a token, client
    /// certificate verification); others wait for a slot within the handshake timeout
    /// (default 64).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_blocking_handshakes: Option<u64>,
    /// Time allowed from accept to a finished handshake (e.g. 10s).
    #[arg(long)]
    handshake_timeout: Option<humantime::Duration>,
    /// Stateful sessions: memory (default), off, redis://HOST:PORT or
    /// redis+cluster://H1:P1,H2:P2 (a fleet; needs --ticket-key-file to encrypt the entries).
    /// Give a Redis password with --redis-password-file or QTLS_REDIS_PASSWORD, not here
    /// (where `ps` shows it).
    #[arg(long)]
    session_store: Option<String>,
    /// A file (mode 600) holding the Redis password; default: the QTLS_REDIS_PASSWORD
    /// environment variable.
    #[arg(long)]
    redis_password_file: Option<PathBuf>,
    /// The memory session store's bound in bytes of session identifiers and sessions
    /// (default 33554432, 32 MiB); beyond it the oldest sessions are evicted.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    session_cache_bytes: Option<u64>,
    /// Tickets: off (default; stateful resumption only), software, fleet (keys derived from
    /// --ticket-key-file) or hsm (the ticket key in the token).
    #[arg(long)]
    tickets: Option<String>,
    /// The fleet's shared secret file (at least 32 bytes, raw or hex); implies
    /// `--tickets fleet` unless --tickets says otherwise.
    #[arg(long)]
    ticket_key_file: Option<PathBuf>,
    /// Ticket key rotation period (default 24h).
    #[arg(long)]
    ticket_rotation: Option<humantime::Duration>,
    /// With a Redis store: do not wait for Redis to confirm the sessions a handshake stores,
    /// only queue the writes (two round trips less per handshake; a write that then fails,
    /// or lands after the client already came back to another node, costs that client a full
    /// handshake).
    #[arg(long)]
    queue_store_writes: bool,
    /// Accept 0-RTT early data on resumed stateful sessions (single use; implies
    /// `--tickets off` unless --tickets says otherwise, which then fails).
    #[arg(long)]
    early_data: bool,
    /// The most early data a client may send, in bytes (default 16384; at most 16 MiB).
    #[arg(long, requires = "early_data")]
    max_early_data: Option<u32>,
    /// How far a client's ticket age may be from the server's for early data (default 10s; at
    /// most 60s).
    #[arg(long, requires = "early_data")]
    early_data_window: Option<humantime::Duration>,
    // Boxed, like the HSM flags, to keep `Command::Server` small.
    #[command(flatten)]
    runtime: Box<RuntimeArgs>,
    // Boxed: the HSM flags would make `Command::Server` much larger than its siblings.
    #[command(flatten)]
    hsm: Box<crate::hsm::HsmServerArgs>,
}

/// KeyUpdate policy, metrics and the echo mode.
#[derive(Args)]
pub(crate) struct RuntimeArgs {
    /// Update each connection's traffic keys after this many bytes read and written
    /// (default 100 GB; 0: no byte limit); rustls's own limit-based updates stay on.
    #[arg(long)]
    key_update_bytes: Option<u64>,
    /// Update each connection's traffic keys after this long (default 24h; 0s: no limit).
    #[arg(long)]
    key_update_interval: Option<humantime::Duration>,
    /// Serve counters in the Prometheus text format at http://ADDR/metrics.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Echo every byte back until the client closes, instead of answering HTTP (for tests).
    #[arg(long)]
    echo: bool,
}

pub(crate) async fn run(args: ServerArgs) -> Result<(), Error> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let mut settings: ServerSettings = file.server_settings()?;
    let listen = args.listen.unwrap_or(file.listen.address);
    let password_file = file
        .sessions
        .as_ref()
        .and_then(|s| s.redis_password_file.as_deref());
    apply_flags(&args, password_file, &mut settings)?;
    let server = Server::bind(listen, settings).await?;
    if let Some(addr) = args
        .runtime
        .metrics
        .or(file.metrics.as_ref().map(|m| m.address))
    {
        let (bound, serve) =
            qtls_cli::metrics_http::serve(addr, std::sync::Arc::clone(server.metrics())).await?;
        say!("metrics on http://{bound}/metrics");
        tokio::spawn(serve);
    }
    say!("listening on {}", server.local_addr()?);
    let shutdown = server.shutdown_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("interrupted: shutting down gracefully");
            shutdown.shutdown();
        }
    });
    server.run().await
}

/// `config_password_file`: the config file's `[sessions] redis_password_file`, for a
/// `--session-store` that replaces the file's store.
fn apply_flags(
    args: &ServerArgs,
    config_password_file: Option<&Path>,
    settings: &mut ServerSettings,
) -> Result<(), Error> {
    check_flags(args).map_err(Error::Config)?;
    let certs = crate::hsm::apply_server_flags(&args.hsm, &args.certs, &args.keys, settings)?;
    if certs.len() != args.keys.len() {
        return Err(Error::Config(format!(
            "{} --cert but {} --key: give one key per chain",
            certs.len(),
            args.keys.len()
        )));
    }
    if !certs.is_empty() {
        settings.certificates = certs
            .iter()
            .cloned()
            .zip(args.keys.iter().cloned())
            .collect();
    }
    if let Some(preset) = args.preset {
        settings.tls.preset = preset;
    }
    if let Some(list) = &args.cipher_suites {
        settings.tls.cipher_suites =
            qtls_provider::cipher_suites_by_names(list, settings.tls.preset)
                .map_err(|e| Error::Config(format!("--cipher-suites: {e}")))?
                .iter()
                .map(|suite| format!("{:?}", suite.suite()))
                .collect();
    }
    if let Some(backend) = args.backend {
        settings.tls.backend = backend;
    }
    if !args.groups.is_empty() {
        settings.tls.groups = args.groups.clone();
    }
    match args.policy.as_deref() {
        Some("pq-required") => settings.require_post_quantum = Some(true),
        Some("any") => settings.require_post_quantum = Some(false),
        _ => {}
    }
    settings.require_pq_signatures |= args.require_pq_signatures;
    if let Some(send) = args.send_intermediates {
        settings.omit_intermediates = !send;
    }
    if let Some(ca) = &args.client_ca {
        let auth = settings
            .client_auth
            .get_or_insert_with(|| ClientAuth::new(ca.clone()));
        auth.ca = ca.clone();
    }
    if let Some(auth) = settings.client_auth.as_mut() {
        auth.required |= args.require_client_cert;
        auth.acl
            .allow
            .extend(args.allow_subjects.iter().cloned().map(AclRule::Subject));
        match args.deny_with.as_deref() {
            Some("http403") => auth.deny_with = DenyWith::Http403,
            Some("alert") => auth.deny_with = DenyWith::Alert,
            _ => {}
        }
        match args.client_revocation.as_deref() {
            Some("off") => auth.revocation = RevocationPolicy::Off,
            Some("soft-fail") => auth.revocation = RevocationPolicy::SoftFail,
            Some("hard-fail") => auth.revocation = RevocationPolicy::HardFail,
            _ => {}
        }
        match args.client_revocation_depth.as_deref() {
            Some("chain") => auth.revocation_depth = RevocationDepth::Chain,
            Some("end-entity") => auth.revocation_depth = RevocationDepth::EndEntity,
            _ => {}
        }
        auth.crl_files.extend(args.client_crls.iter().cloned());
        if let Some(url) = &args.client_ocsp_responder {
            auth.ocsp_responder = Some(url.clone());
        }
        auth.intermediates
            .extend(args.client_intermediates.iter().cloned());
    } else if args.require_client_cert
        || !args.client_intermediates.is_empty()
        || !args.allow_subjects.is_empty()
        || args.client_revocation.is_some()
        || args.client_revocation_depth.is_some()
        || !args.client_crls.is_empty()
        || args.client_ocsp_responder.is_some()
    {
        return Err(Error::Config(
            "--require-client-cert, --allow-subject and the --client-revocation, \
             --client-crl, --client-ocsp-responder and --client-intermediates flags need \
             --client-ca"
                .into(),
        ));
    }
    match args.ocsp_stapling.as_deref() {
        Some("off") => settings.stapling = None,
        Some(mode) => {
            let stapling = settings
                .stapling
                .get_or_insert_with(StaplingConfig::default);
            stapling.on_failure = if mode == "hard-fail" {
                StapleFailurePolicy::HardFail
            } else {
                StapleFailurePolicy::SoftFail
            };
        }
        None => {}
    }
    if let Some(stapling) = settings.stapling.as_mut() {
        if let Some(url) = &args.ocsp_responder {
            stapling.responder = Some(url.clone());
        }
        if let Some(dir) = &args.ocsp_cache {
            stapling.cache_dir = Some(dir.clone());
        }
        if let Some(interval) = args.ocsp_check_interval {
            stapling.check_interval = interval.into();
        }
        if let Some(before) = args.ocsp_refresh_before {
            stapling.refresh_before = before.into();
        }
    }
    if let Some(max) = args.max_connections {
        settings.limits.max_connections = max;
    }
    if let Some(max) = args.max_blocking_handshakes {
        settings.limits.max_blocking_handshakes = usize::try_from(max).unwrap_or(usize::MAX);
    }
    if let Some(timeout) = args.handshake_timeout {
        settings.limits.handshake_timeout = Duration::from(timeout);
    }
    if let Some(store) = &args.session_store {
        settings.sessions.store = qtls_cli::config::parse_store(store)
            .map_err(|e| Error::Config(format!("--session-store {e}")))?;
        if let qtls_cli::SessionStoreSetting::Redis(target) = &settings.sessions.store {
            if target.has_password() {
                tracing::warn!(
                    "--session-store: the Redis address holds a password, which other users \
                     can see in `ps`; give it with --redis-password-file or {} instead",
                    qtls::sessions::REDIS_PASSWORD_ENV
                );
            }
        }
    }
    redis_password(args, config_password_file, settings)?;
    if let Some(bytes) = args.session_cache_bytes {
        settings.sessions.memory_store_bytes = Some(usize::try_from(bytes).unwrap_or(usize::MAX));
    }
    if let Some(file) = &args.ticket_key_file {
        settings.sessions.fleet_secret = Some(file.clone());
        if args.tickets.is_none() && !args.early_data {
            settings.sessions.tickets = qtls_cli::TicketSetting::Fleet;
        }
    }
    if args.queue_store_writes {
        settings.sessions.queue_store_writes = true;
    }
    if args.early_data {
        settings.sessions.early_data.enabled = true;
        if args.tickets.is_none() {
            settings.sessions.tickets = qtls_cli::TicketSetting::Off;
        }
    }
    if let Some(max) = args.max_early_data {
        settings.sessions.early_data.max_size = max;
    }
    if let Some(window) = args.early_data_window {
        settings.sessions.early_data.freshness_window = window.into();
    }
    if let Some(tickets) = &args.tickets {
        settings.sessions.tickets = qtls_cli::config::parse_tickets(tickets)
            .map_err(|e| Error::Config(format!("--tickets {e}")))?;
    }
    if let Some(rotation) = args.ticket_rotation {
        settings.sessions.ticket_rotation = Some(rotation.into());
    }
    if let Some(bytes) = args.runtime.key_update_bytes {
        settings.limits.key_update.bytes = bytes;
    }
    if let Some(interval) = args.runtime.key_update_interval {
        settings.limits.key_update.interval = interval.into();
    }
    if args.runtime.echo {
        settings.application = qtls_cli::Application::Echo;
    }
    if settings.certificates.is_empty() && settings.hsm.is_none() {
        return Err(Error::Config(
            "no certificate: give --cert and --key, or [[certificate]] in --config".into(),
        ));
    }
    Ok(())
}

/// Bounds on the flags' values that clap does not check; errors name the flag.
fn check_flags(args: &ServerArgs) -> Result<(), String> {
    use qtls_cli::config::{
        check_early_data_window, check_handshake_timeout, check_max_early_data,
    };
    if let Some(timeout) = args.handshake_timeout {
        check_handshake_timeout("--handshake-timeout", timeout.into())?;
    }
    if let Some(max) = args.max_early_data {
        check_max_early_data("--max-early-data", max)?;
    }
    if let Some(window) = args.early_data_window {
        check_early_data_window("--early-data-window", window.into())?;
    }
    Ok(())
}

/// Gives a Redis store its password from `--redis-password-file`, else the config file's
/// `redis_password_file`, else `QTLS_REDIS_PASSWORD`: never from the command line.
fn redis_password(
    args: &ServerArgs,
    config_password_file: Option<&Path>,
    settings: &mut ServerSettings,
) -> Result<(), Error> {
    let qtls_cli::SessionStoreSetting::Redis(target) = &mut settings.sessions.store else {
        if args.redis_password_file.is_some() {
            return Err(Error::Config(
                "--redis-password-file needs a Redis --session-store".into(),
            ));
        }
        return Ok(());
    };
    let password = match args.redis_password_file.as_deref().or(config_password_file) {
        Some(path) => Some(qtls::sessions::read_secret_file(path, "Redis password")?),
        None => std::env::var(qtls::sessions::REDIS_PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(zeroize::Zeroizing::new),
    };
    if let Some(password) = password {
        *target = target.with_password(&password)?;
    }
    Ok(())
}
