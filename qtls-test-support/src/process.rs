//! Child processes for the tests: spawned with their output collected, killed and reaped on
//! drop; commands run with a timeout; free loopback ports.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a helper command may run before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait for a spawned server to say it is ready.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A child process that is killed and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Spawns `cmd` (stdin null unless set; stdout and stderr as configured on `cmd`).
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        cmd.spawn().map(ChildGuard)
    }

    /// Fails if the process has already exited (e.g. a server that could not start).
    pub fn assert_running(&mut self, what: &str) {
        if let Ok(Some(status)) = self.0.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = self.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{what} exited early with {status}: {err}");
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until something accepts TCP connections on 127.0.0.1:`port`, for at most `timeout`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A server process whose stdout and stderr are collected by background threads (so the pipes
/// never fill up), killed and reaped on drop.
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub child: ChildGuard,
    /// Its port on 127.0.0.1.
    pub port: u16,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Spawns `cmd` (which must listen on 127.0.0.1:`port`) and waits, for at most
    /// [`STARTUP_TIMEOUT`], until a line containing `ready` appears on its stdout or stderr.
    /// Panics with what it printed if it exits or times out first.
    pub fn start(cmd: &mut Command, port: u16, ready: &str, what: &str) -> Self {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("spawn {what} ({cmd:?}): {e}")),
        );
        let (tx, rx) = mpsc::channel::<()>();
        let stdout = collect_lines(child.0.stdout.take(), ready, tx.clone());
        let stderr = collect_lines(child.0.stderr.take(), ready, tx);
        let mut server = Self {
            child,
            port,
            stdout,
            stderr,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if rx.recv_timeout(Duration::from_millis(50)).is_ok() {
                return server;
            }
            if let Ok(Some(status)) = server.child.0.try_wait() {
                thread::sleep(Duration::from_millis(100)); // let the readers finish
                panic!("{what} exited early with {status}\n{}", server.output());
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what} did not print {ready:?} within {STARTUP_TIMEOUT:?}\n{}",
                    server.output()
                );
            }
        }
    }

    /// What the server printed so far, for failure messages.
    pub fn output(&self) -> String {
        let out = self.stdout.lock().map(|s| s.clone()).unwrap_or_default();
        let err = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        format!("--- server stdout\n{out}\n--- server stderr\n{err}")
    }
}

fn collect_lines<R: Read + Send + 'static>(
    r: Option<R>,
    ready: &str,
    tx: mpsc::Sender<()>,
) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let (ready, sink) = (ready.to_string(), Arc::clone(&buf));
    if let Some(r) = r {
        thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if line.contains(&ready) {
                    let _ = tx.send(());
                }
                if let Ok(mut b) = sink.lock() {
                    if b.len() < OUTPUT_LIMIT as usize {
                        b.push_str(&line);
                        b.push('\n');
                    }
                }
            }
        });
    }
    buf
}

/// What a finished command left.
#[derive(Debug)]
pub struct Output {
    /// Exit status (`None` when it was killed at the timeout).
    pub status: Option<ExitStatus>,
    /// Standard output, up to 4 MiB.
    pub stdout: String,
    /// Standard error, up to 4 MiB.
    pub stderr: String,
}

impl Output {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Panics with everything captured unless it exited with status 0.
    pub fn expect_success(self, what: &str) -> Self {
        assert!(
            self.success(),
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.status
                .map_or("killed at timeout".to_string(), |s| s.to_string()),
            self.stdout,
            self.stderr
        );
        self
    }
}

const OUTPUT_LIMIT: u64 = 4 << 20;

fn reader<R: Read + Send + 'static>(r: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(r) = r {
            let _ = r.take(OUTPUT_LIMIT).read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` with `stdin` as its standard input, for at most `timeout` (then kills it), and
/// captures stdout and stderr (each up to 4 MiB).
pub fn run_with_input(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")));
    let out = reader(child.0.stdout.take());
    let err = reader(child.0.stderr.take());
    if let Some(mut input) = child.0.stdin.take() {
        let data = stdin.to_vec();
        // A writer thread, so a peer that does not read cannot block us; the pipe closes
        // (EOF) when the thread ends.
        thread::spawn(move || {
            use std::io::Write;
            let _ = input.write_all(&data);
        });
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.0.kill();
                let _ = child.0.wait();
                break None;
            }
        }
    };
    // The pipes close when the process is gone (unless it left children holding them).
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs `cmd` (no input) for at most `timeout`, capturing stdout and stderr.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    run_with_input(cmd, b"", timeout)
}

/// Runs `cmd` for at most [`COMMAND_TIMEOUT`] and returns (status, stdout, stderr).
pub fn run_capture(cmd: &mut Command) -> (Option<ExitStatus>, String, String) {
    let o = run(cmd, COMMAND_TIMEOUT);
    (o.status, o.stdout, o.stderr)
}
