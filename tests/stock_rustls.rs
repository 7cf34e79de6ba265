//! Q-TLS's provider puts on the wire what stock rustls (`rustls::crypto::aws_lc_rs::
//! default_provider()`) puts there on the same configuration (TLS 1.3,
//! TLS13_AES_256_GCM_SHA384, X25519MLKEM768, one ML-DSA-65 chain): the same length in every
//! flight, but for the composite schemes a Q-TLS client also offers in its ClientHello
//! (`benches/stock_rustls.rs` compares their speed, `benches/connection_heap.rs` their memory).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use qtls_provider::{KeyAlgorithm, MlDsaLevel};
use qtls_test_support::handshake as inproc;
use qtls_test_support::pki::{server_identity, ServerIdentity};
use qtls_test_support::stock::{qtls_provider, stock_provider, GROUP};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ServerConfig};

/// Who sent a flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Client,
    Server,
}

/// The bytes of each flight of a full handshake, in order, until neither side has more to
/// send (the server's tickets included, as rustls's defaults send two).
fn flights(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) -> Vec<(Sender, usize)> {
    let (mut client, mut server) = inproc::pair(client, server);
    let mut flights = Vec::new();
    for _ in 0..8 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            flights.push((Sender::Client, buf.len()));
            let mut pending = buf.as_slice();
            while !pending.is_empty() {
                server.read_tls(&mut pending).unwrap();
                server.process_new_packets().unwrap();
            }
        }
        let client_sent = !buf.is_empty();
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            flights.push((Sender::Server, buf.len()));
            let mut pending = buf.as_slice();
            while !pending.is_empty() {
                client.read_tls(&mut pending).unwrap();
                client.process_new_packets().unwrap();
            }
        }
        if !client_sent && buf.is_empty() {
            break;
        }
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    assert_eq!(
        client
            .negotiated_key_exchange_group()
            .unwrap()
            .name()
            .as_str(),
        Some(GROUP)
    );
    assert_eq!(
        format!("{:?}", server.negotiated_cipher_suite().unwrap().suite()),
        "TLS13_AES_256_GCM_SHA384"
    );
    flights
}

fn configs(
    identity: &ServerIdentity,
    client: Arc<CryptoProvider>,
    server: Arc<CryptoProvider>,
) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    (
        Arc::new(inproc::client_config(identity, client)),
        Arc::new(inproc::server_config(identity, server)),
    )
}

#[test]
fn every_flight_has_the_same_length_with_either_provider() {
    let identity = server_identity(KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65));
    let (stock, qtls) = (stock_provider(), qtls_provider());
    let run = |client: &Arc<CryptoProvider>, server: &Arc<CryptoProvider>| {
        let (c, s) = configs(&identity, Arc::clone(client), Arc::clone(server));
        flights(&c, &s)
    };
    let stock_both = run(&stock, &stock);
    // ClientHello, ServerHello..Finished, client Finished, two tickets.
    assert_eq!(
        stock_both.iter().map(|(from, _)| *from).collect::<Vec<_>>(),
        [
            Sender::Client,
            Sender::Server,
            Sender::Client,
            Sender::Server
        ],
        "{stock_both:?}"
    );
    // The one difference Q-TLS's client makes: its signature_algorithms extension also
    // offers the composite schemes it can verify, two bytes each (RFC 8446 §4.2.3).
    let schemes = |p: &Arc<CryptoProvider>| p.signature_verification_algorithms.supported_schemes();
    let extra: Vec<_> = schemes(&qtls)
        .into_iter()
        .filter(|s| !schemes(&stock).contains(s))
        .collect();
    assert!(schemes(&stock).iter().all(|s| schemes(&qtls).contains(s)));
    // The composites a TLS 1.3 CertificateVerify may use (all but the three
    // RSASSA-PKCS1-v1_5 ones), at their default code points, in the provider's order.
    let composites: Vec<u16> = qtls_provider::CompositeAlgorithm::ALL
        .into_iter()
        .filter(|alg| alg.tls_certificate_verify())
        .map(|alg| alg.default_code_point())
        .collect();
    assert_eq!(composites.len(), 15);
    assert_eq!(
        extra.iter().map(|s| u16::from(*s)).collect::<Vec<_>>(),
        composites,
        "{extra:?}"
    );
    let mut qtls_client = stock_both.clone();
    qtls_client[0].1 += 2 * extra.len();
    // Q-TLS at both ends, and each end swapped alone: every server flight and every later
    // client flight has the same length as stock rustls's.
    for (name, client, server, expected) in [
        ("Q-TLS client and server", &qtls, &qtls, &qtls_client),
        ("Q-TLS server, stock client", &stock, &qtls, &stock_both),
        ("Q-TLS client, stock server", &qtls, &stock, &qtls_client),
    ] {
        assert_eq!(&run(client, server), expected, "{name}");
    }
}
