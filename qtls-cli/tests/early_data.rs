//! 0-RTT across a fleet: two `qtls server` processes sharing one Redis (or a 3-node Redis
//! Cluster) accept early data on single-use sessions. A GET in early data is answered on the
//! other node; a POST gets 425 Too Early and succeeds after the handshake; early data over
//! the limit is refused; and a client's first flight, captured by a TCP proxy and replayed
//! 1,000 times to both nodes, has its early data answered exactly once.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::redis as redis_support;
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::fleet::{body, client, connect_then_reconnect, fleet_secret, pki, Node};

const REPLAYS: usize = 1000;

/// Two nodes with early data on, sessions in `store`; B with `extra_b` as well.
fn nodes(pki: &Path, secret: &Path, store: &str, extra_b: &[&str]) -> (Node, Node) {
    let b_args = [&["--early-data"][..], extra_b].concat();
    (
        Node::with_redis(pki, store, secret, &["--early-data"], "node A"),
        Node::with_redis(pki, store, secret, &b_args, "node B"),
    )
}

fn answered(node: &Node) -> u64 {
    node.metric("qtls_early_requests_total{outcome=\"answered\"}")
}

fn accepted(node: &Node) -> u64 {
    node.metric("qtls_early_data_total{result=\"accepted\"}")
}

#[test]
fn get_in_early_data_is_answered_on_another_node_and_post_gets_425_then_succeeds() {
    let Some(redis) = redis_support::RedisServer::shared_or_start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mldsa65");
    let secret = fleet_secret(dir.path(), 0x3c);
    let (a, b) = nodes(&pki, &secret, &redis.url(), &[]);

    let both = connect_then_reconnect(&pki, &a.addr, &b.addr, &["--early-data"]);
    let (first, second) = (&both["first"], &both["second"]);
    assert_eq!(first["early_data_offered"], false, "{both}");
    assert_eq!(second["resumed"], true, "{both}");
    assert_eq!(second["early_data_offered"], true, "{both}");
    assert_eq!(second["early_data_accepted"], true, "{both}");
    assert_eq!(second["http_status"], "HTTP/1.1 200 OK", "{both}");
    assert_eq!(body(second)["early_data"], true, "{both}");
    assert_eq!(body(second)["method"], "GET", "{both}");
    // The resumed mTLS session keeps the client identity.
    assert_eq!(
        body(second)["client"]["subject"],
        "CN=qtls-client,O=Q-TLS",
        "{both}"
    );
    assert_eq!((accepted(&b), answered(&b)), (1, 1), "{}", b.metrics());

    let both = connect_then_reconnect(
        &pki,
        &a.addr,
        &b.addr,
        &["--early-data", "--method", "POST", "--body-bytes", "300"],
    );
    let second = &both["second"];
    assert_eq!(second["early_data_accepted"], true, "{both}");
    assert_eq!(second["retried_after_425"], true, "{both}");
    assert_eq!(second["http_status"], "HTTP/1.1 200 OK", "{both}");
    // Answered after the handshake, with the whole body.
    assert_eq!(body(second)["early_data"], false, "{both}");
    assert_eq!(body(second)["method"], "POST", "{both}");
    assert_eq!(body(second)["body_bytes"], 300, "{both}");
    assert_eq!(
        b.metric("qtls_early_requests_total{outcome=\"too_early\"}"),
        1,
        "{}",
        b.metrics()
    );
    assert_eq!(answered(&b), 1, "the POST was not answered from early data");
}

#[test]
fn early_data_refuses_settings_that_would_break_single_use() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mldsa65");
    let secret = fleet_secret(dir.path(), 0x7a);
    for (extra, why) in [
        (&["--tickets", "software"][..], "turn tickets off"),
        (&["--session-store", "off"][..], "needs a session store"),
        (
            &[
                "--session-store",
                "redis://127.0.0.1:9",
                "--queue-store-writes",
            ][..],
            "drop --queue-store-writes",
        ),
    ] {
        let out = support::run(
            std::process::Command::new(support::qtls_bin())
                .args(["server", "--listen", "127.0.0.1:0", "--early-data"])
                .arg("--cert")
                .arg(pki.join("server-chain.pem"))
                .arg("--key")
                .arg(pki.join("server.key"))
                .arg("--ticket-key-file")
                .arg(&secret)
                .args(extra),
            Duration::from_secs(30),
        );
        assert!(
            !out.success() && out.stderr.contains(why),
            "{extra:?}: {out:?}"
        );
    }
}

#[test]
fn early_data_over_the_limit_is_refused() {
    let Some(redis) = redis_support::RedisServer::shared_or_start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mldsa65");
    let secret = fleet_secret(dir.path(), 0x4d);
    // B announces 64 KiB in its tickets; A keeps the default 16 KiB.
    let (a, b) = nodes(&pki, &secret, &redis.url(), &["--max-early-data", "65536"]);

    // Just under 16 KiB of early data (the body and a short head): taken, 425, sent again.
    let both = connect_then_reconnect(
        &pki,
        &b.addr,
        &a.addr,
        &["--early-data", "--method", "POST", "--body-bytes", "16000"],
    );
    assert_eq!(both["second"]["early_data_accepted"], true, "{both}");
    assert_eq!(both["second"]["http_status"], "HTTP/1.1 200 OK", "{both}");

    // 20,000 bytes, which B's ticket allows: A refuses the connection.
    let out = client(
        &pki,
        &b.addr,
        &a.addr,
        &["--early-data", "--method", "POST", "--body-bytes", "20000"],
    );
    assert!(!out.success(), "{out:?}");
    assert!(
        out.stderr.contains("unexpected_message") || out.stderr.contains("UnexpectedMessage"),
        "{}",
        out.stderr
    );
    assert_eq!(answered(&a), 0);
    assert!(
        a.server.output().contains("TooMuchEarlyData"),
        "{}",
        a.server.output()
    );
}

#[test]
fn a_first_flight_replayed_1000_times_to_two_nodes_is_answered_once_through_one_redis() {
    let Some(redis) = redis_support::RedisServer::shared_or_start() else {
        return;
    };
    replayed_flight_is_answered_once(&redis.url());
}

#[test]
fn a_first_flight_replayed_1000_times_to_two_nodes_is_answered_once_through_a_redis_cluster() {
    let Some(cluster) = redis_support::RedisCluster::shared_or_start() else {
        return;
    };
    // Each node talks to the cluster through a different seed node.
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mldsa65");
    let secret = fleet_secret(dir.path(), 0x5e);
    let (through_0, through_2) = (
        cluster.target_through(&[0]),
        cluster.target_through(&[2, 1]),
    );
    let a = Node::with_redis(&pki, &through_0, &secret, &["--early-data"], "node A");
    let b = Node::with_redis(&pki, &through_2, &secret, &["--early-data"], "node B");
    // A session from A resumes on B (with early data), through the cluster.
    let both = connect_then_reconnect(&pki, &a.addr, &b.addr, &["--early-data"]);
    assert_eq!(both["second"]["resumed"], true, "{both}");
    assert_eq!(both["second"]["early_data_accepted"], true, "{both}");
    replay(&pki, &a, &b, 1);
}

fn replayed_flight_is_answered_once(store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mldsa65");
    let secret = fleet_secret(dir.path(), 0x6f);
    let (a, b) = nodes(&pki, &secret, store, &[]);
    replay(&pki, &a, &b, 0);
}

/// The client gets a session from A, then resumes with early data on A through a proxy
/// that records its first flight; that flight then goes to A and B `REPLAYS` times.
/// `answered_before`: early requests the nodes answered before.
fn replay(pki: &Path, a: &Node, b: &Node, answered_before: u64) {
    let proxy = RecordingProxy::start(&a.addr);
    let both = connect_then_reconnect(pki, &a.addr, &proxy.addr, &["--early-data"]);
    assert_eq!(both["second"]["early_data_accepted"], true, "{both}");
    assert_eq!(body(&both["second"])["early_data"], true, "{both}");
    let flight = proxy.first_flight();
    // A ClientHello record, then early data (application_data records).
    assert_eq!(flight.first(), Some(&0x16), "{flight:02x?}");
    assert!(
        records(&flight).contains(&0x17),
        "no early data in the captured flight: {:?}",
        records(&flight)
    );

    let targets = [a.addr.clone(), b.addr.clone()];
    let next = Arc::new(AtomicUsize::new(0));
    let answered_bytes = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (targets, next, flight) = (targets.clone(), Arc::clone(&next), flight.clone());
            let answered_bytes = Arc::clone(&answered_bytes);
            thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= REPLAYS {
                    break;
                }
                let got = replay_once(&targets[i % 2], &flight);
                answered_bytes.fetch_add(got, Ordering::Relaxed);
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(
        answered_bytes.load(Ordering::Relaxed) > 0,
        "no node answered the replays at all"
    );
    // Every replay reached a node and had its early data skipped: the session was taken.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rejected = |node: &Node| {
        node.metric("qtls_early_data_total{result=\"rejected\",reason=\"replay_or_unknown\"}")
    };
    while rejected(a) + rejected(b) < REPLAYS as u64 {
        assert!(
            Instant::now() < deadline,
            "replays seen: A {} B {}\n{}\n{}",
            rejected(a),
            rejected(b),
            a.metrics(),
            b.metrics()
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert!(rejected(a) >= 400 && rejected(b) >= 400);
    // The early request was answered once in total: for the original client.
    assert_eq!(
        answered(a) + answered(b),
        answered_before + 1,
        "\n{}\n{}",
        a.metrics(),
        b.metrics()
    );
    assert_eq!(accepted(a) + accepted(b), answered_before + 1);
}

/// Sends `flight` to `addr` as a new connection and reads what comes back until the node
/// stops (it waits in vain for the client's Finished); returns the bytes received.
fn replay_once(addr: &str, flight: &[u8]) -> usize {
    let Ok(mut tcp) = TcpStream::connect(addr) else {
        return 0;
    };
    tcp.set_read_timeout(Some(Duration::from_millis(300))).ok();
    if tcp.write_all(flight).is_err() {
        return 0;
    }
    let mut got = 0;
    let mut buf = [0u8; 16384];
    // The server's flight, and anything it might send after it.
    while let Ok(n) = tcp.read(&mut buf) {
        if n == 0 {
            break;
        }
        got += n;
    }
    let _ = tcp.shutdown(Shutdown::Both);
    got
}

/// The content types of the TLS records in `bytes`.
fn records(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
        types.push(bytes[0]);
        bytes = &bytes[(5 + len).min(bytes.len())..];
    }
    types
}

/// How long the recording proxy holds the server's first flight back.
const FIRST_FLIGHT_WAIT: Duration = Duration::from_millis(200);

/// A TCP proxy for one connection that records what the client sent before the server's
/// first byte reached it: the client's first flight.
struct RecordingProxy {
    addr: String,
    flight: Arc<Mutex<Option<Vec<u8>>>>,
}

impl RecordingProxy {
    fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let flight = Arc::new(Mutex::new(None));
        let upstream = upstream.to_string();
        let recorded = Arc::clone(&flight);
        thread::spawn(move || {
            let (client, _) = listener.accept().unwrap();
            let server = TcpStream::connect(&upstream).unwrap();
            let captured = Arc::new(Mutex::new(Vec::new()));
            let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (mut from_client, mut to_server) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (captured_up, answered_up) = (Arc::clone(&captured), Arc::clone(&answered));
            let up = thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = from_client.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if !answered_up.load(Ordering::SeqCst) {
                        captured_up.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    if to_server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to_server.shutdown(Shutdown::Write);
            });
            let (mut from_server, mut to_client) = (server, client);
            let mut buf = [0u8; 16384];
            while let Ok(n) = from_server.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if !answered.load(Ordering::SeqCst) {
                    // tokio-rustls writes the early data when the client flushes, which can
                    // be after the server's flight reached us: hold that flight back for a
                    // moment. The client sends nothing else before it has the flight, so
                    // what came until then is exactly its first flight.
                    thread::sleep(FIRST_FLIGHT_WAIT);
                    answered.store(true, Ordering::SeqCst);
                    *recorded.lock().unwrap() = Some(captured.lock().unwrap().clone());
                }
                if to_client.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to_client.shutdown(Shutdown::Write);
            let _ = up.join();
        });
        Self { addr, flight }
    }

    fn first_flight(&self) -> Vec<u8> {
        self.flight
            .lock()
            .unwrap()
            .clone()
            .expect("the proxy saw no answer from the server")
    }
}
