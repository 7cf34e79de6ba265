//! A verifier that cannot work does not build, and the typed error names the input at fault.

#![allow(clippy::unwrap_used)]

mod common;

use common::{provider, TestPki};
use qtls_provider::{CompositeAlgorithm, KeyAlgorithm};
use qtls_verifier::{ClientVerifierBuilder, ServerVerifierBuilder, VerifierBuilderError};
use rustls::pki_types::CertificateDer;

const COMPOSITE: KeyAlgorithm = KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512);

#[test]
fn no_roots() {
    let error = ServerVerifierBuilder::new(Vec::new(), &provider())
        .build()
        .unwrap_err();
    assert!(
        matches!(error, VerifierBuilderError::NoTrustAnchors),
        "{error}"
    );
    let error = ClientVerifierBuilder::new(Vec::new(), &provider())
        .build()
        .unwrap_err();
    assert!(
        matches!(error, VerifierBuilderError::NoTrustAnchors),
        "{error}"
    );
}

#[test]
fn a_root_that_is_not_a_certificate_is_named_by_position() {
    let pki = TestPki::new(COMPOSITE);
    let mut roots = pki.roots();
    roots.push(CertificateDer::from(b"not a certificate".to_vec()));
    let error = ServerVerifierBuilder::new(roots, &provider())
        .build()
        .unwrap_err();
    assert!(
        matches!(error, VerifierBuilderError::TrustAnchor { index: 1, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("trust anchor #1"), "{error}");
}

#[test]
fn a_crl_that_does_not_parse_is_named_by_position() {
    let pki = TestPki::new(COMPOSITE);
    let error = ServerVerifierBuilder::new(pki.roots(), &provider())
        .crls(vec![b"not a CRL".to_vec().into()])
        .build()
        .unwrap_err();
    assert!(
        matches!(error, VerifierBuilderError::Crl { index: 0, .. }),
        "{error}"
    );
}

#[test]
fn a_crl_file_that_is_missing_or_malformed_is_named_by_path() {
    let pki = TestPki::new(COMPOSITE);
    let dir = std::env::temp_dir().join(format!("qtls-builder-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.crl");
    std::fs::write(
        &garbage,
        b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    )
    .unwrap();
    for path in [dir.join("missing.crl"), garbage] {
        let error = ClientVerifierBuilder::new(pki.roots(), &provider())
            .crl_files(vec![path.clone()])
            .build()
            .unwrap_err();
        match &error {
            VerifierBuilderError::CrlFile { path: named, .. } => assert_eq!(named, &path),
            other => panic!("{other}"),
        }
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_ocsp_responder_url_the_fetcher_cannot_use_is_refused() {
    let pki = TestPki::new(COMPOSITE);
    for url in [
        "https://127.0.0.1/ocsp",
        "127.0.0.1:8080",
        "not a url",
        "http:///path",
    ] {
        let error = ClientVerifierBuilder::new(pki.roots(), &provider())
            .ocsp_responder(Some(url.into()))
            .build()
            .unwrap_err();
        assert!(
            matches!(&error, VerifierBuilderError::OcspResponderUrl { url: named, .. } if named == url),
            "{url}: {error}"
        );
        assert!(error.to_string().contains(url), "{error}");
    }
    ClientVerifierBuilder::new(pki.roots(), &provider())
        .ocsp_responder(Some("http://127.0.0.1:8080/ocsp".into()))
        .build()
        .unwrap();
}

#[test]
fn requiring_post_quantum_signatures_of_a_classical_provider_is_refused() {
    let pki = TestPki::new(COMPOSITE);
    let mut classical = rustls::crypto::aws_lc_rs::default_provider();
    let all = classical.signature_verification_algorithms;
    let mapping: Vec<_> = all
        .mapping
        .iter()
        .filter(|(scheme, _)| {
            !matches!(
                scheme,
                rustls::SignatureScheme::ML_DSA_44
                    | rustls::SignatureScheme::ML_DSA_65
                    | rustls::SignatureScheme::ML_DSA_87
            )
        })
        .copied()
        .collect();
    classical.signature_verification_algorithms.mapping = Box::leak(mapping.into_boxed_slice());
    let error = ServerVerifierBuilder::new(pki.roots(), &classical)
        .require_pq_signatures(true)
        .build()
        .unwrap_err();
    assert!(
        matches!(error, VerifierBuilderError::NoPostQuantumSchemes),
        "{error}"
    );
}
