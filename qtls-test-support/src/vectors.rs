//! Test vectors in the project's shared folder (fetched by `scripts/test.sh`, not in the
//! repository).

use std::path::PathBuf;

/// The project's shared folder (`QTLS_SHARED_DIR`, else `shared` beside the workspace).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("QTLS_SHARED_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

/// The composite ML-DSA test vectors of draft-ietf-lamps-pq-composite-sigs
/// (`vectors/composite/testvectors.json` in [`shared_dir`]), or `None` after saying the test
/// is skipped ([`crate::require`]).
pub fn composite_vectors() -> Option<Vec<u8>> {
    let path = shared_dir().join("vectors/composite/testvectors.json");
    let found = std::fs::read(&path).ok();
    crate::require(
        &format!("the composite test vectors ({})", path.display()),
        "set QTLS_SHARED_DIR to the project's shared folder (./scripts/test.sh does)",
        found,
    )
}
