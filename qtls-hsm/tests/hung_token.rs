//! A primary that hangs in C_OpenSession/C_Login (its Kryoptic store locked by another
//! process) neither blocks startup nor piles up probe threads (issue #12, item 3).
//!
//! Its own test binary: it counts the threads of the process (/proc/self/status), which other
//! tests running alongside would disturb.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::tokens;

use std::time::{Duration, Instant};

use qtls_hsm::{Hsm, KeyRef, TokenAdmin, TokenRole};
use qtls_provider::{Backend, CodePoints, EcCurve, KeyAlgorithm, KeyPair};

/// Short, so that the prober of old waited little for each hung probe and started many.
const OP_TIMEOUT: Duration = Duration::from_millis(200);
const PROBE_INTERVAL: Duration = Duration::from_millis(50);

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_hanging_primary_does_not_block_startup_nor_pile_up_probes() {
    let (Some(primary), Some(backup)) = (tokens::kryoptic(), tokens::kryoptic_backup()) else {
        return;
    };
    let config = |module: &std::path::Path, label: &str| {
        tokens::config(module, label)
            .sessions(2)
            .op_timeout(OP_TIMEOUT)
            .build()
            .unwrap()
    };
    let software = KeyPair::generate(KeyAlgorithm::Ecdsa(EcCurve::P384), Backend::AwsLc).unwrap();
    let label = tokens::unique("hung");
    for (module, token) in [(&primary, tokens::PRIMARY), (&backup, tokens::BACKUP)] {
        TokenAdmin::open(&config(module, token))
            .unwrap()
            .import(&label, &software)
            .unwrap();
    }
    // SQLite waits up to 5 s for the lock on every statement, so every call of the primary
    // that reads its store hangs that long, again and again while the lock is held.
    let Some(lock) = tokens::StoreLock::hold(&tokens::kryoptic_store(tokens::PRIMARY), 40.0) else {
        return;
    };
    let started = Instant::now();
    let hsm = Hsm::builder()
        .primary(config(&primary, tokens::PRIMARY))
        .backup(config(&backup, tokens::BACKUP))
        .probe_interval(PROBE_INTERVAL)
        .build()
        .unwrap();
    let took = started.elapsed();
    // The bound is the operation timeout; a hung login would take SQLite's 5 s at least.
    assert!(took < OP_TIMEOUT * 5, "startup took {took:?}");
    let status = hsm.status();
    assert_eq!(status.active, Some(TokenRole::Backup), "{status:?}");
    assert!(!status.primary_up, "{status:?}");
    let key = hsm
        .signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
        .unwrap();
    assert!(key.sign(b"on the backup").is_ok());

    // Many probe intervals, several of SQLite's 5 s waits: at most one probe of the primary
    // is in flight at any time (one more while a finished one's thread exits).
    let baseline = threads();
    let mut most = baseline;
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(16) {
        most = most.max(threads());
        std::thread::sleep(PROBE_INTERVAL);
    }
    assert!(
        most <= baseline + 1,
        "threads grew from {baseline} to {most} while the primary hung"
    );
    assert!(!hsm.status().primary_up);

    // Once the store is free again, the primary is taken back.
    drop(lock);
    let released = Instant::now();
    while hsm.status().active != Some(TokenRole::Primary) {
        assert!(
            released.elapsed() < Duration::from_secs(30),
            "the primary was not taken back: {:?}",
            hsm.status()
        );
        std::thread::sleep(PROBE_INTERVAL);
    }
    assert!(key.sign(b"on the primary again").is_ok());
}
