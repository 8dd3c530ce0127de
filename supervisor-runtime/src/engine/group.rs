//! The group engine: one task per group incarnation, driven by messages from
//! its children and by its own timers.
//!
//! # Design note
//!
//! Every child incarnation is one tokio task that reports to its group
//! through one unbounded channel: `Healthy`, `Done`, `Fail` (a wrong-order
//! signal or a failed child set) and, from a drop guard, `Exit`, so that an
//! ending is reported whether the task completed, panicked or was aborted.
//! The group's whole state ([`GroupState`]) sits behind one mutex that only
//! the group's own task takes for long (snapshots and runtime additions take
//! it briefly). Every change of a slot goes through [`GroupState::mutate`],
//! which keeps the counters (`running`, `want_start`, `unsettled`) exact
//! without scanning, and every change of a node's state through
//! [`GroupState::set_state`], which also sends the event.
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
//!
//! # Map of the engine
//!
//! | file | what |
//! |---|---|
//! | `group.rs` | this loop: the group's task, its messages, its shared handle |
//! | `state.rs` | [`GroupState`]: the fields, `mutate`, `set_state`, messages, completion |
//! | `slot.rs` | one child position: its flag bits and their named transitions |
//! | `order.rs` | start and stop order: when a child may start or be stopped, the walks along the edges |
//! | `restart.rs` | an incarnation ended: classify, restart by strategy and backoff, or give up |
//! | `ending.rs` | the classification of an ending (the table of endings) |
//! | `budget.rs` | the restart budget: intensity and decay |
//! | `timers.rs` | restart delays, start and shutdown timeouts, the grace after an abort |
//! | `added.rs` | children added at runtime: the registry, `ctx.spawn` sets |
//! | `incarnation.rs` | one incarnation as one task, and how its end is reported |
//! | `context.rs` | [`Context`], what an incarnation sees of its supervisor |
//! | `cancelled.rs` | [`Cancelled`](crate::Cancelled): waiting for an incarnation's cancellation |
//! | `runnable.rs` | [`Runnable`](crate::Runnable), what a node runs |
//! | `tree.rs` | [`Tree`](crate::Tree) and [`TreeHandle`](crate::TreeHandle): a whole tree, started and stopped |
//! | `walk.rs` | the walks that make snapshots and shutdown reports |
//! | `signals.rs` | the signals that stop `run_until_signal` |
//! | `metrics.rs` | counters and gauges for the `metrics` facade (feature `metrics`; nothing without it) |

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::added::GateAnswer;
use super::context::Context;
use super::ending::TaskEnd;
use super::incarnation;
use super::runnable::{BoxRunnable, Runnable};
use super::state::GroupState;
use super::tree::TreeShared;
use super::{ChildSpec, Spec};
use crate::error::Error;

/// What reaches a group's task: from its children (signals, endings),
/// from its own helpers (a gate's answer), and from outside (stop, a child
/// added, a spawned set sealed).
pub(crate) enum Note {
    /// Incarnation `gen` of child `idx` is healthy.
    Healthy { idx: u32, gen: u32 },
    /// Incarnation `gen` of child `idx` has done its job.
    Done { idx: u32, gen: u32 },
    /// Incarnation `gen` of child `idx` failed while running (a wrong-order
    /// signal, a failed set of spawned children): stop it; its ending is a
    /// failure.
    Fail { idx: u32, gen: u32 },
    /// The task of incarnation `gen` of child `idx` has ended (with the
    /// children it spawned).
    Exit { idx: u32, gen: u32, end: TaskEnd },
    /// The gate answered about the restart of incarnation `gen` of child `idx`.
    Gate {
        idx: u32,
        gen: u32,
        answer: GateAnswer,
    },
    /// Stop every child and end: the node that runs the group was asked to
    /// stop, or the tree is shutting down, or a spawned set's owner ended.
    Stop,
    /// Children were added from outside the group's task; look at the work list.
    Poke,
    /// The owner of a spawned set has ended `done`: the set may complete.
    Seal,
}

/// What the children of one group incarnation hold to reach it.
pub(crate) struct Link {
    /// The group's distinguished name; children are named `<name>.<child>`.
    pub(crate) name: Arc<str>,
    pub(crate) tree: Arc<TreeShared>,
    /// The group's spec, for the local names of its children: a context
    /// finds its node's name here rather than keeping a copy of it.
    spec: Arc<Spec>,
    /// The local names of the children added at runtime, by slot from
    /// `spec.children.len()` (empty for a group that takes none).
    added_names: Mutex<Vec<Arc<str>>>,
    /// Notes not yet taken by the group's task, taken all at once at the
    /// start of each of its turns, in order: a thousand children becoming
    /// healthy (or ending) at once cost the group one turn, not a thousand.
    mail: Mutex<Mailbox>,
    /// Wakes the group's task.
    wake: Wake,
    /// Incarnations started and counted on to signal `healthy` (or end)
    /// that have not yet: when the last one does, the group is woken, since
    /// it may now be healthy itself.
    pub(crate) pending: AtomicU32,
    /// The group has reported `healthy` (once per incarnation): the last of
    /// its children to become healthy no longer needs to wake it.
    pub(crate) reported: AtomicBool,
    /// Incarnations whose task has not reported its ending yet.
    pub(crate) running: AtomicU32,
    /// The group is stopping all its children with no order among them:
    /// an ending wakes it only if it is the last (or someone follows the
    /// events), so that a thousand children stopping cost the group a few
    /// turns, not a thousand.
    pub(crate) quiet_endings: AtomicBool,
}

/// Wakes the one task of a group: a flag and the task's waker. What a
/// group needs of a `Notify` (one waiter, a wake-up that is not lost when
/// it is not waiting) at a fraction of the cost.
#[derive(Default)]
struct Wake {
    woken: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Wake {
    fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Resolves once `wake` was called since the last time it resolved.
    fn woken(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.woken.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            let mut w = self.waker.lock().unwrap_or_else(|p| p.into_inner());
            // Checked again under the lock: `wake` sets the flag before it
            // takes the waker, so either it finds this one or this sees it.
            if self.woken.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            match &mut *w {
                Some(old) if old.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
    }
}

/// The notes waiting for the group's task, and whether it was woken for them.
#[derive(Default)]
struct Mailbox {
    notes: Vec<Note>,
    woken: bool,
}

impl Link {
    /// `f` of the local name of the child in slot `idx`.
    pub(crate) fn with_local_name<T>(&self, idx: u32, f: impl FnOnce(&str) -> T) -> T {
        let i = idx as usize;
        match self.spec.children.get(i) {
            Some(c) => f(&c.name),
            None => {
                let added = self.added_names.lock().unwrap_or_else(|p| p.into_inner());
                f(added.get(i - self.spec.children.len()).map_or("", |n| n))
            }
        }
    }

    /// Slot `idx` (added at runtime) now holds the child `local`.
    pub(crate) fn set_added_name(&self, idx: u32, local: &Arc<str>) {
        let i = idx as usize - self.spec.children.len();
        let mut added = self.added_names.lock().unwrap_or_else(|p| p.into_inner());
        if i == added.len() {
            added.push(local.clone());
        } else if added[i] != *local {
            added[i] = local.clone();
        }
    }

    /// Leaves a note for the group's task. `wake`: the group must see it now
    /// (a sibling waits for it, someone follows the events, the group may be
    /// healthy now, or it is not a child's signal at all); otherwise the
    /// group takes it at its next turn, or a snapshot does. Notes keep their
    /// order: the signals of an incarnation come before its ending.
    pub(crate) fn post(&self, note: Note, wake: bool) {
        self.post_with(note, || wake);
    }

    /// Leaves a note, deciding whether it wakes the group under the
    /// mailbox's lock. A note that counts itself out of `pending` or
    /// `running` must do so here: then the one that takes a count to zero
    /// (and wakes the group) is also the last to post, so the group finds
    /// every other note of that count in the mailbox when it wakes. Counted
    /// outside the lock, the last one could post and wake the group while
    /// another, counted earlier, had not yet posted its note, which would
    /// then wait unseen for the group's next turn (found as a 5 s stall of a
    /// stop, on the shutdown timer, with 100,000 children).
    fn post_with(&self, note: Note, wake: impl FnOnce() -> bool) {
        let mut m = self.mail.lock().unwrap_or_else(|p| p.into_inner());
        m.notes.push(note);
        let wake = wake() && !std::mem::replace(&mut m.woken, true);
        drop(m);
        if wake {
            self.wake.wake();
        }
    }

    /// The task of incarnation `gen` of child `idx` has ended. `pending`:
    /// it ended without signalling `healthy` and was still counted in
    /// `pending`; it is taken out here, as `healthy` would have, and if it
    /// was the last the group is woken (it may be healthy now).
    pub(crate) fn exit(&self, idx: u32, gen: u32, end: TaskEnd, pending: bool) {
        self.post_with(Note::Exit { idx, gen, end }, || {
            let last = self.running.fetch_sub(1, Ordering::AcqRel) == 1;
            let last_pending = pending
                && self.pending.fetch_sub(1, Ordering::AcqRel) == 1
                && !self.reported.load(Ordering::Acquire);
            last || last_pending
                || !self.quiet_endings.load(Ordering::Acquire)
                || self.tree.listening()
        });
    }

    /// Incarnation `gen` of child `idx` is healthy. `counted`: it was in
    /// `pending`; the last of those to become healthy wakes the group (it
    /// may be healthy itself now) unless it has reported already. `prompt`:
    /// wake it anyway (someone waits for this child).
    pub(crate) fn healthy(&self, idx: u32, gen: u32, counted: bool, prompt: bool) {
        self.post_with(Note::Healthy { idx, gen }, || {
            let last = counted
                && self.pending.fetch_sub(1, Ordering::AcqRel) == 1
                && !self.reported.load(Ordering::Acquire);
            last || prompt || self.tree.listening()
        });
    }

    /// Takes the waiting notes into `buf` (empty), leaving `buf`'s
    /// allocation for the next ones.
    pub(crate) fn take_notes(&self, buf: &mut Vec<Note>) {
        let mut m = self.mail.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut m.notes, buf);
        m.woken = false;
    }
}

/// One group incarnation, as seen from outside its task (snapshots, reports,
/// runtime additions).
pub(crate) struct GroupShared {
    pub(crate) link: Arc<Link>,
    state: Mutex<GroupState>,
    /// Woken when a removed child has ended, and when the group has.
    pub(crate) ended: Notify,
    /// What the group reports about itself in snapshots (a dynamic group:
    /// the table entries it skipped). A lock of its own, never held while
    /// another is taken.
    pub(crate) notes: Mutex<Vec<String>>,
}

impl GroupShared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a child from outside the group's task (see [`GroupState::add`])
    /// and wakes the task to start it.
    pub(crate) fn add(&self, spec: ChildSpec, names: Vec<Arc<str>>) -> Result<(), Error> {
        self.lock().add(spec, names)?;
        self.poke();
        Ok(())
    }

    /// Wakes the group's task to look at its work list.
    pub(crate) fn poke(&self) {
        self.link.post(Note::Poke, true);
    }

    /// Asks the group to stop every child and end.
    pub(crate) fn stop(&self) {
        self.link.post(Note::Stop, true);
    }
}

/// The most notes a new group's mailbox (and its task's buffer for them)
/// has room for before anyone posts.
pub(crate) const MAILBOX_ROOM: usize = 16;

/// Creates a group incarnation. `open`: it takes children at runtime.
pub(crate) fn new_group(
    spec: Arc<Spec>,
    name: Arc<str>,
    tree: Arc<TreeShared>,
    open: bool,
) -> Arc<GroupShared> {
    // The mailbox starts with room for a note from each child (up to 16):
    // allocated here, by the thread that creates the group, rather than
    // grown by the first children to post, on whichever workers they run.
    // A realloc of memory from another thread's arena takes that arena's
    // lock: growing the mailboxes of 1,111 small groups that way was the
    // first cause of futex calls in a tree's start with two workers.
    let cap = spec.children.len().min(MAILBOX_ROOM);
    let link = Arc::new(Link {
        name,
        tree,
        spec: spec.clone(),
        added_names: Mutex::new(Vec::new()),
        mail: Mutex::new(Mailbox {
            notes: Vec::with_capacity(cap),
            woken: false,
        }),
        wake: Wake::default(),
        pending: AtomicU32::new(0),
        reported: AtomicBool::new(false),
        running: AtomicU32::new(0),
        quiet_endings: AtomicBool::new(false),
    });
    Arc::new(GroupShared {
        state: Mutex::new(GroupState::new(link.clone(), spec, open)),
        link,
        ended: Notify::new(),
        notes: Mutex::new(Vec::new()),
    })
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
/// give-up, or (for closed groups) the end of all its children. `own` is
/// the context of the node that runs the group, if it is one: its
/// cancellation stops the group. Otherwise the group is stopped by a
/// [`Msg::Stop`] from whoever owns it.
///
/// Everything reaches the task through its channel (and its one timer), so
/// that a turn polls one future, not one per source of work.
pub(crate) async fn run_group(shared: Arc<GroupShared>, own: Option<Context>) -> Result<(), Error> {
    let mut guard = AbortOnDrop(Some(shared.clone()));
    let link = shared.link.clone();
    let sleep = tokio::time::sleep_until(Instant::now());
    tokio::pin!(sleep);
    let mut sleep_at: Option<Instant> = None;
    // The contexts to cancel after a turn, swapped with the state's list
    // under the lock: both keep their allocation from turn to turn.
    let mut cancel: Vec<Context> = Vec::new();
    loop {
        let (next, finished, stopping, ended) = {
            let mut st = shared.lock();
            st.turn();
            st.take_notes();
            if sleep_at.is_some_and(|t| t <= st.now) {
                sleep_at = None;
            }
            st.fire_timers();
            st.pump(own.as_ref());
            if st
                .added
                .as_mut()
                .is_some_and(|a| std::mem::take(&mut a.forgotten))
            {
                shared.ended.notify_waiters();
            }
            // The turn's contexts to cancel first: a finished group's
            // release below must not take them with its buffers.
            std::mem::swap(&mut st.to_cancel, &mut cancel);
            let finished = st.finished();
            let ended = finished.is_some().then(|| {
                // The mailbox's buffer too: a note posted later (a context
                // still held somewhere) finds an empty one.
                let mail =
                    std::mem::take(&mut link.mail.lock().unwrap_or_else(|p| p.into_inner()).notes);
                (st.release_finished(), mail)
            });
            (
                st.timers.next_deadline().map(|s| st.instant(s)),
                finished,
                st.stopping,
                ended,
            )
        };
        // Outside the lock: a context's drop may drop user callbacks.
        drop(ended);
        // Outside the lock: cancellation runs user callbacks (`on_cancel`).
        for ctx in cancel.drain(..) {
            ctx.cancel();
        }
        if let Some(result) = finished {
            guard.0 = None;
            shared.ended.notify_waiters();
            if result.is_ok() && !stopping {
                if let Some(own) = &own {
                    // Every child ended for good: this group is done.
                    let healthy_sent = shared.lock().healthy_sent;
                    if !healthy_sent {
                        own.healthy();
                    }
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
        // Each turn counts against tokio's cooperative budget, as a turn
        // that received from a tokio channel did: a group and a child that
        // keep waking each other (a restart loop) then yield to the rest of
        // the worker's queue now and then instead of chaining through the
        // worker's LIFO slot until it overflows and wakes the other worker
        // for every few cycles. Measured on the restart benchmark with two
        // workers: 855-1,148 ns per cycle without, 586-635 with.
        let wait = async {
            tokio::task::consume_budget().await;
            link.wake.woken().await
        };
        tokio::select! {
            biased;
            _ = wait => {}
            _ = &mut sleep, if sleep_at.is_some() => {
                sleep_at = None;
            }
        }
    }
}

/// A group as the runnable of a node (a nested group, a nested tree, an
/// anonymous spawned group).
pub(crate) struct GroupRunnable {
    spec: Arc<Spec>,
}

/// The runnable of a child that runs the group `spec`.
pub(crate) fn group_runnable(spec: Arc<Spec>) -> BoxRunnable {
    GroupRunnable { spec }.boxed()
}

impl super::runnable::sealed::Sealed for GroupRunnable {}

impl Runnable for GroupRunnable {
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        let shared = new_group(
            self.spec.clone(),
            ctx.name().into(),
            ctx.tree().clone(),
            false,
        );
        let _ = ctx.inner.set_sub(shared.clone());
        incarnation::spawn(ctx, move |ctx| run_group(shared, Some(ctx)))
    }

    fn __is_group(&self) -> bool {
        true
    }
}
