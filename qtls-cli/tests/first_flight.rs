//! The server's first flight against one initial congestion window (10 segments of 1,460
//! bytes, RFC 6928): what `qtls client --json` counts as `handshake_bytes_received` per
//! configuration, and the two ways a composite ML-DSA-65 chain fits: servers that send their
//! leaf alone to clients that hold the intermediate (`--send-intermediates no`,
//! `--intermediates`), and flat PKIs (`qtls pki init --flat`). Both sides of mTLS.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// RFC 6928's initial window: 10 segments of a 1,460-byte MSS.
const INITIAL_WINDOW: u64 = 14_600;

/// ECDSA signatures in the chain and CertificateVerify vary by a few bytes (DER integers).
const SLACK: u64 = 24;

/// A PKI from `qtls pki init` with `extra` arguments.
fn pki(profile: &str, extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::run(
        Command::new(support::qtls_bin())
            .args(["pki", "init", "--dir"])
            .arg(dir.path())
            .args(["--profile", profile, "--hosts", "localhost,127.0.0.1"])
            .args(extra),
        Duration::from_secs(60),
    )
    .expect_success("qtls pki init");
    dir
}

fn server(dir: &Path, extra: &[&OsStr]) -> (support::Server, u16) {
    let port = support::free_port();
    let server = support::Server::start(
        Command::new(support::qtls_bin())
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--cert")
            .arg(dir.join("server-chain.pem"))
            .arg("--key")
            .arg(dir.join("server.key"))
            .args(extra),
        port,
        "listening on",
        "qtls server",
    );
    (server, port)
}

fn client(port: u16, dir: &Path, extra: &[&OsStr]) -> support::Output {
    support::run(
        Command::new(support::qtls_bin())
            .args(["client", "--connect", &format!("127.0.0.1:{port}")])
            .args(["--servername", "localhost", "--json", "--ca"])
            .arg(dir.join("root.pem"))
            .args(extra),
        Duration::from_secs(30),
    )
}

/// The bytes of the server's flight a successful `qtls client --json` counted.
fn flight(out: support::Output) -> u64 {
    let out = out.expect_success("qtls client");
    let json = support::last_json(&out.stdout);
    assert_eq!(json["http_status"], "HTTP/1.1 200 OK", "{json}");
    json["handshake_bytes_received"].as_u64().unwrap()
}

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn os(path: &Path) -> &OsStr {
    path.as_os_str()
}

#[test]
fn byte_counts_per_configuration() {
    // (profile, pki init flags, server flags, client holds the intermediate, expected bytes)
    let composite = pki("composite", &[]);
    let flat = pki("composite", &["--flat"]);
    let mldsa65 = pki("mldsa65", &[]);
    let ecdsa = pki("ecdsa-p384", &[]);
    let no = OsStr::new("no");
    let send = OsStr::new("--send-intermediates");
    let known = OsStr::new("--intermediates");
    let composite_intermediate = path(composite.path(), "intermediate.pem");
    let mldsa65_intermediate = path(mldsa65.path(), "intermediate.pem");
    // (what, PKI, server flags, client flags, expected bytes)
    type Case<'a> = (&'a str, &'a Path, Vec<&'a OsStr>, Vec<&'a OsStr>, u64);
    let cases: [Case<'_>; 6] = [
        ("composite chain", composite.path(), vec![], vec![], 16_868),
        (
            "composite leaf alone, client holds the intermediate",
            composite.path(),
            vec![send, no],
            vec![known, os(&composite_intermediate)],
            11_094,
        ),
        ("composite flat PKI", flat.path(), vec![], vec![], 11_088),
        ("ML-DSA-65 chain", mldsa65.path(), vec![], vec![], 16_372),
        (
            "ML-DSA-65 leaf alone, client holds the intermediate",
            mldsa65.path(),
            vec![send, no],
            vec![known, os(&mldsa65_intermediate)],
            10_794,
        ),
        ("ECDSA-P384 chain", ecdsa.path(), vec![], vec![], 3_039),
    ];
    for (name, dir, server_args, client_args, expected) in cases {
        let (_server, port) = server(dir, &server_args);
        let bytes = flight(client(port, dir, &client_args));
        assert!(
            bytes.abs_diff(expected) <= SLACK,
            "{name}: {bytes} bytes, expected {expected} ± {SLACK}"
        );
        let fits = bytes <= INITIAL_WINDOW;
        let should_fit = !name.ends_with("chain") || name.starts_with("ECDSA");
        assert_eq!(fits, should_fit, "{name}: {bytes} bytes");
    }
}

#[test]
fn a_client_without_the_intermediate_gets_unknown_issuer() {
    let dir = pki("composite", &[]);
    let (server, port) = server(
        dir.path(),
        &[OsStr::new("--send-intermediates"), OsStr::new("no")],
    );
    let out = client(port, dir.path(), &[]);
    assert!(!out.success(), "{}", out.stdout);
    assert!(
        out.stderr.contains("UnknownIssuer") || out.stderr.contains("unknown issuer"),
        "{}",
        out.stderr
    );
    // The client says why: the server sees the unknown_ca alert (RFC 8446 §6.2).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.output().contains("unknown_ca") {
        assert!(std::time::Instant::now() < deadline, "{}", server.output());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn mtls_clients_may_send_their_leaf_alone_to_a_server_that_holds_the_intermediate() {
    let dir = pki("composite", &[]);
    let d = dir.path();
    let root = path(d, "root.pem");
    let intermediate = path(d, "intermediate.pem");
    let mtls = |extra: &[&OsStr]| {
        let mut args = vec![
            OsStr::new("--client-ca"),
            os(&root),
            OsStr::new("--require-client-cert"),
        ];
        args.extend_from_slice(extra);
        server(d, &args)
    };
    let cert = path(d, "client-chain.pem");
    let key = path(d, "client.key");
    let client_args = [
        OsStr::new("--cert"),
        os(&cert),
        OsStr::new("--key"),
        os(&key),
        OsStr::new("--send-intermediates"),
        OsStr::new("no"),
    ];

    let (_server, port) = mtls(&[OsStr::new("--client-intermediates"), os(&intermediate)]);
    let sent_alone = client(port, d, &client_args).expect_success("mTLS, leaf alone");
    let json = support::last_json(&sent_alone.stdout);
    assert_eq!(json["http_status"], "HTTP/1.1 200 OK", "{json}");
    // The client's flight carries one certificate less than with its chain.
    let (_server_b, port_b) = mtls(&[OsStr::new("--client-intermediates"), os(&intermediate)]);
    let with_chain = client(port_b, d, &client_args[..4]).expect_success("mTLS, whole chain");
    let sent = |out: &support::Output| {
        support::last_json(&out.stdout)["handshake_bytes_sent"]
            .as_u64()
            .unwrap()
    };
    let saved = sent(&with_chain) - sent(&sent_alone);
    assert!((5_000..7_000).contains(&saved), "saved {saved} bytes");

    // A server that does not hold it refuses the leaf alone with unknown_ca.
    let (_server_c, port_c) = mtls(&[]);
    let refused = client(port_c, d, &client_args);
    assert!(!refused.success(), "{}", refused.stdout);
    assert!(
        refused.stderr.contains("UnknownCA") || refused.stderr.contains("unknown_ca"),
        "{}",
        refused.stderr
    );
}

#[test]
fn the_config_file_says_the_same() {
    let dir = pki("composite", &[]);
    let d = dir.path();
    let config = path(d, "qtls.toml");
    std::fs::write(
        &config,
        format!(
            "[[certificate]]\nchain = {:?}\nkey = {:?}\nsend_intermediates = false\n",
            path(d, "server-chain.pem"),
            path(d, "server.key")
        ),
    )
    .unwrap();
    let port = support::free_port();
    let _server = support::Server::start(
        Command::new(support::qtls_bin())
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--config")
            .arg(&config),
        port,
        "listening on",
        "qtls server --config",
    );
    let bytes = flight(client(
        port,
        d,
        &[
            OsStr::new("--intermediates"),
            os(&path(d, "intermediate.pem")),
        ],
    ));
    assert!(bytes <= INITIAL_WINDOW, "{bytes} bytes");
}
