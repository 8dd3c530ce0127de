//! ractor: a supervisor actor spawns linked leaf actors (`spawn_linked`),
//! restarts a failed one from `handle_supervisor_evt`, and stops its
//! children (`stop_children_and_wait`) in `post_stop`. A leaf is up once
//! `post_start` ran; a failing leaf returns `Err` from `post_start`.

use std::sync::Arc;

use ::ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::task::JoinHandle;

use crate::probe::{Fail, Probe};
use crate::{Impl, Running};

/// The ractor implementation.
#[derive(Debug)]
pub struct Ractor;

/// The root supervisor and its task.
pub struct RactorRun(ActorRef<()>, JoinHandle<()>);

impl Running for RactorRun {
    async fn stop(self) {
        self.0
            .stop_and_wait(None, None)
            .await
            .expect("ractor: stop");
        self.1.await.expect("ractor: supervisor task");
    }
}

/// What a leaf does: idle, or fail the first `n` incarnations.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Idle,
    Flaky(usize),
}

struct Leaf;

struct LeafState {
    p: Arc<Probe>,
    mode: Mode,
    counted: bool,
}

impl Actor for Leaf {
    type Msg = ();
    type State = LeafState;
    type Arguments = (Arc<Probe>, Mode);

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        (p, mode): (Arc<Probe>, Mode),
    ) -> Result<LeafState, ActorProcessingErr> {
        Ok(LeafState {
            p,
            mode,
            counted: false,
        })
    }

    async fn post_start(
        &self,
        _: ActorRef<()>,
        s: &mut LeafState,
    ) -> Result<(), ActorProcessingErr> {
        let k = s.p.started();
        if let Mode::Flaky(fails) = s.mode {
            if k <= fails {
                s.p.stopped();
                s.counted = true;
                return Err(Box::new(Fail));
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<()>,
        s: &mut LeafState,
    ) -> Result<(), ActorProcessingErr> {
        if !s.counted {
            s.counted = true;
            s.p.stopped();
        }
        Ok(())
    }
}

struct Sup;

/// What a supervisor starts: `n` leaves, or a subtree.
#[derive(Clone, Debug)]
struct SupArgs {
    p: Arc<Probe>,
    mode: Mode,
    n: usize,
    /// Levels of supervisors below this one (0: its children are leaves).
    depth: u32,
}

impl Actor for Sup {
    type Msg = ();
    type State = SupArgs;
    type Arguments = SupArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<()>,
        a: SupArgs,
    ) -> Result<SupArgs, ActorProcessingErr> {
        for _ in 0..a.n {
            if a.depth == 0 {
                Actor::spawn_linked(None, Leaf, (a.p.clone(), a.mode), myself.get_cell()).await?;
            } else {
                let sub = SupArgs {
                    depth: a.depth - 1,
                    ..a.clone()
                };
                Actor::spawn_linked(None, Sup, sub, myself.get_cell()).await?;
            }
        }
        Ok(a)
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        evt: SupervisionEvent,
        a: &mut SupArgs,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(..) = evt {
            // One-for-one, zero backoff, no limit. Only leaves fail here.
            Actor::spawn_linked(None, Leaf, (a.p.clone(), a.mode), myself.get_cell()).await?;
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<()>,
        _: &mut SupArgs,
    ) -> Result<(), ActorProcessingErr> {
        myself.stop_children_and_wait(None, None).await;
        Ok(())
    }
}

async fn start(a: SupArgs) -> RactorRun {
    let (r, h) = Actor::spawn(None, Sup, a).await.expect("ractor: spawn");
    RactorRun(r, h)
}

impl Impl for Ractor {
    const NAME: &'static str = "ractor";
    type Run = RactorRun;

    async fn start_flat(n: usize, p: &Arc<Probe>) -> RactorRun {
        start(SupArgs {
            p: p.clone(),
            mode: Mode::Idle,
            n,
            depth: 0,
        })
        .await
    }

    async fn start_flaky(fails: usize, p: &Arc<Probe>) -> Option<RactorRun> {
        Some(
            start(SupArgs {
                p: p.clone(),
                mode: Mode::Flaky(fails),
                n: 1,
                depth: 0,
            })
            .await,
        )
    }

    async fn start_tree(depth: u32, fanout: usize, p: &Arc<Probe>) -> Option<RactorRun> {
        Some(
            start(SupArgs {
                p: p.clone(),
                mode: Mode::Idle,
                n: fanout,
                depth: depth - 1,
            })
            .await,
        )
    }
}
