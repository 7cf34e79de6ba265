//! What a client connection reports: [`ClientReport`], and the status of a stapled OCSP
//! response.

use serde::Serialize;

use crate::connection::ConnectionInfo;

/// What one client connection negotiated, cost and received.
#[derive(Clone, Debug, Serialize)]
pub struct ClientReport {
    /// The negotiated parameters.
    #[serde(flatten)]
    pub info: ConnectionInfo,
    /// Bytes the client wrote during the handshake.
    pub handshake_bytes_sent: u64,
    /// Bytes the client read during the handshake.
    pub handshake_bytes_received: u64,
    /// The HTTP status line of the response.
    pub http_status: Option<String>,
    /// Whether the session was resumed (PSK) rather than fully authenticated.
    pub resumed: bool,
    /// Whether the client sent its request as early data (it held a ticket allowing it).
    pub early_data_offered: bool,
    /// Whether the server accepted the early data.
    pub early_data_accepted: bool,
    /// Whether the server answered the early request with 425 Too Early and the client
    /// sent it again after the handshake.
    pub retried_after_425: bool,
    /// The stapled OCSP status of the server's certificate: `good`, `unknown` (the
    /// responder does not know it), or `none` when the server stapled nothing (`revoked`
    /// fails the handshake).
    pub ocsp_status: Option<String>,
    /// The alert that ended a failed attempt before this one (with `--fallback`).
    pub alert: Option<String>,
    /// Whether the key exchange has a post-quantum (ML-KEM) part.
    pub post_quantum_kx: bool,
    /// The response body.
    pub body: String,
}

/// What a verified OCSP staple says of the server's certificate
/// ([RFC 6960 §4.2.1](https://www.rfc-editor.org/rfc/rfc6960#section-4.2.1)): `good`,
/// `revoked` or `unknown` (also for a staple without an answer about it); `none` without a
/// staple; `invalid` for one that does not parse.
pub(crate) fn staple_status(
    ocsp_response: &[u8],
    end_entity: &rustls_pki_types::CertificateDer<'_>,
) -> &'static str {
    // A DER INTEGER may carry leading zero octets; CertIDs and certificates need not agree.
    fn significant(serial: &[u8]) -> &[u8] {
        let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
        &serial[start..]
    }
    if ocsp_response.is_empty() {
        return "none";
    }
    let (Ok(response), Ok(certificate)) = (
        qtls_pki::OcspResponse::from_der(ocsp_response.to_vec()),
        qtls_pki::Certificate::from_der(end_entity.to_vec()),
    ) else {
        return "invalid";
    };
    let serial = significant(certificate.serial());
    match response
        .responses()
        .iter()
        .find(|single| significant(&single.cert_id.serial()) == serial)
        .map(|single| single.status)
    {
        Some(qtls_pki::OcspCertStatus::Good) => "good",
        Some(qtls_pki::OcspCertStatus::Revoked { .. }) => "revoked",
        _ => "unknown",
    }
}
