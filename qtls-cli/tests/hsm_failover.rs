//! Failover of a serving key between two tokens (the seed's scenario 8), through the tokio
//! server and `qtls server`: the handshake in flight when the primary fails gets
//! `internal_error`, nothing crashes, the next handshakes succeed on the backup within a
//! second, and the primary is taken back once it is healthy.
//!
//! Primary: Kryoptic; backup: a second copy of Kryoptic (an independent module in the same
//! process, like a second device). Both hold the same imported key. The tests break the
//! primary's store, so they run one at a time.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;
use qtls_test_support::tokens;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use qtls::hsm::{HsmSettings, HsmToken};
use qtls::{client_config, Error, TlsSettings};
use qtls_cli::ServerSettings;
use qtls_hsm::{Hsm, TokenAdmin, TokenRole};
use qtls_provider::{Backend, KeyPair};
use rustls_pki_types::ServerName;
use support::{last_json, qtls_bin, run, COMMAND_TIMEOUT};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A PKI (composite) whose server key is imported into the primary and the backup token.
struct Setup {
    dir: tempfile::TempDir,
    primary: PathBuf,
    backup: PathBuf,
    label: String,
    pin_file: PathBuf,
}

fn setup() -> Option<Setup> {
    let primary = tokens::kryoptic()?;
    let backup = tokens::kryoptic_backup()?;
    let dir = tempfile::tempdir().unwrap();
    run(
        Command::new(qtls_bin())
            .args(["pki", "init", "--profile", "composite", "--dir"])
            .arg(dir.path()),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki init");
    let key = KeyPair::from_pem(
        &std::fs::read(dir.path().join("server.key")).unwrap(),
        Backend::AwsLc,
    )
    .unwrap();
    let label = tokens::unique("served");
    for (module, token) in [(&primary, tokens::PRIMARY), (&backup, tokens::BACKUP)] {
        TokenAdmin::open(&tokens::config(module, token).build().unwrap())
            .unwrap()
            .import(&label, &key)
            .unwrap();
    }
    let pin_file = tokens::pin_file(dir.path());
    Some(Setup {
        dir,
        primary,
        backup,
        label,
        pin_file,
    })
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn settings(&self) -> HsmSettings {
        let token = |module: &Path, token: &str| HsmToken {
            module: module.to_path_buf(),
            token: token.into(),
            pin_file: Some(self.pin_file.clone()),
        };
        let mut hsm = HsmSettings::new(
            self.path("server-chain.pem"),
            &self.label,
            token(&self.primary, tokens::PRIMARY),
        );
        hsm.backup = Some(token(&self.backup, tokens::BACKUP));
        hsm.sessions = 2;
        hsm.op_timeout = Duration::from_millis(500);
        hsm.probe_interval = Duration::from_millis(100);
        hsm
    }
}

/// The primary's store made unreadable, then given back.
struct Broken {
    store: PathBuf,
    saved: Vec<u8>,
}

impl Broken {
    fn primary() -> Self {
        let store = tokens::kryoptic_store(tokens::PRIMARY);
        let saved = std::fs::read(&store).unwrap();
        std::fs::write(&store, b"").unwrap();
        Self { store, saved }
    }
}

impl Drop for Broken {
    fn drop(&mut self) {
        std::fs::write(&self.store, &self.saved).unwrap();
    }
}

async fn get(addr: &str, roots: &Path) -> Result<qtls::client::ClientReport, Error> {
    let settings = TlsSettings::default();
    let (config, scheme) =
        client_config(&settings, qtls::read_certificates(roots).unwrap(), None).unwrap();
    qtls::client::get(
        addr,
        ServerName::try_from("localhost").unwrap(),
        config,
        scheme,
        &settings.code_points,
        Duration::from_secs(10),
    )
    .await
}

fn assert_internal_error(result: Result<qtls::client::ClientReport, Error>) {
    let error = result.expect_err("the handshake in flight must fail");
    assert_eq!(
        error.alert(),
        Some(("received", "internal_error".to_string())),
        "{error}"
    );
}

async fn taken_back(hsm: &Hsm) {
    let start = Instant::now();
    while hsm.status().active != Some(TokenRole::Primary) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the primary was not taken back: {:?}",
            hsm.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// The guard only keeps this file's tests apart (they break the same token); nothing else
// waits for it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_fails_over_with_internal_error_for_the_handshake_in_flight() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(setup) = setup() else {
        return;
    };
    let server = qtls_cli::Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        ServerSettings {
            hsm: Some(setup.settings()),
            ..ServerSettings::default()
        },
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let hsm = server.hsm().unwrap().clone();
    let shutdown = server.shutdown_handle();
    let running = tokio::spawn(server.run());
    let roots = setup.path("root.pem");

    let report = get(&addr, &roots).await.unwrap();
    assert_eq!(
        report.info.signature_scheme.as_deref(),
        Some("MLDSA65_ECDSA_P384_SHA512")
    );
    assert_eq!(hsm.status().active, Some(TokenRole::Primary));

    // 1. The primary hangs (its store is locked by another process): the handshake waiting
    // for its signature times out and gets internal_error.
    let lock = tokens::StoreLock::hold(&tokens::kryoptic_store(tokens::PRIMARY), 3.0).unwrap();
    let started = Instant::now();
    assert_internal_error(get(&addr, &roots).await);
    let failed_at = Instant::now();
    assert!(started.elapsed() >= Duration::from_millis(500));
    let report = get(&addr, &roots).await.unwrap();
    assert!(
        failed_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        failed_at.elapsed()
    );
    assert_eq!(report.http_status.as_deref(), Some("HTTP/1.1 200 OK"));
    assert_eq!(hsm.status().active, Some(TokenRole::Backup));
    drop(lock);
    taken_back(&hsm).await;
    get(&addr, &roots).await.unwrap();

    // 2. The primary's store becomes unreadable: the token answers with an error at once.
    let broken = Broken::primary();
    assert_internal_error(get(&addr, &roots).await);
    let failed_at = Instant::now();
    get(&addr, &roots).await.unwrap();
    assert!(
        failed_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        failed_at.elapsed()
    );
    // Still broken: the probes fail, the backup keeps serving.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hsm.status().active, Some(TokenRole::Backup));
    get(&addr, &roots).await.unwrap();
    drop(broken);
    taken_back(&hsm).await;
    let report = get(&addr, &roots).await.unwrap();
    assert_eq!(report.http_status.as_deref(), Some("HTTP/1.1 200 OK"));

    shutdown.shutdown();
    running.await.unwrap().unwrap();
}

#[test]
fn qtls_server_fails_over_without_crashing() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(setup) = setup() else {
        return;
    };
    let port = support::free_port();
    let mut server = support::Server::start(
        Command::new(qtls_bin())
            .envs(tokens::child_env())
            .env("QTLS_LOG", "info,qtls_hsm=debug")
            .args(["server", "--listen", &format!("127.0.0.1:{port}"), "--cert"])
            .arg(setup.path("server-chain.pem"))
            .arg("--hsm-module")
            .arg(&setup.primary)
            .args(["--hsm-token", tokens::PRIMARY, "--hsm-key", &setup.label])
            .arg("--hsm-pin-file")
            .arg(&setup.pin_file)
            .arg("--hsm-backup-module")
            .arg(&setup.backup)
            .args(["--hsm-backup-token", tokens::BACKUP])
            .args(["--hsm-op-timeout", "500ms", "--hsm-probe-interval", "100ms"]),
        port,
        "listening on",
        "qtls server with a primary and a backup token",
    );
    let connect = || {
        let out = run(
            Command::new(qtls_bin())
                .args(["client", "--json", "--servername", "localhost"])
                .args(["--connect", &format!("127.0.0.1:{port}"), "--ca"])
                .arg(setup.path("root.pem")),
            COMMAND_TIMEOUT,
        );
        (out.success(), last_json(&out.stdout))
    };
    let (ok, report) = connect();
    assert!(ok, "{report}\n{}", server.output());
    assert_eq!(report["signature_scheme"], "MLDSA65_ECDSA_P384_SHA512");

    let broken = Broken::primary();
    let (ok, report) = connect();
    assert!(!ok);
    assert_eq!(report["alert"], "internal_error", "{report}");
    assert_eq!(report["alert_direction"], "received", "{report}");
    let failed_at = Instant::now();
    let (ok, report) = connect();
    assert!(ok, "{report}\n{}", server.output());
    assert!(
        failed_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        failed_at.elapsed()
    );
    server.child.assert_running("qtls server");

    drop(broken);
    let start = Instant::now();
    while !server.output().contains("back in service") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no recovery logged:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, _) = connect();
    assert!(ok);
    let log = server.output();
    for transition in [
        "taken out of service",
        "now go to the backup",
        "back in service",
    ] {
        assert!(
            log.contains(transition),
            "no {transition:?} in the log:\n{log}"
        );
    }
    assert!(!log.contains(tokens::USER_PIN));
}
