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
    /// A setting is out of its range.
    InvalidSetting {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A certificate chain was rejected; the text names the failure and its alert.
    Rejected(String),
    /// A connection was not accepted (refused by the gate, timed out, or a failed handshake).
    Accept(crate::AcceptError),
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

/// The registered name of an alert, e.g. `handshake_failure`
/// ([RFC 8446 §6](https://www.rfc-editor.org/rfc/rfc8446#section-6) and the
/// [IANA TLS Alerts registry](https://www.iana.org/assignments/tls-parameters/tls-parameters.xhtml#tls-parameters-6));
/// `alert_N` for a value with no name.
pub fn alert_name(alert: rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    let name = match alert {
        A::CloseNotify => "close_notify",
        A::UnexpectedMessage => "unexpected_message",
        A::BadRecordMac => "bad_record_mac",
        A::DecryptionFailed => "decryption_failed",
        A::RecordOverflow => "record_overflow",
        A::DecompressionFailure => "decompression_failure",
        A::HandshakeFailure => "handshake_failure",
        A::NoCertificate => "no_certificate",
        A::BadCertificate => "bad_certificate",
        A::UnsupportedCertificate => "unsupported_certificate",
        A::CertificateRevoked => "certificate_revoked",
        A::CertificateExpired => "certificate_expired",
        A::CertificateUnknown => "certificate_unknown",
        A::IllegalParameter => "illegal_parameter",
        A::UnknownCA => "unknown_ca",
        A::AccessDenied => "access_denied",
        A::DecodeError => "decode_error",
        A::DecryptError => "decrypt_error",
        A::ExportRestriction => "export_restriction",
        A::ProtocolVersion => "protocol_version",
        A::InsufficientSecurity => "insufficient_security",
        A::InternalError => "internal_error",
        A::InappropriateFallback => "inappropriate_fallback",
        A::UserCanceled => "user_canceled",
        A::NoRenegotiation => "no_renegotiation",
        A::MissingExtension => "missing_extension",
        A::UnsupportedExtension => "unsupported_extension",
        A::CertificateUnobtainable => "certificate_unobtainable",
        A::UnrecognisedName => "unrecognized_name",
        A::BadCertificateStatusResponse => "bad_certificate_status_response",
        A::BadCertificateHashValue => "bad_certificate_hash_value",
        A::UnknownPSKIdentity => "unknown_psk_identity",
        A::CertificateRequired => "certificate_required",
        A::NoApplicationProtocol => "no_application_protocol",
        A::EncryptedClientHelloRequired => "ech_required",
        other => return format!("alert_{}", u8::from(other)),
    };
    name.into()
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
            Self::Accept(e) => write!(f, "{e}"),
            Self::InvalidSetting {
                setting,
                value,
                expected,
            } => write!(f, "{setting} = {value}: must be {expected}"),
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
            Self::Accept(e) => Some(e),
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

    #[test]
    fn every_alert_value_has_a_distinct_snake_case_name() {
        let names: Vec<String> = (0..=255u8)
            .map(|value| alert_name(rustls::AlertDescription::from(value)))
            .collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 256, "two alert values share a name");
        for name in &names {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
        assert_eq!(
            alert_name(rustls::AlertDescription::from(0xfe)),
            "alert_254"
        );
        assert_eq!(
            alert_name(rustls::AlertDescription::UnrecognisedName),
            "unrecognized_name"
        );
    }

    #[test]
    fn errors_name_the_alert_rustls_sends_for_them() {
        use rustls::{AlertDescription as A, CertificateError, Error as E, PeerMisbehaved};
        let sent = |a: A| Some(("sent", alert_name(a)));
        assert_eq!(
            alert_of(&E::AlertReceived(A::AccessDenied)),
            Some(("received", "access_denied".into()))
        );
        assert_eq!(
            alert_of(&E::InvalidCertificate(CertificateError::Revoked)),
            sent(A::CertificateRevoked)
        );
        assert_eq!(
            alert_of(&E::InvalidCertificate(CertificateError::UnknownIssuer)),
            sent(A::UnknownCA)
        );
        assert_eq!(
            alert_of(&E::PeerMisbehaved(
                PeerMisbehaved::SignedKxWithWrongAlgorithm
            )),
            sent(A::IllegalParameter)
        );
        assert_eq!(
            alert_of(&E::PeerIncompatible(
                rustls::PeerIncompatible::NoKxGroupsInCommon
            )),
            sent(A::HandshakeFailure)
        );
        assert_eq!(
            alert_of(&E::NoCertificatesPresented),
            sent(A::CertificateRequired)
        );
        // bad_record_mac and decrypt_error both surface as DecryptError: no name is guessed.
        assert_eq!(alert_of(&E::DecryptError), None);
    }
}
