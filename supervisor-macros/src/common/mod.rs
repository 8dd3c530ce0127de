//! Pieces shared by both macros.

pub(crate) mod duration;
pub(crate) mod errors;
pub(crate) mod spanned;
pub(crate) mod value;
