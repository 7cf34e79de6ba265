//! The body of every fuzz target: one function per target, taking the fuzzer's bytes,
//! calling the real parser and checking its invariants (a broken invariant panics, which
//! libFuzzer reports as a crash).
//!
//! The same file is compiled into the main workspace's `tests/fuzz_corpus.rs` (through
//! `#[path]`), so the corpus replay on the stable toolchain runs exactly this code. It may
//! use only crates both the fuzz crate and the root crate's tests depend on.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use qtls_pki::x509_cert::der::Decode;
use rustls::crypto::SupportedKxGroup;
use rustls::server::ProducesTickets;
use rustls::NamedGroup;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by name, with its body (the name is the file under `fuzz_targets/` and the
/// directory under `corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("client_hello", client_hello),
    ("http_request", http_request),
    ("http_response", http_response),
    ("early_records", early_records),
    ("session_age", session_age),
    ("redis_value", redis_value),
    ("ticket", ticket),
    ("ocsp_get_path", ocsp_get_path),
    ("ocsp_request", ocsp_request),
    ("ocsp_response", ocsp_response),
    ("crl", crl),
    ("kx", kx),
    ("signature", signature),
    ("private_key", private_key),
    ("revocation_index", revocation_index),
    ("pkcs11_uri", pkcs11_uri),
    ("config_toml", config_toml),
    ("encrypted_key", encrypted_key),
    ("catalyst_pre_tbs", catalyst_pre_tbs),
    ("hsm_ticket", hsm_ticket),
];

/// The fixed time (Unix seconds) the fixture PKI was issued at and the targets run at, so
/// committed responses and tickets stay valid inputs.
pub const NOW: u64 = 1_796_000_000;

/// The fleet secret of the ticket and Redis-value targets.
pub const FLEET_SECRET: [u8; 32] = [7; 32];

/// `fuzz/fixtures`: the PKI the OCSP targets answer for and check against.
pub fn fixtures_dir() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if here.join("fixtures").is_dir() {
        here.join("fixtures")
    } else {
        // Compiled into qtls-cli's corpus replay test: the fuzz crate is its sibling.
        here.join("../fuzz/fixtures")
    }
}

/// The fixture PKI (written by the corpus generator).
pub fn fixture_pki() -> &'static qtls_pki::Pki {
    static PKI: OnceLock<qtls_pki::Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        qtls_pki::Pki::load_from_dir(fixtures_dir(), qtls_pki::Backend::AwsLc)
            .expect("fuzz/fixtures holds a PKI (run the corpus generator)")
    })
}

/// `now` as the PKI crates take it.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(NOW as i64).unwrap()
}

fn take_u16<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::from(u16::from_be_bytes([*data.first()?, *data.get(1)?]));
    let part = data.get(2..2 + len)?;
    *data = &data[2 + len..];
    Some(part)
}

/// Splits `parts` length-prefixed (u16) fields off the front; the rest is the last field.
pub fn split(mut data: &[u8], parts: usize) -> Option<(Vec<&[u8]>, &[u8])> {
    let mut out = Vec::with_capacity(parts);
    for _ in 0..parts {
        out.push(take_u16(&mut data)?);
    }
    Some((out, data))
}

/// The inverse of [`split`], for the corpus generator.
pub fn join(parts: &[&[u8]], rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&u16::try_from(part.len()).unwrap().to_be_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(rest);
    out
}

const TLS13: u16 = 0x0304;

/// The ClientHello gate on raw records, beside rustls's `Acceptor` on the same bytes: a
/// hello rustls accepts has versions the gate can read, and the gate's post-quantum verdict
/// on rustls's groups matches the provider's classification.
pub fn client_hello(data: &[u8]) {
    let (versions, _psk) = qtls::fuzzing::client_hello(data);
    let mut acceptor = rustls::server::Acceptor::default();
    let mut input = data;
    let accepted = loop {
        match acceptor.read_tls(&mut input) {
            Ok(0) | Err(_) => break None,
            Ok(_) => {}
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => break Some(accepted),
            Ok(None) => continue,
            Err(_) => break None,
        }
    };
    let Some(accepted) = accepted else { return };
    assert!(
        !versions.is_empty(),
        "rustls accepted a ClientHello whose versions the gate cannot read"
    );
    let hello = accepted.client_hello();
    let groups: Option<Vec<NamedGroup>> = hello.named_groups().map(<[_]>::to_vec);
    let code_points = qtls_provider::CodePoints::default();
    let verdict = qtls::fuzzing::gate_check(data, groups.as_deref(), true, false, &code_points);
    let post_quantum = groups
        .unwrap_or_default()
        .iter()
        .any(|group| qtls_provider::is_post_quantum_group(*group, &code_points));
    if versions.contains(&TLS13) {
        assert_eq!(
            verdict.is_ok(),
            post_quantum,
            "the gate's post-quantum verdict disagrees with rustls's groups"
        );
    } else {
        assert!(
            verdict.is_err(),
            "a hello without TLS 1.3 passed a TLS 1.3-only gate"
        );
    }
}

/// The server's HTTP/1.x request reader, the stream cut into reads of `data[0] + 1` bytes:
/// each byte is looked at a bounded number of times.
pub fn http_request(data: &[u8]) {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let read = qtls_cli::fuzzing::read_requests(stream, usize::from(chunk) + 1);
    assert!(
        read.scanned <= 4 * stream.len() as u64 + 16,
        "{} bytes scanned for a {}-byte stream",
        read.scanned,
        stream.len()
    );
}

/// The client's HTTP/1.1 response reader, the stream cut into reads of `data[0] + 1` bytes.
pub fn http_response(data: &[u8]) {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let (response, scanned) = qtls::fuzzing::read_response(stream, usize::from(chunk) + 1);
    if let Ok(response) = response {
        assert!(response.len() <= stream.len());
        assert!(
            stream.starts_with(&response),
            "a response that is not the stream's start"
        );
    }
    assert!(scanned <= 4 * stream.len() as u64 + 16);
}

/// The rejected-early-data filter (trial decryption with a fixed client handshake traffic
/// secret). Input: allowance (`data[0..2]`, times 4), cipher suite (`data[2]`, of three),
/// chunk size (`data[3]`), then a program building the client's bytes: `0, n, bytes...` raw
/// bytes; `1, seq, type, n, content...` a record sealed with the handshake key; `2, hi, lo` an
/// application_data record of that many zeros. Building stops once the bytes pass 40,000.
///
/// Invariants: the verdict and output do not depend on how the bytes arrive (whole, or in
/// chunks); the output is never longer than the input plus one record rustls cannot skip; a
/// sealed handshake record at sequence number 0 that comes first is passed on unchanged;
/// every record the filter hands rustls is a change_cipher_spec while no handshake message has begun,
/// a short unprotected alert before the second flight, or the second flight's next record (it
/// deprotects at the next sequence number), until it stops; after that comes the rest of the
/// stream, behind one record that fails the handshake if that is why it stopped.
pub fn early_records(data: &[u8]) {
    use qtls::fuzzing::{Filtering, RecordSealer};
    let Some((head, mut program)) = data.split_at_checked(4) else {
        return;
    };
    let allowance = usize::from(u16::from_be_bytes([head[0], head[1]])) * 4;
    let suites = [
        rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
        rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
        rustls::crypto::aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    let Some(suite) = suites[usize::from(head[2]) % suites.len()].tls13() else {
        return;
    };
    let secret = vec![0x42; suite.common.hash_provider.output_len()];
    let chunk = usize::from(head[3]).max(1);
    let Some(sealer) = RecordSealer::new(suite, &secret) else {
        return;
    };
    let mut stream = Vec::new();
    let mut first_sealed_handshake = None;
    // Enough for the 16 KiB allowance twice over; larger allowances are failed by the
    // records of a second flight, which need no volume.
    while let Some((&op, rest)) = program.split_first() {
        if stream.len() > 40_000 {
            break;
        }
        program = rest;
        match op % 3 {
            0 => {
                let Some((&n, rest)) = program.split_first() else {
                    break;
                };
                let n = usize::from(n).min(rest.len());
                stream.extend_from_slice(&rest[..n]);
                program = &rest[n..];
            }
            1 => {
                let Some((&[seq, kind, n], rest)) = program.split_first_chunk::<3>() else {
                    break;
                };
                let n = usize::from(n).min(rest.len());
                let record = sealer.seal(kind, &rest[..n], u64::from(seq));
                if stream.is_empty() && seq == 0 && kind == 0x16 {
                    first_sealed_handshake = Some(record.clone());
                }
                stream.extend(record);
                program = &rest[n..];
            }
            _ => {
                let Some((&[hi, lo], rest)) = program.split_first_chunk::<2>() else {
                    break;
                };
                let n = usize::from(u16::from_be_bytes([hi, lo]) % 18_000);
                stream.extend([0x17, 3, 3]);
                stream.extend(u16::try_from(n).unwrap_or(0).to_be_bytes());
                stream.resize(stream.len() + n, 0);
                program = rest;
            }
        }
    }
    let filter = || qtls::fuzzing::rejected_early_data(suite, &secret, allowance).unwrap();
    let run = |pieces: &mut dyn Iterator<Item = &[u8]>| {
        let mut filter = filter();
        let mut out = Vec::new();
        for piece in pieces {
            if filter.push(piece, &mut out) == Filtering::Done {
                return (out, true);
            }
        }
        filter.finish(&mut out);
        (out, false)
    };
    let whole = run(&mut std::iter::once(&stream[..]));
    let chunked = run(&mut stream.chunks(chunk));
    let (out, done) = &whole;
    if *done {
        // The chunked run stopped at the same record, with the rest of its chunk after it.
        assert!(chunked.1, "done whole but not in chunks");
        assert!(
            out.starts_with(&chunked.0),
            "the verdict depends on how the bytes arrive"
        );
        assert!(stream.ends_with(&out[chunked.0.len()..]));
    } else {
        assert_eq!(
            whole, chunked,
            "the verdict depends on how the bytes arrive"
        );
    }
    // The records handed to rustls, by the filter's rules: a change_cipher_spec while no
    // handshake message has begun, a short unprotected alert before the second flight, or the
    // second flight's next record. Where one breaks them the filter has stopped, and what
    // follows is the rest of the stream, after a record that fails the handshake if that is
    // why it stopped. A partial record at the end is the stream's.
    let mut rest = &out[..];
    let (mut seq, mut started) = (0, false);
    let broken = loop {
        let Some(header) = rest.get(..5) else {
            break None;
        };
        let len = 5 + usize::from(u16::from_be_bytes([header[3], header[4]]));
        let Some(record) = rest.get(..len) else {
            break None;
        };
        if record[0] == 0x14 && !started || record[0] == 0x15 && len <= 7 && seq == 0 {
        } else if let Some((kind, content)) = sealer.open(record, seq) {
            seq += 1;
            started |= kind == 0x16 && !content.is_empty();
        } else {
            break Some(rest);
        }
        rest = &rest[len..];
    };
    if let Some(tail) = broken {
        assert!(
            *done,
            "a record that fails deprotection reached rustls while filtering"
        );
        let failing = match tail.get(..5) {
            // Too long for rustls to read: decode_error.
            Some([0x17, 3, 3, 0x48, 0x00]) => 5,
            // One byte more than rustls's allowance: bad_record_mac.
            Some([0x17, 3, 3, hi, lo])
                if usize::from(u16::from_be_bytes([*hi, *lo])) == allowance + 1 =>
            {
                5 + allowance + 1
            }
            _ => 0,
        };
        assert!(
            stream.ends_with(tail)
                || tail
                    .get(5..failing)
                    .is_some_and(|zeros| zeros.iter().all(|&b| b == 0))
                    && stream.ends_with(&tail[failing..]),
            "the filter stopped, but what follows is not the rest of the stream"
        );
    }
    assert!(out.len() <= stream.len() + 5 + allowance + 1);
    if let Some(first) = first_sealed_handshake {
        assert!(
            out.starts_with(&first),
            "the second flight's first record was not passed on"
        );
    }
}

/// The 0-RTT session-age reader: `now` from `data[..8]`, the session value after.
pub fn session_age(data: &[u8]) {
    let Some((now, value)) = data.split_at_checked(8) else {
        return;
    };
    let now = u64::from_be_bytes(now.try_into().unwrap());
    if let Some((created, offset)) = qtls::fuzzing::session_age(value, now) {
        assert!(created.abs_diff(now) <= qtls::fuzzing::SESSION_AGE_PLAUSIBLE_SECS);
        let tail = &value[value.len() - 12..];
        assert_eq!(created.to_be_bytes(), tail[..8]);
        assert_eq!(offset.to_be_bytes(), tail[8..]);
    }
}

/// The Redis session-value decoder: key, then value. A value opens only under its key, and
/// sealing then opening gives the session back.
pub fn redis_value(data: &[u8]) {
    let Some((parts, value)) = split(data, 1) else {
        return;
    };
    let key = String::from_utf8_lossy(parts[0]);
    if let Some(session) = qtls::fuzzing::redis_open(&key, value) {
        let other = format!("{key}x");
        assert!(
            qtls::fuzzing::redis_open(&other, value).is_none(),
            "a value opened under two keys"
        );
        assert!(session.len() < value.len());
    }
    let sealed = qtls::fuzzing::redis_seal(&key, value).expect("sealing succeeds");
    assert_eq!(
        qtls::fuzzing::redis_open(&key, &sealed).as_deref(),
        Some(value)
    );
}

fn ticketer() -> &'static Arc<qtls::sessions::RotatingTicketer> {
    static TICKETER: OnceLock<Arc<qtls::sessions::RotatingTicketer>> = OnceLock::new();
    TICKETER.get_or_init(|| {
        let secret = qtls::sessions::FleetSecret::from_bytes(&FLEET_SECRET).unwrap();
        qtls::sessions::RotatingTicketer::fleet(secret)
            .clock(|| NOW)
            .build()
            .unwrap()
    })
}

/// The ticket decrypter: arbitrary tickets never panic, and a ticket it made opens to its
/// plaintext.
pub fn ticket(data: &[u8]) {
    let ticketer = ticketer();
    let _ = ticketer.decrypt(data);
    if let Some(ticket) = ticketer.encrypt(data) {
        assert_eq!(ticketer.decrypt(&ticket).as_deref(), Some(data));
    }
}

/// The OCSP responder's GET path decoder: a bounded number of decodes, and what it returns
/// is an OCSPRequest.
pub fn ocsp_get_path(data: &[u8]) {
    let path = String::from_utf8_lossy(data);
    let (der, attempts) = qtls_cli::fuzzing::ocsp_request_from_path(&path);
    assert!(attempts <= qtls_cli::fuzzing::OCSP_GET_MAX_DECODES);
    if !der.is_empty() {
        assert!(qtls_pki::x509_ocsp::OcspRequest::from_der(&der).is_ok());
    }
}

fn responder() -> &'static qtls_pki::OcspResponder {
    static RESPONDER: OnceLock<qtls_pki::OcspResponder> = OnceLock::new();
    RESPONDER.get_or_init(|| {
        let pki = fixture_pki();
        let signer = pki.ocsp_responder();
        let key = signer.key().to_pkcs8_pem().unwrap();
        let signer = qtls_pki::CertifiedKeyPair::new(
            signer.certificate().clone(),
            qtls_provider::KeyPair::from_pem(key.as_bytes(), qtls_provider::Backend::AwsLc)
                .unwrap(),
        )
        .unwrap();
        let mut index = qtls_pki::RevocationIndex::default();
        index.add_issued(pki.server().certificate());
        index.add_issued(pki.client().certificate());
        qtls_pki::OcspResponder::new(
            pki.intermediate().certificate().clone(),
            signer,
            index,
            time::Duration::hours(1),
        )
        .unwrap()
    })
}

/// The OCSP responder's answer to a POST body: always an OCSPResponse that parses, with no
/// more single responses than the request could name.
pub fn ocsp_request(data: &[u8]) {
    let answer = responder().answer(data, now());
    let der = answer.der().to_vec();
    let parsed = qtls_pki::OcspResponse::from_der(der).expect("the responder's answer parses");
    assert!(parsed.responses().len() <= data.len() / 8 + 1);
}

fn algorithms() -> &'static [&'static dyn rustls::pki_types::SignatureVerificationAlgorithm] {
    static PROVIDER: OnceLock<rustls::crypto::CryptoProvider> = OnceLock::new();
    PROVIDER
        .get_or_init(qtls_provider::compatible)
        .signature_verification_algorithms
        .all
}

/// The verifier's OCSP response check for the fixture server certificate; whatever it
/// accepts, qtls-pki's parser reads too.
pub fn ocsp_response(data: &[u8]) {
    let pki = fixture_pki();
    let checked = qtls_verifier::fuzzing::check_ocsp_response(
        data,
        pki.server().certificate().der(),
        pki.intermediate().certificate().der(),
        algorithms(),
        NOW + 60,
    );
    let parsed = qtls_pki::OcspResponse::from_der(data.to_vec());
    if let Ok((_, valid_until)) = checked {
        assert!(
            parsed.is_ok(),
            "the verifier accepted a response qtls-pki cannot parse"
        );
        assert!(
            valid_until + 300 >= NOW + 60,
            "an accepted answer already stale"
        );
    }
}

/// CRL parsing (DER and PEM): every revoked entry is found by its serial, and a parsed CRL
/// survives PEM and back.
pub fn crl(data: &[u8]) {
    let _ = qtls_pki::RevocationList::from_pem(data);
    let Ok(list) = qtls_pki::RevocationList::from_der(data.to_vec()) else {
        return;
    };
    let _ = (
        list.issuer(),
        list.this_update(),
        list.next_update(),
        list.crl_number(),
    );
    for revoked in list.revoked() {
        assert!(list.find(&revoked.serial).is_some());
    }
    if let Ok(pem) = list.to_pem() {
        let again = qtls_pki::RevocationList::from_pem(pem.as_bytes()).expect("PEM round trip");
        assert_eq!(again.der(), list.der());
    }
}

fn backends() -> Vec<qtls_provider::Backend> {
    #[allow(unused_mut)]
    let mut backends = vec![qtls_provider::Backend::AwsLc];
    #[cfg(feature = "oqs")]
    backends.push(qtls_provider::Backend::Oqs);
    backends
}

/// Key exchange of every group: `data[0]` picks the group, `data[1]` the mode, the rest is
/// the peer's share. Both backends accept the same client shares (mode 0, server side:
/// `start_and_complete`), every backend's client survives any server share (mode 1,
/// `complete`), and a client on one backend agrees on the secret with a server on another.
pub fn kx(data: &[u8]) {
    let [index, mode, share @ ..] = data else {
        return;
    };
    let name = qtls_provider::GROUP_NAMES[usize::from(*index) % qtls_provider::GROUP_NAMES.len()];
    let groups: Vec<&'static dyn SupportedKxGroup> = backends()
        .into_iter()
        .filter_map(|backend| qtls_provider::group_by_name(name, backend).ok())
        .collect();
    match mode % 3 {
        0 => {
            let verdicts: Vec<bool> = groups
                .iter()
                .map(|group| match group.start_and_complete(share) {
                    Ok(done) => {
                        assert!(!done.pub_key.is_empty());
                        assert!(!done.secret.secret_bytes().is_empty());
                        true
                    }
                    Err(_) => false,
                })
                .collect();
            assert!(
                verdicts.windows(2).all(|w| w[0] == w[1]),
                "{name}: the backends disagree on a client share: {verdicts:?}"
            );
        }
        1 => {
            for group in &groups {
                let client = group.start().expect("key generation");
                let _ = client.complete(share);
            }
        }
        _ => {
            for client_group in &groups {
                for server_group in &groups {
                    let client = client_group.start().expect("key generation");
                    let server = server_group
                        .start_and_complete(client.pub_key())
                        .expect("a real client share");
                    let secret = client
                        .complete(&server.pub_key)
                        .expect("a real server share");
                    assert_eq!(
                        secret.secret_bytes(),
                        server.secret.secret_bytes(),
                        "{name}: client and server secrets differ"
                    );
                }
            }
        }
    }
}

/// The composites in the order of [`verifiers`]: the three that came first keep indices 0-2
/// (the corpus's seeds name them), the other 15 follow ML-DSA at 6-20.
pub fn composite_order() -> Vec<qtls_provider::CompositeAlgorithm> {
    use qtls_provider::CompositeAlgorithm as C;
    let first = [
        C::MlDsa44EcdsaP256Sha256,
        C::MlDsa65EcdsaP384Sha512,
        C::MlDsa87EcdsaP384Sha512,
    ];
    first
        .into_iter()
        .chain(C::ALL.into_iter().filter(|alg| !first.contains(alg)))
        .collect()
}

/// The signature verifiers rustls calls, per algorithm and backend: the composites of
/// [`composite_order`] at 0-2 and 6-20, ML-DSA-44/65/87 at 3-5.
fn verifiers() -> Vec<Vec<&'static dyn rustls::pki_types::SignatureVerificationAlgorithm>> {
    use qtls_provider::webpki_algs as aws;
    let per_backend = |alg| {
        #[allow(unused_mut)]
        let mut row = vec![aws::composite(alg)];
        #[cfg(feature = "oqs")]
        row.push(aws::oqs::composite(alg));
        row
    };
    let composites = composite_order();
    let mut table: Vec<_> = composites[..3]
        .iter()
        .map(|alg| per_backend(*alg))
        .collect();
    table.push(vec![aws::ML_DSA_44]);
    table.push(vec![aws::ML_DSA_65]);
    table.push(vec![aws::ML_DSA_87]);
    #[cfg(feature = "oqs")]
    {
        use qtls_provider::webpki_algs::oqs;
        table[3].push(oqs::ML_DSA_44);
        table[4].push(oqs::ML_DSA_65);
        table[5].push(oqs::ML_DSA_87);
    }
    table.extend(composites[3..].iter().map(|alg| per_backend(*alg)));
    table
}

/// Composite and ML-DSA `verify_signature` on arbitrary keys and signatures: `data[0]`
/// picks the algorithm, then the key and signature (u16-length-prefixed), then the message.
/// Every backend gives the same verdict.
pub fn signature(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Some((parts, message)) = split(rest, 2) else {
        return;
    };
    let table = verifiers();
    let algorithms = &table[usize::from(which) % table.len()];
    let verdicts: Vec<bool> = algorithms
        .iter()
        .map(|alg| alg.verify_signature(parts[0], message, parts[1]).is_ok())
        .collect();
    assert!(
        verdicts.windows(2).all(|w| w[0] == w[1]),
        "the backends disagree: {verdicts:?}"
    );
}

/// Private-key loading, every form the CLI reads: PEM (`PRIVATE KEY`, `EC PRIVATE KEY`),
/// PKCS#8 DER; a key that loads survives PKCS#8 and back with the same public key.
pub fn private_key(data: &[u8]) {
    let backend = qtls_provider::Backend::AwsLc;
    let _ = qtls_provider::private_key_der_from_pem(data);
    let loaded = [
        qtls_provider::KeyPair::from_pem(data, backend),
        qtls_provider::KeyPair::from_pkcs8_der(data, backend),
    ];
    for key in loaded.into_iter().flatten() {
        let der = key.to_pkcs8_der().expect("a loaded key encodes");
        let again = qtls_provider::KeyPair::from_pkcs8_der(&der, backend).expect("round trip");
        assert_eq!(again.public_key(), key.public_key());
        assert_eq!(again.algorithm(), key.algorithm());
    }
}

/// The revocation index (OpenSSL `index.txt`) parser: every revoked serial is in the index.
pub fn revocation_index(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(index) = qtls_pki::RevocationIndex::parse(text, "fuzz") else {
        return;
    };
    for revoked in index.revoked() {
        assert!(index.get(&revoked.serial).is_some());
    }
}

/// `pkcs11:` URIs (RFC 7512): a URI that parses prints as one that parses to the same.
pub fn pkcs11_uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = text.parse::<qtls_hsm::Pkcs11Uri>() else {
        return;
    };
    let printed = uri.to_string();
    let again: qtls_hsm::Pkcs11Uri = printed.parse().expect("a printed URI parses");
    assert_eq!(again, uri, "{printed}");
}

/// `qtls.toml`: parsing, validation and the conversion into server settings never panic.
/// Files a config names are read by the conversion: names of special files (which may never
/// end) are skipped, since a config is the operator's, not a peer's, input.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = qtls_cli::config::ConfigFile::parse(text) else {
        return;
    };
    if ["/dev", "/proc", "/sys"]
        .iter()
        .any(|special| text.contains(special))
    {
        return;
    }
    let _ = config.server_settings();
}

/// Key files (`qtls_pki::read_private_key`): plain PEM keys and `ENCRYPTED PRIVATE KEY`
/// (PBES2) with the seeds' passphrase. The cost a file asks for is bounded before any key
/// derivation; a key that loads survives PKCS#8 and back.
pub fn encrypted_key(data: &[u8]) {
    if let Ok(der) = qtls_pki::fuzzing::private_key_file(data) {
        let again = qtls_provider::KeyPair::from_pkcs8_der(&der, qtls_provider::Backend::AwsLc)
            .expect("a key we loaded reloads from its PKCS#8");
        assert_eq!(
            again.to_pkcs8_der().expect("re-encodes").as_slice(),
            der.as_slice()
        );
    }
}

/// Catalyst's PreTBSCertificate (X.509 (10/2019) §7.2.2) of arbitrary certificates: what the
/// verifier signs over is one DER SEQUENCE, shorter than the certificate it came from.
pub fn catalyst_pre_tbs(data: &[u8]) {
    if let Some(Ok(pre_tbs)) = qtls_verifier::fuzzing::catalyst_pre_tbs(data) {
        use der::Decode;
        let outer = der::AnyRef::from_der(&pre_tbs).expect("the PreTBSCertificate is DER");
        assert_eq!(der::Tagged::tag(&outer), der::Tag::Sequence);
        assert!(
            pre_tbs.len() < data.len(),
            "{} >= {}",
            pre_tbs.len(),
            data.len()
        );
    }
}

/// The token's ticket decrypter (`qtls_hsm::HsmTicketer`, Kryoptic from
/// `QTLS_TEST_PKCS11_MODULE`) on hostile tickets; `data[0]` picks the mode, `rest` is
/// `data[1..]`:
/// - `% 4 == 0`: a fresh ticket's authenticated header (version, key id, issue time) then
///   `rest` as IV, ciphertext and tag, so that the bytes reach the token's `C_Decrypt`;
/// - `% 4 == 2`: `rest` itself as a ticket (the checks before the token);
/// - odd: a fresh ticket of the first half of `rest`, with the second half XORed over its
///   start (`data[0] / 2 % 3 == 0`: header and IV) or its end (`== 1`: tag and ciphertext),
///   or appended (`== 2`).
///
/// After every hostile ticket the token stays in service (a fresh ticket still opens); a
/// changed ticket never opens and an intact one opens to its plaintext (AES-GCM,
/// [RFC 5116 §5.1](https://www.rfc-editor.org/rfc/rfc5116#section-5.1)). Without the
/// module the target does nothing, except under `CI=true`, where it fails.
pub fn hsm_ticket(data: &[u8]) {
    /// Version, key id and issue time: what the ticketer checks before the token decrypts.
    const AUTHENTICATED_HEADER: usize = 1 + 8 + 8;
    let Some(ticketer) = hsm_ticketer() else {
        return;
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let still_in_service = || {
        let ticket = ticketer
            .encrypt(b"still in service")
            .expect("the token seals");
        assert_eq!(
            ticketer.decrypt(&ticket).as_deref(),
            Some(&b"still in service"[..]),
            "a hostile ticket took the token out of service"
        );
    };
    match mode % 4 {
        0 => {
            let fresh = ticketer.encrypt(b"").expect("the token seals");
            let forged = [&fresh[..AUTHENTICATED_HEADER], rest].concat();
            assert_eq!(ticketer.decrypt(&forged), None, "a forged ticket opened");
            return still_in_service();
        }
        2 => {
            let _ = ticketer.decrypt(rest);
            return still_in_service();
        }
        _ => {}
    }
    let (plain, mask) = rest.split_at(rest.len() / 2);
    let mut ticket = ticketer.encrypt(plain).expect("the token seals");
    let unchanged = match mode / 2 % 3 {
        0 => {
            ticket.iter_mut().zip(mask).for_each(|(byte, m)| *byte ^= m);
            mask.iter().all(|m| *m == 0)
        }
        1 => {
            ticket
                .iter_mut()
                .rev()
                .zip(mask)
                .for_each(|(byte, m)| *byte ^= m);
            mask.iter().all(|m| *m == 0)
        }
        _ => {
            ticket.extend_from_slice(mask);
            mask.is_empty()
        }
    };
    let opened = ticketer.decrypt(&ticket);
    if unchanged {
        assert_eq!(
            opened.as_deref(),
            Some(plain),
            "an intact ticket did not open"
        );
    } else {
        assert_eq!(opened, None, "a changed ticket opened");
        still_in_service();
    }
}

fn hsm_ticketer() -> Option<&'static Arc<qtls_hsm::HsmTicketer>> {
    static TICKETER: OnceLock<Option<Arc<qtls_hsm::HsmTicketer>>> = OnceLock::new();
    TICKETER
        .get_or_init(|| {
            use qtls_test_support::tokens;
            let module = tokens::kryoptic()?;
            let hsm = qtls_hsm::Hsm::builder()
                .primary(
                    tokens::config(&module, tokens::PRIMARY)
                        .sessions(1)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap();
            Some(qtls_hsm::HsmTicketer::builder(&hsm).build().unwrap())
        })
        .as_ref()
}
