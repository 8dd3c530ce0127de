//! Ours: `supervisor-runtime`'s builder API, and the `supervision_tree!`
//! macro for the workloads it can express (one flaky child; the tree, as
//! nested `Tree`s of ten literal children each).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use supervisor::supervision_tree;
use supervisor_runtime::{
    Backoff, Child, Context, DynamicGroup, Group, Intensity, Runnable, Token, Tree, TreeHandle,
};

use crate::probe::{Fail, Probe};
use crate::service::{churn_body, Churn, Dynamic, NoDynamic};
use crate::{Impl, Running};

/// The builder API.
#[derive(Debug)]
pub struct Ours;

/// The `supervision_tree!` macro.
#[derive(Debug)]
pub struct OursMacro;

/// A running tree.
#[derive(Debug)]
pub struct OursRun(TreeHandle);

impl Running for OursRun {
    async fn stop(self) {
        let report = self.0.shutdown().await;
        assert!(report.is_clean(), "ours: unclean shutdown: {report:?}");
    }
}

/// An idle leaf: healthy, then waits to be stopped.
pub fn leaf(p: Arc<Probe>) -> impl Runnable {
    move |ctx: Context| {
        let p = p.clone();
        async move {
            ctx.healthy();
            p.started();
            ctx.cancelled().await;
            p.stopped();
            Ok::<(), Infallible>(())
        }
    }
}

/// Fails on its first `fails` incarnations, then stays up.
pub fn flaky(p: Arc<Probe>, fails: usize) -> impl Runnable {
    move |ctx: Context| {
        let p = p.clone();
        async move {
            if p.started() <= fails {
                p.stopped();
                return Err(Fail);
            }
            ctx.healthy();
            ctx.cancelled().await;
            p.stopped();
            Ok(())
        }
    }
}

fn app() -> Group {
    Group::parallel("app")
        .backoff(Backoff::None)
        .intensity(Intensity::Unlimited)
}

fn builder_group(name: String, depth: u32, fanout: usize, p: &Arc<Probe>) -> Group {
    let mut g = Group::parallel(name)
        .backoff(Backoff::None)
        .intensity(Intensity::Unlimited);
    for i in 0..fanout {
        g = if depth == 1 {
            g.child(Child::new(format!("c{i}"), leaf(p.clone())))
        } else {
            g.group(builder_group(format!("g{i}"), depth - 1, fanout, p))
        };
    }
    g
}

/// The tree of the tree workload, described with the builder and built
/// (checked), not started.
pub fn builder_tree(depth: u32, fanout: usize, p: &Arc<Probe>) -> Tree {
    builder_group("app".into(), depth, fanout, p)
        .build()
        .expect("a valid tree")
}

/// Keyed children of a [`DynamicGroup`], one child of the tree; the
/// tokens that `remove` needs, by key.
pub struct OursDyn {
    handle: TreeHandle,
    group: DynamicGroup,
    p: Arc<Probe>,
    tokens: HashMap<String, Token>,
}

impl Dynamic for OursDyn {
    async fn add(&mut self, key: String) {
        let t = self
            .group
            .add(&key, leaf(self.p.clone()))
            .await
            .expect("ours: add");
        self.tokens.insert(key, t);
    }

    async fn remove(&mut self, key: &str) {
        let t = self.tokens.remove(key).expect("a live key");
        self.group.remove(&t).await.expect("ours: remove");
    }

    async fn stop(self) {
        OursRun(self.handle).stop().await;
    }
}

impl Impl for Ours {
    const NAME: &'static str = "ours (builder)";
    type Run = OursRun;
    type Dyn = OursDyn;

    async fn start_flat(n: usize, p: &Arc<Probe>) -> OursRun {
        let mut g = app();
        for i in 0..n {
            g = g.child(Child::new(format!("c{i}"), leaf(p.clone())));
        }
        OursRun(g.build().expect("a valid tree").start())
    }

    async fn start_flaky(fails: usize, p: &Arc<Probe>) -> Option<OursRun> {
        let tree = app()
            .child(Child::new("c", flaky(p.clone(), fails)))
            .build()
            .expect("a valid tree");
        Some(OursRun(tree.start()))
    }

    async fn start_tree(depth: u32, fanout: usize, p: &Arc<Probe>) -> Option<OursRun> {
        Some(OursRun(builder_tree(depth, fanout, p).start()))
    }

    async fn start_churn(c: &Arc<Churn>) -> Option<OursRun> {
        let mut g = app();
        for i in 0..c.size.n {
            let c = c.clone();
            g = g.child(Child::new(format!("c{i}"), move |ctx: Context| {
                let c = c.clone();
                async move {
                    ctx.healthy();
                    churn_body(i, &c, ctx.cancelled()).await
                }
            }));
        }
        Some(OursRun(g.build().expect("a valid tree").start()))
    }

    async fn start_dynamic(p: &Arc<Probe>) -> Option<OursDyn> {
        let group = DynamicGroup::new()
            .backoff(Backoff::None)
            .intensity(Intensity::Unlimited);
        let handle = app()
            .child(Child::new("jobs", group.clone()))
            .build()
            .expect("a valid tree")
            .start();
        Some(OursDyn {
            handle,
            group,
            p: p.clone(),
            tokens: HashMap::new(),
        })
    }
}

/// Ten literal leaves, or ten literal subtrees; the macro fixes the fanout at 10.
fn macro_level(depth: u32, p: &Arc<Probe>) -> Tree {
    if depth == 1 {
        supervision_tree! {
            #[backoff(none), intensity(unlimited)]
            parallel g {
                c0: leaf(p.clone()),
                c1: leaf(p.clone()),
                c2: leaf(p.clone()),
                c3: leaf(p.clone()),
                c4: leaf(p.clone()),
                c5: leaf(p.clone()),
                c6: leaf(p.clone()),
                c7: leaf(p.clone()),
                c8: leaf(p.clone()),
                c9: leaf(p.clone()),
            }
        }
    } else {
        let d = depth - 1;
        supervision_tree! {
            #[backoff(none), intensity(unlimited)]
            parallel g {
                g0: macro_level(d, p),
                g1: macro_level(d, p),
                g2: macro_level(d, p),
                g3: macro_level(d, p),
                g4: macro_level(d, p),
                g5: macro_level(d, p),
                g6: macro_level(d, p),
                g7: macro_level(d, p),
                g8: macro_level(d, p),
                g9: macro_level(d, p),
            }
        }
    }
}

impl Impl for OursMacro {
    const NAME: &'static str = "ours (macro)";
    type Run = OursRun;
    type Dyn = NoDynamic;

    fn has_flat() -> bool {
        false
    }

    async fn start_flat(_: usize, _: &Arc<Probe>) -> OursRun {
        unreachable!("10,000 literal children are not a macro use case")
    }

    async fn start_flaky(fails: usize, p: &Arc<Probe>) -> Option<OursRun> {
        let tree = supervision_tree! {
            #[backoff(none), intensity(unlimited)]
            parallel app {
                c: flaky(p.clone(), fails),
            }
        };
        Some(OursRun(tree.start()))
    }

    async fn start_tree(depth: u32, fanout: usize, p: &Arc<Probe>) -> Option<OursRun> {
        if fanout != 10 {
            return None;
        }
        Some(OursRun(macro_level(depth, p).start()))
    }
}
