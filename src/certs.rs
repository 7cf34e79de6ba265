//! Serving several certificate chains at once and picking one per ClientHello, as nginx does
//! with several `ssl_certificate` lines: composite or ML-DSA for clients that offer those
//! schemes, classical for the rest unless the policy forbids it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

/// One chain and key the server can present, with its current OCSP staple.
#[derive(Debug)]
pub struct ServedCertificate {
    label: String,
    dns_names: Vec<String>,
    scheme: Option<SignatureScheme>,
    post_quantum: bool,
    key: RwLock<Arc<CertifiedKey>>,
    enabled: AtomicBool,
    /// The staple's nextUpdate (Unix seconds; u64::MAX: no expiry), written under `key`'s
    /// write lock so that readers holding the read lock see it with its staple.
    staple_until: AtomicU64,
    /// Out of service whenever no unexpired staple is held (hard-fail stapling).
    requires_staple: AtomicBool,
}

impl ServedCertificate {
    /// Wraps `key`; `scheme` is the scheme it signs with (None when unknown, e.g. RSA).
    pub fn new(
        label: impl Into<String>,
        key: Arc<CertifiedKey>,
        scheme: Option<SignatureScheme>,
        code_points: &qtls_provider::CodePoints,
    ) -> Self {
        let dns_names = key
            .end_entity_cert()
            .ok()
            .and_then(|leaf| qtls_verifier::dns_names(leaf))
            .unwrap_or_default();
        Self {
            label: label.into(),
            dns_names,
            post_quantum: scheme.is_some_and(|s| code_points.is_post_quantum_scheme(s)),
            scheme,
            key: RwLock::new(key),
            enabled: AtomicBool::new(true),
            staple_until: AtomicU64::new(u64::MAX),
            requires_staple: AtomicBool::new(false),
        }
    }

    /// A name for logs (the certificate file, usually).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The scheme the key signs with.
    pub fn scheme(&self) -> Option<SignatureScheme> {
        self.scheme
    }

    /// The certified key as currently served; never with a staple past its nextUpdate
    /// (RFC 6960 §4.2.2.1), even when the stapler has not replaced it yet.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        let key = self.key.read().unwrap_or_else(|p| p.into_inner());
        if key.ocsp.is_some() && self.staple_until.load(Ordering::SeqCst) <= now_secs() {
            // Only until the stapler's timer removes it: a copy per handshake meanwhile.
            let mut stripped = CertifiedKey::clone(&key);
            stripped.ocsp = None;
            return Arc::new(stripped);
        }
        Arc::clone(&key)
    }

    /// Replaces the stapled OCSP response (None: staple nothing); handshakes already under
    /// way keep what they had.
    pub fn set_staple(&self, staple: Option<Vec<u8>>) {
        self.replace_staple(staple, u64::MAX);
    }

    /// Staples `staple` until `next_update` (Unix seconds), after which handshakes get no
    /// staple (or, with [`ServedCertificate::require_staple`], not this certificate).
    pub fn set_staple_until(&self, staple: Vec<u8>, next_update: u64) {
        self.replace_staple(Some(staple), next_update);
    }

    /// Takes the certificate out of service whenever it holds no unexpired staple (OCSP
    /// stapling in hard-fail mode).
    pub fn require_staple(&self, required: bool) {
        self.requires_staple.store(required, Ordering::SeqCst);
    }

    fn replace_staple(&self, staple: Option<Vec<u8>>, until: u64) {
        let mut key = self.key.write().unwrap_or_else(|p| p.into_inner());
        let mut updated = CertifiedKey::clone(&key);
        updated.ocsp = staple;
        *key = Arc::new(updated);
        self.staple_until.store(until, Ordering::SeqCst);
    }

    /// Takes the certificate out of (or back into) service.
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    /// Whether the certificate is in service (checked per ClientHello: a required staple
    /// that ran out takes it out of service even before the stapler notices).
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
            && (!self.requires_staple.load(Ordering::SeqCst) || self.has_current_staple())
    }

    fn has_current_staple(&self) -> bool {
        let key = self.key.read().unwrap_or_else(|p| p.into_inner());
        key.ocsp.is_some() && self.staple_until.load(Ordering::SeqCst) > now_secs()
    }

    fn matches_name(&self, sni: &str) -> bool {
        self.dns_names.iter().any(|name| {
            name.eq_ignore_ascii_case(sni)
                || name.strip_prefix("*.").is_some_and(|suffix| {
                    sni.split_once('.')
                        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(suffix))
                })
        })
    }
}

/// The set of served certificates, in preference order.
#[derive(Debug)]
pub struct CertificateSet {
    certificates: Vec<Arc<ServedCertificate>>,
    require_post_quantum: bool,
}

impl CertificateSet {
    /// Serves `certificates` (preference order); with `require_post_quantum` classical
    /// certificates are never chosen.
    pub fn new(certificates: Vec<Arc<ServedCertificate>>, require_post_quantum: bool) -> Self {
        Self {
            certificates,
            require_post_quantum,
        }
    }

    /// The served certificates.
    pub fn certificates(&self) -> &[Arc<ServedCertificate>] {
        &self.certificates
    }

    /// Whether any certificate is in service (and post-quantum, if required).
    pub fn any_in_service(&self) -> bool {
        self.certificates
            .iter()
            .any(|cert| cert.is_enabled() && (cert.post_quantum || !self.require_post_quantum))
    }

    /// The certificate for a client offering `schemes` with SNI `server_name`: among those
    /// in service (and post-quantum, if required), those whose names match the SNI (all, if
    /// none match); post-quantum before classical; the first whose scheme the client offers.
    pub fn select(
        &self,
        server_name: Option<&str>,
        schemes: &[SignatureScheme],
    ) -> Option<Arc<ServedCertificate>> {
        let usable: Vec<&Arc<ServedCertificate>> = self
            .certificates
            .iter()
            .filter(|cert| cert.is_enabled() && (cert.post_quantum || !self.require_post_quantum))
            .collect();
        let named: Vec<&Arc<ServedCertificate>> = match server_name {
            Some(sni) => usable
                .iter()
                .copied()
                .filter(|cert| cert.matches_name(sni))
                .collect(),
            None => Vec::new(),
        };
        let pool = if named.is_empty() { usable } else { named };
        let offered = |cert: &&Arc<ServedCertificate>| {
            cert.certified_key().key.choose_scheme(schemes).is_some()
        };
        pool.iter()
            .copied()
            .filter(|cert| cert.post_quantum)
            .find(offered)
            .or_else(|| {
                pool.iter()
                    .copied()
                    .filter(|cert| !cert.post_quantum)
                    .find(offered)
            })
            .cloned()
    }
}

impl ResolvesServerCert for CertificateSet {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if hello.signature_schemes().is_empty() {
            // rustls hands the resolver only the schemes usable with a cipher suite both
            // sides have: none when no suite is shared. Any certificate in service then lets
            // rustls fail the handshake on the suites with handshake_failure (RFC 8446 §4.1.1,
            // which the client's fallback reacts to) instead of access_denied.
            return self
                .certificates
                .iter()
                .find(|cert| cert.is_enabled() && (cert.post_quantum || !self.require_post_quantum))
                .map(|cert| cert.certified_key());
        }
        self.select(hello.server_name(), hello.signature_schemes())
            .map(|cert| cert.certified_key())
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
