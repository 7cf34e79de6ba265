//! `qtls scan` against real servers on loopback: `openssl s_server` (OpenSSL 4, QTLS_OPENSSL)
//! with ML-DSA-65 and ECDSA certificates, TLS 1.3 and TLS 1.2 only, `qtls server` with a
//! composite chain, and peers that are not TLS servers (closing at once, speaking another
//! protocol, stalling), which must end with a clear message instead of hanging.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

const OPENSSL: &str = "OpenSSL 4 (QTLS_OPENSSL)";

/// Far above what a scan of a loopback server takes; only there so a hang fails the test.
const SCAN_LIMIT: Duration = Duration::from_secs(120);

fn scan(target: &str, extra: &[&str]) -> support::Output {
    let mut cmd = Command::new(support::qtls_bin());
    cmd.args(["scan", target, "--json", "--rate", "100/s"]);
    if !extra.contains(&"--timeout") {
        cmd.args(["--timeout", "5s"]);
    }
    support::run(cmd.args(extra), SCAN_LIMIT)
}

fn scan_json(target: &str, extra: &[&str]) -> Value {
    let out = scan(target, extra);
    assert!(
        out.success(),
        "qtls scan {target} failed:\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    support::last_json(&out.stdout)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

fn set(items: &[&str]) -> Vec<String> {
    let mut items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    items.sort();
    items
}

fn sorted(value: &Value) -> Vec<String> {
    let mut items = strings(value);
    items.sort();
    items
}

#[test]
fn openssl_mldsa65_hybrid_groups() {
    let Some(openssl) = support::require(OPENSSL, support::openssl()) else {
        return;
    };
    let certs = support::openssl_mldsa65_certs(&openssl);
    let server = support::spawn_openssl_server(
        &openssl,
        &certs.leaf,
        &certs.key,
        None,
        "X25519MLKEM768:X25519",
    );
    let target = format!("127.0.0.1:{}", server.port);
    let ca = certs.root.to_str().expect("utf-8 path");
    let report = scan_json(&target, &["--ca", ca]);
    assert_eq!(strings(&report["versions"]), ["TLSv1.3"]);
    assert_eq!(
        sorted(&report["groups_accepted"]),
        set(&["X25519MLKEM768", "X25519"]),
        "{report}"
    );
    assert_eq!(report["preferred_group"], "X25519MLKEM768", "{report}");
    // Offered everything, the client sends a key share for SecP384r1MLKEM1024 first.
    assert_eq!(
        strings(&report["hello_retry_groups"]),
        ["X25519MLKEM768"],
        "{report}"
    );
    assert_eq!(report["early_data"]["max_early_data_size"], 0, "{report}");
    assert_eq!(
        strings(&report["signature_schemes_accepted"]),
        ["ML_DSA_65"],
        "{report}"
    );
    let chain = report["chain"].as_array().expect("chain");
    assert_eq!(chain.len(), 1, "{report}");
    assert_eq!(chain[0]["key_algorithm"], "ML-DSA-65");
    assert_eq!(chain[0]["signature_algorithm"], "ML-DSA-65");
    assert_eq!(report["chain_verified"]["ok"], true, "{report}");
    assert_eq!(report["chain_post_quantum"], true, "{report}");
    assert_eq!(report["verdict"]["pq_key_exchange"], true);
    assert_eq!(report["verdict"]["pq_authentication"], true);
    assert_eq!(report["verdict"]["key_exchange"], "hybrid");
    assert_eq!(report["verdict"]["authentication"], "ml-dsa");
    assert_eq!(report["ocsp"]["stapled"], false);
    assert_eq!(report["client_auth"]["requested"], false);
    assert_eq!(report["resumption"]["tls13_resumed"], true, "{report}");
    // The sizes are what an ML-DSA-65 handshake must carry: a 3,309-byte signature.
    let bytes = &report["bytes"];
    assert_eq!(bytes["certificate_verify"], 4 + 2 + 2 + 3309, "{report}");
    assert!(bytes["server_hello"].as_u64().expect("server_hello") > 1120);
    let probes = report["probes"].as_u64().expect("probes");
    assert!(probes <= 48, "{probes} handshakes is more than a few dozen");
}

#[test]
fn openssl_ecdsa_certificate_is_not_pq_authentication() {
    let Some(openssl) = support::require(OPENSSL, support::openssl()) else {
        return;
    };
    let certs = support::qtls_certs("ecdsa-p384");
    let server = support::spawn_openssl_server(
        &openssl,
        &certs.leaf,
        &certs.key,
        certs.intermediates.as_deref(),
        "SecP384r1MLKEM1024:X25519MLKEM768:secp384r1",
    );
    let target = format!("127.0.0.1:{}", server.port);
    let ca = certs.root.to_str().expect("utf-8 path");
    let report = scan_json(&target, &["--ca", ca]);
    assert_eq!(
        sorted(&report["groups_accepted"]),
        set(&["SecP384r1MLKEM1024", "X25519MLKEM768", "secp384r1"]),
        "{report}"
    );
    assert_eq!(report["preferred_group"], "SecP384r1MLKEM1024", "{report}");
    assert_eq!(strings(&report["hello_retry_groups"]), Vec::<String>::new());
    assert_eq!(
        strings(&report["signature_schemes_accepted"]),
        ["ECDSA_NISTP384_SHA384"],
        "{report}"
    );
    assert_eq!(report["chain"].as_array().expect("chain").len(), 2);
    assert_eq!(report["chain_verified"]["ok"], true, "{report}");
    assert_eq!(report["chain_post_quantum"], false);
    assert_eq!(report["verdict"]["pq_key_exchange"], true);
    assert_eq!(report["verdict"]["pq_authentication"], false);
    assert_eq!(report["verdict"]["kind"], "partial");
}

#[test]
fn openssl_tls12_only() {
    let Some(openssl) = support::require(OPENSSL, support::openssl()) else {
        return;
    };
    let certs = support::qtls_certs("ecdsa-p384");
    let port = support::free_port();
    let mut cmd = support::openssl_command(&openssl);
    cmd.args([
        "s_server",
        "-accept",
        &format!("127.0.0.1:{port}"),
        "-tls1_2",
        "-www",
    ])
    .arg("-cert")
    .arg(&certs.leaf)
    .arg("-key")
    .arg(&certs.key)
    .arg("-cert_chain")
    .arg(certs.intermediates.as_deref().expect("intermediate"));
    let _server = support::Server::start(&mut cmd, port, "ACCEPT", "openssl s_server -tls1_2");
    let report = scan_json(&format!("127.0.0.1:{port}"), &[]);
    assert_eq!(strings(&report["versions"]), ["TLSv1.2"], "{report}");
    let groups = strings(&report["groups_accepted"]);
    assert!(
        groups.iter().all(|g| !g.contains("MLKEM")),
        "TLS 1.2 has no ML-KEM groups: {groups:?}"
    );
    assert!(!groups.is_empty(), "{report}");
    assert!(
        strings(&report["cipher_suites"])
            .iter()
            .all(|s| s.starts_with("TLS_ECDHE_ECDSA_")),
        "{report}"
    );
    assert_eq!(report["verdict"]["pq_key_exchange"], false);
    assert_eq!(report["verdict"]["pq_authentication"], false);
    assert_eq!(report["verdict"]["kind"], "classical");
    assert!(report["resumption"]["tls13_resumed"].is_null());
    assert_eq!(report["resumption"]["tls12_session_id"], true, "{report}");
    assert_eq!(report["resumption"]["tls12_ticket"], true, "{report}");
    assert_eq!(report["bytes"]["hello_retry_request"], Value::Null);
    // TLS 1.2's Certificate and ServerKeyExchange travel in the clear: read off the wire.
    assert!(
        report["bytes"]["certificate"].as_u64().is_some(),
        "{report}"
    );
}

#[test]
fn qtls_server_composite() {
    let certs = support::qtls_certs("composite");
    let server = support::spawn_qtls_server(&certs.chain, &certs.key, "hybrid");
    let target = format!("127.0.0.1:{}", server.port);
    let ca = certs.root.to_str().expect("utf-8 path");
    let report = scan_json(&target, &["--ca", ca]);
    assert_eq!(strings(&report["versions"]), ["TLSv1.3"], "{report}");
    assert_eq!(
        sorted(&report["groups_accepted"]),
        set(&[
            "SecP384r1MLKEM1024",
            "X25519MLKEM1024",
            "X25519MLKEM768",
            "SecP256r1MLKEM768"
        ]),
        "{report}"
    );
    assert_eq!(report["preferred_group"], "SecP384r1MLKEM1024", "{report}");
    assert_eq!(
        strings(&report["signature_schemes_accepted"]),
        ["MLDSA65_ECDSA_P384_SHA512"],
        "{report}"
    );
    assert_eq!(report["chain_verified"]["ok"], true, "{report}");
    assert_eq!(report["chain_post_quantum"], true, "{report}");
    assert_eq!(report["verdict"]["pq_key_exchange"], true);
    assert_eq!(report["verdict"]["pq_authentication"], true);
    assert_eq!(report["verdict"]["kind"], "hybrid", "{report}");
}

/// A loopback listener that treats every connection with `serve` on its own thread.
fn listener(serve: fn(std::net::TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

fn assert_fails_with(port: u16, extra: &[&str], expected: &[&str]) {
    let target = format!("127.0.0.1:{port}");
    let out = scan(&target, extra);
    assert!(
        out.status.is_some(),
        "qtls scan {target} did not finish within {SCAN_LIMIT:?}"
    );
    assert!(
        !out.success(),
        "qtls scan {target} succeeded: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains(&format!("scan of {target}: ")),
        "{}",
        out.stderr
    );
    assert!(
        expected.iter().any(|e| out.stderr.contains(e)),
        "expected one of {expected:?} in: {}",
        out.stderr
    );
    let json = support::last_json(&out.stdout);
    assert!(json["error"].is_string(), "{}", out.stdout);
}

#[test]
fn listener_that_closes_at_once() {
    let port = listener(drop);
    assert_fails_with(
        port,
        &[],
        &["closed the connection", "reset the connection"],
    );
}

#[test]
fn port_that_is_not_tls() {
    let port = listener(|mut stream| {
        let mut buf = [0u8; 512];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        std::thread::sleep(Duration::from_millis(200));
    });
    assert_fails_with(port, &[], &["not a TLS server"]);
}

#[test]
fn server_that_stalls() {
    let port = listener(|stream| {
        // Holds the connection open and never answers.
        std::thread::sleep(Duration::from_secs(30));
        drop(stream);
    });
    assert_fails_with(port, &["--timeout", "2s"], &["stalls"]);
}

#[test]
fn nothing_listening() {
    let port = support::free_port();
    assert_fails_with(port, &[], &["cannot connect"]);
}

#[test]
fn qtls_server_pqc_only_mldsa() {
    let certs = support::qtls_certs("mldsa65");
    let server = support::spawn_qtls_server(&certs.chain, &certs.key, "pqc-only");
    let target = format!("127.0.0.1:{}", server.port);
    let ca = certs.root.to_str().expect("utf-8 path");
    let report = scan_json(&target, &["--ca", ca]);
    assert_eq!(
        strings(&report["groups_accepted"]),
        ["MLKEM1024"],
        "{report}"
    );
    assert_eq!(report["preferred_group"], "MLKEM1024", "{report}");
    assert_eq!(
        strings(&report["signature_schemes_accepted"]),
        ["ML_DSA_65"],
        "{report}"
    );
    assert_eq!(report["chain_post_quantum"], true, "{report}");
    assert_eq!(report["verdict"]["kind"], "pqc-only", "{report}");
}

#[test]
fn qtls_server_two_chains_and_client_auth() {
    let composite = support::qtls_certs("composite");
    let ecdsa = support::qtls_certs("ecdsa-p384");
    let port = support::free_port();
    let mut cmd = Command::new(support::qtls_bin());
    cmd.args([
        "server",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--preset",
        "compatible",
    ])
    .arg("--cert")
    .arg(&composite.chain)
    .arg("--key")
    .arg(&composite.key)
    .arg("--cert")
    .arg(&ecdsa.chain)
    .arg("--key")
    .arg(&ecdsa.key)
    .arg("--client-ca")
    .arg(&composite.root);
    let _server = support::Server::start(&mut cmd, port, "listening on", "qtls server");
    let report = scan_json(&format!("127.0.0.1:{port}"), &[]);
    let schemes = strings(&report["signature_schemes_accepted"]);
    for scheme in ["MLDSA65_ECDSA_P384_SHA512", "ECDSA_NISTP384_SHA384"] {
        assert!(schemes.iter().any(|s| s == scheme), "{scheme}: {report}");
    }
    assert_eq!(report["verdict"]["pq_authentication"], true);
    assert_eq!(report["client_auth"]["requested"], true, "{report}");
    let authorities = strings(&report["client_auth"]["certificate_authorities"]);
    assert!(
        authorities.iter().any(|ca| ca.contains("CN=Q-TLS Root CA")),
        "the client CA's subject: {report}"
    );
    assert!(
        !report["client_auth"]["signature_schemes"]
            .as_array()
            .expect("schemes")
            .is_empty(),
        "{report}"
    );
}

#[test]
fn qtls_server_early_data() {
    let certs = support::qtls_certs("composite");
    let port = support::free_port();
    let mut cmd = Command::new(support::qtls_bin());
    cmd.args([
        "server",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--preset",
        "hybrid",
        "--early-data",
    ])
    .arg("--cert")
    .arg(&certs.chain)
    .arg("--key")
    .arg(&certs.key);
    let _server =
        support::Server::start(&mut cmd, port, "listening on", "qtls server --early-data");
    let report = scan_json(&format!("127.0.0.1:{port}"), &[]);
    assert_eq!(report["resumption"]["tls13_resumed"], true, "{report}");
    assert_eq!(
        report["early_data"]["max_early_data_size"], 16384,
        "{report}"
    );
    assert_eq!(report["early_data"]["offered"], true, "{report}");
    assert_eq!(report["early_data"]["accepted"], true, "{report}");
}

#[test]
fn qtls_server_ocsp_staple() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let responder_port = support::free_port();
    support::run(
        Command::new(support::qtls_bin())
            .args(["pki", "init", "--profile", "composite", "--dir"])
            .arg(d)
            .args(["--hosts", "localhost,127.0.0.1", "--ocsp-url"])
            .arg(format!("http://127.0.0.1:{responder_port}/")),
        Duration::from_secs(60),
    )
    .expect_success("qtls pki init");
    let mut responder = Command::new(support::qtls_bin());
    responder
        .args(["ocsp-responder", "--listen"])
        .arg(format!("127.0.0.1:{responder_port}"))
        .arg("--ca")
        .arg(d.join("intermediate.pem"))
        .arg("--signer")
        .arg(d.join("ocsp.pem"))
        .arg("--key")
        .arg(d.join("ocsp.key"))
        .arg("--index")
        .arg(d.join("revoked.txt"));
    let _responder = support::Server::start(
        &mut responder,
        responder_port,
        "listening on",
        "qtls ocsp-responder",
    );
    let port = support::free_port();
    let mut cmd = Command::new(support::qtls_bin());
    cmd.env("NO_COLOR", "1")
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--ocsp-stapling",
            "soft-fail",
        ])
        .arg("--cert")
        .arg(d.join("server-chain.pem"))
        .arg("--key")
        .arg(d.join("server.key"));
    let server = support::Server::start(&mut cmd, port, "listening on", "qtls server");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !server.output().contains("OCSP staple refreshed") {
        assert!(
            std::time::Instant::now() < deadline,
            "no staple: {}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let ca = d.join("root.pem");
    let report = scan_json(
        &format!("127.0.0.1:{port}"),
        &["--ca", ca.to_str().expect("utf-8 path")],
    );
    let ocsp = &report["ocsp"];
    assert_eq!(ocsp["stapled"], true, "{report}");
    assert_eq!(ocsp["status"], "good", "{report}");
    assert_eq!(ocsp["verified"], true, "{report}");
    assert!(ocsp["next_update"].is_string(), "{report}");
    assert_eq!(report["chain_verified"]["ok"], true, "{report}");
}

#[test]
fn human_table_and_bad_arguments() {
    let certs = support::qtls_certs("composite");
    let server = support::spawn_qtls_server(&certs.chain, &certs.key, "hybrid");
    let out = support::run(
        Command::new(support::qtls_bin()).args([
            "scan",
            &format!("127.0.0.1:{}", server.port),
            "--rate",
            "100/s",
        ]),
        SCAN_LIMIT,
    )
    .expect_success("qtls scan (table)");
    for row in [
        "versions            TLSv1.3",
        "preferred group     SecP384r1MLKEM1024",
        "signature schemes   MLDSA65_ECDSA_P384_SHA512",
        "verdict             PQ key exchange yes (preferred), PQ authentication yes (default): hybrid",
    ] {
        assert!(out.stdout.contains(row), "{row:?} missing in:\n{}", out.stdout);
    }
    for bad in [
        vec!["scan", "127.0.0.1:1", "--rate", "0/s"],
        vec!["scan", "no-port-here"],
    ] {
        let out = support::run(Command::new(support::qtls_bin()).args(&bad), SCAN_LIMIT);
        assert!(!out.success(), "{bad:?} succeeded");
        assert!(!out.stderr.is_empty(), "{bad:?}: no message");
    }
}

#[test]
fn server_that_stalls_after_a_few_handshakes() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let certs = support::qtls_certs("composite");
    let server = support::spawn_qtls_server(&certs.chain, &certs.key, "hybrid");
    let upstream = server.port;
    // A proxy that forwards the first three connections and then holds every other one open
    // without a byte: the scan's first probes succeed, the rest time out.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if accepted.fetch_add(1, Ordering::SeqCst) >= 3 {
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(30));
                    drop(client);
                });
                continue;
            }
            let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut c_read, mut u_write) = (
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
            );
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut u_write);
                let _ = u_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut u_read, mut c_write) = (upstream, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    assert_fails_with(port, &["--timeout", "1s"], &["stopped answering"]);
}
