//! The secret a fleet's nodes share: it derives the ticket keys and the session store's
//! value-encryption key.

use core::fmt;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::Error;

/// A secret shared by every node of a fleet (at least 32 bytes), from which each node derives
/// the same keys: [`RotatingTicketer`](super::RotatingTicketer) ticket keys and the
/// `RedisSessionStore` value-encryption key (the `redis` feature). Each use derives its
/// own key with HKDF-SHA256 and a distinct label, so one secret serves both.
///
/// Cloning is cheap (the bytes are shared); they are wiped when the last clone goes, and
/// `Debug` does not show them.
#[derive(Clone)]
pub struct FleetSecret(Arc<Zeroizing<Vec<u8>>>);

impl FleetSecret {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// Takes the secret itself; refuses fewer than [`Self::MIN_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() < Self::MIN_LEN {
            return Err(Error::Config(format!(
                "a fleet secret needs at least {} bytes, got {}",
                Self::MIN_LEN,
                bytes.len()
            )));
        }
        Ok(Self(Arc::new(Zeroizing::new(bytes.to_vec()))))
    }

    /// Reads the secret from a file: either hex (a file of nothing but hex digits, with
    /// surrounding whitespace allowed, e.g. `openssl rand -hex 32 > fleet.key`), or else the
    /// raw bytes (`head -c 32 /dev/urandom > fleet.key`). Refuses an empty file and a secret
    /// shorter than 32 bytes with an error that says so. Warns (rather than refuses, as
    /// [`check_private_file`] would: fleets deployed before it may hold such files) when the
    /// file is readable or writable by other users.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| Error::File {
            path: path.to_path_buf(),
            source,
        })?);
        let refuse = |why: String| Error::Config(format!("fleet secret {}: {why}", path.display()));
        let text = bytes.trim_ascii();
        if text.is_empty() {
            return Err(refuse("the file is empty (or only whitespace)".into()));
        }
        let secret = if text.iter().all(u8::is_ascii_hexdigit) {
            let decoded =
                Zeroizing::new(hex::decode(text).map_err(|e| refuse(format!("invalid hex: {e}")))?);
            if decoded.len() < Self::MIN_LEN {
                return Err(refuse(format!(
                    "{} bytes of hex; at least {} are needed ({} hex digits)",
                    decoded.len(),
                    Self::MIN_LEN,
                    2 * Self::MIN_LEN
                )));
            }
            Self::from_bytes(&decoded)?
        } else {
            if bytes.len() < Self::MIN_LEN {
                return Err(refuse(format!(
                    "{} bytes; at least {} are needed",
                    bytes.len(),
                    Self::MIN_LEN
                )));
            }
            Self::from_bytes(&bytes)?
        };
        if let Err(e) = check_private_file(path, "fleet secret") {
            tracing::warn!("{e}");
        }
        Ok(secret)
    }

    /// A fresh random 32-byte secret (for one node, or to write a fleet's key file).
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = Zeroizing::new(vec![0u8; Self::MIN_LEN]);
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| Error::Config("the system random generator failed".into()))?;
        Ok(Self(Arc::new(bytes)))
    }

    /// The secret as lower-case hex, the form [`Self::from_file`] reads.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }

    /// HKDF-SHA256 (no salt; the secret is already uniformly random) expanded with `info`
    /// (its parts concatenated) into `out`.
    pub(crate) fn derive(&self, info: &[&[u8]], out: &mut [u8]) {
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(&self.0);
        // Only fails for outputs over 255 × 32 bytes; ours are 32.
        let okm = prk.expand(info, Len(out.len()));
        if okm.and_then(|okm| okm.fill(out)).is_err() {
            unreachable!("HKDF-SHA256 output of {} bytes", out.len());
        }
    }
}

impl fmt::Debug for FleetSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FleetSecret(..)")
    }
}

/// Refuses a file holding a secret (a private key, a PIN, a password) that users other than
/// its owner may read or write (any of the mode bits 077), as OpenSSH does for private keys;
/// `what` names the file in the error. Checks nothing on other platforms.
pub fn check_private_file(path: &Path, what: &str) -> Result<(), Error> {
    let exposed = qtls_pki::exposed_file_mode(path).map_err(|source| Error::File {
        path: path.to_path_buf(),
        source,
    })?;
    match exposed {
        Some(mode) => Err(Error::Config(format!(
            "{what} file {}: other users may read or write it (mode {mode:03o}); chmod 600 it",
            path.display()
        ))),
        None => Ok(()),
    }
}

/// Reads a one-line secret (a password) from a file that [`check_private_file`] accepts,
/// without its line ending; refuses an empty one.
pub fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<String>, Error> {
    check_private_file(path, what)?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| Error::File {
        path: path.to_path_buf(),
        source,
    })?);
    let secret = Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_owned());
    if secret.is_empty() {
        return Err(Error::Config(format!(
            "{what} file {}: it is empty",
            path.display()
        )));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, content).unwrap();
        f
    }

    #[test]
    fn reads_hex_and_raw_files() {
        let hex_file = write(format!("{}\n", "ab".repeat(32)).as_bytes());
        let from_hex = FleetSecret::from_file(hex_file.path()).unwrap();
        assert_eq!(from_hex.0.as_slice(), [0xab; 32]);
        assert_eq!(from_hex.to_hex().as_str(), "ab".repeat(32));

        let raw: Vec<u8> = (0u8..48).collect();
        let from_raw = FleetSecret::from_file(write(&raw).path()).unwrap();
        assert_eq!(from_raw.0.as_slice(), raw);
    }

    #[test]
    fn refuses_empty_and_short_files() {
        for (content, says) in [
            (&b""[..], "empty"),
            (b" \n", "empty"),
            (&[7u8; 31][..], "31 bytes"),
            ("ab".repeat(31).as_bytes(), "31 bytes of hex"),
        ] {
            let err = FleetSecret::from_file(write(content).path())
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{err:?} should say {says:?}");
        }
        let err = FleetSecret::from_file("/nonexistent/fleet.key".as_ref()).unwrap_err();
        assert!(matches!(err, Error::File { .. }), "{err:?}");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_shared_with_other_users_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let file = write(b"hunter2\n");
        let set = |mode| {
            std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(0o600);
        assert_eq!(
            read_secret_file(file.path(), "Redis password")
                .unwrap()
                .as_str(),
            "hunter2"
        );
        for mode in [0o640, 0o604, 0o620, 0o644] {
            set(mode);
            let err = check_private_file(file.path(), "PIN")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("PIN file") && err.contains("chmod 600"),
                "{mode:o}: {err}"
            );
        }
        set(0o400);
        assert!(check_private_file(file.path(), "PIN").is_ok());
    }

    #[test]
    fn debug_hides_the_secret_and_derivation_separates_labels() {
        let s = FleetSecret::from_bytes(&[1; 32]).unwrap();
        assert_eq!(format!("{s:?}"), "FleetSecret(..)");
        let (mut a, mut b, mut c) = ([0u8; 32], [0u8; 32], [0u8; 32]);
        s.derive(&[b"one"], &mut a);
        s.derive(&[b"two"], &mut b);
        FleetSecret::from_bytes(&[2; 32])
            .unwrap()
            .derive(&[b"one"], &mut c);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
