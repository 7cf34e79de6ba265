//! Which token a configuration or a PKCS#11 URI picks (RFC 7512 §2.3; issue #12, item 9):
//! every token and slot attribute given must match, and two tokens that both match are an
//! error naming both, never "the first slot".

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::tokens;

use std::path::Path;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use qtls_hsm::{Hsm, KeyRef, Pkcs11Uri, TokenAdmin, TokenConfig};
use qtls_provider::{Backend, CodePoints, EcCurve, KeyAlgorithm, KeyPair};

/// What the module says about the token in slot `slot`: label, serial, manufacturer, model,
/// and the slot's description and manufacturer.
struct Described {
    serial: String,
    manufacturer: String,
    model: String,
    slot_description: String,
    slot_manufacturer: String,
}

fn describe(module: &Path, slot_id: u64) -> Described {
    let context = Pkcs11::new(module).unwrap();
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("C_Initialize: {e}"),
    }
    let slot = context
        .get_all_slots()
        .unwrap()
        .into_iter()
        .find(|s| s.id() == slot_id)
        .unwrap();
    let token = context.get_token_info(slot).unwrap();
    let info = context.get_slot_info(slot).unwrap();
    Described {
        serial: token.serial_number().trim_end().to_owned(),
        manufacturer: token.manufacturer_id().trim_end().to_owned(),
        model: token.model().trim_end().to_owned(),
        slot_description: info.slot_description().trim_end().to_owned(),
        slot_manufacturer: info.manufacturer_id().trim_end().to_owned(),
    }
}

fn from_uri(text: &str) -> Result<Hsm, qtls_hsm::Error> {
    let uri: Pkcs11Uri = text.parse().unwrap();
    let config = TokenConfig::builder_from_uri(&uri)
        .unwrap()
        .pin(qtls_hsm::Pin::new(tokens::USER_PIN).unwrap())
        .build()
        .unwrap();
    Hsm::builder().primary(config).build()
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn two_tokens_with_one_label_are_an_error_naming_both() {
    let Some(kryoptic) = tokens::twins() else {
        return;
    };
    let config = tokens::config(&kryoptic, tokens::TWIN).build().unwrap();
    let error = Hsm::builder()
        .primary(config.clone())
        .build()
        .map(|_| ())
        .unwrap_err()
        .to_string();
    for slot in tokens::TWIN_SLOTS {
        assert!(error.contains(&format!("slot {slot}")), "{error}");
    }
    assert!(error.contains(tokens::TWIN), "{error}");
    let error = TokenAdmin::open(&config)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("slot 5") && error.contains("slot 6"),
        "{error}"
    );

    // The same through a URI; with the serial as well, the URI names one of them.
    let module = kryoptic.display();
    let error = from_uri(&format!(
        "pkcs11:token={}?module-path={module}",
        tokens::TWIN
    ))
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("slot 5") && error.contains("slot 6"),
        "{error}"
    );
    let [first, second] = tokens::TWIN_SLOTS.map(|slot| describe(&kryoptic, slot));
    if first.serial == second.serial {
        eprintln!("the twin tokens share a serial; selection by serial not tested");
        return;
    }
    // A key in the second twin only: the URI's token is the one holding it.
    let label = tokens::unique("twin key");
    let software = KeyPair::generate(KeyAlgorithm::Ecdsa(EcCurve::P384), Backend::AwsLc).unwrap();
    let by_slot = TokenConfig::builder(&kryoptic)
        .slot_id(tokens::TWIN_SLOTS[1])
        .pin(qtls_hsm::Pin::new(tokens::USER_PIN).unwrap())
        .build()
        .unwrap();
    TokenAdmin::open(&by_slot)
        .unwrap()
        .import(&label, &software)
        .unwrap();
    let hsm = from_uri(&format!(
        "pkcs11:token={};serial={}?module-path={module}",
        tokens::TWIN,
        encode(&second.serial)
    ))
    .unwrap();
    hsm.signing_key(&KeyRef::label(&label), &CodePoints::DEFAULT)
        .unwrap();
}

#[test]
fn every_attribute_of_a_uri_must_match() {
    let Some(kryoptic) = tokens::kryoptic() else {
        return;
    };
    let module = kryoptic.display();
    let primary = describe(&kryoptic, 1);
    let everything = format!(
        "pkcs11:token={};manufacturer={};model={};serial={};slot-id=1;slot-description={};\
         slot-manufacturer={}?module-path={module}",
        tokens::PRIMARY,
        encode(&primary.manufacturer),
        encode(&primary.model),
        encode(&primary.serial),
        encode(&primary.slot_description),
        encode(&primary.slot_manufacturer),
    );
    assert!(from_uri(&everything).is_ok(), "{everything}");
    for (attribute, value) in [
        ("serial", primary.serial.as_str()),
        ("manufacturer", primary.manufacturer.as_str()),
        ("model", primary.model.as_str()),
        ("slot-id", "1"),
        ("slot-description", primary.slot_description.as_str()),
        ("slot-manufacturer", primary.slot_manufacturer.as_str()),
    ] {
        let wrong = everything.replacen(
            &format!("{attribute}={}", encode(value)),
            &format!("{attribute}=2"),
            1,
        );
        assert_ne!(wrong, everything);
        let error = from_uri(&wrong).map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("no token with"), "{attribute}: {error}");
    }
    // Only the serial given, and it matches no token.
    let error = from_uri(&format!(
        "pkcs11:token={};serial=no-such-serial?module-path={module}",
        tokens::PRIMARY
    ))
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(error.contains("no-such-serial"), "{error}");
}
