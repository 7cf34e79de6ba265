//! Early data the server rejects, skipped by trial decryption (RFC 8446 §4.2.10): "discarding
//! records which fail deprotection (up to the configured max_early_data_size). Once a record
//! is deprotected successfully, it is treated as the start of the client's second flight".
//!
//! A rustls client resumes a session of one server against another that does not know it,
//! offering early data, so the second server rejects it. The client is driven by hand over a
//! socket so that records the server cannot decrypt can be put among its own: before its
//! Finished, and between the two records of a Finished split by `max_fragment_size`. Both
//! kinds of server are covered: one with early data on (rustls rejects the unknown PSK's
//! early data) and one with it off.
//!
//! These are tlsfuzzer's test-tls13-0rtt-garbage conversations (CONFORMANCE.md §2.2) in Rust.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use qtls::{EarlyDataSettings, TlsSettings};
use qtls_cli::{ServerSettings, SessionSettings};
use runtime_support::{test_pki, undecryptable_record as junk, PkiSpec, TestPki};
use rustls::{AlertDescription, ClientConnection};

/// What a server skips of rejected early data: its `max_early_data_size`, 16 KiB here
/// (rustls's one record's worth when early data is off).
const ALLOWANCE: usize = 16_384;

/// Client Finished with SHA-384 is 52 bytes: records of at most 48 split it in two.
const FRAGMENT: usize = 48;

async fn server(pki: &TestPki, early_data: bool) -> SocketAddr {
    let early_data = match early_data {
        true => EarlyDataSettings::enabled(),
        false => EarlyDataSettings::default(),
    };
    let settings = ServerSettings {
        certificates: vec![(pki.server_chain(), pki.server_key())],
        sessions: SessionSettings {
            early_data,
            ..SessionSettings::default()
        },
        ..ServerSettings::default()
    };
    runtime_support::spawn_server(settings).await.0
}

/// A client with early data on, holding a session with early data from `issuer`; its records
/// carry at most [`FRAGMENT`] bytes when `split`.
async fn client_with_session(
    pki: &TestPki,
    issuer: SocketAddr,
    split: bool,
) -> Arc<rustls::ClientConfig> {
    let settings = TlsSettings::default();
    let roots = qtls::read_certificates(&pki.root()).unwrap();
    let (mut config, record) = qtls::client_config(&settings, roots, None).unwrap();
    config.enable_early_data = true;
    if split {
        config.max_fragment_size = Some(FRAGMENT + 5);
    }
    let config = Arc::new(config);
    let report = qtls::client::request(
        &issuer.to_string(),
        "localhost".try_into().unwrap(),
        Arc::clone(&config),
        record,
        &settings.code_points,
        Duration::from_secs(10),
        &qtls::client::HttpRequest::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.http_status.as_deref(), Some("HTTP/1.1 200 OK"));
    config
}

/// The records of `bytes`, whole.
fn records(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut records = Vec::new();
    while bytes.len() >= 5 {
        let len = 5 + usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
        let (record, rest) = bytes.split_at(len);
        records.push(record);
        bytes = rest;
    }
    assert!(bytes.is_empty());
    records
}

/// Where the undecryptable records go.
#[derive(Clone, Copy, Debug)]
struct Garbage {
    /// Bytes of early data sent with the ClientHello, the client's own included: records
    /// of garbage make up the difference.
    with_hello: usize,
    /// Bytes of one record sent after the server's flight, before the client's Finished.
    before_finished: usize,
    /// Bytes of one record between the two records of the client's Finished.
    within_finished: usize,
    /// Whether the client's records carry at most [`FRAGMENT`] bytes, which splits its
    /// Finished in two.
    split: bool,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    /// The handshake completed and a request after it was answered.
    Answered,
    /// The server sent this alert.
    Alert(AlertDescription),
    /// The server closed without an alert.
    Closed,
    /// Anything else the client saw.
    Failed(String),
}

/// Offers early data to `addr` with `garbage` among the client's records.
fn handshake(addr: SocketAddr, config: Arc<rustls::ClientConfig>, garbage: Garbage) -> Outcome {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut conn = ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    conn.early_data()
        .expect("the client offers early data")
        .write_all(request)
        .unwrap();
    let mut first = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut first).unwrap();
    }
    let early: usize = records(&first)
        .iter()
        .filter(|record| record[0] == 0x17)
        .map(|record| record.len() - 5)
        .sum();
    assert!(early > 0, "the client sent no early data");
    let mut left = garbage.with_hello.saturating_sub(early);
    while left > 0 {
        let len = left.min(16_384);
        first.extend(junk(len));
        left -= len;
    }
    tcp.write_all(&first).unwrap();

    // The server's flight, up to the client's Finished.
    let mut buf = vec![0u8; 32 * 1024];
    while !conn.wants_write() {
        match read(&mut tcp, &mut conn, &mut buf) {
            Ok(()) => {}
            Err(outcome) => return outcome,
        }
    }
    assert!(!conn.is_early_data_accepted(), "the server accepted it");
    let mut second = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut second).unwrap();
    }
    let mut sent = Vec::new();
    if garbage.before_finished > 0 {
        sent.extend(junk(garbage.before_finished));
    }
    let mut finished_records = 0;
    for record in records(&second) {
        sent.extend_from_slice(record);
        if record[0] == 0x17 {
            finished_records += 1;
            if finished_records == 1 && garbage.within_finished > 0 {
                sent.extend(junk(garbage.within_finished));
            }
        }
    }
    assert_eq!(
        finished_records >= 2,
        garbage.split,
        "the Finished split or not as asked"
    );
    // The request again, now that the handshake is over.
    conn.writer().write_all(request).unwrap();
    while conn.wants_write() {
        conn.write_tls(&mut sent).unwrap();
    }
    tcp.write_all(&sent).unwrap();

    let mut answer = Vec::new();
    loop {
        if let Err(outcome) = read(&mut tcp, &mut conn, &mut buf) {
            return outcome;
        }
        let _ = conn.reader().read_to_end(&mut answer);
        if answer.starts_with(b"HTTP/1.1 200") {
            return Outcome::Answered;
        }
    }
}

/// Reads what the server sent into the client; an `Outcome` when the connection ended.
fn read(tcp: &mut TcpStream, conn: &mut ClientConnection, buf: &mut [u8]) -> Result<(), Outcome> {
    let n = match tcp.read(buf) {
        Ok(0) => return Err(Outcome::Closed),
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Err(Outcome::Closed),
        Err(e) => return Err(Outcome::Failed(e.to_string())),
    };
    let mut bytes = &buf[..n];
    while !bytes.is_empty() {
        conn.read_tls(&mut bytes).unwrap();
        match conn.process_new_packets() {
            Ok(_) => {}
            Err(rustls::Error::AlertReceived(alert)) => return Err(Outcome::Alert(alert)),
            Err(e) => return Err(Outcome::Failed(e.to_string())),
        }
    }
    Ok(())
}

/// Each `garbage` against a server with early data on and one with it off, each rejecting
/// the early data of a session it does not know (a fresh session from `issuer` each time: a
/// client uses a ticket once).
async fn outcomes(garbage: &[Garbage]) -> Vec<(&'static str, Garbage, Outcome)> {
    let pki = test_pki(PkiSpec::default());
    let issuer = server(&pki, true).await;
    let mut outcomes = Vec::new();
    for (kind, early_data) in [("early data on", true), ("early data off", false)] {
        let addr = server(&pki, early_data).await;
        for &garbage in garbage {
            let config = client_with_session(&pki, issuer, garbage.split).await;
            let outcome = tokio::task::spawn_blocking(move || handshake(addr, config, garbage))
                .await
                .unwrap();
            outcomes.push((kind, garbage, outcome));
        }
    }
    outcomes
}

fn assert_all(outcomes: &[(&str, Garbage, Outcome)], expected: &Outcome) {
    for (kind, garbage, outcome) in outcomes {
        assert_eq!(outcome, expected, "{kind}, {garbage:?}");
    }
}

/// Early data up to exactly the allowance is skipped, part before the server's flight and
/// part after it: the handshake completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_data_up_to_the_allowance_is_skipped_before_and_after_the_servers_flight() {
    let garbage = [
        Garbage {
            with_hello: ALLOWANCE,
            before_finished: 0,
            within_finished: 0,
            split: false,
        },
        Garbage {
            with_hello: ALLOWANCE - 4_000,
            before_finished: 4_000,
            within_finished: 0,
            split: false,
        },
        Garbage {
            with_hello: ALLOWANCE - 4_000,
            before_finished: 4_000,
            within_finished: 0,
            split: true,
        },
    ];
    assert_all(&outcomes(&garbage).await, &Outcome::Answered);
}

/// One byte beyond the allowance, arriving after the server's flight, fails the handshake
/// with bad_record_mac: the allowance covers the early data before and after the flight
/// together (it used to be skipped twice over, CONFORMANCE.md §2.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_data_beyond_the_allowance_after_the_servers_flight_is_bad_record_mac() {
    let garbage = [false, true].map(|split| Garbage {
        with_hello: ALLOWANCE,
        before_finished: 1,
        within_finished: 0,
        split,
    });
    assert_all(
        &outcomes(&garbage).await,
        &Outcome::Alert(AlertDescription::BadRecordMac),
    );
}

/// A record that fails deprotection between the two records of the client's Finished: the
/// second flight has begun, so it is bad_record_mac whatever is left of the allowance.
/// tlsfuzzer's "undecryptable record later in handshake together with early_data" spends the
/// whole allowance first; with some of it left, rustls alone closes without an alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecryptable_record_within_the_clients_finished_is_bad_record_mac() {
    let garbage = [0, ALLOWANCE].map(|with_hello| Garbage {
        with_hello,
        before_finished: 0,
        within_finished: 64,
        split: true,
    });
    assert_all(
        &outcomes(&garbage).await,
        &Outcome::Alert(AlertDescription::BadRecordMac),
    );
}
