//! Children added at runtime: the registry of a group that takes them
//! ([`Added`]), and the set of children an incarnation spawns with
//! `ctx.spawn` / `ctx.spawn_group` ([`SpawnedSet`]). A
//! [`DynamicGroup`](crate::DynamicGroup) is built on the same registry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::context::Context;
use super::group::{group_runnable, new_group, run_group, GroupShared, Note};
use super::runnable::BoxRunnable;
use super::state::GroupState;
use super::timers::TimerKind;
use super::{ChildSpec, Spec};
use crate::error::{Error, ErrorKind};
use crate::observe::state::NodeState;
use crate::spec::name::join_name;
use crate::spec::options::{Backoff, Intensity, Strategy};

/// The runtime-added part of a group that takes children at runtime.
#[derive(Default)]
pub(crate) struct Added {
    /// Takes children at runtime, so it does not complete when it runs out
    /// (a spawned set is sealed when its owner ends `done`).
    pub(crate) open: bool,
    /// Specs of the added children: slot `i >= spec.children.len()` uses
    /// `extra[i - spec.children.len()]`.
    pub(crate) extra: Vec<ChildSpec>,
    /// Live names to slots.
    names: HashMap<Arc<str>, u32>,
    /// The names of the children of an anonymous (spawned) group, listed
    /// under the slot that runs them.
    group_names: HashMap<u32, Vec<Arc<str>>>,
    /// Slots of removed children that have ended, for reuse.
    free: Vec<u32>,
    /// A removed child ended since the group's task last looked.
    pub(crate) forgotten: bool,
    /// Asked before a child added at runtime restarts.
    gate: Option<Arc<dyn RestartGate>>,
}

/// Asked before a child added at runtime restarts: a dynamic group asks its
/// table whether the child's entry is still there, and with which value.
pub(crate) trait RestartGate: Send + Sync + 'static {
    /// `None`: restart as planned without asking (a child outside the
    /// table). `Some(answer)`: the restart waits for `answer`.
    fn check(&self, name: &str) -> Option<BoxFuture<'static, GateAnswer>>;
}

/// A boxed future, as the gate returns them.
pub(crate) type BoxFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The gate's answer about one restart.
pub(crate) enum GateAnswer {
    /// Restart as planned.
    Restart,
    /// Restart, running this instead (its value changed).
    RestartWith(BoxRunnable),
    /// Do not restart: the node ends `Stopped` and is removed.
    Gone,
}

impl Added {
    pub(crate) fn open() -> Box<Self> {
        Box::new(Added {
            open: true,
            ..Added::default()
        })
    }
}

impl GroupState {
    fn added(&mut self) -> &mut Added {
        self.added.get_or_insert_with(Added::open)
    }

    /// Adds a child at runtime. `names` are the distinguished-name parts the
    /// new slot takes (more than one for an anonymous group). The group's
    /// task starts it at its next turn.
    pub(crate) fn add(&mut self, spec: ChildSpec, names: Vec<Arc<str>>) -> Result<(), Error> {
        self.turn();
        if self.stopping {
            return Err(Error::new(
                ErrorKind::ShuttingDown,
                None,
                "the group is stopping; nothing new is started under it",
            ));
        }
        for name in &names {
            if let Some(&j) = self.added().names.get(name) {
                if self.slots[j as usize].is_live() {
                    return Err(Error::new(
                        ErrorKind::DuplicateName,
                        Some(name.to_string()),
                        format!("a child named `{name}` is already running here; stop it or pick another name"),
                    ));
                }
            }
        }
        let n = self.spec.children.len();
        // Reuse the slot of an ended child of the same name, so that its
        // incarnation numbers keep counting up.
        let reuse = {
            let a = self.added();
            names
                .first()
                .and_then(|name| a.names.get(name).copied())
                .filter(|&j| a.group_names.get(&j).is_none_or(|v| *v == names))
        };
        let i = match reuse {
            Some(j) => {
                self.added().extra[j as usize - n] = spec;
                self.mutate(j, |s| s.reuse());
                j
            }
            // Else the slot of a removed child, so that a group that keeps
            // adding and removing keys stays the size of its live set.
            None => match self.added().free.pop() {
                Some(j) => {
                    // The last context of the slot's old child, if anyone
                    // still holds it, keeps that child's name.
                    if let Some(ctx) = self.slots[j as usize].ctx() {
                        ctx.keep_name();
                    }
                    self.added().extra[j as usize - n] = spec;
                    let now = self.stamp;
                    self.mutate(j, |s| s.recycle(now));
                    j
                }
                None => {
                    self.added().extra.push(spec);
                    self.push_slot()
                }
            },
        };
        let own_name = names.len() == 1 && *names[0] == *self.child_spec(i).name;
        let local = if own_name {
            names[0].clone()
        } else {
            Arc::from(&*self.child_spec(i).name)
        };
        self.link.set_added_name(i, &local);
        let a = self.added();
        for name in &names {
            a.names.insert(name.clone(), i);
        }
        if !own_name {
            a.group_names.insert(i, names);
        }
        self.work.push_back(i);
        Ok(())
    }

    /// Stops a child added at runtime and does not restart it.
    pub(crate) fn remove(&mut self, i: u32) {
        self.turn();
        if self.slots.get(i as usize).is_none() {
            return;
        }
        let running = self.slots[i as usize].running();
        self.mutate(i, |s| s.remove());
        if running {
            self.mark_stop(i);
        } else {
            self.set_state(i, NodeState::Stopped, None, None);
            self.forget(i);
        }
    }

    /// Frees the names and the slot of a removed child that has ended.
    pub(crate) fn forget(&mut self, i: u32) {
        if self.slots[i as usize].is_freed() {
            return;
        }
        // Release what its last incarnation held; the slot is free for reuse.
        self.mutate(i, |s| s.free());
        let n = self.spec.children.len();
        let a = self.added();
        // Its runnable (and what it captured) is not kept for the slot's
        // next child: a group that shrinks gives the memory back. The name
        // stays: a context of the old child still held somewhere reads it.
        let spec = &mut a.extra[i as usize - n];
        let local = std::mem::take(&mut spec.name);
        a.forgotten = true;
        a.free.push(i);
        let mut forget = |name: &str| {
            if a.names.get(name) == Some(&i) {
                a.names.remove(name);
            }
        };
        match a.group_names.remove(&i) {
            Some(names) => names.iter().for_each(|name| forget(name)),
            None => forget(&local),
        }
        a.extra[i as usize - n] = ChildSpec::plain(local, BoxRunnable::vacant());
    }

    /// A child added at runtime is to restart: if the group has a gate, the
    /// restart waits for its answer.
    pub(crate) fn ask_gate(&mut self, i: u32) {
        let Some(gate) = self.added.as_ref().and_then(|a| a.gate.clone()) else {
            return;
        };
        let Some(answer) = gate.check(&self.child_spec(i).name) else {
            return;
        };
        let gen = self.slots[i as usize].gen();
        self.mutate(i, |s| s.gate_wait());
        let link = self.link.clone();
        tokio::spawn(async move {
            let answer = answer.await;
            link.post(
                Note::Gate {
                    idx: i,
                    gen,
                    answer,
                },
                true,
            );
        });
    }

    /// The gate answered about the restart of incarnation `gen` of child `i`.
    pub(crate) fn on_gate(&mut self, i: u32, gen: u32, answer: GateAnswer) {
        let Some(s) = self.slots.get(i as usize) else {
            return;
        };
        if s.gen() != gen || !s.is_gated() {
            return; // stopped, removed or started again meanwhile
        }
        self.mutate(i, |s| s.gate_answered());
        match answer {
            GateAnswer::Restart => self.work.push_back(i),
            GateAnswer::RestartWith(r) => {
                self.set_runnable(i, r);
                self.work.push_back(i);
            }
            GateAnswer::Gone => {
                tracing::info!(node = %self.log_name(i), "its table entry is gone: not restarted");
                self.remove(i);
            }
        }
    }

    /// Child `i` (added at runtime) runs `r` from its next incarnation on.
    fn set_runnable(&mut self, i: u32, r: BoxRunnable) {
        let n = self.spec.children.len();
        let a = self.added();
        let old = &mut a.extra[i as usize - n];
        *old = ChildSpec::with_opts_of(old, r);
    }

    /// Child `i` (added at runtime) restarts now running `r`, without
    /// counting as a failure or waiting for a backoff (its value changed).
    pub(crate) fn replace(&mut self, i: u32, r: BoxRunnable) {
        self.turn();
        self.set_runnable(i, r);
        let s = &self.slots[i as usize];
        if s.is_removed() || self.stopping {
            return;
        }
        let now = self.stamp;
        self.mutate(i, |s| {
            s.gate_answered();
            s.want_restart(now);
        });
        if self.slots[i as usize].running() {
            self.mark_stop(i);
        } else {
            self.work.push_back(i);
        }
    }

    /// Whether child `i`'s incarnation `gen` (or an earlier one) has ended.
    pub(crate) fn has_ended(&self, i: u32, gen: u32) -> bool {
        self.slots
            .get(i as usize)
            .is_none_or(|s| !s.running() || s.gen() != gen)
    }

    /// Reports healthy after `d` at the latest, even if some children are not.
    pub(crate) fn healthy_within(&mut self, d: Duration) {
        self.turn();
        self.timers
            .push(self.stamp.after(d), 0, 0, TimerKind::HealthWait);
    }

    /// The slot of the live (or last) child under `name`.
    pub(crate) fn slot_of(&self, name: &str) -> Option<u32> {
        self.added.as_ref()?.names.get(name).copied()
    }
}

/// The children an incarnation spawned with `ctx.spawn` / `ctx.spawn_group`:
/// a parallel, one_for_one group of its own, named like its owner.
pub(crate) struct SpawnedSet {
    pub(crate) join: Option<JoinHandle<()>>,
    shared: Arc<GroupShared>,
}

impl SpawnedSet {
    pub(crate) fn start(owner: &Context) -> Result<SpawnedSet, Error> {
        let spec = Arc::new(Spec::runtime(
            Strategy::OneForOne,
            Intensity::default(),
            Backoff::default(),
        ));
        let shared = new_group(spec, owner.name().into(), owner.tree().clone(), true);
        if !owner.inner.set_sub(shared.clone()) {
            return Err(Error::new(
                ErrorKind::InvalidTree,
                Some(owner.name().to_owned()),
                "a group node cannot spawn children of its own",
            ));
        }
        let owner2 = owner.clone();
        let task_shared = shared.clone();
        let join = tokio::spawn(async move {
            if let Err(e) = run_group(task_shared, None).await {
                // Past its intensity the set fails its owner.
                owner2.fail(Arc::new(e));
            }
        });
        Ok(SpawnedSet {
            join: Some(join),
            shared,
        })
    }

    pub(crate) fn add(&self, spec: ChildSpec) -> Result<(), Error> {
        let names = vec![Arc::from(&*spec.name)];
        self.insert(spec, names)
    }

    pub(crate) fn add_group(&self, specs: Vec<ChildSpec>) -> Result<(), Error> {
        let names: Vec<Arc<str>> = specs.iter().map(|s| Arc::from(&*s.name)).collect();
        let spec = Arc::new(Spec::spawned_set(specs));
        let child = ChildSpec::anonymous(group_runnable(spec));
        self.insert(child, names)
    }

    fn insert(&self, spec: ChildSpec, names: Vec<Arc<str>>) -> Result<(), Error> {
        let name = &self.shared.link.name;
        self.shared.add(spec, names).map_err(|e| match e.kind() {
            ErrorKind::DuplicateName => Error::new(
                ErrorKind::DuplicateName,
                e.node().map(|n| join_name(name, n)),
                format!("`{name}`: {e}"),
            ),
            _ => Error::shutting_down(name),
        })
    }

    /// The owner is stopping, or ended other than `done`: the set stops its
    /// children and ends.
    pub(crate) fn stop(&self) {
        self.shared.stop();
    }

    /// The owner ended `done`: the set completes once its children have.
    pub(crate) fn seal(&self) {
        self.shared.link.post(Note::Seal, true);
    }
}

/// A running group that takes keyed children at runtime, as a
/// [`DynamicGroup`](crate::DynamicGroup) drives it: the narrow part of the
/// engine that kinds of children may use.
#[derive(Clone)]
pub(crate) struct OpenGroup(Arc<GroupShared>);

/// An [`OpenGroup`] that does not keep the group alive.
#[derive(Clone, Default)]
pub(crate) struct WeakOpenGroup(std::sync::Weak<GroupShared>);

/// A removed child whose end can be awaited.
pub(crate) struct Removal {
    group: Arc<GroupShared>,
    slot: u32,
    gen: u32,
}

/// The task of an [`OpenGroup`]'s incarnation, to run inside the
/// incarnation of the node that runs the group.
pub(crate) struct OpenGroupTask {
    shared: Arc<GroupShared>,
}

impl OpenGroup {
    /// A new incarnation of a group with the policies of `spec` (its
    /// children are all added at runtime), run by the node of `ctx`.
    pub(crate) fn new(ctx: &Context, spec: Arc<Spec>) -> (OpenGroup, OpenGroupTask) {
        let shared = new_group(spec, ctx.name().into(), ctx.tree().clone(), true);
        let _ = ctx.inner.set_sub(shared.clone());
        (OpenGroup(shared.clone()), OpenGroupTask { shared })
    }

    /// The group's distinguished name.
    pub(crate) fn name(&self) -> &str {
        &self.0.link.name
    }

    /// Its tree's shutdown has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.0.link.tree.is_shutting_down()
    }

    /// Adds a child under its own name; it starts at the group's next turn.
    pub(crate) fn add(&self, spec: ChildSpec) -> Result<(), Error> {
        let names = vec![Arc::from(&*spec.name)];
        self.0.add(spec, names)
    }

    /// Adds children while the group's task has not run yet (its first
    /// children), without waking it.
    pub(crate) fn add_initial(&self, specs: impl IntoIterator<Item = ChildSpec>) {
        let mut st = self.0.lock();
        for spec in specs {
            let name: Arc<str> = Arc::from(&*spec.name);
            if let Err(err) = st.add(spec, vec![name.clone()]) {
                tracing::warn!(error = %err, key = %name, "keyed child not started");
            }
        }
    }

    /// Stops the child under `name` for good; the returned [`Removal`]
    /// resolves once it has ended.
    pub(crate) fn remove(&self, name: &str) -> Option<Removal> {
        let mut st = self.0.lock();
        let i = st.slot_of(name)?;
        let gen = st.slots[i as usize].gen();
        st.remove(i);
        drop(st);
        self.0.poke();
        Some(Removal {
            group: self.0.clone(),
            slot: i,
            gen,
        })
    }

    /// The state of the child under `name`; a removed child is reported
    /// (as `Stopping`) until it has ended.
    pub(crate) fn state_of(&self, name: &str) -> Option<NodeState> {
        let mut st = self.0.lock();
        if st.take_notes() {
            self.0.poke();
        }
        let i = st.slot_of(name)?;
        let slot = &st.slots[i as usize];
        (!slot.is_removed() || slot.is_live()).then_some(slot.state())
    }

    /// Reports healthy after `d` at the latest, even if some children are not.
    pub(crate) fn healthy_within(&self, d: Duration) {
        self.0.lock().healthy_within(d);
    }

    /// The gate asked before children added at runtime restart.
    pub(crate) fn set_gate(&self, gate: Arc<dyn RestartGate>) {
        self.0.lock().added().gate = Some(gate);
    }

    /// The child under `name` restarts now running `r` (its value changed);
    /// false if there is no such child.
    pub(crate) fn replace(&self, name: &str, r: BoxRunnable) -> bool {
        let mut st = self.0.lock();
        let Some(i) = st.slot_of(name) else {
            return false;
        };
        st.replace(i, r);
        drop(st);
        self.0.poke();
        true
    }

    /// What the group reports about itself in snapshots.
    pub(crate) fn set_notes(&self, notes: Vec<String>) {
        *self.0.notes.lock().unwrap_or_else(|p| p.into_inner()) = notes;
    }

    /// Holds (or releases) the group's health report: it does not report
    /// healthy while held (until `healthy_within` passes).
    pub(crate) fn hold_healthy(&self, on: bool) {
        self.0.lock().hold_healthy = on;
        if !on {
            self.0.poke();
        }
    }

    pub(crate) fn downgrade(&self) -> WeakOpenGroup {
        WeakOpenGroup(Arc::downgrade(&self.0))
    }

    /// How many slots the group has (live, ended or free): for tests of reuse.
    #[cfg(test)]
    pub(crate) fn slot_count(&self) -> usize {
        self.0.lock().slots.len()
    }
}

impl WeakOpenGroup {
    pub(crate) fn upgrade(&self) -> Option<OpenGroup> {
        self.0.upgrade().map(OpenGroup)
    }
}

impl Removal {
    /// Resolves once the removed child has ended.
    pub(crate) async fn ended(self) {
        loop {
            let ended = self.group.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.group.lock().has_ended(self.slot, self.gen) {
                return;
            }
            ended.await;
        }
    }
}

impl OpenGroupTask {
    /// Runs the group until it ends; `ctx` is the incarnation that runs it.
    pub(crate) async fn run(self, ctx: Context) -> Result<(), Error> {
        run_group(self.shared, Some(ctx)).await
    }
}
