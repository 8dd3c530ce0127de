//! An error accumulator: every independent error of one invocation is
//! reported in one compile.
//!
//! Like serde_derive's `Ctxt`, it refuses to be dropped unchecked: forgetting
//! to call [`Errors::finish`] (or [`Errors::into_compile_errors`]) is a bug
//! of this crate and panics in tests.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Collects `syn::Error`s; each keeps the span of the offending token.
pub(crate) struct Errors {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Errors {
    pub(crate) fn new() -> Self {
        Errors {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error on `span`.
    pub(crate) fn error(&self, span: Span, msg: impl Display) {
        self.push(syn::Error::new(span, msg));
    }

    /// Records an error spanning the tokens of `tokens` (first to last).
    pub(crate) fn error_spanned(&self, tokens: impl ToTokens, msg: impl Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    /// Records a parse error.
    pub(crate) fn push(&self, e: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Errors used after finish")
            .push(e);
    }

    /// Whether anything has been recorded so far.
    pub(crate) fn has_errors(&self) -> bool {
        self.errors.borrow().as_ref().is_some_and(|v| !v.is_empty())
    }

    /// Consumes the accumulator: `Err` with every recorded error combined.
    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        let errors = self.errors.borrow_mut().take().expect("finish called once");
        let mut iter = errors.into_iter();
        match iter.next() {
            None => Ok(()),
            Some(mut first) => {
                for e in iter {
                    first.combine(e);
                }
                Err(first)
            }
        }
    }

    /// Consumes the accumulator into `compile_error!` invocations (empty if none).
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        match self.finish() {
            Ok(()) => TokenStream::new(),
            Err(e) => e.to_compile_error(),
        }
    }

    /// The messages recorded so far, with their start line and column
    /// (1-based line, 0-based column as rustc's `Span::start`): for tests.
    #[cfg(test)]
    pub(crate) fn take_messages(self) -> Vec<(usize, usize, String)> {
        match self.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e
                .into_iter()
                .map(|e| {
                    let start = e.span().start();
                    (start.line, start.column, e.to_string())
                })
                .collect(),
        }
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("Errors dropped without finish()");
        }
    }
}

/// "did you mean `x`?" for the closest of `candidates` to `got`, if close enough.
pub(crate) fn did_you_mean<'a>(
    got: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (got.chars().count() / 3).max(1);
    let mut best: Option<(&str, usize)> = None;
    for c in candidates {
        let d = distance(&got.to_ascii_lowercase(), c);
        let close = d <= limit || (c.len() > 2 && (got.starts_with(c) || c.starts_with(got)));
        if close && best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    best.map(|(c, _)| c)
}

/// ` (did you mean `x`?)` or nothing.
pub(crate) fn suggestion<'a>(got: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match did_you_mean(got, candidates) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// "`a`, `b` or `c`".
pub(crate) fn one_of(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

/// Optimal string alignment distance (Levenshtein with transpositions).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("paralel", ["sequential", "parallel"]),
            Some("parallel")
        );
        assert_eq!(
            did_you_mean("one_for_al", ["one_for_one", "one_for_all"]),
            Some("one_for_all")
        );
        assert_eq!(
            did_you_mean("restrat", ["restart", "backoff"]),
            Some("restart")
        );
        assert_eq!(did_you_mean("zzz", ["restart", "backoff"]), None);
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
