//! One probe: a bounded handshake offering chosen groups, schemes, suites and versions.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qtls_provider::{CodePoints, CompositeAlgorithm, Preset, ProviderBuilder};
use rustls::client::{Resumption, Tls12Resumption};
use rustls::crypto::SupportedKxGroup;
use rustls::{
    HandshakeKind, NamedGroup, SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::recorder::{CertificateRequestSeen, Recorder, Requested, Seen, Store};
use super::wire::{Wire, WireLog};

/// What one probe offers.
#[derive(Clone)]
pub(super) struct Probe {
    pub(super) groups: Vec<&'static dyn SupportedKxGroup>,
    pub(super) suites: Vec<SupportedCipherSuite>,
    pub(super) versions: Vec<&'static SupportedProtocolVersion>,
    pub(super) schemes: Vec<SignatureScheme>,
    pub(super) store: Option<Session>,
    pub(super) early_data: bool,
    /// Wait briefly after the handshake for session tickets (RFC 8446 §4.6.1).
    pub(super) linger: bool,
}

/// A session store shared by the probes that try to resume, with the verifier and
/// resolver it was made with: rustls resumes only under the same ones (by identity).
#[derive(Clone)]
pub(super) struct Session {
    pub(super) store: Arc<Store>,
    pub(super) tls12: Tls12Resumption,
    pub(super) recorder: Arc<Recorder>,
    pub(super) requested: Arc<Requested>,
}

impl Session {
    pub(super) fn new(tls12: Tls12Resumption, schemes: &[SignatureScheme]) -> Self {
        Self {
            store: Store::new(),
            tls12,
            recorder: Arc::new(Recorder {
                offered: schemes.to_vec(),
                algorithms: qtls_provider::compatible().signature_verification_algorithms,
                seen: Mutex::default(),
            }),
            requested: Arc::new(Requested::default()),
        }
    }
}

/// What one probe saw.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) version: Option<rustls::ProtocolVersion>,
    pub(super) group: Option<NamedGroup>,
    pub(super) suite: Option<String>,
    pub(super) kind: Option<HandshakeKind>,
    pub(super) seen: Seen,
    pub(super) client_auth: Option<CertificateRequestSeen>,
    pub(super) wire: WireLog,
    pub(super) connect_ms: f64,
    pub(super) handshake_ms: f64,
    pub(super) early_data_offered: bool,
    pub(super) early_data_accepted: bool,
}

/// Why a probe failed, worded for a person.
#[derive(Debug)]
pub(super) enum ProbeError {
    /// No TCP connection (refused, unreachable) or timed out connecting.
    Connect(String),
    /// The handshake did not finish in time.
    Timeout,
    /// The peer closed, sent a non-TLS byte, or an alert.
    Handshake(String),
    /// We could not build the client for this offer (not the server's fault).
    Local(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(why) => write!(f, "cannot connect: {why}"),
            Self::Timeout => write!(f, "no answer within the time limit (the server stalls)"),
            Self::Handshake(why) => write!(f, "{why}"),
            Self::Local(why) => write!(f, "cannot offer this: {why}"),
        }
    }
}

fn describe_io(error: &std::io::Error) -> String {
    if let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return match tls {
            rustls::Error::InvalidMessage(_) => {
                format!("not a TLS server (it answered with something that is not TLS: {tls})")
            }
            rustls::Error::AlertReceived(alert) => format!("the server refused: alert {alert:?}"),
            other => format!("TLS error: {other}"),
        };
    }
    match error.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the handshake".into()
        }
        std::io::ErrorKind::ConnectionReset => {
            "the server reset the connection during the handshake".into()
        }
        _ => error.to_string(),
    }
}

pub(super) struct Scanner {
    pub(super) addr: String,
    pub(super) name: ServerName<'static>,
    pub(super) timeout: Duration,
    pub(super) interval: Duration,
    pub(super) next: Instant,
    pub(super) probes: usize,
    pub(super) timeouts: usize,
    pub(super) all_schemes: Vec<SignatureScheme>,
}

/// Stop after this many probes ran into the time limit: the server stalls.
pub(super) const MAX_TIMEOUTS: usize = 3;

impl Scanner {
    pub(super) async fn run(&mut self, probe: &Probe) -> Result<Outcome, ProbeError> {
        if self.timeouts >= MAX_TIMEOUTS {
            return Err(ProbeError::Timeout);
        }
        tokio::time::sleep_until(self.next.into()).await;
        self.next = Instant::now() + self.interval;
        self.probes += 1;
        let result = self.handshake(probe).await;
        if matches!(result, Err(ProbeError::Timeout)) {
            self.timeouts += 1;
        }
        result
    }

    async fn handshake(&self, probe: &Probe) -> Result<Outcome, ProbeError> {
        let mut provider = ProviderBuilder::new()
            .preset(Preset::Compatible)
            .kx_groups(probe.groups.clone())
            .build()
            .map_err(|e| ProbeError::Local(e.to_string()))?;
        provider.cipher_suites = probe.suites.clone();
        let (recorder, requested) = match &probe.store {
            Some(session) => (session.recorder.clone(), session.requested.clone()),
            None => (
                Arc::new(Recorder {
                    offered: probe.schemes.clone(),
                    algorithms: provider.signature_verification_algorithms,
                    seen: Mutex::default(),
                }),
                Arc::new(Requested::default()),
            ),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&probe.versions)
            .map_err(|e| ProbeError::Local(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_client_cert_resolver(requested.clone());
        config.resumption = match &probe.store {
            Some(session) => {
                Resumption::store(session.store.clone()).tls12_resumption(session.tls12)
            }
            None => Resumption::disabled(),
        };
        config.enable_early_data = probe.early_data;
        let connector = TlsConnector::from(Arc::new(config)).early_data(probe.early_data);
        let log = Arc::new(Mutex::new(WireLog::default()));
        let start = Instant::now();
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| ProbeError::Connect("timed out".into()))?
            .map_err(|e| ProbeError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let connect_ms = start.elapsed().as_secs_f64() * 1e3;
        let wire = Wire {
            inner: tcp,
            log: log.clone(),
        };
        let remaining = self.timeout.saturating_sub(start.elapsed());
        let host = match &self.name {
            ServerName::DnsName(name) => name.as_ref().to_string(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            _ => String::new(),
        };
        let (mut tls, early_data_offered) = tokio::time::timeout(remaining, async {
            let mut tls = connector
                .connect(self.name.clone(), wire)
                .await
                .map_err(|e| ProbeError::Handshake(describe_io(&e)))?;
            // With a ticket that allows it the stream is still handshaking: this goes out as
            // 0-RTT data (RFC 8446 §4.2.10), and flushing completes the handshake.
            let offered = tls.get_mut().1.early_data().is_some();
            if offered {
                let request =
                    format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
                tls.write_all(request.as_bytes())
                    .await
                    .map_err(|e| ProbeError::Handshake(describe_io(&e)))?;
                tls.flush()
                    .await
                    .map_err(|e| ProbeError::Handshake(describe_io(&e)))?;
            }
            Ok::<_, ProbeError>((tls, offered))
        })
        .await
        .map_err(|_| ProbeError::Timeout)??;
        let handshake_ms = start.elapsed().as_secs_f64() * 1e3;
        let mut wire_log = std::mem::take(&mut *log.lock().unwrap_or_else(|p| p.into_inner()));
        if wire_log.pending_ccs > 0 {
            let ccs = std::mem::take(&mut wire_log.pending_ccs);
            wire_log.flights.push((true, ccs));
        }
        let connection = tls.get_ref().1;
        let mut outcome = Outcome {
            version: connection.protocol_version(),
            group: connection
                .negotiated_key_exchange_group()
                .map(|group| group.name()),
            suite: connection
                .negotiated_cipher_suite()
                .map(|suite| format!("{:?}", suite.suite())),
            kind: connection.handshake_kind(),
            seen: Seen::default(),
            client_auth: None,
            wire: wire_log,
            connect_ms,
            handshake_ms,
            early_data_offered,
            early_data_accepted: early_data_offered && connection.is_early_data_accepted(),
        };
        if probe.linger {
            // Tickets come after the handshake; a read processes them (none is awaited for
            // longer than a second, or the probe's limit).
            let before = probe
                .store
                .as_ref()
                .map_or(0, |session| session.store.tickets().len());
            let deadline = Instant::now() + self.timeout.min(Duration::from_secs(1));
            let mut buf = [0u8; 4096];
            while Instant::now() < deadline {
                tokio::select! {
                    read = tls.read(&mut buf) => if matches!(read, Ok(0) | Err(_)) { break },
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                let now = probe
                    .store
                    .as_ref()
                    .map_or(0, |session| session.store.tickets().len());
                if now > before {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ =
                        tokio::time::timeout(Duration::from_millis(1), tls.read(&mut buf)).await;
                    break;
                }
            }
        }
        outcome.seen = recorder
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        outcome.client_auth = requested
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let _ = tokio::time::timeout(Duration::from_millis(100), tls.shutdown()).await;
        Ok(outcome)
    }
}

pub(super) fn all_groups() -> Vec<(&'static str, &'static dyn SupportedKxGroup)> {
    qtls_provider::GROUP_NAMES
        .iter()
        .filter_map(|name| {
            qtls_provider::group_by_name(name, qtls_provider::Backend::AwsLc)
                .ok()
                .map(|group| (*name, group))
        })
        .collect()
}

pub(super) fn all_suites() -> Vec<SupportedCipherSuite> {
    rustls::crypto::aws_lc_rs::default_provider().cipher_suites
}

/// The schemes probed one by one: pure ML-DSA, composite, ECDSA, RSA-PSS, Ed25519.
pub(super) fn probed_schemes(code_points: &CodePoints) -> Vec<SignatureScheme> {
    let mut schemes = vec![
        SignatureScheme::ML_DSA_44,
        SignatureScheme::ML_DSA_65,
        SignatureScheme::ML_DSA_87,
    ];
    // The RSASSA-PKCS1-v1_5 composites never sign a CertificateVerify: nothing to probe.
    schemes.extend(
        CompositeAlgorithm::ALL
            .iter()
            .filter(|alg| alg.tls_certificate_verify())
            .map(|alg| SignatureScheme::from(code_points.composite(*alg))),
    );
    schemes.extend([
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureScheme::ECDSA_NISTP384_SHA384,
        SignatureScheme::ECDSA_NISTP521_SHA512,
        SignatureScheme::RSA_PSS_SHA256,
        SignatureScheme::RSA_PSS_SHA384,
        SignatureScheme::RSA_PSS_SHA512,
        SignatureScheme::ED25519,
    ]);
    schemes
}

pub(super) fn version_name(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}
