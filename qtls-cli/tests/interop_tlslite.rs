//! Interop with tlslite-ng (`QTLS_TLSLITE_PYTHON`, a venv set up by `scripts/tlslite.sh`), an
//! independent pure-Python TLS 1.3 stack: its client (tests/peers/tlslite_client.py) against
//! the `qtls server` with ML-DSA-65 certificates from `qtls pki init --profile mldsa65`.
//! Skipped when the venv is missing, except under `CI=true`.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::COMMAND_TIMEOUT;

const TLSLITE: &str = "tlslite-ng venv (QTLS_TLSLITE_PYTHON)";

/// Runs the tlslite-ng client against 127.0.0.1:`port` and returns its JSON line.
fn tlslite_client(python: &Path, port: u16, root: &Path, group: &str, sig: &str) -> Value {
    let out = support::run(
        Command::new(python)
            .arg(support::tlslite_client_script())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--servername", "localhost", "--group", group, "--sig", sig])
            .arg("--cafile")
            .arg(root),
        COMMAND_TIMEOUT,
    );
    assert!(
        out.success(),
        "tlslite-ng client (group {group}, sig {sig}) failed: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    support::last_json(&out.stdout)
}

/// tlslite-ng client -> `qtls server --preset PRESET`, negotiating `group` (tlslite's name;
/// `openssl_name` is the spelling the qtls server reports) with an ML-DSA-65 certificate.
fn tlslite_to_qtls_server(group: &str, openssl_name: &str, preset: &str) {
    let Some(python) = support::require(TLSLITE, support::tlslite_python()) else {
        return;
    };
    let certs = support::qtls_certs("mldsa65");
    let server = support::spawn_qtls_server(&certs.chain, &certs.key, preset);
    let v = tlslite_client(&python, server.port, &certs.root, group, "mldsa65");
    let context = || format!("{v}\n{}", server.output());
    assert_eq!(v["group"], group, "negotiated group: {}", context());
    assert_eq!(
        v["signature_scheme"],
        "mldsa65",
        "server signature: {}",
        context()
    );
    assert_eq!(v["protocol"], "TLS 1.3", "{}", context());
    assert_eq!(v["chain_verified"], true, "{}", context());
    let status = v["status_line"].as_str().unwrap_or_default();
    assert!(
        status.starts_with("HTTP/1.") && status.contains(" 200"),
        "status: {}",
        context()
    );
    // The qtls server's JSON body reports what it negotiated.
    assert_eq!(
        v["server_json"]["group"],
        openssl_name,
        "server's view: {}",
        context()
    );
    assert_eq!(
        v["server_json"]["signature_scheme"],
        "ML_DSA_65",
        "server's view: {}",
        context()
    );
}

#[test]
fn tlslite_client_qtls_server_secp384r1mlkem1024() {
    tlslite_to_qtls_server("secp384r1mlkem1024", "SecP384r1MLKEM1024", "hybrid");
}

#[test]
fn tlslite_client_qtls_server_x25519mlkem768() {
    tlslite_to_qtls_server("x25519mlkem768", "X25519MLKEM768", "compatible");
}

/// The peer itself: tlslite-ng client against OpenSSL's s_server (no qtls involved), so a
/// broken peer setup shows up as such rather than as a qtls failure.
#[test]
fn tlslite_client_openssl_server_peer_check() {
    let Some(python) = support::require(TLSLITE, support::tlslite_python()) else {
        return;
    };
    let Some(openssl) = support::require("OpenSSL 4 (QTLS_OPENSSL)", support::openssl()) else {
        return;
    };
    let certs = support::openssl_mldsa65_certs(&openssl);
    let server = support::spawn_openssl_server(
        &openssl,
        &certs.leaf,
        &certs.key,
        None,
        "SecP384r1MLKEM1024",
    );
    let v = tlslite_client(
        &python,
        server.port,
        &certs.root,
        "secp384r1mlkem1024",
        "mldsa65",
    );
    assert_eq!(v["group"], "secp384r1mlkem1024", "{v}");
    assert_eq!(v["signature_scheme"], "mldsa65", "{v}");
    assert_eq!(v["chain_verified"], true, "{v}");
    assert_eq!(v["status_line"], "HTTP/1.0 200 ok", "{v}");
}
