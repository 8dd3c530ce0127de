//! [`Slot`]: one child position of a group, and every change it goes through.
//!
//! A slot is a [`NodeState`] (what the outside sees) plus a few flag bits
//! (what the group's task needs to remember between messages). The bits are
//! private to this file; every change is a named transition, in the manner
//! of tokio's `runtime/task/state.rs`, so that the group's code reads as the
//! life of a child and no other file can leave a slot half-changed.
//!
//! The state itself changes only through [`Slot::enter`], which only
//! `GroupState::set_state` calls: the one place that also sends the event.

use tokio::task::JoinHandle;

use super::context::Context;
use super::ending::KeptError;
use crate::error::SharedError;
use crate::observe::state::NodeState;

/// A task of this slot is running (from its start until its ending is received).
const RUNNING: u16 = 1;
/// It should start (again) as soon as its dependencies, its restart delay
/// and its restart batch allow.
const WANT_START: u16 = 1 << 1;
/// It should be stopped once the siblings that depend on it have stopped.
const WANT_STOP: u16 = 1 << 2;
/// Its context was cancelled: it is stopping.
const STOP_REQ: u16 = 1 << 3;
/// The stop was asked because the incarnation failed (a wrong-order
/// signal, a start timeout, a lost heartbeat): its ending is a failure
/// whatever it returns.
const FAIL_REQ: u16 = 1 << 4;
/// Its task was aborted and has not ended yet.
const ABORTED: u16 = 1 << 5;
/// Its task did not end within the grace after its abort.
const UNSTOPPED: u16 = 1 << 6;
/// Removed at runtime: never starts again; its names are freed once it ended.
const REMOVED: u16 = 1 << 7;
/// Its last incarnation had to be aborted (kept for the shutdown report).
const EVER_ABORTED: u16 = 1 << 8;
/// Its last incarnation could not be stopped (kept for the shutdown report).
const EVER_UNSTOPPED: u16 = 1 << 9;
/// Removed and ended: the slot is free for reuse.
const FREED: u16 = 1 << 10;
/// Its restart waits for its group's gate to answer (a keyed child whose
/// table is asked whether its entry is still there).
const GATED: u16 = 1 << 11;
/// Its current incarnation has a watchdog: the heartbeat is armed when it
/// becomes healthy. Kept here so that a child without one is not asked.
const WATCHED: u16 = 1 << 12;

/// A time in a group's life: nanoseconds since the group's incarnation
/// began. Eight bytes where an `Instant` takes sixteen, twice per child.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(pub(crate) u64);

impl Stamp {
    /// `d` later.
    pub(crate) fn after(self, d: std::time::Duration) -> Stamp {
        // Short of `NO_TIME`, which would read as "no time at all".
        let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Stamp(self.0.saturating_add(d).min(NO_TIME.0 - 1))
    }
}

/// `Slot::at` when it holds no time.
const NO_TIME: Stamp = Stamp(u64::MAX);

/// One child position of a group.
pub(crate) struct Slot {
    state: NodeState,
    flags: u16,
    /// Restarts counted by the backoff (saturates; the delay caps long before).
    backoff_n: u8,
    /// Incarnation counter of the slot: never reused, so that the messages
    /// and timers of an ended incarnation are recognised as stale.
    gen: u32,
    /// `gen` when this slot last changed hands (a freed slot reused), so
    /// that `gen - base` is the node's incarnation number.
    base: u32,
    restarts: u32,
    /// The context of the current (or last) incarnation.
    ctx: Option<Context>,
    /// The task of the running incarnation, kept to abort it. Its handle
    /// rather than an `AbortHandle` made from it: one reference count less
    /// to take and drop per incarnation (its output is `()`).
    task: Option<JoinHandle<()>>,
    /// While running: since when it is healthy (for the backoff reset).
    /// While waiting to restart: not before this instant.
    at: Stamp,
    /// When `state` last changed.
    since: Stamp,
    /// Boxed: one pointer in every slot, a second allocation only for a
    /// child that has failed, reused by its later errors.
    last_error: Option<Box<KeptError>>,
}

/// What the flags said when an incarnation's ending was received.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Ended {
    /// It had been asked to stop.
    pub(crate) stop_req: bool,
    /// The stop was asked because it failed.
    pub(crate) fail_req: bool,
    /// It was removed at runtime.
    pub(crate) removed: bool,
}

impl Slot {
    /// A slot that has not started yet (shown as `Stopped`, waiting).
    pub(crate) fn new(now: Stamp) -> Self {
        Slot {
            state: NodeState::Stopped,
            flags: WANT_START,
            backoff_n: 0,
            gen: 0,
            base: 0,
            restarts: 0,
            ctx: None,
            task: None,
            at: NO_TIME,
            since: now,
            last_error: None,
        }
    }

    fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    // ---- reading ----

    pub(crate) fn state(&self) -> NodeState {
        self.state
    }

    pub(crate) fn since(&self) -> Stamp {
        self.since
    }

    pub(crate) fn running(&self) -> bool {
        self.has(RUNNING)
    }

    pub(crate) fn wants_start(&self) -> bool {
        self.has(WANT_START)
    }

    /// Will run again or runs: running, or waiting to start.
    pub(crate) fn is_live(&self) -> bool {
        self.running() || self.has(WANT_START)
    }

    /// Healthy, done, or ended for good: nothing to wait for here.
    pub(crate) fn settled(&self) -> bool {
        !self.has(WANT_START)
            && matches!(
                self.state,
                NodeState::Healthy | NodeState::Done | NodeState::Stopped | NodeState::Failed
            )
    }

    /// Marked to stop, or stopping: the siblings it depends on wait for it.
    pub(crate) fn stop_pending(&self) -> bool {
        self.has(WANT_STOP | STOP_REQ)
    }

    pub(crate) fn wants_stop(&self) -> bool {
        self.has(WANT_STOP)
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.has(STOP_REQ)
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.has(ABORTED)
    }

    pub(crate) fn is_unstopped(&self) -> bool {
        self.has(UNSTOPPED)
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.has(REMOVED)
    }

    pub(crate) fn is_freed(&self) -> bool {
        self.has(FREED)
    }

    /// Its restart waits for the gate's answer.
    pub(crate) fn is_gated(&self) -> bool {
        self.has(GATED)
    }

    /// Its last incarnation had to be aborted.
    pub(crate) fn was_aborted(&self) -> bool {
        self.has(EVER_ABORTED)
    }

    /// Its last incarnation could not be stopped.
    pub(crate) fn was_unstopped(&self) -> bool {
        self.has(EVER_UNSTOPPED)
    }

    pub(crate) fn gen(&self) -> u32 {
        self.gen
    }

    /// The incarnation `gen` of this slot, running and not asked to stop.
    pub(crate) fn is_current(&self, gen: u32) -> bool {
        self.gen == gen && self.running() && !self.has(STOP_REQ)
    }

    /// `gen` when this slot last changed hands.
    pub(crate) fn base(&self) -> u32 {
        self.base
    }

    /// This node's incarnation number: 0 before its first start.
    pub(crate) fn incarnation(&self) -> u32 {
        self.gen - self.base
    }

    pub(crate) fn restarts(&self) -> u32 {
        self.restarts
    }

    pub(crate) fn ctx(&self) -> Option<&Context> {
        self.ctx.as_ref()
    }

    /// Its current incarnation has a watchdog.
    pub(crate) fn is_watched(&self) -> bool {
        self.flags & WATCHED != 0
    }

    /// Takes the context of the last incarnation (a new one is starting).
    pub(crate) fn take_ctx(&mut self) -> Option<Context> {
        self.ctx.take()
    }

    pub(crate) fn last_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.last_error.as_deref().map(KeptError::get)
    }

    /// The error it last ended with, shared (made shared in place if it
    /// was kept as returned).
    pub(crate) fn shared_error(&mut self) -> Option<SharedError> {
        self.last_error.as_deref_mut().map(KeptError::share)
    }

    /// The restart delay has not passed yet.
    pub(crate) fn delayed(&self, now: Stamp) -> bool {
        self.at != NO_TIME && self.at > now
    }

    // ---- transitions ----

    /// The state changes (only `GroupState::set_state` calls this). Returns
    /// whether it changed.
    pub(crate) fn enter(&mut self, state: NodeState, now: Stamp) -> bool {
        let changed = self.state != state;
        if changed {
            self.since = now;
        }
        self.state = state;
        changed
    }

    /// A new incarnation `gen` runs: the stop, failure and abort marks of
    /// the last one are gone, and so is the wish to start.
    pub(crate) fn transition_to_running(
        &mut self,
        gen: u32,
        ctx: Context,
        task: JoinHandle<()>,
        healthy_at: Option<Stamp>,
        watched: bool,
    ) {
        if self.gen > self.base {
            self.restarts = self.restarts.saturating_add(1);
        }
        self.gen = gen;
        self.flags = if watched { RUNNING | WATCHED } else { RUNNING };
        self.ctx = Some(ctx);
        self.task = Some(task);
        self.at = healthy_at.unwrap_or(NO_TIME);
    }

    /// It became healthy now (for the backoff reset).
    pub(crate) fn transition_to_healthy(&mut self, now: Stamp) {
        self.at = now;
    }

    /// Marks it to be stopped once its dependents have stopped.
    pub(crate) fn want_stop(&mut self) {
        self.flags |= WANT_STOP;
    }

    /// Its context is being cancelled: it is stopping now.
    pub(crate) fn transition_to_stopping(&mut self) {
        self.flags = (self.flags | STOP_REQ) & !WANT_STOP;
    }

    /// Its incarnation failed while running: whatever it returns, the
    /// ending is a failure.
    pub(crate) fn fail_requested(&mut self) {
        self.flags |= FAIL_REQ;
    }

    /// Aborts its task; returns the handle to abort with (outside any lock).
    pub(crate) fn transition_to_aborted(&mut self) -> Option<JoinHandle<()>> {
        self.flags |= ABORTED | EVER_ABORTED;
        self.task.take()
    }

    /// Its aborted task did not end in time; it may never end.
    pub(crate) fn mark_unstopped(&mut self) {
        self.flags |= UNSTOPPED | EVER_UNSTOPPED;
    }

    /// Stops waiting for a task that could not be stopped (shutdown only):
    /// counted as ended, never started again.
    pub(crate) fn abandon(&mut self) {
        self.flags = (self.flags & !(RUNNING | WANT_START | WANT_STOP | STOP_REQ))
            | UNSTOPPED
            | EVER_UNSTOPPED;
    }

    /// The group's task is gone: the task is aborted and counted as ended.
    pub(crate) fn transition_to_dropped(&mut self) -> Option<JoinHandle<()>> {
        self.flags = (self.flags & !(RUNNING | WANT_START)) | ABORTED | EVER_ABORTED;
        self.task.take()
    }

    /// The ending of its incarnation was received: it is no longer running.
    pub(crate) fn transition_to_ended(&mut self) -> Ended {
        let ended = Ended {
            stop_req: self.has(STOP_REQ),
            fail_req: self.has(FAIL_REQ),
            removed: self.has(REMOVED),
        };
        self.flags &= !(RUNNING | STOP_REQ | FAIL_REQ | WANT_STOP | ABORTED | UNSTOPPED);
        self.task = None;
        ended
    }

    /// Records the error it ended with, in the box of the last one if it
    /// had one.
    pub(crate) fn set_error(&mut self, e: KeptError) {
        match &mut self.last_error {
            Some(b) => **b = e,
            None => self.last_error = Some(Box::new(e)),
        }
    }

    /// It should start again, not before `at`.
    pub(crate) fn want_restart(&mut self, at: Stamp) {
        self.flags |= WANT_START;
        self.at = at;
    }

    /// The backoff's restart count for this restart: reset to 0 once the
    /// child stayed healthy for `reset_after`, then counted up.
    pub(crate) fn next_backoff(&mut self, now: Stamp, reset_after: std::time::Duration) -> u32 {
        if self.at != NO_TIME
            && now.0.saturating_sub(self.at.0)
                >= reset_after.as_nanos().min(u128::from(u64::MAX)) as u64
        {
            self.backoff_n = 0;
        }
        let n = u32::from(self.backoff_n);
        self.backoff_n = self.backoff_n.saturating_add(1);
        n
    }

    /// Its restart waits until the gate answers.
    pub(crate) fn gate_wait(&mut self) {
        self.flags |= GATED;
    }

    /// The gate answered.
    pub(crate) fn gate_answered(&mut self) {
        self.flags &= !GATED;
    }

    /// It will not start again in this incarnation of the group.
    pub(crate) fn cancel_start(&mut self) {
        self.flags &= !(WANT_START | GATED);
    }

    /// Removed at runtime: never starts again.
    pub(crate) fn remove(&mut self) {
        self.flags = (self.flags | REMOVED) & !(WANT_START | GATED);
    }

    /// Removed and ended: frees what its last incarnation held.
    pub(crate) fn free(&mut self) {
        self.flags |= FREED;
        self.last_error = None;
        // The context is kept for the slot's next child, whose start renews
        // it (one allocation fewer per add); what it holds beyond its fixed
        // part is released now if nothing else holds it.
        if let Some(ctx) = &mut self.ctx {
            ctx.release_lazy();
        }
    }

    /// Added again under the same name: starts again, counting on from its
    /// last incarnation, with a fresh backoff.
    pub(crate) fn reuse(&mut self) {
        self.flags = (self.flags & (EVER_ABORTED | EVER_UNSTOPPED)) | WANT_START;
        self.backoff_n = 0;
        self.at = NO_TIME;
    }

    /// A freed slot taken by a new node: counts from incarnation 1, while
    /// the slot's counter goes on (stale messages stay recognisable).
    pub(crate) fn recycle(&mut self, now: Stamp) {
        let gen = self.gen;
        let ctx = self.ctx.take();
        *self = Slot::new(now);
        self.gen = gen;
        self.base = gen;
        self.ctx = ctx;
    }
}
