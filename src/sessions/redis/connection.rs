//! The operations on Redis, and the blocking connections that run them on the caller's
//! thread.

use core::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::{ConnectionLike as _, RedisError, Value};

/// Blocking connections to one Redis, used on the caller's thread for the operations a
/// handshake waits for: a round trip there costs a socket write and read, where going
/// through the background thread adds two thread hand-offs (about twice the time on
/// loopback). After a connection-level failure the store rests them for [`DIRECT_REST`] and
/// sends everything through the background thread, whose connection manager reconnects and
/// fails fast meanwhile, so a Redis that is down costs one failed connection attempt per
/// rest, not one per handshake.
pub(super) struct Direct {
    pub(super) client: redis::Client,
    pub(super) idle: Mutex<Vec<redis::Connection>>,
    pub(super) op_timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) resting_until: Mutex<Option<Instant>>,
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
    pub(super) fn run(&self, op: &Op) -> Option<Result<Value, Failure>> {
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

/// Why an operation did not get an answer from Redis.
#[derive(Debug)]
pub(super) enum Failure {
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

pub(super) enum Op {
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
    pub(super) fn command(&self) -> redis::Cmd {
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
