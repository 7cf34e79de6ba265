//! Hybrid key-exchange groups ([draft-ietf-tls-ecdhe-mlkem](https://datatracker.ietf.org/doc/draft-ietf-tls-ecdhe-mlkem/)):
//! an ECDH exchange and an ML-KEM exchange run side by side; key shares and the shared
//! secret are their concatenations.
//!
//! Built as rustls's own `crypto::aws_lc_rs::pq::Hybrid` (crate-private there): two
//! `&'static dyn SupportedKxGroup` parts and a wire layout. The parts here may be ML-KEM on
//! either backend; as in rustls the classical part is also exposed as a "hybrid component",
//! so a client can offer e.g. `secp384r1` beside `SecP384r1MLKEM1024` from one ephemeral key.

use rustls::crypto::{ActiveKeyExchange, CompletedKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{NamedGroup, PeerMisbehaved, ProtocolVersion};
use zeroize::Zeroizing;

const INVALID_KEY_SHARE: rustls::Error =
    rustls::Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare);

/// A hybrid group: one classical group and one post-quantum group.
#[derive(Debug)]
pub(crate) struct Hybrid {
    pub(crate) classical: &'static dyn SupportedKxGroup,
    pub(crate) post_quantum: &'static dyn SupportedKxGroup,
    pub(crate) name: NamedGroup,
    pub(crate) layout: Layout,
}

/// How the two parts are laid out on the wire ([draft-ietf-tls-ecdhe-mlkem §3](https://datatracker.ietf.org/doc/html/draft-ietf-tls-ecdhe-mlkem#section-3)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// Length of the classical share (the same from client and server).
    pub(crate) classical_share_len: usize,
    /// Length of the post-quantum share the client sends (the encapsulation key).
    pub(crate) post_quantum_client_share_len: usize,
    /// Length of the post-quantum share the server sends (the ciphertext).
    pub(crate) post_quantum_server_share_len: usize,
    /// Whether the post-quantum part comes first in shares and in the secret: only the X25519
    /// groups put ML-KEM first; the NIST-curve groups put ECDH first.
    pub(crate) post_quantum_first: bool,
}

impl Layout {
    /// Splits a received share into (post-quantum part, classical part).
    fn split<'a>(&self, share: &'a [u8], post_quantum_len: usize) -> Option<(&'a [u8], &'a [u8])> {
        if share.len() != self.classical_share_len + post_quantum_len {
            return None;
        }
        Some(if self.post_quantum_first {
            share.split_at(post_quantum_len)
        } else {
            let (classical, post_quantum) = share.split_at(self.classical_share_len);
            (post_quantum, classical)
        })
    }

    fn concat(&self, post_quantum: &[u8], classical: &[u8]) -> Vec<u8> {
        if self.post_quantum_first {
            [post_quantum, classical].concat()
        } else {
            [classical, post_quantum].concat()
        }
    }
}

impl SupportedKxGroup for Hybrid {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let classical = self.classical.start()?;
        let post_quantum = self.post_quantum.start()?;
        let pub_key = self
            .layout
            .concat(post_quantum.pub_key(), classical.pub_key());
        Ok(Box::new(ActiveHybrid {
            name: self.name,
            layout: self.layout,
            classical,
            post_quantum,
            pub_key,
        }))
    }

    fn start_and_complete(
        &self,
        client_share: &[u8],
    ) -> Result<CompletedKeyExchange, rustls::Error> {
        let (post_quantum_share, classical_share) = self
            .layout
            .split(client_share, self.layout.post_quantum_client_share_len)
            .ok_or(INVALID_KEY_SHARE)?;
        // The post-quantum input is checked first so that a bad encapsulation key costs no ECDH.
        let post_quantum = self.post_quantum.start_and_complete(post_quantum_share)?;
        let classical = self.classical.start_and_complete(classical_share)?;
        let secret = Zeroizing::new(self.layout.concat(
            post_quantum.secret.secret_bytes(),
            classical.secret.secret_bytes(),
        ));
        Ok(CompletedKeyExchange {
            group: self.name,
            pub_key: self
                .layout
                .concat(&post_quantum.pub_key, &classical.pub_key),
            secret: SharedSecret::from(secret.as_slice()),
        })
    }

    fn ffdhe_group(&self) -> Option<rustls::ffdhe_groups::FfdheGroup<'static>> {
        None
    }

    fn name(&self) -> NamedGroup {
        self.name
    }

    /// As rustls decides for its hybrids, after [SP 800-56C Rev. 2 §2](https://csrc.nist.gov/pubs/sp/800/56/c/r2/final):
    /// a hybrid secret Z ‖ T is approved when Z, the part that comes first, is.
    fn fips(&self) -> bool {
        if self.layout.post_quantum_first {
            self.post_quantum.fips()
        } else {
            self.classical.fips()
        }
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::TLSv1_3
    }
}

struct ActiveHybrid {
    name: NamedGroup,
    layout: Layout,
    classical: Box<dyn ActiveKeyExchange>,
    post_quantum: Box<dyn ActiveKeyExchange>,
    pub_key: Vec<u8>,
}

impl ActiveKeyExchange for ActiveHybrid {
    fn complete(self: Box<Self>, server_share: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let (ciphertext, classical_share) = self
            .layout
            .split(server_share, self.layout.post_quantum_server_share_len)
            .ok_or(INVALID_KEY_SHARE)?;
        let post_quantum = self.post_quantum.complete(ciphertext)?;
        let classical = self.classical.complete(classical_share)?;
        let secret = Zeroizing::new(
            self.layout
                .concat(post_quantum.secret_bytes(), classical.secret_bytes()),
        );
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
        self.name
    }
}
