//! `qtls server --metrics ADDR`: a full handshake, a resumption (`qtls client --reconnect`)
//! and a refused ClientHello show up in the Prometheus text served at /metrics; with the key
//! in a token, whether each token is in service and whether it refused the PIN.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;
use qtls_test_support::tokens;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use qtls_hsm::TokenAdmin;
use qtls_pki::Profile;
use qtls_provider::{Backend, KeyPair};
use runtime_support::{run_client, start_server, test_pki, PkiSpec};

fn get_metrics(port: u16) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    response
}

/// The value of the sample `name` (with its labels) in Prometheus text.
fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn metrics_after_a_full_handshake_and_a_resumption(tickets: &str, resumed_kind: &str) {
    let pki = test_pki(PkiSpec::default());
    let metrics_port = support::free_port();
    let mut args = pki.server_cert_args();
    args.extend(
        [
            "--preset",
            "hybrid",
            "--tickets",
            tickets,
            "--metrics",
            &format!("127.0.0.1:{metrics_port}"),
        ]
        .map(Into::into),
    );
    let server = start_server(args);

    let before = get_metrics(metrics_port);
    assert_eq!(
        sample(&before, "qtls_connections_total"),
        Some(0),
        "{before}"
    );

    let reconnect = format!("127.0.0.1:{}", server.port);
    let run = run_client(server.port, &pki.root(), ["--reconnect", &reconnect]);
    assert!(run.succeeded(), "{}", run.describe());
    assert_eq!(run.json["first"]["resumed"], false, "{}", run.json);
    assert_eq!(run.json["second"]["resumed"], true, "{}", run.json);

    // A client without a post-quantum group: insufficient_security.
    let refused = run_client(server.port, &pki.root(), ["--group", "X25519"]);
    assert!(!refused.succeeded(), "{}", refused.describe());

    // The refused connection is counted on its own task; wait until it is.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = get_metrics(metrics_port);
        if sample(&text, "qtls_connections_total") == Some(3)
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(sample(&text, "qtls_connections_total"), Some(3), "{text}");
    assert_eq!(
        sample(&text, "qtls_handshakes_total{kind=\"full\"}"),
        Some(1),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("qtls_handshakes_total{{kind=\"{resumed_kind}\"}}")
        ),
        Some(1),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "qtls_refused_client_hellos_total{alert=\"insufficient_security\"}"
        ),
        Some(1),
        "{text}"
    );
    assert_eq!(sample(&text, "qtls_key_updates_total"), Some(0), "{text}");
    if tickets == "off" {
        // The stateful store: one session stored per handshake, one hit.
        assert_eq!(
            sample(&text, "qtls_session_store_hits_total"),
            Some(1),
            "{text}"
        );
        assert_eq!(
            sample(&text, "qtls_session_store_errors_total"),
            Some(0),
            "{text}"
        );
        assert!(
            text.contains("qtls_resumption_misses_total{reason=\"absent\"}"),
            "{text}"
        );
    }
}

#[test]
fn stateful_resumption_is_counted() {
    metrics_after_a_full_handshake_and_a_resumption("off", "resumed_stateful");
}

#[test]
fn ticket_resumption_is_counted() {
    metrics_after_a_full_handshake_and_a_resumption("software", "resumed_ticket");
}

/// A file holding `pin`, readable by its owner only (the server refuses others).
fn pin_file(dir: &std::path::Path, name: &str, pin: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pin).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

#[test]
fn hsm_tokens_in_service_and_refused_pins_are_shown() {
    let Some(primary) = tokens::kryoptic() else {
        return;
    };
    let Some(backup) = tokens::kryoptic_backup() else {
        return;
    };
    let pki = test_pki(PkiSpec {
        profile: Profile::COMPOSITE,
        ..PkiSpec::default()
    });
    // The served key, imported into this test process's own primary token.
    let key = KeyPair::from_pem(&std::fs::read(pki.server_key()).unwrap(), Backend::AwsLc).unwrap();
    let label = tokens::unique("metrics");
    TokenAdmin::open(&tokens::config(&primary, tokens::PRIMARY).build().unwrap())
        .unwrap()
        .import(&label, &key)
        .unwrap();
    let good = pin_file(pki.dir.path(), "pin", tokens::USER_PIN);
    let wrong = pin_file(pki.dir.path(), "wrong-pin", "not-the-pin-0000");

    let port = support::free_port();
    let metrics_port = support::free_port();
    let mut server = support::Server::start(
        Command::new(support::qtls_bin())
            .envs(tokens::child_env())
            .env_remove("QTLS_HSM_PIN")
            .args(["server", "--listen", &format!("127.0.0.1:{port}"), "--cert"])
            .arg(pki.server_chain())
            .arg("--hsm-module")
            .arg(&primary)
            .args(["--hsm-token", tokens::PRIMARY, "--hsm-key", &label])
            .arg("--hsm-pin-file")
            .arg(&good)
            // A backup whose PIN is wrong: one login, refused, never retried. The token no
            // test logs in to, so its failed-login count is this test's alone.
            .arg("--hsm-backup-module")
            .arg(&backup)
            .args(["--hsm-backup-token", tokens::UNUSED])
            .arg("--hsm-backup-pin-file")
            .arg(&wrong)
            .args(["--metrics", &format!("127.0.0.1:{metrics_port}")]),
        port,
        "listening on",
        "qtls server with its key in Kryoptic and a backup with a wrong PIN",
    );

    // The backup starts on a thread of its own: wait (within a bound) for its refusal.
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = get_metrics(metrics_port);
        if sample(&text, "qtls_hsm_pin_refused{token=\"backup\"}") == Some(1)
            || Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = server.output();
    assert_eq!(
        sample(&text, "qtls_hsm_token_up{token=\"primary\"}"),
        Some(1),
        "{text}\n{out}"
    );
    assert_eq!(
        sample(&text, "qtls_hsm_pin_refused{token=\"primary\"}"),
        Some(0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "qtls_hsm_token_up{token=\"backup\"}"),
        Some(0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "qtls_hsm_pin_refused{token=\"backup\"}"),
        Some(1),
        "{text}\n{out}"
    );
    assert_eq!(
        sample(&text, "qtls_hsm_token_active{token=\"primary\"}"),
        Some(1),
        "{text}"
    );

    // A full handshake signs in the token; the resumption uses a ticket sealed there.
    let reconnect = format!("127.0.0.1:{port}");
    let run = run_client(port, &pki.root(), ["--reconnect", &reconnect]);
    assert!(run.succeeded(), "{}\n{}", run.describe(), server.output());
    assert_eq!(run.json["second"]["resumed"], true, "{}", run.json);
    let text = get_metrics(metrics_port);
    assert!(
        sample(&text, "qtls_hsm_operations_total").is_some_and(|n| n >= 2),
        "{text}"
    );
    assert!(
        sample(&text, "qtls_tickets_issued_total").is_some_and(|n| n >= 1),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "qtls_ticket_resumption_misses_total{reason=\"expired\"}"
        ),
        Some(0),
        "{text}"
    );
    server.child.assert_running("qtls server");
}
