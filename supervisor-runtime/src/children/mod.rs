//! Kinds of children: OS processes ([`Command`](crate::Command)), groups of
//! keyed children added at runtime ([`DynamicGroup`](crate::DynamicGroup))
//! and the [`Table`](crate::Table)s that drive them, and adapters for
//! servers and start/stop APIs. They use the engine through the same
//! [`Runnable`](crate::Runnable) and [`Context`](crate::Context) any user
//! child uses (and, for the dynamic group, its registry of runtime-added
//! children); the engine does not know them.

pub mod adapters;
pub mod command;
pub(crate) mod dynamic;
pub(crate) mod table;
