//! [`DynamicGroup`]: a node whose children are added and removed at runtime
//! by key, optionally driven by a [`Table`] of the desired set (the table
//! side is in `follow.rs`).

mod follow;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::follow::TableGate;
use super::table::{Erased, ErasedTable, Table, Value};
use crate::engine::{
    spawn_incarnation, BoxRunnable, ChildSpec, Context, OpenGroup, Removal, Runnable,
    SharedRunnable, Spec, WeakOpenGroup,
};
use crate::error::{Error, ErrorKind};
use crate::observe::state::NodeState;
use crate::spec::model::ChildOpts;
use crate::spec::name::{check_name, join_name};
use crate::spec::options::{Backoff, Intensity, Restart, Strategy};

static NEXT_GROUP: AtomicU64 = AtomicU64::new(1);

/// Proof of one [`DynamicGroup::add`], to [`remove`](DynamicGroup::remove) that child.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    group: u64,
    seq: u64,
    key: String,
}

impl Token {
    /// The key the child was added under.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A node whose children are added and removed at runtime, by key, from
/// anywhere that holds a clone (an HTTP handler, another child).
///
/// At most one live child per key; keyed children are permanent by default
/// and follow the group's backoff and intensity (defaults: parallel,
/// one_for_one, 3 restarts within 5 s). Children registered with
/// [`add`](DynamicGroup::add) survive restarts of the group: a new
/// incarnation starts all of them again. Children a [`Table`] drives are
/// whatever the table says when the new incarnation reads it.
///
/// ```
/// use supervisor_runtime::{Child, Context, DynamicGroup, Group};
///
/// async fn job(ctx: Context) -> Result<(), std::io::Error> {
///     ctx.healthy();
///     ctx.cancelled().await;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), supervisor_runtime::Error> {
/// let jobs = DynamicGroup::new();
/// let tree = Group::parallel("app").child(Child::new("jobs", jobs.clone())).build()?;
/// let handle = tree.start();
/// let token = jobs.add("nightly", job).await?;   // runs as `app.jobs.nightly`
/// assert!(jobs.add("nightly", job).await.is_err()); // one live child per key
/// jobs.remove(&token).await?;
/// handle.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DynamicGroup {
    inner: Arc<DynInner>,
}

struct DynInner {
    id: u64,
    reg: Mutex<Registry>,
    source: Option<Arc<dyn ErasedTable>>,
    /// One reconcile at a time.
    reconciling: tokio::sync::Mutex<()>,
    period: Duration,
    health_wait: Duration,
    intensity: Intensity,
    backoff: Backoff,
    restart: Restart,
}

#[derive(Default)]
struct Registry {
    entries: BTreeMap<String, Entry>,
    seq: u64,
    current: WeakOpenGroup,
    /// The tree it last ran in has shut down.
    closed: bool,
    /// The table entries skipped by the last read, with why.
    skipped: BTreeMap<String, String>,
}

struct Entry {
    runnable: SharedRunnable,
    seq: u64,
    /// For a child the table drives: the value it runs with.
    table: Option<Value>,
}

impl std::fmt::Debug for DynamicGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicGroup")
            .field("keys", &self.keys())
            .finish()
    }
}

impl Default for DynamicGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl DynamicGroup {
    /// An empty group; children come with [`add`](DynamicGroup::add).
    pub fn new() -> Self {
        Self::build(None)
    }

    /// A group driven by `table`: each entry `(key, value)` runs
    /// `factory(key, &value)` under `key`, as `<group>.<key>`.
    ///
    /// The table is the only truth about which of these children run (the
    /// semantics of go.pact.im's table-driven supervisor):
    ///
    /// - It is read when the group starts (the group reports healthy once
    ///   those children are, or after [`healthy_within`](DynamicGroup::healthy_within)),
    ///   whenever the table announces a change ([`Table::changed`]), every
    ///   minute (see [`reconcile_every`](DynamicGroup::reconcile_every)) and
    ///   on [`reconcile`](DynamicGroup::reconcile).
    /// - It is asked again before every restart of a child it drives
    ///   ([`Table::get`]): an entry that is gone is not restarted (the node
    ///   ends `Stopped`), so a child may remove itself by deleting its own
    ///   entry and then returning. Until the table answers, the child waits
    ///   (in `Backoff`), however short its backoff.
    /// - A child whose entry is gone is stopped and not restarted; a changed
    ///   value (`V: PartialEq`) restarts that child with the new value, at
    ///   once and without counting against the group's intensity.
    /// - Reading never blocks the group's task. A table that cannot be read
    ///   leaves the children as they are, says why at `warn`, and is read
    ///   again with backoff (200 ms, doubling up to the period).
    /// - Entries with a bad key, and entries the table itself skipped
    ///   ([`Table::skipped`]), are logged at `warn` once and listed in the
    ///   `notes` of the group's node in snapshots; they never stop the others.
    /// - Each incarnation of a child reads its table's fencing epoch
    ///   ([`Table::epoch`]) as `ctx.epoch()`. Once a child has ended for
    ///   good here (its entry gone, or the group stopped), the table is told
    ///   with [`Table::release`].
    ///
    /// Children added with [`add`](DynamicGroup::add) are left alone by the
    /// table; a table entry whose key is taken by one of them is skipped.
    pub fn with_table<V, R: Runnable>(
        table: impl Table<V>,
        factory: impl Fn(&str, &V) -> R + Send + Sync + 'static,
    ) -> Self
    where
        V: PartialEq + Send + Sync + 'static,
    {
        let source: Arc<dyn ErasedTable> = Arc::new(Erased::new(table, move |k: &str, v: &V| {
            factory(k, v).boxed()
        }));
        Self::build(Some(source))
    }

    fn build(source: Option<Arc<dyn ErasedTable>>) -> Self {
        DynamicGroup {
            inner: Arc::new(DynInner {
                id: NEXT_GROUP.fetch_add(1, Ordering::Relaxed),
                reg: Mutex::new(Registry::default()),
                source,
                reconciling: tokio::sync::Mutex::new(()),
                period: Duration::from_secs(60),
                health_wait: Duration::from_secs(5),
                intensity: Intensity::default(),
                backoff: Backoff::default(),
                restart: Restart::Permanent,
            }),
        }
    }

    fn configure(self, f: impl FnOnce(&mut DynInner)) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                f(&mut inner);
                DynamicGroup {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => {
                tracing::warn!("DynamicGroup configured after it was cloned; setting ignored");
                DynamicGroup { inner }
            }
        }
    }

    /// How often the table is read again. Default: every minute.
    /// Configure before cloning the group.
    pub fn reconcile_every(self, d: Duration) -> Self {
        self.configure(|i| i.period = d.max(Duration::from_millis(1)))
    }

    /// How long the group waits, when it starts, for the children it starts
    /// with to be healthy before it reports healthy itself (so that siblings
    /// after it are not held up by one slow key). Default: 5 s.
    pub fn healthy_within(self, d: Duration) -> Self {
        self.configure(|i| i.health_wait = d)
    }

    /// Restart limit of the keyed children. Default: 3 within 5 s.
    pub fn intensity(self, i: Intensity) -> Self {
        self.configure(|x| x.intensity = i)
    }

    /// Backoff of the keyed children. Default: exponential 100 ms × 2 up to 30 s.
    pub fn backoff(self, b: Backoff) -> Self {
        self.configure(|x| x.backoff = b)
    }

    /// Restart type of the keyed children. Default: permanent.
    pub fn restart(self, r: Restart) -> Self {
        self.configure(|x| x.restart = r)
    }

    fn reg(&self) -> MutexGuard<'_, Registry> {
        self.inner.reg.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spec(&self, key: &str, r: BoxRunnable) -> ChildSpec {
        let opts = ChildOpts {
            restart: Some(self.inner.restart),
            ..ChildOpts::default()
        };
        ChildSpec::with_opts(key.to_owned().into(), r, opts)
    }

    /// Adds a child under `key` (1–64 characters of `[a-z0-9_-]`); it runs as
    /// `<group>.<key>`, and starts at once if the group is running, or when
    /// it starts.
    ///
    /// Errors: a bad key, a key whose child is live (running or about to
    /// restart), or a group whose tree has shut down.
    pub async fn add(&self, key: &str, r: impl Runnable) -> Result<Token, Error> {
        check_name(key)?;
        self.insert(key, SharedRunnable::new(r), None)
    }

    fn insert(&self, key: &str, r: SharedRunnable, table: Option<Value>) -> Result<Token, Error> {
        let mut reg = self.reg();
        if reg.closed {
            return Err(Error::new(
                ErrorKind::ShuttingDown,
                None,
                format!("cannot add `{key}`: the dynamic group's tree has shut down"),
            ));
        }
        let current = reg.current.upgrade();
        match &current {
            Some(group) if group.is_shutting_down() => {
                // The tree's shutdown began but has not reached this group yet.
                return Err(Error::new(
                    ErrorKind::ShuttingDown,
                    None,
                    format!("cannot add `{key}`: the dynamic group's tree is shutting down"),
                ));
            }
            Some(group) => {
                group
                    .add(self.spec(key, r.to_boxed()))
                    .map_err(|e| match e.kind() {
                        ErrorKind::DuplicateName => Error::new(
                            ErrorKind::DuplicateName,
                            Some(join_name(group.name(), key)),
                            format!("`{}` already has a live child `{key}`", group.name()),
                        ),
                        _ => e,
                    })?;
            }
            None => {
                if reg.entries.contains_key(key) {
                    return Err(Error::new(
                        ErrorKind::DuplicateName,
                        None,
                        format!("the dynamic group already has a child `{key}`"),
                    ));
                }
            }
        }
        reg.seq += 1;
        let seq = reg.seq;
        reg.entries.insert(
            key.to_owned(),
            Entry {
                runnable: r,
                seq,
                table,
            },
        );
        Ok(Token {
            group: self.inner.id,
            seq,
            key: key.to_owned(),
        })
    }

    /// Stops the child `token` was given for, forgets it, and returns once it
    /// has ended (within its shutdown policy), so that its key can be used
    /// again at once. Removing a child that is already gone is not an error;
    /// a token of another group is.
    pub async fn remove(&self, token: &Token) -> Result<(), Error> {
        if token.group != self.inner.id {
            return Err(Error::new(
                ErrorKind::ForeignToken,
                None,
                format!(
                    "the token for `{}` belongs to another dynamic group",
                    token.key
                ),
            ));
        }
        let stopping = {
            let mut reg = self.reg();
            if reg
                .entries
                .get(&token.key)
                .is_some_and(|e| e.seq == token.seq)
            {
                reg.entries.remove(&token.key);
                Self::stop_key(&reg, &token.key)
            } else {
                None
            }
        };
        // Wait until it has ended, so that the key can be used again at once.
        if let Some(removal) = stopping {
            removal.ended().await;
        }
        Ok(())
    }

    /// Stops the child under `key`; returns what to wait on for its end.
    fn stop_key(reg: &Registry, key: &str) -> Option<Removal> {
        reg.current.upgrade()?.remove(key)
    }

    /// The keys registered now (running or not).
    pub fn keys(&self) -> Vec<String> {
        self.reg().entries.keys().cloned().collect()
    }

    /// The state of the child under `key`, if the group is running and has
    /// one. A removed child is reported (as `Stopping`) until it has ended.
    pub fn get(&self, key: &str) -> Option<NodeState> {
        self.reg().current.upgrade()?.state_of(key)
    }

    /// Reads the table now and applies it: adds what is new, restarts what
    /// changed, stops what is gone. A table that cannot be read is logged
    /// at `warn` and changes nothing.
    pub async fn reconcile(&self) {
        if let Err(e) = self.reconcile_once().await {
            tracing::warn!(error = %e, "could not read the dynamic group's table; children left as they are");
        }
    }
}

impl crate::engine::Sealed for DynamicGroup {}

impl Runnable for DynamicGroup {
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        let spec = Arc::new(Spec::runtime(
            Strategy::OneForOne,
            self.inner.intensity,
            self.inner.backoff,
        ));
        let (group, task) = OpenGroup::new(&ctx, spec);
        {
            let mut reg = self.reg();
            reg.current = group.downgrade();
            group.add_initial(
                reg.entries
                    .iter()
                    .map(|(key, e)| self.spec(key, e.runnable.to_boxed())),
            );
        }
        group.healthy_within(self.inner.health_wait);
        let stop = CancellationToken::new();
        if let Some(source) = self.inner.source.clone() {
            group.hold_healthy(true);
            group.set_gate(Arc::new(TableGate::new(&self.inner)));
            tokio::spawn(self.clone().follow(source, group.downgrade(), stop.clone()));
        }
        let me = self.clone();
        spawn_incarnation(ctx, move |ctx| async move {
            let _stop_following = stop.drop_guard();
            let r = task.run(ctx).await;
            // Every child has ended: the table's children are given back,
            // and the next incarnation runs what the table says then.
            me.release_all();
            if group.is_shutting_down() {
                me.reg().closed = true;
            }
            r
        })
    }

    fn __is_group(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::{Child, Group};

    #[tokio::test(start_paused = true)]
    async fn removed_keys_free_their_slots_and_new_keys_count_from_one() {
        let seen = Arc::new(AtomicU32::new(0));
        let jobs = DynamicGroup::new();
        let h = Group::parallel("app")
            .child(Child::new("jobs", jobs.clone()))
            .build()
            .unwrap()
            .start();
        for k in 0..50 {
            let seen2 = seen.clone();
            let t = jobs
                .add(&format!("job-{k}"), move |ctx: Context| {
                    let seen = seen2.clone();
                    async move {
                        seen.store(ctx.incarnation(), Ordering::SeqCst);
                        ctx.healthy();
                        ctx.cancelled().await;
                        Ok::<(), std::io::Error>(())
                    }
                })
                .await
                .unwrap();
            let mut ev = h.subscribe();
            while jobs.get(&format!("job-{k}")) != Some(NodeState::Healthy) {
                let _ = ev.recv().await;
            }
            assert_eq!(seen.load(Ordering::SeqCst), 1, "a new key is incarnation 1");
            jobs.remove(&t).await.unwrap();
        }
        let group = jobs.reg().current.upgrade().unwrap();
        assert_eq!(group.slot_count(), 1, "one slot, reused 50 times");
        let snap = h.snapshot();
        assert_eq!(snap.nodes().len(), 2, "{snap}");
        h.shutdown().await;
    }
}
