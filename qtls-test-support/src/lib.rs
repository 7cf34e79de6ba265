//! Scaffolding shared by the Q-TLS tests and benches, as rustls keeps `rustls-test`: a fixed
//! clock, root → intermediate → leaf PKIs on it, the in-memory handshake driver, throwaway
//! PKCS#11 tokens and Redis servers, process and port helpers, and the skip-unless-CI rule.
//!
//! Dev-only (`publish = false`): a panic here is a test failure, so helpers unwrap.
//! The `qtls` binary is not named here (`CARGO_BIN_EXE_qtls` exists only in the root crate's
//! own tests): the root crate's `tests/support/mod.rs` passes its path in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bench;
pub mod clock;
pub mod handshake;
pub mod hsm;
pub mod io;
pub mod openssl;
pub mod pki;
pub mod process;
pub mod redis;
pub mod stock;
pub mod tokens;
pub mod vectors;

use std::path::PathBuf;

/// Returns `found`; when it is `None`, fails under `CI=true` (what a test needs must be
/// there), else prints why the test is skipped and `how` to provide it.
pub fn require<T>(what: &str, how: &str, found: Option<T>) -> Option<T> {
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{what} is missing (CI=true, so this is a failure): {how}");
        }
        eprintln!("skipped: {what} is missing; {how}");
    }
    found
}

/// The file `program` in one of the `PATH` folders.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}
