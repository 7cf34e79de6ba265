//! Q-TLS's provider beside stock rustls (`rustls::crypto::aws_lc_rs::default_provider()`) on
//! exactly the same configuration, in one run (issue #13 part 3).
//!
//! ```sh
//! cargo bench --workspace --all-features --locked --bench stock_rustls -- --save-baseline p1
//! ```
//!
//! The configuration, identical on both sides but for the provider: TLS 1.3,
//! TLS13_AES_256_GCM_SHA384 as the only suite, X25519MLKEM768 as the only group, one
//! root → intermediate → leaf ML-DSA-65 chain (the same certificates and key), no tickets, no
//! resumption, rustls's defaults otherwise. Client and server run in one thread with records
//! moved through memory (`qtls_test_support::handshake`). Each provider serves its own
//! client: a Q-TLS deployment has Q-TLS at both ends.
//!
//! Benchmark groups (see `qtls-test-support/src/bench.rs`):
//! - `stock-rustls/…`: each alone, for scale: `handshake-*` a full handshake, client and
//!   server (thread CPU time unless `QTLS_BENCH_CLOCK=wall`; handshakes per second is its
//!   inverse), `server-*` the time on a CPU of the server connection's calls in one.
//! - `stock-rustls-ratio/…`, paired and interleaved, each side timed on a CPU (`OnCpu`:
//!   wall time less the thread's waits for a CPU), which BENCHMARKS.md reports:
//!   `handshake-qtls-vs-stock` (the inverse ratio of handshakes per second) and
//!   `server-qtls-vs-stock` (server CPU per handshake), target ≤ 1.05 each;
//!   `client-qtls-vs-stock`, the rest of the handshake (the client's calls); and
//!   `handshake-stock-vs-stock`, an A/A control: the noise floor of the same measurement.
//!
//! `tests/stock_rustls.rs` checks that both put the same number of bytes on the wire in
//! every flight; `benches/connection_heap.rs` compares their heap per idle connection pair.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::bench as clock;
use qtls_test_support::handshake as inproc;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use clock::{BenchClock, Ratio};
use criterion::{criterion_group, criterion_main, Criterion};
use qtls_provider::{KeyAlgorithm, MlDsaLevel};
use qtls_test_support::pki::server_identity;
use qtls_test_support::stock::{
    full_handshake_configs as configs, qtls_provider, stock_provider, Configs, GROUP,
};
use rustls::{ClientConnection, ServerConnection};

/// One full handshake; the time on a CPU of the server connection's calls in it.
fn handshake((client_config, server_config): &Configs) -> Duration {
    let mut client =
        ClientConnection::new(Arc::clone(client_config), "localhost".try_into().unwrap()).unwrap();
    let started = clock::OnCpu::start();
    let mut server = ServerConnection::new(Arc::clone(server_config)).unwrap();
    let created = started.elapsed();
    let time = created + inproc::drive_ok(&mut client, &mut server);
    assert!(!client.is_handshaking() && !server.is_handshaking());
    black_box((client, server));
    time
}

/// Stock rustls's and Q-TLS's configurations, each checked to negotiate what it should.
fn both() -> (Configs, Configs) {
    let identity = server_identity(KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65));
    let stock = configs(&identity, stock_provider());
    let qtls = configs(&identity, qtls_provider());
    for pair in [&stock, &qtls] {
        let mut client =
            ClientConnection::new(Arc::clone(&pair.0), "localhost".try_into().unwrap()).unwrap();
        let mut server = ServerConnection::new(Arc::clone(&pair.1)).unwrap();
        inproc::drive_ok(&mut client, &mut server);
        assert_eq!(
            client
                .negotiated_key_exchange_group()
                .unwrap()
                .name()
                .as_str(),
            Some(GROUP)
        );
        assert_eq!(
            format!("{:?}", client.negotiated_cipher_suite().unwrap().suite()),
            "TLS13_AES_256_GCM_SHA384"
        );
    }
    (stock, qtls)
}

/// Time on a CPU, preemptions left out (see `qtls_test_support::bench::OnCpu`).
fn timed(op: impl FnOnce()) -> Duration {
    clock::on_cpu(op)
}

/// Each alone.
fn operations(c: &mut Criterion<BenchClock>) {
    let (stock, qtls) = both();
    let mut g = clock::group(c, "stock-rustls");
    g.bench_function("handshake-stock", |b| b.iter(|| handshake(&stock)));
    g.bench_function("handshake-qtls", |b| b.iter(|| handshake(&qtls)));
    g.bench_function("server-stock", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| handshake(&stock)).sum())
    });
    g.bench_function("server-qtls", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| handshake(&qtls)).sum())
    });
    g.finish();
}

/// Q-TLS / stock rustls, interleaved.
fn ratios(c: &mut Criterion<Ratio>) {
    let (stock, qtls) = both();
    let mut g = clock::ratio_group(c, "stock-rustls-ratio");
    g.bench_function("handshake-qtls-vs-stock", |b| {
        b.iter_custom(|iters| {
            clock::paired_timed(
                iters,
                &mut || {
                    timed(|| {
                        black_box(handshake(&qtls));
                    })
                },
                &mut [&mut || {
                    timed(|| {
                        black_box(handshake(&stock));
                    })
                }],
            )
        })
    });
    g.bench_function("server-qtls-vs-stock", |b| {
        b.iter_custom(|iters| {
            clock::paired_timed(
                iters,
                &mut || handshake(&qtls),
                &mut [&mut || handshake(&stock)],
            )
        })
    });
    // The rest of a handshake: the client's calls (and the driver's copies).
    let client = |configs: &Configs| {
        let started = clock::OnCpu::start();
        let server = handshake(configs);
        started.elapsed().saturating_sub(server)
    };
    g.bench_function("client-qtls-vs-stock", |b| {
        b.iter_custom(|iters| {
            clock::paired_timed(iters, &mut || client(&qtls), &mut [&mut || client(&stock)])
        })
    });
    g.bench_function("handshake-stock-vs-stock", |b| {
        b.iter_custom(|iters| {
            clock::paired_timed(
                iters,
                &mut || {
                    timed(|| {
                        black_box(handshake(&stock));
                    })
                },
                &mut [&mut || {
                    timed(|| {
                        black_box(handshake(&stock));
                    })
                }],
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = clock::criterion(3);
    targets = operations
}
criterion_group! {
    name = ratio_benches;
    config = clock::ratio_criterion(4);
    targets = ratios
}
criterion_main!(benches, ratio_benches);
