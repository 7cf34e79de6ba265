//! A mutual-TLS client built from the Q-TLS *library* pieces directly: tokio-rustls, a
//! rustls `ClientConfig` on `qtls_provider::hybrid()` (TLS 1.3, SecP384r1MLKEM1024 first),
//! `qtls_verifier`'s server-certificate verifier, and a client certificate. It sends one
//! line, prints the server's answer and what the handshake negotiated.
//!
//! Run it together with `examples/mtls_server.rs` (two terminals):
//!
//! ```sh
//! cargo run --bin qtls -- pki init --dir pki      # a composite PKI in ./pki
//! cargo run --example mtls_server                 # terminal 1: listens on 127.0.0.1:8443
//! cargo run --example mtls_client                 # terminal 2: prints hello CN=qtls-client,O=Q-TLS
//! ```
//!
//! Options (defaults are the files `qtls pki init --dir pki` writes):
//!
//! ```text
//! --connect ADDR     127.0.0.1:8443
//! --servername NAME  localhost (checked against the server certificate's subjectAltName)
//! --ca PATH          pki/root.pem              (trust anchors for the server's chain)
//! --cert PATH        pki/client-chain.pem      (leaf + intermediate)
//! --key PATH         pki/client.key
//! ```

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

use qtls_provider::Preset;
use qtls_verifier::{RevocationPolicy, ServerVerifierBuilder};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

struct Args {
    connect: String,
    servername: String,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        connect: "127.0.0.1:8443".into(),
        servername: "localhost".into(),
        ca: "pki/root.pem".into(),
        cert: "pki/client-chain.pem".into(),
        key: "pki/client.key".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--connect" => args.connect = value,
            "--servername" => args.servername = value,
            "--ca" => args.ca = value.into(),
            "--cert" => args.cert = value.into(),
            "--key" => args.key = value.into(),
            _ => return Err(format!("unknown option {flag} (see the example's header)")),
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let provider = Arc::new(qtls_provider::hybrid());

    // The server's chain is verified by qtls-verifier: path building to these roots,
    // composite and ML-DSA signatures, the name, EKU serverAuth, and a stapled OCSP
    // response if the server sends one (soft-fail without one; no online lookups here).
    let roots = CertificateDer::pem_file_iter(&args.ca)?.collect::<Result<Vec<_>, _>>()?;
    let verifier = ServerVerifierBuilder::new(roots, &provider)
        .revocation_policy(RevocationPolicy::SoftFail)
        .online_ocsp(false)
        .fetch_crls(false)
        .build()?;

    let chain = CertificateDer::pem_file_iter(&args.cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&args.key)?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(Preset::Hybrid.protocol_versions())?
        // "dangerous" only in name: rustls calls every verifier but its own webpki one so.
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_client_auth_cert(chain, key)?;
    let connector = TlsConnector::from(Arc::new(config));

    let server_name = ServerName::try_from(args.servername.clone())?;
    let tcp = TcpStream::connect(&args.connect).await?;
    let mut tls = connector.connect(server_name, tcp).await?;

    let (_, connection) = tls.get_ref();
    let group = connection
        .negotiated_key_exchange_group()
        .map(|g| {
            qtls_provider::group_display_name(g.name())
                .map_or_else(|| format!("{:?}", g.name()), str::to_string)
        })
        .unwrap_or_default();
    let suite = connection
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    // The verifier remembers the chain it accepted during this handshake.
    let verified = connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| verifier.chain_verifier().recent(leaf))
        .ok_or("the verifier has no record of the server's chain")?;
    println!("connected to {}", args.connect);
    let version = connection.protocol_version().map(|v| format!("{v:?}"));
    println!("  protocol          {}", version.unwrap_or_default());
    println!("  key exchange      {group}");
    println!("  cipher suite      {suite}");
    println!("  server subject    {}", verified.end_entity().subject);
    let path: Vec<String> = verified
        .certificates
        .iter()
        .map(|cert| format!("{} [{}]", cert.subject, cert.signature_algorithm))
        .collect();
    println!("  verified path     {} (leaf first)", path.join(", "));

    tls.write_all(b"hello from mtls_client\n").await?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await?; // until the server's close_notify
    tls.shutdown().await?;
    print!("{answer}");
    Ok(())
}
