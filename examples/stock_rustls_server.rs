//! A minimal tokio-rustls server on stock rustls (`rustls::crypto::aws_lc_rs::default_provider()`,
//! no Q-TLS code), the baseline `scripts/tlsfuzzer.sh` runs tlsfuzzer against beside
//! `qtls server`: a conversation that fails against both is rustls's behaviour, one that fails
//! only against `qtls server` is ours.
//!
//! Like `qtls server` it answers one HTTP request with a small fixed response, sends
//! close_notify and waits for the client's, or with `--echo` echoes every byte until the
//! client closes.
//!
//! ```text
//! cargo run --example stock_rustls_server -- --cert rsa-chain.pem --key rsa.key --port 4433
//!
//! --cert PATH --key PATH   a chain (leaf first) and its key, PEM; repeatable: the first chain
//!                          whose key can sign with a scheme the client offers is served
//! --client-ca PATH         trust anchors for client certificates (requests one)
//! --require-client-cert    refuse clients without a certificate (needs --client-ca)
//! --port N                 listen on 127.0.0.1:N (default 4433; 0: any free port)
//! --echo                   echo instead of answering HTTP
//! ```
//!
//! It prints `listening on ADDR` once it accepts connections.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Bounds each connection's wait for its peer, so a silent client does not hold a task.
const IDLE: Duration = Duration::from_secs(30);
/// The most of an HTTP request head read before answering.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Default)]
struct Args {
    certs: Vec<PathBuf>,
    keys: Vec<PathBuf>,
    client_ca: Option<PathBuf>,
    require_client_cert: bool,
    port: u16,
    echo: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 4433,
        ..Args::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--cert" => args.certs.push(value()?.into()),
            "--key" => args.keys.push(value()?.into()),
            "--client-ca" => args.client_ca = Some(value()?.into()),
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--require-client-cert" => args.require_client_cert = true,
            "--echo" => args.echo = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.certs.is_empty() || args.certs.len() != args.keys.len() {
        return Err("give one --key per --cert, at least one".into());
    }
    if args.require_client_cert && args.client_ca.is_none() {
        return Err("--require-client-cert needs --client-ca".into());
    }
    Ok(args)
}

/// Serves the first chain whose key signs with a scheme the client offers, else the first
/// chain (as rustls's single-certificate resolver would, so rustls's own alert follows).
#[derive(Debug)]
struct FirstUsable(Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for FirstUsable {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0
            .iter()
            .find(|ck| ck.key.choose_scheme(hello.signature_schemes()).is_some())
            .or(self.0.first())
            .cloned()
    }
}

fn config(args: &Args) -> Result<rustls::ServerConfig, Box<dyn Error>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut chains = Vec::new();
    for (cert, key) in args.certs.iter().zip(&args.keys) {
        let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(key)?;
        chains.push(Arc::new(CertifiedKey::from_der(chain, key, &provider)?));
    }
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = match &args.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca, args, &provider)?),
    };
    Ok(builder.with_cert_resolver(Arc::new(FirstUsable(chains))))
}

fn client_verifier(
    ca: &PathBuf,
    args: &Args,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, Box<dyn Error>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    let builder = if args.require_client_cert {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    Ok(builder.build()?)
}

async fn serve<S>(mut tls: S, echo: bool) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; MAX_HEAD];
    if echo {
        loop {
            let n = tokio::time::timeout(IDLE, tls.read(&mut buf)).await??;
            if n == 0 {
                break;
            }
            tls.write_all(&buf[..n]).await?;
            tls.flush().await?;
        }
        return tls.shutdown().await;
    }
    let mut head = 0;
    while !(buf[..head].windows(4).any(|w| w == b"\r\n\r\n")
        || buf[..head].windows(2).any(|w| w == b"\n\n"))
    {
        if head == buf.len() {
            break;
        }
        let n = tokio::time::timeout(IDLE, tls.read(&mut buf[head..])).await??;
        if n == 0 {
            return tls.shutdown().await;
        }
        head += n;
    }
    let body = "{\"server\":\"stock rustls\"}\n";
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(response.as_bytes()).await?;
    tls.shutdown().await?;
    // Wait for the client's close_notify (or its close), as `qtls server` does.
    while tokio::time::timeout(IDLE, tls.read(&mut buf)).await?? > 0 {}
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let acceptor = TlsAcceptor::from(Arc::new(config(&args)?));
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("listening on {}", listener.local_addr()?);
    let echo = args.echo;
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let result = match tokio::time::timeout(IDLE, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => serve(tls, echo).await,
                Ok(Err(e)) => Err(e),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                eprintln!("connection: {e}");
            }
        });
    }
}
