//! The policy gate in front of the handshake: look at the ClientHello before rustls answers
//! it, and refuse with the alert the policy names.
//!
//! rustls's [`Acceptor`](rustls::server::Acceptor) parses the ClientHello and shows the
//! offered groups, suites and schemes, but not supported_versions; a TLS 1.2-only client
//! must get protocol_version rather than insufficient_security, so the versions are read
//! from the same bytes by [`offered_versions`], a bounds-checked walk over the ClientHello.

use rustls::{AlertDescription, NamedGroup};

/// Why the gate refuses a ClientHello, and the alert it sends (before ServerHello, as a
/// plaintext record: `15 03 03 00 02 02 <description>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The client offers no TLS 1.3: protocol_version.
    ProtocolVersion,
    /// The policy requires a post-quantum key exchange and the client offers none:
    /// insufficient_security.
    NoPostQuantumGroup {
        /// The first [`Refusal::MAX_LISTED`] groups the client offered, in OpenSSL's
        /// spelling where known (a ClientHello may list 32,767: what one peer can make us
        /// log is bounded).
        offered: Vec<String>,
        /// How many more groups the client offered.
        more: usize,
    },
    /// No certificate in service signs with a scheme the client offers in
    /// signature_algorithms: handshake_failure
    /// ([RFC 8446 §4.4.2.2](https://www.rfc-editor.org/rfc/rfc8446#section-4.4.2.2)).
    NoSuitableCertificate,
    /// The server cannot serve right now (hard-fail stapling without a staple, ...):
    /// internal_error.
    Unavailable(String),
}

impl Refusal {
    /// How many offered items a refusal names (the rest are counted).
    pub const MAX_LISTED: usize = 8;

    /// The alert this refusal sends.
    pub fn alert(&self) -> AlertDescription {
        match self {
            Self::ProtocolVersion => AlertDescription::ProtocolVersion,
            Self::NoPostQuantumGroup { .. } => AlertDescription::InsufficientSecurity,
            Self::NoSuitableCertificate => AlertDescription::HandshakeFailure,
            Self::Unavailable(_) => AlertDescription::InternalError,
        }
    }

    /// The plaintext fatal alert record.
    pub fn record(&self) -> [u8; 7] {
        plaintext_alert(self.alert())
    }
}

/// A TLS record header: type, legacy version, length
/// ([RFC 8446 §5.1](https://www.rfc-editor.org/rfc/rfc8446#section-5.1)).
pub(crate) const RECORD_HEADER: usize = 5;

/// A fatal alert as a plaintext record, for refusals before the server's flight
/// ([RFC 8446 §6](https://www.rfc-editor.org/rfc/rfc8446#section-6)):
/// `15 03 03 00 02 02 <description>`.
pub(crate) fn plaintext_alert(alert: AlertDescription) -> [u8; 7] {
    [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, u8::from(alert)]
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ProtocolVersion => write!(f, "client offers no protocol version we serve"),
            Self::NoPostQuantumGroup { offered, more } => {
                write!(
                    f,
                    "client offers no post-quantum key exchange (offered: {}",
                    offered.join(", ")
                )?;
                if *more > 0 {
                    write!(f, " and {more} more")?;
                }
                write!(f, ")")
            }
            Self::NoSuitableCertificate => write!(
                f,
                "no certificate in service signs with a scheme the client offers"
            ),
            Self::Unavailable(why) => write!(f, "unavailable: {why}"),
        }
    }
}

/// The decision for one ClientHello. `allow_tls12`: a client offering TLS 1.2 but not 1.3
/// passes (the `compatible` preset without a post-quantum requirement); otherwise it gets
/// protocol_version.
pub(crate) fn check(
    hello: &ClientHelloMessage,
    groups: Option<&[NamedGroup]>,
    require_post_quantum: bool,
    allow_tls12: bool,
    code_points: &qtls_provider::CodePoints,
) -> Result<(), Refusal> {
    let versions = hello.versions();
    if !versions.contains(&TLS13) {
        // Without TLS 1.3 there is no post-quantum key exchange to require.
        if allow_tls12 && !require_post_quantum && versions.contains(&TLS12) {
            return Ok(());
        }
        return Err(Refusal::ProtocolVersion);
    }
    if require_post_quantum {
        let groups = groups.unwrap_or_default();
        if !groups
            .iter()
            .any(|group| qtls_provider::is_post_quantum_group(*group, code_points))
        {
            return Err(Refusal::NoPostQuantumGroup {
                offered: groups
                    .iter()
                    .take(Refusal::MAX_LISTED)
                    .map(|group| crate::group_name(*group, code_points))
                    .collect(),
                more: groups.len().saturating_sub(Refusal::MAX_LISTED),
            });
        }
    }
    Ok(())
}

/// The protocol versions a ClientHello offers: its supported_versions extension (RFC 8446
/// §4.2.1), or else its legacy_version. `records` are the raw TLS records as received
/// (handshake records holding the ClientHello, possibly fragmented). Anything malformed
/// yields what could be read, never a panic; rustls rejects malformed hellos itself.
pub fn offered_versions(records: &[u8]) -> Vec<u16> {
    ClientHelloMessage::from_records(records).versions()
}

/// A ClientHello message as received, reassembled once from its records for what the gate
/// and the 0-RTT check read from it that rustls does not expose. Anything malformed yields
/// what could be read, never a panic; rustls rejects malformed hellos itself.
pub(crate) struct ClientHelloMessage(Vec<u8>);

impl ClientHelloMessage {
    /// The message in `records`, the raw TLS records as received (handshake records holding
    /// the ClientHello, possibly fragmented; anything after them is ignored).
    pub(crate) fn from_records(records: &[u8]) -> Self {
        Self(reassemble(records))
    }

    /// The protocol versions offered: supported_versions (RFC 8446 §4.2.1), or else
    /// legacy_version.
    pub(crate) fn versions(&self) -> Vec<u16> {
        parse_versions(&self.0).unwrap_or_default()
    }

    /// The first PSK offered and whether early data is asked for, if a PSK is offered.
    pub(crate) fn psk_offer(&self) -> Option<PskOffer> {
        psk_offer(&self.0)
    }
}

/// Concatenates the payloads of the leading handshake records.
fn reassemble(mut records: &[u8]) -> Vec<u8> {
    let mut message = Vec::new();
    while records.len() >= RECORD_HEADER && records[0] == 0x16 {
        let len = usize::from(u16::from_be_bytes([records[3], records[4]]));
        let end = (RECORD_HEADER + len).min(records.len());
        message.extend_from_slice(&records[RECORD_HEADER..end]);
        records = &records[end..];
    }
    message
}

/// A cursor over bytes that never reads past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn vec_u8(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.u8()?);
        self.take(len)
    }

    fn vec_u16(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.u16()?);
        self.take(len)
    }
}

fn parse_versions(message: &[u8]) -> Option<Vec<u16>> {
    let (legacy_version, extensions) = client_hello_parts(message)?;
    // Without supported_versions a higher legacy_version still negotiates TLS 1.2 at most
    // ([RFC 8446 §4.2.1](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.1),
    // [RFC 5246 Appendix E.1](https://www.rfc-editor.org/rfc/rfc5246#appendix-E.1)).
    let legacy_version = legacy_version.min(TLS12);
    let Some(extensions) = extensions else {
        return Some(vec![legacy_version]);
    };
    let mut extensions = Reader(extensions);
    while let (Some(kind), Some(body)) = (extensions.u16(), extensions.vec_u16()) {
        if kind == EXT_SUPPORTED_VERSIONS {
            let mut body = Reader(body);
            let mut list = Reader(body.vec_u8()?);
            let mut versions = Vec::new();
            while let Some(version) = list.u16() {
                versions.push(version);
            }
            return Some(versions);
        }
    }
    Some(vec![legacy_version])
}

/// The first PSK a ClientHello offers (RFC 8446 §4.2.11) and whether it asks to send early
/// data (§4.2.10): what the 0-RTT freshness check needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PskOffer {
    /// The first identity: the session ID (stateful) or the ticket. rustls accepts early
    /// data only on the first PSK.
    pub(crate) identity: Vec<u8>,
    /// `obfuscated_ticket_age` of that identity: the client's idea of the ticket's age in
    /// milliseconds, plus the ticket's `ticket_age_add`.
    pub(crate) obfuscated_ticket_age: u32,
    /// Whether the hello carries the early_data extension.
    pub(crate) early_data: bool,
}

/// The PSK offer of a ClientHello message, if it makes one.
fn psk_offer(message: &[u8]) -> Option<PskOffer> {
    let mut extensions = Reader(client_hello_parts(message)?.1?);
    let mut early_data = false;
    let mut offer = None;
    while let (Some(kind), Some(body)) = (extensions.u16(), extensions.vec_u16()) {
        match kind {
            EXT_EARLY_DATA => early_data = true,
            EXT_PRE_SHARED_KEY => {
                let mut identities = Reader(Reader(body).vec_u16()?);
                let identity = identities.vec_u16()?.to_vec();
                let age = identities.take(4)?;
                offer = Some((
                    identity,
                    u32::from_be_bytes([age[0], age[1], age[2], age[3]]),
                ));
            }
            _ => {}
        }
    }
    let (identity, obfuscated_ticket_age) = offer?;
    Some(PskOffer {
        identity,
        obfuscated_ticket_age,
        early_data,
    })
}

const TLS13: u16 = 0x0304;
const TLS12: u16 = 0x0303;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_EARLY_DATA: u16 = 42;
const EXT_PRE_SHARED_KEY: u16 = 41;

/// The legacy_version of a ClientHello message (RFC 8446 §4.1.2) and its extensions block,
/// if it has one; `None` if it is not a ClientHello or ends before its extensions.
fn client_hello_parts(message: &[u8]) -> Option<(u16, Option<&[u8]>)> {
    let mut r = Reader(message);
    if r.u8()? != 1 {
        return None; // not a ClientHello
    }
    let _length = r.take(3)?;
    let legacy_version = r.u16()?;
    r.take(32)?; // random
    r.vec_u8()?; // legacy_session_id
    r.vec_u16()?; // cipher_suites
    r.vec_u8()?; // legacy_compression_methods
    Some((legacy_version, r.vec_u16()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A ClientHello record with the given supported_versions (None: extension absent).
    fn client_hello(versions: Option<&[u16]>) -> Vec<u8> {
        client_hello_with(versions, &[])
    }

    /// The same with `more` extensions after supported_versions.
    fn client_hello_with(versions: Option<&[u16]>, more: &[u8]) -> Vec<u8> {
        let mut extensions = Vec::new();
        // server_name, to make sure other extensions are skipped.
        extensions.extend([0, 0, 0, 5, 0, 3, 0, 0, 0]);
        if let Some(versions) = versions {
            let list: Vec<u8> = versions.iter().flat_map(|v| v.to_be_bytes()).collect();
            extensions.extend(43u16.to_be_bytes());
            extensions.extend(((list.len() + 1) as u16).to_be_bytes());
            extensions.push(list.len() as u8);
            extensions.extend(list);
        }
        extensions.extend(more);
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]);
        body.push(0);
        body.extend([0, 2, 0x13, 0x02]);
        body.extend([1, 0]);
        body.extend((extensions.len() as u16).to_be_bytes());
        body.extend(extensions);
        let mut message = vec![1, 0];
        message.extend((body.len() as u16).to_be_bytes());
        message.extend(body);
        let mut record = vec![0x16, 0x03, 0x01];
        record.extend((message.len() as u16).to_be_bytes());
        record.extend(message);
        record
    }

    #[test]
    fn versions_come_from_supported_versions_or_legacy_version() {
        assert_eq!(
            offered_versions(&client_hello(Some(&[0x0304, 0x0303]))),
            [0x0304, 0x0303]
        );
        assert_eq!(offered_versions(&client_hello(None)), [0x0303]);
    }

    #[test]
    fn a_legacy_version_above_tls12_without_supported_versions_offers_tls12() {
        // RFC 8446 §4.2.1 and RFC 5246 Appendix E.1: negotiate TLS 1.2 (tlsfuzzer's
        // test-tls13-version-negotiation "TLS 1.8 in client hello legacy field").
        let code_points = qtls_provider::CodePoints::DEFAULT;
        for legacy in [[3, 4], [3, 9], [0xfe, 0xfe]] {
            let mut hello = client_hello(None);
            hello[9..11].copy_from_slice(&legacy);
            assert_eq!(offered_versions(&hello), [0x0303], "{legacy:?}");
            let hello = ClientHelloMessage::from_records(&hello);
            assert_eq!(
                check(
                    &hello,
                    Some(&[NamedGroup::X25519]),
                    false,
                    true,
                    &code_points
                ),
                Ok(())
            );
        }
        let mut tls11 = client_hello(None);
        tls11[9..11].copy_from_slice(&[3, 2]);
        assert_eq!(offered_versions(&tls11), [0x0302]);
    }

    #[test]
    fn fragmented_hellos_are_reassembled() {
        let record = client_hello(Some(&[0x0304]));
        let message = &record[5..];
        let (a, b) = message.split_at(20);
        let mut fragmented = vec![0x16, 3, 1, 0, a.len() as u8];
        fragmented.extend(a);
        fragmented.extend([0x16, 3, 1, (b.len() >> 8) as u8, b.len() as u8]);
        fragmented.extend(b);
        assert_eq!(offered_versions(&fragmented), [0x0304]);
    }

    #[test]
    fn garbage_and_truncations_never_panic() {
        let record = client_hello(Some(&[0x0304]));
        for cut in 0..record.len() {
            let _ = offered_versions(&record[..cut]);
        }
        for byte in 0..=255u8 {
            let mut bad = record.clone();
            bad[9] = byte;
            let _ = offered_versions(&bad);
            let _ = offered_versions(&[byte; 64]);
        }
    }

    /// early_data (empty), then pre_shared_key with two identities and their binders.
    fn psk_extensions(early_data: bool) -> Vec<u8> {
        let mut identities = Vec::new();
        for (identity, age) in [(&b"session-one"[..], 0x0102_0304u32), (b"two", 9)] {
            identities.extend((identity.len() as u16).to_be_bytes());
            identities.extend(identity);
            identities.extend(age.to_be_bytes());
        }
        let binders = [&[32u8][..], &[0xbb; 32]].concat();
        let binders = [&[0, 33][..], &binders, &[0, 0]].concat();
        let mut body = (identities.len() as u16).to_be_bytes().to_vec();
        body.extend(identities);
        body.extend(binders);
        let mut extensions = Vec::new();
        if early_data {
            extensions.extend([0, 42, 0, 0]);
        }
        extensions.extend(41u16.to_be_bytes());
        extensions.extend((body.len() as u16).to_be_bytes());
        extensions.extend(body);
        extensions
    }

    #[test]
    fn the_first_psk_and_the_early_data_request_are_read() {
        let hello = client_hello_with(Some(&[0x0304]), &psk_extensions(true));
        assert_eq!(
            ClientHelloMessage::from_records(&hello).psk_offer(),
            Some(PskOffer {
                identity: b"session-one".to_vec(),
                obfuscated_ticket_age: 0x0102_0304,
                early_data: true,
            })
        );
        let hello = client_hello_with(Some(&[0x0304]), &psk_extensions(false));
        assert_eq!(
            ClientHelloMessage::from_records(&hello)
                .psk_offer()
                .map(|offer| offer.early_data),
            Some(false)
        );
        assert_eq!(
            ClientHelloMessage::from_records(&client_hello(Some(&[0x0304]))).psk_offer(),
            None
        );
        // Truncated or garbled hellos yield what can be read, never a panic.
        for cut in 0..hello.len() {
            let _ = ClientHelloMessage::from_records(&hello[..cut]).psk_offer();
        }
        for at in 0..hello.len() {
            let mut bad = hello.clone();
            bad[at] ^= 0xff;
            let _ = ClientHelloMessage::from_records(&bad).psk_offer();
        }
    }

    #[test]
    fn the_gate_refuses_with_the_policy_alert() {
        let code_points = qtls_provider::CodePoints::DEFAULT;
        let tls13 = client_hello(Some(&[0x0304]));
        let tls12 = client_hello(None);
        let classical = [NamedGroup::X25519, NamedGroup::secp256r1];
        let hybrid = [NamedGroup::X25519MLKEM768];
        assert_eq!(
            check(
                &ClientHelloMessage::from_records(&tls12),
                Some(&hybrid),
                true,
                false,
                &code_points
            ),
            Err(Refusal::ProtocolVersion)
        );
        let refusal = check(
            &ClientHelloMessage::from_records(&tls13),
            Some(&classical),
            true,
            false,
            &code_points,
        )
        .unwrap_err();
        assert_eq!(refusal.alert(), AlertDescription::InsufficientSecurity);
        assert_eq!(refusal.record(), [0x15, 3, 3, 0, 2, 2, 71]);
        assert!(refusal.to_string().contains("X25519"));
        assert!(check(
            &ClientHelloMessage::from_records(&tls13),
            Some(&classical),
            false,
            false,
            &code_points
        )
        .is_ok());
        assert!(check(
            &ClientHelloMessage::from_records(&tls13),
            Some(&hybrid),
            true,
            false,
            &code_points
        )
        .is_ok());
        assert!(check(
            &ClientHelloMessage::from_records(&tls13),
            Some(&[NamedGroup::from(0x11ed)]),
            true,
            false,
            &code_points
        )
        .is_ok());
    }

    #[test]
    fn tls12_passes_only_where_allowed_and_without_a_post_quantum_requirement() {
        let code_points = qtls_provider::CodePoints::DEFAULT;
        let tls12 = ClientHelloMessage::from_records(&client_hello(None));
        let classical = [NamedGroup::X25519];
        assert_eq!(
            check(&tls12, Some(&classical), false, true, &code_points),
            Ok(())
        );
        assert_eq!(
            check(&tls12, Some(&classical), true, true, &code_points),
            Err(Refusal::ProtocolVersion)
        );
        assert_eq!(
            check(&tls12, Some(&classical), false, false, &code_points),
            Err(Refusal::ProtocolVersion)
        );
        // TLS 1.1 and older are never served.
        let tls11 = ClientHelloMessage::from_records(&client_hello(Some(&[0x0302])));
        assert_eq!(
            check(&tls11, Some(&classical), false, true, &code_points),
            Err(Refusal::ProtocolVersion)
        );
    }

    #[test]
    fn a_refusal_names_a_bounded_number_of_groups() {
        let code_points = qtls_provider::CodePoints::DEFAULT;
        let tls13 = ClientHelloMessage::from_records(&client_hello(Some(&[0x0304])));
        let many: Vec<NamedGroup> = (0..32_000u16)
            .map(|g| NamedGroup::from(0x7000 + g))
            .collect();
        let refusal = check(&tls13, Some(&many), true, false, &code_points).unwrap_err();
        let Refusal::NoPostQuantumGroup { offered, more } = &refusal else {
            panic!("unexpected refusal {refusal:?}");
        };
        assert_eq!(offered.len(), Refusal::MAX_LISTED);
        assert_eq!(*more, 32_000 - Refusal::MAX_LISTED);
        let text = refusal.to_string();
        assert!(text.len() < 400, "{text}");
        assert!(text.ends_with("and 31992 more)"), "{text}");
    }
}
