//! The rustls verifier traits over [`ChainVerifier`].

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, PeerMisbehaved, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::Error;
use crate::verifier::{ChainVerifier, Purpose};

/// Verifies server certificates (use it in a `ClientConfig`).
///
/// Under [`crate::VerifierBuilder::require_pq_signatures`] it advertises only ML-DSA and
/// composite schemes in signature_algorithms, so a server without a post-quantum key fails
/// the handshake on its side; a chain with a classical signature is refused. A chain refused
/// under hard-fail for an unknown revocation status gives an error that names the
/// certificate (subject, serial) and each source tried, and the alert certificate_unknown.
#[derive(Debug)]
pub struct QtlsServerVerifier {
    chain: ChainVerifier,
}

impl QtlsServerVerifier {
    /// A builder trusting `roots`, verifying with `provider`'s algorithms.
    pub fn builder(
        roots: Vec<CertificateDer<'static>>,
        provider: &rustls::crypto::CryptoProvider,
    ) -> crate::ServerVerifierBuilder {
        crate::ServerVerifierBuilder::new(roots, provider)
    }

    pub(crate) fn new(chain: ChainVerifier) -> Self {
        Self { chain }
    }

    /// The chain verifier (for its caches and recent results).
    pub fn chain_verifier(&self) -> &ChainVerifier {
        &self.chain
    }
}

impl ServerCertVerifier for QtlsServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.chain
            .verify(
                end_entity,
                intermediates,
                Purpose::Server,
                Some(server_name),
                ocsp_response,
                now,
            )
            .map_err(explained)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12(&self.chain, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(&self.chain, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        false
    }
}

/// Verifies client certificates (use it in a `ServerConfig`); the verified chain is kept
/// for [`crate::ClientIdentity::from_connection`].
#[derive(Debug)]
pub struct QtlsClientVerifier {
    chain: ChainVerifier,
    subjects: Vec<DistinguishedName>,
    allow_unauthenticated: bool,
}

impl QtlsClientVerifier {
    /// A builder trusting `roots`, verifying with `provider`'s algorithms.
    pub fn builder(
        roots: Vec<CertificateDer<'static>>,
        provider: &rustls::crypto::CryptoProvider,
    ) -> crate::ClientVerifierBuilder {
        crate::ClientVerifierBuilder::new(roots, provider)
    }

    pub(crate) fn new(chain: ChainVerifier, allow_unauthenticated: bool) -> Self {
        let subjects = chain.root_subjects();
        Self {
            chain,
            subjects,
            allow_unauthenticated,
        }
    }

    /// The chain verifier (for its caches and recent results).
    pub fn chain_verifier(&self) -> &ChainVerifier {
        &self.chain
    }
}

impl ClientCertVerifier for QtlsClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.allow_unauthenticated
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.subjects
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.chain
            .verify(end_entity, intermediates, Purpose::Client, None, &[], now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12(&self.chain, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(&self.chain, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_schemes()
    }
}

/// A server chain refused for an unknown revocation status keeps its explanation (which
/// certificate, which sources were tried and why each failed) in the error the client's
/// application sees; the alert is then certificate_unknown ([RFC 8446 §6.2](https://www.rfc-editor.org/rfc/rfc8446#section-6.2)), not unknown_ca.
// rustls's UnknownRevocationStatus carries no context: its Display is the bare variant name,
// and the client has no log of the server's to look in. Client verifiers keep unknown_ca:
// the server logs the explanation and the peer learns nothing from it anyway.
fn explained(error: Error) -> rustls::Error {
    match error {
        error @ Error::RevocationUnknown { .. } => {
            tracing::warn!("certificate rejected: {error}");
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                std::sync::Arc::new(Explanation(error)),
            )))
        }
        error => error.into(),
    }
}

/// An [`Error`] whose Debug form is its Display form: rustls shows a
/// `CertificateError::Other` with `{:?}`.
struct Explanation(Error);

impl core::fmt::Debug for Explanation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

impl core::fmt::Display for Explanation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Explanation {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A TLS 1.2 handshake signature, with the chain's algorithms and policy.
fn verify_tls12(
    chain: &ChainVerifier,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    check_scheme(chain, dss.scheme)?;
    rustls::crypto::verify_tls12_signature(message, cert, dss, chain.algorithms())
        .map_err(|e| key_mismatch(e, dss.scheme))
}

/// A TLS 1.3 CertificateVerify, with the chain's algorithms and policy.
fn verify_tls13(
    chain: &ChainVerifier,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    check_scheme(chain, dss.scheme)?;
    rustls::crypto::verify_tls13_signature(message, cert, dss, chain.algorithms())
        .map_err(|e| key_mismatch(e, dss.scheme))
}

/// A scheme we did not offer is illegal_parameter ([RFC 8446 §4.4.3](https://www.rfc-editor.org/rfc/rfc8446#section-4.4.3)).
// rustls calls the verifier without comparing the scheme with what it offered; its own
// check only refuses schemes outside the algorithm table, which under the post-quantum
// policy is wider than what CertificateRequest / signature_algorithms offered.
fn check_scheme(chain: &ChainVerifier, scheme: SignatureScheme) -> Result<(), rustls::Error> {
    if chain.offers(scheme) {
        return Ok(());
    }
    if chain.requires_pq() && !chain.is_post_quantum_scheme(scheme) {
        tracing::warn!("{}", Error::ClassicalHandshakeSignature(scheme));
    } else {
        tracing::warn!(
            ?scheme,
            "CertificateVerify with a scheme that was not offered"
        );
    }
    Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into())
}

/// A scheme that does not fit the certificate's key is illegal_parameter, not decrypt_error ([RFC 8446 §4.4.3](https://www.rfc-editor.org/rfc/rfc8446#section-4.4.3)).
// rustls reports it as a certificate error whose alert is decrypt_error; no signature was
// wrong, the peer broke the protocol. SignedKxWithWrongAlgorithm is the PeerMisbehaved
// variant rustls itself uses for a signature algorithm that does not fit (TLS 1.2).
fn key_mismatch(error: rustls::Error, scheme: SignatureScheme) -> rustls::Error {
    #[allow(deprecated)]
    match error {
        rustls::Error::InvalidCertificate(
            CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithm,
        ) => {
            tracing::warn!(
                ?scheme,
                "CertificateVerify scheme does not fit the certificate's key"
            );
            PeerMisbehaved::SignedKxWithWrongAlgorithm.into()
        }
        other => other,
    }
}
