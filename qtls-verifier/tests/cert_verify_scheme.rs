//! A CertificateVerify whose scheme does not fit the certificate's key, or that the verifying
//! side did not offer, is an illegal_parameter (RFC 8446 §4.4.3,
//! <https://www.rfc-editor.org/rfc/rfc8446#section-4.4.3>), not a decrypt_error: the peer
//! broke the protocol, no signature was wrong. The peers here are real rustls endpoints whose
//! signing key claims a scheme other than the one it signs with.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use qtls_pki::{CertifiedKeyPair, Usage};
use qtls_provider::{
    Backend, CodePoints, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel,
    QtlsSigningKey,
};
use rustls::pki_types::CertificateDer;
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{
    AlertDescription, ClientConfig, ClientConnection, ServerConfig, ServerConnection,
    SignatureAlgorithm, SignatureScheme,
};

const COMPOSITE65: KeyAlgorithm =
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512);

/// Signs with `key` under its own scheme but announces `claimed` in CertificateVerify.
#[derive(Debug)]
struct Liar {
    key: QtlsSigningKey,
    claimed: SignatureScheme,
}

impl SigningKey for Liar {
    fn choose_scheme(&self, _offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let signer = self.key.choose_scheme(&[self.key.scheme()])?;
        Some(Box::new(LyingSigner {
            signer,
            claimed: self.claimed,
        }))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.key.algorithm()
    }
}

#[derive(Debug)]
struct LyingSigner {
    signer: Box<dyn Signer>,
    claimed: SignatureScheme,
}

impl Signer for LyingSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.signer.sign(message)
    }

    fn scheme(&self) -> SignatureScheme {
        self.claimed
    }
}

fn signing_key(key: &KeyPair) -> QtlsSigningKey {
    let copy = KeyPair::from_pkcs8_der(&key.to_pkcs8_der().unwrap(), Backend::AwsLc).unwrap();
    QtlsSigningKey::new(Arc::new(copy), &CodePoints::DEFAULT)
}

fn liar(key: &KeyPair, claimed: SignatureScheme) -> Arc<dyn SigningKey> {
    Arc::new(Liar {
        key: signing_key(key),
        claimed,
    })
}

/// A client leaf of `pki` for a key of `algorithm` (not necessarily the PKI's own).
fn client_leaf(pki: &TestPki, algorithm: KeyAlgorithm) -> CertifiedKeyPair {
    let key = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
    let cert = pki
        .leaf_builder(Usage::ClientLeaf, "client")
        .signed_by(&key, &pki.intermediate)
        .unwrap();
    CertifiedKeyPair::new(cert, key).unwrap()
}

/// A TLS 1.3 handshake with client authentication: the server (a `pki` server leaf, our
/// client verifier from `client_verifier`) and a client presenting `client_chain` with
/// `client_key`.
fn client_auth(
    pki: &TestPki,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: Arc<dyn SigningKey>,
    client_verifier: qtls_verifier::ClientVerifierBuilder,
) -> Outcome {
    client_auth_over(
        &rustls::version::TLS13,
        provider(),
        pki,
        client_chain,
        client_key,
        client_verifier,
    )
}

fn client_auth_over(
    version: &'static rustls::SupportedProtocolVersion,
    provider: Arc<rustls::crypto::CryptoProvider>,
    pki: &TestPki,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: Arc<dyn SigningKey>,
    client_verifier: qtls_verifier::ClientVerifierBuilder,
) -> Outcome {
    let server_leaf = pki.server_leaf();
    let server_key = CertifiedKey::new(
        pki.chain(server_leaf.certificate()),
        Arc::new(signing_key(server_leaf.key())),
    );
    let clock = Arc::new(FixedClock(now()));
    let server_config = ServerConfig::builder_with_details(Arc::clone(&provider), clock.clone())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_client_cert_verifier(client_verifier.build().unwrap())
        .with_cert_resolver(Arc::new(Resolver(Arc::new(server_key))));
    let client_config = ClientConfig::builder_with_details(Arc::clone(&provider), clock)
        .with_protocol_versions(&[version])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(
            qtls_verifier::ServerVerifierBuilder::new(pki.roots(), &provider)
                .revocation_policy(qtls_verifier::RevocationPolicy::Off)
                .build()
                .unwrap(),
        )
        .with_client_cert_resolver(Arc::new(ClientCert(Arc::new(CertifiedKey::new(
            client_chain,
            client_key,
        )))));
    let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
    let mut client =
        ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap()).unwrap();
    drive(&mut client, &mut server)
}

/// The server refused the client's CertificateVerify as a protocol violation.
fn assert_illegal_parameter_from_server(case: &str, outcome: &Outcome) {
    assert!(
        matches!(outcome.server, Err(rustls::Error::PeerMisbehaved(_))),
        "{case}: server {:?}",
        outcome.server
    );
    assert_eq!(
        outcome.client,
        Err(rustls::Error::AlertReceived(
            AlertDescription::IllegalParameter
        )),
        "{case}: alert the client received"
    );
}

#[test]
fn honest_client_signatures_are_accepted() {
    // The lying machinery itself is sound: claiming the true scheme completes the handshake.
    for algorithm in [COMPOSITE65, KeyAlgorithm::Ecdsa(EcCurve::P256)] {
        let pki = TestPki::new(algorithm);
        let client = client_leaf(&pki, algorithm);
        let scheme = CodePoints::DEFAULT.scheme_for(algorithm);
        let outcome = client_auth(
            &pki,
            pki.chain(client.certificate()),
            liar(client.key(), scheme),
            client_verifier(&pki),
        );
        assert!(
            outcome.client.is_ok() && outcome.server.is_ok(),
            "{algorithm}: client {:?}, server {:?}",
            outcome.client,
            outcome.server
        );
    }
}

#[test]
fn client_scheme_that_does_not_match_its_key_is_illegal_parameter() {
    let cases = [
        (
            "MLDSA65-ECDSA-P384 key, MLDSA87-ECDSA-P384 scheme",
            COMPOSITE65,
            SignatureScheme::from(CompositeAlgorithm::MlDsa87EcdsaP384Sha512.default_code_point()),
        ),
        (
            "MLDSA65-ECDSA-P384 key, ML-DSA-65 scheme",
            COMPOSITE65,
            SignatureScheme::ML_DSA_65,
        ),
        (
            "ECDSA-P256 key, ecdsa_secp384r1_sha384",
            KeyAlgorithm::Ecdsa(EcCurve::P256),
            SignatureScheme::ECDSA_NISTP384_SHA384,
        ),
    ];
    for (case, algorithm, claimed) in cases {
        let pki = TestPki::new(algorithm);
        let client = client_leaf(&pki, algorithm);
        let outcome = client_auth(
            &pki,
            pki.chain(client.certificate()),
            liar(client.key(), claimed),
            client_verifier(&pki),
        );
        assert_illegal_parameter_from_server(case, &outcome);
    }
}

/// TLS 1.2 (the compatible preset): an ECDSA client key announcing an RSA-PSS scheme.
#[test]
fn tls12_client_scheme_that_does_not_match_its_key_is_illegal_parameter() {
    let provider = Arc::new(qtls_provider::compatible());
    let algorithm = KeyAlgorithm::Ecdsa(EcCurve::P256);
    let pki = TestPki::new(algorithm);
    let client = client_leaf(&pki, algorithm);
    let chain = pki.chain(client.certificate());
    let honest = client_auth_over(
        &rustls::version::TLS12,
        Arc::clone(&provider),
        &pki,
        chain.clone(),
        liar(client.key(), SignatureScheme::ECDSA_NISTP256_SHA256),
        qtls_verifier::ClientVerifierBuilder::new(pki.roots(), &provider)
            .revocation_policy(qtls_verifier::RevocationPolicy::Off),
    );
    assert!(
        honest.client.is_ok() && honest.server.is_ok(),
        "client {:?}, server {:?}",
        honest.client,
        honest.server
    );
    let outcome = client_auth_over(
        &rustls::version::TLS12,
        Arc::clone(&provider),
        &pki,
        chain,
        liar(client.key(), SignatureScheme::RSA_PSS_SHA256),
        qtls_verifier::ClientVerifierBuilder::new(pki.roots(), &provider)
            .revocation_policy(qtls_verifier::RevocationPolicy::Off),
    );
    assert_illegal_parameter_from_server("TLS 1.2, ECDSA key, RSA-PSS scheme", &outcome);
}

/// Under the post-quantum policy CertificateRequest offers only ML-DSA and composite schemes;
/// a client that signs with ECDSA anyway (its key is ECDSA, its chain is ML-DSA) did not
/// follow the offer.
#[test]
fn client_scheme_not_offered_in_certificate_request_is_illegal_parameter() {
    let pki = TestPki::new(KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65));
    let client = client_leaf(&pki, KeyAlgorithm::Ecdsa(EcCurve::P256));
    let outcome = client_auth(
        &pki,
        pki.chain(client.certificate()),
        liar(client.key(), SignatureScheme::ECDSA_NISTP256_SHA256),
        client_verifier(&pki).require_pq_signatures(true),
    );
    assert_illegal_parameter_from_server("ECDSA under require_pq_signatures", &outcome);
}

/// A scheme outside the verifier's algorithm table was already refused by rustls's own
/// `verify_tls13_signature` (PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme, hence
/// illegal_parameter; this test passed before the verifier checked the offer itself). rustls
/// does not compare the scheme with what CertificateRequest offered before calling the
/// verifier, which is why the post-quantum case above needed our check.
#[test]
fn client_scheme_outside_every_table_is_illegal_parameter_in_rustls() {
    let pki = TestPki::new(COMPOSITE65);
    let client = client_leaf(&pki, COMPOSITE65);
    let outcome = client_auth(
        &pki,
        pki.chain(client.certificate()),
        liar(client.key(), SignatureScheme::ED448),
        client_verifier(&pki),
    );
    assert_illegal_parameter_from_server("ED448", &outcome);
    assert_eq!(
        outcome.server,
        Err(rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme
        ))
    );
}

/// The same rule for the server's CertificateVerify, checked by our server verifier.
#[test]
fn server_scheme_that_does_not_match_its_key_is_illegal_parameter() {
    let pki = TestPki::new(COMPOSITE65);
    let leaf = pki.server_leaf();
    let provider = provider();
    let certified = CertifiedKey::new(
        pki.chain(leaf.certificate()),
        liar(
            leaf.key(),
            SignatureScheme::from(CompositeAlgorithm::MlDsa87EcdsaP384Sha512.default_code_point()),
        ),
    );
    let clock = Arc::new(FixedClock(now()));
    let server_config = ServerConfig::builder_with_details(Arc::clone(&provider), clock.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(Arc::new(certified))));
    let client_config = ClientConfig::builder_with_details(provider, clock)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier(&pki).build().unwrap())
        .with_no_client_auth();
    let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
    let mut client =
        ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap()).unwrap();
    let outcome = drive(&mut client, &mut server);
    assert!(
        matches!(outcome.client, Err(rustls::Error::PeerMisbehaved(_))),
        "client {:?}",
        outcome.client
    );
    assert_eq!(
        outcome.server,
        Err(rustls::Error::AlertReceived(
            AlertDescription::IllegalParameter
        ))
    );
}
