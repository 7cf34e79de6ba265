//! A revocation responder that accepts connections and never answers: each failed OCSP or
//! CRL fetch is remembered for a short window, so later verifications within it do not wait
//! for the timeout again (counted in connections the listener receives, not in time).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use qtls_pki::{CertifiedKeyPair, Usage};
use qtls_provider::{CompositeAlgorithm, KeyAlgorithm};
use qtls_verifier::{Error, Purpose, RevocationPolicy, RevocationStatus};

const COMPOSITE: KeyAlgorithm = KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512);

/// Accepts on loopback, counts connections, keeps them open and never writes a byte.
struct SilentListener {
    url: String,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl SilentListener {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (Arc::clone(&connections), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    count.fetch_add(1, Ordering::SeqCst);
                    held.push(stream);
                }
            }
        });
        Self {
            url,
            connections,
            stop,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for SilentListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees `stop`.
        let _ = std::net::TcpStream::connect(
            self.url.trim_start_matches("http://").trim_end_matches('/'),
        );
    }
}

/// A leaf whose OCSP responder and CRL distribution point are both the silent listener.
fn silent_pki(listener: &SilentListener) -> (TestPki, CertifiedKeyPair) {
    let pki = TestPki::new(COMPOSITE);
    let leaf = pki.leaf(
        pki.leaf_builder(Usage::ServerLeaf, "localhost")
            .ocsp_url(format!("{}ocsp", listener.url))
            .crl_url(format!("{}crl", listener.url)),
    );
    (pki, leaf)
}

fn silent_verifier(
    pki: &TestPki,
    policy: RevocationPolicy,
) -> qtls_verifier::ServerVerifierBuilder {
    verifier(pki)
        .revocation_policy(policy)
        .revocation_depth(qtls_verifier::RevocationDepth::EndEntity)
        .timeouts(Duration::from_millis(200), Duration::from_millis(300))
}

#[test]
fn a_silent_responder_costs_one_timeout_per_window_under_soft_fail() {
    let listener = SilentListener::start();
    let (pki, leaf) = silent_pki(&listener);
    let chain = pki.chain(leaf.certificate());
    let verifier = silent_verifier(&pki, RevocationPolicy::SoftFail)
        .build_chain_verifier()
        .unwrap();

    let first = verifier
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap();
    assert!(
        matches!(
            &first.end_entity().revocation,
            RevocationStatus::Unknown { .. }
        ),
        "{:?}",
        first.end_entity().revocation
    );
    // One connection for OCSP, one for the CRL, each waited out to the timeout.
    assert_eq!(listener.connections(), 2);

    // Within the window the failures are remembered: same verdict, no new connection.
    let second = verifier
        .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
        .unwrap();
    match &second.end_entity().revocation {
        RevocationStatus::Unknown { attempts } => {
            for source in ["OCSP", "CRL"] {
                assert!(
                    attempts
                        .iter()
                        .any(|a| a.starts_with(source) && a.contains("failed recently")),
                    "{source}: {attempts:?}"
                );
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(listener.connections(), 2);
}

#[test]
fn a_silent_responder_costs_one_timeout_per_window_under_hard_fail() {
    let listener = SilentListener::start();
    let (pki, leaf) = silent_pki(&listener);
    let chain = pki.chain(leaf.certificate());
    let verifier = silent_verifier(&pki, RevocationPolicy::HardFail)
        .build_chain_verifier()
        .unwrap();
    for _ in 0..3 {
        let error = verifier
            .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
            .unwrap_err();
        assert!(matches!(error, Error::RevocationUnknown { .. }), "{error}");
        assert_eq!(listener.connections(), 2);
    }

    // In a handshake the client's error explains the refusal (certificate_unknown); a fresh
    // verifier (its own memory) waits once.
    let outcome = handshake(
        chain,
        leaf.key(),
        None,
        silent_verifier(&pki, RevocationPolicy::HardFail)
            .build()
            .unwrap(),
        now(),
    );
    assert_refused_for_unknown_status(
        &outcome,
        "CN=",
        leaf.certificate().serial(),
        &["OCSP http://127.0.0.1:"],
    );
    assert_eq!(listener.connections(), 4);
}

#[test]
fn with_a_zero_window_every_verification_tries_again() {
    let listener = SilentListener::start();
    let (pki, leaf) = silent_pki(&listener);
    let chain = pki.chain(leaf.certificate());
    let verifier = silent_verifier(&pki, RevocationPolicy::SoftFail)
        .retry_failed_fetches_after(Duration::ZERO)
        .build_chain_verifier()
        .unwrap();
    for round in 1..=2 {
        verifier
            .verify(&chain[0], &chain[1..], Purpose::Server, None, &[], now())
            .unwrap();
        assert_eq!(listener.connections(), 2 * round);
    }
}
