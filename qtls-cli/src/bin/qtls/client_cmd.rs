//! `qtls client`: handshake, GET / (or no request), report.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use qtls::client::{ClientOptions, Fallback};
use qtls::{read_certificates, Error, Identity, TlsSettings};
use qtls_provider::{Backend, Preset};
use rustls_pki_types::ServerName;

/// Arguments of `qtls client`.
#[derive(Args)]
pub(crate) struct ClientArgs {
    /// Server address, HOST:PORT.
    #[arg(long)]
    connect: String,
    /// Trust anchors (PEM).
    #[arg(long)]
    ca: PathBuf,
    /// Name to verify and send as SNI (default: the host of --connect).
    #[arg(long)]
    servername: Option<String>,
    /// Client certificate chain for mTLS (PEM).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Intermediate CA certificates known beforehand (PEM), used in path building when the
    /// server sends its leaf alone (`qtls server --send-intermediates no`).
    #[arg(long)]
    intermediates: Option<PathBuf>,
    /// Whether to send the intermediates of --cert (`no`: the leaf alone, for servers that
    /// hold them: `qtls server --client-intermediates`).
    #[arg(long, default_value = "yes", value_parser = yes_no, action = clap::ArgAction::Set)]
    send_intermediates: bool,
    /// hybrid, pqc-only or compatible.
    #[arg(long, default_value = "hybrid")]
    preset: Preset,
    /// Key-exchange groups in preference order (OpenSSL names), replacing the preset's.
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Cipher suites in preference order (`TLS13_AES_128_GCM_SHA256`), replacing the
    /// preset's.
    #[arg(long = "cipher-suite")]
    cipher_suites: Vec<String>,
    /// Backend for ML-KEM and ML-DSA: aws-lc-rs or oqs.
    #[arg(long, default_value = "aws-lc-rs")]
    backend: Backend,
    /// After handshake_failure, retry once with this preset's post-quantum groups (hybrid,
    /// pqc-only, compatible), or `classical`: the compatible preset WITHOUT post-quantum key
    /// exchange, which an on-path attacker can force by forging the alert.
    #[arg(long)]
    fallback: Option<Fallback>,
    /// After the first connection, connect to this address (another node, or the same) and
    /// try to resume the first connection's session; `--json` then reports both.
    #[arg(long)]
    reconnect: Option<String>,
    /// Send the request as 0-RTT early data on the resumed connection: with --reconnect, the
    /// second connection; without, a second connection to --connect. Reports whether the
    /// server accepted it.
    #[arg(long)]
    early_data: bool,
    /// Send no request: handshake, report, close (close_notify, then what the server sends
    /// until it closes, its session tickets among it, waiting at most --timeout). For servers
    /// of any protocol.
    #[arg(long, conflicts_with_all = [
        "early_data", "method", "body_bytes", "key_update_bytes", "key_update_interval",
    ])]
    no_request: bool,
    /// The request method (GET by default; POST sends --body-bytes of body).
    #[arg(long, default_value = "GET")]
    method: String,
    /// Bytes of request body to send.
    #[arg(long, default_value_t = 0)]
    body_bytes: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Seconds to wait for each step.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Update the traffic keys after this many bytes (default 100 GB; 0: no byte limit).
    #[arg(long)]
    key_update_bytes: Option<u64>,
    /// Update the traffic keys after this long (default 24h; 0s: no time limit).
    #[arg(long)]
    key_update_interval: Option<humantime::Duration>,
}

pub(crate) async fn run(args: ClientArgs) -> Result<(), Error> {
    let settings = TlsSettings {
        preset: args.preset,
        backend: args.backend,
        groups: args.groups.clone(),
        cipher_suites: args.cipher_suites.clone(),
        ..TlsSettings::default()
    };
    let provider = settings.provider()?;
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            let identity = Identity::from_pem_files(cert, key, &provider, &settings)?;
            Some(match args.send_intermediates {
                true => identity,
                false => identity.without_intermediates(),
            })
        }
        _ => None,
    };
    let name = match &args.servername {
        Some(name) => name.clone(),
        None => args
            .connect
            .rsplit_once(':')
            .map(|(host, _)| host.trim_matches(['[', ']']).to_string())
            .unwrap_or_else(|| args.connect.clone()),
    };
    let server_name = ServerName::try_from(name.clone())
        .map_err(|_| Error::Config(format!("invalid server name {name:?}")))?;
    let options = ClientOptions {
        settings,
        roots: read_certificates(&args.ca)?,
        intermediates: match &args.intermediates {
            Some(path) => read_certificates(path)?,
            None => Vec::new(),
        },
        identity,
        fallback: args.fallback,
        timeout: Duration::from_secs(args.timeout),
        key_update: qtls::KeyUpdatePolicy {
            bytes: args
                .key_update_bytes
                .unwrap_or(qtls::KeyUpdatePolicy::DEFAULT_BYTES),
            interval: args
                .key_update_interval
                .map_or(qtls::KeyUpdatePolicy::DEFAULT_INTERVAL, Into::into),
        },
        request: (!args.no_request).then(|| qtls::client::HttpRequest {
            method: args.method.to_ascii_uppercase(),
            body_len: args.body_bytes,
            early_data: args.early_data,
        }),
    };
    // 0-RTT needs a ticket from an earlier connection: reconnect to the same server.
    let reconnect = args
        .reconnect
        .clone()
        .or_else(|| args.early_data.then(|| args.connect.clone()));
    // Alerts carry no reason: say what we offered and what the alert likely means.
    let explain = |error: Error| {
        for line in qtls::client::explain_handshake_failure(&options, &error)
            .into_iter()
            .flatten()
        {
            eprintln!("qtls: {line}");
        }
        error
    };
    if let Some(second) = &reconnect {
        let (first, second) =
            qtls::client::fetch_and_reconnect(&args.connect, second, server_name, &options)
                .await
                .map_err(explain)?;
        if args.json {
            let both = serde_json::json!({ "first": first, "second": second });
            out!("{both}");
        } else {
            for (label, report) in [("first", &first), ("second", &second)] {
                out!(
                    "{label}: group {}, resumed {}, early data {}, {} bytes sent, {} received, {}",
                    report.info.group.as_deref().unwrap_or("-"),
                    report.resumed,
                    match (report.early_data_offered, report.early_data_accepted) {
                        (false, _) => "not sent",
                        (true, true) if report.retried_after_425 => "accepted (425: resent)",
                        (true, true) => "accepted",
                        (true, false) => "rejected (resent)",
                    },
                    report.handshake_bytes_sent,
                    report.handshake_bytes_received,
                    report.http_status.as_deref().unwrap_or("-")
                );
            }
        }
        return Ok(());
    }
    let report = qtls::client::fetch(&args.connect, server_name, &options)
        .await
        .map_err(explain)?;
    if report.alert.is_some() && !report.post_quantum_kx {
        eprintln!(
            "qtls: WARNING: connected without post-quantum key exchange (group {}) after \
             --fallback classical; an on-path attacker can force this by forging one alert",
            report.info.group.as_deref().unwrap_or("-")
        );
    }
    if args.json {
        out!(
            "{}",
            serde_json::to_string(&report).map_err(|e| Error::Config(e.to_string()))?
        );
    } else {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        out!("protocol:          {}", show(&report.info.protocol));
        out!("group:             {}", show(&report.info.group));
        out!("signature scheme:  {}", show(&report.info.signature_scheme));
        out!("cipher suite:      {}", show(&report.info.cipher_suite));
        out!("peer subject:      {}", show(&report.info.peer_subject));
        out!("OCSP staple:       {}", show(&report.ocsp_status));
        out!("resumed:           {}", report.resumed);
        if let Some(alert) = &report.alert {
            out!("fallback after:    {alert}");
        }
        out!(
            "handshake bytes:   {} sent, {} received",
            report.handshake_bytes_sent,
            report.handshake_bytes_received
        );
        out!("HTTP:              {}", show(&report.http_status));
    }
    Ok(())
}

/// `yes` or `no` (also `true`/`false`), for flags whose default is on.
pub(crate) fn yes_no(text: &str) -> Result<bool, String> {
    match text {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        other => Err(format!("{other:?}: expected yes or no")),
    }
}
