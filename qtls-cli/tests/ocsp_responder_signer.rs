//! `qtls ocsp-responder` with a responder certificate outside its validity: it refuses to
//! start, naming the certificate and its dates; a responder whose certificate expires while
//! it runs answers internalError (RFC 6960 §2.3) instead of signing responses clients reject.
#![allow(clippy::unwrap_used)]

mod runtime_support;
mod support;

use std::time::Duration;

use qtls_pki::x509_ocsp::OcspResponseStatus;
use qtls_pki::{
    Certificate, CertificateBuilder, CertifiedKeyPair, OcspCertId, OcspHash, OcspRequestBuilder,
    OcspResponder, OcspResponse, Profile, RevocationIndex, Usage,
};
use runtime_support::{test_pki, PkiSpec, TestPki};
use time::OffsetDateTime;

/// Replaces `pki`'s ocsp.pem / ocsp.key with a delegated responder valid from `not_before`
/// to `not_after`; returns its certificate.
fn responder_valid(
    pki: &TestPki,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Certificate {
    let key = qtls_provider::KeyPair::generate(
        Profile::MlDsa65.key_algorithm(),
        qtls_provider::Backend::AwsLc,
    )
    .unwrap();
    let cert = CertificateBuilder::new(Usage::OcspResponder, "Q-TLS OCSP Responder")
        .organization("Q-TLS")
        .validity(not_before, not_after)
        .signed_by(&key, pki.pki.intermediate())
        .unwrap();
    std::fs::write(pki.path("ocsp.pem"), cert.to_pem().unwrap()).unwrap();
    std::fs::write(pki.path("ocsp.key"), key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    cert
}

/// Runs `qtls ocsp-responder` for `pki` (at most 10 s: a responder that starts is killed).
fn run_responder(pki: &TestPki) -> support::Output {
    let port = support::free_port();
    support::run(
        runtime_support::qtls()
            .args(["ocsp-responder", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--ca")
            .arg(pki.path("intermediate.pem"))
            .arg("--signer")
            .arg(pki.path("ocsp.pem"))
            .arg("--key")
            .arg(pki.path("ocsp.key"))
            .arg("--index")
            .arg(pki.path("revoked.txt")),
        Duration::from_secs(10),
    )
}

fn rfc3339_date(t: OffsetDateTime) -> String {
    t.date().to_string()
}

#[test]
fn responder_refuses_to_start_with_an_expired_signer() {
    let pki = test_pki(PkiSpec::default());
    let now = OffsetDateTime::now_utc();
    let cert = responder_valid(
        &pki,
        now - time::Duration::days(30),
        now - time::Duration::days(2),
    );
    let out = run_responder(&pki);
    assert!(
        out.status.is_some() && !out.success(),
        "the responder started: {out:?}"
    );
    for needle in [
        "has expired",
        "Q-TLS OCSP Responder",
        &rfc3339_date(cert.not_before()),
        &rfc3339_date(cert.not_after()),
    ] {
        assert!(out.stderr.contains(needle), "{needle:?} in {}", out.stderr);
    }
    assert!(!out.stdout.contains("listening on"), "{}", out.stdout);
}

#[test]
fn responder_refuses_to_start_with_a_signer_not_valid_yet() {
    let pki = test_pki(PkiSpec::default());
    let now = OffsetDateTime::now_utc();
    let cert = responder_valid(
        &pki,
        now + time::Duration::days(2),
        now + time::Duration::days(30),
    );
    let out = run_responder(&pki);
    assert!(
        out.status.is_some() && !out.success(),
        "the responder started: {out:?}"
    );
    for needle in ["is not valid yet", &rfc3339_date(cert.not_before())] {
        assert!(out.stderr.contains(needle), "{needle:?} in {}", out.stderr);
    }
}

/// The library server whose clock passes the signer's notAfter answers internalError.
#[test]
fn responder_whose_signer_expired_while_running_answers_internal_error() {
    let pki = test_pki(PkiSpec::default());
    let signer = CertifiedKeyPair::read_pem_files(
        &pki.path("ocsp.pem"),
        &pki.path("ocsp.key"),
        Default::default(),
    )
    .unwrap();
    let ca = pki.pki.intermediate().certificate().clone();
    let id =
        OcspCertId::for_certificate(OcspHash::Sha1, &ca, pki.pki.server().certificate()).unwrap();
    let request = OcspRequestBuilder::new().cert_id(id).build().unwrap();
    let responder = OcspResponder::new(
        ca,
        signer,
        RevocationIndex::read(&pki.path("revoked.txt")).unwrap(),
        time::Duration::hours(1),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = runtime.block_on(async move {
        // test_pki's certificates are valid for at most a few years.
        let server = qtls_cli::OcspServer::bind("127.0.0.1:0".parse().unwrap(), responder, None)
            .await
            .unwrap()
            .with_clock(|| OffsetDateTime::now_utc() + time::Duration::days(365 * 50));
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.run());
        tokio::task::spawn_blocking(move || post(addr, &request))
            .await
            .unwrap()
    });
    let response = OcspResponse::from_der(body).unwrap();
    assert_eq!(response.status(), OcspResponseStatus::InternalError);
}

/// `qtls ocsp-responder` whose signer expires while it runs logs it at error level when it
/// happens, and answers internalError from then on.
#[test]
fn responder_logs_its_signer_expiring_while_running() {
    let pki = test_pki(PkiSpec::default());
    let now = OffsetDateTime::now_utc();
    // Long enough for a loaded machine to start the responder before it expires.
    let cert = responder_valid(
        &pki,
        now - time::Duration::days(1),
        now + time::Duration::seconds(10),
    );
    let port = support::free_port();
    let responder = runtime_support::start_responder(&pki, port, 60);
    assert!(
        !runtime_support::log_of(&responder).contains("has expired"),
        "{}",
        runtime_support::log_of(&responder)
    );
    let wait = Duration::try_from(cert.not_after() - OffsetDateTime::now_utc()).unwrap_or_default()
        + Duration::from_secs(20);
    let line = runtime_support::wait_for_line(&responder, &["ERROR", "has expired"], wait)
        .unwrap_or_else(|| panic!("no expiry logged\n{}", runtime_support::log_of(&responder)));
    assert!(line.contains("Q-TLS OCSP Responder"), "{line}");
    assert!(line.contains("internalError"), "{line}");

    let ca = pki.pki.intermediate().certificate();
    let id =
        OcspCertId::for_certificate(OcspHash::Sha1, ca, pki.pki.server().certificate()).unwrap();
    let request = OcspRequestBuilder::new().cert_id(id).build().unwrap();
    let response = OcspResponse::from_der(post(([127, 0, 0, 1], port).into(), &request)).unwrap();
    assert_eq!(response.status(), OcspResponseStatus::InternalError);
}

/// POSTs the DER `request` to the responder at `addr`; returns the response body.
fn post(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        request.len()
    )
    .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let at = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    response[at + 4..].to_vec()
}
