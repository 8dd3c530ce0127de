//! Fault-injection suite of the supervision engine.
//!
//! This library holds only *pure* code: the reference model of the runtime
//! semantics ([`model`], whose documentation states the rules it encodes,
//! clause by clause; they are the behaviour the runtime's rustdoc and the
//! README describe) and the expected table of the combination matrix
//! ([`matrix`]). Neither depends on the engine: they are what the engine is
//! checked against. The tests that drive the engine
//! live in `tests/` (`model.rs`, `matrix.rs`, `scale.rs`); see `RELIABILITY.md`
//! at the repository root for the figures and the commands.
#![forbid(unsafe_code)]

pub mod matrix;
pub mod model;
