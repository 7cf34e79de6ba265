//! Building rustls configurations from PEM files, a preset and a backend.

use std::path::Path;
use std::sync::{Arc, Mutex};

use qtls_provider::{Backend, CodePoints, KeyPair, Preset, ProviderBuilder};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::Error;

/// What a TLS endpoint is built from: policy, backend and code points.
#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    /// The preset (groups, suites, versions, accepted signatures).
    pub preset: Preset,
    /// The backend for ML-KEM and ML-DSA.
    pub backend: Backend,
    /// Provisional code points.
    pub code_points: CodePoints,
    /// Groups by OpenSSL name, replacing the preset's (in preference order).
    pub groups: Vec<String>,
    /// Cipher suites by rustls name (`TLS13_AES_128_GCM_SHA256`), replacing the preset's
    /// (in preference order); empty: the preset's.
    pub cipher_suites: Vec<String>,
}

impl TlsSettings {
    /// The provider these settings describe.
    pub fn provider(&self) -> Result<Arc<CryptoProvider>, Error> {
        let mut builder = ProviderBuilder::new()
            .preset(self.preset)
            .backend(self.backend)
            .code_points(self.code_points);
        if !self.groups.is_empty() {
            let groups = self
                .groups
                .iter()
                .map(|name| group_by_name(name, self.backend, &self.code_points))
                .collect::<Result<Vec<_>, _>>()?;
            builder = builder.kx_groups(groups);
        }
        let mut provider = builder.build()?;
        if !self.cipher_suites.is_empty() {
            provider.cipher_suites = self
                .cipher_suites
                .iter()
                .map(|name| cipher_suite_by_name(name))
                .collect::<Result<Vec<_>, _>>()?;
        }
        Ok(Arc::new(provider))
    }
}

fn cipher_suite_by_name(name: &str) -> Result<rustls::SupportedCipherSuite, Error> {
    rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES
        .iter()
        .copied()
        .find(|suite| format!("{:?}", suite.suite()).eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::Config(format!("unknown cipher suite {name:?}")))
}

fn group_by_name(
    name: &str,
    backend: Backend,
    code_points: &CodePoints,
) -> Result<&'static dyn SupportedKxGroup, Error> {
    if name.eq_ignore_ascii_case("X25519MLKEM1024") {
        return Ok(qtls_provider::x25519_mlkem1024_with_code_point(
            code_points.x25519_mlkem1024,
            backend,
        )?);
    }
    Ok(qtls_provider::group_by_name(name, backend)?)
}

/// Reads every certificate in a PEM file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::Pem {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(Error::Pem {
            path: path.to_path_buf(),
            why: "no CERTIFICATE blocks".into(),
        });
    }
    Ok(certs)
}

/// Reads trust anchors from a PEM file.
pub fn read_roots(path: &Path) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(path)? {
        roots.add(cert).map_err(|e| Error::Pem {
            path: path.to_path_buf(),
            why: format!("not a usable trust anchor: {e}"),
        })?;
    }
    Ok(roots)
}

/// A certificate chain with its private key, and the TLS 1.3 scheme the key signs with.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The rustls certified key.
    pub certified_key: Arc<CertifiedKey>,
    /// The scheme the key signs with (`None` for keys rustls loads itself, such as RSA).
    pub scheme: Option<SignatureScheme>,
}

impl Identity {
    /// The same key with its leaf certificate alone, for peers that hold the intermediates
    /// themselves ([RFC 8446 §4.4.2](https://www.rfc-editor.org/rfc/rfc8446#section-4.4.2)
    /// lets a sender omit certificates the peer is known to have).
    pub fn without_intermediates(&self) -> Self {
        let mut certified = CertifiedKey::clone(&self.certified_key);
        certified.cert.truncate(1);
        Self {
            certified_key: Arc::new(certified),
            scheme: self.scheme,
        }
    }

    /// Loads a chain (leaf first) and its private key from PEM files.
    pub fn from_pem_files(
        chain: &Path,
        key: &Path,
        provider: &CryptoProvider,
        settings: &TlsSettings,
    ) -> Result<Self, Error> {
        let chain_path = chain;
        let chain = read_certificates(chain)?;
        let key_pem =
            zeroize::Zeroizing::new(std::fs::read(key).map_err(|source| Error::File {
                path: key.to_path_buf(),
                source,
            })?);
        let key_der = private_key_from_pem(&key_pem, key)?;
        let pair = KeyPair::from_der(&key_der, settings.backend).ok();
        if let Some(qtls_provider::KeyAlgorithm::Composite(alg)) =
            pair.as_ref().map(|p| p.algorithm())
        {
            if !alg.tls_certificate_verify() {
                // It would load, then fail every handshake with no scheme in common.
                return Err(Error::Provider(
                    qtls_provider::Error::NotForCertificateVerify {
                        algorithm: alg.name(),
                        instead: alg.certificate_verify_counterpart().name(),
                    },
                ));
            }
        }
        let scheme = pair.map(|pair| settings.code_points.scheme_for(pair.algorithm()));
        let key_algorithm = qtls_provider::private_key_algorithm_name(&key_der);
        let signing_key = provider.key_provider.load_private_key(key_der)?;
        let certified_key = CertifiedKey::new(chain, signing_key);
        certified_key.keys_match().or_else(|e| match e {
            // rustls cannot compare keys whose SPKI it cannot produce; ours always can.
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown) => Ok(()),
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => Err(
                key_mismatch(&certified_key, chain_path, key, &key_algorithm),
            ),
            other => Err(other.into()),
        })?;
        Ok(Self {
            certified_key: Arc::new(certified_key),
            scheme,
        })
    }
}

/// The one private key of a PEM key file, with errors that say what to do about an encrypted
/// key or a second key.
fn private_key_from_pem(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    qtls_provider::private_key_der_from_pem(pem).map_err(|e| Error::Pem {
        path: path.to_path_buf(),
        why: match e {
            qtls_provider::Error::EncryptedPrivateKey => format!(
                "an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY) needs a passphrase, and qtls \
                 server and client take none: decrypt it (`openssl pkey -in {0} -out \
                 PLAIN.key`, then chmod 600 PLAIN.key) or keep the key in a PKCS#11 token \
                 (--hsm-*); only the CA keys of `qtls pki` commands stay encrypted \
                 (--passphrase-file or QTLS_CA_PASSPHRASE)",
                path.display()
            ),
            qtls_provider::Error::SeveralPrivateKeys(count) => format!(
                "{count} private keys in the file: give exactly one, the key of the \
                 certificate (which of several was meant would be a guess)"
            ),
            other => other.to_string(),
        },
    })
}

/// Says which algorithms disagree when a key does not fit its certificate.
fn key_mismatch(certified: &CertifiedKey, chain: &Path, key: &Path, key_algorithm: &str) -> Error {
    use der::{Decode, Encode};
    let leaf = certified
        .cert
        .first()
        .and_then(|der| x509_cert::Certificate::from_der(der.as_ref()).ok());
    let (subject, cert_algorithm) = match &leaf {
        Some(leaf) => (
            leaf.tbs_certificate.subject.to_string(),
            leaf.tbs_certificate
                .subject_public_key_info
                .to_der()
                .map(|spki| qtls_provider::public_key_algorithm_name(&spki))
                .unwrap_or_else(|e| format!("an unencodable key ({e})")),
        ),
        None => ("an unreadable certificate".into(), "unknown".into()),
    };
    let what = if cert_algorithm == key_algorithm {
        format!("both are {key_algorithm}, but it is another key: is it the key of another certificate?")
    } else {
        format!("the certificate's key is {cert_algorithm}, the private key is {key_algorithm}")
    };
    Error::Config(format!(
        "the private key in {} does not match the certificate {subject} in {}: {what}",
        key.display(),
        chain.display()
    ))
}

/// A server configuration presenting what `resolver` picks, verifying clients with
/// `client_verifier` when given.
pub fn server_config(
    settings: &TlsSettings,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    client_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Result<rustls::ServerConfig, Error> {
    let provider = settings.provider()?;
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(settings.preset.protocol_versions())?;
    let builder = match client_verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    Ok(builder.with_cert_resolver(resolver))
}

/// What a client learnt about the server during the handshake that rustls does not report:
/// the CertificateVerify scheme and the stapled OCSP status.
#[derive(Debug, Default)]
pub struct HandshakeRecord {
    scheme: Mutex<Option<SignatureScheme>>,
    ocsp_status: Mutex<Option<String>>,
}

impl HandshakeRecord {
    /// The scheme the server signed CertificateVerify with.
    pub fn scheme(&self) -> Option<SignatureScheme> {
        *self.scheme.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `good`, `unknown`, `revoked` (never seen: the handshake fails) or `none` (no staple).
    pub fn ocsp_status(&self) -> Option<String> {
        self.ocsp_status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Alias kept for callers of the first release.
pub type SchemeRecord = Arc<HandshakeRecord>;

/// A client configuration that verifies the server against `roots` with qtls-verifier (a
/// stapled OCSP response is checked; no online revocation requests), and the record of
/// what the server presented.
pub fn client_config(
    settings: &TlsSettings,
    roots: Vec<CertificateDer<'static>>,
    identity: Option<&Identity>,
) -> Result<(rustls::ClientConfig, SchemeRecord), Error> {
    client_config_with_intermediates(settings, roots, Vec::new(), identity)
}

/// As [`client_config`], with intermediate CA certificates known beforehand: path building
/// uses them when the server does not send its own
/// ([`qtls_verifier::VerifierBuilder::intermediates`]), so servers of a provisioned fleet may
/// send their leaf alone and fit their first flight in one initial congestion window.
pub fn client_config_with_intermediates(
    settings: &TlsSettings,
    roots: Vec<CertificateDer<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    identity: Option<&Identity>,
) -> Result<(rustls::ClientConfig, SchemeRecord), Error> {
    let provider = settings.provider()?;
    let inner = qtls_verifier::ServerVerifierBuilder::new(roots, &provider)
        .intermediates(intermediates)
        // Off still checks a stapled response (and honours must-staple); it only skips
        // fetching anything.
        .revocation_policy(qtls_verifier::RevocationPolicy::Off)
        .online_ocsp(false)
        .fetch_crls(false)
        .build()
        .map_err(|e| Error::Config(format!("server verifier: {e}")))?;
    let record = SchemeRecord::default();
    let verifier = Arc::new(RecordingVerifier {
        inner,
        record: Arc::clone(&record),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(settings.preset.protocol_versions())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        Some(identity) => builder.with_client_cert_resolver(Arc::new(SingleCertificate(
            Arc::clone(&identity.certified_key),
        ))),
        None => builder.with_no_client_auth(),
    };
    Ok((config, record))
}

/// qtls-verifier's server verifier, plus notes of what rustls does not report.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<qtls_verifier::QtlsServerVerifier>,
    record: SchemeRecord,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let status = crate::client::staple_status(ocsp_response, end_entity);
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let status = match &verified {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)) => "revoked",
            Err(_) if !ocsp_response.is_empty() => "invalid",
            _ => status,
        };
        *self
            .record
            .ocsp_status
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(status.to_string());
        verified
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.note(dss.scheme);
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.note(dss.scheme);
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl RecordingVerifier {
    fn note(&self, scheme: SignatureScheme) {
        *self.record.scheme.lock().unwrap_or_else(|p| p.into_inner()) = Some(scheme);
    }
}

/// One X.509 chain and key, the client's.
#[derive(Debug)]
struct SingleCertificate(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for SingleCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}
