//! The rustls verifier traits over [`ChainVerifier`].

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::Error;
use crate::verifier::{ChainVerifier, Purpose};

/// Verifies server certificates (use it in a `ClientConfig`).
///
/// Under [`crate::VerifierBuilder::require_pq_signatures`] it advertises only ML-DSA and
/// composite schemes in signature_algorithms, so a server without a post-quantum key fails
/// the handshake on its side; a chain with a classical signature is refused.
#[derive(Debug)]
pub struct QtlsServerVerifier {
    chain: ChainVerifier,
}

impl QtlsServerVerifier {
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
        self.chain.verify(
            end_entity,
            intermediates,
            Purpose::Server,
            Some(server_name),
            ocsp_response,
            now,
        )?;
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

/// A TLS 1.2 handshake signature, with the chain's algorithms and policy.
fn verify_tls12(
    chain: &ChainVerifier,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    check_scheme(chain, dss.scheme)?;
    rustls::crypto::verify_tls12_signature(message, cert, dss, chain.algorithms())
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
}

/// Under the post-quantum policy a classical CertificateVerify is refused even if the peer
/// ignored our signature_algorithms.
fn check_scheme(chain: &ChainVerifier, scheme: SignatureScheme) -> Result<(), rustls::Error> {
    if chain.requires_pq() && !chain.code_points().is_post_quantum_scheme(scheme) {
        return Err(Error::ClassicalHandshakeSignature(scheme).into());
    }
    Ok(())
}
