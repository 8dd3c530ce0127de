//! One incarnation as one tokio task: catches panics, records how the
//! user's future ended, and reports it to the group when the task is gone —
//! completed, panicked or aborted — through a drop guard. When the
//! incarnation spawned children, the report waits until they have ended too,
//! so no two incarnations of a node ever overlap.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::context::Context;
use super::ending::TaskEnd;
use crate::error::BoxError;

/// Spawns one incarnation of a node. `make` builds the user's future from
/// the context; a panic while building it counts as a panic of the incarnation.
pub(crate) fn spawn<Fut, E>(ctx: Context, make: impl FnOnce(Context) -> Fut) -> JoinHandle<()>
where
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError>,
{
    let span = tracing::info_span!(
        "node",
        name = %NameOf(&ctx),
        incarnation = ctx.incarnation(),
    );
    let mut guard = ExitGuard(Some(ctx.clone()));
    let fut = match catch_unwind(AssertUnwindSafe(|| make(ctx))) {
        Ok(fut) => fut,
        Err(payload) => {
            // Reported now; the group reads it once it has recorded the start.
            guard.report(TaskEnd::Panic(payload));
            return tokio::spawn(async {});
        }
    };
    let task = Incarnation {
        fut: Some(fut),
        guard,
    };
    // A disabled span would still make the task larger; leave it out.
    if span.is_disabled() {
        tokio::spawn(task)
    } else {
        tokio::spawn(task.instrument(span))
    }
}

struct NameOf<'a>(&'a Context);

impl std::fmt::Display for NameOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name())
    }
}

pin_project! {
    struct Incarnation<F> {
        #[pin]
        fut: Option<F>,
        guard: ExitGuard,
    }
}

impl<F, E> Future for Incarnation<F>
where
    F: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        let end = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(()))) => TaskEnd::Ok,
            Ok(Poll::Ready(Err(e))) => TaskEnd::Err(e.into()),
            Err(payload) => TaskEnd::Panic(payload),
        };
        // Drop the user's future here, so that a panic in its destructor is
        // caught and counted instead of tearing through the runtime.
        let end = match catch_unwind(AssertUnwindSafe(|| this.fut.set(None))) {
            Ok(()) => end,
            Err(payload) => TaskEnd::Panic(payload),
        };
        this.guard.report(end);
        Poll::Ready(())
    }
}

/// Reports the ending to the group: from `poll` when the user's future
/// completed, from `drop` when the task was aborted (or the runtime dropped
/// it). One pointer, so that it adds as little as possible to every task.
struct ExitGuard(Option<Context>);

impl ExitGuard {
    fn report(&mut self, end: TaskEnd) {
        if let Some(ctx) = self.0.take() {
            report(ctx, end);
        }
    }
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.report(TaskEnd::Aborted);
    }
}

/// Sends the ending of `ctx`'s incarnation, once the children it spawned
/// have ended too (unless it ended `done` with `Ok`: they keep running).
fn report(ctx: Context, end: TaskEnd) {
    let keep_children = matches!(end, TaskEnd::Ok) && ctx.is_done();
    let (idx, gen) = (ctx.inner.idx, ctx.inner.gen);
    // Ended without signalling `healthy`: no longer waited for.
    let pending = ctx.unpend();
    match ctx.finish_main(keep_children) {
        None => ctx.inner.link.exit(idx, gen, end, pending),
        Some(join) => {
            let link = ctx.inner.link.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(async move {
                        let _ = join.await;
                        link.exit(idx, gen, end, pending);
                    });
                }
                Err(_) => {
                    join.abort();
                    link.exit(idx, gen, end, pending);
                }
            }
        }
    }
}
