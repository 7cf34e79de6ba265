//! In-process TLS 1.3 handshakes: every Q-TLS group × every signature scheme, on each
//! backend and across backends; and malformed key shares answered with illegal_parameter.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use qtls_provider::{
    Backend, CompositeAlgorithm, EcCurve, KeyAlgorithm, MlDsaLevel, Preset, ProviderBuilder,
};
use qtls_test_support::handshake::{self, drive_until_failure as drive};
use qtls_test_support::pki::{server_identity as pki, ServerIdentity as TestPki};
use rustls::crypto::{ActiveKeyExchange, CryptoProvider, SupportedKxGroup};
use rustls::{
    AlertDescription, ClientConfig, ClientConnection, NamedGroup, ServerConfig, ServerConnection,
};

const GROUPS: [&str; 5] = [
    "SecP384r1MLKEM1024",
    "X25519MLKEM1024",
    "X25519MLKEM768",
    "SecP256r1MLKEM768",
    "MLKEM1024",
];

const ALGORITHMS: [KeyAlgorithm; 7] = [
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa87EcdsaP384Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa44EcdsaP256Sha256),
    KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa44),
    KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
    KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa87),
    KeyAlgorithm::Ecdsa(EcCurve::P384),
];

fn provider(backend: Backend, groups: Vec<&'static dyn SupportedKxGroup>) -> Arc<CryptoProvider> {
    Arc::new(
        ProviderBuilder::new()
            .preset(Preset::Hybrid)
            .backend(backend)
            .kx_groups(groups)
            .build()
            .unwrap(),
    )
}

fn server_config(pki: &TestPki, provider: Arc<CryptoProvider>) -> Arc<ServerConfig> {
    Arc::new(handshake::server_config(pki, provider))
}

fn client_config(pki: &TestPki, provider: Arc<CryptoProvider>) -> Arc<ClientConfig> {
    Arc::new(handshake::client_config(pki, provider))
}

fn backend_pairs() -> Vec<(Backend, Backend)> {
    let available = Backend::available();
    available
        .iter()
        .flat_map(|c| available.iter().map(move |s| (*c, *s)))
        .collect()
}

#[test]
fn every_group_and_scheme_handshakes_on_and_across_backends() {
    for algorithm in ALGORITHMS {
        let pki = pki(algorithm);
        for group_name in GROUPS {
            for (client_backend, server_backend) in backend_pairs() {
                let client_group =
                    qtls_provider::group_by_name(group_name, client_backend).unwrap();
                let server_group =
                    qtls_provider::group_by_name(group_name, server_backend).unwrap();
                let server_config =
                    server_config(&pki, provider(server_backend, vec![server_group]));
                let client_config =
                    client_config(&pki, provider(client_backend, vec![client_group]));
                let mut server = ServerConnection::new(server_config).unwrap();
                let mut client =
                    ClientConnection::new(client_config, "localhost".try_into().unwrap()).unwrap();
                let what = format!("{algorithm} with {group_name}, client {client_backend}, server {server_backend}");
                drive(&mut client, &mut server).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(
                    !client.is_handshaking() && !server.is_handshaking(),
                    "{what}"
                );
                assert_eq!(
                    client.negotiated_key_exchange_group().unwrap().name(),
                    server_group.name(),
                    "{what}"
                );
                assert_eq!(
                    client.negotiated_cipher_suite().unwrap().suite(),
                    rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
                );
                // Application data flows both ways under the negotiated keys.
                use std::io::{Read, Write};
                client.writer().write_all(b"ping").unwrap();
                drive(&mut client, &mut server).unwrap();
                let mut got = [0u8; 4];
                server.reader().read_exact(&mut got).unwrap();
                assert_eq!(&got, b"ping", "{what}");
            }
        }
    }
}

/// A client-side group that sends a fixed (malformed) key share under a real group's name.
#[derive(Debug)]
struct BadShare {
    name: NamedGroup,
    share: Vec<u8>,
}

struct ActiveBadShare(NamedGroup, Vec<u8>);

impl SupportedKxGroup for BadShare {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        Ok(Box::new(ActiveBadShare(self.name, self.share.clone())))
    }

    fn name(&self) -> NamedGroup {
        self.name
    }
}

impl ActiveKeyExchange for ActiveBadShare {
    fn complete(
        self: Box<Self>,
        _peer: &[u8],
    ) -> Result<rustls::crypto::SharedSecret, rustls::Error> {
        Err(rustls::Error::General("never completes".into()))
    }

    fn pub_key(&self) -> &[u8] {
        &self.1
    }

    fn group(&self) -> NamedGroup {
        self.0
    }
}

fn valid_share(group: &'static dyn SupportedKxGroup) -> Vec<u8> {
    group.start().unwrap().pub_key().to_vec()
}

#[test]
fn malformed_client_key_shares_get_illegal_parameter() {
    let pki = pki(KeyAlgorithm::Ecdsa(EcCurve::P384));
    for backend in Backend::available() {
        for group_name in GROUPS {
            let group = qtls_provider::group_by_name(group_name, *backend).unwrap();
            let good = valid_share(group);
            // (rustls itself refuses to encode an empty share, so none is sent.)
            let mut cases: Vec<(&str, Vec<u8>)> = vec![
                ("one byte", vec![0x04]),
                ("one byte short", good[..good.len() - 1].to_vec()),
                ("one byte long", [good.as_slice(), &[0]].concat()),
            ];
            // ML-KEM encapsulation key with a coefficient ≥ q (FIPS 203 §7.2).
            let ek_offset = match group_name {
                "SecP384r1MLKEM1024" => 97,
                "SecP256r1MLKEM768" => 65,
                _ => 0,
            };
            let mut bad_ek = good.clone();
            bad_ek[ek_offset..ek_offset + 3].copy_from_slice(&[0xff, 0xff, 0xff]);
            cases.push(("invalid encapsulation key", bad_ek));
            if ek_offset > 0 {
                // A point not on the curve: flip the last coordinate byte.
                let mut bad_point = good.clone();
                bad_point[ek_offset - 1] ^= 0x01;
                cases.push(("point not on the curve", bad_point));
                let mut compressed = good.clone();
                compressed[0] = 0x02;
                cases.push(("not an uncompressed point", compressed));
            }
            for (case, share) in cases {
                let bad: &'static BadShare = Box::leak(Box::new(BadShare {
                    name: group.name(),
                    share,
                }));
                let server = server_config(&pki, provider(*backend, vec![group]));
                let client = client_config(&pki, provider(*backend, vec![bad]));
                let mut server = ServerConnection::new(server).unwrap();
                let mut client =
                    ClientConnection::new(client, "localhost".try_into().unwrap()).unwrap();
                let error = drive(&mut client, &mut server).unwrap_err();
                let what = format!("{group_name} on {backend}: {case}");
                assert_eq!(
                    error,
                    rustls::Error::PeerMisbehaved(rustls::PeerMisbehaved::InvalidKeyShare),
                    "{what}"
                );
                // The alert the server queued reaches the client as illegal_parameter.
                let mut alert = Vec::new();
                while server.wants_write() {
                    server.write_tls(&mut alert).unwrap();
                }
                client.read_tls(&mut alert.as_slice()).unwrap();
                assert_eq!(
                    client.process_new_packets().unwrap_err(),
                    rustls::Error::AlertReceived(AlertDescription::IllegalParameter),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn malformed_server_key_shares_are_refused_by_the_client() {
    for backend in Backend::available() {
        for group_name in GROUPS {
            let group = qtls_provider::group_by_name(group_name, *backend).unwrap();
            let client_share = valid_share(group);
            let server = group.start_and_complete(&client_share).unwrap();
            for (case, share) in [
                ("empty", Vec::new()),
                ("short", server.pub_key[..server.pub_key.len() - 1].to_vec()),
                ("long", [server.pub_key.as_slice(), &[0]].concat()),
            ] {
                let active = group.start().unwrap();
                assert_eq!(
                    active.complete(&share).err(),
                    Some(rustls::Error::PeerMisbehaved(
                        rustls::PeerMisbehaved::InvalidKeyShare
                    )),
                    "{group_name} on {backend}: {case}"
                );
            }
        }
    }
}

/// A client offering a hybrid group and its classical half sends both shares from one
/// ephemeral key, so a classical-only server answers without a HelloRetryRequest.
#[test]
fn classical_component_is_offered_beside_the_hybrid_share() {
    let pki = pki(KeyAlgorithm::Ecdsa(EcCurve::P384));
    for backend in Backend::available() {
        for (hybrid, classical) in [
            ("SecP384r1MLKEM1024", "secp384r1"),
            ("X25519MLKEM1024", "X25519"),
        ] {
            let hybrid = qtls_provider::group_by_name(hybrid, *backend).unwrap();
            let classical = qtls_provider::group_by_name(classical, *backend).unwrap();
            let server = server_config(&pki, provider(*backend, vec![classical]));
            let client = client_config(&pki, provider(*backend, vec![hybrid, classical]));
            let mut server = ServerConnection::new(server).unwrap();
            let mut client =
                ClientConnection::new(client, "localhost".try_into().unwrap()).unwrap();
            drive(&mut client, &mut server).unwrap();
            assert_eq!(
                client.negotiated_key_exchange_group().unwrap().name(),
                classical.name()
            );
            assert_eq!(client.handshake_kind(), Some(rustls::HandshakeKind::Full));
        }
    }
}
