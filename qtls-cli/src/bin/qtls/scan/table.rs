//! The report as a table for people (without `--json`).

use super::report::Report;

pub(super) fn print_table(report: &Report) {
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    };
    let opt = |item: &Option<String>| item.clone().unwrap_or_else(|| "-".into());
    let yes = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    };
    out!(
        "target              {} (SNI {})",
        report.target,
        report.server_name
    );
    out!("versions            {}", list(&report.versions));
    out!("groups accepted     {}", list(&report.groups_accepted));
    out!("preferred group     {}", opt(&report.preferred_group));
    out!("needed HRR          {}", list(&report.hello_retry_groups));
    out!(
        "signature schemes   {}",
        list(&report.signature_schemes_accepted)
    );
    out!("cipher suites       {}", list(&report.cipher_suites));
    out!(
        "chain               {} certificate(s) as sent",
        report.chain.len()
    );
    for (i, cert) in report.chain.iter().enumerate() {
        out!(
            "  [{i}] {}  issuer {}\n      key {}, signed {}, {} bytes, {} .. {}",
            cert.subject,
            cert.issuer,
            cert.key_algorithm,
            cert.signature_algorithm,
            cert.bytes,
            cert.not_before,
            cert.not_after
        );
    }
    match &report.chain_verified {
        None => out!("verified            - (no --ca)"),
        Some(v) if v.ok => out!("verified            yes: {}", v.path.join(" <- ")),
        Some(v) => out!("verified            NO: {}", opt(&v.error)),
    }
    out!(
        "post-quantum chain  {}",
        if report.chain_post_quantum {
            "yes"
        } else {
            "no"
        }
    );
    out!(
        "OCSP staple         {}",
        if report.ocsp.stapled {
            format!(
                "{} ({} bytes, verified {}, next update {})",
                opt(&report.ocsp.status),
                report.ocsp.bytes,
                yes(report.ocsp.verified),
                opt(&report.ocsp.next_update)
            )
        } else {
            "none".into()
        }
    );
    out!(
        "resumption          TLS 1.3 ticket issued {}, resumed {}; TLS 1.2 session ID {}, ticket {}",
        yes(report.resumption.tls13_ticket_issued),
        yes(report.resumption.tls13_resumed),
        yes(report.resumption.tls12_session_id),
        yes(report.resumption.tls12_ticket)
    );
    out!(
        "0-RTT               max_early_data_size {}, accepted {}",
        report
            .early_data
            .max_early_data_size
            .map_or("-".into(), |n| n.to_string()),
        yes(report.early_data.accepted)
    );
    out!(
        "client certificate  {}",
        if report.client_auth.requested {
            format!(
                "requested (schemes {}; CAs {})",
                list(&report.client_auth.signature_schemes),
                list(&report.client_auth.certificate_authorities)
            )
        } else {
            "not requested".into()
        }
    );
    let b = &report.bytes;
    let show = |n: Option<usize>| n.map_or("-".into(), |n| n.to_string());
    out!(
        "bytes ({})  flights {}",
        b.probe,
        b.flights
            .iter()
            .map(|f| format!("{} {} ({} seg)", f.from, f.bytes, f.segments))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    out!(
        "  ClientHello {}, ServerHello {}, HRR {}, Certificate {}, CertificateVerify {}; \
         connect {:.1} ms, handshake {:.1} ms",
        show(b.client_hello),
        show(b.server_hello),
        show(b.hello_retry_request),
        show(b.certificate),
        show(b.certificate_verify),
        b.tcp_connect_ms,
        b.handshake_ms
    );
    let v = &report.verdict;
    out!(
        "verdict             PQ key exchange {}{}, PQ authentication {}{}: {} ({} key \
         exchange, {} authentication)",
        if v.pq_key_exchange { "yes" } else { "no" },
        match (v.pq_key_exchange, v.pq_key_exchange_preferred) {
            (true, true) => " (preferred)",
            (true, false) => " (only on request)",
            _ => "",
        },
        if v.pq_authentication { "yes" } else { "no" },
        match (v.pq_authentication, v.pq_authentication_default) {
            (true, true) => " (default)",
            (true, false) => " (only on request)",
            _ => "",
        },
        v.kind,
        v.key_exchange,
        v.authentication
    );
    for advice in &v.advice {
        out!("  - {advice}");
    }
    out!("({} handshakes)", report.probes);
}
