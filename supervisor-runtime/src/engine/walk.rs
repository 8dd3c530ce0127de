//! The walks over a running (or stopped) tree that fill in what
//! [`observe`](crate::observe) shows: snapshots and shutdown reports.

use std::sync::Arc;

use tokio::time::Instant;

use super::group::GroupShared;
use super::slot::Slot;
use crate::observe::report::{Row, ShutdownReport};
use crate::observe::snapshot::{NodeSnapshot, Snapshot};
use crate::spec::name::join_name;

/// One node met by [`walk`].
struct Visit<'a> {
    /// The distinguished name of its group.
    group: &'a Arc<str>,
    /// Its own name.
    local: &'a str,
    slot: &'a Slot,
    /// When the slot's state last changed.
    since: Instant,
    depth: usize,
    /// The group this node runs, if it runs one (and it is not anonymous).
    sub: Option<&'a Arc<GroupShared>>,
}

/// Visits every node below `top`, parents before children in start order,
/// flattening anonymous groups into their parent. Removed children that
/// have ended are left out.
///
/// Iterative, and it holds one group's lock at a time: a chain of thousands
/// of nested groups neither overflows the stack nor stacks up locks.
fn walk(top: &Arc<GroupShared>, f: &mut dyn FnMut(&Visit<'_>)) {
    fn order_of(g: &GroupShared) -> Vec<u32> {
        let mut st = g.lock();
        // Signals its children queued without waking it are part of "now";
        // an ending applied here wants a turn of the group's task.
        if st.take_notes() {
            g.poke();
        }
        let mut o: Vec<u32> = st.spec.start_order().collect();
        o.extend(st.spec.children.len() as u32..st.slots.len() as u32);
        o
    }
    let mut stack: Vec<(Arc<GroupShared>, usize, Vec<u32>, usize)> =
        vec![(top.clone(), 0, order_of(top), 0)];
    while let Some((group, depth, order, pos)) = stack.last_mut() {
        let Some(&i) = order.get(*pos) else {
            stack.pop();
            continue;
        };
        *pos += 1;
        let (group, depth) = (group.clone(), *depth);
        let sub = {
            let st = group.lock();
            let slot = &st.slots[i as usize];
            let spec = st.child_spec(i);
            if slot.is_removed() && !slot.is_live() {
                continue;
            }
            let anonymous = spec.name.is_empty();
            let sub = slot.ctx().and_then(|c| c.inner.sub());
            if !anonymous {
                f(&Visit {
                    group: &group.link.name,
                    local: &spec.name,
                    slot,
                    since: st.instant(slot.since()),
                    depth,
                    sub,
                });
            }
            let d = if anonymous { depth } else { depth + 1 };
            sub.cloned().map(|s| (s, d))
        };
        if let Some((sub, d)) = sub {
            let order = order_of(&sub);
            stack.push((sub, d, order, 0));
        }
    }
}

/// The tree below `top` as it is now.
pub(crate) fn snapshot(top: &Arc<GroupShared>) -> Snapshot {
    let mut nodes = Vec::new();
    let now = Instant::now();
    walk(top, &mut |v| {
        let slot = v.slot;
        nodes.push(NodeSnapshot {
            name: join_name(v.group, v.local),
            state: slot.state(),
            restarts: u64::from(slot.restarts()),
            last_error: slot.last_error().map(|e| e.to_string()),
            incarnation: slot.incarnation(),
            depth: v.depth,
            since: now.saturating_duration_since(v.since),
            notes: v
                .sub
                .map(|g| g.notes.lock().unwrap_or_else(|p| p.into_inner()).clone())
                .unwrap_or_default(),
        });
    });
    Snapshot::from_nodes(nodes)
}

/// What the shutdown of the tree below `top` did to every node: the nodes
/// that had to be aborted or could not be stopped now, every node's row
/// when the report is first asked for it.
///
/// A tree in which no node was ever aborted or left unstopped (the common
/// case) has nothing to list, and its report is made without the walk: a
/// walk of every node, each under its group's lock, on the thread that
/// asked for the shutdown, costs about 240 instructions per node.
pub(crate) fn report(top: &Arc<GroupShared>) -> ShutdownReport {
    let (mut aborted, mut unstopped) = (Vec::new(), Vec::new());
    let rows_of = top.clone();
    let rows_fn = Arc::new(move || rows(&rows_of));
    if !top.link.tree.was_unclean() {
        return ShutdownReport::new(aborted, unstopped, rows_fn);
    }
    walk(top, &mut |v| {
        let slot = v.slot;
        if slot.was_aborted() {
            aborted.push(join_name(v.group, v.local));
        }
        if slot.was_unstopped() {
            unstopped.push(join_name(v.group, v.local));
        }
    });
    ShutdownReport::new(aborted, unstopped, rows_fn)
}

fn rows(top: &Arc<GroupShared>) -> Vec<Row> {
    let mut rows = Vec::new();
    walk(top, &mut |v| {
        let slot = v.slot;
        rows.push(Row {
            group: v.group.clone(),
            local: Arc::from(v.local),
            state: slot.state(),
            aborted: slot.was_aborted(),
            unstopped: slot.was_unstopped(),
            error: slot.last_error().map(|e| e.to_string()),
        });
    });
    rows
}
