//! The verdict: how post-quantum the server is, and what to change.

use qtls_provider::CodePoints;

use super::report::{Report, Verdict};

fn is_pq_group_name(name: &str) -> bool {
    name.contains("MLKEM")
}

fn is_pq_scheme_name(name: &str) -> bool {
    name.starts_with("ML_DSA") || name.starts_with("MLDSA")
}

pub(super) fn verdict(report: &Report, _code_points: &CodePoints) -> Verdict {
    let pq_groups: Vec<&String> = report
        .groups_accepted
        .iter()
        .filter(|g| is_pq_group_name(g))
        .collect();
    let pq_schemes: Vec<&String> = report
        .signature_schemes_accepted
        .iter()
        .filter(|s| is_pq_scheme_name(s))
        .collect();
    let preferred = report.preferred_group.as_deref().unwrap_or("");
    let default_scheme = report.default_signature_scheme.as_deref().unwrap_or("");
    let mut v = Verdict {
        pq_key_exchange: !pq_groups.is_empty(),
        pq_key_exchange_preferred: is_pq_group_name(preferred),
        pq_authentication: !pq_schemes.is_empty(),
        pq_authentication_default: is_pq_scheme_name(default_scheme),
        ..Verdict::default()
    };
    v.key_exchange = if !is_pq_group_name(preferred) {
        "classical"
    } else if preferred.starts_with("MLKEM") {
        "pqc"
    } else {
        "hybrid"
    };
    v.authentication = if default_scheme.starts_with("MLDSA") {
        "composite"
    } else if default_scheme.starts_with("ML_DSA") {
        "ml-dsa"
    } else {
        "classical"
    };
    v.kind = match (v.key_exchange, v.authentication) {
        ("classical", "classical") => "classical",
        ("hybrid", "composite") => "hybrid",
        ("pqc", "ml-dsa") => "pqc-only",
        ("classical", _) | (_, "classical") => "partial",
        _ => "mixed",
    };
    if !v.pq_key_exchange {
        v.advice.push(
            "enable a hybrid key exchange (X25519MLKEM768, SecP384r1MLKEM1024) in TLS 1.3".into(),
        );
    } else if !v.pq_key_exchange_preferred {
        v.advice.push(format!(
            "prefer {} over {preferred}: a client offering both gets a classical key exchange",
            pq_groups[0]
        ));
    }
    if report
        .hello_retry_groups
        .iter()
        .any(|g| g == preferred && is_pq_group_name(g))
    {
        v.advice.push(format!(
            "{preferred} costs a HelloRetryRequest (an extra round trip) for clients that \
             send a key share for another group first"
        ));
    }
    if !v.pq_authentication {
        v.advice.push(
            "serve a composite (MLDSA65-ECDSA-P384-SHA512) or ML-DSA certificate, beside the \
             classical one for old clients"
                .into(),
        );
    } else if !report.chain_post_quantum {
        v.advice.push(
            "the chain is not post-quantum end to end: have the CAs sign with ML-DSA or \
             composite keys too"
                .into(),
        );
    }
    if report.versions.iter().any(|v| v == "TLSv1.2") {
        v.advice.push(
            "TLS 1.2 is accepted and has no post-quantum key exchange: a client that offers \
             only TLS 1.2 connects without it"
                .into(),
        );
    }
    v
}
