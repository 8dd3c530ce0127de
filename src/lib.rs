//! Supervision trees for tokio, declared inline with a checked DSL.
//!
//! This is the facade: the runtime ([`supervisor_runtime`]) and the macros
//! ([`supervision_tree!`], [`#[runnable]`](runnable)) under one name.
#![deny(missing_docs)]

pub use supervisor_runtime::*;

#[doc(hidden)]
pub use supervisor_runtime::__private;

#[doc = include_str!("dsl_reference.md")]
pub use supervisor_macros::supervision_tree;

pub use supervisor_macros::runnable;

/// Everything a tree declaration needs, in one `use`: the runtime's prelude
/// and the two macros.
pub mod prelude {
    pub use supervisor_macros::{runnable, supervision_tree};
    pub use supervisor_runtime::prelude::*;
}
