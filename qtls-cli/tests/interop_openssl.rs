//! Interop with OpenSSL 4 (`QTLS_OPENSSL`, set up by `scripts/test.sh`):
//!
//! - the `qtls client` against `openssl s_server -tls1_3 -www -groups G`;
//! - `openssl s_client -groups G` against the `qtls server`;
//!
//! for G in SecP384r1MLKEM1024, X25519MLKEM768 and MLKEM1024, with ML-DSA-65 certificates made
//! by OpenSSL and by `qtls pki init --profile mldsa65`. Skipped when OpenSSL is missing, except
//! under `CI=true`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{Certs, COMMAND_TIMEOUT};

const OPENSSL: &str = "OpenSSL 4 (QTLS_OPENSSL)";

#[derive(Clone, Copy, Debug)]
enum Issuer {
    /// `openssl req` root and leaf, ML-DSA-65.
    OpenSsl,
    /// `qtls pki init --profile mldsa65`.
    Qtls,
}

fn certs(openssl: &std::path::Path, issuer: Issuer) -> Certs {
    match issuer {
        Issuer::OpenSsl => support::openssl_mldsa65_certs(openssl),
        Issuer::Qtls => support::qtls_certs("mldsa65"),
    }
}

fn openssl() -> Option<PathBuf> {
    support::require(OPENSSL, support::openssl())
}

/// `qtls client --group G --json` against `openssl s_server -groups G`.
fn qtls_client_to_openssl_server(group: &str, issuer: Issuer) {
    let Some(openssl) = openssl() else { return };
    let certs = certs(&openssl, issuer);
    let server = support::spawn_openssl_server(
        &openssl,
        &certs.leaf,
        &certs.key,
        certs.intermediates.as_deref(),
        group,
    );
    let out = support::run(
        Command::new(support::qtls_bin())
            .args(["client", "--connect", &format!("127.0.0.1:{}", server.port)])
            .arg("--ca")
            .arg(&certs.root)
            .args(["--servername", "localhost", "--group", group, "--json"]),
        COMMAND_TIMEOUT,
    );
    assert!(
        out.success(),
        "qtls client (group {group}, {issuer:?} certs) failed: {:?}\n--- stdout\n{}\n--- stderr\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr,
        server.output()
    );
    let v = support::last_json(&out.stdout);
    assert_eq!(v["group"], group, "negotiated group in {v}");
    assert_eq!(
        v["signature_scheme"], "ML_DSA_65",
        "server signature scheme in {v}"
    );
    let protocol = v["protocol"].as_str().unwrap_or_default();
    assert!(
        protocol.contains("1.3") || protocol.contains("1_3"),
        "protocol should be TLS 1.3 in {v}"
    );
}

/// `openssl s_client -groups G` against `qtls server --preset PRESET`.
fn openssl_client_to_qtls_server(group: &str, preset: &str, issuer: Issuer) {
    let Some(openssl) = openssl() else { return };
    let certs = certs(&openssl, issuer);
    let server = support::spawn_qtls_server(&certs.chain, &certs.key, preset);
    let out = support::run_with_input(
        support::openssl_command(&openssl)
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", server.port),
            ])
            .args(["-groups", group, "-tls1_3"])
            .arg("-CAfile")
            .arg(&certs.root)
            .args(["-verify_return_error", "-servername", "localhost"])
            .args(["-verify_hostname", "localhost"])
            // Keep reading after stdin's EOF, until the server closes.
            .arg("-ign_eof"),
        b"GET / HTTP/1.0\r\n\r\n",
        Duration::from_secs(20),
    );
    let context = || {
        format!(
            "openssl s_client (group {group}, preset {preset}, {issuer:?} certs): {:?}\n\
             --- stdout\n{}\n--- stderr\n{}\n{}",
            out.status,
            out.stdout,
            out.stderr,
            server.output()
        )
    };
    for want in [
        format!("Negotiated TLS1.3 group: {group}"),
        "Peer signature type: mldsa65".to_string(),
        "Verify return code: 0 (ok)".to_string(),
    ] {
        assert!(
            out.stdout.contains(&want),
            "missing {want:?} in {}",
            context()
        );
    }
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("HTTP/1.") && l.contains(" 200")),
        "no HTTP 200 status line in {}",
        context()
    );
    // The qtls server's JSON body reports what it negotiated.
    let compact: String = out.stdout.chars().filter(|c| !c.is_whitespace()).collect();
    for want in [
        format!(r#""group":"{group}""#),
        r#""signature_scheme":"ML_DSA_65""#.into(),
    ] {
        assert!(
            compact.contains(&want),
            "missing {want} in the response body: {}",
            context()
        );
    }
    match out.status {
        Some(status) => assert!(status.success(), "s_client failed: {}", context()),
        // s_client waits for the server to close; everything checked above arrived.
        None => eprintln!("note: qtls server kept the HTTP/1.0 connection open until timeout"),
    }
}

// a) qtls client -> openssl s_server

#[test]
fn qtls_client_openssl_server_secp384r1mlkem1024_openssl_certs() {
    qtls_client_to_openssl_server("SecP384r1MLKEM1024", Issuer::OpenSsl);
}

#[test]
fn qtls_client_openssl_server_x25519mlkem768_openssl_certs() {
    qtls_client_to_openssl_server("X25519MLKEM768", Issuer::OpenSsl);
}

#[test]
fn qtls_client_openssl_server_mlkem1024_openssl_certs() {
    qtls_client_to_openssl_server("MLKEM1024", Issuer::OpenSsl);
}

#[test]
fn qtls_client_openssl_server_secp384r1mlkem1024_qtls_certs() {
    qtls_client_to_openssl_server("SecP384r1MLKEM1024", Issuer::Qtls);
}

#[test]
fn qtls_client_openssl_server_x25519mlkem768_qtls_certs() {
    qtls_client_to_openssl_server("X25519MLKEM768", Issuer::Qtls);
}

#[test]
fn qtls_client_openssl_server_mlkem1024_qtls_certs() {
    qtls_client_to_openssl_server("MLKEM1024", Issuer::Qtls);
}

// b) openssl s_client -> qtls server

#[test]
fn openssl_client_qtls_server_secp384r1mlkem1024_openssl_certs() {
    openssl_client_to_qtls_server("SecP384r1MLKEM1024", "hybrid", Issuer::OpenSsl);
}

#[test]
fn openssl_client_qtls_server_x25519mlkem768_openssl_certs() {
    openssl_client_to_qtls_server("X25519MLKEM768", "compatible", Issuer::OpenSsl);
}

#[test]
fn openssl_client_qtls_server_mlkem1024_openssl_certs() {
    openssl_client_to_qtls_server("MLKEM1024", "pqc-only", Issuer::OpenSsl);
}

#[test]
fn openssl_client_qtls_server_secp384r1mlkem1024_qtls_certs() {
    openssl_client_to_qtls_server("SecP384r1MLKEM1024", "hybrid", Issuer::Qtls);
}

#[test]
fn openssl_client_qtls_server_x25519mlkem768_qtls_certs() {
    openssl_client_to_qtls_server("X25519MLKEM768", "compatible", Issuer::Qtls);
}

#[test]
fn openssl_client_qtls_server_mlkem1024_qtls_certs() {
    openssl_client_to_qtls_server("MLKEM1024", "pqc-only", Issuer::Qtls);
}

/// The compatible preset also accepts the hybrid groups (OpenSSL offers SecP384r1MLKEM1024
/// only when asked with `-groups`).
#[test]
fn openssl_client_qtls_server_secp384r1mlkem1024_compatible_preset() {
    openssl_client_to_qtls_server("SecP384r1MLKEM1024", "compatible", Issuer::Qtls);
}
