//! `qtls verify`: verify a certificate chain offline or online and print the path.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use qtls::{read_certificates, Error};
use qtls_verifier::{Purpose, RevocationPolicy, RevocationStatus, ServerVerifierBuilder};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateRevocationListDer, ServerName, UnixTime};

/// Arguments of `qtls verify`.
#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// Trust anchors (PEM).
    #[arg(long)]
    ca: PathBuf,
    /// Name the end entity must be valid for (DNS name or IP address).
    #[arg(long)]
    hostname: Option<String>,
    /// What the end entity authenticates.
    #[arg(long, value_enum, default_value_t = PurposeArg::Server)]
    purpose: PurposeArg,
    /// A DER OCSP response for the end entity, checked as a staple would be.
    #[arg(long)]
    ocsp: Option<PathBuf>,
    /// CRLs (PEM or DER); may be repeated.
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// Ask OCSP responders and fetch CRLs named in the certificates.
    #[arg(long)]
    online: bool,
    /// Reject when no source can tell the revocation status (default: report it).
    #[arg(long)]
    hard_fail: bool,
    /// Only ML-DSA and composite signatures are acceptable.
    #[arg(long)]
    require_pq: bool,
    /// Verify at this time (RFC 3339) instead of now.
    #[arg(long)]
    at: Option<String>,
    /// The chain, end entity first (PEM).
    chain: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum PurposeArg {
    Server,
    Client,
}

pub(crate) fn run(args: VerifyArgs) -> Result<(), Error> {
    let provider = Arc::new(qtls_provider::compatible());
    let roots = read_certificates(&args.ca)?;
    let chain = read_certificates(&args.chain)?;
    let crls = args
        .crl
        .iter()
        .map(|path| read_crl(path))
        .collect::<Result<Vec<_>, _>>()?;
    let checks_revocation = args.online || !crls.is_empty() || args.hard_fail;
    let policy = match (checks_revocation, args.hard_fail) {
        (false, _) => RevocationPolicy::Off,
        (true, false) => RevocationPolicy::SoftFail,
        (true, true) => RevocationPolicy::HardFail,
    };
    let verifier = ServerVerifierBuilder::new(roots, &provider)
        .revocation_policy(policy)
        .online_ocsp(args.online)
        .fetch_crls(args.online)
        .crls(crls)
        .require_pq_signatures(args.require_pq)
        .build_chain_verifier()
        .map_err(|e| Error::Config(e.to_string()))?;
    let staple = match &args.ocsp {
        Some(path) => std::fs::read(path).map_err(|source| Error::File {
            path: path.clone(),
            source,
        })?,
        None => Vec::new(),
    };
    let now = match &args.at {
        Some(text) => {
            let time =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| Error::Config(format!("--at {text:?}: {e}")))?;
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                u64::try_from(time.unix_timestamp())
                    .map_err(|_| Error::Config("--at before 1970".into()))?,
            ))
        }
        None => UnixTime::now(),
    };
    let name = args
        .hostname
        .as_deref()
        .map(|name| {
            ServerName::try_from(name.to_string())
                .map_err(|_| Error::Config(format!("invalid name {name:?}")))
        })
        .transpose()?;
    let purpose = match args.purpose {
        PurposeArg::Server => Purpose::Server,
        PurposeArg::Client => Purpose::Client,
    };
    let (end_entity, intermediates) = chain
        .split_first()
        .ok_or_else(|| Error::Config("empty chain".into()))?;
    match verifier.verify(
        end_entity,
        intermediates,
        purpose,
        name.as_ref(),
        &staple,
        now,
    ) {
        Ok(verified) => {
            out!(
                "OK: verified path ({} certificates)",
                verified.certificates.len()
            );
            for (depth, cert) in verified.certificates.iter().enumerate() {
                out!("{depth}: {}", cert.subject);
                out!("   issuer     {}", cert.issuer);
                out!("   serial     {}", cert.serial);
                out!("   algorithm  {}", cert.signature_algorithm);
                out!(
                    "   validity   {} .. {}",
                    format_time(cert.not_before),
                    format_time(cert.not_after)
                );
                let revocation = match &cert.revocation {
                    RevocationStatus::Good(source) => format!("good ({source})"),
                    RevocationStatus::Unknown { attempts } => {
                        format!("unknown ({})", attempts.join("; "))
                    }
                    RevocationStatus::NotChecked => "not checked".into(),
                    other => format!("{other:?}"),
                };
                out!("   revocation {revocation}");
            }
            if !verified.subject_alt_names.is_empty() {
                out!("subjectAltName: {}", verified.subject_alt_names.join(", "));
            }
            Ok(())
        }
        Err(error) => {
            let alert = rustls::AlertDescription::from(error.certificate_error());
            Err(Error::Rejected(format!(
                "FAILED: {error} (alert {})",
                qtls::alert_name(alert)
            )))
        }
    }
}

fn read_crl(path: &PathBuf) -> Result<CertificateRevocationListDer<'static>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::File {
        path: path.clone(),
        source,
    })?;
    if bytes.starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::from_pem_slice(&bytes).map_err(|e| Error::Pem {
            path: path.clone(),
            why: e.to_string(),
        })
    } else {
        Ok(CertificateRevocationListDer::from(bytes))
    }
}

fn format_time(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
