//! The library examples, run end to end as real processes on loopback: `mtls_server` with
//! `mtls_client`, and `hyper_server` with `qtls client`, on a composite PKI from
//! `qtls pki init`.
//!
//! `cargo test` builds the examples of the package, but `cargo test --test examples` does
//! not, so this test runs `cargo build --examples` itself first (a no-op when they are up to
//! date; cargo does not hold its lock while tests run) and takes the binaries from the
//! `examples/` folder beside the test's own `deps/`.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use support::{free_port, last_json, qtls_bin, qtls_certs, run, Server};

/// `target/<profile>/examples`, with the examples freshly built (once per test binary).
fn examples_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        // target/<profile>/deps/examples-HASH
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("the test binary lives in target/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--examples", "-p", "qtls", "--target-dir"])
            .arg(&target_dir);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => {}
            Some("release") => {
                cargo.arg("--release");
            }
            Some(other) => {
                cargo.args(["--profile", other]);
            }
            None => panic!("no profile folder in {}", exe.display()),
        }
        run(&mut cargo, Duration::from_secs(1800)).expect_success("cargo build --examples");
        let dir = profile_dir.join("examples");
        for name in ["mtls_server", "mtls_client", "hyper_server"] {
            assert!(
                dir.join(name).is_file(),
                "cargo build --examples did not leave {name} in {}",
                dir.display()
            );
        }
        dir
    })
}

fn example(name: &str) -> Command {
    Command::new(examples_dir().join(name))
}

/// Waits for a server started with `--connections N` to exit after serving them, and
/// returns what it printed.
fn finished_output(mut server: Server) -> String {
    for _ in 0..200 {
        if server.child.0.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100)); // let the output readers finish
    server.output()
}

#[test]
fn mtls_server_and_mtls_client() {
    let dir = examples_dir();
    let certs = qtls_certs("composite");
    let pki = certs.dir.path();
    let port = free_port();
    let server = Server::start(
        example("mtls_server")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--cert")
            .arg(pki.join("server-chain.pem"))
            .arg("--key")
            .arg(pki.join("server.key"))
            .arg("--client-ca")
            .arg(pki.join("root.pem"))
            .args(["--connections", "1"]),
        port,
        "listening on",
        "mtls_server example",
    );
    let client = run(
        Command::new(dir.join("mtls_client"))
            .args(["--connect", &format!("127.0.0.1:{port}")])
            .args(["--servername", "localhost"])
            .arg("--ca")
            .arg(pki.join("root.pem"))
            .arg("--cert")
            .arg(pki.join("client-chain.pem"))
            .arg("--key")
            .arg(pki.join("client.key")),
        Duration::from_secs(60),
    )
    .expect_success("mtls_client example");
    let server_output = finished_output(server);

    let out = &client.stdout;
    assert!(
        out.contains("key exchange      SecP384r1MLKEM1024"),
        "{out}"
    );
    assert!(
        out.contains("cipher suite      TLS13_AES_256_GCM_SHA384"),
        "{out}"
    );
    assert!(
        out.contains("server subject    CN=localhost,O=Q-TLS"),
        "{out}"
    );
    assert!(out.contains("[MLDSA65-ECDSA-P384-SHA512]"), "{out}");
    assert_eq!(
        out.lines().last(),
        Some("hello CN=qtls-client,O=Q-TLS"),
        "{out}"
    );

    let s = &server_output;
    assert!(s.contains("TLSv1_3 SecP384r1MLKEM1024"), "{s}");
    assert!(
        s.contains("client subject    CN=qtls-client,O=Q-TLS"),
        "{s}"
    );
    assert!(
        s.contains("issuer            CN=Q-TLS Intermediate CA,O=Q-TLS"),
        "{s}"
    );
    assert!(
        s.contains("trust anchor      CN=Q-TLS Root CA,O=Q-TLS"),
        "{s}"
    );
    assert!(
        s.contains("request           hello from mtls_client"),
        "{s}"
    );
}

#[test]
fn mtls_server_refuses_a_client_without_a_certificate_from_its_ca() {
    let dir = examples_dir();
    let certs = qtls_certs("composite");
    let other = qtls_certs("composite"); // another PKI: its client is from an unknown CA
    let pki = certs.dir.path();
    let port = free_port();
    let server = Server::start(
        example("mtls_server")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--cert")
            .arg(pki.join("server-chain.pem"))
            .arg("--key")
            .arg(pki.join("server.key"))
            .arg("--client-ca")
            .arg(pki.join("root.pem"))
            .args(["--connections", "1"]),
        port,
        "listening on",
        "mtls_server example",
    );
    let client = run(
        Command::new(dir.join("mtls_client"))
            .args(["--connect", &format!("127.0.0.1:{port}")])
            .arg("--ca")
            .arg(pki.join("root.pem"))
            .arg("--cert")
            .arg(other.dir.path().join("client-chain.pem"))
            .arg("--key")
            .arg(other.dir.path().join("client.key")),
        Duration::from_secs(60),
    );
    let server_output = finished_output(server);
    assert!(!client.success(), "{}", client.stdout);
    assert!(!client.stdout.contains("hello CN="), "{}", client.stdout);
    assert!(
        server_output.contains("handshake failed"),
        "{server_output}"
    );
}

#[test]
fn hyper_server_with_qtls_client() {
    examples_dir();
    let certs = qtls_certs("composite");
    let pki = certs.dir.path();
    let port = free_port();
    let server = Server::start(
        example("hyper_server")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--cert")
            .arg(pki.join("server-chain.pem"))
            .arg("--key")
            .arg(pki.join("server.key"))
            .arg("--client-ca")
            .arg(pki.join("root.pem"))
            .args(["--connections", "3"]),
        port,
        "listening on",
        "hyper_server example",
    );
    let qtls_client = |extra: &[&str], with_cert: bool| {
        let mut cmd = Command::new(qtls_bin());
        cmd.args(["client", "--connect", &format!("127.0.0.1:{port}")])
            .args(["--servername", "localhost", "--json"])
            .arg("--ca")
            .arg(pki.join("root.pem"))
            .args(extra);
        if with_cert {
            cmd.arg("--cert")
                .arg(pki.join("client-chain.pem"))
                .arg("--key")
                .arg(pki.join("client.key"));
        }
        run(&mut cmd, Duration::from_secs(60))
    };

    // mTLS: the handler sees the verified client identity.
    let ok = qtls_client(&[], true).expect_success("qtls client against hyper_server");
    let report = last_json(&ok.stdout);
    assert_eq!(report["group"], "SecP384r1MLKEM1024", "{report}");
    assert_eq!(
        report["signature_scheme"], "MLDSA65_ECDSA_P384_SHA512",
        "{report}"
    );
    assert_eq!(report["http_status"], "HTTP/1.1 200 OK", "{report}");
    assert_eq!(report["body"], "hello CN=qtls-client,O=Q-TLS", "{report}");

    // The acceptor's PQ gate: a classical-only ClientHello is refused before ServerHello.
    let classical = qtls_client(&["--group", "X25519"], true);
    assert!(!classical.success());
    assert_eq!(
        last_json(&classical.stdout)["alert"],
        "insufficient_security",
        "{}",
        classical.stdout
    );

    // No client certificate: the verifier requires one.
    let anonymous = qtls_client(&[], false);
    assert!(!anonymous.success());
    assert_eq!(
        last_json(&anonymous.stdout)["alert"],
        "certificate_required",
        "{}",
        anonymous.stdout
    );

    let s = finished_output(server);
    assert!(
        s.contains("GET / -> 200 (group SecP384r1MLKEM1024, client CN=qtls-client,O=Q-TLS)"),
        "{s}"
    );
    assert!(s.contains("refused (insufficient_security)"), "{s}");
}
