//! tokio-graceful-shutdown: a `Toplevel` whose root subsystem starts one
//! named subsystem per leaf (`SubsystemHandle::start`); a leaf is up once its
//! function runs, and waits for `on_shutdown_requested`. Restarts use the
//! crate's documented pattern (example 12): a keep-alive subsystem that
//! starts the child with `ErrorAction::CatchAndLocalShutdown`, joins it, and
//! starts it again after an error. Shutdown cancels the toplevel's token.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_graceful_shutdown::{
    ErrorAction, IntoSubsystem, SubsystemBuilder, SubsystemHandle, Toplevel,
};
use tokio_util::sync::CancellationToken;

use crate::probe::{Fail, Probe};
use crate::service::{churn_body, Churn, Dynamic};
use crate::{Impl, Running};

/// The tokio-graceful-shutdown implementation.
#[derive(Debug)]
pub struct Tgs;

/// The toplevel's shutdown token and the task running it.
#[derive(Debug)]
pub struct TgsRun(CancellationToken, JoinHandle<()>);

impl Running for TgsRun {
    async fn stop(self) {
        self.0.cancel();
        self.1.await.expect("tgs: toplevel task");
    }
}

fn run_toplevel<F>(root: F) -> TgsRun
where
    F: 'static + Send + for<'a> AsyncFnOnce(&'a mut SubsystemHandle),
    for<'a> F: tokio_graceful_shutdown::AsyncSubsysFn<&'a mut SubsystemHandle, ()>,
{
    let token = CancellationToken::new();
    let top = Toplevel::new_with_shutdown_token(root, token.clone());
    let h = tokio::spawn(async move {
        top.handle_shutdown_requests(Duration::from_secs(60))
            .await
            .expect("tgs: clean shutdown");
    });
    TgsRun(token, h)
}

async fn leaf(s: &mut SubsystemHandle, p: Arc<Probe>) -> Result<(), Infallible> {
    p.started();
    s.on_shutdown_requested().await;
    p.stopped();
    Ok(())
}

async fn flaky(s: &mut SubsystemHandle, p: Arc<Probe>, fails: usize) -> Result<(), Fail> {
    if p.started() <= fails {
        p.stopped();
        return Err(Fail);
    }
    s.on_shutdown_requested().await;
    p.stopped();
    Ok(())
}

fn start_leaves(s: &SubsystemHandle, n: usize, p: &Arc<Probe>) {
    for i in 0..n {
        let p = p.clone();
        s.start(SubsystemBuilder::new(
            format!("c{i}"),
            async move |s: &mut SubsystemHandle| leaf(s, p).await,
        ));
    }
}

/// A group of the tree: a subsystem that starts its children.
struct Group {
    depth: u32,
    fanout: usize,
    p: Arc<Probe>,
}

impl IntoSubsystem<Infallible> for Group {
    async fn run(self, s: &mut SubsystemHandle) -> Result<(), Infallible> {
        if self.depth == 1 {
            start_leaves(s, self.fanout, &self.p);
        } else {
            for i in 0..self.fanout {
                let g = Group {
                    depth: self.depth - 1,
                    fanout: self.fanout,
                    p: self.p.clone(),
                };
                s.start(SubsystemBuilder::new(format!("g{i}"), g.into_subsystem()));
            }
        }
        Ok(())
    }
}

/// What the subsystem that owns the dynamic children is asked to do.
enum Cmd {
    Add(String, oneshot::Sender<()>),
    Remove(String, oneshot::Sender<()>),
}

/// Dynamic children: subsystems can only be started from a subsystem, so a
/// root subsystem owns them, by key, and takes adds and removes over a
/// channel; remove = `initiate_shutdown` + `join` of that subsystem.
pub struct TgsDyn {
    run: TgsRun,
    tx: mpsc::UnboundedSender<Cmd>,
}

impl Dynamic for TgsDyn {
    async fn add(&mut self, key: String) {
        let (ack, done) = oneshot::channel();
        self.tx.send(Cmd::Add(key, ack)).expect("tgs: owner alive");
        done.await.expect("tgs: add");
    }

    async fn remove(&mut self, key: &str) {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Cmd::Remove(key.to_owned(), ack))
            .expect("tgs: owner alive");
        done.await.expect("tgs: remove");
    }

    async fn stop(self) {
        self.run.stop().await;
    }
}

impl Impl for Tgs {
    const NAME: &'static str = "tokio-graceful-shutdown";
    type Run = TgsRun;
    type Dyn = TgsDyn;

    async fn start_flat(n: usize, p: &Arc<Probe>) -> TgsRun {
        let p = p.clone();
        run_toplevel(async move |s: &mut SubsystemHandle| start_leaves(s, n, &p))
    }

    async fn start_flaky(fails: usize, p: &Arc<Probe>) -> Option<TgsRun> {
        let p = p.clone();
        Some(run_toplevel(async move |s: &mut SubsystemHandle| {
            s.start(SubsystemBuilder::new(
                "keepalive",
                async move |s: &mut SubsystemHandle| loop {
                    let p = p.clone();
                    let child = s.start(
                        SubsystemBuilder::new("c", async move |s: &mut SubsystemHandle| {
                            flaky(s, p, fails).await
                        })
                        .on_failure(ErrorAction::CatchAndLocalShutdown)
                        .on_panic(ErrorAction::CatchAndLocalShutdown),
                    );
                    if child.join().await.is_ok() || s.is_shutdown_requested() {
                        return Ok::<(), Infallible>(());
                    }
                },
            ));
        }))
    }

    async fn start_tree(depth: u32, fanout: usize, p: &Arc<Probe>) -> Option<TgsRun> {
        let g = Group {
            depth,
            fanout,
            p: p.clone(),
        };
        Some(run_toplevel(async move |s: &mut SubsystemHandle| {
            s.start(SubsystemBuilder::new("app", g.into_subsystem()));
        }))
    }

    async fn start_churn(c: &Arc<Churn>) -> Option<TgsRun> {
        let c = c.clone();
        Some(run_toplevel(async move |s: &mut SubsystemHandle| {
            for i in 0..c.size.n {
                let c = c.clone();
                // One keep-alive subsystem per child (example 12).
                s.start(SubsystemBuilder::new(
                    format!("k{i}"),
                    async move |s: &mut SubsystemHandle| loop {
                        let c = c.clone();
                        let child = s.start(
                            SubsystemBuilder::new("c", async move |s: &mut SubsystemHandle| {
                                churn_body(i, &c, s.on_shutdown_requested()).await
                            })
                            .on_failure(ErrorAction::CatchAndLocalShutdown)
                            .on_panic(ErrorAction::CatchAndLocalShutdown),
                        );
                        if child.join().await.is_ok() || s.is_shutdown_requested() {
                            return Ok::<(), Infallible>(());
                        }
                    },
                ));
            }
        }))
    }

    async fn start_dynamic(p: &Arc<Probe>) -> Option<TgsDyn> {
        let p = p.clone();
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let run = run_toplevel(async move |s: &mut SubsystemHandle| {
            s.start(SubsystemBuilder::new(
                "dyn",
                async move |s: &mut SubsystemHandle| {
                    let mut children = HashMap::new();
                    loop {
                        let cmd = tokio::select! {
                            _ = s.on_shutdown_requested() => break,
                            cmd = rx.recv() => cmd,
                        };
                        match cmd {
                            Some(Cmd::Add(key, ack)) => {
                                let p = p.clone();
                                let h = s.start(SubsystemBuilder::new(
                                    key.clone(),
                                    async move |s: &mut SubsystemHandle| leaf(s, p).await,
                                ));
                                children.insert(key, h);
                                let _ = ack.send(());
                            }
                            Some(Cmd::Remove(key, ack)) => {
                                let h = children.remove(&key).expect("a live key");
                                h.initiate_shutdown();
                                let _ = h.join().await;
                                let _ = ack.send(());
                            }
                            None => break,
                        }
                    }
                    Ok::<(), Infallible>(())
                },
            ));
        });
        Some(TgsDyn { run, tx })
    }
}
