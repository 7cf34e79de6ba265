//! The Q-TLS demo: a fresh composite (MLDSA65-ECDSA-P384-SHA512) PKI, then a full hybrid
//! mutual-TLS handshake over SecP384r1MLKEM1024 on loopback, and what it negotiated and cost.
//!
//! `cargo run --release --example demo`

use std::time::Duration;

use qtls::{client_config, Identity, TlsSettings};
use qtls_pki::{Pki, PkiOptions, Profile};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut options = PkiOptions::new(time::OffsetDateTime::now_utc());
    options.profile = Profile::Composite;
    options.hosts = vec!["localhost".into(), "127.0.0.1".into()];
    let pki = Pki::generate(&options)?;
    pki.write_to_dir(dir.path())?;
    println!("PKI ({}):", options.profile);
    for (role, pair) in [
        ("root", pki.root()),
        ("intermediate", pki.intermediate()),
        ("server", pki.server()),
        ("client", pki.client()),
    ] {
        println!(
            "  {role:<13} {:<27} {}",
            pair.key().algorithm().name(),
            pair.certificate().subject()
        );
    }

    // Both sides on the Q-TLS Hybrid preset: TLS 1.3, AES-256-GCM-SHA384, hybrid groups only;
    // the server requires a client certificate from the same PKI.
    let settings = TlsSettings::default();
    let path = |name: &str| dir.path().join(name);
    let server = qtls::Server::bind(
        "127.0.0.1:0".parse()?,
        qtls::ServerSettings {
            certificates: vec![(path("server-chain.pem"), path("server.key"))],
            client_auth: Some(qtls::ClientAuth {
                ca: path("root.pem"),
                required: true,
                revocation: qtls_verifier::RevocationPolicy::Off,
                revocation_depth: qtls_verifier::RevocationDepth::Chain,
                crl_files: Vec::new(),
                ocsp_responder: None,
                acl: qtls::Acl::default(),
                deny_with: qtls::DenyWith::Alert,
            }),
            ..qtls::ServerSettings::default()
        },
    )
    .await?;
    let addr = server.local_addr()?;
    let served = tokio::spawn(async move { server.accept_one().await });

    let provider = settings.provider()?;
    let client_identity = Identity::from_pem_files(
        &path("client-chain.pem"),
        &path("client.key"),
        &provider,
        &settings,
    )?;
    let (config, scheme) = client_config(
        &settings,
        qtls::read_certificates(&path("root.pem"))?,
        Some(&client_identity),
    )?;
    let report = qtls::client::get(
        &addr.to_string(),
        "localhost".try_into()?,
        config,
        scheme,
        &settings.code_points,
        Duration::from_secs(10),
    )
    .await?;
    let server_view = served.await??.context;

    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("\nmTLS handshake with {addr}:");
    println!("  protocol          {}", show(&report.info.protocol));
    println!("  key exchange      {}", show(&report.info.group));
    println!(
        "  server signature  {}",
        show(&report.info.signature_scheme)
    );
    println!("  cipher suite      {}", show(&report.info.cipher_suite));
    println!("  server identity   {}", show(&report.info.peer_subject));
    println!(
        "  client identity   {} (as the server verified it)",
        show(&server_view.client.map(|c| c.subject))
    );
    println!(
        "  handshake bytes   {} sent by the client, {} received",
        report.handshake_bytes_sent, report.handshake_bytes_received
    );
    println!("  HTTP              {}", show(&report.http_status));
    Ok(())
}
