//! Server counters: handshakes, resumptions, refusals, key updates and the session store's
//! own counters, logged through `tracing` and rendered in the Prometheus text format
//! ([`Metrics::prometheus`]; the `qtls` CLI serves it with `qtls server --metrics ADDR`). With the key in PKCS#11
//! tokens, also whether each token is in service and whether it refused the PIN, read from
//! [`qtls_hsm::Hsm::status`] (what the failover and its probes last saw: a scrape makes no
//! token call).
//!
//! rustls does not say whether a resumption used a ticket or the stateful store; a server
//! with tickets enabled resumes TLS 1.3 sessions from tickets only (rustls then ignores the
//! store), so resumptions are counted as `ticket` when tickets are on and `stateful` when
//! they are off.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::key_update::KeyUpdateCounter;
use crate::sessions::{RotatingTicketer, SessionStore, SessionStoreStats, TicketStats};
use qtls_hsm::{Hsm, HsmStatus, HsmTicketStats, HsmTicketer, TokenRole};

/// A server's counters; shared by its connection tasks and its [`crate::QtlsAcceptor`].
#[derive(Default)]
pub struct Metrics {
    connections: AtomicU64,
    full_handshakes: AtomicU64,
    resumed_stateful: AtomicU64,
    resumed_ticket: AtomicU64,
    handshake_failures: AtomicU64,
    early_data_accepted: AtomicU64,
    early_data_rejected: Mutex<BTreeMap<&'static str, u64>>,
    early_requests_answered: AtomicU64,
    early_requests_too_early: AtomicU64,
    refused: Mutex<BTreeMap<String, u64>>,
    key_updates: KeyUpdateCounter,
    tickets: bool,
    store: Option<Arc<dyn SessionStore>>,
    ticketer: Option<Arc<RotatingTicketer>>,
    hsm: Option<Hsm>,
    hsm_ticketer: Option<Arc<HsmTicketer>>,
}

impl core::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Metrics")
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

/// A snapshot of [`Metrics`].
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// TCP connections accepted.
    pub connections: u64,
    /// Handshakes that authenticated with the certificate.
    pub full_handshakes: u64,
    /// Resumptions from the stateful store.
    pub resumed_stateful: u64,
    /// Resumptions from tickets.
    pub resumed_ticket: u64,
    /// Handshakes that failed or timed out after the ClientHello passed the gate.
    pub handshake_failures: u64,
    /// Connections that accepted early data (0-RTT).
    pub early_data_accepted: u64,
    /// Connections whose early data was skipped, by why
    /// ([`crate::early_data::EarlyDataRejection::label`]): `replay_or_unknown` counts the
    /// replays the single-use store blocked.
    pub early_data_rejected: BTreeMap<&'static str, u64>,
    /// Requests answered from early data before the handshake completed.
    pub early_requests_answered: u64,
    /// Requests in early data answered with 425 Too Early.
    pub early_requests_too_early: u64,
    /// ClientHellos the policy gate refused, by the alert sent.
    pub refused: BTreeMap<String, u64>,
    /// Key updates the server started ([`crate::KeyUpdatePolicy`]).
    pub key_updates: u64,
    /// The session store's counters (misses by reason, store errors), when there is one.
    pub store: Option<SessionStoreStats>,
    /// The ticketer's counters (issued, decrypted, misses by reason), for our software and
    /// fleet ticketers.
    pub tickets: Option<TicketStats>,
    /// The tokens' state, when the key is in PKCS#11 tokens.
    pub hsm: Option<HsmStatus>,
    /// Operations handed to the tokens ([`Hsm::operations`]); 0 without tokens.
    pub hsm_operations: u64,
    /// The counters of the ticketer whose key is in the token, when it issues the tickets.
    pub hsm_tickets: Option<HsmTicketStats>,
}

impl Metrics {
    /// Counters for a server that issues tickets (`tickets`) or not, with `store` for the
    /// stateful sessions' counters.
    pub fn new(tickets: bool, store: Option<Arc<dyn SessionStore>>) -> Self {
        Self {
            tickets,
            store,
            ..Self::default()
        }
    }

    /// Adds the counters of the server's ticketer.
    pub fn with_ticketer(mut self, ticketer: Option<Arc<RotatingTicketer>>) -> Self {
        self.ticketer = ticketer;
        self
    }

    /// Adds the state of the tokens behind the server's key, and the counters of the
    /// ticketer in the token when it is the one issuing tickets.
    pub fn with_hsm(mut self, hsm: Option<Hsm>, ticketer: Option<Arc<HsmTicketer>>) -> Self {
        self.hsm = hsm;
        self.hsm_ticketer = ticketer;
        self
    }

    /// The counter [`crate::KeyUpdating`] streams add to.
    pub fn key_update_counter(&self) -> KeyUpdateCounter {
        self.key_updates.clone()
    }

    /// Counts an accepted TCP connection.
    pub fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a completed handshake of `kind` (rustls's `handshake_kind()`).
    pub fn handshake(&self, kind: Option<rustls::HandshakeKind>) {
        let counter = match kind {
            Some(rustls::HandshakeKind::Resumed) if self.tickets => &self.resumed_ticket,
            Some(rustls::HandshakeKind::Resumed) => &self.resumed_stateful,
            _ => &self.full_handshakes,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a ClientHello refused with `alert` (its name, as [`crate::alert_name`] gives it).
    pub fn refused(&self, alert: String) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        *refused.entry(alert).or_default() += 1;
    }

    pub(crate) fn early_data(&self, status: &crate::EarlyDataStatus) {
        match status {
            crate::EarlyDataStatus::Accepted(_) => {
                self.early_data_accepted.fetch_add(1, Ordering::Relaxed);
            }
            crate::EarlyDataStatus::Rejected(why) => {
                tracing::debug!("early data rejected: {}", why.label());
                let mut rejected = self
                    .early_data_rejected
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                *rejected.entry(why.label()).or_default() += 1;
            }
            _ => {}
        }
    }

    /// Counts requests that came as early data: `answered` before the handshake completed,
    /// `too_early` answered with 425 Too Early ([RFC 8470 §5.2](https://www.rfc-editor.org/rfc/rfc8470#section-5.2)).
    pub fn early_requests(&self, answered: u64, too_early: u64) {
        self.early_requests_answered
            .fetch_add(answered, Ordering::Relaxed);
        self.early_requests_too_early
            .fetch_add(too_early, Ordering::Relaxed);
    }

    /// Counts a handshake that failed after the ClientHello was let through.
    pub fn handshake_failed(&self) {
        self.handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            connections: get(&self.connections),
            full_handshakes: get(&self.full_handshakes),
            resumed_stateful: get(&self.resumed_stateful),
            resumed_ticket: get(&self.resumed_ticket),
            handshake_failures: get(&self.handshake_failures),
            early_data_accepted: get(&self.early_data_accepted),
            early_data_rejected: self
                .early_data_rejected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            early_requests_answered: get(&self.early_requests_answered),
            early_requests_too_early: get(&self.early_requests_too_early),
            refused: self
                .refused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            key_updates: self.key_updates.get(),
            store: self.store.as_ref().map(|store| store.stats()),
            tickets: self.ticketer.as_ref().map(|ticketer| ticketer.stats()),
            hsm: self.hsm.as_ref().map(Hsm::status),
            hsm_operations: self.hsm.as_ref().map_or(0, Hsm::operations),
            hsm_tickets: self.hsm_ticketer.as_ref().map(|ticketer| ticketer.stats()),
        }
    }

    /// Logs the counters at info level.
    pub fn log(&self) {
        let s = self.snapshot();
        let store = s.store.unwrap_or_default();
        tracing::info!(
            connections = s.connections,
            full_handshakes = s.full_handshakes,
            resumed_stateful = s.resumed_stateful,
            resumed_ticket = s.resumed_ticket,
            resumption_misses_absent = store.misses_absent,
            resumption_misses_corrupt = store.misses_corrupt,
            resumption_misses_store_error = store.misses_store_error,
            ticket_misses = s
                .tickets
                .map(|t| t.rejected())
                .or(s.hsm_tickets.map(|t| t.rejected()))
                .unwrap_or(0),
            store_errors = store.store_errors,
            handshake_failures = s.handshake_failures,
            early_data_accepted = s.early_data_accepted,
            early_data_rejected = ?s.early_data_rejected,
            early_requests_answered = s.early_requests_answered,
            early_requests_too_early = s.early_requests_too_early,
            refused = ?s.refused,
            key_updates = s.key_updates,
            "metrics"
        );
    }

    /// The counters in the Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let s = self.snapshot();
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        counter(
            "qtls_connections_total",
            "TCP connections accepted.",
            &[("", s.connections)],
        );
        counter(
            "qtls_handshakes_total",
            "Completed TLS handshakes by kind.",
            &[
                ("{kind=\"full\"}", s.full_handshakes),
                ("{kind=\"resumed_stateful\"}", s.resumed_stateful),
                ("{kind=\"resumed_ticket\"}", s.resumed_ticket),
            ],
        );
        counter(
            "qtls_handshake_failures_total",
            "Handshakes that failed or timed out after the policy gate.",
            &[("", s.handshake_failures)],
        );
        let refused: Vec<(String, u64)> = s
            .refused
            .iter()
            .map(|(alert, n)| (format!("{{alert=\"{alert}\"}}"), *n))
            .collect();
        let refused: Vec<(&str, u64)> = refused.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        counter(
            "qtls_refused_client_hellos_total",
            "ClientHellos refused by the policy gate, by the alert sent.",
            &refused,
        );
        let mut early: Vec<(String, u64)> =
            vec![("{result=\"accepted\"}".into(), s.early_data_accepted)];
        early.extend(
            s.early_data_rejected
                .iter()
                .map(|(why, n)| (format!("{{result=\"rejected\",reason=\"{why}\"}}"), *n)),
        );
        let early: Vec<(&str, u64)> = early.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        counter(
            "qtls_early_data_total",
            "Connections that offered early data (0-RTT), by result; reason \"replay_or_unknown\" includes replays blocked by the single-use session store.",
            &early,
        );
        counter(
            "qtls_early_requests_total",
            "HTTP requests received as early data, by what the server did.",
            &[
                ("{outcome=\"answered\"}", s.early_requests_answered),
                ("{outcome=\"too_early\"}", s.early_requests_too_early),
            ],
        );
        counter(
            "qtls_key_updates_total",
            "TLS 1.3 key updates the server started by its KeyUpdate policy.",
            &[("", s.key_updates)],
        );
        if let Some(tickets) = s.tickets {
            counter(
                "qtls_tickets_issued_total",
                "Session tickets issued.",
                &[("", tickets.issued)],
            );
            counter(
                "qtls_ticket_resumption_misses_total",
                "Tickets that did not decrypt, by reason: unknown_key (two or more rotation periods old, or from before this node started), expired (older than the lifetime announced with it), forged (tampered with or another fleet's), malformed.",
                &[
                    ("{reason=\"unknown_key\"}", tickets.unknown_key),
                    ("{reason=\"expired\"}", tickets.expired),
                    ("{reason=\"forged\"}", tickets.forged),
                    ("{reason=\"malformed\"}", tickets.malformed),
                ],
            );
        }
        if let Some(tickets) = s.hsm_tickets {
            counter(
                "qtls_tickets_issued_total",
                "Session tickets issued.",
                &[("", tickets.issued)],
            );
            counter(
                "qtls_ticket_resumption_misses_total",
                "Tickets sealed in the HSM that did not decrypt, by reason: unknown_key (two or more rotation periods old, or from before a restart or failover), expired (older than the lifetime announced with it), failed (the token did not decrypt it: tampered with, or the call failed), malformed.",
                &[
                    ("{reason=\"unknown_key\"}", tickets.unknown_key),
                    ("{reason=\"expired\"}", tickets.expired),
                    ("{reason=\"failed\"}", tickets.failed),
                    ("{reason=\"malformed\"}", tickets.malformed),
                ],
            );
        }
        if let Some(store) = s.store {
            counter(
                "qtls_session_store_hits_total",
                "Stateful session lookups that found a session.",
                &[("", store.hits)],
            );
            counter(
                "qtls_resumption_misses_total",
                "Stateful session lookups that did not resume, by reason.",
                &[
                    ("{reason=\"absent\"}", store.misses_absent),
                    ("{reason=\"corrupt\"}", store.misses_corrupt),
                    ("{reason=\"store_error\"}", store.misses_store_error),
                ],
            );
            counter(
                "qtls_session_store_old_format_misses_total",
                "Of the corrupt misses, entries in the unencrypted format of versions before the Redis store encrypted its values (they expire by themselves).",
                &[("", store.misses_old_format)],
            );
            counter(
                "qtls_sessions_stored_total",
                "Sessions stored, and not stored.",
                &[
                    ("{result=\"stored\"}", store.stored),
                    ("{result=\"not_stored\"}", store.not_stored),
                ],
            );
            counter(
                "qtls_session_store_errors_total",
                "Failed session store operations (timeouts included).",
                &[("", store.store_errors)],
            );
            counter(
                "qtls_sessions_evicted_total",
                "Sessions evicted before they expired to stay within the byte bound (memory store).",
                &[("", store.evicted)],
            );
        }
        if let Some(status) = &s.hsm {
            hsm_families(&mut out, status, s.hsm_operations);
        }
        out
    }
}

/// The tokens' gauges, one sample per configured token (`primary`, and `backup` when there
/// is one).
fn hsm_families(out: &mut String, status: &HsmStatus, operations: u64) {
    let mut roles = vec![(TokenRole::Primary, status.primary_up)];
    if let Some(up) = status.backup_up {
        roles.push((TokenRole::Backup, up));
    }
    let mut family =
        |name: &str, help: &str, kind: &str, value: &dyn Fn(TokenRole, bool) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (role, up) in &roles {
                let _ = writeln!(out, "{name}{{token=\"{role}\"}} {}", value(*role, *up));
            }
        };
    family(
        "qtls_hsm_token_up",
        "Whether the PKCS#11 token is in service (1) or not (0): failed, hung, or refused the PIN (qtls_hsm_pin_refused); the log says why.",
        "gauge",
        &|_, up| u64::from(up),
    );
    family(
        "qtls_hsm_token_active",
        "Whether new operations go to this token (1): the primary while it is up, else the backup.",
        "gauge",
        &|role, _| u64::from(status.active == Some(role)),
    );
    family(
        "qtls_hsm_pin_refused",
        "Whether the token refused the PIN (1): it stays out of service and is not logged in to again until the server restarts with a new PIN.",
        "gauge",
        &|role, _| u64::from(status.pin_refused.contains(&role)),
    );
    let _ = writeln!(
        out,
        "# HELP qtls_hsm_operations_total Cryptographic operations handed to the tokens (signatures, ticket key work).\n# TYPE qtls_hsm_operations_total counter\nqtls_hsm_operations_total {operations}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text() {
        let metrics = Metrics::new(false, None);
        metrics.connection();
        metrics.handshake(Some(rustls::HandshakeKind::Full));
        metrics.handshake(Some(rustls::HandshakeKind::Resumed));
        metrics.refused("insufficient_security".into());
        let text = metrics.prometheus();
        assert!(text.contains("qtls_connections_total 1\n"), "{text}");
        assert!(text.contains("qtls_handshakes_total{kind=\"full\"} 1\n"));
        assert!(text.contains("qtls_handshakes_total{kind=\"resumed_stateful\"} 1\n"));
        assert!(text.contains("qtls_handshakes_total{kind=\"resumed_ticket\"} 0\n"));
        assert!(
            text.contains("qtls_refused_client_hellos_total{alert=\"insufficient_security\"} 1\n")
        );
        assert!(text.contains("# TYPE qtls_key_updates_total counter\n"));
    }

    /// A store whose counters are fixed: what the rendering is tested against.
    #[derive(Debug)]
    struct Fixed(SessionStoreStats);

    impl rustls::server::StoresServerSessions for Fixed {
        fn put(&self, _: Vec<u8>, _: Vec<u8>) -> bool {
            false
        }
        fn get(&self, _: &[u8]) -> Option<Vec<u8>> {
            None
        }
        fn take(&self, _: &[u8]) -> Option<Vec<u8>> {
            None
        }
        fn can_cache(&self) -> bool {
            false
        }
    }

    impl SessionStore for Fixed {
        fn stats(&self) -> SessionStoreStats {
            self.0
        }
    }

    #[test]
    fn store_misses_of_an_old_format_are_exported() {
        let stats = SessionStoreStats {
            misses_corrupt: 5,
            misses_old_format: 3,
            ..SessionStoreStats::default()
        };
        let metrics = Metrics::new(false, Some(Arc::new(Fixed(stats))));
        let text = metrics.prometheus();
        assert!(
            text.contains("qtls_resumption_misses_total{reason=\"corrupt\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("qtls_session_store_old_format_misses_total 3\n"),
            "{text}"
        );
    }
}
