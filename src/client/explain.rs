//! Why a handshake failed: what this client offered, and the likely causes.

use super::ClientOptions;
use crate::error::Error;

/// What `settings` makes a client offer, by name: key-exchange groups and the signature
/// schemes its server verifier accepts (RFC 8446 §4.2.7, §4.2.3), in preference order.
struct Offer {
    groups: Vec<String>,
    schemes: Vec<String>,
    /// Every group offered has an ML-KEM part.
    post_quantum_groups_only: bool,
    /// Some group offered has an ML-KEM part.
    any_post_quantum_group: bool,
    /// Every scheme accepted is ML-DSA or composite.
    post_quantum_schemes_only: bool,
}

impl Offer {
    fn of(
        settings: &crate::TlsSettings,
        roots: &[rustls_pki_types::CertificateDer<'static>],
    ) -> Result<Self, Error> {
        let provider = settings.provider()?;
        let code_points = &settings.code_points;
        let groups: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        let verifier = qtls_verifier::ServerVerifierBuilder::new(roots.to_vec(), &provider)
            .revocation_policy(qtls_verifier::RevocationPolicy::Off)
            .online_ocsp(false)
            .fetch_crls(false)
            .build()
            .map_err(|e| Error::Config(format!("server verifier: {e}")))?;
        let schemes =
            rustls::client::danger::ServerCertVerifier::supported_verify_schemes(verifier.as_ref());
        let is_pq_group =
            |g: &rustls::NamedGroup| qtls_provider::is_post_quantum_group(*g, code_points);
        Ok(Self {
            post_quantum_groups_only: !groups.is_empty() && groups.iter().all(is_pq_group),
            any_post_quantum_group: groups.iter().any(is_pq_group),
            post_quantum_schemes_only: !schemes.is_empty()
                && schemes
                    .iter()
                    .all(|s| code_points.is_post_quantum_scheme(*s)),
            groups: groups
                .iter()
                .map(|g| crate::group_name(*g, code_points))
                .collect(),
            schemes: schemes
                .iter()
                .map(|s| code_points.scheme_name(*s))
                .collect(),
        })
    }
}

/// For a handshake the server refused over its parameters (handshake_failure or
/// insufficient_security received, [RFC 8446 §6.2](https://www.rfc-editor.org/rfc/rfc8446#section-6.2);
/// handshake_failure sent), lines saying what this client offered and the likely cause,
/// worked out from the alert and `options` (after a `fallback`, from the retry's settings,
/// which produced the error). Alerts carry no reason, so the causes are the candidates this
/// configuration makes likely. `None` for other errors.
pub fn explain_handshake_failure(options: &ClientOptions, error: &Error) -> Option<Vec<String>> {
    let (direction, alert) = error.alert()?;
    if !matches!(
        (direction, alert.as_str()),
        ("received", "handshake_failure" | "insufficient_security") | ("sent", "handshake_failure")
    ) {
        return None;
    }
    let settings = match options.fallback {
        Some(fallback) if alert == "handshake_failure" => fallback
            .settings(&options.settings)
            .unwrap_or_else(|_| options.settings.clone()),
        _ => options.settings.clone(),
    };
    let offer = Offer::of(&settings, &options.roots).ok()?;
    let groups = offer.groups.join(", ");
    let mut lines = vec![
        format!("the handshake failed: {alert} {direction}"),
        format!("key-exchange groups we offered: {groups}"),
        format!("signature schemes we offered: {}", offer.schemes.join(", ")),
    ];
    let mut causes = Vec::new();
    match (direction, alert.as_str()) {
        ("received", "insufficient_security") if !offer.any_post_quantum_group => {
            causes.push(format!(
                "the server requires post-quantum key exchange and we offered no post-quantum \
                 key exchange ({groups}): offer an ML-KEM group (--preset hybrid, or --group \
                 X25519MLKEM768)"
            ))
        }
        ("received", "insufficient_security") => causes.push(
            "the server found what we offered too weak for its policy (it may require \
             post-quantum signatures, or a group or cipher suite we did not offer)"
                .into(),
        ),
        ("received", _) => {
            if offer.post_quantum_schemes_only {
                causes.push(
                    "the server offers no composite/ML-DSA scheme we accept: we accept \
                     post-quantum signatures only, so a server whose certificates are all \
                     classical (ECDSA, RSA, Ed25519) cannot authenticate to us (--preset \
                     hybrid or compatible accepts those too)"
                        .into(),
                );
            }
            if offer.post_quantum_groups_only {
                causes.push(format!(
                    "no key-exchange group in common: we offered post-quantum groups only \
                     ({groups}), and a server without them refuses us"
                ));
            } else if !settings.groups.is_empty() {
                causes.push(format!(
                    "no key-exchange group in common: we offered only {groups} (--group)"
                ));
            }
            if !settings.cipher_suites.is_empty() {
                causes.push(format!(
                    "no cipher suite in common: we offered only {} (--cipher-suite)",
                    settings.cipher_suites.join(", ")
                ));
            }
            if causes.is_empty() {
                causes.push(
                    "no key-exchange group, cipher suite or signature scheme in common with \
                     the server"
                        .into(),
                );
            }
        }
        _ => causes.push(
            "the server chose parameters we did not offer or cannot use (a group, cipher \
             suite or signature scheme outside the lists above)"
                .into(),
        ),
    }
    lines.extend(
        causes
            .into_iter()
            .map(|cause| format!("likely cause: {cause}")),
    );
    Some(lines)
}
