//! A small, pure reference model of the runtime semantics: how endings,
//! strategies, restart limits, completion, shutdown and dynamic groups
//! behave, as the runtime's rustdoc (`Restart`, `Strategy`, `Intensity`,
//! `Decay`, `Shutdown`, `Context`, `DynamicGroup`, `Tree`) and the README
//! describe them. The rules are written out below.
//!
//! The model is deliberately *time-free*: the property test only injects a
//! fault once the tree is quiescent, and every restart-intensity window it
//! generates is far longer than a whole test case (see [`WINDOW_HOURS`]), so
//! "more than N restarts inside D" becomes "more than N restarts since the
//! group's incarnation began or since the last [`Model::long_wait`]" (a wait
//! longer than every window, which expires all of them).
//!
//! What the model encodes, rule by rule:
//! - endings: `Ok` after `done()` is *done* (never restarted); other `Ok` is an
//!   *exit* (restarted for permanent only); `Err`/panic is a *failure*
//!   (restarted for permanent and transient); a temporary child is never
//!   restarted, not even with its group (OTP);
//! - strategies: one_for_one restarts the child, one_for_all every sibling,
//!   rest_for_one the child and the siblings started after it (sequential);
//!   a node that is done or stopped reruns when its group restarts it;
//! - intensity: restarts are counted per group incarnation, a group restarted
//!   by its parent starts a fresh count; past the limit the group stops all its
//!   children and fails to its parent (the child that crossed the limit is
//!   left `Failed`); decay never gives up;
//! - completion: when every child of a group has ended and nothing will
//!   restart, the group is done (for the root: the tree completes, `join()`
//!   is `Ok`); dynamic groups take children at runtime and never complete;
//! - shutdown: every running node is stopped; a leaf is aborted when its
//!   policy is brutal, when it ignores cancellation, or when its stop takes
//!   longer than its timeout;
//! - dynamic groups: one live child per key, keyed children permanent,
//!   counted against the group's own limit, restarted alone; `add` to a live
//!   key or to a group that is not running is an `Err`; `remove` stops the
//!   child for good and forgets it; a new incarnation of the group starts every
//!   registered key again.
//!
//! Two points the documentation leaves open, decided as an OTP user would
//! expect and written down here: a sequential sibling that ended for good
//! (stopped or failed, not restarting) does not block the start of the
//! siblings after it; the state of the child whose failure made its group
//! give up is `Failed`.

use std::collections::BTreeMap;

/// Length of every generated intensity window, in hours: far longer than any
/// test case, so that windows never expire by themselves.
pub const WINDOW_HOURS: u64 = 100;
/// A wait longer than every window: all restart counts expire.
pub const LONG_WAIT_HOURS: u64 = 2 * WINDOW_HOURS;

/// Restart strategy of a group.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Only the child that ended.
    OneForOne,
    /// Every child of the group.
    OneForAll,
    /// The child and the siblings started after it.
    RestForOne,
}

/// Restart type of a node.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Restarted after any ending but a stop or done.
    Permanent,
    /// Restarted after a failure only.
    Transient,
    /// Never restarted.
    Temporary,
}

/// How a group starts its children.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One after another.
    Sequential,
    /// All at once.
    Parallel,
}

/// A group's restart limit.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Limit {
    /// At most this many restarts inside the window.
    Max(u32),
    /// Never gives up.
    Unlimited,
    /// Failure decay (`half_life_ms`, `threshold`, `pause_ms`): never gives up.
    Decay(u64, f64, u64),
}

/// A leaf's shutdown policy.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Aborted at once.
    Brutal,
    /// Cancelled, aborted after this many milliseconds.
    TimeoutMs(u64),
}

/// A backoff policy (only its timing depends on it; the model ignores it).
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum BackoffSpec {
    /// Restart at once.
    None,
    /// Always this delay.
    FixedMs(u64),
    /// Exponential.
    Exp {
        /// First delay.
        initial_ms: u64,
        /// Largest delay.
        max_ms: u64,
        /// Growth factor.
        multiplier: f64,
        /// Relative spread.
        jitter: f64,
    },
}

/// A leaf of a generated tree.
#[derive(Clone, Debug)]
pub struct LeafSpec {
    /// Restart type.
    pub restart: Restart,
    /// Shutdown policy.
    pub stop: Stop,
    /// Own backoff, if any.
    pub backoff: Option<BackoffSpec>,
}

/// A group of a generated tree.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    /// Sequential or parallel.
    pub kind: Kind,
    /// Restart strategy.
    pub strategy: Strategy,
    /// Restart limit.
    pub limit: Limit,
    /// Default backoff of its children.
    pub backoff: Option<BackoffSpec>,
    /// Restart type as a child (ignored for the root).
    pub restart: Restart,
    /// Named children.
    pub children: Vec<(String, NodeSpec)>,
}

/// A dynamic group of a generated tree.
#[derive(Clone, Debug)]
pub struct DynSpec {
    /// Restart limit of its keyed children.
    pub max: u32,
    /// Backoff of its keyed children.
    pub backoff: BackoffSpec,
    /// Restart type as a child.
    pub restart: Restart,
}

/// A node of a generated tree.
#[derive(Clone, Debug)]
pub enum NodeSpec {
    /// A scriptable leaf.
    Leaf(LeafSpec),
    /// A nested group.
    Group(GroupSpec),
    /// A dynamic group.
    Dyn(DynSpec),
}

/// What the test does to a running leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Return `Err(msg)`.
    Fail(String),
    /// Panic with `msg`.
    Panic(String),
    /// Return `Ok(())` while a value in the future panics with `msg` when dropped.
    DropPanic(String),
    /// Return `Ok(())`.
    Exit,
    /// `ctx.done()`, then return `Ok(())`.
    DoneExit,
    /// Ignore cancellation from now on.
    Hang,
    /// On cancellation, take this many milliseconds before returning.
    SlowStop(u64),
}

/// A node's state once the tree is quiescent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Running (healthy: every generated leaf reports healthy at once).
    Running,
    /// Done.
    Done,
    /// Ended, will not restart.
    Stopped,
    /// Ended by failure, will not restart.
    Failed,
}

/// How the tree ended by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Over {
    /// Every child of the root ended and nothing restarts: `join()` is `Ok`.
    Completed,
    /// The root gave up: `join()` is an error naming this node.
    GaveUp {
        /// The root's child whose ending crossed the limit.
        node: String,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Ending {
    Exit,
    Fail,
    Done,
}

#[derive(Clone, Debug)]
struct Node {
    name: String,
    restart: Restart,
    state: State,
    body: Body,
}

#[derive(Clone, Debug)]
enum Body {
    Leaf {
        stop: Stop,
        hung: bool,
        slow_ms: Option<u64>,
        aborted: bool,
    },
    Group {
        kind: Kind,
        strategy: Strategy,
        max: Option<u32>,
        count: u32,
        children: Vec<Node>,
    },
    Dyn {
        max: u32,
        count: u32,
        children: Vec<Node>,
    },
}

/// Default shutdown timeout of a leaf (keyed children use it).
pub const LEAF_DEFAULT_STOP_MS: u64 = 5_000;

impl Node {
    fn children(&self) -> &[Node] {
        match &self.body {
            Body::Leaf { .. } => &[],
            Body::Group { children, .. } | Body::Dyn { children, .. } => children,
        }
    }

    fn children_mut(&mut self) -> &mut Vec<Node> {
        match &mut self.body {
            Body::Leaf { .. } => unreachable!("a leaf has no children"),
            Body::Group { children, .. } | Body::Dyn { children, .. } => children,
        }
    }

    fn keyed_leaf(name: String) -> Node {
        Node {
            name,
            restart: Restart::Permanent,
            state: State::Stopped,
            body: Body::Leaf {
                stop: Stop::TimeoutMs(LEAF_DEFAULT_STOP_MS),
                hung: false,
                slow_ms: None,
                aborted: false,
            },
        }
    }
}

/// The reference model of one running tree.
#[derive(Clone, Debug)]
pub struct Model {
    root: Node,
    /// Set once the tree has ended by itself.
    pub over: Option<Over>,
    starts: BTreeMap<String, u32>,
    gave_up_node: String,
}

fn join(parent: &str, name: &str) -> String {
    format!("{parent}.{name}")
}

fn lower(name: String, spec: &NodeSpec) -> Node {
    match spec {
        NodeSpec::Leaf(l) => Node {
            name,
            restart: l.restart,
            state: State::Stopped,
            body: Body::Leaf {
                stop: l.stop,
                hung: false,
                slow_ms: None,
                aborted: false,
            },
        },
        NodeSpec::Group(g) => {
            let children = g
                .children
                .iter()
                .map(|(n, c)| lower(join(&name, n), c))
                .collect();
            Node {
                name,
                restart: g.restart,
                state: State::Stopped,
                body: Body::Group {
                    kind: g.kind,
                    strategy: g.strategy,
                    max: match g.limit {
                        Limit::Max(m) => Some(m),
                        Limit::Unlimited | Limit::Decay(..) => None,
                    },
                    count: 0,
                    children,
                },
            }
        }
        NodeSpec::Dyn(d) => Node {
            name,
            restart: d.restart,
            state: State::Stopped,
            body: Body::Dyn {
                max: d.max,
                count: 0,
                children: Vec::new(),
            },
        },
    }
}

impl Model {
    /// The model of a tree whose root group is named `root_name`, just started.
    pub fn start(root_name: &str, root: &GroupSpec) -> Model {
        let mut m = Model {
            root: lower(root_name.to_owned(), &NodeSpec::Group(root.clone())),
            over: None,
            starts: BTreeMap::new(),
            gave_up_node: String::new(),
        };
        m.start_node(&[]);
        m
    }

    fn node(&self, path: &[usize]) -> &Node {
        let mut n = &self.root;
        for &i in path {
            n = &n.children()[i];
        }
        n
    }

    fn node_mut(&mut self, path: &[usize]) -> &mut Node {
        let mut n = &mut self.root;
        for &i in path {
            n = &mut n.children_mut()[i];
        }
        n
    }

    fn find(&self, name: &str) -> Option<Vec<usize>> {
        fn go(n: &Node, name: &str, path: &mut Vec<usize>) -> bool {
            if n.name == name {
                return true;
            }
            for (i, c) in n.children().iter().enumerate() {
                path.push(i);
                if go(c, name, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        let mut path = Vec::new();
        go(&self.root, name, &mut path).then_some(path)
    }

    fn start_node(&mut self, path: &[usize]) {
        let name = {
            let n = self.node_mut(path);
            n.state = State::Running;
            match &mut n.body {
                Body::Leaf {
                    hung,
                    slow_ms,
                    aborted,
                    ..
                } => {
                    *hung = false;
                    *slow_ms = None;
                    *aborted = false;
                    Some(n.name.clone())
                }
                Body::Group { count, .. } | Body::Dyn { count, .. } => {
                    *count = 0;
                    None
                }
            }
        };
        match name {
            Some(name) => *self.starts.entry(name).or_default() += 1,
            None => {
                let k = self.node(path).children().len();
                for i in 0..k {
                    let mut p = path.to_vec();
                    p.push(i);
                    self.start_node(&p);
                }
            }
        }
    }

    /// Stops a node if it runs (its subtree too), recording aborts.
    fn stop_node(&mut self, path: &[usize]) {
        let n = self.node_mut(path);
        if n.state != State::Running {
            return;
        }
        n.state = State::Stopped;
        let k = match &mut n.body {
            Body::Leaf {
                stop,
                hung,
                slow_ms,
                aborted,
            } => {
                *aborted = match *stop {
                    Stop::Brutal => true,
                    Stop::TimeoutMs(t) => *hung || slow_ms.is_some_and(|s| s > t),
                };
                *hung = false;
                *slow_ms = None;
                return;
            }
            Body::Group { children, .. } | Body::Dyn { children, .. } => children.len(),
        };
        for i in 0..k {
            let mut p = path.to_vec();
            p.push(i);
            self.stop_node(&p);
        }
    }

    /// The node at `path` has ended with `ending` (its subtree already ended).
    fn end(&mut self, path: &[usize], ending: Ending) {
        let ended_state = match ending {
            Ending::Exit => State::Stopped,
            Ending::Fail => State::Failed,
            Ending::Done => State::Done,
        };
        {
            let n = self.node_mut(path);
            n.state = ended_state;
            if let Body::Leaf { hung, slow_ms, .. } = &mut n.body {
                *hung = false;
                *slow_ms = None;
            }
        }
        let Some((&idx, ppath)) = path.split_last() else {
            self.over = Some(match ending {
                Ending::Fail => Over::GaveUp {
                    node: self.gave_up_node.clone(),
                },
                _ => Over::Completed,
            });
            return;
        };
        let restart_type = self.node(path).restart;
        let restarts = match ending {
            Ending::Exit => restart_type == Restart::Permanent,
            Ending::Fail => restart_type != Restart::Temporary,
            Ending::Done => false,
        };
        if !restarts {
            self.maybe_complete(ppath);
            return;
        }
        let name = self.node(path).name.clone();
        let parent = self.node_mut(ppath);
        let (limit, members) = match &mut parent.body {
            Body::Leaf { .. } => unreachable!(),
            Body::Group {
                kind,
                strategy,
                max,
                count,
                children,
            } => {
                *count += 1;
                let over = max.is_some_and(|m| *count > m);
                let n = children.len();
                let set: Vec<usize> = match (strategy, kind) {
                    (Strategy::OneForOne, _) | (Strategy::RestForOne, Kind::Parallel) => vec![idx],
                    (Strategy::OneForAll, _) => (0..n).collect(),
                    (Strategy::RestForOne, Kind::Sequential) => (idx..n).collect(),
                };
                (over, set)
            }
            Body::Dyn { max, count, .. } => {
                *count += 1;
                (*count > *max, vec![idx])
            }
        };
        if limit {
            self.give_up(ppath, idx, name);
            return;
        }
        for m in members {
            let mut p = ppath.to_vec();
            p.push(m);
            let temporary = self.node(&p).restart == Restart::Temporary;
            self.stop_node(&p);
            if m == idx || !temporary {
                self.start_node(&p);
            }
        }
    }

    fn give_up(&mut self, gpath: &[usize], idx: usize, name: String) {
        let k = self.node(gpath).children().len();
        for i in 0..k {
            let mut p = gpath.to_vec();
            p.push(i);
            if i == idx {
                self.node_mut(&p).state = State::Failed;
            } else {
                self.stop_node(&p);
            }
        }
        if gpath.is_empty() {
            self.gave_up_node = name;
        }
        self.end(gpath, Ending::Fail);
    }

    fn maybe_complete(&mut self, gpath: &[usize]) {
        let n = self.node(gpath);
        if n.state != State::Running || !matches!(n.body, Body::Group { .. }) {
            return;
        }
        if n.children().iter().all(|c| c.state != State::Running) {
            self.end(gpath, Ending::Done);
        }
    }

    /// Applies a fault to the running leaf `leaf` (a tree at rest).
    pub fn fault(&mut self, leaf: &str, f: &Fault) {
        let path = self.find(leaf).expect("a leaf of the model");
        match f {
            Fault::Hang => {
                if let Body::Leaf { hung, .. } = &mut self.node_mut(&path).body {
                    *hung = true;
                }
            }
            Fault::SlowStop(ms) => {
                if let Body::Leaf { slow_ms, .. } = &mut self.node_mut(&path).body {
                    *slow_ms = Some(*ms);
                }
            }
            Fault::Fail(_) | Fault::Panic(_) | Fault::DropPanic(_) => self.end(&path, Ending::Fail),
            Fault::Exit => self.end(&path, Ending::Exit),
            Fault::DoneExit => self.end(&path, Ending::Done),
        }
    }

    /// `add(key)` on dynamic group `dyn_name`: whether it succeeds.
    pub fn dyn_add(&mut self, dyn_name: &str, key: &str) -> bool {
        let path = self.find(dyn_name).expect("a dynamic group of the model");
        if self.node(&path).state != State::Running {
            return false;
        }
        let name = join(dyn_name, key);
        let existing = self
            .node(&path)
            .children()
            .iter()
            .position(|c| c.name == name);
        let i = match existing {
            Some(i) if self.node(&path).children()[i].state == State::Running => return false,
            Some(i) => i,
            None => {
                let children = self.node_mut(&path).children_mut();
                children.push(Node::keyed_leaf(name));
                children.len() - 1
            }
        };
        let mut p = path;
        p.push(i);
        self.start_node(&p);
        true
    }

    /// `remove(token)` of the child under `key` (the token is current).
    pub fn dyn_remove(&mut self, dyn_name: &str, key: &str) {
        let path = self.find(dyn_name).expect("a dynamic group of the model");
        let name = join(dyn_name, key);
        if let Some(i) = self
            .node(&path)
            .children()
            .iter()
            .position(|c| c.name == name)
        {
            self.node_mut(&path).children_mut().remove(i);
        }
    }

    /// Time passes beyond every intensity window: all counts expire.
    pub fn long_wait(&mut self) {
        fn go(n: &mut Node) {
            match &mut n.body {
                Body::Leaf { .. } => {}
                Body::Group {
                    count, children, ..
                }
                | Body::Dyn {
                    count, children, ..
                } => {
                    *count = 0;
                    children.iter_mut().for_each(go);
                }
            }
        }
        go(&mut self.root);
    }

    /// A shutdown of a tree that has not ended: everything running stops.
    pub fn shutdown(&mut self) {
        if self.over.is_none() {
            self.stop_node(&[]);
        }
    }

    /// Leaves that run and still obey commands (not hung), in tree order.
    pub fn commandable_leaves(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.visit(&mut |n| {
            if let Body::Leaf { hung: false, .. } = n.body {
                if n.state == State::Running {
                    out.push(n.name.clone());
                }
            }
        });
        out
    }

    /// Every dynamic group, in tree order.
    pub fn dyn_groups(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.visit(&mut |n| {
            if let Body::Dyn { .. } = n.body {
                out.push(n.name.clone());
            }
        });
        out
    }

    fn visit(&self, f: &mut dyn FnMut(&Node)) {
        fn go(n: &Node, f: &mut dyn FnMut(&Node)) {
            f(n);
            for c in n.children() {
                go(c, f);
            }
        }
        go(&self.root, f);
    }

    /// The state of every node (groups included).
    pub fn states(&self) -> BTreeMap<String, State> {
        let mut out = BTreeMap::new();
        self.visit(&mut |n| {
            out.insert(n.name.clone(), n.state);
        });
        out
    }

    /// How many times each leaf has been started.
    pub fn starts(&self) -> &BTreeMap<String, u32> {
        &self.starts
    }

    /// Leaves whose last incarnation had to be aborted.
    pub fn aborted(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.visit(&mut |n| {
            if let Body::Leaf { aborted: true, .. } = n.body {
                out.push(n.name.clone());
            }
        });
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(restart: Restart) -> NodeSpec {
        NodeSpec::Leaf(LeafSpec {
            restart,
            stop: Stop::TimeoutMs(1000),
            backoff: None,
        })
    }

    fn group(kind: Kind, strategy: Strategy, limit: Limit, children: Vec<NodeSpec>) -> GroupSpec {
        GroupSpec {
            kind,
            strategy,
            limit,
            backoff: None,
            restart: Restart::Permanent,
            children: children
                .into_iter()
                .enumerate()
                .map(|(i, c)| (format!("n{i}"), c))
                .collect(),
        }
    }

    #[test]
    fn rest_for_one_restarts_later_siblings_only() {
        let g = group(
            Kind::Sequential,
            Strategy::RestForOne,
            Limit::Max(3),
            vec![
                leaf(Restart::Permanent),
                leaf(Restart::Permanent),
                leaf(Restart::Permanent),
            ],
        );
        let mut m = Model::start("app", &g);
        m.fault("app.n1", &Fault::Fail("x".into()));
        assert_eq!(m.starts()["app.n0"], 1);
        assert_eq!(m.starts()["app.n1"], 2);
        assert_eq!(m.starts()["app.n2"], 2);
    }

    #[test]
    fn temporary_siblings_are_not_restarted_with_the_group() {
        let g = group(
            Kind::Parallel,
            Strategy::OneForAll,
            Limit::Max(3),
            vec![leaf(Restart::Permanent), leaf(Restart::Temporary)],
        );
        let mut m = Model::start("app", &g);
        m.fault("app.n0", &Fault::Panic("x".into()));
        assert_eq!(m.starts()["app.n1"], 1);
        assert_eq!(m.states()["app.n1"], State::Stopped);
        assert_eq!(m.states()["app.n0"], State::Running);
    }

    #[test]
    fn past_its_limit_a_group_fails_to_its_parent() {
        let inner = group(
            Kind::Parallel,
            Strategy::OneForOne,
            Limit::Max(0),
            vec![leaf(Restart::Permanent)],
        );
        let mut root = group(Kind::Parallel, Strategy::OneForOne, Limit::Max(0), vec![]);
        root.children = vec![("g".into(), NodeSpec::Group(inner))];
        let mut m = Model::start("app", &root);
        m.fault("app.g.n0", &Fault::Fail("x".into()));
        assert_eq!(
            m.over,
            Some(Over::GaveUp {
                node: "app.g".into()
            })
        );
    }

    #[test]
    fn a_group_whose_children_all_ended_is_done_and_the_tree_completes() {
        let g = group(
            Kind::Sequential,
            Strategy::RestForOne,
            Limit::Max(3),
            vec![leaf(Restart::Transient), leaf(Restart::Temporary)],
        );
        let mut m = Model::start("app", &g);
        m.fault("app.n0", &Fault::Exit);
        assert_eq!(m.over, None);
        m.fault("app.n1", &Fault::Fail("x".into()));
        assert_eq!(m.over, Some(Over::Completed));
    }

    #[test]
    fn dynamic_keys_are_one_live_child_each() {
        let mut root = group(Kind::Parallel, Strategy::OneForOne, Limit::Max(3), vec![]);
        root.children = vec![(
            "d".into(),
            NodeSpec::Dyn(DynSpec {
                max: 1,
                backoff: BackoffSpec::None,
                restart: Restart::Permanent,
            }),
        )];
        let mut m = Model::start("app", &root);
        assert!(m.dyn_add("app.d", "k"));
        assert!(!m.dyn_add("app.d", "k"));
        m.fault("app.d.k", &Fault::Fail("x".into()));
        assert_eq!(m.starts()["app.d.k"], 2);
        m.fault("app.d.k", &Fault::Fail("y".into()));
        // The dynamic group gave up; its parent restarted it with the key.
        assert_eq!(m.starts()["app.d.k"], 3);
        m.dyn_remove("app.d", "k");
        assert!(!m.states().contains_key("app.d.k"));
    }
}
