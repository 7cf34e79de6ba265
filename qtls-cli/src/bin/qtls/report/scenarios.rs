//! The design's handshake scenarios (full, session-ID resumption, ticket resumption, 0-RTT)
//! with the hybrid configuration, at each round-trip time: round trips, time to the first
//! application byte, bytes, HSM operations and server CPU per connection.

use std::net::SocketAddr;

use qtls::Error;

use super::client::{Client, Connection, Request};
use super::configurations::CONNECTION_LIMIT;
use super::cpu::Cpu;
use super::model::{mode, Scenario, Stats};
use super::proxy::{DelayProxy, Rtt};
use super::servers::ServerProcess;

/// Which server a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sessions {
    /// Sessions kept by the server, tickets off: TLS 1.3's form of session-ID resumption
    /// (the ticket is only the session's identifier, RFC 8446 §4.6.1).
    Stateful,
    /// Self-encrypted tickets (in the token when there is one).
    Tickets,
    /// Stateful sessions that accept 0-RTT early data.
    EarlyData,
}

impl Sessions {
    pub(super) const ALL: [Self; 3] = [Self::Stateful, Self::Tickets, Self::EarlyData];

    /// The `qtls server` flags; `hsm`: the key is in a token, whose ticket key the server
    /// uses unless told not to.
    pub(super) fn flags(self, hsm: bool) -> Vec<String> {
        let mut flags: Vec<&str> = match self {
            Self::Stateful => vec!["--tickets", "off"],
            Self::Tickets if hsm => vec!["--tickets", "hsm"],
            Self::Tickets => vec!["--tickets", "software"],
            Self::EarlyData => vec!["--early-data"],
        };
        if hsm && self != Self::Tickets {
            flags.push("--no-hsm-tickets");
        }
        flags.into_iter().map(String::from).collect()
    }
}

pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) label: &'static str,
    pub(super) sessions: Sessions,
    pub(super) resumes: bool,
    pub(super) request: Request,
}

pub(super) fn specs() -> [Spec; 4] {
    [
        Spec {
            name: "full",
            label: "Full handshake",
            sessions: Sessions::Stateful,
            resumes: false,
            request: Request::Get,
        },
        Spec {
            name: "session-id",
            label: "Session-ID resumption",
            sessions: Sessions::Stateful,
            resumes: true,
            request: Request::Get,
        },
        Spec {
            name: "ticket",
            label: "Session-ticket resumption",
            sessions: Sessions::Tickets,
            resumes: true,
            request: Request::Get,
        },
        Spec {
            name: "0-rtt",
            label: "0-RTT early data",
            sessions: Sessions::EarlyData,
            resumes: true,
            request: Request::GetEarly,
        },
    ]
}

/// `samples` connections of `spec` to `server` at `rtt`: full handshakes each with a fresh
/// session cache, or resumptions each of the session the connection before left (the first
/// one, a full handshake, is not counted).
pub(super) async fn run(
    spec: &Spec,
    client: &Client,
    server: &mut ServerProcess,
    server_flags: String,
    hsm: bool,
    rtt: Rtt,
    samples: u64,
) -> Result<Scenario, Error> {
    let proxy = if rtt.0.is_zero() {
        None
    } else {
        Some(DelayProxy::start(server.addr, rtt.0).await?)
    };
    let target: SocketAddr = proxy.as_ref().map_or(server.addr, |p| p.addr);
    let early = spec.request == Request::GetEarly;
    let resuming = client.fresh(early);
    let failed = |server: &ServerProcess, e: Error| {
        server.failed(&format!("{} at RTT {} ms: {e}", spec.label, rtt.ms()))
    };
    if spec.resumes {
        if let Err(e) = resuming
            .connect(target, spec.request, CONNECTION_LIMIT)
            .await
        {
            return Err(failed(server, e));
        }
    }
    let hsm_before = match hsm {
        true => Some(server.hsm_operations().await?),
        false => None,
    };
    let cpu_before = Cpu::read(server.pid())?;
    let mut connections: Vec<Connection> = Vec::new();
    for _ in 0..samples {
        let client = if spec.resumes {
            resuming.clone()
        } else {
            client.fresh(false)
        };
        match client.connect(target, spec.request, CONNECTION_LIMIT).await {
            Ok(connection) => connections.push(connection),
            Err(e) => return Err(failed(server, e)),
        }
    }
    let (cpu_ns, _) = Cpu::read(server.pid())?.since(&cpu_before);
    let hsm_operations = match hsm_before {
        Some(before) => Some(server.hsm_operations().await?.saturating_sub(before)),
        None => None,
    };
    server.check_running()?;
    let n = samples.max(1) as f64;
    let times: Vec<f64> = connections
        .iter()
        .filter_map(|c| c.first_byte)
        .map(|t| t.as_secs_f64() * 1000.0)
        .collect();
    let first = connections.first();
    Ok(Scenario {
        name: spec.name,
        label: spec.label,
        server_flags,
        rtt_ms: rtt.ms(),
        samples,
        resumed: connections.iter().filter(|c| c.resumed).count() as u64,
        early_data_accepted: connections.iter().filter(|c| c.early_data_accepted).count() as u64,
        handshake_round_trips: mode(
            &connections
                .iter()
                .map(|c| c.handshake_round_trips)
                .collect::<Vec<_>>(),
        ),
        round_trips: mode(
            &connections
                .iter()
                .map(|c| c.round_trips)
                .collect::<Vec<_>>(),
        ),
        time_to_first_byte_ms: Stats::of(&times),
        handshake_bytes_sent: first.map_or(0, |c| c.sent),
        handshake_bytes_received: first.map_or(0, |c| c.received),
        psk_identity_bytes: first
            .and_then(|c| c.client_hello.as_ref())
            .and_then(|h| h.psk_identity_len),
        hsm_operations_per_connection: hsm_operations.map(|ops| ops as f64 / n),
        server_cpu_us_per_connection: Some(cpu_ns as f64 / 1000.0 / n),
    })
}
