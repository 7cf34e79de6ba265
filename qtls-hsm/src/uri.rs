use core::fmt;
use core::str::FromStr;
use std::path::PathBuf;

use crate::error::Error;

/// The object class a PKCS#11 URI's `type` attribute names (RFC 7512 §2.3).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// `type=private`: a private key.
    Private,
    /// `type=public`: a public key.
    Public,
    /// `type=secret-key`: a secret (symmetric) key.
    SecretKey,
    /// `type=cert`: a certificate.
    Cert,
    /// `type=data`: a data object.
    Data,
}

impl ObjectType {
    fn name(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Public => "public",
            Self::SecretKey => "secret-key",
            Self::Cert => "cert",
            Self::Data => "data",
        }
    }
}

/// A PKCS#11 URI (RFC 7512), the form OpenSSL's pkcs11-provider, GnuTLS and p11-kit use to
/// name tokens and objects:
///
/// ```
/// use qtls_hsm::{ObjectType, Pkcs11Uri};
///
/// let uri: Pkcs11Uri = "pkcs11:token=Q-TLS%20primary;object=srv;type=private\
///                       ?module-path=/usr/lib/softhsm/libsofthsm2.so".parse()?;
/// assert_eq!(uri.token.as_deref(), Some("Q-TLS primary"));
/// assert_eq!(uri.object.as_deref(), Some("srv"));
/// assert_eq!(uri.object_type, Some(ObjectType::Private));
/// assert_eq!(uri.to_string(), "pkcs11:token=Q-TLS%20primary;object=srv;type=private\
///                              ?module-path=/usr/lib/softhsm/libsofthsm2.so");
/// # Ok::<(), qtls_hsm::Error>(())
/// ```
///
/// Values are percent-decoded; `id` is raw bytes. As a token selector
/// ([`TokenConfig::builder_from_uri`](crate::TokenConfig::builder_from_uri)), every token,
/// slot and library attribute given must match the token chosen, and a URI that two tokens
/// match is refused (RFC 7512 §2.3). Vendor attributes (`x-...`) are ignored;
/// other unknown attributes, repeated path attributes and `pin-value` are refused: a PIN
/// does not belong in a URI that ends up on command lines and in logs (use `pin-source`, a
/// file, or the `QTLS_HSM_PIN` environment variable).
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pkcs11Uri {
    /// `token`: the token label.
    pub token: Option<String>,
    /// `manufacturer`: the token's manufacturer ID.
    pub manufacturer: Option<String>,
    /// `model`: the token's model.
    pub model: Option<String>,
    /// `serial`: the token's serial number.
    pub serial: Option<String>,
    /// `slot-id`: the slot's numeric ID.
    pub slot_id: Option<u64>,
    /// `slot-description`: the slot's description (CK_SLOT_INFO).
    pub slot_description: Option<String>,
    /// `slot-manufacturer`: the slot's manufacturer ID (CK_SLOT_INFO).
    pub slot_manufacturer: Option<String>,
    /// `library-manufacturer`: the module's manufacturer ID (CK_INFO).
    pub library_manufacturer: Option<String>,
    /// `library-description`: the module's description (CK_INFO).
    pub library_description: Option<String>,
    /// `library-version`: the module's version, `major` or `major.minor` (CK_INFO).
    pub library_version: Option<String>,
    /// `object`: the object label (CKA_LABEL).
    pub object: Option<String>,
    /// `id`: the object ID (CKA_ID), raw bytes.
    pub id: Option<Vec<u8>>,
    /// `type`: the object class.
    pub object_type: Option<ObjectType>,
    /// `module-path` (query): the PKCS#11 module's path.
    pub module_path: Option<PathBuf>,
    /// `module-name` (query): the module's name, for p11-kit-style lookups.
    pub module_name: Option<String>,
    /// `pin-source` (query): where the PIN is, e.g. `file:/run/secrets/pin`.
    pub pin_source: Option<String>,
}

impl Pkcs11Uri {
    /// Whether the URI names a token: any token, slot or library attribute.
    pub(crate) fn names_token(&self) -> bool {
        *self != self.without_token()
    }

    /// Only the token, slot and library attributes: what picks the token.
    pub(crate) fn token_part(&self) -> Self {
        Self {
            token: self.token.clone(),
            manufacturer: self.manufacturer.clone(),
            model: self.model.clone(),
            serial: self.serial.clone(),
            slot_id: self.slot_id,
            slot_description: self.slot_description.clone(),
            slot_manufacturer: self.slot_manufacturer.clone(),
            library_manufacturer: self.library_manufacturer.clone(),
            library_description: self.library_description.clone(),
            library_version: self.library_version.clone(),
            ..Self::default()
        }
    }

    fn without_token(&self) -> Self {
        Self {
            object: self.object.clone(),
            id: self.id.clone(),
            object_type: self.object_type,
            module_path: self.module_path.clone(),
            module_name: self.module_name.clone(),
            pin_source: self.pin_source.clone(),
            ..Self::default()
        }
    }

    /// The file the PIN is read from: `pin-source` as a `file:` URI or an absolute path.
    pub fn pin_file(&self) -> Result<Option<PathBuf>, Error> {
        let Some(source) = &self.pin_source else {
            return Ok(None);
        };
        let path = source
            .strip_prefix("file://")
            .or_else(|| source.strip_prefix("file:"))
            .unwrap_or(source);
        if !path.starts_with('/') {
            return Err(Error::InvalidUri(
                "pin-source must be a file: URI or an absolute path".into(),
            ));
        }
        Ok(Some(PathBuf::from(path)))
    }
}

impl FromStr for Pkcs11Uri {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let rest = s
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("pkcs11:"))
            .map(|_| &s[7..])
            .ok_or_else(|| Error::InvalidUri("it does not start with pkcs11:".into()))?;
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut uri = Self::default();
        let mut seen = Vec::new();
        for attribute in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = split_attribute(attribute)?;
            if seen.contains(&name) {
                return Err(Error::InvalidUri(format!(
                    "path attribute {name} is given twice"
                )));
            }
            seen.push(name);
            match name {
                "token" => uri.token = Some(decode_text(name, value)?),
                "manufacturer" => uri.manufacturer = Some(decode_text(name, value)?),
                "model" => uri.model = Some(decode_text(name, value)?),
                "serial" => uri.serial = Some(decode_text(name, value)?),
                "object" => uri.object = Some(decode_text(name, value)?),
                "id" => uri.id = Some(percent_decode(name, value)?),
                "slot-id" => {
                    uri.slot_id = Some(decode_text(name, value)?.parse().map_err(|_| {
                        Error::InvalidUri("slot-id must be a decimal number".into())
                    })?)
                }
                "type" => {
                    let value = decode_text(name, value)?;
                    uri.object_type = Some(
                        [
                            ObjectType::Private,
                            ObjectType::Public,
                            ObjectType::SecretKey,
                            ObjectType::Cert,
                            ObjectType::Data,
                        ]
                        .into_iter()
                        .find(|t| t.name() == value)
                        .ok_or_else(|| {
                            Error::InvalidUri(format!("unknown object type {value:?}"))
                        })?,
                    )
                }
                "slot-description" => uri.slot_description = Some(decode_text(name, value)?),
                "slot-manufacturer" => uri.slot_manufacturer = Some(decode_text(name, value)?),
                "library-manufacturer" => {
                    uri.library_manufacturer = Some(decode_text(name, value)?)
                }
                "library-description" => uri.library_description = Some(decode_text(name, value)?),
                "library-version" => {
                    let version = decode_text(name, value)?;
                    let (major, minor) = match version.split_once('.') {
                        Some((major, minor)) => (major, Some(minor)),
                        None => (version.as_str(), None),
                    };
                    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
                    if !number(major) || !minor.is_none_or(number) {
                        return Err(Error::InvalidUri(
                            "library-version must be major or major.minor, in decimal".into(),
                        ));
                    }
                    uri.library_version = Some(version)
                }
                vendor if vendor.starts_with("x-") => {}
                unknown => {
                    return Err(Error::InvalidUri(format!(
                        "unknown path attribute {unknown:?}"
                    )))
                }
            }
        }
        for attribute in query.into_iter().flat_map(|q| q.split('&')) {
            if attribute.is_empty() {
                continue;
            }
            let (name, value) = split_attribute(attribute)?;
            match name {
                "pin-value" => {
                    return Err(Error::InvalidUri(
                        "pin-value is refused: give the PIN through pin-source (a file) or the \
                         QTLS_HSM_PIN environment variable"
                            .into(),
                    ))
                }
                "pin-source" => uri.pin_source = Some(decode_text(name, value)?),
                "module-path" => uri.module_path = Some(decode_text(name, value)?.into()),
                "module-name" => uri.module_name = Some(decode_text(name, value)?),
                vendor if vendor.starts_with("x-") => {}
                unknown => {
                    return Err(Error::InvalidUri(format!(
                        "unknown query attribute {unknown:?}"
                    )))
                }
            }
        }
        Ok(uri)
    }
}

fn split_attribute(attribute: &str) -> Result<(&str, &str), Error> {
    let (name, value) = attribute.split_once('=').ok_or_else(|| {
        // Only the name part is echoed: the value may be a secret typed in the wrong place.
        let name: String = attribute.chars().take(32).collect();
        Error::InvalidUri(format!("attribute {name:?} has no value"))
    })?;
    Ok((name, value))
}

fn decode_text(name: &str, value: &str) -> Result<String, Error> {
    String::from_utf8(percent_decode(name, value)?)
        .map_err(|_| Error::InvalidUri(format!("{name} is not UTF-8 once decoded")))
}

fn percent_decode(name: &str, value: &str) -> Result<Vec<u8>, Error> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| Error::InvalidUri(format!("bad percent-encoding in {name}")))?;
            decoded.push(byte);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    Ok(decoded)
}

/// Percent-encodes everything outside RFC 3986's unreserved set and the few characters
/// RFC 7512 allows as they are in a value.
fn percent_encode(out: &mut String, bytes: &[u8], extra_allowed: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || extra_allowed.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("pkcs11:");
        let mut path = Vec::new();
        let text = |name: &str, value: &Option<String>, path: &mut Vec<String>| {
            if let Some(value) = value {
                let mut attribute = format!("{name}=");
                percent_encode(&mut attribute, value.as_bytes(), b":[]@!$'()*+,");
                path.push(attribute);
            }
        };
        text("token", &self.token, &mut path);
        text("manufacturer", &self.manufacturer, &mut path);
        text("model", &self.model, &mut path);
        text("serial", &self.serial, &mut path);
        text(
            "library-manufacturer",
            &self.library_manufacturer,
            &mut path,
        );
        text("library-description", &self.library_description, &mut path);
        text("library-version", &self.library_version, &mut path);
        text("slot-description", &self.slot_description, &mut path);
        text("slot-manufacturer", &self.slot_manufacturer, &mut path);
        if let Some(slot_id) = self.slot_id {
            path.push(format!("slot-id={slot_id}"));
        }
        text("object", &self.object, &mut path);
        if let Some(id) = &self.id {
            // Ids are binary: always fully encoded, as RFC 7512's examples do.
            path.push(format!(
                "id={}",
                id.iter().map(|b| format!("%{b:02X}")).collect::<String>()
            ));
        }
        if let Some(object_type) = self.object_type {
            path.push(format!("type={}", object_type.name()));
        }
        out.push_str(&path.join(";"));
        let mut query = Vec::new();
        let mut query_text = |name: &str, value: Option<&str>| {
            if let Some(value) = value {
                let mut attribute = format!("{name}=");
                percent_encode(&mut attribute, value.as_bytes(), b":[]@!$'()*+,/?|");
                query.push(attribute);
            }
        };
        query_text("pin-source", self.pin_source.as_deref());
        query_text(
            "module-path",
            self.module_path.as_ref().and_then(|p| p.to_str()),
        );
        query_text("module-name", self.module_name.as_deref());
        if !query.is_empty() {
            out.push('?');
            out.push_str(&query.join("&"));
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_rfc_7512_examples() {
        // RFC 7512 §3.
        let uri: Pkcs11Uri = "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;\
             manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;\
             id=%69%95%3E%5C%F4%BD%EC%91;serial="
            .parse()
            .unwrap();
        assert_eq!(uri.token.as_deref(), Some("The Software PKCS#11 Softtoken"));
        assert_eq!(uri.manufacturer.as_deref(), Some("Snake Oil, Inc."));
        assert_eq!(uri.object_type, Some(ObjectType::Cert));
        assert_eq!(
            uri.id.as_deref(),
            Some(&[0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91][..])
        );
        assert_eq!(uri.serial.as_deref(), Some(""));

        let uri: Pkcs11Uri = "pkcs11:object=my-sign-key;type=private\
             ?module-name=mypkcs11&pin-source=file:/etc/token_pin"
            .parse()
            .unwrap();
        assert_eq!(uri.module_name.as_deref(), Some("mypkcs11"));
        assert_eq!(
            uri.pin_file().unwrap(),
            Some(PathBuf::from("/etc/token_pin"))
        );
        let uri: Pkcs11Uri = "PKCS11:slot-id=42;x-vendor=1".parse().unwrap();
        assert_eq!(uri.slot_id, Some(42));
        assert_eq!(
            "pkcs11:".parse::<Pkcs11Uri>().unwrap(),
            Pkcs11Uri::default()
        );
    }

    #[test]
    fn refuses_pins_and_malformed_uris_without_echoing_them() {
        let error = "pkcs11:token=t?pin-value=987654"
            .parse::<Pkcs11Uri>()
            .unwrap_err()
            .to_string();
        assert!(error.contains("pin-value is refused"), "{error}");
        assert!(!error.contains("987654"), "{error}");
        for bad in [
            "file:/x",
            "pkcs11:token=a;token=b",
            "pkcs11:colour=blue",
            "pkcs11:type=private-key",
            "pkcs11:object=%zz",
            "pkcs11:slot-id=one",
            "pkcs11:novalue",
            "pkcs11:?module-path",
            "pkcs11:library-version=one",
            "pkcs11:library-version=1.",
            "pkcs11:library-version=.2",
        ] {
            assert!(bad.parse::<Pkcs11Uri>().is_err(), "{bad} accepted");
        }
        let relative: Pkcs11Uri = "pkcs11:?pin-source=pin.txt".parse().unwrap();
        assert!(relative.pin_file().is_err());
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "pkcs11:token=Q-TLS%20primary;object=srv;type=private",
            "pkcs11:serial=0123;slot-id=7;id=%01%02%FF?module-path=/usr/lib/x.so",
            "pkcs11:object=a%3Bb%3Fc",
            "pkcs11:token=t;library-manufacturer=Acme;library-description=soft%20token;\
             library-version=1.5;slot-description=Slot%201;slot-manufacturer=Acme",
        ] {
            let uri: Pkcs11Uri = text.parse().unwrap();
            assert_eq!(uri.to_string(), text);
            assert_eq!(uri.to_string().parse::<Pkcs11Uri>().unwrap(), uri);
        }
    }
}
