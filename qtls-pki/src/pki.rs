//! A whole test hierarchy: root CA, intermediate CA, server, client and OCSP responder.

use std::fs;
use std::path::{Path, PathBuf};

use qtls_provider::{Backend, KeyPair};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::builder::{CertificateBuilder, Usage};
use crate::certificate::{Certificate, CertifiedKeyPair};
use crate::crl::{CrlBuilder, RevocationList};
use crate::error::Error;
use crate::files::{write_atomic as write_file, PkiDirLock};
use crate::keyfile::{encrypt_private_key_pem, Passphrase};
use crate::profile::Profile;
use crate::revocation::{IndexEntry, RevocationIndex, RevocationReason};

/// What [`Pki::generate`] makes.
///
/// Construct with [`PkiOptions::new`], then set the public fields.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct PkiOptions {
    /// The algorithms of the keys and signatures. Default: [`Profile::COMPOSITE`].
    pub profile: Profile,
    /// The server certificate's SubjectAltName entries: DNS names (`*.` for a wildcard) and
    /// IP addresses. An entry may itself be a comma-separated list. The first host is also
    /// the server's commonName. Default: `localhost`, `127.0.0.1`, `::1`.
    pub hosts: Vec<String>,
    /// The clock: notBefore of every certificate (RFC 5280 §4.1.2.5).
    pub now: OffsetDateTime,
    /// How long the root and intermediate CA certificates are valid. Default: 3650 days.
    pub ca_validity: Duration,
    /// How long the end-entity certificates are valid; at most `ca_validity`.
    /// Default: 90 days.
    pub leaf_validity: Duration,
    /// The OCSP responder URL put in the end-entity certificates' AuthorityInfoAccess
    /// (RFC 5280 §4.2.2.1). Default: none.
    pub ocsp_url: Option<String>,
    /// The CRL URL put in the end-entity certificates' CRLDistributionPoints
    /// (RFC 5280 §4.2.1.13); the intermediate CA signs that CRL. Default: none.
    pub crl_url: Option<String>,
    /// The CRL URL put in the intermediate CA certificate's CRLDistributionPoints
    /// ([RFC 5280 §4.2.1.13](https://www.rfc-editor.org/rfc/rfc5280#section-4.2.1.13)); the
    /// root CA signs that CRL ([`CaLevel::Root`]). Default: none.
    pub ca_crl_url: Option<String>,
    /// Whether the server certificate carries must-staple (RFC 7633). Default: false.
    pub must_staple: bool,
    /// The organizationName of every subject, also the prefix of the CA names.
    /// Default: `Q-TLS`.
    pub organization: String,
    /// The backend that generates the keys. Default: aws-lc-rs.
    pub backend: Backend,
    /// A flat hierarchy: the root CA issues the end-entity certificates itself, with no
    /// intermediate. Chains are then the leaf alone (some 5.8 KB less per composite ML-DSA-65
    /// handshake, so a hybrid first flight fits one initial congestion window), at a price:
    /// the root key signs every certificate and CRL, so it is online as often as an issuing
    /// CA, and revoking it means re-provisioning every client. For small private PKIs.
    /// Default: false.
    pub flat: bool,
}

impl PkiOptions {
    /// The default CA validity: 3650 days.
    pub const DEFAULT_CA_VALIDITY: Duration = Duration::days(3650);
    /// The default end-entity validity: 90 days.
    pub const DEFAULT_LEAF_VALIDITY: Duration = Duration::days(90);
    /// The commonName of the client certificate.
    pub const CLIENT_COMMON_NAME: &'static str = "qtls-client";

    /// Defaults for everything but the clock.
    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            profile: Profile::default(),
            hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            now,
            ca_validity: Self::DEFAULT_CA_VALIDITY,
            leaf_validity: Self::DEFAULT_LEAF_VALIDITY,
            ocsp_url: None,
            crl_url: None,
            ca_crl_url: None,
            must_staple: false,
            organization: "Q-TLS".into(),
            backend: Backend::default(),
            flat: false,
        }
    }

    /// The hosts, comma-separated lists split, blanks dropped.
    fn host_list(&self) -> Vec<&str> {
        self.hosts
            .iter()
            .flat_map(|entry| entry.split(','))
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .collect()
    }
}

/// How [`Pki::write_to_dir_with`] writes a hierarchy.
///
/// Construct with [`PkiWriteOptions::new`], then set the public fields.
#[non_exhaustive]
#[derive(Clone, Debug, Default)]
pub struct PkiWriteOptions {
    /// Replace a PKI the directory already holds (its CA keys and revocation index).
    /// Default: false, so an existing PKI is refused with [`Error::PkiExists`].
    pub force: bool,
    /// Where to write `root.key` instead of the PKI directory (created 0700 if missing):
    /// removable or offline storage, so the root key does not sit beside the server key.
    /// Issuing and CRLs need only the intermediate key. Default: the PKI directory.
    pub root_key_dir: Option<PathBuf>,
    /// Encrypt the CA keys (`root.key`, `intermediate.key`) with this passphrase
    /// ([`encrypt_private_key_pem`](crate::encrypt_private_key_pem)); the end-entity and
    /// OCSP-responder keys stay unencrypted for unattended servers. Default: none.
    pub passphrase: Option<Passphrase>,
}

impl PkiWriteOptions {
    /// The defaults: refuse an existing PKI.
    pub fn new() -> Self {
        Self::default()
    }
}

/// One of the two CAs of a PKI directory, with the files that belong to it: its certificate
/// and key, its revocation index, its CRL and that CRL's number
/// ([RFC 5280 §5.2.3](https://www.rfc-editor.org/rfc/rfc5280#section-5.2.3)).
///
/// | | certificate | key | index | CRL | CRL number |
/// |---|---|---|---|---|---|
/// | `Root` | `root.pem` | `root.key` | `root-revoked.txt` | `root.crl` | `root-crlnumber` |
/// | `Intermediate` | `intermediate.pem` | `intermediate.key` | `revoked.txt` | `intermediate.crl` | `crlnumber` |
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CaLevel {
    /// The root CA: its index lists the intermediate CA, so a relying party that checks
    /// the whole chain finds the intermediate's status in the root's CRL.
    Root,
    /// The intermediate CA, which issues the end-entity certificates.
    #[default]
    Intermediate,
}

impl CaLevel {
    /// The CA certificate's file name.
    pub const fn certificate_file(self) -> &'static str {
        match self {
            Self::Root => "root.pem",
            Self::Intermediate => "intermediate.pem",
        }
    }

    /// The CA key's usual file name (the root's may be elsewhere: [`PkiWriteOptions`]).
    pub const fn key_file(self) -> &'static str {
        match self {
            Self::Root => "root.key",
            Self::Intermediate => "intermediate.key",
        }
    }

    /// The file name of the CA's revocation index ([`RevocationIndex`]).
    pub const fn index_file(self) -> &'static str {
        match self {
            Self::Root => Pki::ROOT_INDEX_FILE,
            Self::Intermediate => RevocationIndex::FILE_NAME,
        }
    }

    /// The usual file name of the CA's CRL.
    pub const fn crl_file(self) -> &'static str {
        match self {
            Self::Root => Pki::ROOT_CRL_FILE,
            Self::Intermediate => Pki::CRL_FILE,
        }
    }

    /// The file name of the number of the CA's next CRL.
    pub const fn crl_number_file(self) -> &'static str {
        match self {
            Self::Root => Pki::ROOT_CRL_NUMBER_FILE,
            Self::Intermediate => Pki::CRL_NUMBER_FILE,
        }
    }

    /// The name: `root` or `intermediate`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Intermediate => "intermediate",
        }
    }
}

impl std::fmt::Display for CaLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CaLevel {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "root" => Ok(Self::Root),
            "intermediate" => Ok(Self::Intermediate),
            _ => Err(Error::InvalidOptions(format!(
                "CA {s:?}: expected root or intermediate"
            ))),
        }
    }
}

/// A complete certificate hierarchy with its private keys:
///
/// ```text
/// root CA (self-signed)
/// └── intermediate CA (pathLenConstraint 0)
///     ├── server    (serverAuth; SAN = hosts)
///     ├── client    (clientAuth; CN = qtls-client)
///     └── OCSP responder (OCSPSigning, ocsp-nocheck)
/// ```
///
/// The OCSP responder is issued by the intermediate, so it may answer for the server and
/// client certificates (RFC 6960 §4.2.2.2).
#[derive(Debug)]
pub struct Pki {
    root: CertifiedKeyPair,
    /// None in a flat hierarchy ([`PkiOptions::flat`]), where the root issues.
    intermediate: Option<CertifiedKeyPair>,
    server: CertifiedKeyPair,
    client: CertifiedKeyPair,
    ocsp_responder: CertifiedKeyPair,
}

impl Pki {
    /// The files [`Pki::write_to_dir`] writes, in order.
    pub const FILE_NAMES: [&'static str; 14] = [
        "root.pem",
        "root.key",
        "intermediate.pem",
        "intermediate.key",
        "server.pem",
        "server-chain.pem",
        "server.key",
        "client.pem",
        "client-chain.pem",
        "client.key",
        "ocsp.pem",
        "ocsp.key",
        RevocationIndex::FILE_NAME,
        Self::ROOT_INDEX_FILE,
    ];

    /// Where [`Pki::issue_crl_in_dir`] keeps the number of the next CRL (RFC 5280 §5.2.3):
    /// upper-case hex and a newline, as OpenSSL's `crlnumber` file. Absent means 1.
    pub const CRL_NUMBER_FILE: &'static str = "crlnumber";

    /// The usual name of the intermediate CA's CRL in a PKI directory.
    pub const CRL_FILE: &'static str = "intermediate.crl";

    /// The root CA's revocation index ([`RevocationIndex`] format): the intermediate CA.
    pub const ROOT_INDEX_FILE: &'static str = "root-revoked.txt";

    /// The usual name of the root CA's CRL in a PKI directory.
    pub const ROOT_CRL_FILE: &'static str = "root.crl";

    /// The number of the root CA's next CRL, in [`Pki::CRL_NUMBER_FILE`]'s format.
    pub const ROOT_CRL_NUMBER_FILE: &'static str = "root-crlnumber";

    /// Generates fresh keys and issues every certificate.
    pub fn generate(options: &PkiOptions) -> Result<Self, Error> {
        let hosts = options.host_list();
        let server_name = hosts.first().copied().ok_or_else(|| {
            Error::InvalidOptions("no hosts given for the server certificate".into())
        })?;
        if options.leaf_validity > options.ca_validity {
            return Err(Error::InvalidOptions(format!(
                "leaf validity {} is longer than CA validity {}",
                options.leaf_validity, options.ca_validity
            )));
        }
        let end = |validity: Duration| {
            options.now.checked_add(validity).ok_or_else(|| {
                Error::InvalidOptions(format!("{} plus {validity} overflows", options.now))
            })
        };
        let (ca_end, leaf_end) = (end(options.ca_validity)?, end(options.leaf_validity)?);
        let (ca_algorithm, leaf_algorithm) = (
            options.profile.key_algorithm(),
            options.profile.leaf_key_algorithm(),
        );
        let generate_as = |role: &str, algorithm| {
            KeyPair::generate(algorithm, options.backend).map_err(|source| Error::Key {
                context: format!("generating the {role} key ({algorithm})"),
                source,
            })
        };
        let org = options.organization.as_str();
        let builder = |usage, common_name: &str, not_after| {
            CertificateBuilder::new(usage, common_name)
                .organization(org)
                .validity(options.now, not_after)
        };
        let leaf_builder = |usage, common_name: &str| {
            let mut builder = builder(usage, common_name, leaf_end);
            if let Some(url) = &options.ocsp_url {
                builder = builder.ocsp_url(url);
            }
            if let Some(url) = &options.crl_url {
                builder = builder.crl_url(url);
            }
            builder
        };

        let generate = |role: &str| generate_as(role, ca_algorithm);
        let root_key = generate("root CA")?;
        let root_cert =
            builder(Usage::RootCa, &format!("{org} Root CA"), ca_end).self_signed(&root_key)?;
        let root = CertifiedKeyPair::new(root_cert, root_key)?;

        let intermediate = if options.flat {
            if options.ca_crl_url.is_some() {
                return Err(Error::InvalidOptions(
                    "a flat PKI has no intermediate CA for a CA CRL URL to describe".into(),
                ));
            }
            None
        } else {
            let intermediate_key = generate("intermediate CA")?;
            let mut intermediate_builder = builder(
                Usage::IntermediateCa { path_len: Some(0) },
                &format!("{org} Intermediate CA"),
                ca_end,
            );
            if let Some(url) = &options.ca_crl_url {
                intermediate_builder = intermediate_builder.crl_url(url);
            }
            let intermediate_cert = intermediate_builder.signed_by(&intermediate_key, &root)?;
            Some(CertifiedKeyPair::new(intermediate_cert, intermediate_key)?)
        };
        let issuer = intermediate.as_ref().unwrap_or(&root);

        let server_key = generate_as("server", leaf_algorithm)?;
        let server_cert = leaf_builder(Usage::ServerLeaf, server_name)
            .hosts(&hosts)
            .must_staple(options.must_staple)
            .signed_by(&server_key, issuer)?;
        let server = CertifiedKeyPair::new(server_cert, server_key)?;

        let client_key = generate_as("client", leaf_algorithm)?;
        let client_cert = leaf_builder(Usage::ClientLeaf, PkiOptions::CLIENT_COMMON_NAME)
            .signed_by(&client_key, issuer)?;
        let client = CertifiedKeyPair::new(client_cert, client_key)?;

        let ocsp_key = generate("OCSP responder")?;
        let ocsp_cert = builder(
            Usage::OcspResponder,
            &format!("{org} OCSP Responder"),
            leaf_end,
        )
        .signed_by(&ocsp_key, issuer)?;
        let ocsp_responder = CertifiedKeyPair::new(ocsp_cert, ocsp_key)?;

        Ok(Self {
            root,
            intermediate,
            server,
            client,
            ocsp_responder,
        })
    }

    /// Reads a hierarchy [`Pki::write_to_dir`] wrote (the chain files are not read). Every
    /// key must be there unencrypted: a directory whose root key is offline or whose CA keys
    /// are encrypted ([`PkiWriteOptions`]) fails.
    pub fn load_from_dir(dir: impl AsRef<Path>, backend: Backend) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let load = |name: &str| {
            CertifiedKeyPair::read_pem_files(
                &dir.join(format!("{name}.pem")),
                &dir.join(format!("{name}.key")),
                backend,
            )
        };
        let root = load("root")?;
        let intermediate = load("intermediate")?;
        // A flat hierarchy writes its root as the issuing CA's files too.
        let flat = intermediate.certificate() == root.certificate();
        Ok(Self {
            root,
            intermediate: (!flat).then_some(intermediate),
            server: load("server")?,
            client: load("client")?,
            ocsp_responder: load("ocsp")?,
        })
    }

    /// The self-signed root CA: the trust anchor.
    pub fn root(&self) -> &CertifiedKeyPair {
        &self.root
    }

    /// The issuing CA of the three end-entity certificates: the intermediate CA, or the root
    /// in a flat hierarchy ([`PkiOptions::flat`]).
    pub fn intermediate(&self) -> &CertifiedKeyPair {
        self.intermediate.as_ref().unwrap_or(&self.root)
    }

    /// Whether the root issues the end-entity certificates itself ([`PkiOptions::flat`]).
    pub fn is_flat(&self) -> bool {
        self.intermediate.is_none()
    }

    /// The TLS server certificate.
    pub fn server(&self) -> &CertifiedKeyPair {
        &self.server
    }

    /// The TLS client certificate.
    pub fn client(&self) -> &CertifiedKeyPair {
        &self.client
    }

    /// The delegated OCSP responder certificate.
    pub fn ocsp_responder(&self) -> &CertifiedKeyPair {
        &self.ocsp_responder
    }

    /// The server's chain as rustls takes it: server certificate, then intermediate.
    pub fn server_chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain(&self.server)
    }

    /// The client's chain as rustls takes it: client certificate, then intermediate.
    pub fn client_chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain(&self.client)
    }

    /// Writes the certificates and keys as PEM into `dir` (created if missing), replacing
    /// files of the same names atomically (each written beside its final name, then renamed
    /// over it, so an old key is never truncated in place): the certificates in
    /// [`Pki::FILE_NAMES`] order, `*-chain.pem` holding the leaf then the intermediate, PKCS#8
    /// keys readable by the owner only, the intermediate CA's revocation index
    /// `revoked.txt` ([`RevocationIndex`]) listing the server, client and OCSP-responder
    /// certificates as valid, and the root CA's, [`Pki::ROOT_INDEX_FILE`], listing the
    /// intermediate CA. Returns the paths written, in that order. Holds the directory's
    /// [`PkiDirLock`] meanwhile.
    ///
    /// When `dir` already holds this hierarchy (the same `intermediate.pem`), the indexes keep
    /// their entries, revocations included; otherwise they start afresh.
    pub fn write_to_dir(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>, Error> {
        let options = PkiWriteOptions {
            force: true,
            ..PkiWriteOptions::default()
        };
        self.write_to_dir_with(dir, &options)
    }

    /// Writes as [`Pki::write_to_dir`] does, but refuses (with [`Error::PkiExists`]) a
    /// directory that already holds another PKI unless `options.force` is set: replacing it
    /// would silently discard its CA keys and revocations. Rewriting the same hierarchy is
    /// allowed.
    pub fn write_to_dir_with(
        &self,
        dir: impl AsRef<Path>,
        options: &PkiWriteOptions,
    ) -> Result<Vec<PathBuf>, Error> {
        let dir = dir.as_ref();
        if self.is_flat() && options.root_key_dir.is_some() {
            // The root issues every certificate and CRL: it cannot also be offline.
            return Err(Error::InvalidOptions(
                "a flat PKI's root key is its issuing key: it cannot be kept offline".into(),
            ));
        }
        fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        let _lock = PkiDirLock::acquire(dir)?;
        let root_key_path = match &options.root_key_dir {
            Some(root_dir) => {
                create_private_dir(root_dir)?;
                root_dir.join("root.key")
            }
            None => dir.join("root.key"),
        };
        let index_path = dir.join(RevocationIndex::FILE_NAME);
        // Read before intermediate.pem is overwritten: an index belongs to one CA.
        let same_ca = Certificate::read_pem_file(&dir.join("intermediate.pem"))
            .ok()
            .and_then(|certs| certs.into_iter().next())
            .is_some_and(|cert| cert == *self.intermediate().certificate());
        if !same_ca && !options.force {
            let existing = [
                "root.key",
                "root.pem",
                "intermediate.key",
                "intermediate.pem",
                RevocationIndex::FILE_NAME,
                Self::ROOT_INDEX_FILE,
            ]
            .into_iter()
            .map(|name| dir.join(name))
            .chain([root_key_path.clone()])
            .find(|path| path.exists());
            if let Some(path) = existing {
                return Err(Error::PkiExists { path });
            }
        }
        let read_index = |path: &Path| {
            if same_ca && path.exists() {
                RevocationIndex::read(path)
            } else {
                Ok(RevocationIndex::new())
            }
        };
        let mut index = read_index(&index_path)?;
        let root_index_path = dir.join(Self::ROOT_INDEX_FILE);
        let mut root_index = read_index(&root_index_path)?;
        let pem = |cert: &Certificate| cert.to_pem();
        let chain = |leaf: &CertifiedKeyPair| -> Result<String, Error> {
            let mut chain = pem(leaf.certificate())?;
            if let Some(intermediate) = &self.intermediate {
                chain += &pem(intermediate.certificate())?;
            }
            Ok(chain)
        };
        let key = |pair: &CertifiedKeyPair| {
            pair.key().to_pkcs8_pem().map_err(|source| Error::Key {
                context: format!(
                    "exporting the private key of {:?}",
                    pair.certificate().subject()
                ),
                source,
            })
        };
        let ca_key = |pair: &CertifiedKeyPair| match &options.passphrase {
            Some(passphrase) => encrypt_private_key_pem(pair.key(), passphrase),
            None => key(pair),
        };

        let mut written = Vec::new();
        let mut write_path = |path: PathBuf, contents: &str, secret: bool| {
            write_file(&path, contents.as_bytes(), secret)?;
            written.push(path);
            Ok::<(), Error>(())
        };
        write_path(dir.join("root.pem"), &pem(self.root.certificate())?, false)?;
        write_path(root_key_path.clone(), &ca_key(&self.root)?, true)?;
        let mut write =
            |name: &str, contents: &str, secret: bool| write_path(dir.join(name), contents, secret);
        // In a flat hierarchy these are the root's: what issues, revokes and answers OCSP
        // reads the issuing CA from them either way.
        write(
            "intermediate.pem",
            &pem(self.intermediate().certificate())?,
            false,
        )?;
        write("intermediate.key", &ca_key(self.intermediate())?, true)?;
        write("server.pem", &pem(self.server.certificate())?, false)?;
        write("server-chain.pem", &chain(&self.server)?, false)?;
        write("server.key", &key(&self.server)?, true)?;
        write("client.pem", &pem(self.client.certificate())?, false)?;
        write("client-chain.pem", &chain(&self.client)?, false)?;
        write("client.key", &key(&self.client)?, true)?;
        write("ocsp.pem", &pem(self.ocsp_responder.certificate())?, false)?;
        write("ocsp.key", &key(&self.ocsp_responder)?, true)?;
        let stale_root_key = dir.join("root.key");
        if stale_root_key != root_key_path && stale_root_key.exists() {
            // The replaced hierarchy's root key; the new one is offline.
            fs::remove_file(&stale_root_key).map_err(|source| Error::Io {
                path: stale_root_key,
                source,
            })?;
        }
        for issued in [&self.server, &self.client, &self.ocsp_responder] {
            index.add_issued(issued.certificate());
        }
        index.write(&index_path)?;
        written.push(index_path);
        if let Some(intermediate) = &self.intermediate {
            root_index.add_issued(intermediate.certificate());
        }
        root_index.write(&root_index_path)?;
        written.push(root_index_path);
        Ok(written)
    }

    /// Revokes the certificate with serial number `serial` in `dir`'s revocation index
    /// (`revoked.txt`), at `time` for `reason`, and returns its entry. Fails as
    /// [`RevocationIndex::revoke`] does. Holds the directory's [`PkiDirLock`] while it reads
    /// and rewrites the index, so concurrent revocations are all kept.
    pub fn revoke_in_dir(
        dir: impl AsRef<Path>,
        serial: &[u8],
        reason: Option<RevocationReason>,
        time: OffsetDateTime,
    ) -> Result<IndexEntry, Error> {
        let lock = PkiDirLock::acquire(dir)?;
        let path = lock.dir().join(RevocationIndex::FILE_NAME);
        let mut index = RevocationIndex::read(&path)?;
        let entry = index.revoke(serial, reason, time)?.clone();
        index.write(&path)?;
        Ok(entry)
    }

    /// Revokes the directory's intermediate CA (`intermediate.pem`) in the root CA's index,
    /// [`Pki::ROOT_INDEX_FILE`], at `time` for `reason`, and returns its entry; the root's CRL
    /// ([`Pki::write_issuer_crl_in_dir`] with [`CaLevel::Root`]) then lists it, so relying
    /// parties that check the whole chain refuse every certificate below it
    /// ([RFC 5280 §6.3](https://www.rfc-editor.org/rfc/rfc5280#section-6.3)). A directory
    /// written before that index existed gets one. Holds the directory's [`PkiDirLock`].
    pub fn revoke_intermediate_in_dir(
        dir: impl AsRef<Path>,
        reason: Option<RevocationReason>,
        time: OffsetDateTime,
    ) -> Result<IndexEntry, Error> {
        let lock = PkiDirLock::acquire(dir)?;
        let intermediate = ca_certificate(lock.dir(), CaLevel::Intermediate)?;
        let path = lock.dir().join(Self::ROOT_INDEX_FILE);
        let mut index = if path.exists() {
            RevocationIndex::read(&path)?
        } else {
            RevocationIndex::new()
        };
        index.add_issued(&intermediate);
        let entry = index.revoke(intermediate.serial(), reason, time)?.clone();
        index.write(&path)?;
        Ok(entry)
    }

    /// Records `certificate`, issued by the directory's intermediate CA, as valid in `dir`'s
    /// revocation index, so it can be revoked and OCSP knows it (RFC 6960 §2.2); returns
    /// whether it was added (false: its serial is listed already). Holds the directory's
    /// [`PkiDirLock`].
    pub fn record_issued_in_dir(
        dir: impl AsRef<Path>,
        certificate: &Certificate,
    ) -> Result<bool, Error> {
        let lock = PkiDirLock::acquire(dir)?;
        let path = lock.dir().join(RevocationIndex::FILE_NAME);
        let mut index = RevocationIndex::read(&path)?;
        let added = index.add_issued(certificate);
        if added {
            index.write(&path)?;
        }
        Ok(added)
    }

    /// Issues the intermediate CA's CRL for a directory [`Pki::write_to_dir`] wrote: every
    /// revoked certificate of `revoked.txt`, signed with `intermediate.key`, numbered from
    /// [`Pki::CRL_NUMBER_FILE`] (which is then advanced). The caller stores the CRL; see
    /// [`Pki::write_crl_in_dir`] to store it under the directory lock.
    pub fn issue_crl_in_dir(
        dir: impl AsRef<Path>,
        backend: Backend,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<RevocationList, Error> {
        let dir = dir.as_ref();
        let issuer = CertifiedKeyPair::read_pem_files(
            &dir.join("intermediate.pem"),
            &dir.join("intermediate.key"),
            backend,
        )?;
        let lock = PkiDirLock::acquire(dir)?;
        Self::numbered_crl_of(
            &lock,
            CaLevel::Intermediate,
            &issuer,
            this_update,
            next_update,
        )
    }

    /// Signs the CRL of `dir`'s revocation index with `issuer` (the intermediate CA, its key
    /// loaded by the caller, e.g. decrypted), numbered from [`Pki::CRL_NUMBER_FILE`], writes
    /// it to `out` (DER or PEM) and advances the number, all under the directory's
    /// [`PkiDirLock`]: concurrent runs get distinct CRL numbers (RFC 5280 §5.2.3) and `out`
    /// ends up holding the highest.
    pub fn write_crl_in_dir(
        dir: impl AsRef<Path>,
        issuer: &CertifiedKeyPair,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        out: &Path,
        der: bool,
    ) -> Result<RevocationList, Error> {
        Self::write_issuer_crl_in_dir(
            dir,
            CaLevel::Intermediate,
            issuer,
            this_update,
            next_update,
            out,
            der,
        )
    }

    /// Signs the CRL of `level`'s revocation index with `issuer`, which must be that CA of
    /// `dir` (its certificate the same as [`CaLevel::certificate_file`], its key loaded by the
    /// caller from wherever it is kept, e.g. an offline root key), numbered from
    /// [`CaLevel::crl_number_file`], writes it to `out` (DER or PEM) and advances the number,
    /// all under the directory's [`PkiDirLock`], as [`Pki::write_crl_in_dir`] does. The root's
    /// CRL lists the revoked intermediate CA, if any
    /// ([RFC 5280 §5](https://www.rfc-editor.org/rfc/rfc5280#section-5)); a root index that
    /// does not exist yet counts as empty.
    pub fn write_issuer_crl_in_dir(
        dir: impl AsRef<Path>,
        level: CaLevel,
        issuer: &CertifiedKeyPair,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        out: &Path,
        der: bool,
    ) -> Result<RevocationList, Error> {
        let lock = PkiDirLock::acquire(dir)?;
        if ca_certificate(lock.dir(), level)? != *issuer.certificate() {
            return Err(Error::InvalidIssuer {
                issuer: issuer.certificate().subject(),
                reason: match level {
                    CaLevel::Root => "it is not the PKI directory's root CA (root.pem)",
                    CaLevel::Intermediate => {
                        "it is not the PKI directory's intermediate CA (intermediate.pem)"
                    }
                },
            });
        }
        let crl = Self::numbered_crl_of(&lock, level, issuer, this_update, next_update)?;
        let bytes = if der {
            crl.der().to_vec()
        } else {
            crl.to_pem()?.into_bytes()
        };
        write_file(out, &bytes, false)?;
        Ok(crl)
    }

    fn numbered_crl_of(
        lock: &PkiDirLock,
        level: CaLevel,
        issuer: &CertifiedKeyPair,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<RevocationList, Error> {
        let dir = lock.dir();
        let index_path = dir.join(level.index_file());
        let index = if level == CaLevel::Root && !index_path.exists() {
            // A directory from before root indexes: nothing of the root's is revoked.
            RevocationIndex::new()
        } else {
            RevocationIndex::read(&index_path)?
        };
        let number_path = dir.join(level.crl_number_file());
        let number = match fs::read_to_string(&number_path) {
            Ok(text) => u64::from_str_radix(text.trim(), 16).map_err(|e| Error::InvalidIndex {
                source_name: number_path.display().to_string(),
                line: 1,
                reason: format!("CRL number {:?} is not hexadecimal: {e}", text.trim()),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(source) => {
                return Err(Error::Io {
                    path: number_path,
                    source,
                })
            }
        };
        let crl = CrlBuilder::new(number)
            .update_times(this_update, next_update)
            .revoked_from_index(&index)
            .build(issuer)?;
        let next = number.checked_add(1).ok_or_else(|| Error::InvalidIndex {
            source_name: number_path.display().to_string(),
            line: 1,
            reason: "the CRL number cannot grow any further".into(),
        })?;
        let mut hex = format!("{next:X}");
        if hex.len() % 2 == 1 {
            hex.insert(0, '0');
        }
        write_file(&number_path, format!("{hex}\n").as_bytes(), false)?;
        Ok(crl)
    }

    fn chain(&self, leaf: &CertifiedKeyPair) -> Vec<CertificateDer<'static>> {
        let mut chain = vec![leaf.certificate().to_certificate_der()];
        chain.extend(
            self.intermediate
                .as_ref()
                .map(|ca| ca.certificate().to_certificate_der()),
        );
        chain
    }
}

/// The first certificate of `level`'s certificate file in `dir`.
fn ca_certificate(dir: &Path, level: CaLevel) -> Result<Certificate, Error> {
    let path = dir.join(level.certificate_file());
    Certificate::read_pem_file(&path)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::InvalidOptions(format!("{}: no certificate", path.display())))
}

/// Creates `dir` if missing; a directory this creates is accessible to its owner only.
fn create_private_dir(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn options() -> PkiOptions {
        let mut options =
            PkiOptions::new(OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap());
        options.profile = Profile::EcdsaP384;
        options
    }

    #[test]
    fn options_are_checked() {
        let mut no_hosts = options();
        no_hosts.hosts = vec![" , ".into()];
        assert!(matches!(
            Pki::generate(&no_hosts),
            Err(Error::InvalidOptions(_))
        ));

        let mut long_leaf = options();
        long_leaf.leaf_validity = long_leaf.ca_validity + Duration::days(1);
        assert!(matches!(
            Pki::generate(&long_leaf),
            Err(Error::InvalidOptions(_))
        ));

        let mut bad_host = options();
        bad_host.hosts = vec!["good.test,bad host".into()];
        match Pki::generate(&bad_host) {
            Err(Error::InvalidHost { host, .. }) => assert_eq!(host, "bad host"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let pki = Pki::generate(&options()).unwrap();
        let server = pki.server().certificate();
        assert_eq!(server.subject(), "CN=localhost,O=Q-TLS");
        assert!(server.extension(&crate::ID_PE_TLS_FEATURE).is_none());
        assert_eq!(pki.server_chain().len(), 2);
        assert_eq!(
            pki.client_chain()[1],
            pki.intermediate().certificate().to_certificate_der()
        );
        assert_eq!(
            pki.client().certificate().subject(),
            format!("CN={},O=Q-TLS", PkiOptions::CLIENT_COMMON_NAME)
        );
    }
}
