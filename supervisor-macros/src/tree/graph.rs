//! Checks across siblings: names, `after` edges and their cycles.

use proc_macro2::Span;
use syn::Ident;

use super::ast::GroupKind;
use super::options::Set;
use crate::common::errors::{one_of, suggestion, Errors};

/// One child of a group, as the graph checks see it.
pub(crate) struct Sibling<'a> {
    pub(crate) name: String,
    pub(crate) span: Span,
    pub(crate) after: Option<&'a Set<Vec<Ident>>>,
}

/// Reports two siblings with one name (on the second, with a note on the first).
pub(crate) fn check_duplicates(group: &str, siblings: &[Sibling<'_>], errors: &Errors) {
    for (i, s) in siblings.iter().enumerate() {
        if let Some(first) = siblings[..i].iter().find(|p| p.name == s.name) {
            errors.error(
                s.span,
                format!(
                    "duplicate name `{}` in `{group}`: siblings (groups and leaves alike) need distinct names",
                    s.name
                ),
            );
            errors.error(
                first.span,
                format!("note: `{}` is first defined here", s.name),
            );
        }
    }
}

/// Checks the `after` edges of one group's children. `elsewhere(name)`
/// returns the distinguished name of a node called `name` outside this
/// group, if any. Returns whether any child uses `after`.
pub(crate) fn check_after(
    group: &str,
    kind: Option<GroupKind>,
    siblings: &[Sibling<'_>],
    elsewhere: &dyn Fn(&str) -> Option<String>,
    errors: &Errors,
) -> bool {
    let n = siblings.len();
    let mut deps: Vec<Vec<(usize, Span)>> = vec![Vec::new(); n];
    let mut any = false;
    for (i, s) in siblings.iter().enumerate() {
        let Some(after) = s.after else { continue };
        any = true;
        if kind == Some(GroupKind::Sequential) {
            errors.error(
                after.key.span(),
                format!(
                    "`after` is only valid in a parallel group: `{group}` is sequential, so `{}` already starts after the siblings written before it",
                    s.name
                ),
            );
            continue;
        }
        for (k, target) in after.value.iter().enumerate() {
            let t = target.to_string();
            if t == s.name {
                errors.error(target.span(), format!("`{t}` cannot start after itself"));
                continue;
            }
            if after.value[..k].iter().any(|p| *p == t) {
                errors.error(
                    target.span(),
                    format!("`{t}` is listed twice in `after(..)`"),
                );
                continue;
            }
            match siblings.iter().position(|x| x.name == t) {
                Some(j) => deps[i].push((j, target.span())),
                None => {
                    let msg = match elsewhere(&t) {
                        Some(path) => format!(
                            "`{t}` is not a sibling of `{}`: `after` can only name children of the same group `{group}` (`{t}` is `{path}`)",
                            s.name
                        ),
                        None => {
                            let others: Vec<&str> =
                                siblings.iter().map(|x| x.name.as_str()).filter(|x| *x != s.name).collect();
                            let list = if others.is_empty() {
                                format!("; `{}` has no siblings", s.name)
                            } else {
                                format!("; its siblings are {}", one_of(&others).replace(" or ", " and "))
                            };
                            format!(
                                "`{}` waits for `{t}`, but `{group}` has no child named `{t}`{}{list}",
                                s.name,
                                suggestion(&t, others.iter().copied())
                            )
                        }
                    };
                    errors.error(target.span(), msg);
                }
            }
        }
    }
    report_cycles(siblings, &deps, errors);
    any
}

/// Finds every cycle of `after` edges (once each) and prints it by name.
fn report_cycles(siblings: &[Sibling<'_>], deps: &[Vec<(usize, Span)>], errors: &Errors) {
    // 0 = unvisited, 1 = on the stack, 2 = done
    let n = deps.len();
    let mut mark = vec![0u8; n];
    for start in 0..n {
        if mark[start] == 0 {
            let mut path = Vec::new();
            visit(start, siblings, deps, &mut mark, &mut path, errors);
        }
    }
}

fn visit(
    v: usize,
    siblings: &[Sibling<'_>],
    deps: &[Vec<(usize, Span)>],
    mark: &mut [u8],
    path: &mut Vec<usize>,
    errors: &Errors,
) {
    mark[v] = 1;
    path.push(v);
    for &(d, span) in &deps[v] {
        match mark[d] {
            0 => visit(d, siblings, deps, mark, path, errors),
            1 => {
                let pos = path.iter().position(|x| *x == d).unwrap_or(0);
                let mut names: Vec<&str> = path[pos..]
                    .iter()
                    .map(|i| siblings[*i].name.as_str())
                    .collect();
                names.push(&siblings[d].name);
                let cycle = names.join(" → ");
                errors.error(
                    span,
                    format!(
                        "`after` edges form a cycle: {cycle}; none of these children could ever start (`x → y` reads \"x starts after y\")"
                    ),
                );
            }
            _ => {}
        }
    }
    path.pop();
    mark[v] = 2;
}
