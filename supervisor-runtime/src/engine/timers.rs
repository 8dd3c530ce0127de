//! The timers of one group: restart delays, start timeouts, shutdown
//! timeouts, the grace after an abort, a dynamic group's bounded wait for
//! health, watchdogs. One tokio sleep per group, for the earliest deadline;
//! a timer of an incarnation that has since ended is recognised by its
//! `gen` and ignored.
//!
//! Shutdown timeouts are kept apart, by deadline: the children asked to
//! stop in one turn with the same timeout share one entry (a mass stop
//! costs one entry, not one per child), and an entry goes as soon as the
//! last of its children has ended (a dynamic group that keeps removing
//! children does not pile up timeouts that can no longer matter).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

use super::slot::Stamp;

use super::state::GroupState;
use crate::error::Reason;
use crate::observe::state::NodeState;
use crate::spec::name::Joined;

/// How long an aborted task may take to actually end before it is reported
/// as one that could not be stopped (a task blocked in synchronous code
/// never reaches the point where tokio can drop it).
pub(crate) const ABORT_GRACE: Duration = Duration::from_secs(1);

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// The restart delay of a child is over.
    Restart,
    /// A child that is not healthy by now failed its start.
    StartTimeout,
    /// An aborted child that has not ended by now could not be stopped.
    AbortGrace,
    /// A dynamic group stops waiting for its first children to be healthy.
    HealthWait,
    /// A healthy child with a watchdog must have called `ctx.alive()` since.
    Watchdog,
}

/// A duration as people write it: `10s`, `250ms`, `1.5s`.
pub(crate) struct Short(pub(crate) Duration);

impl std::fmt::Display for Short {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.subsec_nanos() % 1_000_000 == 0 && d.as_secs() == 0 {
            write!(f, "{}ms", d.subsec_millis())
        } else {
            write!(f, "{d:?}")
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Stamp,
    idx: u32,
    gen: u32,
    kind: TimerKind,
}

/// A min-heap of deadlines, and the shutdown timeouts by deadline.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Timer>>,
    stops: StopTimes,
}

/// The shutdown timeouts by deadline. Almost every group has one at a
/// time (a stop of all its children shares one instant), kept without a
/// map: a map's first entry allocates a node, and a tree's stop did that
/// once per group, on whichever worker ran the group's turn.
#[derive(Default)]
struct StopTimes {
    one: Option<(Stamp, Stops)>,
    /// The other instants, never one of `one`'s.
    more: BTreeMap<Stamp, Stops>,
}

impl StopTimes {
    /// The entry of `at`, made with room for `room` members if new.
    fn entry(&mut self, at: Stamp, room: usize) -> &mut Stops {
        let new = || Stops {
            members: Vec::with_capacity(room),
            live: 0,
        };
        let in_one = match &self.one {
            Some((t, _)) => *t == at,
            None => !self.more.contains_key(&at),
        };
        if in_one {
            let (_, s) = self.one.get_or_insert_with(|| (at, new()));
            return s;
        }
        self.more.entry(at).or_insert_with(new)
    }

    fn get_mut(&mut self, at: Stamp) -> Option<&mut Stops> {
        match &mut self.one {
            Some((t, s)) if *t == at => Some(s),
            _ => self.more.get_mut(&at),
        }
    }

    fn remove(&mut self, at: Stamp) {
        match &self.one {
            Some((t, _)) if *t == at => self.one = None,
            _ => {
                self.more.remove(&at);
            }
        }
    }

    fn first(&self) -> Option<Stamp> {
        let one = self.one.as_ref().map(|(t, _)| *t);
        let more = self.more.first_key_value().map(|(t, _)| *t);
        match (one, more) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest entry, if it is due at `now`.
    fn pop_due(&mut self, now: Stamp) -> Option<Stops> {
        let at = self.first().filter(|at| *at <= now)?;
        match &self.one {
            Some((t, _)) if *t == at => self.one.take().map(|(_, s)| s),
            _ => self.more.pop_first().map(|(_, s)| s),
        }
    }
}

/// The children whose shutdown timeout falls at one instant.
#[derive(Default)]
struct Stops {
    /// `(idx, gen)` of each child asked to stop.
    members: Vec<(u32, u32)>,
    /// How many of them have not ended yet.
    live: u32,
}

impl Timers {
    /// Fires `kind` for incarnation `gen` of child `idx` at `at`.
    pub(crate) fn push(&mut self, at: Stamp, idx: u32, gen: u32, kind: TimerKind) {
        self.heap.push(Reverse(Timer { at, idx, gen, kind }));
    }

    /// Incarnation `gen` of child `idx`, asked to stop, is aborted if it has
    /// not ended by `at`. `room`: how many may join it at `at` (the running
    /// children: a stop of all of them shares one instant), the room a new
    /// instant's list is given at once.
    pub(crate) fn push_stop(&mut self, at: Stamp, idx: u32, gen: u32, room: usize) {
        let s = self.stops.entry(at, room);
        s.members.push((idx, gen));
        s.live += 1;
    }

    /// A child whose shutdown timeout was `at` has ended in time.
    pub(crate) fn stop_ended(&mut self, at: Stamp) {
        if let Some(s) = self.stops.get_mut(at) {
            s.live = s.live.saturating_sub(1);
            if s.live == 0 {
                self.stops.remove(at);
            }
        }
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Stamp> {
        let heap = self.heap.peek().map(|t| t.0.at);
        let stops = self.stops.first();
        match (heap, stops) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The children of the next shutdown timeout due at `now`.
    fn pop_due_stops(&mut self, now: Stamp) -> Option<Vec<(u32, u32)>> {
        self.stops.pop_due(now).map(|s| s.members)
    }

    /// The next timer due at `now`.
    fn pop_due(&mut self, now: Stamp) -> Option<(u32, u32, TimerKind)> {
        let t = self.heap.peek()?.0;
        if t.at > now {
            return None;
        }
        self.heap.pop();
        Some((t.idx, t.gen, t.kind))
    }
}

impl GroupState {
    /// Child `i` is healthy now: if it has a watchdog, it must call
    /// `ctx.alive()` within the timeout from now on.
    pub(crate) fn watch(&mut self, i: u32) {
        let Some(d) = self.child_spec(i).watchdog() else {
            return;
        };
        let s = &self.slots[i as usize];
        if let Some(ctx) = s.ctx() {
            ctx.heartbeat().beat();
            self.timers
                .push(self.stamp.after(d), i, s.gen(), TimerKind::Watchdog);
        }
    }

    /// The watchdog of child `i` is due: silence for its timeout is a failure.
    fn check_heartbeat(&mut self, i: u32) {
        let now = self.now;
        let s = &self.slots[i as usize];
        if !s.running() || s.state() != NodeState::Healthy || s.stop_requested() {
            return; // done, stopping or over: nothing to watch
        }
        let (Some(d), Some(ctx)) = (self.child_spec(i).watchdog(), s.ctx()) else {
            return;
        };
        let due = ctx.heartbeat().last() + d;
        if now < due {
            let gen = s.gen();
            let due = self.stamp_of(due);
            self.timers.push(due, i, gen, TimerKind::Watchdog);
            return;
        }
        tracing::warn!(node = %self.log_name(i), timeout = ?d, "no heartbeat: the watchdog fails it");
        self.fail_running(
            i,
            Arc::new(Reason(format!("no heartbeat for {}", Short(d)))),
        );
    }

    /// Applies every timer that is due.
    pub(crate) fn fire_timers(&mut self) {
        let now = self.stamp;
        while let Some(stops) = self.timers.pop_due_stops(now) {
            for (i, gen) in stops {
                let s = &self.slots[i as usize];
                if s.gen() == gen && s.running() && s.stop_requested() && !s.is_aborted() {
                    self.abort(i);
                }
            }
        }
        while let Some((i, gen, kind)) = self.timers.pop_due(now) {
            if kind == TimerKind::HealthWait {
                self.force_healthy = true;
                continue;
            }
            let Some(s) = self.slots.get(i as usize) else {
                continue;
            };
            if s.gen() != gen {
                continue;
            }
            match kind {
                TimerKind::Restart => self.work.push_back(i),
                TimerKind::StartTimeout => {
                    if s.running() && s.state() == NodeState::Starting && !s.stop_requested() {
                        let limit = self.child_spec(i).start_timeout().unwrap_or_default();
                        self.fail_running(
                            i,
                            Arc::new(Reason(format!(
                                "not healthy within {limit:?} (start_timeout)"
                            ))),
                        );
                    }
                }
                TimerKind::AbortGrace => {
                    if s.running() {
                        tracing::error!(
                            node = %Joined(&self.link.name, &self.child_spec(i).name),
                            "could not be stopped: its task does not yield (blocked in synchronous code?)"
                        );
                        if self.stopping {
                            self.abandon(i);
                        } else {
                            self.link.tree.note_unclean();
                            self.mutate(i, |s| s.mark_unstopped());
                        }
                    }
                }
                TimerKind::Watchdog => self.check_heartbeat(i),
                TimerKind::HealthWait => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(s: Option<Stops>) -> Option<Vec<(u32, u32)>> {
        s.map(|s| s.members)
    }

    /// The inline entry and the map together keep one entry per instant
    /// and give them back earliest first, whichever holds which.
    #[test]
    fn stop_times_keep_one_entry_per_instant_in_deadline_order() {
        let mut t = StopTimes::default();
        t.entry(Stamp(20), 4).members.push((0, 1));
        t.entry(Stamp(10), 4).members.push((1, 1)); // earlier, into the map
        t.entry(Stamp(20), 4).members.push((2, 1)); // joins the inline one
        assert_eq!(t.first(), Some(Stamp(10)));
        assert!(t.pop_due(Stamp(9)).is_none());
        assert_eq!(members(t.pop_due(Stamp(25))), Some(vec![(1, 1)]));
        assert_eq!(t.first(), Some(Stamp(20)));
        // An instant of the map while the inline slot is free stays in the map.
        t.entry(Stamp(30), 4).members.push((3, 1));
        t.remove(Stamp(20));
        t.entry(Stamp(30), 4).members.push((4, 1));
        t.entry(Stamp(40), 4).members.push((5, 1));
        assert_eq!(members(t.pop_due(Stamp(50))), Some(vec![(3, 1), (4, 1)]));
        assert_eq!(members(t.pop_due(Stamp(50))), Some(vec![(5, 1)]));
        assert!(t.pop_due(Stamp(50)).is_none());
        assert_eq!(t.first(), None);
    }

    #[test]
    fn a_stop_entry_goes_when_its_last_child_ends() {
        let mut t = Timers::default();
        t.push_stop(Stamp(5), 0, 1, 2);
        t.push_stop(Stamp(5), 1, 1, 2);
        t.stop_ended(Stamp(5));
        assert_eq!(t.next_deadline(), Some(Stamp(5)));
        t.stop_ended(Stamp(5));
        assert_eq!(t.next_deadline(), None);
    }
}
