//! The scriptable child.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use supervisor_runtime::{BoxError, Context, DoNotRestart, Error, Runnable, StopTree};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::wait::{within, PAUSED_LIMIT};

/// Every panic message that starts with this is kept off stderr once
/// [`quiet_injected_panics`] ran (a [`Lab`] installs it): suites that inject
/// thousands of panics stay readable.
pub const INJECTED: &str = "<inj ";

/// How an incarnation of a [`Lab`] child ends when told to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Return `Ok(())`.
    Ok,
    /// Return `Err` with this message.
    Err(String),
    /// Panic with this message while being polled.
    Panic(String),
    /// Return `Ok(())`, while the incarnation's future owns a value whose
    /// destructor panics with this message: the panic happens after the
    /// future returned `Ready(Ok(()))`, when the engine drops it.
    DropPanic(String),
    /// Return `Err(DoNotRestart("no more"))`.
    DoNotRestart,
    /// Return `Err(StopTree("fatal"))`.
    StopTree,
}

impl End {
    /// [`End::Err`] with `msg`.
    pub fn err(msg: impl Into<String>) -> End {
        End::Err(msg.into())
    }

    /// [`End::Panic`] with `msg`.
    pub fn panic(msg: impl Into<String>) -> End {
        End::Panic(msg.into())
    }

    /// [`End::DropPanic`] with `msg`.
    pub fn drop_panic(msg: impl Into<String>) -> End {
        End::DropPanic(msg.into())
    }
}

/// A command to the current incarnation of a [`Lab`] child. Commands are
/// taken in order, and before cancellation: a command sent before the
/// child is asked to stop is in force when it stops.
#[derive(Debug, Clone)]
pub enum Cmd {
    /// `ctx.healthy()`.
    Healthy,
    /// `ctx.done()`.
    Done,
    /// End now, this way.
    End(End),
    /// When asked to stop, end this way (instead of `Ok(())`).
    OnCancel(End),
    /// Ignore cancellation from now on, forever.
    Hang,
    /// When asked to stop, take this long before ending.
    SlowStop(Duration),
    /// `ctx.spawn(name, <a Lab child healthy on start>)`; the result is kept
    /// (see [`Lab::spawn_results`]).
    Spawn(&'static str),
    /// `ctx.spawn_group(<Lab children healthy on start>)`; the result is kept.
    SpawnGroup(Vec<&'static str>),
    /// Leave behind a task holding a clone of the context: once
    /// [`Lab::release_late`] is called it calls `ctx.healthy()`, tries
    /// `ctx.spawn`, records whether that was refused, and ends this way.
    LeaveBehind(End),
}

/// What a [`Lab`] child does when an incarnation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStart {
    /// `ctx.healthy()` at once.
    Healthy,
    /// Nothing: it waits for [`Cmd::Healthy`].
    Wait,
    /// Spawns these children (Lab children, healthy on start) with
    /// `ctx.spawn`, then becomes healthy.
    SpawnThenHealthy(&'static [&'static str]),
}

#[derive(Default)]
struct Inner {
    log: Mutex<Vec<(Instant, String)>>,
    spawn_results: Mutex<Vec<(String, Result<(), Error>)>>,
    live: Mutex<HashMap<String, usize>>,
    overlaps: AtomicUsize,
    guards: AtomicI64,
    starts: Mutex<BTreeMap<String, u32>>,
    ctl: Mutex<HashMap<String, mpsc::UnboundedSender<Cmd>>>,
    changed: Notify,
    executed: Mutex<Vec<String>>,
    shutdown_at: Mutex<Option<Instant>>,
    late_starts: Mutex<Vec<(String, Instant)>>,
    late_release: Notify,
    late_released: AtomicBool,
    late_spawn_refused: Mutex<Vec<bool>>,
    late_tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Inner {
    fn push_log(&self, line: String) {
        self.log.lock().unwrap().push((Instant::now(), line));
    }
}

/// A factory of scriptable children and the record of what they did.
/// Cloning it shares the record.
#[derive(Clone, Default)]
pub struct Lab {
    inner: Arc<Inner>,
}

/// Held by every incarnation: its drop is the incarnation's end.
struct Guard {
    lab: Lab,
    name: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let i = &self.lab.inner;
        *i.live.lock().unwrap().entry(self.name.clone()).or_default() -= 1;
        i.guards.fetch_sub(1, Ordering::SeqCst);
        i.push_log(format!("{} end", self.name));
        i.changed.notify_waiters();
    }
}

/// The message of a panic armed by [`End::DropPanic`].
type Fuse = Arc<Mutex<Option<String>>>;

/// Wraps an incarnation's future: once the fuse holds a message, dropping
/// the future panics with it. The future returns `Ready` first, so the
/// panic comes from whoever drops a completed future.
struct Armed<F> {
    fut: Pin<Box<F>>,
    fuse: Fuse,
}

impl<F: Future> Future for Armed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        self.fut.as_mut().poll(cx)
    }
}

impl<F> Drop for Armed<F> {
    fn drop(&mut self) {
        let armed = self.fuse.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(msg) = armed {
            // A second panic while unwinding would abort the test binary.
            if !std::thread::panicking() {
                panic!("{msg}");
            }
        }
    }
}

impl Lab {
    /// An empty lab. Installs [`quiet_injected_panics`].
    pub fn new() -> Self {
        quiet_injected_panics();
        Self::default()
    }

    /// A child that becomes healthy at once and then obeys commands.
    pub fn child(&self) -> impl Runnable + Clone {
        self.child_with(OnStart::Healthy)
    }

    /// A child that waits for commands from the start (not healthy until
    /// told with [`Cmd::Healthy`]).
    pub fn waiting_child(&self) -> impl Runnable + Clone {
        self.child_with(OnStart::Wait)
    }

    /// A child that does `on_start` when an incarnation starts, then obeys
    /// commands.
    pub fn child_with(&self, on_start: OnStart) -> impl Runnable + Clone {
        let lab = self.clone();
        move |ctx: Context| {
            let fuse = Fuse::default();
            Armed {
                fut: Box::pin(lab.clone().body(ctx, on_start, fuse.clone())),
                fuse,
            }
        }
    }

    async fn body(self, ctx: Context, on_start: OnStart, fuse: Fuse) -> Result<(), BoxError> {
        let name = ctx.name().to_owned();
        let (tx, mut rx) = mpsc::unbounded_channel();
        {
            let i = &self.inner;
            let mut live = i.live.lock().unwrap();
            let n = live.entry(name.clone()).or_default();
            *n += 1;
            if *n > 1 {
                i.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            i.guards.fetch_add(1, Ordering::SeqCst);
            *i.starts.lock().unwrap().entry(name.clone()).or_default() += 1;
            if i.shutdown_at.lock().unwrap().is_some() {
                i.late_starts
                    .lock()
                    .unwrap()
                    .push((name.clone(), Instant::now()));
            }
            i.push_log(format!("{name} start"));
            i.ctl.lock().unwrap().insert(name.clone(), tx);
        }
        let _guard = Guard {
            lab: self.clone(),
            name: name.clone(),
        };
        self.inner.changed.notify_waiters();
        match on_start {
            OnStart::Healthy => ctx.healthy(),
            OnStart::Wait => {}
            OnStart::SpawnThenHealthy(names) => {
                for n in names {
                    self.spawn_one(&ctx, n);
                }
                ctx.healthy();
            }
        }
        let mut slow_stop = None;
        let mut on_cancel = End::Ok;
        loop {
            tokio::select! {
                biased;
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Healthy) => ctx.healthy(),
                    Some(Cmd::Done) => ctx.done(),
                    Some(Cmd::End(how)) => return self.end(how, &fuse),
                    Some(Cmd::OnCancel(how)) => on_cancel = how,
                    Some(Cmd::Hang) | None => std::future::pending::<()>().await,
                    Some(Cmd::SlowStop(d)) => slow_stop = Some(d),
                    Some(Cmd::Spawn(n)) => self.spawn_one(&ctx, n),
                    Some(Cmd::SpawnGroup(names)) => {
                        let children: Vec<_> = names.iter().map(|n| (*n, self.child())).collect();
                        let r = ctx.spawn_group(children);
                        self.inner.spawn_results.lock().unwrap().push((names.join(","), r));
                    }
                    Some(Cmd::LeaveBehind(how)) => self.leave_behind(ctx.clone(), how),
                },
                _ = ctx.cancelled() => {
                    self.inner.push_log(format!("{name} stopping"));
                    if let Some(d) = slow_stop {
                        tokio::time::sleep(d).await;
                    }
                    return self.end(on_cancel, &fuse);
                }
            }
        }
    }

    /// Ends an incarnation `how`; a failure it performs is recorded first
    /// (see [`Lab::executed_failures`]).
    fn end(&self, how: End, fuse: &Fuse) -> Result<(), BoxError> {
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
                *fuse.lock().unwrap() = Some(m);
                Ok(())
            }
            End::DoNotRestart => Err(DoNotRestart::new("no more").into()),
            End::StopTree => Err(StopTree::new("fatal").into()),
        }
    }

    fn executed(&self, m: &str) {
        self.inner.executed.lock().unwrap().push(m.to_owned());
    }

    fn spawn_one(&self, ctx: &Context, name: &str) {
        let r = ctx.spawn(name, self.child());
        self.inner
            .spawn_results
            .lock()
            .unwrap()
            .push((name.to_owned(), r));
    }

    fn leave_behind(&self, ctx: Context, how: End) {
        let lab = self.clone();
        let fuse = Fuse::default();
        let fuse2 = fuse.clone();
        let task = async move {
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
            let _ = lab.end(how, &fuse2);
        };
        let task = tokio::spawn(Armed {
            fut: Box::pin(task),
            fuse,
        });
        self.inner.late_tasks.lock().unwrap().push(task);
    }

    /// Lets the tasks left behind by [`Cmd::LeaveBehind`] run and waits
    /// until they have ended; returns, for each, whether its `ctx.spawn`
    /// was refused.
    pub async fn release_late(&self) -> Vec<bool> {
        self.inner.late_released.store(true, Ordering::SeqCst);
        self.inner.late_release.notify_waiters();
        let tasks: Vec<_> = std::mem::take(&mut *self.inner.late_tasks.lock().unwrap());
        for t in tasks {
            let _ = t.await;
        }
        self.inner.late_spawn_refused.lock().unwrap().clone()
    }

    /// Results of [`Cmd::Spawn`], [`Cmd::SpawnGroup`] and
    /// [`OnStart::SpawnThenHealthy`], in order: `(name or comma-joined
    /// names, result)`.
    pub fn spawn_results(&self) -> Vec<(String, Result<(), Error>)> {
        self.inner.spawn_results.lock().unwrap().clone()
    }

    /// Sends a command to the current incarnation of `name`, waiting (up to
    /// [`PAUSED_LIMIT`] of virtual time) for one to exist.
    pub async fn send(&self, name: &str, cmd: Cmd) {
        let what = format!("an incarnation of `{name}` to take {cmd:?}");
        within(PAUSED_LIMIT, &what, async {
            loop {
                let notified = self.inner.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.try_send(name, cmd.clone()) {
                    return;
                }
                notified.await;
            }
        })
        .await
    }

    /// Sends a command if an incarnation of `name` is listening; whether it
    /// was.
    pub fn try_send(&self, name: &str, cmd: Cmd) -> bool {
        self.inner
            .ctl
            .lock()
            .unwrap()
            .get(name)
            .is_some_and(|tx| tx.send(cmd).is_ok())
    }

    /// The log: `"<name> start"`, `"<name> stopping"` (cancellation seen),
    /// `"<name> end"` (the incarnation's future dropped).
    pub fn log(&self) -> Vec<String> {
        self.inner
            .log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// The log with the (tokio clock) time of each line.
    pub fn log_at(&self) -> Vec<(Instant, String)> {
        self.inner.log.lock().unwrap().clone()
    }

    /// The lines of the log that end with `suffix` (e.g. `" stopping"`).
    pub fn lines(&self, suffix: &str) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|l| l.ends_with(suffix))
            .collect()
    }

    /// Position of the first log line equal to `line`.
    pub fn pos(&self, line: &str) -> Option<usize> {
        self.log().iter().position(|l| l == line)
    }

    /// Positions of every log line equal to `line`.
    pub fn positions(&self, line: &str) -> Vec<usize> {
        self.log()
            .iter()
            .enumerate()
            .filter(|(_, l)| *l == line)
            .map(|(i, _)| i)
            .collect()
    }

    /// Times of every log line equal to `line`.
    pub fn times(&self, line: &str) -> Vec<Instant> {
        self.log_at()
            .into_iter()
            .filter(|(_, l)| l == line)
            .map(|(t, _)| t)
            .collect()
    }

    /// Empties the log (counters are kept).
    pub fn clear_log(&self) {
        self.inner.log.lock().unwrap().clear();
    }

    /// Whether an incarnation of `name` is running now.
    pub fn is_live(&self, name: &str) -> bool {
        self.inner
            .live
            .lock()
            .unwrap()
            .get(name)
            .is_some_and(|&n| n > 0)
    }

    /// Names with a live incarnation (a drop guard that has not run), sorted.
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

    /// How many incarnations of `name` have started.
    pub fn starts(&self, name: &str) -> u32 {
        self.inner
            .starts
            .lock()
            .unwrap()
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    /// How many incarnations of each node have started.
    pub fn all_starts(&self) -> BTreeMap<String, u32> {
        self.inner.starts.lock().unwrap().clone()
    }

    /// How many times an incarnation started while another incarnation of
    /// the same node was still live. Always 0 for a correct engine.
    pub fn overlaps(&self) -> usize {
        self.inner.overlaps.load(Ordering::SeqCst)
    }

    /// Incarnations whose future has not been dropped yet. 0 once every
    /// task has really ended.
    pub fn live_guards(&self) -> i64 {
        self.inner.guards.load(Ordering::SeqCst)
    }

    /// The failure messages the children actually performed (`Err`, panic,
    /// panic in drop), in order.
    pub fn executed_failures(&self) -> Vec<String> {
        self.inner.executed.lock().unwrap().clone()
    }

    /// From now on, a start counts as a start after the shutdown began (see
    /// [`Lab::late_starts`]).
    pub fn begin_shutdown(&self) {
        *self.inner.shutdown_at.lock().unwrap() = Some(Instant::now());
    }

    /// Children started after [`Lab::begin_shutdown`], with how long after
    /// it they started.
    pub fn late_starts(&self) -> Vec<(String, Duration)> {
        let Some(at) = *self.inner.shutdown_at.lock().unwrap() else {
            return Vec::new();
        };
        self.inner
            .late_starts
            .lock()
            .unwrap()
            .iter()
            .map(|(n, t)| (n.clone(), *t - at))
            .collect()
    }
}

/// Keeps panics whose message starts with [`INJECTED`] off stderr; any
/// other panic is printed by the hook that was there before. Installed once
/// per process.
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
