//! The two workloads closer to a real service.
//!
//! **Churn** ([`Churn`]): one group of `n` children (1,000). The first
//! `flaky` of them (100) fail on request; the others serve pings. A driver
//! task asks `per_tick` (10) flaky children to fail every millisecond for
//! `ticks` milliseconds (5,000), round-robin, and every failure is restarted
//! at once (zero backoff, no limit). Meanwhile a pinger task sends one ping
//! per millisecond to the serving children in turn and times the answer.
//!
//! - A *failure request* goes to a flaky child that is up: each incarnation
//!   registers a hook in [`Churn::fail`] once it runs, and the driver takes
//!   the hook and fires it (a `oneshot` the child waits on; for the actor
//!   libraries, a message to the actor whose handler returns an error). A
//!   child that is between incarnations has no hook and is skipped for that
//!   round, so an implementation that restarts slowly gets fewer requests:
//!   the figure is restarts *done* per second, and the driver's pace caps it
//!   at `per_tick` per millisecond.
//! - A *ping* is a request over a channel answered by a serving child: an
//!   `mpsc` send of a `oneshot::Sender<()>` that the child answers, or for
//!   the actor libraries their own request–reply (`call` in ractor, `ask` in
//!   kameo), i.e. a message to the actor's mailbox and a reply. Latency is
//!   from before the send to the receipt of the answer, on a task of the same
//!   runtime.
//! - The window ends when the driver has made its last round *and* every
//!   delivered failure has been restarted (the next incarnation is up), so
//!   the counts are exact: restarts == delivered failures, asserted.
//!
//! **Dynamic** ([`Dynamic`]): children added and removed by key at run time,
//! one add and one remove per millisecond. A ramp adds `window` children
//! (1,000), then for `ticks` milliseconds (10,000) each tick adds a new key
//! and removes the oldest, then everything is removed. An add returns once
//! the child is up (it has bumped the probe); a remove returns once the
//! child has ended. Heap is read at four points (counting allocator): empty,
//! after the ramp, after the churn (same number of live children), and after
//! removing everything (empty again): the last must come back to the first.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, Notify};

use crate::probe::Fail;

/// Fires a failure request at one incarnation; `false` if it was already gone.
pub type FailHook = Box<dyn FnOnce() -> bool + Send>;

/// Sends one ping and resolves to whether it was answered.
pub type PingHook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// Sizes of the churn workload.
#[derive(Clone, Debug)]
pub struct ChurnSize {
    /// Children in the group.
    pub n: usize,
    /// How many of them fail on request (the rest serve pings).
    pub flaky: usize,
    /// Failure requests per millisecond.
    pub per_tick: usize,
    /// Milliseconds of churn.
    pub ticks: usize,
}

/// What the children of the churn workload share with the harness.
pub struct Churn {
    /// Sizes.
    pub size: ChurnSize,
    started: AtomicUsize,
    stopped: AtomicUsize,
    target: AtomicUsize,
    notify: Notify,
    /// One hook per flaky child, set by its running incarnation.
    pub fail: Vec<Mutex<Option<FailHook>>>,
    /// One hook per serving child, set by its running incarnation.
    pub ping: Vec<Mutex<Option<PingHook>>>,
}

impl std::fmt::Debug for Churn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Churn")
            .field("size", &self.size)
            .field("counts", &self.counts())
            .finish()
    }
}

impl Churn {
    /// A fresh shared state for one run.
    pub fn new(size: ChurnSize) -> Arc<Self> {
        assert!(size.flaky < size.n && size.flaky >= size.per_tick);
        Arc::new(Churn {
            fail: (0..size.flaky).map(|_| Mutex::new(None)).collect(),
            ping: (0..size.n - size.flaky).map(|_| Mutex::new(None)).collect(),
            target: AtomicUsize::new(size.n),
            size,
            started: AtomicUsize::new(0),
            stopped: AtomicUsize::new(0),
            notify: Notify::new(),
        })
    }

    /// An incarnation is up (after registering its hook).
    pub fn started(&self) {
        // SeqCst with `wait_started`'s store and load: one of the two sides
        // sees the other, so the wake-up cannot be lost.
        let k = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        if k >= self.target.load(Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    /// An incarnation has ended.
    pub fn stopped(&self) {
        self.stopped.fetch_add(1, Ordering::AcqRel);
    }

    /// (started, stopped).
    pub fn counts(&self) -> (usize, usize) {
        (
            self.started.load(Ordering::Acquire),
            self.stopped.load(Ordering::Acquire),
        )
    }

    /// Waits until `k` incarnations have started in all.
    pub async fn wait_started(&self, k: usize) {
        self.target.store(k, Ordering::SeqCst);
        while self.started.load(Ordering::SeqCst) < k {
            self.notify.notified().await;
        }
    }

    /// Registers the failure hook of flaky child `i`'s running incarnation.
    pub fn set_fail(&self, i: usize, h: FailHook) {
        *self.fail[i].lock().expect("hook lock") = Some(h);
    }

    /// Registers the ping hook of serving child `k`'s running incarnation.
    pub fn set_ping(&self, k: usize, h: PingHook) {
        *self.ping[k].lock().expect("hook lock") = Some(h);
    }

    /// Whether child `i` of the group is a flaky one.
    pub fn is_flaky(&self, i: usize) -> bool {
        i < self.size.flaky
    }
}

/// The body of a flaky child for the task-based implementations (raw,
/// ours, tokio-graceful-shutdown): register a failure hook, be up, then fail
/// when asked or end when cancelled.
pub async fn flaky_body(
    i: usize,
    c: &Churn,
    cancelled: impl Future<Output = ()>,
) -> Result<(), Fail> {
    let (tx, rx) = oneshot::channel::<()>();
    c.set_fail(i, Box::new(move || tx.send(()).is_ok()));
    c.started();
    let failed = tokio::select! {
        biased;
        _ = cancelled => false,
        r = rx => r.is_ok(),
    };
    c.stopped();
    if failed {
        Err(Fail)
    } else {
        Ok(())
    }
}

/// The body of a serving child for the task-based implementations: a
/// request channel whose sender is the ping hook; answers until cancelled.
pub async fn serve_body(
    k: usize,
    c: &Churn,
    cancelled: impl Future<Output = ()>,
) -> Result<(), Fail> {
    let (tx, mut rx) = mpsc::channel::<oneshot::Sender<()>>(8);
    c.set_ping(
        k,
        Arc::new(move || {
            let tx = tx.clone();
            Box::pin(async move {
                let (rtx, rrx) = oneshot::channel();
                tx.send(rtx).await.is_ok() && rrx.await.is_ok()
            })
        }),
    );
    c.started();
    tokio::pin!(cancelled);
    loop {
        tokio::select! {
            biased;
            _ = &mut cancelled => break,
            r = rx.recv() => match r {
                Some(reply) => {
                    let _ = reply.send(());
                }
                None => break,
            },
        }
    }
    c.stopped();
    Ok(())
}

/// The body of child `i` of the churn group (flaky or serving).
pub async fn churn_body(
    i: usize,
    c: &Churn,
    cancelled: impl Future<Output = ()>,
) -> Result<(), Fail> {
    if c.is_flaky(i) {
        flaky_body(i, c, cancelled).await
    } else {
        serve_body(i - c.size.flaky, c, cancelled).await
    }
}

/// What one churn run measured.
#[derive(Clone, Debug, Default)]
pub struct ChurnResult {
    /// Failure requests delivered to a running flaky child (== restarts done).
    pub restarts: usize,
    /// Failure requests the driver would have made (per_tick × ticks).
    pub requested: usize,
    /// Restarts per second over the window.
    pub restarts_per_s: f64,
    /// CPU time of the whole process over the window per restart, ns
    /// (pinger and driver included; `None` where the OS does not tell).
    pub cpu_ns_per_restart: Option<f64>,
    /// Ping round trips, µs, sorted.
    pub pings: Vec<f64>,
    /// Window length, s.
    pub secs: f64,
}

impl ChurnResult {
    /// The `q`-quantile of the ping latencies (µs).
    pub fn ping_q(&self, q: f64) -> Option<f64> {
        if self.pings.is_empty() {
            return None;
        }
        let i = ((self.pings.len() - 1) as f64 * q).round() as usize;
        Some(self.pings[i])
    }
}

/// Drives failures and pings against a started churn group, then waits for
/// the last restart. The group's children must all be up.
pub async fn drive_churn(c: &Arc<Churn>) -> ChurnResult {
    let size = c.size.clone();
    // Nobody waits during the window: restarts need not wake anyone.
    c.target.store(usize::MAX, Ordering::SeqCst);
    let done = Arc::new(AtomicBool::new(false));
    let cpu0 = process_cpu_ns();
    let t0 = std::time::Instant::now();
    let pinger = {
        let (c, done) = (c.clone(), done.clone());
        tokio::spawn(async move {
            let mut lat = Vec::with_capacity(size.ticks + 16);
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(1));
            let mut k = 0;
            // At least a few pings, whatever the timing: the smoke test counts them.
            while !done.load(Ordering::Acquire) || lat.len() < 4 {
                tick.tick().await;
                let hook = c.ping[k % c.ping.len()]
                    .lock()
                    .expect("hook lock")
                    .clone()
                    .expect("a serving child is always up");
                k += 1;
                let t = std::time::Instant::now();
                assert!(hook().await, "a serving child did not answer a ping");
                lat.push(t.elapsed().as_nanos() as f64 / 1e3);
            }
            lat
        })
    };
    let driver = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(1));
            let (mut next, mut delivered) = (0usize, 0usize);
            let mut t = 0;
            // At least one delivered failure, whatever the timing.
            while t < size.ticks || delivered == 0 {
                tick.tick().await;
                t += 1;
                for _ in 0..size.per_tick {
                    let hook = c.fail[next].lock().expect("hook lock").take();
                    next = (next + 1) % size.flaky;
                    if let Some(h) = hook {
                        if h() {
                            delivered += 1;
                        }
                    }
                }
            }
            delivered
        })
    };
    let delivered = driver.await.expect("churn driver");
    // Every delivered failure is one restart: wait for the last one.
    c.wait_started(size.n + delivered).await;
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = process_cpu_ns();
    done.store(true, Ordering::Release);
    let mut pings = pinger.await.expect("pinger");
    pings.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    ChurnResult {
        restarts: delivered,
        requested: size.per_tick * size.ticks,
        restarts_per_s: delivered as f64 / secs,
        cpu_ns_per_restart: cpu0
            .zip(cpu1)
            .map(|(a, b)| (b - a) as f64 / delivered as f64),
        pings,
        secs,
    }
}

/// Sizes of the dynamic workload.
#[derive(Clone, Debug)]
pub struct DynSize {
    /// Live children during the churn.
    pub window: usize,
    /// Milliseconds of churn (one add and one remove each).
    pub ticks: usize,
}

/// A group whose children are added and removed by key, as one
/// implementation offers it.
pub trait Dynamic: Send {
    /// Adds a child under `key`; returns once the child is up (the harness
    /// waits on the probe, so implementations may return earlier).
    fn add(&mut self, key: String) -> impl Future<Output = ()> + Send;
    /// Removes the child under `key`; returns once it has ended.
    fn remove(&mut self, key: &str) -> impl Future<Output = ()> + Send;
    /// Stops the group.
    fn stop(self) -> impl Future<Output = ()> + Send;
}

/// For implementations without dynamic children.
#[derive(Debug)]
pub enum NoDynamic {}

impl Dynamic for NoDynamic {
    async fn add(&mut self, _: String) {
        match *self {}
    }
    async fn remove(&mut self, _: &str) {
        match *self {}
    }
    async fn stop(self) {
        match self {}
    }
}

/// What one dynamic run measured.
#[derive(Clone, Debug, Default)]
pub struct DynResult {
    /// Adds and removes made (each).
    pub ops: usize,
    /// Mean time of one add until the child is up, ns.
    pub add_ns: f64,
    /// Mean time of one remove until the child has ended, ns.
    pub remove_ns: f64,
    /// CPU time of the whole process during the churn per add + remove, ns
    /// (`None` where the OS does not tell).
    pub cpu_ns_per_pair: Option<f64>,
    /// Live heap per live child after the ramp, bytes.
    pub bytes_per_child: Option<f64>,
    /// Heap allocations per add + remove during the churn.
    pub allocs_per_pair: Option<f64>,
    /// Live heap after the churn minus after the ramp (same live count), bytes.
    pub growth: Option<i64>,
    /// Live heap after removing everything minus before the first add, bytes.
    pub left: Option<i64>,
}

/// CPU time used by this process so far (all threads), ns, from
/// `/proc/self/task/*/schedstat` (Linux; `None` elsewhere).
pub fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for t in std::fs::read_dir("/proc/self/task").ok()? {
        let path = t.ok()?.path().join("schedstat");
        let s = std::fs::read_to_string(path).ok()?;
        total += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}
