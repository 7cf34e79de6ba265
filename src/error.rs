use core::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in the `qtls` runtime and CLI.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// Reading or writing a file failed.
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A PEM file held nothing usable.
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        why: String,
    },
    /// The provider refused a key or configuration.
    Provider(qtls_provider::Error),
    /// rustls refused a configuration or failed a handshake.
    Tls(rustls::Error),
    /// A network operation failed.
    Io(std::io::Error),
    /// An operation took longer than allowed.
    Timeout(&'static str),
    /// The peer sent something that is not the HTTP we expect.
    Http(String),
    /// Bad configuration or arguments.
    Config(String),
    /// A certificate chain was rejected; the text names the failure and its alert.
    Rejected(String),
    /// A PKCS#11 token (an HSM) failed or is misconfigured.
    Hsm(qtls_hsm::Error),
}

impl Error {
    /// The TLS alert that ended a failed handshake, with the direction it travelled:
    /// `("received", "handshake_failure")` or `("sent", "bad_certificate")`.
    pub fn alert(&self) -> Option<(&'static str, String)> {
        let tls = match self {
            Self::Tls(e) => e,
            Self::Io(e) => e.get_ref()?.downcast_ref::<rustls::Error>()?,
            _ => return None,
        };
        alert_of(tls)
    }
}

/// The alert rustls sent or received for `error` (the mapping of rustls's `common_state`).
pub(crate) fn alert_of(error: &rustls::Error) -> Option<(&'static str, String)> {
    use rustls::AlertDescription as A;
    let sent = |a: A| Some(("sent", alert_name(a)));
    match error {
        rustls::Error::AlertReceived(a) => Some(("received", alert_name(*a))),
        rustls::Error::InvalidCertificate(e) => sent(A::from(e.clone())),
        rustls::Error::PeerMisbehaved(_) => sent(A::IllegalParameter),
        rustls::Error::PeerIncompatible(_) => sent(A::HandshakeFailure),
        // rustls reports both a record it cannot decrypt (bad_record_mac) and a wrong
        // Finished (decrypt_error) as DecryptError: the error cannot say which alert went out.
        rustls::Error::DecryptError => None,
        rustls::Error::InvalidMessage(_) => sent(A::DecodeError),
        rustls::Error::NoCertificatesPresented => sent(A::CertificateRequired),
        _ => None,
    }
}

/// The RFC 8446 §6 name of an alert, e.g. `handshake_failure`.
pub fn alert_name(alert: rustls::AlertDescription) -> String {
    let debug = format!("{alert:?}");
    let mut name = String::with_capacity(debug.len() + 4);
    let mut previous_lower = false;
    for c in debug.chars() {
        // A word starts at an upper-case letter after a lower-case one: `UnknownCA` is
        // `unknown_ca`, `BadCertificateStatusResponse` is `bad_certificate_status_response`.
        if c.is_ascii_uppercase() && previous_lower {
            name.push('_');
        }
        previous_lower = c.is_ascii_lowercase();
        name.push(c.to_ascii_lowercase());
    }
    name
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Pem { path, why } => write!(f, "{}: {why}", path.display()),
            Self::Provider(e) => write!(f, "{e}"),
            Self::Tls(e) => match alert_of(e) {
                Some((direction, alert)) => write!(f, "TLS error: {e} (alert {alert} {direction})"),
                None => write!(f, "TLS error: {e}"),
            },
            Self::Io(e) => match self.alert() {
                Some((direction, alert)) => write!(f, "{e} (alert {alert} {direction})"),
                None => write!(f, "I/O error: {e}"),
            },
            Self::Timeout(what) => write!(f, "timed out: {what}"),
            Self::Http(why) => write!(f, "HTTP: {why}"),
            Self::Config(why) => write!(f, "configuration: {why}"),
            Self::Rejected(why) => write!(f, "{why}"),
            Self::Hsm(e) => write!(f, "HSM: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::File { source, .. } => Some(source),
            Self::Provider(e) => Some(e),
            Self::Tls(e) => Some(e),
            Self::Io(e) => Some(e),
            Self::Hsm(e) => Some(e),
            _ => None,
        }
    }
}

impl From<qtls_provider::Error> for Error {
    fn from(e: qtls_provider::Error) -> Self {
        Self::Provider(e)
    }
}

impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Self::Tls(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_follow_rfc_8446() {
        use rustls::AlertDescription as A;
        for (alert, name) in [
            (A::UnknownCA, "unknown_ca"),
            (A::HandshakeFailure, "handshake_failure"),
            (
                A::BadCertificateStatusResponse,
                "bad_certificate_status_response",
            ),
            (A::InsufficientSecurity, "insufficient_security"),
            (A::DecryptError, "decrypt_error"),
            (A::CloseNotify, "close_notify"),
        ] {
            assert_eq!(alert_name(alert), name);
        }
    }
}
