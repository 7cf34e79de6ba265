//! `qtls pki revoke`, `qtls pki crl` and `qtls ocsp-responder`: revocation for a PKI
//! directory that `qtls pki init` wrote.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use qtls::Error;
use qtls_cli::OcspServer;
use qtls_pki::{
    parse_serial, serial_hex, CaLevel, Certificate, CertifiedKeyPair, IndexStatus, OcspResponder,
    Passphrase, Pki, RevocationIndex, RevocationReason,
};
use qtls_provider::Backend;
use time::OffsetDateTime;

#[derive(Args)]
pub(crate) struct RevokeArgs {
    /// PKI directory (from `qtls pki init`); its revoked.txt is updated (root-revoked.txt
    /// with --ca).
    #[arg(long)]
    dir: PathBuf,
    /// Serial number in hex, as `openssl x509 -serial` prints it (colons allowed).
    #[arg(long, required_unless_present_any = ["cert", "ca"], conflicts_with = "cert")]
    serial: Option<String>,
    /// The certificate to revoke (PEM), instead of --serial.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Revoke the intermediate CA itself, in the root's index (root-revoked.txt); publish it
    /// with `qtls pki crl --issuer root`. Every certificate it issued is then refused by
    /// relying parties that check the whole chain.
    #[arg(long, visible_alias = "intermediate", conflicts_with_all = ["serial", "cert"])]
    ca: bool,
    /// keyCompromise, CACompromise, affiliationChanged, superseded, cessationOfOperation,
    /// certificateHold, privilegeWithdrawn, AACompromise or unspecified. Default: no reason.
    #[arg(long)]
    reason: Option<RevocationReason>,
}

#[derive(Args)]
pub(crate) struct CrlArgs {
    /// PKI directory (from `qtls pki init`): the CRL lists its revoked.txt's revocations and
    /// is signed by its intermediate CA (with --issuer root: root-revoked.txt's, by the root).
    #[arg(long)]
    dir: PathBuf,
    /// The CA that signs the CRL: intermediate (its CRL lists revoked end-entity
    /// certificates; numbered from DIR/crlnumber) or root (lists a revoked intermediate CA;
    /// numbered from DIR/root-crlnumber). Relying parties that check the whole chain need
    /// both.
    #[arg(long, default_value = "intermediate", value_name = "root|intermediate")]
    issuer: CaLevel,
    /// The root CA's key with --issuer root, e.g. where `pki init --root-key-out` put it.
    /// Default: DIR/root.key.
    #[arg(long, value_name = "PATH")]
    root_key: Option<PathBuf>,
    /// Where to write the CRL. Default: DIR/intermediate.crl (DIR/root.crl with --issuer
    /// root).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Days from now to nextUpdate (1 to 366).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
    days: u32,
    /// Write DER instead of PEM.
    #[arg(long)]
    der: bool,
    /// Backend for ML-DSA signing: aws-lc-rs or oqs.
    #[arg(long, default_value = "aws-lc-rs")]
    backend: Backend,
    /// The passphrase of an encrypted intermediate.key (or root key), on this file's first
    /// line. Default: the QTLS_CA_PASSPHRASE environment variable.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct OcspResponderArgs {
    /// Address to listen on (HTTP).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The CA whose certificates are answered for (PEM).
    #[arg(long)]
    ca: PathBuf,
    /// The certificate that signs the responses (PEM): the CA itself, or a delegated OCSP
    /// responder it issued (id-kp-OCSPSigning).
    #[arg(long)]
    signer: PathBuf,
    /// The signer's private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// Revocation index (OpenSSL index.txt format, as `qtls pki init` writes revoked.txt);
    /// re-read whenever it changes.
    #[arg(long)]
    index: PathBuf,
    /// Seconds from thisUpdate to nextUpdate (1 to 604800, 7 days).
    #[arg(
        long,
        default_value_t = 3600,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(qtls_cli::config::MAX_OCSP_VALIDITY_SECS))
    )]
    validity: u32,
    /// Backend for ML-DSA signing: aws-lc-rs or oqs.
    #[arg(long, default_value = "aws-lc-rs")]
    backend: Backend,
    /// Connections served at once; further ones wait in the listen backlog.
    #[arg(long, default_value_t = OcspServer::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// How long a client may take to send a request's head, and then its body (e.g. 10s).
    #[arg(long, default_value = "10s")]
    request_timeout: humantime::Duration,
    /// The passphrase of an encrypted --key (e.g. the CA's own key), on this file's first
    /// line. Default: the QTLS_CA_PASSPHRASE environment variable.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

fn pki_error(e: qtls_pki::Error) -> Error {
    Error::Config(e.to_string())
}

pub(crate) fn revoke(args: RevokeArgs) -> Result<(), Error> {
    if args.ca {
        let entry =
            Pki::revoke_intermediate_in_dir(&args.dir, args.reason, OffsetDateTime::now_utc())
                .map_err(pki_error)?;
        print_revoked(&entry);
        out!(
            "  updated {}; publish it with qtls pki crl --issuer root",
            args.dir.join(Pki::ROOT_INDEX_FILE).display()
        );
        return Ok(());
    }
    let serial = match (&args.serial, &args.cert) {
        (Some(serial), _) => parse_serial(serial).map_err(pki_error)?,
        (None, Some(cert)) => first_certificate(cert)?.serial().to_vec(),
        (None, None) => return Err(Error::Config("give --serial or --cert".into())),
    };
    let entry = Pki::revoke_in_dir(&args.dir, &serial, args.reason, OffsetDateTime::now_utc())
        .map_err(pki_error)?;
    print_revoked(&entry);
    out!(
        "  updated {}",
        args.dir.join(RevocationIndex::FILE_NAME).display()
    );
    Ok(())
}

fn print_revoked(entry: &qtls_pki::IndexEntry) {
    if let IndexStatus::Revoked { time, reason } = entry.status {
        let reason = reason.map_or_else(|| "no reason given".to_owned(), |r| r.to_string());
        out!(
            "revoked {} ({}) at {time}: {reason}",
            serial_hex(&entry.serial),
            entry.subject
        );
    }
}

pub(crate) fn crl(args: CrlArgs) -> Result<(), Error> {
    let now = OffsetDateTime::now_utc();
    let next_update = now + time::Duration::days(i64::from(args.days));
    let level = args.issuer;
    let key_path = match (level, &args.root_key) {
        (CaLevel::Root, Some(path)) => path.clone(),
        (_, Some(_)) => return Err(Error::Config(
            "--root-key is for --issuer root; the intermediate CA's key is DIR/intermediate.key"
                .into(),
        )),
        (_, None) => args.dir.join(level.key_file()),
    };
    if level == CaLevel::Root && args.root_key.is_none() && !key_path.exists() {
        return Err(Error::Config(format!(
            "{} does not exist: give --root-key PATH where the root key is kept (e.g. the \
             directory `qtls pki init --root-key-out` wrote it to)",
            key_path.display()
        )));
    }
    let passphrase =
        Passphrase::from_file_or_env(args.passphrase_file.as_deref()).map_err(pki_error)?;
    let issuer = CertifiedKeyPair::read_pem_files_with_passphrase(
        &args.dir.join(level.certificate_file()),
        &key_path,
        args.backend,
        passphrase.as_ref(),
    )
    .map_err(pki_error)?;
    let out = args.out.unwrap_or_else(|| args.dir.join(level.crl_file()));
    // Numbered, signed and written under the directory lock: concurrent runs neither reuse a
    // number nor leave an older CRL in `out`.
    let crl =
        Pki::write_issuer_crl_in_dir(&args.dir, level, &issuer, now, next_update, &out, args.der)
            .map_err(pki_error)?;
    out!(
        "CRL number {} of {}: {} revoked, next update {next_update}",
        serial_hex(crl.crl_number().unwrap_or_default()),
        crl.issuer(),
        crl.revoked().len()
    );
    out!("  wrote {}", out.display());
    Ok(())
}

pub(crate) async fn ocsp_responder(args: OcspResponderArgs) -> Result<(), Error> {
    let ca = first_certificate(&args.ca)?;
    let passphrase =
        Passphrase::from_file_or_env(args.passphrase_file.as_deref()).map_err(pki_error)?;
    let signer = CertifiedKeyPair::read_pem_files_with_passphrase(
        &args.signer,
        &args.key,
        args.backend,
        passphrase.as_ref(),
    )
    .map_err(pki_error)?;
    let index = RevocationIndex::read(&args.index).map_err(pki_error)?;
    let validity = time::Duration::seconds(i64::from(args.validity));
    let subject = ca.subject();
    let responder = OcspResponder::new(ca, signer, index, validity).map_err(pki_error)?;
    // RFC 6960 §2.3: an expired signer makes every answer internalError; refuse to start.
    responder
        .check_signer_validity(time::OffsetDateTime::now_utc())
        .map_err(pki_error)?;
    let server = OcspServer::bind(args.listen, responder, Some(args.index))
        .await?
        .with_max_connections(args.max_connections)
        .with_request_timeout(args.request_timeout.into());
    say!(
        "OCSP responder for {subject} listening on http://{}/",
        server.local_addr()?
    );
    tokio::select! {
        result = server.run() => result,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted, shutting down");
            Ok(())
        }
    }
}

fn first_certificate(path: &Path) -> Result<Certificate, Error> {
    Certificate::read_pem_file(path)
        .map_err(pki_error)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Pem {
            path: path.to_owned(),
            why: "no CERTIFICATE block".into(),
        })
}
