//! What a tree is, as data: the options a node may set, the tree as
//! declared, the checked specs the engine runs, the name rule, and start
//! order. No tasks and no channels live here; the specs are generic over
//! what a leaf runs, so this layer does not know the engine.
//!
//! | file | what |
//! |---|---|
//! | `options.rs` | the policies: [`Strategy`](crate::Strategy), [`Restart`](crate::Restart), [`Intensity`](crate::Intensity), [`Decay`](crate::Decay), [`Backoff`](crate::Backoff), [`Shutdown`](crate::Shutdown), [`AutoShutdown`](crate::AutoShutdown), [`Defaults`](crate::Defaults) |
//! | `decl.rs` | a tree as declared, before any check ([`GroupKind`](crate::GroupKind)) |
//! | `lower.rs` | the checks and the lowering into specs; start order and cycles |
//! | `model.rs` | the checked specs every incarnation shares |
//! | `name.rs` | the name rule and distinguished names |

pub(crate) mod decl;
pub(crate) mod lower;
pub(crate) mod model;
pub(crate) mod name;
pub(crate) mod options;
