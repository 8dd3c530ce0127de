//! Checking a declared tree and lowering it into specs: names, duplicates,
//! options that do not go together, `after` edges, start order and cycles.
//!
//! Iterative, with an explicit stack: a chain of thousands of nested groups
//! is checked on a small thread stack. Checking 100,000 siblings stays
//! linear (borrowed names and one map per level).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::decl::{Decl, GroupDecl, GroupKind, NodeOptions};
use super::model::{ChildOpts, ChildSpec, Edges, GroupSpec, Leaf};
use super::name::{check_name, join_name, Name};
use super::options::{AutoShutdown, Intensity, Restart, Strategy};
use crate::error::{Error, ErrorKind};

/// Checks `root` and everything below it and lowers it into specs. `wrap`
/// turns the spec of a nested group into the runnable of the child that
/// runs it. `parent` is the distinguished name of the enclosing group, for
/// messages.
pub(crate) fn lower<R: Leaf + 'static>(
    root: GroupDecl<R>,
    parent: &str,
    wrap: &dyn Fn(Arc<GroupSpec<R>>) -> R,
) -> Result<Arc<GroupSpec<R>>, Error> {
    if root.opts.get().significant {
        let path = join_name(parent, &root.name);
        return Err(invalid(
            &path,
            "the root group cannot be `significant`: it has no group to end",
        ));
    }
    let mut stack = vec![open(root, &|| parent.to_owned(), None)?];
    loop {
        let top = stack
            .last_mut()
            .expect("the stack holds the root until it returns");
        match top.children.next() {
            Some(Decl::Leaf(c)) => {
                let opts = child_opts(c.opts.get());
                let spec = ChildSpec::with_opts(c.name, c.runnable, opts);
                check_child(&|| path_of(parent, &stack), &spec)?;
                stack.last_mut().expect("non-empty").built.push(spec);
            }
            Some(Decl::Group(g)) => {
                // A group's own `backoff` is the default of its children; as
                // a child it restarts with its parent's default.
                let mut opts = child_opts(g.opts.get());
                opts.backoff = None;
                let frame = open(*g, &|| path_of(parent, &stack), Some(opts))?;
                stack.push(frame);
            }
            None => {
                let frame = stack.pop().expect("non-empty");
                let (as_child, spec) = frame.finish(&|| path_of(parent, &stack))?;
                match as_child {
                    Some((name, opts)) if !stack.is_empty() => {
                        let child = ChildSpec::with_opts(name, wrap(spec), opts);
                        check_child(&|| path_of(parent, &stack), &child)?;
                        stack.last_mut().expect("non-empty").built.push(child);
                    }
                    _ => return Ok(spec),
                }
            }
        }
    }
}

/// The distinguished name of the group at the top of `stack`, built only
/// for a message: a path per group, built whether or not anything was
/// wrong, cost an allocation and a copy for each group of a large tree.
fn path_of<R>(parent: &str, stack: &[Frame<R>]) -> String {
    stack
        .iter()
        .fold(parent.to_owned(), |p, f| join_name(&p, f.name()))
}

/// The options a child keeps in its spec (`after` is turned into edges).
fn child_opts(o: &NodeOptions) -> ChildOpts {
    ChildOpts {
        restart: o.restart,
        backoff: o.backoff,
        shutdown: o.shutdown,
        start_timeout: o.start_timeout,
        ready_on_start: o.ready_on_start,
        watchdog: o.watchdog,
        significant: o.significant,
    }
}

/// Checks that need a child's resolved options (its runnable's defaults included).
fn check_child<R: Leaf>(group: &dyn Fn() -> String, c: &ChildSpec<R>) -> Result<(), Error> {
    let path = || join_name(&group(), &c.name);
    if c.significant() && c.restart() == Restart::Permanent {
        return Err(invalid(
            &path(),
            "`significant` needs a transient or temporary child (a permanent child never ends for good)",
        ));
    }
    if c.watchdog().is_some_and(|d| d.is_zero()) {
        return Err(invalid(&path(), "`watchdog(timeout)` must be above zero"));
    }
    Ok(())
}

/// A nested group's name and options as a child of its parent.
type AsChild = (Name, ChildOpts);

/// One group being lowered: its checked head and the children done so far.
struct Frame<R: 'static> {
    /// The root's name is its spec's; a nested group's is its name as a
    /// child (in `as_child`), and its spec keeps none.
    spec: GroupSpec<R>,
    built: Vec<ChildSpec<R>>,
    children: std::vec::IntoIter<Decl<R>>,
    as_child: Option<AsChild>,
}

impl<R: 'static> Frame<R> {
    fn name(&self) -> &str {
        match &self.as_child {
            Some((name, _)) => name,
            None => &self.spec.name,
        }
    }
}

impl<R: Leaf + 'static> Frame<R> {
    /// `parent`: the path of the group's parent, for messages.
    fn finish(
        self,
        parent: &dyn Fn() -> String,
    ) -> Result<(Option<AsChild>, Arc<GroupSpec<R>>), Error> {
        let path = || join_name(&parent(), self.name());
        let significant = self.built.iter().any(ChildSpec::significant);
        if self.spec.auto_shutdown != AutoShutdown::Never && !significant {
            return Err(invalid(
                &path(),
                "`auto_shutdown` needs at least one `significant` child",
            ));
        }
        if self.spec.auto_shutdown == AutoShutdown::Never && significant {
            // As in OTP: a significant child is a bad combination with
            // `auto_shutdown` never, since its end could change nothing.
            return Err(invalid(
                &path(),
                "a `significant` child needs `auto_shutdown(any_significant)` or `auto_shutdown(all_significant)` on its group",
            ));
        }
        let Frame {
            mut spec,
            built,
            as_child,
            ..
        } = self;
        spec.children = built;
        Ok((as_child, Arc::new(spec)))
    }
}

/// Checks one level (names, options, `after` edges) and returns the frame
/// that collects its lowered children.
///
/// `parent`: the path of the group's parent, built only for a message.
/// `as_child`: a nested group's options as a child of its parent.
fn open<R: 'static>(
    mut g: GroupDecl<R>,
    parent: &dyn Fn() -> String,
    as_child: Option<ChildOpts>,
) -> Result<Frame<R>, Error> {
    let path = || join_name(&parent(), &g.name);
    check_name(&g.name).map_err(|e| at(e, &path()))?;
    if g.decay.is_some() && g.intensity.is_some() {
        return Err(invalid(
            &path(),
            "`intensity` and `decay` cannot be combined",
        ));
    }
    if let Some(Intensity::Limited { within, .. }) = g.intensity {
        if within.is_zero() {
            return Err(invalid(&path(), "`intensity(within)` must be above zero"));
        }
    }
    if let Some(d) = &g.decay {
        if d.half_life.is_zero() || d.pause.is_zero() || d.threshold.is_nan() || d.threshold <= 0.0
        {
            return Err(invalid(
                &path(),
                "`decay` needs a non-zero half_life and pause and a positive threshold",
            ));
        }
    }
    if g.children.is_empty() {
        return Err(invalid(&path(), "a group needs at least one child"));
    }
    let (deps, order) = order(&g, &path)?;
    let n = g.children.len();
    let strategy = g.strategy.unwrap_or(match g.kind {
        GroupKind::Sequential => Strategy::RestForOne,
        GroupKind::Parallel => Strategy::OneForOne,
    });
    let intensity = match (g.intensity, g.decay) {
        (Some(i), _) => i,
        (None, Some(_)) => Intensity::Unlimited,
        (None, None) => Intensity::default(),
    };
    let mut dependents = vec![Vec::new(); if deps.is_empty() { 0 } else { n }];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d as usize].push(i as u32);
        }
    }
    let children = std::mem::take(&mut g.children);
    let name = std::mem::take(&mut g.name);
    let (name, as_child) = match as_child {
        Some(opts) => (Box::default(), Some((name, opts))),
        None => (name.into_owned().into_boxed_str(), None),
    };
    Ok(Frame {
        spec: GroupSpec {
            name,
            strategy,
            intensity,
            decay: g.decay,
            backoff: g.opts.get().backoff.unwrap_or_default(),
            auto_shutdown: g.auto_shutdown,
            children: Vec::new(),
            deps: Edges::from_lists(&deps),
            dependents: Edges::from_lists(&dependents),
            order,
        },
        built: Vec::with_capacity(n),
        children: children.into_iter(),
        as_child,
    })
}

/// The children's names (unique, by the rule), their start-order edges
/// (`deps[i]`: the siblings child `i` starts after) and a start order.
///
/// `deps` is empty when no child has an edge (a parallel group without
/// `after`, the common case): nothing is allocated for it.
fn order<R>(
    g: &GroupDecl<R>,
    path: &dyn Fn() -> String,
) -> Result<(Vec<Vec<u32>>, Vec<u32>), Error> {
    let n = g.children.len();
    // A few names on the stack, more in a list.
    let mut few = [""; Siblings::FEW];
    let many: Vec<&str>;
    let names: &[&str] = if n <= Siblings::FEW {
        for (slot, c) in few.iter_mut().zip(&g.children) {
            *slot = c.name();
        }
        &few[..n]
    } else {
        many = g.children.iter().map(Decl::name).collect();
        &many
    };
    for name in names {
        check_name(name).map_err(|e| at(e, &join_name(&path(), name)))?;
    }
    let index = Siblings::new(names).map_err(|name| {
        let path = path();
        Error::new(
            ErrorKind::DuplicateName,
            Some(join_name(&path, name)),
            format!("`{path}` has two children named `{name}`; sibling names must differ"),
        )
    })?;
    let any_after = g.children.iter().any(|c| !c.opts().after.is_empty());
    if !any_after && (g.kind == GroupKind::Parallel || n < 2) {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut deps: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, child) in g.children.iter().enumerate() {
        let after = &child.opts().after;
        if !after.is_empty() && g.kind == GroupKind::Sequential {
            return Err(invalid(
                &join_name(&path(), names[i]),
                "`after` is only valid in a parallel group (a sequential group already starts in order)",
            ));
        }
        for a in after {
            let Some(j) = index.get(names, a) else {
                return Err(invalid(
                    &join_name(&path(), names[i]),
                    &format!("`after({a})` names no sibling of `{}`", names[i]),
                ));
            };
            if j as usize == i {
                return Err(invalid(
                    &join_name(&path(), a),
                    "a child cannot start after itself",
                ));
            }
            if !deps[i].contains(&j) {
                deps[i].push(j);
            }
        }
        if g.kind == GroupKind::Sequential && i > 0 {
            deps[i].push(i as u32 - 1);
        }
    }
    if !any_after {
        // The start order is the children's own (a sequential group's
        // edges each point to the previous sibling): no cycle to look for,
        // and no list to keep.
        return Ok((deps, Vec::new()));
    }
    let order = topo_order(&deps).map_err(|cycle| {
        let mut s = String::new();
        for (k, ix) in cycle.iter().enumerate() {
            if k > 0 {
                s.push_str(" → ");
            }
            let _ = write!(s, "{}", names[*ix as usize]);
        }
        invalid(&path(), &format!("`after` edges form a cycle: {s}"))
    })?;
    // The children's own order needs no list.
    let order = if order.iter().enumerate().all(|(k, &i)| k as u32 == i) {
        Vec::new()
    } else {
        order
    };
    Ok((deps, order))
}

/// The index of a group's children by name, built while looking for a
/// duplicate. A few siblings are compared pairwise: for ten children that
/// is 45 comparisons of short strings, a fifth of the cost of building and
/// dropping a hash map. Many siblings get a map, so that checking 100,000
/// of them stays linear.
enum Siblings<'a> {
    Few,
    Many(HashMap<&'a str, u32, BuildHasherDefault<NameHasher>>),
}

impl<'a> Siblings<'a> {
    /// Up to this many siblings are compared pairwise.
    const FEW: usize = 16;

    /// The index, or the first name that appears twice.
    fn new(names: &[&'a str]) -> Result<Self, &'a str> {
        if names.len() <= Self::FEW {
            for (i, a) in names.iter().enumerate() {
                if names[..i].iter().any(|b| same(a, b)) {
                    return Err(a);
                }
            }
            return Ok(Siblings::Few);
        }
        let mut index: HashMap<&str, u32, BuildHasherDefault<NameHasher>> =
            HashMap::with_capacity_and_hasher(names.len(), Default::default());
        for (i, name) in names.iter().enumerate() {
            if index.insert(name, i as u32).is_some() {
                return Err(name);
            }
        }
        Ok(Siblings::Many(index))
    }

    /// The position of the sibling named `name` among `names`.
    fn get(&self, names: &[&str], name: &str) -> Option<u32> {
        match self {
            Siblings::Few => names.iter().position(|n| same(n, name)).map(|i| i as u32),
            Siblings::Many(index) => index.get(name).copied(),
        }
    }
}

/// Whether two sibling names are the same. Their last bytes first:
/// siblings are often numbered (`c0`, `c1`, ..), and names of one length
/// that differ only at the end would otherwise each cost a call to the C
/// library's `memcmp`.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().last() == b.as_bytes().last() && a == b
}

/// A hasher for sibling names (short, of our own making, not chosen by an
/// adversary): a multiply-rotate over eight bytes at a time, in the manner
/// of rustc's FxHash. The default SipHash cost more than the rest of the
/// duplicate check for a group of many children.
#[derive(Default)]
struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("eight bytes"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_order_respects_after_edges() {
        let deps = vec![vec![2], vec![], vec![1]];
        assert_eq!(topo_order(&deps).unwrap(), vec![1, 2, 0]);
    }

    #[test]
    fn a_cycle_is_closed_and_in_start_direction() {
        let deps = vec![vec![1], vec![0]];
        let cycle = topo_order(&deps).unwrap_err();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 3);
    }
}
