//! The fleet's session store: Redis or Redis Cluster.

use core::fmt;
use std::str::FromStr;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM_SIV, NONCE_LEN};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionLike as _, RedisError, Value};
use rustls::server::StoresServerSessions;
use tokio::sync::mpsc;

use super::warn_limiter::WarnLimiter;
use super::{
    Counters, FleetSecret, Outcome, SessionStore, SessionStoreStats, DEFAULT_SESSION_LIFETIME,
};
use crate::Error;

/// The environment variable `qtls server` reads the Redis password from when no password file
/// is given: unlike a password in the address, it does not show in `ps`.
pub const REDIS_PASSWORD_ENV: &str = "QTLS_REDIS_PASSWORD";

/// The first byte of every stored value: the format.
const VALUE_VERSION: u8 = 2;
/// The format of earlier versions (HMAC-authenticated, unencrypted): never written, never
/// read, counted.
const UNENCRYPTED_VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// The HKDF label of the value-encryption key; the ticket keys and the earlier HMAC key
/// were derived under other labels.
const VALUE_KEY_LABEL: &[u8] = b"qtls session store aead v2";
/// At most one warning of each kind per this interval.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Where the sessions live: one Redis, or a Redis Cluster.
///
/// `Display` and `Debug` show the addresses with their passwords replaced by `***`
/// (`redis://user:***@host:port/db`, `redis+unix:///path?pass=***`), so a target can be
/// logged.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis server (`redis://HOST:PORT[/DB]`, with `redis://:PASSWORD@HOST:PORT` for
    /// authentication, or `unix:///path/to/redis.sock`).
    Single(String),
    /// A Redis Cluster, through any of its nodes (`redis://HOST:PORT` each); the client finds
    /// the others and follows slot moves.
    Cluster(Vec<String>),
}

impl FromStr for RedisTarget {
    type Err = Error;

    /// `redis://HOST:PORT` (or `unix://PATH`) is one Redis;
    /// `redis+cluster://HOST:PORT[,HOST:PORT...]` is a cluster reached through those nodes.
    fn from_str(s: &str) -> Result<Self, Error> {
        let target = match s.strip_prefix("redis+cluster://") {
            Some(nodes) => Self::Cluster(
                nodes
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| format!("redis://{n}"))
                    .collect(),
            ),
            None => Self::Single(s.to_string()),
        };
        target.validate()?;
        Ok(target)
    }
}

impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Single(url) => f.write_str(&redacted(url)),
            Self::Cluster(nodes) => {
                f.write_str("redis+cluster://")?;
                for (i, node) in nodes.iter().enumerate() {
                    let node = redacted(node);
                    let node = node.strip_prefix("redis://").unwrap_or(&node);
                    write!(f, "{}{node}", if i == 0 { "" } else { "," })?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Single(url) => f.debug_tuple("Single").field(&redacted(url)).finish(),
            Self::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(&nodes.iter().map(|n| redacted(n)).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// `url` with the password of its user information, and a `pass` or `password` query
/// parameter (the forms the `redis` crate reads), replaced by `***`. Hand-written rather
/// than with a URL parser so that an address that does not parse is redacted too.
fn redacted(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    if let Some(i) = url.find("://") {
        out.push_str(&url[..i + 3]);
        rest = &url[i + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str("***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &rest[authority_end..];
    }
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match pair.split_once('=') {
                    Some((name, _))
                        if name.eq_ignore_ascii_case("pass")
                            || name.eq_ignore_ascii_case("password") =>
                    {
                        out.push_str(name);
                        out.push_str("=***");
                    }
                    _ => out.push_str(pair),
                }
            }
        }
        None => out.push_str(rest),
    }
    out
}

/// `url` with `password` in the form the `redis` crate reads: percent-encoded in the user
/// information of a TCP address (replacing any password there), or as the `pass` query
/// parameter of a Unix socket address (replacing any `pass` or `password` parameter).
fn url_with_password(url: &str, password: &str) -> String {
    let encoded: String = password
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let Some(i) = url.find("://") else {
        return url.to_owned();
    };
    let (scheme, rest) = (&url[..i], &url[i + 3..]);
    if scheme.ends_with("unix") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut params: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let name = p.split('=').next().unwrap_or_default();
                !name.eq_ignore_ascii_case("pass") && !name.eq_ignore_ascii_case("password")
            })
            .collect();
        let pass = format!("pass={encoded}");
        params.push(&pass);
        return format!("{scheme}://{path}?{}", params.join("&"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (user, host) = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            (user, &authority[at + 1..])
        }
        None => ("", authority),
    };
    format!("{scheme}://{user}:{encoded}@{host}{tail}")
}

impl RedisTarget {
    /// Whether an address carries a password (in its user information, or a `pass` or
    /// `password` query parameter): one given on a command line is visible in `ps`.
    pub fn has_password(&self) -> bool {
        self.urls().any(|url| redacted(url) != *url)
    }

    /// The same target authenticating with `password` (replacing any in the addresses), so
    /// that it can come from a file or the environment rather than the address.
    pub fn with_password(&self, password: &str) -> Result<Self, Error> {
        let target = match self {
            Self::Single(url) => Self::Single(url_with_password(url, password)),
            Self::Cluster(nodes) => Self::Cluster(
                nodes
                    .iter()
                    .map(|url| url_with_password(url, password))
                    .collect(),
            ),
        };
        target.validate()?;
        Ok(target)
    }

    fn urls(&self) -> impl Iterator<Item = &String> {
        match self {
            Self::Single(url) => std::slice::from_ref(url).iter(),
            Self::Cluster(nodes) => nodes.iter(),
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |url: &str, e: RedisError| {
            Error::Config(format!("Redis address {}: {e}", redacted(url)))
        };
        match self {
            Self::Single(url) => redis::Client::open(url.as_str())
                .map(drop)
                .map_err(|e| bad(url, e)),
            Self::Cluster(nodes) if nodes.is_empty() => Err(Error::Config(
                "a Redis Cluster address needs at least one node".into(),
            )),
            Self::Cluster(nodes) => nodes.iter().try_for_each(|url| {
                redis::Client::open(url.as_str())
                    .map(drop)
                    .map_err(|e| bad(url, e))
            }),
        }
    }
}

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

/// Blocking connections to one Redis, used on the caller's thread for the operations a
/// handshake waits for: a round trip there costs a socket write and read, where going
/// through the background thread adds two thread hand-offs (about twice the time on
/// loopback). After a connection-level failure the store rests them for [`DIRECT_REST`] and
/// sends everything through the background thread, whose connection manager reconnects and
/// fails fast meanwhile, so a Redis that is down costs one failed connection attempt per
/// rest, not one per handshake.
struct Direct {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    op_timeout: Duration,
    connect_timeout: Duration,
    resting_until: Mutex<Option<Instant>>,
}

/// How long direct connections rest after a failure.
const DIRECT_REST: Duration = Duration::from_secs(1);
/// The most idle direct connections kept (about one per handshake running at once).
const DIRECT_IDLE: usize = 64;

impl Direct {
    /// Runs `op` on a direct connection, within the operation timeout; `None` while they
    /// rest. A pooled connection that turns out dead (Redis restarted, an idle timeout) is
    /// replaced once: repeating the operation is safe, a repeated `GETDEL` still hands the
    /// session out at most once.
    fn run(&self, op: &Op) -> Option<Result<Value, Failure>> {
        let resting = *self.resting_until.lock().unwrap_or_else(|e| e.into_inner());
        if resting.is_some_and(|until| Instant::now() < until) {
            return None;
        }
        let deadline = Instant::now() + self.op_timeout;
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let result = match pooled {
            Some(connection) => match self.query(connection, op, deadline) {
                Err(e) if is_connection_failure(&e) && Instant::now() < deadline => self
                    .connect(deadline)
                    .and_then(|fresh| self.query(fresh, op, deadline)),
                other => other,
            },
            None => self
                .connect(deadline)
                .and_then(|fresh| self.query(fresh, op, deadline)),
        };
        Some(result.map_err(|e| self.failed(e)))
    }

    /// Runs `op` on `connection`, and pools the connection again unless it failed.
    fn query(
        &self,
        mut connection: redis::Connection,
        op: &Op,
        deadline: Instant,
    ) -> Result<Value, RedisError> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        connection.set_read_timeout(Some(left))?;
        connection.set_write_timeout(Some(left))?;
        let result = op.command().query::<Value>(&mut connection);
        // A connection may hold half an answer after an I/O or parse error; after an error
        // reply from Redis it is fine.
        let reusable = match &result {
            Ok(_) => true,
            Err(e) => matches!(
                e.kind(),
                redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
            ),
        };
        if reusable && connection.is_open() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < DIRECT_IDLE {
                idle.push(connection);
            }
        }
        result
    }

    fn connect(&self, deadline: Instant) -> Result<redis::Connection, RedisError> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        self.client
            .get_connection_with_timeout(self.connect_timeout.min(left))
    }

    fn failed(&self, e: RedisError) -> Failure {
        if is_connection_failure(&e) {
            *self.resting_until.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Instant::now() + DIRECT_REST);
            // Idle connections to a Redis that failed are likely dead too.
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        if e.is_timeout() {
            Failure::Timeout
        } else {
            Failure::Redis(e)
        }
    }
}

/// Whether `e` is about the connection (not an error reply from a working Redis).
fn is_connection_failure(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
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

    /// `session` encrypted for `redis_key`; `None` if encryption fails (the session is then
    /// not stored).
    pub(crate) fn seal(&self, redis_key: &str, session: &[u8]) -> Option<Vec<u8>> {
        let mut sealed = Vec::with_capacity(session.len() + TAG_LEN);
        sealed.extend_from_slice(session);
        let nonce = self
            .value_key
            .seal_in_place_append_tag(Aad::from(additional_data(redis_key)), &mut sealed)
            .ok()?;
        let mut value = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        value.push(VALUE_VERSION);
        value.extend_from_slice(nonce.as_ref());
        value.extend_from_slice(&sealed);
        Some(value)
    }

    /// The session in `value`, if it is ours, for this key, and intact.
    pub(crate) fn open(&self, redis_key: &str, value: &[u8]) -> Result<Vec<u8>, Unusable> {
        let (&version, rest) = value
            .split_first()
            .ok_or(Unusable::Corrupt("empty value"))?;
        match version {
            VALUE_VERSION => {}
            UNENCRYPTED_VERSION => return Err(Unusable::UnencryptedFormat),
            _ => return Err(Unusable::Corrupt("unknown value version")),
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(Unusable::Corrupt("value too short"));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Unusable::Corrupt("value too short"))?;
        let mut plain = sealed.to_vec();
        let len = self
            .value_key
            .open_in_place(nonce, Aad::from(additional_data(redis_key)), &mut plain)
            .map_err(|_| {
                Unusable::Corrupt(
                    "it does not decrypt (corrupt, moved from another key, or written with \
                     another secret)",
                )
            })?
            .len();
        plain.truncate(len);
        Ok(plain)
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

/// The additional data a value is encrypted with: the format and the Redis key
/// (length-prefixed), so that no value opens under another key or as another format.
fn additional_data(redis_key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + 8 + redis_key.len());
    aad.push(VALUE_VERSION);
    aad.extend_from_slice(&(redis_key.len() as u64).to_be_bytes());
    aad.extend_from_slice(redis_key.as_bytes());
    aad
}

/// Why a value read from Redis is not used.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Unusable {
    /// Version 1: unencrypted, written by an earlier version.
    UnencryptedFormat,
    Corrupt(&'static str),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnencryptedFormat => f.write_str(
                "it is in the unencrypted format of earlier versions (a full handshake; it \
                 expires by itself)",
            ),
            Self::Corrupt(why) => f.write_str(why),
        }
    }
}

/// Why an operation did not get an answer from Redis.
#[derive(Debug)]
enum Failure {
    /// No answer within the operation timeout.
    Timeout,
    /// Too many operations already waiting.
    Overloaded,
    /// The background thread is gone (it does not exit while the store lives).
    WorkerGone,
    Redis(RedisError),
    Unexpected(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("no answer within the operation timeout"),
            Self::Overloaded => f.write_str("too many operations waiting for Redis"),
            Self::WorkerGone => f.write_str("the store's background thread has stopped"),
            Self::Redis(e) => write!(f, "{e}"),
            Self::Unexpected(v) => write!(f, "unexpected reply {v}"),
        }
    }
}

enum Op {
    Put {
        key: String,
        value: Vec<u8>,
        ttl_ms: u64,
    },
    Get(String),
    Take(String),
    Ping,
}

impl Op {
    fn command(&self) -> redis::Cmd {
        match self {
            Self::Put { key, value, ttl_ms } => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(key).arg(value).arg("PX").arg(*ttl_ms);
                cmd
            }
            Self::Get(key) => redis::cmd("GET").arg(key).clone(),
            Self::Take(key) => redis::cmd("GETDEL").arg(key).clone(),
            Self::Ping => redis::cmd("PING"),
        }
    }
}

struct Request {
    op: Op,
    deadline: Instant,
    reply: Reply,
}

/// Where the answer to a request goes.
enum Reply {
    /// To the caller, who waits for it (or has given up).
    Caller(std_mpsc::SyncSender<Result<Value, Failure>>),
    /// Nobody waits (a put that is not waited for): count it.
    Detached(Arc<Shared>),
}

/// What the background thread needs to make its connection (made there: the connection's
/// tasks belong to that thread's runtime).
enum Connector {
    Single {
        client: redis::Client,
        config: ConnectionManagerConfig,
    },
    Cluster(ClusterClient),
}

impl Connector {
    fn new(
        target: &RedisTarget,
        op_timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Self, Error> {
        let bad = |e: RedisError| Error::Config(format!("Redis at {target}: {e}"));
        Ok(match target {
            RedisTarget::Single(url) => Self::Single {
                client: redis::Client::open(url.as_str()).map_err(bad)?,
                // A reconnection gives up quickly (two retries, at most 100 ms apart) so that
                // the next operation after Redis comes back starts a fresh attempt instead of
                // waiting out a long backoff.
                config: ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(op_timeout))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(100)),
            },
            RedisTarget::Cluster(nodes) => Self::Cluster(
                ClusterClient::builder(nodes.iter().map(String::as_str))
                    .connection_timeout(connect_timeout)
                    .response_timeout(op_timeout)
                    .retries(2)
                    .build()
                    .map_err(bad)?,
            ),
        })
    }
}

/// The connection, shared by the background thread's tasks.
#[derive(Clone)]
enum Backend {
    Single(ConnectionManager),
    Cluster(Arc<ClusterBackend>),
}

struct ClusterBackend {
    client: ClusterClient,
    /// Made on first use and re-made after a connection-level failure; the lock also makes
    /// concurrent operations wait for one connection attempt rather than start their own.
    connection: tokio::sync::Mutex<Option<ClusterConnection>>,
}

impl Backend {
    async fn run(&self, cmd: &redis::Cmd) -> Result<Value, RedisError> {
        match self {
            Self::Single(manager) => cmd.query_async(&mut manager.clone()).await,
            Self::Cluster(cluster) => {
                let mut connection = {
                    let mut slot = cluster.connection.lock().await;
                    match &*slot {
                        Some(c) => c.clone(),
                        None => {
                            let c = cluster.client.get_async_connection().await?;
                            *slot = Some(c.clone());
                            c
                        }
                    }
                };
                let result = cmd.query_async(&mut connection).await;
                if let Err(e) = &result {
                    if e.is_unrecoverable_error() || e.is_io_error() {
                        *cluster.connection.lock().await = None;
                    }
                }
                result
            }
        }
    }
}

/// The background thread: a current-thread runtime that owns the connection and runs every
/// request as its own task, each cut off at its deadline.
fn worker(
    connector: Connector,
    mut requests: mpsc::Receiver<Request>,
    ready: std_mpsc::SyncSender<Result<(), Error>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(Error::Io(e)));
            return;
        }
    };
    runtime.block_on(async move {
        let backend = match connector {
            Connector::Single { client, config } => {
                // Lazy: the store works (as misses) while Redis is down and connects when it
                // can.
                match ConnectionManager::new_lazy_with_config(client, config) {
                    Ok(manager) => Backend::Single(manager),
                    Err(e) => {
                        let _ = ready.send(Err(Error::Config(format!("Redis: {e}"))));
                        return;
                    }
                }
            }
            Connector::Cluster(client) => Backend::Cluster(Arc::new(ClusterBackend {
                client,
                connection: tokio::sync::Mutex::new(None),
            })),
        };
        let _ = ready.send(Ok(()));
        // Ends when the store (the only sender) is dropped; the runtime then drops the
        // unfinished tasks and the connection.
        while let Some(request) = requests.recv().await {
            let backend = backend.clone();
            tokio::spawn(async move {
                let cmd = request.op.command();
                let deadline = tokio::time::Instant::from_std(request.deadline);
                let result = match tokio::time::timeout_at(deadline, backend.run(&cmd)).await {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(e)) => Err(Failure::Redis(e)),
                    Err(_) => Err(Failure::Timeout),
                };
                match request.reply {
                    // The caller may have given up already.
                    Reply::Caller(reply) => drop(reply.try_send(result)),
                    Reply::Detached(shared) => drop(shared.put_done(result)),
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_from_elsewhere_go_where_the_redis_crate_reads_them() {
        let cases = [
            ("redis://h:1/2", "redis://:p%40ss%20w@h:1/2"),
            ("redis://u@h:1", "redis://u:p%40ss%20w@h:1"),
            (
                "redis://u:old@h:1?protocol=resp3",
                "redis://u:p%40ss%20w@h:1?protocol=resp3",
            ),
            ("unix:///run/r.sock", "unix:///run/r.sock?pass=p%40ss%20w"),
            (
                "unix:///run/r.sock?db=1&pass=old",
                "unix:///run/r.sock?db=1&pass=p%40ss%20w",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(url_with_password(url, "p@ss w"), expected, "{url}");
            let target: RedisTarget = url.parse().unwrap();
            let with = target.with_password("p@ss w").unwrap();
            assert!(with.has_password());
            assert!(!with.to_string().contains("p%40ss"), "{with}");
        }
        assert!(!"redis://h:1".parse::<RedisTarget>().unwrap().has_password());
        let cluster: RedisTarget = "redis+cluster://a:1,b:2".parse().unwrap();
        assert_eq!(
            cluster.with_password("x").unwrap(),
            RedisTarget::Cluster(vec!["redis://:x@a:1".into(), "redis://:x@b:2".into()])
        );
    }

    #[test]
    fn targets_parse_and_print() {
        let single: RedisTarget = "redis://127.0.0.1:6379".parse().unwrap();
        assert_eq!(single, RedisTarget::Single("redis://127.0.0.1:6379".into()));
        let cluster: RedisTarget = "redis+cluster://127.0.0.1:7000, 127.0.0.1:7001"
            .parse()
            .unwrap();
        assert_eq!(
            cluster,
            RedisTarget::Cluster(vec![
                "redis://127.0.0.1:7000".into(),
                "redis://127.0.0.1:7001".into()
            ])
        );
        assert_eq!(
            cluster.to_string(),
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"
        );
        assert!("memory".parse::<RedisTarget>().is_err());
        let secret: RedisTarget = "redis://u:pw@127.0.0.1:6379/2?pass=pw2".parse().unwrap();
        assert_eq!(
            secret.to_string(),
            "redis://u:***@127.0.0.1:6379/2?pass=***"
        );
        assert!(!format!("{secret:?}").contains("pw"));
        assert_eq!(redacted("redis://user@host:1"), "redis://user@host:1");
        assert_eq!(redacted("redis://:a@b@host:1/0"), "redis://:***@host:1/0");
        assert!("redis+cluster://".parse::<RedisTarget>().is_err());
    }

    #[test]
    fn values_are_bound_to_key_and_secret() {
        let a = RedisSessionStore::builder(
            "redis://127.0.0.1:1".parse().unwrap(),
            FleetSecret::from_bytes(&[1; 32]).unwrap(),
        )
        .build()
        .unwrap();
        let b = RedisSessionStore::builder(
            "redis://127.0.0.1:1".parse().unwrap(),
            FleetSecret::from_bytes(&[2; 32]).unwrap(),
        )
        .build()
        .unwrap();
        let value = a.seal("k1", b"session").unwrap();
        assert_eq!(a.open("k1", &value).unwrap(), b"session");
        assert!(!value.windows(7).any(|w| w == b"session"));
        assert_ne!(
            a.seal("k1", b"session").unwrap(),
            value,
            "a fresh nonce each time"
        );
        assert!(a.open("k2", &value).is_err());
        assert!(b.open("k1", &value).is_err());
        let mut flipped = value.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(a.open("k1", &flipped).is_err());
        let mut versioned = value;
        versioned[0] = 3;
        assert!(matches!(
            a.open("k1", &versioned),
            Err(Unusable::Corrupt(_))
        ));
        versioned[0] = UNENCRYPTED_VERSION;
        assert!(matches!(
            a.open("k1", &versioned),
            Err(Unusable::UnencryptedFormat)
        ));
        assert!(a.open("k1", &[]).is_err());
        assert!(a.open("k1", &[VALUE_VERSION; 10]).is_err());
    }
}
