use core::fmt;

use crate::error::{Error, NameKind};

/// The library that computes ML-KEM and ML-DSA.
///
/// Classical primitives (ECDH, ECDSA, RSA, Ed25519, AES-GCM, SHA-2, HKDF) always come from
/// aws-lc-rs, and the composite halves aws-lc-rs lacks (brainpool ECDSA, Ed448, SHAKE256)
/// from RustCrypto's `bp256`/`bp384`, `ed448-goldilocks` and `shake`; the backend decides
/// only the post-quantum halves. Both backends produce byte-identical
/// wire formats, so a client on one and a server on the other interoperate; the tests check
/// exactly that.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// aws-lc-rs: the primary backend.
    ///
    /// aws-lc-rs has no API for ML-DSA with a non-empty context string, which composite
    /// ML-DSA needs (its ML-DSA half signs with ctx = the composite label), so that one
    /// operation uses Cryspen's `libcrux-ml-dsa` on this backend.
    #[default]
    AwsLc,
    /// liboqs through the `oqs` crate (cargo feature `oqs`).
    Oqs,
}

impl Backend {
    /// Every backend compiled into this build, primary first.
    pub fn available() -> &'static [Self] {
        #[cfg(feature = "oqs")]
        {
            &[Self::AwsLc, Self::Oqs]
        }
        #[cfg(not(feature = "oqs"))]
        {
            &[Self::AwsLc]
        }
    }

    /// Returns `Ok(self)` when this backend is compiled in.
    pub fn ensure_available(self) -> Result<Self, Error> {
        match self {
            Self::AwsLc => Ok(self),
            #[cfg(feature = "oqs")]
            Self::Oqs => Ok(self),
            #[cfg(not(feature = "oqs"))]
            Self::Oqs => Err(Error::BackendUnavailable("oqs")),
        }
    }

    /// The backend's short name: `aws-lc-rs` or `oqs`.
    pub fn name(self) -> &'static str {
        match self {
            Self::AwsLc => "aws-lc-rs",
            Self::Oqs => "oqs",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "aws-lc-rs" | "aws-lc" | "awslc" => Ok(Self::AwsLc),
            "oqs" | "liboqs" => Self::Oqs.ensure_available(),
            other => Err(Error::UnknownName {
                kind: NameKind::Backend,
                name: other.to_owned(),
                known: &["aws-lc-rs", "oqs"],
            }),
        }
    }
}
