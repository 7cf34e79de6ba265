//! `qtls ocsp-responder` as a process: queried with our own request bytes (POST and GET) and
//! with `openssl ocsp -url`, before and after `qtls pki revoke`; and `qtls pki crl`.
//!
//! The OpenSSL half needs `QTLS_OPENSSL` (skipped without it, except under `CI=true`).
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use qtls_pki::x509_ocsp::OcspResponseStatus;
use qtls_pki::{
    serial_hex, Certificate, OcspCertId, OcspCertStatus, OcspHash, OcspRequestBuilder,
    OcspResponse, Pki, RevocationList, RevocationReason,
};
use support::{free_port, run, Server, COMMAND_TIMEOUT};

fn qtls() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qtls"))
}

/// One HTTP/1.1 exchange on a fresh connection: (status code, content type, body).
fn http(port: u16, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let request = format!(
        "{head}\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("status line in {head:?}"));
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, response[split + 4..].to_vec())
}

fn post(port: u16, der: &[u8]) -> OcspResponse {
    let (status, content_type, body) = http(
        port,
        "POST /ocsp HTTP/1.1\r\nContent-Type: application/ocsp-request",
        der,
    );
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/ocsp-response");
    OcspResponse::from_der(body).unwrap()
}

fn openssl_query(openssl: &Path, dir: &Path, port: u16) -> String {
    let output = run(
        support::openssl_command(openssl)
            .current_dir(dir)
            .args(["ocsp", "-url"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .args([
                "-issuer",
                "intermediate.pem",
                "-cert",
                "server.pem",
                "-cert",
                "client.pem",
                "-CAfile",
                "root.pem",
                "-verify_other",
                "intermediate.pem",
            ]),
        COMMAND_TIMEOUT,
    )
    .expect_success("openssl ocsp -url");
    let text = output.stdout + &output.stderr;
    assert!(text.contains("Response verify OK"), "{text}");
    assert!(
        !text.contains("WARNING"),
        "nonce echoed, times valid: {text}"
    );
    text
}

/// `openssl ocsp` sends requests by POST only: it writes its request for `server.pem`, which
/// goes by GET as RFC 6960 §A.1 has it (base64, its `/` and `+` left as they are, under a
/// path prefix), and `openssl ocsp -respin` verifies the answer.
fn openssl_get_query(openssl: &Path, dir: &Path, port: u16) -> String {
    let ocsp = |args: &[&str], what: &str| {
        let output = run(
            support::openssl_command(openssl)
                .current_dir(dir)
                .arg("ocsp")
                .args([
                    "-issuer",
                    "intermediate.pem",
                    "-cert",
                    "server.pem",
                    "-no_nonce",
                ])
                .args(args),
            COMMAND_TIMEOUT,
        )
        .expect_success(what);
        output.stdout + &output.stderr
    };
    ocsp(&["-reqout", "get-request.der"], "openssl ocsp -reqout");
    let request = std::fs::read(dir.join("get-request.der")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&request);
    let (status, content_type, body) = http(port, &format!("GET /ocsp/{b64} HTTP/1.1"), b"");
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/ocsp-response")
    );
    std::fs::write(dir.join("get-response.der"), body).unwrap();
    let text = ocsp(
        &[
            "-respin",
            "get-response.der",
            "-CAfile",
            "root.pem",
            "-verify_other",
            "intermediate.pem",
        ],
        "openssl ocsp -respin",
    );
    assert!(text.contains("Response verify OK"), "{text}");
    text
}

/// A request for many certificates makes one log line at info that names a few serials
/// and counts the rest; each serial is at debug only.
#[test]
fn one_request_logs_a_bounded_number_of_serials() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    run(
        qtls()
            .args(["pki", "init", "--profile", "mldsa65", "--dir"])
            .arg(dir),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki init");
    let ca = Certificate::read_pem_file(&dir.join("intermediate.pem"))
        .unwrap()
        .remove(0);
    let port = free_port();
    let mut responder = qtls();
    responder
        .env("QTLS_LOG", "info")
        .env("NO_COLOR", "1")
        .args(["ocsp-responder", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--ca")
        .arg(dir.join("intermediate.pem"))
        .arg("--signer")
        .arg(dir.join("ocsp.pem"))
        .arg("--key")
        .arg(dir.join("ocsp.key"))
        .arg("--index")
        .arg(dir.join("revoked.txt"));
    let responder = Server::start(&mut responder, port, "listening on", "qtls ocsp-responder");

    let serials: Vec<[u8; 8]> = (0..40u8)
        .map(|i| [0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, i])
        .collect();
    let mut builder = OcspRequestBuilder::new();
    for serial in &serials {
        builder = builder.cert_id(OcspCertId::new(OcspHash::Sha256, &ca, serial).unwrap());
    }
    let response = post(port, &builder.build().unwrap());
    assert_eq!(response.status(), OcspResponseStatus::Successful);
    assert_eq!(response.responses().len(), serials.len());

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = responder.output();
        if log.contains("OCSP peer=") || std::time::Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let line = log
        .lines()
        .find(|line| line.contains("OCSP peer="))
        .unwrap_or_else(|| panic!("no request line in {log}"));
    let named = serials
        .iter()
        .filter(|serial| log.contains(&serial_hex(&serial[..])))
        .count();
    assert!(named <= 4, "{named} serials logged at info: {line}");
    assert!(line.contains("serials=40"), "the count of serials: {line}");
    drop(responder);
}

#[test]
fn responder_answers_before_and_after_revocation() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    run(
        qtls()
            .args(["pki", "init", "--profile", "mldsa65", "--dir"])
            .arg(dir),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki init");
    let ca = Certificate::read_pem_file(&dir.join("intermediate.pem"))
        .unwrap()
        .remove(0);
    let server_cert = Certificate::read_pem_file(&dir.join("server.pem"))
        .unwrap()
        .remove(0);
    let client_cert = Certificate::read_pem_file(&dir.join("client.pem"))
        .unwrap()
        .remove(0);

    let port = free_port();
    let mut responder = qtls();
    responder
        .args(["ocsp-responder", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--ca")
        .arg(dir.join("intermediate.pem"))
        .arg("--signer")
        .arg(dir.join("ocsp.pem"))
        .arg("--key")
        .arg(dir.join("ocsp.key"))
        .arg("--index")
        .arg(dir.join("revoked.txt"));
    let responder = Server::start(&mut responder, port, "listening on", "qtls ocsp-responder");

    let server_id = OcspCertId::for_certificate(OcspHash::Sha256, &ca, &server_cert).unwrap();
    let client_id = OcspCertId::for_certificate(OcspHash::Sha1, &ca, &client_cert).unwrap();
    let request = OcspRequestBuilder::new()
        .cert_id(server_id.clone())
        .cert_id(client_id.clone())
        .nonce(*b"qtls-nonce-12345")
        .build()
        .unwrap();

    // POST and GET, before any revocation.
    let response = post(port, &request);
    assert_eq!(response.status(), OcspResponseStatus::Successful);
    assert_eq!(response.nonce().unwrap(), b"qtls-nonce-12345");
    assert_eq!(
        response.find(&server_id).unwrap().status,
        OcspCertStatus::Good
    );
    assert_eq!(
        response.find(&client_id).unwrap().status,
        OcspCertStatus::Good
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(&request);
    let encoded = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let (status, content_type, body) = http(port, &format!("GET /ocsp/{encoded} HTTP/1.1"), b"");
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/ocsp-response")
    );
    let response = OcspResponse::from_der(body).unwrap();
    assert_eq!(
        response.find(&server_id).unwrap().status,
        OcspCertStatus::Good
    );

    // HTTP-level and OCSP-level errors.
    assert_eq!(http(port, "PUT / HTTP/1.1", b"").0, 405);
    assert_eq!(
        http(
            port,
            "POST / HTTP/1.1\r\nContent-Type: text/plain",
            &request
        )
        .0,
        415
    );
    assert_eq!(
        post(port, b"not DER").status(),
        OcspResponseStatus::MalformedRequest
    );
    let root = Certificate::read_pem_file(&dir.join("root.pem"))
        .unwrap()
        .remove(0);
    let other_issuer = OcspRequestBuilder::new()
        .cert_id(OcspCertId::for_certificate(OcspHash::Sha1, &root, &ca).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        post(port, &other_issuer).status(),
        OcspResponseStatus::Unauthorized
    );

    let openssl = support::require("OpenSSL 4 (QTLS_OPENSSL)", support::openssl());
    if let Some(openssl) = &openssl {
        let text = openssl_query(openssl, dir, port);
        assert!(text.contains("server.pem: good"), "{text}");
        assert!(text.contains("client.pem: good"), "{text}");
        let text = openssl_get_query(openssl, dir, port);
        assert!(text.contains("server.pem: good"), "{text}");
    }

    // Revoke the server certificate; the responder notices the changed index.
    run(
        qtls()
            .args(["pki", "revoke", "--reason", "keyCompromise", "--dir"])
            .arg(dir)
            .args(["--serial", &serial_hex(server_cert.serial())]),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki revoke");
    let response = post(port, &request);
    match response.find(&server_id).unwrap().status {
        OcspCertStatus::Revoked { reason, .. } => {
            assert_eq!(reason, Some(RevocationReason::KeyCompromise))
        }
        other => panic!("server certificate {other:?} after revocation"),
    }
    assert_eq!(
        response.find(&client_id).unwrap().status,
        OcspCertStatus::Good
    );
    if let Some(openssl) = &openssl {
        let text = openssl_query(openssl, dir, port);
        assert!(text.contains("server.pem: revoked"), "{text}");
        assert!(text.contains("Reason: keyCompromise"), "{text}");
        assert!(text.contains("client.pem: good"), "{text}");
    }

    // Revoking twice fails and names the serial; so does an unknown serial.
    let again = run(
        qtls()
            .args(["pki", "revoke", "--dir"])
            .arg(dir)
            .arg("--cert")
            .arg(dir.join("server.pem")),
        COMMAND_TIMEOUT,
    );
    assert!(
        !again.success() && again.stderr.contains("already revoked"),
        "{again:?}"
    );
    let unknown = run(
        qtls()
            .args(["pki", "revoke", "--serial", "0x1234", "--dir"])
            .arg(dir),
        COMMAND_TIMEOUT,
    );
    assert!(
        !unknown.success() && unknown.stderr.contains("1234"),
        "{unknown:?}"
    );

    // The CRL lists the revocation: PEM in the directory by default, DER on request.
    run(
        qtls().args(["pki", "crl", "--dir"]).arg(dir),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki crl");
    let crl = RevocationList::read_file(&dir.join(Pki::CRL_FILE)).unwrap();
    assert_eq!(crl.crl_number(), Some(&[1][..]));
    assert_eq!(
        crl.find(server_cert.serial()).unwrap().reason,
        Some(RevocationReason::KeyCompromise)
    );
    let der = dir.join("crl.der");
    run(
        qtls()
            .args(["pki", "crl", "--der", "--days", "1", "--dir"])
            .arg(dir)
            .arg("--out")
            .arg(&der),
        COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki crl --der");
    let crl = RevocationList::from_der(std::fs::read(&der).unwrap()).unwrap();
    assert_eq!(crl.crl_number(), Some(&[2][..]));
    assert_eq!(crl.revoked().len(), 1);
    drop(responder);
}
