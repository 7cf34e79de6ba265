//! rustls signing keys over [`KeyPair`].

use std::sync::Arc;

use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::{PrivateKeyDer, SubjectPublicKeyInfoDer};

use crate::backend::Backend;
use crate::code_points::CodePoints;
use crate::error::Error;
use crate::keys::{KeyAlgorithm, KeyPair};

/// A rustls [`SigningKey`] for a [`KeyPair`]: one key, one TLS 1.3 signature scheme.
#[derive(Debug, Clone)]
pub struct QtlsSigningKey {
    key: Arc<KeyPair>,
    scheme: SignatureScheme,
}

impl QtlsSigningKey {
    /// Wraps `key`, signing under the scheme `code_points` assign to its algorithm.
    pub fn new(key: Arc<KeyPair>, code_points: &CodePoints) -> Self {
        let scheme = code_points.scheme_for(key.algorithm());
        Self { key, scheme }
    }

    /// The scheme this key signs with.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    /// The key pair.
    pub fn key_pair(&self) -> &Arc<KeyPair> {
        &self.key
    }
}

impl SigningKey for QtlsSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        // A composite with RSASSA-PKCS1-v1_5 never signs a CertificateVerify, even if a peer
        // offers its code point (draft-reddy-tls-composite-mldsa-10 §3).
        if let KeyAlgorithm::Composite(alg) = self.key.algorithm() {
            if !alg.tls_certificate_verify() {
                return None;
            }
        }
        offered.contains(&self.scheme).then(|| {
            Box::new(QtlsSigner {
                key: Arc::clone(&self.key),
                scheme: self.scheme,
            }) as Box<dyn Signer>
        })
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(
            self.key.subject_public_key_info_der(),
        ))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.key.algorithm() {
            KeyAlgorithm::Ecdsa(_) => SignatureAlgorithm::ECDSA,
            // ML-DSA and composite have no TLS 1.2 SignatureAlgorithm.
            _ => SignatureAlgorithm::Unknown(0),
        }
    }
}

#[derive(Debug)]
struct QtlsSigner {
    key: Arc<KeyPair>,
    scheme: SignatureScheme,
}

impl Signer for QtlsSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        Ok(self.key.sign(message)?)
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// rustls's [`rustls::crypto::KeyProvider`] for every key type Q-TLS knows, falling back to
/// rustls's own aws-lc-rs loader for RSA and Ed25519.
#[derive(Debug)]
pub(crate) struct QtlsKeyProvider {
    pub(crate) backend: Backend,
    pub(crate) code_points: CodePoints,
}

impl rustls::crypto::KeyProvider for QtlsKeyProvider {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        match KeyPair::from_der(&key_der, self.backend) {
            Ok(key) => Ok(Arc::new(QtlsSigningKey::new(
                Arc::new(key),
                &self.code_points,
            ))),
            Err(Error::UnsupportedAlgorithm(_)) => {
                rustls::crypto::aws_lc_rs::sign::any_supported_type(&key_der)
            }
            Err(e) => Err(e.into()),
        }
    }
}
