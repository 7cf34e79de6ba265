//! A ClientHello with thousands of PSK identities costs the server at most
//! `qtls::sessions::MAX_PSK_LOOKUPS` session lookups (issue #16, item 1): counted in a real
//! Redis (`INFO commandstats`) behind `qtls server`, and in a real token (`Hsm::operations`)
//! behind the in-process server whose ticket key is in Kryoptic. And a ticket decryption
//! that times out in the token does not take the token out of service.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::redis as redis_support;
mod support;
use qtls_test_support::tokens;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qtls::sessions::MAX_PSK_LOOKUPS;
use rustls::crypto::SupportedKxGroup;
use support::fleet::{fleet_secret, pki, Node};

/// The server's default handshake timeout: the hostile connection must end well before it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem).
const X25519_MLKEM768: u16 = 0x11ec;

fn x25519_mlkem768() -> &'static dyn SupportedKxGroup {
    let group =
        qtls_provider::group_by_name("X25519MLKEM768", qtls_provider::Backend::AwsLc).unwrap();
    assert_eq!(u16::from(group.name()), X25519_MLKEM768);
    group
}

fn u16_prefixed(body: &[u8]) -> Vec<u8> {
    [&u16::try_from(body.len()).unwrap().to_be_bytes()[..], body].concat()
}

fn u8_prefixed(body: &[u8]) -> Vec<u8> {
    [&[u8::try_from(body.len()).unwrap()][..], body].concat()
}

fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
    [&kind.to_be_bytes()[..], &u16_prefixed(body)].concat()
}

/// A TLS 1.3 ClientHello handshake message, built by hand
/// ([RFC 8446 §4.1.2](https://www.rfc-editor.org/rfc/rfc8446#section-4.1.2)): the three
/// TLS 1.3 suites, an X25519MLKEM768 key share that rustls accepts, SNI `localhost`, the
/// post-quantum and classical signature schemes, psk_dhe_ke, and last a pre_shared_key
/// extension with `identities`, each with a one-byte binder (rustls checks a binder only for
/// an identity that resumes).
fn client_hello(identities: &[Vec<u8>]) -> Vec<u8> {
    let share = x25519_mlkem768().start().unwrap().pub_key().to_vec();
    let mut extensions = Vec::new();
    let host = b"localhost";
    let name = [&[0u8][..], &u16_prefixed(host)].concat();
    extensions.extend(extension(0x0000, &u16_prefixed(&name)));
    // supported_groups, supported_versions (TLS 1.3 only), key_share.
    extensions.extend(extension(
        0x000a,
        &u16_prefixed(&X25519_MLKEM768.to_be_bytes()),
    ));
    extensions.extend(extension(0x002b, &u8_prefixed(&[0x03, 0x04])));
    let entry = [&X25519_MLKEM768.to_be_bytes()[..], &u16_prefixed(&share)].concat();
    extensions.extend(extension(0x0033, &u16_prefixed(&entry)));
    // signature_algorithms: ML-DSA-44/65/87, the composite ML-DSA + ECDSA schemes, ECDSA,
    // RSA-PSS, Ed25519.
    let schemes: Vec<u8> = [
        0x0904u16, 0x0905, 0x0906, 0x0907, 0x0908, 0x0909, 0x0403, 0x0503, 0x0603, 0x0804, 0x0805,
        0x0806, 0x0807,
    ]
    .iter()
    .flat_map(|s| s.to_be_bytes())
    .collect();
    extensions.extend(extension(0x000d, &u16_prefixed(&schemes)));
    // psk_key_exchange_modes: psk_dhe_ke.
    extensions.extend(extension(0x002d, &u8_prefixed(&[1])));
    // pre_shared_key, which must come last (RFC 8446 §4.2.11).
    let mut listed = Vec::new();
    for identity in identities {
        listed.extend(u16_prefixed(identity));
        listed.extend(0x1234_5678u32.to_be_bytes());
    }
    let binders: Vec<u8> = identities.iter().flat_map(|_| [1u8, 0]).collect();
    let psk = [u16_prefixed(&listed), u16_prefixed(&binders)].concat();
    extensions.extend(extension(0x0029, &psk));

    let mut body = vec![0x03, 0x03];
    body.extend([0x42; 32]); // random
    body.extend(u8_prefixed(&[0x17; 32])); // legacy_session_id
    body.extend(u16_prefixed(&[0x13, 0x01, 0x13, 0x02, 0x13, 0x03]));
    body.extend([1, 0]); // compression: null
    body.extend(u16_prefixed(&extensions));
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    [&[1u8][..], &len[1..], &body].concat()
}

/// `message` as handshake records of at most 2^14 bytes
/// ([RFC 8446 §5.1](https://www.rfc-editor.org/rfc/rfc8446#section-5.1)).
fn records(message: &[u8]) -> Vec<Vec<u8>> {
    message
        .chunks(1 << 14)
        .map(|fragment| [&[0x16, 0x03, 0x01][..], &u16_prefixed(fragment)].concat())
        .collect()
}

/// What the server answered the ClientHello with.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    ServerHello,
    Alert(u8),
    Closed,
}

/// Sends the ClientHello to `addr` and reads the server's first record, within the handshake
/// timeout. The first record goes alone, then the rest: a ClientHello that spans records
/// reaches rustls's handshake reassembly however the server reads its socket.
fn send(addr: &str, hello: &[u8]) -> (Answer, Duration) {
    let started = Instant::now();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT - Duration::from_secs(1)))
        .unwrap();
    let records = records(hello);
    assert!(records.len() > 1, "the hello fits in one record");
    tcp.write_all(&records[0]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    tcp.write_all(&records[1..].concat()).unwrap();
    let mut header = [0u8; 5];
    let answer = match tcp.read_exact(&mut header) {
        Ok(()) => {
            let mut payload = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
            tcp.read_exact(&mut payload).unwrap();
            match (header[0], payload.first()) {
                (0x16, Some(2)) => Answer::ServerHello,
                (0x15, _) if payload.len() == 2 => Answer::Alert(payload[1]),
                other => panic!("unexpected first record {other:?}"),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Answer::Closed,
        Err(e) => panic!("no answer from the server within the handshake timeout: {e}"),
    };
    (answer, started.elapsed())
}

fn getdel_calls(redis: &redis_support::RedisServer) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut redis.connection())
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_getdel:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

#[test]
fn five_thousand_identities_cost_at_most_four_redis_lookups() {
    // A Redis of our own: the shared one counts every other test's GETDELs too.
    let Some(redis) = redis_support::RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "composite");
    let secret = fleet_secret(dir.path(), 0x6b);
    let node = Node::with_redis(
        &pki,
        &redis.url(),
        &secret,
        &["--tickets", "off"],
        "qtls server on Redis",
    );
    let identities: Vec<Vec<u8>> = (0u16..5000).map(|n| n.to_be_bytes().to_vec()).collect();
    let hello = client_hello(&identities);
    assert!(hello.len() < 64 * 1024, "{} bytes", hello.len());

    let before = getdel_calls(&redis);
    let (answer, took) = send(&node.addr, &hello);
    let lookups = getdel_calls(&redis) - before;
    assert_eq!(
        answer,
        Answer::ServerHello,
        "a full handshake, no resumption\n{}",
        node.server.output()
    );
    assert!(took < HANDSHAKE_TIMEOUT, "{took:?}");
    assert!(
        (1..=MAX_PSK_LOOKUPS as u64).contains(&lookups),
        "{lookups} GETDELs for one ClientHello of 5,000 identities (bound: {MAX_PSK_LOOKUPS})"
    );
}

/// A tokio server in this process with its key (ML-DSA-65) and its ticket key in Kryoptic.
async fn hsm_server(dir: &Path) -> Option<(qtls_cli::Server, PathBuf)> {
    let kryoptic = tokens::kryoptic()?;
    let pki = pki(dir, "composite");
    let label = tokens::unique("psk-identities");
    let config = tokens::config(&kryoptic, tokens::PRIMARY).build().unwrap();
    let chain = dir.join("hsm-chain.pem");
    tokens::generate_with_chain(
        &config,
        &label,
        qtls_provider::KeyAlgorithm::MlDsa(qtls_provider::MlDsaLevel::MlDsa65),
        &pki,
        &chain,
    );
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
    hsm.sessions = 2;
    let server = qtls_cli::Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        qtls_cli::ServerSettings {
            hsm: Some(hsm),
            ..qtls_cli::ServerSettings::default()
        },
    )
    .await
    .unwrap();
    Some((server, pki.join("root.pem")))
}

/// The PSK identities of the first ClientHello record a rustls client sends.
fn offered_identities(record: &[u8]) -> Vec<Vec<u8>> {
    let mut at = 5 + 4 + 2 + 32;
    let skip = |at: &mut usize, len_bytes: usize| {
        let len = record[*at..*at + len_bytes]
            .iter()
            .fold(0usize, |n, b| n << 8 | usize::from(*b));
        *at += len_bytes + len;
    };
    skip(&mut at, 1); // session id
    skip(&mut at, 2); // cipher suites
    skip(&mut at, 1); // compression
    at += 2;
    while at + 4 <= record.len() {
        let kind = u16::from_be_bytes([record[at], record[at + 1]]);
        let len = usize::from(u16::from_be_bytes([record[at + 2], record[at + 3]]));
        let body = &record[at + 4..at + 4 + len];
        if kind == 0x0029 {
            let listed = usize::from(u16::from_be_bytes([body[0], body[1]]));
            let mut identities = Vec::new();
            let mut i = 2;
            while i < 2 + listed {
                let n = usize::from(u16::from_be_bytes([body[i], body[i + 1]]));
                identities.push(body[i + 2..i + 2 + n].to_vec());
                i += 2 + n + 4;
            }
            return identities;
        }
        at += 4 + len;
    }
    panic!("the client offered no PSK");
}

/// Keeps this file's token tests apart: one locks a token store.
static TOKEN_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

// The guard only keeps this file's token tests apart; nothing else waits for it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_identities_cost_at_most_four_token_decryptions() {
    let _serial = TOKEN_TESTS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let Some((server, roots)) = hsm_server(dir.path()).await else {
        return;
    };
    let addr = server.local_addr().unwrap().to_string();
    let hsm = server.hsm().unwrap().clone();
    let shutdown = server.shutdown_handle();
    let running = tokio::spawn(server.run());

    // A real ticket, to learn the id of the token's ticket key: a full handshake, then the
    // ClientHello a resuming rustls client would send.
    let settings = qtls::TlsSettings::default();
    let (mut config, record) =
        qtls::client_config(&settings, qtls::read_certificates(&roots).unwrap(), None).unwrap();
    config.resumption = rustls::client::Resumption::store(Arc::new(
        rustls::client::ClientSessionMemoryCache::new(8),
    ));
    let first = qtls::client::get(
        &addr,
        rustls_pki_types::ServerName::try_from("localhost").unwrap(),
        config.clone(),
        record,
        &settings.code_points,
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert!(!first.resumed);
    let mut resuming =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut hello = Vec::new();
    resuming.write_tls(&mut hello).unwrap();
    let ticket = offered_identities(&hello).remove(0);

    // Identities that carry the real ticket's header (version, key id, issue time, nonce:
    // qtls-hsm's ticket format 3) with a wrong tag: each one the server looks up is a
    // decryption in the token. As many as fit beside 5,000 identities in all; the rest are
    // one byte each.
    let costly = 300;
    let identities: Vec<Vec<u8>> = (0..5000u16)
        .map(|n| {
            if usize::from(n) < costly {
                let mut forged = ticket[..1 + 8 + 8 + 12].to_vec();
                forged.extend([n as u8; 16]);
                forged
            } else {
                vec![n as u8]
            }
        })
        .collect();
    let hello = client_hello(&identities);
    assert!(hello.len() < 64 * 1024, "{} bytes", hello.len());
    let before = hsm.operations();
    let (answer, took) = tokio::task::spawn_blocking(move || send(&addr, &hello))
        .await
        .unwrap();
    let operations = hsm.operations() - before;
    assert_eq!(answer, Answer::ServerHello, "a full handshake");
    assert!(took < HANDSHAKE_TIMEOUT, "{took:?}");
    // The full handshake signs once; the rest are ticket decryptions.
    assert!(
        (2..=MAX_PSK_LOOKUPS as u64 + 1).contains(&operations),
        "{operations} token operations for one ClientHello (bound: {MAX_PSK_LOOKUPS} \
         decryptions and one signature)"
    );
    assert!(hsm.status().primary_up, "{:?}", hsm.status());
    shutdown.shutdown();
    running.await.unwrap().unwrap();
}

#[test]
fn a_ticket_decryption_that_times_out_keeps_the_token_in_service() {
    let _serial = TOKEN_TESTS.lock().unwrap_or_else(|p| p.into_inner());
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let op_timeout = Duration::from_millis(300);
    let hsm = qtls_hsm::Hsm::builder()
        .primary(
            tokens::config(&kryoptic, tokens::SPARE)
                .sessions(1)
                .op_timeout(op_timeout)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let ticketer = qtls_hsm::HsmTicketer::builder(&hsm).build().unwrap();
    let ticket = rustls::server::ProducesTickets::encrypt(&*ticketer, b"session").unwrap();
    assert_eq!(
        rustls::server::ProducesTickets::decrypt(&*ticketer, &ticket).unwrap(),
        b"session"
    );
    // The token's store locked by another process, and another session of this process
    // writing a key there: the write waits for the store holding the token's lock, and
    // the decryption waits for that lock, as in a token kept busy.
    let Some(_lock) = tokens::StoreLock::hold(&tokens::kryoptic_store(tokens::SPARE), 3.0) else {
        return;
    };
    let admin =
        qtls_hsm::TokenAdmin::open(&tokens::config(&kryoptic, tokens::SPARE).build().unwrap())
            .unwrap();
    let writer = std::thread::spawn(move || {
        let _ = admin.generate(
            &tokens::unique("blocked-write"),
            qtls_provider::KeyAlgorithm::Ecdsa(qtls_provider::EcCurve::P384),
        );
    });
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let opened = rustls::server::ProducesTickets::decrypt(&*ticketer, &ticket);
    let waited = started.elapsed();
    eprintln!(
        "waited {waited:?} opened {opened:?} status {:?}",
        hsm.status()
    );
    assert_eq!(opened, None);
    assert!(
        waited >= op_timeout,
        "the decryption did not wait for the token ({waited:?}): nothing timed out"
    );
    assert!(
        hsm.status().primary_up,
        "a ticket decryption took the token out of service: {:?}",
        hsm.status()
    );
    writer.join().unwrap();
}
