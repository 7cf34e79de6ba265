//! `qtls server --metrics ADDR`: a full handshake, a resumption (`qtls client --reconnect`)
//! and a refused ClientHello show up in the Prometheus text served at /metrics.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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
