//! Token administration: initialising tokens, generating and importing keys.

use std::path::Path;

use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::Ulong;
use der::asn1::UintRef;
use der::{Decode, Sequence};
use qtls_provider::{CompositeCurve, KeyAlgorithm, KeyPair, MlDsaLevel};
use zeroize::Zeroizing;

use crate::composite::{self, Edwards, RsaPadding, TokenTraditional};
use crate::error::Error;
use crate::key::{self, HsmPublicKey, KeyRef};
use crate::module::{Module, ModuleUser};
use crate::pin::Pin;
use crate::token::{self, TokenConfig};

/// How a private key object is protected, as the token reports it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyProtection {
    /// CKA_SENSITIVE: the key's value cannot be read.
    pub sensitive: bool,
    /// CKA_EXTRACTABLE: the key can be wrapped out of the token.
    pub extractable: bool,
    /// CKA_ALWAYS_SENSITIVE: the key has been sensitive since it was made.
    pub always_sensitive: bool,
    /// CKA_NEVER_EXTRACTABLE: the key has never been extractable.
    pub never_extractable: bool,
    /// CKA_LOCAL: the key was generated in the token (not imported).
    pub local: bool,
    /// CKA_SIGN true and CKA_DECRYPT, CKA_UNWRAP and CKA_DERIVE false: the key can only
    /// sign (an attribute the token does not report counts as false).
    pub sign_only: bool,
}

/// The CKA_SENSITIVE and CKA_EXTRACTABLE values an imported private key gets
/// ([`TokenAdmin::danger_import_with_protection`]; [`TokenAdmin::import`] always uses
/// [`ImportProtection::PROTECTED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportProtection {
    /// CKA_SENSITIVE: the key's value cannot be read.
    pub sensitive: bool,
    /// CKA_EXTRACTABLE: the key can be wrapped out of the token.
    pub extractable: bool,
}

impl ImportProtection {
    /// Sensitive and non-extractable: the key never leaves the token.
    pub const PROTECTED: Self = Self {
        sensitive: true,
        extractable: false,
    };
}

impl Default for ImportProtection {
    fn default() -> Self {
        Self::PROTECTED
    }
}

/// An administrative, logged-in read-write session on one token: key generation, import,
/// lookup and deletion.
///
/// Keys are created as token objects, private keys sensitive and non-extractable; the key
/// pair's objects share a label and a random CKA_ID. A composite key
/// ([draft-ietf-lamps-pq-composite-sigs-19](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19))
/// is an ML-DSA key pair and a traditional key pair under the same label and ID: EC (P-256,
/// P-384, P-521), RSA (2048, 3072, 4096 bits) or Edwards (Ed25519, Ed448). The objects say
/// which composite they are: the ML-DSA parameter set, the curve or modulus size, and for RSA
/// the padding, recorded as the RSA private key's CKA_ALLOWED_MECHANISMS (exactly
/// `CKM_RSA_PKCS_PSS` or exactly `CKM_RSA_PKCS`), which keys made here cannot have changed
/// or copied (CKA_MODIFIABLE and CKA_COPYABLE false). Pairs that say no composite, or more
/// than one, are refused with [`Error::CompositeMismatch`] when they are loaded.
pub struct TokenAdmin {
    session: Session,
    name: String,
    user: ModuleUser,
    slot: Slot,
}

impl TokenAdmin {
    /// Opens a read-write session on the token and logs in.
    pub fn open(config: &TokenConfig) -> Result<Self, Error> {
        let module = Module::load(config.module())?;
        let user = module.user();
        let (context, _) = module.context();
        let slot = token::find_slot(&context, config.module(), config.token())?;
        let name = format!("token with {}", config.token());
        let session = context
            .open_rw_session(slot)
            .map_err(|e| Error::pkcs11(&name, "C_OpenSession", e))?;
        token::login(&session, config.pin(), &name)?;
        Ok(Self {
            session,
            name,
            user,
            slot,
        })
    }

    /// Generates a key pair in the token under `label` and returns its public key.
    ///
    /// ECDSA P-256/P-384, ML-DSA-44/65/87 and 16 of the 18 composites are supported: those
    /// with an RSA-PSS, RSA PKCS#1 v1.5, ECDSA P-256/P-384/P-521, Ed25519 or Ed448 half, as far
    /// as the token offers the mechanisms (Kryoptic 1.5 offers them all; SoftHSM2 2.6 has no
    /// ML-DSA, so no composite). The two with a brainpool half are refused with
    /// [`Error::CompositeNotInToken`]: no token at hand has ML-DSA and brainpool curves
    /// together. Refuses a label that is already in use.
    pub fn generate(&self, label: &str, algorithm: KeyAlgorithm) -> Result<HsmPublicKey, Error> {
        self.check_free(label)?;
        let id = self.new_id()?;
        let created = match algorithm {
            KeyAlgorithm::Ecdsa(curve) => {
                self.require(MechanismType::ECC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN")?;
                self.generate_ec(label, &id, key::token_curve(curve))
                    .map(|_| ())
            }
            KeyAlgorithm::MlDsa(level) => {
                self.require(
                    MechanismType::ML_DSA_KEY_PAIR_GEN,
                    "CKM_ML_DSA_KEY_PAIR_GEN",
                )?;
                self.generate_ml_dsa(label, &id, level).map(|_| ())
            }
            KeyAlgorithm::Composite(alg) => {
                let traditional = composite::token_traditional(alg)?;
                self.require(
                    MechanismType::ML_DSA_KEY_PAIR_GEN,
                    "CKM_ML_DSA_KEY_PAIR_GEN",
                )?;
                let (generation, name) = traditional.key_pair_gen();
                self.require(generation, name)?;
                // Checked now rather than at the first handshake.
                let (signing, name) = traditional.signing();
                self.require(signing, name)?;
                self.generate_ml_dsa(label, &id, alg.ml_dsa())
                    .and_then(|_| self.generate_traditional(label, &id, traditional))
            }
            other => return Err(Error::UnsupportedAlgorithm(other.name().to_owned())),
        };
        if let Err(e) = created {
            // No half-made composite key left behind.
            let _ = self.delete(&KeyRef::label(label));
            return Err(e);
        }
        self.public_key(&KeyRef::label(label))
    }

    /// Imports a software key pair under `label`: the private key becomes sensitive and
    /// non-extractable in the token. This is how the same key reaches a primary and a
    /// backup token (tokens cannot copy non-extractable keys between each other); the
    /// software copy should be destroyed afterwards.
    pub fn import(&self, label: &str, key_pair: &KeyPair) -> Result<HsmPublicKey, Error> {
        self.danger_import_with_protection(label, key_pair, ImportProtection::PROTECTED)
    }

    /// [`TokenAdmin::import`] with other CKA_SENSITIVE / CKA_EXTRACTABLE values. Dangerous:
    /// a key that is not sensitive, or extractable, can be copied out of the token by anyone
    /// with the PIN, and [`crate::Hsm`] refuses to sign with it unless told otherwise
    /// ([`crate::HsmBuilder::danger_allow_exportable_keys`]).
    pub fn danger_import_with_protection(
        &self,
        label: &str,
        key_pair: &KeyPair,
        protection: ImportProtection,
    ) -> Result<HsmPublicKey, Error> {
        self.check_free(label)?;
        let id = self.new_id()?;
        let pkcs8 = key_pair
            .to_pkcs8_der()
            .map_err(|e| Error::InvalidImport(e.to_string()))?;
        let info = pkcs8::PrivateKeyInfo::from_der(&pkcs8)
            .map_err(|e| Error::InvalidImport(format!("PKCS#8: {e}")))?;
        let public = key_pair.public_key();
        let created = match key_pair.algorithm() {
            KeyAlgorithm::Ecdsa(curve) => self.import_ec(
                label,
                &id,
                key::token_curve(curve),
                info.private_key,
                public,
                protection,
            ),
            KeyAlgorithm::MlDsa(level) => {
                let private = MlDsaPrivate::from_pkcs8(info.private_key)?;
                self.import_ml_dsa(label, &id, level, &private, public, protection)
            }
            KeyAlgorithm::Composite(alg) => {
                let traditional = composite::token_traditional(alg)?;
                // draft-ietf-lamps-pq-composite-sigs-19 §4.2: the ML-DSA seed, then the
                // traditional private key (ECPrivateKey, RSAPrivateKey or the raw EdDSA seed).
                let private = info.private_key;
                if private.len() <= 32 {
                    return Err(Error::InvalidImport("composite key too short".into()));
                }
                let (seed, traditional_private) = private.split_at(32);
                let (ml_dsa_public, traditional_public) = alg
                    .split_public_key(public)
                    .map_err(|e| Error::InvalidImport(e.to_string()))?;
                self.import_ml_dsa(
                    label,
                    &id,
                    alg.ml_dsa(),
                    &MlDsaPrivate::Seed(Zeroizing::new(seed.to_vec())),
                    ml_dsa_public,
                    protection,
                )
                .and_then(|()| match traditional {
                    TokenTraditional::Ecdsa { curve, .. } => self.import_ec(
                        label,
                        &id,
                        curve,
                        traditional_private,
                        traditional_public,
                        protection,
                    ),
                    TokenTraditional::Rsa { bits, padding, .. } => self.import_rsa(
                        label,
                        &id,
                        (bits, padding),
                        traditional_private,
                        traditional_public,
                        protection,
                    ),
                    TokenTraditional::Eddsa(curve) => self.import_eddsa(
                        label,
                        &id,
                        curve,
                        traditional_private,
                        traditional_public,
                        protection,
                    ),
                })
            }
            other => return Err(Error::UnsupportedAlgorithm(other.name().to_owned())),
        };
        if let Err(e) = created {
            let _ = self.delete(&KeyRef::label(label));
            return Err(e);
        }
        let imported = self.public_key(&KeyRef::label(label))?;
        if imported.public_key() != public {
            return Err(Error::InvalidImport(
                "the token derived a different public key".into(),
            ));
        }
        Ok(imported)
    }

    /// The public key of `key`.
    pub fn public_key(&self, key: &KeyRef) -> Result<HsmPublicKey, Error> {
        key::resolve(&self.session, &self.name, key).map(|found| found.public)
    }

    /// How each private key object of `key` is protected.
    pub fn protection(&self, key: &KeyRef) -> Result<Vec<KeyProtection>, Error> {
        let handles = self.find(key, ObjectClass::PRIVATE_KEY)?;
        let mut protections = Vec::new();
        for handle in handles {
            let attributes = self
                .session
                .get_attributes(
                    handle,
                    &[
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::AlwaysSensitive,
                        AttributeType::NeverExtractable,
                        AttributeType::Local,
                        AttributeType::Sign,
                        AttributeType::Decrypt,
                        AttributeType::Unwrap,
                        AttributeType::Derive,
                    ],
                )
                .map_err(|e| self.failed("C_GetAttributeValue", e))?;
            let mut protection = KeyProtection {
                sensitive: false,
                extractable: true,
                always_sensitive: false,
                never_extractable: false,
                local: false,
                sign_only: false,
            };
            let (mut sign, mut other_use) = (false, false);
            for attribute in attributes {
                match attribute {
                    Attribute::Sensitive(b) => protection.sensitive = b,
                    Attribute::Extractable(b) => protection.extractable = b,
                    Attribute::AlwaysSensitive(b) => protection.always_sensitive = b,
                    Attribute::NeverExtractable(b) => protection.never_extractable = b,
                    Attribute::Local(b) => protection.local = b,
                    Attribute::Sign(b) => sign = b,
                    Attribute::Decrypt(b) | Attribute::Unwrap(b) | Attribute::Derive(b) => {
                        other_use |= b
                    }
                    _ => {}
                }
            }
            protection.sign_only = sign && !other_use;
            protections.push(protection);
        }
        Ok(protections)
    }

    /// Reads the private value of `key`'s objects: only succeeds for a key that is not
    /// sensitive, so callers can prove that it fails for theirs.
    pub fn try_read_private_value(&self, key: &KeyRef) -> Result<Vec<u8>, Error> {
        let handles = self.find(key, ObjectClass::PRIVATE_KEY)?;
        let mut values = Vec::new();
        for handle in handles {
            let found = self
                .session
                .get_attributes(handle, &[AttributeType::Value])
                .map_err(|e| self.failed("C_GetAttributeValue (CKA_VALUE)", e))?;
            match found.into_iter().next() {
                Some(Attribute::Value(value)) => values.extend(value),
                _ => {
                    return Err(Error::InvalidKey {
                        token: self.name.clone(),
                        key: key.to_string(),
                        reason: "CKA_VALUE cannot be read".into(),
                    })
                }
            }
        }
        Ok(values)
    }

    /// Destroys every object (private and public keys) named `key`; returns how many.
    pub fn delete(&self, key: &KeyRef) -> Result<usize, Error> {
        let mut count = 0;
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            for handle in self.find(key, class)? {
                self.session
                    .destroy_object(handle)
                    .map_err(|e| self.failed("C_DestroyObject", e))?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// The labels of the private keys in the token, each once.
    pub fn key_labels(&self) -> Result<Vec<String>, Error> {
        let handles = self
            .session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .map_err(|e| self.failed("C_FindObjects", e))?;
        let mut labels = Vec::new();
        for handle in handles {
            let attributes = self
                .session
                .get_attributes(handle, &[AttributeType::Label])
                .map_err(|e| self.failed("C_GetAttributeValue", e))?;
            if let Some(Attribute::Label(label)) = attributes.into_iter().next() {
                let label = String::from_utf8_lossy(&label).into_owned();
                if !labels.contains(&label) {
                    labels.push(label);
                }
            }
        }
        labels.sort();
        Ok(labels)
    }

    fn find(&self, key: &KeyRef, class: ObjectClass) -> Result<Vec<ObjectHandle>, Error> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(label) = key.label_str() {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        self.session
            .find_objects(&template)
            .map_err(|e| self.failed("C_FindObjects", e))
    }

    fn check_free(&self, label: &str) -> Result<(), Error> {
        let taken = self
            .session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map_err(|e| self.failed("C_FindObjects", e))?;
        if taken.is_empty() {
            Ok(())
        } else {
            Err(Error::KeyExists {
                token: self.name.clone(),
                key: format!("{label:?}"),
            })
        }
    }

    fn new_id(&self) -> Result<Vec<u8>, Error> {
        self.session
            .generate_random_vec(16)
            .map_err(|e| self.failed("C_GenerateRandom", e))
    }

    /// Fails unless the token lists `mechanism`: tokens differ, and the list says what this
    /// one can do (PKCS#11 3.0 §5.5, C_GetMechanismList).
    fn require(&self, mechanism: MechanismType, name: &'static str) -> Result<(), Error> {
        let (context, _) = self.user.module().context();
        // C_GetMechanismInfo rather than the whole list: cryptoki logs an error for every
        // listed mechanism it has no name for.
        match context.get_mechanism_info(self.slot, mechanism) {
            Ok(_) => Ok(()),
            Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::MechanismInvalid, _)) => {
                Err(Error::MechanismUnsupported {
                    token: self.name.clone(),
                    mechanism: name,
                })
            }
            Err(e) => Err(self.failed("C_GetMechanismInfo", e)),
        }
    }

    fn failed(&self, operation: &str, error: cryptoki::error::Error) -> Error {
        Error::pkcs11(&self.name, operation, error)
    }

    fn common(label: &str, id: &[u8], key_type: KeyType) -> Vec<Attribute> {
        vec![
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::KeyType(key_type),
        ]
    }

    /// Creates a private key object from `template`, then wipes the template's secret
    /// values (the caller's own copies are `Zeroizing`), whether or not the token took it.
    fn create_private(
        &self,
        mut template: Vec<Attribute>,
        what: &'static str,
    ) -> Result<(), Error> {
        let created = self.session.create_object(&template);
        for attribute in &mut template {
            if let Attribute::Value(secret)
            | Attribute::Seed(secret)
            | Attribute::PrivateExponent(secret)
            | Attribute::Prime1(secret)
            | Attribute::Prime2(secret)
            | Attribute::Exponent1(secret)
            | Attribute::Exponent2(secret)
            | Attribute::Coefficient(secret) = attribute
            {
                zeroize::Zeroize::zeroize(secret);
            }
        }
        created.map(|_| ()).map_err(|e| self.failed(what, e))
    }

    fn private_template(
        label: &str,
        id: &[u8],
        key_type: KeyType,
        protection: ImportProtection,
    ) -> Vec<Attribute> {
        let mut template = Self::common(label, id, key_type);
        template.extend([
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Private(true),
            Attribute::Sensitive(protection.sensitive),
            Attribute::Extractable(protection.extractable),
            Attribute::Sign(true),
            // Signing only: an RSA key allowed CKM_RSA_PKCS could otherwise also decrypt
            // with it (a padding oracle), and an EC key derive.
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ]);
        template
    }

    fn public_template(label: &str, id: &[u8], key_type: KeyType) -> Vec<Attribute> {
        let mut template = Self::common(label, id, key_type);
        template.extend([
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Private(false),
            Attribute::Verify(true),
        ]);
        template
    }

    fn generate_ec(&self, label: &str, id: &[u8], curve: CompositeCurve) -> Result<(), Error> {
        let mut public = Self::public_template(label, id, KeyType::EC);
        public.push(Attribute::EcParams(key::ec_params(curve)));
        let private = Self::private_template(label, id, KeyType::EC, ImportProtection::PROTECTED);
        self.session
            .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
            .map(|_| ())
            .map_err(|e| self.failed("C_GenerateKeyPair (EC)", e))
    }

    fn generate_traditional(
        &self,
        label: &str,
        id: &[u8],
        traditional: TokenTraditional,
    ) -> Result<(), Error> {
        match traditional {
            TokenTraditional::Ecdsa { curve, .. } => self.generate_ec(label, id, curve),
            TokenTraditional::Rsa { bits, padding, .. } => {
                let mut public = Self::public_template(label, id, KeyType::RSA);
                public.extend([
                    Attribute::ModulusBits(Ulong::new(bits.into())),
                    // F4 (RFC 8017 leaves e open; every composite key seen uses 65537).
                    Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                ]);
                let mut private =
                    Self::private_template(label, id, KeyType::RSA, ImportProtection::PROTECTED);
                private.extend(Self::rsa_record(padding));
                self.session
                    .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
                    .map(|_| ())
                    .map_err(|e| self.failed("C_GenerateKeyPair (RSA)", e))
            }
            TokenTraditional::Eddsa(curve) => {
                let mut public = Self::public_template(label, id, KeyType::EC_EDWARDS);
                public.push(Attribute::EcParams(curve.ec_params().to_vec()));
                let private = Self::private_template(
                    label,
                    id,
                    KeyType::EC_EDWARDS,
                    ImportProtection::PROTECTED,
                );
                self.session
                    .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
                    .map(|_| ())
                    .map_err(|e| self.failed("C_GenerateKeyPair (EdDSA)", e))
            }
        }
    }

    /// What makes an RSA private key one composite's half: its one allowed mechanism, fixed
    /// (PKCS #11 v3.1 §4.4: CKA_MODIFIABLE false refuses C_SetAttributeValue, CKA_COPYABLE
    /// false refuses C_CopyObject, which could otherwise give a copy another record).
    fn rsa_record(padding: RsaPadding) -> [Attribute; 3] {
        [
            Attribute::AllowedMechanisms(vec![padding.mechanism()]),
            Attribute::Modifiable(false),
            Attribute::Copyable(false),
        ]
    }

    fn generate_ml_dsa(&self, label: &str, id: &[u8], level: MlDsaLevel) -> Result<(), Error> {
        let mut public = Self::public_template(label, id, KeyType::ML_DSA);
        public.push(Attribute::ParameterSet(key::parameter_set(level).into()));
        let private =
            Self::private_template(label, id, KeyType::ML_DSA, ImportProtection::PROTECTED);
        self.session
            .generate_key_pair(&Mechanism::MlDsaKeyPairGen, &public, &private)
            .map(|_| ())
            .map_err(|e| self.failed("C_GenerateKeyPair (ML-DSA)", e))
    }

    fn import_ec(
        &self,
        label: &str,
        id: &[u8],
        curve: CompositeCurve,
        ec_private_key: &[u8],
        point: &[u8],
        protection: ImportProtection,
    ) -> Result<(), Error> {
        // The scalar, from PKCS#8's ECPrivateKey (RFC 5915), at the curve's full length.
        let parsed = sec1::EcPrivateKey::from_der(ec_private_key)
            .map_err(|e| Error::InvalidImport(format!("ECPrivateKey: {e}")))?;
        let scalar = Zeroizing::new(parsed.private_key.to_vec());
        let mut private = Self::private_template(label, id, KeyType::EC, protection);
        private.extend([
            Attribute::EcParams(key::ec_params(curve)),
            Attribute::Value(scalar.to_vec()),
        ]);
        self.create_private(private, "C_CreateObject (EC private key)")?;
        let mut public = Self::public_template(label, id, KeyType::EC);
        public.extend([
            Attribute::EcParams(key::ec_params(curve)),
            Attribute::EcPoint(key::ec_point_attribute(point)?),
        ]);
        self.session
            .create_object(&public)
            .map(|_| ())
            .map_err(|e| self.failed("C_CreateObject (EC public key)", e))
    }

    fn import_rsa(
        &self,
        label: &str,
        id: &[u8],
        (bits, padding): (u16, RsaPadding),
        rsa_private_key: &[u8],
        rsa_public_key: &[u8],
        protection: ImportProtection,
    ) -> Result<(), Error> {
        let parsed = RsaPrivateKey::from_der(rsa_private_key)
            .map_err(|e| Error::InvalidImport(format!("RSAPrivateKey: {e}")))?;
        if parsed.version != 0 || key::bit_len(parsed.modulus.as_bytes()) != usize::from(bits) {
            return Err(Error::InvalidImport(format!(
                "the RSAPrivateKey is not a two-prime RSA-{bits} key"
            )));
        }
        let public_key = key::rsa_public_key(rsa_public_key)
            .map_err(|e| Error::InvalidImport(format!("RSAPublicKey: {e}")))?;
        if public_key.modulus != parsed.modulus
            || public_key.public_exponent != parsed.public_exponent
        {
            return Err(Error::InvalidImport(
                "the RSA private key is not the public key's".into(),
            ));
        }
        let mut private = Self::private_template(label, id, KeyType::RSA, protection);
        private.extend([
            Attribute::Modulus(parsed.modulus.as_bytes().to_vec()),
            Attribute::PublicExponent(parsed.public_exponent.as_bytes().to_vec()),
            Attribute::PrivateExponent(parsed.private_exponent.as_bytes().to_vec()),
            Attribute::Prime1(parsed.prime1.as_bytes().to_vec()),
            Attribute::Prime2(parsed.prime2.as_bytes().to_vec()),
            Attribute::Exponent1(parsed.exponent1.as_bytes().to_vec()),
            Attribute::Exponent2(parsed.exponent2.as_bytes().to_vec()),
            Attribute::Coefficient(parsed.coefficient.as_bytes().to_vec()),
        ]);
        private.extend(Self::rsa_record(padding));
        self.create_private(private, "C_CreateObject (RSA private key)")?;
        let mut public = Self::public_template(label, id, KeyType::RSA);
        public.extend([
            Attribute::Modulus(parsed.modulus.as_bytes().to_vec()),
            Attribute::PublicExponent(parsed.public_exponent.as_bytes().to_vec()),
        ]);
        self.session
            .create_object(&public)
            .map(|_| ())
            .map_err(|e| self.failed("C_CreateObject (RSA public key)", e))
    }

    fn import_eddsa(
        &self,
        label: &str,
        id: &[u8],
        curve: Edwards,
        seed: &[u8],
        public_key: &[u8],
        protection: ImportProtection,
    ) -> Result<(), Error> {
        // The composite's EdDSA private key is the raw RFC 8032 seed, which is what PKCS #11
        // v3.1 §6.3.6 calls the Edwards private key's CKA_VALUE.
        if seed.len() != curve.key_len() {
            return Err(Error::InvalidImport(format!(
                "{} private key of {} bytes",
                curve.name(),
                seed.len()
            )));
        }
        let mut private = Self::private_template(label, id, KeyType::EC_EDWARDS, protection);
        private.extend([
            Attribute::EcParams(curve.ec_params().to_vec()),
            Attribute::Value(seed.to_vec()),
        ]);
        self.create_private(private, "C_CreateObject (EdDSA private key)")?;
        let mut public = Self::public_template(label, id, KeyType::EC_EDWARDS);
        public.extend([
            Attribute::EcParams(curve.ec_params().to_vec()),
            // PKCS #11 v3.1 §6.3.5: the bare key (v3.0 wrapped it in an OCTET STRING).
            Attribute::EcPoint(public_key.to_vec()),
        ]);
        self.session
            .create_object(&public)
            .map(|_| ())
            .map_err(|e| self.failed("C_CreateObject (EdDSA public key)", e))
    }

    fn import_ml_dsa(
        &self,
        label: &str,
        id: &[u8],
        level: MlDsaLevel,
        private_key: &MlDsaPrivate,
        public_key: &[u8],
        protection: ImportProtection,
    ) -> Result<(), Error> {
        let mut private = Self::private_template(label, id, KeyType::ML_DSA, protection);
        private.push(Attribute::ParameterSet(key::parameter_set(level).into()));
        private.push(match private_key {
            // PKCS#11 3.2 lets the token expand the seed itself (FIPS 204 ML-DSA.KeyGen_internal).
            MlDsaPrivate::Seed(seed) => Attribute::Seed(seed.to_vec()),
            MlDsaPrivate::Expanded(expanded) => Attribute::Value(expanded.to_vec()),
        });
        self.create_private(private, "C_CreateObject (ML-DSA private key)")?;
        let mut public = Self::public_template(label, id, KeyType::ML_DSA);
        public.extend([
            Attribute::ParameterSet(key::parameter_set(level).into()),
            Attribute::Value(public_key.to_vec()),
        ]);
        self.session
            .create_object(&public)
            .map(|_| ())
            .map_err(|e| self.failed("C_CreateObject (ML-DSA public key)", e))
    }
}

/// Two-prime RSAPrivateKey ([RFC 8017 A.1.2](https://www.rfc-editor.org/rfc/rfc8017#appendix-A.1.2)),
/// the composite's RSA private key (draft-ietf-lamps-pq-composite-sigs-19 §4.2).
#[derive(Sequence)]
struct RsaPrivateKey<'a> {
    version: u8,
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
    private_exponent: UintRef<'a>,
    prime1: UintRef<'a>,
    prime2: UintRef<'a>,
    exponent1: UintRef<'a>,
    exponent2: UintRef<'a>,
    coefficient: UintRef<'a>,
}

/// The ML-DSA private key forms of RFC 9881 that a token can take.
enum MlDsaPrivate {
    Seed(Zeroizing<Vec<u8>>),
    Expanded(Zeroizing<Vec<u8>>),
}

impl MlDsaPrivate {
    fn from_pkcs8(private_key: &[u8]) -> Result<Self, Error> {
        match private_key {
            // seed [0] IMPLICIT OCTET STRING (SIZE (32))
            [0x80, 0x20, seed @ ..] if seed.len() == 32 => {
                Ok(Self::Seed(Zeroizing::new(seed.to_vec())))
            }
            _ => {
                let expanded = der::asn1::OctetStringRef::from_der(private_key).map_err(|e| {
                    Error::InvalidImport(format!(
                        "ML-DSA private key is neither seed nor expandedKey: {e}"
                    ))
                })?;
                Ok(Self::Expanded(Zeroizing::new(expanded.as_bytes().to_vec())))
            }
        }
    }
}

/// Initialises the token in `slot` (or the first slot with an uninitialised token) with
/// `label` and the security officer PIN, then sets the user PIN: `C_InitToken`, then
/// `C_InitPIN` as the security officer.
///
/// This is what `softhsm2-util --init-token` and `pkcs11-tool --init-token --init-pin` do, for
/// tokens such as Kryoptic whose own tools are not at hand. It erases the token.
pub fn init_token(
    module: &Path,
    slot: Option<u64>,
    label: &str,
    so_pin: &Pin,
    user_pin: &Pin,
) -> Result<(), Error> {
    let loaded = Module::load(module)?;
    let _user = loaded.user();
    let (context, _) = loaded.context();
    let name = format!("{} slot", module.display());
    let slots = context
        .get_all_slots()
        .map_err(|e| Error::pkcs11(&name, "C_GetSlotList", e))?;
    let slot = match slot {
        Some(id) => slots.into_iter().find(|s| s.id() == id).ok_or_else(|| {
            Error::InvalidConfig(format!("{} has no slot {id}", module.display()))
        })?,
        None => slots
            .into_iter()
            .find(|s| {
                context
                    .get_token_info(*s)
                    .is_ok_and(|info| !info.token_initialized())
            })
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "{} has no slot with an uninitialised token",
                    module.display()
                ))
            })?,
    };
    context
        .init_token(slot, &so_pin.auth_pin(), label)
        .map_err(|e| Error::pkcs11(&name, "C_InitToken", e))?;
    let session = context
        .open_rw_session(slot)
        .map_err(|e| Error::pkcs11(&name, "C_OpenSession", e))?;
    session
        .login(UserType::So, Some(&so_pin.auth_pin()))
        .map_err(|e| Error::pkcs11(&name, "C_Login (security officer)", e))?;
    session
        .init_pin(&user_pin.auth_pin())
        .map_err(|e| Error::pkcs11(&name, "C_InitPIN", e))?;
    session
        .logout()
        .map_err(|e| Error::pkcs11(&name, "C_Logout", e))?;
    Ok(())
}
