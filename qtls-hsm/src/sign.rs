//! rustls signing keys whose private keys stay in a token.

use core::fmt;

use qtls_provider::{CodePoints, KeyAlgorithm};
use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

use crate::error::Error;
use crate::hsm::Hsm;
use crate::key::{HsmPublicKey, KeyRef};

/// A rustls [`SigningKey`] whose private key stays in a PKCS#11 token.
///
/// | key | TLS 1.3 scheme | in the token |
/// |---|---|---|
/// | ECDSA P-384 (P-256) | ecdsa_secp384r1_sha384 (…256r1_sha256) | CKM_ECDSA over a SHA-384 (SHA-256) digest computed here |
/// | ML-DSA-44/65/87 | mldsa44/65/87 | CKM_ML_DSA (PKCS#11 3.2), pure, empty context |
/// | composite MLDSA65-ECDSA-P384-SHA512 (and the other four with a P-256, P-384 or P-521 half) | 0x0908 (per [`CodePoints`]) | both halves: CKM_ML_DSA with the composite label as context over M', CKM_ECDSA over SHA-384(M') (SHA-256, SHA-512 for the other curves) |
///
/// Composite signatures are assembled exactly as draft-ietf-lamps-pq-composite-sigs §4.2
/// says (M' computed here, `mldsaSig ‖ DER ecdsaSig`), so they verify with the provider's
/// software verifier. A failed signature fails the handshake with a [`rustls::Error::Other`]
/// holding the [`Error`].
///
/// Signing blocks the calling thread until the token answers (at most the operation timeout):
/// see [`Hsm`] on calling it from async code.
#[derive(Clone)]
pub struct HsmSigningKey {
    hsm: Hsm,
    key: KeyRef,
    public: HsmPublicKey,
    scheme: SignatureScheme,
}

impl HsmSigningKey {
    pub(crate) fn new(
        hsm: Hsm,
        key: KeyRef,
        public: HsmPublicKey,
        code_points: &CodePoints,
    ) -> Self {
        let scheme = code_points.scheme_for(public.algorithm());
        Self {
            hsm,
            key,
            public,
            scheme,
        }
    }

    /// The scheme this key signs with.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    /// The key's public key.
    pub fn public_key(&self) -> &HsmPublicKey {
        &self.public
    }

    /// The key's name.
    pub fn key_ref(&self) -> &KeyRef {
        &self.key
    }

    /// The tokens behind the key.
    pub fn hsm(&self) -> &Hsm {
        &self.hsm
    }

    /// Signs `message` as TLS 1.3 CertificateVerify and X.509 do: ML-DSA and composite with
    /// an empty context, ECDSA over the curve's hash (DER).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.hsm.sign(&self.key, message)
    }
}

impl fmt::Debug for HsmSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HsmSigningKey")
            .field("key", &self.key)
            .field("algorithm", &self.public.algorithm())
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl SigningKey for HsmSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&self.scheme)
            .then(|| Box::new(HsmSigner(self.clone())) as Box<dyn Signer>)
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(
            self.public.subject_public_key_info_der(),
        ))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.public.algorithm() {
            KeyAlgorithm::Ecdsa(_) => SignatureAlgorithm::ECDSA,
            // ML-DSA and composite have no TLS 1.2 SignatureAlgorithm.
            _ => SignatureAlgorithm::Unknown(0),
        }
    }
}

#[derive(Debug)]
struct HsmSigner(HsmSigningKey);

impl Signer for HsmSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.0.sign(message).map_err(|e| {
            tracing::warn!(key = %self.0.key, error = %e, "signing in the token failed");
            rustls::Error::from(e)
        })
    }

    fn scheme(&self) -> SignatureScheme {
        self.0.scheme
    }
}
