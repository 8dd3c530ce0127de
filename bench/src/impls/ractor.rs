//! ractor: a supervisor actor spawns linked leaf actors (`spawn_linked`),
//! restarts a failed one from `handle_supervisor_evt`, and stops its
//! children (`stop_children_and_wait`) in `post_stop`. A leaf is up once
//! `post_start` ran; a failing leaf returns `Err` from `post_start`.

use std::collections::HashMap;
use std::sync::Arc;

use ::ractor::{
    rpc::CallResult, Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use tokio::task::JoinHandle;

use crate::probe::{Fail, Probe};
use crate::service::{Churn, Dynamic};
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

/// A child of the churn group: a flaky one registers a hook that sends it
/// `Die` (its handler returns an error: the actor fails, and `post_stop`
/// does not run); a serving one registers a hook that `call`s it with `Ping`.
struct ChurnLeaf;

enum ChurnMsg {
    Ping(RpcReplyPort<()>),
    Die,
}

struct ChurnLeafState {
    c: Arc<Churn>,
    i: usize,
    counted: bool,
}

impl Actor for ChurnLeaf {
    type Msg = ChurnMsg;
    type State = ChurnLeafState;
    type Arguments = (Arc<Churn>, usize);

    async fn pre_start(
        &self,
        _: ActorRef<ChurnMsg>,
        (c, i): (Arc<Churn>, usize),
    ) -> Result<ChurnLeafState, ActorProcessingErr> {
        Ok(ChurnLeafState {
            c,
            i,
            counted: false,
        })
    }

    async fn post_start(
        &self,
        me: ActorRef<ChurnMsg>,
        s: &mut ChurnLeafState,
    ) -> Result<(), ActorProcessingErr> {
        if s.c.is_flaky(s.i) {
            s.c.set_fail(s.i, Box::new(move || me.cast(ChurnMsg::Die).is_ok()));
        } else {
            s.c.set_ping(
                s.i - s.c.size.flaky,
                Arc::new(move || {
                    let me = me.clone();
                    Box::pin(async move {
                        matches!(
                            me.call(ChurnMsg::Ping, None).await,
                            Ok(CallResult::Success(()))
                        )
                    })
                }),
            );
        }
        s.c.started();
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<ChurnMsg>,
        msg: ChurnMsg,
        s: &mut ChurnLeafState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ChurnMsg::Ping(reply) => {
                let _ = reply.send(());
                Ok(())
            }
            ChurnMsg::Die => {
                s.counted = true;
                s.c.stopped();
                Err(Box::new(Fail))
            }
        }
    }

    async fn post_stop(
        &self,
        _: ActorRef<ChurnMsg>,
        s: &mut ChurnLeafState,
    ) -> Result<(), ActorProcessingErr> {
        if !s.counted {
            s.c.stopped();
        }
        Ok(())
    }
}

/// The churn group's supervisor: which child an actor is, by id.
struct ChurnSup;

struct ChurnSupState {
    c: Arc<Churn>,
    ids: HashMap<ActorId, usize>,
}

impl Actor for ChurnSup {
    type Msg = ();
    type State = ChurnSupState;
    type Arguments = Arc<Churn>;

    async fn pre_start(
        &self,
        me: ActorRef<()>,
        c: Arc<Churn>,
    ) -> Result<ChurnSupState, ActorProcessingErr> {
        let mut ids = HashMap::with_capacity(c.size.n);
        for i in 0..c.size.n {
            let (r, _) =
                Actor::spawn_linked(None, ChurnLeaf, (c.clone(), i), me.get_cell()).await?;
            ids.insert(r.get_id(), i);
        }
        Ok(ChurnSupState { c, ids })
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<()>,
        evt: SupervisionEvent,
        s: &mut ChurnSupState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, _) = evt {
            if let Some(i) = s.ids.remove(&cell.get_id()) {
                let (r, _) =
                    Actor::spawn_linked(None, ChurnLeaf, (s.c.clone(), i), me.get_cell()).await?;
                s.ids.insert(r.get_id(), i);
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        me: ActorRef<()>,
        _: &mut ChurnSupState,
    ) -> Result<(), ActorProcessingErr> {
        me.stop_children_and_wait(None, None).await;
        Ok(())
    }
}

/// Dynamic children: leaves linked to a supervisor with no children of its
/// own; add = `spawn_linked`, remove = `stop_and_wait`.
pub struct RactorDyn {
    sup: RactorRun,
    p: Arc<Probe>,
    children: HashMap<String, ActorRef<()>>,
}

impl Dynamic for RactorDyn {
    async fn add(&mut self, key: String) {
        let (r, _) = Actor::spawn_linked(
            None,
            Leaf,
            (self.p.clone(), Mode::Idle),
            self.sup.0.get_cell(),
        )
        .await
        .expect("ractor: spawn");
        self.children.insert(key, r);
    }

    async fn remove(&mut self, key: &str) {
        let r = self.children.remove(key).expect("a live key");
        r.stop_and_wait(None, None).await.expect("ractor: stop");
    }

    async fn stop(self) {
        self.sup.stop().await;
    }
}

impl Impl for Ractor {
    const NAME: &'static str = "ractor";
    type Run = RactorRun;
    type Dyn = RactorDyn;

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

    async fn start_churn(c: &Arc<Churn>) -> Option<RactorRun> {
        let (r, h) = Actor::spawn(None, ChurnSup, c.clone())
            .await
            .expect("ractor: spawn");
        Some(RactorRun(r, h))
    }

    async fn start_dynamic(p: &Arc<Probe>) -> Option<RactorDyn> {
        let sup = start(SupArgs {
            p: p.clone(),
            mode: Mode::Idle,
            n: 0,
            depth: 0,
        })
        .await;
        Some(RactorDyn {
            sup,
            p: p.clone(),
            children: HashMap::new(),
        })
    }
}
