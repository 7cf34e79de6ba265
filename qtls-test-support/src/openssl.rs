//! The OpenSSL 4 peer (`QTLS_OPENSSL`, built by `scripts/openssl.sh`): found, required, and
//! run without any system configuration.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The OpenSSL 4 `openssl` binary named by `QTLS_OPENSSL`, if that file exists.
pub fn openssl() -> Option<PathBuf> {
    std::env::var_os("QTLS_OPENSSL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// [`openssl`], or `None` after saying the test is skipped ([`crate::require`]).
pub fn require_openssl() -> Option<PathBuf> {
    crate::require(
        "OpenSSL 4 (QTLS_OPENSSL)",
        "run the tests through ./scripts/test.sh, which builds OpenSSL 4 (scripts/openssl.sh) \
         and sets QTLS_OPENSSL",
        openssl(),
    )
}

/// The `OPENSSL_CONF` to give the `openssl` binary: the empty `openssl.cnf` of its prefix
/// (`<prefix>/bin/openssl` -> `<prefix>/ssl/openssl.cnf`, as scripts/openssl.sh makes it), else
/// `/dev/null`, so that no system configuration leaks in.
pub fn openssl_conf(openssl: &Path) -> PathBuf {
    openssl
        .parent()
        .and_then(Path::parent)
        .map(|prefix| prefix.join("ssl/openssl.cnf"))
        .filter(|conf| conf.is_file())
        .unwrap_or_else(|| PathBuf::from("/dev/null"))
}

/// A `Command` for the given `openssl` binary with `OPENSSL_CONF` set.
pub fn openssl_command(openssl: &Path) -> Command {
    let mut cmd = Command::new(openssl);
    cmd.env("OPENSSL_CONF", openssl_conf(openssl));
    cmd
}

/// `openssl ARGS` in `dir` ([`openssl_command`]), run to the end.
pub fn output_in(openssl: &Path, dir: &Path, args: &[&str]) -> Output {
    openssl_command(openssl)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// [`output_in`], panicking with what OpenSSL printed unless it succeeded.
pub fn run_in(openssl: &Path, dir: &Path, args: &[&str]) -> Output {
    let output = output_in(openssl, dir, args);
    assert!(
        output.status.success(),
        "openssl {} failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
