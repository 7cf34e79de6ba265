//! The store's background thread: a current-thread tokio runtime that owns the async
//! connection to Redis or Redis Cluster.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, Value};
use tokio::sync::mpsc;

use super::connection::{Failure, Op};
use super::{RedisTarget, Shared};
use crate::Error;

pub(super) struct Request {
    pub(super) op: Op,
    pub(super) deadline: Instant,
    pub(super) reply: Reply,
}

/// Where the answer to a request goes.
pub(super) enum Reply {
    /// To the caller, who waits for it (or has given up).
    Caller(std_mpsc::SyncSender<Result<Value, Failure>>),
    /// Nobody waits (a put that is not waited for): count it.
    Detached(Arc<Shared>),
}

/// What the background thread needs to make its connection (made there: the connection's
/// tasks belong to that thread's runtime).
pub(super) enum Connector {
    Single {
        client: redis::Client,
        config: ConnectionManagerConfig,
    },
    Cluster(ClusterClient),
}

impl Connector {
    pub(super) fn new(
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
pub(super) fn worker(
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
