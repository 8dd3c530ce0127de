//! [`Runnable`]: anything a node can run, once per incarnation.

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::context::Context;
use super::incarnation;
use crate::error::BoxError;
use crate::spec::model::Leaf;
use crate::spec::options::Defaults;

/// Something a supervised node runs: called once per incarnation with a fresh
/// [`Context`].
///
/// Implemented for every `Fn(Context) -> impl Future<Output = Result<(), E>>`
/// whose error converts into `Box<dyn Error + Send + Sync>` (closures, `async
/// fn`s taking a `Context`, and `#[runnable]` functions), and for
/// [`BoxRunnable`], [`Tree`](crate::Tree), [`Command`](crate::Command) and
/// [`DynamicGroup`](crate::DynamicGroup).
///
/// ```
/// use supervisor_runtime::{Context, Runnable};
/// let child = |ctx: Context| async move {
///     ctx.healthy();
///     ctx.cancelled().await;
///     Ok::<(), std::io::Error>(())
/// };
/// let boxed = child.boxed(); // to mix types, e.g. in `spawn_group`
/// # drop(boxed);
/// ```
///
/// The trait is *sealed*: it cannot be implemented outside this crate (its
/// hidden methods reach the engine's internals and are not an API). To
/// supervise a type of your own, run it from a closure or an `async fn`
/// taking a [`Context`], as above.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a supervised child",
    label = "this is not runnable",
    note = "a child is an `async fn(ctx: Context, ..) -> Result<(), E>` marked `#[runnable]`, a closure `|ctx: Context| async move {{ .. }}` returning `Result<(), E>`, a `Command`, a `DynamicGroup` or a `Tree`; it must be `Send + Sync + 'static`"
)]
pub trait Runnable: sealed::Sealed + Send + Sync + 'static {
    /// Erases the type, to put different runnables in one collection.
    fn boxed(self) -> BoxRunnable
    where
        Self: Sized,
    {
        BoxRunnable(Box::new(self))
    }

    /// Attaches defaults for the options of the node that runs it; options
    /// written in the tree take precedence.
    fn with_defaults(self, defaults: Defaults) -> WithDefaults<Self>
    where
        Self: Sized,
    {
        WithDefaults {
            inner: self,
            defaults,
        }
    }

    /// Starts one incarnation as a task of its own and returns its handle
    /// (kept to abort it; its output is `()`, so keeping it costs nothing).
    #[doc(hidden)]
    fn __spawn(&self, ctx: Context) -> JoinHandle<()>;

    /// Option defaults carried by the runnable.
    #[doc(hidden)]
    fn __defaults(&self) -> Defaults {
        Defaults::default()
    }

    /// Whether this runnable is a group (whose shutdown defaults to infinity).
    #[doc(hidden)]
    fn __is_group(&self) -> bool {
        false
    }
}

impl<F, Fut, E> Runnable for F
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        incarnation::spawn(ctx, self)
    }
}

/// Keeps [`Runnable`] to the implementations of this crate.
pub(crate) mod sealed {
    /// Implemented next to every implementation of `Runnable`.
    pub trait Sealed {}
}

impl<F, Fut, E> sealed::Sealed for F
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
}

impl sealed::Sealed for BoxRunnable {}
impl<R: Runnable> sealed::Sealed for WithDefaults<R> {}

/// A type-erased [`Runnable`]: one box, and none at all for a runnable
/// that captures nothing (a `#[runnable]` fn, a closure without captures).
pub struct BoxRunnable(pub(crate) Box<dyn Runnable>);

impl BoxRunnable {
    /// What the slot of a removed child holds until it is reused: a
    /// runnable that does nothing and captures nothing (its box allocates
    /// nothing), so that the removed child's own (and everything its
    /// closure captured) is freed at once.
    pub(crate) fn vacant() -> BoxRunnable {
        BoxRunnable(Box::new(|_: Context| async {
            Ok::<(), std::convert::Infallible>(())
        }))
    }
}

/// A runnable kept in two places: a dynamic group's registry, which
/// outlives the group's incarnations, and the spec of the incarnation
/// that runs it. Only dynamic children pay for the sharing; a static
/// child's spec owns its runnable outright.
#[derive(Clone)]
pub(crate) struct SharedRunnable(Arc<dyn Runnable>);

impl SharedRunnable {
    pub(crate) fn new(r: impl Runnable) -> Self {
        SharedRunnable(Arc::new(r))
    }

    /// One more owner, as a spec's runnable.
    pub(crate) fn to_boxed(&self) -> BoxRunnable {
        BoxRunnable(Box::new(self.clone()))
    }
}

impl sealed::Sealed for SharedRunnable {}

impl Runnable for SharedRunnable {
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        self.0.__spawn(ctx)
    }

    fn __defaults(&self) -> Defaults {
        self.0.__defaults()
    }

    fn __is_group(&self) -> bool {
        self.0.__is_group()
    }
}

impl std::fmt::Debug for BoxRunnable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoxRunnable")
    }
}

impl Runnable for BoxRunnable {
    fn boxed(self) -> BoxRunnable {
        self
    }

    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        self.0.__spawn(ctx)
    }

    fn __defaults(&self) -> Defaults {
        self.0.__defaults()
    }

    fn __is_group(&self) -> bool {
        self.0.__is_group()
    }
}

impl Leaf for BoxRunnable {
    fn defaults(&self) -> Defaults {
        self.0.__defaults()
    }

    fn is_group(&self) -> bool {
        self.0.__is_group()
    }
}

/// A runnable with option defaults; see [`Runnable::with_defaults`].
#[derive(Clone, Debug)]
pub struct WithDefaults<R> {
    inner: R,
    defaults: Defaults,
}

impl<R: Runnable> Runnable for WithDefaults<R> {
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        self.inner.__spawn(ctx)
    }

    fn __defaults(&self) -> Defaults {
        self.defaults
    }

    fn __is_group(&self) -> bool {
        self.inner.__is_group()
    }
}
