//! A scriptable faulty child and an event-log oracle for deterministic tests.
//!
//! Every child made by a [`Lab`] registers its incarnation, counts live
//! incarnations per name (an overlap is a violation), holds a drop guard
//! (the counter is back to zero once everything ended), and obeys commands
//! sent by the test: become healthy, done, exit, fail, panic, hang ignoring
//! cancellation, stop slowly, spawn children of its own, fail while stopping.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use supervisor_runtime::{Context, Error, Event, NodeState, Runnable};
use tokio::sync::{broadcast, mpsc, Notify};
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub enum Cmd {
    Healthy,
    Done,
    /// Return `Ok(())`.
    Exit,
    /// Return `Err(msg)`.
    Fail(&'static str),
    Panic(&'static str),
    /// Ignore cancellation from now on, forever.
    Hang,
    /// On cancellation, take this long before returning.
    SlowStop(Duration),
    /// Return `Err(DoNotRestart)`.
    DoNotRestart,
    /// Return `Err(StopTree)`.
    StopTree,
    /// `ctx.spawn(name, <a Lab child healthy on start>)`; the result is kept
    /// (see [`Lab::spawn_results`]).
    Spawn(&'static str),
    /// `ctx.spawn_group(<Lab children healthy on start>)`; the result is kept.
    SpawnGroup(Vec<&'static str>),
    /// On cancellation, return `Err(msg)` instead of `Ok(())`.
    FailOnStop(&'static str),
}

/// What a child does when an incarnation starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OnStart {
    Healthy,
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
    starts: Mutex<HashMap<String, u32>>,
    ctl: Mutex<HashMap<String, mpsc::UnboundedSender<Cmd>>>,
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
        i.push_log(format!("{} end", self.name));
        i.changed.notify_waiters();
    }
}

impl Inner {
    fn push_log(&self, line: String) {
        self.log.lock().unwrap().push((Instant::now(), line));
    }
}

impl Lab {
    pub fn new() -> Self {
        Self::default()
    }

    /// A child that becomes healthy at once and then obeys commands.
    pub fn child(&self) -> impl Runnable + Clone {
        self.child_with(OnStart::Healthy)
    }

    /// A child that waits for commands from the start (not healthy until told).
    pub fn waiting_child(&self) -> impl Runnable + Clone {
        self.child_with(OnStart::Wait)
    }

    pub fn child_with(&self, on_start: OnStart) -> impl Runnable + Clone {
        let lab = self.clone();
        move |ctx: Context| {
            let lab = lab.clone();
            async move { lab.body(ctx, on_start).await }
        }
    }

    async fn body(
        self,
        ctx: Context,
        on_start: OnStart,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
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
        let mut fail_on_stop = None;
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Healthy) => ctx.healthy(),
                    Some(Cmd::Done) => ctx.done(),
                    Some(Cmd::Exit) => return Ok(()),
                    Some(Cmd::Fail(m)) => return Err(m.into()),
                    Some(Cmd::Panic(m)) => panic!("{m}"),
                    Some(Cmd::Hang) => std::future::pending::<()>().await,
                    Some(Cmd::SlowStop(d)) => slow_stop = Some(d),
                    Some(Cmd::DoNotRestart) => return Err(supervisor_runtime::DoNotRestart::new("no more").into()),
                    Some(Cmd::StopTree) => return Err(supervisor_runtime::StopTree::new("fatal").into()),
                    Some(Cmd::Spawn(n)) => self.spawn_one(&ctx, n),
                    Some(Cmd::SpawnGroup(names)) => {
                        let children: Vec<_> = names.iter().map(|n| (*n, self.child())).collect();
                        let r = ctx.spawn_group(children);
                        self.inner.spawn_results.lock().unwrap().push((names.join(","), r));
                    }
                    Some(Cmd::FailOnStop(m)) => fail_on_stop = Some(m),
                    None => std::future::pending::<()>().await,
                },
                _ = ctx.cancelled() => {
                    self.inner.push_log(format!("{name} stopping"));
                    if let Some(d) = slow_stop {
                        tokio::time::sleep(d).await;
                    }
                    return match fail_on_stop {
                        Some(m) => Err(m.into()),
                        None => Ok(()),
                    };
                }
            }
        }
    }

    fn spawn_one(&self, ctx: &Context, name: &str) {
        let r = ctx.spawn(name, self.child());
        self.inner
            .spawn_results
            .lock()
            .unwrap()
            .push((name.to_owned(), r));
    }

    /// Results of `Cmd::Spawn` / `Cmd::SpawnGroup` / `OnStart::SpawnThenHealthy`,
    /// in order: `(name or comma-joined names, result)`.
    pub fn spawn_results(&self) -> Vec<(String, Result<(), Error>)> {
        self.inner.spawn_results.lock().unwrap().clone()
    }

    /// Sends a command to the current incarnation of `name`, waiting for it to exist.
    pub async fn send(&self, name: &str, cmd: Cmd) {
        let what = format!(
            "no incarnation of `{name}` took {cmd:?} within {WAIT_LIMIT:?} of virtual time"
        );
        tokio::time::timeout(WAIT_LIMIT, self.send_inner(name, cmd))
            .await
            .expect(&what);
    }

    async fn send_inner(&self, name: &str, cmd: Cmd) {
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(tx) = self.inner.ctl.lock().unwrap().get(name) {
                if tx.send(cmd.clone()).is_ok() {
                    return;
                }
            }
            notified.await;
        }
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

    /// The log with the (virtual) time of each line.
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

    /// Whether an incarnation of `name` is running now.
    pub fn is_live(&self, name: &str) -> bool {
        self.inner
            .live
            .lock()
            .unwrap()
            .get(name)
            .copied()
            .unwrap_or(0)
            > 0
    }

    pub fn clear_log(&self) {
        self.inner.log.lock().unwrap().clear();
    }

    pub fn starts(&self, name: &str) -> u32 {
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
}

/// How much virtual time [`Events::wait`] allows before it fails the test
/// (instead of hanging when the awaited event never comes).
pub const WAIT_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// Collects events; `wait` blocks (in paused time) until a matching one arrives.
pub struct Events {
    rx: broadcast::Receiver<Event>,
    pub seen: Vec<Event>,
    /// The virtual time each event of `seen` was received.
    pub at: Vec<Instant>,
}

impl Events {
    pub fn new(rx: broadcast::Receiver<Event>) -> Self {
        Events {
            rx,
            seen: Vec::new(),
            at: Vec::new(),
        }
    }

    /// Waits for `name` to enter `state`; returns the event.
    pub async fn wait(&mut self, name: &str, state: NodeState) -> Event {
        self.wait_for(|e| e.name == name && e.state == state).await
    }

    /// Waits for `name` to enter `state`; returns the event and the virtual
    /// time it was received (which is when it was sent: paused time does not
    /// advance while a task can run).
    pub async fn wait_at(&mut self, name: &str, state: NodeState) -> (Event, Instant) {
        let e = self.wait(name, state).await;
        (e, *self.at.last().expect("just received"))
    }

    /// Waits for the first event matching `pred`.
    pub async fn wait_for(&mut self, mut pred: impl FnMut(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let e = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(r) => r.expect("event stream open and not lagging"),
                Err(_) => panic!(
                    "no matching event within {WAIT_LIMIT:?} of virtual time; seen: {:#?}",
                    self.seen.iter().map(|e| e.to_string()).collect::<Vec<_>>()
                ),
            };
            self.seen.push(e.clone());
            self.at.push(Instant::now());
            if pred(&e) {
                return e;
            }
        }
    }

    /// Waits until every one of `names` has entered `state` (events received
    /// from now on), in any order.
    pub async fn wait_all(&mut self, names: &[&str], state: NodeState) {
        let mut left: Vec<&str> = names.to_vec();
        while !left.is_empty() {
            let e = self
                .wait_for(|e| e.state == state && left.contains(&e.name.as_str()))
                .await;
            left.retain(|n| *n != e.name);
        }
    }

    /// Whether an event for `name` entering `state` has been seen (after draining).
    pub fn saw(&mut self, name: &str, state: NodeState) -> bool {
        self.drain()
            .iter()
            .any(|e| e.name == name && e.state == state)
    }

    /// Events seen (after draining) for `name`.
    pub fn of(&mut self, name: &str) -> Vec<Event> {
        self.drain()
            .iter()
            .filter(|e| e.name == name)
            .cloned()
            .collect()
    }

    /// All events received so far (draining what is buffered).
    pub fn drain(&mut self) -> &[Event] {
        loop {
            match self.rx.try_recv() {
                Ok(e) => {
                    self.seen.push(e);
                    self.at.push(Instant::now());
                }
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    panic!("event stream lagged by {n}")
                }
                Err(_) => break,
            }
        }
        &self.seen
    }

    /// `"name state"` strings of what was seen.
    pub fn trace(&mut self) -> Vec<String> {
        self.drain()
            .iter()
            .map(|e| format!("{} {}", e.name, e.state))
            .collect()
    }
}

/// `h.join()`, failing the test instead of hanging when the tree never ends.
pub async fn join(h: &supervisor_runtime::TreeHandle) -> Result<(), Error> {
    match tokio::time::timeout(WAIT_LIMIT, h.join()).await {
        Ok(r) => r,
        Err(_) => panic!(
            "the tree did not end within {WAIT_LIMIT:?} of virtual time:\n{}",
            h.snapshot()
        ),
    }
}

/// Lets every task run until nothing more can make progress without time passing.
pub async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}
