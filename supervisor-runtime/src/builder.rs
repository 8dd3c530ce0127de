//! The builder: groups and children as plain values, checked once by
//! [`Group::build`] (or when the tree starts). What the `supervision_tree!`
//! macro writes is calls on these.
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

use std::sync::Arc;
use std::time::Duration;

use crate::engine::{group_runnable, BoxRunnable, Runnable, Tree};
use crate::error::Error;
use crate::spec::decl::{Decl, GroupDecl, GroupKind, LeafDecl, NodeOptions, Opts};
use crate::spec::lower::lower;
use crate::spec::model::GroupSpec;
use crate::spec::name::Name;
use crate::spec::options::{AutoShutdown, Backoff, Decay, Intensity, Restart, Shutdown, Strategy};

/// A leaf of the tree: a name and a [`Runnable`], with its options.
///
/// Every option defaults to what the runnable carries (see
/// [`Defaults`](crate::Defaults)) and then to the group's defaults.
#[must_use = "a child does nothing until it is added to a group"]
pub struct Child(LeafDecl<BoxRunnable>);

impl Child {
    /// A child named `name` (1–64 characters of `a-z`, `0-9`, `_`, `-`) running `runnable`.
    pub fn new(name: impl Into<String>, runnable: impl Runnable) -> Self {
        Self::named(Name::Owned(name.into()), runnable)
    }

    /// As [`new`](Child::new), for a name known when the program is
    /// compiled: the name is kept as the `&'static str` it is, where `new`
    /// copies it into a `String` (one allocation per child, made when the
    /// tree is declared and freed when it is dropped). What
    /// `supervision_tree!` writes for every child.
    ///
    /// ```
    /// # use supervisor_runtime::{Child, Context, Group};
    /// # async fn worker(ctx: Context) -> Result<(), std::io::Error> { ctx.cancelled().await; Ok(()) }
    /// let tree = Group::parallel_static("app")
    ///     .child(Child::new_static("worker", worker))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn new_static(name: &'static str, runnable: impl Runnable) -> Self {
        Self::named(Name::Borrowed(name), runnable)
    }

    fn named(name: Name, runnable: impl Runnable) -> Self {
        Child(LeafDecl {
            name,
            runnable: runnable.boxed(),
            opts: Opts::default(),
        })
    }

    fn opts(mut self, f: impl FnOnce(&mut NodeOptions)) -> Self {
        f(self.0.opts.get_mut());
        self
    }

    /// Which endings restart this child. Default: the runnable's, else permanent.
    pub fn restart(self, r: Restart) -> Self {
        self.opts(|o| o.restart = Some(r))
    }

    /// Delay before each restart. Default: the group's backoff.
    pub fn backoff(self, b: Backoff) -> Self {
        self.opts(|o| o.backoff = Some(b))
    }

    /// How long a stop may take. Default: the runnable's, else 5 s.
    pub fn shutdown(self, s: Shutdown) -> Self {
        self.opts(|o| o.shutdown = Some(s))
    }

    /// Not healthy within `d` counts as a failed start. Default: no limit.
    pub fn start_timeout(self, d: Duration) -> Self {
        self.opts(|o| o.start_timeout = Some(d))
    }

    /// Healthy as soon as it runs, without `ctx.healthy()`. Default: the runnable's, else off.
    pub fn ready_on_start(self) -> Self {
        self.opts(|o| o.ready_on_start = true)
    }

    /// In a parallel group: start only once these siblings are healthy or done.
    pub fn after<I, S>(self, siblings: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.opts(|o| o.after.extend(siblings.into_iter().map(Into::into)))
    }

    /// Liveness: once healthy, the child must call
    /// [`ctx.alive()`](crate::Context::alive) at least every `timeout`;
    /// silence for `timeout` is a failure ("no heartbeat for 10s"),
    /// restarted through the same backoff and limits as any failure.
    /// `timeout` must be above zero ([`Group::build`] says so otherwise).
    /// Default: no watchdog.
    pub fn watchdog(self, timeout: Duration) -> Self {
        self.opts(|o| o.watchdog = Some(timeout))
    }

    /// Marks a transient or temporary child as *significant* (OTP 24): its
    /// ending for good may end its group, as the group's [`AutoShutdown`]
    /// says. On a permanent child it is an error at [`Group::build`].
    pub fn significant(self) -> Self {
        self.opts(|o| o.significant = true)
    }
}

/// A group of children: sequential or parallel, with a restart strategy and limits.
///
/// Defaults: strategy rest_for_one (sequential) or one_for_one (parallel);
/// intensity 3 restarts within 5 s (unlimited with [`decay`](Group::decay));
/// backoff exponential 100 ms × 2 up to 30 s, ±20 %; auto_shutdown never;
/// as a child: permanent, shutdown infinity (its children have their own
/// timeouts).
#[must_use = "a group does nothing until it is built into a tree or added to a parent"]
pub struct Group(GroupDecl<BoxRunnable>);

impl Group {
    /// A group whose children start one after another.
    pub fn sequential(name: impl Into<String>) -> Self {
        Self::named(Name::Owned(name.into()), GroupKind::Sequential)
    }

    /// A group whose children start all at once.
    pub fn parallel(name: impl Into<String>) -> Self {
        Self::named(Name::Owned(name.into()), GroupKind::Parallel)
    }

    /// As [`sequential`](Group::sequential), keeping a name known when the
    /// program is compiled as it is (see [`Child::new_static`]).
    pub fn sequential_static(name: &'static str) -> Self {
        Self::named(Name::Borrowed(name), GroupKind::Sequential)
    }

    /// As [`parallel`](Group::parallel), keeping a name known when the
    /// program is compiled as it is (see [`Child::new_static`]).
    pub fn parallel_static(name: &'static str) -> Self {
        Self::named(Name::Borrowed(name), GroupKind::Parallel)
    }

    fn named(name: Name, kind: GroupKind) -> Self {
        Group(GroupDecl::new(name, kind))
    }

    fn with(mut self, f: impl FnOnce(&mut GroupDecl<BoxRunnable>)) -> Self {
        f(&mut self.0);
        self
    }

    /// What else restarts when a child fails.
    pub fn strategy(self, s: Strategy) -> Self {
        self.with(|g| g.strategy = Some(s))
    }

    /// Restart limit; past it the group gives up and fails to its parent.
    pub fn intensity(self, i: Intensity) -> Self {
        self.with(|g| g.intensity = Some(i))
    }

    /// Failure decay instead of an intensity limit (see [`Decay`]).
    pub fn decay(self, d: Decay) -> Self {
        self.with(|g| g.decay = Some(d))
    }

    /// When the group ends because its [significant](Child::significant)
    /// children have ended for good (OTP 24's `auto_shutdown`). Default:
    /// [`AutoShutdown::Never`]. Any other value on a group with no
    /// significant child is an error at [`Group::build`].
    pub fn auto_shutdown(self, a: AutoShutdown) -> Self {
        self.with(|g| g.auto_shutdown = a)
    }

    /// Default backoff for this group's children.
    pub fn backoff(self, b: Backoff) -> Self {
        self.with(|g| g.opts.get_mut().backoff = Some(b))
    }

    /// As a child of another group: which endings restart this group.
    pub fn restart(self, r: Restart) -> Self {
        self.with(|g| g.opts.get_mut().restart = Some(r))
    }

    /// As a child: how long its stop may take before its task is aborted.
    pub fn shutdown(self, s: Shutdown) -> Self {
        self.with(|g| g.opts.get_mut().shutdown = Some(s))
    }

    /// As a child: not healthy within `d` counts as a failed start.
    pub fn start_timeout(self, d: Duration) -> Self {
        self.with(|g| g.opts.get_mut().start_timeout = Some(d))
    }

    /// As a child of a parallel group: start only once these siblings are healthy or done.
    pub fn after<I, S>(self, siblings: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with(|g| {
            g.opts
                .get_mut()
                .after
                .extend(siblings.into_iter().map(Into::into))
        })
    }

    /// As a transient or temporary child of another group: its ending for
    /// good may end that group (see [`Child::significant`]).
    pub fn significant(self) -> Self {
        self.with(|g| g.opts.get_mut().significant = true)
    }

    /// Adds a leaf.
    pub fn child(self, c: Child) -> Self {
        self.with(|g| g.children.push(Decl::Leaf(c.0)))
    }

    /// Adds a nested group.
    pub fn group(self, child: Group) -> Self {
        self.with(|g| g.children.push(Decl::Group(Box::new(child.0))))
    }

    /// Checks the whole tree (names, duplicates, options that do not go
    /// together, `after` edges, cycles) and returns it ready to start.
    pub fn build(self) -> Result<Tree, Error> {
        Ok(Tree::from_spec(self.lower()?))
    }

    fn lower(self) -> Result<Arc<GroupSpec<BoxRunnable>>, Error> {
        lower(self.0, "", &group_runnable)
    }
}

impl Tree {
    /// A tree with `root` as its root group. Never fails: a malformed group
    /// yields a tree that ends at once, `join()` returning the error (use
    /// [`Group::build`] to see the error before starting).
    pub fn new(root: Group) -> Tree {
        match root.lower() {
            Ok(spec) => Tree::from_spec(spec),
            Err(e) => Tree::from_error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Context;
    use crate::error::ErrorKind;

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

    /// Few siblings are compared pairwise, many through a map: the same
    /// answers either way, for duplicates and for `after` names.
    #[test]
    fn siblings_are_checked_alike_in_small_and_large_groups() {
        for n in [2, 16, 17, 200] {
            let group = |dup: bool| {
                let mut g = Group::parallel("app");
                for i in 0..n {
                    let name = if dup && i == n - 1 {
                        "c0".to_string()
                    } else {
                        format!("c{i}")
                    };
                    let c = Child::new(name, idle);
                    g = g.child(if i == n - 1 && !dup {
                        c.after(["c0"])
                    } else {
                        c
                    });
                }
                g
            };
            let e = group(true).build().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DuplicateName, "{n}: {e}");
            assert_eq!(e.node(), Some("app.c0"), "{n}");
            assert!(group(false).build().is_ok(), "{n}");
            let e = group(false)
                .child(Child::new("last", idle).after(["nope"]))
                .build()
                .unwrap_err();
            assert!(
                e.to_string().contains("`after(nope)` names no sibling"),
                "{n}: {e}"
            );
        }
    }

    /// Errors deep in a tree name the node by its whole path, at each
    /// place a check can fail: a group's own head, its children's names,
    /// a child's options, and the group once its children are known.
    #[test]
    fn errors_below_the_root_name_the_whole_path() {
        let nested = |inner: Group| {
            Group::parallel("app").child(Child::new("a", idle)).group(
                Group::parallel("mid")
                    .child(Child::new("b", idle))
                    .group(inner),
            )
        };
        let cases: Vec<(Group, &str)> = vec![
            (
                nested(
                    Group::parallel("db")
                        .child(Child::new("x", idle))
                        .child(Child::new("x", idle)),
                ),
                "app.mid.db.x",
            ),
            (nested(Group::parallel("db")), "app.mid.db"),
            (
                nested(Group::parallel("db").child(Child::new("w", idle).watchdog(Duration::ZERO))),
                "app.mid.db.w",
            ),
            (
                nested(
                    Group::parallel("db")
                        .auto_shutdown(AutoShutdown::AnySignificant)
                        .child(Child::new("x", idle)),
                ),
                "app.mid.db",
            ),
            (
                nested(Group::parallel("db").child(Child::new("x", idle).after(["nope"]))),
                "app.mid.db.x",
            ),
            (
                nested(Group::parallel("Bad").child(Child::new("x", idle))),
                "app.mid.Bad",
            ),
        ];
        for (group, node) in cases {
            let e = group.build().unwrap_err();
            assert_eq!(e.node(), Some(node), "{e}");
            assert!(e.to_string().contains("`app.mid."), "{e}");
        }
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
    fn significant_needs_a_child_that_can_end_for_good() {
        let e = Group::parallel("app")
            .child(Child::new("a", idle).significant())
            .build()
            .unwrap_err();
        assert_eq!(e.node(), Some("app.a"), "{e}");
        assert!(e.to_string().contains("transient or temporary"), "{e}");
        let defaults = crate::Defaults {
            restart: Some(Restart::Transient),
            ..crate::Defaults::default()
        };
        let ok = Group::parallel("app")
            .auto_shutdown(AutoShutdown::AnySignificant)
            .child(Child::new("a", idle.with_defaults(defaults)).significant())
            .build();
        assert!(ok.is_ok(), "a runnable's own default counts");
        let root = Group::parallel("app")
            .significant()
            .child(Child::new("a", idle))
            .build()
            .unwrap_err();
        assert!(root.to_string().contains("root"), "{root}");
    }

    #[test]
    fn auto_shutdown_needs_a_significant_child() {
        let e = Group::parallel("app")
            .auto_shutdown(AutoShutdown::AllSignificant)
            .child(Child::new("a", idle).restart(Restart::Transient))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("significant"), "{e}");
        let ok = Group::parallel("app")
            .auto_shutdown(AutoShutdown::Never)
            .child(Child::new("a", idle))
            .build();
        assert!(ok.is_ok());
    }

    #[test]
    fn a_watchdog_must_be_above_zero() {
        let e = Group::parallel("app")
            .child(Child::new("a", idle).watchdog(Duration::ZERO))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("watchdog"), "{e}");
    }
}
