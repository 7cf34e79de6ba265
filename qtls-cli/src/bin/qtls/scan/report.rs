//! The report: what `--json` prints (field names are stable, see `qtls scan --help`).

use serde::Serialize;

/// One certificate as sent.
#[derive(Debug, Serialize)]
pub(super) struct ChainEntry {
    pub(super) subject: String,
    pub(super) issuer: String,
    pub(super) key_algorithm: String,
    pub(super) signature_algorithm: String,
    pub(super) not_before: String,
    pub(super) not_after: String,
    pub(super) bytes: usize,
    pub(super) post_quantum: bool,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct Ocsp {
    pub(super) stapled: bool,
    pub(super) bytes: usize,
    /// good, revoked, unknown or invalid (null without a staple).
    pub(super) status: Option<String>,
    /// With --ca: whether the staple's signature and CertID check out (qtls-verifier).
    pub(super) verified: Option<bool>,
    pub(super) next_update: Option<String>,
    pub(super) error: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct Verified {
    pub(super) ok: bool,
    pub(super) error: Option<String>,
    /// Subjects from the end entity to the trust anchor.
    pub(super) path: Vec<String>,
    /// Signature algorithms along the path, the trust anchor's included.
    pub(super) path_signature_algorithms: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct Resumption13 {
    pub(super) tls13_ticket_issued: Option<bool>,
    pub(super) tls13_resumed: Option<bool>,
    pub(super) tls12_session_id: Option<bool>,
    pub(super) tls12_ticket: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct EarlyData {
    pub(super) max_early_data_size: Option<u32>,
    pub(super) offered: bool,
    pub(super) accepted: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct ClientAuth {
    pub(super) requested: bool,
    pub(super) signature_schemes: Vec<String>,
    pub(super) certificate_authorities: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct Flight {
    pub(super) from: &'static str,
    pub(super) bytes: usize,
    pub(super) segments: usize,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct Bytes {
    /// Which probe these numbers come from.
    pub(super) probe: String,
    pub(super) flights: Vec<Flight>,
    pub(super) client_hello: Option<usize>,
    pub(super) server_hello: Option<usize>,
    pub(super) hello_retry_request: Option<usize>,
    /// The Certificate message; for TLS 1.3 (encrypted) computed from the decoded
    /// certificates and staple as RFC 8446 §4.4.2 encodes them.
    pub(super) certificate: Option<usize>,
    /// The CertificateVerify message; for TLS 1.3 computed from the signature's length
    /// (RFC 8446 §4.4.3); for TLS 1.2 the ServerKeyExchange, which carries the signature.
    pub(super) certificate_verify: Option<usize>,
    pub(super) server_first_flight_segments: usize,
    pub(super) tcp_connect_ms: f64,
    pub(super) handshake_ms: f64,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct Verdict {
    pub(super) pq_key_exchange: bool,
    pub(super) pq_key_exchange_preferred: bool,
    pub(super) pq_authentication: bool,
    pub(super) pq_authentication_default: bool,
    /// What a client offering everything gets: hybrid, pqc or classical.
    pub(super) key_exchange: &'static str,
    /// The default CertificateVerify: composite, ml-dsa or classical.
    pub(super) authentication: &'static str,
    pub(super) kind: &'static str,
    pub(super) advice: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct Report {
    pub(super) target: String,
    pub(super) server_name: String,
    pub(super) versions: Vec<String>,
    pub(super) groups_accepted: Vec<String>,
    pub(super) preferred_group: Option<String>,
    pub(super) hello_retry_groups: Vec<String>,
    pub(super) signature_schemes_accepted: Vec<String>,
    pub(super) default_signature_scheme: Option<String>,
    pub(super) cipher_suites: Vec<String>,
    pub(super) chain: Vec<ChainEntry>,
    pub(super) chain_verified: Option<Verified>,
    pub(super) chain_post_quantum: bool,
    pub(super) ocsp: Ocsp,
    pub(super) resumption: Resumption13,
    pub(super) early_data: EarlyData,
    pub(super) client_auth: ClientAuth,
    pub(super) bytes: Bytes,
    pub(super) probes: usize,
    pub(super) verdict: Verdict,
}
