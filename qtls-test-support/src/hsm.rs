//! For the HSM tests and benches: a software CA that issues certificates for token keys
//! (on the real clock, as the tokens' keys are made now), and rustls configurations around
//! them; handshakes go through [`crate::handshake`].

use std::sync::{Arc, OnceLock};

use qtls_hsm::{HsmPublicKey, HsmSigningKey};
use qtls_pki::{CertificateBuilder, CertifiedKeyPair, SubjectPublicKey, Usage};
use qtls_provider::{KeyAlgorithm, KeyPair, Preset};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SigningKey, SingleCertAndKey};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection, SignatureScheme,
};
use time::{Duration, OffsetDateTime};

use crate::handshake::{Recording, Side};
use crate::pki::ca_valid;

/// A root and an intermediate CA (composite, in software), made once per process.
pub struct Ca {
    /// The root certificate.
    pub root: CertificateDer<'static>,
    /// The intermediate that issues the leaves.
    pub intermediate: CertifiedKeyPair,
}

/// The process's CA.
pub fn ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| {
        let root = ca_valid(
            KeyAlgorithm::DEFAULT,
            Usage::RootCa,
            "HSM test root",
            None,
            validity(),
        );
        let intermediate = ca_valid(
            KeyAlgorithm::DEFAULT,
            Usage::IntermediateCa { path_len: Some(0) },
            "HSM test intermediate",
            Some(&root),
            validity(),
        );
        Ca {
            root: root.certificate().to_certificate_der(),
            intermediate,
        }
    })
}

fn validity() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now - Duration::hours(1), now + Duration::days(2))
}

/// Leaf, intermediate: the chain for a key, issued for `localhost` (server) or as a client.
pub fn chain(public: &HsmPublicKey, usage: Usage) -> Vec<CertificateDer<'static>> {
    chain_for(public.algorithm(), public.public_key(), usage)
}

/// [`chain`] for any public key.
pub fn chain_for(
    algorithm: KeyAlgorithm,
    public_key: &[u8],
    usage: Usage,
) -> Vec<CertificateDer<'static>> {
    let (from, until) = validity();
    let subject = SubjectPublicKey::new(algorithm, public_key).unwrap();
    let leaf = CertificateBuilder::new(usage, "localhost")
        .hosts(["localhost"])
        .validity(from, until)
        .signed_by_for_public_key(&subject, &ca().intermediate)
        .unwrap();
    vec![
        leaf.to_certificate_der(),
        ca().intermediate.certificate().to_certificate_der(),
    ]
}

/// `key` with its [`chain`], checked to match.
pub fn certified(key: &HsmSigningKey, usage: Usage) -> Arc<CertifiedKey> {
    let certified = CertifiedKey::new(chain(key.public_key(), usage), Arc::new(key.clone()));
    certified.keys_match().unwrap();
    Arc::new(certified)
}

/// A software key pair of the provider, certified like a token key.
pub fn certified_software(key: KeyPair) -> Arc<CertifiedKey> {
    let chain = chain_for(key.algorithm(), key.public_key(), Usage::ServerLeaf);
    let signing =
        qtls_provider::QtlsSigningKey::new(Arc::new(key), &qtls_provider::CodePoints::DEFAULT);
    Arc::new(CertifiedKey::new(chain, Arc::new(signing)))
}

fn roots() -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(ca().root.clone()).unwrap();
    Arc::new(roots)
}

/// The hybrid provider.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(qtls_provider::hybrid())
}

/// A server presenting `key`'s certificate, asking for a client certificate with `client_auth`.
pub fn server_config(key: &HsmSigningKey, client_auth: bool) -> ServerConfig {
    server_config_for(certified(key, Usage::ServerLeaf), client_auth)
}

/// A server presenting `certified`.
pub fn server_config_for(certified: Arc<CertifiedKey>, client_auth: bool) -> ServerConfig {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(Preset::Hybrid.protocol_versions())
        .unwrap();
    let builder = if client_auth {
        builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots(), provider())
                .build()
                .unwrap(),
        )
    } else {
        builder.with_no_client_auth()
    };
    builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
}

pub use crate::handshake::Seen;

/// A client trusting the CA (presenting `client_key`'s certificate if given), no resumption,
/// and what CertificateVerify schemes it saw.
pub fn client_config(client_key: Option<&HsmSigningKey>) -> (ClientConfig, Seen) {
    let inner = WebPkiServerVerifier::builder_with_provider(roots(), provider())
        .build()
        .unwrap();
    let seen = Seen::default();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(Preset::Hybrid.protocol_versions())
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Recording {
            seen: Arc::clone(&seen),
            ..Recording::new(inner)
        }));
    let mut config = match client_key {
        Some(key) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(
            certified(key, Usage::ClientLeaf),
        ))),
        None => builder.with_no_client_auth(),
    };
    // Every handshake a full one (a signature in the token) unless a test asks otherwise.
    config.resumption = rustls::client::Resumption::disabled();
    (config, seen)
}

pub use crate::handshake::pair;

/// Which side failed a handshake, and how.
#[derive(Debug)]
pub enum Failure {
    /// The client failed first.
    Client(rustls::Error),
    /// The server failed first.
    Server(rustls::Error),
}

/// [`crate::handshake::drive`]: the first side to fail, with its error.
pub fn drive(client: &mut ClientConnection, server: &mut ServerConnection) -> Result<(), Failure> {
    let outcome = crate::handshake::drive(client, server);
    match (outcome.first_failure, outcome.client, outcome.server) {
        (Some(Side::Client), Err(e), _) => Err(Failure::Client(e)),
        (Some(Side::Server), _, Err(e)) => Err(Failure::Server(e)),
        _ => Ok(()),
    }
}

/// One full exchange: handshake, then application data both ways.
pub fn handshake(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
) -> Result<(ClientConnection, ServerConnection), Failure> {
    use std::io::{Read, Write};
    let (mut c, mut s) = pair(client, server);
    drive(&mut c, &mut s)?;
    assert!(!c.is_handshaking() && !s.is_handshaking());
    c.writer().write_all(b"ping").unwrap();
    drive(&mut c, &mut s)?;
    let mut got = [0u8; 4];
    s.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    Ok((c, s))
}

/// The scheme a key signs with, as the server would choose it.
pub fn scheme_of(key: &HsmSigningKey) -> SignatureScheme {
    key.choose_scheme(&[key.scheme()]).unwrap().scheme()
}
