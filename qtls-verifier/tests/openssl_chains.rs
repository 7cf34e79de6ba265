//! Chains made by OpenSSL 4 (ML-DSA-65 root, intermediate, leaf; an OpenSSL-signed CRL and an
//! OpenSSL `openssl ocsp` response) verify, and their revoked variants fail.
//!
//! Everything here is made by the `openssl` binary, offline, at the real time (so the
//! verifier runs at `UnixTime::now()`): `req -x509` and `x509 -req -extfile` for the
//! certificates, `ca -valid / -revoke / -gencrl` for the CA databases and CRLs, and
//! `ocsp -reqout` then `ocsp -index ... -reqin ... -respout` for the OCSP responses, signed by
//! the intermediate itself and by a delegated responder (EKU OCSPSigning).
//!
//! Needs `QTLS_OPENSSL` (an OpenSSL 4 `openssl` binary; `scripts/openssl.sh` builds one, and
//! `scripts/test.sh` sets it). Without it the tests are skipped, except under `CI=true`, where
//! they fail.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use qtls_provider::{Backend, KeyPair};
use qtls_verifier::{
    ChainVerifier, Error, OcspError, Purpose, RevocationPolicy, RevocationStatus,
    ServerVerifierBuilder, StatusSource,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::{AlertDescription as Alert, CertificateError as CE};

use qtls_test_support::openssl::require_openssl as openssl;

/// A scratch directory, removed when dropped.
struct Workdir(PathBuf);

impl Workdir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "qtls-verifier-openssl-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.0.join(name), contents).unwrap();
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).unwrap()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `openssl ARGS` in `dir` without any system configuration; returns stdout, panics on
/// failure.
fn run(openssl: &Path, dir: &Path, args: &[&str]) -> String {
    String::from_utf8_lossy(&qtls_test_support::openssl::run_in(openssl, dir, args).stdout)
        .into_owned()
}

const INTERMEDIATE_EXT: &str = "\
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
";

const SERVER_EXT: &str = "\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
";

const RESPONDER_EXT: &str = "\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
";

/// A minimal `openssl ca` configuration: just what `-valid`, `-revoke` and `-gencrl` need.
fn ca_config(name: &str) -> String {
    format!(
        "[ca]\n\
         default_ca = {name}_ca\n\
         \n\
         [{name}_ca]\n\
         database = {name}-index.txt\n\
         unique_subject = no\n\
         certificate = {name}.pem\n\
         private_key = {name}.key\n\
         crlnumber = {name}-crlnumber\n\
         default_md = default\n\
         default_crl_days = 7\n\
         crl_extensions = crl_ext\n\
         \n\
         [crl_ext]\n\
         authorityKeyIdentifier = keyid:always\n"
    )
}

/// Who signs an OCSP response.
#[derive(Clone, Copy, Debug)]
enum Signer {
    /// The issuing CA (the intermediate) itself.
    Intermediate,
    /// A delegated responder certificate issued by the intermediate with EKU OCSPSigning.
    Responder,
}

const SIGNERS: [Signer; 2] = [Signer::Intermediate, Signer::Responder];

/// One leaf made by OpenSSL, its key, and OpenSSL's OCSP responses for it.
struct Leaf {
    cert: CertificateDer<'static>,
    key_pem: Vec<u8>,
    /// Signed by the intermediate.
    ocsp_by_intermediate: Vec<u8>,
    /// Signed by the delegated responder.
    ocsp_by_responder: Vec<u8>,
}

impl Leaf {
    fn ocsp(&self, signer: Signer) -> &[u8] {
        match signer {
            Signer::Intermediate => &self.ocsp_by_intermediate,
            Signer::Responder => &self.ocsp_by_responder,
        }
    }

    fn key(&self) -> KeyPair {
        KeyPair::from_pem(&self.key_pem, Backend::AwsLc).unwrap()
    }
}

/// The OpenSSL-made hierarchy: root → intermediate → {good leaf, revoked leaf, responder}.
struct OpensslPki {
    root: CertificateDer<'static>,
    intermediate: CertificateDer<'static>,
    good: Leaf,
    revoked: Leaf,
    /// The intermediate's CRL, listing `revoked`.
    intermediate_crl: CertificateRevocationListDer<'static>,
    /// The root's CRL, listing nothing (so hard-fail can settle the intermediate too).
    root_crl: CertificateRevocationListDer<'static>,
}

impl OpensslPki {
    fn generate(openssl: &Path) -> Self {
        let work = Workdir::new();
        let dir = work.0.as_path();
        let ossl = |args: &[&str]| run(openssl, dir, args);

        // The root, self-signed.
        ossl(&[
            "req",
            "-x509",
            "-newkey",
            "ML-DSA-65",
            "-noenc",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=Q-TLS OpenSSL Test Root",
            "-days",
            "3650",
            "-addext",
            "basicConstraints = critical, CA:TRUE",
            "-addext",
            "keyUsage = critical, keyCertSign, cRLSign",
            "-addext",
            "subjectKeyIdentifier = hash",
        ]);

        // The others: a request with a fresh ML-DSA-65 key, then `x509 -req -extfile`.
        let issue = |name: &str, subject: &str, issuer: &str, ext: &str, serial: &str| {
            let ext_file = format!("{name}.ext");
            work.write(&ext_file, ext);
            ossl(&[
                "req",
                "-new",
                "-newkey",
                "ML-DSA-65",
                "-noenc",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                subject,
            ]);
            ossl(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{issuer}.pem"),
                "-CAkey",
                &format!("{issuer}.key"),
                "-set_serial",
                serial,
                "-days",
                "825",
                "-extfile",
                &ext_file,
                "-out",
                &format!("{name}.pem"),
            ]);
        };
        issue(
            "intermediate",
            "/CN=Q-TLS OpenSSL Test Intermediate",
            "root",
            INTERMEDIATE_EXT,
            "0x1001",
        );
        issue(
            "good",
            "/CN=localhost",
            "intermediate",
            SERVER_EXT,
            "0x2001",
        );
        issue(
            "revoked",
            "/CN=localhost",
            "intermediate",
            SERVER_EXT,
            "0x2002",
        );
        issue(
            "responder",
            "/CN=Q-TLS OpenSSL OCSP Responder",
            "intermediate",
            RESPONDER_EXT,
            "0x2003",
        );
        ossl(&[
            "verify",
            "-x509_strict",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "intermediate.pem",
            "good.pem",
            "revoked.pem",
            "responder.pem",
        ]);

        // The CA databases: the intermediate knows its three certificates and revokes one;
        // the root knows the intermediate. Then a CRL from each.
        for ca in ["root", "intermediate"] {
            work.write(&format!("{ca}.cnf"), &ca_config(ca));
            work.write(&format!("{ca}-index.txt"), "");
            work.write(&format!("{ca}-crlnumber"), "1000\n");
        }
        ossl(&["ca", "-config", "root.cnf", "-valid", "intermediate.pem"]);
        for valid in ["good.pem", "responder.pem"] {
            ossl(&["ca", "-config", "intermediate.cnf", "-valid", valid]);
        }
        ossl(&[
            "ca",
            "-config",
            "intermediate.cnf",
            "-revoke",
            "revoked.pem",
            "-crl_reason",
            "keyCompromise",
        ]);
        let index = String::from_utf8(work.read("intermediate-index.txt")).unwrap();
        assert!(
            index
                .lines()
                .any(|l| l.starts_with("R\t") && l.contains("\t2002\t")),
            "index.txt lists the revoked leaf as R:\n{index}"
        );
        for ca in ["root", "intermediate"] {
            ossl(&[
                "ca",
                "-config",
                &format!("{ca}.cnf"),
                "-gencrl",
                "-crldays",
                "7",
                "-out",
                &format!("{ca}.crl.pem"),
            ]);
        }
        let crl_text = ossl(&["crl", "-in", "intermediate.crl.pem", "-noout", "-text"]);
        assert!(
            crl_text.contains("Serial Number: 2002") && crl_text.contains("ML-DSA-65"),
            "{crl_text}"
        );

        // OCSP: a request (no nonce: a staple answers no particular request), then a response
        // from the index, signed by the intermediate or by the delegated responder. OpenSSL
        // checks each response before the verifier sees it.
        std::fs::write(
            dir.join("chain.pem"),
            [work.read("root.pem"), work.read("intermediate.pem")].concat(),
        )
        .unwrap();
        let ocsp = |leaf: &str, signer: Signer, expected: &str| {
            let (rsigner, rkey) = match signer {
                Signer::Intermediate => ("intermediate.pem", "intermediate.key"),
                Signer::Responder => ("responder.pem", "responder.key"),
            };
            let request = format!("{leaf}.req.der");
            let response = format!("{leaf}.{signer:?}.resp.der");
            ossl(&[
                "ocsp",
                "-issuer",
                "intermediate.pem",
                "-cert",
                &format!("{leaf}.pem"),
                "-no_nonce",
                "-reqout",
                &request,
            ]);
            ossl(&[
                "ocsp",
                "-index",
                "intermediate-index.txt",
                "-rsigner",
                rsigner,
                "-rkey",
                rkey,
                "-CA",
                "intermediate.pem",
                "-reqin",
                &request,
                "-respout",
                &response,
                "-ndays",
                "1",
            ]);
            let status = ossl(&[
                "ocsp",
                "-respin",
                &response,
                "-CAfile",
                "chain.pem",
                "-issuer",
                "intermediate.pem",
                "-cert",
                &format!("{leaf}.pem"),
            ]);
            assert!(
                status.contains(&format!("{leaf}.pem: {expected}")),
                "{status}"
            );
            work.read(&response)
        };
        let leaf = |name: &str, expected: &str| Leaf {
            cert: CertificateDer::from_pem_file(dir.join(format!("{name}.pem"))).unwrap(),
            key_pem: work.read(&format!("{name}.key")),
            ocsp_by_intermediate: ocsp(name, Signer::Intermediate, expected),
            ocsp_by_responder: ocsp(name, Signer::Responder, expected),
        };
        let crl = |name: &str| {
            CertificateRevocationListDer::from_pem_file(dir.join(format!("{name}.crl.pem")))
                .unwrap()
        };

        Self {
            root: CertificateDer::from_pem_file(dir.join("root.pem")).unwrap(),
            intermediate: CertificateDer::from_pem_file(dir.join("intermediate.pem")).unwrap(),
            good: leaf("good", "good"),
            revoked: leaf("revoked", "revoked"),
            intermediate_crl: crl("intermediate"),
            root_crl: crl("root"),
        }
    }

    fn verifier(&self) -> ServerVerifierBuilder {
        ServerVerifierBuilder::new(vec![self.root.clone()], &qtls_provider::hybrid())
    }

    /// Hard-fail over the whole chain with no network: the configured CRLs, and the staple.
    fn offline_hard_fail(&self, crls: Vec<CertificateRevocationListDer<'static>>) -> ChainVerifier {
        self.verifier()
            .revocation_policy(RevocationPolicy::HardFail)
            .online_ocsp(false)
            .fetch_crls(false)
            .crls(crls)
            .build_chain_verifier()
            .unwrap()
    }

    fn verify(
        &self,
        verifier: &ChainVerifier,
        leaf: &Leaf,
        staple: &[u8],
    ) -> Result<qtls_verifier::VerifiedChain, Error> {
        verifier.verify(
            &leaf.cert,
            std::slice::from_ref(&self.intermediate),
            Purpose::Server,
            Some(&ServerName::try_from("localhost").unwrap()),
            staple,
            UnixTime::now(),
        )
    }
}

/// The OpenSSL PKI, made once for all tests; `None` when OpenSSL is missing (and not CI).
fn pki() -> Option<&'static OpensslPki> {
    static PKI: OnceLock<OpensslPki> = OnceLock::new();
    let openssl = openssl()?;
    Some(PKI.get_or_init(|| OpensslPki::generate(&openssl)))
}

#[test]
fn openssl_chain_verifies() {
    let Some(pki) = pki() else { return };
    let verifier = pki
        .verifier()
        .revocation_policy(RevocationPolicy::Off)
        .build_chain_verifier()
        .unwrap();
    for leaf in [&pki.good, &pki.revoked] {
        let verified = pki.verify(&verifier, leaf, &[]).unwrap();
        let subjects: Vec<&str> = verified
            .certificates
            .iter()
            .map(|c| c.subject.as_str())
            .collect();
        assert_eq!(
            subjects,
            [
                "CN=localhost",
                "CN=Q-TLS OpenSSL Test Intermediate",
                "CN=Q-TLS OpenSSL Test Root"
            ]
        );
        for cert in &verified.certificates {
            assert_eq!(cert.signature_algorithm, "ML-DSA-65", "{}", cert.subject);
            assert_eq!(cert.revocation, RevocationStatus::NotChecked);
        }
        assert_eq!(verified.subject_alt_names, ["DNS:localhost"]);
    }
    let verified = pki.verify(&verifier, &pki.good, &[]).unwrap();
    assert_eq!(verified.end_entity().serial, "2001");
    assert_eq!(verified.certificates[1].serial, "1001");
}

#[test]
fn good_leaf_verifies_with_openssl_ocsp_staple() {
    let Some(pki) = pki() else { return };
    // The leaf by its staple, the intermediate by the root's (empty) CRL.
    let verifier = pki.offline_hard_fail(vec![pki.root_crl.clone()]);
    for signer in SIGNERS {
        let verified = pki
            .verify(&verifier, &pki.good, pki.good.ocsp(signer))
            .unwrap_or_else(|e| panic!("staple signed by {signer:?}: {e}"));
        assert_eq!(
            verified.end_entity().revocation,
            RevocationStatus::Good(StatusSource::StapledOcsp),
            "staple signed by {signer:?}"
        );
        assert_eq!(
            verified.certificates[1].revocation,
            RevocationStatus::Good(StatusSource::Crl)
        );
        assert_eq!(
            verified.certificates[2].revocation,
            RevocationStatus::NotChecked
        );
    }
}

#[test]
fn revoked_leaf_fails_with_openssl_ocsp_staple() {
    let Some(pki) = pki() else { return };
    for policy in [RevocationPolicy::HardFail, RevocationPolicy::SoftFail] {
        let verifier = pki
            .verifier()
            .revocation_policy(policy)
            .online_ocsp(false)
            .fetch_crls(false)
            .build_chain_verifier()
            .unwrap();
        for signer in SIGNERS {
            match pki.verify(&verifier, &pki.revoked, pki.revoked.ocsp(signer)) {
                Err(
                    error @ Error::Revoked {
                        source: StatusSource::StapledOcsp,
                        ..
                    },
                ) => {
                    assert_eq!(error.certificate_error(), CE::Revoked);
                    assert!(error.to_string().contains("CN=localhost"), "{error}");
                }
                other => panic!("{policy:?}, staple signed by {signer:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn openssl_staple_for_the_other_leaf_is_rejected() {
    let Some(pki) = pki() else { return };
    let verifier = pki.offline_hard_fail(vec![pki.root_crl.clone()]);
    for (leaf, other) in [(&pki.good, &pki.revoked), (&pki.revoked, &pki.good)] {
        for signer in SIGNERS {
            match pki.verify(&verifier, leaf, other.ocsp(signer)) {
                Err(Error::BadStaple(OcspError::NoMatchingCertId)) => {}
                other => panic!("staple signed by {signer:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn good_leaf_verifies_with_openssl_crl() {
    let Some(pki) = pki() else { return };
    let verifier = pki.offline_hard_fail(vec![pki.intermediate_crl.clone(), pki.root_crl.clone()]);
    let verified = pki.verify(&verifier, &pki.good, &[]).unwrap();
    assert_eq!(
        verified.end_entity().revocation,
        RevocationStatus::Good(StatusSource::Crl)
    );
    assert_eq!(
        verified.certificates[1].revocation,
        RevocationStatus::Good(StatusSource::Crl)
    );

    // Without the intermediate's CRL, hard-fail has nothing to settle the leaf with.
    let verifier = pki.offline_hard_fail(vec![pki.root_crl.clone()]);
    match pki.verify(&verifier, &pki.good, &[]) {
        Err(Error::RevocationUnknown { subject, .. }) => assert_eq!(subject, "CN=localhost"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn revoked_leaf_fails_with_openssl_crl() {
    let Some(pki) = pki() else { return };
    let verifier = pki.offline_hard_fail(vec![pki.intermediate_crl.clone(), pki.root_crl.clone()]);
    match pki.verify(&verifier, &pki.revoked, &[]) {
        Err(
            error @ Error::Revoked {
                source: StatusSource::Crl,
                ..
            },
        ) => {
            assert_eq!(error.certificate_error(), CE::Revoked);
            assert!(error.to_string().contains("CN=localhost"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    // Soft-fail does not soften a revocation.
    let verifier = pki
        .verifier()
        .revocation_policy(RevocationPolicy::SoftFail)
        .online_ocsp(false)
        .fetch_crls(false)
        .crls(vec![pki.intermediate_crl.clone()])
        .build_chain_verifier()
        .unwrap();
    assert!(matches!(
        pki.verify(&verifier, &pki.revoked, &[]),
        Err(Error::Revoked {
            source: StatusSource::Crl,
            ..
        })
    ));
}

#[test]
fn openssl_chain_in_a_handshake_with_openssl_staple() {
    let Some(pki) = pki() else { return };
    let client_verifier = || {
        pki.verifier()
            .revocation_policy(RevocationPolicy::HardFail)
            .online_ocsp(false)
            .fetch_crls(false)
            .crls(vec![pki.root_crl.clone()])
            .build()
            .unwrap()
    };
    let chain = |leaf: &Leaf| vec![leaf.cert.clone(), pki.intermediate.clone()];

    let outcome = common::handshake(
        chain(&pki.good),
        &pki.good.key(),
        Some(pki.good.ocsp(Signer::Responder).to_vec()),
        client_verifier(),
        UnixTime::now(),
    );
    assert!(
        outcome.client.is_ok() && outcome.server.is_ok(),
        "client {:?}, server {:?}",
        outcome.client,
        outcome.server
    );

    let outcome = common::handshake(
        chain(&pki.revoked),
        &pki.revoked.key(),
        Some(pki.revoked.ocsp(Signer::Responder).to_vec()),
        client_verifier(),
        UnixTime::now(),
    );
    common::assert_refused(&outcome, &CE::Revoked, Alert::CertificateRevoked);
}
