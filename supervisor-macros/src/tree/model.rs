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
