//! What the Q-TLS benches measure with (`qtls-provider/benches/*.rs`, the root crate's
//! `benches/handshake.rs`).
//!
//! Two kinds of benchmark:
//!
//! - **Per-operation times** ([`BenchClock`]): one operation per benchmark, for the absolute
//!   numbers. By default each sample is the benchmark thread's own CPU time (Linux
//!   `/proc/thread-self/schedstat`, the scheduler's `sum_exec_runtime` in ns), so that time
//!   the thread spends preempted by other processes is not counted. That counter advances in
//!   scheduler ticks while the thread runs uninterrupted (4 ms at HZ=250), an error without
//!   bias on each sample that flat sampling of ~200 ms samples keeps under 1 % of the mean.
//!   `QTLS_BENCH_CLOCK=wall` switches to criterion's wall clock (and so does a system without
//!   the schedstat file).
//! - **Paired ratios** ([`Ratio`], [`paired`]): the operation and the ones it is compared
//!   with run interleaved, alternating which goes first, and each iteration's value is the
//!   dimensionless ratio of their wall times (criterion prints it with the unit `×`). On a
//!   shared or virtual machine whose speed drifts by tens of percent from one second to the
//!   next, a ratio of two benchmarks measured seconds apart is only as good as that drift;
//!   the paired ratio sees the same machine on both sides of the fraction, so drift,
//!   preemption and frequency changes divide out.

use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};

const SCHEDSTAT: &str = "/proc/thread-self/schedstat";

/// Thread CPU time or wall time, chosen by `QTLS_BENCH_CLOCK` (`thread-cpu` or `wall`).
pub struct BenchClock {
    wall: bool,
    formatter: WallTime,
}

impl BenchClock {
    fn from_env() -> Self {
        let wanted = std::env::var("QTLS_BENCH_CLOCK").unwrap_or_default();
        let wall = match wanted.as_str() {
            "wall" => true,
            "" | "thread-cpu" | "cpu" => thread_cpu_ns().is_none(),
            other => panic!("QTLS_BENCH_CLOCK={other:?}: expected thread-cpu or wall"),
        };
        eprintln!(
            "qtls benches: measuring {}",
            if wall {
                "wall time"
            } else {
                "thread CPU time (/proc/thread-self/schedstat)"
            }
        );
        Self {
            wall,
            formatter: WallTime,
        }
    }
}

fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string(SCHEDSTAT)
        .ok()?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Measurement for BenchClock {
    type Intermediate = (Instant, u64);
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        let cpu = if self.wall {
            0
        } else {
            thread_cpu_ns().unwrap_or(0)
        };
        (Instant::now(), cpu)
    }

    fn end(&self, (wall_start, cpu_start): Self::Intermediate) -> Duration {
        if self.wall {
            return wall_start.elapsed();
        }
        let cpu_end = thread_cpu_ns().unwrap_or(cpu_start);
        Duration::from_nanos(cpu_end.saturating_sub(cpu_start))
    }

    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.formatter.formatter()
    }
}

/// A stopwatch of the time a thread spent on a CPU: wall time less the time the thread waited
/// in the run queue meanwhile (`/proc/thread-self/schedstat`'s second field, which the kernel
/// adds to when it gives the thread a CPU back, so a preemption is counted in full as soon as
/// it ends). For operations that do not block, this is their CPU time at `Instant`'s
/// resolution, where the first field moves only in scheduler ticks; on a shared machine it
/// takes out of the paired ratios the preemptions that make wall time spiky. Without the
/// file it is wall time.
#[derive(Debug, Clone, Copy)]
pub struct OnCpu {
    wall: Instant,
    waited_ns: u64,
}

impl OnCpu {
    /// Starts now.
    pub fn start() -> Self {
        let waited_ns = run_delay_ns();
        Self {
            wall: Instant::now(),
            waited_ns,
        }
    }

    /// The time on a CPU since [`Self::start`].
    pub fn elapsed(&self) -> Duration {
        let wall = self.wall.elapsed();
        let waited = run_delay_ns().saturating_sub(self.waited_ns);
        wall.saturating_sub(Duration::from_nanos(waited))
    }
}

/// The time `op` spent on a CPU (see [`OnCpu`]).
pub fn on_cpu(op: impl FnOnce()) -> Duration {
    let started = OnCpu::start();
    op();
    started.elapsed()
}

fn run_delay_ns() -> u64 {
    std::fs::read_to_string(SCHEDSTAT)
        .ok()
        .and_then(|s| s.split_ascii_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The short configuration every Q-TLS bench uses: 20 samples, 1 s warm-up,
/// `measurement_secs` of measurement, no plots.
pub fn criterion(measurement_secs: u64) -> Criterion<BenchClock> {
    Criterion::default()
        .with_measurement(BenchClock::from_env())
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(measurement_secs))
        .without_plots()
}

/// A benchmark group with flat sampling: every sample runs the same number of iterations,
/// so each is long against the clock's tick.
pub fn group<'a>(c: &'a mut Criterion<BenchClock>, name: &str) -> BenchmarkGroup<'a, BenchClock> {
    let mut group = c.benchmark_group(name);
    group.sampling_mode(SamplingMode::Flat);
    group
}

/// A dimensionless measurement: each iteration's value is a ratio, as [`paired`] returns it.
/// Only `iter_custom` can produce it.
pub struct Ratio;

impl Measurement for Ratio {
    type Intermediate = ();
    type Value = f64;

    fn start(&self) -> Self::Intermediate {}

    fn end(&self, _: Self::Intermediate) -> f64 {
        panic!("a Ratio benchmark must use iter_custom with qtls's paired()")
    }

    fn add(&self, v1: &f64, v2: &f64) -> f64 {
        v1 + v2
    }

    fn zero(&self) -> f64 {
        0.0
    }

    fn to_f64(&self, value: &f64) -> f64 {
        *value
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &RatioFormatter
    }
}

struct RatioFormatter;

impl ValueFormatter for RatioFormatter {
    fn scale_values(&self, _typical_value: f64, _values: &mut [f64]) -> &'static str {
        "×"
    }

    fn scale_throughputs(
        &self,
        _typical_value: f64,
        _throughput: &Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "×"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ratio"
    }
}

/// The configuration of the paired-ratio benchmarks: as [`criterion()`], with [`Ratio`].
pub fn ratio_criterion(measurement_secs: u64) -> Criterion<Ratio> {
    Criterion::default()
        .with_measurement(Ratio)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(measurement_secs))
        .without_plots()
}

/// [`group`] for paired-ratio benchmarks.
pub fn ratio_group<'a>(c: &'a mut Criterion<Ratio>, name: &str) -> BenchmarkGroup<'a, Ratio> {
    let mut group = c.benchmark_group(name);
    group.sampling_mode(SamplingMode::Flat);
    group
}

/// Runs `numerator` and every one of `denominator` `iters` times, interleaved (each round runs
/// all of them once, the numerator first on even rounds and last on odd ones), and returns
/// `iters × Σ t(numerator) / Σ t(denominator)` in wall time: criterion divides by `iters`,
/// so its per-iteration estimate is the ratio of the numerator's time to the sum of the
/// denominator's, measured side by side.
pub fn paired(
    iters: u64,
    numerator: &mut dyn FnMut(),
    denominator: &mut [&mut dyn FnMut()],
) -> f64 {
    let time = |op: &mut dyn FnMut()| {
        let start = Instant::now();
        op();
        start.elapsed()
    };
    let mut top = || time(numerator);
    let mut bottom: Vec<_> = denominator.iter_mut().map(|op| move || time(*op)).collect();
    let mut bottom: Vec<&mut dyn FnMut() -> Duration> = bottom
        .iter_mut()
        .map(|op| op as &mut dyn FnMut() -> Duration)
        .collect();
    paired_timed(iters, &mut top, &mut bottom)
}

/// [`paired`] for operations that report their own time, so that a part of a larger one can
/// be compared (the server's calls within an in-memory handshake, say).
pub fn paired_timed(
    iters: u64,
    numerator: &mut dyn FnMut() -> Duration,
    denominator: &mut [&mut dyn FnMut() -> Duration],
) -> f64 {
    let mut top = Duration::ZERO;
    let mut bottom = Duration::ZERO;
    for round in 0..iters {
        if round % 2 == 0 {
            top += numerator();
        }
        for op in denominator.iter_mut() {
            bottom += op();
        }
        if round % 2 == 1 {
            top += numerator();
        }
    }
    iters as f64 * top.as_secs_f64() / bottom.as_secs_f64()
}

/// The median of `values`; NaN when there are none.
pub fn median(values: &[f64]) -> f64 {
    let v = sorted(values);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The smallest of `values`; NaN when there are none.
pub fn min(values: &[f64]) -> f64 {
    sorted(values).first().copied().unwrap_or(f64::NAN)
}

/// The largest of `values`; NaN when there are none.
pub fn max(values: &[f64]) -> f64 {
    sorted(values).last().copied().unwrap_or(f64::NAN)
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// A bench setting from the environment: `var` as a number, else `default`. A value that is
/// not a number stops the bench, naming it, rather than running with the default.
pub fn env_number(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{var}={v}: {e}")))
        .unwrap_or(default)
}
