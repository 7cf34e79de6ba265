//! Revocation of mTLS client certificates with a PKI made only by the CLI (issue #12, item 2):
//! `qtls pki init --crl-url/--ocsp-url` puts the CRL distribution point and the OCSP address
//! in the certificates, `qtls server --client-crl FILE` (re-read when the file changes) or the
//! OCSP responder tells the server about revocations, and a client revoked with `qtls pki
//! revoke` is then refused with certificate_revoked (RFC 5280 §6.3, RFC 6960).

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use qtls_pki::Pki;
use qtls_provider::Backend;
use qtls_verifier::{RevocationDepth, RevocationPolicy, ServerVerifierBuilder};
use runtime_support::{expect_line, qtls, run_client, start_responder, start_server, ClientRun};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// `qtls pki init --dir DIR --profile mldsa65 EXTRA...` into a fresh temporary folder.
fn pki_init(extra: &[&str]) -> runtime_support::TestPki {
    let dir = tempfile::Builder::new()
        .prefix("qtls-mtls-revocation-")
        .tempdir()
        .unwrap();
    support::run(
        qtls()
            .args(["pki", "init", "--dir"])
            .arg(dir.path())
            .args(["--profile", "mldsa65"])
            .args(extra),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki init");
    let pki = Pki::load_from_dir(dir.path(), Backend::AwsLc).unwrap();
    runtime_support::TestPki { dir, pki }
}

fn pki_command(dir: &Path, args: &[&str]) -> support::Output {
    support::run(
        qtls().arg("pki").args(args).arg("--dir").arg(dir),
        COMMAND_TIMEOUT,
    )
}

/// `qtls server` requiring a client certificate from the PKI's root, plus `extra`.
fn mtls_server(pki: &runtime_support::TestPki, extra: &[OsString]) -> support::Server {
    let mut args = pki.server_cert_args();
    args.extend([
        OsString::from("--client-ca"),
        pki.root().into(),
        "--require-client-cert".into(),
    ]);
    args.extend(extra.iter().cloned());
    start_server(args)
}

fn revoke_client(pki: &runtime_support::TestPki) {
    let client = pki.path("client.pem");
    pki_command(
        pki.dir.path(),
        &["revoke", "--cert", client.to_str().unwrap()],
    )
    .expect_success("qtls pki revoke");
}

/// Connects until the client is refused (the server re-reads what changed within a few
/// seconds), at most `bound`; returns the last run.
fn connect_until_refused(port: u16, pki: &runtime_support::TestPki, bound: Duration) -> ClientRun {
    let start = Instant::now();
    loop {
        let run = run_client(port, &pki.root(), pki.client_cert_args());
        if !run.succeeded() || start.elapsed() > bound {
            return run;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn assert_revoked(run: &ClientRun) {
    assert!(!run.succeeded(), "{}", run.describe());
    assert_eq!(
        run.alert(),
        (Some("certificate_revoked"), Some("received")),
        "{}",
        run.describe()
    );
}

#[test]
fn pki_init_puts_the_ocsp_and_crl_addresses_in_the_end_entity_certificates() {
    let pki = pki_init(&[
        "--ocsp-url",
        "http://127.0.0.1:9/ocsp",
        "--crl-url",
        "http://127.0.0.1:9/intermediate.crl",
    ]);
    for cert in [
        pki.pki.client().certificate(),
        pki.pki.server().certificate(),
    ] {
        let (ocsp, crls) =
            qtls_verifier::ChainVerifier::revocation_urls(&cert.to_certificate_der());
        assert_eq!(ocsp, ["http://127.0.0.1:9/ocsp"], "{}", cert.subject());
        assert_eq!(
            crls,
            ["http://127.0.0.1:9/intermediate.crl"],
            "{}",
            cert.subject()
        );
    }
}

#[test]
fn client_revoked_in_the_client_crl_file_gets_certificate_revoked() {
    let pki = pki_init(&["--crl-url", "http://127.0.0.1:9/intermediate.crl"]);
    pki_command(pki.dir.path(), &["crl"]).expect_success("qtls pki crl");
    let server = mtls_server(
        &pki,
        &[
            "--client-crl".into(),
            pki.path("intermediate.crl").into(),
            "--client-revocation".into(),
            "hard-fail".into(),
            "--client-revocation-depth".into(),
            "end-entity".into(),
        ],
    );
    // Hard-fail: the CRL (not yet listing the client) is a status source, so it connects.
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());

    revoke_client(&pki);
    pki_command(pki.dir.path(), &["crl"]).expect_success("qtls pki crl");
    // Well within the CRL file's re-read interval plus a few handshakes.
    let run = connect_until_refused(server.port, &pki, Duration::from_secs(30));
    assert_revoked(&run);
    expect_line(&server, &["connection failed", "certificate_revoked sent"]);
}

#[test]
fn client_revoked_at_the_ocsp_responder_gets_certificate_revoked() {
    let responder_port = support::free_port();
    let url = format!("http://127.0.0.1:{responder_port}/");
    let pki = pki_init(&["--ocsp-url", &url]);
    // Responses valid for 2 s: the server's cached "good" answer expires quickly.
    let responder = start_responder(&pki, responder_port, 2);
    let server = mtls_server(
        &pki,
        &[
            "--client-revocation".into(),
            "hard-fail".into(),
            "--client-revocation-depth".into(),
            "end-entity".into(),
        ],
    );
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());

    revoke_client(&pki);
    let run = connect_until_refused(server.port, &pki, Duration::from_secs(30));
    assert_revoked(&run);
    assert!(
        runtime_support::log_of(&responder).contains("Revoked"),
        "{}",
        runtime_support::log_of(&responder)
    );
}

#[test]
fn client_ocsp_responder_flag_replaces_the_certificates_aia() {
    // No address in the certificates: the server asks the responder it was given.
    let pki = pki_init(&[]);
    let responder_port = support::free_port();
    let responder = start_responder(&pki, responder_port, 2);
    let server = mtls_server(
        &pki,
        &[
            "--client-ocsp-responder".into(),
            format!("http://127.0.0.1:{responder_port}/").into(),
            "--client-revocation".into(),
            "hard-fail".into(),
            "--client-revocation-depth".into(),
            "end-entity".into(),
        ],
    );
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());

    revoke_client(&pki);
    let run = connect_until_refused(server.port, &pki, Duration::from_secs(30));
    assert_revoked(&run);
    assert!(
        runtime_support::log_of(&responder).contains("Revoked"),
        "{}",
        runtime_support::log_of(&responder)
    );
}

#[test]
fn client_auth_section_of_qtls_toml_takes_crls_and_the_revocation_depth() {
    let pki = pki_init(&[]);
    pki_command(pki.dir.path(), &["crl"]).expect_success("qtls pki crl");
    let config = pki.path("qtls.toml");
    let toml_path = |name: &str| toml::Value::String(pki.path(name).display().to_string());
    std::fs::write(
        &config,
        format!(
            "[[certificate]]\nchain = {}\nkey = {}\n\n[client_auth]\nca = {}\nrequired = true\n\
             revocation = \"hard-fail\"\nrevocation_depth = \"end-entity\"\ncrls = [{}]\n",
            toml_path("server-chain.pem"),
            toml_path("server.key"),
            toml_path("root.pem"),
            toml_path("intermediate.crl"),
        ),
    )
    .unwrap();
    let server = start_server([OsString::from("--config"), config.into()]);
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());

    revoke_client(&pki);
    pki_command(pki.dir.path(), &["crl"]).expect_success("qtls pki crl");
    let run = connect_until_refused(server.port, &pki, Duration::from_secs(30));
    assert_revoked(&run);
}

/// The README's hard-fail verifier (`ServerVerifierBuilder` with `RevocationPolicy::HardFail`),
/// connecting to `qtls server` once; the client's error when the handshake fails.
fn readme_client(
    pki: &runtime_support::TestPki,
    port: u16,
    depth: Option<RevocationDepth>,
) -> Result<(), String> {
    readme_client_with(pki, port, |builder| match depth {
        Some(depth) => builder.revocation_depth(depth),
        None => builder,
    })
}

/// [`readme_client`] with the builder changed by `configure` (CRL files, say).
fn readme_client_with(
    pki: &runtime_support::TestPki,
    port: u16,
    configure: impl FnOnce(ServerVerifierBuilder) -> ServerVerifierBuilder,
) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::sync::Arc;
    let provider = Arc::new(qtls_provider::hybrid());
    let roots = qtls::read_certificates(&pki.root()).unwrap();
    let builder = ServerVerifierBuilder::new(roots, &provider)
        .revocation_policy(RevocationPolicy::HardFail)
        .require_pq_signatures(true);
    let verifier = configure(builder).build().unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let connection =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    assert!(
        response.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&response)
    );
    Ok(())
}

#[test]
fn readme_hard_fail_verifier_works_on_a_pki_from_qtls_pki_init() {
    let responder_port = support::free_port();
    let pki = pki_init(&["--ocsp-url", &format!("http://127.0.0.1:{responder_port}/")]);
    let _responder = start_responder(&pki, responder_port, 3600);
    let server = start_server(pki.server_cert_args());

    // The whole chain (the default): the intermediate has no status source, and the error
    // says which certificate and what was tried.
    let error = readme_client(&pki, server.port, None).unwrap_err();
    for needle in [
        "CN=Q-TLS Intermediate CA",
        "no OCSP responder",
        "no CRL distribution point",
    ] {
        assert!(error.contains(needle), "{needle:?} missing from: {error}");
    }
    // The end entity only: the responder `pki init --ocsp-url` named answers.
    readme_client(&pki, server.port, Some(RevocationDepth::EndEntity)).unwrap();

    let server_cert = pki.path("server.pem");
    pki_command(
        pki.dir.path(),
        &["revoke", "--cert", server_cert.to_str().unwrap()],
    )
    .expect_success("qtls pki revoke");
    let error = readme_client(&pki, server.port, Some(RevocationDepth::EndEntity)).unwrap_err();
    assert!(error.contains("Revoked"), "{error}");
}

/// `qtls pki crl --issuer root`: the root's CRL (root.crl) and the intermediate's
/// (intermediate.crl).
fn both_crls(pki: &runtime_support::TestPki) {
    pki_command(pki.dir.path(), &["crl"]).expect_success("qtls pki crl");
    pki_command(pki.dir.path(), &["crl", "--issuer", "root"])
        .expect_success("qtls pki crl --issuer root");
}

fn revoke_intermediate(pki: &runtime_support::TestPki) {
    pki_command(pki.dir.path(), &["revoke", "--ca"]).expect_success("qtls pki revoke --ca");
    pki_command(pki.dir.path(), &["crl", "--issuer", "root"])
        .expect_success("qtls pki crl --issuer root");
}

/// The server flags of the whole-chain hard-fail setup: the default depth (chain) and both
/// CRLs.
fn whole_chain_hard_fail(pki: &runtime_support::TestPki) -> Vec<OsString> {
    vec![
        "--client-revocation".into(),
        "hard-fail".into(),
        "--client-crl".into(),
        pki.path("root.crl").into(),
        "--client-crl".into(),
        pki.path("intermediate.crl").into(),
    ]
}

/// Whole-chain hard-fail (the default depth) on a PKI made by `qtls pki init`: with the root's
/// CRL from `qtls pki crl --issuer root` beside the intermediate's, the server has a status for
/// every certificate of the client's chain; it admits the client, then refuses it once revoked.
#[test]
fn whole_chain_hard_fail_with_the_root_and_intermediate_crls() {
    let pki = pki_init(&[
        "--ca-crl-url",
        "http://127.0.0.1:9/root.crl",
        "--crl-url",
        "http://127.0.0.1:9/intermediate.crl",
    ]);
    both_crls(&pki);
    let server = mtls_server(&pki, &whole_chain_hard_fail(&pki));
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());

    revoke_client(&pki);
    pki_command(pki.dir.path(), &["crl"]).expect_success("qtls pki crl");
    let run = connect_until_refused(server.port, &pki, Duration::from_secs(30));
    assert_revoked(&run);
    expect_line(&server, &["CN=qtls-client,O=Q-TLS is revoked (CRL)"]);
}

/// `qtls pki revoke --ca` and `qtls pki crl --issuer root` revoke the intermediate CA: the
/// whole-chain hard-fail server refuses every client below it with certificate_revoked, and
/// names the intermediate.
#[test]
fn revoked_intermediate_in_the_root_crl_refuses_every_client() {
    let pki = pki_init(&[]);
    both_crls(&pki);
    let server = mtls_server(&pki, &whole_chain_hard_fail(&pki));
    let run = run_client(server.port, &pki.root(), pki.client_cert_args());
    assert!(run.succeeded(), "{}", run.describe());

    revoke_intermediate(&pki);
    let run = connect_until_refused(server.port, &pki, Duration::from_secs(30));
    assert_revoked(&run);
    expect_line(
        &server,
        &["CN=Q-TLS Intermediate CA,O=Q-TLS is revoked (CRL)"],
    );
    // The client's own entry is untouched: it is the intermediate that is refused.
    let index = std::fs::read_to_string(pki.path("revoked.txt")).unwrap();
    assert!(!index.lines().any(|l| l.starts_with('R')), "{index}");
}

/// The client side: the README's hard-fail verifier over the whole chain, given both CRLs
/// with `ServerVerifierBuilder::crl_files`, accepts the server, and refuses it once the root's CRL
/// lists the intermediate.
#[test]
fn readme_verifier_with_both_crl_files_checks_the_whole_chain() {
    let pki = pki_init(&[]);
    both_crls(&pki);
    let server = start_server(pki.server_cert_args());
    let crl_files = vec![pki.path("root.crl"), pki.path("intermediate.crl")];
    readme_client_with(&pki, server.port, |b| b.crl_files(crl_files.clone())).unwrap();

    revoke_intermediate(&pki);
    let error =
        readme_client_with(&pki, server.port, |b| b.crl_files(crl_files.clone())).unwrap_err();
    // rustls keeps only the kind (the verifier's log names the intermediate); the server
    // certificate itself was not revoked.
    assert!(error.contains("Revoked"), "{error}");
}

/// Serves the current contents of `file` to every HTTP request `listener` accepts (a CRL
/// distribution point), until the test process ends.
fn serve_file(listener: std::net::TcpListener, file: std::path::PathBuf) {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let body = std::fs::read(&file).unwrap_or_default();
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            let _ = stream.write_all(&body);
        }
    });
}

/// `qtls pki init --ca-crl-url` puts the root's CRL in the intermediate certificate: the
/// README's hard-fail verifier, with no CRL configured, fetches it from there (and asks the
/// OCSP responder `--ocsp-url` names about the server certificate), so the whole chain has a
/// status; once the root's CRL lists the intermediate, it refuses.
#[test]
fn readme_verifier_fetches_the_root_crl_from_the_intermediates_distribution_point() {
    let crl_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let crl_port = crl_listener.local_addr().unwrap().port();
    let responder_port = support::free_port();
    let pki = pki_init(&[
        "--ocsp-url",
        &format!("http://127.0.0.1:{responder_port}/"),
        "--ca-crl-url",
        &format!("http://127.0.0.1:{crl_port}/root.crl"),
    ]);
    serve_file(crl_listener, pki.path("root.crl"));
    pki_command(pki.dir.path(), &["crl", "--issuer", "root"])
        .expect_success("qtls pki crl --issuer root");
    let _responder = start_responder(&pki, responder_port, 3600);
    let server = start_server(pki.server_cert_args());

    readme_client(&pki, server.port, None).unwrap();

    revoke_intermediate(&pki);
    let error = readme_client(&pki, server.port, None).unwrap_err();
    // rustls keeps only the kind (the verifier's log names the intermediate); the server
    // certificate itself was not revoked.
    assert!(error.contains("Revoked"), "{error}");
}
