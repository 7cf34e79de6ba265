//! Authorization of verified clients: an allow-list by subject, subjectAltName or issuing
//! CA, enforced in the handshake (access_denied) or by the application (HTTP 403).

use std::sync::Arc;

use der::Decode;
use qtls_verifier::{ClientIdentity, QtlsClientVerifier};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

/// One allow rule; a client is allowed when any rule matches.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AclRule {
    /// The subject DN equals this (RFC 4514, e.g. `CN=alice,O=Example`).
    Subject(String),
    /// A subjectAltName equals this (`DNS:alice.example.com`, `email:a@example.com`).
    SubjectAltName(String),
    /// The issuing CA's DN equals this.
    Issuer(String),
}

/// What a denied client gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenyWith {
    /// The handshake fails with access_denied.
    #[default]
    Alert,
    /// The handshake succeeds and requests are answered 403.
    Http403,
}

/// An allow-list of clients.
///
/// # Resumed sessions
///
/// A resumed TLS 1.3 session ([RFC 8446 §2.2](https://www.rfc-editor.org/rfc/rfc8446#section-2.2)) carries the client chain the original handshake
/// verified, and rustls calls no certificate verifier for it: without more, a client would
/// keep its access for the session's lifetime after its certificate expired, was revoked,
/// or the ACL changed. [RFC 8446 §4.6.1](https://www.rfc-editor.org/rfc/rfc8446#section-4.6.1) recommends limiting such keying material by "the
/// lifetime of the peer's certificate, the likelihood of intervening revocation". So right
/// after a resumed handshake the acceptor ([`crate::QtlsAcceptor`]) checks the stored chain
/// again ([`authorize_resumed`]):
/// - a certificate of the chain past its notAfter refuses the session, and so does a
///   session made without a client certificate where one is now required;
/// - the revocation status is re-read from the verifier's caches only (OCSP answers, fetched
///   and configured CRLs: [`qtls_verifier::ChainVerifier::cached_revocation_status`]), never
///   fetched, so resumption costs no network round trip; a cached revocation refuses it, a
///   status nothing cached settles passes (it was checked when the session was made);
/// - the ACL applies as in a full handshake: with [`DenyWith::Alert`] a denied client is
///   refused; with [`DenyWith::Http403`] it gets its 403 from the application as usual.
///
/// rustls offers no way to send an alert once the handshake is complete, so a refused
/// resumption is closed with close_notify right after the handshake, before the application
/// reads anything (early data included): the client sees its handshake complete and the
/// connection close without an answer, and the acceptor fails with
/// [`crate::AcceptError::Tls`] holding a [`ResumptionRefused`]. A full handshake (a client
/// that does not offer the session) is checked, and refused with an alert, as usual.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    /// The rules; an empty list allows every verified client.
    pub allow: Vec<AclRule>,
}

impl Acl {
    /// Whether the list has rules, and so needs a client certificate to check them against:
    /// a client without one is refused with certificate_required
    /// ([RFC 8446 §4.4.2.4](https://www.rfc-editor.org/rfc/rfc8446#section-4.4.2.4)), as
    /// `crate::Server::bind` makes it, rather than let through unchecked.
    pub fn requires_certificate(&self) -> bool {
        !self.allow.is_empty()
    }

    /// Whether `identity` may connect.
    pub fn permits(&self, identity: &ClientIdentity) -> bool {
        self.allow.is_empty()
            || self.allow.iter().any(|rule| match rule {
                AclRule::Subject(subject) => identity.subject == *subject,
                AclRule::SubjectAltName(name) => identity.subject_alt_names.contains(name),
                AclRule::Issuer(issuer) => identity.issuer == *issuer,
            })
    }
}

/// A client-certificate verifier that, after the chain verifies, applies an [`Acl`]:
/// a denied client fails the handshake with access_denied
/// (`CertificateError::ApplicationVerificationFailure`), and with rules a client without a
/// certificate gets certificate_required ([`Acl::requires_certificate`]). rustls does not call it for
/// resumed sessions: [`crate::AcceptorBuilder::acl`] applies the ACL to those (see [`Acl`]
/// for how).
#[derive(Debug)]
pub struct AuthorizingVerifier {
    inner: Arc<QtlsClientVerifier>,
    acl: Acl,
}

impl AuthorizingVerifier {
    /// Applies `acl` after `inner` verified the chain.
    pub fn new(inner: Arc<QtlsClientVerifier>, acl: Acl) -> Self {
        Self { inner, acl }
    }
}

impl ClientCertVerifier for AuthorizingVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        // An allow-list cannot check a client that sends no certificate.
        self.inner.client_auth_mandatory() || self.acl.requires_certificate()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let chain = self
            .inner
            .chain_verifier()
            .recent(end_entity)
            .ok_or(rustls::Error::General("verified chain not recorded".into()))?;
        let identity = ClientIdentity::from_chain(&chain);
        if !self.acl.permits(&identity) {
            tracing::warn!(subject = %identity.subject, issuer = %identity.issuer, "client denied by the ACL");
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Why a resumed session was refused after its handshake (see [`Acl`]).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumptionRefused {
    /// The client chain stored with the session does not parse.
    Unreadable,
    /// The session was made without a client certificate, and the server now requires one.
    NoCertificate,
    /// A certificate of the client's chain expired after the session was made.
    Expired {
        /// The expired certificate's subject DN.
        subject: String,
        /// Its notAfter, seconds since the Unix epoch.
        not_after: u64,
    },
    /// The verifier's cache says a certificate of the chain is revoked.
    Revoked {
        /// What the verifier reported.
        reason: String,
    },
    /// The ACL does not permit the client.
    Denied {
        /// The client's subject DN.
        subject: String,
    },
}

impl core::fmt::Display for ResumptionRefused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("resumed session refused: ")?;
        match self {
            Self::Unreadable => f.write_str("the stored client chain does not parse"),
            Self::NoCertificate => f.write_str(
                "the session was made without a client certificate, which is now required",
            ),
            Self::Expired { subject, not_after } => write!(
                f,
                "client certificate {subject} expired (notAfter {})",
                time::OffsetDateTime::from_unix_timestamp(
                    i64::try_from(*not_after).unwrap_or(i64::MAX)
                )
                .map_or_else(|_| not_after.to_string(), |t| t.to_string())
            ),
            Self::Revoked { reason } => write!(f, "{reason} (cached status)"),
            Self::Denied { subject } => write!(f, "client {subject} denied by the ACL"),
        }
    }
}

impl std::error::Error for ResumptionRefused {}

/// Checks the client of a resumed session again: its stored `chain` (end entity first) must
/// not have expired, the verifier's cached revocation status must not say revoked, and `acl`
/// (when given) must permit it. Never asks the network. Returns the identity, with the
/// cached revocation status.
pub fn authorize_resumed(
    chain: &[CertificateDer<'_>],
    verifier: &QtlsClientVerifier,
    acl: Option<&Acl>,
    now: UnixTime,
) -> Result<ClientIdentity, ResumptionRefused> {
    let mut identity =
        ClientIdentity::from_resumed_chain(chain).ok_or(ResumptionRefused::Unreadable)?;
    for der in chain {
        let cert = x509_cert::Certificate::from_der(der.as_ref())
            .map_err(|_| ResumptionRefused::Unreadable)?;
        let not_after = cert
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs();
        // RFC 5280 §4.1.2.5 (https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.5):
        // valid through notAfter inclusive.
        if now.as_secs() > not_after {
            return Err(ResumptionRefused::Expired {
                subject: cert.tbs_certificate.subject.to_string(),
                not_after,
            });
        }
    }
    identity.revocation = verifier
        .chain_verifier()
        .cached_revocation_status(chain, now)
        .map_err(|e| match e {
            qtls_verifier::Error::Revoked { .. } => ResumptionRefused::Revoked {
                reason: e.to_string(),
            },
            // The chain parsed above; nothing else fails, but never let it through.
            _ => ResumptionRefused::Unreadable,
        })?;
    if let Some(acl) = acl {
        if !acl.permits(&identity) {
            return Err(ResumptionRefused::Denied {
                subject: identity.subject,
            });
        }
    }
    Ok(identity)
}

/// The verified client on `connection`: for a full handshake the chain the verifier just
/// verified; for a resumed session the stored chain, checked by [`authorize_resumed`] (with
/// `acl` when denied clients get an alert).
pub(crate) fn client_of(
    connection: &rustls::ServerConnection,
    verifier: &QtlsClientVerifier,
    acl: Option<&Acl>,
) -> Result<Option<ClientIdentity>, ResumptionRefused> {
    if connection.handshake_kind() != Some(rustls::HandshakeKind::Resumed) {
        return Ok(ClientIdentity::from_connection(connection, verifier));
    }
    match connection.peer_certificates() {
        // Resumed on this node or another of the fleet: the chain comes from the session.
        Some(chain) if !chain.is_empty() => {
            let now = UnixTime::now();
            authorize_resumed(chain, verifier, acl, now).map(Some)
        }
        // Made without a client certificate (optional client auth then): rustls resumes it
        // even where one is now required.
        _ if verifier.client_auth_mandatory() => Err(ResumptionRefused::NoCertificate),
        _ => Ok(None),
    }
}
