//! The claims of the Q-TLS design's tables (message sizes, key exchange, session
//! resumption, the performance summary), as written there, to print beside the
//! measurements.

use serde::Serialize;

/// A kilobyte as the claims are read: 1,024 bytes.
const KB: f64 = 1024.0;

#[derive(Clone, Debug, Serialize)]
pub(super) struct Design {
    pub(super) source: &'static str,
    pub(super) message_sizes: Vec<SizeClaim>,
    pub(super) key_exchange: KeyExchangeClaim,
    pub(super) scenarios: Vec<ScenarioClaim>,
    pub(super) resumption_cpu_percent_of_full: f64,
    pub(super) session_id_bytes: f64,
    pub(super) session_ticket_bytes: f64,
    pub(super) max_early_data_size: f64,
}

/// One row of the message-size table: classical TLS 1.3 and Q-TLS hybrid.
#[derive(Clone, Debug, Serialize)]
pub(super) struct SizeClaim {
    /// The field of [`super::model::Messages`] the row compares with.
    pub(super) message: &'static str,
    pub(super) label: &'static str,
    pub(super) classical: f64,
    pub(super) classical_text: &'static str,
    pub(super) hybrid: f64,
    pub(super) hybrid_text: &'static str,
    pub(super) ratio: f64,
}

/// The hybrid row of the key-exchange table (ECDHE P-384 + Kyber1024).
#[derive(Clone, Debug, Serialize)]
pub(super) struct KeyExchangeClaim {
    pub(super) hybrid_public_key: f64,
    pub(super) hybrid_ciphertext: f64,
    pub(super) mlkem1024_public_key: f64,
    pub(super) ecdhe_p384_public_key: f64,
}

/// One row of the performance summary.
#[derive(Clone, Debug, Serialize)]
pub(super) struct ScenarioClaim {
    pub(super) scenario: &'static str,
    pub(super) round_trips: u32,
    pub(super) handshake_ms: f64,
    pub(super) bytes: f64,
    pub(super) bytes_text: &'static str,
    pub(super) hsm_operations: u32,
    pub(super) hsm_text: &'static str,
}

pub(super) fn design() -> Design {
    let size = |message, label, classical, classical_text, hybrid, hybrid_text, ratio| SizeClaim {
        message,
        label,
        classical,
        classical_text,
        hybrid,
        hybrid_text,
        ratio,
    };
    let scenario =
        |scenario, round_trips, handshake_ms, bytes, bytes_text, hsm, hsm_text| ScenarioClaim {
            scenario,
            round_trips,
            handshake_ms,
            bytes,
            bytes_text,
            hsm_operations: hsm,
            hsm_text,
        };
    Design {
        source: "Q-TLS Sequence Diagrams (q-tls-sequence-diagrams.md, version 1.0.0, \
                 2025-11-16): handshake message sizes, key exchange performance, session \
                 resumption performance, session ticket vs session ID, performance summary",
        message_sizes: vec![
            size(
                "client_hello",
                "ClientHello",
                200.0,
                "~200 bytes",
                400.0,
                "~400 bytes",
                2.0,
            ),
            size(
                "server_hello",
                "ServerHello",
                150.0,
                "~150 bytes",
                300.0,
                "~300 bytes",
                2.0,
            ),
            size(
                "certificate",
                "Certificate",
                2.0 * KB,
                "~2 KB",
                8.0 * KB,
                "~8 KB",
                4.0,
            ),
            size(
                "certificate_verify",
                "CertificateVerify",
                256.0,
                "~256 bytes",
                3.0 * KB,
                "~3 KB",
                12.0,
            ),
            size(
                "server_key_share",
                "KeyShare",
                32.0,
                "32 bytes",
                1568.0,
                "1,568 bytes",
                49.0,
            ),
            size(
                "handshake_total",
                "Total handshake",
                3.0 * KB,
                "~3 KB",
                15.0 * KB,
                "~15 KB",
                5.0,
            ),
        ],
        key_exchange: KeyExchangeClaim {
            hybrid_public_key: 1616.0,
            hybrid_ciphertext: 1616.0,
            mlkem1024_public_key: 1568.0,
            ecdhe_p384_public_key: 48.0,
        },
        scenarios: vec![
            scenario("full", 2, 80.0, 15.0 * KB, "~15 KB", 4, "4 ops"),
            scenario("session-id", 1, 10.0, 500.0, "~500 bytes", 0, "0 ops"),
            scenario("ticket", 1, 15.0, 1.5 * KB, "~1.5 KB", 1, "1 op (decrypt)"),
            scenario("0-rtt", 0, 5.0, 2.0 * KB, "~2 KB", 1, "1 op (PSK)"),
        ],
        resumption_cpu_percent_of_full: 5.0,
        session_id_bytes: 32.0,
        session_ticket_bytes: KB,
        max_early_data_size: 16.0 * KB,
    }
}
