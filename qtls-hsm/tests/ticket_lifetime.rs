//! HSM session tickets are accepted for the lifetime they were announced with, not for as
//! long as their key is kept (issue #12, item 6; RFC 8446 §4.6.1).
//!
//! The ticketer keeps the previous key for a rotation period after the next one is made, so
//! that tickets issued just before a rotation still resume; without the issue time in the
//! ticket, a ticket decrypted for up to two periods. The timings below leave at least a
//! second of slack on each side of every bound.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::tokens;

use std::time::{Duration, Instant};

use qtls_hsm::{Hsm, HsmTicketer};
use rustls::server::ProducesTickets;

#[test]
fn a_ticket_past_its_lifetime_does_not_decrypt_while_its_key_is_kept() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    // The ticket keys are session objects, in a token no other test of this process uses.
    let hsm = Hsm::builder()
        .primary(
            tokens::config(&kryoptic, tokens::SPARE)
                .sessions(1)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let rotation = Duration::from_secs(6);
    let ticketer = HsmTicketer::builder(&hsm)
        .rotation_period(rotation)
        .build()
        .unwrap();
    let key_made = Instant::now();
    assert_eq!(ticketer.lifetime(), 6);

    let old = ticketer.encrypt(b"old session").unwrap();
    let old_issued = Instant::now();
    assert_eq!(ticketer.decrypt(&old).as_deref(), Some(&b"old session"[..]));

    std::thread::sleep(Duration::from_secs(3));
    let young = ticketer.encrypt(b"young session").unwrap();
    let young_issued = Instant::now();
    assert_eq!(
        old[1..9],
        young[1..9],
        "both tickets come from the first key (made {:?} before the second ticket)",
        key_made.elapsed()
    );

    // Past the old ticket's lifetime (with a second of slack for the whole-second issue
    // time), and well within the two periods its key is kept.
    let until = old_issued + rotation + Duration::from_millis(1500);
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
    assert_eq!(
        ticketer.decrypt(&old),
        None,
        "a ticket {:?} old, announced for {rotation:?}, resumed",
        old_issued.elapsed()
    );
    // Its key still decrypts a ticket within its lifetime: the age refused the old one.
    let young_age = young_issued.elapsed();
    assert!(
        young_age < rotation - Duration::from_secs(1),
        "the test ran too slowly to check the young ticket ({young_age:?} old)"
    );
    assert!(key_made.elapsed() < 2 * rotation);
    assert_eq!(
        ticketer.decrypt(&young).as_deref(),
        Some(&b"young session"[..])
    );
    let stats = ticketer.stats();
    assert_eq!(
        (
            stats.issued,
            stats.decrypted,
            stats.expired,
            stats.rejected()
        ),
        (2, 2, 1, 1),
        "{stats:?}"
    );
}
