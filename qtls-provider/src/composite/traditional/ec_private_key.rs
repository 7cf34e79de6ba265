//! The ECDSA component's private key: an RFC 5915 ECPrivateKey
//! ([draft-ietf-lamps-pq-composite-sigs-19 §4.2](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-4.2)).
//!
//! Read leniently (§10.6): `parameters` may be absent, `publicKey` present (it must then be
//! the key's), a short scalar is left-padded. Written canonically: the named curve in
//! `parameters`, no `publicKey`, as the draft's test vectors are.

use der::{Decode, Encode};
use zeroize::Zeroizing;

use super::CompositeCurve;
use crate::error::Error;

pub(super) struct Parsed {
    /// The private scalar, `scalar_len` bytes big-endian.
    pub(super) scalar: Zeroizing<Vec<u8>>,
    /// The optional `publicKey`, an uncompressed point if it is the key's.
    pub(super) public_key: Option<Vec<u8>>,
}

pub(super) fn parse(curve: CompositeCurve, der: &[u8]) -> Result<Parsed, Error> {
    let bad = |why: String| {
        Error::InvalidPrivateKey(format!("ECDSA {} ECPrivateKey: {why}", curve.name()))
    };
    // sec1 reads exactly one ECPrivateKey (version 1) with nothing after it, so a PKCS#8
    // PrivateKeyInfo in its place is refused here, before any backend sees it.
    let parsed = sec1::EcPrivateKey::from_der(der).map_err(|e| bad(e.to_string()))?;
    if let Some(parameters) = parsed.parameters {
        match parameters.named_curve() {
            Some(oid) if oid == curve.oid() => {}
            Some(oid) => return Err(bad(format!("curve {oid}, expected {}", curve.oid()))),
            None => return Err(bad("parameters are not a named curve".into())),
        }
    }
    let private_key = parsed.private_key;
    if private_key.is_empty() || private_key.len() > curve.scalar_len() {
        return Err(bad(format!(
            "the private key is {} bytes, expected {}",
            private_key.len(),
            curve.scalar_len()
        )));
    }
    let mut scalar = Zeroizing::new(vec![0u8; curve.scalar_len()]);
    scalar[curve.scalar_len() - private_key.len()..].copy_from_slice(private_key);
    Ok(Parsed {
        scalar,
        public_key: parsed.public_key.map(<[u8]>::to_vec),
    })
}

pub(super) fn encode(curve: CompositeCurve, scalar: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    sec1::EcPrivateKey {
        private_key: scalar,
        parameters: Some(sec1::EcParameters::NamedCurve(curve.oid())),
        public_key: None,
    }
    .to_der()
    .map(Zeroizing::new)
    .map_err(|error| Error::Der {
        what: "ECPrivateKey",
        error,
    })
}
