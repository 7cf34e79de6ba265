//! Stock rustls and Q-TLS's provider on one configuration (TLS 1.3,
//! TLS13_AES_256_GCM_SHA384, X25519MLKEM768), and client/server configurations that make
//! full handshakes only: what the comparisons with stock rustls (the root crate's
//! `tests/stock_rustls.rs`, `benches/stock_rustls.rs`, `benches/connection_heap.rs`) and the
//! server-floor bench share.

use std::sync::Arc;

use qtls_provider::{Backend, Preset, ProviderBuilder};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ServerConfig};

use crate::handshake as inproc;
use crate::pki::ServerIdentity;

/// The one key-exchange group of the comparison.
pub const GROUP: &str = "X25519MLKEM768";

/// rustls's own aws-lc-rs provider, narrowed to the configuration.
pub fn stock_provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites =
        vec![rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384];
    provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519MLKEM768];
    Arc::new(provider)
}

/// Q-TLS's Hybrid preset (TLS 1.3, TLS13_AES_256_GCM_SHA384 only) with the same one group.
pub fn qtls_provider() -> Arc<CryptoProvider> {
    hybrid_provider(GROUP)
}

/// Q-TLS's Hybrid preset on aws-lc-rs with `group` (an OpenSSL name) as its only group.
pub fn hybrid_provider(group: &str) -> Arc<CryptoProvider> {
    Arc::new(
        ProviderBuilder::new()
            .preset(Preset::Hybrid)
            .backend(Backend::AwsLc)
            .kx_groups(vec![
                qtls_provider::group_by_name(group, Backend::AwsLc).unwrap()
            ])
            .build()
            .unwrap(),
    )
}

/// A client and a server configuration.
pub type Configs = (Arc<ClientConfig>, Arc<ServerConfig>);

/// Configurations of `identity` on `provider` that make every handshake a full one: no
/// server session storage, no tickets, no client resumption.
pub fn full_handshake_configs(identity: &ServerIdentity, provider: Arc<CryptoProvider>) -> Configs {
    let mut server = inproc::server_config(identity, Arc::clone(&provider));
    server.session_storage = Arc::new(NoServerSessionStorage {});
    server.send_tls13_tickets = 0;
    let mut client = inproc::client_config(identity, provider);
    client.resumption = Resumption::disabled();
    (Arc::new(client), Arc::new(server))
}
