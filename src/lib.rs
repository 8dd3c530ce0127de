//! Supervision trees for tokio, declared inline in `main` and checked at
//! compile time.
//!
//! Erlang/OTP's discipline — strategies, restart intensity, ordered start,
//! reverse-order stop with timeouts — for tokio tasks, OS processes and
//! servers. Declare the tree with [`supervision_tree!`], write children as
//! [`#[runnable]`](runnable) async functions, and run it:
//!
//! ```no_run
//! use std::time::Duration;
//! use supervisor::prelude::*;
//!
//! #[runnable]
//! async fn database(ctx: Context, url: String) -> Result<(), std::io::Error> {
//!     // connect to `url` ...
//!     ctx.healthy();          // sequential siblings after this one may start now
//!     ctx.cancelled().await;  // run until asked to stop
//!     Ok(())
//! }
//!
//! #[runnable(ready = on_start)]
//! async fn http_server(ctx: Context, port: u16) -> Result<(), std::io::Error> {
//!     ctx.cancelled().await;
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), supervisor::Error> {
//!     let url = std::env::var("DB").unwrap_or_default();
//!     let tree = supervision_tree! {
//!         #[intensity(max = 5, within = 10s)]
//!         sequential app {
//!             db: database(url),
//!             #[strategy(one_for_all)]
//!             parallel web {
//!                 http: http_server(8080),
//!                 #[after(http)]
//!                 admin: http_server(8081),
//!             },
//!         }
//!     };
//!     tree.run_until_signal().await
//! }
//! ```
//!
//! What happens when a child ends is decided by its group's [`Strategy`],
//! its [`Restart`] type, its [`Backoff`] and the group's [`Intensity`] (or
//! [`Decay`]); the table of endings is on [`Context`]. A running tree is a
//! [`TreeHandle`]: [`snapshot`](TreeHandle::snapshot) draws it,
//! [`subscribe`](TreeHandle::subscribe) streams every state change,
//! [`shutdown`](TreeHandle::shutdown) stops it in order and reports what had
//! to be aborted.
//!
//! Everything the macro does can be written by hand with the builder
//! ([`Group`], [`Child`], [`Tree`]); the macro only adds the compile-time
//! checks. See the [`supervision_tree!`] documentation for the full grammar.
#![deny(missing_docs)]

pub use supervisor_runtime::*;

#[doc(hidden)]
pub use supervisor_runtime::__private;

#[doc = include_str!("dsl_reference.md")]
pub use supervisor_macros::supervision_tree;

pub use supervisor_macros::runnable;

/// Tables that outlive the process: a dynamic group's desired set in one
/// SQLite file ([`SqliteTable`](tables::SqliteTable), feature `sqlite`), or
/// shared by a fleet of processes on PostgreSQL
/// ([`PgTable`](tables::PgTable), feature `postgres`). See the
/// `supervisor-tables` crate.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod tables {
    pub use supervisor_tables::*;
}

/// A live view of a running tree in the browser (feature `web`):
/// [`web::router`] gives an axum `Router` with a page, `/tree.json` and
/// server-sent `/events`, to mount in your own server.
///
/// ```no_run
/// # async fn serve(handle: supervisor::TreeHandle) -> std::io::Result<()> {
/// let app = supervisor::web::router(handle);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
#[cfg(feature = "web")]
pub use supervisor_web as web;

/// Everything a tree declaration needs, in one `use`: the runtime's prelude
/// and the two macros.
pub mod prelude {
    pub use supervisor_macros::{runnable, supervision_tree};
    pub use supervisor_runtime::prelude::*;
}
