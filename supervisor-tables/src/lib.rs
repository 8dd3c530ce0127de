//! Tables for [`supervisor`](https://docs.rs/supervisor)'s dynamic groups
//! that outlive the process and the machine.
//!
//! A [`Table`](supervisor_runtime::Table) is the desired set of a
//! [`DynamicGroup`](supervisor_runtime::DynamicGroup): which keyed
//! children should run, and with which value. The runtime ships one that
//! lives in memory; this crate adds two that live in a database, each
//! behind its feature:
//!
//! - `sqlite`: [`SqliteTable`], the embedded default. One file; survives
//!   restarts, `kill -9` and power loss; editable with the `sqlite3` shell
//!   while the group runs.
//! - `postgres`: [`PgTable`], one desired set shared by a fleet of
//!   processes. Each key runs on exactly one live replica at a time, under
//!   a lease with a fencing epoch; keys spread evenly and move when a
//!   replica joins, leaves or dies.
//!
//! Values are any `Serialize + DeserializeOwned` type, stored as JSON so
//! that a person can read and edit them with plain SQL. Keys follow the
//! runtime's name rule (1–64 characters of `[a-z0-9_-]`).
//!
//! The facade re-exports this crate as `supervisor::tables` under the same
//! features.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod error;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use error::{Error, ErrorKind};
#[cfg(feature = "postgres")]
pub use pg::{PgSettings, PgTable};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteSettings, SqliteTable, APPLICATION_ID, SCHEMA_VERSION};
