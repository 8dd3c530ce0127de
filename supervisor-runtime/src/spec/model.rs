//! Checked specs: what the engine runs, shared by every incarnation.
//!
//! Generic over `R`, the runnable of a leaf, so that this layer knows
//! nothing of tasks: the engine instantiates it with its `BoxRunnable`
//! (through the [`Leaf`] trait it reads the runnable's declared defaults).

use super::name::Name;
use std::time::Duration;

use super::options::{
    AutoShutdown, Backoff, Decay, Defaults, Intensity, Restart, Shutdown, Strategy,
};

/// What the specs need to know of a leaf's runnable.
pub(crate) trait Leaf {
    /// The option defaults the runnable declares (`#[runnable(..)]`).
    fn defaults(&self) -> Defaults;
    /// Whether it runs a group of its own (a nested tree, a dynamic group):
    /// its shutdown then defaults to infinity.
    fn is_group(&self) -> bool;
}

/// A checked group, shared by all its incarnations.
pub(crate) struct GroupSpec<R: 'static> {
    pub(crate) name: Box<str>,
    pub(crate) strategy: Strategy,
    pub(crate) intensity: Intensity,
    pub(crate) decay: Option<Decay>,
    pub(crate) backoff: Backoff,
    pub(crate) auto_shutdown: AutoShutdown,
    pub(crate) children: Vec<ChildSpec<R>>,
    /// `deps.get(i)`: siblings that must be healthy or done before child `i` starts.
    pub(crate) deps: Edges,
    /// `dependents.get(i)`: siblings that list `i` in their deps.
    pub(crate) dependents: Edges,
    /// A start order consistent with `deps` (stop order is its reverse);
    /// empty when it is the children's own order (the common case: no
    /// memory spent on it).
    pub(crate) order: Vec<u32>,
}

impl<R: 'static> GroupSpec<R> {
    /// The children in start order.
    pub(crate) fn start_order(&self) -> impl Iterator<Item = u32> + '_ {
        let own = self
            .order
            .is_empty()
            .then_some(0..self.children.len() as u32);
        own.into_iter().flatten().chain(self.order.iter().copied())
    }

    /// The `k`-th child in start order.
    pub(crate) fn start_order_at(&self, k: u32) -> u32 {
        if self.order.is_empty() {
            k
        } else {
            self.order[k as usize]
        }
    }

    /// A group with no children of its own: every child is added at runtime
    /// (the children spawned by a node, a dynamic group).
    pub(crate) fn runtime(strategy: Strategy, intensity: Intensity, backoff: Backoff) -> Self {
        GroupSpec {
            name: "".into(),
            strategy,
            intensity,
            decay: None,
            backoff,
            auto_shutdown: AutoShutdown::Never,
            children: Vec::new(),
            deps: Edges::default(),
            dependents: Edges::default(),
            order: Vec::new(),
        }
    }

    /// The top of a running tree: a group whose only child is the root
    /// (`root` runs the root group), never restarted.
    pub(crate) fn top(root_name: &str, root: R) -> Self
    where
        R: Leaf,
    {
        let opts = ChildOpts {
            restart: Some(Restart::Temporary),
            shutdown: Some(Shutdown::Infinity),
            ..ChildOpts::default()
        };
        let mut spec = Self::runtime(Strategy::OneForOne, Intensity::Unlimited, Backoff::None);
        spec.children = vec![ChildSpec::with_opts(
            root_name.to_owned().into(),
            root,
            opts,
        )];
        spec
    }

    /// The children of one `ctx.spawn_group`: they restart together
    /// (one_for_all), in the order given.
    pub(crate) fn spawned_set(children: Vec<ChildSpec<R>>) -> Self {
        let mut spec = Self::runtime(
            Strategy::OneForAll,
            Intensity::default(),
            Backoff::default(),
        );
        spec.children = children;
        spec
    }
}

impl<R: 'static> Drop for GroupSpec<R> {
    fn drop(&mut self) {
        // A chain of nested groups would drop recursively, once per level.
        crate::flat_drop::drop_flat(std::mem::take(&mut self.children));
    }
}

/// A checked child. Options a child does not set live in no allocation at all.
pub(crate) struct ChildSpec<R> {
    /// Empty for an anonymous group, whose children take their names directly
    /// under the group's parent.
    ///
    /// The name as the caller gave it, kept as it is: a literal borrowed,
    /// a `String` owned. Copying each name into a shared string (an
    /// allocation, a copy and the original's free per child) cost about 250
    /// instructions per child of `build()`. The few places that share a
    /// name (the keyed children of an open group) make their own
    /// `Arc<str>` of it.
    pub(crate) name: Name,
    pub(crate) runnable: R,
    opts: Option<Box<ChildOpts>>,
}

/// The options a child sets itself, before defaults.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChildOpts {
    pub(crate) restart: Option<Restart>,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) shutdown: Option<Shutdown>,
    pub(crate) start_timeout: Option<Duration>,
    pub(crate) ready_on_start: bool,
    pub(crate) watchdog: Option<Duration>,
    pub(crate) significant: bool,
}

impl ChildOpts {
    fn is_empty(&self) -> bool {
        self.restart.is_none()
            && self.backoff.is_none()
            && self.shutdown.is_none()
            && self.start_timeout.is_none()
            && !self.ready_on_start
            && self.watchdog.is_none()
            && !self.significant
    }
}

impl<R: Leaf> ChildSpec<R> {
    /// A child with the options it sets.
    pub(crate) fn with_opts(name: Name, runnable: R, opts: ChildOpts) -> Self {
        ChildSpec {
            name,
            runnable,
            opts: (!opts.is_empty()).then(|| Box::new(opts)),
        }
    }

    /// A child with every option at its default.
    pub(crate) fn plain(name: Name, runnable: R) -> Self {
        ChildSpec {
            name,
            runnable,
            opts: None,
        }
    }

    /// The same child (name and options) running `runnable` instead.
    pub(crate) fn with_opts_of(other: &Self, runnable: R) -> Self {
        ChildSpec {
            name: other.name.clone(),
            runnable,
            opts: other.opts.clone(),
        }
    }

    /// An anonymous group (`ctx.spawn_group`): no name of its own.
    pub(crate) fn anonymous(runnable: R) -> Self {
        Self::plain(Name::Borrowed(""), runnable)
    }

    fn opt<T>(&self, f: impl FnOnce(&ChildOpts) -> Option<T>) -> Option<T> {
        self.opts.as_deref().and_then(f)
    }

    /// Which endings restart it: its own option, else the runnable's, else permanent.
    pub(crate) fn restart(&self) -> Restart {
        self.opt(|o| o.restart)
            .or_else(|| self.runnable.defaults().restart)
            .unwrap_or_default()
    }

    /// Its backoff: its own, else its group's.
    pub(crate) fn backoff<'a>(&'a self, group_default: &'a Backoff) -> &'a Backoff {
        self.opts
            .as_deref()
            .and_then(|o| o.backoff.as_ref())
            .unwrap_or(group_default)
    }

    /// How long a stop may take: its own, else the runnable's, else 5 s for
    /// a leaf and infinity for a group.
    pub(crate) fn shutdown(&self) -> Shutdown {
        self.opt(|o| o.shutdown)
            .or_else(|| self.runnable.defaults().shutdown)
            .unwrap_or(if self.runnable.is_group() {
                Shutdown::Infinity
            } else {
                Shutdown::LEAF_DEFAULT
            })
    }

    pub(crate) fn start_timeout(&self) -> Option<Duration> {
        self.opt(|o| o.start_timeout)
    }

    pub(crate) fn ready_on_start(&self) -> bool {
        self.opts.as_deref().is_some_and(|o| o.ready_on_start)
            || self.runnable.defaults().ready_on_start
    }

    pub(crate) fn watchdog(&self) -> Option<Duration> {
        self.opt(|o| o.watchdog)
    }

    pub(crate) fn significant(&self) -> bool {
        self.opts.as_deref().is_some_and(|o| o.significant)
    }
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

    /// No sibling has an edge.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
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
