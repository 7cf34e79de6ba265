//! Throwaway Redis servers and Redis Clusters on loopback ports, for the session-store tests.
//!
//! Each instance runs `redis-server` (Debian `redis-server`; `QTLS_REDIS_SERVER` and
//! `QTLS_REDIS_CLI` override the binaries) in its own temporary folder, on a free port of
//! 127.0.0.1, with `--save '' --appendonly no` (nothing on disk), and is killed on drop; only
//! processes started here are ever stopped. Without `redis-server` the tests skip, except
//! under `CI=true`, where they fail.
//!
//! `scripts/test.sh` (and so `.ci/run`) starts one Redis and one 3-node Redis Cluster on
//! loopback ports of its own for the whole run, and stops them at the end:
//! `QTLS_TEST_REDIS_URL` (`redis://127.0.0.1:PORT`) and `QTLS_TEST_REDIS_CLUSTER`
//! (`127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`). Tests that only read and write sessions use
//! them through [`RedisServer::shared_or_start`] and [`RedisCluster::shared_or_start`]; tests
//! that stop, restart or count keys start their own.
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server or cluster may take to come up.
const STARTUP: Duration = Duration::from_secs(20);

fn find(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    crate::which(name)
}

/// The `redis-server` binary, or `None` after saying why the test is skipped (under
/// `CI=true` it panics instead).
pub fn redis_server_bin() -> Option<PathBuf> {
    crate::require(
        "redis-server",
        "install the Debian package redis-server (./scripts/test.sh installs it)",
        find("QTLS_REDIS_SERVER", "redis-server"),
    )
}

fn redis_cli_bin() -> PathBuf {
    find("QTLS_REDIS_CLI", "redis-cli").expect("redis-cli (Debian package redis-tools)")
}

/// A port on 127.0.0.1 that was free a moment ago. With `bus`, port + 10000 (the cluster bus
/// port) was free too.
fn free_port(bus: bool) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        if !bus {
            return port;
        }
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// One `redis-server` of ours.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    cluster: bool,
    dir: tempfile::TempDir,
    /// Started by the test script, not by us: never stopped here.
    shared: bool,
}

impl RedisServer {
    /// Starts a standalone Redis on a free port; `None` when redis-server is missing.
    pub fn start() -> Option<Self> {
        Self::start_kind(false)
    }

    /// The run's shared Redis (`QTLS_TEST_REDIS_URL`), else one of our own.
    pub fn shared_or_start() -> Option<Self> {
        let shared = std::env::var("QTLS_TEST_REDIS_URL").ok().and_then(|url| {
            url.strip_prefix("redis://127.0.0.1:")
                .and_then(|port| port.trim_end_matches('/').parse().ok())
        });
        match shared {
            Some(port) => Some(Self::shared(port, false)),
            None => Self::start(),
        }
    }

    fn shared(port: u16, cluster: bool) -> Self {
        Self {
            child: None,
            port,
            cluster,
            dir: tempfile::tempdir().expect("temp dir"),
            shared: true,
        }
    }

    fn start_kind(cluster: bool) -> Option<Self> {
        let bin = redis_server_bin()?;
        // A port can be taken between the check and the bind: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            let mut server = Self {
                child: None,
                port: free_port(cluster),
                cluster,
                dir: tempfile::Builder::new()
                    .prefix("qtls-redis-")
                    .tempdir()
                    .expect("temp dir"),
                shared: false,
            };
            match server.spawn(&bin) {
                Ok(()) => return Some(server),
                Err(e) => last = e,
            }
        }
        panic!("could not start redis-server: {last}");
    }

    fn spawn(&mut self, bin: &PathBuf) -> Result<(), String> {
        let mut cmd = Command::new(bin);
        cmd.current_dir(self.dir.path())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--logfile", "redis.log"]);
        if self.cluster {
            cmd.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("redis-server exited with {status}: {}", self.log()));
            }
            if self.ping() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("redis-server did not answer PING: {}", self.log()));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    fn ping(&self) -> bool {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A synchronous connection, to look at or tamper with what the store wrote.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url()))
    }

    /// Kills the server (SIGKILL: no goodbye to the clients) and waits for it.
    pub fn stop(&mut self) {
        assert!(!self.shared, "the run's shared Redis is not ours to stop");
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: nothing was saved).
    pub fn restart(&mut self) {
        self.stop();
        let bin = redis_server_bin().expect("redis-server");
        // Right after a kill the port may linger for a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn(&bin) {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("restart redis-server: {e}"),
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if !self.shared {
            self.stop();
        }
    }
}

/// A Redis Cluster of our own: `n` masters, no replicas, all 16384 slots covered.
#[derive(Debug)]
pub struct RedisCluster {
    /// Its nodes, in the order they were started.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `n` (at least 3) cluster-enabled servers, joins them with
    /// `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes` and waits until every
    /// node says `cluster_state:ok`. `None` when redis-server is missing.
    pub fn start(n: usize) -> Option<Self> {
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            nodes.push(RedisServer::start_kind(true)?);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let out = Command::new(redis_cli_bin())
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { nodes };
        let deadline = Instant::now() + STARTUP;
        while !cluster.nodes.iter().all(|node| {
            redis::cmd("CLUSTER")
                .arg("INFO")
                .query::<String>(&mut node.connection())
                .is_ok_and(|info| info.contains("cluster_state:ok"))
        }) {
            assert!(
                Instant::now() < deadline,
                "the cluster did not reach cluster_state:ok"
            );
            thread::sleep(Duration::from_millis(100));
        }
        Some(cluster)
    }

    /// The run's shared 3-node cluster (`QTLS_TEST_REDIS_CLUSTER`), else one of our own.
    pub fn shared_or_start() -> Option<Self> {
        let shared: Option<Vec<u16>> = std::env::var("QTLS_TEST_REDIS_CLUSTER")
            .ok()
            .and_then(|nodes| {
                nodes
                    .split(',')
                    .map(|node| node.trim().strip_prefix("127.0.0.1:")?.parse().ok())
                    .collect()
            })
            .filter(|ports: &Vec<u16>| ports.len() >= 3);
        match shared {
            Some(ports) => Some(Self {
                nodes: ports
                    .into_iter()
                    .map(|port| RedisServer::shared(port, true))
                    .collect(),
            }),
            None => Self::start(3),
        }
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...` (the form `RedisTarget` parses) through
    /// the given nodes.
    pub fn target_through(&self, nodes: &[usize]) -> String {
        let list: Vec<String> = nodes
            .iter()
            .map(|&i| format!("127.0.0.1:{}", self.nodes[i].port))
            .collect();
        format!("redis+cluster://{}", list.join(","))
    }

    /// How many keys each node holds.
    pub fn key_counts(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|n| redis::cmd("DBSIZE").query(&mut n.connection()).unwrap())
            .collect()
    }
}
