//! `qtls ocsp-responder` under a flood of slow clients: with few file descriptors, hundreds
//! of POSTs whose bodies never arrive neither end the responder (it backs off when accept
//! fails) nor keep it from answering (their bodies are bounded in time).
#![allow(clippy::unwrap_used)]

mod runtime_support;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use qtls_pki::x509_ocsp::OcspResponseStatus;
use qtls_pki::{OcspCertId, OcspCertStatus, OcspHash, OcspRequestBuilder, OcspResponse};
use runtime_support::{test_pki, PkiSpec};
use support::{free_port, Server};

/// Slow POSTs opened at once: several times the descriptors the responder has.
const SLOW_CLIENTS: usize = 300;

/// The responder's descriptor limit (`ulimit -n`).
const DESCRIPTORS: u32 = 64;

/// A POST whose head says 1000 bytes of body and whose body never comes.
fn slow_post(port: u16) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.write_all(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n\
          Content-Length: 1000\r\n\r\n0",
    )?;
    Ok(stream)
}

#[test]
fn slow_posts_with_few_descriptors_neither_end_nor_block_the_responder() {
    let pki = test_pki(PkiSpec::default());
    let port = free_port();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {DESCRIPTORS} && exec \"$0\" \"$@\""))
        .arg(support::qtls_bin())
        .args(["ocsp-responder", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--ca")
        .arg(pki.path("intermediate.pem"))
        .arg("--signer")
        .arg(pki.path("ocsp.pem"))
        .arg("--key")
        .arg(pki.path("ocsp.key"))
        .arg("--index")
        .arg(pki.path("revoked.txt"))
        .args(["--request-timeout", "2s"])
        .env("QTLS_LOG", "info")
        .env("NO_COLOR", "1");
    let mut responder = Server::start(
        &mut cmd,
        port,
        "listening on http",
        "qtls ocsp-responder with ulimit -n",
    );

    let slow: Vec<TcpStream> = (0..SLOW_CLIENTS)
        .map(|i| {
            slow_post(port).unwrap_or_else(|e| {
                panic!("slow POST {i}: {e}\n{}", responder.output());
            })
        })
        .collect();

    // A normal request, queued behind the slow ones, is answered once they have timed out.
    let id = OcspCertId::for_certificate(
        OcspHash::Sha256,
        pki.pki.intermediate().certificate(),
        pki.pki.server().certificate(),
    )
    .unwrap();
    let request = OcspRequestBuilder::new()
        .cert_id(id.clone())
        .build()
        .unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    stream
        .write_all(
            format!(
                "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                request.len()
            )
            .as_bytes(),
        )
        .unwrap();
    stream.write_all(&request).unwrap();
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    responder.child.assert_running("qtls ocsp-responder");
    read.unwrap_or_else(|e| panic!("reading the answer: {e}\n{}", responder.output()));
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer\n{}", responder.output()));
    assert!(
        response.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&response[..split])
    );
    let answer = OcspResponse::from_der(response[split + 4..].to_vec()).unwrap();
    assert_eq!(answer.status(), OcspResponseStatus::Successful);
    assert_eq!(answer.find(&id).unwrap().status, OcspCertStatus::Good);

    // The flood did run the responder out of descriptors, and the slow ones were closed.
    assert!(
        responder.output().contains("accept failed"),
        "the descriptor limit was never reached:\n{}",
        responder.output()
    );
    let mut first = &slow[0];
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = Vec::new();
    first.read_to_end(&mut answer).unwrap();
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    drop(slow);
    responder.child.assert_running("qtls ocsp-responder");
}
