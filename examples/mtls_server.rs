//! A mutual-TLS server built from the Q-TLS *library* pieces directly: tokio-rustls, a
//! rustls `ServerConfig` on `qtls_provider::hybrid()` (TLS 1.3, SecP384r1MLKEM1024 first),
//! and `qtls_verifier`'s client-certificate verifier. After each handshake it prints the
//! verified `ClientIdentity`, reads one line and answers `hello <client subject>`.
//!
//! Run it together with `examples/mtls_client.rs` (two terminals):
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
//! --listen ADDR      127.0.0.1:8443 (port 0: any free port; the bound address is printed)
//! --cert PATH        pki/server-chain.pem   (leaf + intermediate)
//! --key PATH         pki/server.key
//! --client-ca PATH   pki/root.pem           (trust anchors for client certificates)
//! --connections N    exit after N connections (default: serve forever)
//! ```

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

use qtls_provider::Preset;
use qtls_verifier::{ClientIdentity, ClientVerifierBuilder, RevocationPolicy};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

struct Args {
    listen: String,
    cert: PathBuf,
    key: PathBuf,
    client_ca: PathBuf,
    connections: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: "127.0.0.1:8443".into(),
        cert: "pki/server-chain.pem".into(),
        key: "pki/server.key".into(),
        client_ca: "pki/root.pem".into(),
        connections: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => args.listen = value,
            "--cert" => args.cert = value.into(),
            "--key" => args.key = value.into(),
            "--client-ca" => args.client_ca = value.into(),
            "--connections" => {
                args.connections = Some(value.parse().map_err(|e| format!("{flag}: {e}"))?)
            }
            _ => return Err(format!("unknown option {flag} (see the example's header)")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;

    // The crypto: hybrid key exchange, composite / ML-DSA / ECDSA signatures (aws-lc-rs).
    let provider = Arc::new(qtls_provider::hybrid());

    // Client certificates are verified by qtls-verifier: path building to these roots,
    // composite and ML-DSA signatures, EKU clientAuth, revocation (soft-fail: the
    // certificates of `qtls pki init` name no OCSP responder or CRL, so the status is
    // reported as unknown and the client is accepted).
    let roots = CertificateDer::pem_file_iter(&args.client_ca)?.collect::<Result<Vec<_>, _>>()?;
    let verifier = ClientVerifierBuilder::new(roots, &provider)
        .revocation_policy(RevocationPolicy::SoftFail)
        .build()?;

    let chain = CertificateDer::pem_file_iter(&args.cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&args.key)?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(Preset::Hybrid.protocol_versions())?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(chain, key)?; // the provider loads composite / ML-DSA PKCS#8 keys
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let listener = TcpListener::bind(&args.listen).await?;
    println!("listening on {}", listener.local_addr()?);

    let mut served = 0;
    while args.connections.is_none_or(|n| served < n) {
        let (tcp, peer) = listener.accept().await?;
        served += 1;
        // One connection at a time keeps the output readable; spawn a task per connection
        // in a real server (the acceptor and verifier are cheap to clone).
        let tls = match acceptor.accept(tcp).await {
            Ok(tls) => tls,
            Err(e) => {
                println!("{peer}: handshake failed: {e}");
                continue;
            }
        };
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
        let Some(client) = ClientIdentity::from_connection(connection, &verifier) else {
            println!("{peer}: no client identity (the verifier requires one; unexpected)");
            continue;
        };
        let version = connection.protocol_version().map(|v| format!("{v:?}"));
        println!("{peer}: {} {group} {suite}", version.unwrap_or_default());
        println!("  client subject    {}", client.subject);
        println!("  issuer            {}", client.issuer);
        println!("  serial            {}", client.serial);
        println!(
            "  subjectAltName    {}",
            or_dash(client.subject_alt_names.join(", "))
        );
        println!("  trust anchor      {}", client.trust_anchor);
        println!("  revocation        {:?}", client.revocation);

        if let Err(e) = answer(tls, &client).await {
            println!("{peer}: {e}");
        }
    }
    Ok(())
}

/// Reads one line from the client and answers `hello <subject>`, then close_notify.
async fn answer(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    client: &ClientIdentity,
) -> std::io::Result<()> {
    let mut tls = BufReader::new(tls);
    let mut line = String::new();
    tls.read_line(&mut line).await?;
    println!("  request           {}", line.trim_end());
    tls.write_all(format!("hello {}\n", client.subject).as_bytes())
        .await?;
    tls.shutdown().await
}

fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}
