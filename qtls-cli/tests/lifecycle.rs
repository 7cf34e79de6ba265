//! How connections end, robustness, and the configuration file:
//!
//! - close_notify both ways, half-close (the client shuts its write side after the request and
//!   still reads the whole response) and abrupt closes (TCP FIN without close_notify, before
//!   and after the request), each reported by the library's `Server::accept_one` as
//!   `CloseKind` and logged as such by `qtls server`;
//! - `qtls server` survives 1,000 connections that send garbage (each answered with an alert
//!   or closed, none left hanging, no panic) and keeps serving;
//! - `qtls server --config qtls.toml` with every section, and the error naming a bad key.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use qtls::TlsSettings;
use qtls_cli::{CloseKind, Server, ServerSettings};
use runtime_support::{
    count_lines, expect_line, log_of, run_client, start_responder, start_server, test_pki,
    wait_for_count, PkiSpec, TestPki,
};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const STEP: Duration = Duration::from_secs(20);

// Closing.

/// How the test client ends its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Request, read the response and the server's close_notify, send close_notify.
    CloseNotify,
    /// Request, close_notify and TCP shutdown of the write side, then read the response.
    HalfClose,
    /// Request, read the response, then a TCP close without close_notify.
    AbruptAfterResponse,
    /// Handshake, then a TCP FIN without close_notify and without a request.
    AbruptBeforeRequest,
}

/// What the client saw.
#[derive(Debug, Default)]
struct Seen {
    response: String,
    /// The server's close_notify arrived (the read ended cleanly, not by a bare EOF).
    close_notify: bool,
}

async fn tls_client(addr: SocketAddr, pki: &TestPki) -> tokio_rustls::client::TlsStream<TcpStream> {
    let settings = TlsSettings::default();
    let roots = qtls::read_certificates(&pki.root()).unwrap();
    let (config, _) = qtls::client_config(&settings, roots, None).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

async fn read_to_end(tls: &mut tokio_rustls::client::TlsStream<TcpStream>, seen: &mut Seen) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tls.read(&mut chunk).await {
            Ok(0) => {
                seen.close_notify = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
                break;
            }
        }
    }
    seen.response = String::from_utf8_lossy(&buf).into_owned();
}

async fn client(addr: SocketAddr, pki: &TestPki, ending: Ending) -> Seen {
    let mut tls = tls_client(addr, pki).await;
    let mut seen = Seen::default();
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    match ending {
        Ending::CloseNotify => {
            tls.write_all(request).await.unwrap();
            read_to_end(&mut tls, &mut seen).await;
            tls.shutdown().await.unwrap();
        }
        Ending::HalfClose => {
            tls.write_all(request).await.unwrap();
            // close_notify, then FIN: we send nothing more, but keep reading.
            tls.shutdown().await.unwrap();
            read_to_end(&mut tls, &mut seen).await;
        }
        Ending::AbruptAfterResponse => {
            tls.write_all(request).await.unwrap();
            read_to_end(&mut tls, &mut seen).await;
            let (mut tcp, _) = tls.into_inner();
            tcp.shutdown().await.unwrap(); // FIN, no close_notify
        }
        Ending::AbruptBeforeRequest => {
            let (mut tcp, _) = tls.into_inner();
            tcp.shutdown().await.unwrap(); // FIN, no close_notify
                                           // Wait for the server to give up on us before closing our side.
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(STEP, tcp.read_to_end(&mut rest)).await;
        }
    }
    seen
}

/// The library reports each ending as it happened: close_notify both ways and half-close as
/// `Clean` (the half-closed client still read the whole response, and the server's
/// close_notify), abrupt closes as `Truncated`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_one_reports_each_way_a_connection_ends() {
    let pki = test_pki(PkiSpec::default());
    let settings = ServerSettings {
        certificates: vec![(pki.server_chain(), pki.server_key())],
        ..ServerSettings::default()
    };
    let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), settings)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    for (ending, status, close) in [
        (Ending::CloseNotify, Some(200), CloseKind::Clean),
        (Ending::HalfClose, Some(200), CloseKind::Clean),
        (Ending::AbruptAfterResponse, Some(200), CloseKind::Truncated),
        (Ending::AbruptBeforeRequest, None, CloseKind::Truncated),
    ] {
        let (served, seen) = tokio::time::timeout(STEP, async {
            tokio::join!(server.accept_one(), client(addr, &pki, ending))
        })
        .await
        .unwrap_or_else(|_| panic!("{ending:?} timed out"));
        let served = served.unwrap_or_else(|e| panic!("{ending:?}: {e}"));
        assert_eq!(served.status, status, "{ending:?}");
        assert_eq!(served.close, close, "{ending:?}");
        if status.is_some() {
            assert!(
                seen.response.starts_with("HTTP/1.1 200 OK\r\n"),
                "{ending:?}: {seen:?}"
            );
            let body = seen.response.split_once("\r\n\r\n").unwrap().1;
            let json: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
            assert_eq!(json["protocol"], "TLSv1.3", "{ending:?}");
            assert!(
                seen.close_notify,
                "{ending:?}: no close_notify from the server"
            );
        }
    }
}

/// `qtls server` logs each ending: `close=Clean` for close_notify and half-close, the
/// truncation warnings for the abrupt closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qtls_server_logs_each_way_a_connection_ends() {
    let pki = test_pki(PkiSpec::default());
    let server = tokio::task::block_in_place(|| start_server(pki.server_cert_args()));
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
    let expect = |needles: &[&str]| tokio::task::block_in_place(|| expect_line(&server, needles));

    let seen = tokio::time::timeout(STEP, client(addr, &pki, Ending::CloseNotify))
        .await
        .unwrap();
    assert!(seen.close_notify);
    expect(&["served", "status=Some(200)", "close=Clean"]);

    let seen = tokio::time::timeout(STEP, client(addr, &pki, Ending::HalfClose))
        .await
        .unwrap();
    assert!(
        seen.response.contains("\"protocol\":\"TLSv1.3\""),
        "{seen:?}"
    );
    tokio::task::block_in_place(|| {
        assert!(
            wait_for_count(&server, "close=Clean", 2),
            "{}",
            log_of(&server)
        )
    });

    tokio::time::timeout(STEP, client(addr, &pki, Ending::AbruptAfterResponse))
        .await
        .unwrap();
    expect(&[
        "WARN",
        "connection truncated: the peer closed without close_notify",
    ]);
    expect(&["served", "status=Some(200)", "close=Truncated"]);

    tokio::time::timeout(STEP, client(addr, &pki, Ending::AbruptBeforeRequest))
        .await
        .unwrap();
    expect(&[
        "WARN",
        "connection truncated: the peer closed without close_notify before sending a request",
    ]);
    expect(&["served", "status=None", "close=Truncated"]);
    tokio::task::block_in_place(|| {
        assert_eq!(
            count_lines(&server, "connection failed"),
            0,
            "{}",
            log_of(&server)
        );
    });
}

fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    true
}

// Garbage.

/// The garbage of connection `i`: random bytes, plaintext HTTP, handshake records with junk
/// inside, an oversized record header, SSLv2-style and alert records, a truncated record, or
/// nothing at all.
fn garbage(i: usize) -> Vec<u8> {
    // xorshift, seeded per connection: reproducible.
    let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    };
    let length = 1 + i % 1500;
    match i % 9 {
        0 => random(length),
        1 => b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        2 => {
            let body = random(length);
            let mut record = vec![0x16, 0x03, 0x01];
            record.extend((body.len() as u16).to_be_bytes());
            record.extend(body);
            record
        }
        3 => {
            // A ClientHello header with a body of junk.
            let body = random(length);
            let mut message = vec![0x01];
            message.extend(&(body.len() as u32).to_be_bytes()[1..]);
            message.extend(body);
            let mut record = vec![0x16, 0x03, 0x01];
            record.extend((message.len() as u16).to_be_bytes());
            record.extend(message);
            record
        }
        4 => vec![0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00],
        5 => vec![
            0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
        ],
        6 => vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
        7 => vec![0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00],
        _ => Vec::new(),
    }
}

#[derive(Debug, Default)]
struct Tally {
    /// Per kind of garbage (`i % 9`): (alerts, closes without an alert).
    by_kind: [(usize, usize); 9],
    alerts: usize,
    closed: usize,
    reset: usize,
    other: Vec<String>,
}

/// Sends `garbage(i)`, shuts the write side, and reads what comes back until the server
/// closes.
async fn garbage_connection(port: u16, i: usize) -> Result<Vec<u8>, std::io::Error> {
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    // From 127.0.0.2, so that a thousand ephemeral ports (and their TIME_WAITs) never take a
    // 127.0.0.1 port that a test running alongside has picked for a server.
    let socket = tokio::net::TcpSocket::new_v4()?;
    let mut tcp = match socket.bind(SocketAddr::from(([127, 0, 0, 2], 0))) {
        Ok(()) => socket.connect(server).await?,
        Err(_) => TcpStream::connect(server).await?,
    };
    let data = garbage(i);
    if !data.is_empty() {
        tcp.write_all(&data).await?;
    }
    tcp.shutdown().await?;
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await {
        Ok(result) => result.map(|_| answer),
        Err(_) => panic!("connection {i}: the server did not close within 10 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qtls_server_survives_a_thousand_garbage_connections_and_keeps_serving() {
    const CONNECTIONS: usize = 1000;
    let pki = test_pki(PkiSpec::default());
    let server = tokio::task::block_in_place(|| {
        let mut args = pki.server_cert_args();
        args.extend([OsString::from("--handshake-timeout"), "5s".into()]);
        start_server(args)
    });
    let port = server.port;

    let limit = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CONNECTIONS {
        let permit = Arc::clone(&limit).acquire_owned().await.unwrap();
        tasks.spawn(async move {
            let _permit = permit;
            (i, garbage_connection(port, i).await)
        });
    }
    let mut tally = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.unwrap();
        match result {
            Ok(answer) if answer.is_empty() => {
                tally.closed += 1;
                tally.by_kind[i % 9].1 += 1;
            }
            // A plaintext alert record: 15 03 03 00 02 <level> <description>.
            Ok(answer) if answer.len() == 7 && answer[0] == 0x15 => {
                tally.alerts += 1;
                tally.by_kind[i % 9].0 += 1;
            }
            Ok(answer) => tally
                .other
                .push(format!("{i}: {:02x?}", &answer[..answer.len().min(16)])),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => tally.reset += 1,
            Err(e) => tally.other.push(format!("{i}: {e}")),
        }
    }
    assert!(tally.other.is_empty(), "unexpected answers: {tally:?}");
    assert_eq!(
        tally.alerts + tally.closed + tally.reset,
        CONNECTIONS,
        "{tally:?}"
    );
    // Random bytes, plaintext HTTP, a junk ClientHello, an oversized record and an SSLv2
    // hello are answered with an alert; the rest (junk or truncated messages the server
    // waits to complete, a client alert, nothing) end when the client's FIN arrives.
    for kind in [0, 1, 3, 4, 5] {
        assert_eq!(
            tally.by_kind[kind].1, 0,
            "kind {kind} closed without an alert: {tally:?}"
        );
    }

    tokio::task::block_in_place(|| {
        // Every connection was refused and logged, and nothing panicked.
        let logged = wait_until(|| count_lines(&server, "connection failed") == CONNECTIONS);
        let log = log_of(&server);
        assert!(
            logged,
            "{} of {CONNECTIONS} connection failures logged; {tally:?}",
            count_lines(&server, "connection failed")
        );
        assert!(!log.contains("panicked"), "{log}");
        let mut server = server;
        server.child.assert_running("qtls server");

        // And it keeps serving.
        let run = run_client(server.port, &pki.root(), Vec::<OsString>::new());
        assert!(run.succeeded(), "{}\n{}", run.describe(), log_of(&server));
        assert_eq!(run.json["http_status"], "HTTP/1.1 200 OK");
        eprintln!("garbage answers: {tally:?}");
    });
}

// qtls.toml.

/// `qtls server --config qtls.toml` with every section: the address, the policy (a classical
/// client is refused), mTLS with an ACL in http403 mode, stapling from a responder with a
/// cache; flags given as well override the file.
#[test]
fn qtls_server_runs_from_a_config_file() {
    let responder_port = support::free_port();
    let pki = test_pki(PkiSpec {
        ocsp_url: Some(format!("http://127.0.0.1:{responder_port}/")),
        ..PkiSpec::default()
    });
    let _responder = start_responder(&pki, responder_port, 3600);
    let port = support::free_port();
    let config = pki.path("qtls.toml");
    std::fs::write(
        &config,
        format!(
            r#"# A qtls server for the runtime tests.
[listen]
address = "127.0.0.1:{port}"
max_connections = 16
handshake_timeout = "5s"
idle_timeout = "5s"

[policy]
preset = "hybrid"
require_post_quantum_kx = true

[sessions]
store = "memory"
memory_bytes = 1_048_576

[[certificate]]
chain = {chain:?}
key = {key:?}

[client_auth]
ca = {root:?}
required = true
revocation = "off"
deny_with = "http403"
allow = [{{ subject = "CN=qtls-client,O=Q-TLS" }}]

[ocsp_stapling]
enabled = true
on_failure = "hard-fail"
cache = {{ dir = {cache:?}, refresh_before_expiry = "10m" }}
timeout = {{ connect = "2s", read = "2s" }}
background_refresh = {{ enabled = true, interval = "1h" }}
"#,
            chain = pki.server_chain(),
            key = pki.server_key(),
            root = pki.root(),
            cache = pki.path("ocsp-cache"),
        ),
    )
    .unwrap();
    let mut cmd = runtime_support::qtls();
    cmd.args(["server", "--config"]).arg(&config);
    let server = support::Server::start(&mut cmd, port, "listening on", "qtls server --config");
    expect_line(&server, &[&format!("listening on 127.0.0.1:{port}")]);
    expect_line(&server, &["OCSP staple refreshed"]);

    // mTLS, stapled, on the configured address.
    let run = run_client(port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["ocsp_status"], "good", "{}", run.describe());
    let body: serde_json::Value = serde_json::from_str(run.json["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["client"]["subject"], "CN=qtls-client,O=Q-TLS");
    // client_auth.required.
    let run = run_client(port, &pki.root(), Vec::<OsString>::new());
    assert_eq!(
        run.alert(),
        (Some("certificate_required"), Some("received"))
    );
    // policy.require_post_quantum_kx.
    let mut classical = pki.client_cert_args();
    classical.extend([OsString::from("--group"), "X25519".into()]);
    let run = run_client(port, &pki.root(), classical);
    assert_eq!(
        run.alert(),
        (Some("insufficient_security"), Some("received"))
    );
    // ocsp_stapling.cache.
    assert_eq!(
        std::fs::read_dir(pki.path("ocsp-cache")).unwrap().count(),
        1
    );
    drop(server);

    // Flags override the file: another address, and `--preset compatible --policy any`
    // (classical groups, and no post-quantum requirement) lets X25519 in.
    let server = start_server([
        OsString::from("--config"),
        config.clone().into(),
        "--preset".into(),
        "compatible".into(),
        "--policy".into(),
        "any".into(),
        "--session-cache-bytes".into(),
        "2097152".into(),
    ]);
    let mut classical = pki.client_cert_args();
    classical.extend([
        OsString::from("--group"),
        "X25519".into(),
        "--preset".into(),
        "compatible".into(),
    ]);
    let run = run_client(server.port, &pki.root(), classical);
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["group"], "X25519");
}

/// A config file with a misspelt key or a bad value: `qtls server` exits with an error that
/// names the file and the key.
#[test]
fn qtls_server_config_errors_name_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("[listen]\nadress = \"127.0.0.1:1\"\n", "adress"),
        ("[policy]\npreset = \"fast\"\n", "policy.preset"),
        ("[ocsp_stapling]\non_failure = \"maybe\"\n", "on_failure"),
        (
            "[client_auth]\nca = \"root.pem\"\nallow = [{ common_name = \"x\" }]\n",
            "common_name",
        ),
        // [hsm] is checked like every other section, typos included.
        ("[hsm]\nmodul = \"/usr/lib/p11.so\"\n", "modul"),
        // Bounds: rustls's 60 s freshness limit, 1 byte to 16 MiB of early data, a timeout.
        (
            "[sessions]\nearly_data = true\nearly_data_window = \"2m\"\n",
            "sessions.early_data_window",
        ),
        (
            "[sessions]\nearly_data = true\nmax_early_data = 0\n",
            "sessions.max_early_data",
        ),
        (
            "[sessions]\nearly_data = true\nmax_early_data = 1_000_000_000\n",
            "sessions.max_early_data",
        ),
        (
            "[listen]\nhandshake_timeout = \"0s\"\n",
            "listen.handshake_timeout",
        ),
    ] {
        let path = dir.path().join("qtls.toml");
        std::fs::write(&path, text).unwrap();
        let out = support::run(
            Command::new(support::qtls_bin())
                .args(["server", "--config"])
                .arg(&path),
            Duration::from_secs(20),
        );
        assert!(!out.success(), "{text:?} was accepted");
        assert!(
            out.stderr.contains(key) && out.stderr.contains("qtls.toml"),
            "{text:?}: the error does not name {key:?} and the file: {}",
            out.stderr
        );
    }
}

// Limits and shutdown.

/// `--handshake-timeout 1s --max-connections 1`: a client that connects and says nothing
/// holds the only slot until the timeout cuts it off (logged); a real client waiting in the
/// backlog meanwhile is served right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_cut_at_the_handshake_timeout_and_others_wait_for_a_slot() {
    let pki = test_pki(PkiSpec::default());
    let server = tokio::task::block_in_place(|| {
        let mut args = pki.server_cert_args();
        args.extend(["--handshake-timeout", "1s", "--max-connections", "1"].map(OsString::from));
        start_server(args)
    });
    let port = server.port;
    let started = std::time::Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // Let the server accept it (and take the only slot) first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let root = pki.root();
    let waiting =
        tokio::task::spawn_blocking(move || run_client(port, &root, Vec::<OsString>::new()));

    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut rest))
        .await
        .expect("the silent connection was not closed")
        .unwrap();
    let cut_after = started.elapsed();
    assert!(rest.is_empty(), "{rest:02x?}");
    assert!(
        cut_after >= Duration::from_millis(900) && cut_after < Duration::from_secs(5),
        "cut after {cut_after:?}"
    );
    let run = tokio::time::timeout(STEP, waiting).await.unwrap().unwrap();
    assert!(run.succeeded(), "{}", run.describe());
    assert!(started.elapsed() >= Duration::from_millis(900));
    tokio::task::block_in_place(|| {
        expect_line(&server, &["connection failed", "handshake timed out"]);
    });
}

/// `ShutdownHandle::shutdown` while a connection is in progress: `Server::run` stops
/// accepting, lets that connection finish (its response arrives in full, with close_notify),
/// then returns; afterwards nothing listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_connections_in_progress() {
    let pki = test_pki(PkiSpec::default());
    let settings = ServerSettings {
        certificates: vec![(pki.server_chain(), pki.server_key())],
        ..ServerSettings::default()
    };
    let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), settings)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let shutdown = server.shutdown_handle();
    let running = tokio::spawn(server.run());

    let mut tls = tokio::time::timeout(STEP, tls_client(addr, &pki))
        .await
        .unwrap();
    shutdown.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !running.is_finished(),
        "run() returned with a connection in progress"
    );

    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Seen::default();
    tokio::time::timeout(STEP, read_to_end(&mut tls, &mut seen))
        .await
        .unwrap();
    assert!(seen.response.starts_with("HTTP/1.1 200 OK\r\n"), "{seen:?}");
    assert!(seen.close_notify);
    tls.shutdown().await.unwrap();

    tokio::time::timeout(STEP, running)
        .await
        .expect("run() did not return after the last connection")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
}

/// A log piped to a file or a collector is plain text: colour codes are for terminals only.
/// (The other tests set NO_COLOR; this one leaves the environment as an operator's would be.)
#[test]
fn qtls_server_writes_no_colour_codes_to_a_pipe() {
    let pki = test_pki(PkiSpec::default());
    let port = support::free_port();
    let mut cmd = Command::new(support::qtls_bin());
    cmd.env("QTLS_LOG", "info")
        .env_remove("NO_COLOR")
        .args(["server", "--listen", &format!("127.0.0.1:{port}")])
        .args(pki.server_cert_args());
    let server = support::Server::start(&mut cmd, port, "listening on", "qtls server");
    // A connection closed before its ClientHello: one WARN line, level and target coloured
    // on a terminal.
    drop(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
    let line = runtime_support::wait_for_line(&server, &["closed before"], STEP);
    let raw = server.output();
    assert!(line.is_some(), "no line for the closed connection: {raw:?}");
    assert!(
        !raw.contains('\u{1b}'),
        "terminal colour codes in a piped log: {raw:?}"
    );
}
