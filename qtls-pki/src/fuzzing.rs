//! Thin wrappers around this crate's parsers of file input, for the cargo-fuzz targets in the
//! workspace's `fuzz/` directory and its corpus replay test.
//!
//! NOT part of the API: hidden from the docs, exempt from semver, and may change or go away
//! in any release. Each function calls the real code.

use std::path::Path;

use qtls_provider::Backend;

use crate::keyfile::{encrypt_with_iterations, private_key_from_pem, Passphrase};

/// The passphrase the `encrypted_key` seeds are encrypted with.
pub const PASSPHRASE: &str = "fuzz";

/// The PBKDF2 bound of the fuzz target: [`crate::MAX_PBKDF2_ITERATIONS`] would let one input
/// take seconds; the check itself is the same code.
pub const MAX_ITERATIONS: u32 = 2_048;

/// Loads the PEM key file contents `pem` as `read_private_key` does, decrypting an
/// `ENCRYPTED PRIVATE KEY` with [`PASSPHRASE`]; the key's PKCS#8 DER, or why it is refused.
pub fn private_key_file(pem: &[u8]) -> Result<Vec<u8>, String> {
    let passphrase = Passphrase::new(PASSPHRASE).map_err(|e| e.to_string())?;
    let key = private_key_from_pem(
        pem,
        Path::new("fuzz.key"),
        Backend::AwsLc,
        Some(&passphrase),
        MAX_ITERATIONS,
    )
    .map_err(|e| e.to_string())?;
    key.to_pkcs8_der()
        .map(|der| der.to_vec())
        .map_err(|e| e.to_string())
}

/// A seed for [`private_key_file`]: `key` encrypted with [`PASSPHRASE`] and
/// [`MAX_ITERATIONS`] rounds of PBKDF2.
pub fn encrypted_seed(key: &qtls_provider::KeyPair) -> String {
    let passphrase = Passphrase::new(PASSPHRASE).expect("a non-empty passphrase");
    encrypt_with_iterations(key, &passphrase, MAX_ITERATIONS)
        .expect("encrypting a key")
        .to_string()
}
