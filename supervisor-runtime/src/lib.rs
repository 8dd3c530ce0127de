//! The supervision engine behind [`supervisor`](https://docs.rs/supervisor):
//! Erlang/OTP supervision trees on tokio, usable on its own through a builder.
//!
//! A tree is made of **groups** (sequential or parallel) and **leaves** (any
//! [`Runnable`]: an `async fn(ctx: Context) -> Result<(), E>`, a closure, a
//! [`Command`], a [`DynamicGroup`], or a nested [`Tree`]). Every node has a
//! distinguished name, `app.web.http`. A group starts its children in order,
//! restarts them after failures according to its [`Strategy`] and
//! [`Restart`] types, with [`Backoff`], gives up past its [`Intensity`] (or
//! pauses by [`Decay`]), and stops them in reverse order with per-node
//! [`Shutdown`] timeouts.
//!
//! ```
//! use std::time::Duration;
//! use supervisor_runtime::{Child, Context, Group};
//!
//! async fn worker(ctx: Context) -> Result<(), std::io::Error> {
//!     ctx.healthy();
//!     ctx.cancelled().await;
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), supervisor_runtime::Error> {
//! let tree = Group::sequential("app")
//!     .child(Child::new("db", worker))
//!     .child(Child::new("http", worker))
//!     .build()?;
//! let handle = tree.start();
//! // ... later:
//! let report = handle.shutdown().await;
//! assert!(report.is_clean());
//! # Ok(()) }
//! ```
//!
//! # Costs
//!
//! One tokio task per incarnation; a group is one more task. Nothing is sent
//! to the event stream while nobody subscribes, and names are built only
//! when something asks for them (a log line that is enabled, an event, a
//! snapshot).
//!
//! # Features
//!
//! - `metrics`: per-node restart and failure counters, state gauges and
//!   time-to-healthy histograms through the [`metrics`](https://docs.rs/metrics)
//!   facade: `supervisor_restarts_total{node}`, `supervisor_failures_total{node}`,
//!   `supervisor_node_state{node,state}` (1 for the current state),
//!   `supervisor_time_to_healthy_seconds{node}`. Install any recorder (a
//!   Prometheus exporter, say) before starting the tree. Without the feature
//!   nothing is recorded and nothing is paid.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod builder;
mod children;
mod engine;
mod error;
mod flat_drop;
mod observe;
mod spec;
#[cfg(all(unix, feature = "systemd"))]
mod systemd;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use builder::{Child, Group};
pub use children::dynamic::{DynamicGroup, Token};
pub use children::table::{MemoryTable, Table};
pub use children::{adapters, command};
pub use command::{Command, CommandError};
pub use engine::{BoxRunnable, Cancelled, Context, Runnable, Tree, TreeHandle, WithDefaults};
pub use error::{BoxError, DoNotRestart, Error, ErrorKind, PanicError, SharedError, StopTree};
pub use observe::event::Event;
pub use observe::report::{NodeOutcome, ShutdownReport};
pub use observe::snapshot::{NodeSnapshot, Snapshot};
pub use observe::state::NodeState;
pub use spec::decl::GroupKind;
pub use spec::options::{
    AutoShutdown, Backoff, Decay, Defaults, Intensity, Restart, Shutdown, Strategy,
};

/// Everything a tree declaration needs, in one `use`.
pub mod prelude {
    pub use crate::{
        AutoShutdown, Backoff, BoxRunnable, Child, Command, Context, Decay, DoNotRestart,
        DynamicGroup, Error, ErrorKind, Event, Group, Intensity, MemoryTable, NodeSnapshot,
        NodeState, Restart, Runnable, Shutdown, ShutdownReport, Snapshot, StopTree, Strategy,
        Table, Token, Tree, TreeHandle,
    };
}
