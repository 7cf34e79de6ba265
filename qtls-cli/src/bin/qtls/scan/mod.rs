//! `qtls scan`: what a TLS server does, group by group and scheme by scheme, probed with
//! separate bounded handshakes.

mod chain;
mod probe;
mod recorder;
mod report;
mod table;
mod verdict;
// `qtls report` counts its bytes with the same stream.
pub(crate) mod wire;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use clap::Args;
use der::Decode;
use qtls::{group_name, Error};
use qtls_provider::CodePoints;
use rustls::client::Tls12Resumption;
use rustls::{HandshakeKind, NamedGroup};
use rustls_pki_types::{ServerName, UnixTime};

use self::chain::{chain_entry, distinguished_name, staple_report};
use self::probe::{
    all_groups, all_suites, probed_schemes, version_name, Outcome, Probe, ProbeError, Scanner,
    Session, MAX_TIMEOUTS,
};
use self::report::{ClientAuth, Report, Verified};
use self::table::print_table;
use self::verdict::verdict;
use self::wire::bytes_of;

/// The JSON (`--json`) is one object whose top-level fields are stable:
const JSON_HELP: &str = "\
With --json, one JSON object with these stable top-level fields:
  target, server_name        what was scanned
  versions                   [\"TLSv1.3\", \"TLSv1.2\"] accepted
  groups_accepted            OpenSSL names of the groups accepted, each offered alone
  preferred_group            the group chosen when every group is offered (Q-TLS order, key
                             share for the first), or null
  hello_retry_groups         groups the server reached only through a HelloRetryRequest
  signature_schemes_accepted rustls names (as `qtls client --json`), each offered alone
  cipher_suites              rustls names of the suites accepted, each offered alone
  chain                      the certificates as sent: subject, issuer, key_algorithm,
                             signature_algorithm, not_before, not_after (RFC 3339), bytes,
                             post_quantum
  chain_verified             null without --ca, else {ok, error, path}
  chain_post_quantum         every signature and key of the chain is ML-DSA or composite
  ocsp                       {stapled, bytes, status, verified, next_update}
  resumption                 {tls13_ticket_issued, tls13_resumed, tls12_session_id,
                             tls12_ticket}
  early_data                 {max_early_data_size, offered, accepted}
  client_auth                {requested, signature_schemes, certificate_authorities}
  bytes                      {probe, flights [{from, bytes, segments}], client_hello,
                             server_hello, hello_retry_request, certificate,
                             certificate_verify (TLS 1.2: ServerKeyExchange; TLS 1.3
                             Certificate and CertificateVerify are encrypted, so their
                             sizes are computed from the decoded values),
                             server_first_flight_segments (of
                             the server's largest flight, the one with its certificate),
                             tcp_connect_ms, handshake_ms}
  probes                     how many handshakes the scan made (about 30 to 45: one with
                             everything offered, then one per version, group, scheme
                             and suite, and a few for resumption and 0-RTT); three that
                             run into --timeout end the scan with an error
  verdict                    {pq_key_exchange, pq_key_exchange_preferred,
                             pq_authentication, pq_authentication_default,
                             key_exchange (hybrid, pqc, classical), authentication
                             (composite, ml-dsa, classical), kind (hybrid, pqc-only,
                             classical, partial, or mixed), advice [..]}";

/// Arguments of `qtls scan`.
#[derive(Args)]
#[command(after_long_help = JSON_HELP)]
pub(crate) struct ScanArgs {
    /// Server address, HOST:PORT.
    target: String,
    /// Name to send as SNI and to verify with --ca (default: the host of HOST:PORT).
    #[arg(long)]
    servername: Option<String>,
    /// Trust anchors (PEM) to verify the chain and its OCSP staple with.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Print one JSON object (fields: see `qtls scan --help`).
    #[arg(long)]
    pub(crate) json: bool,
    /// At most this many handshakes per second (`10/s`).
    #[arg(long, default_value = "10/s")]
    rate: Rate,
    /// Time limit of each probe (TCP connect plus handshake).
    #[arg(long, default_value = "5s")]
    timeout: humantime::Duration,
}

/// Handshakes per second.
#[derive(Clone, Copy, Debug)]
struct Rate(f64);

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = s.trim().trim_end_matches("/s");
        match number.parse::<f64>() {
            Ok(n) if n > 0.0 && n.is_finite() => Ok(Self(n)),
            _ => Err(format!(
                "{s:?}: give a positive number per second, e.g. 10/s"
            )),
        }
    }
}

pub(crate) async fn run(args: ScanArgs) -> Result<(), Error> {
    let code_points = CodePoints::DEFAULT;
    let name = match &args.servername {
        Some(name) => name.clone(),
        None => args
            .target
            .rsplit_once(':')
            .map(|(host, _)| host.trim_matches(['[', ']']).to_string())
            .ok_or_else(|| Error::Config(format!("{:?}: give HOST:PORT", args.target)))?,
    };
    let server_name = ServerName::try_from(name.clone())
        .map_err(|_| Error::Config(format!("invalid server name {name:?}")))?;
    let roots = match &args.ca {
        Some(path) => Some(qtls::read_certificates(path)?),
        None => None,
    };
    let verification_provider = qtls_provider::compatible();
    let all_schemes = verification_provider
        .signature_verification_algorithms
        .supported_schemes();
    let groups = all_groups();
    let suites = all_suites();
    let mut scanner = Scanner {
        addr: args.target.clone(),
        name: server_name.clone(),
        timeout: (*args.timeout).max(Duration::from_millis(1)),
        interval: Duration::from_secs_f64(1.0 / args.rate.0),
        next: Instant::now(),
        probes: 0,
        timeouts: 0,
        all_schemes,
    };
    let both = vec![&rustls::version::TLS13, &rustls::version::TLS12];
    let base = Probe {
        groups: groups.iter().map(|(_, g)| *g).collect(),
        suites: suites.clone(),
        versions: both.clone(),
        schemes: scanner.all_schemes.clone(),
        store: None,
        early_data: false,
        linger: false,
    };
    let refused = |e: ProbeError| Error::Rejected(format!("scan of {}: {e}", args.target));
    // Everything offered: if this fails, nothing narrower will succeed.
    let baseline = scanner.run(&base).await.map_err(refused)?;

    let mut report = Report {
        target: args.target.clone(),
        server_name: name.clone(),
        ..Report::default()
    };
    let mut versions = Vec::new();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let probe = Probe {
            versions: vec![version],
            ..base.clone()
        };
        if scanner.run(&probe).await.is_ok() {
            versions.push(version);
            report.versions.push(version_name(version.version));
        }
    }
    if versions.is_empty() {
        return Err(refused(ProbeError::Handshake(
            "the server completed a handshake only when offered both versions at once".into(),
        )));
    }
    let base = Probe {
        versions: versions.clone(),
        ..base
    };

    let group_label = |group: NamedGroup| group_name(group, &code_points);
    report.preferred_group = baseline.group.map(group_label);
    if baseline.kind == Some(HandshakeKind::FullWithHelloRetryRequest) {
        if let Some(group) = &report.preferred_group {
            report.hello_retry_groups.push(group.clone());
        }
    }
    let mut bytes_probe: Option<(String, Outcome)> = None;
    for (name, group) in &groups {
        let probe = Probe {
            groups: vec![*group],
            ..base.clone()
        };
        if let Ok(outcome) = scanner.run(&probe).await {
            if outcome.group.map(group_label).as_deref() == Some(name) {
                report.groups_accepted.push(name.to_string());
                let hrr = outcome.kind == Some(HandshakeKind::FullWithHelloRetryRequest);
                if hrr && !report.hello_retry_groups.iter().any(|g| g == name) {
                    report.hello_retry_groups.push(name.to_string());
                }
                if report.preferred_group.as_deref() == Some(name) && !hrr {
                    bytes_probe = Some((format!("{name} offered alone"), outcome));
                }
            }
        }
    }

    for scheme in probed_schemes(&code_points) {
        if !scanner.all_schemes.contains(&scheme) {
            continue;
        }
        let probe = Probe {
            schemes: vec![scheme],
            ..base.clone()
        };
        if let Ok(outcome) = scanner.run(&probe).await {
            if outcome.seen.scheme == Some(scheme) {
                report
                    .signature_schemes_accepted
                    .push(code_points.scheme_name(scheme));
            }
        }
    }
    report.default_signature_scheme = baseline.seen.scheme.map(|s| code_points.scheme_name(s));

    for suite in &suites {
        if !versions
            .iter()
            .any(|v| v.version == suite.version().version)
        {
            continue;
        }
        let probe = Probe {
            suites: vec![*suite],
            ..base.clone()
        };
        if let Ok(outcome) = scanner.run(&probe).await {
            if let Some(name) = outcome.suite {
                if !report.cipher_suites.contains(&name) {
                    report.cipher_suites.push(name);
                }
            }
        }
    }

    // Resumption: TLS 1.3 tickets (RFC 8446 §4.6.1), then TLS 1.2 session IDs and tickets.
    if versions.contains(&&rustls::version::TLS13) {
        let session = Session::new(Tls12Resumption::SessionIdOrTickets, &base.schemes);
        let store = session.store.clone();
        let probe = Probe {
            versions: vec![&rustls::version::TLS13],
            store: Some(session),
            linger: true,
            ..base.clone()
        };
        if scanner.run(&probe).await.is_ok() {
            let tickets = store.tickets();
            report.resumption.tls13_ticket_issued = Some(!tickets.is_empty());
            if !tickets.is_empty() {
                let second = scanner.run(&probe).await;
                report.resumption.tls13_resumed = Some(
                    second
                        .as_ref()
                        .is_ok_and(|o| o.kind == Some(HandshakeKind::Resumed)),
                );
                let max = store.tickets().into_iter().max().unwrap_or(0);
                report.early_data.max_early_data_size = Some(max);
                if max > 0 && !store.tickets().is_empty() {
                    let early = Probe {
                        early_data: true,
                        linger: false,
                        ..probe.clone()
                    };
                    if let Ok(outcome) = scanner.run(&early).await {
                        report.early_data.offered = outcome.early_data_offered;
                        report.early_data.accepted = Some(outcome.early_data_accepted);
                    }
                }
            }
        }
    }
    if versions.contains(&&rustls::version::TLS12) {
        for (mode, slot) in [
            (Tls12Resumption::SessionIdOnly, 0),
            (Tls12Resumption::SessionIdOrTickets, 1),
        ] {
            let probe = Probe {
                versions: vec![&rustls::version::TLS12],
                store: Some(Session::new(mode, &base.schemes)),
                ..base.clone()
            };
            let resumed = match scanner.run(&probe).await {
                Ok(_) => scanner
                    .run(&probe)
                    .await
                    .is_ok_and(|o| o.kind == Some(HandshakeKind::Resumed)),
                Err(_) => false,
            };
            if slot == 0 {
                report.resumption.tls12_session_id = Some(resumed);
            } else {
                report.resumption.tls12_ticket = Some(resumed);
            }
        }
    }

    // Client authentication, as the baseline's CertificateRequest asked for it.
    if let Some((authorities, schemes)) = &baseline.client_auth {
        report.client_auth = ClientAuth {
            requested: true,
            signature_schemes: schemes
                .iter()
                .map(|s| code_points.scheme_name(*s))
                .collect(),
            certificate_authorities: authorities
                .iter()
                .map(|dn| distinguished_name(dn))
                .collect(),
        };
    }

    // The chain as sent, and whether it verifies against --ca.
    let certs = baseline.seen.certs.clone();
    report.chain = certs.iter().map(chain_entry).collect();
    let mut chain_pq = !report.chain.is_empty() && report.chain.iter().all(|c| c.post_quantum);
    let mut verifier = None;
    let mut issuer = certs.get(1).cloned();
    if let Some(roots) = roots {
        let built =
            qtls_verifier::ServerVerifierBuilder::new(roots.clone(), &verification_provider)
                .revocation_policy(qtls_verifier::RevocationPolicy::Off)
                .build_chain_verifier();
        match built {
            Ok(chain_verifier) => {
                let result = match certs.split_first() {
                    Some((leaf, intermediates)) => chain_verifier
                        .verify(
                            leaf,
                            intermediates,
                            qtls_verifier::Purpose::Server,
                            Some(&server_name),
                            &baseline.seen.ocsp,
                            UnixTime::now(),
                        )
                        .map_err(|e| e.to_string()),
                    None => Err("the server sent no certificate".into()),
                };
                report.chain_verified = Some(match result {
                    Ok(path) => {
                        chain_pq = chain_pq
                            && path.certificates.iter().all(|c| {
                                c.signature_algorithm.starts_with("ML-DSA")
                                    || c.signature_algorithm.starts_with("MLDSA")
                            });
                        if issuer.is_none() && path.certificates.len() == 2 {
                            // The issuer is the trust anchor itself.
                            issuer = roots.iter().find_map(|root| {
                                let parsed = x509_cert::Certificate::from_der(root).ok()?;
                                (parsed.tbs_certificate.subject.to_string()
                                    == path.certificates[1].subject)
                                    .then(|| root.clone())
                            });
                        }
                        Verified {
                            ok: true,
                            error: None,
                            path: path
                                .certificates
                                .iter()
                                .map(|c| c.subject.clone())
                                .collect(),
                            path_signature_algorithms: path
                                .certificates
                                .iter()
                                .map(|c| c.signature_algorithm.clone())
                                .collect(),
                        }
                    }
                    Err(error) => Verified {
                        ok: false,
                        error: Some(error),
                        path: Vec::new(),
                        path_signature_algorithms: Vec::new(),
                    },
                });
                verifier = Some(chain_verifier);
            }
            Err(e) => return Err(Error::Config(format!("--ca: {e}"))),
        }
    }
    report.chain_post_quantum = chain_pq;
    report.ocsp = staple_report(
        &baseline.seen.ocsp,
        &certs,
        verifier.as_ref(),
        issuer.as_ref(),
    );

    if scanner.timeouts >= MAX_TIMEOUTS {
        return Err(Error::Rejected(format!(
            "scan of {}: the server stopped answering after {} handshakes ({} ran into the \
             {:?} limit): it stalls or rate-limits; try a lower --rate",
            args.target, scanner.probes, scanner.timeouts, scanner.timeout
        )));
    }
    let (label, outcome) =
        bytes_probe.unwrap_or_else(|| ("everything offered".to_string(), baseline));
    report.bytes = bytes_of(label, &outcome);
    report.probes = scanner.probes;
    report.verdict = verdict(&report, &code_points);

    if args.json {
        out!(
            "{}",
            serde_json::to_string(&report).map_err(|e| Error::Config(e.to_string()))?
        );
    } else {
        print_table(&report);
    }
    Ok(())
}
