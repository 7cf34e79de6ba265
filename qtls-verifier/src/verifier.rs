//! The chain verifier shared by the server- and client-certificate verifiers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use aws_lc_rs::digest;
use der::Decode;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use webpki::{CertRevocationList, OwnedCertRevocationList};

use crate::builder::Settings;
use crate::cert::ParsedCert;
use crate::error::{Error, StatusSource, VerifierBuilderError};
use crate::fetch::Fetcher;
use crate::ocsp::{self, OcspAnswer, OcspContext, OcspStatus};

mod cached;
mod crl_files;

/// What revocation checking does when no source can say whether a certificate is revoked.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RevocationPolicy {
    /// No revocation checking (stapled responses and must-staple are still honoured).
    Off,
    /// An unknown status passes, and is reported (in [`VerifiedChain`] and the log).
    #[default]
    SoftFail,
    /// An unknown status rejects the chain (`unknown_ca`).
    HardFail,
}

/// Which certificates revocation is checked for.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RevocationDepth {
    /// Only the end-entity certificate.
    EndEntity,
    /// The end entity and every intermediate (the trust anchor is never checked).
    #[default]
    Chain,
}

/// Which end of a TLS connection a chain authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A server: EKU serverAuth, name checked against the SNI.
    Server,
    /// A client: EKU clientAuth.
    Client,
}

/// The revocation status of one certificate, and how it was learnt.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevocationStatus {
    /// Not revoked, according to this source.
    Good(StatusSource),
    /// Could not be learnt; under soft-fail the chain was accepted anyway.
    Unknown {
        /// What was tried, and why each failed.
        attempts: Vec<String>,
    },
    /// Revocation checking is off (or this certificate is outside the checked depth).
    NotChecked,
}

/// One certificate of a verified chain.
#[derive(Clone, Debug)]
pub struct CertificateReport {
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Signature algorithm name (e.g. `MLDSA65-ECDSA-P384-SHA512`) or OID.
    pub signature_algorithm: String,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: u64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: u64,
    /// Revocation status (the trust anchor is always [`RevocationStatus::NotChecked`]).
    pub revocation: RevocationStatus,
}

/// What an accepted OCSP response says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OcspSummary {
    /// The certificate is revoked.
    pub revoked: bool,
    /// The responder knows the certificate (status good or revoked, not unknown).
    pub known: bool,
    /// nextUpdate (or thisUpdate plus the maximum age when absent).
    pub valid_until: UnixTime,
}

/// A chain that verified: end entity first, trust anchor last.
#[derive(Clone, Debug)]
pub struct VerifiedChain {
    /// The certificates, end entity first, trust anchor last.
    pub certificates: Vec<CertificateReport>,
    /// The end entity's subjectAltName entries (`DNS:...`, `IP:...`, `URI:...`, `email:...`).
    pub subject_alt_names: Vec<String>,
}

impl VerifiedChain {
    /// The end entity's report.
    pub fn end_entity(&self) -> &CertificateReport {
        &self.certificates[0]
    }
}

/// Verifies chains: path building, names, usages, policy, Catalyst signatures, revocation.
/// Cheap to clone; clones share caches.
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Settings,
    fetcher: Fetcher,
    anchors: Vec<TrustAnchor<'static>>,
    roots: Vec<ParsedCert>,
    /// The CRLs given with [`crate::VerifierBuilder::crls`].
    static_crls: Vec<Crl>,
    /// Those, and the CRLs last read from [`crate::VerifierBuilder::crl_files`].
    crls: RwLock<Arc<Vec<Crl>>>,
    schemes: Vec<rustls::SignatureScheme>,
    /// Online OCSP answers by SHA-256 of the certificate, until nextUpdate.
    ocsp_cache: Mutex<HashMap<Vec<u8>, OcspAnswer>>,
    /// Fetched CRLs whose signature verified, by URL and issuer key, until nextUpdate; at
    /// most [`MAX_CACHED_CRLS`] entries and [`MAX_CACHED_CRL_BYTES`] bytes.
    crl_cache: Mutex<HashMap<(String, Vec<u8>), Crl>>,
    /// Recently verified chains by SHA-256 of the end entity, for client identities.
    recent: Mutex<VecDeque<(Vec<u8>, Arc<VerifiedChain>)>>,
    /// OCSP and CRL URLs whose last fetch failed: when, and why; at most
    /// [`MAX_FAILED_FETCHES`] entries.
    failed_fetches: Mutex<HashMap<String, (Instant, String)>>,
}

/// How many verified chains are remembered for [`ChainVerifier::recent`].
const RECENT_CHAINS: usize = 1024;
/// How many failed fetch URLs are remembered at once.
const MAX_FAILED_FETCHES: usize = 1024;
/// How many OCSP responders, and how many CRL distribution points, are tried per certificate.
const MAX_URLS_PER_CERTIFICATE: usize = 4;
/// How many fetched CRLs are cached at once.
const MAX_CACHED_CRLS: usize = 64;
/// How many bytes of fetched CRLs (DER) are cached at once.
const MAX_CACHED_CRL_BYTES: usize = 64 * 1024 * 1024;

/// A CRL with what matching and caching need.
#[derive(Clone, Debug)]
struct Crl {
    webpki: OwnedCertRevocationList,
    /// The DER size, for the cache's byte bound.
    size: usize,
    issuer: x509_cert::name::Name,
    next_update: Option<u64>,
    revoked_serials: Vec<Vec<u8>>,
}

impl Crl {
    /// Parses a DER CRL; the error says why it does not parse.
    fn parse(der: &[u8]) -> Result<Self, String> {
        let list = x509_cert::crl::CertificateList::from_der(der).map_err(|e| e.to_string())?;
        let webpki = OwnedCertRevocationList::from_der(der).map_err(|e| e.to_string())?;
        Ok(Self {
            webpki,
            size: der.len(),
            issuer: list.tbs_cert_list.issuer.clone(),
            next_update: list
                .tbs_cert_list
                .next_update
                .map(|t| t.to_unix_duration().as_secs()),
            revoked_serials: list
                .tbs_cert_list
                .revoked_certificates
                .iter()
                .flatten()
                .map(|entry| entry.serial_number.as_bytes().to_vec())
                .collect(),
        })
    }
}

impl ChainVerifier {
    /// Builds the verifier from checked `config`.
    pub(crate) fn from_settings(config: Settings) -> Result<Self, VerifierBuilderError> {
        if config.roots.is_empty() {
            return Err(VerifierBuilderError::NoTrustAnchors);
        }
        let mut anchors = Vec::with_capacity(config.roots.len());
        let mut roots = Vec::with_capacity(config.roots.len());
        for (index, root) in config.roots.iter().enumerate() {
            let unusable = |error| VerifierBuilderError::TrustAnchor { index, error };
            let anchor = webpki::anchor_from_trusted_cert(root)
                .map_err(unusable)?
                .to_owned();
            anchors.push(anchor);
            roots.push(ParsedCert::from_der(root).map_err(|_| unusable(webpki::Error::BadDer))?);
        }
        for (index, der) in config.intermediates.iter().enumerate() {
            let unusable = |reason: String| VerifierBuilderError::Intermediate { index, reason };
            let parsed = ParsedCert::from_der(der).map_err(|e| unusable(e.to_string()))?;
            parsed
                .check_public_key()
                .map_err(|e| unusable(e.to_string()))?;
        }
        if let Some(url) = &config.ocsp_responder {
            check_responder_url(url)?;
        }
        let static_crls = config
            .crls
            .iter()
            .enumerate()
            .map(|(index, der)| {
                Crl::parse(der.as_ref())
                    .map_err(|reason| VerifierBuilderError::Crl { index, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut files = crl_files::CrlFiles::new(config.crl_files.clone());
        let file_crls = files.load_all()?;
        let crls = static_crls.iter().chain(&file_crls).cloned().collect();
        let mut schemes = config.algorithms.supported_schemes();
        if config.require_pq_signatures {
            schemes.retain(|s| config.post_quantum_schemes.contains(s));
            if schemes.is_empty() {
                return Err(VerifierBuilderError::NoPostQuantumSchemes);
            }
        }
        let interval = config.crl_files_interval;
        let verifier = Self {
            inner: Arc::new(Inner {
                fetcher: Fetcher::new(config.connect_timeout, config.read_timeout),
                anchors,
                roots,
                static_crls,
                crls: RwLock::new(Arc::new(crls)),
                schemes,
                config,
                ocsp_cache: Mutex::default(),
                crl_cache: Mutex::default(),
                recent: Mutex::default(),
                failed_fetches: Mutex::default(),
            }),
        };
        if !files.is_empty() {
            files
                .watch(Arc::downgrade(&verifier.inner), interval)
                .map_err(VerifierBuilderError::CrlFileWatcher)?;
        }
        Ok(verifier)
    }
}

/// An OCSP responder URL the fetcher can use: `http://` with a host ([RFC 6960 Appendix A.1](https://www.rfc-editor.org/rfc/rfc6960#appendix-A.1)).
// Refused at build time so a typo is a startup error, not a status unknown on every handshake.
fn check_responder_url(url: &str) -> Result<(), VerifierBuilderError> {
    let bad = |reason| VerifierBuilderError::OcspResponderUrl {
        url: url.to_string(),
        reason,
    };
    let uri: ureq::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad("not an http:// URL (OCSP is fetched over plain HTTP)"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    Ok(())
}

fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

impl ChainVerifier {
    /// The configured CRLs (given, and last read from files).
    fn configured_crls(&self) -> Arc<Vec<Crl>> {
        Arc::clone(&self.inner.crls.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The TLS signature schemes this verifier accepts in CertificateVerify.
    pub fn supported_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.schemes.clone()
    }

    /// Whether `scheme` is among [`Self::supported_schemes`] (what we offer peers).
    pub(crate) fn offers(&self, scheme: rustls::SignatureScheme) -> bool {
        self.inner.schemes.contains(&scheme)
    }

    pub(crate) fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.inner.config.algorithms
    }

    /// Whether the provider verifies `scheme` with ML-DSA or composite ML-DSA only.
    pub(crate) fn is_post_quantum_scheme(&self, scheme: rustls::SignatureScheme) -> bool {
        self.inner.config.post_quantum_schemes.contains(&scheme)
    }

    pub(crate) fn requires_pq(&self) -> bool {
        self.inner.config.require_pq_signatures
    }

    /// Trust anchor subjects, for CertificateRequest's certificate_authorities.
    pub(crate) fn root_subjects(&self) -> Vec<rustls::DistinguishedName> {
        self.inner
            .anchors
            .iter()
            .map(|anchor| rustls::DistinguishedName::from(anchor.subject.to_vec()))
            .collect()
    }

    /// Whether `cert` is self-signed with a signature that verifies (for trust anchors).
    pub fn self_signature_verifies(&self, cert: &CertificateDer<'_>) -> bool {
        ParsedCert::from_der(cert.as_ref()).is_ok_and(|parsed| {
            parsed.cert.tbs_certificate.issuer == parsed.cert.tbs_certificate.subject
                && parsed.is_signed_by(
                    parsed.public_key(),
                    &parsed.public_key_algorithm(),
                    self.inner.config.algorithms.all,
                )
        })
    }

    /// Checks an OCSP response for `end_entity`, issued by `issuer`, as a client would check
    /// it as a staple: for a server that wants to staple only responses its clients accept.
    pub fn check_ocsp_response(
        &self,
        response: &[u8],
        end_entity: &CertificateDer<'_>,
        issuer: &CertificateDer<'_>,
        now: UnixTime,
    ) -> Result<OcspSummary, crate::OcspError> {
        let cert = ParsedCert::from_der(end_entity.as_ref())
            .map_err(|e| crate::OcspError::Malformed(format!("end entity: {e}")))?;
        let issuer = ParsedCert::from_der(issuer.as_ref())
            .map_err(|e| crate::OcspError::Malformed(format!("issuer: {e}")))?;
        let answer = ocsp::check_response(response, &self.ocsp_context(&cert, &issuer, now))?;
        Ok(OcspSummary {
            revoked: answer.status == OcspStatus::Revoked,
            known: answer.status != OcspStatus::Unknown,
            valid_until: answer.valid_until,
        })
    }

    /// The OCSP responder URLs a certificate names (AIA), and its CRL distribution points.
    pub fn revocation_urls(cert: &CertificateDer<'_>) -> (Vec<String>, Vec<String>) {
        ParsedCert::from_der(cert.as_ref())
            .map(|parsed| (parsed.ocsp_urls(), parsed.crl_urls()))
            .unwrap_or_default()
    }

    /// An OCSP request (SHA-1 CertID) for `end_entity` issued by `issuer`.
    pub fn ocsp_request(
        end_entity: &CertificateDer<'_>,
        issuer: &CertificateDer<'_>,
    ) -> Result<Vec<u8>, crate::OcspError> {
        let cert = ParsedCert::from_der(end_entity.as_ref())
            .map_err(|e| crate::OcspError::Malformed(format!("end entity: {e}")))?;
        let issuer = ParsedCert::from_der(issuer.as_ref())
            .map_err(|e| crate::OcspError::Malformed(format!("issuer: {e}")))?;
        ocsp::request_der(&cert, &issuer)
    }

    /// Fetches an OCSP response for `end_entity` (issued by `issuer`) from the responder at
    /// `url`, with the verifier's timeouts and size limit (RFC 6960 Appendix A.1, HTTP
    /// POST), without checking it: for a server that staples, which then checks it with
    /// [`ChainVerifier::check_ocsp_response`].
    pub fn fetch_ocsp_response(
        &self,
        url: &str,
        end_entity: &CertificateDer<'_>,
        issuer: &CertificateDer<'_>,
    ) -> Result<Vec<u8>, Error> {
        let fetch_error = |reason: String| Error::Fetch {
            url: url.to_string(),
            reason,
        };
        let request =
            Self::ocsp_request(end_entity, issuer).map_err(|e| fetch_error(e.to_string()))?;
        self.inner.fetcher.ocsp(url, &request).map_err(fetch_error)
    }

    /// The chain most recently verified for this end-entity certificate, if remembered.
    pub fn recent(&self, end_entity: &CertificateDer<'_>) -> Option<Arc<VerifiedChain>> {
        let key = sha256(end_entity.as_ref());
        let recent = self.inner.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, chain)| Arc::clone(chain))
    }

    /// Verifies `end_entity` with `intermediates` for `purpose` at `now`; `name` is checked
    /// when given; `staple` is the stapled OCSP response (empty when none).
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        purpose: Purpose,
        name: Option<&ServerName<'_>>,
        staple: &[u8],
        now: UnixTime,
    ) -> Result<VerifiedChain, Error> {
        let config = &self.inner.config;
        // Before path building, so a malformed key is named as such rather than surfacing
        // as a signature that does not verify; certificates that do not parse are left to
        // rustls-webpki.
        for der in std::iter::once(end_entity).chain(intermediates) {
            if let Ok(parsed) = ParsedCert::from_der(der.as_ref()) {
                parsed.check_public_key()?;
            }
        }
        // The peer's intermediates first, then the known ones (checked when the verifier was
        // built): rustls-webpki's path building tries candidates in order under its own
        // signature budget, so the known ones add candidates, not unbounded work.
        let with_known: Vec<CertificateDer<'_>>;
        let intermediates = if config.intermediates.is_empty() {
            intermediates
        } else {
            with_known = intermediates
                .iter()
                .chain(&config.intermediates)
                .map(|der| CertificateDer::from(der.as_ref()))
                .collect();
            &with_known
        };
        let ee = webpki::EndEntityCert::try_from(end_entity).map_err(Error::Chain)?;
        let usage = match purpose {
            Purpose::Server => webpki::KeyUsage::server_auth(),
            Purpose::Client => webpki::KeyUsage::client_auth(),
        };
        let algorithms = self.inner.config.algorithms.all;
        let path = ee
            .verify_for_usage(
                algorithms,
                &self.inner.anchors,
                intermediates,
                now,
                usage,
                None,
                None,
            )
            .map_err(Error::Chain)?;
        if let Some(name) = name {
            ee.verify_is_valid_for_subject_name(name)
                .map_err(Error::Chain)?;
        }
        let mut chain = vec![ParsedCert::from_der(end_entity)?];
        for intermediate in path.intermediate_certificates() {
            chain.push(ParsedCert::from_der(intermediate.der().as_ref())?);
        }
        let anchor = path.anchor();
        // Every anchor was made from one of `roots`; an anchor without its certificate
        // would be one we do not know, and is refused as such (fail closed).
        let root = self
            .inner
            .roots
            .iter()
            .find(|root| root.matches_anchor(anchor))
            .ok_or(Error::Chain(webpki::Error::UnknownIssuer))?
            .clone();
        chain.push(root);

        self.check_policy(&chain)?;

        let mut statuses = vec![RevocationStatus::NotChecked; chain.len()];
        let checked = match config.depth {
            RevocationDepth::EndEntity => 1,
            RevocationDepth::Chain => chain.len() - 1,
        };
        let leaf = &chain[0];
        if leaf.must_staple() && staple.is_empty() {
            return Err(Error::MissingStaple {
                subject: leaf.subject(),
            });
        }
        if !staple.is_empty() {
            let answer =
                ocsp::check_response(staple, &self.ocsp_context(&chain[0], &chain[1], now))
                    .map_err(Error::BadStaple)?;
            match answer.status {
                OcspStatus::Revoked => {
                    return Err(Error::Revoked {
                        subject: leaf.subject(),
                        source: StatusSource::StapledOcsp,
                    })
                }
                OcspStatus::Good => statuses[0] = RevocationStatus::Good(StatusSource::StapledOcsp),
                OcspStatus::Unknown => {}
            }
        }
        if config.policy != RevocationPolicy::Off {
            self.check_revocation(&chain, checked, &mut statuses, intermediates, &ee, now)?;
        }

        let certificates = chain
            .iter()
            .zip(statuses)
            .map(|(cert, revocation)| report(cert, revocation))
            .collect();
        let verified = VerifiedChain {
            certificates,
            subject_alt_names: chain[0].subject_alt_names(),
        };
        let mut recent = self.inner.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT_CHAINS {
            recent.pop_front();
        }
        recent.push_back((sha256(end_entity.as_ref()), Arc::new(verified.clone())));
        Ok(verified)
    }

    fn ocsp_context<'a>(
        &'a self,
        cert: &'a ParsedCert,
        issuer: &'a ParsedCert,
        now: UnixTime,
    ) -> OcspContext<'a> {
        OcspContext {
            cert,
            issuer,
            algorithms: self.inner.config.algorithms.all,
            now,
            skew: self.inner.config.clock_skew,
            max_age: self.inner.config.max_ocsp_age,
        }
    }

    /// Key identifiers, KeyUsage, the post-quantum requirement, Catalyst signatures.
    fn check_policy(&self, chain: &[ParsedCert]) -> Result<(), Error> {
        for (position, pair) in chain.windows(2).enumerate() {
            let (cert, issuer) = (&pair[0], &pair[1]);
            if let (Some(aki), Some(ski)) = (
                cert.authority_key_identifier(),
                issuer.subject_key_identifier(),
            ) {
                if aki != ski {
                    return Err(Error::KeyIdentifierMismatch {
                        subject: cert.subject(),
                    });
                }
            }
            if let Some(usage) = cert.key_usage() {
                let (needed, missing) = if position == 0 {
                    (
                        x509_cert::ext::pkix::KeyUsages::DigitalSignature,
                        "digitalSignature",
                    )
                } else {
                    (x509_cert::ext::pkix::KeyUsages::KeyCertSign, "keyCertSign")
                };
                if !usage.0.contains(needed) {
                    return Err(Error::KeyUsage {
                        subject: cert.subject(),
                        missing,
                    });
                }
            }
            if self.inner.config.require_pq_signatures && !is_pq_signature(cert) {
                return Err(Error::NotPostQuantum {
                    subject: cert.subject(),
                    algorithm: algorithm_name(cert.signature_algorithm_oid()),
                });
            }
            crate::catalyst::check(
                cert,
                issuer,
                self.inner.config.algorithms.all,
                self.inner.config.allow_stripped_alt_signatures,
            )?;
        }
        Ok(())
    }

    /// Online OCSP, then CRLs, for each certificate still undecided.
    fn check_revocation(
        &self,
        chain: &[ParsedCert],
        checked: usize,
        statuses: &mut [RevocationStatus],
        intermediates: &[CertificateDer<'_>],
        ee: &webpki::EndEntityCert<'_>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let config = &self.inner.config;
        let mut attempts: Vec<Vec<String>> = vec![Vec::new(); chain.len()];
        for index in 0..checked {
            if matches!(statuses[index], RevocationStatus::Good(_)) {
                continue;
            }
            let (cert, issuer) = (&chain[index], &chain[index + 1]);
            if !config.online_ocsp {
                attempts[index].push("online OCSP off".into());
                continue;
            }
            match self.online_ocsp(cert, issuer, index == 0, now, &mut attempts[index]) {
                Some(OcspStatus::Good) => {
                    statuses[index] = RevocationStatus::Good(StatusSource::OnlineOcsp)
                }
                Some(OcspStatus::Revoked) => {
                    return Err(Error::Revoked {
                        subject: cert.subject(),
                        source: StatusSource::OnlineOcsp,
                    })
                }
                Some(OcspStatus::Unknown) | None => {}
            }
        }

        // CRLs for whatever OCSP left open, checked by rustls-webpki along the same path.
        let undecided: Vec<usize> = (0..checked)
            .filter(|i| !matches!(statuses[*i], RevocationStatus::Good(_)))
            .collect();
        let mut crls: Vec<Crl> = Vec::new();
        let configured = self.configured_crls();
        for &index in &undecided {
            let issuer_name = &chain[index + 1].cert.tbs_certificate.subject;
            let mut found: Vec<Crl> = configured
                .iter()
                .filter(|crl| crl.issuer == *issuer_name)
                .cloned()
                .collect();
            if found.is_empty() && config.fetch_crls {
                for url in chain[index]
                    .crl_urls()
                    .into_iter()
                    .take(MAX_URLS_PER_CERTIFICATE)
                {
                    match self.fetch_crl(&url, &chain[index + 1], now) {
                        Ok(crl) if crl.issuer == *issuer_name => found.push(crl),
                        Ok(_) => attempts[index].push(format!("CRL {url}: issued by another CA")),
                        Err(why) => attempts[index].push(format!("CRL {why}")),
                    }
                }
            }
            if found.is_empty() {
                let why = if !config.fetch_crls {
                    "CRL fetching off"
                } else if chain[index].crl_urls().is_empty() {
                    "no CRL distribution point"
                } else {
                    "none usable"
                };
                attempts[index].push(format!(
                    "no CRL: none configured for {}, {why}",
                    chain[index + 1].subject()
                ));
            }
            crls.extend(found);
        }
        let lists: Vec<CertRevocationList<'_>> = crls
            .iter()
            .map(|crl| CertRevocationList::from(crl.webpki.clone()))
            .collect();
        let refs: Vec<&CertRevocationList<'_>> = lists.iter().collect();
        // Fails only for an empty list: then no CRL has anything to say.
        if let Ok(options) = webpki::RevocationOptionsBuilder::new(&refs) {
            let options = options
                .with_depth(webpki::RevocationCheckDepth::Chain)
                .with_status_policy(webpki::UnknownStatusPolicy::Allow)
                .with_expiration_policy(webpki::ExpirationPolicy::Enforce)
                .build();
            match ee.verify_for_usage(
                config.algorithms.all,
                &self.inner.anchors,
                intermediates,
                now,
                any_eku(),
                Some(options),
                None,
            ) {
                Ok(_) => {
                    for &index in &undecided {
                        let issuer_name = &chain[index + 1].cert.tbs_certificate.subject;
                        if crls.iter().any(|crl| crl.issuer == *issuer_name) {
                            statuses[index] = RevocationStatus::Good(StatusSource::Crl);
                        }
                    }
                }
                Err(webpki::Error::CertRevoked) => {
                    let revoked = undecided
                        .iter()
                        .copied()
                        .find(|&i| {
                            crls.iter().any(|crl| {
                                crl.revoked_serials
                                    .iter()
                                    .any(|s| s.as_slice() == chain[i].serial())
                            })
                        })
                        .unwrap_or(0);
                    return Err(Error::Revoked {
                        subject: chain[revoked].subject(),
                        source: StatusSource::Crl,
                    });
                }
                Err(error) => {
                    for &index in &undecided {
                        attempts[index].push(format!("CRL rejected: {error}"));
                    }
                }
            }
        }

        for index in 0..checked {
            if matches!(statuses[index], RevocationStatus::Good(_)) {
                continue;
            }
            let subject = chain[index].subject();
            let tried = std::mem::take(&mut attempts[index]);
            if config.policy == RevocationPolicy::HardFail {
                return Err(Error::RevocationUnknown {
                    subject,
                    serial: hex(chain[index].serial()),
                    attempts: tried,
                });
            }
            tracing::warn!(%subject, attempts = ?tried, "revocation status unknown (soft-fail)");
            statuses[index] = RevocationStatus::Unknown { attempts: tried };
        }
        Ok(())
    }

    fn online_ocsp(
        &self,
        cert: &ParsedCert,
        issuer: &ParsedCert,
        end_entity: bool,
        now: UnixTime,
        attempts: &mut Vec<String>,
    ) -> Option<OcspStatus> {
        let key = sha256(&cert.der);
        {
            let cache = self
                .inner
                .ocsp_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(answer) = cache.get(&key) {
                if answer.valid_until.as_secs() > now.as_secs() {
                    return Some(answer.status);
                }
            }
        }
        let urls = match &self.inner.config.ocsp_responder {
            Some(url) if end_entity => vec![url.clone()],
            _ => cert.ocsp_urls(),
        };
        if urls.is_empty() {
            attempts.push("no OCSP responder".into());
            return None;
        }
        let request = match ocsp::request_der(cert, issuer) {
            Ok(request) => request,
            Err(e) => {
                attempts.push(e.to_string());
                return None;
            }
        };
        for url in urls.into_iter().take(MAX_URLS_PER_CERTIFICATE) {
            let fetched = self.remembering_failures(&url, || {
                self.inner
                    .fetcher
                    .ocsp(&url, &request)
                    .map_err(|e| format!("{url}: {e}"))
            });
            let answer = fetched.and_then(|der| {
                ocsp::check_response(&der, &self.ocsp_context(cert, issuer, now))
                    .map_err(|e| format!("{url}: {e}"))
            });
            match answer {
                Ok(answer) => {
                    self.inner
                        .ocsp_cache
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, answer);
                    if answer.status == OcspStatus::Unknown {
                        attempts.push(format!("OCSP {url}: status unknown"));
                    }
                    return Some(answer.status);
                }
                Err(why) => attempts.push(format!("OCSP {why}")),
            }
        }
        None
    }

    /// A CRL from `url`, cached only once its signature verified under `issuer`'s key ([RFC 5280 §6.3.3 (g)](https://www.rfc-editor.org/rfc/rfc5280#section-6.3.3)).
    // Caching before the check let one forged plain-HTTP answer (right issuer name, far
    // nextUpdate) stand in for the issuer's CRL until that nextUpdate.
    fn fetch_crl(&self, url: &str, issuer: &ParsedCert, now: UnixTime) -> Result<Crl, String> {
        let key = (url.to_string(), sha256(issuer.public_key()));
        {
            let cache = self
                .inner
                .crl_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(crl) = cache.get(&key) {
                if crl.next_update.is_some_and(|next| next > now.as_secs()) {
                    return Ok(crl.clone());
                }
            }
        }
        let der = self.remembering_failures(url, || {
            self.inner
                .fetcher
                .crl(url)
                .map_err(|e| format!("{url}: {e}"))
        })?;
        let crl = Crl::parse(&der).map_err(|e| format!("{url}: {e}"))?;
        if crl.issuer != issuer.cert.tbs_certificate.subject {
            // Not this issuer's CRL: the caller reports it; nothing to verify or cache.
            return Ok(crl);
        }
        if !crl_signature_verifies(&der, issuer, self.inner.config.algorithms.all) {
            return Err(format!(
                "{url}: signature does not verify under the key of {}",
                issuer.subject()
            ));
        }
        if crl.next_update.is_some_and(|next| next > now.as_secs()) {
            let mut cache = self
                .inner
                .crl_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            cache.insert(key, crl.clone());
            bound_crl_cache(&mut cache, now);
        }
        Ok(crl)
    }
}

impl ChainVerifier {
    /// Runs `fetch` for `url` unless a fetch from it failed within the configured window.
    fn remembering_failures(
        &self,
        url: &str,
        fetch: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, String> {
        let window = self.inner.config.failed_fetch_window;
        let failures = || {
            self.inner
                .failed_fetches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        if let Some((at, why)) = failures().get(url) {
            let age = at.elapsed();
            if age < window {
                return Err(format!(
                    "{why} (failed recently; not retried for another {}s)",
                    (window - age).as_secs() + 1
                ));
            }
        }
        let result = fetch();
        let mut failures = failures();
        match &result {
            Ok(_) => {
                failures.remove(url);
            }
            Err(why) if !window.is_zero() => {
                if failures.len() >= MAX_FAILED_FETCHES {
                    failures.retain(|_, (at, _)| at.elapsed() < window);
                }
                if failures.len() >= MAX_FAILED_FETCHES {
                    let oldest = failures
                        .iter()
                        .min_by_key(|(_, (at, _))| *at)
                        .map(|(url, _)| url.clone());
                    if let Some(oldest) = oldest {
                        failures.remove(&oldest);
                    }
                }
                failures.insert(url.to_string(), (Instant::now(), why.clone()));
            }
            Err(_) => {}
        }
        result
    }
}

/// Whether the CRL `der` is signed by `issuer`'s key, with the verifier's algorithms.
fn crl_signature_verifies(
    der: &[u8],
    issuer: &ParsedCert,
    algorithms: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm],
) -> bool {
    use der::Encode;
    let Ok(list) = x509_cert::crl::CertificateList::from_der(der) else {
        return false;
    };
    let (Ok(tbs), Ok(algorithm)) = (
        list.tbs_cert_list.to_der(),
        list.signature_algorithm.to_der(),
    ) else {
        return false;
    };
    crate::cert::verify_with(
        algorithms,
        &crate::cert::algorithm_contents(&algorithm),
        &issuer.public_key_algorithm(),
        issuer.public_key(),
        &tbs,
        list.signature.raw_bytes(),
    )
}

/// Drops expired CRLs, then those nearest their nextUpdate, until the cache is within
/// [`MAX_CACHED_CRLS`] and [`MAX_CACHED_CRL_BYTES`].
fn bound_crl_cache(cache: &mut HashMap<(String, Vec<u8>), Crl>, now: UnixTime) {
    let over = |cache: &HashMap<(String, Vec<u8>), Crl>| {
        cache.len() > MAX_CACHED_CRLS
            || cache.values().map(|crl| crl.size).sum::<usize>() > MAX_CACHED_CRL_BYTES
    };
    if !over(cache) {
        return;
    }
    cache.retain(|_, crl| crl.next_update.is_some_and(|next| next > now.as_secs()));
    while over(cache) {
        let Some(first) = cache
            .iter()
            .min_by_key(|(_, crl)| crl.next_update)
            .map(|(key, _)| key.clone())
        else {
            break;
        };
        cache.remove(&first);
    }
}

/// An EKU validator that accepts any EKU: the purpose was already checked on the first pass;
/// the second pass only adds CRLs.
fn any_eku() -> impl webpki::ExtendedKeyUsageValidator {
    struct Any;
    impl webpki::ExtendedKeyUsageValidator for Any {
        fn validate(&self, _iter: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
            Ok(())
        }
    }
    Any
}

fn is_pq_signature(cert: &ParsedCert) -> bool {
    is_post_quantum_oid(cert.signature_algorithm_oid())
}

/// Whether `oid` is ML-DSA ([RFC 9881](https://www.rfc-editor.org/rfc/rfc9881)) or composite ML-DSA ([draft-ietf-lamps-pq-composite-sigs](https://datatracker.ietf.org/doc/draft-ietf-lamps-pq-composite-sigs/)).
pub(crate) fn is_post_quantum_oid(oid: const_oid::ObjectIdentifier) -> bool {
    qtls_provider::MlDsaLevel::ALL
        .iter()
        .any(|level| level.oid() == oid)
        || qtls_provider::CompositeAlgorithm::ALL
            .iter()
            .any(|alg| alg.oid() == oid)
}

fn algorithm_name(oid: const_oid::ObjectIdentifier) -> String {
    for level in qtls_provider::MlDsaLevel::ALL {
        if level.oid() == oid {
            return level.name().to_string();
        }
    }
    for alg in qtls_provider::CompositeAlgorithm::ALL {
        if alg.oid() == oid {
            return alg.name().to_string();
        }
    }
    const_oid::db::DB
        .by_oid(&oid)
        .map(str::to_string)
        .unwrap_or_else(|| oid.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn report(cert: &ParsedCert, revocation: RevocationStatus) -> CertificateReport {
    let tbs = &cert.cert.tbs_certificate;
    CertificateReport {
        subject: cert.subject(),
        issuer: tbs.issuer.to_string(),
        serial: hex(cert.serial()),
        signature_algorithm: algorithm_name(cert.signature_algorithm_oid()),
        not_before: tbs.validity.not_before.to_unix_duration().as_secs(),
        not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
        revocation,
    }
}
