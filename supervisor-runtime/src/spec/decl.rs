//! A tree as declared, before it is checked: what the builder
//! ([`Group`](crate::Group), [`Child`](crate::Child)) and the
//! `supervision_tree!` macro fill in.

use std::time::Duration;

use super::name::Name;
use super::options::{AutoShutdown, Backoff, Decay, Intensity, Restart, Shutdown, Strategy};

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

/// The options of a declared node: nothing allocated until one is set
/// (most children of a large group set none), and small to move.
#[derive(Default)]
pub(crate) struct Opts(Option<Box<NodeOptions>>);

impl Opts {
    pub(crate) fn get(&self) -> &NodeOptions {
        static NONE: NodeOptions = NodeOptions::NONE;
        self.0.as_deref().unwrap_or(&NONE)
    }

    pub(crate) fn get_mut(&mut self) -> &mut NodeOptions {
        self.0.get_or_insert_with(Default::default)
    }
}

impl NodeOptions {
    /// Every option unset.
    pub(crate) const NONE: NodeOptions = NodeOptions {
        restart: None,
        backoff: None,
        shutdown: None,
        start_timeout: None,
        ready_on_start: false,
        after: Vec::new(),
        watchdog: None,
        significant: false,
    };
}

/// A declared leaf: a name, what it runs, its options.
pub(crate) struct LeafDecl<R> {
    pub(crate) name: Name,
    pub(crate) runnable: R,
    pub(crate) opts: Opts,
}

/// A declared group.
pub(crate) struct GroupDecl<R> {
    pub(crate) name: Name,
    pub(crate) kind: GroupKind,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) intensity: Option<Intensity>,
    pub(crate) decay: Option<Decay>,
    pub(crate) auto_shutdown: AutoShutdown,
    pub(crate) children: Vec<Decl<R>>,
    /// Its options as a child of its parent; its `backoff` is the default of
    /// its own children.
    pub(crate) opts: Opts,
}

/// A declared child: a leaf or a nested group (boxed: a group is large, and
/// a `Vec` of these is moved about while a tree is declared).
pub(crate) enum Decl<R> {
    Leaf(LeafDecl<R>),
    Group(Box<GroupDecl<R>>),
}

impl<R> Decl<R> {
    pub(crate) fn name(&self) -> &str {
        match self {
            Decl::Leaf(c) => &c.name,
            Decl::Group(g) => &g.name,
        }
    }

    pub(crate) fn opts(&self) -> &NodeOptions {
        match self {
            Decl::Leaf(c) => c.opts.get(),
            Decl::Group(g) => g.opts.get(),
        }
    }
}

impl<R> GroupDecl<R> {
    pub(crate) fn new(name: Name, kind: GroupKind) -> Self {
        GroupDecl {
            name,
            kind,
            strategy: None,
            intensity: None,
            decay: None,
            auto_shutdown: AutoShutdown::Never,
            children: Vec::new(),
            opts: Opts::default(),
        }
    }
}

/// Dropping a deeply nested declaration would recurse once per level:
/// take the nested groups apart one at a time instead.
impl<R> Drop for GroupDecl<R> {
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.children);
        while let Some(node) = pending.pop() {
            if let Decl::Group(mut g) = node {
                pending.append(&mut g.children);
            }
        }
    }
}
