//! The verified client identity, for authorization after the handshake.

use crate::error::StatusSource;
use crate::rustls_verifiers::QtlsClientVerifier;
use crate::verifier::{RevocationStatus, VerifiedChain};

/// Who a client proved to be: taken from the chain [`QtlsClientVerifier`] verified during
/// the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Subject DN of the client certificate (RFC 4514).
    pub subject: String,
    /// Serial number, hex.
    pub serial: String,
    /// subjectAltName entries (`DNS:`, `IP:`, `URI:`, `email:`).
    pub subject_alt_names: Vec<String>,
    /// DN of the CA that issued the client certificate.
    pub issuer: String,
    /// DN of the trust anchor the chain ends at.
    pub trust_anchor: String,
    /// The client certificate's revocation status and how it was learnt.
    pub revocation: RevocationStatus,
}

impl ClientIdentity {
    /// The identity of the client on `connection`, if it presented a certificate that
    /// `verifier` accepted.
    pub fn from_connection(
        connection: &rustls::ServerConnection,
        verifier: &QtlsClientVerifier,
    ) -> Option<Self> {
        let end_entity = connection.peer_certificates()?.first()?;
        let chain = verifier.chain_verifier().recent(end_entity)?;
        Some(Self::from_chain(&chain))
    }

    /// The identity in a chain verified earlier — for a resumed session, whose client chain
    /// rustls restores from the session the original (verified) handshake stored. Nothing is
    /// verified here; the revocation status is [`RevocationStatus::NotChecked`].
    pub fn from_resumed_chain(chain: &[rustls_pki_types::CertificateDer<'_>]) -> Option<Self> {
        let leaf = crate::cert::ParsedCert::from_der(chain.first()?.as_ref()).ok()?;
        let issuer = leaf.cert.tbs_certificate.issuer.to_string();
        let anchor = chain
            .last()
            .and_then(|c| crate::cert::ParsedCert::from_der(c.as_ref()).ok())
            .map(|c| c.cert.tbs_certificate.issuer.to_string())
            .unwrap_or_else(|| issuer.clone());
        Some(Self {
            subject: leaf.subject(),
            serial: leaf.serial().iter().map(|b| format!("{b:02x}")).collect(),
            subject_alt_names: leaf.subject_alt_names(),
            issuer,
            trust_anchor: anchor,
            revocation: RevocationStatus::NotChecked,
        })
    }

    /// The identity a verified client chain establishes.
    pub fn from_chain(chain: &VerifiedChain) -> Self {
        let leaf = chain.end_entity();
        Self {
            subject: leaf.subject.clone(),
            serial: leaf.serial.clone(),
            subject_alt_names: chain.subject_alt_names.clone(),
            issuer: leaf.issuer.clone(),
            trust_anchor: chain
                .certificates
                .last()
                .map(|anchor| anchor.subject.clone())
                .unwrap_or_default(),
            revocation: leaf.revocation.clone(),
        }
    }

    /// Whether the revocation status was positively confirmed, and by what.
    pub fn revocation_confirmed_by(&self) -> Option<StatusSource> {
        match self.revocation {
            RevocationStatus::Good(source) => Some(source),
            _ => None,
        }
    }
}
