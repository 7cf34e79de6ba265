//! Keys generated in and imported into real tokens (Kryoptic, SoftHSM2): they stay
//! sensitive and non-extractable, and their signatures verify with aws-lc-rs (and OpenSSL 4
//! for ML-DSA-65).

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::tokens;

use std::path::{Path, PathBuf};
use std::process::Command;

use qtls_hsm::{
    Error, Hsm, HsmPublicKey, KeyRef, Pin, Pkcs11Uri, RvError, TokenAdmin, TokenConfig,
};
use qtls_provider::primitives::{composite_verify, ecdsa_verify, ml_dsa_verify};
use qtls_provider::{
    Backend, CodePoints, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel,
};
use rustls::sign::SigningKey;
use rustls::SignatureScheme;

/// Every composite a token can hold (ECDSA halves on P-256, P-384, P-521) and the others.
const ALGORITHMS: [KeyAlgorithm; 8] = [
    KeyAlgorithm::Ecdsa(EcCurve::P384),
    KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
    KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa87),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa87EcdsaP384Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa44EcdsaP256Sha256),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP256Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa87EcdsaP521Sha512),
];

/// Verifies `signature` over `message` in software (aws-lc-rs; the composite ML-DSA half with
/// its context through the provider's RustCrypto path, as the provider verifies it).
fn verifies(public: &HsmPublicKey, message: &[u8], signature: &[u8]) -> bool {
    match public.algorithm() {
        KeyAlgorithm::Ecdsa(curve) => ecdsa_verify(curve, public.public_key(), message, signature),
        KeyAlgorithm::MlDsa(level) => ml_dsa_verify(
            level,
            Backend::AwsLc,
            public.public_key(),
            message,
            b"",
            signature,
        ),
        KeyAlgorithm::Composite(alg) => composite_verify(
            alg,
            Backend::AwsLc,
            public.public_key(),
            message,
            b"",
            signature,
        ),
        other => panic!("unexpected {other}"),
    }
}

fn hsm(module: &Path, label: &str) -> Hsm {
    Hsm::builder()
        .primary(tokens::config(module, label).sessions(2).build().unwrap())
        .build()
        .unwrap()
}

fn admin(module: &Path, label: &str) -> TokenAdmin {
    TokenAdmin::open(&tokens::config(module, label).build().unwrap()).unwrap()
}

#[test]
fn kryoptic_keys_are_protected_and_sign_verifiably() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let admin = admin(&kryoptic, tokens::PRIMARY);
    let hsm = hsm(&kryoptic, tokens::PRIMARY);
    for algorithm in ALGORITHMS {
        let label = tokens::unique("gen");
        let public = admin.generate(&label, algorithm).unwrap();
        assert_eq!(public.algorithm(), algorithm);

        // Generated in the token, sensitive and never extractable, both halves of a composite.
        let protections = admin.protection(&KeyRef::label(&label)).unwrap();
        let halves = if matches!(algorithm, KeyAlgorithm::Composite(_)) {
            2
        } else {
            1
        };
        assert_eq!(protections.len(), halves, "{algorithm}");
        for p in &protections {
            assert!(p.sensitive && !p.extractable, "{algorithm}: {p:?}");
            assert!(
                p.always_sensitive && p.never_extractable && p.local,
                "{algorithm}: {p:?}"
            );
        }
        let read = admin.try_read_private_value(&KeyRef::label(&label));
        assert!(read.is_err(), "{algorithm}: private value readable");

        let key = hsm
            .signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
            .unwrap();
        assert_eq!(key.public_key(), &public);
        assert_eq!(
            key.scheme(),
            CodePoints::DEFAULT.scheme_for(algorithm),
            "{algorithm}"
        );
        assert_eq!(
            SigningKey::public_key(&key).unwrap().as_ref(),
            public.subject_public_key_info_der().as_slice()
        );
        let message = format!("TLS 1.3, server CertificateVerify\0{label}");
        let signature = key.sign(message.as_bytes()).unwrap();
        assert!(
            verifies(&public, message.as_bytes(), &signature),
            "{algorithm}"
        );
        // And through rustls's own interface.
        let signer = key.choose_scheme(&[key.scheme()]).unwrap();
        let signature = signer.sign(b"other message").unwrap();
        assert!(
            verifies(&public, b"other message", &signature),
            "{algorithm}"
        );
        assert!(
            !verifies(&public, b"another message", &signature),
            "{algorithm}"
        );
        assert!(key.choose_scheme(&[SignatureScheme::ED25519]).is_none());
    }
}

#[test]
fn composite_signatures_have_the_standard_layout() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let alg = CompositeAlgorithm::MlDsa65EcdsaP384Sha512;
    let label = tokens::unique("layout");
    admin(&kryoptic, tokens::PRIMARY)
        .generate(&label, KeyAlgorithm::Composite(alg))
        .unwrap();
    let key = hsm(&kryoptic, tokens::PRIMARY)
        .signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
        .unwrap();
    assert_eq!(u16::from(key.scheme()), 0x0908);
    let public = key.public_key().public_key();
    assert_eq!(public.len(), 1952 + 97);
    let signature = key.sign(b"M").unwrap();
    // mldsaSig (3309) ‖ DER Ecdsa-Sig-Value; each half verifies on its own over M'.
    let (ml_dsa_sig, ecdsa_sig) = signature.split_at(3309);
    assert_eq!(ecdsa_sig[0], 0x30);
    let representative = alg.message_representative(b"M", b"").unwrap();
    assert!(ml_dsa_verify(
        MlDsaLevel::MlDsa65,
        Backend::AwsLc,
        &public[..1952],
        &representative,
        alg.label(),
        ml_dsa_sig
    ));
    assert!(ecdsa_verify(
        EcCurve::P384,
        &public[1952..],
        &representative,
        ecdsa_sig
    ));
}

#[test]
fn softhsm_signs_ecdsa_and_names_what_it_lacks() {
    let Some(softhsm) = tokens::softhsm() else {
        return;
    };
    let admin = admin(&softhsm, tokens::SOFTHSM);
    let label = tokens::unique("ec");
    let public = admin
        .generate(&label, KeyAlgorithm::Ecdsa(EcCurve::P384))
        .unwrap();
    let protections = admin.protection(&KeyRef::label(&label)).unwrap();
    assert!(protections[0].sensitive && !protections[0].extractable);
    let key = hsm(&softhsm, tokens::SOFTHSM)
        .signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
        .unwrap();
    assert_eq!(key.scheme(), SignatureScheme::ECDSA_NISTP384_SHA384);
    let signature = key.sign(b"message").unwrap();
    assert!(verifies(&public, b"message", &signature));

    // SoftHSM2 2.6 has no ML-DSA: the error says which mechanism is missing, and nothing
    // is left behind.
    let missing = tokens::unique("mldsa");
    let error = admin
        .generate(&missing, KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65))
        .unwrap_err();
    assert!(
        matches!(error, Error::MechanismUnsupported { mechanism, .. } if mechanism == "CKM_ML_DSA_KEY_PAIR_GEN"),
        "{error}"
    );
    assert!(admin.public_key(&KeyRef::label(&missing)).is_err());
}

/// The composites whose traditional half is RSA, EdDSA or brainpool ECDSA are refused, for
/// generation and import, with the reason, and nothing is left in the token.
#[test]
fn composites_a_token_cannot_hold_are_refused_with_the_reason() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let admin = admin(&kryoptic, tokens::PRIMARY);
    let refused: Vec<_> = CompositeAlgorithm::ALL
        .into_iter()
        .filter(|alg| !ALGORITHMS.contains(&KeyAlgorithm::Composite(*alg)))
        .collect();
    assert_eq!(refused.len(), 13);
    for alg in refused {
        let label = tokens::unique("refused");
        let error = admin
            .generate(&label, KeyAlgorithm::Composite(alg))
            .unwrap_err();
        assert!(
            matches!(&error, Error::CompositeNotInToken { algorithm, .. } if *algorithm == alg.name()),
            "{}: {error}",
            alg.name()
        );
        assert!(error.to_string().contains("P-521"), "{error}");
        assert!(matches!(
            admin.public_key(&KeyRef::label(&label)),
            Err(Error::KeyNotFound { .. })
        ));
    }
    // Import too (one per family: an RSA-2048, an Ed25519 and a brainpool half).
    for alg in [
        CompositeAlgorithm::MlDsa44Rsa2048PssSha256,
        CompositeAlgorithm::MlDsa44Ed25519Sha512,
        CompositeAlgorithm::MlDsa65EcdsaBrainpoolP256r1Sha512,
    ] {
        let software = KeyPair::generate(KeyAlgorithm::Composite(alg), Backend::AwsLc).unwrap();
        let label = tokens::unique("refused-import");
        let error = admin.import(&label, &software).unwrap_err();
        assert!(
            matches!(error, Error::CompositeNotInToken { .. }),
            "{}: {error}",
            alg.name()
        );
        assert!(admin.public_key(&KeyRef::label(&label)).is_err());
    }
}

#[test]
fn imported_keys_sign_for_their_software_public_keys() {
    let mut cases: Vec<(PathBuf, &str, Vec<KeyAlgorithm>)> = Vec::new();
    if let Some(kryoptic) = tokens::kryoptic() {
        cases.push((kryoptic, tokens::SPARE, ALGORITHMS.to_vec()));
    }
    if let Some(softhsm) = tokens::softhsm() {
        // Its own token: SoftHSM2 2.6 now and then fails C_CreateObject with
        // CKR_GENERAL_ERROR while another session of the process creates objects in the same
        // token (softhsm_signs_ecdsa_and_names_what_it_lacks, running alongside).
        cases.push((
            softhsm,
            tokens::SOFTHSM_SPARE,
            vec![
                KeyAlgorithm::Ecdsa(EcCurve::P384),
                KeyAlgorithm::Ecdsa(EcCurve::P256),
            ],
        ));
    }
    for (module, token, algorithms) in cases {
        let admin = admin(&module, token);
        let hsm = hsm(&module, token);
        for algorithm in algorithms {
            let software = KeyPair::generate(algorithm, Backend::AwsLc).unwrap();
            let label = tokens::unique("imported");
            let public = admin.import(&label, &software).unwrap();
            assert_eq!(public.public_key(), software.public_key(), "{algorithm}");
            assert_eq!(
                public.subject_public_key_info_der(),
                software.subject_public_key_info_der()
            );
            let protections = admin.protection(&KeyRef::label(&label)).unwrap();
            assert!(
                protections
                    .iter()
                    .all(|p| p.sensitive && !p.extractable && !p.local),
                "{algorithm}: {protections:?}"
            );
            let key = hsm
                .signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
                .unwrap();
            let signature = key.sign(b"imported").unwrap();
            assert!(verifies(&public, b"imported", &signature), "{algorithm}");
            // Importing under a taken name is refused.
            assert!(matches!(
                admin.import(&label, &software),
                Err(Error::KeyExists { .. })
            ));
        }
    }
}

#[test]
fn wrong_pins_and_missing_things_are_named_without_the_pin() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let wrong = "wrong-pin-31337";
    let config = TokenConfig::builder(&kryoptic)
        .token_label(tokens::UNUSED)
        .pin(Pin::new(wrong).unwrap())
        .build()
        .unwrap();
    let error = Hsm::builder().primary(config.clone()).build().unwrap_err();
    assert_eq!(error.pkcs11_code(), Some(RvError::PinIncorrect), "{error}");
    let shown = format!("{error} {error:?} {config:?}");
    assert!(!shown.contains(wrong), "{shown}");
    assert!(!shown.contains(tokens::USER_PIN), "{shown}");

    let error = Hsm::builder()
        .primary(tokens::config(&kryoptic, "no-such-token").build().unwrap())
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("no-such-token") && error.contains(tokens::UNUSED),
        "{error}"
    );
    let error = hsm(&kryoptic, tokens::PRIMARY)
        .signing_key(&KeyRef::label("no-such-key"), &CodePoints::DEFAULT)
        .unwrap_err();
    assert!(matches!(error, Error::KeyNotFound { .. }), "{error}");
    let error = Hsm::builder()
        .primary(
            TokenConfig::builder("/nonexistent/libpkcs11.so")
                .token_label("x")
                .pin(Pin::new("1234").unwrap())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::Module { .. }), "{error}");
}

#[test]
fn uris_name_the_module_token_key_and_pin_file() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let label = tokens::unique("uri key");
    admin(&kryoptic, tokens::PRIMARY)
        .generate(&label, KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65))
        .unwrap();
    let pin_file = tokens::tokens().dir.join("user.pin");
    std::fs::write(&pin_file, format!("{}\n", tokens::USER_PIN)).unwrap();
    let mut uri = Pkcs11Uri::default();
    uri.token = Some(tokens::PRIMARY.into());
    uri.object = Some(label.clone());
    uri.object_type = Some(qtls_hsm::ObjectType::Private);
    uri.module_path = Some(kryoptic.clone());
    uri.pin_source = Some(format!("file:{}", pin_file.display()));
    let text = uri.to_string();
    assert!(text.contains("object=uri%20key"), "{text}");
    let parsed: Pkcs11Uri = text.parse().unwrap();
    let config = TokenConfig::builder_from_uri(&parsed)
        .unwrap()
        .build()
        .unwrap();
    let hsm = Hsm::builder().primary(config).build().unwrap();
    let key = hsm
        .signing_key(&KeyRef::from_uri(&parsed).unwrap(), &CodePoints::DEFAULT)
        .unwrap();
    assert_eq!(key.scheme(), SignatureScheme::ML_DSA_65);
    assert!(verifies(key.public_key(), b"m", &key.sign(b"m").unwrap()));
}

#[test]
fn ml_dsa_65_signatures_verify_with_openssl() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let Some(openssl) = tokens::require(
        "OpenSSL 4 (QTLS_OPENSSL, from scripts/openssl.sh)",
        std::env::var_os("QTLS_OPENSSL")
            .map(PathBuf::from)
            .filter(|p| p.is_file()),
    ) else {
        return;
    };
    let label = tokens::unique("openssl");
    admin(&kryoptic, tokens::PRIMARY)
        .generate(&label, KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65))
        .unwrap();
    let key = hsm(&kryoptic, tokens::PRIMARY)
        .signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spki = key.public_key().subject_public_key_info_der();
    std::fs::write(dir.path().join("pub.der"), &spki).unwrap();
    let message = b"signed in Kryoptic, checked by OpenSSL";
    std::fs::write(dir.path().join("msg"), message).unwrap();
    std::fs::write(dir.path().join("sig"), key.sign(message).unwrap()).unwrap();
    std::fs::write(dir.path().join("bad"), key.sign(b"something else").unwrap()).unwrap();
    let conf = openssl
        .parent()
        .and_then(Path::parent)
        .map(|prefix| prefix.join("ssl/openssl.cnf"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/dev/null"));
    let verify = |sig: &str| {
        Command::new(&openssl)
            .env("OPENSSL_CONF", &conf)
            .current_dir(dir.path())
            .args(["pkeyutl", "-verify", "-pubin", "-keyform", "DER"])
            .args(["-inkey", "pub.der", "-rawin", "-in", "msg", "-sigfile", sig])
            .output()
            .unwrap()
    };
    let good = verify("sig");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(String::from_utf8_lossy(&good.stdout).contains("Signature Verified Successfully"));
    assert!(!verify("bad").status.success());
}
