//! What can be seen of a tree from outside: the state of a node, the
//! events of the state stream, snapshots and shutdown reports. Plain data:
//! nothing here knows the engine (the engine's walks fill these in).
//!
//! | file | what |
//! |---|---|
//! | `state.rs` | [`NodeState`](crate::NodeState) |
//! | `event.rs` | [`Event`](crate::Event) |
//! | `snapshot.rs` | [`Snapshot`](crate::Snapshot), [`NodeSnapshot`](crate::NodeSnapshot) and the drawing of a tree |
//! | `report.rs` | [`ShutdownReport`](crate::ShutdownReport), [`NodeOutcome`](crate::NodeOutcome) |

pub(crate) mod event;
pub(crate) mod report;
pub(crate) mod snapshot;
pub(crate) mod state;
