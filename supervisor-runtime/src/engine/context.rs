//! [`Context`]: what one incarnation of a node sees of its supervisor.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use std::task::Waker;
use tokio::time::Instant;

use super::added::SpawnedSet;
use super::cancelled::{Cancelled, Waiting};
use super::group::{GroupShared, Link, Note};
use super::runnable::Runnable;
use super::tree::TreeShared;
use super::ChildSpec;
use crate::error::{Error, ErrorKind, Reason, SharedError};
use crate::spec::name::{check_name, join_name};

const CANCELLED: u8 = 1;
const HEALTHY: u8 = 2;
const DONE: u8 = 4;
const AUTO_HEALTHY: u8 = 8;
const MISUSED: u8 = 16;
/// Counted in its group's `pending` until it signals `healthy` or ends.
const PENDING: u8 = 32;
/// Its group wants its signals at once (a sibling waits for it, it has a
/// watchdog or a start timeout).
const PROMPT: u8 = 64;

/// The handle one incarnation of a node has on its supervisor: its name,
/// its health signals, its cancellation, and its own children.
///
/// Cheap to clone (one reference count); every clone speaks for the same
/// incarnation. A new incarnation gets a new `Context`, so a clone kept by a
/// finished incarnation cannot signal for its successor.
///
/// # How an incarnation ends
///
/// What the incarnation returns (or how it stops) decides what its group
/// does next:
///
/// | ending | classified as | restarted? |
/// |---|---|---|
/// | returns after its node was asked to stop | stopped | never (an `Err` is still reported) |
/// | `Ok(())` after [`done`](Context::done) | done | no; rerun only if its group restarts |
/// | `Ok(())` otherwise | exit | [permanent](crate::Restart::Permanent) only |
/// | `Err(e)` or a panic | failure | permanent and [transient](crate::Restart::Transient) |
/// | `Err` of [`DoNotRestart`](crate::DoNotRestart) | done | no |
/// | `Err` of [`StopTree`](crate::StopTree) | — | the whole tree shuts down; `join()` returns an error carrying it |
/// | a wrong-order signal, a missed [`start_timeout`](crate::Child::start_timeout) or [`watchdog`](crate::Child::watchdog) | failure, whatever it then returns | permanent and transient |
///
/// A restart waits out the backoff and counts against the group's
/// [`Intensity`](crate::Intensity) (or [`Decay`](crate::Decay)); the
/// group's [`Strategy`](crate::Strategy) says which siblings restart with it.
///
/// ```
/// use std::time::Duration;
/// use supervisor_runtime::Context;
///
/// async fn poller(ctx: Context) -> Result<(), std::io::Error> {
///     ctx.healthy();
///     while !ctx.sleep(Duration::from_secs(1)).await {
///         // one round of work per second until asked to stop
///     }
///     Ok(())
/// }
/// # let _ = poller;
/// ```
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<CtxInner>,
}

pub(crate) struct CtxInner {
    /// The group: also where the node's local name is found (see
    /// [`Context::name`]), so that a context keeps no copy of it.
    pub(crate) link: Arc<Link>,
    pub(crate) idx: u32,
    /// Incarnation counter of the slot (never reused, so stale messages are
    /// recognised); `gen - base` is this node's incarnation number.
    pub(crate) gen: u32,
    base: u32,
    flags: AtomicU8,
    /// The task waiting for this incarnation's cancellation (almost always
    /// exactly one: the incarnation's own); more are kept in `Extra`.
    pub(super) waiting: Mutex<Waiting>,
    /// What most incarnations never need, allocated on first use: one
    /// pointer per incarnation otherwise.
    pub(super) lazy: OnceLock<Box<Lazy>>,
}

#[derive(Default)]
pub(super) struct Lazy {
    name: OnceLock<Box<str>>,
    /// The group this node runs, or the set of children it spawned.
    sub: OnceLock<Arc<GroupShared>>,
    /// The fencing epoch of a keyed child's claim.
    epoch: OnceLock<u64>,
    /// The heartbeat of a node with a watchdog.
    heartbeat: OnceLock<Heartbeat>,
    pub(super) extra: Mutex<Extra>,
}

impl CtxInner {
    pub(super) fn lazy(&self) -> &Lazy {
        self.lazy.get_or_init(Default::default)
    }

    /// The group this node runs, or the set of children it spawned, if any.
    pub(crate) fn sub(&self) -> Option<&Arc<GroupShared>> {
        self.lazy.get().and_then(|l| l.sub.get())
    }

    /// Records the group this incarnation runs; false if it already had one.
    pub(crate) fn set_sub(&self, g: Arc<GroupShared>) -> bool {
        self.lazy().sub.set(g).is_ok()
    }
}

#[derive(Default)]
pub(super) struct Extra {
    on_cancel: Vec<Box<dyn FnOnce() + Send>>,
    forced: Option<SharedError>,
    set: Option<SpawnedSet>,
    /// Waiters for the cancellation beyond the first, with their keys.
    pub(super) more: Vec<(u32, Waker)>,
    /// The last key given to one of `more`.
    pub(super) next_key: u32,
}

/// When an incarnation with a watchdog last called [`Context::alive`]:
/// milliseconds since the heartbeat was armed, in one atomic.
pub(crate) struct Heartbeat {
    base: Instant,
    last_ms: AtomicU64,
}

impl Heartbeat {
    fn new() -> Self {
        Heartbeat {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// It is alive now.
    pub(crate) fn beat(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When it was last alive.
    pub(crate) fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("name", &self.name())
            .field("incarnation", &self.incarnation())
            .finish()
    }
}

impl Context {
    pub(crate) fn new(
        link: Arc<Link>,
        idx: u32,
        gen: u32,
        base: u32,
        auto_healthy: bool,
        prompt: bool,
    ) -> Self {
        Context {
            inner: Arc::new(CtxInner {
                link,
                idx,
                gen,
                base,
                flags: AtomicU8::new(Self::initial_flags(auto_healthy, prompt)),
                waiting: Mutex::new(Waiting::default()),
                lazy: OnceLock::new(),
            }),
        }
    }

    /// The context of a new incarnation, made from `old` (the context of
    /// the slot's last one) when nothing else holds it any more: the same
    /// allocation, every field set anew, so that a restart costs no
    /// allocation of its context. `Err(old)` when a clone is still held
    /// (a task the last incarnation left behind): it cannot be reused, or
    /// that clone could speak for the new incarnation.
    pub(crate) fn renew(
        mut old: Context,
        idx: u32,
        gen: u32,
        base: u32,
        auto_healthy: bool,
        prompt: bool,
    ) -> Result<Self, Context> {
        let Some(inner) = Arc::get_mut(&mut old.inner) else {
            return Err(old);
        };
        inner.idx = idx;
        inner.gen = gen;
        inner.base = base;
        *inner.flags.get_mut() = Self::initial_flags(auto_healthy, prompt);
        *inner.waiting.get_mut().unwrap_or_else(|p| p.into_inner()) = Waiting::default();
        drop(inner.lazy.take());
        Ok(old)
    }

    fn initial_flags(auto_healthy: bool, prompt: bool) -> u8 {
        (if auto_healthy {
            HEALTHY | AUTO_HEALTHY
        } else {
            PENDING
        }) | if prompt { PROMPT } else { 0 }
    }

    /// The node's distinguished name: its ancestors' names joined with `.`,
    /// e.g. `app.web.http`. Built on first use.
    pub fn name(&self) -> &str {
        self.inner.lazy().name.get_or_init(|| {
            let link = &self.inner.link;
            link.with_local_name(self.inner.idx, |local| join_name(&link.name, local))
                .into_boxed_str()
        })
    }

    /// Drops what the context allocated on demand (its name, the group it
    /// ran, callbacks, ...) if nothing else holds it.
    pub(crate) fn release_lazy(&mut self) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            drop(inner.lazy.take());
        }
    }

    /// Builds the name now if anyone else holds this context: the group is
    /// about to give its slot to another child, after which the slot's name
    /// (where [`name`](Context::name) looks) would be that child's.
    pub(crate) fn keep_name(&self) {
        if Arc::strong_count(&self.inner) > 1 {
            self.name();
        }
    }

    /// The incarnation number: 1 for the first run, then one more per restart.
    pub fn incarnation(&self) -> u32 {
        self.inner.gen - self.inner.base
    }

    /// Signals that this incarnation is up: in a sequential group the next
    /// sibling may start, `after` dependents may start, `start_timeout` is met.
    ///
    /// Calling it twice, or after [`done`](Context::done), is a programming
    /// error: the incarnation is stopped and counted as failed.
    pub fn healthy(&self) {
        let prev = self.inner.flags.fetch_or(HEALTHY, Ordering::AcqRel);
        if prev & AUTO_HEALTHY != 0 && prev & DONE == 0 {
            return; // `ready(on_start)`: already healthy, an explicit signal is harmless
        }
        if prev & (HEALTHY | DONE) != 0 {
            self.misuse("`ctx.healthy()` called twice in one incarnation");
            return;
        }
        // The last of the group's children to become healthy wakes it: the
        // group may be healthy now.
        let counted = self.unpend();
        self.inner
            .link
            .healthy(self.inner.idx, self.inner.gen, counted, prev & PROMPT != 0);
    }

    /// Signals that this incarnation has finished its job: when it then
    /// returns `Ok(())` it is *done* and not restarted (it reruns only if its
    /// group restarts), and the children it spawned keep running until the
    /// node is stopped or restarted.
    ///
    /// Calling it before [`healthy`](Context::healthy), or twice, is a
    /// programming error: the incarnation is stopped and counted as failed.
    pub fn done(&self) {
        let prev = self.inner.flags.fetch_or(DONE, Ordering::AcqRel);
        if prev & DONE != 0 {
            self.misuse("`ctx.done()` called twice in one incarnation");
            return;
        }
        if prev & HEALTHY == 0 {
            self.misuse("`ctx.done()` called before `ctx.healthy()`");
            return;
        }
        let link = &self.inner.link;
        let wake = prev & PROMPT != 0 || link.tree.listening();
        link.post(
            Note::Done {
                idx: self.inner.idx,
                gen: self.inner.gen,
            },
            wake,
        );
    }

    /// A heartbeat, for a node with a watchdog (`watchdog(timeout = D)`):
    /// once healthy, the node must call it at least every `D`, or its
    /// incarnation fails with "no heartbeat for D". Costs one atomic store;
    /// nothing at all is watched when the node has no watchdog.
    pub fn alive(&self) {
        if let Some(hb) = self.inner.lazy.get().and_then(|l| l.heartbeat.get()) {
            hb.beat();
        }
    }

    /// Arms the heartbeat of a node with a watchdog; returns it.
    pub(crate) fn heartbeat(&self) -> &Heartbeat {
        self.inner.lazy().heartbeat.get_or_init(Heartbeat::new)
    }

    /// The fencing epoch of this keyed child's claim, when the table that
    /// drives it leases keys to one process of a fleet: it grows with every
    /// change of owner, so that work from a stale owner can be rejected
    /// downstream (write it next to what this child writes, and refuse
    /// writes that carry an older one). `None` for every other node.
    pub fn epoch(&self) -> Option<u64> {
        self.inner.lazy.get().and_then(|l| l.epoch.get().copied())
    }

    /// Sets the epoch [`epoch`](Context::epoch) returns (once, before the
    /// incarnation runs).
    pub(crate) fn set_epoch(&self, epoch: u64) {
        let _ = self.inner.lazy().epoch.set(epoch);
    }

    /// Resolves once this incarnation is asked to stop (at once if it already was).
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled::new(self)
    }

    /// Whether this incarnation has been asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.inner.flags.load(Ordering::Acquire) & CANCELLED != 0
    }

    /// Sleeps for `d`, or less if the incarnation is asked to stop meanwhile.
    /// Returns `true` when cut short by cancellation.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            biased;
            _ = self.cancelled() => true,
            _ = tokio::time::sleep(d) => self.is_cancelled(),
        }
    }

    /// Spawns a supervised child of this node, named `<this node>.<name>`.
    ///
    /// It restarts on its own (one_for_one, permanent, default backoff,
    /// intensity 3 within 5 s; past that this incarnation fails). It ends when
    /// this incarnation ends — unless this incarnation signalled
    /// [`done`](Context::done) and returned `Ok(())`, in which case it runs
    /// until the node is stopped or restarted.
    ///
    /// Errors: a name that breaks the name rule, a name already live under
    /// this node, or an incarnation that is stopping or over.
    pub fn spawn(&self, name: impl Into<String>, r: impl Runnable) -> Result<(), Error> {
        let name = name.into();
        check_name(&name)?;
        let spec = ChildSpec::plain(name.into(), r.boxed());
        self.with_set(|set| set.add(spec))
    }

    /// Spawns several children that restart together (one_for_all): if one
    /// fails, all of them are stopped and started again. Names and lifetime
    /// follow [`spawn`](Context::spawn); a bad or duplicate name starts none.
    pub fn spawn_group<N: Into<String>, R: Runnable>(
        &self,
        children: impl IntoIterator<Item = (N, R)>,
    ) -> Result<(), Error> {
        let mut specs = Vec::new();
        for (name, r) in children {
            let name = name.into();
            check_name(&name)?;
            if specs.iter().any(|s: &ChildSpec| *s.name == *name) {
                return Err(Error::new(
                    ErrorKind::DuplicateName,
                    Some(join_name(self.name(), &name)),
                    format!("`spawn_group` lists `{name}` twice"),
                ));
            }
            specs.push(ChildSpec::plain(name.into(), r.boxed()));
        }
        if specs.is_empty() {
            return Ok(());
        }
        self.with_set(|set| set.add_group(specs))
    }

    /// Registers `f` to be called once when this incarnation is asked to stop
    /// (at once if it already was): for resources that do not watch
    /// cancellation themselves, such as a blocking server's stop function.
    pub fn on_cancel(&self, f: impl FnOnce() + Send + 'static) {
        if self.is_cancelled() {
            f();
            return;
        }
        let mut extra = self.extra().lock().unwrap_or_else(|p| p.into_inner());
        if self.is_cancelled() {
            drop(extra);
            f();
        } else {
            extra.on_cancel.push(Box::new(f));
        }
    }

    /// The tree this incarnation belongs to.
    pub(crate) fn tree(&self) -> &Arc<TreeShared> {
        &self.inner.link.tree
    }

    fn with_set(&self, f: impl FnOnce(&SpawnedSet) -> Result<(), Error>) -> Result<(), Error> {
        if self.is_cancelled() || self.inner.link.tree.is_shutting_down() {
            return Err(Error::shutting_down(self.name()));
        }
        let mut extra = self.extra().lock().unwrap_or_else(|p| p.into_inner());
        if extra.set.is_none() {
            let set = SpawnedSet::start(self)?;
            extra.set = Some(set);
        }
        let set = extra.set.as_ref().expect("created above");
        f(set)
    }

    fn extra(&self) -> &Mutex<Extra> {
        &self.inner.lazy().extra
    }

    /// A wrong-order signal: the incarnation fails, the tree stays sound.
    fn misuse(&self, why: &str) {
        self.inner.flags.fetch_or(MISUSED, Ordering::AcqRel);
        self.fail(Arc::new(Reason(why.to_owned())));
    }

    /// Fails this incarnation with `err` (kept even if it then returns `Ok`),
    /// and asks its group to stop it.
    pub(crate) fn fail(&self, err: SharedError) {
        self.force_error(err);
        // Through the same list as the ending, so that a failure signalled
        // before the incarnation returns is applied before its ending.
        self.inner.link.post(
            Note::Fail {
                idx: self.inner.idx,
                gen: self.inner.gen,
            },
            true,
        );
    }

    /// Records the error this incarnation fails with, whatever it returns.
    pub(crate) fn force_error(&self, err: SharedError) {
        let mut extra = self.extra().lock().unwrap_or_else(|p| p.into_inner());
        if extra.forced.is_none() {
            extra.forced = Some(err);
        }
    }

    pub(crate) fn forced_error(&self) -> Option<SharedError> {
        self.inner.lazy.get().and_then(|l| {
            l.extra
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .forced
                .clone()
        })
    }

    /// Takes this incarnation out of its group's `pending` count, once;
    /// true if it was in it.
    pub(crate) fn unpend(&self) -> bool {
        self.inner.flags.fetch_and(!PENDING, Ordering::AcqRel) & PENDING != 0
    }

    pub(crate) fn is_done(&self) -> bool {
        let f = self.inner.flags.load(Ordering::Acquire);
        f & DONE != 0 && f & MISUSED == 0
    }

    /// Asks this incarnation to stop: sets the flag, wakes waiters, runs the
    /// `on_cancel` callbacks and stops the children it spawned.
    pub(crate) fn cancel(&self) {
        let prev = self.inner.flags.fetch_or(CANCELLED, Ordering::AcqRel);
        if prev & CANCELLED != 0 {
            return;
        }
        let first = {
            let mut w = self.inner.waiting.lock().unwrap_or_else(|p| p.into_inner());
            w.first.take()
        };
        if let Some(waker) = first {
            waker.wake();
        }
        // The group this node runs (or the set of children it spawned)
        // stops its children and ends.
        if let Some(sub) = self.inner.sub() {
            sub.stop();
        }
        if let Some(extra) = self.inner.lazy.get().map(|l| &l.extra) {
            let (callbacks, more) = {
                let mut e = extra.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(set) = &e.set {
                    set.stop();
                }
                (
                    std::mem::take(&mut e.on_cancel),
                    std::mem::take(&mut e.more),
                )
            };
            for (_, waker) in more {
                waker.wake();
            }
            for f in callbacks {
                // A panicking callback must not take the supervisor down with it.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            }
        }
    }

    /// Called when the incarnation's own task has ended: stops its spawned
    /// children unless it ended `done` with `Ok`, and returns a handle on the
    /// set to wait for before the ending is reported.
    pub(crate) fn finish_main(&self, keep_children: bool) -> Option<tokio::task::JoinHandle<()>> {
        let extra = &self.inner.lazy.get()?.extra;
        let mut e = extra.lock().unwrap_or_else(|p| p.into_inner());
        let set = e.set.as_mut()?;
        if keep_children {
            set.seal();
        } else {
            set.stop();
        }
        set.join.take()
    }
}
