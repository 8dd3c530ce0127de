//! Raw tokio, the least work that supervises (DESIGN.md §8): one supervisor
//! task that spawns its children into a `JoinSet` and joins them, respawning
//! a child whose task ended with an error or a panic (a panic is a `JoinError`
//! of the set, so it cannot kill the supervisor); one `CancellationToken`
//! whose clones every child awaits; stop = cancel, then await the supervisor
//! task. There is nothing to build before the start (no names, no specs).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::probe::{Fail, Probe};
use crate::service::{churn_body, Churn, Dynamic};
use crate::{Impl, Running};

/// The raw-tokio implementation.
#[derive(Debug)]
pub struct Raw;

/// A running supervisor task and the token that stops everything under it.
#[derive(Debug)]
pub struct RawRun {
    token: CancellationToken,
    sup: JoinHandle<()>,
}

impl Running for RawRun {
    async fn stop(self) {
        self.token.cancel();
        self.sup.await.expect("the raw supervisor task panicked");
    }
}

/// An idle leaf: up, then waits for the token.
async fn leaf(token: CancellationToken, p: Arc<Probe>) -> Result<(), Fail> {
    p.started();
    token.cancelled().await;
    p.stopped();
    Ok(())
}

/// Fails on the first `fails` incarnations, then stays up.
async fn flaky(token: CancellationToken, p: Arc<Probe>, fails: usize) -> Result<(), Fail> {
    if p.started() <= fails {
        p.stopped();
        return Err(Fail);
    }
    token.cancelled().await;
    p.stopped();
    Ok(())
}

/// Whether a child that ended this way is started again.
fn failed<T>(r: &Result<Result<(), Fail>, T>) -> bool {
    !matches!(r, Ok(Ok(())))
}

/// The supervisor of `n` identical leaves: a leaf that fails is replaced by
/// a new one (all leaves are the same, so it need not know which one it was).
async fn flat(n: usize, token: CancellationToken, p: Arc<Probe>) {
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(leaf(token.clone(), p.clone()));
    }
    while let Some(r) = set.join_next().await {
        if failed(&r) && !token.is_cancelled() {
            set.spawn(leaf(token.clone(), p.clone()));
        }
    }
}

/// A group of the tree: spawns its `fanout` children (groups one level
/// down, or leaves) into its `JoinSet` and supervises them like [`flat`].
///
/// Nested supervisor tasks, one per group (1,111 for depth 4, fanout 10),
/// rather than one task holding a `JoinSet` per level: the per-level layout
/// would be less work (no group tasks at all: 10,000 leaves in 4 lists), but
/// then no group exists at run time: nothing can restart one subtree while
/// the others run, and "the tree" would measure the flat start again. A
/// group is a task here, as in every other implementation, so the row
/// measures what a tree costs. The least of it: the groups share the one
/// token (a subtree cannot be stopped on its own, which a per-group child
/// token would allow at one more allocation and lock per group), and the
/// only extra allocation is the `Box` a recursive `async fn` needs.
fn group(
    depth: u32,
    fanout: usize,
    token: CancellationToken,
    p: Arc<Probe>,
) -> Pin<Box<dyn Future<Output = Result<(), Fail>> + Send>> {
    Box::pin(async move {
        let spawn = |set: &mut JoinSet<Result<(), Fail>>| {
            if depth == 1 {
                set.spawn(leaf(token.clone(), p.clone()));
            } else {
                set.spawn(group(depth - 1, fanout, token.clone(), p.clone()));
            }
        };
        let mut set = JoinSet::new();
        for _ in 0..fanout {
            spawn(&mut set);
        }
        while let Some(r) = set.join_next().await {
            if failed(&r) && !token.is_cancelled() {
                spawn(&mut set);
            }
        }
        Ok(())
    })
}

/// The churn group: children differ (flaky or serving, each with its own
/// hook slot), so each task returns its index, and a panic is caught inside
/// the task so that the index survives it.
async fn churn(c: Arc<Churn>, token: CancellationToken) {
    fn spawn(
        set: &mut JoinSet<(usize, Result<(), Fail>)>,
        i: usize,
        c: &Arc<Churn>,
        t: &CancellationToken,
    ) {
        let (c, t) = (c.clone(), t.clone());
        set.spawn(async move {
            let r = CatchUnwind {
                fut: churn_body(i, &c, t.cancelled()),
            }
            .await
            .unwrap_or(Err(Fail));
            (i, r)
        });
    }
    let mut set = JoinSet::new();
    for i in 0..c.size.n {
        spawn(&mut set, i, &c, &token);
    }
    while let Some(r) = set.join_next().await {
        if let Ok((i, Err(_))) = r {
            if !token.is_cancelled() {
                spawn(&mut set, i, &c, &token);
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// Catches a panic of the inner future (what `FutureExt::catch_unwind`
    /// of the `futures` crate does), so that a supervisor keeps the index of
    /// a child whose task panicked.
    struct CatchUnwind<F> {
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let fut = self.project().fut;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(p) => p.map(Ok),
            Err(_) => std::task::Poll::Ready(Err(())),
        }
    }
}

/// Dynamic children by key: a `HashMap` of tokens and join handles; add =
/// spawn, remove = cancel and await.
#[derive(Debug)]
pub struct RawDyn {
    p: Arc<Probe>,
    children: HashMap<String, (CancellationToken, JoinHandle<Result<(), Fail>>)>,
}

impl Dynamic for RawDyn {
    async fn add(&mut self, key: String) {
        let token = CancellationToken::new();
        let h = tokio::spawn(leaf(token.clone(), self.p.clone()));
        self.children.insert(key, (token, h));
    }

    async fn remove(&mut self, key: &str) {
        let (token, h) = self.children.remove(key).expect("a live key");
        token.cancel();
        let _ = h.await;
    }

    async fn stop(self) {
        for (token, h) in self.children.into_values() {
            token.cancel();
            let _ = h.await;
        }
    }
}

fn run(token: CancellationToken, sup: impl Future<Output = ()> + Send + 'static) -> RawRun {
    RawRun {
        token,
        sup: tokio::spawn(sup),
    }
}

impl Impl for Raw {
    const NAME: &'static str = "raw tokio";
    type Run = RawRun;
    type Dyn = RawDyn;

    async fn start_flat(n: usize, p: &Arc<Probe>) -> RawRun {
        let token = CancellationToken::new();
        run(token.clone(), flat(n, token, p.clone()))
    }

    async fn start_flaky(fails: usize, p: &Arc<Probe>) -> Option<RawRun> {
        let token = CancellationToken::new();
        let (t, p) = (token.clone(), p.clone());
        // One child: the supervisor spawns it, awaits it, spawns it again
        // after an error or a panic.
        Some(run(token, async move {
            loop {
                let r = tokio::spawn(flaky(t.clone(), p.clone(), fails)).await;
                if !failed(&r) || t.is_cancelled() {
                    return;
                }
            }
        }))
    }

    async fn start_tree(depth: u32, fanout: usize, p: &Arc<Probe>) -> Option<RawRun> {
        let token = CancellationToken::new();
        let root = group(depth, fanout, token.clone(), p.clone());
        Some(run(token, async move {
            let _ = root.await;
        }))
    }

    async fn start_churn(c: &Arc<Churn>) -> Option<RawRun> {
        let token = CancellationToken::new();
        Some(run(token.clone(), churn(c.clone(), token)))
    }

    async fn start_dynamic(p: &Arc<Probe>) -> Option<RawDyn> {
        Some(RawDyn {
            p: p.clone(),
            children: HashMap::new(),
        })
    }
}
