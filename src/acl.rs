//! Authorization of verified clients: an allow-list by subject, subjectAltName or issuing
//! CA, enforced in the handshake (access_denied) or by the application (HTTP 403).

use std::sync::Arc;

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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    /// The rules; an empty list allows every verified client.
    pub allow: Vec<AclRule>,
}

impl Acl {
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
/// (`CertificateError::ApplicationVerificationFailure`).
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
        self.inner.client_auth_mandatory()
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
