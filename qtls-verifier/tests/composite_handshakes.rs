//! In-process TLS 1.3 handshakes with client authentication for every composite that may
//! sign CertificateVerify (15 of draft-ietf-lamps-pq-composite-sigs-19's 18) × every pair of
//! backends, through Q-TLS's own server and client verifiers. The three RSASSA-PKCS1-v1_5
//! composites sign certificates only ([draft-reddy-tls-composite-mldsa-10 §3](https://datatracker.ietf.org/doc/html/draft-reddy-tls-composite-mldsa-10#section-3)):
//! chains they sign verify, a CertificateVerify with one is an illegal_parameter, and a key
//! of theirs never signs one.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use qtls_pki::{CertifiedKeyPair, Usage};
use qtls_provider::{
    Backend, CodePoints, CompositeAlgorithm, KeyAlgorithm, KeyPair, Preset, ProviderBuilder,
};
use qtls_test_support::handshake::Recording;
use qtls_verifier::{ClientVerifierBuilder, RevocationPolicy, ServerVerifierBuilder};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{
    AlertDescription, ClientConfig, ClientConnection, ServerConfig, ServerConnection,
    SignatureAlgorithm, SignatureScheme,
};

fn provider_on(backend: Backend) -> Arc<CryptoProvider> {
    Arc::new(
        ProviderBuilder::new()
            .preset(Preset::Hybrid)
            .backend(backend)
            .build()
            .unwrap(),
    )
}

fn backend_pairs() -> Vec<(Backend, Backend)> {
    let available = Backend::available();
    available
        .iter()
        .flat_map(|c| available.iter().map(move |s| (*c, *s)))
        .collect()
}

/// `key` as `provider` loads it (its backend signs).
fn load(provider: &CryptoProvider, key: &KeyPair) -> Arc<dyn SigningKey> {
    provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            key.to_pkcs8_der().unwrap().to_vec(),
        )))
        .unwrap()
}

/// A leaf of `usage` for a new key of `algorithm`, issued by `pki`'s intermediate.
fn leaf(pki: &TestPki, usage: Usage, name: &str, algorithm: KeyAlgorithm) -> CertifiedKeyPair {
    let key = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
    let cert = pki
        .leaf_builder(usage, name)
        .signed_by(&key, &pki.intermediate)
        .unwrap();
    CertifiedKeyPair::new(cert, key).unwrap()
}

/// Both sides' keys as their providers sign with them, by default.
struct Keys {
    server: Arc<dyn SigningKey>,
    client: Arc<dyn SigningKey>,
}

/// A mutually authenticated handshake: the server on `server_provider` presents
/// `server_chain`, the client on `client_provider` presents `client_chain`; both trust `pki`.
/// Returns the outcome and the CertificateVerify schemes the client saw.
fn mutual(
    pki: &TestPki,
    (client_provider, server_provider): (Arc<CryptoProvider>, Arc<CryptoProvider>),
    (server_chain, client_chain): (Vec<CertificateDer<'static>>, Vec<CertificateDer<'static>>),
    keys: Keys,
) -> (Outcome, Vec<SignatureScheme>) {
    let clock = Arc::new(FixedClock(now()));
    let client_verifier = ClientVerifierBuilder::new(pki.roots(), &server_provider)
        .revocation_policy(RevocationPolicy::Off)
        .build()
        .unwrap();
    let server_config =
        ServerConfig::builder_with_details(Arc::clone(&server_provider), clock.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_client_cert_verifier(client_verifier)
            .with_cert_resolver(Arc::new(Resolver(Arc::new(CertifiedKey::new(
                server_chain,
                keys.server,
            )))));
    let server_verifier = ServerVerifierBuilder::new(pki.roots(), &client_provider)
        .revocation_policy(RevocationPolicy::Off)
        .build()
        .unwrap();
    let recording = Arc::new(Recording::new(server_verifier));
    let client_config = ClientConfig::builder_with_details(client_provider, clock)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(recording.clone())
        .with_client_cert_resolver(Arc::new(ClientCert(Arc::new(CertifiedKey::new(
            client_chain,
            keys.client,
        )))));
    let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
    let mut client =
        ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap()).unwrap();
    let outcome = drive(&mut client, &mut server);
    let seen = recording.seen.lock().unwrap().clone();
    (outcome, seen)
}

#[test]
fn every_tls_composite_authenticates_both_sides_on_and_across_backends() {
    let tls_composites: Vec<_> = CompositeAlgorithm::ALL
        .into_iter()
        .filter(|alg| alg.tls_certificate_verify())
        .collect();
    assert_eq!(tls_composites.len(), 15);
    for algorithm in tls_composites {
        let key_algorithm = KeyAlgorithm::Composite(algorithm);
        let pki = TestPki::new(key_algorithm);
        let server = pki.server_leaf();
        let client = leaf(&pki, Usage::ClientLeaf, "client", key_algorithm);
        let scheme = SignatureScheme::from(CodePoints::DEFAULT.composite(algorithm));
        for (client_backend, server_backend) in backend_pairs() {
            let providers = (provider_on(client_backend), provider_on(server_backend));
            let keys = Keys {
                server: load(&providers.1, server.key()),
                client: load(&providers.0, client.key()),
            };
            let chains = (
                pki.chain(server.certificate()),
                pki.chain(client.certificate()),
            );
            let (outcome, seen) = mutual(&pki, providers, chains, keys);
            let what = format!(
                "{} client {client_backend}, server {server_backend}",
                algorithm.name()
            );
            assert!(outcome.is_ok(), "{what}: {outcome:?}");
            assert_eq!(seen, [scheme], "{what}");
        }
    }
}

#[test]
fn chains_signed_with_pkcs1_v15_composites_verify_under_pss_leaves() {
    // The PKCS#1 v1.5 composite's CAs, the same-size PSS composite's leaves (qtls pki does
    // this for a PKCS#1 v1.5 profile).
    for (ca_algorithm, leaf_algorithm) in [
        (
            CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256,
            CompositeAlgorithm::MlDsa44Rsa2048PssSha256,
        ),
        (
            CompositeAlgorithm::MlDsa65Rsa3072Pkcs15Sha512,
            CompositeAlgorithm::MlDsa65Rsa3072PssSha512,
        ),
        (
            CompositeAlgorithm::MlDsa65Rsa4096Pkcs15Sha512,
            CompositeAlgorithm::MlDsa65Rsa4096PssSha512,
        ),
    ] {
        assert!(!ca_algorithm.tls_certificate_verify());
        let pki = TestPki::new(KeyAlgorithm::Composite(ca_algorithm));
        let leaf_algorithm = KeyAlgorithm::Composite(leaf_algorithm);
        let server = leaf(&pki, Usage::ServerLeaf, "localhost", leaf_algorithm);
        let client = leaf(&pki, Usage::ClientLeaf, "client", leaf_algorithm);
        for (client_backend, server_backend) in backend_pairs() {
            let providers = (provider_on(client_backend), provider_on(server_backend));
            let keys = Keys {
                server: load(&providers.1, server.key()),
                client: load(&providers.0, client.key()),
            };
            let chains = (
                pki.chain(server.certificate()),
                pki.chain(client.certificate()),
            );
            let (outcome, _) = mutual(&pki, providers, chains, keys);
            assert!(
                outcome.is_ok(),
                "{} CA, client {client_backend}, server {server_backend}: {outcome:?}",
                ca_algorithm.name()
            );
        }
    }
}

/// Signs with the composite itself and names its code point: what a peer that ignores the
/// draft would send.
#[derive(Debug)]
struct Pkcs15Signer {
    key: Arc<KeyPair>,
    scheme: SignatureScheme,
}

impl SigningKey for Pkcs15Signer {
    fn choose_scheme(&self, _offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        Some(Box::new(Pkcs15Signature {
            key: Arc::clone(&self.key),
            scheme: self.scheme,
        }))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::Unknown(0)
    }
}

#[derive(Debug)]
struct Pkcs15Signature {
    key: Arc<KeyPair>,
    scheme: SignatureScheme,
}

impl Signer for Pkcs15Signature {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        Ok(self.key.sign(message)?)
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

#[test]
fn a_pkcs1_v15_composite_in_certificate_verify_is_illegal_parameter() {
    let algorithm = CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256;
    let key_algorithm = KeyAlgorithm::Composite(algorithm);
    let pki = TestPki::new(key_algorithm);
    let server = pki.server_leaf();
    let client = leaf(&pki, Usage::ClientLeaf, "client", key_algorithm);
    let scheme = SignatureScheme::from(CodePoints::DEFAULT.composite(algorithm));
    let honest_pss = leaf(
        &pki,
        Usage::ClientLeaf,
        "client",
        KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa44Rsa2048PssSha256),
    );
    let rogue = |key: &KeyPair| -> Arc<dyn SigningKey> {
        let copy = KeyPair::from_pkcs8_der(&key.to_pkcs8_der().unwrap(), Backend::AwsLc);
        Arc::new(Pkcs15Signer {
            key: Arc::new(copy.unwrap()),
            scheme,
        })
    };
    // Even offered its code point, Q-TLS's signing key for such a composite does not sign.
    let own = qtls_provider::QtlsSigningKey::new(
        Arc::new(
            KeyPair::from_pkcs8_der(&server.key().to_pkcs8_der().unwrap(), Backend::AwsLc).unwrap(),
        ),
        &CodePoints::DEFAULT,
    );
    assert_eq!(own.scheme(), scheme);
    assert!(own.choose_scheme(&[scheme]).is_none());
    for &backend in Backend::available() {
        let providers = || (provider_on(backend), provider_on(backend));
        // The server signs its CertificateVerify with the PKCS#1 v1.5 composite: the client
        // never offered the scheme and refuses it.
        let (outcome, _) = mutual(
            &pki,
            providers(),
            (
                pki.chain(server.certificate()),
                pki.chain(honest_pss.certificate()),
            ),
            Keys {
                server: rogue(server.key()),
                client: load(&providers().0, honest_pss.key()),
            },
        );
        assert!(
            matches!(outcome.client, Err(rustls::Error::PeerMisbehaved(_))),
            "{backend}: client {:?}",
            outcome.client
        );
        assert_eq!(
            outcome.server,
            Err(rustls::Error::AlertReceived(
                AlertDescription::IllegalParameter
            ))
        );
        // The client does: the server refuses it the same way.
        let pss_server = leaf(
            &pki,
            Usage::ServerLeaf,
            "localhost",
            KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa44Rsa2048PssSha256),
        );
        let (outcome, _) = mutual(
            &pki,
            providers(),
            (
                pki.chain(pss_server.certificate()),
                pki.chain(client.certificate()),
            ),
            Keys {
                server: load(&providers().1, pss_server.key()),
                client: rogue(client.key()),
            },
        );
        assert!(
            matches!(outcome.server, Err(rustls::Error::PeerMisbehaved(_))),
            "{backend}: server {:?}",
            outcome.server
        );
        assert_eq!(
            outcome.client,
            Err(rustls::Error::AlertReceived(
                AlertDescription::IllegalParameter
            ))
        );
        // Q-TLS's own signing key for a PKCS#1 v1.5 composite never signs: no scheme in common.
        let (outcome, _) = mutual(
            &pki,
            providers(),
            (
                pki.chain(server.certificate()),
                pki.chain(honest_pss.certificate()),
            ),
            Keys {
                server: load(&providers().1, server.key()),
                client: load(&providers().0, honest_pss.key()),
            },
        );
        assert!(
            matches!(
                outcome.server,
                Err(rustls::Error::PeerIncompatible(
                    rustls::PeerIncompatible::NoSignatureSchemesInCommon
                ))
            ),
            "{backend}: server {:?}",
            outcome.server
        );
    }
}
