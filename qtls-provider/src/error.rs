use core::fmt;

/// Everything that can go wrong inside `qtls-provider`.
///
/// Each variant says what failed and, where there is one, with which input. Errors that
/// reach rustls are converted with [`From<Error> for rustls::Error`]; peer-supplied input
/// that is malformed becomes `PeerMisbehaved::InvalidKeyShare` (alert `illegal_parameter`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A key share received from the peer has the wrong length for its group.
    KeyShareLength {
        /// The group's name, in OpenSSL's spelling.
        group: &'static str,
        /// The length the group requires.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// A key share received from the peer failed validation (an ML-KEM encapsulation key
    /// that fails the FIPS 203 §7.2 modulus check, or an invalid elliptic-curve point).
    InvalidKeyShare(&'static str),
    /// A cryptographic operation failed in the backend for a reason other than bad input.
    Backend(&'static str),
    /// A private key could not be parsed or does not match its declared algorithm.
    InvalidPrivateKey(String),
    /// A public key has the wrong length or encoding for its algorithm (a composite key's ECDSA point must be uncompressed, [draft-ietf-lamps-pq-composite-sigs](https://datatracker.ietf.org/doc/draft-ietf-lamps-pq-composite-sigs/)).
    InvalidPublicKey {
        /// The key's algorithm.
        algorithm: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A key or certificate names an algorithm this provider does not implement.
    UnsupportedAlgorithm(String),
    /// A PEM document could not be read.
    Pem(String),
    /// A PEM document holds an encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`, [RFC 5958 §3](https://www.rfc-editor.org/rfc/rfc5958#section-3)), which
    /// needs a passphrase this loader does not take.
    EncryptedPrivateKey,
    /// A PEM document holds more than one private key (how many); which one was meant is
    /// a guess, so none is used.
    SeveralPrivateKeys(usize),
    /// A composite signature context string longer than 255 bytes.
    ContextTooLong(usize),
    /// A requested configuration is not possible.
    Config(String),
    /// A name (of a group, preset, backend...) that this provider does not know.
    UnknownName {
        /// What kind of thing was named.
        kind: NameKind,
        /// The name as given.
        name: String,
        /// The names that are known.
        known: &'static [&'static str],
    },
    /// A provisional code point that already names something else.
    CodePointTaken {
        /// The code point asked for.
        code_point: u16,
        /// What it already names.
        existing: String,
    },
    /// A composite signature code point that TLS 1.3 cannot carry: rustls reads values
    /// whose high byte is at most 0x03 or low byte at most 0x02 as TLS 1.2 hash/signature
    /// pairs ([RFC 8446 §4.2.3](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.3)).
    CodePointNotTls13(u16),
    /// The same code point given for two composite algorithms.
    CodePointRepeated(u16),
    /// A provider with no key-exchange group.
    NoKxGroups,
    /// A DER encoding failed (a value beyond what a DER length can say); nothing is ever
    /// truncated instead.
    Der {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        error: der::Error,
    },
    /// The `oqs` backend was requested but the crate was built without the `oqs` feature.
    BackendUnavailable(&'static str),
    /// A key whose algorithm may sign certificates but not a TLS 1.3 CertificateVerify: the
    /// RSASSA-PKCS1-v1_5 composites ([draft-reddy-tls-composite-mldsa-10 §3](https://datatracker.ietf.org/doc/html/draft-reddy-tls-composite-mldsa-10#section-3)).
    NotForCertificateVerify {
        /// The key's algorithm.
        algorithm: &'static str,
        /// The algorithm to issue TLS end-entity keys for instead.
        instead: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyShareLength {
                group,
                expected,
                actual,
            } => write!(
                f,
                "{group} key share is {actual} bytes, expected {expected}"
            ),
            Self::InvalidKeyShare(what) => write!(f, "invalid key share: {what}"),
            Self::Backend(what) => write!(f, "crypto backend failure: {what}"),
            Self::InvalidPrivateKey(why) => write!(f, "invalid private key: {why}"),
            Self::InvalidPublicKey { algorithm, reason } => {
                write!(f, "invalid {algorithm} public key: {reason}")
            }
            Self::UnsupportedAlgorithm(what) => write!(f, "unsupported algorithm: {what}"),
            Self::Pem(why) => write!(f, "PEM: {why}"),
            Self::EncryptedPrivateKey => write!(
                f,
                "an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY) needs a passphrase, which this \
                 loader does not take: decrypt it (`openssl pkey -in KEY -out PLAIN.key`), or \
                 load it with qtls_pki::read_private_key and a passphrase"
            ),
            Self::SeveralPrivateKeys(count) => write!(
                f,
                "{count} private keys in one PEM document: give exactly one, the key of the \
                 certificate"
            ),
            Self::ContextTooLong(len) => {
                write!(f, "signature context is {len} bytes, at most 255 allowed")
            }
            Self::Config(why) => write!(f, "provider configuration: {why}"),
            Self::UnknownName { kind, name, known } => {
                write!(f, "unknown {kind} {name:?}; known: {}", known.join(", "))
            }
            Self::CodePointTaken {
                code_point,
                existing,
            } => write!(f, "code point {code_point:#06x} is already {existing}"),
            Self::CodePointNotTls13(code_point) => write!(
                f,
                "composite code point {code_point:#06x} is not usable in TLS 1.3 \
                 (high byte must exceed 0x03 and low byte 0x02)"
            ),
            Self::CodePointRepeated(code_point) => {
                write!(f, "composite code point {code_point:#06x} is given twice")
            }
            Self::NoKxGroups => f.write_str("provider configuration: no key-exchange groups"),
            Self::Der { what, error } => write!(f, "DER encoding of {what}: {error}"),
            Self::NotForCertificateVerify { algorithm, instead } => write!(
                f,
                "{algorithm} keys cannot sign a TLS 1.3 CertificateVerify (RSASSA-PKCS1-v1_5 \
                 composites are for certificates only, draft-reddy-tls-composite-mldsa-10 §3): \
                 give the server or client a {instead} key and certificate"
            ),
            Self::BackendUnavailable(name) => write!(
                f,
                "backend {name} is not compiled in (enable the qtls-provider feature `{name}`)"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// The kind of thing an [`Error::UnknownName`] names.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// A key-exchange group.
    Group,
    /// A [`Preset`](crate::Preset).
    Preset,
    /// A [`Backend`](crate::Backend).
    Backend,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Group => "group",
            Self::Preset => "preset",
            Self::Backend => "backend",
        })
    }
}

impl From<Error> for rustls::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::KeyShareLength { .. } | Error::InvalidKeyShare(_) => {
                Self::PeerMisbehaved(rustls::PeerMisbehaved::InvalidKeyShare)
            }
            // A peer's key arrives in its certificate: a certificate problem (bad_certificate).
            Error::InvalidPublicKey { .. } => {
                Self::InvalidCertificate(rustls::CertificateError::BadEncoding)
            }
            other => Self::General(other.to_string()),
        }
    }
}
