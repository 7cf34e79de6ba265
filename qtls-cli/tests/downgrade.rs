//! No fallback that an on-path attacker can trigger gives up post-quantum key exchange: a
//! handshake_failure alert is unauthenticated (RFC 8446 §6), so `qtls client --fallback
//! compatible` retries with post-quantum groups only; classical key exchange takes
//! `--fallback classical`, by name, with a warning.
//!
//! The servers speak classical groups only: `qtls server --preset compatible --policy any
//! --group X25519`, and `openssl s_server -groups X25519` (OpenSSL 4 at `QTLS_OPENSSL`;
//! skipped without it, except under `CI=true`).
#![allow(clippy::unwrap_used)]

mod runtime_support;
mod support;

use runtime_support::{run_client, start_server, test_pki, PkiSpec, TestPki};

/// A `--fallback compatible` client never settles for X25519 and says why; `--fallback
/// classical` does, and warns.
fn fallbacks_against(port: u16, pki: &TestPki, server: &str) {
    let run = run_client(port, &pki.root(), ["--fallback", "compatible"]);
    assert!(!run.succeeded(), "{server}: {}", run.describe());
    assert_eq!(
        run.json["group"],
        serde_json::Value::Null,
        "{}",
        run.describe()
    );
    assert!(
        run.out.stderr.contains("post-quantum") && run.out.stderr.contains("--fallback classical"),
        "{server}: the client does not say why it gave up: {}",
        run.describe()
    );

    let run = run_client(port, &pki.root(), ["--fallback", "classical"]);
    assert!(run.succeeded(), "{server}: {}", run.describe());
    assert_eq!(run.json["group"], "X25519", "{server}: {}", run.describe());
    assert_eq!(run.json["alert"], "handshake_failure", "{}", run.describe());
    assert!(
        run.out.stderr.contains("WARNING") && run.out.stderr.contains("without post-quantum"),
        "{server}: no warning: {}",
        run.describe()
    );
}

#[test]
fn fallbacks_keep_post_quantum_key_exchange_unless_asked_by_name_qtls_server() {
    let pki = test_pki(PkiSpec::default());
    let mut args = vec![
        "--preset".into(),
        "compatible".into(),
        "--policy".into(),
        "any".into(),
        "--group".into(),
        "X25519".into(),
    ];
    args.extend(pki.server_cert_args());
    let server = start_server::<_, std::ffi::OsString>(args);
    fallbacks_against(server.port, &pki, "qtls server --group X25519");
}

#[test]
fn fallbacks_keep_post_quantum_key_exchange_unless_asked_by_name_openssl() {
    let Some(openssl) = support::require("OpenSSL 4 (QTLS_OPENSSL)", support::openssl()) else {
        return;
    };
    let pki = test_pki(PkiSpec::default());
    let server = support::spawn_openssl_server(
        &openssl,
        &pki.path("server.pem"),
        &pki.server_key(),
        Some(&pki.path("intermediate.pem")),
        "X25519",
    );
    fallbacks_against(server.port, &pki, "openssl s_server -groups X25519");
}
