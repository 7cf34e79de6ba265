use core::fmt;
use std::path::Path;

use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::error::Error;

/// The environment variable the `qtls` CLI reads the user PIN from.
pub const PIN_ENV_VAR: &str = "QTLS_HSM_PIN";

/// A token PIN.
///
/// It comes from an environment variable or a file, never from a command line (where other
/// users could read it in the process list). Its `Debug` output is redacted, it is wiped from
/// memory when dropped, and no error message contains it.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// A PIN from a string the application already holds (for example from its own secret
    /// store).
    pub fn new(pin: impl Into<String>) -> Result<Self, Error> {
        Self::checked(Zeroizing::new(pin.into()), "the application")
    }

    /// The PIN in the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, Error> {
        let source = format!("environment variable {var}");
        match std::env::var(var) {
            Ok(pin) => Self::checked(Zeroizing::new(pin), &source),
            Err(std::env::VarError::NotPresent) => Err(Error::Pin {
                source,
                reason: "it is not set".into(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::Pin {
                source,
                reason: "it is not valid UTF-8".into(),
            }),
        }
    }

    /// The PIN in a file: its first line, without the line ending.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let source = format!("file {}", path.display());
        let contents = Zeroizing::new(std::fs::read(path).map_err(|e| Error::Pin {
            source: source.clone(),
            reason: e.kind().to_string(),
        })?);
        let text = std::str::from_utf8(&contents).map_err(|_| Error::Pin {
            source: source.clone(),
            reason: "it is not valid UTF-8".into(),
        })?;
        let first_line = text.lines().next().unwrap_or_default();
        Self::checked(Zeroizing::new(first_line.to_owned()), &source)
    }

    /// The PIN from `file` when one is given, else from the environment variable `var`: the
    /// rule of the `qtls` CLI's `--pin-file` flags.
    pub fn from_file_or_env(file: Option<&Path>, var: &str) -> Result<Self, Error> {
        match file {
            Some(path) => Self::from_file(path),
            None => Self::from_env(var),
        }
    }

    fn checked(pin: Zeroizing<String>, source: &str) -> Result<Self, Error> {
        if pin.is_empty() {
            return Err(Error::Pin {
                source: source.to_owned(),
                reason: "it is empty".into(),
            });
        }
        Ok(Self(pin))
    }

    pub(crate) fn auth_pin(&self) -> AuthPin {
        AuthPin::from(self.0.as_str())
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn pins_are_never_shown() {
        let pin = Pin::new("s3cret-4711").unwrap();
        assert_eq!(format!("{pin:?}"), "Pin(<redacted>)");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, "s3cret-4711\nignored second line\n").unwrap();
        let from_file = Pin::from_file(&path).unwrap();
        assert_eq!(from_file.0.as_str(), "s3cret-4711");

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let error = Pin::from_file(&empty).unwrap_err().to_string();
        assert!(error.contains("empty"), "{error}");
        let error = Pin::from_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not found"), "{error}");
        let error = Pin::from_env("QTLS_HSM_TEST_UNSET_VARIABLE")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not set"), "{error}");
    }
}
