//! The ECDSA half of a composite public key must be an uncompressed point (0x04 ‖ X ‖ Y,
//! draft-ietf-lamps-pq-composite-sigs §5.1). aws-lc also parses X9.62's hybrid forms
//! 0x06/0x07 (the same point with Y's parity in the prefix), so composite verification must
//! refuse them itself: through the primitive, and through the verification objects rustls
//! and rustls-webpki use for certificate chains and CertificateVerify.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_provider::{
    primitives, webpki_algs, Backend, CompositeAlgorithm, KeyAlgorithm, KeyPair, Traditional,
};

fn webpki_alg(
    algorithm: CompositeAlgorithm,
) -> &'static dyn rustls::pki_types::SignatureVerificationAlgorithm {
    webpki_algs::composite(algorithm)
}

#[test]
fn composite_verification_refuses_points_that_are_not_uncompressed() {
    let message = b"composite point forms";
    // Every composite with an ECDSA half: the NIST curves on aws-lc, brainpool on RustCrypto.
    for algorithm in CompositeAlgorithm::ALL {
        if !matches!(algorithm.traditional(), Traditional::Ecdsa { .. }) {
            continue;
        }
        let key = KeyPair::generate(KeyAlgorithm::Composite(algorithm), Backend::AwsLc).unwrap();
        let signature = key.sign(message).unwrap();
        let public_key = key.public_key().to_vec();
        let offset = algorithm.ml_dsa().public_key_len();
        assert_eq!(public_key[offset], 0x04);
        assert!(primitives::composite_verify(
            algorithm,
            Backend::AwsLc,
            &public_key,
            message,
            b"",
            &signature
        ));
        webpki_alg(algorithm)
            .verify_signature(&public_key, message, &signature)
            .unwrap();

        let odd = public_key.last().unwrap() & 1;
        // The valid hybrid encoding of the same point, the mismatched one, compressed
        // prefixes, the point at infinity's prefix, and an unassigned one.
        for prefix in [0x06 | odd, 0x06 | (odd ^ 1), 0x02, 0x03, 0x00, 0x05] {
            let mut modified = public_key.clone();
            modified[offset] = prefix;
            assert!(
                !primitives::composite_verify(
                    algorithm,
                    Backend::AwsLc,
                    &modified,
                    message,
                    b"",
                    &signature
                ),
                "{} accepted prefix {prefix:#04x}",
                algorithm.name()
            );
            assert!(
                webpki_alg(algorithm)
                    .verify_signature(&modified, message, &signature)
                    .is_err(),
                "{} (webpki) accepted prefix {prefix:#04x}",
                algorithm.name()
            );
        }
    }
}
