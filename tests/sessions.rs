//! Session stores and ticket keys against real Redis servers and a real Redis Cluster that the
//! tests start themselves (skipped without `redis-server`, except under `CI=true`).

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::redis as redis_support;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use qtls::sessions::{
    FleetSecret, MemorySessionStore, RedisSessionStore, RotatingTicketer, SessionStore,
};
use redis_support::{RedisCluster, RedisServer};
use rustls::server::{ProducesTickets, StoresServerSessions};

fn secret(byte: u8) -> FleetSecret {
    FleetSecret::from_bytes(&[byte; 32]).unwrap()
}

fn id(n: u32) -> Vec<u8> {
    let mut id = vec![0x5a; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id
}

fn redis_store(target: &str, secret: FleetSecret) -> Arc<RedisSessionStore> {
    RedisSessionStore::builder(target.parse().unwrap(), secret)
        .build()
        .unwrap()
}

// ---------------------------------------------------------------- memory store

#[test]
fn memory_put_get_take_is_single_use() {
    let store = MemorySessionStore::new(16);
    assert!(store.can_cache());
    assert!(store.put(id(1), b"one".to_vec()));
    assert_eq!(store.get(&id(1)).unwrap(), b"one");
    assert_eq!(store.get(&id(1)).unwrap(), b"one");
    assert_eq!(store.take(&id(1)).unwrap(), b"one");
    assert_eq!(store.take(&id(1)), None);
    assert_eq!(store.get(&id(1)), None);
    assert_eq!(store.get(&id(2)), None);
    let stats = store.stats();
    assert_eq!((stats.stored, stats.hits, stats.misses_absent), (1, 3, 3));
}

#[test]
fn memory_take_races_have_one_winner() {
    let store = Arc::new(MemorySessionStore::new(1024));
    for round in 0..50 {
        assert!(store.put(id(round), b"s".to_vec()));
        let barrier = Arc::new(Barrier::new(8));
        let winners: usize = (0..8)
            .map(|_| {
                let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    store.take(&id(round)).is_some()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(winners, 1, "round {round}");
    }
}

#[test]
fn memory_sessions_expire() {
    let store = MemorySessionStore::new(16).with_lifetime(Duration::from_millis(150));
    assert!(store.put(id(1), b"one".to_vec()));
    assert!(store.get(&id(1)).is_some());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(store.get(&id(1)), None);
    assert!(store.put(id(2), b"two".to_vec()));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(store.take(&id(2)), None);
    assert_eq!(store.stats().misses_absent, 2);
}

#[test]
fn memory_capacity_is_a_bound() {
    let store = MemorySessionStore::new(3);
    for n in 0..5 {
        assert!(store.put(id(n), vec![n as u8]));
        assert!(store.len() <= 3);
    }
    assert_eq!(store.get(&id(0)), None);
    assert_eq!(store.get(&id(1)), None);
    for n in 2..5 {
        assert_eq!(store.get(&id(n)).unwrap(), [n as u8]);
    }
    assert_eq!(store.stats().evicted, 2);
    // Expired sessions make room before live ones are evicted.
    let store = MemorySessionStore::new(2).with_lifetime(Duration::from_millis(100));
    store.put(id(1), vec![1]);
    store.put(id(2), vec![2]);
    std::thread::sleep(Duration::from_millis(150));
    store.put(id(3), vec![3]);
    assert_eq!(store.len(), 1);
    assert_eq!(store.stats().evicted, 0);
}

/// One client making many small sessions (10,000 full handshakes) cannot flush a session
/// stored before: the default store is bounded by bytes, and these fit well within it.
#[test]
fn memory_flood_of_small_sessions_evicts_no_earlier_session() {
    let store = MemorySessionStore::default();
    assert!(store.put(b"victim".to_vec(), vec![7; 200]));
    for n in 0..10_000 {
        assert!(store.put(id(n), vec![1; 8]));
    }
    assert_eq!(store.get(b"victim").unwrap(), vec![7; 200]);
    assert_eq!(store.stats().evicted, 0);
}

/// The bound is bytes (key and value): a flood evicts the oldest sessions, and only as many
/// bytes of them as it stores beyond the bound; one oversized session is refused outright.
#[test]
fn memory_store_bound_is_bytes_and_entries_have_a_size_cap() {
    let store = MemorySessionStore::with_max_bytes(10_000);
    assert_eq!(store.max_bytes(), 10_000);
    // Five sessions of 1,000 bytes each (a 32-byte key and a 968-byte value)...
    for n in 0..5 {
        assert!(store.put(id(n), vec![0; 968]));
    }
    // ... and a flood of five more fills the bound without evicting any.
    for n in 100..105 {
        assert!(store.put(id(n), vec![1; 968]));
    }
    assert_eq!(
        (store.len(), store.bytes(), store.stats().evicted),
        (10, 10_000, 0)
    );
    // 3,000 bytes more evict exactly the three oldest sessions.
    for n in 200..203 {
        assert!(store.put(id(n), vec![2; 968]));
    }
    assert_eq!(store.stats().evicted, 3);
    assert!(store.bytes() <= 10_000);
    for n in 0..3 {
        assert_eq!(store.get(&id(n)), None);
    }
    for n in (3..5).chain(100..105).chain(200..203) {
        assert!(store.get(&id(n)).is_some(), "session {n}");
    }
    // Many small sessions take the room of few big ones: 1,000 of 10 bytes fit in the same
    // bound that held ten of 1,000.
    let small = MemorySessionStore::with_max_bytes(10_000);
    for n in 0..1_000u32 {
        assert!(small.put(n.to_be_bytes().to_vec(), vec![0; 6]));
    }
    assert_eq!((small.len(), small.stats().evicted), (1_000, 0));
    // A session over the per-entry cap is not stored and evicts nothing.
    let big = MemorySessionStore::with_max_bytes(1 << 20);
    assert!(big.put(id(1), vec![0; 100]));
    let cap = qtls::sessions::MAX_SESSION_BYTES;
    assert!(!big.put(id(2), vec![0; cap - 31]));
    assert!(big.put(id(3), vec![0; cap - 32]));
    assert!(big.get(&id(1)).is_some());
    assert_eq!(big.get(&id(2)), None);
    assert_eq!(big.stats().not_stored, 1);
    // A bound smaller than one session stores nothing.
    assert!(!MemorySessionStore::with_max_bytes(0).can_cache());
}

// ---------------------------------------------------------------- Redis store

#[test]
fn redis_session_put_on_one_node_is_taken_once_on_another() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = redis_store(&redis.url(), secret(1));
    let b = redis_store(&redis.url(), secret(1));
    assert!(a.ping().is_ok());
    assert!(a.put(id(1), b"session one".to_vec()));
    assert_eq!(b.get(&id(1)).unwrap(), b"session one");
    assert_eq!(b.take(&id(1)).unwrap(), b"session one");
    assert_eq!(b.take(&id(1)), None);
    assert_eq!(a.take(&id(1)), None);
    assert_eq!(a.get(&id(1)), None);
    assert_eq!(b.get(&id(2)), None);
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.stored, sa.hits, sa.misses_absent), (1, 0, 2));
    assert_eq!((sb.hits, sb.misses_absent, sb.store_errors), (2, 2, 0));
    // The key is the prefix and the hex identifier.
    let mut conn = redis.connection();
    assert!(a.put(id(3), b"x".to_vec()));
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("qtls:session:{}", hex::encode(id(3))))
        .query(&mut conn)
        .unwrap();
    assert!(exists);
}

/// A Redis value is capped like a memory entry: a session over
/// [`qtls::sessions::MAX_SESSION_BYTES`] is not stored, so no client can make one entry
/// cost Redis more than that (and the TTL bounds how long).
#[test]
fn redis_sessions_over_the_size_cap_are_not_stored() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = redis_store(&redis.url(), secret(1));
    let cap = qtls::sessions::MAX_SESSION_BYTES;
    assert!(store.put(id(1), vec![3; cap - 32]));
    assert!(!store.put(id(2), vec![3; cap - 31]));
    assert!(!store.put(id(3), vec![3; 4 << 20]));
    assert_eq!(store.get(&id(1)).unwrap().len(), cap - 32);
    assert_eq!(store.get(&id(2)), None);
    let mut conn = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("qtls:session:*")
        .query(&mut conn)
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(store.stats().not_stored, 2);
}

#[test]
fn redis_concurrent_takes_from_many_threads_have_one_winner() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let stores = [
        redis_store(&redis.url(), secret(1)),
        redis_store(&redis.url(), secret(1)),
    ];
    for round in 0..20 {
        assert!(stores[0].put(id(round), b"s".to_vec()));
        let threads = 16;
        let barrier = Arc::new(Barrier::new(threads));
        let winners: usize = (0..threads)
            .map(|t| {
                let store = Arc::clone(&stores[t % 2]);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    store.take(&id(round)).is_some()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(winners, 1, "round {round}");
    }
    let errors: u64 = stores.iter().map(|s| s.stats().store_errors).sum();
    assert_eq!(errors, 0);
}

#[test]
fn redis_keys_get_the_session_lifetime_as_ttl() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut conn = redis.connection();
    let default = redis_store(&redis.url(), secret(1));
    assert!(default.put(id(1), b"s".to_vec()));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(default.redis_key(&id(1)))
        .query(&mut conn)
        .unwrap();
    assert!(
        (86_390_000..=86_400_000).contains(&pttl),
        "24 h by default, PTTL {pttl}"
    );

    let short = RedisSessionStore::builder(redis.url().parse().unwrap(), secret(1))
        .lifetime(Duration::from_millis(300))
        .key_prefix("other:")
        .build()
        .unwrap();
    assert!(short.put(id(2), b"s".to_vec()));
    let key = short.redis_key(&id(2));
    assert!(key.starts_with("other:"));
    let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).unwrap();
    assert!((1..=300).contains(&pttl), "PTTL {pttl}");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(short.take(&id(2)), None);
}

#[test]
fn redis_corrupt_and_foreign_entries_are_ignored() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut conn = redis.connection();
    let ours = redis_store(&redis.url(), secret(1));
    let foreign = redis_store(&redis.url(), secret(2));

    // Garbage written straight into Redis under a session key.
    let () = redis::cmd("SET")
        .arg(ours.redis_key(&id(1)))
        .arg(b"not a session".as_slice())
        .query(&mut conn)
        .unwrap();
    assert_eq!(ours.get(&id(1)), None);
    assert_eq!(ours.take(&id(1)), None);

    // A real value with one byte flipped.
    assert!(ours.put(id(2), b"session two".to_vec()));
    let key = ours.redis_key(&id(2));
    let mut value: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
    *value.last_mut().unwrap() ^= 0x01;
    let () = redis::cmd("SET")
        .arg(&key)
        .arg(&value)
        .query(&mut conn)
        .unwrap();
    assert_eq!(ours.take(&id(2)), None);

    // A value moved to another session's key.
    assert!(ours.put(id(3), b"session three".to_vec()));
    let value: Vec<u8> = redis::cmd("GET")
        .arg(ours.redis_key(&id(3)))
        .query(&mut conn)
        .unwrap();
    let () = redis::cmd("SET")
        .arg(ours.redis_key(&id(4)))
        .arg(&value)
        .query(&mut conn)
        .unwrap();
    assert_eq!(ours.take(&id(4)), None);
    assert_eq!(ours.take(&id(3)).unwrap(), b"session three");

    // Another fleet's entry (another secret), under the same prefix.
    assert!(foreign.put(id(5), b"theirs".to_vec()));
    assert_eq!(ours.take(&id(5)), None);

    let stats = ours.stats();
    assert_eq!(stats.misses_corrupt, 5, "{stats:?}");
    assert_eq!(stats.hits, 1);
    assert_eq!(stats.store_errors, 0);
}

/// Collects what `tracing` logs on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn capture<T>(f: impl FnOnce() -> T) -> (T, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    (result, captured.text())
}

#[test]
fn redis_down_means_misses_within_the_timeout_and_it_comes_back() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let a = redis_store(&redis.url(), secret(1));
    let b = redis_store(&redis.url(), secret(1));
    assert!(a.put(id(1), b"before".to_vec()));

    redis.stop();
    let (_, log) = capture(|| {
        for round in 0..3 {
            let start = Instant::now();
            assert!(!a.put(id(10 + round), b"during".to_vec()));
            assert_eq!(b.get(&id(1)), None);
            assert_eq!(b.take(&id(1)), None);
            let elapsed = start.elapsed();
            assert!(elapsed < Duration::from_secs(1), "{elapsed:?} for 3 ops");
        }
    });
    assert!(
        log.contains("WARN") && log.contains("session store: Redis"),
        "a warning: {log}"
    );
    // Rate-limited: one warning per store, not one per operation.
    assert_eq!(log.matches("WARN").count(), 2, "{log}");
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.not_stored, sa.store_errors), (3, 3));
    assert_eq!((sb.misses_store_error, sb.store_errors), (6, 6));
    assert!(a.ping().is_err());

    // Back on the same port (empty: nothing was saved): the stores reconnect by themselves.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !a.put(id(20), b"after".to_vec()) {
        assert!(Instant::now() < deadline, "the store did not reconnect");
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = b.take(&id(20)) {
            assert_eq!(v, b"after");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other store did not reconnect"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `check` for at most 5 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn redis_puts_that_are_not_waited_for_are_counted_when_redis_answers() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let a = RedisSessionStore::builder(redis.url().parse().unwrap(), secret(1))
        .wait_for_puts(false)
        .build()
        .unwrap();
    let b = redis_store(&redis.url(), secret(1));
    assert!(a.put(id(1), b"queued".to_vec()));
    eventually("stored", || a.stats().stored == 1);
    assert_eq!(b.take(&id(1)).unwrap(), b"queued");

    redis.stop();
    let start = Instant::now();
    assert!(a.put(id(2), b"lost".to_vec()), "queued, so true");
    assert!(start.elapsed() < Duration::from_millis(50));
    eventually("counted as not stored", || {
        let stats = a.stats();
        stats.not_stored == 1 && stats.store_errors == 1
    });
    assert_eq!(a.stats().stored, 1);
}

#[test]
fn redis_slow_means_a_miss_after_the_timeout() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = RedisSessionStore::builder(redis.url().parse().unwrap(), secret(1))
        .op_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    assert!(store.put(id(1), b"s".to_vec()));
    // Redis holds every client's commands for 600 ms.
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600)
        .arg("ALL")
        .query(&mut redis.connection())
        .unwrap();
    let start = Instant::now();
    assert_eq!(store.get(&id(1)), None);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(90) && elapsed < Duration::from_millis(400),
        "{elapsed:?}"
    );
    assert_eq!(store.stats().misses_store_error, 1);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(store.take(&id(1)).unwrap(), b"s");
}

#[test]
fn redis_store_works_from_inside_tokio_runtimes() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let store = redis_store(&redis.url(), secret(1));
    // As tokio-rustls calls it: on a worker of a multi-threaded runtime (block_in_place), and
    // on a current-thread runtime.
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = Arc::clone(&store);
    let task = multi.spawn(async move {
        assert!(s.put(id(1), b"m".to_vec()));
        assert_eq!(s.take(&id(1)).unwrap(), b"m");
    });
    multi.block_on(task).unwrap();
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = Arc::clone(&store);
    current.block_on(async move {
        assert!(s.put(id(2), b"c".to_vec()));
        assert_eq!(s.take(&id(2)).unwrap(), b"c");
    });
    // Down: the worker is held for at most the timeout, and other tasks keep running.
    redis.stop();
    let s = Arc::clone(&store);
    let ticks = Arc::new(AtomicU64::new(0));
    let t = Arc::clone(&ticks);
    multi.block_on(async move {
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                t.fetch_add(1, Ordering::Relaxed);
            }
        });
        let lookups = (0..4).map(|n| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                let start = Instant::now();
                assert_eq!(s.take(&id(100 + n)), None);
                start.elapsed()
            })
        });
        for lookup in lookups.collect::<Vec<_>>() {
            assert!(lookup.await.unwrap() < Duration::from_secs(1));
        }
        ticker.abort();
    });
    assert!(ticks.load(Ordering::Relaxed) > 0);
}

#[test]
fn redis_cluster_session_put_on_one_node_is_taken_once_on_another() {
    let Some(cluster) = RedisCluster::start(3) else {
        return;
    };
    let a = redis_store(&cluster.target_through(&[0, 1, 2]), secret(1));
    let b = redis_store(&cluster.target_through(&[2]), secret(1));
    let start = Instant::now();
    while a.ping().is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "cluster ping");
        std::thread::sleep(Duration::from_millis(100));
    }
    for n in 0..30 {
        assert!(a.put(id(n), format!("session {n}").into_bytes()), "put {n}");
    }
    // Spread over the slots of more than one node.
    let counts = cluster.key_counts();
    assert_eq!(counts.iter().sum::<u64>(), 30);
    assert!(counts.iter().filter(|&&c| c > 0).count() >= 2, "{counts:?}");
    for n in 0..30 {
        assert_eq!(b.take(&id(n)).unwrap(), format!("session {n}").into_bytes());
        assert_eq!(b.take(&id(n)), None);
        assert_eq!(a.take(&id(n)), None);
    }
    // Races across the two nodes' stores still have one winner.
    let stores = [a, b];
    for round in 100..110 {
        assert!(stores[0].put(id(round), b"s".to_vec()));
        let barrier = Arc::new(Barrier::new(8));
        let winners: usize = (0..8)
            .map(|t| {
                let store = Arc::clone(&stores[t % 2]);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    store.take(&id(round)).is_some()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(winners, 1, "round {round}");
    }
    let stats = stores[1].stats();
    assert_eq!(stats.store_errors, 0, "{stats:?}");
}

// ---------------------------------------------------------------- tickets

fn secret_file(content: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content).unwrap();
    f
}

/// A clock the test moves by hand.
fn clock(start: u64) -> (Arc<AtomicU64>, impl Fn() -> u64 + Send + Sync + 'static) {
    let now = Arc::new(AtomicU64::new(start));
    let read = Arc::clone(&now);
    (now, move || read.load(Ordering::Relaxed))
}

#[test]
fn tickets_round_trip_and_cross_nodes_sharing_a_secret_file() {
    let file = secret_file(format!("{}\n", "3c".repeat(32)).as_bytes());
    let a = RotatingTicketer::fleet(FleetSecret::from_file(file.path()).unwrap())
        .build()
        .unwrap();
    let b = RotatingTicketer::fleet(FleetSecret::from_file(file.path()).unwrap())
        .build()
        .unwrap();
    assert!(a.enabled());
    assert_eq!(a.lifetime(), 24 * 3600);
    let plain = b"session state".to_vec();
    let ticket = a.encrypt(&plain).unwrap();
    assert_eq!(a.decrypt(&ticket).unwrap(), plain);
    assert_eq!(b.decrypt(&ticket).unwrap(), plain);
    // Fresh nonces: the same plaintext never makes the same ticket.
    assert_ne!(a.encrypt(&plain).unwrap(), ticket);
    // The header: version 2, the period number as the key id, then the issue time.
    assert_eq!(ticket[0], 2);
    assert_eq!(
        u64::from_be_bytes(ticket[1..9].try_into().unwrap()),
        a.current_period()
    );
    let issued = u64::from_be_bytes(ticket[9..17].try_into().unwrap());
    assert_eq!(issued / (24 * 3600), a.current_period());
}

#[test]
fn tickets_rotate_previous_period_accepted_older_rejected() {
    let period = 60;
    let (now, clock_a) = clock(1_700_000_000);
    let read = Arc::clone(&now);
    let a = RotatingTicketer::fleet(secret(7))
        .rotation_period(Duration::from_secs(period))
        .clock(clock_a)
        .build()
        .unwrap();
    let b = RotatingTicketer::fleet(secret(7))
        .rotation_period(Duration::from_secs(period))
        .clock(move || read.load(Ordering::Relaxed))
        .build()
        .unwrap();
    assert_eq!(a.lifetime(), 60);

    let old = a.encrypt(b"old").unwrap();
    now.fetch_add(period, Ordering::Relaxed); // the next period
    assert_eq!(a.decrypt(&old).unwrap(), b"old");
    assert_eq!(b.decrypt(&old).unwrap(), b"old");
    let newer = b.encrypt(b"newer").unwrap();
    assert_ne!(old[1..9], newer[1..9], "a new key id");

    now.fetch_add(period, Ordering::Relaxed); // two periods after `old`
    assert_eq!(a.decrypt(&old), None);
    assert_eq!(b.decrypt(&old), None);
    assert_eq!(a.decrypt(&newer).unwrap(), b"newer");

    // A ticket from a period that has not started (a node whose clock runs ahead).
    now.fetch_add(period, Ordering::Relaxed);
    let future = a.encrypt(b"future").unwrap();
    now.fetch_sub(period, Ordering::Relaxed);
    assert_eq!(b.decrypt(&future), None);
}

#[test]
fn tickets_tampered_anywhere_or_under_another_secret_do_not_decrypt() {
    let a = RotatingTicketer::fleet(secret(7)).build().unwrap();
    let ticket = a.encrypt(b"tamper with me").unwrap();
    for bit in 0..ticket.len() * 8 {
        let mut t = ticket.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(a.decrypt(&t), None, "bit {bit} flipped");
    }
    assert_eq!(a.decrypt(&ticket[..ticket.len() - 1]), None);
    let mut longer = ticket.clone();
    longer.push(0);
    assert_eq!(a.decrypt(&longer), None);

    let other = RotatingTicketer::fleet(secret(8)).build().unwrap();
    assert_eq!(other.decrypt(&ticket), None);
    let random = RotatingTicketer::random().build().unwrap();
    assert_eq!(random.decrypt(&ticket), None);
    assert_eq!(a.decrypt(&random.encrypt(b"x").unwrap()), None);
    // Another rotation length derives other keys.
    let hourly = RotatingTicketer::fleet(secret(7))
        .rotation_period(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert_eq!(hourly.decrypt(&ticket), None);
}

#[test]
fn ticket_secret_files_that_are_short_or_empty_are_refused() {
    for (content, says) in [
        (b"".to_vec(), "empty"),
        (vec![1u8; 16], "16 bytes"),
        ("ab".repeat(16).into_bytes(), "16 bytes of hex"),
    ] {
        let file = secret_file(&content);
        let err = FleetSecret::from_file(file.path()).unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
        assert!(err.contains(&file.path().display().to_string()), "{err}");
    }
    assert!(FleetSecret::from_file(secret_file(&[0xa5u8; 32]).path()).is_ok());
}
