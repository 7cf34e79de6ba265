//! A subject's public key on its own, for issuing certificates to keys held elsewhere.

use der::asn1::{Any, BitString};
use der::Encode;
use qtls_provider::{KeyAlgorithm, KeyPair};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::error::Error;

/// A public key and its algorithm, without the private key: what
/// [`CertificateBuilder::signed_by_for_public_key`](crate::CertificateBuilder::signed_by_for_public_key)
/// issues a certificate for when the private key lives in an HSM.
///
/// The bytes are those of the SubjectPublicKeyInfo BIT STRING: the uncompressed EC point for
/// ECDSA, the raw public key for ML-DSA (RFC 9881), `mldsaPK ‖ tradPK` for composite ML-DSA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectPublicKey {
    algorithm: KeyAlgorithm,
    public_key: Vec<u8>,
}

impl SubjectPublicKey {
    /// Checks that `public_key` has the length (and, for EC points, the uncompressed form)
    /// `algorithm` requires.
    pub fn new(algorithm: KeyAlgorithm, public_key: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let public_key = public_key.into();
        let invalid = |reason: String| Error::InvalidPublicKey {
            algorithm: algorithm.name().to_owned(),
            reason,
        };
        let (expected, point) = match algorithm {
            KeyAlgorithm::MlDsa(level) => (level.public_key_len(), None),
            KeyAlgorithm::Composite(alg) => {
                // The size table and the traditional component's encoding (draft §4.1).
                alg.check_public_key(&public_key).map_err(|e| match e {
                    qtls_provider::Error::InvalidPublicKey { reason, .. } => invalid(reason),
                    other => invalid(other.to_string()),
                })?;
                return Ok(Self {
                    algorithm,
                    public_key,
                });
            }
            KeyAlgorithm::Ecdsa(curve) => (curve.point_len(), Some(0)),
            other => return Err(invalid(format!("{other} keys are not supported"))),
        };
        if public_key.len() != expected {
            return Err(invalid(format!(
                "{} bytes, expected {expected}",
                public_key.len()
            )));
        }
        if let Some(offset) = point {
            if public_key[offset] != 0x04 {
                return Err(invalid("the EC point is not uncompressed".into()));
            }
        }
        Ok(Self {
            algorithm,
            public_key,
        })
    }

    /// The public half of `key`.
    pub fn from_key_pair(key: &KeyPair) -> Self {
        Self {
            algorithm: key.algorithm(),
            public_key: key.public_key().to_vec(),
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The public key as it stands in the SubjectPublicKeyInfo BIT STRING.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The DER SubjectPublicKeyInfo: id-ecPublicKey with the named curve for ECDSA
    /// (RFC 5480), the algorithm's OID with absent parameters for ML-DSA and composite.
    pub fn subject_public_key_info_der(&self) -> Result<Vec<u8>, Error> {
        let encoding = |e: der::Error| Error::InvalidPublicKey {
            algorithm: self.algorithm.name().to_owned(),
            reason: format!("SubjectPublicKeyInfo encoding: {e}"),
        };
        let algorithm = match self.algorithm {
            KeyAlgorithm::Ecdsa(curve) => AlgorithmIdentifierOwned {
                oid: const_oid::db::rfc5912::ID_EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&curve.oid()).map_err(encoding)?),
            },
            KeyAlgorithm::MlDsa(level) => AlgorithmIdentifierOwned {
                oid: level.oid(),
                parameters: None,
            },
            KeyAlgorithm::Composite(alg) => AlgorithmIdentifierOwned {
                oid: alg.oid(),
                parameters: None,
            },
            other => {
                return Err(Error::InvalidPublicKey {
                    algorithm: other.name().to_owned(),
                    reason: "unsupported algorithm".into(),
                })
            }
        };
        SubjectPublicKeyInfoOwned {
            algorithm,
            subject_public_key: BitString::from_bytes(&self.public_key).map_err(encoding)?,
        }
        .to_der()
        .map_err(encoding)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use qtls_provider::{Backend, EcCurve, MlDsaLevel};

    use super::*;

    #[test]
    fn spki_is_the_key_pairs() {
        for algorithm in KeyAlgorithm::ALL {
            let key = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
            let public = SubjectPublicKey::new(algorithm, key.public_key()).unwrap();
            assert_eq!(public, SubjectPublicKey::from_key_pair(&key));
            assert_eq!(
                public.subject_public_key_info_der().unwrap(),
                key.subject_public_key_info_der(),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn wrong_lengths_and_points_are_refused() {
        let ml_dsa = KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65);
        let error = SubjectPublicKey::new(ml_dsa, vec![0u8; 1312])
            .unwrap_err()
            .to_string();
        assert!(error.contains("1312 bytes, expected 1952"), "{error}");
        let compressed = [0x02u8].into_iter().chain([1u8; 96]).collect::<Vec<_>>();
        assert!(SubjectPublicKey::new(KeyAlgorithm::Ecdsa(EcCurve::P384), compressed).is_err());
    }
}
