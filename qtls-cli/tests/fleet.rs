//! Two `qtls server` processes as a fleet: a session from node A resumes on node B through a
//! shared Redis (stateful), or through ticket keys derived from a shared secret file, and
//! the resumed mTLS session keeps the client identity of the original handshake.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::redis as redis_support;
mod support;

use std::path::Path;
use std::time::Duration;

use support::fleet::{connect_then_reconnect, fleet_secret, pki, Node};

/// Nodes A and B with stateful sessions in the Redis at `store` (tickets off), the fleet
/// secret in `dir`, and `extra` arguments.
fn redis_nodes(pki: &Path, store: &str, dir: &Path, extra: &[&str]) -> (Node, Node) {
    let secret = fleet_secret(dir, 0xc3);
    let args = [&["--tickets", "off"][..], extra].concat();
    (
        Node::with_redis(pki, store, &secret, &args, "node A"),
        Node::with_redis(pki, store, &secret, &args, "node B"),
    )
}

fn assert_resumed_with_identity(both: &serde_json::Value) {
    assert_eq!(both["first"]["resumed"], false, "{both}");
    assert_eq!(both["second"]["resumed"], true, "{both}");
    // A resumption skips the certificate: far fewer bytes.
    let full = both["first"]["handshake_bytes_received"].as_u64().unwrap();
    let resumed = both["second"]["handshake_bytes_received"].as_u64().unwrap();
    assert!(resumed * 4 < full, "{resumed} vs {full}");
    // Node B's handler sees the identity verified by node A's handshake.
    for which in ["first", "second"] {
        let body: serde_json::Value =
            serde_json::from_str(both[which]["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            body["client"]["subject"], "CN=qtls-client,O=Q-TLS",
            "{which}: {body}"
        );
    }
}

#[test]
fn a_ticket_from_node_a_resumes_on_node_b() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "composite");
    let secret = dir.path().join("fleet.key");
    std::fs::write(
        &secret,
        [0x5a; 32]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
    .unwrap();
    let secret = secret.to_str().unwrap();
    let args = ["--require-client-cert", "--ticket-key-file", secret];
    let a = Node::start(&pki, &args, "node A");
    let b = Node::start(&pki, &args, "node B");
    assert_resumed_with_identity(&connect_then_reconnect(&pki, &a.addr, &b.addr, &[]));

    // A node with another secret cannot open A's tickets: a full handshake, not a failure.
    let other = dir.path().join("other.key");
    std::fs::write(&other, [0xa7; 32]).unwrap();
    let c = Node::start(
        &pki,
        &["--ticket-key-file", other.to_str().unwrap()],
        "node C",
    );
    let both = connect_then_reconnect(&pki, &a.addr, &c.addr, &[]);
    assert_eq!(both["second"]["resumed"], false, "{both}");
    assert_eq!(both["second"]["http_status"], "HTTP/1.1 200 OK");
    // Counted: A issued tickets, B resumed one, C could not open A's.
    assert!(
        a.metric("qtls_tickets_issued_total") >= 2,
        "{}",
        a.metrics()
    );
    assert_eq!(
        b.metric("qtls_handshakes_total{kind=\"resumed_ticket\"}"),
        1,
        "{}",
        b.metrics()
    );
    assert!(
        c.metric("qtls_ticket_resumption_misses_total{reason=\"forged\"}") >= 1,
        "{}",
        c.metrics()
    );
}

#[test]
fn a_stateful_session_from_node_a_resumes_once_on_node_b_through_redis() {
    let Some(redis) = redis_support::RedisServer::shared_or_start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "composite");
    let (a, b) = redis_nodes(&pki, &redis.url(), dir.path(), &["--require-client-cert"]);
    assert_resumed_with_identity(&connect_then_reconnect(&pki, &a.addr, &b.addr, &[]));
    // Node-local memory stores do not share: A's session does not resume on a memory node.
    let m = Node::start(&pki, &["--tickets", "off"], "memory node");
    let both = connect_then_reconnect(&pki, &a.addr, &m.addr, &[]);
    assert_eq!(both["second"]["resumed"], false, "{both}");
}

/// With queued writes, node A sends a client its ticket before Redis has the session: a client
/// that reaches node B before the write lands gets a full handshake (an "absent" miss, not an
/// error; seen under load with Redis MONITOR: B's GETDEL of a key 0.1 ms before A's SET of
/// it). So the test asks what the mode promises: every queued write lands (counted once Redis
/// confirms it), sessions from A do resume on B, and every round that did not resume is such
/// a miss, never a store error.
#[test]
fn with_queued_store_writes_a_session_from_node_a_resumes_on_node_b() {
    let Some(redis) = redis_support::RedisServer::shared_or_start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mldsa65");
    let (a, b) = redis_nodes(&pki, &redis.url(), dir.path(), &["--queue-store-writes"]);
    let (mut rounds, mut resumed) = (0, 0);
    while rounds < 3 || (resumed == 0 && rounds < 20) {
        let both = connect_then_reconnect(&pki, &a.addr, &b.addr, &[]);
        assert_eq!(both["second"]["http_status"], "HTTP/1.1 200 OK", "{both}");
        rounds += 1;
        if both["second"]["resumed"] == true {
            resumed += 1;
        }
    }
    assert!(
        resumed >= 1,
        "no resumption in {rounds} rounds\n{}",
        b.metrics()
    );
    // Each round's first handshake stored two sessions on A; every round that did not resume
    // missed an absent session on B (its write had not landed yet).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while a.metric("qtls_sessions_stored_total{result=\"stored\"}") < 2 * rounds {
        assert!(std::time::Instant::now() < deadline, "{}", a.metrics());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        b.metric("qtls_handshakes_total{kind=\"resumed_stateful\"}"),
        resumed,
        "{}",
        b.metrics()
    );
    assert_eq!(
        b.metric("qtls_resumption_misses_total{reason=\"absent\"}"),
        rounds - resumed,
        "{}",
        b.metrics()
    );
    for node in [&a, &b] {
        assert_eq!(
            node.metric("qtls_session_store_errors_total"),
            0,
            "{}",
            node.metrics()
        );
    }
}

#[test]
fn with_redis_stopped_nodes_do_full_handshakes_and_resume_again_once_it_is_back() {
    let Some(mut redis) = redis_support::RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mldsa65");
    let (a, b) = redis_nodes(&pki, &redis.url(), dir.path(), &[]);
    let both = connect_then_reconnect(&pki, &a.addr, &b.addr, &[]);
    assert_eq!(both["second"]["resumed"], true, "{both}");

    redis.stop();
    for _ in 0..3 {
        let both = connect_then_reconnect(&pki, &a.addr, &b.addr, &[]);
        for which in ["first", "second"] {
            assert_eq!(both[which]["resumed"], false, "{both}");
            assert_eq!(both[which]["http_status"], "HTTP/1.1 200 OK", "{both}");
        }
    }
    // Counted as store errors (no session could be stored, so none was offered), and said
    // in the log.
    for node in [&a, &b] {
        assert!(
            node.metric("qtls_session_store_errors_total") >= 3,
            "{}",
            node.metrics()
        );
        assert!(node.metric("qtls_sessions_stored_total{result=\"not_stored\"}") >= 3);
    }
    assert!(
        a.server.output().to_lowercase().contains("redis"),
        "{}",
        a.server.output()
    );

    redis.restart();
    // The nodes reconnect on their own; give them a few attempts.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let both = connect_then_reconnect(&pki, &a.addr, &b.addr, &[]);
        if both["second"]["resumed"] == true {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no resumption after Redis came back: {both}\n{}",
            a.server.output()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A Redis that requires a password: node A reads it from `--redis-password-file`, node B
/// from `QTLS_REDIS_PASSWORD`, neither from its command line, and a session from A resumes
/// on B. A password in the `--session-store` address still works but is warned about.
#[test]
fn the_redis_password_comes_from_a_file_or_the_environment() {
    let Some(redis) = redis_support::RedisServer::start() else {
        return;
    };
    let password = "qtls test: s3cret/+@";
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(password)
        .query(&mut redis.connection())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mldsa65");
    let secret = fleet_secret(dir.path(), 0xc4);
    let secret = secret.to_str().unwrap();
    let password_file = dir.path().join("redis.pass");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    std::fs::set_permissions(
        &password_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let store = redis.url();
    let common = [
        "--tickets",
        "off",
        "--session-store",
        &store,
        "--ticket-key-file",
        secret,
    ];
    let a = Node::start(
        &pki,
        &[
            &common[..],
            &["--redis-password-file", password_file.to_str().unwrap()],
        ]
        .concat(),
        "node A",
    );
    let b = Node::start_with_env(
        &pki,
        &common,
        &[("QTLS_REDIS_PASSWORD", password)],
        "node B",
    );
    let both = connect_then_reconnect(&pki, &a.addr, &b.addr, &[]);
    assert_eq!(both["second"]["resumed"], true, "{both}");
    for node in [&a, &b] {
        assert_eq!(
            node.metric("qtls_session_store_errors_total"),
            0,
            "{}",
            node.metrics()
        );
        assert!(
            !node.server.output().contains("s3cret"),
            "{}",
            node.server.output()
        );
    }
    // Without the password, Redis refuses the node: full handshakes, counted as store errors.
    let c = Node::start(&pki, &common, "node C without the password");
    let both = connect_then_reconnect(&pki, &a.addr, &c.addr, &[]);
    assert_eq!(both["second"]["resumed"], false, "{both}");
    assert!(
        c.metric("qtls_session_store_errors_total") >= 1,
        "{}",
        c.metrics()
    );
    // In the address: it works, with a warning that names the safer ways.
    let url = format!(
        "redis://:{}@127.0.0.1:{}",
        "qtls%20test%3A%20s3cret%2F%2B%40", redis.port
    );
    let d = Node::start(
        &pki,
        &[
            "--tickets",
            "off",
            "--session-store",
            &url,
            "--ticket-key-file",
            secret,
        ],
        "node D",
    );
    let both = connect_then_reconnect(&pki, &a.addr, &d.addr, &[]);
    assert_eq!(both["second"]["resumed"], true, "{both}");
    assert!(
        d.server.output().contains("--redis-password-file"),
        "{}",
        d.server.output()
    );
}
