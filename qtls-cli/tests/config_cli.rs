//! `qtls` command-line and `qtls.toml` checks that need no network: flag values out of their
//! bounds, the `[hsm]` section being applied, and secret files (server keys, PINs, Redis
//! passwords) that other users may read being refused.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs `qtls ARGS` and returns its stderr; it must fail (exit, not be killed) within 20 s.
fn fails(args: &[&str]) -> String {
    let out = support::run(
        Command::new(support::qtls_bin()).args(args),
        Duration::from_secs(20),
    );
    assert!(
        out.status.is_some() && !out.success(),
        "qtls {args:?} did not fail: {:?}\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    out.stderr
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn flags_out_of_bounds_are_refused_naming_the_flag_and_the_bound() {
    let server = [
        "server",
        "--cert",
        "/nonexistent/c.pem",
        "--key",
        "/nonexistent/k.pem",
    ];
    for (extra, says) in [
        (
            &["--early-data", "--early-data-window", "2m"][..],
            &["--early-data-window", "1m"][..],
        ),
        (
            &["--early-data", "--max-early-data", "0"],
            &["--max-early-data", "16777216"],
        ),
        (
            &["--early-data", "--max-early-data", "16777217"],
            &["--max-early-data", "16777216"],
        ),
        (
            &["--handshake-timeout", "0s"],
            &["--handshake-timeout", "above 0"],
        ),
        (&["--session-cache-bytes", "0"], &["--session-cache-bytes"]),
    ] {
        let stderr = fails(&[&server[..], extra].concat());
        for word in says {
            assert!(stderr.contains(word), "{extra:?}: no {word:?} in {stderr}");
        }
    }
    let responder = [
        "ocsp-responder",
        "--listen",
        "127.0.0.1:0",
        "--ca",
        "/nonexistent/ca.pem",
        "--signer",
        "/nonexistent/s.pem",
        "--key",
        "/nonexistent/s.key",
        "--index",
        "/nonexistent/i.txt",
    ];
    for validity in ["0", "604801"] {
        let stderr = fails(&[&responder[..], &["--validity", validity]].concat());
        assert!(
            stderr.contains("--validity") && stderr.contains("604800"),
            "--validity {validity}: {stderr}"
        );
    }
    let stderr = fails(&["pki", "crl", "--dir", "/nonexistent", "--days", "0"]);
    assert!(
        stderr.contains("--days") && stderr.contains("366"),
        "{stderr}"
    );
}

/// `[hsm]` is applied, not ignored: a server configured with only a token key opens that
/// token's module (and says so when it is missing) instead of "no certificate"; its PIN
/// file is checked like any other secret file.
#[test]
fn the_hsm_section_of_a_config_file_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "1234\n").unwrap();
    chmod(&pin, 0o600);
    let config = dir.path().join("qtls.toml");
    std::fs::write(
        &config,
        format!(
            "[listen]\naddress = \"127.0.0.1:0\"\n\n[hsm]\n\
             module = \"/nonexistent/qtls-test-p11.so\"\ntoken = \"qtls\"\nkey = \"server\"\n\
             chain = \"/nonexistent/chain.pem\"\npin_file = {pin:?}\n"
        ),
    )
    .unwrap();
    let stderr = fails(&["server", "--config", config.to_str().unwrap()]);
    assert!(stderr.contains("qtls-test-p11.so"), "{stderr}");
    assert!(!stderr.contains("no certificate"), "{stderr}");
    chmod(&pin, 0o644);
    let stderr = fails(&["server", "--config", config.to_str().unwrap()]);
    assert!(
        stderr.contains("PIN file") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

/// A server key, a PIN file or a Redis password file that other users may read is refused
/// (as OpenSSH refuses such private keys), with the file and `chmod 600` in the error.
#[test]
fn secret_files_other_users_may_read_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = support::fleet::pki(dir.path(), "composite");
    let key = pki.join("server.key");
    chmod(&key, 0o644);
    let chain = pki.join("server-chain.pem");
    let stderr = fails(&[
        "server",
        "--listen",
        "127.0.0.1:0",
        "--cert",
        chain.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("server.key") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    chmod(&key, 0o600);

    let pin = dir.path().join("pin");
    std::fs::write(&pin, "1234").unwrap();
    chmod(&pin, 0o640);
    let stderr = fails(&[
        "hsm",
        "list",
        "--module",
        "/nonexistent/qtls-test-p11.so",
        "--token",
        "qtls",
        "--pin-file",
        pin.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("PIN file") && stderr.contains("chmod 600"),
        "{stderr}"
    );

    let password = dir.path().join("redis.pass");
    std::fs::write(&password, "s3cret\n").unwrap();
    chmod(&password, 0o644);
    let stderr = fails(&[
        "server",
        "--listen",
        "127.0.0.1:0",
        "--cert",
        chain.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--session-store",
        "redis://127.0.0.1:1",
        "--ticket-key-file",
        "/nonexistent/fleet.key",
        "--redis-password-file",
        password.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("redis.pass") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}
