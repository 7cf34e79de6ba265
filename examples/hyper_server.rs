//! An HTTPS server on hyper 1.x behind `qtls::QtlsAcceptor`: the Q-TLS policy gate (a
//! ClientHello without a post-quantum group gets `insufficient_security`), certificate
//! selection, hybrid key exchange and mutual TLS through qtls-verifier, and the verified
//! client identity handed to the request handler, which answers `hello <client subject>`.
//!
//! ```sh
//! cargo run --bin qtls -- pki init --dir pki      # a composite PKI in ./pki
//! cargo run --example hyper_server                # listens on 127.0.0.1:8443
//! cargo run --bin qtls -- client --connect 127.0.0.1:8443 --ca pki/root.pem \
//!     --cert pki/client-chain.pem --key pki/client.key   # body: hello CN=qtls-client,O=Q-TLS
//! ```
//!
//! Options (defaults are the files `qtls pki init --dir pki` writes):
//!
//! ```text
//! --listen ADDR      127.0.0.1:8443 (port 0: any free port; the bound address is printed)
//! --cert PATH        pki/server-chain.pem
//! --key PATH         pki/server.key
//! --client-ca PATH   pki/root.pem
//! --connections N    exit after N connections have been served (default: serve forever)
//! ```

use std::convert::Infallible;
use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use qtls::TlsSettings;
use qtls::{
    CertificateSet, ConnectionContext, Identity, KeyExchangePolicy, QtlsAcceptor, ServedCertificate,
};
use qtls_provider::Preset;
use qtls_verifier::{ClientVerifierBuilder, RevocationPolicy};
use tokio::net::TcpListener;

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

/// The acceptor: what `qtls::Server::bind` builds, assembled here from its parts so that the
/// application owns the listener.
fn acceptor(args: &Args) -> Result<QtlsAcceptor, Box<dyn Error>> {
    let settings = TlsSettings {
        preset: Preset::Hybrid,
        ..TlsSettings::default()
    };
    let provider = settings.provider()?;
    let code_points = settings.code_points;

    // The served certificate (add more ServedCertificates to serve ML-DSA, composite and
    // classical chains side by side; the acceptor picks one per ClientHello).
    let identity = Identity::from_pem_files(&args.cert, &args.key, &provider, &settings)?;
    let served = ServedCertificate::new(
        args.cert.display().to_string(),
        identity.certified_key,
        identity.scheme,
        &code_points,
    );
    let certificates = Arc::new(CertificateSet::new(vec![Arc::new(served)], false));

    // Client certificates are required and verified by qtls-verifier; the acceptor asks the
    // same verifier for the identity it verified.
    let roots = qtls::read_certificates(&args.client_ca)?;
    let verifier = ClientVerifierBuilder::new(roots, &provider)
        .revocation_policy(RevocationPolicy::SoftFail)
        .build()?;

    let config = qtls::server_config(
        &settings,
        Arc::clone(&certificates) as Arc<dyn rustls::server::ResolvesServerCert>,
        Some(verifier.clone()),
    )?;
    // The acceptor adds to the rustls config: the PQ gate (ClientHellos without a
    // post-quantum group get insufficient_security), certificate selection per ClientHello,
    // and the verified client identity.
    Ok(QtlsAcceptor::builder(Arc::new(config))
        .certificates(certificates)
        .client_verifier(verifier)
        .key_exchange_policy(KeyExchangePolicy::RequirePostQuantum)
        .code_points(code_points)
        .build()?)
}

/// The request handler: it sees the connection's verified client identity.
async fn hello(
    request: Request<Incoming>,
    context: Arc<ConnectionContext>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match &context.client {
        Some(client) => (StatusCode::OK, format!("hello {}\n", client.subject)),
        None => (StatusCode::FORBIDDEN, "no client certificate\n".to_string()),
    };
    println!(
        "{} {} -> {} (group {}, client {})",
        request.method(),
        request.uri(),
        status.as_u16(),
        context.info.group.as_deref().unwrap_or("-"),
        context
            .client
            .as_ref()
            .map_or("-", |client| client.subject.as_str()),
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let acceptor = acceptor(&args)?;
    let listener = TcpListener::bind(&args.listen).await?;
    println!("listening on {}", listener.local_addr()?);

    let mut tasks = tokio::task::JoinSet::new();
    let mut accepted = 0;
    while args.connections.is_none_or(|n| accepted < n) {
        let (tcp, peer) = listener.accept().await?;
        accepted += 1;
        let acceptor = acceptor.clone();
        tasks.spawn(async move {
            // The gate, the handshake and client verification (within a time limit).
            let (tls, context) = match acceptor.accept(tcp).await {
                Ok(accepted) => accepted,
                Err(e) => {
                    println!("{peer}: {e}");
                    return;
                }
            };
            let context = Arc::new(context);
            let service = service_fn(move |request| hello(request, Arc::clone(&context)));
            // hyper answers on the TLS stream; when the connection ends it shuts the stream
            // down, which sends close_notify.
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                println!("{peer}: {e}");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}
