//! Q-TLS: hybrid post-quantum TLS 1.3 servers and clients on tokio and rustls.
//!
//! The crypto lives in [`qtls_provider`] and certificate issuance in [`qtls_pki`]; this
//! crate wires them into tokio-rustls endpoints and the `qtls` command-line tool.
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
mod certs;
pub mod client;
pub mod config;
mod connection;
pub mod early_data;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod gate;
pub mod hsm;
mod key_update;
pub mod metrics;
mod ocsp_responder;
pub mod server;
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
pub use ocsp_responder::{OcspServer, OCSP_REQUEST_TYPE, OCSP_RESPONSE_TYPE};
pub use server::{
    serve_echo, Application, ClientAuth, CloseKind, Limits, ServedConnection, Server,
    ServerSettings, SessionSettings, SessionStoreSetting, ShutdownHandle, TicketSetting,
};
pub use stapling::{StapleFailurePolicy, StapleState, Stapler, StaplingConfig};
pub use tls::{
    client_config, read_certificates, read_roots, server_config, HandshakeRecord, Identity,
    SchemeRecord, TlsSettings,
};
