//! In-process TLS 1.3 resumption through the session stores and the ticketer: one server, and
//! two servers ("node A" and "node B") sharing one Redis or one ticket secret. The Redis
//! tests start their own `redis-server` (skipped without it, except under `CI=true`).

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::redis as redis_support;

use std::sync::Arc;
use std::time::Duration;

use qtls::sessions::{
    FleetSecret, MemorySessionStore, RedisSessionStore, RotatingTicketer, SessionStore,
};
use qtls_pki::{CertificateBuilder, Usage};
use qtls_provider::{Backend, EcCurve, KeyAlgorithm, KeyPair};
use redis_support::{RedisCluster, RedisServer};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ProducesTickets, StoresServerSessions};
use rustls::ServerConnection;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, ServerConfig};
use time::OffsetDateTime;

struct Pki {
    root: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

fn pki() -> Pki {
    let now = OffsetDateTime::now_utc();
    let (from, to) = (
        now - time::Duration::hours(1),
        now + time::Duration::days(1),
    );
    let alg = KeyAlgorithm::Ecdsa(EcCurve::P384);
    let root = qtls_test_support::pki::ca_valid(
        alg,
        Usage::RootCa,
        "Sessions Test Root",
        None,
        (from, to),
    );
    let leaf_key = KeyPair::generate(alg, Backend::AwsLc).unwrap();
    let leaf = CertificateBuilder::new(Usage::ServerLeaf, "localhost")
        .validity(from, to)
        .dns_names(["localhost"])
        .signed_by(&leaf_key, &root)
        .unwrap();
    Pki {
        root: root.certificate().to_certificate_der(),
        chain: vec![leaf.to_certificate_der()],
        key: leaf_key.to_pkcs8_der().unwrap().to_vec(),
    }
}

/// A server ("node") with the given session store and ticketer.
fn server(
    pki: &Pki,
    store: Arc<dyn StoresServerSessions>,
    ticketer: Option<Arc<dyn ProducesTickets>>,
) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(qtls_provider::hybrid()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), key)
        .unwrap();
    config.session_storage = store;
    if let Some(ticketer) = ticketer {
        config.ticketer = ticketer;
    }
    Arc::new(config)
}

/// A client with rustls's default resumption (an in-memory cache of tickets).
fn client(pki: &Pki) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.root.clone()).unwrap();
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(qtls_provider::hybrid()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Connects `client` to `server` in memory, lets the server's tickets reach the client, and
/// returns how the handshake went (the client and the server agree).
fn connect(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) -> HandshakeKind {
    let mut c = ClientConnection::new(Arc::clone(client), "localhost".try_into().unwrap()).unwrap();
    let mut s = ServerConnection::new(Arc::clone(server)).unwrap();
    qtls_test_support::handshake::drive_ok(&mut c, &mut s);
    assert!(!c.is_handshaking() && !s.is_handshaking());
    let kind = s.handshake_kind().unwrap();
    assert_eq!(c.handshake_kind(), Some(kind));
    kind
}

#[test]
fn memory_store_resumes() {
    let pki = pki();
    // As a server holds it: `Arc<dyn SessionStore>`, handed to rustls as
    // `Arc<dyn StoresServerSessions>` (trait upcasting).
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(64));
    let server = server(&pki, store.clone(), None);
    let client = client(&pki);
    assert_eq!(connect(&client, &server), HandshakeKind::Full);
    assert_eq!(connect(&client, &server), HandshakeKind::Resumed);
    let stats = store.stats();
    assert_eq!(stats.hits, 1, "{stats:?}");
    // rustls sends two tickets per connection; one was taken.
    assert!(stats.stored >= 2, "{stats:?}");
    // A client with no session makes a full handshake.
    assert_eq!(connect(&self::client(&pki), &server), HandshakeKind::Full);
}

#[test]
fn ticketers_resume_and_fleet_tickets_cross_nodes() {
    let pki = pki();
    let no_store = || Arc::new(MemorySessionStore::new(0));

    let single = server(
        &pki,
        no_store(),
        Some(RotatingTicketer::random().build().unwrap()),
    );
    let client_1 = client(&pki);
    assert_eq!(connect(&client_1, &single), HandshakeKind::Full);
    assert_eq!(connect(&client_1, &single), HandshakeKind::Resumed);

    let secret = FleetSecret::generate().unwrap();
    let fleet = |secret: FleetSecret| {
        server(
            &pki,
            no_store(),
            Some(RotatingTicketer::fleet(secret).build().unwrap()),
        )
    };
    let (node_a, node_b) = (fleet(secret.clone()), fleet(secret));
    let client_2 = client(&pki);
    assert_eq!(connect(&client_2, &node_a), HandshakeKind::Full);
    assert_eq!(connect(&client_2, &node_b), HandshakeKind::Resumed);

    // A node with another secret cannot read the ticket: a full handshake, not a failure.
    let stranger = fleet(FleetSecret::generate().unwrap());
    let client_3 = client(&pki);
    assert_eq!(connect(&client_3, &node_a), HandshakeKind::Full);
    assert_eq!(connect(&client_3, &stranger), HandshakeKind::Full);
}

fn redis_nodes(
    pki: &Pki,
    target: &str,
) -> (
    Arc<RedisSessionStore>,
    Arc<RedisSessionStore>,
    [Arc<ServerConfig>; 2],
) {
    let secret = FleetSecret::generate().unwrap();
    let store = || {
        RedisSessionStore::builder(target.parse().unwrap(), secret.clone())
            .op_timeout(Duration::from_millis(500))
            .build()
            .unwrap()
    };
    let (a, b) = (store(), store());
    let nodes = [server(pki, a.clone(), None), server(pki, b.clone(), None)];
    (a, b, nodes)
}

#[test]
fn redis_store_resumes_across_nodes_and_survives_redis_going_away() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let pki = pki();
    let (store_a, store_b, [node_a, node_b]) = redis_nodes(&pki, &redis.url());
    let client = client(&pki);
    assert_eq!(connect(&client, &node_a), HandshakeKind::Full);
    assert_eq!(connect(&client, &node_b), HandshakeKind::Resumed);
    assert_eq!(store_b.stats().hits, 1);

    // Redis gone: handshakes still succeed, as full ones.
    redis.stop();
    let other = self::client(&pki);
    assert_eq!(connect(&other, &node_a), HandshakeKind::Full);
    assert_eq!(connect(&other, &node_b), HandshakeKind::Full);
    assert!(store_a.stats().store_errors > 0);

    // Back: resumption comes back.
    redis.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let again = self::client(&pki);
        assert_eq!(connect(&again, &node_a), HandshakeKind::Full);
        if connect(&again, &node_b) == HandshakeKind::Resumed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "resumption did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn redis_cluster_store_resumes_across_nodes() {
    let Some(cluster) = RedisCluster::start(3) else {
        return;
    };
    let pki = pki();
    let (_, store_b, [node_a, node_b]) = redis_nodes(&pki, &cluster.target_through(&[0, 1, 2]));
    for _ in 0..5 {
        let client = client(&pki);
        assert_eq!(connect(&client, &node_a), HandshakeKind::Full);
        assert_eq!(connect(&client, &node_b), HandshakeKind::Resumed);
    }
    assert_eq!(store_b.stats().hits, 5);
}

/// A ticketer that flips one bit of every ticket it is asked to decrypt (a ticket tampered
/// with on the way), then hands it to the real one.
#[derive(Debug)]
struct Tampering(Arc<RotatingTicketer>, usize);

impl ProducesTickets for Tampering {
    fn enabled(&self) -> bool {
        true
    }
    fn lifetime(&self) -> u32 {
        self.0.lifetime()
    }
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.0.encrypt(plain)
    }
    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let mut ticket = ticket.to_vec();
        let bit = self.1 % (ticket.len() * 8);
        ticket[bit / 8] ^= 1 << (bit % 8);
        self.0.decrypt(&ticket)
    }
}

#[test]
fn ticket_rotation_in_handshakes() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let pki = pki();
    let period = 60;
    let now = Arc::new(AtomicU64::new(1_800_000_000));
    let clock = Arc::clone(&now);
    let ticketer = RotatingTicketer::fleet(FleetSecret::generate().unwrap())
        .rotation_period(Duration::from_secs(period))
        .clock(move || clock.load(Ordering::Relaxed))
        .build()
        .unwrap();
    let node = server(
        &pki,
        Arc::new(MemorySessionStore::new(0)),
        Some(ticketer.clone()),
    );

    // A ticket from the previous period resumes.
    let client_1 = client(&pki);
    assert_eq!(connect(&client_1, &node), HandshakeKind::Full);
    now.fetch_add(period, Ordering::Relaxed);
    assert_eq!(connect(&client_1, &node), HandshakeKind::Resumed);

    // One from two periods back does a full handshake.
    let client_2 = client(&pki);
    assert_eq!(connect(&client_2, &node), HandshakeKind::Full);
    now.fetch_add(2 * period, Ordering::Relaxed);
    assert_eq!(connect(&client_2, &node), HandshakeKind::Full);

    // A tampered ticket does a full handshake (a bit in the header, the ciphertext, the tag).
    for bit in [3, 8 * 12, 8 * 40 + 5, usize::MAX] {
        let tampering = server(
            &pki,
            Arc::new(MemorySessionStore::new(0)),
            Some(Arc::new(Tampering(ticketer.clone(), bit))),
        );
        let client_3 = client(&pki);
        assert_eq!(connect(&client_3, &node), HandshakeKind::Full);
        assert_eq!(
            connect(&client_3, &tampering),
            HandshakeKind::Full,
            "bit {bit}"
        );
        assert_eq!(connect(&client_3, &node), HandshakeKind::Resumed);
    }
}

/// A ticket is refused once it is older than the lifetime the server announced for it
/// (RFC 8446 §4.6.1), even while its key is still kept (the previous period's).
#[test]
fn tickets_older_than_their_lifetime_do_a_full_handshake() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let pki = pki();
    let period = 60;
    // The middle of a period: the ticket's key stays for the rest of this period and the
    // whole next one, 90 s in all, but the announced lifetime is 60 s.
    let now = Arc::new(AtomicU64::new(1_800_000_030));
    let clock = Arc::clone(&now);
    let ticketer = RotatingTicketer::fleet(FleetSecret::generate().unwrap())
        .rotation_period(Duration::from_secs(period))
        .clock(move || clock.load(Ordering::Relaxed))
        .build()
        .unwrap();
    assert_eq!(ticketer.lifetime(), 60);
    let node = server(
        &pki,
        Arc::new(MemorySessionStore::new(0)),
        Some(ticketer.clone()),
    );
    let young = client(&pki);
    let old = client(&pki);
    assert_eq!(connect(&young, &node), HandshakeKind::Full);
    assert_eq!(connect(&old, &node), HandshakeKind::Full);
    // 59 s later (the next period): within the lifetime, it resumes.
    now.fetch_add(59, Ordering::Relaxed);
    assert_eq!(connect(&young, &node), HandshakeKind::Resumed);
    // 75 s after issue, still in the period after the one that issued it: refused.
    now.fetch_add(16, Ordering::Relaxed);
    assert_eq!(connect(&old, &node), HandshakeKind::Full);
    assert!(ticketer.stats().rejected() >= 1, "{:?}", ticketer.stats());
}
