//! The `qtls` command-line tool: `pki init`, `server`, `client`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod revocation;
mod verify;

use clap::{Args, Parser, Subcommand};
use qtls::{client_config, read_roots, server_config, Error, Identity, TlsSettings};
use qtls_pki::{Pki, PkiOptions, Profile};
use qtls_provider::{Backend, Preset};
use rustls_pki_types::ServerName;

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
    Server(ServerArgs),
    /// Connect, send GET /, and report what was negotiated.
    Client(ClientArgs),
    /// Verify a certificate chain and print the path with each certificate's status.
    Verify(verify::VerifyArgs),
    /// Answer OCSP requests over HTTP from a revocation index (RFC 6960).
    OcspResponder(revocation::OcspResponderArgs),
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Write a complete PKI (root, intermediate, server, client, OCSP responder) as PEM.
    Init {
        /// Output directory (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// composite (MLDSA65-ECDSA-P384-SHA512), mldsa65, mldsa87 or ecdsa-p384.
        #[arg(long, default_value = "composite")]
        profile: Profile,
        /// Server names and addresses, comma-separated.
        #[arg(long, default_value = "localhost,127.0.0.1", value_delimiter = ',')]
        hosts: Vec<String>,
    },
    /// Revoke a certificate in a PKI directory's revocation index (revoked.txt).
    Revoke(revocation::RevokeArgs),
    /// Sign the intermediate CA's CRL from a PKI directory's revocation index.
    Crl(revocation::CrlArgs),
}

#[derive(Args)]
struct Common {
    /// hybrid, pqc-only or compatible.
    #[arg(long, default_value = "hybrid")]
    preset: Preset,
    /// Key-exchange groups in preference order (OpenSSL names), replacing the preset's.
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Backend for ML-KEM and ML-DSA: aws-lc-rs or oqs.
    #[arg(long, default_value = "aws-lc-rs")]
    backend: Backend,
}

impl Common {
    fn settings(&self) -> TlsSettings {
        TlsSettings {
            preset: self.preset,
            backend: self.backend,
            groups: self.groups.clone(),
            ..TlsSettings::default()
        }
    }
}

#[derive(Args)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Certificate chain, leaf first (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Private key (PEM, PKCS#8 or SEC1).
    #[arg(long)]
    key: PathBuf,
    /// Trust anchors for client certificates (enables mTLS).
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Refuse clients without a certificate (needs --client-ca).
    #[arg(long)]
    require_client_cert: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct ClientArgs {
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
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for each step.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QTLS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("qtls: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = matches!(&cli.command, Command::Client(args) if args.json);
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
                println!("{report}");
            }
            eprintln!("qtls: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Pki {
            command:
                PkiCommand::Init {
                    dir,
                    profile,
                    hosts,
                },
        } => pki_init(dir, profile, hosts),
        Command::Pki {
            command: PkiCommand::Revoke(args),
        } => revocation::revoke(args),
        Command::Pki {
            command: PkiCommand::Crl(args),
        } => revocation::crl(args),
        Command::OcspResponder(args) => revocation::ocsp_responder(args).await,
        Command::Server(args) => serve(args).await,
        Command::Client(args) => connect(args).await,
        Command::Verify(args) => verify::run(args),
    }
}

fn pki_init(dir: PathBuf, profile: Profile, hosts: Vec<String>) -> Result<(), Error> {
    let mut options = PkiOptions::new(time::OffsetDateTime::now_utc());
    options.profile = profile;
    options.hosts = hosts;
    let pki = Pki::generate(&options).map_err(|e| Error::Config(e.to_string()))?;
    let written = pki
        .write_to_dir(&dir)
        .map_err(|e| Error::Config(e.to_string()))?;
    println!("{profile} PKI in {}:", dir.display());
    for (role, pair) in [
        ("root", pki.root()),
        ("intermediate", pki.intermediate()),
        ("server", pki.server()),
        ("client", pki.client()),
        ("ocsp", pki.ocsp_responder()),
    ] {
        let cert = pair.certificate();
        println!(
            "  {role:<13} {:<28} {}  until {}",
            pair.key().algorithm().name(),
            cert.subject(),
            cert.not_after()
        );
    }
    for path in written {
        println!("  wrote {}", path.display());
    }
    Ok(())
}

async fn serve(args: ServerArgs) -> Result<(), Error> {
    let settings = args.common.settings();
    let provider = settings.provider()?;
    let identity = Identity::from_pem_files(&args.cert, &args.key, &provider, &settings)?;
    let client_roots = args.client_ca.as_deref().map(read_roots).transpose()?;
    let config = server_config(&settings, &identity, client_roots, args.require_client_cert)?;
    let server =
        qtls::server::Server::bind(args.listen, config, identity.scheme, settings.code_points)
            .await?;
    println!("listening on {}", server.local_addr()?);
    tokio::select! {
        result = server.run() => result,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted, shutting down");
            Ok(())
        }
    }
}

async fn connect(args: ClientArgs) -> Result<(), Error> {
    let settings = args.common.settings();
    let provider = settings.provider()?;
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(Identity::from_pem_files(cert, key, &provider, &settings)?),
        _ => None,
    };
    let (config, scheme) = client_config(&settings, read_roots(&args.ca)?, identity.as_ref())?;
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
    let report = qtls::client::get(
        &args.connect,
        server_name,
        config,
        scheme,
        &settings.code_points,
        Duration::from_secs(args.timeout),
    )
    .await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| Error::Config(e.to_string()))?
        );
    } else {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        println!("protocol:          {}", show(&report.info.protocol));
        println!("group:             {}", show(&report.info.group));
        println!("signature scheme:  {}", show(&report.info.signature_scheme));
        println!("cipher suite:      {}", show(&report.info.cipher_suite));
        println!("peer subject:      {}", show(&report.info.peer_subject));
        println!(
            "handshake bytes:   {} sent, {} received",
            report.handshake_bytes_sent, report.handshake_bytes_received
        );
        println!("HTTP:              {}", show(&report.http_status));
    }
    Ok(())
}
