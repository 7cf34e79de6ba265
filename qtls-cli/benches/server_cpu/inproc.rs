//! The in-process baseline: the server side of the same handshakes as `qtls server`'s, with
//! no sockets, no runtime and no application, so that the process figures can be divided by
//! what the handshake itself costs (issue #13 part 4).
//!
//! The server configuration is built the way `qtls server --preset hybrid` builds its own
//! (`qtls::server_config` over a `CertificateSet` of the PKI's `server-chain.pem` and
//! `server.key`, a `MemorySessionStore`, rustls's two tickets per handshake); the client is
//! Q-TLS's provider offering only SecP384r1MLKEM1024 and trusting the PKI's root. Client and
//! server run in this thread with records moved through memory
//! (`qtls_test_support::handshake`); only the server connection's creation and calls are
//! timed, on a CPU (`OnCpu`: the thread's waits for a CPU left out).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use qtls::{CertificateSet, Identity, ServedCertificate, TlsSettings};
use qtls_provider::{Backend, CodePoints, Preset};
use qtls_test_support::bench::OnCpu;
use qtls_test_support::handshake::drive_ok;
use rustls::client::Resumption;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, ServerConfig, ServerConnection};

use crate::GROUP;

/// Client configurations for full and for resumed handshakes, and the server's.
pub(crate) struct Baseline {
    full_client: Arc<ClientConfig>,
    resuming_client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

impl Baseline {
    /// The configurations of the PKI in `pki` (as `qtls pki init` writes it).
    pub(crate) fn new(pki: &Path) -> Self {
        let settings = TlsSettings {
            preset: Preset::Hybrid,
            backend: Backend::AwsLc,
            code_points: CodePoints::default(),
            groups: Vec::new(),
            cipher_suites: Vec::new(),
        };
        let provider = settings.provider().unwrap();
        let identity = Identity::from_pem_files(
            &pki.join("server-chain.pem"),
            &pki.join("server.key"),
            &provider,
            &settings,
        )
        .unwrap();
        let served = Arc::new(ServedCertificate::new(
            "server-chain.pem",
            Arc::clone(&identity.certified_key),
            identity.scheme,
            &settings.code_points,
        ));
        let certificates = Arc::new(CertificateSet::new(vec![served], false));
        let mut server = qtls::server_config(&settings, certificates, None).unwrap();
        server.session_storage = Arc::new(qtls::sessions::MemorySessionStore::with_max_bytes(
            qtls::sessions::MemorySessionStore::DEFAULT_MAX_BYTES,
        ));

        let client_provider = qtls_test_support::stock::hybrid_provider(GROUP);
        let roots = qtls::read_roots(&pki.join("root.pem")).unwrap();
        let client = |resumption: Resumption| {
            let mut config = ClientConfig::builder_with_provider(Arc::clone(&client_provider))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            config.resumption = resumption;
            Arc::new(config)
        };
        Self {
            full_client: client(Resumption::disabled()),
            resuming_client: client(Resumption::in_memory_sessions(64)),
            server: Arc::new(server),
        }
    }

    /// Server time on a CPU per full handshake, over `n` handshakes.
    pub(crate) fn full_us(&self, n: usize) -> f64 {
        per_handshake_us(n, || {
            self.handshake(&self.full_client, Some(HandshakeKind::Full))
        })
    }

    /// Server time on a CPU per resumed handshake (stateful, from the memory store, issuing
    /// two new sessions), over `n` handshakes.
    pub(crate) fn resumed_us(&self, n: usize) -> f64 {
        // A first full handshake leaves the client its sessions; each resumption then
        // takes one and is issued two more.
        // (From the second call on, that one resumes as well.)
        self.handshake(&self.resuming_client, None);
        per_handshake_us(n, || {
            self.handshake(&self.resuming_client, Some(HandshakeKind::Resumed))
        })
    }

    fn handshake(&self, client: &Arc<ClientConfig>, expected: Option<HandshakeKind>) -> Duration {
        let mut client =
            ClientConnection::new(Arc::clone(client), "localhost".try_into().unwrap()).unwrap();
        let started = OnCpu::start();
        let mut server = ServerConnection::new(Arc::clone(&self.server)).unwrap();
        let created = started.elapsed();
        let exchanged = drive_ok(&mut client, &mut server);
        if let Some(expected) = expected {
            assert_eq!(server.handshake_kind(), Some(expected));
        }
        assert_eq!(
            server.negotiated_key_exchange_group().map(|g| g.name()),
            client.negotiated_key_exchange_group().map(|g| g.name())
        );
        created + exchanged
    }
}

fn per_handshake_us(n: usize, mut handshake: impl FnMut() -> Duration) -> f64 {
    let total: Duration = (0..n.max(1)).map(|_| handshake()).sum();
    total.as_secs_f64() * 1e6 / n.max(1) as f64
}
