//! Session tickets sealed in real tokens carry the IV the token used (issue #12, item 9).
//!
//! Kryoptic and SoftHSM2 use the IV they are given for a single-part C_Encrypt with
//! CKM_AES_GCM; neither generates its own and writes it back into CK_GCM_PARAMS, so with
//! them this checks the ticket format and the round trip through the IV read back after
//! C_Encrypt. The write-back itself (a token generating the IV) is exercised only by tokens
//! that generate IVs; the unit test `a_ticket_carries_the_iv_a_token_generated` in
//! src/ticket.rs plays such a token in software.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::tokens;

use qtls_hsm::{Hsm, HsmTicketer};
use rustls::server::ProducesTickets;

#[test]
fn tickets_round_trip_with_the_iv_the_token_used() {
    let mut cases = Vec::new();
    if let Some(kryoptic) = tokens::kryoptic() {
        cases.push((kryoptic, tokens::PRIMARY));
    }
    if let Some(softhsm) = tokens::softhsm() {
        cases.push((softhsm, tokens::SOFTHSM_SPARE));
    }
    for (module, token) in cases {
        let hsm = Hsm::builder()
            .primary(tokens::config(&module, token).sessions(1).build().unwrap())
            .build()
            .unwrap();
        let ticketer = HsmTicketer::builder(&hsm).build().unwrap();
        let first = ticketer.encrypt(b"session state").unwrap();
        let second = ticketer.encrypt(b"session state").unwrap();
        // version 3 ‖ key id (8) ‖ issued (8) ‖ IV (12) ‖ ciphertext ‖ tag (16)
        assert_eq!(first[0], 3, "{token}");
        assert_eq!(first.len(), 1 + 8 + 8 + 12 + 13 + 16, "{token}");
        assert_eq!(first[1..9], second[1..9], "{token}: one key");
        assert_ne!(
            first[17..29],
            second[17..29],
            "{token}: a fresh IV per ticket"
        );
        assert_eq!(
            ticketer.decrypt(&first).as_deref(),
            Some(&b"session state"[..]),
            "{token}"
        );
        assert_eq!(
            ticketer.decrypt(&second).as_deref(),
            Some(&b"session state"[..]),
            "{token}"
        );
        // The IV is authenticated by GCM itself, the version, key id and issue time as
        // additional data.
        for at in [0, 1, 9, 16, 17, 28, first.len() - 1] {
            let mut tampered = first.clone();
            tampered[at] ^= 1;
            assert_eq!(ticketer.decrypt(&tampered), None, "{token}: byte {at}");
        }
    }
}
