//! Resident memory per idle connection of `qtls server` (issue #13 part 3; reported, no
//! target).
//!
//! ```sh
//! cargo bench --workspace --all-features --locked --bench idle_rss   # ~1 min
//! ```
//!
//! `cargo bench` builds the `qtls` binary in the bench profile; this target makes an
//! ML-DSA-65 PKI (`qtls pki init --profile mldsa65`) and runs `qtls server --preset hybrid`
//! on it, with a `qtls.toml` raising `[listen]`'s connection limit and idle timeout so that
//! the connections stay. The client is this process: rustls with Q-TLS's Hybrid provider
//! (SecP384r1MLKEM1024), blocking sockets, one full handshake per connection and then
//! nothing (no request: the server waits for one). After a warm-up of connections opened and
//! closed, the server's VmRSS and RssAnon (`/proc/PID/status`) are read before, after
//! `QTLS_BENCH_IDLE` / 2 and after `QTLS_BENCH_IDLE` (default 1,000) idle connections, and
//! once more after they are all closed. Two servers, one after the other: the default
//! (stateful resumption in the memory store, which keeps the sessions it issued) and
//! `--session-store off`. `QTLS_BENCH_ROUNDS` (default 2) rounds, each with fresh processes.
//!
//! Without `--bench` (as under `cargo test --benches`) it does nothing.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qtls_test_support::bench::{env_number, max, median, min};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

const WARMUP: usize = 50;
const SETTLE: Duration = Duration::from_secs(1);

/// A `qtls server` process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn spawn(qtls: &Path, pki: &Path, config: &Path, log: &Path, extra: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = File::create(log).unwrap();
        let child = Command::new(qtls)
            .args(["server", "--config"])
            .arg(config)
            .args(["--listen", &addr.to_string(), "--preset", "hybrid"])
            .arg("--cert")
            .arg(pki.join("server-chain.pem"))
            .arg("--key")
            .arg(pki.join("server.key"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "qtls server exited"
            );
            assert!(Instant::now() < deadline, "qtls server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// VmRSS and RssAnon in bytes.
    fn rss(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<u64>().ok())
                .unwrap()
                * 1024
        };
        (field("VmRSS:"), field("RssAnon:"))
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A full handshake, then the connection is kept and left idle.
fn connect(
    config: &Arc<ClientConfig>,
    addr: SocketAddr,
) -> StreamOwned<ClientConnection, TcpStream> {
    let socket = TcpStream::connect(addr).unwrap();
    let conn = ClientConnection::new(Arc::clone(config), "localhost".try_into().unwrap()).unwrap();
    let mut tls = StreamOwned::new(conn, socket);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut tls.sock).unwrap();
    }
    tls
}

fn check(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("idle_rss: run it with `cargo bench --bench idle_rss`; nothing to do");
        return;
    }
    let idle = env_number("QTLS_BENCH_IDLE", 1000).max(2);
    let rounds = env_number("QTLS_BENCH_ROUNDS", 2);
    let work = tempfile::Builder::new()
        .prefix("qtls-idle-rss-")
        .tempdir()
        .unwrap();
    let dir = work.path();
    let qtls = dir.join("qtls");
    std::fs::copy(env!("CARGO_BIN_EXE_qtls"), &qtls).unwrap();
    let pki = dir.join("pki");
    check(
        Command::new(&qtls)
            .args(["pki", "init", "--profile", "mldsa65", "--hosts"])
            .arg("localhost,127.0.0.1")
            .arg("--dir")
            .arg(&pki),
        "qtls pki init --profile mldsa65",
    );
    let config = dir.join("qtls.toml");
    std::fs::write(
        &config,
        format!(
            "[listen]\nmax_connections = {}\nidle_timeout = \"1h\"\n",
            2 * idle + WARMUP
        ),
    )
    .unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.join("root.pem")).unwrap())
        .unwrap();
    let client = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(qtls_provider::hybrid()))
            .with_protocol_versions(qtls_provider::Preset::Hybrid.protocol_versions())
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );

    let variants: [(&str, &[&str]); 2] = [
        ("qtls server (memory session store)", &[]),
        (
            "qtls server --session-store off",
            &["--session-store", "off"],
        ),
    ];
    // Per variant: bytes per connection over all, over the second half, and left after close.
    let mut results: Vec<Vec<[f64; 5]>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for (index, (name, extra)) in variants.iter().enumerate() {
            let server = Server::spawn(&qtls, &pki, &config, &dir.join("server.log"), extra);
            for _ in 0..WARMUP {
                drop(connect(&client, server.addr));
            }
            std::thread::sleep(SETTLE);
            let (rss0, anon0) = server.rss();
            let files0 = server.open_files();
            let mut held = Vec::with_capacity(idle);
            for _ in 0..idle / 2 {
                held.push(connect(&client, server.addr));
            }
            std::thread::sleep(SETTLE);
            let (rss1, _) = server.rss();
            for _ in idle / 2..idle {
                held.push(connect(&client, server.addr));
            }
            std::thread::sleep(SETTLE);
            let (rss2, anon2) = server.rss();
            let files2 = server.open_files();
            assert!(
                files2 >= files0 + idle,
                "{name}: {files0} open files before, {files2} with {idle} connections held"
            );
            drop(held);
            std::thread::sleep(2 * SETTLE);
            let (rss3, _) = server.rss();
            let per = |after: u64, before: u64, n: usize| (after as f64 - before as f64) / n as f64;
            let row = [
                per(rss2, rss0, idle),
                per(anon2, anon0, idle),
                per(rss2, rss1, idle - idle / 2),
                per(rss3, rss0, idle),
                rss0 as f64,
            ];
            eprintln!(
                "round {round} {name}: VmRSS {:.1} MiB before; +{:.0} B per connection \
                 (RssAnon +{:.0}; second half +{:.0}); after closing all, +{:.0} B per \
                 connection still resident",
                row[4] / 1048576.0,
                row[0],
                row[1],
                row[2],
                row[3]
            );
            results[index].push(row);
        }
    }
    println!(
        "\n{idle} idle connections after a handshake each (SecP384r1MLKEM1024, ML-DSA-65 chain, \
         no request), {rounds} rounds of fresh processes; median over rounds (range).\n"
    );
    println!(
        "| server | VmRSS before | VmRSS per idle connection | RssAnon per connection | \
         VmRSS per connection, second half | still resident per connection after closing |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (index, (name, _)) in variants.iter().enumerate() {
        let cell = |i: usize, scale: f64, unit: &str| {
            let v: Vec<f64> = results[index].iter().map(|r| r[i] / scale).collect();
            let (lo, hi) = (min(&v), max(&v));
            format!("{:.1}{unit} ({lo:.1}–{hi:.1})", median(&v))
        };
        println!(
            "| `{name}` | {} | {} | {} | {} | {} |",
            cell(4, 1048576.0, " MiB"),
            cell(0, 1024.0, " KiB"),
            cell(1, 1024.0, " KiB"),
            cell(2, 1024.0, " KiB"),
            cell(3, 1024.0, " KiB"),
        );
    }
}
