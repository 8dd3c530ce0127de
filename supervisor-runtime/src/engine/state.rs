//! [`GroupState`]: everything one group incarnation knows, and the two
//! things every change goes through: [`GroupState::mutate`] (a slot's
//! flags, keeping the counters exact) and [`GroupState::set_state`] (a
//! node's state, sending the event).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::added::Added;
use super::budget::RestartBudget;
use super::context::Context;
use super::group::{Link, Note};
use super::metrics;
use super::slot::{Slot, Stamp};
use super::timers::Timers;
use super::{ChildSpec, Spec};
use crate::error::{Error, SharedError};
use crate::observe::event::Event;
use crate::observe::state::NodeState;
use crate::spec::name::{join_name, Joined};

/// The state of one group incarnation. Only the group's own task changes
/// it for long; snapshots and runtime additions take its lock briefly.
pub(crate) struct GroupState {
    /// The group's name, its task's channel and the tree it belongs to.
    pub(crate) link: Arc<Link>,
    /// The checked spec, shared by every incarnation.
    pub(crate) spec: Arc<Spec>,
    /// One per child: the spec's children in order, then children added at
    /// runtime (`added`).
    pub(crate) slots: Vec<Slot>,
    /// Slots with a task running. Kept exact by [`mutate`](Self::mutate).
    pub(super) running: usize,
    /// Slots that want to start. Kept exact by [`mutate`](Self::mutate).
    want_start: usize,
    /// Slots not yet settled (healthy, done or over). Kept exact by
    /// [`mutate`](Self::mutate); the group is healthy when it reaches 0.
    unsettled: usize,
    /// Children whose turn may have come: to try to stop, then to start.
    pub(crate) work: VecDeque<u32>,
    /// How many of the spec's children, in start order, the first turns
    /// have tried to start (instead of a work list of all of them).
    initial: u32,
    /// Siblings that restart together: none starts again until every one of
    /// them has ended, so that no two incarnations of a node overlap.
    pub(crate) batch: Vec<u32>,
    /// Contexts to cancel once the lock is released (cancelling runs the
    /// user's `on_cancel` callbacks).
    pub(crate) to_cancel: Vec<Context>,
    pub(crate) timers: Timers,
    pub(crate) budget: RestartBudget,
    /// Stopping: nothing starts again in this incarnation.
    pub(crate) stopping: bool,
    /// Why it gave up, if it did (what the group's task returns).
    pub(crate) gave_up: Option<Error>,
    /// `healthy` was reported (once per incarnation).
    pub(crate) healthy_sent: bool,
    /// Report healthy even if some children are not yet (a dynamic group's
    /// bounded wait).
    pub(crate) force_healthy: bool,
    /// Do not report healthy yet: a dynamic group has not read its table.
    pub(crate) hold_healthy: bool,
    /// Children added at runtime, for groups that take them.
    pub(crate) added: Option<Box<Added>>,
    /// The time of this turn of the group's task: read once per turn (a
    /// clock read costs more than most of what a turn does per child), and
    /// used for every timestamp and deadline the turn sets.
    pub(crate) now: Instant,
    /// An empty buffer with room, swapped with the link's notes.
    notes: Vec<Note>,
    /// `now` as a [`Stamp`], the way slots keep times.
    pub(crate) stamp: Stamp,
    /// When this incarnation began: stamps count from here.
    base: Instant,
}

/// What a finished group incarnation gives up (see
/// [`GroupState::release_finished`]); dropping it frees them.
pub(crate) struct Released {
    _contexts: Vec<Context>,
    _notes: Vec<Note>,
    _work: VecDeque<u32>,
    _to_cancel: Vec<Context>,
}

impl GroupState {
    /// `open`: takes children at runtime (a dynamic group, a spawned set).
    pub(crate) fn new(link: Arc<Link>, spec: Arc<Spec>, open: bool) -> Self {
        let n = spec.children.len();
        let now = Instant::now();
        let mut slots = Vec::with_capacity(n);
        slots.resize_with(n, || Slot::new(Stamp(0)));
        GroupState {
            link,
            work: VecDeque::new(),
            initial: 0,
            budget: RestartBudget::new(spec.intensity, spec.decay),
            spec,
            slots,
            running: 0,
            want_start: n,
            unsettled: n,
            batch: Vec::new(),
            to_cancel: Vec::new(),
            timers: Timers::default(),
            stopping: false,
            gave_up: None,
            healthy_sent: false,
            force_healthy: false,
            hold_healthy: false,
            added: open.then(Added::open),
            now,
            notes: Vec::with_capacity(n.min(super::group::MAILBOX_ROOM)),
            stamp: Stamp(0),
            base: now,
        }
    }

    /// The spec of child `i`.
    pub(crate) fn child_spec(&self, i: u32) -> &ChildSpec {
        let n = self.spec.children.len();
        let i = i as usize;
        if i < n {
            &self.spec.children[i]
        } else {
            &self
                .added
                .as_ref()
                .expect("a slot past the spec was added")
                .extra[i - n]
        }
    }

    /// Takes children at runtime, so it does not complete when it runs out.
    pub(crate) fn is_open(&self) -> bool {
        self.added.as_ref().is_some_and(|a| a.open)
    }

    /// Every change of a slot's flags goes through here, keeping the
    /// counters exact without a scan.
    pub(crate) fn mutate<T>(&mut self, i: u32, f: impl FnOnce(&mut Slot) -> T) -> T {
        let s = &mut self.slots[i as usize];
        let (r0, w0, u0) = (s.running(), s.wants_start(), !s.settled());
        let out = f(s);
        let (r1, w1, u1) = (s.running(), s.wants_start(), !s.settled());
        self.running = self.running + r1 as usize - r0 as usize;
        self.want_start = self.want_start + w1 as usize - w0 as usize;
        self.unsettled = self.unsettled + u1 as usize - u0 as usize;
        out
    }

    /// A slot added at runtime, counted.
    pub(crate) fn push_slot(&mut self) -> u32 {
        let s = Slot::new(self.stamp);
        self.want_start += s.wants_start() as usize;
        self.unsettled += !s.settled() as usize;
        self.slots.push(s);
        self.slots.len() as u32 - 1
    }

    /// The distinguished name of child `i`.
    pub(crate) fn full_name(&self, i: u32) -> String {
        join_name(&self.link.name, &self.child_spec(i).name)
    }

    /// The distinguished name of child `i`, for a log line (built only if enabled).
    pub(crate) fn log_name(&self, i: u32) -> Joined<'_> {
        Joined(&self.link.name, &self.child_spec(i).name)
    }

    /// Every state change of a node goes through here: the slot enters the
    /// state and, when someone listens, the event is sent. An unchanged
    /// state with an error or a delay is still an event (a restart of a
    /// node that was already backing off, an error while stopping).
    pub(crate) fn set_state(
        &mut self,
        i: u32,
        state: NodeState,
        error: Option<SharedError>,
        delay: Option<Duration>,
    ) {
        let has_error = error.is_some();
        self.enter_state(i, state, has_error, delay, move |_| error);
    }

    /// [`set_state`](Self::set_state) with the error child `i` last ended
    /// with, made shared only if an event is sent.
    pub(crate) fn set_state_last_error(
        &mut self,
        i: u32,
        state: NodeState,
        delay: Option<Duration>,
    ) {
        self.enter_state(i, state, true, delay, |st| {
            st.slots[i as usize].shared_error()
        });
    }

    fn enter_state(
        &mut self,
        i: u32,
        state: NodeState,
        has_error: bool,
        delay: Option<Duration>,
        error: impl FnOnce(&mut Self) -> Option<SharedError>,
    ) {
        let now = self.stamp;
        let (from, since) = {
            let s = &self.slots[i as usize];
            (s.state(), s.since())
        };
        let changed = self.mutate(i, |s| s.enter(state, now));
        if changed && metrics::ON {
            let local = &self.child_spec(i).name;
            if !local.is_empty() {
                let in_from = now.0.saturating_sub(since.0);
                metrics::state_changed(&self.link.name, local, from, state, in_from);
            }
        }
        if !changed && !has_error && delay.is_none() {
            return;
        }
        if self.link.tree.listening() {
            let event = Event {
                name: self.full_name(i),
                state,
                error: error(self),
                delay,
                incarnation: self.slots[i as usize].incarnation(),
            };
            self.link.tree.send(event);
        }
    }

    /// A new turn of the group's task (or a change made from outside it):
    /// reads the clock once.
    pub(crate) fn turn(&mut self) {
        self.now = Instant::now();
        self.stamp = self.stamp_of(self.now);
    }

    /// `t` as a stamp of this incarnation.
    pub(crate) fn stamp_of(&self, t: Instant) -> Stamp {
        Stamp(t.saturating_duration_since(self.base).as_nanos() as u64)
    }

    /// The instant of stamp `s`.
    pub(crate) fn instant(&self, s: Stamp) -> Instant {
        self.base + Duration::from_nanos(s.0)
    }

    /// Applies all pending work: starts and stops that have become possible,
    /// finished restart batches, and this group's own health signal (to
    /// `own`, the context of the node that runs the group, if any).
    pub(crate) fn pump(&mut self, own: Option<&Context>) {
        loop {
            while (self.initial as usize) < self.spec.children.len() {
                let i = self.spec.start_order_at(self.initial);
                self.initial += 1;
                self.try_stop(i);
                self.try_start(i);
            }
            while let Some(i) = self.work.pop_front() {
                self.try_stop(i);
                self.try_start(i);
            }
            if !self.batch.is_empty()
                && self
                    .batch
                    .iter()
                    .all(|&m| !self.slots[m as usize].running())
            {
                self.batch_ended();
                continue;
            }
            break;
        }
        if let Some(own) = own {
            if !self.healthy_sent
                && !self.stopping
                && ((self.unsettled == 0 && !self.hold_healthy) || self.force_healthy)
                && (self.is_open() || !self.slots.is_empty())
            {
                self.healthy_sent = true;
                self.link
                    .reported
                    .store(true, std::sync::atomic::Ordering::Release);
                own.healthy();
            }
        }
    }

    /// Applies the notes left since the last turn, in order. Returns
    /// whether it applied an ending (whose consequences, a restart or a
    /// stop, want a turn of the group's task).
    pub(crate) fn take_notes(&mut self) -> bool {
        let mut buf = std::mem::take(&mut self.notes);
        self.link.take_notes(&mut buf);
        let mut ended = false;
        for note in buf.drain(..) {
            match note {
                Note::Healthy { idx, gen } => self.on_healthy(idx, gen),
                Note::Done { idx, gen } => self.on_done(idx, gen),
                Note::Fail { idx, gen } => self.on_fail(idx, gen),
                Note::Exit { idx, gen, end } => {
                    ended = true;
                    self.on_exit(idx, gen, end);
                }
                Note::Gate { idx, gen, answer } => self.on_gate(idx, gen, answer),
                Note::Stop => self.stop_all(),
                Note::Poke => {}
                Note::Seal => {
                    if let Some(a) = &mut self.added {
                        a.open = false;
                    }
                }
            }
        }
        // Kept for the next notes, unless a burst made it large.
        if buf.capacity() <= 256 {
            self.notes = buf;
        }
        ended
    }

    /// Incarnation `gen` of child `idx` is healthy (ignored once it is
    /// being stopped or has ended).
    fn on_healthy(&mut self, idx: u32, gen: u32) {
        if self.is_current(idx, gen) && self.slots[idx as usize].state() == NodeState::Starting {
            let now = self.stamp;
            self.mutate(idx, |s| s.transition_to_healthy(now));
            self.set_state(idx, NodeState::Healthy, None, None);
            tracing::info!(node = %self.log_name(idx), "healthy");
            if self.slots[idx as usize].is_watched() {
                self.watch(idx);
            }
            self.wake_dependents(idx);
        }
    }

    /// Incarnation `gen` of child `idx` has done its job.
    fn on_done(&mut self, idx: u32, gen: u32) {
        if self.is_current(idx, gen)
            && matches!(
                self.slots[idx as usize].state(),
                NodeState::Starting | NodeState::Healthy
            )
        {
            self.set_state(idx, NodeState::Done, None, None);
            self.wake_dependents(idx);
        }
    }

    /// Incarnation `gen` of child `idx` failed while running: stop it.
    fn on_fail(&mut self, idx: u32, gen: u32) {
        if self
            .slots
            .get(idx as usize)
            .is_some_and(|s| s.gen() == gen && s.running())
        {
            self.mutate(idx, |s| s.fail_requested());
            self.request_stop(idx);
        }
    }

    /// Incarnation `gen` of child `idx` runs and was not asked to stop.
    fn is_current(&self, idx: u32, gen: u32) -> bool {
        self.slots
            .get(idx as usize)
            .is_some_and(|s| s.is_current(gen))
    }

    /// Fails the running incarnation of child `i` with `err`, whatever it
    /// returns, and stops it.
    pub(crate) fn fail_running(&mut self, i: u32, err: SharedError) {
        if let Some(ctx) = self.slots[i as usize].ctx() {
            ctx.force_error(err);
        }
        self.mutate(i, |s| s.fail_requested());
        self.request_stop(i);
    }

    /// Whether this incarnation of the group is over, and how.
    pub(crate) fn finished(&self) -> Option<Result<(), Error>> {
        if self.running > 0 {
            return None;
        }
        if self.stopping {
            return Some(self.gave_up.clone().map_or(Ok(()), Err));
        }
        if self.want_start == 0 && !self.is_open() && self.batch.is_empty() {
            return Some(Ok(()));
        }
        None
    }

    /// What this finished incarnation no longer needs, taken out to be
    /// dropped by the caller outside the lock: the contexts of its ended
    /// children, and its buffers (notes, work list, contexts to cancel).
    /// Snapshots and reports read the slots and the spec, which stay.
    ///
    /// A slot keeps its last context so that a restart can renew it in
    /// place; a finished group starts nothing again (a restart of the group
    /// is a new incarnation with slots of its own). Dropping them here, on
    /// the group's task, frees each child's context (and whatever its task
    /// left in it) on the worker that ran the group, while the rest of the
    /// tree is still stopping, rather than all at once on the thread that
    /// drops the tree's last handle. Measured on a 10,000-leaf tree: about
    /// 500 instructions per leaf moved off that thread. Kept: the context
    /// of a node that runs a group (the walks of snapshots and reports find
    /// the group through it) and of a task that could not be stopped.
    pub(crate) fn release_finished(&mut self) -> Released {
        let mut contexts = Vec::with_capacity(self.slots.len());
        for s in &mut self.slots {
            if !s.running() && s.ctx().is_some_and(|c| c.inner.sub().is_none()) {
                contexts.extend(s.take_ctx());
            }
        }
        Released {
            _contexts: contexts,
            _notes: std::mem::take(&mut self.notes),
            _work: std::mem::take(&mut self.work),
            _to_cancel: std::mem::take(&mut self.to_cancel),
        }
    }

    /// Aborts every running child without waiting: the group's own task is
    /// being dropped (its runtime is shutting down, or its parent aborted it).
    pub(crate) fn abort_all(&mut self) {
        self.turn();
        for i in 0..self.slots.len() as u32 {
            if self.slots[i as usize].running() {
                if let Some(h) = self.mutate(i, |s| s.transition_to_dropped()) {
                    h.abort();
                }
                self.set_state(i, NodeState::Stopped, None, None);
            }
        }
    }

    /// Aborts the first child (the root, in a tree's top group) without waiting.
    pub(crate) fn abort_root(&mut self) {
        if self.slots.first().is_some_and(Slot::running) {
            self.abort_task(0);
        }
    }
}

impl Drop for GroupState {
    fn drop(&mut self) {
        // Each slot's last incarnation holds the state of the group it ran:
        // a chain of nested groups drops flat.
        crate::flat_drop::drop_flat(std::mem::take(&mut self.slots));
        crate::flat_drop::drop_flat(self.added.take());
    }
}
