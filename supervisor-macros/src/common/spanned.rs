//! A value with the span of the tokens it came from.

use proc_macro2::Span;

/// A parsed value and where the user wrote it.
#[derive(Clone, Debug)]
pub(crate) struct Sp<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

impl<T> Sp<T> {
    pub(crate) fn new(value: T, span: Span) -> Self {
        Sp { value, span }
    }
}
