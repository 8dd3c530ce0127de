//! The group engine: one task per group incarnation, driven by messages from
//! its children and by its own timers.
//!
//! # Design note
//!
//! Every child incarnation is one tokio task that reports to its group
//! through one unbounded channel: `Healthy`, `Done`, `Fail` (a wrong-order
//! signal or a failed child set) and, from a drop guard, `Exit` — so an
//! ending is reported whether the task completed, panicked or was aborted.
//! The group's whole state sits behind one mutex that only the group's own
//! task takes for long (snapshots and dynamic additions take it briefly), and
//! every change of a slot goes through [`GroupState::mutate`], which keeps the
//! counters (`running`, `want_start`, `unsettled`) exact without scanning.
//!
//! Ordering is one mechanism for everything: `deps[i]` (the previous sibling
//! of a sequential group, the `after` edges of a parallel one) gates starts,
//! and a child being stopped waits for its dependents that are being stopped
//! too (looking through siblings that have already ended, so that `a, b, c`
//! still stops `c` before `a` when `b` is over). Restarting several siblings
//! is a *batch*: none of them starts again until every one of them has
//! ended, so no two incarnations of a node ever overlap. Once the tree's
//! shutdown began, nothing starts (`TreeShared::starts_blocked`), even in a
//! group its stop signal has not reached yet.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::builder::{join_name, ChildSpec, Edges, GroupSpec};
use crate::context::Context;
use crate::error::{DoNotRestart, Error, ErrorKind, PanicError, Reason, SharedError, StopTree};
use crate::event::{Event, NodeState};
use crate::incarnation::{self, Outcome};
use crate::options::{Backoff, Intensity, Restart, Strategy};
use crate::runnable::Runnable;
use crate::tree::TreeShared;

/// How long an aborted task may take to actually end before it is reported
/// as one that could not be stopped (a task blocked in synchronous code
/// never reaches the point where tokio can drop it).
pub(crate) const ABORT_GRACE: Duration = Duration::from_secs(1);

/// What a child's task tells its group.
pub(crate) enum Msg {
    Healthy {
        idx: u32,
        gen: u32,
    },
    Done {
        idx: u32,
        gen: u32,
    },
    Fail {
        idx: u32,
        gen: u32,
    },
    Exit {
        idx: u32,
        gen: u32,
        outcome: Outcome,
    },
    /// Children were added from outside the group's task; look at the work list.
    Poke,
    /// The owner of a spawned set has ended `done`: the set may complete.
    Seal,
}

/// What the children of one group incarnation hold to reach it.
pub(crate) struct GroupLink {
    pub(crate) tx: UnboundedSender<Msg>,
    /// The group's distinguished name; children are named `<name>.<child>`.
    pub(crate) name: Box<str>,
    pub(crate) tree: Arc<TreeShared>,
}

/// One group incarnation, as seen from outside its task (snapshots, reports,
/// dynamic additions).
pub(crate) struct GroupShared {
    pub(crate) link: Arc<GroupLink>,
    pub(crate) state: Mutex<GroupState>,
    /// Woken when a removed child has ended, and when the group has.
    pub(crate) ended: Notify,
}

impl GroupShared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a child from outside the group's task (see [`GroupState::add`])
    /// and wakes the task to start it.
    pub(crate) fn add(&self, spec: ChildSpec, names: Vec<Arc<str>>) -> Result<(), Error> {
        self.lock().add(spec, names)?;
        let _ = self.link.tx.send(Msg::Poke);
        Ok(())
    }
}

// Slot flags.
const RUNNING: u16 = 1;
const WANT_START: u16 = 2;
const WANT_STOP: u16 = 4;
const STOP_REQ: u16 = 8;
const FAIL_REQ: u16 = 16;
const ABORTED: u16 = 32;
const UNSTOPPED: u16 = 64;
const REMOVED: u16 = 128;
const EVER_ABORTED: u16 = 256;
const EVER_UNSTOPPED: u16 = 512;
const FREED: u16 = 1024;

/// One child position of a group.
pub(crate) struct Slot {
    pub(crate) state: NodeState,
    flags: u16,
    pub(crate) gen: u32,
    /// `gen` when this slot last changed hands (a freed slot reused).
    base: u32,
    pub(crate) restarts: u32,
    /// Restarts counted by the backoff (saturates; the delay caps long before).
    backoff_n: u8,
    pub(crate) ctx: Option<Context>,
    abort: Option<AbortHandle>,
    /// While running: when it became healthy (for the backoff reset). While
    /// waiting to restart: not before this instant.
    at: Option<Instant>,
    /// When `state` last changed.
    pub(crate) since: Instant,
    pub(crate) last_error: Option<SharedError>,
}

impl Slot {
    fn new() -> Self {
        Slot {
            state: NodeState::Stopped,
            flags: WANT_START,
            gen: 0,
            base: 0,
            restarts: 0,
            backoff_n: 0,
            ctx: None,
            abort: None,
            at: None,
            since: Instant::now(),
            last_error: None,
        }
    }

    fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    fn running(&self) -> bool {
        self.has(RUNNING)
    }

    fn settled(&self) -> bool {
        !self.has(WANT_START)
            && matches!(
                self.state,
                NodeState::Healthy | NodeState::Done | NodeState::Stopped | NodeState::Failed
            )
    }

    /// This node's incarnation number: 0 before its first start.
    pub(crate) fn incarnation(&self) -> u32 {
        self.gen - self.base
    }

    pub(crate) fn was_aborted(&self) -> bool {
        self.has(EVER_ABORTED)
    }

    pub(crate) fn was_unstopped(&self) -> bool {
        self.has(EVER_UNSTOPPED)
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.has(REMOVED)
    }

    pub(crate) fn is_live(&self) -> bool {
        self.running() || self.has(WANT_START)
    }
}

/// A direction along the start-order edges between siblings.
#[derive(Copy, Clone)]
enum Dir {
    /// Towards the siblings that start after (`dependents`).
    Dependents,
    /// Towards the siblings that start before (`deps`).
    Deps,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Restart,
    StartTimeout,
    ShutdownTimeout,
    AbortGrace,
    /// A dynamic group stops waiting for its first children to be healthy.
    HealthWait,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Instant,
    idx: u32,
    gen: u32,
    kind: TimerKind,
}

/// The state of one group incarnation.
pub(crate) struct GroupState {
    pub(crate) spec: Arc<GroupSpec>,
    /// Specs of children added at runtime; slot `i >= spec.children.len()`
    /// uses `extra[i - spec.children.len()]`.
    pub(crate) extra: Vec<ChildSpec>,
    pub(crate) slots: Vec<Slot>,
    /// For groups that take children at runtime: live names to slots.
    pub(crate) names: Option<HashMap<Arc<str>, u32>>,
    /// Children of anonymous (spawned) groups, listed under the slot that runs them.
    pub(crate) group_names: HashMap<u32, Vec<Arc<str>>>,
    running: usize,
    want_start: usize,
    unsettled: usize,
    pub(crate) stopping: bool,
    healthy_sent: bool,
    /// Takes children at runtime, so it does not complete when it runs out.
    open: bool,
    gave_up: Option<Error>,
    restart_log: VecDeque<Instant>,
    decay_f: f64,
    decay_at: Option<Instant>,
    paused_until: Option<Instant>,
    batch: Vec<u32>,
    timers: BinaryHeap<Reverse<Timer>>,
    work: VecDeque<u32>,
    to_cancel: Vec<Context>,
    /// Do not report healthy yet: a dynamic group has not read its table.
    pub(crate) hold_healthy: bool,
    /// A removed child ended since the group's task last looked.
    forgotten: bool,
    /// Report healthy even if some children are not yet (a bounded wait).
    force_healthy: bool,
    /// Slots of removed children that have ended, for reuse.
    free: Vec<u32>,
}

impl GroupState {
    pub(crate) fn new(spec: Arc<GroupSpec>, open: bool) -> Self {
        let n = spec.children.len();
        let mut slots = Vec::with_capacity(n);
        slots.resize_with(n, Slot::new);
        let work = spec.order.iter().copied().collect();
        GroupState {
            extra: Vec::new(),
            slots,
            names: open.then(HashMap::new),
            group_names: HashMap::new(),
            running: 0,
            want_start: n,
            unsettled: n,
            stopping: false,
            healthy_sent: false,
            open,
            gave_up: None,
            restart_log: VecDeque::new(),
            decay_f: 0.0,
            decay_at: None,
            paused_until: None,
            batch: Vec::new(),
            timers: BinaryHeap::new(),
            work,
            to_cancel: Vec::new(),
            hold_healthy: false,
            forgotten: false,
            force_healthy: false,
            free: Vec::new(),
            spec,
        }
    }

    pub(crate) fn child_spec(&self, i: u32) -> &ChildSpec {
        let n = self.spec.children.len();
        let i = i as usize;
        if i < n {
            &self.spec.children[i]
        } else {
            &self.extra[i - n]
        }
    }

    fn deps(&self, i: u32) -> &[u32] {
        self.spec.deps.get(i)
    }

    fn dependents(&self, i: u32) -> &[u32] {
        self.spec.dependents.get(i)
    }

    /// Every change of a slot goes through here, keeping the counters exact.
    fn mutate<R>(&mut self, i: u32, f: impl FnOnce(&mut Slot) -> R) -> R {
        let s = &mut self.slots[i as usize];
        let (r0, w0, u0) = (s.running(), s.has(WANT_START), !s.settled());
        let out = f(s);
        let (r1, w1, u1) = (s.running(), s.has(WANT_START), !s.settled());
        self.running = self.running + r1 as usize - r0 as usize;
        self.want_start = self.want_start + w1 as usize - w0 as usize;
        self.unsettled = self.unsettled + u1 as usize - u0 as usize;
        out
    }

    fn full_name(&self, link: &GroupLink, i: u32) -> String {
        join_name(&link.name, &self.child_spec(i).name)
    }

    fn set_state(
        &mut self,
        link: &GroupLink,
        i: u32,
        state: NodeState,
        error: Option<SharedError>,
        delay: Option<Duration>,
    ) {
        let changed = self.mutate(i, |s| {
            let changed = s.state != state;
            if changed {
                s.since = Instant::now();
            }
            s.state = state;
            changed
        });
        if !changed && error.is_none() && delay.is_none() {
            return;
        }
        let events = &link.tree.events;
        if link.tree.subscribed.load(Ordering::Acquire) && events.receiver_count() > 0 {
            let _ = events.send(Event {
                name: self.full_name(link, i),
                state,
                error,
                delay,
                incarnation: self.slots[i as usize].incarnation(),
            });
        }
    }

    fn push_timer(&mut self, at: Instant, idx: u32, gen: u32, kind: TimerKind) {
        self.timers.push(Reverse(Timer { at, idx, gen, kind }));
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|t| t.0.at)
    }

    /// Applies all pending work: starts and stops that have become possible,
    /// finished restart batches, and this group's own health signal.
    pub(crate) fn pump(&mut self, link: &Arc<GroupLink>, own: Option<&Context>) {
        loop {
            while let Some(i) = self.work.pop_front() {
                self.try_stop(link, i);
                self.try_start(link, i);
            }
            if !self.batch.is_empty()
                && self
                    .batch
                    .iter()
                    .all(|&m| !self.slots[m as usize].running())
            {
                let batch = std::mem::take(&mut self.batch);
                // Start again in start order.
                let n = self.spec.children.len() as u32;
                self.work.extend(
                    self.spec
                        .order
                        .iter()
                        .copied()
                        .filter(|i| batch.contains(i)),
                );
                self.work.extend(batch.iter().copied().filter(|&i| i >= n));
                continue;
            }
            break;
        }
        if let Some(own) = own {
            if !self.healthy_sent
                && !self.stopping
                && ((self.unsettled == 0 && !self.hold_healthy) || self.force_healthy)
                && (self.open || !self.slots.is_empty())
            {
                self.healthy_sent = true;
                own.healthy();
            }
        }
    }

    fn dep_ok(&self, d: u32) -> bool {
        self.slots[d as usize].settled()
    }

    fn try_start(&mut self, link: &Arc<GroupLink>, i: u32) {
        let s = &self.slots[i as usize];
        if !s.has(WANT_START) || s.running() || s.has(REMOVED) || self.stopping {
            return;
        }
        if self.batch.contains(&i) {
            return;
        }
        if s.at.is_some_and(|t| t > Instant::now()) {
            return;
        }
        if !self.deps(i).iter().all(|&d| self.dep_ok(d)) {
            return;
        }
        if link.tree.starts_blocked() {
            // The shutdown began; this group's stop signal is on its way.
            return;
        }
        self.start(link, i);
    }

    fn start(&mut self, link: &Arc<GroupLink>, i: u32) {
        let spec = self.child_spec(i);
        let auto = spec.ready_on_start();
        let start_timeout = spec.start_timeout();
        let gen = self.slots[i as usize].gen.wrapping_add(1);
        let ctx = Context::new(
            link.clone(),
            spec.name.clone(),
            i,
            gen,
            self.slots[i as usize].base,
            auto,
        );
        let abort = spec.runnable.__spawn(ctx.clone());
        let now = Instant::now();
        self.mutate(i, |s| {
            if s.gen > s.base {
                s.restarts = s.restarts.saturating_add(1);
            }
            s.gen = gen;
            s.flags = RUNNING;
            s.ctx = Some(ctx);
            s.abort = Some(abort);
            s.at = auto.then_some(now);
        });
        let state = if auto {
            NodeState::Healthy
        } else {
            NodeState::Starting
        };
        self.set_state(link, i, state, None, None);
        tracing::info!(node = %Name(link, &self.child_spec(i).name), incarnation = gen, "started");
        if let Some(t) = start_timeout.filter(|_| !auto) {
            self.push_timer(now + t, i, gen, TimerKind::StartTimeout);
        }
        if auto {
            self.work.extend(self.spec.dependents.get(i));
        }
    }

    fn try_stop(&mut self, link: &GroupLink, i: u32) {
        let s = &self.slots[i as usize];
        if !s.has(WANT_STOP) || !s.running() || s.has(STOP_REQ) {
            return;
        }
        let mut waiting = false;
        self.walk_running(i, Dir::Dependents, |_, s| {
            waiting |= s.has(WANT_STOP | STOP_REQ);
        });
        if !waiting {
            self.request_stop(link, i);
        }
    }

    /// Visits the running siblings nearest to `i` along `dir`, looking
    /// through siblings that are not running: a sibling that has ended does
    /// not break the chain, so a sequential group still stops in reverse
    /// order when a child in the middle has already ended (`a` waits for `c`
    /// in `a, b, c` when `b` has ended). Cost: the edges walked, which are
    /// few; each sibling is visited once.
    fn walk_running(&self, i: u32, dir: Dir, mut f: impl FnMut(u32, &Slot)) {
        let next = |k: u32| match dir {
            Dir::Dependents => self.dependents(k),
            Dir::Deps => self.deps(k),
        };
        // In-edges in the direction of the walk; a sibling reachable along
        // one edge only cannot be reached twice unless its predecessor is.
        let inward = |k: u32| match dir {
            Dir::Dependents => self.deps(k).len(),
            Dir::Deps => self.dependents(k).len(),
        };
        let mut seen: Vec<u32> = Vec::new();
        let mut stack: Vec<u32> = Vec::new();
        let mut cur = next(i);
        loop {
            for &d in cur {
                let ds = &self.slots[d as usize];
                if ds.running() {
                    f(d, ds);
                } else if inward(d) <= 1 || !seen.contains(&d) {
                    if inward(d) > 1 {
                        seen.push(d);
                    }
                    stack.push(d);
                }
            }
            match stack.pop() {
                Some(d) => cur = next(d),
                None => return,
            }
        }
    }

    /// Queues the siblings that may be waiting for child `i` to end before
    /// they stop: its dependencies, looking through ended ones.
    fn wake_deps(&mut self, i: u32) {
        self.work.extend(self.spec.deps.get(i));
        let mut more: Vec<u32> = Vec::new();
        if self
            .deps(i)
            .iter()
            .any(|&d| !self.slots[d as usize].running())
        {
            self.walk_running(i, Dir::Deps, |k, _| more.push(k));
        }
        self.work.extend(more);
    }

    /// Marks a running child to be stopped once its dependents have stopped.
    fn mark_stop(&mut self, i: u32) {
        if self.slots[i as usize].running() {
            self.mutate(i, |s| s.flags |= WANT_STOP);
            self.work.push_back(i);
        }
    }

    /// Begins stopping a running child now: cancel, then abort after its timeout.
    fn request_stop(&mut self, link: &GroupLink, i: u32) {
        let s = &self.slots[i as usize];
        if !s.running() || s.has(STOP_REQ) {
            return;
        }
        let gen = s.gen;
        let ctx = s.ctx.clone();
        let shutdown = self.child_spec(i).shutdown();
        self.mutate(i, |s| s.flags = (s.flags | STOP_REQ) & !WANT_STOP);
        self.set_state(link, i, NodeState::Stopping, None, None);
        if let Some(ctx) = ctx {
            self.to_cancel.push(ctx);
        }
        match shutdown.limit() {
            Some(d) if d.is_zero() => self.abort(link, i),
            Some(d) => self.push_timer(Instant::now() + d, i, gen, TimerKind::ShutdownTimeout),
            None => {}
        }
    }

    fn abort(&mut self, link: &GroupLink, i: u32) {
        let gen = self.slots[i as usize].gen;
        let handle = self.mutate(i, |s| {
            s.flags |= ABORTED | EVER_ABORTED;
            s.abort.take()
        });
        if let Some(h) = handle {
            h.abort();
        }
        tracing::warn!(node = %Name(link, &self.child_spec(i).name), "did not stop in time; aborted");
        self.push_timer(Instant::now() + ABORT_GRACE, i, gen, TimerKind::AbortGrace);
    }

    /// Gives up waiting for a child that could not be stopped (shutdown only).
    fn abandon(&mut self, link: &GroupLink, i: u32) {
        self.mutate(i, |s| {
            s.flags = (s.flags & !(RUNNING | WANT_START | WANT_STOP | STOP_REQ))
                | UNSTOPPED
                | EVER_UNSTOPPED;
        });
        self.set_state(link, i, NodeState::Stopped, None, None);
        self.wake_deps(i);
    }

    /// Stops every child in stop order; nothing starts again in this incarnation.
    pub(crate) fn stop_all(&mut self, link: &GroupLink) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.batch.clear();
        for i in 0..self.slots.len() as u32 {
            let s = &self.slots[i as usize];
            let (running, wants, unstopped) = (s.running(), s.has(WANT_START), s.has(UNSTOPPED));
            if wants {
                self.mutate(i, |s| s.flags &= !WANT_START);
                if !running && self.slots[i as usize].state == NodeState::Backoff {
                    self.set_state(link, i, NodeState::Stopped, None, None);
                }
            }
            if running && unstopped {
                self.abandon(link, i);
            } else if running {
                self.mark_stop(i);
            }
        }
    }

    pub(crate) fn handle(&mut self, link: &GroupLink, msg: Msg) {
        match msg {
            Msg::Healthy { idx, gen } => {
                if self.is_current(idx, gen)
                    && self.slots[idx as usize].state == NodeState::Starting
                {
                    self.mutate(idx, |s| s.at = Some(Instant::now()));
                    self.set_state(link, idx, NodeState::Healthy, None, None);
                    tracing::info!(node = %Name(link, &self.child_spec(idx).name), "healthy");
                    self.work.extend(self.spec.dependents.get(idx));
                }
            }
            Msg::Done { idx, gen } => {
                let s = self.slots.get(idx as usize);
                if self.is_current(idx, gen)
                    && s.is_some_and(|s| {
                        matches!(s.state, NodeState::Starting | NodeState::Healthy)
                    })
                {
                    self.set_state(link, idx, NodeState::Done, None, None);
                    self.work.extend(self.spec.dependents.get(idx));
                }
            }
            Msg::Fail { idx, gen } => {
                if self
                    .slots
                    .get(idx as usize)
                    .is_some_and(|s| s.gen == gen && s.running())
                {
                    self.mutate(idx, |s| s.flags |= FAIL_REQ);
                    self.request_stop(link, idx);
                }
            }
            Msg::Exit { idx, gen, outcome } => self.on_exit(link, idx, gen, outcome),
            Msg::Poke => {}
            Msg::Seal => self.open = false,
        }
    }

    fn is_current(&self, idx: u32, gen: u32) -> bool {
        self.slots
            .get(idx as usize)
            .is_some_and(|s| s.gen == gen && s.running() && !s.has(STOP_REQ))
    }

    fn on_exit(&mut self, link: &GroupLink, i: u32, gen: u32, outcome: Outcome) {
        let Some(s) = self.slots.get(i as usize) else {
            return;
        };
        if s.gen != gen || !s.running() {
            return; // an abandoned incarnation ending late
        }
        let (stop_req, fail_req, removed) = (s.has(STOP_REQ), s.has(FAIL_REQ), s.has(REMOVED));
        let forced = if fail_req {
            s.ctx.as_ref().and_then(Context::forced_error)
        } else {
            None
        };
        let is_done = s.ctx.as_ref().is_some_and(Context::is_done);
        self.mutate(i, |s| {
            s.flags &= !(RUNNING | STOP_REQ | FAIL_REQ | WANT_STOP | ABORTED | UNSTOPPED);
            s.abort = None;
        });
        // Whatever starts after it may have been waiting for it to settle.
        self.work.extend(self.spec.dependents.get(i));
        let tree = &link.tree;
        let ending = match outcome {
            Outcome::Panic(payload) => {
                let err: SharedError = Arc::new(PanicError::new(panic_message(&*payload)));
                if tree.propagate_panics {
                    tree.store_panic(payload, self.full_name(link, i), err.clone());
                }
                match forced {
                    Some(f) => Ending::Failure(f),
                    None if stop_req => Ending::Stopped(Some(err)),
                    None => Ending::Failure(err),
                }
            }
            _ if forced.is_some() => Ending::Failure(forced.expect("checked")),
            Outcome::Ok if stop_req => Ending::Stopped(None),
            Outcome::Ok if is_done => Ending::Done(None),
            Outcome::Ok => Ending::Exit,
            Outcome::Err(e) if e.is::<StopTree>() => Ending::StopTree(Arc::from(e)),
            Outcome::Err(e) if e.is::<DoNotRestart>() => Ending::Done(Some(Arc::from(e))),
            Outcome::Err(e) if stop_req => Ending::Stopped(Some(Arc::from(e))),
            Outcome::Err(e) => Ending::Failure(Arc::from(e)),
            Outcome::Aborted => Ending::Stopped(None),
        };
        // Whatever it depended on may be waiting for it to stop.
        self.wake_deps(i);
        let spec_restart = self.child_spec(i).restart();
        let log_name = Name(link, &self.child_spec(i).name);
        match ending {
            Ending::Stopped(err) => {
                if let Some(e) = &err {
                    tracing::warn!(node = %log_name, error = %e, "returned an error while stopping");
                    self.mutate(i, |s| s.last_error = Some(e.clone()));
                } else {
                    tracing::info!(node = %log_name, "stopped");
                }
                let next = if self.slots[i as usize].has(WANT_START) && !removed {
                    NodeState::Backoff
                } else {
                    NodeState::Stopped
                };
                self.set_state(link, i, next, err, None);
            }
            Ending::Done(err) => {
                tracing::info!(node = %log_name, "done");
                if let Some(e) = &err {
                    self.mutate(i, |s| s.last_error = Some(e.clone()));
                }
                self.set_state(link, i, NodeState::Done, err, None);
            }
            Ending::Exit => {
                tracing::info!(node = %log_name, "exited");
                if spec_restart == Restart::Permanent && !removed {
                    self.restart(link, i, None);
                } else {
                    self.set_state(link, i, NodeState::Stopped, None, None);
                }
            }
            Ending::Failure(e) => {
                tracing::warn!(node = %log_name, error = %e, "failed");
                self.mutate(i, |s| s.last_error = Some(e.clone()));
                if spec_restart == Restart::Temporary || removed {
                    self.set_state(link, i, NodeState::Failed, Some(e), None);
                } else {
                    self.restart(link, i, Some(e));
                }
            }
            Ending::StopTree(e) => {
                tracing::warn!(node = %log_name, error = %e, "asked to stop the whole tree");
                self.mutate(i, |s| s.last_error = Some(e.clone()));
                let name = self.full_name(link, i);
                let err = Error::new(
                    ErrorKind::StopTree,
                    Some(name.clone()),
                    format!("`{name}` stopped the tree: {e}"),
                )
                .with_source(e.clone());
                tree.stop_tree(err);
                self.set_state(link, i, NodeState::Stopped, Some(e), None);
            }
        }
        if removed && !self.slots[i as usize].is_live() {
            self.forget(i);
        }
    }

    /// A failure (or a permanent child's exit) of child `i`: count it, then
    /// restart what the strategy says, after the backoff.
    fn restart(&mut self, link: &GroupLink, i: u32, err: Option<SharedError>) {
        if self.stopping {
            let state = if err.is_some() {
                NodeState::Failed
            } else {
                NodeState::Stopped
            };
            self.set_state(link, i, state, err, None);
            return;
        }
        let now = Instant::now();
        if let Intensity::Limited { max, within } = self.spec.intensity {
            self.restart_log.push_back(now);
            while self
                .restart_log
                .front()
                .is_some_and(|&t| now.duration_since(t) >= within)
            {
                self.restart_log.pop_front();
            }
            if self.restart_log.len() > max as usize {
                self.give_up(link, i, err, max, within);
                return;
            }
        }
        if let Some(d) = self.spec.decay {
            if self.paused_until.is_some_and(|p| now >= p) {
                self.paused_until = None;
                self.decay_f = 0.0;
            }
            let dt = self
                .decay_at
                .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
            self.decay_f = self.decay_f * 0.5f64.powf(dt / d.half_life.as_secs_f64()) + 1.0;
            self.decay_at = Some(now);
            if self.paused_until.is_none() && self.decay_f > d.threshold {
                self.paused_until = Some(now + d.pause);
                tracing::warn!(
                    group = %link.name,
                    failures = self.decay_f,
                    pause = ?d.pause,
                    "failure threshold crossed; restarts pause"
                );
            }
        }
        let backoff: Backoff = *self.child_spec(i).backoff(&self.spec.backoff);
        let delay = self.mutate(i, |s| {
            if s.at
                .is_some_and(|t| now.duration_since(t) >= backoff.reset_after())
            {
                s.backoff_n = 0;
            }
            let d = backoff.delay(u32::from(s.backoff_n));
            s.backoff_n = s.backoff_n.saturating_add(1);
            d
        });
        let mut at = now + delay;
        if let Some(p) = self.paused_until {
            at = at.max(p);
        }
        let members = self.restart_set(i);
        let batch = members.len() > 1;
        for &m in &members {
            let temporary = m != i && self.child_spec(m).restart() == Restart::Temporary;
            if temporary {
                // Never restarted, not even with its group (OTP); but the
                // batch still waits for its stop before anything restarts.
                self.mark_stop(m);
                if batch && self.slots[m as usize].running() && !self.batch.contains(&m) {
                    self.batch.push(m);
                }
                continue;
            }
            let gen = self.slots[m as usize].gen;
            self.mutate(m, |s| {
                s.flags |= WANT_START;
                s.at = Some(at);
            });
            if self.slots[m as usize].running() {
                self.mark_stop(m);
            } else {
                let e = if m == i { err.clone() } else { None };
                self.set_state(link, m, NodeState::Backoff, e, Some(at - now));
            }
            if at > now {
                self.push_timer(at, m, gen, TimerKind::Restart);
            } else {
                // No delay: no trip through the timer wheel (1 ms granularity).
                self.work.push_back(m);
            }
            if batch && !self.batch.contains(&m) {
                self.batch.push(m);
            }
        }
        tracing::warn!(node = %Name(link, &self.child_spec(i).name), delay = ?(at - now), "restarting");
    }

    /// The siblings that restart with child `i`, by strategy.
    fn restart_set(&self, i: u32) -> Vec<u32> {
        let n = self.spec.children.len() as u32;
        if i >= n {
            return vec![i]; // children added at runtime restart on their own
        }
        match self.spec.strategy {
            Strategy::OneForOne => vec![i],
            Strategy::OneForAll => (0..n).collect(),
            Strategy::RestForOne => {
                let mut set = vec![i];
                let mut k = 0;
                while k < set.len() {
                    for &d in self.dependents(set[k]) {
                        if !set.contains(&d) {
                            set.push(d);
                        }
                    }
                    k += 1;
                }
                set
            }
        }
    }

    fn give_up(
        &mut self,
        link: &GroupLink,
        i: u32,
        err: Option<SharedError>,
        max: u32,
        within: Duration,
    ) {
        let name = self.full_name(link, i);
        let group = if link.name.is_empty() {
            "the tree"
        } else {
            &link.name
        };
        tracing::error!(group = %group, node = %name, "restart intensity exceeded; giving up");
        let source: SharedError = err
            .clone()
            .unwrap_or_else(|| Arc::new(Reason(format!("`{name}` exited"))));
        let e = Error::new(
            ErrorKind::GaveUp,
            Some(name.clone()),
            format!("`{group}` gave up: `{name}` ended more than {max} times within {within:?}"),
        )
        .with_source(source);
        self.gave_up = Some(e);
        self.set_state(link, i, NodeState::Failed, err, None);
        self.stop_all(link);
    }

    pub(crate) fn fire_timers(&mut self, link: &GroupLink) {
        let now = Instant::now();
        while let Some(Reverse(t)) = self.timers.peek().copied() {
            if t.at > now {
                break;
            }
            self.timers.pop();
            if t.kind == TimerKind::HealthWait {
                self.force_healthy = true;
                continue;
            }
            let Some(s) = self.slots.get(t.idx as usize) else {
                continue;
            };
            if s.gen != t.gen {
                continue;
            }
            match t.kind {
                TimerKind::Restart => self.work.push_back(t.idx),
                TimerKind::StartTimeout => {
                    if s.running() && s.state == NodeState::Starting && !s.has(STOP_REQ) {
                        let limit = self.child_spec(t.idx).start_timeout().unwrap_or_default();
                        if let Some(ctx) = &s.ctx {
                            ctx.force_error(Arc::new(Reason(format!(
                                "not healthy within {limit:?} (start_timeout)"
                            ))));
                        }
                        self.mutate(t.idx, |s| s.flags |= FAIL_REQ);
                        self.request_stop(link, t.idx);
                    }
                }
                TimerKind::ShutdownTimeout => {
                    if s.running() && s.has(STOP_REQ) && !s.has(ABORTED) {
                        self.abort(link, t.idx);
                    }
                }
                TimerKind::AbortGrace => {
                    if s.running() {
                        tracing::error!(
                            node = %Name(link, &self.child_spec(t.idx).name),
                            "could not be stopped: its task does not yield (blocked in synchronous code?)"
                        );
                        if self.stopping {
                            self.abandon(link, t.idx);
                        } else {
                            self.mutate(t.idx, |s| s.flags |= UNSTOPPED | EVER_UNSTOPPED);
                        }
                    }
                }
                TimerKind::HealthWait => {}
            }
        }
    }

    /// Whether this incarnation of the group is over, and how.
    pub(crate) fn finished(&self) -> Option<Result<(), Error>> {
        if self.running > 0 {
            return None;
        }
        if self.stopping {
            return Some(self.gave_up.clone().map_or(Ok(()), Err));
        }
        if self.want_start == 0 && !self.open && self.batch.is_empty() {
            return Some(Ok(()));
        }
        None
    }

    /// Adds children at runtime (spawned children, dynamic groups). `names`
    /// are the distinguished-name parts the new slot takes (more than one for
    /// an anonymous group). The group's task starts it at its next turn.
    pub(crate) fn add(&mut self, spec: ChildSpec, names: Vec<Arc<str>>) -> Result<(), Error> {
        if self.stopping {
            return Err(Error::new(
                ErrorKind::ShuttingDown,
                None,
                "the group is stopping; nothing new is started under it",
            ));
        }
        let map = self.names.get_or_insert_with(HashMap::new);
        for name in &names {
            if let Some(&j) = map.get(name) {
                if self.slots[j as usize].is_live() {
                    return Err(Error::new(
                        ErrorKind::DuplicateName,
                        Some(name.to_string()),
                        format!("a child named `{name}` is already running here; stop it or pick another name"),
                    ));
                }
            }
        }
        // Reuse the slot of an ended child of the same name, so that its
        // incarnation numbers keep counting up.
        let reuse = names
            .first()
            .and_then(|n| map.get(n).copied())
            .filter(|&j| self.group_names.get(&j).is_none_or(|v| *v == names));
        let n = self.spec.children.len();
        let i = match reuse {
            Some(j) => {
                self.extra[j as usize - n] = spec;
                self.mutate(j, |s| {
                    s.flags = (s.flags & (EVER_ABORTED | EVER_UNSTOPPED)) | WANT_START;
                    s.backoff_n = 0;
                    s.at = None;
                });
                j
            }
            // Else the slot of a removed child, so that a group that keeps
            // adding and removing keys stays the size of its live set.
            None => match self.free.pop() {
                Some(j) => {
                    self.extra[j as usize - n] = spec;
                    self.mutate(j, |s| {
                        // The counter goes on (stale messages stay
                        // recognisable); the new node counts from 1.
                        let gen = s.gen;
                        *s = Slot::new();
                        s.gen = gen;
                        s.base = gen;
                    });
                    j
                }
                None => {
                    let j = self.slots.len() as u32;
                    self.extra.push(spec);
                    self.slots.push(Slot::new());
                    self.want_start += 1;
                    self.unsettled += 1;
                    j
                }
            },
        };
        let map = self.names.get_or_insert_with(HashMap::new);
        for name in &names {
            map.insert(name.clone(), i);
        }
        if names.len() > 1
            || names
                .first()
                .is_some_and(|n| **n != *self.child_spec(i).name)
        {
            self.group_names.insert(i, names);
        }
        self.work.push_back(i);
        Ok(())
    }

    /// Stops a child added at runtime and does not restart it.
    pub(crate) fn remove(&mut self, link: &GroupLink, i: u32) {
        if self.slots.get(i as usize).is_none() {
            return;
        }
        let running = self.slots[i as usize].running();
        self.mutate(i, |s| s.flags = (s.flags | REMOVED) & !WANT_START);
        if running {
            self.mark_stop(i);
        } else {
            self.set_state(link, i, NodeState::Stopped, None, None);
            self.forget(i);
        }
    }

    /// Frees the names of a removed child that has ended.
    fn forget(&mut self, i: u32) {
        if self.slots[i as usize].has(FREED) {
            return;
        }
        self.forgotten = true;
        // Release what its last incarnation held; the slot is free for reuse.
        self.mutate(i, |s| {
            s.flags |= FREED;
            s.ctx = None;
            s.last_error = None;
        });
        self.free.push(i);
        let names: Vec<Arc<str>> = match self.group_names.remove(&i) {
            Some(v) => v,
            None => vec![self.child_spec(i).name.clone()],
        };
        if let Some(map) = &mut self.names {
            for n in names {
                if map.get(&n) == Some(&i) {
                    map.remove(&n);
                }
            }
        }
    }

    /// Whether child `i`'s incarnation `gen` (or an earlier one) has ended.
    pub(crate) fn has_ended(&self, i: u32, gen: u32) -> bool {
        self.slots
            .get(i as usize)
            .is_none_or(|s| !s.running() || s.gen != gen)
    }

    /// Reports healthy after `d` at the latest, even if some children are not.
    pub(crate) fn healthy_within(&mut self, d: Duration) {
        self.push_timer(Instant::now() + d, 0, 0, TimerKind::HealthWait);
    }

    pub(crate) fn slot_of(&self, name: &str) -> Option<u32> {
        self.names.as_ref()?.get(name).copied()
    }

    /// Aborts the first child (the root, in a tree's top group) without waiting.
    pub(crate) fn abort_root(&mut self) {
        if self.slots.first().is_some_and(Slot::running) {
            let h = self.mutate(0, |s| {
                s.flags |= ABORTED | EVER_ABORTED;
                s.abort.take()
            });
            if let Some(h) = h {
                h.abort();
            }
        }
    }

    /// Aborts every running child: the group's own task is being dropped.
    fn abort_all(&mut self) {
        for i in 0..self.slots.len() as u32 {
            if self.slots[i as usize].running() {
                let h = self.mutate(i, |s| {
                    s.flags = (s.flags & !(RUNNING | WANT_START)) | ABORTED | EVER_ABORTED;
                    s.state = NodeState::Stopped;
                    s.abort.take()
                });
                if let Some(h) = h {
                    h.abort();
                }
            }
        }
    }
}

impl Drop for GroupState {
    fn drop(&mut self) {
        // Each slot's last incarnation holds the state of the group it ran.
        crate::flat_drop::drop_flat(std::mem::take(&mut self.slots));
        crate::flat_drop::drop_flat(std::mem::take(&mut self.extra));
    }
}

enum Ending {
    Stopped(Option<SharedError>),
    Done(Option<SharedError>),
    Exit,
    Failure(SharedError),
    StopTree(SharedError),
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// A child's distinguished name, built only if a log line is enabled.
struct Name<'a>(&'a GroupLink, &'a str);

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.0.name.is_empty() {
            f.write_str(&self.0.name)?;
            if !self.1.is_empty() {
                f.write_str(".")?;
            }
        }
        f.write_str(self.1)
    }
}

/// What ends a group incarnation from outside.
pub(crate) enum StopSignal {
    /// The group is a node: its context is cancelled.
    Ctx(Context),
    /// The top of a tree or a spawned set: a token.
    Token(CancellationToken),
}

impl StopSignal {
    async fn wait(&self) {
        match self {
            StopSignal::Ctx(c) => c.cancelled().await,
            StopSignal::Token(t) => t.cancelled().await,
        }
    }
}

/// Creates a group incarnation: its shared state and its message channel.
pub(crate) fn new_group(
    spec: Arc<GroupSpec>,
    name: Box<str>,
    tree: Arc<TreeShared>,
    open: bool,
) -> (Arc<GroupShared>, UnboundedReceiver<Msg>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(GroupShared {
        link: Arc::new(GroupLink { tx, name, tree }),
        state: Mutex::new(GroupState::new(spec, open)),
        ended: Notify::new(),
    });
    (shared, rx)
}

/// Aborts the children of a group whose task is dropped before it finished.
struct AbortOnDrop(Option<Arc<GroupShared>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.lock().abort_all();
            shared.ended.notify_waiters();
        }
    }
}

/// The group's task: runs until every child has ended after a stop, a
/// give-up, or (for closed groups) the end of all its children.
pub(crate) async fn run_group(
    shared: Arc<GroupShared>,
    mut rx: UnboundedReceiver<Msg>,
    own: Option<Context>,
    stop: StopSignal,
) -> Result<(), Error> {
    let mut guard = AbortOnDrop(Some(shared.clone()));
    let link = shared.link.clone();
    let stop_fut = stop.wait();
    tokio::pin!(stop_fut);
    let sleep = tokio::time::sleep_until(Instant::now());
    tokio::pin!(sleep);
    let mut sleep_at: Option<Instant> = None;
    let mut stopping;
    let mut batch: Vec<Msg> = Vec::new();
    loop {
        let (to_cancel, next, finished) = {
            let mut st = shared.lock();
            st.pump(&link, own.as_ref());
            stopping = st.stopping;
            if std::mem::take(&mut st.forgotten) {
                shared.ended.notify_waiters();
            }
            (
                std::mem::take(&mut st.to_cancel),
                st.next_deadline(),
                st.finished(),
            )
        };
        // Outside the lock: cancellation runs user callbacks (`on_cancel`).
        for ctx in to_cancel {
            ctx.cancel();
        }
        if let Some(result) = finished {
            guard.0 = None;
            shared.ended.notify_waiters();
            if result.is_ok() && !stopping {
                if let Some(own) = &own {
                    // Every child ended for good: this group is done.
                    let st = shared.lock();
                    if !st.healthy_sent {
                        own.healthy();
                    }
                    drop(st);
                    own.done();
                }
            }
            return result;
        }
        if next != sleep_at {
            if let Some(t) = next {
                sleep.as_mut().reset(t);
            }
            sleep_at = next;
        }
        tokio::select! {
            biased;
            _ = &mut stop_fut, if !stopping => {
                shared.lock().stop_all(&link);
            }
            n = rx.recv_many(&mut batch, 256) => {
                if n == 0 {
                    // Cannot happen while `link` holds a sender; end cleanly anyway.
                    shared.lock().stop_all(&link);
                }
                let mut st = shared.lock();
                for msg in batch.drain(..) {
                    st.handle(&link, msg);
                }
            }
            _ = &mut sleep, if sleep_at.is_some() => {
                sleep_at = None;
                shared.lock().fire_timers(&link);
            }
        }
    }
}

/// A group as the runnable of a node (a nested group, a nested tree, an
/// anonymous spawned group).
pub(crate) struct GroupRunnable {
    spec: Arc<GroupSpec>,
}

impl GroupRunnable {
    pub(crate) fn new(spec: Arc<GroupSpec>) -> Self {
        GroupRunnable { spec }
    }
}

impl Runnable for GroupRunnable {
    fn __spawn(&self, ctx: Context) -> AbortHandle {
        let (shared, rx) = new_group(
            self.spec.clone(),
            ctx.name().into(),
            ctx.inner.link.tree.clone(),
            false,
        );
        let _ = ctx.inner.set_sub(shared.clone());
        incarnation::spawn(ctx, move |ctx| {
            run_group(shared, rx, Some(ctx.clone()), StopSignal::Ctx(ctx))
        })
    }

    fn __is_group(&self) -> bool {
        true
    }
}

/// The children an incarnation spawned with `ctx.spawn` / `ctx.spawn_group`:
/// a parallel, one_for_one group of its own, named like its owner.
pub(crate) struct SpawnedSet {
    pub(crate) token: CancellationToken,
    pub(crate) join: Option<JoinHandle<()>>,
    shared: Arc<GroupShared>,
}

/// The spec of a group that only has children added at runtime.
pub(crate) fn runtime_spec(
    strategy: Strategy,
    intensity: Intensity,
    backoff: Backoff,
) -> GroupSpec {
    GroupSpec {
        name: "".into(),
        strategy,
        intensity,
        decay: None,
        backoff,
        children: Vec::new(),
        deps: Edges::default(),
        dependents: Edges::default(),
        order: Vec::new(),
    }
}

impl SpawnedSet {
    pub(crate) fn start(owner: &Context) -> Result<SpawnedSet, Error> {
        let spec = Arc::new(runtime_spec(
            Strategy::OneForOne,
            Intensity::default(),
            Backoff::default(),
        ));
        let (shared, rx) = new_group(
            spec,
            owner.name().into(),
            owner.inner.link.tree.clone(),
            true,
        );
        if !owner.inner.set_sub(shared.clone()) {
            return Err(Error::new(
                ErrorKind::InvalidTree,
                Some(owner.name().to_owned()),
                "a group node cannot spawn children of its own",
            ));
        }
        let token = CancellationToken::new();
        let stop = StopSignal::Token(token.clone());
        let owner2 = owner.clone();
        let task_shared = shared.clone();
        let join = tokio::spawn(async move {
            if let Err(e) = run_group(task_shared, rx, None, stop).await {
                // Past its intensity the set fails its owner.
                owner2.fail(Arc::new(e));
            }
        });
        Ok(SpawnedSet {
            token,
            join: Some(join),
            shared,
        })
    }

    pub(crate) fn add(&self, spec: ChildSpec) -> Result<(), Error> {
        let names = vec![spec.name.clone()];
        self.insert(spec, names)
    }

    pub(crate) fn add_group(&self, specs: Vec<ChildSpec>) -> Result<(), Error> {
        let names: Vec<Arc<str>> = specs.iter().map(|s| s.name.clone()).collect();
        let n = specs.len() as u32;
        let mut spec = runtime_spec(
            Strategy::OneForAll,
            Intensity::default(),
            Backoff::default(),
        );
        spec.children = specs;
        spec.order = (0..n).collect();
        let child = ChildSpec::anonymous(GroupRunnable::new(Arc::new(spec)).boxed());
        self.insert(child, names)
    }

    fn insert(&self, spec: ChildSpec, names: Vec<Arc<str>>) -> Result<(), Error> {
        self.shared.add(spec, names).map_err(|e| match e.kind() {
            ErrorKind::DuplicateName => Error::new(
                ErrorKind::DuplicateName,
                e.node().map(|n| join_name(&self.shared.link.name, n)),
                format!("`{}`: {e}", self.shared.link.name),
            ),
            _ => Error::shutting_down(&self.shared.link.name),
        })
    }

    pub(crate) fn seal(&self) {
        let _ = self.shared.link.tx.send(Msg::Seal);
    }
}
