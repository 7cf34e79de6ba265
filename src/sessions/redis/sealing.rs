//! The values in Redis: sessions sealed with AES-256-GCM-SIV (RFC 8452) under a key from the
//! fleet's secret, bound to their Redis key.

use core::fmt;

use aws_lc_rs::aead::{Aad, Nonce, NONCE_LEN};

use super::RedisSessionStore;

/// The first byte of every stored value: the format.
const VALUE_VERSION: u8 = 2;
/// The format of earlier versions (HMAC-authenticated, unencrypted): never written, never
/// read, counted.
const UNENCRYPTED_VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// The HKDF label of the value-encryption key; the ticket keys and the earlier HMAC key
/// were derived under other labels.
pub(super) const VALUE_KEY_LABEL: &[u8] = b"qtls session store aead v2";

impl RedisSessionStore {
    /// `session` encrypted for `redis_key`; `None` if encryption fails (the session is then
    /// not stored).
    pub(crate) fn seal(&self, redis_key: &str, session: &[u8]) -> Option<Vec<u8>> {
        let mut sealed = Vec::with_capacity(session.len() + TAG_LEN);
        sealed.extend_from_slice(session);
        let nonce = self
            .value_key
            .seal_in_place_append_tag(Aad::from(additional_data(redis_key)), &mut sealed)
            .ok()?;
        let mut value = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        value.push(VALUE_VERSION);
        value.extend_from_slice(nonce.as_ref());
        value.extend_from_slice(&sealed);
        Some(value)
    }

    /// The session in `value`, if it is ours, for this key, and intact.
    pub(crate) fn open(&self, redis_key: &str, value: &[u8]) -> Result<Vec<u8>, Unusable> {
        let (&version, rest) = value
            .split_first()
            .ok_or(Unusable::Corrupt("empty value"))?;
        match version {
            VALUE_VERSION => {}
            UNENCRYPTED_VERSION => return Err(Unusable::UnencryptedFormat),
            _ => return Err(Unusable::Corrupt("unknown value version")),
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(Unusable::Corrupt("value too short"));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Unusable::Corrupt("value too short"))?;
        let mut plain = sealed.to_vec();
        let len = self
            .value_key
            .open_in_place(nonce, Aad::from(additional_data(redis_key)), &mut plain)
            .map_err(|_| {
                Unusable::Corrupt(
                    "it does not decrypt (corrupt, moved from another key, or written with \
                     another secret)",
                )
            })?
            .len();
        plain.truncate(len);
        Ok(plain)
    }
}

/// The additional data a value is encrypted with: the format and the Redis key
/// (length-prefixed), so that no value opens under another key or as another format.
fn additional_data(redis_key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + 8 + redis_key.len());
    aad.push(VALUE_VERSION);
    aad.extend_from_slice(&(redis_key.len() as u64).to_be_bytes());
    aad.extend_from_slice(redis_key.as_bytes());
    aad
}

/// Why a value read from Redis is not used.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Unusable {
    /// Version 1: unencrypted, written by an earlier version.
    UnencryptedFormat,
    Corrupt(&'static str),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnencryptedFormat => f.write_str(
                "it is in the unencrypted format of earlier versions (a full handshake; it \
                 expires by itself)",
            ),
            Self::Corrupt(why) => f.write_str(why),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sessions::FleetSecret;

    #[test]
    fn values_are_bound_to_key_and_secret() {
        let a = RedisSessionStore::builder(
            "redis://127.0.0.1:1".parse().unwrap(),
            FleetSecret::from_bytes(&[1; 32]).unwrap(),
        )
        .build()
        .unwrap();
        let b = RedisSessionStore::builder(
            "redis://127.0.0.1:1".parse().unwrap(),
            FleetSecret::from_bytes(&[2; 32]).unwrap(),
        )
        .build()
        .unwrap();
        let value = a.seal("k1", b"session").unwrap();
        assert_eq!(a.open("k1", &value).unwrap(), b"session");
        assert!(!value.windows(7).any(|w| w == b"session"));
        assert_ne!(
            a.seal("k1", b"session").unwrap(),
            value,
            "a fresh nonce each time"
        );
        assert!(a.open("k2", &value).is_err());
        assert!(b.open("k1", &value).is_err());
        let mut flipped = value.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(a.open("k1", &flipped).is_err());
        let mut versioned = value;
        versioned[0] = 3;
        assert!(matches!(
            a.open("k1", &versioned),
            Err(Unusable::Corrupt(_))
        ));
        versioned[0] = UNENCRYPTED_VERSION;
        assert!(matches!(
            a.open("k1", &versioned),
            Err(Unusable::UnencryptedFormat)
        ));
        assert!(a.open("k1", &[]).is_err());
        assert!(a.open("k1", &[VALUE_VERSION; 10]).is_err());
    }
}
