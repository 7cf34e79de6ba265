//! The Q-TLS demo: a fresh composite (MLDSA65-ECDSA-P384-SHA512) PKI, then a full hybrid
//! mutual-TLS handshake over SecP384r1MLKEM1024 on loopback, and what it negotiated and cost.
//!
//! `cargo run --release --example demo`
//!
//! The server side is the library's acceptor on a tokio listener, as an application embeds
//! it; the `qtls server` command (crate `qtls-cli`) wraps the same acceptor.

use std::sync::Arc;
use std::time::Duration;

use qtls::{
    client_config, server_config, CertificateSet, ConnectionContext, Identity, KeyExchangePolicy,
    QtlsAcceptor, ServedCertificate, TlsSettings,
};
use qtls_pki::{Pki, PkiOptions, Profile};
use qtls_verifier::{ClientVerifierBuilder, RevocationPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut options = PkiOptions::new(time::OffsetDateTime::now_utc());
    options.profile = Profile::COMPOSITE;
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
    let provider = settings.provider()?;
    let path = |name: &str| dir.path().join(name);
    let server_identity = Identity::from_pem_files(
        &path("server-chain.pem"),
        &path("server.key"),
        &provider,
        &settings,
    )?;
    let certificates = Arc::new(CertificateSet::new(
        vec![Arc::new(ServedCertificate::new(
            "server-chain.pem",
            server_identity.certified_key,
            server_identity.scheme,
            &settings.code_points,
        ))],
        false,
    ));
    let verifier =
        ClientVerifierBuilder::new(qtls::read_certificates(&path("root.pem"))?, &provider)
            .revocation_policy(RevocationPolicy::Off)
            .build()?;
    let config = server_config(
        &settings,
        Arc::clone(&certificates) as Arc<dyn rustls::server::ResolvesServerCert>,
        Some(verifier.clone()),
    )?;
    let acceptor = QtlsAcceptor::builder(Arc::new(config))
        .certificates(certificates)
        .client_verifier(verifier)
        .key_exchange_policy(KeyExchangePolicy::RequirePostQuantum)
        .code_points(settings.code_points)
        .build()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let served = tokio::spawn(async move { serve_one(&listener, &acceptor).await });

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
    let server_view = served.await?.map_err(|e| e.to_string())?;

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

/// Accepts one connection, answers its HTTP request with the client identity the server
/// verified, and closes with close_notify.
async fn serve_one(
    listener: &TcpListener,
    acceptor: &QtlsAcceptor,
) -> Result<ConnectionContext, Box<dyn std::error::Error + Send + Sync>> {
    let (tcp, _) = listener.accept().await?;
    let (mut tls, context) = acceptor.accept(tcp).await?;
    // The request head ends with an empty line; the demo's client sends nothing more.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match tls.read(&mut buf).await? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = format!(
        "hello {}\n",
        context.client.as_ref().map_or("-", |c| c.subject.as_str())
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(response.as_bytes()).await?;
    tls.shutdown().await?;
    Ok(context)
}
