//! The `qtls` command-line tool's library: the server it runs (the accept loop around
//! [`qtls::QtlsAcceptor`], its settings and `qtls.toml`), the demo HTTP and echo apps,
//! `GET /metrics`, and the OCSP responder endpoint. The executable is `src/bin/qtls`.
//!
//! Applications embed the [`qtls`] library instead: its acceptor, streams and session stores
//! are what this crate is built from, without clap, toml or hyper.

#![forbid(unsafe_code)]

pub mod app;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics_http;
mod ocsp_responder;
pub mod server;

pub use ocsp_responder::{OcspServer, OCSP_REQUEST_TYPE, OCSP_RESPONSE_TYPE};
pub use server::{
    Application, ClientAuth, CloseKind, Limits, ServedConnection, Server, ServerSettings,
    SessionSettings, SessionStoreSetting, ShutdownHandle, TicketSetting,
};
