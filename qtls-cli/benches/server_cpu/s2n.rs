//! AWS's s2n-tls as a server to compare with (issue #13 part 4): `bench-peers/s2n-server`, a
//! small tokio server on the `s2n-tls` crate (same aws-lc underneath as Q-TLS). It is its own
//! workspace, so the test suite never compiles s2n-tls's C; it is built here, on demand, in
//! the release profile, into `target/bench-peers`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the s2n-tls server and copies it into `dir`; `None`, with the reason printed, when
/// it cannot be built (no C compiler, or crates.io out of reach for its first build).
pub(crate) fn build(dir: &Path) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = root.join("bench-peers/s2n-server/Cargo.toml");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("bench-peers");
    eprintln!(
        "server_cpu: building the s2n-tls server ({})",
        manifest.display()
    );
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "server_cpu: building the s2n-tls server failed; it is left out:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let binary = dir.join("s2n-server");
    std::fs::copy(target.join("release/s2n-server"), &binary).ok()?;
    Some(binary)
}

/// The command serving `pki`'s ML-DSA-65 chain on `port` with s2n-tls's `default_pq` policy
/// (TLS 1.2 and 1.3, SecP384r1MLKEM1024 and ML-DSA signatures; the bench's clients negotiate
/// TLS 1.3).
pub(crate) fn command(binary: &Path, pki: &Path, port: u16) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("--cert")
        .arg(pki.join("server-chain.pem"))
        .arg("--key")
        .arg(pki.join("server.key"))
        .args(["--port", &port.to_string()]);
    cmd
}
