//! Checks that depend on a `#[runnable]`'s declared restart type.
//!
//! A leaf is any expression, so the macro cannot know whether `cleanup()`
//! is a `#[runnable(restart = temporary)]` call. When a check looks at a
//! child's restart type and the tree sets none, validation records a
//! [`DeclaredCheck`] instead of deciding: the expansion probes the child's
//! type for the restart type its `#[runnable]` declares and has rustc make
//! the check while it type-checks, with the message written here (see
//! `expand::declared_checks` and `__private::RunnableDefaults`).
//!
//! A child without declared defaults (a closure, a `Command`, a `Tree`, a
//! runnable without `restart = ..`) is permanent unless the tree says
//! otherwise, exactly as the runtime decides.

use proc_macro2::Span;
use syn::{Expr, Ident};

use super::model::{DeclaredCheck, DeclaredRule};

/// Collects the deferred checks of a tree and numbers the probed leaves.
#[derive(Default)]
pub(crate) struct Declared {
    pub(crate) checks: Vec<DeclaredCheck>,
    pub(crate) probes: usize,
}

impl Declared {
    /// A new probe slot for a leaf.
    pub(crate) fn slot(&mut self) -> usize {
        self.probes += 1;
        self.probes - 1
    }

    /// `backoff` on a leaf whose restart type the tree leaves to its runnable.
    pub(crate) fn backoff(&mut self, slot: usize, span: Span, path: &str, who: &Who) {
        self.checks.push(DeclaredCheck {
            span,
            message: format!(
                "`backoff` has no effect on `{path}`: {} `#[runnable(restart = temporary)]` and never restarts",
                who.is()
            ),
            label: "remove this `backoff`, or override the runnable's default with `#[restart(transient)]`".to_owned(),
            rule: DeclaredRule::MayRestart(slot),
        });
    }

    /// `significant` on a leaf whose restart type the tree leaves to its runnable.
    pub(crate) fn significant(&mut self, slot: usize, span: Span, path: &str, who: &Who) {
        self.checks.push(DeclaredCheck {
            span,
            message: format!(
                "`significant` on `{path}`, which is permanent (the default): a permanent child restarts after every ending, so it never ends for good"
            ),
            label: "make the child `#[restart(transient)]` or `#[restart(temporary)]`, or remove `significant`".to_owned(),
            rule: DeclaredRule::HasRestartDefault(slot),
        });
        self.checks.push(DeclaredCheck {
            span,
            message: format!(
                "`significant` on `{path}`: {} `#[runnable(restart = permanent)]`, and a permanent child restarts after every ending, so it never ends for good",
                who.is()
            ),
            label: "override the runnable's default with `#[restart(transient)]` or `#[restart(temporary)]`, or remove `significant`".to_owned(),
            rule: DeclaredRule::NotDeclaredPermanent(slot),
        });
    }

    /// `intensity` on a group whose children are all `temporary` in the
    /// tree except `undecided`, whose restart type is their runnable's.
    pub(crate) fn intensity(&mut self, span: Span, path: &str, undecided: &[(usize, Who)]) {
        let names: Vec<String> = undecided.iter().map(|(_, w)| w.name()).collect();
        let (names, verb) = match names.as_slice() {
            [one] => (one.clone(), "is"),
            [init @ .., last] => (format!("{} and {last}", init.join(", ")), "are"),
            [] => return,
        };
        self.checks.push(DeclaredCheck {
            span,
            message: format!(
                "`intensity` on `{path}` has no effect: all its children are `temporary` and never restart ({names} {verb} `#[runnable(restart = temporary)]`)"
            ),
            label: "no child of this group ever restarts: remove this `intensity`".to_owned(),
            rule: DeclaredRule::AnyMayRestart(undecided.iter().map(|(s, _)| *s).collect()),
        });
    }
}

/// How a message names the runnable of a leaf: the function of a call
/// such as `cleanup(..)`, else through the leaf.
#[derive(Clone)]
pub(crate) enum Who {
    Function(String),
    Leaf(String),
}

impl Who {
    pub(crate) fn of(expr: &Expr, leaf: &Ident) -> Who {
        if let Expr::Call(call) = expr {
            if let Expr::Path(p) = &*call.func {
                if let Some(last) = p.path.segments.last() {
                    return Who::Function(last.ident.to_string());
                }
            }
        }
        Who::Leaf(leaf.to_string())
    }

    fn name(&self) -> String {
        match self {
            Who::Function(f) => format!("`{f}`"),
            Who::Leaf(l) => format!("the runnable of `{l}`"),
        }
    }

    fn is(&self) -> String {
        match self {
            Who::Function(f) => format!("`{f}` is"),
            Who::Leaf(_) => "its runnable is".to_owned(),
        }
    }
}
