//! Bounded waits and ways to start a tree without missing an event.

use std::fmt::Display;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use supervisor_runtime::{Error, NodeState, ShutdownReport, Tree, TreeHandle};

use crate::events::Events;

/// How long, on tokio's clock, a wait in a paused-clock test may take before
/// it fails the test. Virtual time: waiting it out costs nothing once the
/// tree is idle, so it is generous (a test may let a tree sit for hours).
pub const PAUSED_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// How long a wait in a real-time test may take before it fails the test.
/// Far longer than anything a passing test waits for, even with every core
/// busy; short enough that a broken test fails instead of hanging CI.
pub const REAL_LIMIT: Duration = Duration::from_secs(20);

/// How long any wait may take on the wall clock, whatever tokio's clock
/// says. In paused time a tree that never lets the runtime go idle (say,
/// restarts with no delay, forever) never lets virtual time advance; this
/// bound still ends such a wait.
pub const WALL_LIMIT: Duration = Duration::from_secs(120);

/// Runs `fut` to completion, failing the test (a panic naming `what`) if it
/// takes longer than `limit` on tokio's clock (virtual time when paused) or
/// [`WALL_LIMIT`] on the wall clock.
pub async fn within<F: Future>(limit: Duration, what: impl Display, fut: F) -> F::Output {
    match try_within(limit, fut).await {
        Ok(v) => v,
        Err(past) => panic!("timed out after {past} waiting for {what}"),
    }
}

/// Runs `fut` to completion; `Err` naming the bound that passed if it takes
/// longer than `limit` on tokio's clock (virtual time when paused) or
/// [`WALL_LIMIT`] on the wall clock. The wall clock is looked at whenever
/// the task is woken. For harnesses that report failures as values.
pub async fn try_within<F: Future>(limit: Duration, fut: F) -> Result<F::Output, String> {
    let wall = std::time::Instant::now() + WALL_LIMIT;
    let mut fut = pin!(fut);
    let mut clock = pin!(tokio::time::sleep(limit));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if clock.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(format!("{limit:?} on tokio's clock")));
        }
        if std::time::Instant::now() >= wall {
            return Poll::Ready(Err(format!("{WALL_LIMIT:?} on the wall clock")));
        }
        Poll::Pending
    })
    .await
}

/// Subscribes to `tree`'s events, then starts it: the [`Events`] sees every
/// event from the first, so no wait on it can miss one. For paused-clock
/// tests (waits bounded by [`PAUSED_LIMIT`]).
pub fn start(tree: Tree) -> (TreeHandle, Events) {
    let ev = Events::new(tree.subscribe());
    (tree.start(), ev)
}

/// [`start`] for real-time tests: waits bounded by [`REAL_LIMIT`].
pub fn start_real_time(tree: Tree) -> (TreeHandle, Events) {
    let ev = Events::real_time(tree.subscribe());
    (tree.start(), ev)
}

/// `h.join()`, bounded by [`PAUSED_LIMIT`]; the failure shows the tree.
pub async fn join(h: &TreeHandle) -> Result<(), Error> {
    let what = format!("the tree to end; it is now:\n{}", h.snapshot());
    within(PAUSED_LIMIT, what, h.join()).await
}

/// `h.shutdown()`, bounded by `limit`; the failure shows the tree as it was
/// when the shutdown began.
pub async fn shutdown(h: &TreeHandle, limit: Duration) -> ShutdownReport {
    let what = format!(
        "shutdown() to return; the tree when it began:\n{}",
        h.snapshot()
    );
    within(limit, what, h.shutdown()).await
}

/// Yields to the scheduler `n` times: every task that is ready runs, and no
/// time passes. It waits for nothing in particular; use it only to give
/// something that would wrongly happen a chance to happen before checking
/// that it did not, and prefer advancing paused time.
pub async fn yield_now_n(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// Waits, in paused time, until the tree is at rest: no node `Starting`,
/// in `Backoff` or `Stopping`, and no event during 100 ms of virtual time.
/// `Err` (with the tree) once `bound` of virtual time has passed, or after
/// [`WALL_LIMIT`] of wall-clock time, or if the event receiver lagged.
pub async fn quiet(h: &TreeHandle, ev: &mut Events, bound: Duration) -> Result<(), String> {
    let t0 = tokio::time::Instant::now();
    let wall0 = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = ev.pump()?;
        let snap = h.snapshot();
        let transient = snap.nodes().iter().any(|n| {
            matches!(
                n.state,
                NodeState::Starting | NodeState::Backoff | NodeState::Stopping
            )
        });
        if got == 0 && !transient {
            return Ok(());
        }
        if t0.elapsed() > bound || wall0.elapsed() > WALL_LIMIT {
            return Err(format!(
                "hang: not at rest after {:?} on tokio's clock, {:?} on the wall clock\n{snap}",
                t0.elapsed(),
                wall0.elapsed(),
            ));
        }
    }
}
