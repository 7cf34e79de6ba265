//! Heap per idle established connection pair, Q-TLS's provider beside stock rustls
//! (`rustls::crypto::aws_lc_rs::default_provider()`) on the same configuration (issue #13
//! part 3).
//!
//! ```sh
//! cargo bench --workspace --all-features --locked --bench connection_heap   # ~1 min
//! ```
//!
//! The configuration is `benches/stock_rustls.rs`'s: TLS 1.3, TLS13_AES_256_GCM_SHA384,
//! X25519MLKEM768, one ML-DSA-65 chain, no tickets, no resumption; each provider at both
//! ends. Each measurement runs in a fresh child process of this binary: one warm-up
//! handshake (lazily built tables), then `QTLS_BENCH_PAIRS` (default 1,000) client + server
//! pairs handshaken in memory and kept, idle, with nothing buffered. A counting global
//! allocator (`stats_alloc`) gives the Rust heap they hold (bytes requested and not freed,
//! the two `Vec`s holding the connections included), and how much of it the clients hold
//! (what dropping them frees). aws-lc allocates its own objects (the AES-GCM contexts of the
//! record keys) with C's `malloc`, which the counter does not see: the growth of the
//! process's VmRSS (`/proc/self/status`) over the same pairs is given beside it, allocator
//! overhead included. The providers alternate, `QTLS_BENCH_ROUNDS` (default 3) rounds; the
//! ratio is taken within each round.
//!
//! Without `--bench` (as under `cargo test --benches`) it does nothing.

#![allow(clippy::unwrap_used, missing_docs)]

use std::alloc::System;
use std::process::Command;
use std::sync::Arc;

use qtls_provider::{KeyAlgorithm, MlDsaLevel};
use qtls_test_support::bench::{env_number, max, median, min};
use qtls_test_support::handshake as inproc;
use qtls_test_support::pki::server_identity;
use qtls_test_support::stock::{
    full_handshake_configs as configs, qtls_provider, stock_provider, GROUP,
};
use rustls::crypto::CryptoProvider;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const PROVIDERS: [&str; 2] = ["stock", "qtls"];

fn provider(name: &str) -> Arc<CryptoProvider> {
    match name {
        "stock" => stock_provider(),
        "qtls" => qtls_provider(),
        other => panic!("unknown provider {other:?}"),
    }
}

fn vm_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap()
}

/// What `pairs` idle pairs hold, per pair.
#[derive(Debug, Clone, Copy)]
struct PerPair {
    heap: f64,
    blocks: f64,
    client_heap: f64,
    rss: f64,
}

/// In the child: one measurement, printed as `heap blocks client_heap rss` per pair.
fn child(name: &str, pairs: usize) {
    let identity = server_identity(KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65));
    let (client_config, server_config) = configs(&identity, provider(name));
    let (mut c, mut s) = inproc::pair(&client_config, &server_config);
    inproc::drive_ok(&mut c, &mut s);
    assert_eq!(
        c.negotiated_key_exchange_group().unwrap().name().as_str(),
        Some(GROUP)
    );
    drop((c, s));

    let rss_before = vm_rss_kb();
    let region = Region::new(GLOBAL);
    let mut clients = Vec::with_capacity(pairs);
    let mut servers = Vec::with_capacity(pairs);
    for _ in 0..pairs {
        let (mut c, mut s) = inproc::pair(&client_config, &server_config);
        inproc::drive_ok(&mut c, &mut s);
        assert!(!c.is_handshaking() && !s.is_handshaking());
        assert!(!c.wants_write() && !s.wants_write());
        clients.push(c);
        servers.push(s);
    }
    let held = region.change();
    let rss_after = vm_rss_kb();
    let live = |st: stats_alloc::Stats| st.bytes_allocated as f64 - st.bytes_deallocated as f64;
    drop(clients);
    let without_clients = region.change();
    drop(servers);
    let n = pairs as f64;
    println!(
        "{} {} {} {}",
        live(held) / n,
        (held.allocations as f64 - held.deallocations as f64) / n,
        (live(held) - live(without_clients)) / n,
        (rss_after.saturating_sub(rss_before) * 1024) as f64 / n,
    );
}

fn run_child(name: &str, pairs: usize) -> PerPair {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--bench", "--child", name, &pairs.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    PerPair {
        heap: v[0],
        blocks: v[1],
        client_heap: v[2],
        rss: v[3],
    }
}

fn range(v: &[f64]) -> (f64, f64) {
    (min(v), max(v))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("connection_heap: run it with `cargo bench --bench connection_heap`");
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--child") {
        child(&args[at + 1], args[at + 2].parse().unwrap());
        return;
    }
    let pairs = env_number("QTLS_BENCH_PAIRS", 1000);
    let rounds = env_number("QTLS_BENCH_ROUNDS", 3);
    let mut results: Vec<Vec<PerPair>> = vec![Vec::new(); PROVIDERS.len()];
    for round in 0..rounds {
        for offset in 0..PROVIDERS.len() {
            let index = (round + offset) % PROVIDERS.len();
            let r = run_child(PROVIDERS[index], pairs);
            eprintln!(
                "round {round} {:<5}: heap {:.0} B in {:.1} blocks per pair (client {:.0} B), \
                 VmRSS +{:.0} B per pair",
                PROVIDERS[index], r.heap, r.blocks, r.client_heap, r.rss
            );
            results[index].push(r);
        }
    }
    println!(
        "\n{pairs} idle pairs per measurement, {rounds} rounds; per pair: median over rounds \
         (range)\n"
    );
    println!("| provider | Rust heap (B) | blocks | of which the client (B) | VmRSS growth (B) |");
    println!("|---|---:|---:|---:|---:|");
    let column = |index: usize, f: fn(&PerPair) -> f64| -> String {
        let v: Vec<f64> = results[index].iter().map(f).collect();
        let (lo, hi) = range(&v);
        format!("{:.0} ({lo:.0}–{hi:.0})", median(&v))
    };
    for (index, name) in PROVIDERS.iter().enumerate() {
        println!(
            "| {name} | {} | {} | {} | {} |",
            column(index, |r| r.heap),
            column(index, |r| r.blocks),
            column(index, |r| r.client_heap),
            column(index, |r| r.rss),
        );
    }
    let ratio = |f: fn(&PerPair) -> f64| {
        let v: Vec<f64> = results[1]
            .iter()
            .zip(&results[0])
            .map(|(q, s)| f(q) / f(s))
            .collect();
        let (lo, hi) = range(&v);
        format!("{:.3} ({lo:.3}–{hi:.3})", median(&v))
    };
    let heap_ratio = results[1]
        .iter()
        .zip(&results[0])
        .map(|(q, s)| q.heap / s.heap)
        .collect::<Vec<_>>();
    println!(
        "\nqtls / stock: Rust heap {} (target ≤ 1.10: {}), VmRSS growth {}",
        ratio(|r| r.heap),
        if median(&heap_ratio) <= 1.10 {
            "met"
        } else {
            "not met"
        },
        ratio(|r| r.rss),
    );
}
