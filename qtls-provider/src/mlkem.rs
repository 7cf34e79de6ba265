//! ML-KEM (FIPS 203) on either backend, and the pure ML-KEM key-exchange groups
//! (draft-ietf-tls-mlkem).

use aws_lc_rs::kem;
use rustls::crypto::aws_lc_rs::kx_group as rustls_kx;
use rustls::crypto::{ActiveKeyExchange, CompletedKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{NamedGroup, ProtocolVersion};
use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::error::Error;

/// An ML-KEM parameter set (FIPS 203 §8, Table 2-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MlKemLevel {
    MlKem768,
    MlKem1024,
}

impl MlKemLevel {
    /// Module rank k.
    const fn k(self) -> usize {
        match self {
            Self::MlKem768 => 3,
            Self::MlKem1024 => 4,
        }
    }

    /// Encapsulation key size: 384·k + 32 (FIPS 203 Table 3).
    pub(crate) const fn encapsulation_key_len(self) -> usize {
        384 * self.k() + 32
    }

    /// Ciphertext size: 32·(du·k + dv) (FIPS 203 Table 3).
    pub(crate) const fn ciphertext_len(self) -> usize {
        match self {
            Self::MlKem768 => 1088,
            Self::MlKem1024 => 1568,
        }
    }

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::MlKem768 => "MLKEM768",
            Self::MlKem1024 => "MLKEM1024",
        }
    }

    fn aws_lc(self) -> &'static kem::Algorithm<kem::AlgorithmId> {
        match self {
            Self::MlKem768 => &kem::ML_KEM_768,
            Self::MlKem1024 => &kem::ML_KEM_1024,
        }
    }

    #[cfg(feature = "oqs")]
    fn oqs(self) -> oqs::kem::Algorithm {
        match self {
            Self::MlKem768 => oqs::kem::Algorithm::MlKem768,
            Self::MlKem1024 => oqs::kem::Algorithm::MlKem1024,
        }
    }
}

/// FIPS 203 §7.2 "modulus check": every 12-bit coefficient of the encoded t̂ must be
/// below q = 3329, i.e. ByteEncode12(ByteDecode12(ek)) == ek. Done here for every backend
/// so that both reject exactly the same peer input.
pub(crate) fn check_encapsulation_key(level: MlKemLevel, ek: &[u8]) -> Result<(), Error> {
    const Q: u16 = 3329;
    if ek.len() != level.encapsulation_key_len() {
        return Err(Error::KeyShareLength {
            group: level.name(),
            expected: level.encapsulation_key_len(),
            actual: ek.len(),
        });
    }
    let t_hat = &ek[..384 * level.k()];
    let in_range = t_hat.chunks_exact(3).all(|b| {
        let (b0, b1, b2) = (u16::from(b[0]), u16::from(b[1]), u16::from(b[2]));
        let d1 = b0 | ((b1 & 0x0f) << 8);
        let d2 = (b1 >> 4) | (b2 << 4);
        d1 < Q && d2 < Q
    });
    if in_range {
        Ok(())
    } else {
        Err(Error::InvalidKeyShare(
            "ML-KEM encapsulation key fails the modulus check",
        ))
    }
}

/// The decapsulating side of one ML-KEM exchange (the TLS client).
pub(crate) struct DecapsulationKey {
    level: MlKemLevel,
    encapsulation_key: Vec<u8>,
    inner: DecapsulationKeyInner,
}

enum DecapsulationKeyInner {
    AwsLc(kem::DecapsulationKey<kem::AlgorithmId>),
    #[cfg(feature = "oqs")]
    Oqs(oqs::kem::Kem, oqs::kem::SecretKey),
}

impl DecapsulationKey {
    /// ML-KEM.KeyGen (FIPS 203 Alg. 19) with fresh randomness.
    pub(crate) fn generate(level: MlKemLevel, backend: Backend) -> Result<Self, Error> {
        match backend.ensure_available()? {
            Backend::AwsLc => {
                let dk = kem::DecapsulationKey::generate(level.aws_lc())
                    .map_err(|_| Error::Backend("ML-KEM key generation"))?;
                let ek = dk
                    .encapsulation_key()
                    .and_then(|ek| ek.key_bytes())
                    .map_err(|_| Error::Backend("ML-KEM encapsulation key export"))?;
                Ok(Self {
                    level,
                    encapsulation_key: ek.as_ref().to_vec(),
                    inner: DecapsulationKeyInner::AwsLc(dk),
                })
            }
            #[cfg(feature = "oqs")]
            Backend::Oqs => {
                let kem = oqs_kem(level)?;
                let (ek, dk) = kem
                    .keypair()
                    .map_err(|_| Error::Backend("ML-KEM key generation"))?;
                Ok(Self {
                    level,
                    encapsulation_key: ek.into_vec(),
                    inner: DecapsulationKeyInner::Oqs(kem, dk),
                })
            }
            #[allow(unreachable_patterns)]
            _ => Err(Error::BackendUnavailable("oqs")),
        }
    }

    /// From the expanded decapsulation key dk = dk_PKE ‖ ek ‖ H(ek) ‖ z (FIPS 203 Alg. 16),
    /// after the §7.3 input checks (length, and H(ek) matching ek).
    pub(crate) fn from_bytes(
        level: MlKemLevel,
        backend: Backend,
        dk: &[u8],
    ) -> Result<Self, Error> {
        let ek_start = 384 * level.k();
        let ek_end = ek_start + level.encapsulation_key_len();
        let expected = ek_end + 64;
        if dk.len() != expected {
            return Err(Error::InvalidPrivateKey(format!(
                "{} decapsulation key is {} bytes, expected {expected}",
                level.name(),
                dk.len()
            )));
        }
        let encapsulation_key = dk[ek_start..ek_end].to_vec();
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA3_256, &encapsulation_key);
        if hash.as_ref() != &dk[ek_end..ek_end + 32] {
            return Err(Error::InvalidPrivateKey(format!(
                "{} decapsulation key fails the hash check",
                level.name()
            )));
        }
        let inner = match backend.ensure_available()? {
            Backend::AwsLc => DecapsulationKeyInner::AwsLc(
                kem::DecapsulationKey::new(level.aws_lc(), dk)
                    .map_err(|e| Error::InvalidPrivateKey(format!("{}: {e}", level.name())))?,
            ),
            #[cfg(feature = "oqs")]
            Backend::Oqs => {
                let kem = oqs_kem(level)?;
                let sk = kem
                    .secret_key_from_bytes(dk)
                    .ok_or(Error::Backend("liboqs ML-KEM secret key length"))?
                    .to_owned();
                DecapsulationKeyInner::Oqs(kem, sk)
            }
            #[allow(unreachable_patterns)]
            _ => return Err(Error::BackendUnavailable("oqs")),
        };
        Ok(Self {
            level,
            encapsulation_key,
            inner,
        })
    }

    pub(crate) fn encapsulation_key(&self) -> &[u8] {
        &self.encapsulation_key
    }

    /// ML-KEM.Decaps (FIPS 203 Alg. 21). A ciphertext of the wrong length is the peer's
    /// fault (`illegal_parameter`); ML-KEM's implicit rejection means any other ciphertext
    /// yields a (pseudo-random) key, so the handshake then fails at Finished.
    pub(crate) fn decapsulate(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        if ciphertext.len() != self.level.ciphertext_len() {
            return Err(Error::KeyShareLength {
                group: self.level.name(),
                expected: self.level.ciphertext_len(),
                actual: ciphertext.len(),
            });
        }
        match &self.inner {
            DecapsulationKeyInner::AwsLc(dk) => dk
                .decapsulate(ciphertext.into())
                .map(|ss| Zeroizing::new(ss.as_ref().to_vec()))
                .map_err(|_| Error::Backend("ML-KEM decapsulation")),
            #[cfg(feature = "oqs")]
            DecapsulationKeyInner::Oqs(kem, dk) => {
                let ct = kem
                    .ciphertext_from_bytes(ciphertext)
                    .ok_or(Error::Backend("ML-KEM ciphertext"))?;
                kem.decapsulate(dk, ct)
                    .map(|ss| Zeroizing::new(ss.into_vec()))
                    .map_err(|_| Error::Backend("ML-KEM decapsulation"))
            }
        }
    }
}

/// ML-KEM.Encaps (FIPS 203 Alg. 20) to the peer's encapsulation key, after the §7.1 input
/// checks. Returns (ciphertext, shared secret).
pub(crate) fn encapsulate(
    level: MlKemLevel,
    backend: Backend,
    encapsulation_key: &[u8],
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), Error> {
    check_encapsulation_key(level, encapsulation_key)?;
    match backend.ensure_available()? {
        Backend::AwsLc => {
            let ek = kem::EncapsulationKey::new(level.aws_lc(), encapsulation_key)
                .map_err(|_| Error::InvalidKeyShare("ML-KEM encapsulation key rejected"))?;
            let (ct, ss) = ek
                .encapsulate()
                .map_err(|_| Error::Backend("ML-KEM encapsulation"))?;
            Ok((ct.as_ref().to_vec(), Zeroizing::new(ss.as_ref().to_vec())))
        }
        #[cfg(feature = "oqs")]
        Backend::Oqs => {
            let kem = oqs_kem(level)?;
            let ek = kem
                .public_key_from_bytes(encapsulation_key)
                .ok_or(Error::InvalidKeyShare("ML-KEM encapsulation key length"))?;
            let (ct, ss) = kem
                .encapsulate(ek)
                .map_err(|_| Error::InvalidKeyShare("ML-KEM encapsulation key rejected"))?;
            Ok((ct.into_vec(), Zeroizing::new(ss.into_vec())))
        }
        #[allow(unreachable_patterns)]
        _ => Err(Error::BackendUnavailable("oqs")),
    }
}

/// ML-KEM.KeyGen_internal(d, z) through liboqs: returns the expanded decapsulation key.
#[cfg(feature = "oqs")]
pub(crate) fn expand_seed(level: MlKemLevel, seed: &[u8]) -> Result<Vec<u8>, Error> {
    let kem = oqs_kem(level)?;
    let seed = kem.keypair_seed_from_bytes(seed).ok_or_else(|| {
        Error::InvalidPrivateKey(format!("{} seed must be 64 bytes", level.name()))
    })?;
    let (_, dk) = kem
        .keypair_derand(seed)
        .map_err(|_| Error::Backend("ML-KEM derandomised key generation"))?;
    Ok(dk.into_vec())
}

#[cfg(feature = "oqs")]
fn oqs_kem(level: MlKemLevel) -> Result<oqs::kem::Kem, Error> {
    oqs::init();
    oqs::kem::Kem::new(level.oqs()).map_err(|_| Error::Backend("liboqs ML-KEM unavailable"))
}

/// A pure ML-KEM key-exchange group (draft-ietf-tls-mlkem): the client's key share is the
/// encapsulation key, the server's is the ciphertext, the shared secret is K.
#[derive(Debug)]
pub(crate) struct MlKemGroup {
    pub(crate) level: MlKemLevel,
    pub(crate) backend: Backend,
    pub(crate) name: NamedGroup,
}

impl SupportedKxGroup for MlKemGroup {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        Ok(Box::new(ActiveMlKem {
            key: DecapsulationKey::generate(self.level, self.backend)?,
            name: self.name,
        }))
    }

    fn start_and_complete(
        &self,
        client_share: &[u8],
    ) -> Result<CompletedKeyExchange, rustls::Error> {
        let (ciphertext, secret) = encapsulate(self.level, self.backend, client_share)?;
        Ok(CompletedKeyExchange {
            group: self.name,
            pub_key: ciphertext,
            secret: SharedSecret::from(secret.as_slice()),
        })
    }

    fn ffdhe_group(&self) -> Option<rustls::ffdhe_groups::FfdheGroup<'static>> {
        None
    }

    fn name(&self) -> NamedGroup {
        self.name
    }

    /// On aws-lc-rs, what rustls says of its own ML-KEM group (aws-lc-rs in FIPS mode);
    /// liboqs is not a FIPS module.
    fn fips(&self) -> bool {
        match (self.backend, self.level) {
            (Backend::AwsLc, MlKemLevel::MlKem768) => rustls_kx::MLKEM768.fips(),
            (Backend::AwsLc, MlKemLevel::MlKem1024) => rustls_kx::MLKEM1024.fips(),
            _ => false,
        }
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::TLSv1_3
    }
}

/// ML-KEM-1024 on aws-lc-rs with the FIPS 203 §7.2 check done here, the post-quantum part
/// of this crate's hybrids on aws-lc-rs (so both backends refuse exactly the same shares).
pub(crate) static MLKEM1024_AWS_LC: &dyn SupportedKxGroup = &MlKemGroup {
    level: MlKemLevel::MlKem1024,
    backend: Backend::AwsLc,
    name: NamedGroup::MLKEM1024,
};

struct ActiveMlKem {
    key: DecapsulationKey,
    name: NamedGroup,
}

impl ActiveKeyExchange for ActiveMlKem {
    fn complete(self: Box<Self>, ciphertext: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let secret = self.key.decapsulate(ciphertext)?;
        Ok(SharedSecret::from(secret.as_slice()))
    }

    fn pub_key(&self) -> &[u8] {
        self.key.encapsulation_key()
    }

    fn ffdhe_group(&self) -> Option<rustls::ffdhe_groups::FfdheGroup<'static>> {
        None
    }

    fn group(&self) -> NamedGroup {
        self.name
    }
}
