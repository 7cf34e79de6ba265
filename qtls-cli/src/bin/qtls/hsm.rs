//! `qtls hsm ...` (keys in PKCS#11 tokens), `qtls pki issue` (a certificate for a key in a
//! token) and the `--hsm-*` flags of `qtls server`.
//!
//! PINs come from `--pin-file` (or `--hsm-pin-file`) or the `QTLS_HSM_PIN` environment
//! variable, never from the command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use qtls::hsm::{HsmSettings, HsmToken};
use qtls::Error;
use qtls_cli::ServerSettings;
use qtls_hsm::{KeyRef, Pin, Pkcs11Uri, TokenAdmin, TokenConfig, PIN_ENV_VAR};
use qtls_pki::{
    Backend, CertificateBuilder, CertifiedKeyPair, Passphrase, Pki, RevocationIndex,
    SubjectPublicKey, Usage,
};
use qtls_provider::KeyAlgorithm;

/// `qtls hsm` subcommands.
#[derive(Subcommand)]
pub(crate) enum HsmCommand {
    /// Generate a key pair in a token (private key sensitive and non-extractable).
    Keygen(KeygenArgs),
    /// Import a PKCS#8 private key into a token (e.g. the same key into a primary and a
    /// backup token); the private key becomes sensitive and non-extractable there.
    Import(ImportArgs),
    /// List the private keys in a token.
    List(TokenArgs),
    /// Initialise a token, erasing it: its label, the security officer PIN and the user PIN
    /// (what `softhsm2-util --init-token` does, for tokens such as Kryoptic that have no tool
    /// of their own).
    InitToken(InitTokenArgs),
}

/// The environment variable `qtls hsm init-token` reads the security officer PIN from
/// when no `--so-pin-file` is given.
pub(crate) const SO_PIN_ENV_VAR: &str = "QTLS_HSM_SO_PIN";

/// `qtls hsm init-token`.
#[derive(Args)]
pub(crate) struct InitTokenArgs {
    /// The PKCS#11 module (.so).
    #[arg(long)]
    module: PathBuf,
    /// The slot (default: the first slot whose token is not initialised).
    #[arg(long)]
    slot: Option<u64>,
    /// The token's new label.
    #[arg(long)]
    label: String,
    /// A file holding the security officer PIN (default: the QTLS_HSM_SO_PIN environment
    /// variable).
    #[arg(long)]
    so_pin_file: Option<PathBuf>,
    /// A file holding the new user PIN (default: the QTLS_HSM_PIN environment variable).
    #[arg(long)]
    pin_file: Option<PathBuf>,
}

/// Which token, and how to log in.
#[derive(Args)]
pub(crate) struct TokenArgs {
    /// The PKCS#11 module (.so).
    #[arg(long, required_unless_present = "uri")]
    module: Option<PathBuf>,
    /// The token's label.
    #[arg(long, required_unless_present = "uri")]
    token: Option<String>,
    /// A file holding the user PIN (default: the QTLS_HSM_PIN environment variable).
    #[arg(long)]
    pin_file: Option<PathBuf>,
    /// An RFC 7512 URI instead of --module/--token/--label, e.g.
    /// 'pkcs11:token=T;object=srv;type=private?module-path=/usr/lib/x.so'.
    // Parsed here rather than by clap: clap repeats a rejected value in its error, and a
    // rejected URI may hold a pin-value.
    #[arg(long)]
    uri: Option<String>,
}

impl TokenArgs {
    fn uri(&self) -> Result<Option<Pkcs11Uri>, Error> {
        Ok(self.uri.as_deref().map(str::parse).transpose()?)
    }

    fn config(&self) -> Result<TokenConfig, Error> {
        let uri = self.uri()?;
        let mut builder = match &uri {
            Some(uri) => TokenConfig::builder_from_uri(uri)?,
            None => TokenConfig::builder(self.module.clone().unwrap_or_default()),
        };
        if let Some(module) = &self.module {
            builder = builder.module(module);
        }
        if let Some(token) = &self.token {
            builder = builder.token_label(token);
        }
        let pin_in_uri = uri.as_ref().is_some_and(|uri| uri.pin_source.is_some());
        let uri_pin_file = uri.as_ref().map(Pkcs11Uri::pin_file).transpose()?.flatten();
        for path in self.pin_file.iter().chain(&uri_pin_file) {
            qtls::sessions::check_private_file(path, "PIN")?;
        }
        if self.pin_file.is_some() || !pin_in_uri {
            builder = builder.pin(Pin::from_file_or_env(
                self.pin_file.as_deref(),
                PIN_ENV_VAR,
            )?);
        }
        Ok(builder.sessions(1).build()?)
    }

    fn key(&self, label: Option<&str>) -> Result<KeyRef, Error> {
        match (label, &self.uri()?) {
            (Some(label), _) => Ok(KeyRef::label(label)),
            (None, Some(uri)) => Ok(KeyRef::from_uri(uri)?),
            (None, None) => Err(Error::Config("no key: give --label or --uri".into())),
        }
    }
}

/// Arguments of `qtls hsm keygen`.
#[derive(Args)]
pub(crate) struct KeygenArgs {
    #[command(flatten)]
    token: TokenArgs,
    /// The key's label (CKA_LABEL).
    #[arg(long, required_unless_present = "uri")]
    label: Option<String>,
    /// The key's algorithm, by its readable name (default mldsa65-ecdsa-p384, also spelled
    /// `composite`). A token holds a composite as an ML-DSA key and a traditional key under
    /// one label, so it needs both mechanisms: 16 of the 18 composites can be held, with an
    /// RSA-PSS (mldsa65-rsa4096-pss, ...), RSA PKCS#1 v1.5 (mldsa65-rsa4096-pkcs15, ...;
    /// X.509 only, for CA keys), ECDSA P-256/P-384/P-521 or Ed25519/Ed448 half (the RSA
    /// key's CKA_ALLOWED_MECHANISMS records PSS or PKCS#1 v1.5). Kryoptic holds them all;
    /// SoftHSM2 has no ML-DSA, so no composite. The two brainpool composites are refused:
    /// no token here has ML-DSA and brainpool curves together.
    #[arg(long, default_value = "mldsa65-ecdsa-p384", value_parser = crate::names::KeyAlgorithmParser)]
    alg: KeyAlgorithm,
    /// Also write the public key (SubjectPublicKeyInfo PEM) here.
    #[arg(long)]
    public_key_out: Option<PathBuf>,
}

/// Arguments of `qtls hsm import`.
#[derive(Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    token: TokenArgs,
    /// The key's label (CKA_LABEL).
    #[arg(long, required_unless_present = "uri")]
    label: Option<String>,
    /// The private key (PEM: PKCS#8 or SEC1).
    #[arg(long)]
    key: PathBuf,
}

pub(crate) fn run(command: HsmCommand) -> Result<(), Error> {
    match command {
        HsmCommand::Keygen(args) => {
            let key = args.token.key(args.label.as_deref())?;
            let label = key
                .label_str()
                .ok_or_else(|| Error::Config("a new key needs a label (object=)".into()))?
                .to_owned();
            let admin = TokenAdmin::open(&args.token.config()?)?;
            let public = admin.generate(&label, args.alg)?;
            report("generated", &label, &public, args.public_key_out.as_deref())
        }
        HsmCommand::Import(args) => {
            let key = args.token.key(args.label.as_deref())?;
            let label = key
                .label_str()
                .ok_or_else(|| Error::Config("an imported key needs a label (object=)".into()))?
                .to_owned();
            let pem = std::fs::read(&args.key).map_err(|source| Error::File {
                path: args.key.clone(),
                source,
            })?;
            let pair = qtls_provider::KeyPair::from_pem(&pem, Backend::AwsLc)?;
            let admin = TokenAdmin::open(&args.token.config()?)?;
            let public = admin.import(&label, &pair)?;
            report("imported", &label, &public, None)
        }
        HsmCommand::InitToken(args) => {
            let so_pin = Pin::from_file_or_env(args.so_pin_file.as_deref(), SO_PIN_ENV_VAR)?;
            let pin = Pin::from_file_or_env(args.pin_file.as_deref(), PIN_ENV_VAR)?;
            qtls_hsm::init_token(&args.module, args.slot, &args.label, &so_pin, &pin)?;
            out!("initialised token {}", args.label);
            Ok(())
        }
        HsmCommand::List(args) => {
            let admin = TokenAdmin::open(&args.config()?)?;
            for label in admin.key_labels()? {
                match admin.public_key(&KeyRef::label(&label)) {
                    Ok(public) => out!("{label}\t{}", public.algorithm()),
                    Err(e) => out!("{label}\t(unusable: {e})"),
                }
            }
            Ok(())
        }
    }
}

fn report(
    what: &str,
    label: &str,
    public: &qtls_hsm::HsmPublicKey,
    out: Option<&Path>,
) -> Result<(), Error> {
    let spki = public.subject_public_key_info_der();
    let fingerprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &spki);
    out!(
        "{what} {} key {label:?}; SHA-256 of its SubjectPublicKeyInfo: {}",
        public.algorithm(),
        fingerprint
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    if let Some(out) = out {
        let pem = der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &spki)
            .map_err(|e| Error::Config(format!("PEM: {e}")))?;
        std::fs::write(out, pem).map_err(|source| Error::File {
            path: out.to_path_buf(),
            source,
        })?;
        out!("wrote {}", out.display());
    }
    Ok(())
}

/// Arguments of `qtls pki issue`.
#[derive(Args)]
pub(crate) struct PkiIssueArgs {
    /// A PKI directory from `qtls pki init`: its intermediate CA issues the certificate.
    #[arg(long)]
    dir: PathBuf,
    /// The subject's commonName, also its first SubjectAltName.
    #[arg(long)]
    name: String,
    /// Further SubjectAltNames (DNS names or IP addresses), comma-separated.
    #[arg(long, value_delimiter = ',')]
    hosts: Vec<String>,
    /// Issue a client certificate (clientAuth) instead of a server certificate.
    #[arg(long)]
    client: bool,
    /// Validity in days; capped at the intermediate CA's notAfter.
    #[arg(long, default_value_t = 90)]
    days: i64,
    /// Where to write the chain (leaf, intermediate); default DIR/NAME-hsm-chain.pem.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The PKCS#11 module holding the key.
    #[arg(long)]
    hsm_module: PathBuf,
    /// The token's label.
    #[arg(long)]
    hsm_token: String,
    /// The key's label.
    #[arg(long)]
    hsm_key: String,
    /// A file holding the user PIN (default: the QTLS_HSM_PIN environment variable).
    #[arg(long)]
    pin_file: Option<PathBuf>,
    /// The passphrase of an encrypted intermediate.key, on this file's first line.
    /// Default: the QTLS_CA_PASSPHRASE environment variable.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    urls: crate::RevocationUrls,
}

pub(crate) fn pki_issue(args: PkiIssueArgs) -> Result<(), Error> {
    let pki_error = |e: qtls_pki::Error| Error::Config(e.to_string());
    let passphrase =
        Passphrase::from_file_or_env(args.passphrase_file.as_deref()).map_err(pki_error)?;
    let intermediate = CertifiedKeyPair::read_pem_files_with_passphrase(
        &args.dir.join("intermediate.pem"),
        &args.dir.join("intermediate.key"),
        Backend::AwsLc,
        passphrase.as_ref(),
    )
    .map_err(pki_error)?;
    let config = TokenConfig::builder(&args.hsm_module)
        .token_label(&args.hsm_token)
        .pin(Pin::from_file_or_env(
            args.pin_file.as_deref(),
            PIN_ENV_VAR,
        )?)
        .sessions(1)
        .build()?;
    let public = TokenAdmin::open(&config)?.public_key(&KeyRef::label(&args.hsm_key))?;
    let subject =
        SubjectPublicKey::new(public.algorithm(), public.public_key()).map_err(pki_error)?;
    let now = time::OffsetDateTime::now_utc();
    let mut hosts = vec![args.name.clone()];
    hosts.extend(args.hosts.iter().cloned());
    let usage = if args.client {
        Usage::ClientLeaf
    } else {
        Usage::ServerLeaf
    };
    // RFC 5280 §6.1.3 does not let a certificate outlive its issuer in practice: no
    // validator accepts it once the intermediate has expired, so cap it there.
    let issuer_end = intermediate.certificate().not_after();
    if issuer_end <= now {
        return Err(Error::Config(format!(
            "the intermediate CA {} expired at {issuer_end}",
            intermediate.certificate().subject()
        )));
    }
    if args.days <= 0 {
        return Err(Error::Config(format!(
            "--days must be positive, not {}",
            args.days
        )));
    }
    let requested_end = now
        .checked_add(time::Duration::days(args.days))
        .unwrap_or(issuer_end);
    let capped = requested_end > issuer_end;
    let not_after = requested_end.min(issuer_end);
    let mut builder = args.urls.apply(
        CertificateBuilder::new(usage, &args.name)
            .organization("Q-TLS")
            .validity(now, not_after),
    );
    if !args.client {
        builder = builder.hosts(&hosts);
    }
    let leaf = builder
        .signed_by_for_public_key(&subject, &intermediate)
        .map_err(pki_error)?;
    // Recorded before the chain is handed out: a certificate that is not in the index
    // could never be revoked, listed in a CRL or answered by OCSP (RFC 6960 §2.2).
    Pki::record_issued_in_dir(&args.dir, &leaf).map_err(pki_error)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.dir.join(format!("{}-hsm-chain.pem", args.name)));
    let pem = [
        leaf.to_pem().map_err(pki_error)?,
        intermediate.certificate().to_pem().map_err(pki_error)?,
    ]
    .concat();
    std::fs::write(&out, pem).map_err(|source| Error::File {
        path: out.clone(),
        source,
    })?;
    out!(
        "issued {} for the {} key {:?} in token {:?}: {} (until {})",
        leaf.subject(),
        public.algorithm(),
        args.hsm_key,
        args.hsm_token,
        out.display(),
        leaf.not_after()
    );
    if capped {
        out!(
            "  validity capped at the issuer's notAfter {issuer_end} (--days {} would end \
             {requested_end})",
            args.days
        );
    }
    out!(
        "  recorded serial {} in {}",
        qtls_pki::serial_hex(leaf.serial()),
        args.dir.join(RevocationIndex::FILE_NAME).display()
    );
    Ok(())
}

/// The `--hsm-*` flags of `qtls server`.
#[derive(Args)]
pub(crate) struct HsmServerArgs {
    /// Serve the key in this PKCS#11 module (its chain is the --cert given without --key).
    #[arg(long, requires_all = ["hsm_token", "hsm_key"])]
    hsm_module: Option<PathBuf>,
    /// The token's label.
    #[arg(long)]
    hsm_token: Option<String>,
    /// The key's label.
    #[arg(long)]
    hsm_key: Option<String>,
    /// A file holding the token's user PIN (default: the QTLS_HSM_PIN environment variable).
    #[arg(long)]
    hsm_pin_file: Option<PathBuf>,
    /// A backup token holding the same key: its module.
    #[arg(long, requires_all = ["hsm_backup_token", "hsm_module"])]
    hsm_backup_module: Option<PathBuf>,
    /// The backup token's label.
    #[arg(long)]
    hsm_backup_token: Option<String>,
    /// A file holding the backup token's user PIN (default: as for the primary).
    #[arg(long)]
    hsm_backup_pin_file: Option<PathBuf>,
    /// Logged-in sessions per token.
    #[arg(long, default_value_t = TokenConfig::DEFAULT_SESSIONS)]
    hsm_sessions: usize,
    /// How long a token operation may take before the token counts as failed (e.g. 5s).
    #[arg(long)]
    hsm_op_timeout: Option<humantime::Duration>,
    /// How often a failed token is probed (e.g. 1s).
    #[arg(long)]
    hsm_probe_interval: Option<humantime::Duration>,
    /// How often the ticket key in the token is replaced (e.g. 24h).
    #[arg(long)]
    hsm_ticket_rotation: Option<humantime::Duration>,
    /// No session tickets from the token.
    #[arg(long)]
    no_hsm_tickets: bool,
    /// DANGEROUS: serve a key that can leave the token (CKA_EXTRACTABLE true or
    /// CKA_SENSITIVE false); without it such a key is refused.
    #[arg(long)]
    hsm_allow_exportable_key: bool,
}

/// Takes the HSM chain (the one `--cert` without a `--key`) out of `certs` and sets
/// `settings.hsm`; returns the certificates that pair with `--key`s.
pub(crate) fn apply_server_flags(
    args: &HsmServerArgs,
    certs: &[PathBuf],
    keys: &[PathBuf],
    settings: &mut ServerSettings,
) -> Result<Vec<PathBuf>, Error> {
    let (Some(module), Some(token), Some(key)) = (&args.hsm_module, &args.hsm_token, &args.hsm_key)
    else {
        return Ok(certs.to_vec());
    };
    if certs.len() != keys.len() + 1 {
        return Err(Error::Config(
            "with --hsm-key, give the key's chain as a --cert without a --key (the last --cert)"
                .into(),
        ));
    }
    let (paired, chain) = certs.split_at(keys.len());
    let mut hsm = HsmSettings::new(
        chain[0].clone(),
        key,
        HsmToken {
            module: module.clone(),
            token: token.clone(),
            pin_file: args.hsm_pin_file.clone(),
        },
    );
    if let (Some(module), Some(token)) = (&args.hsm_backup_module, &args.hsm_backup_token) {
        hsm.backup = Some(HsmToken {
            module: module.clone(),
            token: token.clone(),
            pin_file: args
                .hsm_backup_pin_file
                .clone()
                .or_else(|| args.hsm_pin_file.clone()),
        });
    }
    hsm.sessions = args.hsm_sessions;
    if let Some(timeout) = args.hsm_op_timeout {
        hsm.op_timeout = Duration::from(timeout);
    }
    if let Some(interval) = args.hsm_probe_interval {
        hsm.probe_interval = Duration::from(interval);
    }
    if let Some(rotation) = args.hsm_ticket_rotation {
        hsm.ticket_rotation = Some(Duration::from(rotation));
    }
    if args.no_hsm_tickets {
        hsm.ticket_rotation = None;
    }
    hsm.danger_allow_exportable_keys = args.hsm_allow_exportable_key;
    settings.hsm = Some(hsm);
    Ok(paired.to_vec())
}
