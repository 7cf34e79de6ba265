//! Cipher suites by OpenSSL name, as `openssl s_server -ciphersuites` and `-cipher` take them.

use rustls::crypto::aws_lc_rs::cipher_suite as cs;
use rustls::SupportedCipherSuite;

use crate::error::Error;
use crate::provider::Preset;

/// OpenSSL's name of each cipher suite rustls's aws-lc-rs provider implements, TLS 1.3 first
/// ([RFC 8446 §B.4](https://www.rfc-editor.org/rfc/rfc8446#appendix-B.4)), then TLS 1.2
/// ([RFC 8422 §6](https://www.rfc-editor.org/rfc/rfc8422#section-6),
/// [RFC 7905](https://www.rfc-editor.org/rfc/rfc7905)).
static CIPHER_SUITE_NAMES: [(&str, &SupportedCipherSuite); 9] = [
    ("TLS_AES_256_GCM_SHA384", &cs::TLS13_AES_256_GCM_SHA384),
    ("TLS_AES_128_GCM_SHA256", &cs::TLS13_AES_128_GCM_SHA256),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        &cs::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        &cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        &cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        &cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        &cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        &cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        &cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Looks a cipher suite up by its OpenSSL name (`TLS_AES_128_GCM_SHA256`,
/// `ECDHE-RSA-AES256-GCM-SHA384`) or its IANA / rustls name (`TLS13_AES_128_GCM_SHA256`,
/// `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`), case-insensitively.
pub fn cipher_suite_by_name(name: &str) -> Result<SupportedCipherSuite, Error> {
    CIPHER_SUITE_NAMES
        .iter()
        .find(|(openssl, suite)| {
            openssl.eq_ignore_ascii_case(name)
                || format!("{:?}", suite.suite()).eq_ignore_ascii_case(name)
        })
        .map(|(_, suite)| **suite)
        .ok_or_else(|| {
            Error::Config(format!(
                "unknown cipher suite {name:?}; known: {}",
                CIPHER_SUITE_NAMES.map(|(n, _)| n).join(", ")
            ))
        })
}

/// Parses an OpenSSL-style list (`:` or `,` separated, in preference order) for `preset`:
/// every suite must be of a protocol version the preset allows, so a TLS 1.2 suite is
/// refused outside the compatible preset instead of being silently unused.
pub fn cipher_suites_by_names(
    list: &str,
    preset: Preset,
) -> Result<Vec<SupportedCipherSuite>, Error> {
    let mut suites: Vec<SupportedCipherSuite> = Vec::new();
    for name in list
        .split([':', ','])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let suite = cipher_suite_by_name(name)?;
        if !preset
            .protocol_versions()
            .iter()
            .any(|v| v.version == suite.version().version)
        {
            return Err(Error::Config(format!(
                "cipher suite {name} is for {:?}, which the {preset} preset does not allow",
                suite.version().version
            )));
        }
        if suites.iter().any(|s| s.suite() == suite.suite()) {
            return Err(Error::Config(format!(
                "cipher suite {name} is listed twice"
            )));
        }
        suites.push(suite);
    }
    if suites.is_empty() {
        return Err(Error::Config("no cipher suites".into()));
    }
    Ok(suites)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn openssl_and_rustls_names_find_the_same_suite() {
        for (openssl, suite) in &CIPHER_SUITE_NAMES {
            let rustls_name = format!("{:?}", suite.suite());
            assert_eq!(
                cipher_suite_by_name(openssl).unwrap().suite(),
                suite.suite()
            );
            assert_eq!(
                cipher_suite_by_name(&rustls_name.to_ascii_lowercase())
                    .unwrap()
                    .suite(),
                suite.suite()
            );
        }
        assert!(cipher_suite_by_name("AES128-SHA").is_err());
    }

    #[test]
    fn lists_keep_order_and_respect_the_preset() {
        let suites = cipher_suites_by_names(
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384",
            Preset::Hybrid,
        )
        .unwrap();
        assert_eq!(
            suites.iter().map(|s| s.suite()).collect::<Vec<_>>(),
            [
                cs::TLS13_CHACHA20_POLY1305_SHA256.suite(),
                cs::TLS13_AES_128_GCM_SHA256.suite(),
                cs::TLS13_AES_256_GCM_SHA384.suite()
            ]
        );
        assert!(cipher_suites_by_names("ECDHE-RSA-AES256-GCM-SHA384", Preset::Hybrid).is_err());
        assert!(cipher_suites_by_names("ECDHE-RSA-AES256-GCM-SHA384", Preset::Compatible).is_ok());
        assert!(cipher_suites_by_names("", Preset::Compatible).is_err());
        assert!(cipher_suites_by_names(
            "TLS_AES_128_GCM_SHA256:TLS13_AES_128_GCM_SHA256",
            Preset::Hybrid
        )
        .is_err());
    }
}
