//! Round-trip time on loopback: a TCP proxy that holds each direction's bytes for half the
//! RTT, and the `--rtt` values.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The most `--rtt` takes: a report measures networks, not timeouts.
const MAX_RTT: Duration = Duration::from_secs(5);

/// Chunks in flight per direction: the proxy reads no further until they are written, so a
/// connection holds at most this many reads' worth of memory.
const IN_FLIGHT: usize = 64;

/// One `--rtt` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rtt(pub(crate) Duration);

impl FromStr for Rtt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let parsed = if s == "0" {
            Ok(Duration::ZERO)
        } else {
            humantime::parse_duration(s).map_err(|e| e.to_string())
        };
        match parsed {
            Ok(rtt) if rtt <= MAX_RTT => Ok(Self(rtt)),
            Ok(_) => Err(format!(
                "{s:?}: at most {}",
                humantime::format_duration(MAX_RTT)
            )),
            Err(e) => Err(format!(
                "{s:?} is not a round-trip time ({e}): give a comma-separated list such as \
                 0,10ms,50ms"
            )),
        }
    }
}

impl Rtt {
    pub(super) fn ms(self) -> f64 {
        self.0.as_secs_f64() * 1000.0
    }
}

/// A proxy on 127.0.0.1 to `target`; stops (with its connections) when dropped.
pub(super) struct DelayProxy {
    pub(super) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl DelayProxy {
    /// Forwards every connection to `target`, each chunk of bytes `rtt / 2` after it was
    /// read, in both directions (the TCP handshake itself is not delayed).
    pub(super) async fn start(target: SocketAddr, rtt: Duration) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let one_way = rtt / 2;
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                connections.spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        delayed(client_read, server_write, one_way),
                        delayed(server_read, client_write, one_way)
                    );
                });
                // Reap finished connections as we go.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self { addr, task })
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, each chunk `delay` after it arrived, and passes on the end.
async fn delayed(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(IN_FLIGHT);
    let reader = async move {
        loop {
            let mut buf = vec![0u8; 16 * 1024];
            let chunk = match from.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some(buf)
                }
            };
            let end = chunk.is_none();
            if tx.send((Instant::now() + delay, chunk)).await.is_err() || end {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    };
    tokio::join!(reader, writer);
}
