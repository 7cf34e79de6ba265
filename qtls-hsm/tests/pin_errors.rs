//! A token that refuses the PIN is logged in to once, never again: the prober must not lock
//! the PIN by retrying it every interval (issue #12, item 3).
//!
//! Kryoptic counts failed logins in the token's store and locks the user PIN after ten
//! (`MAX_LOGIN_ATTEMPTS` in kryoptic-lib), raising CKF_USER_PIN_COUNT_LOW when two or three
//! attempts are left, CKF_USER_PIN_FINAL_TRY at one and CKF_USER_PIN_LOCKED at none. After the
//! `Hsm` has run for many probe intervals, the test makes wrong logins of its own until
//! CKF_USER_PIN_COUNT_LOW shows: how many it took says how many attempts the `Hsm` made.
//!
//! Each scenario uses a token no other test of this process logs in to (a good login resets
//! the count).

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::tokens;

use std::path::Path;
use std::time::Duration;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use qtls_hsm::{Hsm, Pin, TokenConfig, TokenRole};

const PROBE_INTERVAL: Duration = Duration::from_millis(20);
/// Kryoptic's `MAX_LOGIN_ATTEMPTS`.
const MAX_ATTEMPTS: usize = 10;

fn good(module: &Path, label: &str) -> TokenConfig {
    tokens::config(module, label).sessions(1).build().unwrap()
}

fn wrong_pin(module: &Path, label: &str) -> TokenConfig {
    TokenConfig::builder(module)
        .token_label(label)
        .pin(Pin::new("not-the-pin").unwrap())
        .sessions(1)
        .build()
        .unwrap()
}

/// How many failed user logins the token `label` of `module` has counted since its last good
/// one, found by failing more logins until CKF_USER_PIN_COUNT_LOW shows (this consumes
/// attempts: the token is a throwaway).
fn failed_logins(module: &Path, label: &str) -> usize {
    // The same library as the `Hsm`'s: this process's one instance of it, already initialised.
    let context = Pkcs11::new(module).unwrap();
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("C_Initialize: {e}"),
    }
    let slot = context
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| context.get_token_info(*s).unwrap().label().trim_end() == label)
        .unwrap();
    let info = context.get_token_info(slot).unwrap();
    assert!(
        !info.user_pin_locked() && !info.user_pin_final_try(),
        "the user PIN of {label} is locked or nearly so"
    );
    let session = context.open_ro_session(slot).unwrap();
    let mut ours = 0;
    while !context.get_token_info(slot).unwrap().user_pin_count_low() {
        assert!(ours < MAX_ATTEMPTS, "CKF_USER_PIN_COUNT_LOW never showed");
        let error = session
            .login(UserType::User, Some(&AuthPin::from("still-not-the-pin")))
            .unwrap_err();
        assert!(
            matches!(
                error,
                cryptoki::error::Error::Pkcs11(RvError::PinIncorrect, _)
            ),
            "{error}"
        );
        ours += 1;
    }
    // COUNT_LOW first shows with three attempts left.
    (MAX_ATTEMPTS - 3)
        .checked_sub(ours)
        .expect("more failed logins than the count allows")
}

fn assert_refused(hsm: &Hsm, role: TokenRole) {
    let status = hsm.status();
    let (up, error) = match role {
        TokenRole::Primary => (Some(status.primary_up), &status.primary_error),
        _ => (status.backup_up, &status.backup_error),
    };
    assert_eq!(up, Some(false), "{status:?}");
    let error = error.as_deref().unwrap_or_default();
    assert!(error.contains("PinIncorrect"), "{status:?}");
    assert_eq!(status.pin_refused, vec![role], "{status:?}");
}

#[test]
fn a_backup_whose_pin_is_wrong_is_tried_once_and_stays_out_of_service() {
    let (Some(primary), Some(backup)) = (tokens::kryoptic(), tokens::kryoptic_backup()) else {
        return;
    };
    let hsm = Hsm::builder()
        .primary(good(&primary, tokens::PRIMARY))
        .backup(wrong_pin(&backup, tokens::UNUSED))
        .probe_interval(PROBE_INTERVAL)
        .build()
        .unwrap();
    assert_eq!(hsm.status().active, Some(TokenRole::Primary));
    // Long enough for the old prober to lock the PIN several times over.
    std::thread::sleep(PROBE_INTERVAL * 50);
    assert_refused(&hsm, TokenRole::Backup);
    assert_eq!(failed_logins(&backup, tokens::UNUSED), 1);
    std::thread::sleep(PROBE_INTERVAL * 10);
    assert_refused(&hsm, TokenRole::Backup);
    assert_eq!(hsm.status().active, Some(TokenRole::Primary));
}

#[test]
fn a_primary_whose_pin_is_wrong_is_tried_once_and_the_backup_serves() {
    let (Some(primary), Some(backup)) = (tokens::kryoptic(), tokens::kryoptic_backup()) else {
        return;
    };
    let hsm = Hsm::builder()
        .primary(wrong_pin(&backup, tokens::SPARE))
        .backup(good(&primary, tokens::BACKUP))
        .probe_interval(PROBE_INTERVAL)
        .build()
        .unwrap();
    assert_eq!(hsm.status().active, Some(TokenRole::Backup));
    std::thread::sleep(PROBE_INTERVAL * 50);
    assert_refused(&hsm, TokenRole::Primary);
    assert_eq!(hsm.status().active, Some(TokenRole::Backup));
    assert_eq!(failed_logins(&backup, tokens::SPARE), 1);
}
