//! `qtls report`: the design's message-size and handshake tables measured on this machine,
//! against local `qtls server` processes (and `openssl s_server` where it applies), written
//! as report.md, report.json and SVG charts.

mod charts;
mod client;
mod configurations;
mod cpu;
mod design;
mod hello;
mod machine;
mod markdown;
mod model;
mod progress;
mod proxy;
mod scenarios;
mod servers;
mod token;

use std::path::{Path, PathBuf};

use clap::Args;
use qtls::Error;

use self::configurations::Spec;
use self::machine::OpenSsl;
use self::model::{Configuration, Report, RunSettings};
use self::progress::Progress;
use self::proxy::Rtt;
use self::servers::{QtlsServer, ServerProcess};

const JSON_HELP: &str = "\
report.json is one object (format 1):
  format, generated          layout version; when the report ran (RFC 3339, UTC)
  machine                    {cpu, cores, kernel, os, rustc, openssl, qtls, build,
                             load_average}
  settings                   {handshakes, samples, rtt_ms [..], delay}
  hsm                        null, or {kind, module, token, key_algorithm, throwaway}
  configurations [..]        {name (classical, classical-p384, hybrid, pqc-only), label,
                             group, certificate, preset, qtls, openssl (or null),
                             openssl_note}; qtls and openssl are {server,
                             negotiated_group, signature_scheme, cipher_suite, messages,
                             ratio_to_classical, handshake_bytes_sent,
                             handshake_bytes_received (as `qtls client --json` counts
                             them), cpu {handshakes, microseconds (per handshake),
                             precise}}
    messages                 {client_hello, server_hello, certificate, certificate_verify
                             (bytes with the 4-byte header), client_key_share,
                             server_key_share (key_exchange field), handshake_total (both
                             directions on the wire until the handshake completed)}
  scenarios [..]             one per scenario (full, session-id, ticket, 0-rtt) and RTT:
                             {name, label, server_flags, rtt_ms, samples, resumed,
                             early_data_accepted (counts), handshake_round_trips (before
                             the request could be sent), round_trips (to the first
                             application byte), time_to_first_byte_ms {median, min, max},
                             handshake_bytes_sent, handshake_bytes_received,
                             psk_identity_bytes, hsm_operations_per_connection (null
                             without a token), server_cpu_us_per_connection}
  design                     the design's claims: {source, message_sizes [{message, label,
                             classical, hybrid, ratio, ..}], key_exchange, scenarios
                             [{scenario, round_trips, handshake_ms, bytes, hsm_operations,
                             ..}], resumption_cpu_percent_of_full, session_id_bytes,
                             session_ticket_bytes, max_early_data_size}
  charts, notes              the SVG files written; remarks on the run";

/// Arguments of `qtls report`.
#[derive(Args)]
#[command(after_long_help = JSON_HELP)]
pub(crate) struct ReportArgs {
    /// Directory for report.md, report.json and the charts (created if missing).
    #[arg(long, default_value = "qtls-report")]
    out: PathBuf,
    /// Round-trip times to add on loopback, comma-separated (`0,10ms,50ms`).
    #[arg(long, value_delimiter = ',', default_value = "0,10ms,50ms")]
    rtt: Vec<Rtt>,
    /// Full handshakes per server for its CPU time per handshake.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    handshakes: u64,
    /// Connections per scenario and RTT.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    samples: u64,
    /// The `openssl` to compare with (default: QTLS_OPENSSL, else `openssl` on PATH; it must
    /// be OpenSSL 4 or later, else the comparison is left out).
    #[arg(long)]
    openssl: Option<PathBuf>,
    /// Leave out the `openssl s_server` comparison.
    #[arg(long, conflicts_with = "openssl")]
    no_openssl: bool,
    /// Put the scenarios' server key in this PKCS#11 module's token (with --hsm-token; the
    /// user PIN in QTLS_HSM_PIN); a composite key labelled qtls-report-* is generated there
    /// and left. Default: a throwaway Kryoptic (QTLS_TEST_PKCS11_MODULE) or SoftHSM2
    /// (QTLS_SOFTHSM_MODULE) token when one of them is set, else no token.
    #[arg(long, requires = "hsm_token")]
    hsm_module: Option<PathBuf>,
    /// The token's label.
    #[arg(long, requires = "hsm_module")]
    hsm_token: Option<String>,
    /// No token: software keys only, no HSM operations counted.
    #[arg(long, conflicts_with = "hsm_module")]
    no_hsm: bool,
}

pub(crate) async fn run(args: ReportArgs) -> Result<(), Error> {
    // Dropping the measurement ends the servers it started.
    tokio::select! {
        result = report(args) => result,
        _ = tokio::signal::ctrl_c() => Err(Error::Config("interrupted".into())),
    }
}

/// Fails early, before minutes of measuring, when `dir` cannot take the report.
fn check_out_dir(dir: &Path) -> Result<(), Error> {
    let fail = |e: std::io::Error| {
        Error::Config(format!(
            "--out {}: cannot write the report there: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(".qtls-report-write-check");
    std::fs::write(&probe, b"").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

async fn report(args: ReportArgs) -> Result<(), Error> {
    check_out_dir(&args.out)?;
    let mut rtts = args.rtt.clone();
    rtts.dedup();
    let exe = std::env::current_exe()
        .map_err(|e| Error::Config(format!("cannot find this executable: {e}")))?;
    let work = tempfile::Builder::new()
        .prefix("qtls-report-")
        .tempdir()
        .map_err(|e| Error::Config(format!("temporary directory: {e}")))?;
    let work = work.path();
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut notes = Vec::new();
    let openssl = if args.no_openssl {
        notes.push("No openssl s_server comparison (--no-openssl).".to_string());
        None
    } else {
        match OpenSsl::find(args.openssl.as_deref(), work) {
            Ok(openssl) => Some(openssl),
            Err(why) if args.openssl.is_some() => {
                return Err(Error::Config(format!("--openssl: {why}")))
            }
            Err(why) => {
                notes.push(format!("No openssl s_server comparison: {why}."));
                None
            }
        }
    };
    let machine = machine::describe(openssl.as_ref());
    if cfg!(debug_assertions) {
        notes.push("A debug build of qtls: its CPU times are far above a release build's.".into());
    }

    let specs = configurations::specs();
    let mut chains = Vec::new();
    for spec in &specs {
        chains.push(servers::write_chain(&work.join(spec.name), spec.algorithm)?);
    }
    let hybrid_index = specs.iter().position(|s| s.name == "hybrid").unwrap_or(0);
    let choice = match (&args.hsm_module, &args.hsm_token, args.no_hsm) {
        (_, _, true) => token::Choice::Off,
        (Some(module), Some(token), _) => token::Choice::Given {
            module: module.clone(),
            token: token.clone(),
        },
        _ => token::Choice::Auto,
    };
    let token = match token::prepare(choice, &exe, work, &chains[hybrid_index].dir).await? {
        Ok(token) => Some(token),
        Err(why) => {
            notes.push(format!("HSM operations not counted: {why}."));
            None
        }
    };

    let openssl_runs =
        specs.iter().filter(|s| s.no_openssl.is_none()).count() * usize::from(openssl.is_some());
    let steps = specs.len() + openssl_runs + scenarios::specs().len() * rtts.len();
    let progress = Progress::new(steps as u64);
    let mut configurations = Vec::new();
    for (spec, chain) in specs.iter().zip(&chains) {
        configurations.push(
            configuration(spec, chain, &exe, openssl.as_ref(), &args, &logs, &progress).await?,
        );
    }
    if let Some(base) = configurations.first() {
        let (qtls_base, openssl_base) = (
            base.qtls.messages.clone(),
            base.openssl.as_ref().map(|m| m.messages.clone()),
        );
        for c in &mut configurations {
            c.qtls.ratio_to_classical = Some(c.qtls.messages.ratios(&qtls_base));
            if let (Some(o), Some(base)) = (c.openssl.as_mut(), &openssl_base) {
                o.ratio_to_classical = Some(o.messages.ratios(base));
            }
        }
    }

    let hybrid = &specs[hybrid_index];
    let client = hybrid.client(&chains[hybrid_index].root)?;
    let mut scenario_results = Vec::new();
    let mut servers: Vec<(scenarios::Sessions, ServerProcess, String)> = Vec::new();
    for sessions in scenarios::Sessions::ALL {
        let server = QtlsServer {
            exe: &exe,
            preset: hybrid.preset,
            group: hybrid.group,
            chain: &chains[hybrid_index],
            hsm: token.as_ref(),
            extra: sessions.flags(token.is_some()),
        };
        let process = server
            .spawn(&format!("qtls server {sessions:?}"), &logs)
            .await?;
        servers.push((sessions, process, server.flags()));
    }
    for spec in scenarios::specs() {
        let Some((_, server, flags)) = servers.iter_mut().find(|s| s.0 == spec.sessions) else {
            continue;
        };
        for rtt in &rtts {
            progress.step(format!("{} at RTT {} ms", spec.label, rtt.ms()));
            let result = scenarios::run(
                &spec,
                &client,
                server,
                flags.clone(),
                token.is_some(),
                *rtt,
                args.samples,
            )
            .await?;
            if spec.resumes && result.resumed < result.samples {
                notes.push(format!(
                    "{} at RTT {} ms: {} of {} connections resumed.",
                    spec.label, result.rtt_ms, result.resumed, result.samples
                ));
            }
            if spec.name == "0-rtt" && result.early_data_accepted < result.samples {
                notes.push(format!(
                    "0-RTT at RTT {} ms: the server accepted early data on {} of {} \
                     connections.",
                    result.rtt_ms, result.early_data_accepted, result.samples
                ));
            }
            scenario_results.push(result);
            progress.done();
        }
    }
    drop(servers);
    progress.finish();

    let mut report = Report {
        format: model::FORMAT,
        generated: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        machine,
        settings: RunSettings {
            handshakes: args.handshakes,
            samples: args.samples,
            rtt_ms: rtts.iter().map(|r| r.ms()).collect(),
            delay: "in-process TCP proxy holding each direction's bytes for RTT/2",
        },
        hsm: token.as_ref().map(|t| t.info.clone()),
        configurations,
        scenarios: scenario_results,
        design: design::design(),
        charts: Vec::new(),
        notes,
    };
    report.charts = charts::draw(&report, &args.out)?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Config(e.to_string()))?;
    let write = |name: &str, contents: &[u8]| {
        let path = args.out.join(name);
        std::fs::write(&path, contents).map_err(|source| Error::File { path, source })
    };
    write("report.json", json.as_bytes())?;
    write("report.md", markdown::render(&report).as_bytes())?;
    out!("report written to {}:", args.out.display());
    for file in ["report.md", "report.json"]
        .into_iter()
        .chain(report.charts.iter().map(String::as_str))
    {
        out!("  {}", args.out.join(file).display());
    }
    Ok(())
}

/// One configuration: its qtls server, then its openssl s_server if there is one.
async fn configuration(
    spec: &Spec,
    chain: &servers::Chain,
    exe: &Path,
    openssl: Option<&OpenSsl>,
    args: &ReportArgs,
    logs: &Path,
    progress: &Progress,
) -> Result<Configuration, Error> {
    let client = spec.client(&chain.root)?;
    progress.step(format!(
        "{}: qtls server, sizes and CPU ({} handshakes)",
        spec.label, args.handshakes
    ));
    let server = QtlsServer {
        exe,
        preset: spec.preset,
        group: spec.group,
        chain,
        hsm: None,
        extra: Vec::new(),
    };
    let mut process = server
        .spawn(&format!("qtls server {}", spec.name), logs)
        .await?;
    let qtls = configurations::measure(&client, &mut process, args.handshakes).await?;
    drop(process);
    progress.done();
    let mut measured_openssl = None;
    let mut openssl_note = spec.no_openssl.map(str::to_string);
    if let (Some(openssl), None) = (openssl, spec.no_openssl) {
        progress.step(format!(
            "{}: openssl s_server, sizes and CPU ({} handshakes)",
            spec.label, args.handshakes
        ));
        let name = format!("openssl s_server {}", spec.name);
        let mut process = servers::openssl_server(openssl, &name, spec.group, chain, logs).await?;
        match configurations::measure(&client, &mut process, args.handshakes).await {
            Ok(measured) => measured_openssl = Some(measured),
            Err(e) => {
                progress.note(&format!("{name}: {e}"));
                openssl_note = Some(format!("it failed: {e}"));
            }
        }
        progress.done();
    }
    Ok(Configuration {
        name: spec.name,
        label: spec.label,
        group: spec.group,
        certificate: spec.certificate,
        preset: spec.preset,
        qtls,
        openssl: measured_openssl,
        openssl_note,
    })
}
