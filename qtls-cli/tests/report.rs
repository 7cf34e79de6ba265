//! `qtls report` on loopback: its numbers agree with what `qtls client --json` counts for
//! the same configuration and with the token's own count of HSM operations (not their
//! speed); report.md, report.json (whose fields `--help` documents) and the SVG charts are
//! written and parse; bad `--rtt` values and an `--out` that cannot be written end with a
//! clear error before anything is measured.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use qtls_test_support::tokens;
use serde_json::Value;

/// Far above what a small report takes; only there so a hang fails the test.
const REPORT_LIMIT: Duration = Duration::from_secs(600);

/// A report with few handshakes, run once for the tests that read it.
fn report() -> &'static (tempfile::TempDir, Value) {
    static REPORT: OnceLock<(tempfile::TempDir, Value)> = OnceLock::new();
    REPORT.get_or_init(|| {
        let out = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(support::qtls_bin());
        cmd.args([
            "report",
            "--handshakes",
            "5",
            "--samples",
            "3",
            "--rtt",
            "0,5ms",
        ])
        .arg("--out")
        .arg(out.path());
        if support::openssl().is_none() {
            cmd.arg("--no-openssl");
        }
        let run = support::run(&mut cmd, REPORT_LIMIT).expect_success("qtls report");
        assert!(
            run.stderr.contains("qtls report: [1/"),
            "no progress on stderr:\n{}",
            run.stderr
        );
        let text = std::fs::read_to_string(out.path().join("report.json")).unwrap();
        let json: Value = serde_json::from_str(&text).expect("report.json parses");
        (out, json)
    })
}

fn configuration<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no configuration {name} in {report}"))
}

fn scenario<'a>(report: &'a Value, name: &str, rtt_ms: f64) -> &'a Value {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name && s["rtt_ms"].as_f64() == Some(rtt_ms))
        .unwrap_or_else(|| panic!("no scenario {name} at {rtt_ms} ms in {report}"))
}

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a count: {value}"))
}

/// `qtls client --json --preset P --group G` against a `qtls server` with the same
/// settings and a `qtls pki init --profile` chain: (sent, received) handshake bytes.
fn client_counts(profile: &str, preset: &str, group: &str) -> (u64, u64) {
    let certs = support::qtls_certs(profile);
    let port = support::free_port();
    let server = support::Server::start(
        Command::new(support::qtls_bin())
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--preset", preset, "--group", group, "--cert"])
            .arg(&certs.chain)
            .arg("--key")
            .arg(&certs.key),
        port,
        "listening on",
        &format!("qtls server --preset {preset} --group {group}"),
    );
    let out = support::run(
        Command::new(support::qtls_bin())
            .args(["client", "--json", "--servername", "localhost"])
            .args(["--connect", &format!("127.0.0.1:{port}")])
            .args(["--preset", preset, "--group", group, "--ca"])
            .arg(&certs.root),
        support::COMMAND_TIMEOUT,
    );
    assert!(
        out.success(),
        "{}\n{}\n{}",
        out.stdout,
        out.stderr,
        server.output()
    );
    let json = support::last_json(&out.stdout);
    assert_eq!(json["group"], group, "{json}");
    (
        number(&json["handshake_bytes_sent"]),
        number(&json["handshake_bytes_received"]),
    )
}

/// The sizes the report gives equal what `qtls client --json` counts for the same
/// configuration: the same ClientHello to the byte; the same server flight to the byte with
/// ML-DSA-87, and within the DER slack of the ECDSA signatures (two in the chain, one in
/// CertificateVerify; each INTEGER is a byte longer or shorter by chance) otherwise.
#[test]
fn sizes_equal_the_client_json_counts() {
    let (_, report) = report();
    // (configuration, `qtls pki init` profile, preset, group, ECDSA signatures received)
    let cases = [
        ("classical-p384", "ecdsa-p384", "compatible", "X25519", 3),
        ("hybrid", "composite", "hybrid", "SecP384r1MLKEM1024", 3),
        ("pqc-only", "mldsa87", "pqc-only", "MLKEM1024", 0),
    ];
    for (name, profile, preset, group, ecdsa) in cases {
        let measured = &configuration(report, name)["qtls"];
        assert_eq!(measured["negotiated_group"], group, "{measured}");
        let (sent, received) = client_counts(profile, preset, group);
        assert_eq!(
            number(&measured["handshake_bytes_sent"]),
            sent,
            "{name}: {measured}"
        );
        let report_received = number(&measured["handshake_bytes_received"]);
        assert!(
            report_received.abs_diff(received) <= 4 * ecdsa,
            "{name}: the report read {report_received} bytes, qtls client {received}"
        );
        let messages = &measured["messages"];
        assert_eq!(
            number(&messages["handshake_total"]),
            number(&measured["handshake_bytes_sent"]) + report_received,
            "{name}: {messages}"
        );
        // The parts are inside the whole: ClientHello in what was sent; ServerHello,
        // Certificate and CertificateVerify in what was read.
        assert!(
            number(&messages["client_hello"]) < sent,
            "{name}: {messages}"
        );
        let server_parts: u64 = ["server_hello", "certificate", "certificate_verify"]
            .iter()
            .map(|m| number(&messages[m]))
            .sum();
        assert!(server_parts < report_received, "{name}: {messages}");
    }
    let pqc = &configuration(report, "pqc-only")["qtls"]["messages"];
    // FIPS 203: an ML-KEM-1024 encapsulation key and ciphertext are 1,568 bytes.
    assert_eq!(pqc["client_key_share"], 1568);
    assert_eq!(pqc["server_key_share"], 1568);
    let hybrid = &configuration(report, "hybrid")["qtls"]["messages"];
    // draft-ietf-tls-ecdhe-mlkem: a P-384 point (97 bytes) beside the ML-KEM-1024 share.
    assert_eq!(hybrid["client_key_share"], 97 + 1568);
    assert_eq!(hybrid["server_key_share"], 97 + 1568);
}

/// `GET /metrics`'s `qtls_hsm_operations_total`.
fn hsm_operations(metrics_port: u16) -> u64 {
    let mut stream = TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("qtls_hsm_operations_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no qtls_hsm_operations_total in\n{text}"))
}

/// The report's HSM operations per connection equal what the token counts for the same
/// server flags: a composite key in the test's Kryoptic token, a full handshake by `qtls
/// client`, then a resumption (`--reconnect`, with `--early-data` for 0-RTT).
#[test]
fn hsm_operations_equal_the_token_count() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let (_, report) = report();
    assert_eq!(report["hsm"]["kind"], "Kryoptic", "{}", report["hsm"]);
    let certs = support::qtls_certs("composite");
    let label = tokens::unique("report");
    let qtls = |pin: bool| {
        let mut cmd = Command::new(support::qtls_bin());
        cmd.envs(tokens::child_env()).env_remove("QTLS_HSM_PIN");
        if pin {
            cmd.env("QTLS_HSM_PIN", tokens::USER_PIN);
        }
        cmd
    };
    support::run(
        qtls(true)
            .args(["hsm", "keygen", "--module"])
            .arg(&kryoptic)
            .args([
                "--token",
                tokens::PRIMARY,
                "--label",
                &label,
                "--alg",
                "composite",
            ]),
        support::COMMAND_TIMEOUT,
    )
    .expect_success("qtls hsm keygen");
    let chain = certs.dir.path().join("hsm-chain.pem");
    support::run(
        qtls(true)
            .args([
                "pki",
                "issue",
                "--name",
                "localhost",
                "--hosts",
                "127.0.0.1",
                "--dir",
            ])
            .arg(certs.dir.path())
            .arg("--hsm-module")
            .arg(&kryoptic)
            .args(["--hsm-token", tokens::PRIMARY, "--hsm-key", &label, "--out"])
            .arg(&chain),
        support::COMMAND_TIMEOUT,
    )
    .expect_success("qtls pki issue");
    // (server flags, client flags of the resumption, full scenario, resumed scenario)
    type Case<'a> = (&'a [&'a str], &'a [&'a str], Option<&'a str>, &'a str);
    let cases: [Case<'_>; 3] = [
        (
            &["--tickets", "off", "--no-hsm-tickets"],
            &[],
            Some("full"),
            "session-id",
        ),
        (&["--tickets", "hsm"], &[], None, "ticket"),
        (
            &["--early-data", "--no-hsm-tickets"],
            &["--early-data"],
            None,
            "0-rtt",
        ),
    ];
    for (server_flags, client_flags, full, resumed) in cases {
        let (port, metrics) = (support::free_port(), support::free_port());
        let server = support::Server::start(
            qtls(true)
                .args(["server", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--metrics", &format!("127.0.0.1:{metrics}")])
                .args([
                    "--preset",
                    "hybrid",
                    "--group",
                    "SecP384r1MLKEM1024",
                    "--cert",
                ])
                .arg(&chain)
                .arg("--hsm-module")
                .arg(&kryoptic)
                .args(["--hsm-token", tokens::PRIMARY, "--hsm-key", &label])
                .args(server_flags),
            port,
            "listening on",
            &format!("qtls server {server_flags:?}"),
        );
        let client = |extra: &[&str]| {
            let out = support::run(
                qtls(false)
                    .args(["client", "--json", "--servername", "localhost"])
                    .args(["--connect", &format!("127.0.0.1:{port}"), "--ca"])
                    .arg(&certs.root)
                    .args(extra),
                support::COMMAND_TIMEOUT,
            );
            assert!(
                out.success(),
                "{}\n{}\n{}",
                out.stdout,
                out.stderr,
                server.output()
            );
            support::last_json(&out.stdout)
        };
        let before = hsm_operations(metrics);
        client(&[]);
        let full_ops = hsm_operations(metrics) - before;
        let mut resumption = vec!["--reconnect".to_string(), format!("127.0.0.1:{port}")];
        resumption.extend(client_flags.iter().map(|f| f.to_string()));
        let resumption: Vec<&str> = resumption.iter().map(String::as_str).collect();
        let before = hsm_operations(metrics);
        let both = client(&resumption);
        let resumed_ops = hsm_operations(metrics) - before - full_ops;
        assert_eq!(both["second"]["resumed"], true, "{both}");
        for rtt in [0.0, 5.0] {
            if let Some(full) = full {
                let reported = &scenario(report, full, rtt)["hsm_operations_per_connection"];
                assert_eq!(
                    reported.as_f64(),
                    Some(full_ops as f64),
                    "{full} at {rtt} ms"
                );
            }
            let s = scenario(report, resumed, rtt);
            assert_eq!(s["resumed"], s["samples"], "{s}");
            assert_eq!(
                s["hsm_operations_per_connection"].as_f64(),
                Some(resumed_ops as f64),
                "{resumed} at {rtt} ms: {s}"
            );
        }
    }
}

/// Whether `text` is one well-formed XML element (tags balanced and properly nested).
fn well_formed_xml(text: &str) -> bool {
    let mut open: Vec<String> = Vec::new();
    let mut rest = text.trim();
    if let Some(after) = rest.strip_prefix("<?xml") {
        rest = after.split_once("?>").map_or("", |(_, r)| r);
    }
    let mut roots = 0;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            return false;
        };
        let tag = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop().as_deref() != Some(name.trim()) {
                return false;
            }
        } else if !tag.ends_with('/') && !tag.starts_with('!') {
            if open.is_empty() {
                roots += 1;
            }
            open.push(
                tag.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    open.is_empty() && roots == 1
}

#[test]
fn report_files_are_written_and_parse() {
    let (out, report) = report();
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    for heading in [
        "## Handshake message sizes",
        "## Handshake scenarios",
        "## Server CPU per full handshake",
        "### Added RTT 5 ms",
        "the design",
    ] {
        assert!(md.contains(heading), "report.md has no {heading:?}:\n{md}");
    }
    let charts = report["charts"].as_array().unwrap();
    assert_eq!(charts.len(), 3, "{}", report["charts"]);
    for chart in charts {
        let name = chart.as_str().unwrap();
        let svg = std::fs::read_to_string(out.path().join(name)).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("<rect"),
            "{name}:\n{svg}"
        );
        assert!(well_formed_xml(&svg), "{name} is not well-formed XML");
        assert!(
            md.contains(&format!("]({name})")),
            "report.md does not show {name}"
        );
    }
    // The machine is described.
    for field in ["cpu", "cores", "kernel", "rustc", "qtls", "build"] {
        assert!(
            !report["machine"][field].is_null(),
            "machine.{field}: {report}"
        );
    }
    // Every field of report.json is documented in `qtls report --help`.
    let help = support::run(
        Command::new(support::qtls_bin()).args(["report", "--help"]),
        support::COMMAND_TIMEOUT,
    )
    .expect_success("qtls report --help");
    let mut fields: Vec<String> = Vec::new();
    let mut collect = |value: &Value| {
        if let Some(object) = value.as_object() {
            fields.extend(object.keys().cloned());
        }
    };
    collect(report);
    collect(&report["settings"]);
    collect(&report["machine"]);
    collect(&report["hsm"]);
    collect(&report["configurations"][0]);
    collect(&report["configurations"][0]["qtls"]);
    collect(&report["configurations"][0]["qtls"]["messages"]);
    collect(&report["scenarios"][0]);
    collect(&report["design"]);
    for field in fields {
        assert!(
            help.stdout.contains(&field),
            "--help does not document {field}"
        );
    }
    // Each scenario ran at each RTT, and the design's claims stand beside them.
    assert_eq!(report["scenarios"].as_array().unwrap().len(), 4 * 2);
    assert_eq!(report["design"]["scenarios"].as_array().unwrap().len(), 4);
    let full = scenario(report, "full", 0.0);
    assert_eq!(full["handshake_round_trips"], 1, "{full}");
    assert_eq!(full["round_trips"], 2, "{full}");
    let early = scenario(report, "0-rtt", 5.0);
    assert_eq!(early["early_data_accepted"], early["samples"], "{early}");
    assert_eq!(early["handshake_round_trips"], 0, "{early}");
    assert_eq!(early["round_trips"], 1, "{early}");
}

fn refused(args: &[&str], out: &Path) -> support::Output {
    let run = support::run(
        Command::new(support::qtls_bin())
            .arg("report")
            .args(args)
            .arg("--out")
            .arg(out),
        support::COMMAND_TIMEOUT,
    );
    assert!(
        run.status.is_some() && !run.success(),
        "qtls report {args:?} succeeded:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("qtls report: [1/"),
        "it began measuring:\n{}",
        run.stderr
    );
    run
}

#[test]
fn bad_input_ends_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (rtt, named) in [
        ("garbage", "garbage"),
        ("0,10ms,fast", "fast"),
        ("-5ms", "-5ms"),
    ] {
        let run = refused(&[&format!("--rtt={rtt}")], &out);
        assert!(
            run.stderr.contains(named) && run.stderr.contains("round-trip time"),
            "--rtt {rtt}: {}",
            run.stderr
        );
    }
    let run = refused(&["--rtt", "1h"], &out);
    assert!(run.stderr.contains("at most"), "{}", run.stderr);
    // A file where the directory should be: root may write anywhere, but not under a file.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let run = refused(&[], &file.join("report"));
    assert!(
        run.stderr.contains("--out") && run.stderr.contains("cannot write the report there"),
        "{}",
        run.stderr
    );
}
