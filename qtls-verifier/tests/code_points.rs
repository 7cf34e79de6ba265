//! Code points travel with the provider: a verifier classifies the composite schemes at the
//! code points its provider was built with, not at the defaults
//! ([draft-reddy-tls-composite-mldsa](https://datatracker.ietf.org/doc/draft-reddy-tls-composite-mldsa/)).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{drive, now, FixedClock, Resolver, TestPki};
use qtls_provider::{CodePoints, CompositeAlgorithm, KeyAlgorithm, ProviderBuilder};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection, SignatureScheme};

/// MLDSA65-ECDSA-P384-SHA512 moved off its default 0x0908.
const CUSTOM: u16 = 0x0a0b;

fn custom_provider() -> Arc<rustls::crypto::CryptoProvider> {
    let code_points = CodePoints {
        mldsa65_ecdsa_p384_sha512: CUSTOM,
        ..CodePoints::DEFAULT
    };
    Arc::new(
        ProviderBuilder::new()
            .code_points(code_points)
            .build()
            .unwrap(),
    )
}

#[test]
fn custom_composite_code_point_counts_as_post_quantum() {
    let provider = custom_provider();
    let pki = TestPki::new(KeyAlgorithm::Composite(
        CompositeAlgorithm::MlDsa65EcdsaP384Sha512,
    ));
    let verifier = qtls_verifier::ServerVerifierBuilder::new(pki.roots(), &provider)
        .revocation_policy(qtls_verifier::RevocationPolicy::Off)
        .require_pq_signatures(true)
        .build()
        .unwrap();
    let schemes = verifier.supported_verify_schemes();
    assert!(
        schemes.contains(&SignatureScheme::from(CUSTOM)),
        "the custom composite scheme is offered under the PQ requirement: {schemes:?}"
    );
    assert!(
        !schemes.contains(&SignatureScheme::from(0x0908)),
        "the default code point is not the provider's: {schemes:?}"
    );

    // A real handshake over the custom code point: the server's CertificateVerify is signed
    // with MLDSA65-ECDSA-P384-SHA512 at 0x0a0b and the PQ-requiring client accepts it.
    let leaf = pki.server_leaf();
    let key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            leaf.key().to_pkcs8_der().unwrap().to_vec(),
        )))
        .unwrap();
    let certified = CertifiedKey::new(pki.chain(leaf.certificate()), key);
    let clock = Arc::new(FixedClock(now()));
    let server_config = ServerConfig::builder_with_details(Arc::clone(&provider), clock.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(Arc::new(certified))));
    let client_config = ClientConfig::builder_with_details(Arc::clone(&provider), clock)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
    let mut client =
        ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap()).unwrap();
    let outcome = drive(&mut client, &mut server);
    outcome.client.unwrap();
    outcome.server.unwrap();
    assert!(!client.is_handshaking() && !server.is_handshaking());
}
