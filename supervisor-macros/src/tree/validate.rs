//! Checks a parsed tree and builds its [`Model`]. Only checks: it emits nothing.
//!
//! Every independent error is recorded; `validate` returns a model only when
//! the whole invocation (parsing included) is free of errors.

use std::cell::RefCell;

use proc_macro2::Span;

use super::ast::{Ast, GroupAst, GroupKind, LeafAst, Node};
use super::declared::{Declared, Who};
use super::graph::{self, Sibling};
use super::model::{
    AutoShutdown, Common, GroupModel, LeafModel, Model, NodeModel, Restart, Strategy,
};
use super::options::{self, Options};
use crate::common::errors::Errors;

/// Checks `ast`; `Some` only if neither parsing nor validation found an error.
pub(crate) fn validate(ast: &Ast, errors: &Errors) -> Option<Model> {
    if ast.nodes.is_empty() {
        if !errors.has_errors() {
            errors.error(
                Span::call_site(),
                "empty `supervision_tree!`: expected one root group, as in `supervision_tree! { sequential app { db: database(url) } }`",
            );
        }
        return None;
    }
    let mut paths = Vec::new();
    for node in &ast.nodes {
        collect_paths(node, "", &mut paths);
    }
    let cx = Cx {
        errors,
        paths: &paths,
        declared: RefCell::default(),
    };
    let mut root = None;
    let mut root_name = None;
    for node in &ast.nodes {
        match node {
            Node::Group(g) => {
                if let Some(first) = &root_name {
                    errors.error(
                        g.kind.as_ref().map_or(g.name.span(), |k| k.span),
                        format!(
                            "more than one root group: a tree has exactly one root; nest `{}` inside `{first}`, or declare a second tree",
                            g.name
                        ),
                    );
                    let _ = cx.group(g, Level::Root);
                } else {
                    root_name = Some(g.name.to_string());
                    root = cx.group(g, Level::Root).0;
                }
            }
            Node::Leaf(l) => {
                errors.error(
                    l.name.span(),
                    format!(
                        "the root of a tree must be a group: wrap `{}` in one, as in `parallel app {{ {}: .. }}`",
                        l.name, l.name
                    ),
                );
            }
        }
    }
    if errors.has_errors() {
        return None;
    }
    let declared = cx.declared.into_inner();
    root.map(|root| Model {
        root,
        declared_checks: declared.checks,
        probes: declared.probes,
    })
}

fn collect_paths(node: &Node, parent: &str, out: &mut Vec<String>) {
    let path = join(parent, &node.name().to_string());
    if let Node::Group(g) = node {
        for c in &g.children {
            collect_paths(c, &path, out);
        }
    }
    out.push(path);
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

#[derive(Clone)]
enum Level {
    Root,
    /// A child of the group at this path.
    Child(String),
}

impl Level {
    fn path_of(&self, name: &str) -> String {
        match self {
            Level::Root => name.to_owned(),
            Level::Child(parent) => join(parent, name),
        }
    }
}

struct Cx<'a> {
    errors: &'a Errors,
    paths: &'a [String],
    declared: RefCell<Declared>,
}

/// What a group needs to know of a child after checking it.
struct ChildInfo {
    opts: Options,
    /// `restart` is written on the child (valid or not).
    restart_written: bool,
    /// The leaf's name and runnable, for checks on declared defaults.
    leaf: Option<Who>,
}

impl Cx<'_> {
    fn group(&self, g: &GroupAst, level: Level) -> (Option<GroupModel>, Options) {
        let path = level.path_of(&g.name.to_string());
        let name = check_name(&g.name, self.errors);
        let o = options::read(&g.attrs, &path, self.errors);
        let kind = g.kind.as_ref().map(|k| k.value);
        if let Some(r) = &o.ready {
            self.errors.error(
                r.key.span(),
                format!("`ready` applies to leaves, and `{path}` is a group: a group is healthy once all its children are"),
            );
        }
        if let Some(w) = &o.watchdog {
            self.errors.error(
                w.key.span(),
                format!("`watchdog` applies to leaves, and `{path}` is a group: each leaf calls `ctx.alive()` itself; put `watchdog` on the leaves to watch"),
            );
        }
        if matches!(level, Level::Root) {
            for (opt, span) in [
                ("restart", o.restart.as_ref().map(|s| s.key.span())),
                (
                    "start_timeout",
                    o.start_timeout.as_ref().map(|s| s.key.span()),
                ),
                ("after", o.after.as_ref().map(|s| s.key.span())),
                ("significant", o.significant.as_ref().map(|s| s.key.span())),
            ] {
                if let Some(span) = span {
                    let why = match opt {
                        "after" => "the root has no siblings to wait for",
                        "restart" => "the root has no parent to restart it",
                        "significant" => "the root has no group to end",
                        _ => "nothing waits for the root to become healthy",
                    };
                    self.errors.error(
                        span,
                        format!("`{opt}` is not valid on the root group `{path}`: {why}; it applies to children"),
                    );
                }
            }
        }
        if let (Some(_), Some(d)) = (&o.intensity, &o.decay) {
            self.errors.error(
                d.key.span(),
                format!("`decay` cannot be combined with `intensity` on `{path}`: a decaying group pauses restarts and never gives up; choose one"),
            );
        }
        if g.children.is_empty() {
            self.errors.error(
                g.name.span(),
                format!("group `{path}` has no children; a group needs at least one child"),
            );
        }
        if !matches!(level, Level::Root) {
            self.significant_group(&o, written(&g.attrs, "restart"), &path);
        }

        let child_level = Level::Child(path.clone());
        let mut children = Vec::with_capacity(g.children.len());
        let mut infos: Vec<ChildInfo> = Vec::with_capacity(g.children.len());
        for c in &g.children {
            let (model, info) = match c {
                Node::Group(cg) => {
                    let (m, opts) = self.group(cg, child_level.clone());
                    let info = ChildInfo {
                        opts,
                        restart_written: written(&cg.attrs, "restart"),
                        leaf: None,
                    };
                    (m.map(NodeModel::Group), info)
                }
                Node::Leaf(l) => {
                    let (m, opts) = self.leaf(l, child_level.clone());
                    let info = ChildInfo {
                        opts,
                        restart_written: written(&l.attrs, "restart"),
                        leaf: Some(Who::of(&l.expr, &l.name)),
                    };
                    (m.map(NodeModel::Leaf), info)
                }
            };
            children.push(model);
            infos.push(info);
        }

        let siblings: Vec<Sibling<'_>> = g
            .children
            .iter()
            .zip(&infos)
            .map(|(c, ChildInfo { opts: o, .. })| Sibling {
                name: c.name().to_string(),
                span: c.name().span(),
                after: o.after.as_ref(),
            })
            .collect();
        graph::check_duplicates(&path, &siblings, self.errors);
        let elsewhere = |n: &str| {
            let suffix = format!(".{n}");
            self.paths
                .iter()
                .find(|p| (p.ends_with(&suffix) || p.as_str() == n) && !is_child_of(p, &path))
                .cloned()
        };
        let has_after = graph::check_after(&path, kind, &siblings, &elsewhere, self.errors);

        if let (Some(s), Some(GroupKind::Parallel)) = (&o.strategy, kind) {
            if s.value == Strategy::RestForOne && !has_after {
                self.errors.error(
                    s.value_span,
                    format!(
                        "`rest_for_one` on the parallel group `{path}` needs `after` edges: it restarts the failed child and the siblings that wait for it, and no child of `{path}` waits for another; use `one_for_one`, or add `#[after(..)]` to its children"
                    ),
                );
            }
        }
        if let Some(i) = &o.intensity {
            self.intensity_applies(i.key.span(), &path, &infos, &mut children);
        }
        self.auto_shutdown(&o, written(&g.attrs, "auto_shutdown"), &path, &infos);

        let children: Option<Vec<NodeModel>> = children.into_iter().collect();
        let model = (|| {
            Some(GroupModel {
                kind: kind?,
                name: name?,
                span: g.name.span(),
                strategy: o.strategy.as_ref().map(|s| s.value),
                intensity: o.intensity.as_ref().map(|s| s.value),
                decay: o.decay.as_ref().map(|s| s.value),
                auto_shutdown: o.auto_shutdown.as_ref().map(|s| s.value),
                common: common(&o),
                children: children?,
            })
        })();
        (model, o)
    }

    fn leaf(&self, l: &LeafAst, level: Level) -> (Option<LeafModel>, Options) {
        let path = level.path_of(&l.name.to_string());
        let name = check_name(&l.name, self.errors);
        let o = options::read(&l.attrs, &path, self.errors);
        for (opt, span) in [
            ("strategy", o.strategy.as_ref().map(|s| s.key.span())),
            ("intensity", o.intensity.as_ref().map(|s| s.key.span())),
            ("decay", o.decay.as_ref().map(|s| s.key.span())),
            (
                "auto_shutdown",
                o.auto_shutdown.as_ref().map(|s| s.key.span()),
            ),
        ] {
            if let Some(span) = span {
                self.errors.error(
                    span,
                    format!("`{opt}` applies to groups, and `{path}` is a leaf: write it on the group whose children it governs"),
                );
            }
        }
        // The restart type the tree leaves to the child's runnable, if any.
        let undecided = o.restart.is_none() && !written(&l.attrs, "restart");
        let who = Who::of(&l.expr, &l.name);
        let mut probe = None;
        if let Some(b) = &o.backoff {
            match &o.restart {
                Some(r) if r.value == Restart::Temporary => self.errors.error(
                    b.key.span(),
                    format!(
                        "`backoff` has no effect on `{path}`: it is `temporary` and never restarts"
                    ),
                ),
                _ if undecided => {
                    let mut d = self.declared.borrow_mut();
                    let slot = *probe.get_or_insert_with(|| d.slot());
                    d.backoff(slot, b.key.span(), &path, &who);
                }
                _ => {}
            }
        }
        if let Some(s) = &o.significant {
            if let Some(r) = &o.restart {
                self.significant_restart(s.key.span(), Some(r.value), &path);
            } else if undecided {
                let mut d = self.declared.borrow_mut();
                let slot = *probe.get_or_insert_with(|| d.slot());
                d.significant(slot, s.key.span(), &path, &who);
            }
        }
        let model = name.map(|name| LeafModel {
            name,
            span: l.name.span(),
            expr: l.expr.clone(),
            common: common(&o),
            ready_on_start: o.ready.is_some(),
            watchdog: o.watchdog.as_ref().map(|s| s.value),
            probe,
        });
        (model, o)
    }

    /// `significant` on a nested group: it must be transient or temporary.
    fn significant_group(&self, o: &Options, restart_written: bool, path: &str) {
        let Some(s) = &o.significant else { return };
        match &o.restart {
            Some(r) => self.significant_restart(s.key.span(), Some(r.value), path),
            None if !restart_written => self.significant_restart(s.key.span(), None, path),
            None => {}
        }
    }

    /// `significant` on a child whose restart type is `restart` (`None`: the
    /// default, permanent) as written in the tree.
    fn significant_restart(&self, span: Span, restart: Option<Restart>, path: &str) {
        let which = match restart {
            Some(Restart::Transient | Restart::Temporary) => return,
            Some(Restart::Permanent) => "`permanent`",
            None => "permanent (the default)",
        };
        self.errors.error(
            span,
            format!("`significant` on `{path}`, which is {which}: a permanent child restarts after every ending, so it never ends for good; make it `#[restart(transient)]` or `#[restart(temporary)]`"),
        );
    }

    /// `intensity` on a group whose children never restart has no effect.
    /// Leaves whose restart type is their runnable's are left to rustc.
    fn intensity_applies(
        &self,
        span: Span,
        path: &str,
        infos: &[ChildInfo],
        children: &mut [Option<NodeModel>],
    ) {
        let temporary = |i: &ChildInfo| {
            i.opts
                .restart
                .as_ref()
                .is_some_and(|r| r.value == Restart::Temporary)
        };
        let undecided = |i: &ChildInfo| i.leaf.is_some() && !i.restart_written;
        if infos.is_empty() || !infos.iter().all(|i| temporary(i) || undecided(i)) {
            return;
        }
        if infos.iter().all(temporary) {
            self.errors.error(
                span,
                format!("`intensity` on `{path}` has no effect: all its children are `temporary` and never restart"),
            );
            return;
        }
        let mut d = self.declared.borrow_mut();
        let mut slots = Vec::new();
        for (info, child) in infos.iter().zip(children.iter_mut()) {
            let (Some(who), false) = (&info.leaf, temporary(info)) else {
                continue;
            };
            // A leaf with an error has no model; the tree expands to its
            // fallback then, and no deferred check is emitted.
            let Some(NodeModel::Leaf(leaf)) = child else {
                return;
            };
            let slot = *leaf.probe.get_or_insert_with(|| d.slot());
            slots.push((slot, who.clone()));
        }
        d.intensity(span, path, &slots);
    }

    /// `auto_shutdown` needs significant children, and significant children
    /// need a group that ends with them.
    fn auto_shutdown(&self, o: &Options, written_here: bool, path: &str, infos: &[ChildInfo]) {
        let significant: Vec<_> = infos
            .iter()
            .filter_map(|i| i.opts.significant.as_ref())
            .collect();
        match &o.auto_shutdown {
            Some(a) if a.value != AutoShutdown::Never && significant.is_empty() => {
                let v = if a.value == AutoShutdown::AnySignificant {
                    "any_significant"
                } else {
                    "all_significant"
                };
                self.errors.error(
                    a.value_span,
                    format!("`auto_shutdown({v})` on `{path}` has no effect: none of its children is `significant`; mark the children whose ending ends `{path}` with `#[significant]`"),
                );
            }
            Some(a) if a.value != AutoShutdown::Never => {}
            // A misspelt `auto_shutdown` is reported on its own.
            None if written_here => {}
            _ => {
                let why = if o.auto_shutdown.is_some() {
                    "is `auto_shutdown(never)`"
                } else {
                    "has no `auto_shutdown`"
                };
                for s in significant {
                    self.errors.error(
                        s.key.span(),
                        format!("`significant` has no effect in `{path}`: the group {why}, so it does not end with its significant children; add `#[auto_shutdown(any_significant)]` or `#[auto_shutdown(all_significant)]` to `{path}`"),
                    );
                }
            }
        }
    }
}

fn is_child_of(path: &str, group: &str) -> bool {
    path.strip_prefix(group)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| !rest.contains('.'))
}

fn common(o: &Options) -> Common {
    Common {
        restart: o.restart.as_ref().map(|s| s.value),
        backoff: o.backoff.as_ref().map(|s| s.value),
        shutdown: o.shutdown.as_ref().map(|s| s.value),
        start_timeout: o.start_timeout.as_ref().map(|s| s.value),
        after: o
            .after
            .as_ref()
            .map(|s| s.value.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        significant: o.significant.is_some(),
    }
}

/// The name rule: 1–64 characters of `[a-z0-9_]`.
fn check_name(name: &syn::Ident, errors: &Errors) -> Option<String> {
    let s = name.to_string();
    let rule = "names are 1–64 characters of `a-z`, `0-9` and `_`";
    if let Some(raw) = s.strip_prefix("r#") {
        errors.error(
            name.span(),
            format!("raw identifier `{s}` is not a valid name: write `{raw}` ({rule})"),
        );
        return None;
    }
    if s.chars().count() > 64 {
        errors.error(
            name.span(),
            format!(
                "name `{s}` is {} characters long; {rule}",
                s.chars().count()
            ),
        );
        return None;
    }
    if s.chars().any(|c| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        errors.error(
            name.span(),
            format!(
                "name `{s}` has uppercase letters; did you mean `{}`? ({rule})",
                snake_case(&s)
            ),
        );
        return None;
    }
    if let Some(c) = s
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_'))
    {
        errors.error(name.span(), format!("name `{s}` contains {c:?}; {rule}"));
        return None;
    }
    Some(s)
}

fn snake_case(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if i > 0 && chars[i - 1] != '_' && (prev_lower || next_lower) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

/// Whether option `name` is written among `attrs`, valid or not (so that a
/// misspelt value does not also trigger checks that assume its default).
fn written(attrs: &[super::ast::RawOption], name: &str) -> bool {
    attrs.iter().any(|a| a.name == name)
}
