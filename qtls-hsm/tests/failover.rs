//! Failover from a primary to a backup token holding the same key, with real failures: a
//! Kryoptic store that becomes unreadable, a Kryoptic store locked by another process (the
//! token hangs, the operation times out), and a SoftHSM2 token directory that disappears.
//! After each, the primary is re-probed and taken back once it is healthy again.
//!
//! The primary and backup Kryoptic tokens live in two copies of the module (two independent
//! "devices" in one process). The scenarios share tokens, so they run one at a time.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::tokens;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use qtls_hsm::{Error, Hsm, HsmSigningKey, KeyRef, TokenAdmin, TokenRole};
use qtls_provider::primitives::{composite_verify, ecdsa_verify};
use qtls_provider::{Backend, CodePoints, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const OP_TIMEOUT: Duration = Duration::from_millis(600);
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// The same software key imported into both tokens, and an Hsm over them.
fn pair(
    primary: (&Path, &str),
    backup: (&Path, &str),
    algorithm: KeyAlgorithm,
) -> (HsmSigningKey, KeyPair) {
    let software = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
    let label = tokens::unique("failover");
    let config = |(module, token): (&Path, &str)| {
        tokens::config(module, token)
            .sessions(2)
            .op_timeout(OP_TIMEOUT)
            .build()
            .unwrap()
    };
    for side in [primary, backup] {
        TokenAdmin::open(&config(side))
            .unwrap()
            .import(&label, &software)
            .unwrap();
    }
    let hsm = Hsm::builder()
        .primary(config(primary))
        .backup(config(backup))
        .probe_interval(PROBE_INTERVAL)
        .build()
        .unwrap();
    let key = hsm
        .signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
        .unwrap();
    (key, software)
}

fn verifies(software: &KeyPair, message: &[u8], signature: &[u8]) -> bool {
    match software.algorithm() {
        KeyAlgorithm::Composite(alg) => composite_verify(
            alg,
            Backend::AwsLc,
            software.public_key(),
            message,
            b"",
            signature,
        ),
        KeyAlgorithm::Ecdsa(curve) => {
            ecdsa_verify(curve, software.public_key(), message, signature)
        }
        other => panic!("unexpected {other}"),
    }
}

/// Signs until the backup answers; returns how long that took after the failure.
fn fails_over(key: &HsmSigningKey, software: &KeyPair, failed_at: Instant) -> Duration {
    loop {
        match key.sign(b"after the failure") {
            Ok(signature) => {
                assert!(verifies(software, b"after the failure", &signature));
                assert_eq!(key.hsm().status().active, Some(TokenRole::Backup));
                return failed_at.elapsed();
            }
            Err(e) => assert!(
                failed_at.elapsed() < Duration::from_secs(5),
                "no failover: {e}"
            ),
        }
    }
}

fn comes_back(key: &HsmSigningKey, software: &KeyPair) {
    let start = Instant::now();
    while key.hsm().status().active != Some(TokenRole::Primary) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the primary was not taken back: {:?}",
            key.hsm().status()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let signature = key.sign(b"back on the primary").unwrap();
    assert!(verifies(software, b"back on the primary", &signature));
    let status = key.hsm().status();
    assert!(
        status.primary_up && status.backup_up == Some(true),
        "{status:?}"
    );
}

fn kryoptic_pair(algorithm: KeyAlgorithm) -> Option<(HsmSigningKey, KeyPair, PathBuf)> {
    let primary = tokens::kryoptic()?;
    let backup = tokens::kryoptic_backup()?;
    let (key, software) = pair(
        (&primary, tokens::PRIMARY),
        (&backup, tokens::BACKUP),
        algorithm,
    );
    Some((key, software, tokens::kryoptic_store(tokens::PRIMARY)))
}

#[test]
fn an_unreadable_primary_fails_over_and_is_taken_back() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some((key, software, store)) = kryoptic_pair(KeyAlgorithm::Composite(
        CompositeAlgorithm::MlDsa65EcdsaP384Sha512,
    )) else {
        return;
    };
    assert!(verifies(&software, b"m", &key.sign(b"m").unwrap()));
    assert_eq!(key.hsm().status().active, Some(TokenRole::Primary));

    // The store vanishes under the running token (same file, emptied).
    let saved = std::fs::read(&store).unwrap();
    std::fs::write(&store, b"").unwrap();
    let failed_at = Instant::now();
    let error = key.sign(b"in flight").unwrap_err();
    assert!(error.is_token_failure(), "{error}");
    assert!(matches!(error, Error::Pkcs11 { .. }), "{error}");
    let status = key.hsm().status();
    assert!(
        !status.primary_up && status.active == Some(TokenRole::Backup),
        "{status:?}"
    );
    let took = fails_over(&key, &software, failed_at);
    assert!(took < Duration::from_secs(1), "failover took {took:?}");

    // While it is broken, probes fail and the backup serves.
    std::thread::sleep(PROBE_INTERVAL * 5);
    assert_eq!(key.hsm().status().active, Some(TokenRole::Backup));
    assert!(key.sign(b"still on the backup").is_ok());

    std::fs::write(&store, saved).unwrap();
    comes_back(&key, &software);
}

#[test]
fn a_hanging_primary_times_out_and_the_backup_takes_over() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some((key, software, store)) = kryoptic_pair(KeyAlgorithm::Ecdsa(EcCurve::P384)) else {
        return;
    };
    assert!(key.sign(b"m").is_ok());
    let Some(lock) = tokens::StoreLock::hold(&store, 3.0) else {
        return;
    };
    // Six handshakes sign at once through two sessions: two calls hang in the token until
    // the timeout, the four queued behind them are answered as soon as the token is marked
    // down (or already go to the backup); none waits longer than the timeout.
    let started = Instant::now();
    let results: Vec<(Result<Vec<u8>, Error>, Duration)> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    let result = key.sign(b"in flight");
                    (result, started.elapsed())
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let mut timeouts = 0;
    for (result, waited) in &results {
        assert!(*waited < OP_TIMEOUT * 2, "a call took {waited:?}");
        match result {
            Ok(signature) => assert!(verifies(&software, b"in flight", signature)),
            Err(Error::Timeout { .. }) => {
                timeouts += 1;
                assert!(*waited >= OP_TIMEOUT, "timed out after {waited:?}");
            }
            Err(Error::TokenDown { .. }) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert!(timeouts >= 1, "{results:?}");
    let waited = started.elapsed();
    let took = fails_over(&key, &software, started + waited);
    assert!(took < Duration::from_secs(1), "failover took {took:?}");
    drop(lock);
    comes_back(&key, &software);
}

#[test]
fn a_softhsm_primary_whose_token_directory_vanishes_fails_over_to_kryoptic() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (Some(softhsm), Some(kryoptic)) = (tokens::softhsm(), tokens::kryoptic_backup()) else {
        return;
    };
    let (key, software) = pair(
        (&softhsm, tokens::SOFTHSM),
        (&kryoptic, tokens::SPARE),
        KeyAlgorithm::Ecdsa(EcCurve::P384),
    );
    assert!(key.sign(b"m").is_ok());
    let dir = &tokens::tokens().softhsm_tokens;
    let aside = dir.with_extension("aside");
    std::fs::rename(dir, &aside).unwrap();
    std::fs::create_dir(dir).unwrap();
    let failed_at = Instant::now();
    let error = key.sign(b"in flight").unwrap_err();
    assert!(error.is_token_failure(), "{error}");
    let took = fails_over(&key, &software, failed_at);
    assert!(took < Duration::from_secs(1), "failover took {took:?}");

    std::fs::remove_dir(dir).unwrap();
    std::fs::rename(&aside, dir).unwrap();
    comes_back(&key, &software);
}

#[test]
fn concurrent_signers_see_failures_but_nothing_breaks() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some((key, software, store)) = kryoptic_pair(KeyAlgorithm::Composite(
        CompositeAlgorithm::MlDsa65EcdsaP384Sha512,
    )) else {
        return;
    };
    let saved = std::fs::read(&store).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (key, stop) = (key.clone(), std::sync::Arc::clone(&stop));
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0, 0);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match key.sign(b"load") {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            // Only the token's failure (or the pool shutting down under the
                            // call) may surface.
                            assert!(
                                e.is_token_failure()
                                    || matches!(e, Error::TokenDown { .. } | Error::Busy { .. }),
                                "{e}"
                            );
                            failed += 1;
                        }
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&store, b"").unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(key.hsm().status().active, Some(TokenRole::Backup));
    std::fs::write(&store, saved).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for worker in workers {
        let (o, f) = worker.join().unwrap();
        ok += o;
        failed += f;
    }
    assert!(ok > 0);
    // Few calls fail: those in flight when the store broke.
    assert!(failed <= 16, "{failed} failures, {ok} successes");
    comes_back(&key, &software);
}
