//! Serving with a key in PKCS#11 tokens ([`qtls_hsm`]): the server's settings for it, and the
//! async edge.
//!
//! # Threads
//!
//! rustls calls the signing key (CertificateVerify) and the ticketer synchronously from
//! inside the handshake, and a token may take milliseconds, or hang until the operation
//! timeout. So when a server's key or ticketer is in a token, the acceptor processes the
//! handshake's records (the ClientHello, and each flight after it) inside
//! [`tokio::task::block_in_place`]: the worker thread first hands its other tasks to a fresh
//! worker, so the runtime's workers never wait for a token. Waiting for the client's next
//! flight holds no thread, and at most `QtlsAcceptor::with_max_offloaded_handshakes`
//! handshakes are processed this way at once. The PKCS#11 calls themselves run on
//! `qtls-hsm`'s own threads (one per pooled session), which bound every call by the
//! operation timeout. On a current-thread runtime (where `block_in_place` is not available)
//! the handshake runs inline.
//!
//! When the token fails while signing, rustls itself sends no alert; the acceptor answers
//! the ClientHello with a plaintext `internal_error` alert instead (nothing else has reached
//! the client yet) and the next handshakes go to the backup token.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use qtls_hsm::{Hsm, HsmSigningKey, HsmTicketer, KeyRef, Pin, TokenConfig, PIN_ENV_VAR};
use qtls_provider::CodePoints;
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

use crate::error::Error;
use crate::tls::{read_certificates, Identity};

/// One token: its module, label and PIN file (the PIN is read from the file when given, else
/// from the `QTLS_HSM_PIN` environment variable; never from a command line).
#[derive(Clone, Debug)]
pub struct HsmToken {
    /// The PKCS#11 module (`.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// A file holding the user PIN.
    pub pin_file: Option<PathBuf>,
}

impl HsmToken {
    fn config(&self, settings: &HsmSettings) -> Result<TokenConfig, Error> {
        if let Some(path) = &self.pin_file {
            crate::sessions::check_private_file(path, "PIN")?;
        }
        let pin = Pin::from_file_or_env(self.pin_file.as_deref(), PIN_ENV_VAR)?;
        Ok(TokenConfig::builder(&self.module)
            .token_label(&self.token)
            .pin(pin)
            .sessions(settings.sessions)
            .op_timeout(settings.op_timeout)
            .build()?)
    }
}

/// A server certificate whose private key is in a token, with an optional backup token.
#[derive(Clone, Debug)]
pub struct HsmSettings {
    /// The certificate chain (PEM, leaf first) for the key.
    pub chain: PathBuf,
    /// The key's label (CKA_LABEL) in the tokens.
    pub key: String,
    /// The token used while it is healthy.
    pub primary: HsmToken,
    /// A token holding the same key, used while the primary is down.
    pub backup: Option<HsmToken>,
    /// Logged-in sessions per token: how many handshakes sign at once.
    pub sessions: usize,
    /// How long one token operation may take before the token counts as failed.
    pub op_timeout: Duration,
    /// How often a failed token is probed.
    pub probe_interval: Duration,
    /// Session tickets encrypted by AES-256-GCM keys in the token, rotated this often
    /// (`None`: no tickets from the token; rustls's stateful resumption only).
    pub ticket_rotation: Option<Duration>,
    /// Serve a key whose private key objects can leave the token (CKA_EXTRACTABLE true or
    /// CKA_SENSITIVE false) instead of refusing it. Dangerous: anyone with the PIN can copy
    /// such a key out ([`qtls_hsm::HsmBuilder::danger_allow_exportable_keys`]).
    pub danger_allow_exportable_keys: bool,
}

impl HsmSettings {
    /// Settings with the defaults: 4 sessions, 5 s operation timeout, 1 s probe interval,
    /// tickets from the token rotated every 24 h.
    pub fn new(chain: PathBuf, key: impl Into<String>, primary: HsmToken) -> Self {
        Self {
            chain,
            key: key.into(),
            primary,
            backup: None,
            sessions: TokenConfig::DEFAULT_SESSIONS,
            op_timeout: TokenConfig::DEFAULT_OP_TIMEOUT,
            probe_interval: qtls_hsm::HsmBuilder::DEFAULT_PROBE_INTERVAL,
            ticket_rotation: Some(HsmTicketer::DEFAULT_ROTATION),
            danger_allow_exportable_keys: false,
        }
    }

    /// Opens the tokens, finds the key and checks it against the chain's leaf. Blocks on the
    /// tokens: call it from a blocking context.
    pub fn open(&self, code_points: &CodePoints) -> Result<HsmServing, Error> {
        let mut builder = Hsm::builder()
            .primary(self.primary.config(self)?)
            .probe_interval(self.probe_interval)
            .danger_allow_exportable_keys(self.danger_allow_exportable_keys);
        if let Some(backup) = &self.backup {
            builder = builder.backup(backup.config(self)?);
        }
        let hsm = builder.build()?;
        let key = hsm.signing_key(&KeyRef::label(&self.key), code_points)?;
        let identity = identity(read_certificates(&self.chain)?, &key)?;
        let ticketer = match self.ticket_rotation {
            Some(period) => Some(HsmTicketer::builder(&hsm).rotation_period(period).build()?),
            None => None,
        };
        Ok(HsmServing {
            hsm,
            key,
            identity,
            ticketer,
        })
    }
}

/// What [`HsmSettings::open`] makes.
#[derive(Debug)]
pub struct HsmServing {
    /// The tokens.
    pub hsm: Hsm,
    /// The signing key.
    pub key: HsmSigningKey,
    /// The chain with the key, ready for rustls.
    pub identity: Identity,
    /// The ticketer, when tickets come from the token.
    pub ticketer: Option<Arc<HsmTicketer>>,
}

/// A chain and a key in a token as an [`Identity`]; fails when the chain's leaf is not the
/// key's, or the key is an RSASSA-PKCS1-v1_5 composite, which signs certificates only
/// ([draft-reddy-tls-composite-mldsa-10 §3](https://datatracker.ietf.org/doc/html/draft-reddy-tls-composite-mldsa-10#section-3)).
pub fn identity(
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: &HsmSigningKey,
) -> Result<Identity, Error> {
    if let qtls_provider::KeyAlgorithm::Composite(alg) = key.public_key().algorithm() {
        if !alg.tls_certificate_verify() {
            // It would serve, then fail every handshake with no scheme in common.
            return Err(Error::Provider(
                qtls_provider::Error::NotForCertificateVerify {
                    algorithm: alg.name(),
                    instead: alg.certificate_verify_counterpart().name(),
                },
            ));
        }
    }
    let scheme = key.scheme();
    let certified = CertifiedKey::new(
        chain,
        Arc::new(ReportingKey(Arc::new(key.clone()) as Arc<dyn SigningKey>)),
    );
    certified.keys_match()?;
    Ok(Identity {
        certified_key: Arc::new(certified),
        scheme: Some(scheme),
    })
}

/// The error a [`ReportingSigner`] returns when our own key failed to sign: it travels
/// through rustls unchanged (as [`rustls::Error::Other`]), so the code driving the handshake
/// can tell that its own key, not the peer, ended it ([`is_signing_failure`]).
#[derive(Debug)]
struct SigningKeyFailed(rustls::Error);

impl core::fmt::Display for SigningKeyFailed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "our signing key failed: {}", self.0)
    }
}

impl std::error::Error for SigningKeyFailed {}

/// Whether `error` (from rustls processing a ClientHello) is our own signing key's failure:
/// rustls sends no alert for a signer error, so the acceptor answers with a plaintext
/// `internal_error` alert itself.
pub(crate) fn is_signing_failure(error: &rustls::Error) -> bool {
    matches!(error, rustls::Error::Other(other) if other.0.downcast_ref::<SigningKeyFailed>().is_some())
}

/// A signing key whose failures are recognisable ([`is_signing_failure`]; rustls sends no
/// alert for a signer error: the handshake just stops).
#[derive(Debug)]
struct ReportingKey(Arc<dyn SigningKey>);

impl SigningKey for ReportingKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        self.0
            .choose_scheme(offered)
            .map(|signer| Box::new(ReportingSigner(signer)) as Box<dyn Signer>)
    }

    fn public_key(&self) -> Option<rustls_pki_types::SubjectPublicKeyInfoDer<'_>> {
        self.0.public_key()
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }
}

#[derive(Debug)]
struct ReportingSigner(Box<dyn Signer>);

impl Signer for ReportingSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.0
            .sign(message)
            .map_err(|e| rustls::Error::Other(rustls::OtherError(Arc::new(SigningKeyFailed(e)))))
    }

    fn scheme(&self) -> SignatureScheme {
        self.0.scheme()
    }
}

impl From<qtls_hsm::Error> for Error {
    fn from(e: qtls_hsm::Error) -> Self {
        Self::Hsm(e)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn signer_failures_are_told_apart_from_other_errors() {
        #[derive(Debug)]
        struct Failing;
        impl Signer for Failing {
            fn sign(&self, _: &[u8]) -> Result<Vec<u8>, rustls::Error> {
                Err(rustls::Error::General("token down".into()))
            }
            fn scheme(&self) -> SignatureScheme {
                SignatureScheme::ML_DSA_65
            }
        }
        let error = ReportingSigner(Box::new(Failing)).sign(b"m").unwrap_err();
        assert!(is_signing_failure(&error));
        assert!(error.to_string().contains("token down"), "{error}");
        assert!(!is_signing_failure(&rustls::Error::General(
            "token down".into()
        )));
        assert!(!is_signing_failure(&rustls::Error::DecryptError));
    }
}
