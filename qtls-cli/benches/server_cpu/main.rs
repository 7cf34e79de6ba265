//! Server CPU time per full handshake of `qtls server`, beside OpenSSL 4's `s_server`, read
//! from each server process's own CPU accounting (issue 6, "Speed").
//!
//! ```sh
//! cargo bench --bench server_cpu            # about 12 minutes on 2 cores
//! ```
//!
//! `cargo bench` builds the `qtls` binary in the bench profile (optimised) and this target
//! runs it as separate processes, in one run:
//!
//! | server | command |
//! |---|---|
//! | `qtls` | `qtls server --preset hybrid --policy any` |
//! | `qtls-again` | the same again, a second process: the A/A ratio is the noise floor |
//! | `qtls+gate` | the same with `--policy pq-required` (the PQ gate refuses hellos without a PQ group) |
//! | `qtls+staple` | `qtls` with `--ocsp-stapling soft-fail --ocsp-responder URL`: a `qtls ocsp-responder` on the same PKI signing with its delegated ML-DSA-65 responder certificate, which the staple carries |
//! | `qtls+staple-ca` | the same, the responses signed by the intermediate CA itself (a smaller staple) |
//! | `openssl` | `openssl s_server -tls1_3 -www -groups SecP384r1MLKEM1024 -cert ... -cert_chain ... -key ...` |
//! | `qtls-composite` | `qtls` with a composite MLDSA65-ECDSA-P384 chain (`qtls pki init --profile composite`) |
//! | `qtls-no-sessions` | `qtls` with `--session-store off`: no sessions stored, no tickets sent, as the s2n-tls server |
//! | `s2n` | AWS's s2n-tls (`bench-peers/s2n-server`: the `s2n-tls` crate on tokio, policy `default_pq`), built here on demand; left out with a message if it cannot be built |
//! | `qtls-resumed` | the same command as `qtls`, measured only with `qtls client --reconnect` and `qtls client` (below) |
//!
//! all but `qtls-composite` with the same ML-DSA-65 leaf and intermediate (`qtls pki init
//! --profile mldsa65`), and the same clients, offering only SecP384r1MLKEM1024 (each server's
//! negotiation, and that only the `qtls+staple` servers staple, is checked first):
//!
//! - `s_client` (the measurement the verdicts use): `openssl s_client -status
//!   -verify_return_error` processes, one full handshake each, a fixed number per server and
//!   round, the servers taking turns connection by connection so that anything else the
//!   machine does falls on all of them alike. `-status` asks for the staple (`s_time`
//!   cannot); each client sends close_notify on its stdin's EOF, without a request.
//! - `s_time` (a cross-check): `openssl s_time -new -time T` per server, one after the other
//!   (its `OPENSSL_CONF` sets the group), as many full handshakes as it makes in T seconds.
//!   It closes the socket right after sending its Finished, so the server's session ticket
//!   meets a reset (qtls logs most of these connections as failed with ECONNRESET after it
//!   read and checked the Finished: the handshake's work is done). Run one server after
//!   another, its A/A spread is several percent, so it cross-checks only qtls / openssl.
//! - `qtls client` (for `qtls-composite`, since OpenSSL has no composite signatures):
//!   `qtls client --group SecP384r1MLKEM1024` processes, one full handshake and one `GET /`
//!   each, taking turns connection by connection between `qtls-composite`, `qtls` and
//!   `openssl` (whichever run), so that the composite server is compared with `openssl
//!   s_server` on ML-DSA-65 under the same client.
//!
//! What the runtime adds (issue #13 part 4), in every round:
//! - in process, the server side of the same handshakes (`inproc.rs`: the same chain, key,
//!   preset, memory store and tickets, records moved through memory, the server's calls timed
//!   on a CPU), full and resumed, as many of each as connections per server;
//! - resumed handshakes, on a `qtls-resumed` server of their own (the same command as
//!   `qtls`): a block of `qtls client --reconnect` processes (a full handshake, then a
//!   resumed one, each connection with one `GET /`) and a block of plain `qtls client`
//!   processes, in alternating order; the difference per process is a resumed connection's
//!   CPU, its TCP connection and GET included.
//!
//! The report divides each process's CPU per handshake by the in-process figure of its round
//! (target for `qtls`: ≤ 1.5, full and resumed) and `qtls` by `s2n` (target ≤ 1.00).
//!
//! The server's CPU time (user + system, all threads) is read from the kernel's per-thread
//! accounting (`/proc/PID/task/*/schedstat`, ns) before and after, and divided by the number
//! of connections; so is the number of times its threads were put on a CPU (schedstat's
//! third field: roughly, wake-ups). Idle servers are checked to burn nothing. Ratios are
//! taken within each round; the report gives the median over rounds, the range and the
//! pooled ratio.
//!
//! Environment: `QTLS_OPENSSL` (an OpenSSL 4 `openssl`; default: `scripts/openssl.sh`, which
//! builds it once into `~/.cache/qtls`), `QTLS_BENCH_CONNECTIONS` (s_client connections per
//! server and round, default 300), `QTLS_BENCH_ROUNDS` (default 4), `QTLS_BENCH_STIME_SECONDS`
//! (default 5; 0 skips s_time), `QTLS_BENCH_SERVERS` (the servers to run, comma-separated
//! names from the table; default all).
//!
//! Without `--bench` (as under `cargo test --benches`) it does nothing.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod clients;
mod inproc;
mod process;
mod s2n;

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use clients::{Client, QtlsClient};
use process::{
    check, cpu_model, git_commit, kernel, load_average, openssl_binary, openssl_version, pooled_us,
    strip_ansi, Cpu, Process, Sample,
};
use qtls_test_support::bench::{env_number, max, median, min};
use qtls_test_support::process::free_port;

const GROUP: &str = "SecP384r1MLKEM1024";
/// The server OpenSSL cannot talk to (no composite signatures): `qtls client` measures it.
const COMPOSITE: &str = "qtls-composite";
/// The servers `qtls client` connects to, taking turns, when they run.
const QTLS_CLIENT_SERVERS: [&str; 3] = [COMPOSITE, "qtls", "openssl"];
const WARMUP: usize = 20;
/// AWS's s2n-tls (bench-peers/s2n-server), the server the issue sets `qtls server` against.
const S2N: &str = "s2n";
/// `qtls` without sessions or tickets, like the s2n-tls server.
const NO_SESSIONS: &str = "qtls-no-sessions";
/// A `qtls` server of its own for the resumed handshakes (`qtls client --reconnect`), so
/// that their traffic and stored sessions do not fall on the servers s_client compares.
const RESUMED: &str = "qtls-resumed";

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("server_cpu: run it with `cargo bench --bench server_cpu`; nothing to do");
        return;
    }
    let connections = env_number("QTLS_BENCH_CONNECTIONS", 300);
    let rounds = env_number("QTLS_BENCH_ROUNDS", 4);
    let stime_seconds = env_number("QTLS_BENCH_STIME_SECONDS", 5);
    let selected: Option<Vec<String>> = std::env::var("QTLS_BENCH_SERVERS")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(|n| n.trim().to_string()).collect());
    let wanted = |name: &str| {
        selected
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == name))
    };

    let openssl = openssl_binary();
    let work = tempfile::Builder::new()
        .prefix("qtls-server-cpu-")
        .tempdir()
        .expect("temp dir");
    let dir = work.path();
    // A copy, so that another build writing target/release/qtls cannot swap it mid-run.
    let qtls = dir.join("qtls");
    std::fs::copy(env!("CARGO_BIN_EXE_qtls"), &qtls).expect("copy the qtls binary");
    let pki = dir.join("pki");
    check(
        Command::new(&qtls)
            .args(["pki", "init", "--profile", "mldsa65", "--hosts"])
            .arg("localhost,127.0.0.1")
            .arg("--dir")
            .arg(&pki),
        "qtls pki init --profile mldsa65",
    );
    let composite_pki = dir.join("pki-composite");
    if wanted(COMPOSITE) {
        check(
            Command::new(&qtls)
                .args(["pki", "init", "--profile", "composite", "--hosts"])
                .arg("localhost,127.0.0.1")
                .arg("--dir")
                .arg(&composite_pki),
            "qtls pki init --profile composite",
        );
    }
    let empty_conf = dir.join("empty.cnf");
    std::fs::write(&empty_conf, "").unwrap();
    let client_conf = dir.join("client.cnf");
    std::fs::write(
        &client_conf,
        format!(
            "openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n[ssl_sect]\n\
             system_default = system_default_sect\n[system_default_sect]\nGroups = {GROUP}\n"
        ),
    )
    .unwrap();
    let client = Client {
        openssl: openssl.clone(),
        conf: client_conf,
        ca: pki.join("root.pem"),
    };
    let qtls_client = QtlsClient {
        qtls: qtls.clone(),
        ca: pki.join("root.pem"),
        composite_ca: composite_pki.join("root.pem"),
    };

    // OCSP responders for the stapling servers: one signing with the PKI's delegated
    // responder certificate (which the response then carries), one with the CA's own key.
    let responder = |name: &'static str, signer: &str, key: &str| {
        let port = free_port();
        let mut cmd = Command::new(&qtls);
        cmd.args(["ocsp-responder", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--validity", "86400"])
            .arg("--ca")
            .arg(pki.join("intermediate.pem"))
            .arg("--signer")
            .arg(pki.join(signer))
            .arg("--key")
            .arg(pki.join(key))
            .arg("--index")
            .arg(pki.join("revoked.txt"));
        (Process::spawn(name, &mut cmd, dir, port), port)
    };
    let (_delegated, delegated_port) = responder("ocsp-delegated", "ocsp.pem", "ocsp.key");
    let (_by_ca, by_ca_port) = responder("ocsp-by-ca", "intermediate.pem", "intermediate.key");

    let qtls_server = |name: &'static str, extra: &[String]| {
        let port = free_port();
        let pki = if name == COMPOSITE {
            &composite_pki
        } else {
            &pki
        };
        let mut cmd = Command::new(&qtls);
        cmd.args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--preset", "hybrid"])
            .arg("--cert")
            .arg(pki.join("server-chain.pem"))
            .arg("--key")
            .arg(pki.join("server.key"))
            .args(extra);
        Process::spawn(name, &mut cmd, dir, port)
    };
    let stapling = |port: u16| {
        [
            "--policy",
            "any",
            "--ocsp-stapling",
            "soft-fail",
            "--ocsp-responder",
            &format!("http://127.0.0.1:{port}"),
        ]
        .map(String::from)
    };
    let any = ["--policy", "any"].map(String::from);
    let configurations: [(&'static str, &[String]); 8] = [
        ("qtls", &any),
        // What s2n-server does: no session store, no tickets.
        (
            NO_SESSIONS,
            &["--policy", "any", "--session-store", "off"].map(String::from),
        ),
        // The same server again: the A/A ratio shows how far two identical processes differ.
        ("qtls-again", &any),
        ("qtls+gate", &["--policy", "pq-required"].map(String::from)),
        ("qtls+staple", &stapling(delegated_port)),
        ("qtls+staple-ca", &stapling(by_ca_port)),
        (COMPOSITE, &any),
        (RESUMED, &any),
    ];
    let mut servers: Vec<Process> = configurations
        .into_iter()
        .filter(|(name, _)| wanted(name))
        .map(|(name, extra)| qtls_server(name, extra))
        .collect();
    let openssl_port = free_port();
    let mut s_server = Command::new(&openssl);
    s_server
        .env("OPENSSL_CONF", &empty_conf)
        .args(["s_server", "-accept", &format!("127.0.0.1:{openssl_port}")])
        .args(["-tls1_3", "-www", "-groups", GROUP])
        .arg("-cert")
        .arg(pki.join("server.pem"))
        .arg("-cert_chain")
        .arg(pki.join("intermediate.pem"))
        .arg("-key")
        .arg(pki.join("server.key"));
    if wanted("openssl") {
        servers.push(Process::spawn("openssl", &mut s_server, dir, openssl_port));
    }
    if wanted(S2N) {
        match s2n::build(dir) {
            Some(binary) => {
                let port = free_port();
                let mut cmd = s2n::command(&binary, &pki, port);
                servers.push(Process::spawn(S2N, &mut cmd, dir, port));
            }
            // Named explicitly, it must run; in the default set it may be missing.
            None => assert!(
                selected.is_none(),
                "QTLS_BENCH_SERVERS names s2n, which did not build"
            ),
        }
    }
    let spawned = Instant::now();
    assert!(!servers.is_empty(), "QTLS_BENCH_SERVERS selects no server");
    // Which servers each client measures (indices into `servers`).
    let s_client_servers: Vec<usize> = (0..servers.len())
        .filter(|&i| servers[i].name != COMPOSITE && servers[i].name != RESUMED)
        .collect();
    let qtls_client_servers: Vec<usize> = (0..servers.len())
        .filter(|&i| QTLS_CLIENT_SERVERS.contains(&servers[i].name))
        .collect();
    let qtls_client_servers = if qtls_client_servers
        .iter()
        .any(|&i| servers[i].name == COMPOSITE)
    {
        qtls_client_servers
    } else {
        Vec::new()
    };

    // What each server negotiates, that only the stapling ones staple, and how many bytes
    // the client reads in the handshake.
    let mut handshake_bytes = Vec::new();
    for (index, server) in servers.iter().enumerate() {
        if qtls_client_servers.contains(&index) {
            let report = qtls_client.check(server);
            if server.name == COMPOSITE {
                handshake_bytes.push(report["handshake_bytes_received"].as_u64().unwrap_or(0));
                continue;
            }
        }
        let out = client.s_client_output(server.port);
        handshake_bytes.push(
            out.lines()
                .find_map(|line| {
                    line.trim()
                        .strip_prefix("SSL handshake has read ")
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|n| n.parse::<u64>().ok())
                })
                .unwrap_or(0),
        );
        for expected in [
            format!("Negotiated TLS1.3 group: {GROUP}"),
            "Peer signature type: mldsa65".to_string(),
            "Verify return code: 0 (ok)".to_string(),
        ] {
            assert!(
                out.contains(&expected),
                "{}: no {expected:?} in s_client's output:\n{out}",
                server.name
            );
        }
        let stapled = out.contains("OCSP Response Status: successful");
        assert_eq!(
            stapled,
            server.name.starts_with("qtls+staple"),
            "{}: stapled={stapled}:\n{out}",
            server.name
        );
        if stapled {
            assert!(out.contains("Cert Status: good"), "{out}");
        }
    }

    let resumed_server = servers.iter().position(|s| s.name == RESUMED);
    if let Some(index) = resumed_server {
        qtls_client.check_resumes(&servers[index]);
    }
    let baseline = inproc::Baseline::new(&pki);

    let load_before = load_average();
    let started = Instant::now();
    for &index in &s_client_servers {
        client.s_client_loop(servers[index].port, WARMUP);
    }
    for &index in &qtls_client_servers {
        qtls_client.connect_loop(&servers[index], WARMUP);
    }
    // The stapler fetched its response on a blocking-pool thread, which tokio ends after
    // 10 s idle: let it go before measuring.
    std::thread::sleep(Duration::from_secs(12).saturating_sub(spawned.elapsed()));
    // Idle servers must not add to the counts: check what they burn doing nothing.
    let idle_before: Vec<Cpu> = servers.iter().map(|s| Cpu::read(s.pid())).collect();
    std::thread::sleep(Duration::from_secs(1));
    let idle: Vec<u64> = servers
        .iter()
        .zip(&idle_before)
        .map(|(s, before)| Cpu::read(s.pid()).since(before).cpu_ns)
        .collect();

    let mut results: Vec<Vec<Sample>> = vec![Vec::new(); servers.len()];
    let mut stime_results: Vec<Vec<Sample>> = vec![Vec::new(); servers.len()];
    let mut qtls_results: Vec<Vec<Sample>> = vec![Vec::new(); servers.len()];
    let mut inproc_full = Vec::new();
    let mut inproc_resumed = Vec::new();
    let mut process_resumed = Vec::new();
    let mut process_full_with_get = Vec::new();
    for round in 0..rounds {
        // s_client: the servers take turns connection by connection, so that whatever else
        // the machine does falls on all of them alike; each one's CPU over the round is its
        // own work (idle servers burn none, as checked above).
        let before: Vec<Cpu> = servers.iter().map(|s| Cpu::read(s.pid())).collect();
        let turns = s_client_servers.len();
        for i in 0..connections * usize::from(turns > 0) {
            for offset in 0..turns {
                let index = s_client_servers[(i + offset) % turns];
                client.s_client_loop(servers[index].port, 1);
            }
        }
        for &index in &s_client_servers {
            let server = &servers[index];
            let mut sample = Cpu::read(server.pid()).since(&before[index]);
            sample.connections = connections;
            eprintln!(
                "round {round} {:<12} s_client: {} connections, {:.0} µs/handshake{}",
                server.name,
                sample.connections,
                sample.per_handshake_us(),
                if sample.precise { "" } else { " (ticks)" }
            );
            results[index].push(sample);
        }
        // `qtls client`, the same way, between the composite server and its comparisons.
        let before: Vec<Cpu> = servers.iter().map(|s| Cpu::read(s.pid())).collect();
        let turns = qtls_client_servers.len();
        for i in 0..connections * usize::from(turns > 0) {
            for offset in 0..turns {
                let index = qtls_client_servers[(i + offset) % turns];
                qtls_client.connect_loop(&servers[index], 1);
            }
        }
        for &index in &qtls_client_servers {
            let server = &servers[index];
            let mut sample = Cpu::read(server.pid()).since(&before[index]);
            sample.connections = connections;
            eprintln!(
                "round {round} {:<14} qtls client: {} connections, {:.0} µs/handshake{}",
                server.name,
                sample.connections,
                sample.per_handshake_us(),
                if sample.precise { "" } else { " (ticks)" }
            );
            qtls_results[index].push(sample);
        }
        // What the runtime adds: the same handshakes in process, and resumed handshakes of
        // `qtls server` (each `qtls client --reconnect` makes a full handshake and a resumed
        // one; the full-only block beside it, in alternating order, is subtracted).
        inproc_full.push(baseline.full_us(connections));
        inproc_resumed.push(baseline.resumed_us(connections));
        if let Some(index) = resumed_server {
            let server = &servers[index];
            let mut full_only = 0;
            let mut with_resumed = 0;
            for block in 0..2 {
                let before = Cpu::read(server.pid());
                if (block + round) % 2 == 0 {
                    qtls_client.connect_loop(server, connections);
                    full_only = Cpu::read(server.pid()).since(&before).cpu_ns;
                } else {
                    qtls_client.resume_loop(server, connections);
                    with_resumed = Cpu::read(server.pid()).since(&before).cpu_ns;
                }
            }
            let resumed_us =
                with_resumed.saturating_sub(full_only) as f64 / 1000.0 / connections as f64;
            process_full_with_get.push(full_only as f64 / 1000.0 / connections as f64);
            eprintln!(
                "round {round} {RESUMED:<12} resumed: {resumed_us:.0} µs/handshake; in process: \
                 full {:.0}, resumed {:.0} µs/handshake",
                inproc_full[round], inproc_resumed[round]
            );
            process_resumed.push(resumed_us);
        }
        // s_time runs for a time, one server after the other (in a rotating order).
        let turns = s_client_servers.len();
        for offset in 0..turns * usize::from(stime_seconds > 0) {
            let index = s_client_servers[(round + offset) % turns];
            let server = &servers[index];
            let before = Cpu::read(server.pid());
            let connections = client.s_time(server.port, stime_seconds);
            let mut sample = Cpu::read(server.pid()).since(&before);
            sample.connections = connections;
            eprintln!(
                "round {round} {:<12} s_time:   {} connections, {:.0} µs/handshake{}",
                server.name,
                sample.connections,
                sample.per_handshake_us(),
                if sample.precise { "" } else { " (ticks)" }
            );
            stime_results[index].push(sample);
        }
    }
    let elapsed = started.elapsed();
    for server in &mut servers {
        server.assert_running();
    }

    let mut report = String::new();
    let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    writeln!(
        report,
        "Machine: {} cores, {}; Linux {}; load average {load_before} before, {} after. \
         {}; qtls at {}. {rounds} rounds in {:.0} s. s_client: `openssl s_client -status`, \
         {connections} connections per server and round, servers taking turns connection by \
         connection.{}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        kernel(),
        load_average(),
        openssl_version(&openssl, &empty_conf),
        git_commit(),
        elapsed.as_secs_f64(),
        if stime_seconds > 0 {
            format!(
                " s_time: `openssl s_time -new -time {stime_seconds}` per server in turn (no \
                 status_request)."
            )
        } else {
            String::new()
        }
    )
    .unwrap();
    let mut tables = vec![("s_client", &results)];
    if stime_seconds > 0 {
        tables.push(("s_time", &stime_results));
    }
    if !qtls_client_servers.is_empty() {
        tables.push(("qtls client", &qtls_results));
    }
    let cell = |runs: &[Sample]| {
        if runs.is_empty() {
            return "–".to_string();
        }
        let per: Vec<f64> = runs.iter().map(Sample::per_handshake_us).collect();
        format!(
            "{:.0} ({:.0}–{:.0}; {} handshakes{})",
            median(&per),
            min(&per),
            max(&per),
            runs.iter().map(|s| s.connections).sum::<usize>(),
            if runs.iter().all(|s| s.precise) {
                ""
            } else {
                "; some in 10 ms ticks"
            }
        )
    };
    writeln!(
        report,
        "Server CPU per handshake in µs: median of rounds (range; handshakes).\n"
    )
    .unwrap();
    let mut header =
        "| server | bytes the client read in the handshake | s_client | times on a CPU per handshake (s_client) |"
            .to_string();
    let mut rule = "|---|---:|---:|---:|".to_string();
    if stime_seconds > 0 {
        header.push_str(" s_time |");
        rule.push_str("---:|");
    }
    if !qtls_client_servers.is_empty() {
        header.push_str(" qtls client |");
        rule.push_str("---:|");
    }
    writeln!(report, "{header}\n{rule}").unwrap();
    for (index, name) in names.iter().enumerate() {
        let slices: Vec<f64> = results[index]
            .iter()
            .map(Sample::slices_per_handshake)
            .collect();
        let mut row = format!(
            "| `{name}` | {}{} | {} | {} |",
            handshake_bytes[index],
            if *name == COMPOSITE {
                " (qtls client)"
            } else {
                ""
            },
            cell(&results[index]),
            if slices.is_empty() {
                "–".to_string()
            } else {
                format!("{:.1}", median(&slices))
            }
        );
        if stime_seconds > 0 {
            write!(row, " {} |", cell(&stime_results[index])).unwrap();
        }
        if !qtls_client_servers.is_empty() {
            write!(row, " {} |", cell(&qtls_results[index])).unwrap();
        }
        writeln!(report, "{row}").unwrap();
    }
    writeln!(report).unwrap();
    writeln!(
        report,
        "| ratio of CPU per handshake | client | target | median of rounds | range | pooled | verdict |"
    )
    .unwrap();
    writeln!(report, "|---|---|---:|---:|---|---:|---|").unwrap();
    let position = |name: &str| names.iter().position(|n| *n == name);
    let ratios = [
        ("qtls / openssl", "qtls", "openssl", Some(0.40)),
        ("qtls / s2n", "qtls", S2N, Some(1.00)),
        (
            "qtls-no-sessions / s2n (the same work)",
            NO_SESSIONS,
            S2N,
            None,
        ),
        (
            "qtls / qtls-no-sessions (two sessions stored and ticketed)",
            "qtls",
            NO_SESSIONS,
            None,
        ),
        ("qtls+gate / qtls", "qtls+gate", "qtls", Some(1.03)),
        ("qtls+staple / qtls", "qtls+staple", "qtls", Some(1.03)),
        (
            "qtls+staple-ca / qtls",
            "qtls+staple-ca",
            "qtls",
            Some(1.03),
        ),
        (
            "qtls-again / qtls (A/A control)",
            "qtls-again",
            "qtls",
            None,
        ),
        // No target: OpenSSL has no composite, so this compares different certificates.
        ("qtls-composite / openssl", COMPOSITE, "openssl", None),
        ("qtls-composite / qtls", COMPOSITE, "qtls", None),
    ];
    for (short, samples) in &tables {
        for (label, numerator, denominator, target) in ratios {
            // s_time runs one server after the other, so its A/A spread is several percent:
            // it cross-checks only the large ratio.
            if *short == "s_time" && !matches!(numerator, "qtls" | "qtls-again") {
                continue;
            }
            // `qtls client` measures the composite server and what it is compared with.
            if *short == "qtls client" && !matches!(numerator, "qtls" | COMPOSITE) {
                continue;
            }
            let (Some(num), Some(den)) = (position(numerator), position(denominator)) else {
                continue;
            };
            let (num, den) = (&samples[num], &samples[den]);
            if num.is_empty() || den.is_empty() {
                continue;
            }
            // Under `qtls client` every ratio is reported without a verdict.
            let target = target.filter(|_| *short != "qtls client");
            let per_round: Vec<f64> = num
                .iter()
                .zip(den.iter())
                .map(|(n, d)| n.per_handshake_us() / d.per_handshake_us())
                .collect();
            let pooled = pooled_us(num) / pooled_us(den);
            let med = median(&per_round);
            let verdict = match target {
                None if *short == "qtls client" || numerator == COMPOSITE => "reported",
                None if label.contains("A/A") => "noise floor",
                None => "reported",
                Some(target) if *short == "s_time" && med <= target => "cross-check: within",
                Some(_) if *short == "s_time" => "cross-check: above",
                Some(target) if med <= target => "meets",
                Some(_) => "misses",
            };
            let target = target.map_or("–".to_string(), |t| format!("≤ {t:.2}"));
            writeln!(
                report,
                "| {label} | {short} | {target} | {med:.3} | {:.3}–{:.3} | {pooled:.3} | {verdict} |",
                min(&per_round),
                max(&per_round),
            )
            .unwrap();
        }
    }
    write_runtime_table(
        &mut report,
        &names,
        &results,
        &inproc_full,
        &inproc_resumed,
        &process_resumed,
        &process_full_with_get,
    );
    writeln!(
        report,
        "\nIdle servers over 1 s: {}.",
        names
            .iter()
            .zip(&idle)
            .map(|(name, ns)| format!("`{name}` {} µs", ns / 1000))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .unwrap();
    println!("\n{report}");
    // What the qtls servers logged, by message (timestamps and peers left out).
    for server in &servers {
        if server.name.starts_with("qtls") {
            let log = std::fs::read_to_string(&server.log).unwrap_or_default();
            let mut kinds: Vec<(String, usize)> = Vec::new();
            for line in log.lines().map(strip_ansi) {
                let Some(level) = ["WARN", "ERROR"].into_iter().find(|l| line.contains(l)) else {
                    continue;
                };
                let message = line
                    .split_once(level)
                    .map_or(line.as_str(), |(_, rest)| rest)
                    .split(" peer=")
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let message = format!("{level} {message}");
                match kinds.iter_mut().find(|(m, _)| *m == message) {
                    Some((_, n)) => *n += 1,
                    None => kinds.push((message, 1)),
                }
            }
            println!("{} log: {} lines", server.name, log.lines().count());
            for (message, n) in kinds {
                println!("  {n} × {message}");
            }
        }
    }
}

/// What the runtime adds: each process's CPU per handshake over the in-process server side
/// of the same handshake, measured in the same round (target ≤ 1.5 for `qtls`).
fn write_runtime_table(
    report: &mut String,
    names: &[&str],
    results: &[Vec<Sample>],
    inproc_full: &[f64],
    inproc_resumed: &[f64],
    process_resumed: &[f64],
    process_full_with_get: &[f64],
) {
    let ratio_row =
        |report: &mut String, label: &str, process: &[f64], inproc: &[f64], target: Option<f64>| {
            if process.is_empty() || inproc.is_empty() {
                return;
            }
            let per_round: Vec<f64> = process.iter().zip(inproc).map(|(p, i)| p / i).collect();
            let med = median(&per_round);
            let verdict = match target {
                Some(t) if med <= t => "meets",
                Some(_) => "misses",
                None => "reported",
            };
            writeln!(
                report,
                "| {label} | {:.0} | {:.0} | {} | {med:.2} | {:.2}–{:.2} | {verdict} |",
                median(process),
                median(inproc),
                target.map_or("–".to_string(), |t| format!("≤ {t:.2}")),
                min(&per_round),
                max(&per_round),
            )
            .unwrap();
        };
    writeln!(
        report,
        "\nWhat the runtime adds: server CPU per handshake of each process (s_client, no request; \
         resumed: `qtls client --reconnect` less `qtls client`, so a resumed connection with \
         its TCP connection and one GET / 200) over the in-process server side of the \
         same handshake (`qtls::server_config`, the same chain and key, a memory store, two \
         tickets), medians over rounds.\n\n\
         | process / in process | process µs | in process µs | target | median ratio | range | verdict |\n\
         |---|---:|---:|---:|---:|---|---|"
    )
    .unwrap();
    for (index, name) in names.iter().enumerate() {
        if *name == COMPOSITE {
            continue;
        }
        let process: Vec<f64> = results[index]
            .iter()
            .map(Sample::per_handshake_us)
            .collect();
        let target = (*name == "qtls").then_some(1.5);
        ratio_row(
            report,
            &format!("`{name}` full / in process"),
            &process,
            inproc_full,
            target,
        );
    }
    ratio_row(
        report,
        &format!("`{RESUMED}` resumed / in process"),
        process_resumed,
        inproc_resumed,
        Some(1.5),
    );
    ratio_row(
        report,
        &format!("`{RESUMED}` full connection with its GET (`qtls client`) / in process"),
        process_full_with_get,
        inproc_full,
        None,
    );
}
