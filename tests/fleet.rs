//! Two `qtls server` processes as a fleet: a session from node A resumes on node B through a
//! shared Redis (stateful), or through ticket keys derived from a shared secret file, and
//! the resumed mTLS session keeps the client identity of the original handshake.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{free_port, last_json, qtls_bin, run, Server};

fn node(pki: &Path, extra: &[&str], what: &str) -> (Server, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = Server::start(
        Command::new(qtls_bin())
            .args(["server", "--listen", &addr])
            .arg("--cert")
            .arg(pki.join("server-chain.pem"))
            .arg("--key")
            .arg(pki.join("server.key"))
            .arg("--client-ca")
            .arg(pki.join("root.pem"))
            .args(extra),
        port,
        "listening on",
        what,
    );
    (server, addr)
}

/// `qtls client --connect a --reconnect b --json` with the PKI's client certificate.
fn connect_then_reconnect(pki: &Path, a: &str, b: &str) -> serde_json::Value {
    let out = run(
        Command::new(qtls_bin())
            .args([
                "client",
                "--connect",
                a,
                "--reconnect",
                b,
                "--servername",
                "localhost",
                "--json",
            ])
            .arg("--ca")
            .arg(pki.join("root.pem"))
            .arg("--cert")
            .arg(pki.join("client-chain.pem"))
            .arg("--key")
            .arg(pki.join("client.key")),
        Duration::from_secs(30),
    )
    .expect_success("qtls client --reconnect");
    last_json(&out.stdout)
}

fn pki(dir: &Path) -> std::path::PathBuf {
    let pki = dir.join("pki");
    run(
        Command::new(qtls_bin())
            .args(["pki", "init", "--profile", "composite", "--dir"])
            .arg(&pki),
        Duration::from_secs(60),
    )
    .expect_success("pki init");
    pki
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
    let pki = pki(dir.path());
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
    let (_a, addr_a) = node(&pki, &args, "node A");
    let (_b, addr_b) = node(&pki, &args, "node B");
    assert_resumed_with_identity(&connect_then_reconnect(&pki, &addr_a, &addr_b));

    // A node with another secret cannot open A's tickets: a full handshake, not a failure.
    let other = dir.path().join("other.key");
    std::fs::write(&other, [0xa7; 32]).unwrap();
    let (_c, addr_c) = node(
        &pki,
        &["--ticket-key-file", other.to_str().unwrap()],
        "node C",
    );
    let both = connect_then_reconnect(&pki, &addr_a, &addr_c);
    assert_eq!(both["second"]["resumed"], false, "{both}");
    assert_eq!(both["second"]["http_status"], "HTTP/1.1 200 OK");
}

#[test]
fn a_stateful_session_from_node_a_resumes_once_on_node_b_through_redis() {
    let Some(redis) = redis_support::RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let secret = dir.path().join("fleet.key");
    std::fs::write(&secret, [0xc3; 48]).unwrap();
    let store = redis.url();
    let args = [
        "--require-client-cert",
        "--session-store",
        &store,
        "--tickets",
        "off",
        "--ticket-key-file",
        secret.to_str().unwrap(),
    ];
    let (_a, addr_a) = node(&pki, &args, "node A");
    let (_b, addr_b) = node(&pki, &args, "node B");
    assert_resumed_with_identity(&connect_then_reconnect(&pki, &addr_a, &addr_b));
    // Node-local memory stores do not share: A's session does not resume on a memory node.
    let (_m, addr_m) = node(&pki, &["--tickets", "off"], "memory node");
    let both = connect_then_reconnect(&pki, &addr_a, &addr_m);
    assert_eq!(both["second"]["resumed"], false, "{both}");
}
