//! The files of a PKI directory under `qtls pki`: key files are replaced atomically, never
//! truncated in place.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{qtls_bin, run, Output, COMMAND_TIMEOUT};

fn qtls() -> Command {
    let mut cmd = Command::new(qtls_bin());
    cmd.env_remove("QTLS_CA_PASSPHRASE")
        .env_remove("QTLS_HSM_PIN");
    cmd
}

fn pki_init(dir: &Path, extra: &[&str]) -> Output {
    run(
        qtls()
            .args(["pki", "init", "--profile", "ecdsa-p384", "--dir"])
            .arg(dir)
            .args(extra),
        COMMAND_TIMEOUT,
    )
}

fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

/// Writing a PKI over an existing one replaces the key files by rename: a hard link to the
/// old root.key (a backup, or a reader that has it open) still holds the old key whole, and
/// the new key is readable by its owner only.
#[test]
fn key_files_are_replaced_not_truncated() {
    let dir = temp_dir("qtls-pki-files-atomic-");
    let dir = dir.path();
    pki_init(dir, &[]).expect_success("qtls pki init");
    let old = std::fs::read(dir.join("root.key")).unwrap();
    let link = dir.join("root.key.backup");
    std::fs::hard_link(dir.join("root.key"), &link).unwrap();

    pki_init(dir, &[]).expect_success("qtls pki init again");
    assert_eq!(
        String::from_utf8(std::fs::read(&link).unwrap()).unwrap(),
        String::from_utf8(old.clone()).unwrap(),
        "root.key was rewritten in place"
    );
    assert_ne!(std::fs::read(dir.join("root.key")).unwrap(), old);
    #[cfg(unix)]
    for key in ["root.key", "intermediate.key", "server.key", "ocsp.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}: {mode:o}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
