//! The fuzz targets' corpus on the stable toolchain: every file under `fuzz/corpus/<target>/`
//! goes through the same function its cargo-fuzz target calls (`fuzz/src/lib.rs`, compiled
//! in here), so CI catches a regression without nightly. `generate_fuzz_corpus` (ignored;
//! `scripts/fuzz.sh --seed` runs it) writes the seeds and the fixture PKI from our own code.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub, dead_code)]

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use rustls::server::ProducesTickets;
use targets::{join, NOW};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

#[test]
fn replay_fuzz_corpus() {
    let corpus = fuzz_dir().join("corpus");
    if !corpus.is_dir() || !targets::fixtures_dir().is_dir() {
        let why = format!(
            "{} or {} is missing (run scripts/fuzz.sh --seed)",
            corpus.display(),
            targets::fixtures_dir().display()
        );
        assert!(!in_ci(), "{why}");
        eprintln!("skipping: {why}");
        return;
    }
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (name, target) in targets::TARGETS {
        let dir = corpus.join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} has no seeds", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                failures.push(file.display().to_string());
            }
            replayed += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "corpus inputs that fail: {failures:#?}"
    );
    eprintln!("replayed {replayed} corpus files");
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

/// Writes the fixture PKI and every target's seeds from our own code.
#[test]
#[ignore = "writes fuzz/fixtures and fuzz/corpus; run by scripts/fuzz.sh --seed"]
fn generate_fuzz_corpus() {
    let fixtures = targets::fixtures_dir();
    let _ = std::fs::remove_dir_all(&fixtures);
    let mut options = qtls_pki::PkiOptions::new(targets::now() - time::Duration::days(1));
    options.profile = qtls_pki::Profile::EcdsaP384;
    // Long enough for the in-memory handshake below, which runs on the real clock.
    options.ca_validity = time::Duration::days(20 * 365);
    options.leaf_validity = time::Duration::days(10 * 365);
    let pki = qtls_pki::Pki::generate(&options).unwrap();
    pki.write_to_dir(&fixtures).unwrap();
    let pki = targets::fixture_pki();

    client_hellos(pki);
    http();
    sessions();
    ocsp(pki);
    keys_and_signatures();
    files(pki);
    key_files_and_catalyst(pki);
}

/// Key files, plain and encrypted with the fuzz passphrase, and certificates for the Catalyst
/// PreTBSCertificate builder (the fixture PKI's; libFuzzer mutates their extensions).
fn key_files_and_catalyst(pki: &qtls_pki::Pki) {
    use qtls_provider::{Backend, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel};
    for (name, algorithm) in [
        ("ecdsa-p384", KeyAlgorithm::Ecdsa(EcCurve::P384)),
        ("mldsa44", KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa44)),
        (
            "composite",
            KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa44EcdsaP256Sha256),
        ),
    ] {
        let key = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
        write(
            "encrypted_key",
            &format!("{name}.pem"),
            key.to_pkcs8_pem().unwrap().as_bytes(),
        );
        write(
            "encrypted_key",
            &format!("{name}-encrypted.pem"),
            qtls_pki::fuzzing::encrypted_seed(&key).as_bytes(),
        );
    }
    for (role, pair) in [
        ("root", pki.root()),
        ("intermediate", pki.intermediate()),
        ("server", pki.server()),
    ] {
        write(
            "catalyst_pre_tbs",
            &format!("{role}.der"),
            pair.certificate().to_certificate_der().as_ref(),
        );
    }
    // The token's keys are made per process, so the seeds are modes and shapes: tickets of
    // this format with a key the token never had, and fresh tickets kept intact or tampered.
    let header = |issued: u64| {
        let mut ticket = vec![3u8];
        ticket.extend_from_slice(&[0x11; 8]);
        ticket.extend_from_slice(&issued.to_be_bytes());
        ticket.extend_from_slice(&[0x22; 12]);
        ticket
    };
    let forged = [header(NOW), vec![0x33; 80]].concat();
    let seeds: [(&str, Vec<u8>); 10] = [
        ("decrypt-short", vec![2, 3]),
        ("decrypt-header-only", [&[2u8][..], &header(NOW)].concat()),
        ("decrypt-forged", [&[2u8][..], &forged].concat()),
        ("splice-iv-only", [&[0u8][..], &[0x22; 12]].concat()),
        (
            "splice-forged",
            [&[0u8][..], &[0x22; 12], &[0x33; 80]].concat(),
        ),
        (
            "seal-intact",
            [&b"\x01a session value of some length"[..], &[0; 30]].concat(),
        ),
        (
            "seal-flip-header",
            [&b"\x01session"[..], &[0; 6], &[1]].concat(),
        ),
        (
            "seal-flip-tag",
            [&b"\x03session"[..], &[0; 6], &[1]].concat(),
        ),
        ("seal-trailing-bytes", b"\x05abcdXYZW".to_vec()),
        ("seal-trailing-one", b"\x05ab".to_vec()),
    ];
    for (name, data) in seeds {
        write("hsm_ticket", name, &data);
    }
}

fn records(message: &[u8], fragment: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in message.chunks(fragment) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&u16::try_from(piece.len()).unwrap().to_be_bytes());
        out.extend_from_slice(piece);
    }
    out
}

fn first_flight(client: &mut rustls::ClientConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut out).unwrap();
    }
    out
}

/// Real ClientHellos from rustls clients with each preset, fragmented, and resumed ones with
/// a PSK and early data (from an in-memory handshake with a qtls-provider server).
fn client_hellos(pki: &qtls_pki::Pki) {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki.root().certificate().to_certificate_der())
        .unwrap();
    let presets = [
        ("hybrid", qtls_provider::hybrid()),
        ("pqc_only", qtls_provider::pqc_only()),
        ("compatible", qtls_provider::compatible()),
    ];
    for (preset, provider) in presets {
        let provider = Arc::new(provider);
        let versions: &[&[&rustls::SupportedProtocolVersion]] =
            &[&[&rustls::version::TLS13], &[&rustls::version::TLS12]];
        for (v, versions) in versions.iter().enumerate() {
            let Ok(builder) = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(versions)
            else {
                continue;
            };
            let mut config = builder
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            config.enable_early_data = true;
            let config = Arc::new(config);
            let mut client = rustls::ClientConnection::new(config.clone(), name.clone()).unwrap();
            let flight = first_flight(&mut client);
            write("client_hello", &format!("{preset}-v{v}"), &flight);
            let message = &flight[5..];
            write(
                "client_hello",
                &format!("{preset}-v{v}-fragmented"),
                &records(message, 97),
            );
            // The fixture certificate is ECDSA, which only the compatible preset signs with.
            if v == 0 && preset == "compatible" {
                resumed_hello(preset, &provider, config, pki);
            }
        }
    }
}

fn resumed_hello(
    preset: &str,
    provider: &Arc<rustls::crypto::CryptoProvider>,
    client_config: Arc<rustls::ClientConfig>,
    pki: &qtls_pki::Pki,
) {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let server = pki.server();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(server.key().to_pkcs8_der().unwrap().to_vec())
            .unwrap();
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.server_chain(), key)
        .unwrap();
    server_config.max_early_data_size = 16384;
    server_config.send_tls13_tickets = 1;
    let server_config = Arc::new(server_config);
    let mut client = rustls::ClientConnection::new(client_config.clone(), name.clone()).unwrap();
    let mut server = rustls::ServerConnection::new(server_config).unwrap();
    for _ in 0..10 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        let mut input = &buf[..];
        while !input.is_empty() {
            server.read_tls(&mut input).unwrap();
        }
        server.process_new_packets().unwrap();
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        let mut input = &buf[..];
        while !input.is_empty() {
            client.read_tls(&mut input).unwrap();
        }
        client.process_new_packets().unwrap();
        if !client.is_handshaking() && !server.is_handshaking() && buf.is_empty() {
            break;
        }
    }
    let mut again = rustls::ClientConnection::new(client_config, name).unwrap();
    let flight = first_flight(&mut again);
    write("client_hello", &format!("{preset}-resumed"), &flight);
    let hello_len = 5 + usize::from(u16::from_be_bytes([flight[3], flight[4]]));
    write(
        "client_hello",
        &format!("{preset}-resumed-hello-only"),
        &flight[..hello_len],
    );
}

fn http() {
    let requests: &[(&str, &[u8])] = &[
        ("get", b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("get-bare-lf", b"GET /index.html HTTP/1.1\nHost: localhost\n\n"),
        (
            "post-body",
            b"POST /submit HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
        ),
        (
            "pipelined",
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.0\r\n\r\n",
        ),
        (
            "chunked",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "lengths-disagree",
            b"POST / HTTP/1.1\r\nContent-Length: 5, 6\r\nContent-Length: 5\r\n\r\nhello",
        ),
        ("malformed", b"GET\x00/ HTTP/9\r\n\r\n"),
        ("incomplete", b"GET / HTTP/1.1\r\nHost: local"),
    ];
    for (name, request) in requests {
        for chunk in [0u8, 7, 255] {
            write(
                "http_request",
                &format!("{name}-{chunk}"),
                &[&[chunk], *request].concat(),
            );
        }
    }
    let responses: &[(&str, &[u8])] = &[
        ("ok", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
        (
            "too-early",
            b"HTTP/1.1 425 Too Early\r\nContent-Length: 0\r\n\r\n",
        ),
        (
            "until-close",
            b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until close",
        ),
        ("bare-lf", b"HTTP/1.1 204 No Content\nConnection: close\n\n"),
        (
            "bad-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
        ),
        ("garbage", b"\x16\x03\x03\x00\x02\x02\x28"),
    ];
    for (name, response) in responses {
        for chunk in [0u8, 255] {
            write(
                "http_response",
                &format!("{name}-{chunk}"),
                &[&[chunk], *response].concat(),
            );
        }
    }
    // The rejected-early-data filter's programs (see qtls_fuzz::early_records): allowance / 4,
    // suite, chunk size, then ops: 0 raw bytes, 1 a sealed record, 2 zeros as application data.
    let zeros = |len: u16| [&[2u8][..], &len.to_be_bytes()].concat();
    let sealed = |seq: u8, kind: u8, content: &[u8]| {
        [
            &[1, seq, kind, u8::try_from(content.len()).unwrap()][..],
            content,
        ]
        .concat()
    };
    let raw = |bytes: &[u8]| [&[0, u8::try_from(bytes.len()).unwrap()][..], bytes].concat();
    let finished = [20u8, 0, 0, 4, 1, 2, 3, 4];
    let programs: &[(&str, u16, u8, Vec<Vec<u8>>)] = &[
        (
            "skip-then-finished",
            4096,
            200,
            vec![zeros(1000), zeros(3000), sealed(0, 0x16, &finished)],
        ),
        (
            "ccs-and-straddling",
            4096,
            7,
            vec![
                zeros(1000),
                raw(&[0x14, 3, 3, 0, 1, 1]),
                zeros(2000),
                sealed(0, 0x16, &finished),
            ],
        ),
        (
            "spliced-into-finished",
            4096,
            255,
            vec![
                zeros(16384),
                sealed(0, 0x16, &finished[..3]),
                zeros(64),
                sealed(1, 0x16, &finished[3..]),
            ],
        ),
        (
            "over-the-allowance",
            25,
            100,
            vec![zeros(90), zeros(20), sealed(0, 0x16, &finished)],
        ),
        (
            "alert-and-partial",
            4096,
            3,
            vec![
                zeros(10),
                raw(&[0x15, 3, 3, 0, 2, 2, 40]),
                raw(&[0x17, 3, 3, 0]),
            ],
        ),
    ];
    for (suite, (name, allowance_quarters, chunk, ops)) in programs.iter().enumerate() {
        let head = [
            &allowance_quarters.to_be_bytes()[..],
            &[u8::try_from(suite % 3).unwrap(), *chunk],
        ]
        .concat();
        write("early_records", name, &[head, ops.concat()].concat());
    }
}

fn sessions() {
    for (name, created) in [
        ("fresh", NOW - 10),
        ("old", NOW - 9 * 24 * 3600),
        ("future", NOW + 60),
    ] {
        let mut value = vec![0x30; 40];
        value.extend_from_slice(&created.to_be_bytes());
        value.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        write(
            "session_age",
            name,
            &[&NOW.to_be_bytes()[..], &value].concat(),
        );
    }
    for (i, session) in [&b""[..], b"a rustls server session value", &[0u8; 300]]
        .iter()
        .enumerate()
    {
        let key = format!("qtls:session:{i:02x}");
        let sealed = qtls::fuzzing::redis_seal(&key, session).unwrap();
        write(
            "redis_value",
            &format!("sealed-{i}"),
            &join(&[key.as_bytes()], &sealed),
        );
        let secret = qtls::sessions::FleetSecret::from_bytes(&targets::FLEET_SECRET).unwrap();
        let ticketer = qtls::sessions::RotatingTicketer::fleet(secret)
            .clock(|| NOW)
            .build()
            .unwrap();
        write(
            "ticket",
            &format!("ticket-{i}"),
            &ticketer.encrypt(session).unwrap(),
        );
    }
}

fn ocsp(pki: &qtls_pki::Pki) {
    use qtls_pki::{OcspCertId, OcspHash, OcspRequestBuilder};
    let ca = pki.intermediate().certificate();
    let mut requests = Vec::new();
    for (i, hash) in OcspHash::ALL.into_iter().enumerate() {
        let mut builder = OcspRequestBuilder::new()
            .cert_id(OcspCertId::for_certificate(hash, ca, pki.server().certificate()).unwrap());
        if i == 0 {
            builder = builder
                .cert_id(OcspCertId::for_certificate(hash, ca, pki.client().certificate()).unwrap())
                .nonce(vec![0xa5; 16]);
        }
        requests.push(builder.build().unwrap());
    }
    let unknown = OcspCertId::new(OcspHash::ALL[0], ca, &[0x7f; 8]).unwrap();
    requests.push(OcspRequestBuilder::new().cert_id(unknown).build().unwrap());
    let engine = base64::engine::general_purpose::STANDARD;
    for (i, request) in requests.iter().enumerate() {
        write("ocsp_request", &format!("request-{i}"), request);
        let b64 = engine.encode(request);
        write(
            "ocsp_get_path",
            &format!("plain-{i}"),
            format!("/{b64}").as_bytes(),
        );
        let encoded = b64
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D");
        write(
            "ocsp_get_path",
            &format!("prefixed-{i}"),
            format!("/ocsp/v1/{encoded}").as_bytes(),
        );
    }
    // Answers from the fixture responder (good, unknown), one with a revoked server, errors.
    for (i, request) in requests.iter().enumerate() {
        let answer = qtls_fuzz_responder(pki, false).answer(request, targets::now());
        write("ocsp_response", &format!("answer-{i}"), answer.der());
    }
    let revoked = qtls_fuzz_responder(pki, true).answer(&requests[0], targets::now());
    write("ocsp_response", "revoked", revoked.der());
    let malformed = qtls_fuzz_responder(pki, false).answer(b"\x30\x00", targets::now());
    write("ocsp_response", "malformed-request", malformed.der());

    let this_update = targets::now() - time::Duration::hours(1);
    let crl = qtls_pki::CrlBuilder::new(7)
        .update_times(this_update, this_update + time::Duration::days(7))
        .revoke(pki.server().certificate().serial(), this_update, None)
        .revoke(
            vec![1, 2, 3],
            this_update,
            Some(qtls_pki::RevocationReason::KeyCompromise),
        )
        .build(pki.intermediate())
        .unwrap();
    write("crl", "crl.der", crl.der());
    write("crl", "crl.pem", crl.to_pem().unwrap().as_bytes());
    let empty = qtls_pki::CrlBuilder::new(1)
        .update_times(this_update, this_update + time::Duration::days(1))
        .build(pki.root())
        .unwrap();
    write("crl", "empty.der", empty.der());
}

fn qtls_fuzz_responder(pki: &qtls_pki::Pki, revoke_server: bool) -> qtls_pki::OcspResponder {
    let signer = pki.ocsp_responder();
    let key = signer.key().to_pkcs8_pem().unwrap();
    let signer = qtls_pki::CertifiedKeyPair::new(
        signer.certificate().clone(),
        qtls_provider::KeyPair::from_pem(key.as_bytes(), qtls_provider::Backend::AwsLc).unwrap(),
    )
    .unwrap();
    let mut index = qtls_pki::RevocationIndex::default();
    index.add_issued(pki.server().certificate());
    index.add_issued(pki.client().certificate());
    if revoke_server {
        let at = targets::now() - time::Duration::hours(2);
        index
            .revoke(pki.server().certificate().serial(), None, at)
            .unwrap();
    }
    qtls_pki::OcspResponder::new(
        pki.intermediate().certificate().clone(),
        signer,
        index,
        time::Duration::hours(1),
    )
    .unwrap()
}

fn keys_and_signatures() {
    use qtls_provider::{EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel};
    let backend = qtls_provider::Backend::AwsLc;
    // The indices of the `signature` target's table (fuzz/src/lib.rs `verifiers`).
    let composites = targets::composite_order();
    let algorithms: Vec<(u8, KeyAlgorithm)> = composites[..3]
        .iter()
        .map(|alg| KeyAlgorithm::Composite(*alg))
        .chain(MlDsaLevel::ALL.map(KeyAlgorithm::MlDsa))
        .chain(
            composites[3..]
                .iter()
                .map(|alg| KeyAlgorithm::Composite(*alg)),
        )
        .enumerate()
        .map(|(i, alg)| (u8::try_from(i).unwrap(), alg))
        .collect();
    let message = b"TLS 1.3, server CertificateVerify\x00 transcript hash";
    for (index, algorithm) in algorithms {
        let key = KeyPair::generate(algorithm, backend).unwrap();
        let signature = key.sign(message).unwrap();
        let good = join(&[key.public_key(), &signature], message);
        write(
            "signature",
            &format!("{index}-good"),
            &[&[index][..], &good].concat(),
        );
        let mut bad = signature.clone();
        bad[signature.len() / 2] ^= 1;
        let bad = join(&[key.public_key(), &bad], message);
        write(
            "signature",
            &format!("{index}-flipped"),
            &[&[index][..], &bad].concat(),
        );
        let pem = key.to_pkcs8_pem().unwrap();
        write("private_key", &format!("{index}.pem"), pem.as_bytes());
        write(
            "private_key",
            &format!("{index}.der"),
            &key.to_pkcs8_der().unwrap(),
        );
    }
    for (i, curve) in [EcCurve::P256, EcCurve::P384].into_iter().enumerate() {
        let key = KeyPair::generate(KeyAlgorithm::Ecdsa(curve), backend).unwrap();
        write(
            "private_key",
            &format!("ecdsa-{i}.pem"),
            key.to_pkcs8_pem().unwrap().as_bytes(),
        );
    }
    for (index, name) in qtls_provider::GROUP_NAMES.iter().enumerate() {
        let index = u8::try_from(index).unwrap();
        let group = qtls_provider::group_by_name(name, backend).unwrap();
        let client = group.start().unwrap();
        write(
            "kx",
            &format!("{name}-client-share"),
            &[&[index, 0][..], client.pub_key()].concat(),
        );
        let server = group.start_and_complete(client.pub_key()).unwrap();
        write(
            "kx",
            &format!("{name}-server-share"),
            &[&[index, 1][..], &server.pub_key].concat(),
        );
        write("kx", &format!("{name}-round-trip"), &[index, 2]);
    }
}

fn files(pki: &qtls_pki::Pki) {
    let mut index = qtls_pki::RevocationIndex::default();
    index.add_issued(pki.server().certificate());
    index.add_issued(pki.client().certificate());
    index
        .revoke(
            pki.client().certificate().serial(),
            Some(qtls_pki::RevocationReason::KeyCompromise),
            targets::now(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.txt");
    index.write(&path).unwrap();
    write(
        "revocation_index",
        "index.txt",
        &std::fs::read(&path).unwrap(),
    );
    let uris = [
        "pkcs11:token=Q-TLS%20primary;object=srv;type=private",
        "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=1234;token=qtls;id=%01%02;object=ticket;type=secret-key",
        "pkcs11:slot-id=0;object=ca?pin-source=file:/etc/pin&module-path=/usr/lib/softhsm/libsofthsm2.so",
        "pkcs11:library-manufacturer=Kryoptic;library-description=x;library-version=1.5;token=t",
    ];
    for (i, uri) in uris.iter().enumerate() {
        write("pkcs11_uri", &format!("uri-{i}"), uri.as_bytes());
    }
    let example: String = include_str!("../src/config/mod.rs")
        .lines()
        .skip_while(|l| !l.starts_with("//! ```toml"))
        .skip(1)
        .take_while(|l| !l.starts_with("//! ```"))
        .map(|l| l.trim_start_matches("//!").trim_start())
        .collect::<Vec<_>>()
        .join("\n");
    write("config_toml", "documented-example.toml", example.as_bytes());
    write(
        "config_toml",
        "minimal.toml",
        b"[listen]\naddress = \"127.0.0.1:8443\"\n",
    );
}
