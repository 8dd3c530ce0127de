//! Test support shared by every test suite of the workspace (not published).
//!
//! - [`Lab`]: a scriptable child. Each incarnation it runs registers itself,
//!   counts live incarnations per name (a second live one is an *overlap*,
//!   see [`Lab::overlaps`]), holds a drop guard (see [`Lab::live_guards`]),
//!   logs `start` / `stopping` / `end` with the time, and obeys the [`Cmd`]s
//!   the test sends it: become healthy, done, end in a given way ([`End`]),
//!   hang ignoring cancellation, stop slowly, spawn children of its own.
//! - [`Events`]: the event log of a tree, with waits for a node to enter a
//!   state.
//! - Waits that cannot miss an event and cannot hang: [`start`] subscribes
//!   before the tree starts, so its [`Events`] sees every event from the
//!   first; [`Events::until`] looks at the snapshot first and then follows
//!   events; every wait is bounded (see [`within`]) and fails the test with
//!   what it waited for and the trace so far.
//!
//! Two kinds of tests use it:
//! - paused-clock tests (`#[tokio::test(start_paused = true)]`, current
//!   thread): waits are bounded by [`PAUSED_LIMIT`] of virtual time, which
//!   costs nothing while the tree is idle;
//! - real-time tests (real processes, multi-thread runtimes): waits are
//!   bounded by [`REAL_LIMIT`] ([`start_real_time`], [`Events::real_time`]).
//!
//! Every wait, on either clock, also fails once [`WALL_LIMIT`] of wall-clock
//! time has passed, so a tree that keeps the runtime busy without letting
//! paused time advance (restarts with no delay, forever) still fails the
//! test instead of hanging it.
//!
//! ```
//! use supervisor_runtime::{Child, Group, NodeState};
//! use supervisor_testkit::{start, Cmd, End, Lab};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let lab = Lab::new();
//! let tree = Group::parallel("app")
//!     .child(Child::new("a", lab.child()))
//!     .build()
//!     .unwrap();
//! let (h, mut ev) = start(tree);
//! ev.wait("app.a", NodeState::Healthy).await;
//! lab.send("app.a", Cmd::End(End::err("boom"))).await;
//! let e = ev.wait("app.a", NodeState::Backoff).await;
//! assert_eq!(e.error.unwrap().to_string(), "boom");
//! ev.wait("app.a", NodeState::Healthy).await;
//! assert_eq!(lab.starts("app.a"), 2);
//! assert!(h.shutdown().await.is_clean());
//! assert_eq!(lab.live_guards(), 0);
//! # }
//! ```
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod events;
pub mod harness;
mod lab;
mod wait;

pub use events::Events;
pub use lab::{quiet_injected_panics, Cmd, End, Lab, OnStart, INJECTED};
pub use wait::{
    join, quiet, shutdown, start, start_real_time, try_within, within, yield_now_n, PAUSED_LIMIT,
    REAL_LIMIT, WALL_LIMIT,
};
