//! Start and stop order: when a child may start, when it may be stopped,
//! and the walks along the `after` edges (a sequential group's edges are
//! its previous sibling) that decide both.
//!
//! One mechanism for everything: `deps[i]` gates the start of child `i`,
//! and a child being stopped waits for the dependents that are being
//! stopped too, looking through siblings that have already ended (so that
//! `a, b, c` still stops `c` before `a` when `b` is over).

use std::sync::atomic::Ordering;

use super::context::Context;
use super::state::GroupState;
use super::timers::{TimerKind, ABORT_GRACE};
use crate::observe::state::NodeState;
use crate::spec::options::Strategy;

/// A direction along the start-order edges between siblings.
#[derive(Copy, Clone)]
enum Dir {
    /// Towards the siblings that start after (`dependents`).
    Dependents,
    /// Towards the siblings that start before (`deps`).
    Deps,
}

impl GroupState {
    fn deps(&self, i: u32) -> &[u32] {
        self.spec.deps.get(i)
    }

    fn dependents(&self, i: u32) -> &[u32] {
        self.spec.dependents.get(i)
    }

    /// Starts child `i` if it wants to and may: not removed, not waiting for
    /// its gate, not in a restart batch still ending, past its delay, its
    /// dependencies settled, and no shutdown under way.
    pub(crate) fn try_start(&mut self, i: u32) {
        let s = &self.slots[i as usize];
        if !s.wants_start() || s.running() || s.is_removed() || s.is_gated() || self.stopping {
            return;
        }
        if self.batch.contains(&i) || s.delayed(self.stamp) {
            return;
        }
        if !self
            .deps(i)
            .iter()
            .all(|&d| self.slots[d as usize].settled())
        {
            return;
        }
        if self.link.tree.starts_blocked() {
            // The shutdown began; this group's stop signal is on its way.
            return;
        }
        self.start(i);
    }

    /// Starts a new incarnation of child `i` now.
    fn start(&mut self, i: u32) {
        let old = self.slots[i as usize].take_ctx();
        let spec = self.child_spec(i);
        let auto = spec.ready_on_start();
        let start_timeout = spec.start_timeout();
        let watched = spec.watchdog().is_some();
        let prompt = !self.spec.dependents.get(i).is_empty() || start_timeout.is_some() || watched;
        let slot = &self.slots[i as usize];
        let gen = slot.gen().wrapping_add(1);
        if !auto {
            self.link.pending.fetch_add(1, Ordering::AcqRel);
        }
        self.link.running.fetch_add(1, Ordering::AcqRel);
        let base = slot.base();
        let again = slot.incarnation() > 0;
        let ctx = old
            .ok_or(())
            .and_then(|old| {
                Context::renew(old, i, gen, base, auto, prompt).map_err(|old| {
                    // Held elsewhere: it lives on with this slot's index,
                    // and a slot added at runtime may later take another
                    // name.
                    if i as usize >= self.spec.children.len() {
                        old.keep_name();
                    }
                })
            })
            .unwrap_or_else(|()| Context::new(self.link.clone(), i, gen, base, auto, prompt));
        let task = super::spawn_child(&spec.runnable, ctx.clone());
        if again && super::metrics::ON {
            super::metrics::restarted(&self.link.name, &spec.name);
        }
        let stamp = self.stamp;
        self.mutate(i, |s| {
            s.transition_to_running(gen, ctx, task, auto.then_some(stamp), watched)
        });
        let state = if auto {
            NodeState::Healthy
        } else {
            NodeState::Starting
        };
        self.set_state(i, state, None, None);
        tracing::info!(node = %self.log_name(i), incarnation = gen, "started");
        if let Some(t) = start_timeout.filter(|_| !auto) {
            self.timers
                .push(self.stamp.after(t), i, gen, TimerKind::StartTimeout);
        }
        if auto {
            if watched {
                self.watch(i);
            }
            self.wake_dependents(i);
        }
    }

    /// Stops child `i` if it is marked to stop and no sibling that depends
    /// on it is still to be stopped or stopping.
    pub(crate) fn try_stop(&mut self, i: u32) {
        let s = &self.slots[i as usize];
        if !s.wants_stop() || !s.running() || s.stop_requested() {
            return;
        }
        let mut waiting = false;
        self.walk_running(i, Dir::Dependents, |_, s| {
            waiting |= s.stop_pending();
        });
        if !waiting {
            self.request_stop(i);
        }
    }

    /// Visits the running siblings nearest to `i` along `dir`, looking
    /// through siblings that are not running: a sibling that has ended does
    /// not break the chain, so a sequential group still stops in reverse
    /// order when a child in the middle has already ended (`a` waits for `c`
    /// in `a, b, c` when `b` has ended). Cost: the edges walked, which are
    /// few; each sibling is visited once.
    fn walk_running(&self, i: u32, dir: Dir, mut f: impl FnMut(u32, &super::slot::Slot)) {
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
    pub(crate) fn wake_deps(&mut self, i: u32) {
        let deps = self.spec.deps.get(i);
        if deps.is_empty() {
            return; // most children: a parallel group without `after`
        }
        self.work.extend(deps);
        if deps.iter().any(|&d| !self.slots[d as usize].running()) {
            let mut more: Vec<u32> = Vec::new();
            self.walk_running(i, Dir::Deps, |k, _| more.push(k));
            self.work.extend(more);
        }
    }

    /// Queues the siblings that may be waiting for child `i` to settle
    /// before they start.
    pub(crate) fn wake_dependents(&mut self, i: u32) {
        let dependents = self.spec.dependents.get(i);
        if !dependents.is_empty() {
            self.work.extend(dependents);
        }
    }

    /// Marks a running child to be stopped once its dependents have stopped.
    pub(crate) fn mark_stop(&mut self, i: u32) {
        if self.slots[i as usize].running() {
            self.mutate(i, |s| s.want_stop());
            self.work.push_back(i);
        }
    }

    /// Begins stopping a running child now: cancel, then abort after its timeout.
    pub(crate) fn request_stop(&mut self, i: u32) {
        let s = &self.slots[i as usize];
        if !s.running() || s.stop_requested() {
            return;
        }
        let gen = s.gen();
        let ctx = s.ctx().cloned();
        let shutdown = self.child_spec(i).shutdown();
        self.mutate(i, |s| s.transition_to_stopping());
        self.set_state(i, NodeState::Stopping, None, None);
        if let Some(ctx) = ctx {
            self.to_cancel.push(ctx);
        }
        match shutdown.limit() {
            Some(d) if d.is_zero() => self.abort(i),
            Some(d) => self
                .timers
                .push_stop(self.stamp.after(d), i, gen, self.running),
            None => {}
        }
    }

    /// Aborts the task of child `i`, and tells the tree that its shutdown
    /// report has something to list.
    pub(crate) fn abort_task(&mut self, i: u32) {
        self.link.tree.note_unclean();
        if let Some(h) = self.mutate(i, |s| s.transition_to_aborted()) {
            h.abort();
        }
    }

    /// Aborts the task of a stopping child that overran its timeout.
    pub(crate) fn abort(&mut self, i: u32) {
        let gen = self.slots[i as usize].gen();
        self.abort_task(i);
        tracing::warn!(node = %self.log_name(i), "did not stop in time; aborted");
        self.timers
            .push(self.stamp.after(ABORT_GRACE), i, gen, TimerKind::AbortGrace);
    }

    /// Gives up waiting for a child that could not be stopped (shutdown only).
    pub(crate) fn abandon(&mut self, i: u32) {
        self.link.tree.note_unclean();
        self.mutate(i, |s| s.abandon());
        self.set_state(i, NodeState::Stopped, None, None);
        self.wake_deps(i);
    }

    /// Stops every child in stop order; nothing starts again in this incarnation.
    pub(crate) fn stop_all(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.batch.clear();
        // Room for every running child at once, allocated once here rather
        // than grown child by child (see `MAILBOX_ROOM` on why growth costs).
        self.work.reserve(self.running);
        self.to_cancel.reserve(self.running);
        if self.spec.deps.is_empty() {
            // No order among the children: only the last ending matters.
            self.link.quiet_endings.store(true, Ordering::Release);
        }
        for i in 0..self.slots.len() as u32 {
            let s = &self.slots[i as usize];
            let (running, wants, unstopped) = (s.running(), s.wants_start(), s.is_unstopped());
            if wants {
                self.mutate(i, |s| s.cancel_start());
                if !running && self.slots[i as usize].state() == NodeState::Backoff {
                    self.set_state(i, NodeState::Stopped, None, None);
                }
            }
            if running && unstopped {
                self.abandon(i);
            } else if running {
                self.mark_stop(i);
            }
        }
    }

    /// Every member of the restart batch has ended: they start again, in
    /// start order.
    pub(crate) fn batch_ended(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let n = self.spec.children.len() as u32;
        self.work
            .extend(self.spec.start_order().filter(|i| batch.contains(i)));
        self.work.extend(batch.iter().copied().filter(|&i| i >= n));
    }

    /// Whether child `i` restarts alone (its restart set is itself).
    pub(crate) fn restarts_alone(&self, i: u32) -> bool {
        let n = self.spec.children.len() as u32;
        i >= n
            || n == 1
            || match self.spec.strategy {
                Strategy::OneForOne => true,
                Strategy::OneForAll => false,
                Strategy::RestForOne => self.dependents(i).is_empty(),
            }
    }

    /// The siblings that restart with child `i`, by strategy.
    pub(crate) fn restart_set(&self, i: u32) -> Vec<u32> {
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
}
