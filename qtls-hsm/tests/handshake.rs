//! In-process TLS 1.3 handshakes whose private keys are in real tokens: server keys in
//! Kryoptic (ECDSA-P384, ML-DSA-65, and the composites MLDSA65-ECDSA-P384, the design's
//! MLDSA65-RSA4096-PSS and MLDSA44-Ed25519) and SoftHSM2 (ECDSA-P384), client keys in tokens
//! for mTLS (MLDSA87-Ed448 among them), 32 handshakes at once through one session pool, and
//! session tickets encrypted by a key in the token. Every CertificateVerify signed in a token
//! is checked by the provider's software verifier on the other side.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::hsm as tls;
use qtls_test_support::tokens;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use qtls_hsm::{Hsm, HsmSigningKey, HsmTicketer, KeyRef, TokenAdmin};
use qtls_provider::{CodePoints, CompositeAlgorithm, EcCurve, KeyAlgorithm, MlDsaLevel};
use rustls::client::ClientSessionMemoryCache;
use rustls::server::ProducesTickets;
use rustls::HandshakeKind;

/// A key of `algorithm` generated in the token `label` of `module`, behind a pool of
/// `sessions` sessions.
fn token_key(
    module: &Path,
    label: &str,
    algorithm: KeyAlgorithm,
    sessions: usize,
) -> HsmSigningKey {
    let config = tokens::config(module, label)
        .sessions(sessions)
        .build()
        .unwrap();
    let name = tokens::unique("tls");
    TokenAdmin::open(&config)
        .unwrap()
        .generate(&name, algorithm)
        .unwrap();
    Hsm::builder()
        .primary(config)
        .build()
        .unwrap()
        .signing_key(&KeyRef::label(&name), &CodePoints::DEFAULT)
        .unwrap()
}

fn server_keys() -> Vec<(String, HsmSigningKey)> {
    let mut keys = Vec::new();
    if let Some(kryoptic) = tokens::kryoptic() {
        for algorithm in [
            KeyAlgorithm::Ecdsa(EcCurve::P384),
            KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
            KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
            // The design's RSA-4096 + ML-DSA-65 (private-use code point 0xFF2B) and an
            // Ed25519 half (0xFF27).
            KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65Rsa4096PssSha512),
            KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa44Ed25519Sha512),
        ] {
            keys.push((
                format!("Kryoptic {algorithm}"),
                token_key(&kryoptic, tokens::PRIMARY, algorithm, 2),
            ));
        }
    }
    if let Some(softhsm) = tokens::softhsm() {
        keys.push((
            "SoftHSM2 ECDSA-P384".into(),
            token_key(
                &softhsm,
                tokens::SOFTHSM,
                KeyAlgorithm::Ecdsa(EcCurve::P384),
                2,
            ),
        ));
    }
    keys
}

#[test]
fn server_keys_in_each_token_complete_handshakes() {
    for (name, key) in server_keys() {
        let server = Arc::new(tls::server_config(&key, false));
        let (client, seen) = tls::client_config(None);
        let (client_conn, _) =
            tls::handshake(&Arc::new(client), &server).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(*seen.lock().unwrap(), vec![key.scheme()], "{name}");
        assert_eq!(
            client_conn.negotiated_key_exchange_group().unwrap().name(),
            rustls::NamedGroup::from(qtls_provider::SECP384R1MLKEM1024_CODE_POINT),
            "{name}"
        );
    }
}

/// An RSASSA-PKCS1-v1_5 composite is for X.509 only (draft-reddy-tls-composite-mldsa-10 §3):
/// the token key chooses no scheme even when offered its own code point (the assertion on
/// `choose_scheme`), and a server with it fails the handshake (the Hybrid client does not
/// offer that code point either).
#[test]
fn a_pkcs1_v1_5_composite_in_a_token_signs_no_certificate_verify() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let alg = CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256;
    let key = token_key(&kryoptic, tokens::PRIMARY, KeyAlgorithm::Composite(alg), 1);
    assert!(rustls::sign::SigningKey::choose_scheme(&key, &[key.scheme()]).is_none());
    let server = Arc::new(tls::server_config(&key, false));
    let (client, seen) = tls::client_config(None);
    assert!(tls::handshake(&Arc::new(client), &server).is_err());
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn mutual_tls_with_both_keys_in_tokens() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let server_key = token_key(
        &kryoptic,
        tokens::PRIMARY,
        KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
        2,
    );
    let mut client_keys = vec![
        token_key(
            &kryoptic,
            tokens::SPARE,
            KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
            1,
        ),
        token_key(
            &kryoptic,
            tokens::SPARE,
            KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa87Ed448Shake256),
            1,
        ),
    ];
    if let Some(softhsm) = tokens::softhsm() {
        client_keys.push(token_key(
            &softhsm,
            tokens::SOFTHSM_SPARE,
            KeyAlgorithm::Ecdsa(EcCurve::P384),
            1,
        ));
    }
    let server = Arc::new(tls::server_config(&server_key, true));
    for client_key in client_keys {
        let (client, _) = tls::client_config(Some(&client_key));
        let (_, server_conn) = tls::handshake(&Arc::new(client), &server)
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", client_key.public_key().algorithm()));
        let presented = server_conn.peer_certificates().unwrap();
        // The leaf the server saw carries the token key's public key.
        let leaf = qtls_pki::Certificate::from_der(presented[0].to_vec()).unwrap();
        assert_eq!(leaf.public_key(), client_key.public_key().public_key());
    }
    // Without a client certificate the server refuses.
    let (client, _) = tls::client_config(None);
    assert!(tls::handshake(&Arc::new(client), &server).is_err());
}

#[test]
fn thirty_two_concurrent_handshakes_sign_through_one_pool() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let key = token_key(
        &kryoptic,
        tokens::PRIMARY,
        KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
        4,
    );
    let server = Arc::new(tls::server_config(&key, false));
    let (client, seen) = tls::client_config(None);
    let client = Arc::new(client);
    let barrier = Arc::new(std::sync::Barrier::new(32));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (client, server, barrier) = (
                Arc::clone(&client),
                Arc::clone(&server),
                Arc::clone(&barrier),
            );
            std::thread::spawn(move || {
                barrier.wait();
                tls::handshake(&client, &server).map(|_| ())
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 32);
    assert!(seen.iter().all(|s| u16::from(*s) == 0x0908));
}

/// The HSM ticketer, with a switch that flips a ticket byte on its way in (a ticket tampered
/// with on the wire).
#[derive(Debug)]
struct Tampering {
    inner: Arc<HsmTicketer>,
    tamper: AtomicBool,
}

impl ProducesTickets for Tampering {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.inner.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.inner.encrypt(plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let mut cipher = cipher.to_vec();
        if self.tamper.load(Ordering::SeqCst) {
            let last = cipher.len() - 1;
            cipher[last] ^= 1;
        }
        self.inner.decrypt(&cipher)
    }
}

#[test]
fn tickets_resume_across_a_rotation_and_bad_tickets_mean_full_handshakes() {
    let mut cases = Vec::new();
    if let Some(kryoptic) = tokens::kryoptic() {
        cases.push((kryoptic, tokens::PRIMARY));
    }
    if let Some(softhsm) = tokens::softhsm() {
        cases.push((softhsm, tokens::SOFTHSM));
    }
    for (module, token) in cases {
        let key = token_key(&module, token, KeyAlgorithm::Ecdsa(EcCurve::P384), 2);
        let ticketer = HsmTicketer::builder(key.hsm()).build().unwrap();
        assert_eq!(ticketer.lifetime(), 24 * 3600);
        let tampering = Arc::new(Tampering {
            inner: Arc::clone(&ticketer),
            tamper: AtomicBool::new(false),
        });
        let mut server = tls::server_config(&key, false);
        server.ticketer = tampering.clone();
        let server = Arc::new(server);
        let (mut client, _) = tls::client_config(None);
        client.resumption =
            rustls::client::Resumption::store(Arc::new(ClientSessionMemoryCache::new(16)));
        let client = Arc::new(client);

        let kind = |name: &str| {
            let (c, s) =
                tls::handshake(&client, &server).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(c.handshake_kind(), s.handshake_kind(), "{name}");
            s.handshake_kind().unwrap()
        };
        assert_eq!(kind("first"), HandshakeKind::Full);
        assert_eq!(kind("with a fresh ticket"), HandshakeKind::Resumed);
        // The client's newest tickets were made by the key that is now rotated out.
        ticketer.rotate().unwrap();
        assert_eq!(kind("after one rotation"), HandshakeKind::Resumed);
        // A ticket altered on the wire does not decrypt: a full handshake, no error.
        tampering.tamper.store(true, Ordering::SeqCst);
        assert_eq!(kind("tampered"), HandshakeKind::Full);
        tampering.tamper.store(false, Ordering::SeqCst);
        assert_eq!(kind("after tampering"), HandshakeKind::Resumed);

        // Directly: a ticket survives one rotation, not two; key ids pick the key.
        let ticket = ticketer.encrypt(b"session state").unwrap();
        assert_eq!(ticket[0], 3);
        assert_eq!(ticket.len(), 1 + 8 + 8 + 12 + 13 + 16);
        ticketer.rotate().unwrap();
        let newer = ticketer.encrypt(b"session state").unwrap();
        assert_ne!(ticket[1..9], newer[1..9]);
        assert_eq!(ticketer.decrypt(&ticket).unwrap(), b"session state");
        ticketer.rotate().unwrap();
        assert!(ticketer.decrypt(&ticket).is_none());
        assert_eq!(ticketer.decrypt(&newer).unwrap(), b"session state");
        assert!(ticketer.decrypt(b"short").is_none());
        assert!(ticketer.decrypt(&[2; 64]).is_none());
        assert!(ticketer.decrypt(&[4; 64]).is_none());
        // Tampering never took the token out of service.
        assert!(key.hsm().status().primary_up);
    }
}

#[test]
fn tickets_rotate_on_their_own() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let key = token_key(
        &kryoptic,
        tokens::SPARE,
        KeyAlgorithm::Ecdsa(EcCurve::P384),
        1,
    );
    // Tickets are accepted for their lifetime (the period, counted in whole seconds) after
    // they are issued; the sleeps leave a second of slack around each bound.
    let ticketer = HsmTicketer::builder(key.hsm())
        .rotation_period(std::time::Duration::from_secs(3))
        .build()
        .unwrap();
    assert_eq!(ticketer.lifetime(), 3);
    let first = ticketer.encrypt(b"x").unwrap();
    let start = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let late = ticketer.encrypt(b"x").unwrap();
    assert_eq!(first[1..9], late[1..9], "one key within a period");
    std::thread::sleep(std::time::Duration::from_millis(2000));
    let second = ticketer.encrypt(b"x").unwrap();
    assert_ne!(first[1..9], second[1..9], "a new key after one period");
    assert!(
        ticketer.decrypt(&late).is_some(),
        "the previous key still decrypts its tickets within their lifetime"
    );
    std::thread::sleep(
        (start + std::time::Duration::from_millis(4500))
            .saturating_duration_since(std::time::Instant::now()),
    );
    assert!(
        ticketer.decrypt(&first).is_none(),
        "expired one lifetime after issue, though its key is kept"
    );
    assert!(ticketer.decrypt(&second).is_some());
    assert!(HsmTicketer::builder(key.hsm())
        .rotation_period(std::time::Duration::from_secs(8 * 24 * 3600))
        .build()
        .is_err());
}
