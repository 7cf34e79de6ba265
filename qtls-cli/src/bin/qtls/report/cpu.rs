//! A server process's CPU time, from the kernel's per-thread accounting
//! (`/proc/PID/task/*/schedstat`, nanoseconds), as `benches/server_cpu.rs` reads it.

use qtls::Error;

/// Linux's USER_HZ (the unit of /proc/PID/stat's utime and stime).
const TICK_NS: u64 = 10_000_000;

/// One reading of a process.
#[derive(Debug)]
pub(super) struct Cpu {
    /// (thread id, CPU ns) of each thread.
    threads: Vec<(u32, u64)>,
    /// utime + stime of the whole process, in ticks.
    ticks: u64,
}

impl Cpu {
    pub(super) fn read(pid: u32) -> Result<Self, Error> {
        let unreadable =
            |what: &str, e: std::io::Error| Error::Config(format!("/proc/{pid}/{what}: {e}"));
        let mut threads = Vec::new();
        let tasks =
            std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| unreadable("task", e))?;
        for entry in tasks.flatten() {
            let Ok(tid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            // A thread that ends between the listing and the read is simply not counted.
            if let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) {
                let ns = stat
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
                threads.push((tid, ns));
            }
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|e| unreadable("stat", e))?;
        // Fields after the parenthesised command name: utime is field 14, stime 15.
        let rest = stat
            .rfind(')')
            .and_then(|at| stat.get(at + 2..))
            .unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(Self {
            threads,
            ticks: field(11) + field(12),
        })
    }

    /// CPU nanoseconds since `before`, and whether every thread of then is still there to
    /// say how much it used (a thread that exited took its last moments with it: then the
    /// process's 10 ms ticks are used if they say more).
    pub(super) fn since(&self, before: &Self) -> (u64, bool) {
        let mut ns = 0;
        for (tid, now) in &self.threads {
            let start = before
                .threads
                .iter()
                .find(|(t, _)| t == tid)
                .map_or(0, |(_, n)| *n);
            ns += now.saturating_sub(start);
        }
        let precise = before
            .threads
            .iter()
            .all(|(tid, _)| self.threads.iter().any(|(t, _)| t == tid));
        if !precise {
            ns = ns.max(self.ticks.saturating_sub(before.ticks) * TICK_NS);
        }
        (ns, precise)
    }
}
