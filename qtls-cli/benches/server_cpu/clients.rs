//! The clients: `openssl s_client` / `s_time` processes and `qtls client` processes.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::process::Process;
use crate::{COMPOSITE, GROUP};

/// The benchmark's client: OpenSSL offering only [`GROUP`].
pub(crate) struct Client {
    pub(crate) openssl: PathBuf,
    pub(crate) conf: PathBuf,
    pub(crate) ca: PathBuf,
}

impl Client {
    pub(crate) fn s_client(&self, port: u16) -> Command {
        let mut cmd = Command::new(&self.openssl);
        cmd.env("OPENSSL_CONF", &self.conf)
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", "localhost", "-groups", GROUP])
            // The Hybrid preset's one suite; s2n-tls would otherwise pick AES-128.
            .args(["-ciphersuites", "TLS_AES_256_GCM_SHA384"])
            .args(["-status", "-verify_return_error"])
            .arg("-CAfile")
            .arg(&self.ca)
            .stdin(Stdio::null());
        cmd
    }

    pub(crate) fn s_client_output(&self, port: u16) -> String {
        let out = self.s_client(port).output().expect("openssl s_client");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "s_client failed:\n{text}");
        text
    }

    /// `n` sequential full handshakes, each by a new s_client process.
    pub(crate) fn s_client_loop(&self, port: u16, n: usize) {
        for _ in 0..n {
            let status = self
                .s_client(port)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl s_client");
            assert!(status.success(), "s_client to port {port} failed: {status}");
        }
    }

    /// As many full handshakes as s_time makes in `seconds`; returns how many.
    pub(crate) fn s_time(&self, port: u16, seconds: usize) -> usize {
        let out = Command::new(&self.openssl)
            .env("OPENSSL_CONF", &self.conf)
            .args(["s_time", "-connect", &format!("127.0.0.1:{port}")])
            .args(["-new", "-time", &seconds.to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("openssl s_time");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "s_time failed: {text}");
        text.lines()
            .find_map(|line| {
                line.split_once(" connections in ")
                    .and_then(|(n, _)| n.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("no connection count in s_time's output:\n{text}"))
    }
}

/// `qtls client`: the client of the composite server and of the servers it is compared with
/// (OpenSSL has no composite signatures), one process per connection, sending `GET /`.
pub(crate) struct QtlsClient {
    pub(crate) qtls: PathBuf,
    pub(crate) ca: PathBuf,
    pub(crate) composite_ca: PathBuf,
}

impl QtlsClient {
    pub(crate) fn command(&self, server: &Process) -> Command {
        let ca = if server.name == COMPOSITE {
            &self.composite_ca
        } else {
            &self.ca
        };
        let mut cmd = Command::new(&self.qtls);
        cmd.args(["client", "--connect", &format!("127.0.0.1:{}", server.port)])
            .args(["--servername", "localhost", "--group", GROUP])
            .arg("--ca")
            .arg(ca)
            .stdin(Stdio::null());
        cmd
    }

    /// One connection with `--json`, checked: the group, the signature scheme (composite for
    /// the composite server, ML-DSA-65 for the others) and an HTTP answer.
    pub(crate) fn check(&self, server: &Process) -> serde_json::Value {
        let out = self
            .command(server)
            .arg("--json")
            .output()
            .expect("qtls client");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{}: qtls client failed:\n{text}",
            server.name
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}:\n{text}", server.name));
        assert_eq!(
            report["group"].as_str(),
            Some(GROUP),
            "{}: {text}",
            server.name
        );
        let scheme = report["signature_scheme"].as_str().unwrap_or_default();
        let expected = if server.name == COMPOSITE {
            scheme.contains("MLDSA65") && scheme.contains("ECDSA")
        } else {
            scheme == "ML_DSA_65"
        };
        assert!(
            expected,
            "{}: signature scheme {scheme:?}:\n{text}",
            server.name
        );
        assert!(report["http_status"].is_string(), "{}: {text}", server.name);
        report
    }

    /// `n` sequential `qtls client` processes each making a full handshake and then a
    /// resumed one (`--reconnect` to the same server).
    pub(crate) fn resume_loop(&self, server: &Process, n: usize) {
        let address = format!("127.0.0.1:{}", server.port);
        for _ in 0..n {
            let status = self
                .command(server)
                .args(["--reconnect", &address])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("qtls client");
            assert!(
                status.success(),
                "qtls client --reconnect to {} failed: {status}",
                server.name
            );
        }
    }

    /// One `qtls client --reconnect` with `--json`: the second connection must resume.
    pub(crate) fn check_resumes(&self, server: &Process) {
        let out = self
            .command(server)
            .args([
                "--reconnect",
                &format!("127.0.0.1:{}", server.port),
                "--json",
            ])
            .output()
            .expect("qtls client");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: qtls client --reconnect: {e}: {}",
                server.name,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(
            report["second"]["resumed"].as_bool(),
            Some(true),
            "{}: the second connection did not resume: {report}",
            server.name
        );
    }

    /// `n` sequential full handshakes, each by a new `qtls client` process.
    pub(crate) fn connect_loop(&self, server: &Process, n: usize) {
        for _ in 0..n {
            let status = self
                .command(server)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("qtls client");
            assert!(
                status.success(),
                "qtls client to {} failed: {status}",
                server.name
            );
        }
    }
}
