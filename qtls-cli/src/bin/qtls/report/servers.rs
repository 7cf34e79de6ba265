//! The servers a report measures: throwaway certificate chains, `qtls server` (this very
//! executable) and `openssl s_server` as child processes on 127.0.0.1, and their metrics.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qtls::Error;
use qtls_pki::{Backend, CertificateBuilder, CertifiedKeyPair, Usage};
use qtls_provider::{KeyAlgorithm, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a server may take to listen.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A root, an intermediate and a `localhost` server certificate of one key algorithm, as
/// PEM files in `dir`.
#[derive(Debug)]
pub(super) struct Chain {
    pub(super) dir: PathBuf,
    pub(super) root: PathBuf,
    pub(super) leaf: PathBuf,
    pub(super) intermediate: PathBuf,
    pub(super) chain: PathBuf,
    pub(super) key: PathBuf,
}

fn file_error(path: &Path, source: std::io::Error) -> Error {
    Error::File {
        path: path.to_path_buf(),
        source,
    }
}

fn write(path: &Path, contents: &[u8]) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(|e| file_error(path, e))
}

/// Issues the chain in `dir` as `qtls pki init` would (the same names and extensions, so
/// the same sizes; files root.pem, intermediate.pem and .key, server.pem, server-chain.pem,
/// server.key and an empty revoked.txt, so that `qtls pki issue` can issue from it too),
/// for any key algorithm, P-256 included.
pub(super) fn write_chain(dir: &Path, algorithm: KeyAlgorithm) -> Result<Chain, Error> {
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let pki = |e: qtls_pki::Error| Error::Config(format!("{algorithm} chain: {e}"));
    let key =
        || KeyPair::generate(algorithm, Backend::AwsLc).map_err(|e| Error::Config(e.to_string()));
    let now = time::OffsetDateTime::now_utc();
    let end = now + time::Duration::days(7);
    let builder = |usage, name: &str| {
        CertificateBuilder::new(usage, name)
            .organization("Q-TLS")
            .validity(now, end)
    };
    let root_key = key()?;
    let root_cert = builder(Usage::RootCa, "Q-TLS Root CA")
        .self_signed(&root_key)
        .map_err(pki)?;
    let root = CertifiedKeyPair::new(root_cert, root_key).map_err(pki)?;
    let intermediate_key = key()?;
    let intermediate_cert = builder(
        Usage::IntermediateCa { path_len: Some(0) },
        "Q-TLS Intermediate CA",
    )
    .signed_by(&intermediate_key, &root)
    .map_err(pki)?;
    let server_key = key()?;
    let intermediate = CertifiedKeyPair::new(intermediate_cert, intermediate_key).map_err(pki)?;
    let leaf = builder(Usage::ServerLeaf, "localhost")
        .hosts(["localhost", "127.0.0.1"])
        .signed_by(&server_key, &intermediate)
        .map_err(pki)?;
    let chain = Chain {
        dir: dir.to_path_buf(),
        root: dir.join("root.pem"),
        leaf: dir.join("server.pem"),
        intermediate: dir.join("intermediate.pem"),
        chain: dir.join("server-chain.pem"),
        key: dir.join("server.key"),
    };
    let leaf_pem = leaf.to_pem().map_err(pki)?;
    let intermediate_pem = intermediate.certificate().to_pem().map_err(pki)?;
    write(
        &chain.root,
        root.certificate().to_pem().map_err(pki)?.as_bytes(),
    )?;
    write(&chain.intermediate, intermediate_pem.as_bytes())?;
    write(&chain.leaf, leaf_pem.as_bytes())?;
    write(
        &chain.chain,
        format!("{leaf_pem}{intermediate_pem}").as_bytes(),
    )?;
    let private = |path: &Path, key: &KeyPair| -> Result<(), Error> {
        let pem = key
            .to_pkcs8_pem()
            .map_err(|e| Error::Config(e.to_string()))?;
        write(path, pem.as_bytes())?;
        // qtls refuses a key file that others may read.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| file_error(path, e))
    };
    private(&chain.key, &server_key)?;
    private(&dir.join("intermediate.key"), intermediate.key())?;
    write(&dir.join(qtls_pki::RevocationIndex::FILE_NAME), b"")?;
    Ok(chain)
}

/// A port that was free a moment ago on 127.0.0.1.
pub(super) fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A server child process, killed when dropped; its output goes to a log file.
pub(super) struct ServerProcess {
    pub(super) name: String,
    pub(super) addr: SocketAddr,
    pub(super) metrics: Option<SocketAddr>,
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `cmd` (which listens on `port`) and waits until it accepts connections.
    pub(super) async fn spawn(
        name: &str,
        cmd: &mut Command,
        port: u16,
        metrics: Option<u16>,
        logs: &Path,
    ) -> Result<Self, Error> {
        let log = logs.join(format!("{}.log", name.replace([' ', '/', '+'], "-")));
        let file = File::create(&log).map_err(|e| file_error(&log, e))?;
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| file_error(&log, e))?)
            .stderr(file);
        let child = cmd
            .spawn()
            .map_err(|e| Error::Config(format!("cannot start {name}: {e}")))?;
        let mut process = Self {
            name: name.to_string(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            metrics: metrics.map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
            child,
            log,
        };
        let deadline = Instant::now() + START_LIMIT;
        for addr in std::iter::once(process.addr).chain(process.metrics) {
            while tokio::net::TcpStream::connect(addr).await.is_err() {
                process.check_running()?;
                if Instant::now() > deadline {
                    return Err(process.failed(&format!("did not listen on {addr} in time")));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(process)
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error naming the server, with the end of its log.
    pub(super) fn failed(&self, what: &str) -> Error {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Error::Config(format!(
            "{}: {what}; its log ({}) ends:\n{}",
            self.name,
            self.log.display(),
            tail.join("\n")
        ))
    }

    pub(super) fn check_running(&mut self) -> Result<(), Error> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(self.failed(&format!("exited with {status}"))),
            _ => Ok(()),
        }
    }

    /// `qtls_hsm_operations_total` from the server's metrics endpoint.
    pub(super) async fn hsm_operations(&self) -> Result<u64, Error> {
        let Some(addr) = self.metrics else {
            return Err(self.failed("has no metrics endpoint"));
        };
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut text = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut text))
            .await
            .map_err(|_| Error::Timeout("metrics"))??;
        text.lines()
            .find_map(|line| {
                line.strip_prefix("qtls_hsm_operations_total ")
                    .and_then(|n| n.trim().parse().ok())
            })
            .ok_or_else(|| self.failed("its metrics have no qtls_hsm_operations_total"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `qtls server` on 127.0.0.1 with `chain`'s software key, or with `hsm` (`--cert CHAIN
/// --hsm-*` and the environment the token needs) instead.
pub(super) struct QtlsServer<'a> {
    pub(super) exe: &'a Path,
    pub(super) preset: &'a str,
    pub(super) group: &'a str,
    pub(super) chain: &'a Chain,
    pub(super) hsm: Option<&'a super::token::Token>,
    pub(super) extra: Vec<String>,
}

impl QtlsServer<'_> {
    pub(super) async fn spawn(&self, name: &str, logs: &Path) -> Result<ServerProcess, Error> {
        let port = free_port()?;
        let metrics = free_port()?;
        let mut cmd = Command::new(self.exe);
        cmd.args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics", &format!("127.0.0.1:{metrics}")])
            .args(["--preset", self.preset, "--group", self.group])
            // Logging each connection would be part of the CPU measured.
            .env("QTLS_LOG", "warn");
        match self.hsm {
            Some(token) => {
                cmd.arg("--cert").arg(&token.chain);
                cmd.arg("--hsm-module").arg(&token.module);
                cmd.args(["--hsm-token", &token.label, "--hsm-key", &token.key_label]);
                cmd.envs(token.env.iter().map(|(k, v)| (k, v)));
            }
            None => {
                cmd.arg("--cert").arg(&self.chain.chain);
                cmd.arg("--key").arg(&self.chain.key);
            }
        }
        cmd.args(&self.extra);
        ServerProcess::spawn(name, &mut cmd, port, Some(metrics), logs).await
    }

    /// The flags beyond listening, metrics and certificates, as the report shows them.
    pub(super) fn flags(&self) -> String {
        let mut flags = format!("--preset {} --group {}", self.preset, self.group);
        if self.hsm.is_some() {
            flags.push_str(" --hsm-module ... --hsm-key ...");
        }
        for extra in &self.extra {
            flags.push(' ');
            flags.push_str(extra);
        }
        flags
    }
}

/// `openssl s_server -tls1_3 -www` on 127.0.0.1 offering `group` alone, with `chain`.
pub(super) async fn openssl_server(
    openssl: &super::machine::OpenSsl,
    name: &str,
    group: &str,
    chain: &Chain,
    logs: &Path,
) -> Result<ServerProcess, Error> {
    let port = free_port()?;
    let mut cmd = openssl.command();
    cmd.args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
        .args(["-tls1_3", "-www", "-groups", group])
        .arg("-cert")
        .arg(&chain.leaf)
        .arg("-cert_chain")
        .arg(&chain.intermediate)
        .arg("-key")
        .arg(&chain.key);
    ServerProcess::spawn(name, &mut cmd, port, None, logs).await
}
