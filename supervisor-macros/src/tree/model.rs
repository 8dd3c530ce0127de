//! The checked tree: what `expand` lowers onto the runtime builder.
//!
//! A `Model` exists only when validation found no error, so every value in
//! it is known to be accepted by the runtime.

use proc_macro2::Span;
use syn::Expr;

use super::ast::GroupKind;
use crate::common::duration::DurationLit;

pub(crate) struct Model {
    pub(crate) root: GroupModel,
    /// Checks on `#[runnable]` defaults, left to rustc (see [`DeclaredCheck`]).
    pub(crate) declared_checks: Vec<DeclaredCheck>,
    /// How many leaves are probed for their declared defaults.
    pub(crate) probes: usize,
}

pub(crate) struct GroupModel {
    pub(crate) kind: GroupKind,
    pub(crate) name: String,
    pub(crate) span: Span,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) intensity: Option<Intensity>,
    pub(crate) decay: Option<Decay>,
    pub(crate) auto_shutdown: Option<AutoShutdown>,
    pub(crate) common: Common,
    pub(crate) children: Vec<NodeModel>,
}

pub(crate) struct LeafModel {
    pub(crate) name: String,
    pub(crate) span: Span,
    pub(crate) expr: Expr,
    pub(crate) common: Common,
    pub(crate) ready_on_start: bool,
    pub(crate) watchdog: Option<DurationLit>,
    /// The slot its declared defaults are probed into, if a check needs them.
    pub(crate) probe: Option<usize>,
}

pub(crate) enum NodeModel {
    Group(GroupModel),
    Leaf(LeafModel),
}

/// Options shared by groups and leaves.
#[derive(Default)]
pub(crate) struct Common {
    pub(crate) restart: Option<Restart>,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) shutdown: Option<Shutdown>,
    pub(crate) start_timeout: Option<DurationLit>,
    pub(crate) after: Vec<String>,
    pub(crate) significant: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    OneForOne,
    OneForAll,
    RestForOne,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Restart {
    Permanent,
    Transient,
    Temporary,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum AutoShutdown {
    Never,
    AnySignificant,
    AllSignificant,
}

#[derive(Copy, Clone, Debug)]
pub(crate) enum Intensity {
    Limited { max: u32, within: DurationLit },
    Unlimited,
}

#[derive(Copy, Clone, Debug)]
pub(crate) struct Decay {
    pub(crate) half_life: DurationLit,
    pub(crate) threshold: f64,
    pub(crate) pause: DurationLit,
}

#[derive(Copy, Clone, Debug)]
pub(crate) enum Backoff {
    Exponential {
        initial: Option<DurationLit>,
        max: Option<DurationLit>,
        multiplier: Option<f64>,
        jitter: Option<f64>,
    },
    Fixed(DurationLit),
    None,
}

#[derive(Copy, Clone, Debug)]
pub(crate) enum Shutdown {
    Timeout(DurationLit),
    Brutal,
    Infinity,
}

/// A check that depends on the restart type a `#[runnable]` declares, which
/// the macro cannot see (the child is any expression): the expansion asks
/// rustc to make it, with this message on this span, while it type-checks.
pub(crate) struct DeclaredCheck {
    /// The option that would be wrong.
    pub(crate) span: Span,
    pub(crate) message: String,
    pub(crate) label: String,
    pub(crate) rule: DeclaredRule,
}

/// What the declared restart types of the probed leaves must satisfy.
pub(crate) enum DeclaredRule {
    /// This leaf's runnable is not declared `temporary`.
    MayRestart(usize),
    /// This leaf's runnable declares a restart type (it is not permanent by default).
    HasRestartDefault(usize),
    /// This leaf's runnable is not declared `permanent`.
    NotDeclaredPermanent(usize),
    /// Some of these leaves' runnables are not declared `temporary`.
    AnyMayRestart(Vec<usize>),
}
