//! OpenSSL 4 reads and verifies qtls-pki's revocation artifacts for the ML-DSA-65 and
//! ECDSA-P384 profiles: CRLs (`openssl crl -text`, `openssl crl -CAfile`,
//! `openssl verify -crl_check`), OCSP responses to OpenSSL's own requests (`openssl ocsp
//! -respin` with `-verify_other` and with `-VAfile`, signed by the CA and by the delegated
//! responder), and the revocation index (`openssl ocsp -index` answers from it).
//!
//! Needs `QTLS_OPENSSL` (an OpenSSL 4 `openssl` binary; `scripts/openssl.sh` builds one).
//! Without it the tests are skipped, except under `CI=true`, where they fail.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use qtls_pki::{
    serial_hex, CertifiedKeyPair, OcspResponder, OcspResponse, Pki, PkiOptions, Profile,
    RevocationIndex, RevocationReason,
};
use time::{Duration, OffsetDateTime};

use qtls_test_support::openssl::{output_in, require_openssl as openssl};

/// Runs `openssl ARGS` in `dir` with the binary's own (empty) openssl.cnf; returns whether it
/// succeeded and its stdout and stderr together.
fn run(openssl: &Path, dir: &Path, args: &[&str]) -> (bool, String) {
    let output = output_in(openssl, dir, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn run_ok(openssl: &Path, dir: &Path, args: &[&str]) -> String {
    let (ok, text) = run(openssl, dir, args);
    assert!(ok, "openssl {} failed:\n{text}", args.join(" "));
    text
}

/// A PKI made an hour ago (OpenSSL checks validity and OCSP times against its own clock),
/// written to a fresh directory, with the server certificate revoked for keyCompromise.
fn setup(profile: Profile, name: &str) -> (Pki, PathBuf, OffsetDateTime) {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let mut options = PkiOptions::new(now - Duration::hours(1));
    options.profile = profile;
    let pki = Pki::generate(&options).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{profile}"));
    let _ = std::fs::remove_dir_all(&dir);
    pki.write_to_dir(&dir).unwrap();
    Pki::revoke_in_dir(
        &dir,
        pki.server().certificate().serial(),
        Some(RevocationReason::KeyCompromise),
        now - Duration::minutes(30),
    )
    .unwrap();
    (pki, dir, now)
}

fn check_crl(profile: Profile, signature_name: &str) {
    let Some(openssl) = openssl() else { return };
    let (pki, dir, now) = setup(profile, "qtls-pki-openssl-crl");
    let crl = Pki::issue_crl_in_dir(
        &dir,
        Default::default(),
        now - Duration::minutes(10),
        now + Duration::days(7),
    )
    .unwrap();
    std::fs::write(dir.join(Pki::CRL_FILE), crl.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("intermediate.crl.der"), crl.der()).unwrap();

    let text = run_ok(
        &openssl,
        &dir,
        &["crl", "-in", Pki::CRL_FILE, "-text", "-noout"],
    );
    let server_serial = serial_hex(pki.server().certificate().serial());
    for expected in [
        "Certificate Revocation List (CRL):",
        "Version 2 (0x1)",
        &format!("Signature Algorithm: {signature_name}"),
        "Issuer: O=Q-TLS, CN=Q-TLS Intermediate CA",
        "X509v3 Authority Key Identifier",
        "X509v3 CRL Number",
        &format!("Serial Number: {server_serial}"),
        "X509v3 CRL Reason Code",
        "Key Compromise",
    ] {
        assert!(
            text.contains(expected),
            "CRL text lacks {expected:?}:\n{text}"
        );
    }
    // The DER form reads the same, and its signature verifies under the intermediate.
    let der_text = run_ok(
        &openssl,
        &dir,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "intermediate.crl.der",
            "-text",
            "-noout",
        ],
    );
    assert_eq!(der_text, text);
    let verified = run_ok(
        &openssl,
        &dir,
        &[
            "crl",
            "-in",
            Pki::CRL_FILE,
            "-CAfile",
            "intermediate.pem",
            "-noout",
        ],
    );
    assert!(verified.contains("verify OK"), "{verified}");

    let verify = |cert: &str| {
        run(
            &openssl,
            &dir,
            &[
                "verify",
                "-x509_strict",
                "-crl_check",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "intermediate.pem",
                "-CRLfile",
                Pki::CRL_FILE,
                cert,
            ],
        )
    };
    let (ok, text) = verify("client.pem");
    assert!(ok && text.contains("client.pem: OK"), "{text}");
    let (ok, text) = verify("server.pem");
    assert!(!ok && text.contains("certificate revoked"), "{text}");
}

#[test]
fn openssl_reads_crls_mldsa65() {
    check_crl(Profile::MlDsa65, "ML-DSA-65");
}

#[test]
fn openssl_reads_crls_ecdsa_p384() {
    check_crl(Profile::EcdsaP384, "ecdsa-with-SHA384");
}

fn load(dir: &Path, name: &str) -> CertifiedKeyPair {
    CertifiedKeyPair::read_pem_files(
        &dir.join(format!("{name}.pem")),
        &dir.join(format!("{name}.key")),
        Default::default(),
    )
    .unwrap()
}

fn check_ocsp(profile: Profile) {
    let Some(openssl) = openssl() else { return };
    let (pki, dir, now) = setup(profile, "qtls-pki-openssl-ocsp");
    let index = RevocationIndex::read(&dir.join(RevocationIndex::FILE_NAME)).unwrap();
    let ca = pki.intermediate().certificate();

    // OpenSSL's request: server and client certificates and one serial we never issued,
    // with a nonce (OpenSSL adds one by default and checks the echo).
    let request_args = [
        "-issuer",
        "intermediate.pem",
        "-cert",
        "server.pem",
        "-cert",
        "client.pem",
        "-serial",
        "0x1234",
    ];
    let mut args = vec!["ocsp"];
    args.extend(request_args);
    args.extend(["-reqout", "request.der"]);
    run_ok(&openssl, &dir, &args);
    let request = std::fs::read(dir.join("request.der")).unwrap();

    for (signer_name, trust) in [
        // Delegated responder: its chain is built from the response's certs, the untrusted
        // intermediate and the root; or it is trusted outright with -VAfile.
        (
            "ocsp",
            vec!["-CAfile", "root.pem", "-verify_other", "intermediate.pem"],
        ),
        ("ocsp", vec!["-CAfile", "root.pem", "-VAfile", "ocsp.pem"]),
        // The CA itself, found through -verify_other.
        (
            "intermediate",
            vec!["-CAfile", "root.pem", "-verify_other", "intermediate.pem"],
        ),
    ] {
        let responder = OcspResponder::new(
            ca.clone(),
            load(&dir, signer_name),
            index.clone(),
            Duration::hours(1),
        )
        .unwrap();
        let response = responder.respond(&request, now);
        assert_eq!(
            OcspResponse::from_der(response.clone())
                .unwrap()
                .responses()
                .len(),
            3
        );
        std::fs::write(dir.join("response.der"), &response).unwrap();

        // With the request itself: the signature, the signer's authority and the nonce echo.
        let mut args = vec![
            "ocsp",
            "-reqin",
            "request.der",
            "-respin",
            "response.der",
            "-resp_text",
        ];
        args.extend(trust.iter().copied());
        let text = run_ok(&openssl, &dir, &args);
        let what = format!("{profile}, signed by {signer_name}, {trust:?}:\n{text}");
        assert!(text.contains("Response verify OK"), "{what}");
        assert!(text.contains("OCSP Nonce"), "{what}");
        assert!(!text.contains("WARNING"), "{what}");
        // With the certificates named: each one's status (OpenSSL makes a new request from
        // -cert, so its nonce is not ours).
        let mut args = vec!["ocsp", "-respin", "response.der", "-no_nonce"];
        args.extend(request_args);
        args.extend(trust.iter().copied());
        let text = run_ok(&openssl, &dir, &args);
        let what = format!("{profile}, signed by {signer_name}, {trust:?}:\n{text}");
        assert!(text.contains("Response verify OK"), "{what}");
        assert!(text.contains("server.pem: revoked"), "{what}");
        assert!(text.contains("Reason: keyCompromise"), "{what}");
        assert!(text.contains("client.pem: good"), "{what}");
        assert!(text.contains("0x1234: unknown"), "{what}");
        assert!(!text.contains("WARNING"), "times accepted: {what}");
    }

    // A response signed by a certificate that may not sign for this CA fails to verify.
    let mut builder = qtls_pki::OcspResponseBuilder::new(now).next_update(now + Duration::hours(1));
    for single in OcspResponse::from_der(
        OcspResponder::new(
            ca.clone(),
            load(&dir, "ocsp"),
            index.clone(),
            Duration::hours(1),
        )
        .unwrap()
        .respond(&request, now),
    )
    .unwrap()
    .responses()
    {
        builder = builder.status(single.cert_id.clone(), single.status);
    }
    let forged = builder.build_unchecked(&load(&dir, "server")).unwrap();
    std::fs::write(dir.join("forged.der"), forged.der()).unwrap();
    let mut args = vec!["ocsp", "-respin", "forged.der"];
    args.extend(request_args);
    args.extend(["-CAfile", "root.pem", "-verify_other", "intermediate.pem"]);
    let (_, text) = run(&openssl, &dir, &args);
    assert!(text.contains("Response Verify Failure"), "{text}");

    // And OpenSSL's own responder answers from the same revoked.txt.
    let args = [
        "ocsp",
        "-index",
        RevocationIndex::FILE_NAME,
        "-CA",
        "intermediate.pem",
        "-rsigner",
        "ocsp.pem",
        "-rkey",
        "ocsp.key",
        "-reqin",
        "request.der",
        "-respout",
        "openssl-response.der",
        "-nmin",
        "60",
    ];
    run_ok(&openssl, &dir, &args);
    let theirs =
        OcspResponse::from_der(std::fs::read(dir.join("openssl-response.der")).unwrap()).unwrap();
    let ours = OcspResponse::from_der(
        OcspResponder::new(ca.clone(), load(&dir, "ocsp"), index, Duration::hours(1))
            .unwrap()
            .respond(&request, now),
    )
    .unwrap();
    let statuses = |response: &OcspResponse| {
        response
            .responses()
            .iter()
            .map(|single| (single.cert_id.serial(), single.status))
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses(&theirs), statuses(&ours));
}

#[test]
fn openssl_verifies_ocsp_responses_mldsa65() {
    check_ocsp(Profile::MlDsa65);
}

#[test]
fn openssl_verifies_ocsp_responses_ecdsa_p384() {
    check_ocsp(Profile::EcdsaP384);
}
