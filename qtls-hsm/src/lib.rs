//! rustls signing keys and session-ticket keys held in PKCS#11 tokens, with a pool of
//! logged-in sessions and failover from a primary to a backup token.
//!
//! - [`HsmSigningKey`]: a rustls [`SigningKey`](rustls::sign::SigningKey) for ECDSA P-384
//!   (CKM_ECDSA over a SHA-384 digest), ML-DSA-65/87 (PKCS#11 3.2 CKM_ML_DSA, pure, empty
//!   context) and the composites of draft-ietf-lamps-pq-composite-sigs-19 whose traditional
//!   half is ECDSA on P-256, P-384 or P-521 (MLDSA44-ECDSA-P256-SHA256,
//!   MLDSA65-ECDSA-P256-SHA512, MLDSA65-ECDSA-P384-SHA512, MLDSA87-ECDSA-P384-SHA512,
//!   MLDSA87-ECDSA-P521-SHA512: both halves in the token, combined as the draft says), whose
//!   private keys never leave the token.
//!
//! # What a token can hold
//!
//! A composite key is an ML-DSA key and a traditional key under one name, so the token
//! needs both. Kryoptic (1.5, `pqc`) has ML-DSA, ECDSA on P-256/P-384/P-521, RSA and
//! EdDSA; SoftHSM2 (2.6) has RSA, ECDSA (brainpool too) and EdDSA but no ML-DSA, so it holds
//! ECDSA keys only. The other 13 composites are refused with
//! [`Error::CompositeNotInToken`]: brainpool halves (Kryoptic has no brainpool curves), and
//! RSA and EdDSA halves, which this crate does not drive yet (an ML-DSA + RSA pair would
//! also not say whether it is the PSS or the PKCS#1 v1.5 composite).
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
