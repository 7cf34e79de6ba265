//! The `qtls` command-line tool: `pki init`, `server`, `client`.

use std::path::PathBuf;
use std::process::ExitCode;

/// `println!` for the tool's output: when stdout is gone (`qtls pki init | head -1`) the
/// process ends quietly with success, its reader having taken what it wanted (a Unix tool
/// would die of SIGPIPE, status 141; Rust ignores SIGPIPE, so `println!` would panic).
macro_rules! out {
    () => {
        $crate::write_stdout(format_args!("\n"), $crate::ClosedStdout::Exit)
    };
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)), $crate::ClosedStdout::Exit)
    };
}

/// `println!` for lines that must not end the process when stdout is gone: a server's
/// "listening on", and the report of a failure (whose exit status must stay a failure).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)), $crate::ClosedStdout::Ignore)
    };
}

/// What a write to a closed stdout does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClosedStdout {
    /// End the process with success.
    Exit,
    /// Carry on: the line is lost.
    Ignore,
}

/// What [`out!`] and [`say!`] write with: a closed pipe does what `closed` says; any other
/// write error ends the process with failure, said on stderr.
fn write_stdout(args: std::fmt::Arguments<'_>, closed: ClosedStdout) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            if closed == ClosedStdout::Exit {
                std::process::exit(0);
            }
        }
        Err(e) => {
            eprintln!("qtls: writing the output: {e}");
            std::process::exit(1);
        }
    }
}

mod client_cmd;
mod hsm;
mod names;
mod report;
mod revocation;
mod scan;
mod server_cmd;
mod verify;

use clap::{Parser, Subcommand};
use qtls::Error;
use qtls_pki::{Passphrase, Pki, PkiOptions, PkiWriteOptions, Profile};

#[derive(Parser)]
#[command(
    name = "qtls",
    version,
    about = "Hybrid post-quantum TLS 1.3: PKI, server and client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Certificates and keys.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Serve TLS 1.3; answer HTTP GET with a JSON description of the connection.
    Server(Box<server_cmd::ServerArgs>),
    /// Connect, send GET /, and report what was negotiated.
    Client(client_cmd::ClientArgs),
    /// Verify a certificate chain and print the path with each certificate's status.
    Verify(verify::VerifyArgs),
    /// Answer OCSP requests over HTTP from a revocation index (RFC 6960).
    OcspResponder(revocation::OcspResponderArgs),
    /// Probe a TLS server with separate handshakes: versions, groups, signature schemes,
    /// suites, chain, OCSP, resumption, 0-RTT, client auth, bytes, and a post-quantum verdict.
    Scan(scan::ScanArgs),
    /// Measure the design's tables on this machine (message sizes; full, session-ID,
    /// ticket and 0-RTT handshakes at added round-trip times; server CPU) against local
    /// servers: writes report.md, report.json and SVG charts.
    Report(report::ReportArgs),
    /// Keys in PKCS#11 tokens (HSMs).
    Hsm {
        #[command(subcommand)]
        command: hsm::HsmCommand,
    },
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Write a complete PKI (root, intermediate, server, client, OCSP responder) as PEM.
    Init(PkiInitArgs),
    /// Revoke a certificate (or, with --ca, the intermediate CA) in a PKI directory's
    /// revocation index (revoked.txt; root-revoked.txt).
    Revoke(revocation::RevokeArgs),
    /// Sign the intermediate CA's CRL (or, with --issuer root, the root's) from a PKI
    /// directory's revocation index.
    Crl(revocation::CrlArgs),
    /// Issue a certificate from a PKI directory's intermediate CA for a key in a token.
    Issue(hsm::PkiIssueArgs),
}

/// `qtls pki init`.
#[derive(clap::Args)]
struct PkiInitArgs {
    /// Output directory (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// The algorithms of the keys and certificates: a composite ML-DSA algorithm of
    /// draft-ietf-lamps-pq-composite-sigs-19 by its readable name (default
    /// mldsa65-ecdsa-p384, also spelled `composite`), or mldsa65, mldsa87, ecdsa-p384. With
    /// an RSASSA-PKCS1-v1_5 composite (*-pkcs15) the CAs and the OCSP responder sign with it
    /// and the TLS server and client keys are the RSASSA-PSS composite of the same sizes:
    /// TLS 1.3 may not sign with PKCS#1 v1.5 (draft-reddy-tls-composite-mldsa-10 §3).
    #[arg(long, default_value = "mldsa65-ecdsa-p384", value_parser = names::ProfileParser)]
    profile: Profile,
    /// Server names and addresses, comma-separated.
    #[arg(long, default_value = "localhost,127.0.0.1", value_delimiter = ',')]
    hosts: Vec<String>,
    /// Replace a PKI the directory already holds: its CA keys and its revocation indexes
    /// (revoked.txt, root-revoked.txt) are lost.
    #[arg(long)]
    force: bool,
    /// Write the root CA's key (root.key) into this directory instead (e.g. removable
    /// storage kept offline); issuing and CRLs need only the intermediate key.
    #[arg(long, value_name = "DIR")]
    root_key_out: Option<PathBuf>,
    /// Encrypt the CA keys (root.key, intermediate.key) with the passphrase on this file's
    /// first line (encrypted PKCS#8: PBES2, PBKDF2-HMAC-SHA-256, AES-256-CBC). Default:
    /// the QTLS_CA_PASSPHRASE environment variable if set, else unencrypted.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    urls: RevocationUrls,
    /// The URL of the root CA's CRL (`qtls pki crl --issuer root` writes it as root.crl),
    /// put in the intermediate CA certificate's CRLDistributionPoints, so relying parties
    /// that check the whole chain find the intermediate's status.
    #[arg(long, value_name = "URL")]
    ca_crl_url: Option<String>,
    /// A flat hierarchy for small private PKIs: the root issues the leaves itself, so chains
    /// are the leaf alone (a hybrid first flight then fits one initial congestion window).
    /// Trade-off: the root key signs every certificate and CRL (intermediate.pem/.key are
    /// the root's), so it is online as often as an issuing CA; not with --root-key-out.
    #[arg(long, conflicts_with_all = ["root_key_out", "ca_crl_url"])]
    flat: bool,
}

/// Where relying parties learn whether an end-entity certificate is revoked.
#[derive(clap::Args)]
pub(crate) struct RevocationUrls {
    /// The OCSP responder's URL, put in the end-entity certificates' AuthorityInfoAccess
    /// (e.g. where `qtls ocsp-responder` listens: http://127.0.0.1:8080/).
    #[arg(long, value_name = "URL")]
    ocsp_url: Option<String>,
    /// The URL of the intermediate CA's CRL (`qtls pki crl` writes it as intermediate.crl),
    /// put in the end-entity certificates' CRLDistributionPoints.
    #[arg(long, value_name = "URL")]
    crl_url: Option<String>,
}

impl RevocationUrls {
    pub(crate) fn apply(
        &self,
        mut builder: qtls_pki::CertificateBuilder,
    ) -> qtls_pki::CertificateBuilder {
        if let Some(url) = &self.ocsp_url {
            builder = builder.ocsp_url(url);
        }
        if let Some(url) = &self.crl_url {
            builder = builder.crl_url(url);
        }
        builder
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QTLS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, and not there either under NO_COLOR
        // (https://no-color.org; `with_ansi(true)` would override it): a log piped to a file
        // or a collector stays text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("qtls: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = matches!(&cli.command, Command::Client(args) if args.json)
        || matches!(&cli.command, Command::Scan(args) if args.json);
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let alert = e.alert();
            if json {
                let report = serde_json::json!({
                    "error": e.to_string(),
                    "alert": alert.as_ref().map(|(_, name)| name),
                    "alert_direction": alert.as_ref().map(|(direction, _)| direction),
                });
                say!("{report}");
            }
            eprintln!("qtls: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Pki {
            command: PkiCommand::Init(args),
        } => pki_init(args),
        Command::Pki {
            command: PkiCommand::Revoke(args),
        } => revocation::revoke(args),
        Command::Pki {
            command: PkiCommand::Crl(args),
        } => revocation::crl(args),
        Command::OcspResponder(args) => revocation::ocsp_responder(args).await,
        Command::Server(args) => server_cmd::run(*args).await,
        Command::Client(args) => client_cmd::run(args).await,
        Command::Verify(args) => verify::run(args),
        Command::Scan(args) => scan::run(args).await,
        Command::Report(args) => report::run(args).await,
        Command::Pki {
            command: PkiCommand::Issue(args),
        } => hsm::pki_issue(args),
        Command::Hsm { command } => hsm::run(command),
    }
}

fn pki_init(args: PkiInitArgs) -> Result<(), Error> {
    let PkiInitArgs {
        dir,
        profile,
        hosts,
        force,
        root_key_out,
        passphrase_file,
        urls,
        ca_crl_url,
        flat,
    } = args;
    let mut options = PkiOptions::new(time::OffsetDateTime::now_utc());
    options.profile = profile;
    options.hosts = hosts;
    options.ocsp_url = urls.ocsp_url;
    options.crl_url = urls.crl_url;
    options.ca_crl_url = ca_crl_url;
    options.flat = flat;
    let pki = Pki::generate(&options).map_err(|e| Error::Config(e.to_string()))?;
    let mut write = PkiWriteOptions::new();
    write.force = force;
    write.root_key_dir = root_key_out.clone();
    write.passphrase = Passphrase::from_file_or_env(passphrase_file.as_deref())
        .map_err(|e| Error::Config(e.to_string()))?;
    let encrypted = write.passphrase.is_some();
    let written = pki.write_to_dir_with(&dir, &write).map_err(|e| match e {
        qtls_pki::Error::PkiExists { .. } => {
            Error::Config(format!("{e}; give --force to replace it"))
        }
        e => Error::Config(e.to_string()),
    })?;
    out!("{profile} PKI in {}:", dir.display());
    let issuing = if pki.is_flat() {
        "root (issuer)"
    } else {
        "intermediate"
    };
    for (role, pair) in [
        ("root", pki.root()),
        (issuing, pki.intermediate()),
        ("server", pki.server()),
        ("client", pki.client()),
        ("ocsp", pki.ocsp_responder()),
    ] {
        let cert = pair.certificate();
        out!(
            "  {role:<13} {:<28} {}  until {}",
            pair.key().algorithm().name(),
            cert.subject(),
            cert.not_after()
        );
    }
    for path in written {
        out!("  wrote {}", path.display());
    }
    if encrypted {
        out!(
            "  root.key and intermediate.key are encrypted (PBES2, PBKDF2-HMAC-SHA-256, \
             AES-256-CBC): commands that sign with them take --passphrase-file or \
             QTLS_CA_PASSPHRASE"
        );
    }
    if let Some(root_dir) = root_key_out {
        out!(
            "  the root key is in {} only: keep it offline; qtls pki issue and qtls pki crl \
             need only {}; qtls pki crl --issuer root (the root's CRL) takes --root-key {}",
            root_dir.display(),
            dir.join("intermediate.key").display(),
            root_dir.join("root.key").display()
        );
    }
    Ok(())
}
