//! Glue for the code that `supervisor-macros` generates. Not a public API:
//! nothing here is covered by semver, and hand-written code should use the
//! builder ([`Group`], [`Child`], [`Tree::new`]) instead.
//!
//! Generated code reaches the runtime only through absolute paths into this
//! module (`::supervisor::__private::..`), so it works whatever the user has
//! imported. The assertion traits turn type errors in a tree or a
//! `#[runnable]` function into messages in the DSL's words, on the user's
//! tokens.
#![allow(missing_docs, unreachable_pub)]

pub use crate::builder::{Child, Group};
pub use crate::engine::{BoxRunnable, Context, Runnable, Tree};
pub use crate::error::BoxError;
pub use crate::spec::options::{
    AutoShutdown, Backoff, Decay, Defaults, Intensity, Restart, Shutdown, Strategy,
};

use std::future::Future;

/// Gives a closure child its `Context` parameter type, so that
/// `|ctx| async move { .. }` needs no annotation.
#[inline(always)]
pub fn closure<F, Fut>(f: F) -> F
where
    F: Fn(Context) -> Fut,
{
    f
}

/// What `#[runnable]` needs of each argument: a fresh clone per incarnation.
#[diagnostic::on_unimplemented(
    message = "argument of `#[runnable]` is not `Clone`: `{Self}`",
    label = "this argument is not `Clone`",
    note = "every incarnation of a `#[runnable]` child (its first run and each restart) gets a fresh clone of the arguments",
    note = "derive or implement `Clone` for it, or pass an `Arc<..>` of it"
)]
pub trait ArgClone: Sized {
    fn __clone(&self) -> Self;
}

#[diagnostic::do_not_recommend]
impl<T: Clone> ArgClone for T {
    #[inline(always)]
    fn __clone(&self) -> Self {
        self.clone()
    }
}

/// What `#[runnable]` needs of the return type: `Result<(), E>` with an
/// error that converts into [`BoxError`].
#[diagnostic::on_unimplemented(
    message = "the error type of `{Self}` does not convert into `Box<dyn Error + Send + Sync>`",
    label = "the error type of this `Result` must implement `std::error::Error + Send + Sync + 'static`",
    note = "a supervised child returns `Result<(), E>` with `E: Into<Box<dyn std::error::Error + Send + Sync>>` (any `std::error::Error + Send + Sync + 'static`, a `String`, a `&'static str`, a `Box<dyn Error + Send + Sync>`)"
)]
pub trait ChildResult {
    fn __into_result(self) -> Result<(), BoxError>;
}

#[diagnostic::do_not_recommend]
impl<E: Into<BoxError> + 'static> ChildResult for Result<(), E> {
    #[inline(always)]
    fn __into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// The future of one incarnation of a `#[runnable]` function, with its
/// error boxed: the one place where the error type is checked, on the
/// user's return type.
pub async fn child_future<F>(f: F) -> Result<(), BoxError>
where
    F: Future,
    F::Output: ChildResult,
{
    f.await.__into_result()
}

/// What a tree needs of a child expression.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a supervised child",
    label = "this is not runnable, or not `Send + Sync + 'static`",
    note = "a child is a call of an `async fn(ctx: Context, ..) -> Result<(), E>` marked `#[runnable]`, a closure `|ctx: Context| async move {{ .. }}` returning `Result<(), E>`, a `Command`, a `DynamicGroup` or a `Tree`",
    note = "it must be `Send + Sync + 'static`: it runs on any worker thread and outlives the code that declares the tree, so it cannot hold an `Rc`, a `RefCell` or a reference to a local (move owned values or `Arc`s into it)"
)]
pub trait SupervisedChild: Runnable {}

#[diagnostic::do_not_recommend]
impl<R: Runnable> SupervisedChild for R {}

/// Checks a child expression of a tree, on the user's tokens.
#[inline(always)]
pub fn child<R: SupervisedChild>(r: R) -> BoxRunnable {
    r.boxed()
}

/// The value a `supervision_tree!` with errors expands to, next to its
/// `compile_error!`s: typed, never run (the crate does not compile). The
/// closure holds the leaf expressions so that they are still type-checked.
#[cold]
pub fn placeholder_tree<F: FnOnce()>(_exprs: F) -> Tree {
    unreachable!("a `supervision_tree!` with compile errors cannot run")
}

/// The runnable a broken `#[runnable]` function returns; never run.
#[cold]
pub fn placeholder_runnable() -> BoxRunnable {
    unreachable!("a `#[runnable]` function with compile errors cannot run")
}
