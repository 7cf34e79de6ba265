//! The message representative M' ([draft-ietf-lamps-pq-composite-sigs-19 §2.2](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-2.2)).

use aws_lc_rs::digest;
use shake::{ExtendableOutput, Update, XofReader};

use super::CompositeAlgorithm;
use crate::error::Error;

/// The 32-byte domain separator that starts every composite message representative.
pub(crate) const PREFIX: &[u8; 32] = b"CompositeAlgorithmSignatures2025";

/// The pre-hash PH applied to the message before it enters M'
/// ([draft-ietf-lamps-pq-composite-sigs-19 §6](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-6)).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PreHash {
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-512 (64 bytes).
    Sha512,
    /// SHAKE256 with a 64-byte output (MLDSA87-Ed448-SHAKE256).
    Shake256,
}

impl PreHash {
    /// PH(M).
    pub fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => digest::digest(&digest::SHA256, message).as_ref().to_vec(),
            Self::Sha512 => digest::digest(&digest::SHA512, message).as_ref().to_vec(),
            Self::Shake256 => {
                let mut hasher = shake::Shake256::default();
                hasher.update(message);
                let mut out = vec![0u8; 64];
                hasher.finalize_xof().read(&mut out);
                out
            }
        }
    }

    /// The output length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 | Self::Shake256 => 64,
        }
    }
}

/// M' = Prefix ‖ Label ‖ len(ctx) ‖ ctx ‖ PH(M); a context over 255 bytes is an error.
pub(crate) fn message_representative(
    algorithm: CompositeAlgorithm,
    message: &[u8],
    context: &[u8],
) -> Result<Vec<u8>, Error> {
    let context_len =
        u8::try_from(context.len()).map_err(|_| Error::ContextTooLong(context.len()))?;
    let ph = algorithm.prehash().digest(message);
    Ok([
        PREFIX.as_slice(),
        algorithm.label(),
        &[context_len],
        context,
        &ph,
    ]
    .concat())
}
