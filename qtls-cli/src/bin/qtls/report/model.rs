//! What `report.json` holds: the measurements, the machine, and the design's claims beside
//! them (the fields are listed in `qtls report --help`).

use serde::Serialize;

/// The version of report.json's layout.
pub(super) const FORMAT: u32 = 1;

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) format: u32,
    pub(super) generated: String,
    pub(super) machine: Machine,
    pub(super) settings: RunSettings,
    pub(super) hsm: Option<HsmInfo>,
    pub(super) configurations: Vec<Configuration>,
    pub(super) scenarios: Vec<Scenario>,
    pub(super) design: super::design::Design,
    pub(super) charts: Vec<String>,
    pub(super) notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct Machine {
    pub(super) cpu: String,
    pub(super) cores: usize,
    pub(super) kernel: String,
    pub(super) os: String,
    pub(super) rustc: String,
    pub(super) openssl: Option<String>,
    pub(super) qtls: String,
    pub(super) build: &'static str,
    pub(super) load_average: String,
}

#[derive(Debug, Serialize)]
pub(super) struct RunSettings {
    pub(super) handshakes: u64,
    pub(super) samples: u64,
    pub(super) rtt_ms: Vec<f64>,
    pub(super) delay: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub(super) struct HsmInfo {
    pub(super) kind: String,
    pub(super) module: String,
    pub(super) token: String,
    pub(super) key_algorithm: String,
    pub(super) throwaway: bool,
}

/// One key exchange and certificate set, served by `qtls server` and, where OpenSSL
/// supports it, `openssl s_server`.
#[derive(Debug, Serialize)]
pub(super) struct Configuration {
    pub(super) name: &'static str,
    pub(super) label: &'static str,
    pub(super) group: &'static str,
    pub(super) certificate: &'static str,
    pub(super) preset: &'static str,
    pub(super) qtls: Measured,
    pub(super) openssl: Option<Measured>,
    pub(super) openssl_note: Option<String>,
}

/// One server's handshake as the client saw it.
#[derive(Clone, Debug, Default, Serialize)]
pub(super) struct Measured {
    pub(super) server: String,
    pub(super) negotiated_group: Option<String>,
    pub(super) signature_scheme: Option<String>,
    pub(super) cipher_suite: Option<String>,
    pub(super) messages: Messages,
    /// `messages` divided by the classical configuration's (same server kind).
    pub(super) ratio_to_classical: Option<Ratios>,
    pub(super) handshake_bytes_sent: u64,
    pub(super) handshake_bytes_received: u64,
    pub(super) cpu: Option<CpuPerHandshake>,
}

/// Sizes in bytes of the handshake messages (each with its 4-byte header) and of the key
/// shares (the key_exchange field alone); `handshake_total` is every byte on the wire,
/// both directions, until the handshake completed.
#[derive(Clone, Debug, Default, Serialize)]
pub(super) struct Messages {
    pub(super) client_hello: Option<usize>,
    pub(super) server_hello: Option<usize>,
    pub(super) certificate: Option<usize>,
    pub(super) certificate_verify: Option<usize>,
    pub(super) client_key_share: Option<usize>,
    pub(super) server_key_share: Option<usize>,
    pub(super) handshake_total: Option<usize>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub(super) struct Ratios {
    pub(super) client_hello: Option<f64>,
    pub(super) server_hello: Option<f64>,
    pub(super) certificate: Option<f64>,
    pub(super) certificate_verify: Option<f64>,
    pub(super) client_key_share: Option<f64>,
    pub(super) server_key_share: Option<f64>,
    pub(super) handshake_total: Option<f64>,
}

impl Messages {
    /// Each size over the same size of `base`.
    pub(super) fn ratios(&self, base: &Self) -> Ratios {
        let ratio = |a: Option<usize>, b: Option<usize>| match (a, b) {
            (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
            _ => None,
        };
        Ratios {
            client_hello: ratio(self.client_hello, base.client_hello),
            server_hello: ratio(self.server_hello, base.server_hello),
            certificate: ratio(self.certificate, base.certificate),
            certificate_verify: ratio(self.certificate_verify, base.certificate_verify),
            client_key_share: ratio(self.client_key_share, base.client_key_share),
            server_key_share: ratio(self.server_key_share, base.server_key_share),
            handshake_total: ratio(self.handshake_total, base.handshake_total),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub(super) struct CpuPerHandshake {
    pub(super) handshakes: u64,
    pub(super) microseconds: f64,
    /// False when a server thread ended during the run and the process's 10 ms ticks were
    /// used instead of the per-thread nanoseconds.
    pub(super) precise: bool,
}

/// One scenario at one round-trip time.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Scenario {
    pub(super) name: &'static str,
    pub(super) label: &'static str,
    pub(super) server_flags: String,
    pub(super) rtt_ms: f64,
    pub(super) samples: u64,
    pub(super) resumed: u64,
    pub(super) early_data_accepted: u64,
    pub(super) handshake_round_trips: usize,
    pub(super) round_trips: usize,
    pub(super) time_to_first_byte_ms: Stats,
    pub(super) handshake_bytes_sent: u64,
    pub(super) handshake_bytes_received: u64,
    pub(super) psk_identity_bytes: Option<usize>,
    pub(super) hsm_operations_per_connection: Option<f64>,
    pub(super) server_cpu_us_per_connection: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(super) struct Stats {
    pub(super) median: f64,
    pub(super) min: f64,
    pub(super) max: f64,
}

impl Stats {
    pub(super) fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let median = match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Self {
            median,
            min: v.first().copied().unwrap_or(f64::NAN),
            max: v.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// The value that occurs most often (the first of equals), for counts that should not vary.
pub(super) fn mode(values: &[usize]) -> usize {
    let mut best = (0, 0);
    for v in values {
        let n = values.iter().filter(|w| *w == v).count();
        if n > best.1 {
            best = (*v, n);
        }
    }
    best.0
}
