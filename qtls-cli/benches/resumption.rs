//! What a resumption costs the server, and what 0-RTT saves the client (issue 4, "Speed").
//!
//! ```sh
//! cargo bench --bench resumption            # about 2 minutes on 2 cores
//! ```
//!
//! **Server time per handshake**, in process: client and server connections in one thread,
//! records moved through memory, the server's calls (reading, processing and writing its
//! records, session store and ticketer included) timed on their own. TLS 1.3 resumption
//! (psk_dhe_ke) keeps the key exchange, so it is measured beside the group's own server-side
//! key exchange (SecP384r1MLKEM1024: P-384 key pair and ECDH, ML-KEM-1024 encapsulation) and
//! beside a full handshake (ML-DSA-65 chain). The variants run interleaved, one operation of
//! each in turn (the first rotating), so that the machine's drift falls on all alike; each
//! round's mean per variant gives a ratio to the round's key exchange, and the report gives
//! the medians over rounds.
//!
//! | variant | server |
//! |---|---|
//! | `kx` | `SupportedKxGroup::start_and_complete` alone |
//! | `full` | a full handshake, no resumption issued |
//! | `memory` | stateful resumption from `MemorySessionStore` (rustls issues 2 sessions per handshake) |
//! | `redis` | the same from `RedisSessionStore` on a loopback `redis-server` (one `GETDEL`, two `SET`s waited for) |
//! | `redis-nowait` | the same with `wait_for_puts(false)`: the `SET`s are queued, only the `GETDEL` is waited for |
//! | `ticket` | stateless resumption with `RotatingTicketer` (one ticket decrypted, two encrypted) |
//! | `memory-sha256` | `memory` with TLS13_AES_128_GCM_SHA256 instead of the preset's TLS13_AES_256_GCM_SHA384: how much of a resumption is the SHA-384 key schedule and transcript |
//! | `redis-rtt` | no TLS: one bare `GETDEL` on a blocking connection to the same Redis, the loopback round trip under the same conditions |
//!
//! Redis: `QTLS_TEST_REDIS_URL` if set, else a `redis-server` started here (skipped without
//! one).
//!
//! **Time to the first response byte**, over TCP: a `qtls_cli::Server` with early data on and a
//! client that resumes with its GET as early data (`0-rtt`), or resumes and sends the GET
//! after the handshake (`1-rtt`), or makes a full handshake (`full`); on loopback and
//! through a proxy that delays each direction by 5 ms (a 10 ms round trip), interleaved.
//!
//! Environment: `QTLS_BENCH_ROUNDS` (default 10), `QTLS_BENCH_ITERATIONS` (operations per
//! variant and round, default 100), `QTLS_BENCH_TTFB` (connections per variant, default 100;
//! 0 skips that part), `QTLS_BENCH_PROFILE=VARIANT` (runs only that variant for 20 s and
//! prints nothing: for `perf record`).
//!
//! Without `--bench` (as under `cargo test --benches`) it does nothing.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

use qtls_test_support::bench::{env_number, max, median, min};
use qtls_test_support::handshake as inproc;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inproc::drive_ok as drive;
use qtls::sessions::{FleetSecret, MemorySessionStore, RedisSessionStore, RotatingTicketer};
use qtls_provider::{Backend, KeyAlgorithm, MlDsaLevel, Preset, ProviderBuilder};
use qtls_test_support::pki::{server_identity as pki, ServerIdentity as BenchPki};
use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, ServerConfig, ServerConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GROUP: &dyn SupportedKxGroup = qtls_provider::kx_group::SECP384R1MLKEM1024;

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("resumption: run it with `cargo bench --bench resumption`; nothing to do");
        return;
    }
    let rounds = env_number("QTLS_BENCH_ROUNDS", 10);
    let iterations = env_number("QTLS_BENCH_ITERATIONS", 100);
    let ttfb = env_number("QTLS_BENCH_TTFB", 100);
    server_time(rounds, iterations);
    if ttfb > 0 {
        time_to_first_byte(ttfb);
    }
}

/// One way of serving a handshake: the server configuration, and a client configuration
/// whose session cache carries over from one operation to the next.
struct Variant {
    name: &'static str,
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    expect: HandshakeKind,
}

impl Variant {
    fn new(
        name: &'static str,
        pki: &BenchPki,
        provider: &Arc<CryptoProvider>,
        server: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let mut server_config = inproc::server_config(pki, Arc::clone(provider));
        server(&mut server_config);
        let mut client = inproc::client_config(pki, Arc::clone(provider));
        let expect = if name == "full" {
            client.resumption = Resumption::disabled();
            HandshakeKind::Full
        } else {
            client.resumption = Resumption::in_memory_sessions(64);
            HandshakeKind::Resumed
        };
        let variant = Self {
            name,
            server: Arc::new(server_config),
            client: Arc::new(client),
            expect,
        };
        // The first handshake is full and leaves the client sessions to resume.
        variant.handshake();
        variant
    }

    /// One handshake (and a server-side check of its kind); the server's time.
    fn handshake(&self) -> (Duration, HandshakeKind) {
        let mut server = ServerConnection::new(Arc::clone(&self.server)).unwrap();
        let mut client =
            ClientConnection::new(Arc::clone(&self.client), "localhost".try_into().unwrap())
                .unwrap();
        let time = drive(&mut client, &mut server);
        assert!(!server.is_handshaking(), "{}", self.name);
        (time, server.handshake_kind().unwrap())
    }
}

/// One bare `GETDEL` round trip to Redis.
fn redis_round_trip(connection: &mut redis::Connection, n: usize) -> Duration {
    let started = Instant::now();
    let _: Option<Vec<u8>> = redis::cmd("GETDEL")
        .arg(format!("qtls-bench:rtt:{n}"))
        .query(connection)
        .unwrap();
    started.elapsed()
}

/// The group's server-side key exchange against a fresh client share; the server's time.
fn key_exchange() -> Duration {
    let client = GROUP.start().unwrap();
    let share = client.pub_key().to_vec();
    let started = Instant::now();
    let server = GROUP.start_and_complete(&share).unwrap();
    let time = started.elapsed();
    std::hint::black_box(server);
    time
}

fn server_time(rounds: usize, iterations: usize) {
    let pki = pki(KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65));
    let provider = Arc::new(
        ProviderBuilder::new()
            .preset(Preset::Hybrid)
            .backend(Backend::AwsLc)
            .kx_groups(vec![GROUP])
            .build()
            .unwrap(),
    );
    let mut sha256_provider = (*provider).clone();
    sha256_provider.cipher_suites =
        vec![rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256];
    let sha256_provider = Arc::new(sha256_provider);
    let redis = LoopbackRedis::start();
    let mut variants = vec![
        Variant::new("full", &pki, &provider, |c| {
            c.session_storage = Arc::new(NoServerSessionStorage {});
            c.send_tls13_tickets = 0;
        }),
        Variant::new("memory", &pki, &provider, |c| {
            c.session_storage = Arc::new(MemorySessionStore::new(100_000));
        }),
        Variant::new("ticket", &pki, &provider, |c| {
            c.ticketer = RotatingTicketer::random().build().unwrap();
        }),
        Variant::new("memory-sha256", &pki, &sha256_provider, |c| {
            c.session_storage = Arc::new(MemorySessionStore::new(100_000));
        }),
    ];
    if let Some(redis) = &redis {
        for (name, wait) in [("redis", true), ("redis-nowait", false)] {
            let store = RedisSessionStore::builder(
                redis.url.parse().unwrap(),
                FleetSecret::from_bytes(&[0x42; 32]).unwrap(),
            )
            .key_prefix(format!("qtls-bench:{name}:"))
            .wait_for_puts(wait)
            .build()
            .unwrap();
            store.ping().expect("Redis answers");
            variants.push(Variant::new(name, &pki, &provider, |c| {
                c.session_storage = store;
            }));
        }
    } else {
        eprintln!("resumption: no redis-server; the Redis variants are skipped");
    }
    if let Ok(only) = std::env::var("QTLS_BENCH_PROFILE") {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match variants.iter().find(|v| v.name == only) {
                Some(variant) => drop(variant.handshake()),
                None => drop(key_exchange()),
            }
        }
        return;
    }
    // Warm up, and check every variant resumes (or not) as it should.
    for variant in &variants {
        for _ in 0..20 {
            let (_, kind) = variant.handshake();
            assert_eq!(kind, variant.expect, "{}", variant.name);
        }
    }

    let mut rtt_connection = redis.as_ref().map(|redis| {
        redis::Client::open(redis.url.as_str())
            .unwrap()
            .get_connection()
            .unwrap()
    });
    let mut names: Vec<&str> = std::iter::once("kx")
        .chain(variants.iter().map(|v| v.name))
        .collect();
    if rtt_connection.is_some() {
        names.push("redis-rtt");
    }
    // per_round[variant][round]: mean server time in µs.
    let mut per_round = vec![Vec::with_capacity(rounds); names.len()];
    for round in 0..rounds {
        let mut totals = vec![Duration::ZERO; names.len()];
        for i in 0..iterations {
            for k in 0..names.len() {
                let which = (i + k) % names.len();
                totals[which] += match which {
                    0 => key_exchange(),
                    n if n > variants.len() => {
                        redis_round_trip(rtt_connection.as_mut().unwrap(), i)
                    }
                    n => {
                        let (time, kind) = variants[n - 1].handshake();
                        assert_eq!(kind, variants[n - 1].expect, "{}", names[n]);
                        time
                    }
                };
            }
        }
        for (which, total) in totals.iter().enumerate() {
            per_round[which].push(total.as_secs_f64() * 1e6 / iterations as f64);
        }
        eprintln!("resumption: round {} of {rounds} done", round + 1);
    }

    println!("\n## Server time per handshake ({rounds} rounds × {iterations} each, interleaved)\n");
    println!("| variant | server µs (median of rounds) | range | × kx (median of round ratios) |");
    println!("|---|---:|---:|---:|");
    for (which, name) in names.iter().enumerate() {
        let ratios: Vec<f64> = per_round[which]
            .iter()
            .zip(&per_round[0])
            .map(|(v, kx)| v / kx)
            .collect();
        println!(
            "| {name} | {:.1} | {:.1}–{:.1} | {:.3} |",
            median(&per_round[which]),
            min(&per_round[which]),
            max(&per_round[which]),
            median(&ratios)
        );
    }
    let by_name = |name: &str| names.iter().position(|n| *n == name);
    if let (Some(memory), Some(redis), Some(nowait)) =
        (by_name("memory"), by_name("redis"), by_name("redis-nowait"))
    {
        let added = |other: usize| -> Vec<f64> {
            per_round[other]
                .iter()
                .zip(&per_round[memory])
                .map(|(r, m)| r - m)
                .collect()
        };
        println!(
            "\nRedis adds (median over rounds of redis − memory): {:.1} µs waiting for the SETs, {:.1} µs with wait_for_puts(false); a bare loopback round trip: {:.1} µs",
            median(&added(redis)),
            median(&added(nowait)),
            by_name("redis-rtt").map_or(f64::NAN, |rtt| median(&per_round[rtt]))
        );
    }
}

/// A `redis-server` for the bench: the test run's, or one started here and killed on drop.
struct LoopbackRedis {
    url: String,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl LoopbackRedis {
    fn start() -> Option<Self> {
        if let Ok(url) = std::env::var("QTLS_TEST_REDIS_URL") {
            return Some(Self {
                url,
                child: None,
                _dir: None,
            });
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = tempfile::tempdir().ok()?;
        let child = Command::new("redis-server")
            .current_dir(dir.path())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = Self {
            url: format!("redis://127.0.0.1:{port}"),
            child: Some(child),
            _dir: Some(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }
}

impl Drop for LoopbackRedis {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The client's three ways to get its first response byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flight {
    ZeroRtt,
    OneRtt,
    Full,
}

impl Flight {
    const ALL: [Self; 3] = [Self::ZeroRtt, Self::OneRtt, Self::Full];

    fn name(self) -> &'static str {
        match self {
            Self::ZeroRtt => "0-rtt",
            Self::OneRtt => "1-rtt (resumed)",
            Self::Full => "full",
        }
    }
}

fn time_to_first_byte(connections: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut options = qtls_pki::PkiOptions::new(time::OffsetDateTime::now_utc());
        options.profile = qtls_pki::Profile::MlDsa65;
        qtls_pki::Pki::generate(&options)
            .unwrap()
            .write_to_dir(dir.path())
            .unwrap();
        let settings = qtls_cli::ServerSettings {
            certificates: vec![(
                dir.path().join("server-chain.pem"),
                dir.path().join("server.key"),
            )],
            sessions: qtls_cli::SessionSettings {
                early_data: qtls::EarlyDataSettings::enabled(),
                ..qtls_cli::SessionSettings::default()
            },
            ..qtls_cli::ServerSettings::default()
        };
        let server = qtls_cli::Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), settings)
            .await
            .unwrap();
        let direct = server.local_addr().unwrap();
        tokio::spawn(server.run());
        let delayed = delay_proxy(direct, Duration::from_millis(5)).await;

        let settings = qtls::TlsSettings::default();
        let roots = qtls::read_certificates(&dir.path().join("root.pem")).unwrap();
        let (config, _) = qtls::client_config(&settings, roots, None).unwrap();
        println!(
            "\n## Time to the first response byte ({connections} connections each, interleaved)\n"
        );
        println!("| path | flight | median µs | × 1-rtt (resumed) |");
        println!("|---|---|---:|---:|");
        for (path, addr, count) in [
            ("loopback", direct, connections),
            ("10 ms RTT proxy", delayed, connections.div_ceil(4)),
        ] {
            let mut samples: Vec<Vec<f64>> = vec![Vec::new(); Flight::ALL.len()];
            for i in 0..count {
                for k in 0..Flight::ALL.len() {
                    let which = (i + k) % Flight::ALL.len();
                    let flight = Flight::ALL[which];
                    let mut config = config.clone();
                    config.enable_early_data = flight == Flight::ZeroRtt;
                    if flight == Flight::Full {
                        config.resumption = Resumption::disabled();
                    }
                    let config = Arc::new(config);
                    // A first connection for the session, untimed.
                    if flight != Flight::Full {
                        first_byte(addr, Arc::clone(&config), false).await;
                    }
                    let (time, early) = first_byte(addr, config, flight == Flight::ZeroRtt).await;
                    assert_eq!(early, flight == Flight::ZeroRtt, "{flight:?}");
                    samples[which].push(time.as_secs_f64() * 1e6);
                }
            }
            let one_rtt = median(&samples[1]);
            for (which, flight) in Flight::ALL.iter().enumerate() {
                println!(
                    "| {path} | {} | {:.0} | {:.2} |",
                    flight.name(),
                    median(&samples[which]),
                    median(&samples[which]) / one_rtt
                );
            }
        }
    });
}

/// Connects, sends `GET /` (as early data when `early`), and times the first response byte
/// from the start of the TCP connect; also says whether the early data was accepted.
async fn first_byte(addr: SocketAddr, config: Arc<ClientConfig>, early: bool) -> (Duration, bool) {
    let connector = tokio_rustls::TlsConnector::from(config).early_data(early);
    let started = Instant::now();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let mut byte = [0u8; 1];
    let n = tls.read(&mut byte).await.unwrap();
    let time = started.elapsed();
    assert_eq!(n, 1);
    let accepted = tls.get_ref().1.is_early_data_accepted();
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest).await;
    (time, accepted)
}

/// A TCP proxy to `upstream` that holds every chunk for `delay` in each direction.
async fn delay_proxy(upstream: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::join!(
                    delayed_copy(client_read, server_write, delay),
                    delayed_copy(server_read, client_write, delay)
                );
            });
        }
    });
    addr
}

async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0
                || sender
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    };
    tokio::join!(reader, writer);
}
