//! Shared helpers for the integration tests that drive real peers (OpenSSL, tlslite-ng) and the
//! `qtls` binary. Use with `mod support;` from a file under `tests/`.
//!
//! Peers are found through environment variables that `scripts/test.sh` sets up:
//! `QTLS_OPENSSL` (an OpenSSL 4 `openssl` binary) and `QTLS_TLSLITE_PYTHON` (the python of a
//! venv with tlslite-ng). A test whose peer is missing is skipped, except under `CI=true`,
//! where it fails.
#![allow(dead_code, unreachable_pub)]

pub mod fleet;

// The generic helpers live in qtls-test-support; what names the `qtls` binary or this
// crate's folders stays here.
#[allow(unused_imports)]
pub use qtls_test_support::openssl::{openssl, openssl_command, openssl_conf};
#[allow(unused_imports)]
pub use qtls_test_support::process::*;
#[allow(unused_imports)]
pub use qtls_test_support::vectors::shared_dir;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn env_path(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => None,
    }
}

/// The python of the tlslite-ng venv named by `QTLS_TLSLITE_PYTHON`, if that file exists.
pub fn tlslite_python() -> Option<PathBuf> {
    env_path("QTLS_TLSLITE_PYTHON").filter(|p| p.is_file())
}

/// The tlslite-ng client script of the tests.
pub fn tlslite_client_script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/tlslite_client.py"
    ))
}

/// Returns `found`; when it is `None`, fails under `CI=true` (the peer must be there), else
/// prints why the test is skipped.
pub fn require<T>(what: &str, found: Option<T>) -> Option<T> {
    qtls_test_support::require(
        what,
        "run the tests through ./scripts/test.sh, which installs the peers and sets \
         QTLS_OPENSSL and QTLS_TLSLITE_PYTHON (scripts/openssl.sh and scripts/tlslite.sh)",
        found,
    )
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
