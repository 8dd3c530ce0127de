//! What runs a tree: one task per group incarnation and one per child
//! incarnation, the slots and their transitions, the restart budget,
//! timers, start and stop order, children added at runtime, and the walks
//! that snapshots and reports are made of. The map of its files is in the
//! design note of `group.rs`.

mod added;
mod budget;
mod cancelled;
mod context;
mod ending;
mod group;
mod incarnation;
mod metrics;
mod order;
mod restart;
mod runnable;
mod signals;
mod slot;
mod state;
mod timers;
mod tree;
mod walk;

pub(crate) use added::{BoxFuture, GateAnswer, OpenGroup, Removal, RestartGate, WeakOpenGroup};
pub use cancelled::Cancelled;
pub use context::Context;
pub(crate) use group::group_runnable;
pub(crate) use incarnation::spawn as spawn_incarnation;
pub(crate) use runnable::sealed::Sealed;
pub(crate) use runnable::SharedRunnable;
pub use runnable::{BoxRunnable, Runnable, WithDefaults};
pub use tree::{Tree, TreeHandle};

/// A checked group, as the engine runs it.
pub(crate) type Spec = crate::spec::model::GroupSpec<BoxRunnable>;
/// A checked child, as the engine runs it.
pub(crate) type ChildSpec = crate::spec::model::ChildSpec<BoxRunnable>;

/// Starts one incarnation of a child's runnable.
fn spawn_child(r: &BoxRunnable, ctx: Context) -> tokio::task::JoinHandle<()> {
    r.__spawn(ctx)
}
