//! `qtls hsm keygen`, `qtls pki issue` and `qtls server --hsm-*` against real tokens, with
//! `qtls client` at the other end: full handshakes with the server key in Kryoptic
//! (composites with ECDSA P-384, P-521, RSA-4096 PSS and Ed448 halves, ML-DSA-65,
//! ECDSA-P384) and in SoftHSM2 (ECDSA-P384); an X.509-only PKCS#1 v1.5 composite and a key
//! that can leave its token refused by the server (the latter unless
//! `--hsm-allow-exportable-key`). And the tokio server in process: resumption through the
//! ticket key in the token, and 32 clients at once.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;
use qtls_test_support::tokens;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{last_json, qtls_bin, run, Server, COMMAND_TIMEOUT};

fn qtls(pin: bool) -> Command {
    let mut cmd = Command::new(qtls_bin());
    cmd.envs(tokens::child_env()).env_remove("QTLS_HSM_PIN");
    if pin {
        cmd.env("QTLS_HSM_PIN", tokens::USER_PIN);
    }
    cmd
}

fn pki(dir: &Path) {
    run(
        qtls(false)
            .args(["pki", "init", "--profile", "composite", "--dir"])
            .arg(dir),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki init");
}

/// keygen, issue, serve, connect twice; returns the two client reports.
fn serve_token_key(
    dir: &Path,
    module: &Path,
    token: &str,
    alg: &str,
) -> (serde_json::Value, serde_json::Value, String) {
    let label = tokens::unique(&format!("cli-{alg}"));
    let keygen = run(
        qtls(true)
            .args(["hsm", "keygen", "--module"])
            .arg(module)
            .args(["--token", token, "--label", &label, "--alg", alg]),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls hsm keygen");
    assert!(keygen.stdout.contains("generated"), "{}", keygen.stdout);
    let chain = dir.join(format!("{label}-chain.pem"));
    run(
        qtls(true)
            .args(["pki", "issue", "--dir"])
            .arg(dir)
            .args(["--name", "localhost", "--hosts", "127.0.0.1"])
            .arg("--hsm-module")
            .arg(module)
            .args(["--hsm-token", token, "--hsm-key", &label, "--out"])
            .arg(&chain),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki issue");

    let port = support::free_port();
    let server = Server::start(
        qtls(true)
            .args(["server", "--listen", &format!("127.0.0.1:{port}"), "--cert"])
            .arg(&chain)
            .arg("--hsm-module")
            .arg(module)
            .args([
                "--hsm-token",
                token,
                "--hsm-key",
                &label,
                "--hsm-sessions",
                "2",
            ]),
        port,
        "listening on",
        &format!("qtls server with {alg} in {token}"),
    );
    let connect = || {
        let out = run(
            qtls(false)
                .args(["client", "--json", "--servername", "localhost"])
                .args(["--connect", &format!("127.0.0.1:{port}"), "--ca"])
                .arg(dir.join("root.pem")),
            COMMAND_TIMEOUT,
        );
        assert!(
            out.success(),
            "{}\n{}\n{}",
            out.stdout,
            out.stderr,
            server.output()
        );
        last_json(&out.stdout)
    };
    let first = connect();
    let second = connect();
    (first, second, server.output())
}

#[test]
fn qtls_client_and_server_with_the_server_key_in_each_token() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let mut cases: Vec<(PathBuf, &str, &str, &str)> = Vec::new();
    if let Some(kryoptic) = tokens::kryoptic() {
        cases.push((
            kryoptic.clone(),
            tokens::PRIMARY,
            "composite",
            "MLDSA65_ECDSA_P384_SHA512",
        ));
        cases.push((kryoptic.clone(), tokens::PRIMARY, "mldsa65", "ML_DSA_65"));
        // A composite whose ECDSA half is on P-521, by its readable name.
        cases.push((
            kryoptic.clone(),
            tokens::PRIMARY,
            "mldsa87-ecdsa-p521",
            "MLDSA87_ECDSA_P521_SHA512",
        ));
        // The design's RSA-4096 + ML-DSA-65, and an Ed448 half.
        cases.push((
            kryoptic.clone(),
            tokens::PRIMARY,
            "mldsa65-rsa4096-pss",
            "MLDSA65_RSA4096_PSS_SHA512",
        ));
        cases.push((
            kryoptic.clone(),
            tokens::PRIMARY,
            "mldsa87-ed448",
            "MLDSA87_Ed448_SHAKE256",
        ));
        cases.push((
            kryoptic,
            tokens::PRIMARY,
            "ecdsa-p384",
            "ECDSA_NISTP384_SHA384",
        ));
    }
    if let Some(softhsm) = tokens::softhsm() {
        cases.push((
            softhsm,
            tokens::SOFTHSM,
            "ecdsa-p384",
            "ECDSA_NISTP384_SHA384",
        ));
    }
    for (module, token, alg, scheme) in cases {
        let (first, second, log) = serve_token_key(dir.path(), &module, token, alg);
        assert_eq!(
            first["signature_scheme"], scheme,
            "{alg} in {token}: {first}"
        );
        assert_eq!(first["group"], "SecP384r1MLKEM1024");
        assert_eq!(first["http_status"], "HTTP/1.1 200 OK");
        assert_eq!(first["resumed"], false);
        assert_eq!(second["signature_scheme"], scheme, "{second}");
        assert!(log.contains("new ticket key"), "{log}");
        assert!(
            !log.contains(tokens::USER_PIN),
            "the PIN appeared in the log:\n{log}"
        );
    }
}

/// `qtls hsm keygen --alg` with a composite no token here can hold (a brainpool half):
/// refused with the reason, nothing generated.
#[test]
fn qtls_hsm_keygen_names_what_the_token_cannot_hold() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    for (alg, reason) in [
        ("mldsa65-ecdsa-bp256", "brainpool"),
        ("mldsa87-ecdsa-bp384", "brainpool"),
    ] {
        let label = tokens::unique("cli-refused");
        let out = run(
            qtls(true)
                .args(["hsm", "keygen", "--module"])
                .arg(&kryoptic)
                .args(["--token", tokens::PRIMARY, "--label", &label, "--alg", alg]),
            COMMAND_TIMEOUT,
        );
        assert!(!out.success(), "{alg}: {}", out.stdout);
        assert!(
            out.stderr.contains("cannot be kept in a token") && out.stderr.contains(reason),
            "{alg}: {}",
            out.stderr
        );
        let list = run(
            qtls(true)
                .args(["hsm", "list", "--module"])
                .arg(&kryoptic)
                .args(["--token", tokens::PRIMARY]),
            COMMAND_TIMEOUT,
        )
        .expect_success("qtls hsm list");
        assert!(!list.stdout.contains(&label), "{}", list.stdout);
    }
}

/// An RSASSA-PKCS1-v1_5 composite in a token is for certificates only: `qtls hsm keygen`
/// makes it and `qtls pki issue` certifies it, but `qtls server` refuses to serve it, naming
/// the PSS composite to use instead (draft-reddy-tls-composite-mldsa-10 §3).
#[test]
fn qtls_server_refuses_an_x509_only_composite_in_a_token() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let label = tokens::unique("cli-pkcs15");
    run(
        qtls(true)
            .args(["hsm", "keygen", "--module"])
            .arg(&kryoptic)
            .args(["--token", tokens::PRIMARY, "--label", &label])
            .args(["--alg", "mldsa44-rsa2048-pkcs15"]),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls hsm keygen");
    let chain = dir.path().join("pkcs15-chain.pem");
    run(
        qtls(true)
            .args(["pki", "issue", "--dir"])
            .arg(dir.path())
            .args(["--name", "localhost", "--hsm-module"])
            .arg(&kryoptic)
            .args(["--hsm-token", tokens::PRIMARY, "--hsm-key", &label, "--out"])
            .arg(&chain),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki issue");
    let port = support::free_port();
    let out = run(
        qtls(true)
            .args(["server", "--listen", &format!("127.0.0.1:{port}"), "--cert"])
            .arg(&chain)
            .arg("--hsm-module")
            .arg(&kryoptic)
            .args(["--hsm-token", tokens::PRIMARY, "--hsm-key", &label]),
        COMMAND_TIMEOUT,
    );
    assert!(!out.success(), "{}", out.stdout);
    assert!(
        out.stderr.contains("MLDSA44-RSA2048-PKCS15-SHA256")
            && out.stderr.contains("MLDSA44-RSA2048-PSS-SHA256"),
        "{}",
        out.stderr
    );
}

/// A key that can leave its token (imported with CKA_EXTRACTABLE true into Kryoptic, with
/// CKA_SENSITIVE false into SoftHSM2): `qtls server` refuses to start, naming the key and the
/// attribute; with `--hsm-allow-exportable-key` it serves.
#[test]
fn qtls_server_refuses_a_key_that_can_leave_the_token_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let mut cases: Vec<(PathBuf, &str, &str, qtls_hsm::ImportProtection)> = Vec::new();
    // The spare tokens, which no other test here writes to: SoftHSM2 now and then fails
    // C_CreateObject with CKR_GENERAL_ERROR while another session creates objects in the
    // same token (see qtls-hsm/tests/signing.rs).
    if let Some(kryoptic) = tokens::kryoptic() {
        cases.push((
            kryoptic,
            tokens::SPARE,
            "CKA_EXTRACTABLE",
            qtls_hsm::ImportProtection {
                sensitive: true,
                extractable: true,
            },
        ));
    }
    if let Some(softhsm) = tokens::softhsm() {
        cases.push((
            softhsm,
            tokens::SOFTHSM_SPARE,
            "CKA_SENSITIVE",
            qtls_hsm::ImportProtection {
                sensitive: false,
                extractable: false,
            },
        ));
    }
    for (module, token, attribute, protection) in cases {
        let label = tokens::unique("exportable");
        let software = qtls_provider::KeyPair::generate(
            qtls_provider::KeyAlgorithm::Ecdsa(qtls_provider::EcCurve::P384),
            qtls_provider::Backend::AwsLc,
        )
        .unwrap();
        {
            let config = tokens::config(&module, token).build().unwrap();
            qtls_hsm::TokenAdmin::open(&config)
                .unwrap()
                .danger_import_with_protection(&label, &software, protection)
                .unwrap();
        }
        let chain = dir.path().join(format!("{label}-chain.pem"));
        run(
            qtls(true)
                .args(["pki", "issue", "--dir"])
                .arg(dir.path())
                .args(["--name", "localhost", "--hosts", "127.0.0.1"])
                .arg("--hsm-module")
                .arg(&module)
                .args(["--hsm-token", token, "--hsm-key", &label, "--out"])
                .arg(&chain),
            COMMAND_TIMEOUT,
        )
        .expect_success("qtls pki issue");
        let server = |port: u16| {
            let mut cmd = qtls(true);
            cmd.args(["server", "--listen", &format!("127.0.0.1:{port}"), "--cert"])
                .arg(&chain)
                .arg("--hsm-module")
                .arg(&module)
                .args(["--hsm-token", token, "--hsm-key", &label]);
            cmd
        };

        let refused = run(&mut server(support::free_port()), COMMAND_TIMEOUT);
        assert!(
            refused.status.is_some() && !refused.success(),
            "{token}: the server started with a key whose {attribute} lets it out\n{}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains(&label)
                && refused.stderr.contains(attribute)
                && refused.stderr.contains("--hsm-allow-exportable-key"),
            "{token}: {}",
            refused.stderr
        );

        let port = support::free_port();
        let allowed = Server::start(
            server(port).arg("--hsm-allow-exportable-key"),
            port,
            "listening on",
            &format!("qtls server with an exportable key in {token}"),
        );
        let out = run(
            qtls(false)
                .args(["client", "--json", "--servername", "localhost"])
                .args(["--connect", &format!("127.0.0.1:{port}"), "--ca"])
                .arg(dir.path().join("root.pem")),
            COMMAND_TIMEOUT,
        );
        assert!(out.success(), "{}\n{}", out.stderr, allowed.output());
        assert_eq!(
            last_json(&out.stdout)["signature_scheme"],
            "ECDSA_NISTP384_SHA384"
        );
        assert!(
            allowed.output().contains("can leave the token"),
            "{}",
            allowed.output()
        );
    }
}

#[test]
fn pins_come_from_a_file_or_the_environment_only() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let label = tokens::unique("pin");
    let keygen = |cmd: &mut Command, pin_file: Option<&Path>| {
        cmd.args(["hsm", "keygen", "--module"])
            .arg(&kryoptic)
            .args([
                "--token",
                tokens::PRIMARY,
                "--label",
                &label,
                "--alg",
                "mldsa65",
            ]);
        if let Some(pin_file) = pin_file {
            cmd.arg("--pin-file").arg(pin_file);
        }
        run(cmd, COMMAND_TIMEOUT)
    };
    let missing = keygen(&mut qtls(false), None);
    assert!(!missing.success());
    assert!(
        missing.stderr.contains("QTLS_HSM_PIN") && missing.stderr.contains("not set"),
        "{}",
        missing.stderr
    );
    // A wrong PIN is named as such, and is not echoed.
    let wrong = keygen(qtls(false).env("QTLS_HSM_PIN", "not-the-pin-2718"), None);
    assert!(!wrong.success());
    assert!(wrong.stderr.contains("PinIncorrect"), "{}", wrong.stderr);
    assert!(
        !wrong.stderr.contains("not-the-pin-2718"),
        "{}",
        wrong.stderr
    );
    // A URI with a pin-value is refused, without repeating it.
    let uri = run(
        qtls(true).args([
            "hsm",
            "keygen",
            "--uri",
            &format!(
                "pkcs11:token={};object=x?module-path={}&pin-value=secret-in-uri-1618",
                tokens::PRIMARY,
                kryoptic.display()
            ),
        ]),
        COMMAND_TIMEOUT,
    );
    assert!(!uri.success());
    assert!(
        uri.stderr.contains("pin-value is refused"),
        "{}",
        uri.stderr
    );
    assert!(!uri.stderr.contains("secret-in-uri-1618"), "{}", uri.stderr);
    // There is no flag that takes a PIN itself.
    let flag = run(
        qtls(false).args(["hsm", "keygen", "--pin", tokens::USER_PIN]),
        COMMAND_TIMEOUT,
    );
    assert!(!flag.success());
    let dir = tempfile::tempdir().unwrap();
    let pin_file = tokens::pin_file(dir.path());
    keygen(&mut qtls(false), Some(&pin_file)).expect_success("keygen with --pin-file");
    let list = run(
        qtls(true)
            .args(["hsm", "list", "--module"])
            .arg(&kryoptic)
            .args(["--token", tokens::PRIMARY]),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls hsm list");
    assert!(
        list.stdout.contains(&format!("{label}\tML-DSA-65")),
        "{}",
        list.stdout
    );
}

/// A tokio server with its key (and ticket key) in Kryoptic, in this process.
async fn in_process_server(
    dir: &Path,
    alg: qtls_provider::KeyAlgorithm,
    tickets_in_token: bool,
) -> Option<(qtls_cli::Server, PathBuf)> {
    let kryoptic = tokens::kryoptic()?;
    pki(dir);
    let label = tokens::unique("in-process");
    let config = tokens::config(&kryoptic, tokens::PRIMARY).build().unwrap();
    let chain = dir.join("in-process-chain.pem");
    tokens::generate_with_chain(&config, &label, alg, dir, &chain);
    let pin_file = tokens::pin_file(dir);
    let mut hsm = qtls::hsm::HsmSettings::new(
        chain,
        &label,
        qtls::hsm::HsmToken {
            module: kryoptic,
            token: tokens::PRIMARY.into(),
            pin_file: Some(pin_file),
        },
    );
    hsm.sessions = 4;
    if !tickets_in_token {
        // Stateful sessions in memory instead.
        hsm.ticket_rotation = None;
    }
    let server = qtls_cli::Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        qtls_cli::ServerSettings {
            hsm: Some(hsm),
            ..qtls_cli::ServerSettings::default()
        },
    )
    .await
    .unwrap();
    Some((server, dir.join("root.pem")))
}

fn client(roots: &Path) -> (rustls::ClientConfig, qtls::SchemeRecord) {
    let settings = qtls::TlsSettings::default();
    let (mut config, record) =
        qtls::client_config(&settings, qtls::read_certificates(roots).unwrap(), None).unwrap();
    config.resumption = rustls::client::Resumption::store(std::sync::Arc::new(
        rustls::client::ClientSessionMemoryCache::new(64),
    ));
    (config, record)
}

async fn get(
    addr: &str,
    config: &rustls::ClientConfig,
    record: &qtls::SchemeRecord,
) -> qtls::client::ClientReport {
    qtls::client::get(
        addr,
        rustls_pki_types::ServerName::try_from("localhost").unwrap(),
        config.clone(),
        record.clone(),
        &qtls_provider::CodePoints::DEFAULT,
        std::time::Duration::from_secs(20),
    )
    .await
    .unwrap()
}

/// Against an in-process server with an ML-DSA-65 key in Kryoptic (and the ticket key too,
/// with `tickets_in_token`; else stateful sessions in memory): the HSM operations of a full
/// handshake, then of each of three resumptions.
async fn hsm_operations_per_handshake(tickets_in_token: bool) -> Option<(u64, Vec<u64>)> {
    let dir = tempfile::tempdir().unwrap();
    let (server, roots) = in_process_server(
        dir.path(),
        qtls_provider::KeyAlgorithm::MlDsa(qtls_provider::MlDsaLevel::MlDsa65),
        tickets_in_token,
    )
    .await?;
    let addr = server.local_addr().unwrap().to_string();
    let hsm = server.hsm().unwrap().clone();
    let shutdown = server.shutdown_handle();
    let running = tokio::spawn(server.run());
    let (config, record) = client(&roots);
    let mut before = hsm.operations();
    let first = get(&addr, &config, &record).await;
    assert!(!first.resumed);
    assert_eq!(first.info.signature_scheme.as_deref(), Some("ML_DSA_65"));
    let full = hsm.operations() - before;
    let mut resumptions = Vec::new();
    for _ in 0..3 {
        before = hsm.operations();
        let resumed = get(&addr, &config, &record).await;
        assert!(
            resumed.resumed,
            "no resumption (tickets in the token: {tickets_in_token})"
        );
        assert_eq!(resumed.http_status.as_deref(), Some("HTTP/1.1 200 OK"));
        resumptions.push(hsm.operations() - before);
    }
    shutdown.shutdown();
    running.await.unwrap().unwrap();
    Some((full, resumptions))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumption_through_the_ticket_key_in_the_token() {
    let Some((full, resumptions)) = hsm_operations_per_handshake(true).await else {
        return;
    };
    // One signature, and the two tickets rustls sends encrypted in the token; a resumption
    // signs nothing: one ticket decrypted, two new ones encrypted.
    assert_eq!(full, 3);
    assert_eq!(resumptions, [3, 3, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateful_resumption_makes_no_hsm_operation() {
    let Some((full, resumptions)) = hsm_operations_per_handshake(false).await else {
        return;
    };
    assert_eq!(full, 1, "one signature");
    assert_eq!(resumptions, [0, 0, 0], "resumptions touched the token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some((server, roots)) = in_process_server(
        dir.path(),
        qtls_provider::KeyAlgorithm::Composite(
            qtls_provider::CompositeAlgorithm::MlDsa65EcdsaP384Sha512,
        ),
        true,
    )
    .await
    else {
        return;
    };
    let addr = server.local_addr().unwrap().to_string();
    let shutdown = server.shutdown_handle();
    let running = tokio::spawn(server.run());
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (addr, roots) = (addr.clone(), roots.clone());
        clients.spawn(async move {
            // Each client its own configuration: 32 full handshakes, 32 signatures.
            let (config, record) = client(&roots);
            get(&addr, &config, &record).await
        });
    }
    let mut served = 0;
    while let Some(report) = clients.join_next().await {
        let report = report.unwrap();
        assert_eq!(
            report.info.signature_scheme.as_deref(),
            Some("MLDSA65_ECDSA_P384_SHA512")
        );
        assert!(!report.resumed);
        served += 1;
    }
    assert_eq!(served, 32);
    shutdown.shutdown();
    running.await.unwrap().unwrap();
}

/// `qtls hsm init-token` makes a Kryoptic token from nothing (its own slot configuration,
/// PINs from the environment, never the command line), which `qtls hsm keygen` and `list`
/// then use; without a security officer PIN it refuses, saying where the PIN comes from.
#[test]
fn qtls_hsm_init_token_makes_a_token_keygen_can_use() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("kryoptic.conf");
    std::fs::write(
        &conf,
        format!(
            "[[slots]]\nslot = 1\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n",
            dir.path().join("token.sql").display()
        ),
    )
    .unwrap();
    let label = "qtls-init-token-test";
    let cli = |args: &[&str]| {
        let mut cmd = Command::new(qtls_bin());
        cmd.env("KRYOPTIC_CONF", &conf)
            .env("QTLS_HSM_PIN", "user-pin-4711")
            .env_remove("QTLS_HSM_SO_PIN")
            .args(args)
            .arg("--module")
            .arg(&kryoptic);
        cmd
    };

    let refused = run(
        &mut cli(&["hsm", "init-token", "--slot", "1", "--label", label]),
        COMMAND_TIMEOUT,
    );
    assert!(!refused.success(), "{}", refused.stdout);
    assert!(
        refused.stderr.contains("QTLS_HSM_SO_PIN"),
        "{}",
        refused.stderr
    );

    run(
        cli(&["hsm", "init-token", "--slot", "1", "--label", label])
            .env("QTLS_HSM_SO_PIN", "so-pin-0815"),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls hsm init-token");
    run(
        &mut cli(&[
            "hsm", "keygen", "--token", label, "--label", "k1", "--alg", "mldsa65",
        ]),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls hsm keygen in the new token");
    let listed = run(
        &mut cli(&["hsm", "list", "--token", label]),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls hsm list");
    assert!(listed.stdout.contains("k1"), "{}", listed.stdout);
}
