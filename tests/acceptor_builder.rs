//! `QtlsAcceptor::builder` on a plain rustls `ServerConfig`, as a rustls user would adopt it:
//! the config's own resolver serves, the gate refuses classical-only clients unless the policy
//! says `Any`, and out-of-range settings are refused by `build()`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use qtls::{AcceptError, Error, KeyExchangePolicy, QtlsAcceptor};
use qtls_pki::{Pki, PkiOptions, Profile};
use rustls::pki_types::ServerName;
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};

/// A rustls server config made the way the README's rustls snippet makes it, and a client
/// config trusting it, on the given providers.
fn configs(
    server_provider: rustls::crypto::CryptoProvider,
    client_provider: rustls::crypto::CryptoProvider,
) -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let mut options = PkiOptions::new(OffsetDateTime::now_utc() - time::Duration::hours(1));
    options.profile = Profile::MlDsa65;
    options.hosts = vec!["localhost".into()];
    let pki = Pki::generate(&options).unwrap();
    let key = pki.server().key().to_pkcs8_der().unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(key.to_vec());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(server_provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.server_chain(), key.into())
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki.root().certificate().to_certificate_der())
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(client_provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// One handshake through `acceptor`; the client's and the acceptor's outcomes.
async fn handshake(
    acceptor: QtlsAcceptor,
    client: Arc<rustls::ClientConfig>,
) -> (
    Result<(), std::io::Error>,
    Result<qtls::ConnectionContext, AcceptError>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.map(|(_, context)| context)
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(client);
    let name = ServerName::try_from("localhost").unwrap();
    let client_result = connector.connect(name, tcp).await.map(|_| ());
    (client_result, server.await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_rustls_config_is_served_behind_the_gate() {
    let (server, client) = configs(qtls_provider::hybrid(), qtls_provider::hybrid());
    let acceptor = QtlsAcceptor::builder(server).build().unwrap();
    let (client_result, accepted) = handshake(acceptor, client).await;
    client_result.unwrap();
    let context = accepted.unwrap();
    assert_eq!(context.info.group.as_deref(), Some("SecP384r1MLKEM1024"));
    // No certificate set: rustls's resolver chose, and the acceptor does not guess.
    assert_eq!(context.info.signature_scheme, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_policy_refuses_classical_only_clients_and_any_admits_them() {
    // A client offering classical groups only (a stock rustls client offers X25519MLKEM768
    // too, which passes the gate). Its provider verifies the server's ML-DSA chain too.
    let mut classical_provider = qtls_provider::compatible();
    classical_provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
    let (server, classical) = configs(qtls_provider::compatible(), classical_provider);

    let refusing = QtlsAcceptor::builder(Arc::clone(&server)).build().unwrap();
    let (client_result, accepted) = handshake(refusing, Arc::clone(&classical)).await;
    assert!(client_result
        .unwrap_err()
        .to_string()
        .contains("InsufficientSecurity"));
    assert!(matches!(accepted, Err(AcceptError::Refused(_))));

    let admitting = QtlsAcceptor::builder(server)
        .key_exchange_policy(KeyExchangePolicy::Any)
        .build()
        .unwrap();
    let (client_result, accepted) = handshake(admitting, classical).await;
    client_result.unwrap();
    assert_eq!(accepted.unwrap().info.group.as_deref(), Some("X25519"));
}

#[test]
fn out_of_range_settings_are_refused_by_build() {
    let (server, _) = configs(qtls_provider::hybrid(), qtls_provider::hybrid());
    let refused = |builder: qtls::AcceptorBuilder| -> String {
        let error: Error = builder.build().unwrap_err();
        error.to_string()
    };
    for (builder, setting) in [
        (
            QtlsAcceptor::builder(Arc::clone(&server)).handshake_timeout(Duration::ZERO),
            "handshake_timeout",
        ),
        (
            QtlsAcceptor::builder(Arc::clone(&server)).max_offloaded_handshakes(0),
            "max_offloaded_handshakes",
        ),
        (
            QtlsAcceptor::builder(Arc::clone(&server)).early_data_window(Duration::from_secs(61)),
            "early_data_window",
        ),
        (
            QtlsAcceptor::builder(Arc::clone(&server)).tls12(true),
            "tls12",
        ),
    ] {
        let message = refused(builder);
        assert!(message.contains(setting), "{setting}: {message}");
    }
    // The bounds themselves are allowed.
    QtlsAcceptor::builder(server)
        .early_data_window(Duration::from_secs(60))
        .max_offloaded_handshakes(1)
        .key_exchange_policy(KeyExchangePolicy::Any)
        .tls12(true)
        .build()
        .unwrap();
}
