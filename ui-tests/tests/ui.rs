//! Compile-time behaviour of `supervision_tree!` and `#[runnable]`.
//!
//! `pass/` must compile (and run: each `main` builds its trees and exits);
//! `fail/` must fail with exactly the `.stderr` next to it. Regenerate the
//! `.stderr` files with `TRYBUILD=overwrite cargo test -p ui-tests` and read
//! the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
