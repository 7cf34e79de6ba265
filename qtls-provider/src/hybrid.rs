//! Hybrid key-exchange groups (draft-ietf-tls-ecdhe-mlkem): an ECDH exchange and an ML-KEM
//! exchange run side by side; key shares and the shared secret are their concatenations.
//!
//! rustls has the same construction, but crate-private; this one takes an ML-KEM half on
//! either backend, and keeps rustls's behaviour of exposing the classical half as a
//! "hybrid component", so a client can offer e.g. `secp384r1` beside `SecP384r1MLKEM1024`
//! from one ephemeral key.

use rustls::crypto::{ActiveKeyExchange, CompletedKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{NamedGroup, ProtocolVersion};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::mlkem::{self, DecapsulationKey, MlKemGroup, MlKemLevel};

/// Which half comes first in key shares and in the shared secret (standards.md §1): only
/// the X25519 groups put ML-KEM first; the NIST-curve groups put ECDH first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    MlKemFirst,
    EcdhFirst,
}

/// A hybrid group: one classical rustls group and one ML-KEM group.
#[derive(Debug)]
pub(crate) struct Hybrid {
    pub(crate) classical: &'static dyn SupportedKxGroup,
    pub(crate) ml_kem: MlKemGroup,
    pub(crate) layout: Layout,
}

/// How the two halves are laid out on the wire (standards.md §1).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub(crate) name: NamedGroup,
    pub(crate) openssl_name: &'static str,
    /// Length of the classical share (the same from client and server).
    pub(crate) classical_len: usize,
    pub(crate) level: MlKemLevel,
    pub(crate) order: Order,
}

impl Layout {
    fn client_share_len(&self) -> usize {
        self.classical_len + self.level.encapsulation_key_len()
    }

    fn server_share_len(&self) -> usize {
        self.classical_len + self.level.ciphertext_len()
    }

    /// Splits a received share into (ML-KEM part, classical part).
    fn split<'a>(&self, share: &'a [u8], expected: usize) -> Result<(&'a [u8], &'a [u8]), Error> {
        if share.len() != expected {
            return Err(Error::KeyShareLength {
                group: self.openssl_name,
                expected,
                actual: share.len(),
            });
        }
        Ok(match self.order {
            Order::MlKemFirst => share.split_at(expected - self.classical_len),
            Order::EcdhFirst => {
                let (classical, ml_kem) = share.split_at(self.classical_len);
                (ml_kem, classical)
            }
        })
    }

    fn concat(&self, ml_kem: &[u8], classical: &[u8]) -> Vec<u8> {
        let (first, second) = match self.order {
            Order::MlKemFirst => (ml_kem, classical),
            Order::EcdhFirst => (classical, ml_kem),
        };
        [first, second].concat()
    }
}

impl SupportedKxGroup for Hybrid {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let classical = self.classical.start()?;
        let ml_kem = DecapsulationKey::generate(self.ml_kem.level, self.ml_kem.backend)?;
        let pub_key = self
            .layout
            .concat(ml_kem.encapsulation_key(), classical.pub_key());
        Ok(Box::new(ActiveHybrid {
            layout: self.layout,
            classical,
            ml_kem,
            pub_key,
        }))
    }

    fn start_and_complete(
        &self,
        client_share: &[u8],
    ) -> Result<CompletedKeyExchange, rustls::Error> {
        let (ml_kem_share, classical_share) = self
            .layout
            .split(client_share, self.layout.client_share_len())?;
        // The ML-KEM input is checked first so that a bad encapsulation key costs no ECDH.
        let (ciphertext, ml_kem_secret) =
            mlkem::encapsulate(self.ml_kem.level, self.ml_kem.backend, ml_kem_share)?;
        let classical = self.classical.start_and_complete(classical_share)?;
        let secret = Zeroizing::new(
            self.layout
                .concat(&ml_kem_secret, classical.secret.secret_bytes()),
        );
        Ok(CompletedKeyExchange {
            group: self.layout.name,
            pub_key: self.layout.concat(&ciphertext, &classical.pub_key),
            secret: SharedSecret::from(secret.as_slice()),
        })
    }

    fn ffdhe_group(&self) -> Option<rustls::ffdhe_groups::FfdheGroup<'static>> {
        None
    }

    fn name(&self) -> NamedGroup {
        self.layout.name
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::TLSv1_3
    }
}

struct ActiveHybrid {
    layout: Layout,
    classical: Box<dyn ActiveKeyExchange>,
    ml_kem: DecapsulationKey,
    pub_key: Vec<u8>,
}

impl ActiveKeyExchange for ActiveHybrid {
    fn complete(self: Box<Self>, server_share: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let Self {
            layout,
            classical,
            ml_kem,
            ..
        } = *self;
        let (ciphertext, classical_share) =
            layout.split(server_share, layout.server_share_len())?;
        let ml_kem_secret = ml_kem.decapsulate(ciphertext)?;
        let classical_secret = classical.complete(classical_share)?;
        let secret = Zeroizing::new(layout.concat(&ml_kem_secret, classical_secret.secret_bytes()));
        Ok(SharedSecret::from(secret.as_slice()))
    }

    fn hybrid_component(&self) -> Option<(NamedGroup, &[u8])> {
        Some((self.classical.group(), self.classical.pub_key()))
    }

    fn complete_hybrid_component(
        self: Box<Self>,
        peer_pub_key: &[u8],
    ) -> Result<SharedSecret, rustls::Error> {
        self.classical.complete(peer_pub_key)
    }

    fn pub_key(&self) -> &[u8] {
        &self.pub_key
    }

    fn ffdhe_group(&self) -> Option<rustls::ffdhe_groups::FfdheGroup<'static>> {
        None
    }

    fn group(&self) -> NamedGroup {
        self.layout.name
    }
}
