//! The performance harness of `supervisor`: the same five workloads for
//! every implementation in one process, on a multi-thread tokio runtime
//! with 2 worker threads; the repetitions of the short workloads take turns
//! across implementations ([`run_all`]).
//!
//! Implementations (`impls/`): ours (the builder API, and the
//! `supervision_tree!` macro where a workload can be written with it), raw
//! tokio (the least work that supervises, DESIGN.md §8: one supervisor task,
//! a `JoinSet`, one `CancellationToken`; a restart is a new `tokio::spawn`
//! awaited by the supervisor), the raw column as it was before (a restart
//! loop inside each leaf's task), ractor, kameo and tokio-graceful-shutdown.
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
//! Plus a scaling run of start + stop at 1,000, 10,000 and 100,000 children,
//! and two workloads closer to a real service ([`service`]): a group of
//! 1,000 children where 10 fail every millisecond for 5 s while the others
//! answer pings (restarts per second, ping latency p50/p99), and 1,000
//! dynamic children added and removed per second for 10 s (cost per add and
//! remove, heap before and after).
//!
//! Timed runs are repeated and the median is reported; repetition `k` of a
//! short workload runs every implementation once before repetition `k + 1`
//! begins. No tracing subscriber
//! is installed and nobody subscribes to our event stream, as in a
//! production program that does not log at `info`.

pub mod alloc;
pub mod impls;
pub mod probe;
pub mod report;
pub mod service;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use probe::Probe;
use service::{ChurnResult, ChurnSize, DynResult, DynSize, Dynamic};

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
    /// The churn workload.
    pub churn: ChurnSize,
    /// The dynamic workload.
    pub dynamic: DynSize,
    /// Only these implementations (by name), or all.
    pub only: Option<Vec<String>>,
    /// Only these workloads (`flat` = start, stop, memory and scaling;
    /// `restart`, `tree`, `churn`, `dynamic`), or all.
    pub workloads: Option<Vec<String>>,
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
            churn: ChurnSize {
                n: 1_000,
                flaky: 100,
                per_tick: 10,
                ticks: 5_000,
            },
            dynamic: DynSize {
                window: 1_000,
                ticks: 10_000,
            },
            only: None,
            workloads: None,
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
            churn: ChurnSize {
                n: 50,
                flaky: 10,
                per_tick: 2,
                ticks: 20,
            },
            dynamic: DynSize {
                window: 20,
                ticks: 200,
            },
            only: None,
            workloads: None,
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

    fn runs(&self, workload: &str) -> bool {
        self.workloads
            .as_ref()
            .is_none_or(|w| w.iter().any(|x| x == workload))
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
    /// What `start_dynamic` returns.
    type Dyn: Dynamic;

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

    /// Starts the churn group of [`service::Churn`]: child `i` runs
    /// [`service::churn_body`] (or the library's own equivalent), restarted
    /// at once after every failure. `None` if not available.
    fn start_churn(c: &Arc<service::Churn>) -> impl Future<Output = Option<Self::Run>> + Send {
        let _ = c;
        async { None }
    }

    /// Starts an empty group that takes children by key at run time, each
    /// an idle leaf that bumps `p`. `None` if not available.
    fn start_dynamic(p: &Arc<Probe>) -> impl Future<Output = Option<Self::Dyn>> + Send {
        let _ = p;
        async { None }
    }

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
    pub start: Option<Stat>,
    /// ns per child, shutdown.
    pub stop: Option<Stat>,
    /// ns per restart cycle.
    pub restart: Option<Stat>,
    /// Heap bytes per idle child.
    pub mem: Option<f64>,
    /// Heap allocations per started child (memory run).
    pub allocs: Option<f64>,
    /// Heap bytes still live once the memory run's children have all been
    /// stopped (total, not per child): should be about zero.
    pub mem_left: Option<f64>,
    /// Tree start, µs total.
    pub tree_start: Option<Stat>,
    /// Tree stop, µs total.
    pub tree_stop: Option<Stat>,
    /// Scaling: (N, ns per child for start + stop).
    pub scaling: Vec<(usize, f64)>,
    /// The churn workload.
    pub churn: Option<ChurnResult>,
    /// The dynamic workload.
    pub dynamic: Option<DynResult>,
}

/// Repeated timings of one workload, already divided by its unit.
#[derive(Copy, Clone, Debug, Default)]
pub struct Stat {
    /// Median wall time.
    pub median: f64,
    /// Fastest run, wall time.
    pub min: f64,
    /// Slowest run, wall time.
    pub max: f64,
    /// Median CPU time of the whole process (both workers and the harness).
    pub cpu: f64,
    /// The median of this implementation's wall time divided by raw
    /// tokio's *in the same repetition* (the repetitions take turns, so the
    /// two ran seconds apart): less moved by the machine's drift over a run
    /// than the ratio of the two medians. `None` for raw tokio itself, and
    /// where the two do not have the same repetitions.
    pub paired: Option<f64>,
}

impl Stat {
    fn of(v: &[Span], per: f64) -> Stat {
        let wall: Vec<f64> = v.iter().map(|s| s.wall / per).collect();
        Stat {
            median: median(wall.clone()),
            min: wall.iter().copied().fold(f64::INFINITY, f64::min),
            max: wall.iter().copied().fold(0.0, f64::max),
            cpu: median(v.iter().map(|s| s.cpu / per).collect()),
            paired: None,
        }
    }

    /// As [`Stat::of`], with the ratio to `base`'s repetitions, one by one
    /// (see [`Stat::paired`]); `base` is `None` for raw tokio itself.
    fn paired(v: &[Span], per: f64, base: Option<&[Span]>) -> Stat {
        let mut s = Stat::of(v, per);
        s.paired = base
            .filter(|b| b.len() == v.len())
            .map(|b| median(v.iter().zip(b).map(|(x, y)| x.wall / y.wall).collect()));
        s
    }
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

/// Lets the runtime settle, then waits until the live heap stops changing
/// (a library may free what its stopped children held a little after the
/// stop returned): at most 2 s, then the figure is what it is.
async fn settle_heap() {
    settle().await;
    let mut last = alloc::snapshot().live;
    let mut still = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = alloc::snapshot().live;
        still = if now == last { still + 1 } else { 0 };
        if still == 3 {
            return;
        }
        last = now;
    }
}

/// Wall and process CPU time of one timed section, ns.
#[derive(Copy, Clone, Debug, Default)]
pub struct Span {
    /// Wall-clock time.
    pub wall: f64,
    /// CPU time of every thread of the process (0 where the OS does not tell).
    pub cpu: f64,
}

/// Marks the start of a [`Span`].
struct Mark(Instant, u64);

impl Mark {
    fn now() -> Mark {
        // CPU first: reading it takes a few µs, outside the wall time.
        let cpu = service::process_cpu_ns().unwrap_or(0);
        Mark(Instant::now(), cpu)
    }

    fn span(&self, end: &Mark) -> Span {
        Span {
            wall: (end.0 - self.0).as_nanos() as f64,
            cpu: end.1.saturating_sub(self.1) as f64,
        }
    }
}

/// Start `n` leaves, wait until all are healthy, stop them; returns the
/// start and the stop, after checking the counts.
pub async fn flat_once<I: Impl>(n: usize) -> (Span, Span) {
    let p = Probe::new(n);
    let m0 = Mark::now();
    let run = I::start_flat(n, &p).await;
    guard(I::NAME, p.wait_started()).await;
    let m1 = Mark::now();
    guard(I::NAME, run.stop()).await;
    let m2 = Mark::now();
    p.assert_all(I::NAME, n);
    settle().await;
    (m0.span(&m1), m1.span(&m2))
}

/// `fails` restart cycles; returns the whole span (divide by `fails`).
pub async fn restart_once<I: Impl>(fails: usize) -> Option<Span> {
    let p = Probe::new(fails + 1);
    let m0 = Mark::now();
    let run = I::start_flaky(fails, &p).await?;
    guard(I::NAME, p.wait_started()).await;
    let m1 = Mark::now();
    guard(I::NAME, run.stop()).await;
    p.assert_all(I::NAME, fails + 1);
    settle().await;
    Some(m0.span(&m1))
}

/// Starts the tree until every leaf is up, then stops it.
pub async fn tree_once<I: Impl>(depth: u32, fanout: usize) -> Option<(Span, Span)> {
    let leaves = fanout.pow(depth);
    let p = Probe::new(leaves);
    let m0 = Mark::now();
    let run = I::start_tree(depth, fanout, &p).await?;
    guard(I::NAME, p.wait_started()).await;
    let m1 = Mark::now();
    guard(I::NAME, run.stop()).await;
    let m2 = Mark::now();
    p.assert_all(I::NAME, leaves);
    settle().await;
    Some((m0.span(&m1), m1.span(&m2)))
}

/// (bytes per child, allocations per child, bytes left after the stop).
async fn memory_once<I: Impl>(n: usize) -> Option<(f64, f64, f64)> {
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
    guard(I::NAME, run.stop()).await;
    p.assert_all(I::NAME, n);
    settle_heap().await;
    let end = alloc::snapshot();
    alloc::disable();
    let bytes = (after.live - before.live) as f64 / n as f64;
    let allocs = (after.allocs - before.allocs) as f64 / n as f64;
    Some((bytes, allocs, (end.live - before.live) as f64))
}

async fn churn_once<I: Impl>(size: &ChurnSize) -> Option<ChurnResult> {
    let c = service::Churn::new(size.clone());
    let run = I::start_churn(&c).await?;
    guard(I::NAME, c.wait_started(size.n)).await;
    let r = guard(I::NAME, service::drive_churn(&c)).await;
    guard(I::NAME, run.stop()).await;
    let (started, stopped) = c.counts();
    assert_eq!(
        (started, stopped),
        (size.n + r.restarts, size.n + r.restarts),
        "{}: churn: (started, stopped) should both be children + restarts",
        I::NAME
    );
    settle().await;
    Some(r)
}

async fn dynamic_once<I: Impl>(size: &DynSize) -> Option<DynResult> {
    let p = Probe::new(usize::MAX);
    let mut d = I::start_dynamic(&p).await?;
    settle().await;
    let mut live = VecDeque::with_capacity(size.window + 1);
    let counting = alloc::installed();
    if counting {
        alloc::enable();
    }
    let s0 = alloc::snapshot();
    let mut seq = 0usize;
    for _ in 0..size.window {
        let key = format!("k{seq}");
        seq += 1;
        d.add(key.clone()).await;
        guard(I::NAME, p.wait_until(seq)).await;
        live.push_back(key);
    }
    settle().await;
    let s1 = alloc::snapshot();
    let cpu0 = service::process_cpu_ns();
    let (mut add, mut remove) = (Duration::ZERO, Duration::ZERO);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for _ in 0..size.ticks {
        tick.tick().await;
        let key = format!("k{seq}");
        seq += 1;
        let t = Instant::now();
        d.add(key.clone()).await;
        guard(I::NAME, p.wait_until(seq)).await;
        add += t.elapsed();
        live.push_back(key);
        let old = live.pop_front().expect("a live key");
        let t = Instant::now();
        guard(I::NAME, d.remove(&old)).await;
        remove += t.elapsed();
    }
    let cpu1 = service::process_cpu_ns();
    settle().await;
    let s2 = alloc::snapshot();
    while let Some(key) = live.pop_front() {
        guard(I::NAME, d.remove(&key)).await;
    }
    settle_heap().await;
    let s3 = alloc::snapshot();
    alloc::disable();
    guard(I::NAME, d.stop()).await;
    p.assert_all(I::NAME, seq);
    settle().await;
    let ops = size.ticks.max(1);
    Some(DynResult {
        ops: size.ticks,
        add_ns: add.as_nanos() as f64 / ops as f64,
        remove_ns: remove.as_nanos() as f64 / ops as f64,
        cpu_ns_per_pair: cpu0.zip(cpu1).map(|(a, b)| (b - a) as f64 / ops as f64),
        bytes_per_child: counting.then(|| (s1.live - s0.live) as f64 / size.window.max(1) as f64),
        allocs_per_pair: counting.then(|| (s2.allocs - s1.allocs) as f64 / ops as f64),
        growth: counting.then_some(s2.live - s1.live),
        left: counting.then_some(s3.live - s0.live),
    })
}

/// A boxed future of the bench's driver (the measured code runs inside it,
/// unboxed).
type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;
/// Heap bytes and allocations per child, and bytes left after the stop.
type Memory = Option<(f64, f64, f64)>;
/// The start and the stop of a tree, if the implementation can build it.
type TreeRun = Option<(Span, Span)>;

/// One implementation as [`run_all`] drives it: its workloads behind
/// function pointers, so that the repetitions of the short workloads can
/// take turns across implementations.
struct Entry {
    name: &'static str,
    has_flat: bool,
    flat: fn(usize) -> Boxed<'static, (Span, Span)>,
    memory: fn(usize) -> Boxed<'static, Memory>,
    restart: fn(usize) -> Boxed<'static, Option<Span>>,
    tree: fn(u32, usize) -> Boxed<'static, TreeRun>,
    churn: for<'a> fn(&'a ChurnSize) -> Boxed<'a, Option<ChurnResult>>,
    dynamic: for<'a> fn(&'a DynSize) -> Boxed<'a, Option<DynResult>>,
}

fn entry<I: Impl + 'static>() -> Entry {
    Entry {
        name: I::NAME,
        has_flat: I::has_flat(),
        flat: |n| Box::pin(flat_once::<I>(n)),
        memory: |n| Box::pin(memory_once::<I>(n)),
        restart: |n| Box::pin(restart_once::<I>(n)),
        tree: |d, f| Box::pin(tree_once::<I>(d, f)),
        churn: |c| Box::pin(churn_once::<I>(c)),
        dynamic: |d| Box::pin(dynamic_once::<I>(d)),
    }
}

/// Runs every implementation that `cfg` selects.
///
/// The short workloads (start and stop, scaling, restart, tree) take turns:
/// repetition `k` runs each implementation once, the `k`-th first, so that
/// what the machine does over the minutes of a run (other load, its memory,
/// its clock) falls on every implementation alike, and each ratio compares
/// repetitions taken seconds apart rather than minutes. Memory counts do
/// not depend on timing and run once; the long workloads (churn, dynamic)
/// run once per implementation, one after another.
pub async fn run_all(cfg: &Config) -> Vec<Results> {
    use impls::*;
    let es: Vec<Entry> = [
        entry::<raw::Raw>(),
        entry::<raw_loop::RawLoop>(),
        entry::<ours::Ours>(),
        entry::<ours::OursMacro>(),
        entry::<ractor::Ractor>(),
        entry::<kameo::Kameo>(),
        entry::<tgs::Tgs>(),
    ]
    .into_iter()
    .filter(|e| cfg.wants(e.name))
    .collect();
    let m = es.len();
    let mut out: Vec<Results> = es
        .iter()
        .map(|e| Results {
            name: e.name,
            ..Results::default()
        })
        .collect();
    let turns = |k: usize| (0..m).map(move |j| (k + j) % m);
    // Raw tokio's index, the base of the paired ratios.
    let raw = es.iter().position(|e| e.name == raw::Raw::NAME);
    let lists = || -> Vec<Vec<Span>> { (0..m).map(|_| Vec::new()).collect() };
    if cfg.runs("flat") {
        eprintln!("start and stop ...");
        // Warm up the runtime (worker threads, allocator pools) once each.
        for e in es.iter().filter(|e| e.has_flat) {
            (e.flat)(cfg.n.min(1_000)).await;
        }
        let (mut starts, mut stops) = (lists(), lists());
        for k in 0..cfg.reps {
            for i in turns(k).filter(|&i| es[i].has_flat) {
                let (s, t) = (es[i].flat)(cfg.n).await;
                starts[i].push(s);
                stops[i].push(t);
            }
        }
        eprintln!("memory ...");
        for (i, e) in es.iter().enumerate().filter(|(_, e)| e.has_flat) {
            let n = cfg.n as f64;
            let base = raw.filter(|&r| r != i);
            out[i].start = Some(Stat::paired(&starts[i], n, base.map(|r| &starts[r][..])));
            out[i].stop = Some(Stat::paired(&stops[i], n, base.map(|r| &stops[r][..])));
            if let Some((b, a, left)) = (e.memory)(cfg.mem_n).await {
                out[i].mem = Some(b);
                out[i].allocs = Some(a);
                out[i].mem_left = Some(left);
            }
        }
        eprintln!("scaling ...");
        for &n in &cfg.scaling {
            let reps = if n >= 100_000 {
                cfg.reps.min(3)
            } else {
                cfg.reps
            };
            let mut v: Vec<Vec<f64>> = (0..m).map(|_| Vec::new()).collect();
            for k in 0..reps {
                for i in turns(k).filter(|&i| es[i].has_flat) {
                    let (s, t) = (es[i].flat)(n).await;
                    v[i].push((s.wall + t.wall) / n as f64);
                }
            }
            for (i, v) in v.into_iter().enumerate().filter(|(_, v)| !v.is_empty()) {
                out[i].scaling.push((n, median(v)));
            }
        }
    }
    if cfg.runs("restart") {
        eprintln!("restart ...");
        let mut v = lists();
        let mut unsupported = vec![false; m];
        for k in 0..cfg.reps {
            for i in turns(k) {
                if unsupported[i] {
                    continue;
                }
                match (es[i].restart)(cfg.restart_n).await {
                    Some(x) => v[i].push(x),
                    None => unsupported[i] = true,
                }
            }
        }
        for (i, x) in v.iter().enumerate().filter(|(_, x)| !x.is_empty()) {
            let base = raw.filter(|&r| r != i).map(|r| &v[r][..]);
            out[i].restart = Some(Stat::paired(x, cfg.restart_n as f64, base));
        }
    }
    if cfg.runs("tree") {
        eprintln!("tree ...");
        let (mut starts, mut stops) = (lists(), lists());
        let mut unsupported = vec![false; m];
        for k in 0..cfg.reps {
            for i in turns(k) {
                if unsupported[i] {
                    continue;
                }
                match (es[i].tree)(cfg.depth, cfg.fanout).await {
                    Some((s, t)) => {
                        starts[i].push(s);
                        stops[i].push(t);
                    }
                    None => unsupported[i] = true,
                }
            }
        }
        for i in (0..m).filter(|&i| !starts[i].is_empty()) {
            // µs in all.
            let base = raw.filter(|&r| r != i);
            out[i].tree_start = Some(Stat::paired(&starts[i], 1e3, base.map(|r| &starts[r][..])));
            out[i].tree_stop = Some(Stat::paired(&stops[i], 1e3, base.map(|r| &stops[r][..])));
        }
    }
    // Long workloads (5 s and 10 s): one run each.
    for (i, e) in es.iter().enumerate() {
        if cfg.runs("churn") {
            eprintln!("churn: {} ...", e.name);
            out[i].churn = (e.churn)(&cfg.churn).await;
        }
        if cfg.runs("dynamic") {
            eprintln!("dynamic: {} ...", e.name);
            out[i].dynamic = (e.dynamic)(&cfg.dynamic).await;
        }
    }
    out
}

/// A multi-thread runtime with 2 workers, as every measurement uses.
///
/// `BENCH_WORKERS` overrides the number of worker threads (default 2): with
/// 1, instruction counts under callgrind no longer depend on how the
/// workers happened to steal and park.
pub fn runtime() -> tokio::runtime::Runtime {
    let workers = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
