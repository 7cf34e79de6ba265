//! Keys generated in and imported into real tokens (Kryoptic, SoftHSM2): they stay
//! sensitive and non-extractable, and their signatures verify with aws-lc-rs (and OpenSSL 4
//! for ML-DSA-65). Every composite a token can hold (16 of the 18: RSA-PSS, RSA PKCS#1 v1.5,
//! ECDSA P-256/P-384/P-521, Ed25519 and Ed448 halves) signs in Kryoptic exactly as the
//! provider's software verifier expects; a certificate signed by a token-held X.509-only
//! (PKCS#1 v1.5) composite CA verifies; pairs that are no composite, or do not say which RSA
//! composite they are, are refused.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::tokens;

use std::path::{Path, PathBuf};
use std::process::Command;

use qtls_hsm::{
    Error, Hsm, HsmPublicKey, KeyRef, Pin, Pkcs11Uri, RvError, TokenAdmin, TokenConfig,
};
use qtls_provider::primitives::{
    composite_traditional_verify, composite_verify, ecdsa_verify, ml_dsa_verify,
};
use qtls_provider::{
    Backend, CodePoints, CompositeAlgorithm, EcCurve, KeyAlgorithm, KeyPair, MlDsaLevel,
};
use rustls::sign::SigningKey;
use rustls::SignatureScheme;

/// Every stand-alone algorithm and every composite a token can hold: all but the two with a
/// brainpool half.
const ALGORITHMS: [KeyAlgorithm; 19] = [
    KeyAlgorithm::Ecdsa(EcCurve::P384),
    KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
    KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa87),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP384Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa87EcdsaP384Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa44EcdsaP256Sha256),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65EcdsaP256Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa87EcdsaP521Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa44Rsa2048PssSha256),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65Rsa3072PssSha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65Rsa3072Pkcs15Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65Rsa4096PssSha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65Rsa4096Pkcs15Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa87Rsa3072PssSha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa87Rsa4096PssSha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa44Ed25519Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa65Ed25519Sha512),
    KeyAlgorithm::Composite(CompositeAlgorithm::MlDsa87Ed448Shake256),
];

/// Whether `algorithm` may sign a TLS 1.3 CertificateVerify (all but the RSASSA-PKCS1-v1_5
/// composites, draft-reddy-tls-composite-mldsa-10 §3).
fn certificate_verify(algorithm: KeyAlgorithm) -> bool {
    !matches!(algorithm, KeyAlgorithm::Composite(alg) if !alg.tls_certificate_verify())
}

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
            assert!(
                p.sign_only,
                "{algorithm}: usable for more than signing: {p:?}"
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
        // And through rustls's own interface, except for the X.509-only composites, which
        // never sign a CertificateVerify even when their code point is offered.
        let signature = match key.choose_scheme(&[key.scheme()]) {
            Some(signer) => {
                assert!(certificate_verify(algorithm), "{algorithm}");
                signer.sign(b"other message").unwrap()
            }
            None => {
                assert!(!certificate_verify(algorithm), "{algorithm}");
                key.sign(b"other message").unwrap()
            }
        };
        assert!(
            verifies(&public, b"other message", &signature),
            "{algorithm}"
        );
        assert!(
            !verifies(&public, b"another message", &signature),
            "{algorithm}"
        );
        let mut tampered = signature.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(
            !verifies(&public, b"other message", &tampered),
            "{algorithm}: the traditional half's last byte"
        );
        tampered = signature;
        tampered[0] ^= 1;
        assert!(
            !verifies(&public, b"other message", &tampered),
            "{algorithm}: the first byte"
        );
        assert!(key.choose_scheme(&[SignatureScheme::ED25519]).is_none());
    }
}

/// `mldsaPK ‖ tradPK` and `mldsaSig ‖ tradSig` (draft-ietf-lamps-pq-composite-sigs-19 §4),
/// each signature half verifying on its own over M': the ML-DSA half with the label as its
/// context, the traditional half as the draft's algorithm table says (ECDSA P-384 with
/// SHA-384, RSASSA-PSS-SHA384 with a 48-byte salt for RSA-4096, pure Ed448).
#[test]
fn composite_signatures_have_the_standard_layout() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let admin = admin(&kryoptic, tokens::PRIMARY);
    let hsm = hsm(&kryoptic, tokens::PRIMARY);
    for (alg, code_point, traditional_public, traditional_sig) in [
        // An uncompressed P-384 point; a DER Ecdsa-Sig-Value of at most 104 bytes.
        (CompositeAlgorithm::MlDsa65EcdsaP384Sha512, 0x0908, 97, None),
        // A DER RSAPublicKey with a 4096-bit modulus and e = 65537; a 512-byte signature.
        (
            CompositeAlgorithm::MlDsa65Rsa4096PssSha512,
            0xFF2B,
            526,
            Some(512),
        ),
        // RFC 8032 keys and signatures.
        (
            CompositeAlgorithm::MlDsa87Ed448Shake256,
            0xFF33,
            57,
            Some(114),
        ),
        (
            CompositeAlgorithm::MlDsa44Ed25519Sha512,
            0xFF27,
            32,
            Some(64),
        ),
    ] {
        let label = tokens::unique("layout");
        admin
            .generate(&label, KeyAlgorithm::Composite(alg))
            .unwrap();
        let key = hsm
            .signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
            .unwrap();
        assert_eq!(u16::from(key.scheme()), code_point, "{}", alg.name());
        let public = key.public_key().public_key();
        let ml_dsa_len = alg.ml_dsa().public_key_len();
        assert_eq!(
            public.len(),
            ml_dsa_len + traditional_public,
            "{}",
            alg.name()
        );
        let signature = key.sign(b"M").unwrap();
        let (ml_dsa_sig, trad_sig) = alg.split_signature(&signature).unwrap();
        assert_eq!(ml_dsa_sig.len(), alg.ml_dsa().signature_len());
        match traditional_sig {
            Some(len) => assert_eq!(trad_sig.len(), len, "{}", alg.name()),
            None => assert_eq!(trad_sig[0], 0x30),
        }
        let representative = alg.message_representative(b"M", b"").unwrap();
        assert!(ml_dsa_verify(
            alg.ml_dsa(),
            Backend::AwsLc,
            &public[..ml_dsa_len],
            &representative,
            alg.label(),
            ml_dsa_sig
        ));
        assert!(
            composite_traditional_verify(alg, &public[ml_dsa_len..], &representative, trad_sig),
            "{}",
            alg.name()
        );
        assert!(!composite_traditional_verify(
            alg,
            &public[ml_dsa_len..],
            b"not M'",
            trad_sig
        ));
    }
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
    // So no composite either, whatever its traditional half (SoftHSM2 has RSA and EdDSA).
    for alg in [
        CompositeAlgorithm::MlDsa44Ed25519Sha512,
        CompositeAlgorithm::MlDsa44Rsa2048PssSha256,
    ] {
        let error = admin
            .generate(&missing, KeyAlgorithm::Composite(alg))
            .unwrap_err();
        assert!(
            matches!(error, Error::MechanismUnsupported { mechanism, .. } if mechanism == "CKM_ML_DSA_KEY_PAIR_GEN"),
            "{}: {error}",
            alg.name()
        );
        assert!(admin.public_key(&KeyRef::label(&missing)).is_err());
    }
}

/// Only the composites whose traditional half is brainpool ECDSA are refused (Kryoptic, the
/// token with ML-DSA, has no brainpool curves), for generation and import, with the reason,
/// and nothing is left in the token.
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
    assert_eq!(
        refused,
        [
            CompositeAlgorithm::MlDsa65EcdsaBrainpoolP256r1Sha512,
            CompositeAlgorithm::MlDsa87EcdsaBrainpoolP384r1Sha512
        ]
    );
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
        let text = error.to_string();
        assert!(
            text.contains("brainpool") && text.contains("Kryoptic") && text.contains("P-521"),
            "{error}"
        );
        assert!(matches!(
            admin.public_key(&KeyRef::label(&label)),
            Err(Error::KeyNotFound { .. })
        ));
    }
    // Import too.
    for alg in [
        CompositeAlgorithm::MlDsa65EcdsaBrainpoolP256r1Sha512,
        CompositeAlgorithm::MlDsa87EcdsaBrainpoolP384r1Sha512,
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
        // One composite per kind of traditional half, the RSA ones at 2048 bits: the
        // software RSA keys are generated in this unoptimised build.
        let algorithms = ALGORITHMS
            .into_iter()
            .filter(|algorithm| match algorithm {
                KeyAlgorithm::Composite(alg) => matches!(
                    alg,
                    CompositeAlgorithm::MlDsa65EcdsaP384Sha512
                        | CompositeAlgorithm::MlDsa87EcdsaP521Sha512
                        | CompositeAlgorithm::MlDsa44Rsa2048PssSha256
                        | CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256
                        | CompositeAlgorithm::MlDsa44Ed25519Sha512
                        | CompositeAlgorithm::MlDsa87Ed448Shake256
                ),
                _ => true,
            })
            .collect();
        cases.push((kryoptic, tokens::SPARE, algorithms));
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
                    .all(|p| p.sensitive && !p.extractable && !p.local && p.sign_only),
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

/// A logged-in session of our own on a Kryoptic token, to make and inspect objects as
/// another PKCS#11 application would (the module is already initialised and logged in by
/// this process: both answers are fine; nothing here logs out or finalises).
fn raw_session(module: &Path, token: &str) -> cryptoki::session::Session {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::session::UserType;
    let context = Pkcs11::new(module).unwrap();
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("C_Initialize: {e}"),
    }
    let slot = context
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|slot| context.get_token_info(*slot).unwrap().label() == token)
        .unwrap();
    let session = context.open_rw_session(slot).unwrap();
    let pin = cryptoki::types::AuthPin::new(tokens::USER_PIN.into());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("C_Login: {e}"),
    }
    session
}

/// The objects of a key pair made outside qtls-hsm under `label` (CKA_ID `id`): an ML-DSA key
/// pair, or a traditional one with `extra` private key attributes.
fn raw_pair(
    session: &cryptoki::session::Session,
    label: &str,
    kind: RawHalf,
    extra: &[cryptoki::object::Attribute],
) {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::Attribute;
    let common = [
        Attribute::Token(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(label.as_bytes().to_vec()),
    ];
    let mut public = common.to_vec();
    public.push(Attribute::Verify(true));
    let mut private = common.to_vec();
    private.extend([
        Attribute::Sign(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ]);
    private.extend_from_slice(extra);
    let mechanism = match kind {
        RawHalf::MlDsa(set) => {
            public.push(Attribute::ParameterSet(set.into()));
            Mechanism::MlDsaKeyPairGen
        }
        RawHalf::Rsa(bits) => {
            public.extend([
                Attribute::ModulusBits(cryptoki::types::Ulong::new(bits)),
                Attribute::PublicExponent(vec![1, 0, 1]),
            ]);
            Mechanism::RsaPkcsKeyPairGen
        }
        RawHalf::Ed25519 => {
            public.push(Attribute::EcParams(vec![0x06, 0x03, 0x2b, 0x65, 0x70]));
            Mechanism::EccEdwardsKeyPairGen
        }
    };
    session
        .generate_key_pair(&mechanism, &public, &private)
        .unwrap();
}

enum RawHalf {
    MlDsa(cryptoki::object::MlDsaParameterSetType),
    Rsa(u64),
    Ed25519,
}

/// The RSA half records its composite in CKA_ALLOWED_MECHANISMS, which the token enforces and
/// which cannot be changed or copied into another record; pairs made by another application
/// that form no composite, or do not say which RSA composite they are, are refused with
/// [`Error::CompositeMismatch`] (on load, for signing and for the public key alike).
#[test]
fn rsa_halves_record_their_composite_and_mismatched_pairs_are_refused() {
    use cryptoki::mechanism::{Mechanism, MechanismType};
    use cryptoki::object::{Attribute, AttributeType, KeyType, MlDsaParameterSetType, ObjectClass};
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let admin = admin(&kryoptic, tokens::SPARE);
    let hsm = hsm(&kryoptic, tokens::SPARE);
    let session = raw_session(&kryoptic, tokens::SPARE);
    let rsa_private = |label: &str| {
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .unwrap();
        assert_eq!(found.len(), 1);
        found[0]
    };

    for (alg, allowed, other) in [
        (
            CompositeAlgorithm::MlDsa44Rsa2048PssSha256,
            MechanismType::RSA_PKCS_PSS,
            Mechanism::RsaPkcs,
        ),
        (
            CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256,
            MechanismType::RSA_PKCS,
            Mechanism::RsaPkcsPss(cryptoki::mechanism::rsa::PkcsPssParams {
                hash_alg: MechanismType::SHA256,
                mgf: cryptoki::mechanism::rsa::PkcsMgfType::MGF1_SHA256,
                s_len: cryptoki::types::Ulong::new(32),
            }),
        ),
    ] {
        let label = tokens::unique("record");
        admin
            .generate(&label, KeyAlgorithm::Composite(alg))
            .unwrap();
        let private = rsa_private(&label);
        let attributes = session
            .get_attributes(private, &[AttributeType::AllowedMechanisms])
            .unwrap();
        assert_eq!(attributes, [Attribute::AllowedMechanisms(vec![allowed])]);
        // The token signs with no other padding, and keeps the record as it is.
        assert!(matches!(
            session.sign(&other, private, &[0u8; 32]),
            Err(cryptoki::error::Error::Pkcs11(RvError::MechanismInvalid, _))
        ));
        assert!(session
            .update_attributes(private, &[Attribute::AllowedMechanisms(vec![])])
            .is_err());
        assert!(session
            .copy_object(private, &[Attribute::Label(b"copy".to_vec())])
            .is_err());
        assert_eq!(
            admin
                .public_key(&KeyRef::label(&label))
                .unwrap()
                .algorithm(),
            KeyAlgorithm::Composite(alg)
        );
    }

    let mismatch = |label: &str, wanted: &str| {
        for error in [
            hsm.signing_key(&KeyRef::label(label), &CodePoints::DEFAULT)
                .unwrap_err(),
            admin.public_key(&KeyRef::label(label)).unwrap_err(),
        ] {
            assert!(
                matches!(&error, Error::CompositeMismatch { reason, .. } if reason.contains(wanted)),
                "{label}: {error}"
            );
        }
    };
    let pss = Attribute::AllowedMechanisms(vec![MechanismType::RSA_PKCS_PSS]);
    // ML-DSA-65 + RSA-3072 is both a PSS and a PKCS#1 v1.5 composite: an RSA key that
    // allows every mechanism, or both paddings, says neither.
    for extra in [
        vec![],
        vec![Attribute::AllowedMechanisms(vec![
            MechanismType::RSA_PKCS_PSS,
            MechanismType::RSA_PKCS,
        ])],
    ] {
        let label = tokens::unique("unrecorded");
        raw_pair(
            &session,
            &label,
            RawHalf::MlDsa(MlDsaParameterSetType::ML_DSA_65),
            &[],
        );
        raw_pair(&session, &label, RawHalf::Rsa(3072), &extra);
        mismatch(&label, "CKA_ALLOWED_MECHANISMS");
    }
    // Halves whose level and size or curve form no composite of the draft.
    let label = tokens::unique("mismatched");
    raw_pair(
        &session,
        &label,
        RawHalf::MlDsa(MlDsaParameterSetType::ML_DSA_44),
        &[],
    );
    raw_pair(&session, &label, RawHalf::Rsa(3072), &[pss]);
    mismatch(&label, "ML-DSA-44 + RSA-3072 PSS is not a composite");
    let label = tokens::unique("mismatched");
    raw_pair(
        &session,
        &label,
        RawHalf::MlDsa(MlDsaParameterSetType::ML_DSA_87),
        &[],
    );
    raw_pair(&session, &label, RawHalf::Ed25519, &[]);
    mismatch(&label, "ML-DSA-87 + Ed25519 is not a composite");
    // A traditional key alone is no key qtls-hsm signs with.
    let label = tokens::unique("alone");
    raw_pair(&session, &label, RawHalf::Ed25519, &[]);
    let error = admin.public_key(&KeyRef::label(&label)).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidKey { reason, .. } if reason.contains("stand-alone Ed25519")),
        "{error}"
    );
}

/// X.509 is where the RSASSA-PKCS1-v1_5 composites live (they have no TLS 1.3 code point):
/// a CA whose MLDSA44-RSA2048-PKCS15-SHA256 key is in Kryoptic gets a certificate for its
/// exported public key, signs a leaf in the token, and the chain verifies with the provider's
/// X.509 algorithms; the same leaf with its signature altered does not.
#[test]
fn a_certificate_signed_by_a_token_held_pkcs1_v1_5_composite_verifies() {
    use der::asn1::{AnyRef, BitStringRef};
    use der::{Decode, Encode, Reader};
    use qtls_pki::{CertificateBuilder, SubjectPublicKey, Usage};
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let alg = CompositeAlgorithm::MlDsa44Rsa2048Pkcs15Sha256;
    let label = tokens::unique("x509-ca");
    let public = admin(&kryoptic, tokens::PRIMARY)
        .generate(&label, KeyAlgorithm::Composite(alg))
        .unwrap();
    let key = hsm(&kryoptic, tokens::PRIMARY)
        .signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
        .unwrap();

    let now = time::OffsetDateTime::now_utc();
    let validity = (
        now - time::Duration::hours(1),
        now + time::Duration::days(2),
    );
    let root = qtls_test_support::pki::ca_valid(
        KeyAlgorithm::DEFAULT,
        Usage::RootCa,
        "Token test root",
        None,
        validity,
    );
    // The token CA's certificate carries the public key as `qtls hsm keygen` exports it.
    let subject = SubjectPublicKey::new(public.algorithm(), public.public_key()).unwrap();
    let token_ca = CertificateBuilder::new(Usage::IntermediateCa { path_len: Some(0) }, "Token CA")
        .validity(validity.0, validity.1)
        .signed_by_for_public_key(&subject, &root)
        .unwrap();
    assert_eq!(
        token_ca
            .x509()
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap(),
        public.subject_public_key_info_der()
    );
    // A leaf as the token CA would issue it: to-be-signed by a stand-in of the same name and
    // algorithm, then signed in the token.
    let stand_in = qtls_test_support::pki::ca_valid(
        KeyAlgorithm::Composite(alg),
        Usage::RootCa,
        "Token CA",
        None,
        validity,
    );
    let leaf_key = KeyPair::generate(KeyAlgorithm::DEFAULT, Backend::AwsLc).unwrap();
    let unsigned = CertificateBuilder::new(Usage::ServerLeaf, "localhost")
        .hosts(["localhost"])
        .validity(validity.0, validity.1)
        .signed_by(&leaf_key, &stand_in)
        .unwrap()
        .to_certificate_der();
    let (tbs, signature_algorithm) = der::SliceReader::new(unsigned.as_ref())
        .unwrap()
        .sequence(|seq| {
            let tbs = AnyRef::decode(seq)?.to_der()?;
            let algorithm = AnyRef::decode(seq)?.to_der()?;
            BitStringRef::decode(seq)?;
            Ok((tbs, algorithm))
        })
        .unwrap();
    let certificate = |signature: &[u8]| {
        let body = [
            tbs.as_slice(),
            &signature_algorithm,
            &BitStringRef::from_bytes(signature)
                .unwrap()
                .to_der()
                .unwrap(),
        ]
        .concat();
        let header = der::Header::new(der::Tag::Sequence, body.len())
            .unwrap()
            .to_der()
            .unwrap();
        CertificateDer::from([header, body].concat())
    };
    let signature = key.sign(&tbs).unwrap();
    assert!(verifies(&public, &tbs, &signature));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.certificate().to_certificate_der()).unwrap();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        std::sync::Arc::new(qtls_provider::hybrid()),
    )
    .build()
    .unwrap();
    let verify = |leaf: &CertificateDer<'_>| {
        verifier.verify_server_cert(
            leaf,
            &[token_ca.to_certificate_der()],
            &ServerName::try_from("localhost").unwrap(),
            &[],
            UnixTime::now(),
        )
    };
    verify(&certificate(&signature)).unwrap();
    let mut tampered = signature.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(
        verify(&certificate(&tampered)),
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::BadSignature
        ))
    ));
    // The stand-in's own signature is by another key.
    assert!(verify(&unsigned).is_err());
}
