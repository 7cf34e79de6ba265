//! report.md: the design's tables with the measured numbers beside the claimed ones.

use std::fmt::Write as _;

use super::model::{Configuration, Measured, Messages, Report, Scenario};

/// 1234567 -> "1,234,567".
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: Option<usize>) -> String {
    n.map_or_else(|| "–".into(), thousands)
}

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.1}×"))
}

fn field(m: &Messages, name: &str) -> Option<usize> {
    match name {
        "client_hello" => m.client_hello,
        "server_hello" => m.server_hello,
        "certificate" => m.certificate,
        "certificate_verify" => m.certificate_verify,
        "client_key_share" => m.client_key_share,
        "server_key_share" => m.server_key_share,
        "handshake_total" => m.handshake_total,
        _ => None,
    }
}

fn over(a: Option<usize>, b: Option<usize>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
        _ => None,
    }
}

fn config<'a>(report: &'a Report, name: &str) -> Option<&'a Configuration> {
    report.configurations.iter().find(|c| c.name == name)
}

pub(super) fn render(report: &Report) -> String {
    let mut md = String::new();
    let m = &report.machine;
    let _ = writeln!(md, "# Q-TLS measured beside the design\n");
    let _ = writeln!(
        md,
        "Generated {} by `qtls report` (qtls {}, {} build).\n",
        report.generated, m.qtls, m.build
    );
    let _ = writeln!(
        md,
        "**Machine:** {} ({} cores), {}, {}; {}; {}; load average {} at the start.\n",
        m.cpu,
        m.cores,
        m.kernel,
        m.os,
        m.rustc,
        m.openssl.as_deref().unwrap_or("no OpenSSL 4"),
        m.load_average
    );
    let rtts: Vec<String> = report
        .settings
        .rtt_ms
        .iter()
        .map(|r| format!("{r} ms"))
        .collect();
    let _ =
        writeln!(
            md,
            "**How:** everything runs on 127.0.0.1. Each configuration is a `qtls server` child \
         process (this executable) with a fresh certificate chain (root, intermediate, \
         server), and `openssl s_server -tls1_3 -www` where OpenSSL can serve it; the client \
         runs in the command with `qtls client`'s configuration (`--preset P --group G`), on \
         a stream that logs every byte it writes and reads. Sizes come from one full \
         handshake per server; CPU from {} more (`--handshakes`), read from the server \
         process's per-thread accounting (/proc/PID/task/*/schedstat). Scenarios run {} \
         connections (`--samples`) at each added round-trip time ({}), made by a delay \
         proxy inside the command that holds each direction's bytes for half the RTT (TCP's \
         own handshake is not delayed). {}\n",
            report.settings.handshakes,
            report.settings.samples,
            rtts.join(", "),
            match &report.hsm {
                Some(h) =>
                    format!(
                "HSM operations are counted by the server (`qtls_hsm_operations_total` on its \
                 metrics endpoint) with its key in a {} token ({}{}); the scenarios' servers \
                 use that key, so a PKCS#11 module that runs in the server process (as \
                 Kryoptic and SoftHSM2 do) adds its signing to their CPU time, which the \
                 configurations' software keys do not.",
                h.kind,
                h.key_algorithm,
                if h.throwaway { ", made for this run" } else { "" }
            ),
                None => "No PKCS#11 token was available: no HSM operations are counted.".into(),
            }
        );
    let _ = writeln!(
        md,
        "**The design** is the Q-TLS sequence diagrams ({}); its numbers are quoted as \
         written, \"KB\" read as 1,024 bytes.\n",
        report.design.source
    );
    message_sizes(&mut md, report);
    key_exchange(&mut md, report);
    scenarios(&mut md, report);
    server_cpu(&mut md, report);
    if !report.charts.is_empty() {
        let _ = writeln!(md, "## Charts\n");
        for chart in &report.charts {
            let _ = writeln!(md, "![{chart}]({chart})\n");
        }
    }
    if !report.notes.is_empty() {
        let _ = writeln!(md, "## Notes\n");
        for note in &report.notes {
            let _ = writeln!(md, "- {note}");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "The same numbers, and the design's, are in report.json (fields: `qtls report \
         --help`)."
    );
    md
}

fn message_sizes(md: &mut String, report: &Report) {
    let _ = writeln!(md, "## Handshake message sizes (bytes)\n");
    let _ = writeln!(
        md,
        "Messages with their 4-byte handshake header (Certificate and CertificateVerify are \
         encrypted in TLS 1.3: their sizes are computed from the decoded chain and signature); \
         key shares are the key_exchange field; the total is every byte on the wire, both \
         directions, until the handshake completed (record headers, ChangeCipherSpec and \
         Finished included) — what `qtls client --json` reports as handshake_bytes_sent + \
         handshake_bytes_received.\n"
    );
    let classical = config(report, "classical");
    let p384 = config(report, "classical-p384");
    let hybrid = config(report, "hybrid");
    let pqc = config(report, "pqc-only");
    let _ = writeln!(
        md,
        "| Message | Design: classical | Measured: X25519 + ECDSA P-256 | Measured: X25519 + \
         ECDSA P-384 | Design: Q-TLS hybrid | Measured: SecP384r1MLKEM1024 + composite | \
         Design ratio | Measured ratio (hybrid / P-256) | Measured: MLKEM1024 + ML-DSA-87 | \
         Ratio (PQC-only / P-256) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let q = |c: Option<&Configuration>, name: &str| c.and_then(|c| field(&c.qtls.messages, name));
    let mut rows: Vec<(&str, &str, Option<&super::design::SizeClaim>)> = Vec::new();
    for claim in &report.design.message_sizes {
        if claim.message == "server_key_share" {
            rows.push(("client_key_share", "Client key share", None));
            rows.push((
                "server_key_share",
                "Server key share (design: KeyShare)",
                Some(claim),
            ));
        } else {
            rows.push((claim.message, claim.label, Some(claim)));
        }
    }
    for (name, label, claim) in rows {
        let base = q(classical, name);
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            claim.map_or("–", |c| c.classical_text),
            bytes(base),
            bytes(q(p384, name)),
            claim.map_or("–", |c| c.hybrid_text),
            bytes(q(hybrid, name)),
            claim.map_or_else(|| "–".into(), |c| format!("{}×", c.ratio)),
            ratio(over(q(hybrid, name), base)),
            bytes(q(pqc, name)),
            ratio(over(q(pqc, name), base)),
        );
    }
    let _ = writeln!(md);
    let negotiated: Vec<String> = report
        .configurations
        .iter()
        .map(|c| {
            format!(
                "{}: {} / {} / {}",
                c.label,
                c.qtls.negotiated_group.as_deref().unwrap_or("-"),
                c.qtls.signature_scheme.as_deref().unwrap_or("-"),
                c.qtls.cipher_suite.as_deref().unwrap_or("-")
            )
        })
        .collect();
    let _ = writeln!(
        md,
        "Negotiated (group / signature / suite): {}.\n",
        negotiated.join("; ")
    );
    let with_openssl: Vec<&Configuration> = report
        .configurations
        .iter()
        .filter(|c| c.openssl.is_some())
        .collect();
    if !with_openssl.is_empty() {
        let _ = writeln!(
            md,
            "The same client against `openssl s_server` with the same chain and group \
             (qtls server's size in brackets):\n"
        );
        let _ = writeln!(
            md,
            "| Configuration | ClientHello | ServerHello | Certificate | CertificateVerify | \
             Server key share | Total |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        for c in with_openssl {
            let Some(o) = &c.openssl else { continue };
            let cell = |name: &str| {
                format!(
                    "{} ({})",
                    bytes(field(&o.messages, name)),
                    bytes(field(&c.qtls.messages, name))
                )
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                c.label,
                cell("client_hello"),
                cell("server_hello"),
                cell("certificate"),
                cell("certificate_verify"),
                cell("server_key_share"),
                cell("handshake_total")
            );
        }
        let _ = writeln!(md);
    }
    for c in &report.configurations {
        if let Some(note) = &c.openssl_note {
            let _ = writeln!(
                md,
                "{}: no `openssl s_server` comparison ({note}).\n",
                c.label
            );
        }
    }
}

fn key_exchange(md: &mut String, report: &Report) {
    let Some(hybrid) = config(report, "hybrid") else {
        return;
    };
    let k = &report.design.key_exchange;
    let m = &hybrid.qtls.messages;
    let _ = writeln!(md, "## Hybrid key exchange (bytes)\n");
    let _ = writeln!(
        md,
        "| | Design (ECDHE P-384 + Kyber1024) | Measured (SecP384r1MLKEM1024) |"
    );
    let _ = writeln!(md, "|---|---:|---:|");
    let _ = writeln!(
        md,
        "| Client share (public keys) | {} | {} |",
        thousands(k.hybrid_public_key as usize),
        bytes(m.client_key_share)
    );
    let _ = writeln!(
        md,
        "| Server share (ciphertext) | {} | {} |\n",
        thousands(k.hybrid_ciphertext as usize),
        bytes(m.server_key_share)
    );
    let _ = writeln!(
        md,
        "The design counts a P-384 public key as {} bytes; on the wire it is an uncompressed \
         point of 97 (SEC 1: 0x04, X, Y), beside ML-KEM-1024's {} bytes (FIPS 203).\n",
        k.ecdhe_p384_public_key, k.mlkem1024_public_key
    );
}

fn scenario_row(md: &mut String, s: &Scenario, report: &Report) {
    let claim = report
        .design
        .scenarios
        .iter()
        .find(|c| c.scenario == s.name);
    let t = &s.time_to_first_byte_ms;
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} | {} | {:.1} ({:.1}–{:.1}) | {} | {} + {} = {} | {} | {} | {} | {} |",
        s.label,
        claim.map_or_else(|| "–".into(), |c| format!("{}-RTT", c.round_trips)),
        s.handshake_round_trips,
        s.round_trips,
        claim.map_or_else(|| "–".into(), |c| format!("{} ms", c.handshake_ms)),
        t.median,
        t.min,
        t.max,
        claim.map_or("–", |c| c.bytes_text),
        thousands(s.handshake_bytes_sent as usize),
        thousands(s.handshake_bytes_received as usize),
        thousands((s.handshake_bytes_sent + s.handshake_bytes_received) as usize),
        bytes(s.psk_identity_bytes),
        claim.map_or("–", |c| c.hsm_text),
        s.hsm_operations_per_connection
            .map_or_else(|| "–".into(), |ops| format!("{ops:.1}")),
        s.server_cpu_us_per_connection
            .map_or_else(|| "–".into(), |us| format!("{us:.0}")),
    );
}

fn scenarios(md: &mut String, report: &Report) {
    if report.scenarios.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Handshake scenarios (Q-TLS hybrid)\n");
    let flags: Vec<String> = {
        let mut seen = Vec::new();
        for s in &report.scenarios {
            let line = format!("{}: `qtls server {}`", s.label, s.server_flags);
            if !seen.contains(&line) {
                seen.push(line);
            }
        }
        seen
    };
    let _ = writeln!(md, "Servers: {}.\n", flags.join("; "));
    let _ = writeln!(
        md,
        "Round trips are counted on the wire: before the request (server flights the client \
         waited for before it could send `GET /`) and to the first application byte (the \
         client flight that carried the request, which the response answers; with 0-RTT the \
         first, if the server accepted the early data). The time \
         runs from the TCP connect to the first response byte. Bytes are those until the \
         handshake completed, sent + received (with 0-RTT also the early request, and what of \
         the response came with the server's first flight); the PSK identity is the \
         ticket the ClientHello offered. HSM operations and server CPU are per connection.\n"
    );
    let mut rtts: Vec<f64> = Vec::new();
    for s in &report.scenarios {
        if !rtts.contains(&s.rtt_ms) {
            rtts.push(s.rtt_ms);
        }
    }
    for rtt in rtts {
        let _ = writeln!(md, "### Added RTT {rtt} ms\n");
        let _ = writeln!(
            md,
            "| Scenario | Design RTT | Round trips before the request | Round trips to the \
             first byte | Design time | Time to first byte, ms (median, min–max) | Design \
             bytes | Handshake bytes | PSK identity | Design HSM | HSM ops | Server CPU µs |"
        );
        let _ = writeln!(
            md,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for s in report.scenarios.iter().filter(|s| s.rtt_ms == rtt) {
            scenario_row(md, s, report);
        }
        let _ = writeln!(md);
    }
    let at_zero = |name: &str| {
        report
            .scenarios
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.server_cpu_us_per_connection)
    };
    if let (Some(full), Some(resumed)) = (at_zero("full"), at_zero("session-id")) {
        let _ = writeln!(
            md,
            "Server CPU of a session-ID resumption: {:.0}% of a full handshake's (the design: \
             {}%).\n",
            100.0 * resumed / full.max(f64::MIN_POSITIVE),
            report.design.resumption_cpu_percent_of_full
        );
    }
    let identity = |name: &str| {
        report
            .scenarios
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.psk_identity_bytes)
    };
    let _ = writeln!(
        md,
        "Session identifier on the wire: {} bytes for a stateful session (the design: {} \
         bytes), {} bytes for a ticket (the design: ~1 KB).\n",
        bytes(identity("session-id")),
        report.design.session_id_bytes,
        bytes(identity("ticket")),
    );
}

fn cpu_cell(m: Option<&Measured>) -> String {
    m.and_then(|m| m.cpu.as_ref())
        .map_or_else(|| "–".into(), |c| format!("{:.0}", c.microseconds))
}

fn server_cpu(md: &mut String, report: &Report) {
    let _ = writeln!(md, "## Server CPU per full handshake (µs)\n");
    let _ = writeln!(
        md,
        "{} full handshakes per server, each by a client with an empty session cache that \
         closes right after the handshake; the server's CPU time (user + system, all \
         threads) divided by their number.\n",
        report.settings.handshakes
    );
    let _ = writeln!(
        md,
        "| Configuration | qtls server | openssl s_server | qtls / openssl |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|");
    for c in &report.configurations {
        let q = c.qtls.cpu.as_ref().map(|c| c.microseconds);
        let o = c
            .openssl
            .as_ref()
            .and_then(|m| m.cpu.as_ref())
            .map(|c| c.microseconds);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            c.label,
            cpu_cell(Some(&c.qtls)),
            cpu_cell(c.openssl.as_ref()),
            match (q, o) {
                (Some(q), Some(o)) if o > 0.0 => format!("{:.2}", q / o),
                _ => "–".into(),
            }
        );
    }
    let _ = writeln!(md);
}
