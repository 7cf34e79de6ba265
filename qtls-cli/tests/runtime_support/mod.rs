//! Helpers for the runtime tests (scenarios, mTLS, stapling, lifecycle): PKIs written by
//! qtls-pki into temporary folders, `qtls server` / `qtls client` / `qtls ocsp-responder`
//! processes on loopback, and waiting for log lines. Use with `mod support; mod
//! runtime_support;` from a file under `tests/`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, missing_docs)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use qtls_pki::{Pki, PkiOptions, Profile};
use time::OffsetDateTime;

use crate::support;

/// A [`qtls_cli::Server`] in this process on a loopback port of its choosing, running on a
/// task of its own.
pub async fn spawn_server(
    settings: qtls_cli::ServerSettings,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = qtls_cli::Server::bind(loopback, settings).await.unwrap();
    let addr = server.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = server.run().await;
    });
    (addr, task)
}

/// An application_data record of `len` bytes no key decrypts: early data, to a server that
/// rejected it.
pub fn undecryptable_record(len: usize) -> Vec<u8> {
    let mut record = vec![0x17, 0x03, 0x03];
    record.extend(u16::try_from(len).unwrap().to_be_bytes());
    record.extend(std::iter::repeat_n(0xee, len));
    record
}

/// How long a `qtls client` run may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// A PKI from [`Pki::generate`] written to a temporary folder by [`Pki::write_to_dir`].
pub struct TestPki {
    pub dir: tempfile::TempDir,
    pub pki: Pki,
}

impl TestPki {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn root(&self) -> PathBuf {
        self.path("root.pem")
    }
    pub fn server_chain(&self) -> PathBuf {
        self.path("server-chain.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.path("server.key")
    }
    pub fn client_chain(&self) -> PathBuf {
        self.path("client-chain.pem")
    }
    pub fn client_key(&self) -> PathBuf {
        self.path("client.key")
    }
    /// The subject DN of the client certificate, as the server's ACL sees it.
    pub fn client_subject(&self) -> String {
        self.pki.client().certificate().subject()
    }
    /// `--cert CHAIN --key KEY` for the server certificate.
    pub fn server_cert_args(&self) -> Vec<OsString> {
        vec![
            "--cert".into(),
            self.server_chain().into(),
            "--key".into(),
            self.server_key().into(),
        ]
    }
    /// `--cert CHAIN --key KEY` for the client certificate.
    pub fn client_cert_args(&self) -> Vec<OsString> {
        vec![
            "--cert".into(),
            self.client_chain().into(),
            "--key".into(),
            self.client_key().into(),
        ]
    }
}

/// Options for [`test_pki`].
pub struct PkiSpec {
    pub profile: Profile,
    /// notBefore of every certificate.
    pub now: OffsetDateTime,
    /// Validity of the end-entity certificates.
    pub leaf_validity: time::Duration,
    /// The OCSP URL put into the end-entity certificates.
    pub ocsp_url: Option<String>,
}

impl Default for PkiSpec {
    fn default() -> Self {
        Self {
            profile: Profile::MlDsa65,
            now: OffsetDateTime::now_utc() - time::Duration::hours(1),
            leaf_validity: time::Duration::days(30),
            ocsp_url: None,
        }
    }
}

/// A fresh PKI (root, intermediate, server for localhost and 127.0.0.1, client `CN=qtls-client`,
/// OCSP responder) in a temporary folder.
pub fn test_pki(spec: PkiSpec) -> TestPki {
    let mut options = PkiOptions::new(spec.now);
    options.profile = spec.profile;
    options.hosts = vec!["localhost".into(), "127.0.0.1".into()];
    options.leaf_validity = spec.leaf_validity;
    options.ocsp_url = spec.ocsp_url;
    let pki = Pki::generate(&options).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("qtls-runtime-")
        .tempdir()
        .unwrap();
    pki.write_to_dir(dir.path()).unwrap();
    TestPki { dir, pki }
}

/// A `qtls` command with logs at info level and without colours.
pub fn qtls() -> Command {
    let mut cmd = Command::new(support::qtls_bin());
    cmd.env("QTLS_LOG", "info").env("NO_COLOR", "1");
    cmd
}

/// Starts `qtls server --listen 127.0.0.1:PORT ARGS...` and waits until it listens.
pub fn start_server<I, S>(args: I) -> support::Server
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let port = support::free_port();
    start_server_on(port, args)
}

/// [`start_server`] on a given port.
pub fn start_server_on<I, S>(port: u16, args: I) -> support::Server
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = qtls();
    cmd.args(["server", "--listen", &format!("127.0.0.1:{port}")])
        .args(&args);
    support::Server::start(
        &mut cmd,
        port,
        "listening on",
        &format!("qtls server {args:?}"),
    )
}

/// Starts `qtls ocsp-responder` for `pki`'s intermediate CA on `port`, answering from its
/// revocation index with responses valid for `validity` seconds.
pub fn start_responder(pki: &TestPki, port: u16, validity: u32) -> support::Server {
    let mut cmd = qtls();
    cmd.args(["ocsp-responder", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--ca")
        .arg(pki.path("intermediate.pem"))
        .arg("--signer")
        .arg(pki.path("ocsp.pem"))
        .arg("--key")
        .arg(pki.path("ocsp.key"))
        .arg("--index")
        .arg(pki.path("revoked.txt"))
        .args(["--validity", &validity.to_string()]);
    support::Server::start(&mut cmd, port, "listening on http", "qtls ocsp-responder")
}

/// The outcome of a `qtls client --json` run.
pub struct ClientRun {
    pub out: support::Output,
    pub json: serde_json::Value,
}

impl ClientRun {
    pub fn succeeded(&self) -> bool {
        self.out.success()
    }

    /// The alert name and direction reported by a failed run.
    pub fn alert(&self) -> (Option<&str>, Option<&str>) {
        (
            self.json["alert"].as_str(),
            self.json["alert_direction"].as_str(),
        )
    }

    pub fn describe(&self) -> String {
        format!(
            "qtls client {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.out.status, self.out.stdout, self.out.stderr
        )
    }
}

/// Runs `qtls client --connect 127.0.0.1:PORT --ca ROOT --servername localhost --json ARGS...`.
pub fn run_client<I, S>(port: u16, root: &Path, args: I) -> ClientRun
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = qtls();
    cmd.args(["client", "--connect", &format!("127.0.0.1:{port}")])
        .arg("--ca")
        .arg(root)
        .args(["--servername", "localhost", "--json", "--timeout", "10"])
        .args(&args);
    let out = support::run(&mut cmd, CLIENT_TIMEOUT);
    assert!(out.status.is_some(), "qtls client {args:?} timed out");
    let json = support::last_json(&out.stdout);
    ClientRun { out, json }
}

/// Strips ANSI escape sequences (in case a logger colours its output anyway).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// What the server printed so far, without colours.
pub fn log_of(server: &support::Server) -> String {
    strip_ansi(&server.output())
}

/// Waits (at most `timeout`) until the server has printed a line containing every one of
/// `needles`; returns that line.
pub fn wait_for_line(
    server: &support::Server,
    needles: &[&str],
    timeout: Duration,
) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let log = log_of(server);
        if let Some(line) = log
            .lines()
            .find(|line| needles.iter().all(|needle| line.contains(needle)))
        {
            return Some(line.to_string());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// [`wait_for_line`], panicking with the whole log when the line does not come.
pub fn expect_line(server: &support::Server, needles: &[&str]) -> String {
    wait_for_line(server, needles, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no log line with all of {needles:?}\n{}", log_of(server)))
}

/// How many lines of the server's output contain `needle`.
pub fn count_lines(server: &support::Server, needle: &str) -> usize {
    log_of(server)
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// Waits (at most 10 s) until at least `n` lines of the server's output contain `needle`.
pub fn wait_for_count(server: &support::Server, needle: &str, n: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_lines(server, needle) < n {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    true
}

/// The log line `qtls ocsp-responder` writes for each request it answers.
pub const RESPONDER_REQUEST: &str = "qtls_cli::ocsp_responder: OCSP peer=";
