//! The 0-RTT freshness window (RFC 8446 §8.3) through the library: a client whose clock runs
//! ahead reports a ticket age the server does not see. Within the window its early data is
//! accepted; beyond it the session still resumes, but in 1-RTT, with the request sent after
//! the handshake. rustls's own check allows 60 s, so the 30 s and 5 s skews below are
//! refused by our window alone.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use qtls::client::{ClientReport, HttpRequest};
use qtls::{EarlyDataSettings, TlsSettings};
use qtls_cli::{ServerSettings, SessionSettings};
use runtime_support::{test_pki, PkiSpec, TestPki};
use rustls::pki_types::UnixTime;
use rustls::time_provider::TimeProvider;

/// The system clock plus an offset the test moves.
#[derive(Debug, Default)]
struct SkewedClock(AtomicU64);

impl TimeProvider for SkewedClock {
    fn current_time(&self) -> Option<UnixTime> {
        let now = UnixTime::now().as_secs() + self.0.load(Ordering::Relaxed);
        Some(UnixTime::since_unix_epoch(Duration::from_secs(now)))
    }
}

async fn server(pki: &TestPki, window: Duration) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let settings = ServerSettings {
        certificates: vec![(pki.server_chain(), pki.server_key())],
        sessions: SessionSettings {
            early_data: EarlyDataSettings::enabled().with_freshness_window(window),
            ..SessionSettings::default()
        },
        ..ServerSettings::default()
    };
    runtime_support::spawn_server(settings).await
}

/// A client with early data on, a clock the test can move, and its own session cache.
struct Client {
    config: Arc<rustls::ClientConfig>,
    record: qtls::SchemeRecord,
    clock: Arc<SkewedClock>,
    code_points: qtls_provider::CodePoints,
}

impl Client {
    fn new(pki: &TestPki) -> Self {
        let settings = TlsSettings::default();
        let roots = qtls::read_certificates(&pki.root()).unwrap();
        let (mut config, record) = qtls::client_config(&settings, roots, None).unwrap();
        let clock = Arc::new(SkewedClock::default());
        config.time_provider = Arc::clone(&clock) as Arc<dyn TimeProvider>;
        config.enable_early_data = true;
        Self {
            config: Arc::new(config),
            record,
            clock,
            code_points: settings.code_points,
        }
    }

    /// `GET /`, as early data when the client holds a ticket.
    async fn get(&self, addr: SocketAddr) -> ClientReport {
        qtls::client::request(
            &addr.to_string(),
            "localhost".try_into().unwrap(),
            Arc::clone(&self.config),
            Arc::clone(&self.record),
            &self.code_points,
            Duration::from_secs(10),
            &HttpRequest {
                early_data: true,
                ..HttpRequest::default()
            },
        )
        .await
        .unwrap()
    }
}

/// A first connection for a session, then one with early data after the client's clock
/// moved `skew` ahead.
async fn resume_with_skew(pki: &TestPki, addr: SocketAddr, skew: Duration) -> ClientReport {
    let client = Client::new(pki);
    let first = client.get(addr).await;
    assert!(!first.resumed && !first.early_data_offered);
    client.clock.0.store(skew.as_secs(), Ordering::Relaxed);
    client.get(addr).await
}

fn answered_early(report: &ClientReport) -> bool {
    let body: serde_json::Value = serde_json::from_str(&report.body).unwrap();
    body["early_data"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_data_needs_a_ticket_age_within_the_window() {
    let pki = test_pki(PkiSpec::default());
    let (addr, server) = server(&pki, EarlyDataSettings::DEFAULT_FRESHNESS_WINDOW).await;

    let on_time = resume_with_skew(&pki, addr, Duration::ZERO).await;
    assert!(on_time.resumed && on_time.early_data_offered && on_time.early_data_accepted);
    assert!(answered_early(&on_time));

    let skewed = resume_with_skew(&pki, addr, Duration::from_secs(5)).await;
    assert!(skewed.early_data_accepted, "5 s is within the 10 s window");

    // 30 s off: stale. Resumed all the same, in 1-RTT; the request went after the handshake.
    let stale = resume_with_skew(&pki, addr, Duration::from_secs(30)).await;
    assert!(stale.resumed && stale.early_data_offered, "{stale:?}");
    assert!(!stale.early_data_accepted, "{stale:?}");
    assert_eq!(stale.http_status.as_deref(), Some("HTTP/1.1 200 OK"));
    assert!(!answered_early(&stale));
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_is_settable() {
    let pki = test_pki(PkiSpec::default());
    let (addr, server) = server(&pki, Duration::from_secs(3)).await;
    let skewed = resume_with_skew(&pki, addr, Duration::from_secs(5)).await;
    assert!(skewed.resumed && skewed.early_data_offered, "{skewed:?}");
    assert!(!skewed.early_data_accepted, "5 s is outside a 3 s window");
    assert_eq!(skewed.http_status.as_deref(), Some("HTTP/1.1 200 OK"));
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_0rtt_connection_leaves_the_client_sessions_for_the_next() {
    let pki = test_pki(PkiSpec::default());
    let (addr, server) = server(&pki, EarlyDataSettings::DEFAULT_FRESHNESS_WINDOW).await;
    let client = Client::new(&pki);
    assert!(!client.get(addr).await.resumed);
    // The full handshake left two sessions; more 0-RTT connections than that in a row need
    // the ones each 0-RTT connection is given after the client's Finished.
    for i in 0..5 {
        let report = client.get(addr).await;
        assert!(
            report.resumed && report.early_data_accepted && answered_early(&report),
            "0-RTT connection {i}: {report:?}"
        );
    }
    server.abort();
}
