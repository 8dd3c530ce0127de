//! [`Tree`] (a checked tree, not yet running) and [`TreeHandle`] (a running one).

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::group::{group_runnable, new_group, run_group, GroupShared};
use super::incarnation;
use super::runnable::Runnable;
use super::signals::Signals;
use super::walk;
use super::Spec;
use crate::error::{Error, ErrorKind, SharedError};
use crate::observe::event::Event;
use crate::observe::report::ShutdownReport;
use crate::observe::snapshot::Snapshot;
use crate::observe::state::NodeState;

/// What every node of one running tree shares.
pub(crate) struct TreeShared {
    pub(crate) events: broadcast::Sender<Event>,
    /// Set by the first `subscribe()`: until then no event is built at all
    /// (asking the channel for its receiver count takes a lock).
    pub(crate) subscribed: AtomicBool,
    pub(crate) token: CancellationToken,
    pub(crate) propagate_panics: bool,
    /// Set as the shutdown begins, before `token` is cancelled, so that
    /// groups that have not yet seen their stop signal start nothing new
    /// (read on every start: an atomic load, where `token` takes a lock).
    /// A cancellation of `token` from outside sets it as soon as the tree's
    /// top task sees it.
    stopping: AtomicBool,
    /// Set when any node of the tree is aborted or left unstopped: until
    /// then the shutdown report has nothing to list, and is made without
    /// visiting a node (see [`TreeShared::note_unclean`]).
    unclean: AtomicBool,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    stop_error: Mutex<Option<Error>>,
}

impl TreeShared {
    /// Someone may be listening for events: until the first subscription
    /// no event is even built.
    pub(crate) fn listening(&self) -> bool {
        self.subscribed.load(Ordering::Acquire) && self.events.receiver_count() > 0
    }

    /// Sends an event to the subscribers.
    pub(crate) fn send(&self, e: Event) {
        let _ = self.events.send(e);
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.starts_blocked() || self.token.is_cancelled()
    }

    /// Whether no new incarnation may start: the shutdown has begun.
    pub(crate) fn starts_blocked(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// A node of this tree was aborted or could not be stopped: the
    /// shutdown report must look for it. Set before the flag of the node's
    /// slot is read by anyone (under its group's lock, which the report's
    /// walk takes too).
    pub(crate) fn note_unclean(&self) {
        self.unclean.store(true, Ordering::Release);
    }

    /// Whether any node was ever aborted or left unstopped (false: the
    /// report of a shutdown is clean without looking).
    pub(crate) fn was_unclean(&self) -> bool {
        self.unclean.load(Ordering::Acquire)
    }

    /// Begins the shutdown: blocks new starts, then cancels the root.
    pub(crate) fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// A child returned `StopTree`: keep the first such error and shut down.
    pub(crate) fn stop_tree(&self, e: Error) {
        let mut slot = self.stop_error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        drop(slot);
        self.begin_shutdown();
    }

    /// A child panicked under `propagate_panics(true)`: keep the first
    /// payload for `join()` to resume, and shut down.
    pub(crate) fn store_panic(&self, payload: Box<dyn Any + Send>, node: String, err: SharedError) {
        tracing::error!(node = %node, "panicked; the tree stops and `join()` resumes the panic");
        let mut slot = self.panic.lock().unwrap_or_else(|p| p.into_inner());
        let first = slot.is_none();
        if first {
            *slot = Some(payload);
        }
        drop(slot);
        if first {
            // What `join()` returns once the panic itself has been resumed.
            let e = Error::new(
                ErrorKind::Panicked,
                Some(node.clone()),
                format!("`{node}` {err}"),
            )
            .with_source(err);
            self.stop_tree(e);
        } else {
            self.begin_shutdown();
        }
    }
}

/// A checked supervision tree, ready to start.
///
/// Build one with [`Group::build`](crate::Group::build), [`Tree::new`] or the `supervision_tree!`
/// macro. A `Tree` is also a [`Runnable`]: used as a child of another tree,
/// its root group becomes that child (and takes the child's name).
#[must_use = "a tree does nothing until it is started"]
pub struct Tree {
    root: Result<Arc<Spec>, Error>,
    propagate_panics: bool,
    event_capacity: usize,
    /// Made by the first [`Tree::subscribe`] before the start, so that its
    /// receivers see every event from the first.
    events: OnceLock<broadcast::Sender<Event>>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("root", &self.root.as_ref().map(|s| &*s.name))
            .field("propagate_panics", &self.propagate_panics)
            .finish()
    }
}

impl Tree {
    pub(crate) fn from_error(e: Error) -> Tree {
        Tree {
            root: Err(e),
            propagate_panics: false,
            event_capacity: 1024,
            events: OnceLock::new(),
        }
    }

    pub(crate) fn from_spec(spec: Arc<Spec>) -> Tree {
        Tree {
            root: Ok(spec),
            propagate_panics: false,
            event_capacity: 1024,
            events: OnceLock::new(),
        }
    }

    /// With `true`, a panic of any child is not treated as a failure: the tree
    /// shuts down and [`TreeHandle::join`] resumes the panic. Default: `false`
    /// (panics are caught, their message kept, and treated as failures).
    pub fn propagate_panics(mut self, on: bool) -> Tree {
        self.propagate_panics = on;
        self
    }

    /// How many events a slow subscriber may fall behind before it sees
    /// `Lagged`. Default: 1024. Set it before [`subscribe`](Tree::subscribe):
    /// the first subscription fixes the capacity.
    pub fn event_capacity(mut self, n: usize) -> Tree {
        self.event_capacity = n.max(1);
        self
    }

    /// Every event of the tree from the very first one, as [`Event`]s: a
    /// receiver made before [`start`](Tree::start) cannot miss the first
    /// `Starting` or `Healthy` of any node, however fast the tree starts.
    ///
    /// Call it as many times as needed before the start; after the start,
    /// [`TreeHandle::subscribe`] gives receivers that see every event from
    /// the moment they are made. Nothing is sent while nobody subscribes.
    ///
    /// ```
    /// use supervisor_runtime::{Child, Context, Group, NodeState};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor_runtime::Error> {
    /// let tree = Group::parallel("app")
    ///     .child(Child::new("worker", |ctx: Context| async move {
    ///         ctx.healthy();
    ///         ctx.cancelled().await;
    ///         Ok::<(), std::io::Error>(())
    ///     }))
    ///     .build()?;
    /// let mut events = tree.subscribe();
    /// let handle = tree.start();
    /// loop {
    ///     let e = events.recv().await.expect("the tree is running");
    ///     if e.name == "app.worker" && e.state == NodeState::Healthy {
    ///         break;
    ///     }
    /// }
    /// handle.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events
            .get_or_init(|| broadcast::channel(self.event_capacity).0)
            .subscribe()
    }

    /// Starts the tree on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    pub fn start(self) -> TreeHandle {
        let subscribed = self.events.get().is_some();
        let events = self
            .events
            .into_inner()
            .unwrap_or_else(|| broadcast::channel(self.event_capacity).0);
        let shared = Arc::new(TreeShared {
            events,
            subscribed: AtomicBool::new(subscribed),
            token: CancellationToken::new(),
            propagate_panics: self.propagate_panics,
            stopping: AtomicBool::new(false),
            unclean: AtomicBool::new(false),
            panic: Mutex::new(None),
            stop_error: Mutex::new(None),
        });
        let completion = Arc::new(Completion::default());
        let top = match self.root {
            Ok(spec) => {
                let top = Arc::new(Spec::top(&spec.name, group_runnable(spec.clone())));
                let top = new_group(top, "".into(), shared.clone(), false);
                let task_top = top.clone();
                let task_shared = shared.clone();
                let task_completion = completion.clone();
                let stop_top = top.clone();
                tokio::spawn(async move {
                    let run = async {
                        let _ = run_group(task_top.clone(), None).await;
                        task_shared.begin_shutdown();
                    };
                    // The shutdown (or `token()` cancelled from outside):
                    // block new starts, and stop the root.
                    let watch = async {
                        task_shared.token.cancelled().await;
                        task_shared.stopping.store(true, Ordering::Release);
                        stop_top.stop();
                    };
                    tokio::join!(run, watch);
                    let result = final_result(&task_shared, &task_top);
                    task_completion.finish(result);
                });
                Some(top)
            }
            Err(e) => {
                shared.begin_shutdown();
                completion.finish(Err(e));
                None
            }
        };
        TreeHandle {
            inner: Arc::new(HandleInner {
                shared,
                top,
                completion,
            }),
        }
    }

    /// Starts the tree and waits until it ends: [`start`](Tree::start) then
    /// [`join`](TreeHandle::join).
    pub async fn run(self) -> Result<(), Error> {
        self.start().join().await
    }

    /// Runs the tree until SIGINT, SIGTERM, SIGHUP or SIGQUIT (Ctrl-C off
    /// Unix), then shuts it down gracefully; a second signal aborts what is
    /// left at once.
    ///
    /// Returns `Ok(())` after a clean stop, the tree's own error if it ended
    /// by itself with one, and an error of kind [`ErrorKind::Unclean`]
    /// carrying the [`ShutdownReport`] when a node had to be aborted or could
    /// not be stopped.
    ///
    /// With the feature `systemd`, when `NOTIFY_SOCKET` is set (a
    /// `Type=notify` unit), it also tells systemd how the tree is doing:
    /// `READY=1` once the root is first healthy; `STATUS=` lines on changes
    /// (`12 nodes healthy`, `app.db failed: connection refused, restarting
    /// in 2s; 11 of 12 nodes healthy`), at most one per second; `STOPPING=1`
    /// as soon as the shutdown begins; and, when systemd asks for a watchdog
    /// (`WATCHDOG_USEC`, for this process per `WATCHDOG_PID`), `WATCHDOG=1`
    /// at half its interval while the root is healthy: not before the root
    /// is first healthy, not once it has failed, nor when the runtime
    /// stalls. `NOTIFY_SOCKET` may be a path or, on Linux, an `@abstract`
    /// name. Without the feature none of this is compiled.
    pub async fn run_until_signal(self) -> Result<(), Error> {
        // Handlers first: a signal must never find the tree running without them.
        let mut signals = Signals::new()?;
        let handle = self.start();
        // Under systemd: READY=1, STATUS=, WATCHDOG=1, STOPPING=1.
        #[cfg(all(unix, feature = "systemd"))]
        let _systemd = crate::systemd::Notifier::from_env(&handle);
        tokio::select! {
            r = handle.join() => return r,
            _ = signals.recv() => {}
        }
        tracing::info!("signal received: shutting down (send another to abort at once)");
        let report = {
            let shutdown = handle.shutdown();
            tokio::pin!(shutdown);
            tokio::select! {
                r = &mut shutdown => r,
                _ = signals.recv() => {
                    tracing::warn!("second signal: aborting what is left");
                    handle.abort_all();
                    shutdown.await
                }
            }
        };
        if report.is_clean() {
            match handle.join().await {
                Err(e) if e.kind() != ErrorKind::GaveUp => Err(e),
                _ => Ok(()),
            }
        } else {
            Err(Error::new(
                ErrorKind::Unclean,
                None,
                format!(
                    "shutdown was not clean: aborted {:?}, could not stop {:?}",
                    report.aborted(),
                    report.unstopped()
                ),
            )
            .with_report(report))
        }
    }
}

fn final_result(shared: &TreeShared, top: &GroupShared) -> Result<(), Error> {
    if let Some(e) = shared
        .stop_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
    {
        return Err(e);
    }
    let mut st = top.lock();
    if st.slots[0].state() != NodeState::Failed {
        return Ok(());
    }
    match st.slots[0].shared_error() {
        Some(e) => match e.downcast_ref::<Error>() {
            Some(ours) => Err(ours.clone()),
            None => Err(Error::new(
                ErrorKind::GaveUp,
                Some(st.child_spec(0).name.to_string()),
                format!("the root group failed: {e}"),
            )
            .with_source(e.clone())),
        },
        None => Ok(()),
    }
}

#[derive(Default)]
struct Completion {
    result: OnceLock<Result<(), Error>>,
    notify: Notify,
    report: OnceLock<ShutdownReport>,
}

impl Completion {
    fn finish(&self, r: Result<(), Error>) {
        let _ = self.result.set(r);
        self.notify.notify_waiters();
    }

    async fn wait(&self) -> &Result<(), Error> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.result.get() {
                return r;
            }
            notified.await;
        }
    }
}

/// A running tree. Cheap to clone; every clone controls the same tree.
///
/// Dropping the last handle shuts the tree down gracefully in the
/// background (as [`shutdown`](TreeHandle::shutdown) would, without waiting),
/// so that no task outlives every way to reach it. Keep a handle, or
/// [`join`](TreeHandle::join) it, for as long as the tree should run.
#[derive(Clone)]
pub struct TreeHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    shared: Arc<TreeShared>,
    top: Option<Arc<GroupShared>>,
    completion: Arc<Completion>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.shared.begin_shutdown();
    }
}

impl std::fmt::Debug for TreeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeHandle")
            .field("finished", &self.inner.completion.result.get().is_some())
            .finish()
    }
}

impl TreeHandle {
    /// Stops the tree: each group stops its children in its stop order, each
    /// child within its shutdown timeout, aborting the ones that overrun.
    /// Returns what happened to every node.
    ///
    /// Idempotent: every caller, concurrent or later, gets the same report.
    /// No child is started after the shutdown began.
    pub async fn shutdown(&self) -> ShutdownReport {
        self.inner.shared.begin_shutdown();
        let _ = self.inner.completion.wait().await;
        self.inner
            .completion
            .report
            .get_or_init(|| match &self.inner.top {
                Some(top) => walk::report(top),
                None => ShutdownReport::default(),
            })
            .clone()
    }

    /// Waits until the tree has ended: after a shutdown, when every child
    /// has ended for good, or when the root gave up (an error naming the node
    /// whose failure crossed the root's limit, with the last error as its
    /// source) or a child returned [`StopTree`](crate::StopTree).
    ///
    /// # Panics
    ///
    /// Under [`Tree::propagate_panics`]`(true)`, resumes the first child panic
    /// in the first caller; later callers get an error of kind
    /// [`ErrorKind::Panicked`].
    pub async fn join(&self) -> Result<(), Error> {
        let r = self.inner.completion.wait().await.clone();
        let payload = self
            .inner
            .shared
            .panic
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(p) = payload {
            std::panic::resume_unwind(p);
        }
        r
    }

    /// The tree as it is now: every node's state, restart count and last error.
    pub fn snapshot(&self) -> Snapshot {
        match &self.inner.top {
            Some(top) => walk::snapshot(top),
            None => Snapshot::default(),
        }
    }

    /// Every state change from now on, as [`Event`]s. Nothing is sent while
    /// nobody subscribes.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.shared.subscribed.store(true, Ordering::Release);
        self.inner.shared.events.subscribe()
    }

    /// Cancelled when the tree begins to shut down or has ended. Cancelling
    /// it starts a shutdown, like [`shutdown`](TreeHandle::shutdown).
    pub fn token(&self) -> CancellationToken {
        self.inner.shared.token.clone()
    }

    /// Aborts the root group at once: every task of the tree is dropped
    /// without waiting for timeouts (what a second signal does).
    pub fn abort_all(&self) {
        self.inner.shared.begin_shutdown();
        if let Some(top) = &self.inner.top {
            top.lock().abort_root();
        }
    }
}

impl super::runnable::sealed::Sealed for Tree {}

impl Runnable for Tree {
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        match &self.root {
            Ok(spec) => group_runnable(spec.clone()).__spawn(ctx),
            Err(e) => {
                let e = e.clone();
                incarnation::spawn(ctx, move |_| async move { Err::<(), Error>(e) })
            }
        }
    }

    fn __is_group(&self) -> bool {
        true
    }
}
