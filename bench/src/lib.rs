//! The performance harness of `supervisor`: the same five workloads, run one
//! implementation after another in one process, on a multi-thread tokio
//! runtime with 2 worker threads.
//!
//! Implementations (`impls/`): ours (the builder API, and the
//! `supervision_tree!` macro where a workload can be written with it), raw
//! tokio (`tokio::spawn` + one `CancellationToken` + a hand-written restart
//! loop per child: the least code that does the job), ractor, kameo and
//! tokio-graceful-shutdown.
//!
//! Workloads (every implementation does the same work; a shared [`Probe`]
//! counts children that started and stopped, and every run asserts both
//! counts equal N):
//!
//! 1. **start**: start N idle leaves (N = 10,000) and wait until all of them
//!    have signalled health (each leaf bumps the probe after its own health
//!    signal; the last one wakes a `tokio::sync::Notify`). Includes building
//!    whatever description the library needs (names, specs). ns per child.
//! 2. **stop**: shut all of them down and wait until every task has ended.
//!    ns per child.
//! 3. **restart**: one child that fails (returns an error) on every
//!    incarnation until N incarnations have failed, with zero backoff and no
//!    restart limit; time from start until incarnation N+1 runs, divided by N.
//!    ns per cycle.
//! 4. **memory**: heap bytes live per idle child with 100,000 children,
//!    measured by the counting global allocator of the bench binary
//!    (allocated minus freed while starting them, divided by N; tokio task
//!    memory is included since tasks live on the heap).
//! 5. **tree**: a depth-4, fanout-10 tree (1 + 10 + 100 + 1,000 groups,
//!    10,000 leaves) started until every leaf is healthy, then stopped.
//!
//! Plus a scaling run of start + stop at 1,000, 10,000 and 100,000 children.
//!
//! Timed runs are repeated and the median is reported. No tracing subscriber
//! is installed and nobody subscribes to our event stream, as in a
//! production program that does not log at `info`.

pub mod alloc;
pub mod impls;
pub mod probe;
pub mod report;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use probe::Probe;

/// What to run and how big.
#[derive(Clone, Debug)]
pub struct Config {
    /// Leaves for start / stop.
    pub n: usize,
    /// Idle children for the memory workload.
    pub mem_n: usize,
    /// Restart cycles.
    pub restart_n: usize,
    /// Depth of the tree workload (leaves at this depth).
    pub depth: u32,
    /// Fanout of the tree workload.
    pub fanout: usize,
    /// Repetitions of each timed workload (median reported).
    pub reps: usize,
    /// Child counts of the scaling run.
    pub scaling: Vec<usize>,
    /// Only these implementations (by name), or all.
    pub only: Option<Vec<String>>,
}

impl Config {
    /// The full run.
    pub fn full() -> Self {
        Config {
            n: 10_000,
            mem_n: 100_000,
            restart_n: 10_000,
            depth: 4,
            fanout: 10,
            reps: 5,
            scaling: vec![1_000, 10_000, 100_000],
            only: None,
        }
    }

    /// A smoke test: small sizes, one repetition. Never read its timings.
    pub fn quick() -> Self {
        Config {
            n: 200,
            mem_n: 200,
            restart_n: 200,
            depth: 2,
            fanout: 10,
            reps: 1,
            scaling: vec![100, 200],
            only: None,
        }
    }

    /// Leaves of the tree workload.
    pub fn tree_leaves(&self) -> usize {
        self.fanout.pow(self.depth)
    }

    fn wants(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|x| name.starts_with(x.as_str())))
    }
}

/// A running set of children of one implementation.
pub trait Running: Send {
    /// Stops everything and returns once every task has ended.
    fn stop(self) -> impl Future<Output = ()> + Send;
}

/// One implementation of the workloads. Each method returns once the
/// children have been *asked* to start; the harness waits on the probe.
pub trait Impl {
    /// Row name in the table.
    const NAME: &'static str;
    /// What `start_*` return.
    type Run: Running;

    /// Starts `n` idle leaves under one supervisor.
    fn start_flat(n: usize, p: &Arc<Probe>) -> impl Future<Output = Self::Run> + Send;

    /// Starts one child that fails on its first `fails` incarnations, then
    /// stays up; `None` if the implementation cannot restart.
    fn start_flaky(fails: usize, p: &Arc<Probe>) -> impl Future<Output = Option<Self::Run>> + Send;

    /// Starts a tree of groups, `fanout` children each, leaves at `depth`.
    fn start_tree(
        depth: u32,
        fanout: usize,
        p: &Arc<Probe>,
    ) -> impl Future<Output = Option<Self::Run>> + Send;

    /// Whether `start_flat` is available (the macro variant only does the
    /// workloads it can express).
    fn has_flat() -> bool {
        true
    }
}

/// Results of one implementation; `None` where it cannot do the job.
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// Row name.
    pub name: &'static str,
    /// ns per child, start until all healthy.
    pub start: Option<f64>,
    /// ns per child, shutdown.
    pub stop: Option<f64>,
    /// ns per restart cycle.
    pub restart: Option<f64>,
    /// Heap bytes per idle child.
    pub mem: Option<f64>,
    /// Heap allocations per started child (memory run).
    pub allocs: Option<f64>,
    /// Tree start, µs total.
    pub tree_start: Option<f64>,
    /// Tree stop, µs total.
    pub tree_stop: Option<f64>,
    /// Scaling: (N, ns per child for start + stop).
    pub scaling: Vec<(usize, f64)>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

/// Runs `f` with a timeout, so that a hung implementation fails loudly.
async fn guard<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(120), f).await {
        Ok(t) => t,
        Err(_) => panic!("{what}: timed out after 120 s"),
    }
}

/// Lets the runtime settle (tasks freed, timers fired) between runs.
async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Start `n` leaves, wait until all are healthy, stop them; returns
/// (start ns, stop ns) totals, after checking the counts.
async fn flat_once<I: Impl>(n: usize) -> (f64, f64) {
    let p = Probe::new(n);
    let t0 = Instant::now();
    let run = I::start_flat(n, &p).await;
    guard(I::NAME, p.wait_started()).await;
    let t1 = Instant::now();
    guard(I::NAME, run.stop()).await;
    let t2 = Instant::now();
    p.assert_all(I::NAME, n);
    settle().await;
    ((t1 - t0).as_nanos() as f64, (t2 - t1).as_nanos() as f64)
}

async fn restart_once<I: Impl>(fails: usize) -> Option<f64> {
    let p = Probe::new(fails + 1);
    let t0 = Instant::now();
    let run = I::start_flaky(fails, &p).await?;
    guard(I::NAME, p.wait_started()).await;
    let t1 = Instant::now();
    guard(I::NAME, run.stop()).await;
    p.assert_all(I::NAME, fails + 1);
    settle().await;
    Some((t1 - t0).as_nanos() as f64 / fails as f64)
}

async fn tree_once<I: Impl>(depth: u32, fanout: usize) -> Option<(f64, f64)> {
    let leaves = fanout.pow(depth);
    let p = Probe::new(leaves);
    let t0 = Instant::now();
    let run = I::start_tree(depth, fanout, &p).await?;
    guard(I::NAME, p.wait_started()).await;
    let t1 = Instant::now();
    guard(I::NAME, run.stop()).await;
    let t2 = Instant::now();
    p.assert_all(I::NAME, leaves);
    settle().await;
    Some((
        (t1 - t0).as_nanos() as f64 / 1e3,
        (t2 - t1).as_nanos() as f64 / 1e3,
    ))
}

async fn memory_once<I: Impl>(n: usize) -> Option<(f64, f64)> {
    if !alloc::installed() {
        return None;
    }
    settle().await;
    let p = Probe::new(n);
    alloc::enable();
    let before = alloc::snapshot();
    let run = I::start_flat(n, &p).await;
    guard(I::NAME, p.wait_started()).await;
    settle().await;
    let after = alloc::snapshot();
    alloc::disable();
    guard(I::NAME, run.stop()).await;
    p.assert_all(I::NAME, n);
    settle().await;
    let bytes = (after.live - before.live) as f64 / n as f64;
    let allocs = (after.allocs - before.allocs) as f64 / n as f64;
    Some((bytes, allocs))
}

/// Runs every workload of one implementation.
pub async fn run_impl<I: Impl>(cfg: &Config) -> Results {
    let mut r = Results {
        name: I::NAME,
        ..Results::default()
    };
    if I::has_flat() {
        // Warm up the runtime (worker threads, allocator pools) once.
        flat_once::<I>(cfg.n.min(1_000)).await;
        let mut starts = Vec::new();
        let mut stops = Vec::new();
        for _ in 0..cfg.reps {
            let (s, t) = flat_once::<I>(cfg.n).await;
            starts.push(s / cfg.n as f64);
            stops.push(t / cfg.n as f64);
        }
        r.start = Some(median(starts));
        r.stop = Some(median(stops));
        if let Some((b, a)) = memory_once::<I>(cfg.mem_n).await {
            r.mem = Some(b);
            r.allocs = Some(a);
        }
        for &n in &cfg.scaling {
            let reps = if n >= 100_000 {
                cfg.reps.min(3)
            } else {
                cfg.reps
            };
            let mut v = Vec::new();
            for _ in 0..reps {
                let (s, t) = flat_once::<I>(n).await;
                v.push((s + t) / n as f64);
            }
            r.scaling.push((n, median(v)));
        }
    }
    let mut v = Vec::new();
    for _ in 0..cfg.reps {
        match restart_once::<I>(cfg.restart_n).await {
            Some(x) => v.push(x),
            None => break,
        }
    }
    if !v.is_empty() {
        r.restart = Some(median(v));
    }
    let mut starts = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..cfg.reps {
        match tree_once::<I>(cfg.depth, cfg.fanout).await {
            Some((s, t)) => {
                starts.push(s);
                stops.push(t);
            }
            None => break,
        }
    }
    if !starts.is_empty() {
        r.tree_start = Some(median(starts));
        r.tree_stop = Some(median(stops));
    }
    r
}

/// Runs every implementation that `cfg` selects, one after another.
pub async fn run_all(cfg: &Config) -> Vec<Results> {
    use impls::*;
    let mut out = Vec::new();
    macro_rules! one {
        ($t:ty) => {
            if cfg.wants(<$t as Impl>::NAME) {
                eprintln!("running {} ...", <$t as Impl>::NAME);
                out.push(run_impl::<$t>(cfg).await);
            }
        };
    }
    one!(raw::Raw);
    one!(ours::Ours);
    one!(ours::OursMacro);
    one!(ractor::Ractor);
    one!(kameo::Kameo);
    one!(tgs::Tgs);
    out
}

/// A multi-thread runtime with 2 workers, as every measurement uses.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
