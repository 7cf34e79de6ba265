//! `s2n-server --cert CHAIN.pem --key KEY.pem --port PORT [--policy VERSION]`: accepts TLS
//! connections with s2n-tls on 127.0.0.1, completes each handshake, answers an HTTP request
//! if one comes (`200`, a few bytes, as `qtls server`'s demo app does) and closes when the
//! client does. The security policy defaults to `default_pq` (s2n-tls's
//! `security_policy_20250721`: TLS 1.2 and 1.3, SecP384r1MLKEM1024 and ML-DSA signatures).
//!
//! It runs on tokio's multi-threaded runtime with one task per connection, as `qtls server`
//! does, so that the two are compared as servers, not as handshake functions.
#![forbid(unsafe_code)]

use std::error::Error;

use s2n_tls::{config::Config, security::Policy};
use s2n_tls_tokio::TlsAcceptor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut cert = None;
    let mut key = None;
    let mut port = None;
    let mut policy = String::from("default_pq");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--cert" => cert = Some(std::fs::read(&value)?),
            "--key" => key = Some(std::fs::read(&value)?),
            "--port" => port = Some(value.parse::<u16>()?),
            "--policy" => policy = value,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let (Some(cert), Some(key), Some(port)) = (cert, key, port) else {
        return Err("usage: s2n-server --cert CHAIN.pem --key KEY.pem --port PORT".into());
    };

    let mut config = Config::builder();
    config.set_security_policy(&Policy::from_version(&policy)?)?;
    config.load_pem(&cert, &key)?;
    let acceptor = TlsAcceptor::new(config.build()?);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("s2n-server: listening on 127.0.0.1:{port} (policy {policy})");
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            // One request at most: enough for `qtls client`, which sends `GET /`;
            // `openssl s_client` sends nothing and closes.
            let mut request = [0u8; 4096];
            if let Ok(n) = tls.read(&mut request).await {
                if n > 0 {
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n")
                        .await;
                }
            }
            let _ = tls.shutdown().await;
        });
    }
}
