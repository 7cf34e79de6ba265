//! `qtls pki issue` for keys in a token: the certificate is in the PKI directory's revocation
//! index (revocable, in the CRL, known to the OCSP responder) and ends no later than its
//! issuer.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;
use qtls_test_support::tokens;

use std::path::{Path, PathBuf};
use std::process::Command;

use qtls_pki::{
    serial_hex, Certificate, IndexStatus, OcspCertId, OcspCertStatus, OcspHash, OcspRequestBuilder,
    OcspResponse, RevocationIndex, RevocationList,
};
use support::{qtls_bin, run, Output, Server, COMMAND_TIMEOUT};

fn qtls() -> Command {
    let mut cmd = Command::new(qtls_bin());
    cmd.env_remove("QTLS_CA_PASSPHRASE")
        .env_remove("QTLS_HSM_PIN");
    cmd
}

/// `qtls` with the test tokens' configuration and PIN.
fn qtls_hsm() -> Command {
    let mut cmd = qtls();
    cmd.envs(tokens::child_env())
        .env("QTLS_HSM_PIN", tokens::USER_PIN);
    cmd
}

fn pki_init(dir: &Path) -> Output {
    pki_init_with(dir, &[])
}

fn pki_init_with(dir: &Path, extra: &[&str]) -> Output {
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

/// Kryoptic's SQLite store answers a second process writing at the same time with
/// CKR_DEVICE_MEMORY: the tests of this file use the token one at a time.
static TOKEN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Generates an ECDSA-P384 key in the Kryoptic primary token; returns (module, key label).
fn token_key() -> Option<(PathBuf, String)> {
    let module = tokens::kryoptic()?;
    let label = tokens::unique("pki-files");
    run(
        qtls_hsm()
            .args(["hsm", "keygen", "--module"])
            .arg(&module)
            .args([
                "--token",
                tokens::PRIMARY,
                "--label",
                &label,
                "--alg",
                "ecdsa-p384",
            ]),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls hsm keygen");
    Some((module, label))
}

fn issue_for_token_key(dir: &Path, module: &Path, label: &str, extra: &[&str]) -> Output {
    run(
        qtls_hsm()
            .args(["pki", "issue", "--dir"])
            .arg(dir)
            .args(["--name", "hsm.test", "--hsm-module"])
            .arg(module)
            .args(["--hsm-token", tokens::PRIMARY, "--hsm-key", label])
            .args(extra),
        COMMAND_TIMEOUT,
    )
}

fn first_cert(path: &Path) -> Certificate {
    Certificate::read_pem_file(path)
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
}

/// POSTs one OCSP request to a responder on 127.0.0.1:`port`.
fn ocsp_post(port: u16, der: &[u8]) -> OcspResponse {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        der.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(der).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response head");
    assert!(
        response.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&response[..split])
    );
    OcspResponse::from_der(response[split + 4..].to_vec()).unwrap()
}

/// A certificate `qtls pki issue` made for a key in a token is in revoked.txt: `qtls pki
/// revoke` revokes it, `qtls pki crl` lists it and `qtls ocsp-responder` answers revoked.
#[test]
fn certificates_for_token_keys_are_revocable() {
    let _token = TOKEN.lock().unwrap_or_else(|e| e.into_inner());
    let Some((module, label)) = token_key() else {
        return;
    };
    let dir = temp_dir("qtls-pki-files-hsm-");
    let dir = dir.path();
    pki_init(dir).expect_success("qtls pki init");
    let chain = dir.join("hsm-chain.pem");
    issue_for_token_key(dir, &module, &label, &["--out", chain.to_str().unwrap()])
        .expect_success("qtls pki issue");
    let leaf = first_cert(&chain);
    let serial = leaf.serial().to_vec();

    let index = RevocationIndex::read(&dir.join(RevocationIndex::FILE_NAME)).unwrap();
    let entry = index.get(&serial).unwrap_or_else(|| {
        panic!(
            "serial {} is not in revoked.txt:\n{}",
            serial_hex(&serial),
            index
        )
    });
    assert_eq!(entry.status, IndexStatus::Valid);
    assert_eq!(entry.subject, "/O=Q-TLS/CN=hsm.test");

    run(
        qtls()
            .args(["pki", "revoke", "--reason", "keyCompromise", "--dir"])
            .arg(dir)
            .arg("--cert")
            .arg(&chain),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki revoke");
    run(
        qtls().args(["pki", "crl", "--dir"]).arg(dir),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki crl");
    let crl = RevocationList::read_file(&dir.join("intermediate.crl")).unwrap();
    assert!(
        crl.find(&serial).is_some(),
        "the CRL lists {}",
        serial_hex(&serial)
    );

    let port = support::free_port();
    let _responder = Server::start(
        qtls()
            .args(["ocsp-responder", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--ca")
            .arg(dir.join("intermediate.pem"))
            .arg("--signer")
            .arg(dir.join("ocsp.pem"))
            .arg("--key")
            .arg(dir.join("ocsp.key"))
            .arg("--index")
            .arg(dir.join("revoked.txt")),
        port,
        "listening on http",
        "qtls ocsp-responder",
    );
    let ca = first_cert(&dir.join("intermediate.pem"));
    let id = OcspCertId::for_certificate(OcspHash::Sha256, &ca, &leaf).unwrap();
    let request = OcspRequestBuilder::new()
        .cert_id(id.clone())
        .build()
        .unwrap();
    let response = ocsp_post(port, &request);
    assert!(
        matches!(
            response.find(&id).unwrap().status,
            OcspCertStatus::Revoked { .. }
        ),
        "{:?}",
        response.find(&id)
    );
}

/// `qtls pki issue --days` beyond the issuer's notAfter ends at the issuer's notAfter, and
/// says so.
#[test]
fn issued_validity_is_capped_at_the_issuer() {
    let _token = TOKEN.lock().unwrap_or_else(|e| e.into_inner());
    let Some((module, label)) = token_key() else {
        return;
    };
    let dir = temp_dir("qtls-pki-files-days-");
    let dir = dir.path();
    pki_init(dir).expect_success("qtls pki init");
    let chain = dir.join("long-chain.pem");
    let out = issue_for_token_key(
        dir,
        &module,
        &label,
        &["--days", "100000", "--out", chain.to_str().unwrap()],
    )
    .expect_success("qtls pki issue --days 100000");
    let issuer = first_cert(&dir.join("intermediate.pem"));
    let leaf = first_cert(&chain);
    assert!(
        leaf.not_after() <= issuer.not_after(),
        "leaf until {}, issuer until {}",
        leaf.not_after(),
        issuer.not_after()
    );
    assert!(out.stdout.contains("capped"), "{}", out.stdout);
}

/// With the root key kept offline (`qtls pki init --root-key-out`), `qtls pki issue` works
/// from the intermediate key alone; an encrypted one with its passphrase.
#[test]
fn issue_works_with_the_root_key_offline() {
    let _token = TOKEN.lock().unwrap_or_else(|e| e.into_inner());
    let Some((module, label)) = token_key() else {
        return;
    };
    let dir = temp_dir("qtls-pki-issue-offline-");
    let dir = dir.path();
    let offline = temp_dir("qtls-pki-issue-offline-root-");
    let pass = offline.path().join("pass");
    std::fs::write(&pass, "hsm issue passphrase\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    pki_init_with(
        dir,
        &[
            "--root-key-out",
            offline.path().to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
    )
    .expect_success("qtls pki init --root-key-out --passphrase-file");
    assert!(!dir.join("root.key").exists());
    let chain = dir.join("offline-chain.pem");
    let refused = issue_for_token_key(dir, &module, &label, &["--out", chain.to_str().unwrap()]);
    assert!(
        !refused.success() && refused.stderr.contains("encrypted"),
        "{}",
        refused.stderr
    );
    issue_for_token_key(
        dir,
        &module,
        &label,
        &[
            "--out",
            chain.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
    )
    .expect_success("qtls pki issue without the root key");
    let leaf = first_cert(&chain);
    assert_eq!(
        leaf.issuer(),
        first_cert(&dir.join("intermediate.pem")).subject()
    );
}
