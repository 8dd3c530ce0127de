//! One module per implementation of the workloads.

pub mod kameo;
pub mod ours;
pub mod ractor;
pub mod raw;
pub mod raw_loop;
pub mod tgs;
