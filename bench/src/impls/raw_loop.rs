//! The raw-tokio column as it was before it became the least work: one
//! `tokio::spawn` per child *from the harness*, a restart loop inside each
//! child's own task (a failed body reruns in the same task, so a panic would
//! kill it), stop = cancel + await every `JoinHandle` in turn. Kept as a row
//! so that the old figures can be compared with the new least-work column
//! ([`super::raw`]) in the same run; it does not do the service workloads.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::probe::{Fail, Probe};
use crate::{Impl, Running};

/// The old raw-tokio column.
#[derive(Debug)]
pub struct RawLoop;

/// Running children: the token that stops them and their join handles.
#[derive(Debug)]
pub struct RawLoopRun {
    token: CancellationToken,
    handles: Vec<JoinHandle<()>>,
}

impl Running for RawLoopRun {
    async fn stop(self) {
        self.token.cancel();
        for h in self.handles {
            h.await.expect("a raw task panicked");
        }
    }
}

/// The hand-written supervisor of one child: rerun after a failure.
async fn supervise<F, Fut>(token: CancellationToken, body: F)
where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), Fail>>,
{
    loop {
        if body(token.clone()).await.is_ok() || token.is_cancelled() {
            return;
        }
    }
}

async fn leaf(token: CancellationToken, p: Arc<Probe>) -> Result<(), Fail> {
    p.started();
    token.cancelled().await;
    p.stopped();
    Ok(())
}

async fn flaky(token: CancellationToken, p: Arc<Probe>, fails: usize) -> Result<(), Fail> {
    if p.started() <= fails {
        p.stopped();
        return Err(Fail);
    }
    token.cancelled().await;
    p.stopped();
    Ok(())
}

fn spawn_leaf(token: &CancellationToken, p: &Arc<Probe>) -> JoinHandle<()> {
    let p = p.clone();
    tokio::spawn(supervise(token.clone(), move |t| leaf(t, p.clone())))
}

/// A group: spawns its children (groups or leaves, each under a restart
/// loop) and ends when they all have.
fn group(
    depth: u32,
    fanout: usize,
    token: CancellationToken,
    p: Arc<Probe>,
) -> Pin<Box<dyn Future<Output = Result<(), Fail>> + Send>> {
    Box::pin(async move {
        let mut children = Vec::with_capacity(fanout);
        for _ in 0..fanout {
            children.push(if depth == 1 {
                spawn_leaf(&token, &p)
            } else {
                let p = p.clone();
                tokio::spawn(supervise(token.clone(), move |t| {
                    group(depth - 1, fanout, t, p.clone())
                }))
            });
        }
        for c in children {
            let _ = c.await;
        }
        Ok(())
    })
}

impl Impl for RawLoop {
    const NAME: &'static str = "raw tokio, old (loop in the leaf's task)";
    type Run = RawLoopRun;
    type Dyn = crate::service::NoDynamic;

    async fn start_flat(n: usize, p: &Arc<Probe>) -> RawLoopRun {
        let token = CancellationToken::new();
        let handles = (0..n).map(|_| spawn_leaf(&token, p)).collect();
        RawLoopRun { token, handles }
    }

    async fn start_flaky(fails: usize, p: &Arc<Probe>) -> Option<RawLoopRun> {
        let token = CancellationToken::new();
        let p = p.clone();
        let h = tokio::spawn(supervise(token.clone(), move |t| {
            flaky(t, p.clone(), fails)
        }));
        Some(RawLoopRun {
            token,
            handles: vec![h],
        })
    }

    async fn start_tree(depth: u32, fanout: usize, p: &Arc<Probe>) -> Option<RawLoopRun> {
        let token = CancellationToken::new();
        let p = p.clone();
        let h = tokio::spawn(supervise(token.clone(), move |t| {
            group(depth, fanout, t, p.clone())
        }));
        Some(RawLoopRun {
            token,
            handles: vec![h],
        })
    }
}
