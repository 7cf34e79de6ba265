//! Verifying a 3-certificate composite chain with a stapled OCSP response, beside the sum of
//! the three signature verifications it needs (intermediate, leaf, OCSP response), measured
//! in the same run. Target: at most 1.15×.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use der::Encode;
use qtls_pki::{OcspCertId, OcspCertStatus, OcspHash, OcspResponseBuilder};
use qtls_provider::KeyAlgorithm;
use qtls_test_support::clock;
use qtls_test_support::pki::TestPki;
use qtls_verifier::{Purpose, RevocationDepth, RevocationPolicy, ServerVerifierBuilder};

fn bench(c: &mut Criterion) {
    let (issued, now) = (clock::issued(), clock::now());
    let pki = TestPki::new(KeyAlgorithm::DEFAULT);
    let (root, intermediate) = (&pki.root, &pki.intermediate);
    let leaf = pki.server_leaf();
    let id = OcspCertId::for_certificate(
        OcspHash::Sha1,
        intermediate.certificate(),
        leaf.certificate(),
    )
    .unwrap();
    let staple = OcspResponseBuilder::new(issued + time::Duration::hours(12))
        .next_update(issued + time::Duration::days(3))
        .status(id, OcspCertStatus::Good)
        .build(intermediate.certificate(), intermediate)
        .unwrap()
        .into_der();
    let provider = qtls_provider::hybrid();
    let verifier =
        ServerVerifierBuilder::new(vec![root.certificate().to_certificate_der()], &provider)
            .revocation_policy(RevocationPolicy::SoftFail)
            .revocation_depth(RevocationDepth::EndEntity)
            .online_ocsp(false)
            .fetch_crls(false)
            .build_chain_verifier()
            .unwrap();
    let chain = [
        leaf.certificate().to_certificate_der(),
        intermediate.certificate().to_certificate_der(),
    ];
    let name = "localhost".try_into().unwrap();
    verifier
        .verify(
            &chain[0],
            &chain[1..],
            Purpose::Server,
            Some(&name),
            &staple,
            now,
        )
        .unwrap();

    // The three signatures, exactly as verification meets them.
    let alg = qtls_provider::webpki_algs::MLDSA65_ECDSA_P384_SHA512;
    let tbs_and_sig = |cert: &qtls_pki::Certificate| {
        (
            cert.x509().tbs_certificate.to_der().unwrap(),
            cert.x509().signature.raw_bytes().to_vec(),
        )
    };
    let (leaf_tbs, leaf_sig) = tbs_and_sig(leaf.certificate());
    let (ca_tbs, ca_sig) = tbs_and_sig(intermediate.certificate());
    let response = qtls_pki::OcspResponse::from_der(staple.clone()).unwrap();
    let ocsp_tbs = response.tbs_response_data_der().unwrap().to_vec();
    let ocsp_sig = response.basic().unwrap().signature.raw_bytes().to_vec();
    let (root_key, ca_key) = (
        root.certificate().public_key().to_vec(),
        intermediate.certificate().public_key().to_vec(),
    );

    let mut group = c.benchmark_group("composite-chain");
    group
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(5));
    group.bench_function("verify chain + staple", |b| {
        b.iter(|| {
            verifier
                .verify(
                    &chain[0],
                    &chain[1..],
                    Purpose::Server,
                    Some(&name),
                    &staple,
                    now,
                )
                .unwrap()
        })
    });
    group.bench_function("3 composite signature verifications", |b| {
        b.iter(|| {
            alg.verify_signature(&root_key, &ca_tbs, &ca_sig).unwrap();
            alg.verify_signature(&ca_key, &leaf_tbs, &leaf_sig).unwrap();
            alg.verify_signature(&ca_key, &ocsp_tbs, &ocsp_sig).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
