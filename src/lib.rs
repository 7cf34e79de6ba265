//! Q-TLS: hybrid post-quantum TLS 1.3 servers and clients on tokio and rustls.
//!
//! The crypto lives in [`qtls_provider`], chain verification and revocation in
//! [`qtls_verifier`], token keys in [`qtls_hsm`]; this crate wires them into tokio-rustls
//! endpoints: the acceptor (policy gate, certificate selection per ClientHello, the verified
//! client identity), the 0-RTT and key-update streams, session stores and ticketers, OCSP
//! stapling and the client connector. The `qtls` command-line tool and its demo apps are the
//! `qtls-cli` crate; `examples/hyper_server.rs` shows the production route for HTTP.
//!
//! Features: `redis` (session stores in Redis and Redis Cluster), `oqs` (the liboqs
//! backend of [`qtls_provider`]).
//!
//! ```no_run
//! use std::path::Path;
//! use qtls::{client_config, TlsSettings};
//!
//! # async fn demo() -> Result<(), qtls::Error> {
//! let settings = TlsSettings::default(); // the Hybrid preset on aws-lc-rs
//! let roots = qtls::read_certificates(Path::new("root.pem"))?;
//! let (config, scheme) = client_config(&settings, roots, None)?;
//! let report = qtls::client::get(
//!     "127.0.0.1:8443",
//!     "localhost".try_into().expect("valid name"),
//!     config,
//!     scheme,
//!     &settings.code_points,
//!     std::time::Duration::from_secs(10),
//! )
//! .await?;
//! println!("{:?} {:?}", report.info.group, report.info.signature_scheme);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod acceptor;
mod acl;
mod blocking;
pub mod bounds;
mod certs;
pub mod client;
mod connection;
pub mod early_data;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod gate;
pub mod hsm;
pub mod http1;
mod key_update;
pub mod metrics;
pub mod sessions;
mod stapling;
mod tls;

pub use acceptor::{
    AcceptError, AcceptorBuilder, ConnectionContext, KeyExchangePolicy, QtlsAcceptor,
};
pub use acl::{authorize_resumed, Acl, AclRule, AuthorizingVerifier, DenyWith, ResumptionRefused};
pub use certs::{CertificateSet, ServedCertificate};
pub use connection::{group_name, subject_of, ByteCounters, ConnectionInfo, CountingStream};
pub use early_data::{EarlyDataSettings, EarlyDataStatus, ServerTlsStream};
pub use error::{alert_name, Error};
pub use gate::{offered_versions, Refusal};
pub use key_update::{KeyUpdateCounter, KeyUpdatePolicy, KeyUpdating, RefreshTrafficKeys};
pub use stapling::{StapleFailurePolicy, StapleState, Stapler, StaplingConfig};
pub use tls::{
    client_config, client_config_with_intermediates, read_certificates, read_roots, server_config,
    HandshakeRecord, Identity, SchemeRecord, TlsSettings,
};
