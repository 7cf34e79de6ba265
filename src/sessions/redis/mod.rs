//! The fleet's session store: Redis or Redis Cluster.

mod connection;
mod sealing;
mod target;
mod worker;

use core::fmt;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{RandomizedNonceKey, AES_256_GCM_SIV};
use redis::Value;
use rustls::server::StoresServerSessions;
use tokio::sync::mpsc;

use self::connection::{Direct, Failure, Op};
use self::sealing::{Unusable, VALUE_KEY_LABEL};
pub use self::target::RedisTarget;
use self::worker::{worker, Connector, Reply, Request};
use super::warn_limiter::WarnLimiter;
use super::{
    Counters, FleetSecret, Outcome, SessionStore, SessionStoreStats, DEFAULT_SESSION_LIFETIME,
};
use crate::Error;

/// The environment variable `qtls server` reads the Redis password from when no password file
/// is given: unlike a password in the address, it does not show in `ps`.
pub const REDIS_PASSWORD_ENV: &str = "QTLS_REDIS_PASSWORD";

/// At most one warning of each kind per this interval.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Builds a [`RedisSessionStore`]; see [`RedisSessionStore::builder`].
#[derive(Debug)]
pub struct RedisStoreBuilder {
    target: RedisTarget,
    secret: FleetSecret,
    key_prefix: String,
    lifetime: Duration,
    op_timeout: Duration,
    connect_timeout: Duration,
    max_pending: usize,
    wait_for_puts: bool,
}

impl RedisStoreBuilder {
    /// The prefix of every key (default `qtls:session:`); the key is the prefix and the hex
    /// session identifier. Give each service sharing a Redis its own.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long a session stays resumable: the keys' TTL (default 24 h, what rustls announces
    /// to clients for stateful sessions).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// How long a handshake waits for Redis before it gives up on resumption (default
    /// 100 ms).
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How long one attempt to (re)connect to Redis may take (default 1 s). Operations that
    /// wait for a connection still give up after the operation timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many operations may wait for Redis at once (default 1024); more fail at once, as
    /// store errors, so that a stalled Redis cannot pile up work.
    pub fn max_pending(mut self, max: usize) -> Self {
        self.max_pending = max;
        self
    }

    /// Whether `put` waits for Redis to confirm the `SET` (the default) or returns `true` as
    /// soon as the `SET` is queued.
    ///
    /// Waiting is exact: rustls issues a ticket only for a session that was stored. Not
    /// waiting takes a Redis round trip per ticket (rustls issues two per handshake) off every
    /// handshake; the price is that a client may hold a ticket before Redis holds its session:
    /// when Redis is down, and when the client reaches another node before the queued write
    /// lands (a busy node's background thread can lag by tens of milliseconds), it gets a full
    /// handshake, as without a ticket (counted as an absent session). The outcome is still counted and
    /// warned about, when Redis answers or the operation timeout passes.
    pub fn wait_for_puts(mut self, wait: bool) -> Self {
        self.wait_for_puts = wait;
        self
    }

    /// Starts the store's background thread. It does not wait for Redis: a store made while
    /// Redis is down misses until Redis comes up (see [`RedisSessionStore::ping`] to check).
    pub fn build(self) -> Result<Arc<RedisSessionStore>, Error> {
        if self.lifetime < Duration::from_millis(1) {
            return Err(Error::Config(
                "the session lifetime must be at least 1 ms".into(),
            ));
        }
        if self.op_timeout.is_zero() || self.connect_timeout.is_zero() || self.max_pending == 0 {
            return Err(Error::Config(
                "Redis store timeouts and queue length must be non-zero".into(),
            ));
        }
        self.target.validate()?;
        let connector = Connector::new(&self.target, self.op_timeout, self.connect_timeout)?;
        let (queue, requests) = mpsc::channel(self.max_pending);
        let (ready_tx, ready_rx) = std_mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("qtls-redis-sessions".into())
            .spawn(move || worker(connector, requests, ready_tx))
            .map_err(Error::Io)?;
        ready_rx
            .recv()
            .map_err(|_| Error::Config("the Redis session store thread did not start".into()))??;

        let direct = match &self.target {
            RedisTarget::Single(url) => Some(Direct {
                client: redis::Client::open(url.as_str())
                    .map_err(|e| Error::Config(format!("Redis at {}: {e}", self.target)))?,
                idle: Mutex::new(Vec::new()),
                op_timeout: self.op_timeout,
                connect_timeout: self.connect_timeout.min(self.op_timeout),
                resting_until: Mutex::new(None),
            }),
            RedisTarget::Cluster(_) => None,
        };
        let mut value_key = zeroize::Zeroizing::new([0u8; 32]);
        self.secret
            .derive(&[VALUE_KEY_LABEL], value_key.as_mut_slice());
        let value_key = RandomizedNonceKey::new(&AES_256_GCM_SIV, value_key.as_slice())
            .map_err(|_| Error::Config("AES-256-GCM-SIV is not available".into()))?;
        Ok(Arc::new(RedisSessionStore {
            shared: Arc::new(Shared {
                target: self.target,
                counters: Counters::default(),
                error_warnings: WarnLimiter::new(WARN_INTERVAL),
                corrupt_warnings: WarnLimiter::new(WARN_INTERVAL),
            }),
            key_prefix: self.key_prefix,
            lifetime: self.lifetime,
            op_timeout: self.op_timeout,
            wait_for_puts: self.wait_for_puts,
            value_key,
            queue,
            direct,
        }))
    }
}

/// A [`StoresServerSessions`] in Redis or Redis Cluster, shared by a fleet.
///
/// - Keys: the prefix (default `qtls:session:`) and the session identifier in hex, written
///   with `SET key value PX lifetime` so that Redis expires them (24 h by default). One key
///   per session, so in a cluster every operation is on one slot.
/// - `take` is `GETDEL`: atomic in Redis, so of all the nodes that race to resume one session
///   exactly one gets it (TLS 1.3 resumes a session at most once; 0-RTT relies on it).
/// - Values are encrypted: `version (1, = 2) ‖ nonce (12) ‖ AES-256-GCM-SIV(session) ‖ tag
///   (16)`, under a key derived from the fleet's [`FleetSecret`] (HKDF-SHA256, label
///   `qtls session store aead v2`), with the version and the Redis key (length-prefixed) as
///   additional data and a random nonce per value. A session holds the resumption secret and
///   the client's certificate chain: whoever reads Redis, or a plain `redis://` link, learns
///   neither, and cannot make a value resume under another key. What such a reader still
///   sees: which session identifiers exist, when they were stored (the TTL), and each
///   value's length (about 200 bytes plus the client's chain). An entry that fails to open
///   (corrupt, moved to another key, or written by a fleet with another secret) is a miss
///   with a warning, never trusted. Values of the unencrypted format of earlier versions
///   (version 1) are misses too, counted in [`SessionStoreStats::misses_old_format`]: after
///   an upgrade, sessions stored before it take a full handshake once, and during a rolling
///   upgrade sessions do not cross between upgraded nodes and the others.
///
///   AES-256-GCM-SIV ([RFC 8452](https://www.rfc-editor.org/rfc/rfc8452)) rather than
///   AES-256-GCM because one key serves every value the fleet ever stores, with random
///   nonces: GCM must stop at 2³² values per key ([NIST SP 800-38D
///   §8.3](https://csrc.nist.gov/pubs/sp/800/38/d/final)), which a busy fleet
///   reaches in weeks, and a repeated GCM nonce would leak its authentication key; a
///   repeated GCM-SIV nonce only shows that two values are identical.
/// - Bounds: a session whose identifier and encoding together exceed
///   [`MAX_SESSION_BYTES`](super::MAX_SESSION_BYTES) is not stored (that client gets full
///   handshakes), so one entry costs Redis at most that plus the prefix, the hex identifier
///   and 29 bytes of framing, and every entry expires after the lifetime (the TTL). Redis
///   itself knows no clients: one client can add at most the sessions of the handshakes it
///   completes (rustls stores two per TLS 1.3 handshake by default) within a lifetime, each
///   a full handshake it paid for. Give Redis a `maxmemory` with a `volatile-ttl` or
///   `allkeys-lru` policy to bound the total.
/// - Redis down, slow (over the operation timeout) or overloaded: a miss or `put` = `false`,
///   a rate-limited warning, and a full handshake; it reconnects by itself. How the synchronous
///   rustls calls reach the async client is below.
///
/// ```no_run
/// use std::sync::Arc;
/// use qtls::sessions::{FleetSecret, RedisSessionStore};
///
/// # fn demo(mut config: rustls::ServerConfig) -> Result<(), qtls::Error> {
/// let secret = FleetSecret::from_file("/etc/qtls/fleet.key".as_ref())?;
/// let store = RedisSessionStore::builder("redis+cluster://10.0.0.5:7000,10.0.0.6:7000".parse()?, secret)
///     .build()?;
/// if let Err(e) = store.ping() {
///     eprintln!("Redis is not reachable yet ({e}); resuming only once it is");
/// }
/// config.session_storage = store;
/// # Ok(())
/// # }
/// ```
///
/// # Calling the async client from rustls
///
/// rustls calls [`StoresServerSessions`] synchronously, in the middle of a handshake that
/// tokio-rustls drives on a tokio worker thread, while the `redis` crate's clients are async.
/// Blocking on the caller's own runtime (`Handle::block_on`) would panic there, and a
/// connection whose I/O is driven by that runtime could deadlock when every worker waits for
/// it. So each store owns **one background thread with a current-thread tokio runtime** that
/// owns the Redis connection (a multiplexed [`ConnectionManager`], or a cluster
/// [`ClusterConnection`]). An operation is a message on a bounded channel; the thread runs each
/// one as its own task (many in flight on one pipelined connection) and answers on a one-shot
/// channel. The caller waits for the answer **at most the operation timeout** (100 ms by
/// default), and when it runs on a multi-threaded tokio runtime it waits inside
/// [`tokio::task::block_in_place`], which hands the worker's other tasks to another thread
/// for that time, so a slow Redis delays only the handshakes that need it.
///
/// With one Redis (not a cluster), the operations a handshake waits for (`take`, `get`, and
/// `put` unless [`RedisStoreBuilder::wait_for_puts`] is off) run instead on a blocking
/// connection from a small pool, on the caller's thread, within the operation timeout
/// (connecting included; resolving a host name is not bounded, so name Redis by address
/// where that matters): a round trip without the two thread hand-offs, about a third of the
/// time when Redis is busy. After a connection-level failure those connections rest for a second
/// and the background thread takes over, so a Redis that is down costs one failed connection
/// attempt a second rather than one per handshake.
///
/// A timeout, a full queue, or a Redis error is a miss for `get`/`take` and `false` for
/// `put`: rustls then does a full handshake (and issues no stateful ticket), logs nothing
/// itself, and the store logs a rate-limited warning. The connection manager reconnects by
/// itself when Redis comes back; the cluster connection is re-made on the next operation after
/// a connection-level failure.
///
/// [`ConnectionManager`]: redis::aio::ConnectionManager
/// [`ClusterConnection`]: redis::cluster_async::ClusterConnection
pub struct RedisSessionStore {
    shared: Arc<Shared>,
    key_prefix: String,
    lifetime: Duration,
    op_timeout: Duration,
    wait_for_puts: bool,
    value_key: RandomizedNonceKey,
    queue: mpsc::Sender<Request>,
    /// Blocking connections for the operations a handshake waits for (one Redis only).
    direct: Option<Direct>,
}

/// What the store and its background thread (for puts that are not waited for) both use.
struct Shared {
    target: RedisTarget,
    counters: Counters,
    error_warnings: WarnLimiter,
    corrupt_warnings: WarnLimiter,
}

impl Shared {
    fn failed(&self, what: &str, failure: &Failure) {
        if let Some(suppressed) = self.error_warnings.admit() {
            tracing::warn!(
                redis = %self.target,
                suppressed,
                "session store: Redis {what} failed: {failure}; falling back to full handshakes"
            );
        }
    }

    /// Counts (and warns about) the answer to a `SET`; whether it stored the session.
    fn put_done(&self, result: Result<Value, Failure>) -> bool {
        match result {
            Ok(Value::Okay) => {
                self.counters.count(Outcome::Stored);
                true
            }
            Ok(other) => {
                self.failed("SET", &Failure::Unexpected(format!("{other:?}")));
                self.counters.count(Outcome::PutFailed);
                false
            }
            Err(failure) => {
                self.failed("SET", &failure);
                self.counters.count(Outcome::PutFailed);
                false
            }
        }
    }
}

impl RedisSessionStore {
    /// The default key prefix.
    pub const DEFAULT_KEY_PREFIX: &'static str = "qtls:session:";
    /// The default operation timeout.
    pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(100);

    /// A builder for a store at `target` whose values are encrypted with a key derived from
    /// `secret` (every node of the fleet needs the same secret).
    pub fn builder(target: RedisTarget, secret: FleetSecret) -> RedisStoreBuilder {
        RedisStoreBuilder {
            target,
            secret,
            key_prefix: Self::DEFAULT_KEY_PREFIX.into(),
            lifetime: DEFAULT_SESSION_LIFETIME,
            op_timeout: Self::DEFAULT_OP_TIMEOUT,
            connect_timeout: Duration::from_secs(1),
            max_pending: 1024,
            wait_for_puts: true,
        }
    }

    /// Where the sessions live.
    pub fn target(&self) -> &RedisTarget {
        &self.shared.target
    }

    /// The prefix of every key.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// How long a stored session stays resumable (the keys' TTL).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The Redis key of session `id`: the prefix and the identifier in hex.
    pub fn redis_key(&self, id: &[u8]) -> String {
        let mut key = String::with_capacity(self.key_prefix.len() + 2 * id.len());
        key.push_str(&self.key_prefix);
        key.push_str(&hex::encode(id));
        key
    }

    /// Sends a `PING` and waits for the answer (at most the operation timeout): whether Redis
    /// is reachable now. Not counted in the statistics.
    pub fn ping(&self) -> Result<(), Error> {
        self.call(Op::Ping).map(drop).map_err(|f| match f {
            Failure::Timeout => Error::Timeout("Redis PING"),
            f => Error::Config(format!("Redis at {}: {f}", self.shared.target)),
        })
    }

    /// Hands `op` to the background thread, which must finish it within the operation
    /// timeout.
    fn enqueue(&self, op: Op, reply: Reply) -> Result<(), Failure> {
        self.queue
            .try_send(Request {
                op,
                deadline: Instant::now() + self.op_timeout,
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Failure::Overloaded,
                mpsc::error::TrySendError::Closed(_) => Failure::WorkerGone,
            })
    }

    /// Runs `op` on a direct connection, or else on the background thread, and waits at most
    /// the operation timeout.
    fn call(&self, op: Op) -> Result<Value, Failure> {
        let wait = || {
            if let Some(result) = self.direct.as_ref().and_then(|direct| direct.run(&op)) {
                return result;
            }
            let (reply, answer) = std_mpsc::sync_channel(1);
            self.enqueue(op, Reply::Caller(reply))?;
            match answer.recv_timeout(self.op_timeout) {
                Ok(result) => result,
                Err(std_mpsc::RecvTimeoutError::Timeout) => Err(Failure::Timeout),
                Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(Failure::WorkerGone),
            }
        };
        crate::blocking::blocking(wait)
    }

    fn lookup(&self, id: &[u8], take: bool) -> Option<Vec<u8>> {
        let key = self.redis_key(id);
        let op = if take {
            Op::Take(key.clone())
        } else {
            Op::Get(key.clone())
        };
        let what = if take { "GETDEL" } else { "GET" };
        match self.call(op) {
            Ok(Value::BulkString(value)) => match self.open(&key, &value) {
                Ok(session) => {
                    self.shared.counters.count(Outcome::Hit);
                    Some(session)
                }
                Err(why) => {
                    self.shared.counters.count(match why {
                        Unusable::UnencryptedFormat => Outcome::OldFormat,
                        Unusable::Corrupt(_) => Outcome::Corrupt,
                    });
                    if let Some(suppressed) = self.shared.corrupt_warnings.admit() {
                        tracing::warn!(
                            key = %key,
                            suppressed,
                            "session store: ignoring a Redis entry: {why}"
                        );
                    }
                    None
                }
            },
            Ok(Value::Nil) => {
                self.shared.counters.count(Outcome::Absent);
                None
            }
            Ok(other) => {
                self.shared
                    .failed(what, &Failure::Unexpected(format!("{other:?}")));
                self.shared.counters.count(Outcome::LookupFailed);
                None
            }
            Err(failure) => {
                self.shared.failed(what, &failure);
                self.shared.counters.count(Outcome::LookupFailed);
                None
            }
        }
    }
}

impl StoresServerSessions for RedisSessionStore {
    fn put(&self, id: Vec<u8>, session: Vec<u8>) -> bool {
        if id.len().saturating_add(session.len()) > super::MAX_SESSION_BYTES {
            self.shared.counters.count(Outcome::NotStored);
            return false;
        }
        let key = self.redis_key(&id);
        let Some(value) = self.seal(&key, &session) else {
            self.shared.counters.count(Outcome::NotStored);
            return false;
        };
        let ttl_ms = u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX);
        let op = Op::Put { key, value, ttl_ms };
        if self.wait_for_puts {
            return self.shared.put_done(self.call(op));
        }
        // The background thread counts the outcome when Redis answers.
        match self.enqueue(op, Reply::Detached(Arc::clone(&self.shared))) {
            Ok(()) => true,
            Err(failure) => self.shared.put_done(Err(failure)),
        }
    }

    fn get(&self, id: &[u8]) -> Option<Vec<u8>> {
        self.lookup(id, false)
    }

    fn take(&self, id: &[u8]) -> Option<Vec<u8>> {
        self.lookup(id, true)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

impl SessionStore for RedisSessionStore {
    fn stats(&self) -> SessionStoreStats {
        self.shared.counters.snapshot()
    }
}

impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("target", &self.shared.target)
            .field("key_prefix", &self.key_prefix)
            .field("lifetime", &self.lifetime)
            .field("op_timeout", &self.op_timeout)
            .field("wait_for_puts", &self.wait_for_puts)
            .finish_non_exhaustive()
    }
}
