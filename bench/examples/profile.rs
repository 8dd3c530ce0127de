//! Runs one workload of one implementation over and over, for a profiler
//! (`perf record`, `valgrind --tool=callgrind`) and for the spread of
//! repeated runs: prints each repetition's wall and CPU time and what the
//! runtime's workers did meanwhile.
//!
//! ```sh
//! cargo run -p supervisor-bench --release --example profile -- ours flat 10000 50
//! # worker steals, polls and schedules too (tokio's unstable metrics):
//! RUSTFLAGS="--cfg tokio_unstable" cargo run -p supervisor-bench --release \
//!     --target-dir target/unstable --example profile -- ours flat 10000 50
//! # allocations by size during one start of 10,000 leaves:
//! cargo run -p supervisor-bench --release --example profile -- ours alloc 10000 1
//! ```
//!
//! Arguments: `raw|ours|macro|rawpad|rawold` (`macro`: ours with the tree
//! built by `supervision_tree!`, for `tree` and `restart` only; `rawpad`:
//! raw tokio with 5 clock reads per spawn, a control for the spread of the
//! start; `rawold`: the raw column as it was)
//! `flat|cpu|tree|tree-parts|restart|alloc|tree-alloc|start|tree-start|idle`
//! `[n]` `[reps]`. `flat` is start + stop of `n` leaves (with the workers'
//! counters for each; `cpu` the same with CPU time), `tree` the depth-4
//! fanout-10 tree, `tree-parts` (ours only) the same tree's start and
//! stop cut into the caller's work (describe and build; drop the last
//! handle) and the runtime's, `restart` `n` restart cycles, `alloc` (`tree-alloc`) one
//! start of `n` leaves (of the tree) with an allocation histogram. For instruction counts per child
//! under callgrind: `idle` only warms up (a 1,000-leaf start and stop) and
//! exits, `start` and `tree-start` warm up, start once and exit without
//! stopping; (start − idle) / n is the start, (flat with 2 reps − flat with
//! 1) / n the start and stop.

use std::time::Duration;

use std::sync::Arc;

use supervisor_bench::impls::{
    ours::{builder_tree, Ours, OursMacro},
    raw::Raw,
    raw_loop::RawLoop,
};
use supervisor_bench::service::NoDynamic;
use supervisor_bench::{alloc, flat_once, restart_once, runtime, tree_once, Impl, Probe, Running};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Raw tokio's flat start with `PAD` extra clock reads per spawned child in
/// the supervisor's loop: a control experiment for the spread of the start
/// (does a slower spawning loop alone push the second worker into parking
/// and waking for every few children?).
struct RawPadded;

const PAD: usize = 5;

struct PadRun(CancellationToken, JoinHandle<()>);

impl Running for PadRun {
    async fn stop(self) {
        self.0.cancel();
        self.1.await.expect("supervisor");
    }
}

impl Impl for RawPadded {
    const NAME: &'static str = "raw tokio + 5 clock reads per spawn";
    type Run = PadRun;
    type Dyn = NoDynamic;

    async fn start_flat(n: usize, p: &Arc<Probe>) -> PadRun {
        let token = CancellationToken::new();
        let (t, p) = (token.clone(), p.clone());
        let sup = tokio::spawn(async move {
            let mut set = JoinSet::new();
            for _ in 0..n {
                for _ in 0..PAD {
                    std::hint::black_box(std::time::Instant::now());
                }
                let (t, p) = (t.clone(), p.clone());
                set.spawn(async move {
                    p.started();
                    t.cancelled().await;
                    p.stopped();
                });
            }
            while set.join_next().await.is_some() {}
        });
        PadRun(token, sup)
    }

    async fn start_flaky(_: usize, _: &Arc<Probe>) -> Option<PadRun> {
        None
    }

    async fn start_tree(_: u32, _: usize, _: &Arc<Probe>) -> Option<PadRun> {
        None
    }
}

/// Per-worker counters at one instant.
#[derive(Clone, Debug, Default)]
struct Workers {
    park: Vec<u64>,
    busy: Vec<Duration>,
    #[cfg(tokio_unstable)]
    steal: Vec<u64>,
    #[cfg(tokio_unstable)]
    poll: Vec<u64>,
    #[cfg(tokio_unstable)]
    local: Vec<u64>,
    #[cfg(tokio_unstable)]
    overflow: Vec<u64>,
    #[cfg(tokio_unstable)]
    remote: u64,
}

impl Workers {
    fn now() -> Workers {
        let m = tokio::runtime::Handle::current().metrics();
        let n = m.num_workers();
        Workers {
            park: (0..n).map(|w| m.worker_park_count(w)).collect(),
            busy: (0..n).map(|w| m.worker_total_busy_duration(w)).collect(),
            #[cfg(tokio_unstable)]
            steal: (0..n).map(|w| m.worker_steal_count(w)).collect(),
            #[cfg(tokio_unstable)]
            poll: (0..n).map(|w| m.worker_poll_count(w)).collect(),
            #[cfg(tokio_unstable)]
            local: (0..n).map(|w| m.worker_local_schedule_count(w)).collect(),
            #[cfg(tokio_unstable)]
            overflow: (0..n).map(|w| m.worker_overflow_count(w)).collect(),
            #[cfg(tokio_unstable)]
            remote: m.remote_schedule_count(),
        }
    }

    /// What happened since `before`, one line.
    fn since(&self, before: &Workers) -> String {
        fn d(a: &[u64], b: &[u64]) -> String {
            let v: Vec<String> = a.iter().zip(b).map(|(x, y)| (x - y).to_string()).collect();
            v.join("/")
        }
        let busy: Vec<String> = self
            .busy
            .iter()
            .zip(&before.busy)
            .map(|(x, y)| format!("{:.1}", (*x - *y).as_secs_f64() * 1e3))
            .collect();
        #[allow(unused_mut)]
        let mut s = format!(
            "parks {} busy_ms {}",
            d(&self.park, &before.park),
            busy.join("/")
        );
        #[cfg(tokio_unstable)]
        {
            s += &format!(
                " steals {} polls {} local {} overflow {} remote {}",
                d(&self.steal, &before.steal),
                d(&self.poll, &before.poll),
                d(&self.local, &before.local),
                d(&self.overflow, &before.overflow),
                self.remote - before.remote
            );
        }
        s
    }
}

async fn run<I: Impl>(what: &str, n: usize, reps: usize) {
    match what {
        "flat" => {
            flat_once::<I>(n.min(1_000)).await;
            for rep in 0..reps {
                // The start and the stop apart, each with what the workers did.
                let p = Probe::new(n);
                let w0 = Workers::now();
                let t0 = std::time::Instant::now();
                let run = I::start_flat(n, &p).await;
                p.wait_started().await;
                let t1 = std::time::Instant::now();
                let w1 = Workers::now();
                run.stop().await;
                let t2 = std::time::Instant::now();
                let w2 = Workers::now();
                p.assert_all(I::NAME, n);
                println!(
                    "{rep:3} start {:6.0} ns/child [{}]  stop {:6.0} [{}]",
                    (t1 - t0).as_nanos() as f64 / n as f64,
                    w1.since(&w0),
                    (t2 - t1).as_nanos() as f64 / n as f64,
                    w2.since(&w1),
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "cpu" => {
            // As `flat`, with the process's CPU time instead of the workers' counters.
            flat_once::<I>(n.min(1_000)).await;
            for rep in 0..reps {
                let (start, stop) = flat_once::<I>(n).await;
                println!(
                    "{rep:3} start {:6.0} ns/child (cpu {:6.0})  stop {:6.0} (cpu {:6.0})",
                    start.wall / n as f64,
                    start.cpu / n as f64,
                    stop.wall / n as f64,
                    stop.cpu / n as f64,
                );
            }
        }
        "tree" => {
            for rep in 0..reps {
                let w0 = Workers::now();
                let (start, stop) = tree_once::<I>(4, 10).await.expect("a tree");
                let w1 = Workers::now();
                println!(
                    "{rep:3} tree start {:6.0} ns/leaf (cpu {:6.0})  stop {:6.0} (cpu {:6.0})  {}",
                    start.wall / 1e4,
                    start.cpu / 1e4,
                    stop.wall / 1e4,
                    stop.cpu / 1e4,
                    w1.since(&w0)
                );
            }
        }
        "tree-parts" => {
            // Ours only: the tree's start and stop cut where the caller's
            // thread works alone (describing and building; dropping the
            // last handle) and where the workers run the tree.
            for rep in 0..reps {
                let p = Probe::new(10_000);
                let t0 = std::time::Instant::now();
                let tree = builder_tree(4, 10, &p);
                let t1 = std::time::Instant::now();
                let handle = tree.start();
                p.wait_started().await;
                let t2 = std::time::Instant::now();
                let report = handle.shutdown().await;
                let t3 = std::time::Instant::now();
                assert!(report.is_clean());
                drop((report, handle));
                let t4 = std::time::Instant::now();
                p.assert_all("ours", 10_000);
                let ns = |a: std::time::Instant, b: std::time::Instant| (b - a).as_nanos() / 10_000;
                println!(
                    "{rep:3} describe+build {:5} run to started {:5} shutdown {:5} drop {:5} ns/leaf",
                    ns(t0, t1),
                    ns(t1, t2),
                    ns(t2, t3),
                    ns(t3, t4)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "restart" => {
            for rep in 0..reps {
                let w0 = Workers::now();
                let s = restart_once::<I>(n).await.expect("restarts");
                let w1 = Workers::now();
                println!(
                    "{rep:3} restart {:6.0} ns/cycle (cpu {:6.0})  {}",
                    s.wall / n as f64,
                    s.cpu / n as f64,
                    w1.since(&w0)
                );
            }
        }
        "alloc" | "tree-alloc" => {
            flat_once::<I>(1_000).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let tree = what == "tree-alloc";
            let n = if tree { 10_000 } else { n };
            let p = Probe::new(n);
            alloc::histogram_on();
            alloc::enable();
            let run = if tree {
                I::start_tree(4, 10, &p).await.expect("a tree")
            } else {
                I::start_flat(n, &p).await
            };
            p.wait_started().await;
            alloc::disable();
            let total = alloc::snapshot();
            println!(
                "{}: {} allocations ({:.2} per leaf), {} bytes live ({:.0} per leaf)",
                I::NAME,
                total.allocs,
                total.allocs as f64 / n as f64,
                total.live,
                total.live as f64 / n as f64
            );
            for (size, count) in alloc::histogram() {
                if count as usize >= n / 1000 {
                    println!(
                        "  size ≤ {size:5}: {count:8} ({:.3} per leaf)",
                        count as f64 / n as f64
                    );
                }
            }
            run.stop().await;
        }
        "idle" => {
            flat_once::<I>(1_000).await;
        }
        "start" | "tree-start" => {
            flat_once::<I>(1_000).await;
            let (p, _run) = if what == "start" {
                let p = Probe::new(n);
                let run = I::start_flat(n, &p).await;
                (p, run)
            } else {
                let p = Probe::new(10_000);
                let run = I::start_tree(4, 10, &p).await.expect("a tree");
                (p, run)
            };
            p.wait_started().await;
            // Exit without stopping: the stop is not counted.
            std::process::exit(if p.counts().0 > 0 { 0 } else { 1 });
        }
        other => panic!("unknown workload {other}: flat, tree, restart, alloc or idle"),
    }
}

fn main() {
    alloc::mark_installed();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let who = args.first().map_or("ours", String::as_str);
    let what = args.get(1).map_or("flat", String::as_str);
    let n: usize = args.get(2).map_or(10_000, |s| s.parse().expect("n"));
    let reps: usize = args.get(3).map_or(10, |s| s.parse().expect("reps"));
    // `WORKERS=1` for a comparison with a single worker (no stealing, no
    // parking of an idle second worker); the bench itself always uses 2.
    let rt = match std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()) {
        Some(w) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(w)
            .enable_all()
            .build()
            .expect("a tokio runtime"),
        None => runtime(),
    };
    rt.block_on(async {
        match who {
            "raw" => run::<Raw>(what, n, reps).await,
            "ours" => run::<Ours>(what, n, reps).await,
            "macro" => run::<OursMacro>(what, n, reps).await,
            "rawpad" => run::<RawPadded>(what, n, reps).await,
            "rawold" => run::<RawLoop>(what, n, reps).await,
            other => panic!("unknown implementation {other}: raw, ours, macro, rawpad or rawold"),
        }
    });
}
