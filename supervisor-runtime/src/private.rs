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
use std::marker::PhantomData;

use tokio::task::JoinHandle;

/// Gives a closure child its `Context` parameter type, so that
/// `|ctx| async move { .. }` needs no annotation.
///
/// Its future must be `Send`: asserted here, on the closure's body, so that
/// rustc's own diagnostic names the value that is held across an `.await`
/// (`SupervisedChild` alone would only say that the closure is not a child).
#[inline(always)]
pub fn closure<F, Fut>(f: F) -> F
where
    F: Fn(Context) -> Fut,
    Fut: Send, // a child's future runs on any worker thread of the runtime
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
///
/// `Send` is asserted on its own, before `SupervisedChild`, so that a child
/// that is not `Send` gets rustc's diagnostic, which names the captured
/// value that is not (`Rc<i32>` within this closure), next to ours. rustc
/// reports one failed obligation once: when `Send` is the only reason a
/// child is not runnable, rustc's message is the one shown; a child that
/// is neither `Send` nor `Sync` (an `Rc`, a raw pointer) gets both.
#[inline(always)]
pub fn child<R: Send + SupervisedChild>(r: R) -> BoxRunnable {
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

// ---------------------------------------------------------------------------
// `#[runnable]` defaults, visible to the tree's compile-time checks.
//
// `#[runnable(restart = temporary)]` makes its factory return
// `impl Runnable + RunnableDefaults<Restart = Temporary>`: the declared
// restart type is part of the type, so a tree can check it while rustc
// type-checks (`cargo check` and rust-analyzer included), not after
// monomorphization as an inline `const { assert!(..) }` would (post-mono
// errors are missed by `cargo check` and by code that is never
// instantiated, and an associated const of an `impl Trait` cannot be read
// before then).
//
// The tree asks a child for its declared restart type with autoref
// specialization: `(&&Probe(&child)).__declared()` is
// `DeclaredRestart<Temporary>` for a `#[runnable(restart = temporary)]`
// call and `DeclaredRestart<NoDefault>` for anything else (closures,
// `Command`, `Tree`, runnables without a restart default). Each check is a
// trait that the expansion defines locally, with the message of that check
// (it names the node, the option and the runnable), implemented through the
// property traits below.
// ---------------------------------------------------------------------------

/// The restart types a `#[runnable]` can declare, as types.
pub struct Permanent;
/// See [`Permanent`].
pub struct Transient;
/// See [`Permanent`].
pub struct Temporary;
/// A child that declares no restart type: permanent unless the tree says otherwise.
pub struct NoDefault;

/// The defaults a `#[runnable]` declares, visible in its factory's return
/// type (`impl Runnable + RunnableDefaults<Restart = Temporary>`).
pub trait RunnableDefaults {
    /// [`Permanent`], [`Transient`] or [`Temporary`].
    type Restart;
}

/// A runnable with its declared restart type `K` (what a `#[runnable]` with
/// a `restart` default returns). Runs exactly as `R`.
pub struct Declare<K, R> {
    runnable: R,
    restart: PhantomData<fn() -> K>,
}

/// Wraps the runnable of a `#[runnable(restart = ..)]` factory.
#[inline(always)]
pub fn declare<K, R: Runnable>(runnable: R) -> Declare<K, R> {
    Declare {
        runnable,
        restart: PhantomData,
    }
}

impl<K, R> RunnableDefaults for Declare<K, R> {
    type Restart = K;
}

// Every method of `Runnable` is forwarded: a method added to the trait must
// be forwarded here too.
impl<K, R> crate::engine::Sealed for Declare<K, R> {}

impl<K: 'static, R: Runnable> Runnable for Declare<K, R> {
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        self.runnable.__spawn(ctx)
    }

    fn __defaults(&self) -> Defaults {
        self.runnable.__defaults()
    }

    fn __is_group(&self) -> bool {
        self.runnable.__is_group()
    }
}

/// The declared restart type of a child, as a value the checks can take.
pub struct DeclaredRestart<K>(PhantomData<fn() -> K>);

impl<K> Clone for DeclaredRestart<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for DeclaredRestart<K> {}

/// A probed restart type, as the argument of a check (a call, so that
/// rustc points at the option the check is about, not into the macro).
#[inline(always)]
pub fn declared<K>(d: DeclaredRestart<K>) -> DeclaredRestart<K> {
    d
}

/// A child expression's value, probed for its declared defaults.
pub struct Probe<'a, T>(pub &'a T);

/// The probe of a child that declares defaults (picked first, through
/// autoref, when `T: RunnableDefaults`).
pub trait ProbeDeclared {
    type Restart;
    fn __declared(&self) -> DeclaredRestart<Self::Restart>;
}

impl<T: RunnableDefaults> ProbeDeclared for &Probe<'_, T> {
    type Restart = T::Restart;
    #[inline(always)]
    fn __declared(&self) -> DeclaredRestart<T::Restart> {
        DeclaredRestart(PhantomData)
    }
}

/// The probe of any other child.
pub trait ProbeUndeclared {
    fn __declared(&self) -> DeclaredRestart<NoDefault>;
}

impl<T> ProbeUndeclared for Probe<'_, T> {
    #[inline(always)]
    fn __declared(&self) -> DeclaredRestart<NoDefault> {
        DeclaredRestart(PhantomData)
    }
}

/// Declared restart types under which a child may restart (all but `Temporary`).
pub trait MayRestart {}
impl MayRestart for DeclaredRestart<NoDefault> {}
impl MayRestart for DeclaredRestart<Permanent> {}
impl MayRestart for DeclaredRestart<Transient> {}

/// Declared restart types other than no default (permanent by default).
pub trait HasRestartDefault {}
impl HasRestartDefault for DeclaredRestart<Permanent> {}
impl HasRestartDefault for DeclaredRestart<Transient> {}
impl HasRestartDefault for DeclaredRestart<Temporary> {}

/// Declared restart types other than an explicit `Permanent`.
pub trait NotDeclaredPermanent {}
impl NotDeclaredPermanent for DeclaredRestart<NoDefault> {}
impl NotDeclaredPermanent for DeclaredRestart<Transient> {}
impl NotDeclaredPermanent for DeclaredRestart<Temporary> {}

/// Whether some of several children may restart: [`AllTemporary`] until a
/// child that is not declared `Temporary` is added, then [`SomeMayRestart`].
pub struct Siblings<S>(PhantomData<fn() -> S>);

/// Every child so far is declared `Temporary` (or there is none).
pub struct AllTemporary;
/// Some child may restart.
pub struct SomeMayRestart;

/// No child yet.
#[inline(always)]
pub fn siblings() -> Siblings<AllTemporary> {
    Siblings(PhantomData)
}

impl<S> Siblings<S> {
    /// Adds one child's declared restart type.
    #[inline(always)]
    pub fn with<K>(self, _: DeclaredRestart<K>) -> Siblings<<(K, S) as AddSibling>::Out>
    where
        (K, S): AddSibling,
    {
        Siblings(PhantomData)
    }
}

/// The fold behind [`Siblings::with`].
pub trait AddSibling {
    type Out;
}
impl AddSibling for (Temporary, AllTemporary) {
    type Out = AllTemporary;
}
impl AddSibling for (Temporary, SomeMayRestart) {
    type Out = SomeMayRestart;
}
impl<S> AddSibling for (NoDefault, S) {
    type Out = SomeMayRestart;
}
impl<S> AddSibling for (Permanent, S) {
    type Out = SomeMayRestart;
}
impl<S> AddSibling for (Transient, S) {
    type Out = SomeMayRestart;
}

/// Siblings of which some may restart.
pub trait AnyMayRestart {}
impl AnyMayRestart for Siblings<SomeMayRestart> {}
