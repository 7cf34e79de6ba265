//! `qtls server --cipher-suites` and `[policy] cipher_suites`: OpenSSL's names choose the
//! suites the server negotiates, and names the preset cannot use are refused.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Connects with `qtls client --json` (extra `client_args`) and returns the negotiated suite.
fn negotiated_suite(port: u16, root: &Path, client_args: &[&str]) -> String {
    let out = support::run(
        Command::new(support::qtls_bin())
            .args([
                "client",
                "--connect",
                &format!("127.0.0.1:{port}"),
                "--json",
            ])
            .arg("--ca")
            .arg(root)
            .args(client_args),
        Duration::from_secs(30),
    )
    .expect_success("qtls client");
    support::last_json(&out.stdout)["cipher_suite"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_flag_chooses_the_suites_by_openssl_name() {
    let certs = support::qtls_certs("mldsa65");
    let port = support::free_port();
    let _server = support::Server::start(
        Command::new(support::qtls_bin())
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--preset", "compatible"])
            .args(["--cipher-suites", "TLS_CHACHA20_POLY1305_SHA256"])
            .arg("--cert")
            .arg(&certs.chain)
            .arg("--key")
            .arg(&certs.key),
        port,
        "listening on",
        "qtls server --cipher-suites",
    );
    // The client prefers AES-256-GCM; the server has only ChaCha20-Poly1305.
    assert_eq!(
        negotiated_suite(port, &certs.root, &["--preset", "compatible"]),
        "TLS13_CHACHA20_POLY1305_SHA256"
    );
}

#[test]
fn the_config_file_chooses_the_suites_by_openssl_name() {
    let certs = support::qtls_certs("mldsa65");
    let port = support::free_port();
    let config = certs.dir.path().join("qtls.toml");
    std::fs::write(
        &config,
        format!(
            "[policy]\npreset = \"hybrid\"\ncipher_suites = [\"TLS_AES_128_GCM_SHA256\"]\n\n\
             [[certificate]]\nchain = {:?}\nkey = {:?}\n",
            certs.chain, certs.key
        ),
    )
    .unwrap();
    let _server = support::Server::start(
        Command::new(support::qtls_bin())
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--config")
            .arg(&config),
        port,
        "listening on",
        "qtls server --config",
    );
    assert_eq!(
        negotiated_suite(
            port,
            &certs.root,
            &[
                "--cipher-suite",
                "TLS13_AES_256_GCM_SHA384",
                "--cipher-suite",
                "TLS13_AES_128_GCM_SHA256"
            ]
        ),
        "TLS13_AES_128_GCM_SHA256"
    );
}

#[test]
fn unknown_names_and_suites_the_preset_cannot_use_are_refused() {
    let certs = support::qtls_certs("mldsa65");
    let refused = |args: &[&str]| {
        let out = support::run(
            Command::new(support::qtls_bin())
                .args(["server", "--listen", "127.0.0.1:0"])
                .arg("--cert")
                .arg(&certs.chain)
                .arg("--key")
                .arg(&certs.key)
                .args(args),
            Duration::from_secs(20),
        );
        assert!(!out.success(), "qtls server {args:?} started");
        out.stderr
    };
    let err = refused(&["--cipher-suites", "AES128-SHA"]);
    assert!(
        err.contains("--cipher-suites") && err.contains("AES128-SHA"),
        "{err}"
    );
    // TLS 1.2 suites only with the compatible preset (the default preset is TLS 1.3 only).
    let err = refused(&["--cipher-suites", "ECDHE-ECDSA-AES256-GCM-SHA384"]);
    assert!(err.contains("preset does not allow"), "{err}");
    let config = certs.dir.path().join("bad.toml");
    std::fs::write(&config, "[policy]\ncipher_suites = [\"RC4-MD5\"]\n").unwrap();
    let err = refused(&["--config", config.to_str().unwrap()]);
    assert!(err.contains("policy.cipher_suites"), "{err}");
}
