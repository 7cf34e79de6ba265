//! Builders for the server- and client-certificate verifiers, over one set of shared settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::SignatureScheme;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};

use crate::error::VerifierBuilderError;
use crate::verifier::{ChainVerifier, RevocationDepth, RevocationPolicy};
use crate::{QtlsClientVerifier, QtlsServerVerifier};

/// The settings a server verifier and a client verifier share.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) roots: Vec<CertificateDer<'static>>,
    /// Intermediates known beforehand, tried after the peer's own in path building.
    pub(crate) intermediates: Vec<CertificateDer<'static>>,
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
    /// The schemes the provider verifies with ML-DSA or composite ML-DSA only.
    pub(crate) post_quantum_schemes: Vec<SignatureScheme>,
    pub(crate) policy: RevocationPolicy,
    pub(crate) depth: RevocationDepth,
    pub(crate) online_ocsp: bool,
    pub(crate) fetch_crls: bool,
    pub(crate) crls: Vec<CertificateRevocationListDer<'static>>,
    pub(crate) crl_files: Vec<PathBuf>,
    pub(crate) crl_files_interval: Duration,
    pub(crate) ocsp_responder: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) failed_fetch_window: Duration,
    pub(crate) clock_skew: Duration,
    pub(crate) max_ocsp_age: Duration,
    pub(crate) require_pq_signatures: bool,
    pub(crate) allow_stripped_alt_signatures: bool,
}

/// Marks a [`VerifierBuilder`] that builds a [`QtlsServerVerifier`] (for clients).
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifiesServers;

/// Marks a [`VerifierBuilder`] that builds a [`QtlsClientVerifier`] (for servers).
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifiesClients {
    allow_unauthenticated: bool,
}

/// Builds a [`QtlsServerVerifier`], for a `rustls::ClientConfig`.
pub type ServerVerifierBuilder = VerifierBuilder<VerifiesServers>;

/// Builds a [`QtlsClientVerifier`], for a `rustls::ServerConfig`.
pub type ClientVerifierBuilder = VerifierBuilder<VerifiesClients>;

/// The settings both verifiers share; use it as [`ServerVerifierBuilder`] or
/// [`ClientVerifierBuilder`].
#[derive(Clone, Debug)]
pub struct VerifierBuilder<Side> {
    settings: Settings,
    side: Side,
}

impl ServerVerifierBuilder {
    /// Trust `roots`, verifying signatures with `provider`'s algorithms (see
    /// [`VerifierBuilder`]'s defaults).
    pub fn new(roots: Vec<CertificateDer<'static>>, provider: &CryptoProvider) -> Self {
        Self::with_defaults(roots, provider)
    }

    /// Builds the verifier. Fails when no root is usable, a CRL (or CRL file) does not parse,
    /// the OCSP responder URL is unusable, or post-quantum signatures are required and the
    /// provider verifies none.
    pub fn build(self) -> Result<Arc<QtlsServerVerifier>, VerifierBuilderError> {
        Ok(Arc::new(QtlsServerVerifier::new(
            self.build_chain_verifier()?,
        )))
    }
}

impl ClientVerifierBuilder {
    /// Trust `roots`, verifying signatures with `provider`'s algorithms (see
    /// [`VerifierBuilder`]'s defaults); a client certificate is mandatory.
    pub fn new(roots: Vec<CertificateDer<'static>>, provider: &CryptoProvider) -> Self {
        Self::with_defaults(roots, provider)
    }

    /// Let clients without a certificate through (CertificateRequest is still sent, [RFC 8446 §4.3.2](https://www.rfc-editor.org/rfc/rfc8446#section-4.3.2)).
    pub fn allow_unauthenticated(mut self, allowed: bool) -> Self {
        self.side.allow_unauthenticated = allowed;
        self
    }

    /// Builds the verifier; fails as [`ServerVerifierBuilder::build`] does.
    pub fn build(self) -> Result<Arc<QtlsClientVerifier>, VerifierBuilderError> {
        let allow = self.side.allow_unauthenticated;
        Ok(Arc::new(QtlsClientVerifier::new(
            self.build_chain_verifier()?,
            allow,
        )))
    }
}

impl<Side: Default> VerifierBuilder<Side> {
    /// The default of [`Self::crl_files_check_interval`].
    pub const DEFAULT_CRL_FILES_INTERVAL: Duration = Duration::from_secs(2);

    /// Defaults: soft-fail revocation over the whole chain, online OCSP and CRL fetching on,
    /// 3 s connect and 5 s read timeouts, failed fetches not retried for 30 s, 5 min clock
    /// skew, 7 days for responses without nextUpdate.
    // The post-quantum schemes come from the provider's own table, so a provider built with
    // other composite code points is classified by the code points it was built with.
    fn with_defaults(roots: Vec<CertificateDer<'static>>, provider: &CryptoProvider) -> Self {
        let algorithms = provider.signature_verification_algorithms;
        Self {
            settings: Settings {
                roots,
                intermediates: Vec::new(),
                algorithms,
                post_quantum_schemes: post_quantum_schemes(&algorithms),
                policy: RevocationPolicy::default(),
                depth: RevocationDepth::default(),
                online_ocsp: true,
                fetch_crls: true,
                crls: Vec::new(),
                crl_files: Vec::new(),
                crl_files_interval: Self::DEFAULT_CRL_FILES_INTERVAL,
                ocsp_responder: None,
                connect_timeout: Duration::from_secs(3),
                read_timeout: Duration::from_secs(5),
                failed_fetch_window: Duration::from_secs(30),
                clock_skew: Duration::from_secs(300),
                max_ocsp_age: Duration::from_secs(7 * 24 * 3600),
                require_pq_signatures: false,
                allow_stripped_alt_signatures: false,
            },
            side: Side::default(),
        }
    }

    /// Intermediate CA certificates known beforehand: path building uses them, after any the
    /// peer sends, when the peer does not send its own ([RFC 4158 §2](https://www.rfc-editor.org/rfc/rfc4158#section-2)).
    /// A fleet whose peers are provisioned with the intermediates can then stop sending them
    /// (some 5.8 KB per composite ML-DSA-65 certificate); they are only path candidates, never
    /// trust anchors, and a peer that needs one nobody has still gets unknown_ca.
    pub fn intermediates(mut self, intermediates: Vec<CertificateDer<'static>>) -> Self {
        self.settings.intermediates = intermediates;
        self
    }

    /// Soft- or hard-fail, or off.
    pub fn revocation_policy(mut self, policy: RevocationPolicy) -> Self {
        self.settings.policy = policy;
        self
    }

    /// Check only the end entity, or the whole chain.
    pub fn revocation_depth(mut self, depth: RevocationDepth) -> Self {
        self.settings.depth = depth;
        self
    }

    /// Ask the AIA OCSP responder when no staple settles the status.
    pub fn online_ocsp(mut self, enabled: bool) -> Self {
        self.settings.online_ocsp = enabled;
        self
    }

    /// Fetch CRLs from CRL distribution points when OCSP settles nothing.
    pub fn fetch_crls(mut self, enabled: bool) -> Self {
        self.settings.fetch_crls = enabled;
        self
    }

    /// CRLs to use before fetching any.
    pub fn crls(mut self, crls: Vec<CertificateRevocationListDer<'static>>) -> Self {
        self.settings.crls = crls;
        self
    }

    /// CRL files (PEM or DER, each any number of CRLs) to use before fetching any, re-read in
    /// the background when one's modification time or size changes ([RFC 5280 §5](https://www.rfc-editor.org/rfc/rfc5280#section-5)).
    // Handshakes only read the CRLs last loaded: they never wait for the disk. A file that
    // becomes unreadable or malformed leaves its previous CRLs in use (a revocation stays
    // known) and is logged; its CRLs still expire at their nextUpdate.
    pub fn crl_files(mut self, paths: Vec<PathBuf>) -> Self {
        self.settings.crl_files = paths;
        self
    }

    /// How often [`Self::crl_files`] are checked for changes (a `stat` each); default 2 s.
    pub fn crl_files_check_interval(mut self, interval: Duration) -> Self {
        self.settings.crl_files_interval = interval;
        self
    }

    /// Ask this OCSP responder (an `http://` URL) about end-entity certificates instead of the one their AIA
    /// names ([RFC 6960 §4.2.2.1](https://www.rfc-editor.org/rfc/rfc6960#section-4.2.2.1)); intermediates keep their AIA.
    // One URL answers for one CA (the end entities' issuer); intermediates are issued by
    // another CA, whose status comes from their own AIA or from a CRL.
    pub fn ocsp_responder(mut self, url: Option<String>) -> Self {
        self.settings.ocsp_responder = url;
        self
    }

    /// Connect and read timeouts for OCSP and CRL requests.
    pub fn timeouts(mut self, connect: Duration, read: Duration) -> Self {
        self.settings.connect_timeout = connect;
        self.settings.read_timeout = read;
        self
    }

    /// How long a failed OCSP or CRL fetch (no answer, timeout, HTTP error) is remembered per URL and not retried; zero retries every time.
    // A silent responder would otherwise cost the full timeout on every handshake.
    pub fn retry_failed_fetches_after(mut self, window: Duration) -> Self {
        self.settings.failed_fetch_window = window;
        self
    }

    /// Tolerated clock difference to OCSP responders and CRL issuers.
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.settings.clock_skew = skew;
        self
    }

    /// How old an OCSP response without nextUpdate may be.
    pub fn max_ocsp_age(mut self, age: Duration) -> Self {
        self.settings.max_ocsp_age = age;
        self
    }

    /// Accept only ML-DSA and composite signatures, in the chain and in CertificateVerify; a
    /// scheme counts as post-quantum when the provider verifies it with ML-DSA or composite
    /// ML-DSA, at whatever code point the provider was built with.
    pub fn require_pq_signatures(mut self, required: bool) -> Self {
        self.settings.require_pq_signatures = required;
        self
    }

    /// DANGEROUS: accept a certificate without an alternative signature under an issuer that has an alternative key ([X.509 (10/2019) §7.2.2](https://www.itu.int/rec/T-REC-X.509-201910-I/en)).
    // With it, a Catalyst chain is only as strong as its classical signatures: whoever forges
    // those strips altSignatureAlgorithm/altSignatureValue. Only for CAs known to issue some
    // children without alternative signatures.
    pub fn dangerous_allow_stripped_alt_signatures(mut self, allowed: bool) -> Self {
        self.settings.allow_stripped_alt_signatures = allowed;
        self
    }

    /// Builds only the chain verifier both rustls verifiers wrap (for verifying chains
    /// outside a handshake); fails as [`ServerVerifierBuilder::build`] does.
    pub fn build_chain_verifier(self) -> Result<ChainVerifier, VerifierBuilderError> {
        ChainVerifier::from_settings(self.settings)
    }
}

/// The schemes `algorithms` verifies with ML-DSA ([FIPS 204](https://csrc.nist.gov/pubs/fips/204/final)) or composite ML-DSA ([draft-ietf-lamps-pq-composite-sigs](https://datatracker.ietf.org/doc/draft-ietf-lamps-pq-composite-sigs/)) only.
// Read from the provider's table rather than from code points given separately, so the two
// cannot disagree.
fn post_quantum_schemes(algorithms: &WebPkiSupportedAlgorithms) -> Vec<SignatureScheme> {
    algorithms
        .mapping
        .iter()
        .filter(|(_, verifiers)| {
            !verifiers.is_empty()
                && verifiers
                    .iter()
                    .all(|v| is_post_quantum_algorithm(v.signature_alg_id().as_ref()))
        })
        .map(|(scheme, _)| *scheme)
        .collect()
}

/// Whether an AlgorithmIdentifier's contents name ML-DSA or composite ML-DSA (parameters
/// absent, as both require).
fn is_post_quantum_algorithm(contents: &[u8]) -> bool {
    use der::Decode;
    const_oid::ObjectIdentifier::from_der(contents).is_ok_and(crate::verifier::is_post_quantum_oid)
}
