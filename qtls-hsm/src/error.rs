use core::fmt;
use std::path::PathBuf;
use std::time::Duration;

use cryptoki::error::RvError;

/// Everything that can go wrong in `qtls-hsm`.
///
/// No variant carries a PIN, and none is built from text that could hold one: PINs are only
/// ever handed to `C_Login`/`C_InitToken`/`C_InitPIN`, never formatted.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Error {
    /// The PKCS#11 module could not be loaded or initialised.
    Module {
        /// The module's path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// No slot holds a token matching the configuration.
    TokenNotFound {
        /// The module searched.
        module: PathBuf,
        /// The token asked for, e.g. `label "qtls"`.
        wanted: String,
        /// The labels of the tokens that are present.
        present: Vec<String>,
    },
    /// More than one slot holds a token matching the configuration (RFC 7512 §2.3: a URI
    /// names one token; picking the first would depend on slot order).
    AmbiguousToken {
        /// The module searched.
        module: PathBuf,
        /// The token asked for.
        wanted: String,
        /// The tokens that match, e.g. `slot 5: "qtls" (serial "1234")`.
        matches: Vec<String>,
    },
    /// A PKCS#11 call failed.
    Pkcs11 {
        /// The token, e.g. `primary token "qtls"`.
        token: String,
        /// What was being done, e.g. `C_Sign (ML-DSA-65)`.
        operation: String,
        /// The PKCS#11 return value, when the module returned one.
        code: Option<RvError>,
        /// The module's or cryptoki's message.
        detail: String,
    },
    /// Reading the PIN failed (the PIN itself is never part of the message).
    Pin {
        /// Where the PIN was to come from, e.g. `environment variable QTLS_HSM_PIN`.
        source: String,
        /// Why it could not be read.
        reason: String,
    },
    /// No private key with this label or id is in the token.
    KeyNotFound {
        /// The token searched.
        token: String,
        /// The key asked for.
        key: String,
    },
    /// The objects found under a key's name do not form one usable key.
    InvalidKey {
        /// The token.
        token: String,
        /// The key asked for.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Key generation or import was asked for under a name that is already taken.
    KeyExists {
        /// The token.
        token: String,
        /// The name.
        key: String,
    },
    /// The backup token holds a different key than the primary under the same name.
    KeyMismatch {
        /// The key's name.
        key: String,
        /// The token whose public key differs from the primary's.
        token: String,
    },
    /// A private key that can leave the token (CKA_EXTRACTABLE true: it can be wrapped out;
    /// CKA_SENSITIVE false: its value can be read), which is refused unless allowed with
    /// [`HsmBuilder::danger_allow_exportable_keys`](crate::HsmBuilder::danger_allow_exportable_keys).
    ExportableKey {
        /// The token.
        token: String,
        /// The key's name.
        key: String,
        /// The attribute that lets the key out: `CKA_EXTRACTABLE` or `CKA_SENSITIVE`.
        attribute: &'static str,
    },
    /// The token does not offer a mechanism the operation needs.
    MechanismUnsupported {
        /// The token.
        token: String,
        /// The mechanism, e.g. `CKM_ML_DSA_KEY_PAIR_GEN`.
        mechanism: &'static str,
    },
    /// An algorithm this crate cannot keep in a token.
    UnsupportedAlgorithm(String),
    /// A composite ML-DSA algorithm whose traditional half this crate cannot keep in a token
    /// beside the ML-DSA half: the two with a brainpool ECDSA half
    /// ([draft-ietf-lamps-pq-composite-sigs-19 §6](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19#section-6)),
    /// as no token at hand has both ML-DSA and brainpool curves.
    CompositeNotInToken {
        /// The composite, e.g. `MLDSA65-ECDSA-brainpoolP256r1-SHA512`.
        algorithm: &'static str,
        /// What the tokens lack.
        reason: &'static str,
    },
    /// The ML-DSA key and the traditional key under one name form no composite algorithm of
    /// draft-ietf-lamps-pq-composite-sigs (e.g. ML-DSA-44 with RSA-4096), or the RSA key does
    /// not record whether it is the PSS or the PKCS#1 v1.5 composite (its
    /// CKA_ALLOWED_MECHANISMS is not exactly `CKM_RSA_PKCS_PSS` or exactly `CKM_RSA_PKCS`).
    CompositeMismatch {
        /// The token.
        token: String,
        /// The key's name.
        key: String,
        /// What does not match.
        reason: String,
    },
    /// A token operation did not finish in time.
    Timeout {
        /// The token.
        token: String,
        /// The operation.
        operation: String,
        /// How long it was given.
        after: Duration,
    },
    /// Every session of the pool stayed busy for longer than the operation timeout.
    Busy {
        /// The token.
        token: String,
    },
    /// The token was marked down (after a failure) while the operation waited for it.
    TokenDown {
        /// The token.
        token: String,
    },
    /// Neither the primary nor the backup token is usable.
    NoHealthyToken,
    /// A PKCS#11 URI (RFC 7512) that cannot be used. The URI itself is not repeated, as it
    /// may carry a `pin-value`.
    InvalidUri(String),
    /// A configuration that cannot work.
    InvalidConfig(String),
    /// A software key handed over for import could not be read.
    InvalidImport(String),
}

impl Error {
    /// Whether the error means the token itself has failed (CKR_DEVICE_ERROR,
    /// CKR_SESSION_HANDLE_INVALID, CKR_TOKEN_NOT_PRESENT, a timeout, ...), so that the pool
    /// should mark it down and fail over, rather than a problem with this one request.
    pub fn is_token_failure(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Pkcs11 {
                code: Some(code), ..
            } => is_failure_code(*code),
            _ => false,
        }
    }

    /// Whether the token refused the PIN (CKR_PIN_INCORRECT, _EXPIRED, _LOCKED, _INVALID,
    /// _LEN_RANGE of [PKCS #11 v3.1 C_Login](https://docs.oasis-open.org/pkcs11/pkcs11-spec/v3.1/os/pkcs11-spec-v3.1-os.html)):
    /// retrying cannot help, and tokens lock the PIN after a few failed logins.
    pub fn is_pin_error(&self) -> bool {
        matches!(
            self.pkcs11_code(),
            Some(
                RvError::PinIncorrect
                    | RvError::PinExpired
                    | RvError::PinLocked
                    | RvError::PinInvalid
                    | RvError::PinLenRange
            )
        )
    }

    /// The PKCS#11 return value, for [`Error::Pkcs11`].
    pub fn pkcs11_code(&self) -> Option<RvError> {
        match self {
            Self::Pkcs11 { code, .. } => *code,
            _ => None,
        }
    }

    pub(crate) fn pkcs11(
        token: &str,
        operation: impl Into<String>,
        error: cryptoki::error::Error,
    ) -> Self {
        let code = match &error {
            cryptoki::error::Error::Pkcs11(code, _) => Some(*code),
            _ => None,
        };
        let detail = match &error {
            // cryptoki's text for a return value is the specification's paragraph; the
            // CKR_ name is what operators search for.
            cryptoki::error::Error::Pkcs11(code, function) => format!("{function}: {code:?}"),
            other => other.to_string(),
        };
        Self::Pkcs11 {
            token: token.to_owned(),
            operation: operation.into(),
            code,
            detail,
        }
    }
}

/// The return values after which a token is taken out of service.
///
/// Besides the obvious device and session failures this includes CKR_GENERAL_ERROR and
/// CKR_DEVICE_MEMORY (Kryoptic's answer when its store becomes unreadable), CKR_KEY_HANDLE_INVALID
/// and CKR_OBJECT_HANDLE_INVALID (SoftHSM2's answer when its token directory disappears: the key
/// is gone from this token, and the backup still has it), and CKR_USER_NOT_LOGGED_IN and
/// CKR_CRYPTOKI_NOT_INITIALIZED (a token or library that restarted under us).
fn is_failure_code(code: RvError) -> bool {
    matches!(
        code,
        RvError::DeviceError
            | RvError::DeviceRemoved
            | RvError::DeviceMemory
            | RvError::GeneralError
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::KeyHandleInvalid
            | RvError::ObjectHandleInvalid
            | RvError::UserNotLoggedIn
            | RvError::CryptokiNotInitialized
    )
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Module { path, reason } => {
                write!(f, "PKCS#11 module {}: {reason}", path.display())
            }
            Self::TokenNotFound {
                module,
                wanted,
                present,
            } => {
                write!(f, "no token with {wanted} in {}", module.display())?;
                if present.is_empty() {
                    f.write_str(" (no initialised tokens are present)")
                } else {
                    write!(f, " (present: {})", present.join(", "))
                }
            }
            Self::AmbiguousToken {
                module,
                wanted,
                matches,
            } => write!(
                f,
                "more than one token with {wanted} in {}: {}; name one (for example by its \
                 serial or slot ID)",
                module.display(),
                matches.join(", ")
            ),
            Self::Pkcs11 {
                token,
                operation,
                detail,
                ..
            } => write!(f, "{token}: {operation} failed: {detail}"),
            Self::Pin { source, reason } => write!(f, "PIN from {source}: {reason}"),
            Self::KeyNotFound { token, key } => {
                write!(f, "{token}: no private key named {key}")
            }
            Self::InvalidKey { token, key, reason } => write!(f, "{token}: key {key}: {reason}"),
            Self::KeyExists { token, key } => {
                write!(f, "{token}: objects named {key} already exist")
            }
            Self::KeyMismatch { key, token } => write!(
                f,
                "{token} holds a different key named {key} than the primary token"
            ),
            Self::ExportableKey {
                token,
                key,
                attribute,
            } => write!(
                f,
                "{token}: key {key} can leave the token ({attribute} is {}); refused unless \
                 exportable keys are allowed explicitly (danger_allow_exportable_keys, \
                 qtls server --hsm-allow-exportable-key)",
                if *attribute == "CKA_SENSITIVE" {
                    "false"
                } else {
                    "true"
                }
            ),
            Self::MechanismUnsupported { token, mechanism } => {
                write!(f, "{token} does not offer {mechanism}")
            }
            Self::UnsupportedAlgorithm(what) => write!(f, "unsupported algorithm: {what}"),
            Self::CompositeNotInToken { algorithm, reason } => write!(
                f,
                "{algorithm} cannot be kept in a token: {reason} (a token holds a composite \
                 as an ML-DSA key and an RSA, ECDSA P-256/P-384/P-521, Ed25519 or Ed448 key)"
            ),
            Self::CompositeMismatch { token, key, reason } => write!(
                f,
                "{token}: key {key} is not one composite ML-DSA key: {reason}"
            ),
            Self::Timeout {
                token,
                operation,
                after,
            } => write!(f, "{token}: {operation} did not finish within {after:?}"),
            Self::Busy { token } => write!(f, "{token}: every session stayed busy"),
            Self::TokenDown { token } => write!(f, "{token} was taken out of service"),
            Self::NoHealthyToken => f.write_str("no healthy token (primary and backup are down)"),
            Self::InvalidUri(why) => write!(f, "PKCS#11 URI: {why}"),
            Self::InvalidConfig(why) => write!(f, "HSM configuration: {why}"),
            Self::InvalidImport(why) => write!(f, "key import: {why}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for rustls::Error {
    /// As [`rustls::Error::Other`], so that whoever drives the handshake can tell a token
    /// failure from other errors (`downcast_ref::<qtls_hsm::Error>()`) and answer it with an
    /// `internal_error` alert.
    fn from(error: Error) -> Self {
        Self::Other(rustls::OtherError(std::sync::Arc::new(error)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_codes_are_classified() {
        let failed = |code| Error::Pkcs11 {
            token: "t".into(),
            operation: "C_Sign".into(),
            code: Some(code),
            detail: String::new(),
        };
        for code in [
            RvError::DeviceError,
            RvError::SessionHandleInvalid,
            RvError::TokenNotPresent,
        ] {
            assert!(failed(code).is_token_failure(), "{code:?}");
        }
        for code in [RvError::PinIncorrect, RvError::MechanismInvalid] {
            assert!(!failed(code).is_token_failure(), "{code:?}");
        }
        let timeout = Error::Timeout {
            token: "t".into(),
            operation: "C_Sign".into(),
            after: Duration::from_secs(1),
        };
        assert!(timeout.is_token_failure());
        assert!(!Error::NoHealthyToken.is_token_failure());
    }

    #[test]
    fn pin_errors_are_final() {
        let failed = |code| Error::Pkcs11 {
            token: "t".into(),
            operation: "C_Login".into(),
            code: Some(code),
            detail: String::new(),
        };
        for code in [
            RvError::PinIncorrect,
            RvError::PinExpired,
            RvError::PinLocked,
            RvError::PinInvalid,
            RvError::PinLenRange,
        ] {
            assert!(failed(code).is_pin_error(), "{code:?}");
            assert!(!failed(code).is_token_failure(), "{code:?}");
        }
        assert!(!failed(RvError::DeviceError).is_pin_error());
        assert!(!Error::NoHealthyToken.is_pin_error());
    }

    #[test]
    fn converts_to_a_downcastable_rustls_error() {
        let rustls::Error::Other(other) = rustls::Error::from(Error::NoHealthyToken) else {
            panic!("not Error::Other");
        };
        assert!(other.0.downcast_ref::<Error>().is_some());
    }
}
