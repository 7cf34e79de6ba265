//! The KeyUpdate policy (RFC 8446 §4.6.3) on a real loopback connection through the
//! library: an echo server (`Application::Echo`) and a client stream
//! (`qtls::client::connect`), both wrapped in `KeyUpdating`, with a small byte threshold and,
//! separately, a short interval. The data echoed must come back intact (SHA-256 of what was
//! sent and of what came back) and both sides must have started key updates.
//!
//! rustls does not report the KeyUpdates it receives, so each side counts the ones it sent;
//! every one of them is answered by the peer updating its own sending keys (rustls answers
//! update_requested), and the stream staying intact shows both sides followed.
//!
//! Size: 1 GiB (about 12 s in a debug build on two cores); `QTLS_KEY_UPDATE_ECHO_MIB`
//! overrides it.

#![allow(clippy::unwrap_used, missing_docs)]

mod runtime_support;
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{Context, SHA256};
use qtls::{KeyUpdateCounter, KeyUpdatePolicy, TlsSettings};
use qtls_cli::{Application, Limits, Server, ServerSettings};
use runtime_support::{test_pki, PkiSpec, TestPki};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

async fn echo_server(pki: &TestPki, policy: KeyUpdatePolicy) -> (SocketAddr, Server) {
    let settings = ServerSettings {
        certificates: vec![(pki.server_chain(), pki.server_key())],
        application: Application::Echo,
        limits: Limits {
            key_update: policy,
            ..Limits::default()
        },
        ..ServerSettings::default()
    };
    let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), settings)
        .await
        .unwrap();
    (server.local_addr().unwrap(), server)
}

/// Connects to the echo server, sends `chunks` (pausing `pause` after each), and returns the
/// SHA-256 of what was sent, of what came back, and the client's key updates.
async fn echo(
    pki: &TestPki,
    addr: SocketAddr,
    policy: KeyUpdatePolicy,
    chunks: usize,
    chunk: usize,
    pause: Duration,
) -> (Vec<u8>, Vec<u8>, u64, u64) {
    let settings = TlsSettings::default();
    let roots = qtls::read_certificates(&pki.root()).unwrap();
    let (config, _) = qtls::client_config(&settings, roots, None).unwrap();
    let counter = KeyUpdateCounter::default();
    let stream = qtls::client::connect(
        &addr.to_string(),
        ServerName::try_from("localhost").unwrap(),
        config,
        policy,
        Duration::from_secs(10),
    )
    .await
    .unwrap()
    .with_counter(counter.clone());
    let (mut reader, mut writer) = tokio::io::split(stream);

    // A random block; each chunk starts somewhere else in it, so the stream does not repeat
    // with the chunk size.
    let mut block = vec![0u8; 2 * MIB];
    aws_lc_rs::rand::fill(&mut block).unwrap();
    let sender = tokio::spawn(async move {
        let mut sent = Context::new(&SHA256);
        for i in 0..chunks {
            let start = (i * 4099) % (block.len() - chunk);
            let data = &block[start..start + chunk];
            sent.update(data);
            writer.write_all(data).await.unwrap();
            if !pause.is_zero() {
                writer.flush().await.unwrap();
                tokio::time::sleep(pause).await;
            }
        }
        // close_notify: the echo server answers with its own after the last byte.
        writer.shutdown().await.unwrap();
        sent.finish().as_ref().to_vec()
    });
    let mut received = Context::new(&SHA256);
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        received.update(&buf[..n]);
        total += n as u64;
    }
    let sent = sender.await.unwrap();
    (
        sent,
        received.finish().as_ref().to_vec(),
        counter.get(),
        total,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_updates_after_a_small_byte_threshold_keep_the_echoed_stream_intact() {
    let mib: usize = std::env::var("QTLS_KEY_UPDATE_ECHO_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let pki = test_pki(PkiSpec::default());
    let policy = KeyUpdatePolicy {
        bytes: MIB as u64,
        interval: KeyUpdatePolicy::DEFAULT_INTERVAL,
    };
    let (addr, server) = echo_server(&pki, policy).await;
    let metrics = Arc::clone(server.metrics());
    let shutdown = server.shutdown_handle();
    let running = tokio::spawn(server.run());

    let chunk = 64 * 1024;
    let started = Instant::now();
    let (sent, received, client_updates, total) = tokio::time::timeout(
        Duration::from_secs(300),
        echo(&pki, addr, policy, mib * MIB / chunk, chunk, Duration::ZERO),
    )
    .await
    .expect("echo timed out");
    let elapsed = started.elapsed();
    eprintln!("echoed {mib} MiB in {elapsed:?}: {client_updates} client key updates");

    assert_eq!(total, (mib * MIB) as u64, "every byte came back");
    assert_eq!(
        hex::encode(&sent),
        hex::encode(&received),
        "SHA-256 sent vs echoed"
    );
    // Each side reads and writes `mib` MiB: about 2 * mib updates each at 1 MiB.
    assert!(
        client_updates >= mib as u64,
        "client key updates: {client_updates}"
    );
    let server_updates = metrics.snapshot().key_updates;
    assert!(
        server_updates >= mib as u64,
        "server key updates: {server_updates}"
    );
    eprintln!("server key updates: {server_updates}");

    shutdown.shutdown();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_updates_after_a_short_interval_keep_the_echoed_stream_intact() {
    let pki = test_pki(PkiSpec::default());
    let policy = KeyUpdatePolicy {
        bytes: KeyUpdatePolicy::DEFAULT_BYTES,
        interval: Duration::from_millis(200),
    };
    let (addr, server) = echo_server(&pki, policy).await;
    let metrics = Arc::clone(server.metrics());
    let shutdown = server.shutdown_handle();
    let running = tokio::spawn(server.run());

    let (sent, received, client_updates, total) = tokio::time::timeout(
        Duration::from_secs(60),
        echo(
            &pki,
            addr,
            policy,
            8,
            256 * 1024,
            Duration::from_millis(300),
        ),
    )
    .await
    .expect("echo timed out");
    assert_eq!(total, 8 * 256 * 1024);
    assert_eq!(
        hex::encode(&sent),
        hex::encode(&received),
        "SHA-256 sent vs echoed"
    );
    // A pause of 300 ms before each of the last 7 chunks: an update at each on both sides
    // (the byte limit, 100 GB, never comes near).
    assert!(client_updates >= 5, "client key updates: {client_updates}");
    let server_updates = metrics.snapshot().key_updates;
    assert!(server_updates >= 5, "server key updates: {server_updates}");

    shutdown.shutdown();
    running.await.unwrap().unwrap();
}
