//! Keys that can leave their token, imported into real tokens (Kryoptic, SoftHSM2) with
//! CKA_EXTRACTABLE true or CKA_SENSITIVE false: [`Hsm::signing_key`] refuses them with
//! [`Error::ExportableKey`] naming the key and the attribute, and signs with them only when
//! allowed with `danger_allow_exportable_keys`. `TokenAdmin::import` keeps imports protected.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::tokens;

use std::path::{Path, PathBuf};

use qtls_hsm::{Error, Hsm, ImportProtection, KeyRef, TokenAdmin};
use qtls_provider::primitives::{composite_verify, ecdsa_verify};
use qtls_provider::{Backend, CodePoints, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair};

fn hsm(module: &Path, token: &str, allow_exportable: bool) -> Hsm {
    Hsm::builder()
        .primary(tokens::config(module, token).sessions(1).build().unwrap())
        .danger_allow_exportable_keys(allow_exportable)
        .build()
        .unwrap()
}

/// The tokens and the algorithms each can hold.
fn cases() -> Vec<(PathBuf, &'static str, Vec<KeyAlgorithm>)> {
    let mut cases = Vec::new();
    if let Some(kryoptic) = tokens::kryoptic() {
        cases.push((
            kryoptic,
            tokens::SPARE,
            vec![
                KeyAlgorithm::Ecdsa(EcCurve::P384),
                KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
            ],
        ));
    }
    if let Some(softhsm) = tokens::softhsm() {
        cases.push((
            softhsm,
            tokens::SOFTHSM_SPARE,
            vec![KeyAlgorithm::Ecdsa(EcCurve::P384)],
        ));
    }
    cases
}

fn verifies(algorithm: KeyAlgorithm, public: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match algorithm {
        KeyAlgorithm::Ecdsa(curve) => ecdsa_verify(curve, public, message, signature),
        KeyAlgorithm::Composite(alg) => {
            composite_verify(alg, Backend::AwsLc, public, message, b"", signature)
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn keys_that_can_leave_the_token_are_refused_unless_allowed() {
    let exposed = [
        (
            "CKA_EXTRACTABLE",
            ImportProtection {
                sensitive: true,
                extractable: true,
            },
        ),
        (
            "CKA_SENSITIVE",
            ImportProtection {
                sensitive: false,
                extractable: false,
            },
        ),
    ];
    for (module, token, algorithms) in cases() {
        let admin = TokenAdmin::open(&tokens::config(&module, token).build().unwrap()).unwrap();
        let strict = hsm(&module, token, false);
        let lenient = hsm(&module, token, true);
        for algorithm in algorithms {
            for (attribute, protection) in exposed {
                let label = tokens::unique("exposed");
                let software = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
                admin
                    .danger_import_with_protection(&label, &software, protection)
                    .unwrap();
                let key = KeyRef::label(&label);
                // The token holds the key as asked (else the test proves nothing).
                for held in admin.protection(&key).unwrap() {
                    assert_eq!(
                        (held.sensitive, held.extractable),
                        (protection.sensitive, protection.extractable),
                        "{algorithm} in {token}"
                    );
                }

                match strict.signing_key(&key, &CodePoints::DEFAULT) {
                    Err(error @ Error::ExportableKey { .. }) => {
                        let Error::ExportableKey {
                            key: named,
                            attribute: found,
                            ..
                        } = &error
                        else {
                            unreachable!()
                        };
                        assert_eq!(*found, attribute, "{algorithm} in {token}");
                        assert!(named.contains(&label), "{named}");
                        let message = error.to_string();
                        assert!(
                            message.contains(&label) && message.contains(attribute),
                            "{message}"
                        );
                    }
                    Err(other) => panic!("{algorithm} in {token} ({attribute}): {other}"),
                    Ok(_) => panic!(
                        "{algorithm} in {token}: a key with {attribute} exposed was accepted"
                    ),
                }

                let signing = lenient.signing_key(&key, &CodePoints::DEFAULT).unwrap();
                let signature = signing.sign(b"exposed but allowed").unwrap();
                assert!(
                    verifies(
                        algorithm,
                        software.public_key(),
                        b"exposed but allowed",
                        &signature
                    ),
                    "{algorithm} in {token}"
                );
            }

            // A plain import is protected, and accepted without the flag.
            let label = tokens::unique("protected");
            let software = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
            admin.import(&label, &software).unwrap();
            for held in admin.protection(&KeyRef::label(&label)).unwrap() {
                assert!(held.sensitive && !held.extractable, "{held:?}");
            }
            strict
                .signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
                .unwrap();
        }
    }
}
