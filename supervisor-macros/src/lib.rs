//! The macros of [`supervisor`](https://docs.rs/supervisor):
//! [`supervision_tree!`] declares a supervision tree inline, checked at
//! compile time; [`#[runnable]`](macro@runnable) turns an
//! `async fn(ctx: Context, ..) -> Result<(), E>` into a factory of
//! supervised children.
//!
//! Use them through the `supervisor` crate (`use supervisor::prelude::*;`):
//! the generated code names the runtime as `::supervisor::__private`.
//!
//! # How this crate is built
//!
//! Each macro is three pure steps: **parse** into an AST that keeps every
//! span (`tree::ast`, `runnable::args`), **validate** into a model
//! (`tree::validate`, `tree::graph`, `runnable::validate`), **expand** the
//! model into builder calls (`tree::expand`, `runnable::expand`). Errors go
//! into one accumulator (`common::errors`) so that every independent mistake
//! of an invocation is reported in one compile, each on the token that is
//! wrong. A broken invocation still expands to a value of the right type
//! (`tree::fallback`), next to its `compile_error!`s, so rustc does not
//! cascade and rust-analyzer keeps working.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod common;
mod runnable;
mod tree;

use proc_macro::TokenStream;

/// Declares a supervision tree; evaluates to a `supervisor::Tree`.
///
/// The grammar and every option are documented on `supervisor::supervision_tree!`
/// (the facade includes the reference, `src/dsl_reference.md`, with examples
/// that are tested there).
///
/// ```rust,ignore
/// let tree = supervision_tree! {
///     #[strategy(one_for_all)]
///     parallel app {
///         db: database(url),
///         #[after(db)]
///         http: http_server(8080),
///     }
/// };
/// ```
#[proc_macro]
pub fn supervision_tree(input: TokenStream) -> TokenStream {
    tree::supervision_tree(input.into()).into()
}

/// Turns `async fn NAME(ctx: Context, args..) -> Result<(), E>` into
/// `fn NAME(args..) -> impl Runnable`.
///
/// Each incarnation of the child (the first run and every restart) calls
/// the body with fresh clones of the arguments, so every argument must be
/// `Clone + Send + Sync + 'static`. The function keeps its visibility, doc
/// comments and type parameters; lint attributes apply to both the factory
/// and the body, other attributes (such as `#[tracing::instrument]`) to the
/// async body.
///
/// ```rust,ignore
/// use supervisor::prelude::*;
///
/// /// Serves until asked to stop.
/// #[runnable(restart = transient, shutdown = 5s, ready = on_start)]
/// async fn worker(ctx: Context, id: u32, label: String) -> Result<(), std::io::Error> {
///     let _ = (id, label);
///     ctx.cancelled().await;
///     Ok(())
/// }
///
/// let child = worker(7, "seven".to_owned()); // an `impl Runnable`
/// # let _ = child;
/// ```
///
/// # Arguments
///
/// Defaults for the node that runs the child; options written in the tree
/// take precedence:
///
/// | argument | values |
/// |---|---|
/// | `restart` | `permanent`, `transient`, `temporary` |
/// | `shutdown` | a duration (`5s`, `0s` = brutal), `brutal`, `infinity` |
/// | `ready` | `on_start`: healthy as soon as it runs, no `ctx.healthy()` needed |
///
/// The `restart` default is part of the factory's return type (`impl
/// Runnable + RunnableDefaults<Restart = Temporary>`, through the hidden
/// `__private` module), so the compile-time checks of the trees that call
/// it see it: `backoff` on a child whose runnable is `restart = temporary`
/// is an error there, as is `significant` on one that is
/// `restart = permanent`.
///
/// # Errors
///
/// At compile time: a function that is not `async`; a first parameter that
/// is not `ctx: Context`; a `self` receiver; lifetime parameters or borrowed
/// arguments; a return type other than `Result<(), E>` (or an alias such as
/// `io::Result<()>`), or an `E` that does not convert into
/// `Box<dyn Error + Send + Sync>`; an argument type that is not `Clone`;
/// unknown or repeated arguments of the attribute.
///
/// The body becomes an inner `async fn`, so it cannot refer to `Self`: write
/// `#[runnable]` functions as free functions.
#[proc_macro_attribute]
pub fn runnable(attr: TokenStream, item: TokenStream) -> TokenStream {
    runnable::runnable(attr.into(), item.into()).into()
}
