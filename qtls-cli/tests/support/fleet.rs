//! `qtls server` processes as the nodes of a fleet, the `qtls client` that talks to them, and
//! their `/metrics`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{free_port, last_json, qtls_bin, run, Output, Server};

/// A PKI made by `qtls pki init --profile PROFILE` under `dir`.
pub fn pki(dir: &Path, profile: &str) -> PathBuf {
    let pki = dir.join("pki");
    run(
        Command::new(qtls_bin())
            .args(["pki", "init", "--profile", profile, "--dir"])
            .arg(&pki),
        Duration::from_secs(60),
    )
    .expect_success("pki init");
    pki
}

/// A fleet's shared secret file under `dir`.
pub fn fleet_secret(dir: &Path, byte: u8) -> PathBuf {
    let secret = dir.join(format!("fleet-{byte:02x}.key"));
    std::fs::write(&secret, [byte; 48]).expect("write the fleet secret");
    secret
}

/// A node: `qtls server` with the PKI's server certificate, trusting its root for clients,
/// with `extra` arguments and `/metrics` on a port of its own.
#[derive(Debug)]
pub struct Node {
    pub server: Server,
    pub addr: String,
    pub metrics_addr: String,
}

impl Node {
    pub fn start(pki: &Path, extra: &[&str], what: &str) -> Self {
        Self::start_with_env(pki, extra, &[], what)
    }

    /// [`Node::start`] with environment variables set for the server.
    pub fn start_with_env(pki: &Path, extra: &[&str], env: &[(&str, &str)], what: &str) -> Self {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let server = Server::start(
            Command::new(qtls_bin())
                .args(["server", "--listen", &addr, "--metrics", &metrics_addr])
                .arg("--cert")
                .arg(pki.join("server-chain.pem"))
                .arg("--key")
                .arg(pki.join("server.key"))
                .arg("--client-ca")
                .arg(pki.join("root.pem"))
                .args(extra)
                .envs(env.iter().copied()),
            port,
            "listening on",
            what,
        );
        Self {
            server,
            addr,
            metrics_addr,
        }
    }

    /// A node whose sessions live in the Redis at `store` (a `--session-store` value),
    /// authenticated with the fleet `secret`, with `extra` arguments.
    pub fn with_redis(pki: &Path, store: &str, secret: &Path, extra: &[&str], what: &str) -> Self {
        let secret = secret.to_str().expect("a UTF-8 path");
        let mut args = vec!["--session-store", store, "--ticket-key-file", secret];
        args.extend(extra);
        Self::start(pki, &args, what)
    }

    /// The node's `/metrics` page.
    pub fn metrics(&self) -> String {
        let mut tcp = TcpStream::connect(&self.metrics_addr).expect("connect to /metrics");
        tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(
            tcp,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics_addr
        )
        .expect("request /metrics");
        let mut page = String::new();
        tcp.read_to_string(&mut page).expect("read /metrics");
        page
    }

    /// One sample of the node's `/metrics` (`name{labels}` exactly as printed); 0 if absent.
    pub fn metric(&self, sample: &str) -> u64 {
        metric(&self.metrics(), sample)
    }
}

/// One sample of a Prometheus page; 0 if absent.
pub fn metric(page: &str, sample: &str) -> u64 {
    page.lines()
        .filter_map(|line| line.strip_prefix(sample))
        .filter_map(|rest| rest.strip_prefix(' '))
        .find_map(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// `qtls client --connect a --reconnect b --json ...` with the PKI's root and client
/// certificate; the output, whatever the exit status.
pub fn client(pki: &Path, a: &str, b: &str, extra: &[&str]) -> Output {
    run(
        Command::new(qtls_bin())
            .args(["client", "--connect", a, "--reconnect", b])
            .args(["--servername", "localhost", "--json"])
            .arg("--ca")
            .arg(pki.join("root.pem"))
            .arg("--cert")
            .arg(pki.join("client-chain.pem"))
            .arg("--key")
            .arg(pki.join("client.key"))
            .args(extra),
        Duration::from_secs(60),
    )
}

/// [`client`] that must succeed; its JSON report of both connections.
pub fn connect_then_reconnect(pki: &Path, a: &str, b: &str, extra: &[&str]) -> serde_json::Value {
    last_json(
        &client(pki, a, b, extra)
            .expect_success("qtls client --reconnect")
            .stdout,
    )
}

/// The JSON body the server answered a connection with.
pub fn body(report: &serde_json::Value) -> serde_json::Value {
    serde_json::from_str(report["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("body of {report}: {e}"))
}
