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

    pki_init(dir, &["--force"]).expect_success("qtls pki init --force");
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

/// Runs one `qtls` per argument list at once and waits for all of them.
fn run_parallel(runs: Vec<Vec<String>>) -> Vec<std::process::Output> {
    let children: Vec<_> = runs
        .iter()
        .map(|args| {
            qtls()
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect()
}

/// 20 `qtls pki revoke` at once, each of another serial, all end up revoked in revoked.txt;
/// 20 `qtls pki crl` at once get 20 different CRL numbers.
#[test]
fn concurrent_revocations_and_crls_are_all_kept() {
    use qtls_pki::{IndexStatus, RevocationIndex, RevocationList};
    let dir = temp_dir("qtls-pki-files-lock-");
    let dir = dir.path();
    pki_init(dir, &[]).expect_success("qtls pki init");
    let index_path = dir.join(RevocationIndex::FILE_NAME);
    let mut text = std::fs::read_to_string(&index_path).unwrap();
    let serials: Vec<String> = (0..20).map(|i| format!("{:02X}", 0x40 + i)).collect();
    for serial in &serials {
        text.push_str(&format!(
            "V\t360101000000Z\t\t{serial}\tunknown\t/O=Q-TLS/CN=extra-{serial}\n"
        ));
    }
    std::fs::write(&index_path, text).unwrap();
    let dir_arg = dir.to_str().unwrap().to_owned();

    let revocations = run_parallel(
        serials
            .iter()
            .map(|serial| {
                ["pki", "revoke", "--dir", &dir_arg, "--serial", serial]
                    .map(str::to_owned)
                    .to_vec()
            })
            .collect(),
    );
    for output in &revocations {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let index = RevocationIndex::read(&index_path).unwrap();
    let lost: Vec<&String> = serials
        .iter()
        .filter(|serial| {
            let serial = qtls_pki::parse_serial(serial).unwrap();
            !matches!(
                index.get(&serial).unwrap().status,
                IndexStatus::Revoked { .. }
            )
        })
        .collect();
    assert!(lost.is_empty(), "revocations lost: {lost:?}\n{index}");

    let crls = run_parallel(
        (0..20)
            .map(|i| {
                let out = dir.join(format!("crl-{i}.pem"));
                [
                    "pki",
                    "crl",
                    "--dir",
                    &dir_arg,
                    "--out",
                    out.to_str().unwrap(),
                ]
                .map(str::to_owned)
                .to_vec()
            })
            .collect(),
    );
    let mut numbers = Vec::new();
    for (i, output) in crls.iter().enumerate() {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let crl = RevocationList::read_file(&dir.join(format!("crl-{i}.pem"))).unwrap();
        assert_eq!(crl.revoked().len(), 20);
        numbers.push(crl.crl_number().unwrap().to_vec());
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 20, "CRL numbers reused: {numbers:?}");
}

/// `qtls pki init` over an existing PKI refuses and changes nothing (CA keys, revocations);
/// with `--force` it replaces it.
#[test]
fn init_refuses_an_existing_pki_without_force() {
    let dir = temp_dir("qtls-pki-files-force-");
    let dir = dir.path();
    pki_init(dir, &[]).expect_success("qtls pki init");
    run(
        qtls()
            .args(["pki", "revoke", "--dir"])
            .arg(dir)
            .arg("--cert")
            .arg(dir.join("client.pem")),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki revoke");
    let files = [
        "root.key",
        "intermediate.key",
        "intermediate.pem",
        "revoked.txt",
    ];
    let before: Vec<String> = files
        .iter()
        .map(|name| std::fs::read_to_string(dir.join(name)).unwrap())
        .collect();

    let again = pki_init(dir, &[]);
    assert!(
        !again.success(),
        "a second init succeeded:\n{}",
        again.stdout
    );
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    for (name, old) in files.iter().zip(&before) {
        assert_eq!(
            &std::fs::read_to_string(dir.join(name)).unwrap(),
            old,
            "{name} changed"
        );
    }

    pki_init(dir, &["--force"]).expect_success("qtls pki init --force");
    assert_ne!(
        std::fs::read_to_string(dir.join("root.key")).unwrap(),
        before[0]
    );
    let index = std::fs::read_to_string(dir.join("revoked.txt")).unwrap();
    assert!(!index.lines().any(|line| line.starts_with('R')), "{index}");
}

/// `qtls pki init --root-key-out DIR2` writes the root key to DIR2 only (an offline root);
/// `qtls pki crl` needs only the intermediate key.
#[test]
fn root_key_can_be_kept_offline() {
    let dir = temp_dir("qtls-pki-files-offline-");
    let dir = dir.path();
    let offline = temp_dir("qtls-pki-files-offline-root-");
    let offline = offline.path().join("vault");
    let init = pki_init(dir, &["--root-key-out", offline.to_str().unwrap()])
        .expect_success("qtls pki init --root-key-out");
    assert!(!dir.join("root.key").exists(), "root.key beside the others");
    let root_key = offline.join("root.key");
    assert!(
        init.stdout.contains(root_key.to_str().unwrap()),
        "{}",
        init.stdout
    );
    qtls_pki::CertifiedKeyPair::read_pem_files(
        &dir.join("root.pem"),
        &root_key,
        qtls_pki::Backend::AwsLc,
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&root_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    run(
        qtls().args(["pki", "crl", "--dir"]).arg(dir),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki crl without the root key");

    // A PKI whose root key is offline is still refused without --force.
    let again = pki_init(dir, &["--root-key-out", offline.to_str().unwrap()]);
    assert!(!again.success(), "{}", again.stdout);
}

/// `qtls pki init --passphrase-file` stores the CA keys as encrypted PKCS#8 (PBES2) that
/// OpenSSL 4 reads; the commands that sign with them need the passphrase (file or
/// QTLS_CA_PASSPHRASE) and say so without it; a key OpenSSL encrypted is read too.
#[test]
fn ca_keys_can_be_encrypted() {
    let dir = temp_dir("qtls-pki-files-encrypted-");
    let dir = dir.path();
    let secrets = temp_dir("qtls-pki-files-passphrase-");
    let pass = secrets.path().join("ca-pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let pass_arg = pass.to_str().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = run(
            qtls()
                .args(["pki", "init", "--profile", "mldsa65", "--dir"])
                .arg(dir)
                .args(["--passphrase-file", pass_arg]),
            COMMAND_TIMEOUT,
        );
        assert!(
            !open.success() && open.stderr.contains("chmod 600"),
            "{}",
            open.stderr
        );
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let init = run(
        qtls()
            .args(["pki", "init", "--profile", "mldsa65", "--dir"])
            .arg(dir)
            .args(["--passphrase-file", pass_arg]),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki init --passphrase-file");
    assert!(init.stdout.contains("encrypted"), "{}", init.stdout);
    for key in ["root.key", "intermediate.key"] {
        let pem = std::fs::read_to_string(dir.join(key)).unwrap();
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{key}: {pem}"
        );
    }
    for key in ["server.key", "client.key", "ocsp.key"] {
        let pem = std::fs::read_to_string(dir.join(key)).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    }

    let crl = |extra: &[&str], passphrase: Option<&str>| {
        let mut cmd = qtls();
        cmd.args(["pki", "crl", "--dir"]).arg(dir).args(extra);
        if let Some(passphrase) = passphrase {
            cmd.env("QTLS_CA_PASSPHRASE", passphrase);
        }
        run(&mut cmd, COMMAND_TIMEOUT)
    };
    let without = crl(&[], None);
    assert!(!without.success(), "{}", without.stdout);
    assert!(
        without.stderr.contains("encrypted") && without.stderr.contains("QTLS_CA_PASSPHRASE"),
        "{}",
        without.stderr
    );
    let wrong = crl(&[], Some("Tr0ub4dor&3"));
    assert!(!wrong.success(), "{}", wrong.stdout);
    assert!(wrong.stderr.contains("passphrase"), "{}", wrong.stderr);
    crl(&["--passphrase-file", pass_arg], None).expect_success("qtls pki crl --passphrase-file");
    crl(&[], Some("correct horse battery staple"))
        .expect_success("qtls pki crl, passphrase from the environment");

    // The OCSP responder signing with the (encrypted) CA key itself.
    let port = support::free_port();
    let _responder = support::Server::start(
        qtls()
            .args(["ocsp-responder", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--ca")
            .arg(dir.join("intermediate.pem"))
            .arg("--signer")
            .arg(dir.join("intermediate.pem"))
            .arg("--key")
            .arg(dir.join("intermediate.key"))
            .arg("--index")
            .arg(dir.join("revoked.txt"))
            .args(["--passphrase-file", pass_arg]),
        port,
        "listening on http",
        "qtls ocsp-responder with an encrypted CA key",
    );

    let Some(openssl) = support::require("OpenSSL 4 (QTLS_OPENSSL)", support::openssl()) else {
        return;
    };
    let passin = format!("file:{pass_arg}");
    let parsed = run(
        support::openssl_command(&openssl)
            .args(["asn1parse", "-in"])
            .arg(dir.join("intermediate.key")),
        COMMAND_TIMEOUT,
    )
    .expect_success("openssl asn1parse");
    for expected in ["PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"] {
        assert!(
            parsed.stdout.contains(expected),
            "{expected}: {}",
            parsed.stdout
        );
    }
    run(
        support::openssl_command(&openssl)
            .args(["pkey", "-noout", "-passin", &passin, "-in"])
            .arg(dir.join("intermediate.key")),
        COMMAND_TIMEOUT,
    )
    .expect_success("openssl pkey -passin (our encrypted key)");
    // OpenSSL's own encryption (as `openssl genpkey -aes256` writes it) read back by us.
    // OpenSSL reads -passout from the second line when -passin names the same file.
    let pass_out = secrets.path().join("ca-pass-out");
    std::fs::copy(&pass, &pass_out).unwrap();
    let passout = format!("file:{}", pass_out.display());
    let theirs = dir.join("intermediate-openssl.key");
    run(
        support::openssl_command(&openssl)
            .args([
                "pkey", "-aes256", "-passin", &passin, "-passout", &passout, "-in",
            ])
            .arg(dir.join("intermediate.key"))
            .arg("-out")
            .arg(&theirs),
        COMMAND_TIMEOUT,
    )
    .expect_success("openssl pkey -aes256");
    std::fs::rename(&theirs, dir.join("intermediate.key")).unwrap();
    crl(&["--passphrase-file", pass_arg], None)
        .expect_success("qtls pki crl with a key OpenSSL encrypted");
}

/// The root CA's CRL from the CLI (issue #12, item 2): `qtls pki init --ca-crl-url` names it in
/// the intermediate certificate, `qtls pki revoke --ca` records the intermediate's revocation
/// in root-revoked.txt, and `qtls pki crl --issuer root --root-key` signs root.crl with an
/// offline, encrypted root key, numbered from root-crlnumber apart from the intermediate's
/// crlnumber; OpenSSL 4 checks its signature against root.pem.
#[test]
fn root_crl_from_an_offline_encrypted_root_key() {
    let dir = temp_dir("qtls-pki-files-root-crl-");
    let dir = dir.path();
    let vault = temp_dir("qtls-pki-files-root-crl-vault-");
    let offline = vault.path().join("offline");
    let pass = vault.path().join("ca-pass");
    std::fs::write(&pass, "root crl passphrase\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let pass_arg = pass.to_str().unwrap();
    pki_init(
        dir,
        &[
            "--root-key-out",
            offline.to_str().unwrap(),
            "--passphrase-file",
            pass_arg,
            "--ca-crl-url",
            "http://127.0.0.1:9/root.crl",
            "--crl-url",
            "http://127.0.0.1:9/intermediate.crl",
        ],
    )
    .expect_success("qtls pki init --ca-crl-url");
    let intermediate = qtls_pki::Certificate::read_pem_file(&dir.join("intermediate.pem"))
        .unwrap()
        .remove(0);
    let der = intermediate.to_certificate_der();
    let (_, crl_urls) = qtls_verifier::ChainVerifier::revocation_urls(&der);
    assert_eq!(crl_urls, ["http://127.0.0.1:9/root.crl"]);
    let root_index = std::fs::read_to_string(dir.join("root-revoked.txt")).unwrap();
    assert!(
        root_index.starts_with('V') && root_index.contains("CN=Q-TLS Intermediate CA"),
        "{root_index}"
    );

    let crl = |extra: &[&str]| {
        run(
            qtls()
                .args(["pki", "crl", "--issuer", "root", "--dir"])
                .arg(dir)
                .args(["--passphrase-file", pass_arg])
                .args(extra),
            COMMAND_TIMEOUT,
        )
    };
    // The root key is not in DIR: say where to point.
    let missing = crl(&[]);
    assert!(!missing.success(), "{}", missing.stdout);
    assert!(missing.stderr.contains("--root-key"), "{}", missing.stderr);
    // The intermediate's key is not the root's.
    let wrong = crl(&["--root-key", dir.join("intermediate.key").to_str().unwrap()]);
    assert!(!wrong.success(), "{}", wrong.stdout);

    let root_key = offline.join("root.key");
    let root_key_arg = root_key.to_str().unwrap();
    crl(&["--root-key", root_key_arg]).expect_success("qtls pki crl --issuer root");
    let first = qtls_pki::RevocationList::read_file(&dir.join("root.crl")).unwrap();
    assert_eq!(first.issuer(), "CN=Q-TLS Root CA,O=Q-TLS");
    assert_eq!(first.crl_number(), Some(&[1u8][..]));
    assert!(first.revoked().is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.join("root-crlnumber")).unwrap(),
        "02\n"
    );
    assert!(!dir.join("crlnumber").exists(), "the intermediate's number");

    let revoke = run(
        qtls()
            .args(["pki", "revoke", "--ca", "--reason", "CACompromise", "--dir"])
            .arg(dir),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki revoke --ca");
    assert!(
        revoke.stdout.contains("root-revoked.txt"),
        "{}",
        revoke.stdout
    );
    // Revoking it twice is an error, as for end-entity certificates.
    let again = run(
        qtls()
            .args(["pki", "revoke", "--intermediate", "--dir"])
            .arg(dir),
        COMMAND_TIMEOUT,
    );
    assert!(!again.success(), "{}", again.stdout);
    let revoked = std::fs::read_to_string(dir.join("revoked.txt")).unwrap();
    assert!(!revoked.lines().any(|l| l.starts_with('R')), "{revoked}");

    let out = dir.join("published-root.crl");
    crl(&["--root-key", root_key_arg, "--out", out.to_str().unwrap()])
        .expect_success("qtls pki crl --issuer root --out");
    let second = qtls_pki::RevocationList::read_file(&out).unwrap();
    assert_eq!(second.crl_number(), Some(&[2u8][..]));
    let entry = second
        .find(intermediate.serial())
        .expect("the intermediate");
    assert_eq!(entry.reason, Some(qtls_pki::RevocationReason::CaCompromise));
    assert_eq!(second.revoked().len(), 1);

    // The intermediate's own CRL is unaffected and keeps its own numbering.
    run(
        qtls()
            .args(["pki", "crl", "--dir"])
            .arg(dir)
            .args(["--passphrase-file", pass_arg]),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki crl");
    let intermediate_crl =
        qtls_pki::RevocationList::read_file(&dir.join("intermediate.crl")).unwrap();
    assert_eq!(intermediate_crl.crl_number(), Some(&[1u8][..]));
    assert!(intermediate_crl.revoked().is_empty());
    let root_only = run(
        qtls()
            .args(["pki", "crl", "--dir"])
            .arg(dir)
            .args(["--root-key", root_key_arg]),
        COMMAND_TIMEOUT,
    );
    assert!(!root_only.success(), "--root-key without --issuer root");

    let Some(openssl) = support::require("OpenSSL 4 (QTLS_OPENSSL)", support::openssl()) else {
        return;
    };
    let verified = run(
        support::openssl_command(&openssl)
            .args(["crl", "-noout", "-text", "-in"])
            .arg(&out)
            .arg("-CAfile")
            .arg(dir.join("root.pem")),
        COMMAND_TIMEOUT,
    )
    .expect_success("openssl crl -CAfile root.pem");
    assert!(
        verified.stderr.contains("verify OK") || verified.stdout.contains("verify OK"),
        "{}\n{}",
        verified.stdout,
        verified.stderr
    );
    assert!(
        verified.stdout.contains("CA Compromise"),
        "{}",
        verified.stdout
    );
}

/// `qtls pki init | head -1`: a reader that stops early (here one that never reads) ends
/// the tool quietly, with success (a Unix tool would die of SIGPIPE); the PKI is written
/// first.
#[test]
fn a_closed_stdout_ends_the_tool_quietly() {
    let dir = temp_dir("qtls-pki-files-pipe-");
    let (status, stderr) = run_with_closed_stdout(
        qtls()
            .args(["pki", "init", "--profile", "ecdsa-p384", "--dir"])
            .arg(dir.path()),
    );
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(dir.path().join("root.pem").is_file());
}

/// A failure stays a failure when stdout is gone: `qtls client --json` to a port nobody
/// listens on writes its error report to the closed stdout and still exits non-zero, with
/// the error on stderr.
#[test]
fn a_failure_with_a_closed_stdout_still_fails() {
    let dir = temp_dir("qtls-pki-files-pipe-fail-");
    pki_init(dir.path(), &[]).expect_success("qtls pki init");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, stderr) = run_with_closed_stdout(
        qtls()
            .args([
                "client",
                "--json",
                "--connect",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--ca")
            .arg(dir.path().join("root.pem")),
    );
    assert!(!status.success(), "{status}: {stderr}");
    assert!(stderr.contains("qtls: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs `cmd` with its stdout closed before it writes anything: its exit status and stderr.
fn run_with_closed_stdout(cmd: &mut Command) -> (std::process::ExitStatus, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
