//! Private key files encrypted with a passphrase: PKCS#8 EncryptedPrivateKeyInfo
//! ([RFC 5958 §3](https://www.rfc-editor.org/rfc/rfc5958#section-3)) with PBES2
//! ([RFC 8018 §6.2](https://www.rfc-editor.org/rfc/rfc8018#section-6.2)), as
//! `openssl genpkey -aes256` writes them.

use core::fmt;
use std::path::Path;

use pkcs8::der::Decode;
use qtls_provider::{Backend, KeyPair};
use zeroize::Zeroizing;

use crate::error::Error;

/// The PEM label of an encrypted PKCS#8 key.
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// PBKDF2-HMAC-SHA-256 iterations for keys this crate encrypts: OWASP's 2023 figure for
/// that PRF (OpenSSL's own default is 2048).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// The passphrase of encrypted private keys. Never printed (its `Debug` is redacted) and
/// wiped from memory when dropped.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// The environment variable the `qtls` CLI reads a CA key's passphrase from.
    pub const ENV_VAR: &'static str = "QTLS_CA_PASSPHRASE";

    /// A passphrase; an empty one is refused.
    pub fn new(passphrase: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let passphrase = Zeroizing::new(passphrase.into());
        if passphrase.is_empty() {
            return Err(Error::InvalidPassphrase("the passphrase is empty".into()));
        }
        Ok(Self(passphrase))
    }

    /// The first line of `path` (without its line end), as OpenSSL's `-passin file:` reads
    /// it, so one file serves both. On Unix a file that users other than its owner may read
    /// or write (mode bits 077) is refused, as OpenSSH refuses such private keys.
    pub fn read_file(path: &Path) -> Result<Self, Error> {
        let exposed = crate::files::exposed_file_mode(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        if let Some(mode) = exposed {
            return Err(Error::InvalidPassphrase(format!(
                "passphrase file {}: other users may read or write it (mode {mode:03o}); \
                 chmod 600 it",
                path.display()
            )));
        }
        let contents = Zeroizing::new(std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?);
        let line = contents.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Self::new(line.to_vec()).map_err(|_| {
            Error::InvalidPassphrase(format!("{}: its first line is empty", path.display()))
        })
    }

    /// The passphrase in [`Passphrase::ENV_VAR`], or `None` when it is unset or empty.
    pub fn from_env() -> Option<Self> {
        std::env::var(Self::ENV_VAR)
            .ok()
            .and_then(|value| Self::new(value).ok())
    }

    /// [`Passphrase::read_file`] of `file` when given, else [`Passphrase::from_env`].
    pub fn from_file_or_env(file: Option<&Path>) -> Result<Option<Self>, Error> {
        match file {
            Some(path) => Self::read_file(path).map(Some),
            None => Ok(Self::from_env()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// `key` as an `ENCRYPTED PRIVATE KEY` PEM document: PBES2 with PBKDF2-HMAC-SHA-256
/// ([`PBKDF2_ITERATIONS`], 16-octet random salt) and AES-256-CBC, which OpenSSL reads with
/// `openssl pkey -passin`.
pub fn encrypt_private_key_pem(
    key: &KeyPair,
    passphrase: &Passphrase,
) -> Result<Zeroizing<String>, Error> {
    encrypt_with_iterations(key, passphrase, PBKDF2_ITERATIONS)
}

/// [`encrypt_private_key_pem`] with `iterations` of PBKDF2 (the fuzz seeds use few).
pub(crate) fn encrypt_with_iterations(
    key: &KeyPair,
    passphrase: &Passphrase,
    iterations: u32,
) -> Result<Zeroizing<String>, Error> {
    use aws_lc_rs::rand::SecureRandom;
    let pkcs8 = key.to_pkcs8_der().map_err(|source| Error::Key {
        context: "exporting a private key to encrypt it".into(),
        source,
    })?;
    let (mut salt, mut iv) = ([0u8; 16], [0u8; 16]);
    let random = aws_lc_rs::rand::SystemRandom::new();
    random.fill(&mut salt).map_err(|_| Error::Random)?;
    random.fill(&mut iv).map_err(|_| Error::Random)?;
    let encoding = |e: &dyn fmt::Display| Error::KeyEncryption(e.to_string());
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(iterations, &salt, &iv)
        .map_err(|e| encoding(&e))?;
    let info = pkcs8::PrivateKeyInfo::from_der(&pkcs8).map_err(|e| encoding(&e))?;
    let encrypted = info
        .encrypt_with_params(params, passphrase.as_bytes())
        .map_err(|e| encoding(&e))?;
    pkcs8::der::pem::encode_string(
        ENCRYPTED_LABEL,
        pkcs8::der::pem::LineEnding::LF,
        encrypted.as_bytes(),
    )
    .map(Zeroizing::new)
    .map_err(|e| encoding(&e))
}

/// The most PBKDF2 iterations a key file may ask for: RFC 8018 §4.2's figure "for especially
/// critical keys" ([§4.2](https://www.rfc-editor.org/rfc/rfc8018#section-4.2)), a few
/// seconds here; the count is the file's to say, and 2^32 of them would stall whoever loads
/// it for an hour.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// The most memory (128 · N · r bytes, [RFC 7914 §2](https://www.rfc-editor.org/rfc/rfc7914#section-2))
/// and lanes (p) an scrypt-encrypted key file may ask for: OpenSSL's default `maxmem` is
/// 32 MiB; a file asking for more could exhaust memory.
const MAX_SCRYPT_MEMORY: u64 = 64 << 20;
const MAX_SCRYPT_LANES: u16 = 16;

/// Why the cost `encrypted` asks for is refused, if it is over the limits.
fn excessive_cost(
    encrypted: &pkcs8::EncryptedPrivateKeyInfo<'_>,
    max_iterations: u32,
) -> Option<String> {
    use pkcs8::pkcs5::{pbes2::Kdf, EncryptionScheme};
    let EncryptionScheme::Pbes2(parameters) = &encrypted.encryption_algorithm else {
        return None; // PBES1 is refused by the decryption itself.
    };
    match &parameters.kdf {
        Kdf::Pbkdf2(pbkdf2) if pbkdf2.iteration_count > max_iterations => Some(format!(
            "PBKDF2 with {} iterations, over the {max_iterations} allowed",
            pbkdf2.iteration_count
        )),
        Kdf::Scrypt(scrypt) => {
            let memory = 128u64
                .saturating_mul(scrypt.cost_parameter)
                .saturating_mul(u64::from(scrypt.block_size));
            (memory > MAX_SCRYPT_MEMORY || scrypt.parallelization > MAX_SCRYPT_LANES).then(|| {
                format!(
                    "scrypt with N={} r={} p={}, over {} MiB or {MAX_SCRYPT_LANES} lanes",
                    scrypt.cost_parameter,
                    scrypt.block_size,
                    scrypt.parallelization,
                    MAX_SCRYPT_MEMORY >> 20
                )
            })
        }
        _ => None,
    }
}

/// Loads the private key in the PEM file `path`: `PRIVATE KEY` / `EC PRIVATE KEY` as
/// [`KeyPair::from_pem`] does, or `ENCRYPTED PRIVATE KEY` decrypted with `passphrase`
/// ([`Error::EncryptedKey`] without one, [`Error::KeyDecryption`] when it does not fit).
pub fn read_private_key(
    path: &Path,
    backend: Backend,
    passphrase: Option<&Passphrase>,
) -> Result<KeyPair, Error> {
    let pem = Zeroizing::new(std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?);
    private_key_from_pem(&pem, path, backend, passphrase, MAX_PBKDF2_ITERATIONS)
}

/// [`read_private_key`] on the file's contents; `max_iterations` bounds PBKDF2 (the fuzz
/// target uses a lower bound than [`MAX_PBKDF2_ITERATIONS`] to keep each run short).
pub(crate) fn private_key_from_pem(
    pem: &[u8],
    path: &Path,
    backend: Backend,
    passphrase: Option<&Passphrase>,
    max_iterations: u32,
) -> Result<KeyPair, Error> {
    let loading = |source| Error::Key {
        context: format!("loading the private key {}", path.display()),
        source,
    };
    let Some(block) = encrypted_block(pem) else {
        return KeyPair::from_pem(pem, backend).map_err(loading);
    };
    let Some(passphrase) = passphrase else {
        return Err(Error::EncryptedKey {
            path: path.to_owned(),
        });
    };
    let decryption = |reason: String| Error::KeyDecryption {
        path: path.to_owned(),
        reason,
    };
    let (label, der) =
        pkcs8::der::pem::decode_vec(block).map_err(|e| decryption(format!("PEM: {e}")))?;
    if label != ENCRYPTED_LABEL {
        return Err(decryption(format!("PEM label {label:?}")));
    }
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::from_der(&der)
        .map_err(|e| decryption(format!("EncryptedPrivateKeyInfo: {e}")))?;
    if let Some(why) = excessive_cost(&encrypted, max_iterations) {
        return Err(decryption(why));
    }
    let decrypted = encrypted.decrypt(passphrase.as_bytes()).map_err(|e| {
        decryption(format!(
            "wrong passphrase, or a scheme we cannot read ({e})"
        ))
    })?;
    KeyPair::from_pkcs8_der(decrypted.as_bytes(), backend).map_err(loading)
}

/// The `ENCRYPTED PRIVATE KEY` block of a PEM file, if it has one.
fn encrypted_block(pem: &[u8]) -> Option<&[u8]> {
    let begin = format!("-----BEGIN {ENCRYPTED_LABEL}-----");
    let end = format!("-----END {ENCRYPTED_LABEL}-----");
    let start = find(pem, begin.as_bytes())?;
    let stop = start + find(&pem[start..], end.as_bytes())? + end.len();
    Some(&pem[start..stop])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use qtls_provider::KeyAlgorithm;

    #[test]
    fn round_trip_and_clear_errors() {
        let dir = std::env::temp_dir().join(format!("qtls-pki-keyfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate(
            KeyAlgorithm::Ecdsa(qtls_provider::EcCurve::P384),
            Backend::AwsLc,
        )
        .unwrap();
        let passphrase = Passphrase::new("s3cret").unwrap();
        let path = dir.join("ca.key");
        std::fs::write(&path, encrypt_private_key_pem(&key, &passphrase).unwrap()).unwrap();

        let read = read_private_key(&path, Backend::AwsLc, Some(&passphrase)).unwrap();
        assert_eq!(read.public_key(), key.public_key());
        let missing = read_private_key(&path, Backend::AwsLc, None).unwrap_err();
        assert!(matches!(missing, Error::EncryptedKey { .. }), "{missing}");
        let wrong = Passphrase::new("guess").unwrap();
        let wrong = read_private_key(&path, Backend::AwsLc, Some(&wrong)).unwrap_err();
        assert!(matches!(wrong, Error::KeyDecryption { .. }), "{wrong}");
        assert!(Passphrase::new("").is_err());
        assert_eq!(format!("{passphrase:?}"), "Passphrase(<redacted>)");

        std::fs::write(dir.join("pass"), "line one\r\nline two\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let pass = dir.join("pass");
            std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o640)).unwrap();
            let open = Passphrase::read_file(&pass).unwrap_err().to_string();
            assert!(open.contains("chmod 600"), "{open}");
            std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(
            Passphrase::read_file(&dir.join("pass")).unwrap().as_bytes(),
            b"line one"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A key file whose PBES2 parameters ask for `kdf`, encrypting nothing useful.
    fn costly_key_file(kdf: pkcs8::pkcs5::pbes2::Kdf<'_>) -> String {
        use der::Encode;
        let encrypted = pkcs8::EncryptedPrivateKeyInfo {
            encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(
                pkcs8::pkcs5::pbes2::Parameters {
                    kdf,
                    encryption: pkcs8::pkcs5::pbes2::EncryptionScheme::Aes256Cbc { iv: &[0; 16] },
                },
            ),
            encrypted_data: &[0; 32],
        };
        let der = encrypted.to_der().unwrap();
        pkcs8::der::pem::encode_string(ENCRYPTED_LABEL, pkcs8::der::pem::LineEnding::LF, &der)
            .unwrap()
    }

    /// Before the bound, the 4e9 iterations below ran for about an hour (the test gave up
    /// after 60 s); scrypt parameters asking for a petabyte aborted the process.
    #[test]
    fn key_files_asking_for_unbounded_work_are_refused() {
        use pkcs8::pkcs5::pbes2::{Kdf, Pbkdf2Params, Pbkdf2Prf, ScryptParams};
        let pbkdf2 = costly_key_file(Kdf::Pbkdf2(Pbkdf2Params {
            salt: &[7; 16],
            iteration_count: 4_000_000_000,
            key_length: None,
            prf: Pbkdf2Prf::HmacWithSha256,
        }));
        let scrypt = costly_key_file(Kdf::Scrypt(ScryptParams {
            salt: &[7; 16],
            cost_parameter: 1 << 40,
            block_size: 8,
            parallelization: 1,
            key_length: None,
        }));
        for (pem, expected) in [
            (pbkdf2, "4000000000 iterations"),
            (scrypt, "scrypt with N="),
        ] {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let passphrase = Passphrase::new("s3cret").unwrap();
                let result = private_key_from_pem(
                    pem.as_bytes(),
                    Path::new("costly.key"),
                    Backend::AwsLc,
                    Some(&passphrase),
                    MAX_PBKDF2_ITERATIONS,
                );
                let _ = tx.send(result.map(|_| ()).map_err(|e| e.to_string()));
            });
            let refused = rx
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("still deriving the key after 60 s")
                .unwrap_err();
            assert!(refused.contains(expected), "{refused}");
        }
    }
}
