//! `qtls client` after a handshake refused for mismatched parameters: besides the alert it
//! says what it offered (key-exchange groups, signature schemes, by name) and the likely
//! cause, worked out from the alert and its own configuration (issue #12, item 10).
#![allow(clippy::unwrap_used)]

mod runtime_support;
mod support;

use std::ffi::OsString;

use qtls_pki::Profile;
use runtime_support::{run_client, start_server, test_pki, PkiSpec};

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// A post-quantum-signatures-only client (`--preset pqc-only`: ML-DSA and composite schemes)
/// against a server with only an ECDSA certificate.
#[test]
fn pq_signatures_only_client_against_an_ecdsa_server_names_its_schemes() {
    let pki = test_pki(PkiSpec {
        profile: Profile::EcdsaP384,
        ..PkiSpec::default()
    });
    let server = start_server(pki.server_cert_args());
    let run = run_client(server.port, &pki.root(), args(&["--preset", "pqc-only"]));
    assert!(!run.succeeded(), "{}", run.describe());
    assert_eq!(
        run.alert(),
        (Some("handshake_failure"), Some("received")),
        "{}",
        run.describe()
    );
    let stderr = &run.out.stderr;
    for needle in [
        "signature schemes we offered: ",
        "ML_DSA_65",
        "MLDSA65_ECDSA_P384_SHA512",
        "the server offers no composite/ML-DSA scheme we accept",
        "key-exchange groups we offered: ",
    ] {
        assert!(
            stderr.contains(needle),
            "{needle:?} in:\n{}",
            run.describe()
        );
    }
    assert!(
        !stderr.contains("ECDSA_NISTP384_SHA384"),
        "{}",
        run.describe()
    );
}

/// A client offering only classical groups against a server that requires post-quantum key
/// exchange (insufficient_security).
#[test]
fn classical_groups_client_against_a_pq_only_server_names_its_groups() {
    let pki = test_pki(PkiSpec::default());
    let mut server_args = pki.server_cert_args();
    server_args.extend(args(&["--preset", "pqc-only"]));
    let server = start_server(server_args);
    let run = run_client(
        server.port,
        &pki.root(),
        args(&[
            "--preset",
            "compatible",
            "--group",
            "X25519",
            "--group",
            "secp256r1",
        ]),
    );
    assert!(!run.succeeded(), "{}", run.describe());
    let stderr = &run.out.stderr;
    for needle in [
        "key-exchange groups we offered: X25519, secp256r1",
        "no post-quantum key exchange",
    ] {
        assert!(
            stderr.contains(needle),
            "{needle:?} in:\n{}",
            run.describe()
        );
    }
}

/// A client offering only post-quantum groups against a server with only classical ones
/// (handshake_failure: no group in common).
#[test]
fn pq_groups_client_against_a_classical_groups_server_names_its_groups() {
    let pki = test_pki(PkiSpec::default());
    let mut server_args = pki.server_cert_args();
    server_args.extend(args(&["--preset", "compatible", "--group", "X25519"]));
    let server = start_server(server_args);
    let run = run_client(
        server.port,
        &pki.root(),
        args(&["--group", "X25519MLKEM768", "--group", "MLKEM768"]),
    );
    assert!(!run.succeeded(), "{}", run.describe());
    assert_eq!(
        run.alert(),
        (Some("handshake_failure"), Some("received")),
        "{}",
        run.describe()
    );
    let stderr = &run.out.stderr;
    for needle in [
        "key-exchange groups we offered: X25519MLKEM768, MLKEM768",
        "no key-exchange group in common",
    ] {
        assert!(
            stderr.contains(needle),
            "{needle:?} in:\n{}",
            run.describe()
        );
    }
}
