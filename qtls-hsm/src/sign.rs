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
/// | composite with an ECDSA P-256/P-384/P-521 half, e.g. MLDSA65-ECDSA-P384-SHA512 | per [`CodePoints`] (0x0908 for that one) | CKM_ML_DSA with the composite label as context over M'; CKM_ECDSA over the curve's hash of M' |
/// | composite with an RSASSA-PSS half, e.g. MLDSA65-RSA4096-PSS-SHA512 | per [`CodePoints`] (0xFF2B) | CKM_ML_DSA as above; CKM_RSA_PKCS_PSS over SHA-256/384(M'), MGF1 with that hash, salt as long as it |
/// | composite with an RSASSA-PKCS1-v1_5 half | none: X.509 only, never a CertificateVerify ([draft-reddy-tls-composite-mldsa-10 §3](https://datatracker.ietf.org/doc/html/draft-reddy-tls-composite-mldsa-10#section-3)) | CKM_ML_DSA as above; CKM_RSA_PKCS over the DigestInfo of SHA-256/384(M') |
/// | composite with an Ed25519 or Ed448 half | per [`CodePoints`] | CKM_ML_DSA as above; CKM_EDDSA over M' (pure Ed25519, Ed448 with an empty context) |
///
/// Composite signatures are assembled exactly as
/// [draft-ietf-lamps-pq-composite-sigs-19 §3.2](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-3.2)
/// says (M' computed here, `mldsaSig ‖ tradSig`), so they verify with the provider's
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
    /// an empty context, ECDSA over the curve's hash (DER). Every key signs here, the X.509-only
    /// RSASSA-PKCS1-v1_5 composites too (e.g. certificates or CRLs of a CA in a token).
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
        // A composite with RSASSA-PKCS1-v1_5 never signs a CertificateVerify, even if a peer
        // offers its code point (draft-reddy-tls-composite-mldsa-10 §3); it signs X.509 only.
        if let KeyAlgorithm::Composite(alg) = self.public.algorithm() {
            if !alg.tls_certificate_verify() {
                return None;
            }
        }
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
