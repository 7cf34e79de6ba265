//! ClientHellos that hostile or merely odd clients send, against `qtls server`, each built by
//! hand so that the test controls every byte:
//!
//! - 30-60 KiB hellos (hundreds of unknown groups with 128-byte key shares, or thousands of
//!   signature schemes, beside a known group and scheme), in 16 KiB or 1 KiB records, get a
//!   ServerHello (RFC 8446 §4.2.8: unknown groups are ignored), not a silent close;
//! - a hello over rustls's 64 KiB handshake limit gets decode_error;
//! - a hello whose signature_algorithms no served certificate signs with gets
//!   handshake_failure (RFC 8446 §4.4.2.2), not internal_error;
//! - early data that the server does not accept (early data off, unknown PSK) is skipped up to
//!   16 KiB (RFC 8446 §4.2.10), not answered with bad_record_mac, and skipping is bounded;
//! - with `--preset compatible --policy any` a TLS 1.2 client is served; under the hybrid
//!   preset it gets protocol_version;
//! - with the key in a token, clients that stall after the server's flight hold no threads.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;
use qtls_test_support::tokens;

use std::ffi::OsString;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use runtime_support::{start_server, test_pki, PkiSpec, TestPki};

const X25519: u16 = 0x001d;
const MLDSA65: u16 = 0x0905;
const TLS_AES_256_GCM_SHA384: u16 = 0x1302;

/// What goes into a hand-built ClientHello.
struct Hello {
    /// (group, key share length) pairs of groups the server does not know, before X25519.
    unknown_shares: Vec<(u16, usize)>,
    /// Signature schemes, in order.
    schemes: Vec<u16>,
    /// Offer early data with a PSK the server has never issued.
    early_data_with_unknown_psk: bool,
    /// Bytes of a padding extension (RFC 7685).
    padding: usize,
}

impl Default for Hello {
    fn default() -> Self {
        Self {
            unknown_shares: Vec::new(),
            schemes: vec![MLDSA65, 0x0403, 0x0804],
            early_data_with_unknown_psk: false,
            padding: 0,
        }
    }
}

fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend((body.len() as u16).to_be_bytes());
    out.extend(body);
    out
}

fn u16_list(items: &[u16]) -> Vec<u8> {
    let mut out = ((items.len() * 2) as u16).to_be_bytes().to_vec();
    out.extend(items.iter().flat_map(|i| i.to_be_bytes()));
    out
}

impl Hello {
    /// The ClientHello handshake message (RFC 8446 §4.1.2).
    fn message(&self) -> Vec<u8> {
        let mut groups: Vec<u16> = self.unknown_shares.iter().map(|(g, _)| *g).collect();
        groups.push(X25519);
        let mut shares = Vec::new();
        for (group, len) in &self.unknown_shares {
            shares.extend(group.to_be_bytes());
            shares.extend((*len as u16).to_be_bytes());
            shares.extend(std::iter::repeat_n(0x5a, *len));
        }
        shares.extend(X25519.to_be_bytes());
        shares.extend(32u16.to_be_bytes());
        shares.extend([9u8; 32]);
        let mut key_share = (shares.len() as u16).to_be_bytes().to_vec();
        key_share.extend(shares);

        let mut extensions = Vec::new();
        extensions.extend(extension(43, &[2, 0x03, 0x04]));
        extensions.extend(extension(10, &u16_list(&groups)));
        extensions.extend(extension(13, &u16_list(&self.schemes)));
        extensions.extend(extension(51, &key_share));
        extensions.extend(extension(45, &[1, 1])); // psk_dhe_ke
        if self.padding > 0 {
            extensions.extend(extension(21, &vec![0; self.padding]));
        }
        if self.early_data_with_unknown_psk {
            extensions.extend(extension(42, &[]));
            // pre_shared_key, last (RFC 8446 §4.2.11): one identity, one 48-byte binder.
            let identity = [0x77u8; 32];
            let mut identities = Vec::new();
            identities.extend((identity.len() as u16).to_be_bytes());
            identities.extend(identity);
            identities.extend(1234u32.to_be_bytes());
            let mut body = (identities.len() as u16).to_be_bytes().to_vec();
            body.extend(identities);
            body.extend(49u16.to_be_bytes());
            body.push(48);
            body.extend([0x42u8; 48]);
            extensions.extend(extension(41, &body));
        }

        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]); // random
        body.push(32);
        body.extend([3u8; 32]); // legacy_session_id (middlebox compatibility)
        body.extend(u16_list(&[TLS_AES_256_GCM_SHA384, 0x1301]));
        body.extend([1, 0]);
        body.extend((extensions.len() as u16).to_be_bytes());
        body.extend(extensions);
        let mut message = vec![1];
        message.extend(&(body.len() as u32).to_be_bytes()[1..]);
        message.extend(body);
        message
    }
}

/// `message` in handshake records of at most `fragment` bytes each.
fn records(message: &[u8], fragment: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in message.chunks(fragment) {
        out.extend([0x16, 0x03, 0x01]);
        out.extend((piece.len() as u16).to_be_bytes());
        out.extend(piece);
    }
    out
}

/// Connects, sends `bytes`, and reads what the server answers until it closes or has been
/// quiet for `quiet`.
fn exchange(port: u16, bytes: &[u8], quiet: Duration) -> (Vec<u8>, bool) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.write_all(bytes).unwrap();
    read_answer(&mut tcp, quiet)
}

/// What the server sends until it closes (true) or stays quiet for `quiet` (false).
fn read_answer(tcp: &mut TcpStream, quiet: Duration) -> (Vec<u8>, bool) {
    tcp.set_read_timeout(Some(quiet)).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 16384];
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match tcp.read(&mut buf) {
            Ok(0) => return (answer, true),
            Ok(n) => answer.extend(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (answer, false)
            }
            Err(_) => return (answer, true),
        }
    }
    panic!("the server kept sending for 30 s");
}

fn is_server_hello(answer: &[u8]) -> bool {
    answer.len() > 6 && answer[0] == 0x16 && answer[5] == 2
}

/// The description of a plaintext fatal alert record at the start of `answer`.
fn plaintext_alert(answer: &[u8]) -> Option<u8> {
    (answer.len() >= 7 && answer[0] == 0x15 && answer[5] == 2).then(|| answer[6])
}

fn server(pki: &TestPki, extra: &[&str]) -> support::Server {
    let mut args: Vec<OsString> = pki.server_cert_args();
    args.extend(extra.iter().map(OsString::from));
    start_server(args)
}

fn compatible_server(pki: &TestPki) -> support::Server {
    server(pki, &["--preset", "compatible", "--policy", "any"])
}

#[test]
fn large_hellos_with_unknown_groups_or_many_schemes_get_a_server_hello() {
    let pki = test_pki(PkiSpec::default());
    let server = compatible_server(&pki);
    let many_groups = Hello {
        unknown_shares: (0..300).map(|i| (0x7a00 + i, 128)).collect(),
        ..Hello::default()
    };
    let many_schemes = Hello {
        schemes: (0..15_000u16)
            .map(|i| 0x7000 + i)
            .chain([MLDSA65])
            .collect(),
        ..Hello::default()
    };
    for (what, hello) in [
        ("300 unknown key shares", many_groups),
        ("15,001 schemes", many_schemes),
    ] {
        let message = hello.message();
        assert!(message.len() > 30_000, "{what}: {} bytes", message.len());
        for fragment in [16_384, 1_024] {
            let (answer, _) = exchange(
                server.port,
                &records(&message, fragment),
                Duration::from_secs(2),
            );
            assert!(
                is_server_hello(&answer),
                "{what} ({} bytes in {fragment}-byte records): the server answered {:02x?}",
                message.len(),
                &answer[..answer.len().min(16)]
            );
        }
    }
}

#[test]
fn a_hello_over_the_handshake_limit_gets_decode_error() {
    let pki = test_pki(PkiSpec::default());
    let server = compatible_server(&pki);
    let hello = Hello {
        unknown_shares: (0..400).map(|i| (0x7a00 + i, 128)).collect(),
        padding: 20_000,
        ..Hello::default()
    };
    let message = hello.message();
    assert!(message.len() > 0xffff, "{} bytes", message.len());
    let (answer, closed) = exchange(
        server.port,
        &records(&message, 16_384),
        Duration::from_secs(5),
    );
    assert_eq!(
        plaintext_alert(&answer),
        Some(50),
        "answer {answer:02x?}: {}",
        {
            std::thread::sleep(Duration::from_millis(500));
            runtime_support::log_of(&server)
        }
    );
    assert!(closed);
}

#[test]
fn no_certificate_for_the_offered_schemes_is_a_handshake_failure() {
    let pki = test_pki(PkiSpec::default()); // ML-DSA-65 server certificate
    let server = compatible_server(&pki);
    let hello = Hello {
        schemes: vec![0x0403, 0x0804], // ECDSA P-256, RSA-PSS
        ..Hello::default()
    };
    let (answer, _) = exchange(
        server.port,
        &records(&hello.message(), 16_384),
        Duration::from_secs(5),
    );
    assert_eq!(plaintext_alert(&answer), Some(40), "answer {answer:02x?}");
}

#[test]
fn early_data_the_server_does_not_accept_is_skipped_up_to_16_kib() {
    let pki = test_pki(PkiSpec::default());
    // Early data off (the default); the PSK is unknown, so the handshake is a full one.
    let server = compatible_server(&pki);
    let hello = Hello {
        early_data_with_unknown_psk: true,
        ..Hello::default()
    };
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut flight = records(&hello.message(), 16_384);
    flight.extend([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]); // change_cipher_spec
                                                         // Early data records the server cannot decrypt: 16,000 bytes of the 16,384 it skips,
                                                         // sent with the ClientHello as a client sends its early data.
    let junk = runtime_support::undecryptable_record;
    for _ in 0..4 {
        flight.extend(junk(4_000));
    }
    tcp.write_all(&flight).unwrap();
    let (answer, closed) = read_answer(&mut tcp, Duration::from_secs(2));
    assert!(
        is_server_hello(&answer),
        "answer {:02x?}",
        &answer[..answer.len().min(16)]
    );
    assert!(
        !closed,
        "the server closed after {} bytes of undecryptable early data (bad_record_mac?): {}",
        4 * 4_000,
        {
            std::thread::sleep(Duration::from_millis(500));
            runtime_support::log_of(&server)
        }
    );
    // Skipping is bounded by the one allowance, before and after the server's flight
    // together: 385 bytes more are one too many.
    tcp.write_all(&junk(385)).unwrap();
    let (_, closed) = read_answer(&mut tcp, Duration::from_secs(5));
    assert!(
        closed,
        "the server skipped more than 16 KiB of undecryptable records"
    );
}

/// `openssl s_client -tls1_2` against `qtls server`: served under `--preset compatible
/// --policy any` (with a classical certificate), protocol_version under the hybrid preset.
#[test]
fn tls12_clients_are_served_only_where_the_preset_and_policy_allow() {
    let Some(openssl) = support::require("OpenSSL 4 (QTLS_OPENSSL)", support::openssl()) else {
        return;
    };
    let pki = test_pki(PkiSpec {
        profile: qtls_pki::Profile::EcdsaP384,
        ..PkiSpec::default()
    });
    let s_client = |port: u16| {
        let mut cmd = support::openssl_command(&openssl);
        cmd.args(["s_client", "-tls1_2", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-CAfile")
            .arg(pki.root())
            .args(["-verify_return_error", "-brief", "-ign_eof"]);
        support::run_with_input(
            &mut cmd,
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            Duration::from_secs(30),
        )
    };
    let compatible = compatible_server(&pki);
    let out = s_client(compatible.port);
    assert!(
        out.stderr.contains("Protocol version: TLSv1.2") && out.stdout.contains("HTTP/1.1 200"),
        "compatible + any:\n{}\n{}",
        out.stdout,
        out.stderr
    );

    let hybrid = server(&pki, &[]);
    let out = s_client(hybrid.port);
    assert!(
        out.stderr.contains("protocol version") || out.stderr.contains("alert number 70"),
        "hybrid: {}\n{}",
        out.stdout,
        out.stderr
    );
    let compatible_pq = server(&pki, &["--preset", "compatible", "--policy", "pq-required"]);
    let out = s_client(compatible_pq.port);
    assert!(
        out.stderr.contains("protocol version") || out.stderr.contains("alert number 70"),
        "compatible + pq-required: {}\n{}",
        out.stdout,
        out.stderr
    );
}

/// With the key in a token, a client that stalls after the server's flight holds no thread:
/// 40 such handshakes at once leave the server's thread count where it was (before, each
/// held a blocking thread until its Finished or the handshake timeout, and tokio's pool
/// has 512 against 1,024 connections).
#[test]
fn stalled_handshakes_with_the_key_in_a_token_hold_no_threads() {
    let Some(module) = tokens::require("Kryoptic", tokens::kryoptic()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let qtls = |pin: bool| {
        let mut cmd = std::process::Command::new(support::qtls_bin());
        cmd.envs(tokens::child_env()).env_remove("QTLS_HSM_PIN");
        if pin {
            cmd.env("QTLS_HSM_PIN", tokens::USER_PIN);
        }
        cmd
    };
    let timeout = support::COMMAND_TIMEOUT;
    support::run(
        qtls(false)
            .args(["pki", "init", "--profile", "mldsa65", "--dir"])
            .arg(dir.path()),
        timeout,
    )
    .expect_success("qtls pki init");
    let label = tokens::unique("threads");
    support::run(
        qtls(true)
            .args(["hsm", "keygen", "--module"])
            .arg(&module)
            .args([
                "--token",
                tokens::PRIMARY,
                "--label",
                &label,
                "--alg",
                "mldsa65",
            ]),
        timeout,
    )
    .expect_success("qtls hsm keygen");
    let chain = dir.path().join("token-chain.pem");
    support::run(
        qtls(true)
            .args(["pki", "issue", "--dir"])
            .arg(dir.path())
            .args(["--name", "localhost", "--hosts", "127.0.0.1"])
            .arg("--hsm-module")
            .arg(&module)
            .args(["--hsm-token", tokens::PRIMARY, "--hsm-key", &label, "--out"])
            .arg(&chain),
        timeout,
    )
    .expect_success("qtls pki issue");
    let port = support::free_port();
    let server = support::Server::start(
        qtls(true)
            .args(["server", "--listen", &format!("127.0.0.1:{port}"), "--cert"])
            .arg(&chain)
            .arg("--hsm-module")
            .arg(&module)
            .args(["--hsm-token", tokens::PRIMARY, "--hsm-key", &label])
            .args(["--preset", "compatible", "--policy", "any"])
            .args(["--handshake-timeout", "60s"]),
        port,
        "listening on",
        "qtls server with the key in Kryoptic",
    );
    let threads = || {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", server.child.0.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap()
    };
    let hello = records(&Hello::default().message(), 16_384);
    let stall = || {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.write_all(&hello).unwrap();
        // The flight comes at once on loopback; the handshake then waits for our Finished.
        let (answer, closed) = read_answer(&mut tcp, Duration::from_millis(300));
        assert!(is_server_hello(&answer) && !closed, "{}", server.output());
        tcp
    };
    // One first, so that the token's session threads and the runtime are all up.
    let warm = stall();
    let before = threads();
    let stalled: Vec<TcpStream> = (0..40).map(|_| stall()).collect();
    let during = threads();
    assert!(
        during < before + 10,
        "{} stalled handshakes took the server from {before} to {during} threads",
        stalled.len()
    );
    drop((warm, stalled));
}
