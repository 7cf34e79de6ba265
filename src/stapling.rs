//! The OCSP stapling service
//! ([RFC 8446 §4.4.2.1](https://www.rfc-editor.org/rfc/rfc8446#section-4.4.2.1),
//! [RFC 6066 §8](https://www.rfc-editor.org/rfc/rfc6066#section-8)): at startup fetch the
//! leaf's status from its responder, verify it as clients will, serve it stapled, keep it in
//! memory and on disk so a restart needs no responder, and refresh it in the background
//! before it runs out.
//!
//! A staple is never served past its nextUpdate (RFC 6960 §4.2.2.1): the background task
//! wakes at the earliest of the next check, the refresh time and nextUpdate, and when the
//! refresh has failed by then the failure policy applies (soft-fail: no staple; hard-fail:
//! the certificate is out of service). [`crate::ServedCertificate`] also checks nextUpdate
//! itself on every ClientHello, in case the task runs late.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, UnixTime};

use crate::certs::ServedCertificate;

/// What to do while no valid staple exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StapleFailurePolicy {
    /// Serve without a staple, and warn.
    #[default]
    SoftFail,
    /// Refuse handshakes for the certificate with internal_error.
    HardFail,
}

/// Stapling settings; the defaults check hourly and refresh when less than 2 h remain.
#[derive(Clone, Debug)]
pub struct StaplingConfig {
    /// Ask this responder instead of the certificate's AIA URL.
    pub responder: Option<String>,
    /// Where verified responses are kept across restarts.
    pub cache_dir: Option<PathBuf>,
    /// How often the background task looks at the staple.
    pub check_interval: Duration,
    /// Refresh when less than this validity remains.
    pub refresh_before: Duration,
    /// Connect and read timeout for the responder.
    pub timeout: Duration,
    /// Soft- or hard-fail while no valid staple exists.
    pub on_failure: StapleFailurePolicy,
    /// Stop serving the certificate when the responder says it is revoked.
    pub stop_serving_revoked: bool,
}

impl Default for StaplingConfig {
    fn default() -> Self {
        Self {
            responder: None,
            cache_dir: None,
            check_interval: Duration::from_secs(3600),
            refresh_before: Duration::from_secs(2 * 3600),
            timeout: Duration::from_secs(5),
            on_failure: StapleFailurePolicy::SoftFail,
            stop_serving_revoked: false,
        }
    }
}

/// The staple as the service holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StapleState {
    /// A verified response, good until `valid_until` (Unix seconds).
    Valid {
        /// The DER OCSPResponse.
        response: Vec<u8>,
        /// nextUpdate.
        valid_until: u64,
        /// Where it came from: `responder` or `disk cache`.
        source: &'static str,
    },
    /// None yet (or the last one ran out); the text says why.
    Missing(String),
    /// The responder says the certificate is revoked.
    Revoked,
}

/// Keeps one served certificate's staple fresh.
#[derive(Debug)]
pub struct Stapler {
    certificate: Arc<ServedCertificate>,
    end_entity: CertificateDer<'static>,
    issuer: CertificateDer<'static>,
    checker: qtls_verifier::ChainVerifier,
    config: StaplingConfig,
    url: Option<String>,
    state: Mutex<StapleState>,
}

impl Stapler {
    /// Prepares stapling for `certificate`, whose chain is `chain` (leaf, issuer, ...),
    /// checking responses with `provider`'s algorithms. Call [`Stapler::initialize`] next.
    pub fn new(
        certificate: Arc<ServedCertificate>,
        chain: &[CertificateDer<'static>],
        provider: &rustls::crypto::CryptoProvider,
        config: StaplingConfig,
    ) -> Result<Self, crate::Error> {
        let [end_entity, issuer, ..] = chain else {
            return Err(crate::Error::Config(format!(
                "{}: stapling needs the issuer in the chain",
                certificate.label()
            )));
        };
        let checker = qtls_verifier::ServerVerifierBuilder::new(vec![issuer.clone()], provider)
            .timeouts(config.timeout, config.timeout)
            .build_chain_verifier()
            .map_err(|e| crate::Error::Config(e.to_string()))?;
        let url = config.responder.clone().or_else(|| {
            qtls_verifier::ChainVerifier::revocation_urls(end_entity)
                .0
                .into_iter()
                .next()
        });
        certificate.require_staple(config.on_failure == StapleFailurePolicy::HardFail);
        Ok(Self {
            certificate,
            end_entity: end_entity.clone(),
            issuer: issuer.clone(),
            checker,
            config,
            url,
            state: Mutex::new(StapleState::Missing("not fetched yet".into())),
        })
    }

    /// The current state.
    pub fn state(&self) -> StapleState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether a staple that is valid now is being served.
    pub fn has_valid_staple(&self) -> bool {
        matches!(self.state(), StapleState::Valid { valid_until, .. } if valid_until > now_secs())
    }

    /// Startup: use the disk cache if it still verifies, else ask the responder.
    pub async fn initialize(self: &Arc<Self>) {
        if let Some(cached) = self.read_cache() {
            match self.accept(&cached, "disk cache") {
                Ok(()) => {
                    tracing::info!(
                        cert = self.certificate.label(),
                        "stapling the cached OCSP response"
                    );
                    if self.remaining() > self.config.refresh_before {
                        return;
                    }
                }
                Err(why) => tracing::info!(
                    cert = self.certificate.label(),
                    "cached OCSP response unusable: {why}"
                ),
            }
        }
        let _ = self.refresh().await;
    }

    /// Fetches, verifies and installs a fresh response. On failure a still-valid staple is
    /// kept; otherwise the failure policy applies.
    pub async fn refresh(self: &Arc<Self>) -> Result<(), String> {
        let this = Arc::clone(self);
        let fetched = tokio::task::spawn_blocking(move || this.fetch())
            .await
            .map_err(|e| format!("fetch task: {e}"))
            .and_then(|result| result);
        let outcome =
            fetched.and_then(|response| self.accept(&response, "responder").map(|()| response));
        match outcome {
            Ok(response) => {
                self.write_cache(&response);
                tracing::info!(cert = self.certificate.label(), "OCSP staple refreshed");
                Ok(())
            }
            Err(why) => {
                if !self.has_valid_staple() {
                    self.install_missing(&why);
                } else {
                    tracing::warn!(
                        cert = self.certificate.label(),
                        "OCSP refresh failed, keeping the current staple: {why}"
                    );
                }
                Err(why)
            }
        }
    }

    /// Runs forever: wakes at the earliest of the next check interval, the refresh time
    /// (`refresh_before` ahead of nextUpdate) and nextUpdate itself, and refreshes when less
    /// than `refresh_before` remains or no valid staple exists; a refresh that fails once the
    /// staple has run out applies the failure policy.
    pub fn spawn_refresh(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(this.next_wake()).await;
                if !this.has_valid_staple() || this.remaining() <= this.config.refresh_before {
                    let _ = this.refresh().await;
                }
            }
        })
    }

    /// How long the background task sleeps: until the next check, the refresh time or
    /// nextUpdate, whichever comes first.
    fn next_wake(&self) -> Duration {
        let mut wake = self.config.check_interval;
        if let StapleState::Valid { valid_until, .. } = self.state() {
            let expiry = UNIX_EPOCH + Duration::from_secs(valid_until);
            let refresh_at = expiry
                .checked_sub(self.config.refresh_before)
                .unwrap_or(UNIX_EPOCH);
            let now = SystemTime::now();
            for moment in [refresh_at, expiry] {
                if let Ok(left) = moment.duration_since(now) {
                    if !left.is_zero() {
                        wake = wake.min(left);
                    }
                }
            }
        }
        // A zero check interval must not spin.
        wake.max(Duration::from_millis(10))
    }

    /// The staple's validity left, to the nanosecond (so that waking at the refresh time
    /// always finds it due).
    fn remaining(&self) -> Duration {
        match self.state() {
            StapleState::Valid { valid_until, .. } => (UNIX_EPOCH
                + Duration::from_secs(valid_until))
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
            _ => Duration::ZERO,
        }
    }

    fn fetch(&self) -> Result<Vec<u8>, String> {
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| "the certificate names no OCSP responder".to_string())?;
        self.checker
            .fetch_ocsp_response(url, &self.end_entity, &self.issuer)
            .map_err(|e| e.to_string())
    }

    /// Verifies `response` as a client would and installs it (or acts on a revocation).
    fn accept(&self, response: &[u8], source: &'static str) -> Result<(), String> {
        let now = UnixTime::since_unix_epoch(Duration::from_secs(now_secs()));
        let summary = self
            .checker
            .check_ocsp_response(response, &self.end_entity, &self.issuer, now)
            .map_err(|e| e.to_string())?;
        if summary.revoked {
            tracing::error!(
                cert = self.certificate.label(),
                "the OCSP responder says this certificate is REVOKED"
            );
            *self.state.lock().unwrap_or_else(|p| p.into_inner()) = StapleState::Revoked;
            if self.config.stop_serving_revoked {
                self.certificate.set_enabled(false);
                tracing::error!(
                    cert = self.certificate.label(),
                    "stopped serving the revoked certificate"
                );
            }
            self.certificate.set_staple(None);
            return Err("certificate revoked".into());
        }
        if !summary.known {
            return Err("the responder does not know the certificate".into());
        }
        // The checker tolerates clock skew past nextUpdate, as a client would; serving such
        // a response would only hand clients a staple that some of them refuse.
        if summary.valid_until.as_secs() <= now_secs() {
            return Err("the response is past its nextUpdate".into());
        }
        self.certificate
            .set_staple_until(response.to_vec(), summary.valid_until.as_secs());
        self.certificate.set_enabled(true);
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = StapleState::Valid {
            response: response.to_vec(),
            valid_until: summary.valid_until.as_secs(),
            source,
        };
        Ok(())
    }

    fn install_missing(&self, why: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // A revoked certificate has no valid staple either: keep saying revoked, but apply
        // the failure policy all the same (hard-fail must not serve it unstapled).
        if *state != StapleState::Revoked {
            *state = StapleState::Missing(why.to_string());
        }
        drop(state);
        self.certificate.set_staple(None);
        match self.config.on_failure {
            StapleFailurePolicy::SoftFail => {
                tracing::warn!(
                    cert = self.certificate.label(),
                    "serving without an OCSP staple: {why}"
                )
            }
            StapleFailurePolicy::HardFail => {
                self.certificate.set_enabled(false);
                tracing::error!(
                    cert = self.certificate.label(),
                    "no valid OCSP staple, refusing handshakes (hard-fail): {why}"
                );
            }
        }
    }

    fn cache_path(&self) -> Option<PathBuf> {
        let dir = self.config.cache_dir.as_ref()?;
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.end_entity.as_ref());
        let name: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(dir.join(format!("{name}.ocsp.der")))
    }

    fn read_cache(&self) -> Option<Vec<u8>> {
        std::fs::read(self.cache_path()?).ok()
    }

    fn write_cache(&self, response: &[u8]) {
        let Some(path) = self.cache_path() else {
            return;
        };
        // Write then rename, so a crash never leaves half a response behind.
        let temporary = path.with_extension("tmp");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&temporary, response))
            .and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(e) = written {
            tracing::warn!(
                cert = self.certificate.label(),
                "cannot cache the OCSP response at {}: {e}",
                path.display()
            );
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
