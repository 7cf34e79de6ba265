//! rustls signing keys and session-ticket keys held in PKCS#11 tokens, with a pool of
//! logged-in sessions and failover from a primary to a backup token.
//!
//! - [`HsmSigningKey`]: a rustls [`SigningKey`](rustls::sign::SigningKey) for ECDSA P-256/P-384
//!   (CKM_ECDSA over a SHA-256/384 digest), ML-DSA-44/65/87 (PKCS#11 3.2 CKM_ML_DSA, pure,
//!   empty context) and 16 of the 18 composites of
//!   [draft-ietf-lamps-pq-composite-sigs-19](https://datatracker.ietf.org/doc/html/draft-ietf-lamps-pq-composite-sigs-19)
//!   (both halves in the token, combined as the draft says), whose private keys never leave
//!   the token.
//!
//! # What a token can hold
//!
//! A composite key is an ML-DSA key and a traditional key under one name, so the token
//! needs both:
//!
//! | traditional half | composites | in the token |
//! |---|---|---|
//! | RSASSA-PSS | MLDSA44-RSA2048-PSS-SHA256, MLDSA65-RSA3072-PSS-SHA512, MLDSA65-RSA4096-PSS-SHA512, MLDSA87-RSA3072-PSS-SHA512, MLDSA87-RSA4096-PSS-SHA512 | CKK_RSA allowing only CKM_RSA_PKCS_PSS |
//! | RSASSA-PKCS1-v1_5 (X.509 only) | MLDSA44-RSA2048-PKCS15-SHA256, MLDSA65-RSA3072-PKCS15-SHA512, MLDSA65-RSA4096-PKCS15-SHA512 | CKK_RSA allowing only CKM_RSA_PKCS |
//! | ECDSA | MLDSA44-ECDSA-P256-SHA256, MLDSA65-ECDSA-P256-SHA512, MLDSA65-ECDSA-P384-SHA512, MLDSA87-ECDSA-P384-SHA512, MLDSA87-ECDSA-P521-SHA512 | CKK_EC, CKM_ECDSA |
//! | EdDSA | MLDSA44-Ed25519-SHA512, MLDSA65-Ed25519-SHA512, MLDSA87-Ed448-SHAKE256 | CKK_EC_EDWARDS, CKM_EDDSA |
//!
//! The RSA key's CKA_ALLOWED_MECHANISMS records which of the two RSA composites a pair is
//! (see [`TokenAdmin`]). Kryoptic (1.5, `pqc`) holds all 16; SoftHSM2 (2.6) has RSA, ECDSA
//! (brainpool too) and EdDSA but no ML-DSA, so it holds ECDSA keys only. The two composites
//! with a brainpool half (MLDSA65-ECDSA-brainpoolP256r1-SHA512,
//! MLDSA87-ECDSA-brainpoolP384r1-SHA512) are refused with [`Error::CompositeNotInToken`]: no
//! token at hand has ML-DSA and brainpool curves together (Kryoptic has only the NIST
//! curves), so such a pair could be neither generated nor tested.
//! - [`Hsm`]: the tokens behind the keys: a session pool per token ([`TokenConfig`]), and
//!   failover to a backup token that is re-probed and taken back when healthy.
//! - [`HsmTicketer`]: a rustls [`ProducesTickets`](rustls::server::ProducesTickets) whose
//!   AES-256-GCM keys live in the token and rotate.
//! - [`TokenAdmin`] and [`init_token`]: key generation and import, token initialisation.
//! - [`Pin`] (from an environment variable or a file, never shown) and [`Pkcs11Uri`]
//!   (RFC 7512 `pkcs11:token=T;object=srv;type=private` URIs).
//!
//! ```no_run
//! use std::sync::Arc;
//! use qtls_hsm::{Hsm, KeyRef, Pin, TokenConfig};
//!
//! let token = |module: &str, label: &str| {
//!     TokenConfig::builder(module)
//!         .token_label(label)
//!         .pin(Pin::from_env("QTLS_HSM_PIN")?)
//!         .sessions(4)
//!         .build()
//! };
//! let hsm = Hsm::builder()
//!     .primary(token("/usr/lib/hsm-a.so", "qtls")?)
//!     .backup(token("/usr/lib/hsm-b.so", "qtls")?)
//!     .build()?;
//! let key = hsm.signing_key(&KeyRef::label("srv"), &qtls_provider::CodePoints::DEFAULT)?;
//! let certified = rustls::sign::CertifiedKey::new(Vec::new() /* the chain */, Arc::new(key));
//! # let _ = certified;
//! # Ok::<(), qtls_hsm::Error>(())
//! ```
//!
//! # Threads
//!
//! Every PKCS#11 call runs on a thread of the pool (one per session), and callers wait at
//! most the operation timeout for it. rustls calls signing keys and ticketers synchronously
//! from inside the handshake, so the thread driving a handshake with these keys blocks while
//! the token works: async servers should drive such handshakes from a blocking context. The
//! `qtls` crate does so with tokio's `spawn_blocking`.
//!
//! The crate uses cryptoki's safe API only.

#![forbid(unsafe_code)]

mod admin;
mod composite;
mod error;
mod hsm;
mod key;
mod module;
mod pin;
mod pool;
mod sign;
mod ticket;
mod token;
mod uri;

pub use admin::{init_token, ImportProtection, KeyProtection, TokenAdmin};
pub use cryptoki::error::RvError;
pub use error::Error;
pub use hsm::{Hsm, HsmBuilder, HsmStatus, TokenRole};
pub use key::{HsmPublicKey, KeyRef};
pub use pin::{Pin, PIN_ENV_VAR};
pub use sign::HsmSigningKey;
pub use ticket::{HsmTicketStats, HsmTicketer, HsmTicketerBuilder};
pub use token::{TokenConfig, TokenConfigBuilder, TokenSelector};
pub use uri::{ObjectType, Pkcs11Uri};
