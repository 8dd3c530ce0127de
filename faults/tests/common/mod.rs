//! The fault-injection harness shared by the suites: a scriptable faulty
//! child ([`Lab`]), an event recorder ([`Events`]) and a quiescence wait
//! ([`settle`]). Adapted from the runtime's own `tests/common/mod.rs`.
//!
//! Every child made by a [`Lab`] counts its live incarnations per name (a
//! second live one is an *overlap*), holds a drop guard (so the number of live
//! guards is back to zero once every task has really ended), records each
//! failure it actually performs, and obeys commands: done, exit, fail, panic,
//! panic in drop, hang ignoring cancellation, stop slowly, end in a given way
//! when cancelled, leave a task behind.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use supervisor_runtime::{BoxError, Context, Event, NodeState, Runnable, TreeHandle};
use tokio::sync::{broadcast, mpsc, Notify};

/// Every injected panic message starts with this, so the panic hook can keep
/// the test output readable.
pub const INJECTED: &str = "<inj ";

/// How a child ends when it is told to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Ok,
    Err(String),
    Panic(String),
    /// Returns `Ok(())` while a local value panics in its destructor.
    DropPanic(String),
}

#[derive(Debug, Clone)]
pub enum Cmd {
    Done,
    /// End now, this way.
    End(End),
    /// Ignore cancellation from now on, forever.
    Hang,
    /// On cancellation, take this long before returning.
    SlowStop(Duration),
    /// On cancellation, end this way (instead of `Ok`).
    OnCancel(End),
    /// Leave behind a task holding a clone of the context; once
    /// [`Lab::release_late`] is called it calls `ctx.healthy()`, tries
    /// `ctx.spawn`, records whether that was refused, and ends this way.
    LeaveBehind(End),
}

struct PanicOnDrop(String);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

#[derive(Default)]
struct Inner {
    live: Mutex<HashMap<String, usize>>,
    overlaps: AtomicUsize,
    guards: AtomicI64,
    starts: Mutex<BTreeMap<String, u32>>,
    ctl: Mutex<HashMap<String, mpsc::UnboundedSender<Cmd>>>,
    executed: Mutex<Vec<String>>,
    shutdown_begun: AtomicBool,
    late_starts: Mutex<Vec<(String, tokio::time::Instant)>>,
    shutdown_at: Mutex<Option<tokio::time::Instant>>,
    late_release: Notify,
    late_released: AtomicBool,
    late_spawn_refused: Mutex<Vec<bool>>,
    late_tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    changed: Notify,
}

#[derive(Clone, Default)]
pub struct Lab {
    inner: Arc<Inner>,
}

struct Guard {
    lab: Lab,
    name: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let i = &self.lab.inner;
        *i.live.lock().unwrap().entry(self.name.clone()).or_default() -= 1;
        i.guards.fetch_sub(1, Ordering::SeqCst);
        i.changed.notify_waiters();
    }
}

impl Lab {
    pub fn new() -> Self {
        quiet_injected_panics();
        Self::default()
    }

    /// A child that reports healthy at once and then obeys commands.
    pub fn child(&self) -> impl Runnable + Clone {
        let lab = self.clone();
        move |ctx: Context| {
            let lab = lab.clone();
            async move { lab.body(ctx).await }
        }
    }

    fn executed(&self, m: &str) {
        self.inner.executed.lock().unwrap().push(m.to_owned());
    }

    fn end(&self, how: End) -> Result<(), BoxError> {
        match how {
            End::Ok => Ok(()),
            End::Err(m) => {
                self.executed(&m);
                Err(m.into())
            }
            End::Panic(m) => {
                self.executed(&m);
                panic!("{m}")
            }
            End::DropPanic(m) => {
                self.executed(&m);
                let _bomb = PanicOnDrop(m);
                Ok(())
            }
        }
    }

    async fn body(self, ctx: Context) -> Result<(), BoxError> {
        let name = ctx.name().to_owned();
        let (tx, mut rx) = mpsc::unbounded_channel();
        {
            let i = &self.inner;
            if i.shutdown_begun.load(Ordering::SeqCst) {
                i.late_starts
                    .lock()
                    .unwrap()
                    .push((name.clone(), tokio::time::Instant::now()));
            }
            let mut live = i.live.lock().unwrap();
            let n = live.entry(name.clone()).or_default();
            *n += 1;
            if *n > 1 {
                i.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            i.guards.fetch_add(1, Ordering::SeqCst);
            *i.starts.lock().unwrap().entry(name.clone()).or_default() += 1;
            i.ctl.lock().unwrap().insert(name.clone(), tx);
        }
        let _guard = Guard {
            lab: self.clone(),
            name: name.clone(),
        };
        self.inner.changed.notify_waiters();
        ctx.healthy();
        let mut slow_stop = None;
        let mut on_cancel = End::Ok;
        loop {
            tokio::select! {
                biased;
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Done) => ctx.done(),
                    Some(Cmd::End(how)) => return self.end(how),
                    Some(Cmd::Hang) | None => std::future::pending::<()>().await,
                    Some(Cmd::SlowStop(d)) => slow_stop = Some(d),
                    Some(Cmd::OnCancel(how)) => on_cancel = how,
                    Some(Cmd::LeaveBehind(how)) => self.leave_behind(ctx.clone(), how),
                },
                _ = ctx.cancelled() => {
                    if let Some(d) = slow_stop {
                        tokio::time::sleep(d).await;
                    }
                    return self.end(on_cancel);
                }
            }
        }
    }

    fn leave_behind(&self, ctx: Context, how: End) {
        let lab = self.clone();
        let task = tokio::spawn(async move {
            loop {
                let n = lab.inner.late_release.notified();
                tokio::pin!(n);
                n.as_mut().enable();
                if lab.inner.late_released.load(Ordering::SeqCst) {
                    break;
                }
                n.await;
            }
            ctx.healthy();
            let refused = ctx.spawn("late", lab.child()).is_err();
            lab.inner.late_spawn_refused.lock().unwrap().push(refused);
            let _ = lab.end(how);
        });
        self.inner.late_tasks.lock().unwrap().push(task);
    }

    /// Lets the tasks left behind run; waits until they have ended.
    pub async fn release_late(&self) -> Vec<bool> {
        self.inner.late_released.store(true, Ordering::SeqCst);
        self.inner.late_release.notify_waiters();
        let tasks: Vec<_> = std::mem::take(&mut *self.inner.late_tasks.lock().unwrap());
        for t in tasks {
            let _ = t.await;
        }
        self.inner.late_spawn_refused.lock().unwrap().clone()
    }

    /// Sends a command to the current incarnation of `name`, waiting for it to exist.
    pub async fn send(&self, name: &str, cmd: Cmd) {
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.try_send(name, cmd.clone()) {
                return;
            }
            notified.await;
        }
    }

    /// Sends a command if an incarnation of `name` is listening.
    pub fn try_send(&self, name: &str, cmd: Cmd) -> bool {
        self.inner
            .ctl
            .lock()
            .unwrap()
            .get(name)
            .is_some_and(|tx| tx.send(cmd).is_ok())
    }

    /// From now on, a start is a start after shutdown began.
    pub fn begin_shutdown(&self) {
        *self.inner.shutdown_at.lock().unwrap() = Some(tokio::time::Instant::now());
        self.inner.shutdown_begun.store(true, Ordering::SeqCst);
    }

    /// Children started after [`begin_shutdown`](Lab::begin_shutdown).
    pub fn late_starts(&self) -> Vec<String> {
        self.inner
            .late_starts
            .lock()
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The late starts, with how long after the shutdown began they happened.
    pub fn late_starts_timed(&self) -> Vec<(String, Duration)> {
        let at = self
            .inner
            .shutdown_at
            .lock()
            .unwrap()
            .expect("shutdown began");
        self.inner
            .late_starts
            .lock()
            .unwrap()
            .iter()
            .map(|(n, t)| (n.clone(), *t - at))
            .collect()
    }

    pub fn starts(&self) -> BTreeMap<String, u32> {
        self.inner.starts.lock().unwrap().clone()
    }

    pub fn starts_of(&self, name: &str) -> u32 {
        self.inner
            .starts
            .lock()
            .unwrap()
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    pub fn overlaps(&self) -> usize {
        self.inner.overlaps.load(Ordering::SeqCst)
    }

    pub fn live_guards(&self) -> i64 {
        self.inner.guards.load(Ordering::SeqCst)
    }

    /// Names with a live incarnation (a drop guard that has not run).
    pub fn live_names(&self) -> Vec<String> {
        let live = self.inner.live.lock().unwrap();
        let mut v: Vec<String> = live
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    /// Failure messages the children actually performed.
    pub fn executed_failures(&self) -> Vec<String> {
        self.inner.executed.lock().unwrap().clone()
    }
}

/// Keeps panics whose message starts with [`INJECTED`] off stderr; any other
/// panic is printed by the previous hook.
pub fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.starts_with(INJECTED) {
                prev(info);
            }
        }));
    });
}

/// Records every event; counts the errors they carry by their text.
pub struct Events {
    rx: broadcast::Receiver<Event>,
    pub seen: Vec<Event>,
}

impl Events {
    pub fn new(rx: broadcast::Receiver<Event>) -> Self {
        Events {
            rx,
            seen: Vec::new(),
        }
    }

    /// Takes what is buffered; `Err` if the receiver lagged (a gap).
    pub fn pump(&mut self) -> Result<usize, String> {
        let mut n = 0;
        loop {
            match self.rx.try_recv() {
                Ok(e) => {
                    self.seen.push(e);
                    n += 1;
                }
                Err(
                    broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed,
                ) => return Ok(n),
                Err(broadcast::error::TryRecvError::Lagged(k)) => {
                    return Err(format!("event receiver lagged by {k}"))
                }
            }
        }
    }

    /// Waits for the next event and records it.
    pub async fn next(&mut self) {
        let e = self
            .rx
            .recv()
            .await
            .expect("event stream open and not lagging");
        self.seen.push(e);
    }

    /// Waits for `name` to enter `state`.
    pub async fn wait(&mut self, name: &str, state: NodeState) -> Event {
        loop {
            let e = self
                .rx
                .recv()
                .await
                .expect("event stream open and not lagging");
            self.seen.push(e.clone());
            if e.name == name && e.state == state {
                return e;
            }
        }
    }

    /// How many events carry an error whose text contains `needle`.
    pub fn errors_containing(&self, needle: &str) -> usize {
        self.seen
            .iter()
            .filter(|e| {
                e.error
                    .as_ref()
                    .is_some_and(|er| er.to_string().contains(needle))
            })
            .count()
    }

    pub fn trace(&self) -> Vec<String> {
        self.seen.iter().map(|e| e.to_string()).collect()
    }
}

/// Waits (in paused time) until the tree is quiescent: no node starting,
/// backing off or stopping, and no event during a round. `Err` past `bound`.
pub async fn settle(h: &TreeHandle, ev: &mut Events, bound: Duration) -> Result<(), String> {
    let t0 = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = ev.pump()?;
        let snap = h.snapshot();
        let transient = snap.nodes().iter().any(|n| {
            matches!(
                n.state,
                NodeState::Starting | NodeState::Backoff | NodeState::Stopping
            )
        });
        if got == 0 && !transient {
            return Ok(());
        }
        if t0.elapsed() > bound {
            return Err(format!(
                "hang: not quiescent after {bound:?} (virtual)\n{snap}"
            ));
        }
    }
}

/// Lets every ready task run (no time passes).
pub async fn yield_many() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}
