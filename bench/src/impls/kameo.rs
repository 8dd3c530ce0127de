//! kameo 0.17: a supervisor actor (unbounded mailbox, so that link
//! notifications never block) spawns linked leaf actors (`spawn_link`),
//! restarts a leaf whose link died with an error (`on_link_died`), and stops
//! and awaits its children in `on_stop`. A leaf is up once `on_start` ran; a
//! failing leaf sends itself a message whose handler returns `Err` (an error
//! from `on_start` is not reported to links in kameo 0.17).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use ::kameo::actor::{ActorID, ActorRef, WeakActorRef};
use ::kameo::error::ActorStopReason;
use ::kameo::mailbox;
use ::kameo::message::{Context, Message};
use ::kameo::Actor;

use crate::probe::{Fail, Probe};
use crate::service::{Churn, Dynamic};
use crate::{Impl, Running};

/// The kameo implementation.
#[derive(Debug)]
pub struct Kameo;

/// The root supervisor.
pub enum KameoRun {
    /// Of the flat, restart and tree workloads.
    Sup(ActorRef<Sup>),
    /// Of the churn workload.
    Churn(ActorRef<ChurnSup>),
}

async fn stop_actor<A: Actor>(r: ActorRef<A>) {
    r.stop_gracefully().await.expect("kameo: stop");
    r.wait_for_shutdown().await;
}

impl Running for KameoRun {
    async fn stop(self) {
        match self {
            KameoRun::Sup(r) => stop_actor(r).await,
            KameoRun::Churn(r) => stop_actor(r).await,
        }
    }
}

#[derive(Clone, Copy, Debug)]
/// What a leaf does.
pub enum Mode {
    /// Stays up.
    Idle,
    /// Fails its first n incarnations.
    Flaky(usize),
}

/// A leaf actor.
pub struct Leaf {
    p: Arc<Probe>,
}

impl Actor for Leaf {
    type Args = (Arc<Probe>, Mode);
    type Error = Fail;

    async fn on_start((p, mode): Self::Args, me: ActorRef<Self>) -> Result<Self, Fail> {
        let k = p.started();
        if let Mode::Flaky(fails) = mode {
            if k <= fails {
                let _ = me.tell(Die).try_send();
            }
        }
        Ok(Leaf { p })
    }

    async fn on_stop(&mut self, _: WeakActorRef<Self>, _: ActorStopReason) -> Result<(), Fail> {
        self.p.stopped();
        Ok(())
    }
}

/// Makes a leaf fail.
pub struct Die;

impl Message<Die> for Leaf {
    type Reply = Result<(), Fail>;

    async fn handle(&mut self, _: Die, _: &mut Context<Self, Self::Reply>) -> Result<(), Fail> {
        Err(Fail)
    }
}

#[derive(Clone, Debug)]
/// What a supervisor starts.
pub struct SupArgs {
    p: Arc<Probe>,
    mode: Mode,
    n: usize,
    depth: u32,
}

/// A supervisor actor: leaves or sub-supervisors below it.
pub struct Sup {
    a: SupArgs,
    leaves: Vec<ActorRef<Leaf>>,
    subs: Vec<ActorRef<Sup>>,
}

impl Actor for Sup {
    type Args = SupArgs;
    type Error = Fail;

    async fn on_start(a: SupArgs, me: ActorRef<Self>) -> Result<Self, Fail> {
        let mut s = Sup {
            leaves: Vec::new(),
            subs: Vec::new(),
            a: a.clone(),
        };
        for _ in 0..a.n {
            if a.depth == 0 {
                s.leaves
                    .push(Leaf::spawn_link(&me, (a.p.clone(), a.mode)).await);
            } else {
                let sub = SupArgs {
                    depth: a.depth - 1,
                    ..a.clone()
                };
                s.subs
                    .push(Sup::spawn_link_with_mailbox(&me, sub, mailbox::unbounded()).await);
            }
        }
        Ok(s)
    }

    async fn on_link_died(
        &mut self,
        me: WeakActorRef<Self>,
        id: ActorID,
        reason: ActorStopReason,
    ) -> Result<ControlFlow<ActorStopReason>, Fail> {
        if matches!(reason, ActorStopReason::Panicked(_)) {
            if let (Some(me), Some(i)) =
                (me.upgrade(), self.leaves.iter().position(|l| l.id() == id))
            {
                // One-for-one, zero backoff, no limit.
                self.leaves[i] = Leaf::spawn_link(&me, (self.a.p.clone(), self.a.mode)).await;
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    async fn on_stop(&mut self, _: WeakActorRef<Self>, _: ActorStopReason) -> Result<(), Fail> {
        for l in &self.leaves {
            let _ = l.stop_gracefully().await;
        }
        for s in &self.subs {
            let _ = s.stop_gracefully().await;
        }
        for l in &self.leaves {
            l.wait_for_shutdown().await;
        }
        for s in &self.subs {
            s.wait_for_shutdown().await;
        }
        Ok(())
    }
}

/// A child of the churn group: a flaky one registers a hook that tells it
/// [`Die`]; a serving one registers a hook that `ask`s it [`Ping`].
pub struct ChurnLeaf {
    c: Arc<Churn>,
}

/// A request answered by a serving child.
pub struct Ping;

impl Actor for ChurnLeaf {
    type Args = (Arc<Churn>, usize);
    type Error = Fail;

    async fn on_start((c, i): Self::Args, me: ActorRef<Self>) -> Result<Self, Fail> {
        if c.is_flaky(i) {
            c.set_fail(i, Box::new(move || me.tell(Die).try_send().is_ok()));
        } else {
            c.set_ping(
                i - c.size.flaky,
                Arc::new(move || {
                    let me = me.clone();
                    Box::pin(async move { me.ask(Ping).await.is_ok() })
                }),
            );
        }
        c.started();
        Ok(ChurnLeaf { c })
    }

    async fn on_stop(&mut self, _: WeakActorRef<Self>, _: ActorStopReason) -> Result<(), Fail> {
        self.c.stopped();
        Ok(())
    }
}

impl Message<Die> for ChurnLeaf {
    type Reply = Result<(), Fail>;

    async fn handle(&mut self, _: Die, _: &mut Context<Self, Self::Reply>) -> Result<(), Fail> {
        Err(Fail)
    }
}

impl Message<Ping> for ChurnLeaf {
    type Reply = ();

    async fn handle(&mut self, _: Ping, _: &mut Context<Self, Self::Reply>) {}
}

/// The churn group's supervisor: which child an actor is, by id.
pub struct ChurnSup {
    c: Arc<Churn>,
    children: HashMap<ActorID, (usize, ActorRef<ChurnLeaf>)>,
}

impl Actor for ChurnSup {
    type Args = Arc<Churn>;
    type Error = Fail;

    async fn on_start(c: Arc<Churn>, me: ActorRef<Self>) -> Result<Self, Fail> {
        let mut children = HashMap::with_capacity(c.size.n);
        for i in 0..c.size.n {
            let r = ChurnLeaf::spawn_link(&me, (c.clone(), i)).await;
            children.insert(r.id(), (i, r));
        }
        Ok(ChurnSup { c, children })
    }

    async fn on_link_died(
        &mut self,
        me: WeakActorRef<Self>,
        id: ActorID,
        reason: ActorStopReason,
    ) -> Result<ControlFlow<ActorStopReason>, Fail> {
        if matches!(reason, ActorStopReason::Panicked(_)) {
            if let (Some(me), Some((i, _))) = (me.upgrade(), self.children.remove(&id)) {
                let r = ChurnLeaf::spawn_link(&me, (self.c.clone(), i)).await;
                self.children.insert(r.id(), (i, r));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    async fn on_stop(&mut self, _: WeakActorRef<Self>, _: ActorStopReason) -> Result<(), Fail> {
        for (_, r) in self.children.values() {
            let _ = r.stop_gracefully().await;
        }
        for (_, r) in self.children.values() {
            r.wait_for_shutdown().await;
        }
        Ok(())
    }
}

/// Dynamic children: leaves linked to a supervisor with no children of its
/// own; add = `spawn_link`, remove = `stop_gracefully` + `wait_for_shutdown`.
pub struct KameoDyn {
    sup: ActorRef<Sup>,
    p: Arc<Probe>,
    children: HashMap<String, ActorRef<Leaf>>,
}

impl Dynamic for KameoDyn {
    async fn add(&mut self, key: String) {
        let r = Leaf::spawn_link(&self.sup, (self.p.clone(), Mode::Idle)).await;
        self.children.insert(key, r);
    }

    async fn remove(&mut self, key: &str) {
        let r = self.children.remove(key).expect("a live key");
        let _ = r.stop_gracefully().await;
        r.wait_for_shutdown().await;
    }

    async fn stop(self) {
        stop_actor(self.sup).await;
    }
}

fn start(a: SupArgs) -> KameoRun {
    KameoRun::Sup(start_sup(a))
}

fn start_sup(a: SupArgs) -> ActorRef<Sup> {
    Sup::spawn_with_mailbox(a, mailbox::unbounded())
}

impl Impl for Kameo {
    const NAME: &'static str = "kameo";
    type Run = KameoRun;
    type Dyn = KameoDyn;

    async fn start_flat(n: usize, p: &Arc<Probe>) -> KameoRun {
        start(SupArgs {
            p: p.clone(),
            mode: Mode::Idle,
            n,
            depth: 0,
        })
    }

    async fn start_flaky(fails: usize, p: &Arc<Probe>) -> Option<KameoRun> {
        Some(start(SupArgs {
            p: p.clone(),
            mode: Mode::Flaky(fails),
            n: 1,
            depth: 0,
        }))
    }

    async fn start_tree(depth: u32, fanout: usize, p: &Arc<Probe>) -> Option<KameoRun> {
        Some(start(SupArgs {
            p: p.clone(),
            mode: Mode::Idle,
            n: fanout,
            depth: depth - 1,
        }))
    }

    async fn start_churn(c: &Arc<Churn>) -> Option<KameoRun> {
        let sup = ChurnSup::spawn_with_mailbox(c.clone(), mailbox::unbounded());
        Some(KameoRun::Churn(sup))
    }

    async fn start_dynamic(p: &Arc<Probe>) -> Option<KameoDyn> {
        Some(KameoDyn {
            sup: start_sup(SupArgs {
                p: p.clone(),
                mode: Mode::Idle,
                n: 0,
                depth: 0,
            }),
            p: p.clone(),
            children: HashMap::new(),
        })
    }
}
