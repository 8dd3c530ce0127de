//! What a group does when an incarnation of a child ends: classify the
//! ending, then restart what the strategy says (after the backoff, within
//! the restart budget), or give up and fail to the parent.

use std::sync::Arc;
use std::time::Duration;

use super::budget::Verdict;
use super::ending::{classify, Ending, KeptError, TaskEnd};
use super::state::GroupState;
use super::timers::TimerKind;
use crate::error::{Error, ErrorKind, Reason, SharedError};
use crate::observe::state::NodeState;
use crate::spec::options::{AutoShutdown, Backoff, Restart};

impl GroupState {
    /// The task of incarnation `gen` of child `i` has ended (with the
    /// children it spawned).
    pub(crate) fn on_exit(&mut self, i: u32, gen: u32, end: TaskEnd) {
        let Some(s) = self.slots.get(i as usize) else {
            return;
        };
        if s.gen() != gen || !s.running() {
            return; // an abandoned incarnation ending late
        }
        // Stopped in time (alone, not in a stop of the whole group, whose
        // timeouts go with it): its shutdown timeout no longer matters.
        let stopping_since =
            (s.state() == NodeState::Stopping && !self.stopping).then(|| s.since());
        let ended = self.mutate(i, |s| s.transition_to_ended());
        if let Some(since) = stopping_since {
            if let Some(d) = self
                .child_spec(i)
                .shutdown()
                .limit()
                .filter(|d| !d.is_zero())
            {
                self.timers.stop_ended(since.after(d));
            }
        }
        let (forced, done) = match self.slots[i as usize].ctx() {
            Some(c) => (
                ended.fail_req.then(|| c.forced_error()).flatten(),
                c.is_done(),
            ),
            None => (None, false),
        };
        let (ending, panic) = classify(end, ended.stop_req, forced, done);
        if let Some(p) = panic {
            if self.link.tree.propagate_panics {
                let name = self.full_name(i);
                self.link.tree.store_panic(p.payload, name, p.error);
            }
        }
        // Whatever starts after it may have been waiting for it to settle,
        // and whatever it depends on may be waiting for it to stop.
        self.wake_dependents(i);
        self.wake_deps(i);
        let removed = ended.removed;
        let by_itself = !matches!(ending, Ending::Stopped(_) | Ending::StopTree(_));
        match ending {
            Ending::Stopped(err) => {
                if let Some(e) = &err {
                    tracing::warn!(node = %self.log_name(i), error = %e, "returned an error while stopping");
                    self.slots[i as usize].set_error(KeptError::Shared(e.clone()));
                } else {
                    tracing::info!(node = %self.log_name(i), "stopped");
                }
                let next = if self.slots[i as usize].wants_start() && !removed {
                    // Stopped to restart (its batch, or a new value): its
                    // turn may have come.
                    self.work.push_back(i);
                    NodeState::Backoff
                } else {
                    NodeState::Stopped
                };
                self.set_state(i, next, err, None);
            }
            Ending::Done(err) => {
                tracing::info!(node = %self.log_name(i), "done");
                if let Some(e) = &err {
                    self.slots[i as usize].set_error(KeptError::Shared(e.clone()));
                }
                self.set_state(i, NodeState::Done, err, None);
            }
            Ending::Exit => {
                tracing::info!(node = %self.log_name(i), "exited");
                if self.child_spec(i).restart() == Restart::Permanent && !removed {
                    self.restart(i, false);
                } else {
                    self.set_state(i, NodeState::Stopped, None, None);
                }
            }
            Ending::Failure(e) => {
                tracing::warn!(node = %self.log_name(i), error = %e, "failed");
                if super::metrics::ON {
                    super::metrics::failed(&self.link.name, &self.child_spec(i).name);
                }
                self.slots[i as usize].set_error(e);
                if self.child_spec(i).restart() == Restart::Temporary || removed {
                    self.set_state_last_error(i, NodeState::Failed, None);
                } else {
                    self.restart(i, true);
                }
            }
            Ending::StopTree(e) => {
                tracing::warn!(node = %self.log_name(i), error = %e, "asked to stop the whole tree");
                self.slots[i as usize].set_error(KeptError::Shared(e.clone()));
                let name = self.full_name(i);
                let err = Error::new(
                    ErrorKind::StopTree,
                    Some(name.clone()),
                    format!("`{name}` stopped the tree: {e}"),
                )
                .with_source(e.clone());
                self.link.tree.stop_tree(err);
                self.set_state(i, NodeState::Stopped, Some(e), None);
            }
        }
        if removed && !self.slots[i as usize].is_live() {
            self.forget(i);
        } else if by_itself && !self.slots[i as usize].is_live() && self.child_spec(i).significant()
        {
            self.significant_ended(i);
        }
    }

    /// A significant child has ended for good by itself: with
    /// `auto_shutdown`, the group may end (OTP 24). It stops its other
    /// children in stop order and ends normally (`Ok`): its parent treats
    /// that as the exit of a child that returned `Ok(())`.
    fn significant_ended(&mut self, i: u32) {
        let now = match self.spec.auto_shutdown {
            AutoShutdown::Never => false,
            AutoShutdown::AnySignificant => true,
            AutoShutdown::AllSignificant => (0..self.spec.children.len() as u32).all(|k| {
                !self.spec.children[k as usize].significant() || !self.slots[k as usize].is_live()
            }),
        };
        if now && !self.stopping {
            tracing::info!(
                group = %self.link.name,
                node = %self.log_name(i),
                "significant child ended: the group stops (auto_shutdown)"
            );
            self.stop_all();
        }
    }

    /// A failure of child `i` (`failed`: the error is its last one) or a
    /// permanent child's exit: count it, then restart what the strategy
    /// says, after the backoff.
    fn restart(&mut self, i: u32, failed: bool) {
        if self.stopping {
            if failed {
                self.set_state_last_error(i, NodeState::Failed, None);
            } else {
                self.set_state(i, NodeState::Stopped, None, None);
            }
            return;
        }
        let not_before = match self.budget.record_restart(self.now) {
            Verdict::GiveUp { max, within } => {
                self.give_up(i, failed, max, within);
                return;
            }
            Verdict::Restart {
                not_before,
                pause_began,
            } => {
                if pause_began {
                    tracing::warn!(
                        group = %self.link.name,
                        failures = self.budget.failures(),
                        pause = ?self.spec.decay.map(|d| d.pause),
                        "failure threshold crossed; restarts pause"
                    );
                }
                not_before
            }
        };
        let backoff: Backoff = *self.child_spec(i).backoff(&self.spec.backoff);
        // In stamps, the group's own clock: no instant arithmetic per restart.
        let now = self.stamp;
        let n = self.mutate(i, |s| s.next_backoff(now, backoff.reset_after()));
        let mut at = now.after(backoff.delay(n));
        if let Some(p) = not_before {
            at = at.max(self.stamp_of(p));
        }
        let delay = Duration::from_nanos(at.0 - now.0);
        let many;
        let members: &[u32] = if self.restarts_alone(i) {
            std::slice::from_ref(&i)
        } else {
            many = self.restart_set(i);
            &many
        };
        let batch = members.len() > 1;
        for &m in members {
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
            let gen = self.slots[m as usize].gen();
            self.mutate(m, |s| s.want_restart(at));
            if self.slots[m as usize].running() {
                self.mark_stop(m);
            } else if m == i && failed {
                self.set_state_last_error(m, NodeState::Backoff, Some(delay));
            } else {
                self.set_state(m, NodeState::Backoff, None, Some(delay));
            }
            if at > now {
                self.timers.push(at, m, gen, TimerKind::Restart);
            } else {
                // No delay: no trip through the timer wheel (1 ms granularity).
                self.work.push_back(m);
            }
            if batch && !self.batch.contains(&m) {
                self.batch.push(m);
            }
        }
        if i >= self.spec.children.len() as u32 {
            // Added at runtime: its gate (a dynamic group's table) may
            // still say that it is gone.
            self.ask_gate(i);
        }
        tracing::warn!(node = %self.log_name(i), delay = ?delay, "restarting");
    }

    /// Past the restart intensity: the group stops every child and fails to
    /// its parent with an error naming the child whose ending crossed it.
    fn give_up(&mut self, i: u32, failed: bool, max: u32, within: Duration) {
        let name = self.full_name(i);
        let link = self.link.clone();
        let group = if link.name.is_empty() {
            "the tree"
        } else {
            &link.name
        };
        tracing::error!(group = %group, node = %name, "restart intensity exceeded; giving up");
        let err = if failed {
            self.slots[i as usize].shared_error()
        } else {
            None
        };
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
        self.set_state(i, NodeState::Failed, err, None);
        self.stop_all();
    }
}
