//! The measured processes and their CPU accounting, and small helpers.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Linux's USER_HZ (the unit of /proc/PID/stat's utime and stime).
const TICK_NS: u64 = 10_000_000;

/// One measurement: server CPU over some connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) cpu_ns: u64,
    /// Times the server's threads were put on a CPU (schedstat's third field).
    pub(crate) slices: u64,
    pub(crate) connections: usize,
    /// From schedstat (ns) rather than 10 ms ticks.
    pub(crate) precise: bool,
}

impl Sample {
    pub(crate) fn per_handshake_us(&self) -> f64 {
        self.cpu_ns as f64 / 1000.0 / self.connections.max(1) as f64
    }

    pub(crate) fn slices_per_handshake(&self) -> f64 {
        self.slices as f64 / self.connections.max(1) as f64
    }
}

pub(crate) fn pooled_us(samples: &[Sample]) -> f64 {
    let cpu: u64 = samples.iter().map(|s| s.cpu_ns).sum();
    let connections: usize = samples.iter().map(|s| s.connections).sum();
    cpu as f64 / 1000.0 / connections.max(1) as f64
}

/// A process's CPU time as the kernel accounts it.
pub(crate) struct Cpu {
    /// Its threads and each one's /proc/PID/task/TID/schedstat: ns on a CPU, and how many
    /// times it was put on one.
    pub(crate) threads: Vec<(u32, u64, u64)>,
    /// utime + stime from /proc/PID/stat (whole process, 10 ms ticks).
    pub(crate) ticks: u64,
}

impl Cpu {
    /// The CPU time from `before` to this reading (connections left at 0): per thread, so a
    /// thread that started in between counts whole. A thread that exited in between takes
    /// its last moments with it: then the sample is marked imprecise and the process's
    /// 10 ms ticks are used if they say more.
    pub(crate) fn since(&self, before: &Self) -> Sample {
        let (mut cpu_ns, mut slices) = (0, 0);
        for (tid, ns, count) in &self.threads {
            let (start_ns, start_count) = before
                .threads
                .iter()
                .find(|(t, _, _)| t == tid)
                .map_or((0, 0), |(_, ns, count)| (*ns, *count));
            cpu_ns += ns.saturating_sub(start_ns);
            slices += count.saturating_sub(start_count);
        }
        let precise = before
            .threads
            .iter()
            .all(|(tid, _, _)| self.threads.iter().any(|(t, _, _)| t == tid));
        if !precise {
            cpu_ns = cpu_ns.max((self.ticks - before.ticks) * TICK_NS);
        }
        Sample {
            cpu_ns,
            slices,
            connections: 0,
            precise,
        }
    }

    pub(crate) fn read(pid: u32) -> Self {
        let mut threads = Vec::new();
        for entry in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task") {
            let entry = entry.unwrap();
            let Ok(tid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) {
                let mut fields = stat
                    .split_whitespace()
                    .map(|n| n.parse::<u64>().unwrap_or(0));
                let ns = fields.next().unwrap_or(0);
                let count = fields.nth(1).unwrap_or(0);
                threads.push((tid, ns, count));
            }
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Self { threads, ticks }
    }
}

/// A server (or responder) process, killed when dropped; its output goes to a log file.
pub(crate) struct Process {
    pub(crate) name: &'static str,
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) log: PathBuf,
}

impl Process {
    pub(crate) fn spawn(name: &'static str, cmd: &mut Command, dir: &Path, port: u16) -> Self {
        let log = dir.join(format!("{}.log", name.replace('+', "-")));
        let file = File::create(&log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let mut process = Self {
            name,
            child,
            port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            process.assert_running();
            assert!(Instant::now() < deadline, "{name} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        process
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited with {status}:\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn check(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `QTLS_OPENSSL`, else what scripts/openssl.sh prints (it builds OpenSSL 4 once).
pub(crate) fn openssl_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("QTLS_OPENSSL").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/openssl.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/openssl.sh");
    assert!(out.status.success(), "scripts/openssl.sh failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The 1-, 5- and 15-minute load averages.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(crate) fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub(crate) fn openssl_version(openssl: &Path, conf: &Path) -> String {
    Command::new(openssl)
        .env("OPENSSL_CONF", conf)
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// HEAD, and whether tracked files differed from it (the binary was built from them).
pub(crate) fn git_commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let head = git(&["rev-parse", "--short", "HEAD"]);
    if git(&["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        head
    } else {
        format!("{head} (with uncommitted changes)")
    }
}

pub(crate) fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
