//! Shared helpers for the integration tests that drive real peers (OpenSSL, tlslite-ng) and the
//! `qtls` binary. Use with `mod support;` from a file under `tests/`.
//!
//! Peers are found through environment variables that `scripts/test.sh` sets up:
//! `QTLS_OPENSSL` (an OpenSSL 4 `openssl` binary) and `QTLS_TLSLITE_PYTHON` (the python of a
//! venv with tlslite-ng). A test whose peer is missing is skipped, except under `CI=true`,
//! where it fails.
#![allow(dead_code, unreachable_pub)]

pub mod fleet;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a helper command may run before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait for a spawned server to say it is ready.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

fn env_path(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => None,
    }
}

/// The OpenSSL 4 `openssl` binary named by `QTLS_OPENSSL`, if that file exists.
pub fn openssl() -> Option<PathBuf> {
    env_path("QTLS_OPENSSL").filter(|p| p.is_file())
}

/// The python of the tlslite-ng venv named by `QTLS_TLSLITE_PYTHON`, if that file exists.
pub fn tlslite_python() -> Option<PathBuf> {
    env_path("QTLS_TLSLITE_PYTHON").filter(|p| p.is_file())
}

/// The project's shared folder (`QTLS_SHARED_DIR`, else `../shared` beside the workspace).
pub fn shared_dir() -> PathBuf {
    env_path("QTLS_SHARED_DIR")
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
}

/// The tlslite-ng client script of the tests.
pub fn tlslite_client_script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/tlslite_client.py"
    ))
}

/// The `OPENSSL_CONF` to give the `openssl` binary: the empty `openssl.cnf` of its prefix
/// (`<prefix>/bin/openssl` -> `<prefix>/ssl/openssl.cnf`, as scripts/openssl.sh makes it), else
/// `/dev/null`, so that no system configuration leaks in.
pub fn openssl_conf(openssl: &Path) -> PathBuf {
    openssl
        .parent()
        .and_then(Path::parent)
        .map(|prefix| prefix.join("ssl/openssl.cnf"))
        .filter(|conf| conf.is_file())
        .unwrap_or_else(|| PathBuf::from("/dev/null"))
}

/// A `Command` for the given `openssl` binary with `OPENSSL_CONF` set.
pub fn openssl_command(openssl: &Path) -> Command {
    let mut cmd = Command::new(openssl);
    cmd.env("OPENSSL_CONF", openssl_conf(openssl));
    cmd
}

/// Returns `found`; when it is `None`, fails under `CI=true` (the peer must be there), else
/// prints why the test is skipped.
pub fn require<T>(what: &str, found: Option<T>) -> Option<T> {
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "{what} is missing (CI=true, so this is a failure). Run the tests through \
                 ./scripts/test.sh, which installs the peers and sets QTLS_OPENSSL and \
                 QTLS_TLSLITE_PYTHON (scripts/openssl.sh and scripts/tlslite.sh)."
            );
        }
        eprintln!(
            "skipping: {what} is missing; run ./scripts/test.sh (it sets QTLS_OPENSSL and \
             QTLS_TLSLITE_PYTHON) to run this test"
        );
    }
    found
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A child process that is killed and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Spawns `cmd` (stdin null unless set; stdout and stderr as configured on `cmd`).
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        cmd.spawn().map(ChildGuard)
    }

    /// Fails if the process has already exited (e.g. a server that could not start).
    pub fn assert_running(&mut self, what: &str) {
        if let Ok(Some(status)) = self.0.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = self.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{what} exited early with {status}: {err}");
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until something accepts TCP connections on 127.0.0.1:`port`, for at most `timeout`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A server process whose stdout and stderr are collected by background threads (so the pipes
/// never fill up), killed and reaped on drop.
#[derive(Debug)]
pub struct Server {
    pub child: ChildGuard,
    pub port: u16,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Spawns `cmd` (which must listen on 127.0.0.1:`port`) and waits, for at most
    /// [`STARTUP_TIMEOUT`], until a line containing `ready` appears on its stdout or stderr.
    /// Panics with what it printed if it exits or times out first.
    pub fn start(cmd: &mut Command, port: u16, ready: &str, what: &str) -> Self {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("spawn {what} ({cmd:?}): {e}")),
        );
        let (tx, rx) = mpsc::channel::<()>();
        let stdout = collect_lines(child.0.stdout.take(), ready, tx.clone());
        let stderr = collect_lines(child.0.stderr.take(), ready, tx);
        let mut server = Self {
            child,
            port,
            stdout,
            stderr,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if rx.recv_timeout(Duration::from_millis(50)).is_ok() {
                return server;
            }
            if let Ok(Some(status)) = server.child.0.try_wait() {
                thread::sleep(Duration::from_millis(100)); // let the readers finish
                panic!("{what} exited early with {status}\n{}", server.output());
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what} did not print {ready:?} within {STARTUP_TIMEOUT:?}\n{}",
                    server.output()
                );
            }
        }
    }

    /// What the server printed so far, for failure messages.
    pub fn output(&self) -> String {
        let out = self.stdout.lock().map(|s| s.clone()).unwrap_or_default();
        let err = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        format!("--- server stdout\n{out}\n--- server stderr\n{err}")
    }
}

fn collect_lines<R: Read + Send + 'static>(
    r: Option<R>,
    ready: &str,
    tx: mpsc::Sender<()>,
) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let (ready, sink) = (ready.to_string(), Arc::clone(&buf));
    if let Some(r) = r {
        thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if line.contains(&ready) {
                    let _ = tx.send(());
                }
                if let Ok(mut b) = sink.lock() {
                    if b.len() < OUTPUT_LIMIT as usize {
                        b.push_str(&line);
                        b.push('\n');
                    }
                }
            }
        });
    }
    buf
}

/// What a finished command left.
#[derive(Debug)]
pub struct Output {
    /// Exit status (`None` when it was killed at the timeout).
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Panics with everything captured unless it exited with status 0.
    pub fn expect_success(self, what: &str) -> Self {
        assert!(
            self.success(),
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.status
                .map_or("killed at timeout".to_string(), |s| s.to_string()),
            self.stdout,
            self.stderr
        );
        self
    }
}

const OUTPUT_LIMIT: u64 = 4 << 20;

fn reader<R: Read + Send + 'static>(r: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(r) = r {
            let _ = r.take(OUTPUT_LIMIT).read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` with `stdin` as its standard input, for at most `timeout` (then kills it), and
/// captures stdout and stderr (each up to 4 MiB).
pub fn run_with_input(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")));
    let out = reader(child.0.stdout.take());
    let err = reader(child.0.stderr.take());
    if let Some(mut input) = child.0.stdin.take() {
        let data = stdin.to_vec();
        // A writer thread, so a peer that does not read cannot block us; the pipe closes
        // (EOF) when the thread ends.
        thread::spawn(move || {
            use std::io::Write;
            let _ = input.write_all(&data);
        });
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.0.kill();
                let _ = child.0.wait();
                break None;
            }
        }
    };
    // The pipes close when the process is gone (unless it left children holding them).
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs `cmd` (no input) for at most `timeout`, capturing stdout and stderr.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    run_with_input(cmd, b"", timeout)
}

/// Runs `cmd` for at most [`COMMAND_TIMEOUT`] and returns (status, stdout, stderr).
pub fn run_capture(cmd: &mut Command) -> (Option<ExitStatus>, String, String) {
    let o = run(cmd, COMMAND_TIMEOUT);
    (o.status, o.stdout, o.stderr)
}

/// A server certificate set in a temporary folder.
#[derive(Debug)]
pub struct Certs {
    /// The temporary folder (removed on drop).
    pub dir: tempfile::TempDir,
    /// Trust anchor for the client (`--ca`, `-CAfile`).
    pub root: PathBuf,
    /// The leaf certificate alone.
    pub leaf: PathBuf,
    /// Intermediates to send after the leaf (`s_server -cert_chain`), if any.
    pub intermediates: Option<PathBuf>,
    /// Leaf followed by the intermediates (`qtls server --cert`).
    pub chain: PathBuf,
    /// The leaf's PKCS#8 private key.
    pub key: PathBuf,
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("qtls-interop-")
        .tempdir()
        .expect("temp dir")
}

/// ML-DSA-65 certificates made with OpenSSL: a self-signed root (`root.pem`, `root.key`) and
/// a leaf for DNS:localhost and IP:127.0.0.1 signed by it (`server.pem`, `server.key`;
/// `server-chain.pem` is the leaf alone, since the root is the trust anchor).
pub fn openssl_mldsa65_certs(openssl: &Path) -> Certs {
    let dir = temp_dir();
    let d = dir.path();
    // Arguments are split at whitespace.
    let ossl = |args: &str| {
        let args: Vec<&str> = args.split_whitespace().collect();
        run(
            openssl_command(openssl).current_dir(d).args(&args),
            COMMAND_TIMEOUT,
        )
        .expect_success(&format!("openssl {}", args.join(" ")));
    };
    ossl(
        "req -x509 -newkey ML-DSA-65 -nodes -keyout root.key -out root.pem \
         -subj /CN=qtls-test-root-openssl -days 30 \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
    );
    ossl(
        "req -new -newkey ML-DSA-65 -nodes -keyout server.key -out server.csr \
         -subj /CN=localhost",
    );
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n",
    )
    .expect("write server.ext");
    ossl(
        "x509 -req -in server.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 \
         -extfile server.ext -out server.pem",
    );
    std::fs::copy(d.join("server.pem"), d.join("server-chain.pem")).expect("copy chain");
    Certs {
        root: d.join("root.pem"),
        leaf: d.join("server.pem"),
        intermediates: None,
        chain: d.join("server-chain.pem"),
        key: d.join("server.key"),
        dir,
    }
}

/// Certificates made by `qtls pki init --profile PROFILE --hosts localhost,127.0.0.1`
/// (root -> intermediate -> leaf).
pub fn qtls_certs(profile: &str) -> Certs {
    let dir = temp_dir();
    let d = dir.path();
    run(
        Command::new(qtls_bin())
            .args(["pki", "init", "--dir"])
            .arg(d)
            .args(["--profile", profile, "--hosts", "localhost,127.0.0.1"]),
        Duration::from_secs(60),
    )
    .expect_success(&format!("qtls pki init --profile {profile}"));
    for f in [
        "root.pem",
        "intermediate.pem",
        "server.pem",
        "server-chain.pem",
        "server.key",
    ] {
        assert!(
            d.join(f).is_file(),
            "qtls pki init --profile {profile} did not write {f}"
        );
    }
    Certs {
        root: d.join("root.pem"),
        leaf: d.join("server.pem"),
        intermediates: Some(d.join("intermediate.pem")),
        chain: d.join("server-chain.pem"),
        key: d.join("server.key"),
        dir,
    }
}

/// The `qtls` binary under test: cargo's, or `QTLS_TEST_BIN` (to run a test against
/// another build, e.g. to show that it fails without a fix).
pub fn qtls_bin() -> PathBuf {
    std::env::var_os("QTLS_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_qtls")))
}

/// Starts `qtls server --listen 127.0.0.1:PORT --cert CHAIN --key KEY --preset PRESET` and
/// waits until it prints `listening on`.
pub fn spawn_qtls_server(chain: &Path, key: &Path, preset: &str) -> Server {
    let port = free_port();
    Server::start(
        Command::new(qtls_bin())
            .args([
                "server",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--preset",
                preset,
            ])
            .arg("--cert")
            .arg(chain)
            .arg("--key")
            .arg(key),
        port,
        "listening on",
        &format!("qtls server --preset {preset}"),
    )
}

/// Starts `openssl s_server -tls1_3 -www` on 127.0.0.1 offering only `group`, with the leaf
/// `cert`, its `key` and optional intermediates `chain`; waits until it prints `ACCEPT`.
pub fn spawn_openssl_server(
    openssl: &Path,
    cert: &Path,
    key: &Path,
    chain: Option<&Path>,
    group: &str,
) -> Server {
    let port = free_port();
    let mut cmd = openssl_command(openssl);
    cmd.args([
        "s_server",
        "-accept",
        &format!("127.0.0.1:{port}"),
        "-tls1_3",
        "-www",
    ])
    .args(["-groups", group])
    .arg("-cert")
    .arg(cert)
    .arg("-key")
    .arg(key);
    if let Some(chain) = chain {
        // s_server sends only the first certificate of -cert; intermediates go here.
        cmd.arg("-cert_chain").arg(chain);
    }
    Server::start(
        &mut cmd,
        port,
        "ACCEPT",
        &format!("openssl s_server -groups {group}"),
    )
}

/// Parses the last line of `stdout` that is a JSON object.
pub fn last_json(stdout: &str) -> serde_json::Value {
    stdout
        .lines()
        .rev()
        .find_map(|l| {
            let l = l.trim();
            l.starts_with('{')
                .then(|| serde_json::from_str(l).ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("no JSON object in output:\n{stdout}"))
}
