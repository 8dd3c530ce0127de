//! The builder: groups and children as plain values, checked once by
//! [`Group::build`] (or when the tree starts).
//!
//! ```
//! use std::time::Duration;
//! use supervisor_runtime::{Child, Context, Group, Intensity, Restart, Strategy};
//!
//! async fn worker(ctx: Context) -> Result<(), std::io::Error> {
//!     ctx.healthy();
//!     ctx.cancelled().await;
//!     Ok(())
//! }
//!
//! let tree = Group::sequential("app")
//!     .intensity(Intensity::new(5, Duration::from_secs(10)))
//!     .child(Child::new("db", worker))
//!     .child(Child::new("migrate", worker).restart(Restart::Transient))
//!     .group(
//!         Group::parallel("web")
//!             .strategy(Strategy::OneForAll)
//!             .child(Child::new("http", worker))
//!             .child(Child::new("admin", worker).after(["http"])),
//!     )
//!     .build()
//!     .expect("a well-formed tree");
//! # drop(tree);
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::group::GroupRunnable;
use crate::options::{AutoShutdown, Backoff, Decay, Intensity, Restart, Shutdown, Strategy};
use crate::runnable::{BoxRunnable, Runnable};
use crate::tree::Tree;

/// Whether a group starts its children one after another or all at once.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupKind {
    /// Child `i+1` starts once child `i` is healthy or done; stop runs in reverse.
    Sequential,
    /// All children start at once (honouring `after` edges) and stop at once
    /// (dependents before the siblings they depend on).
    Parallel,
}

/// The options a tree may set on one node, whatever its kind.
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeOptions {
    pub(crate) restart: Option<Restart>,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) shutdown: Option<Shutdown>,
    pub(crate) start_timeout: Option<Duration>,
    pub(crate) ready_on_start: bool,
    pub(crate) after: Vec<String>,
    pub(crate) watchdog: Option<Duration>,
    pub(crate) significant: bool,
}

/// A leaf of the tree: a name and a [`Runnable`], with its options.
///
/// Every option defaults to what the runnable carries (see [`Defaults`](crate::Defaults)) and
/// then to the group's defaults.
#[must_use = "a child does nothing until it is added to a group"]
pub struct Child {
    pub(crate) name: String,
    pub(crate) runnable: BoxRunnable,
    pub(crate) opts: NodeOptions,
}

impl Child {
    /// A child named `name` (1–64 characters of `a-z`, `0-9`, `_`, `-`) running `runnable`.
    pub fn new(name: impl Into<String>, runnable: impl Runnable) -> Self {
        Child {
            name: name.into(),
            runnable: runnable.boxed(),
            opts: NodeOptions::default(),
        }
    }

    /// Which endings restart this child. Default: the runnable's, else permanent.
    pub fn restart(mut self, r: Restart) -> Self {
        self.opts.restart = Some(r);
        self
    }

    /// Delay before each restart. Default: the group's backoff.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.opts.backoff = Some(b);
        self
    }

    /// How long a stop may take. Default: the runnable's, else 5 s.
    pub fn shutdown(mut self, s: Shutdown) -> Self {
        self.opts.shutdown = Some(s);
        self
    }

    /// Not healthy within `d` counts as a failed start. Default: no limit.
    pub fn start_timeout(mut self, d: Duration) -> Self {
        self.opts.start_timeout = Some(d);
        self
    }

    /// Healthy as soon as it runs, without `ctx.healthy()`. Default: the runnable's, else off.
    pub fn ready_on_start(mut self) -> Self {
        self.opts.ready_on_start = true;
        self
    }

    /// In a parallel group: start only once these siblings are healthy or done.
    pub fn after<I, S>(mut self, siblings: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.opts.after.extend(siblings.into_iter().map(Into::into));
        self
    }

    /// Liveness: once healthy, the child must call
    /// [`ctx.alive()`](crate::Context::alive) at least every `timeout`;
    /// silence for `timeout` is a failure ("no heartbeat for 10s"),
    /// restarted through the same backoff and limits as any failure.
    /// `timeout` must be above zero. Default: no watchdog.
    pub fn watchdog(mut self, timeout: Duration) -> Self {
        self.opts.watchdog = Some(timeout);
        self
    }

    /// Marks a transient or temporary child as *significant* (OTP 24): its
    /// ending for good may end its group, as the group's
    /// [`AutoShutdown`] says. On a permanent child it is an error at
    /// [`Group::build`].
    pub fn significant(mut self) -> Self {
        self.opts.significant = true;
        self
    }
}

/// A group of children: sequential or parallel, with a restart strategy and limits.
///
/// Defaults: strategy rest_for_one (sequential) or one_for_one (parallel);
/// intensity 3 restarts within 5 s (unlimited with [`decay`](Group::decay));
/// backoff exponential 100 ms × 2 up to 30 s, ±20 %; as a child: permanent,
/// shutdown infinity (its children have their own timeouts).
#[must_use = "a group does nothing until it is built into a tree or added to a parent"]
pub struct Group {
    pub(crate) name: String,
    pub(crate) kind: GroupKind,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) intensity: Option<Intensity>,
    pub(crate) decay: Option<Decay>,
    pub(crate) auto_shutdown: AutoShutdown,
    pub(crate) children: Vec<Node>,
    pub(crate) opts: NodeOptions,
}

pub(crate) enum Node {
    Leaf(Child),
    Group(Group),
}

impl Node {
    fn name(&self) -> &str {
        match self {
            Node::Leaf(c) => &c.name,
            Node::Group(g) => &g.name,
        }
    }

    fn opts(&self) -> &NodeOptions {
        match self {
            Node::Leaf(c) => &c.opts,
            Node::Group(g) => &g.opts,
        }
    }
}

impl Group {
    /// A group whose children start one after another.
    pub fn sequential(name: impl Into<String>) -> Self {
        Self::new(name.into(), GroupKind::Sequential)
    }

    /// A group whose children start all at once.
    pub fn parallel(name: impl Into<String>) -> Self {
        Self::new(name.into(), GroupKind::Parallel)
    }

    fn new(name: String, kind: GroupKind) -> Self {
        Group {
            name,
            kind,
            strategy: None,
            intensity: None,
            decay: None,
            auto_shutdown: AutoShutdown::Never,
            children: Vec::new(),
            opts: NodeOptions::default(),
        }
    }

    /// When the group ends because its [significant](Child::significant)
    /// children have ended for good (OTP 24's `auto_shutdown`). Default:
    /// [`AutoShutdown::Never`]. Any other value on a group with no
    /// significant child is an error at [`Group::build`].
    pub fn auto_shutdown(mut self, a: AutoShutdown) -> Self {
        self.auto_shutdown = a;
        self
    }

    /// As a transient or temporary child of another group: its ending for
    /// good may end that group (see [`Child::significant`]).
    pub fn significant(mut self) -> Self {
        self.opts.significant = true;
        self
    }

    /// What else restarts when a child fails.
    pub fn strategy(mut self, s: Strategy) -> Self {
        self.strategy = Some(s);
        self
    }

    /// Restart limit; past it the group gives up and fails to its parent.
    pub fn intensity(mut self, i: Intensity) -> Self {
        self.intensity = Some(i);
        self
    }

    /// Failure decay instead of an intensity limit (see [`Decay`]).
    pub fn decay(mut self, d: Decay) -> Self {
        self.decay = Some(d);
        self
    }

    /// Default backoff for this group's children.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.opts.backoff = Some(b);
        self
    }

    /// As a child of another group: which endings restart this group.
    pub fn restart(mut self, r: Restart) -> Self {
        self.opts.restart = Some(r);
        self
    }

    /// As a child: how long its stop may take before its task is aborted.
    pub fn shutdown(mut self, s: Shutdown) -> Self {
        self.opts.shutdown = Some(s);
        self
    }

    /// As a child: not healthy within `d` counts as a failed start.
    pub fn start_timeout(mut self, d: Duration) -> Self {
        self.opts.start_timeout = Some(d);
        self
    }

    /// As a child of a parallel group: start only once these siblings are healthy or done.
    pub fn after<I, S>(mut self, siblings: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.opts.after.extend(siblings.into_iter().map(Into::into));
        self
    }

    /// Adds a leaf.
    pub fn child(mut self, c: Child) -> Self {
        self.children.push(Node::Leaf(c));
        self
    }

    /// Adds a nested group.
    pub fn group(mut self, g: Group) -> Self {
        self.children.push(Node::Group(g));
        self
    }

    /// Checks the whole tree (names, duplicates, `after` edges, cycles) and
    /// returns it ready to start.
    pub fn build(self) -> Result<Tree, Error> {
        let spec = self.compile("")?;
        Ok(Tree::from_spec(spec))
    }

    /// Checks and lowers this group; `parent` is the distinguished name of
    /// the enclosing group, for messages.
    /// Checks and lowers this group and everything below it; `parent` is the
    /// distinguished name of the enclosing group, for messages.
    ///
    /// Iterative, with an explicit stack: a chain of thousands of nested
    /// groups builds on a small thread stack.
    pub(crate) fn compile(self, parent: &str) -> Result<Arc<GroupSpec>, Error> {
        let mut stack = vec![self.open(parent, None)?];
        loop {
            let top = stack
                .last_mut()
                .expect("the stack holds the root until it returns");
            match top.children.next() {
                Some(Node::Leaf(c)) => top.built.push(ChildSpec::new(c.name, c.runnable, c.opts)),
                Some(Node::Group(g)) => {
                    // A group's own `backoff` is the default of its children; as
                    // a child it restarts with its parent's default.
                    let mut opts = g.opts.clone();
                    opts.backoff = None;
                    let as_child = (g.name.clone(), opts);
                    let path = top.path.clone();
                    let frame = g.open(&path, Some(as_child))?;
                    stack.push(frame);
                }
                None => {
                    let frame = stack.pop().expect("non-empty");
                    let (as_child, spec) = frame.finish();
                    match (stack.last_mut(), as_child) {
                        (Some(parent), Some((name, opts))) => parent.built.push(ChildSpec::new(
                            name,
                            GroupRunnable::new(spec).boxed(),
                            opts,
                        )),
                        _ => return Ok(spec),
                    }
                }
            }
        }
    }

    /// Checks one level (names, options, `after` edges) and returns the frame
    /// that collects its lowered children.
    fn open(
        mut self,
        parent: &str,
        as_child: Option<(String, NodeOptions)>,
    ) -> Result<Frame, Error> {
        let path = join_name(parent, &self.name);
        check_name(&self.name).map_err(|e| at(e, &path))?;
        if self.decay.is_some() && self.intensity.is_some() {
            return Err(invalid(&path, "`intensity` and `decay` cannot be combined"));
        }
        if let Some(Intensity::Limited { within, .. }) = self.intensity {
            if within.is_zero() {
                return Err(invalid(&path, "`intensity(within)` must be above zero"));
            }
        }
        if let Some(d) = &self.decay {
            if d.half_life.is_zero()
                || d.pause.is_zero()
                || d.threshold.is_nan()
                || d.threshold <= 0.0
            {
                return Err(invalid(
                    &path,
                    "`decay` needs a non-zero half_life and pause and a positive threshold",
                ));
            }
        }
        if self.children.is_empty() {
            return Err(invalid(&path, "a group needs at least one child"));
        }
        let n = self.children.len();
        let (deps, order) = {
            // Borrowed names and a map: checking 100k siblings stays linear.
            let names: Vec<&str> = self.children.iter().map(Node::name).collect();
            let mut index: HashMap<&str, u32> = HashMap::with_capacity(n);
            for (i, name) in names.iter().enumerate() {
                check_name(name).map_err(|e| at(e, &join_name(&path, name)))?;
                if index.insert(name, i as u32).is_some() {
                    return Err(Error::new(
                        ErrorKind::DuplicateName,
                        Some(join_name(&path, name)),
                        format!(
                            "`{path}` has two children named `{name}`; sibling names must differ"
                        ),
                    ));
                }
            }
            let mut deps: Vec<Vec<u32>> = vec![Vec::new(); n];
            for (i, child) in self.children.iter().enumerate() {
                let after = &child.opts().after;
                if !after.is_empty() && self.kind == GroupKind::Sequential {
                    return Err(invalid(
                        &join_name(&path, names[i]),
                        "`after` is only valid in a parallel group (a sequential group already starts in order)",
                    ));
                }
                for a in after {
                    let Some(&j) = index.get(a.as_str()) else {
                        return Err(invalid(
                            &join_name(&path, names[i]),
                            &format!("`after({a})` names no sibling of `{}`", names[i]),
                        ));
                    };
                    if j as usize == i {
                        return Err(invalid(
                            &join_name(&path, a),
                            "a child cannot start after itself",
                        ));
                    }
                    if !deps[i].contains(&j) {
                        deps[i].push(j);
                    }
                }
                if self.kind == GroupKind::Sequential && i > 0 {
                    deps[i].push(i as u32 - 1);
                }
            }
            let order = topo_order(&deps).map_err(|cycle| {
                let mut s = String::new();
                for (k, ix) in cycle.iter().enumerate() {
                    if k > 0 {
                        s.push_str(" → ");
                    }
                    let _ = write!(s, "{}", names[*ix as usize]);
                }
                invalid(&path, &format!("`after` edges form a cycle: {s}"))
            })?;
            (deps, order)
        };
        let strategy = self.strategy.unwrap_or(match self.kind {
            GroupKind::Sequential => Strategy::RestForOne,
            GroupKind::Parallel => Strategy::OneForOne,
        });
        let intensity = match (self.intensity, self.decay) {
            (Some(i), _) => i,
            (None, Some(_)) => Intensity::Unlimited,
            (None, None) => Intensity::default(),
        };
        let mut dependents = vec![Vec::new(); n];
        for (i, ds) in deps.iter().enumerate() {
            for &d in ds {
                dependents[d as usize].push(i as u32);
            }
        }
        let children = std::mem::take(&mut self.children);
        Ok(Frame {
            spec: GroupSpec {
                name: std::mem::take(&mut self.name).into_boxed_str(),
                strategy,
                intensity,
                decay: self.decay,
                backoff: self.opts.backoff.unwrap_or_default(),
                children: Vec::new(),
                deps: Edges::from_lists(&deps),
                dependents: Edges::from_lists(&dependents),
                order,
            },
            built: Vec::with_capacity(n),
            children: children.into_iter(),
            path,
            as_child,
        })
    }
}

/// One group being lowered: its checked head and the children done so far.
struct Frame {
    spec: GroupSpec,
    built: Vec<ChildSpec>,
    children: std::vec::IntoIter<Node>,
    path: String,
    as_child: Option<(String, NodeOptions)>,
}

impl Frame {
    fn finish(self) -> (Option<(String, NodeOptions)>, Arc<GroupSpec>) {
        let Frame {
            mut spec,
            built,
            as_child,
            ..
        } = self;
        spec.children = built;
        (as_child, Arc::new(spec))
    }
}

impl Drop for GroupSpec {
    fn drop(&mut self) {
        crate::flat_drop::drop_flat(std::mem::take(&mut self.children));
    }
}

/// Dropping a deeply nested builder value would recurse once per level:
/// take the nested groups apart one at a time instead.
impl Drop for Group {
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.children);
        while let Some(node) = pending.pop() {
            if let Node::Group(mut g) = node {
                pending.append(&mut g.children);
            }
        }
    }
}

fn invalid(node: &str, msg: &str) -> Error {
    Error::new(
        ErrorKind::InvalidTree,
        Some(node.to_owned()),
        format!("`{node}`: {msg}"),
    )
}

fn at(e: Error, node: &str) -> Error {
    Error::new(e.kind(), Some(node.to_owned()), format!("`{node}`: {e}"))
}

pub(crate) fn join_name(parent: &str, name: &str) -> String {
    if name.is_empty() {
        parent.to_owned()
    } else if parent.is_empty() {
        name.to_owned()
    } else {
        let mut s = String::with_capacity(parent.len() + 1 + name.len());
        s.push_str(parent);
        s.push('.');
        s.push_str(name);
        s
    }
}

/// Checks the runtime name rule: 1–64 characters of `[a-z0-9_-]`.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::invalid_name(name, "it is empty"));
    }
    if name.len() > 64 {
        return Err(Error::invalid_name(name, "it is longer than 64 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(Error::invalid_name(name, &format!("it contains {c:?}")));
    }
    Ok(())
}

/// A start order respecting `deps`, or a cycle (closed: first == last).
fn topo_order(deps: &[Vec<u32>]) -> Result<Vec<u32>, Vec<u32>> {
    // 0 = unvisited, 1 = on stack, 2 = done
    let n = deps.len();
    let mut mark = vec![0u8; n];
    let mut order = Vec::with_capacity(n);
    let mut stack: Vec<(u32, usize)> = Vec::new();
    for start in 0..n as u32 {
        if mark[start as usize] != 0 {
            continue;
        }
        stack.push((start, 0));
        mark[start as usize] = 1;
        while let Some((v, k)) = stack.last_mut() {
            let v = *v;
            if let Some(&d) = deps[v as usize].get(*k) {
                *k += 1;
                match mark[d as usize] {
                    0 => {
                        mark[d as usize] = 1;
                        stack.push((d, 0));
                    }
                    1 => {
                        let pos = stack.iter().position(|(x, _)| *x == d).unwrap_or(0);
                        let mut cycle: Vec<u32> = stack[pos..].iter().map(|(x, _)| *x).collect();
                        cycle.push(d);
                        // `deps` point backwards (a depends on b); print in start direction.
                        cycle.reverse();
                        return Err(cycle);
                    }
                    _ => {}
                }
            } else {
                mark[v as usize] = 2;
                order.push(v);
                stack.pop();
            }
        }
    }
    Ok(order)
}

/// Edges between siblings, flat: 8 bytes per child when there are any,
/// nothing at all when there are none.
#[derive(Default, Debug)]
pub(crate) struct Edges {
    offsets: Vec<u32>,
    list: Vec<u32>,
}

impl Edges {
    pub(crate) fn from_lists(lists: &[Vec<u32>]) -> Self {
        if lists.iter().all(Vec::is_empty) {
            return Edges::default();
        }
        let mut offsets = Vec::with_capacity(lists.len() + 1);
        let mut list = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        offsets.push(0);
        for l in lists {
            list.extend_from_slice(l);
            offsets.push(list.len() as u32);
        }
        Edges { offsets, list }
    }

    /// The edges of sibling `i` (none for children added at runtime).
    pub(crate) fn get(&self, i: u32) -> &[u32] {
        let i = i as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.list[a as usize..b as usize],
            _ => &[],
        }
    }
}

/// A checked group, shared by all its incarnations.
pub(crate) struct GroupSpec {
    pub(crate) name: Box<str>,
    pub(crate) strategy: Strategy,
    pub(crate) intensity: Intensity,
    pub(crate) decay: Option<Decay>,
    pub(crate) backoff: Backoff,
    pub(crate) children: Vec<ChildSpec>,
    /// `deps.get(i)`: siblings that must be healthy or done before child `i` starts.
    pub(crate) deps: Edges,
    /// `dependents[i]`: siblings that list `i` in their deps.
    pub(crate) dependents: Edges,
    /// A start order consistent with `deps` (stop order is its reverse).
    pub(crate) order: Vec<u32>,
}

/// A checked child. Options a child does not set live in no allocation at all.
pub(crate) struct ChildSpec {
    /// Empty for an anonymous group, whose children take their names directly
    /// under the group's parent.
    pub(crate) name: Arc<str>,
    pub(crate) runnable: BoxRunnable,
    opts: Option<Box<ChildOpts>>,
}

#[derive(Default)]
struct ChildOpts {
    restart: Option<Restart>,
    backoff: Option<Backoff>,
    shutdown: Option<Shutdown>,
    start_timeout: Option<Duration>,
    ready_on_start: bool,
}

impl ChildSpec {
    pub(crate) fn new(name: String, runnable: BoxRunnable, o: NodeOptions) -> Self {
        let opts = if o.restart.is_none()
            && o.backoff.is_none()
            && o.shutdown.is_none()
            && o.start_timeout.is_none()
            && !o.ready_on_start
        {
            None
        } else {
            Some(Box::new(ChildOpts {
                restart: o.restart,
                backoff: o.backoff,
                shutdown: o.shutdown,
                start_timeout: o.start_timeout,
                ready_on_start: o.ready_on_start,
            }))
        };
        ChildSpec {
            name: name.into(),
            runnable,
            opts,
        }
    }

    /// An anonymous group (`ctx.spawn_group`): no name of its own.
    pub(crate) fn anonymous(runnable: BoxRunnable) -> Self {
        ChildSpec {
            name: "".into(),
            runnable,
            opts: None,
        }
    }

    pub(crate) fn restart(&self) -> Restart {
        self.opts
            .as_ref()
            .and_then(|o| o.restart)
            .or_else(|| self.runnable.__defaults().restart)
            .unwrap_or_default()
    }

    pub(crate) fn backoff<'a>(&'a self, group_default: &'a Backoff) -> &'a Backoff {
        self.opts
            .as_ref()
            .and_then(|o| o.backoff.as_ref())
            .unwrap_or(group_default)
    }

    pub(crate) fn shutdown(&self) -> Shutdown {
        self.opts
            .as_ref()
            .and_then(|o| o.shutdown)
            .or_else(|| self.runnable.__defaults().shutdown)
            .unwrap_or(if self.runnable.__is_group() {
                Shutdown::Infinity
            } else {
                Shutdown::LEAF_DEFAULT
            })
    }

    pub(crate) fn start_timeout(&self) -> Option<Duration> {
        self.opts.as_ref().and_then(|o| o.start_timeout)
    }

    pub(crate) fn ready_on_start(&self) -> bool {
        self.opts.as_ref().is_some_and(|o| o.ready_on_start)
            || self.runnable.__defaults().ready_on_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;

    async fn idle(ctx: Context) -> Result<(), std::io::Error> {
        ctx.cancelled().await;
        Ok(())
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "A", "a.b", "a b", &"x".repeat(65)] {
            let e = Group::parallel("app")
                .child(Child::new(bad, idle))
                .build()
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{bad:?}: {e}");
        }
        let ok = Group::parallel("app")
            .child(Child::new("a-b_0", idle))
            .build();
        assert!(ok.is_ok());
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let e = Group::parallel("app")
            .child(Child::new("a", idle))
            .group(Group::sequential("a").child(Child::new("x", idle)))
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DuplicateName);
        assert_eq!(e.node(), Some("app.a"));
    }

    #[test]
    fn after_cycles_are_printed_by_name() {
        let e = Group::parallel("app")
            .child(Child::new("a", idle).after(["b"]))
            .child(Child::new("b", idle).after(["a"]))
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidTree);
        assert!(
            e.to_string().contains("a → b → a") || e.to_string().contains("b → a → b"),
            "{e}"
        );
    }

    #[test]
    fn after_must_name_a_sibling_of_a_parallel_group() {
        let unknown = Group::parallel("app")
            .child(Child::new("a", idle).after(["zzz"]))
            .build()
            .unwrap_err();
        assert!(unknown.to_string().contains("zzz"), "{unknown}");
        let seq = Group::sequential("app")
            .child(Child::new("a", idle))
            .child(Child::new("b", idle).after(["a"]))
            .build()
            .unwrap_err();
        assert!(seq.to_string().contains("parallel"), "{seq}");
    }

    #[test]
    fn empty_group_and_intensity_with_decay_are_rejected() {
        assert!(Group::parallel("app").build().is_err());
        let e = Group::parallel("app")
            .intensity(Intensity::new(1, Duration::from_secs(1)))
            .decay(Decay::new(
                Duration::from_secs(1),
                1.0,
                Duration::from_secs(1),
            ))
            .child(Child::new("a", idle))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("decay"), "{e}");
    }

    #[test]
    fn start_order_respects_after_edges() {
        let deps = vec![vec![2], vec![], vec![1]];
        assert_eq!(topo_order(&deps).unwrap(), vec![1, 2, 0]);
    }
}
