//! [`Snapshot`]: the tree as it is at one moment, and its rendering.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::builder::join_name;
use crate::event::NodeState;
use crate::group::{GroupShared, Slot};

/// One node in a [`Snapshot`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NodeSnapshot {
    /// Distinguished name, e.g. `app.web.http`.
    pub name: String,
    /// State at the moment of the snapshot.
    pub state: NodeState,
    /// How many times it was started again after its first start.
    pub restarts: u64,
    /// The last error it ended with (failure, or an error while stopping).
    pub last_error: Option<String>,
    /// Current (or last) incarnation number; 0 if never started.
    pub incarnation: u32,
    /// Depth in the tree: 0 for the root.
    pub depth: usize,
    /// How long it has been in `state`, at the moment of the snapshot.
    pub since: Duration,
}

/// The whole tree at one moment: every node with its state, restart count
/// and last error, in start order (parents before their children).
///
/// Its `Display` draws the tree:
///
/// ```text
/// app                 healthy
/// ├─ db               healthy
/// └─ web              healthy
///    ├─ http          healthy    restarts 2   last error: connection reset
///    └─ admin         backoff
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    nodes: Vec<NodeSnapshot>,
}

impl Snapshot {
    pub(crate) fn collect(top: &Arc<GroupShared>) -> Snapshot {
        let mut nodes = Vec::new();
        let now = tokio::time::Instant::now();
        walk(top, &mut |v| {
            let (slot, depth) = (v.slot, v.depth);
            nodes.push(NodeSnapshot {
                name: v.name(),
                state: slot.state,
                restarts: u64::from(slot.restarts),
                last_error: slot.last_error.as_ref().map(|e| e.to_string()),
                incarnation: slot.incarnation(),
                depth,
                since: now.saturating_duration_since(slot.since),
            });
        });
        Snapshot { nodes }
    }

    /// The node with this distinguished name.
    pub fn node(&self, name: &str) -> Option<&NodeSnapshot> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Every node, parents before children.
    pub fn nodes(&self) -> &[NodeSnapshot] {
        &self.nodes
    }
}

/// One node met by [`walk`]; its name is built only when asked for.
pub(crate) struct Visit<'a> {
    parent: &'a str,
    local: &'a str,
    pub(crate) slot: &'a Slot,
    pub(crate) depth: usize,
}

impl Visit<'_> {
    pub(crate) fn name(&self) -> String {
        join_name(self.parent, self.local)
    }
}

/// Visits every node below `top`, parents before children in start order,
/// flattening anonymous groups into their parent.
///
/// Iterative, and it holds one group's lock at a time: a chain of thousands
/// of nested groups neither overflows the stack nor stacks up locks.
pub(crate) fn walk(top: &Arc<GroupShared>, f: &mut dyn FnMut(&Visit<'_>)) {
    fn order_of(g: &GroupShared) -> Vec<u32> {
        let st = g.lock();
        let mut o = st.spec.order.clone();
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
            if !anonymous {
                f(&Visit {
                    parent: &group.link.name,
                    local: &spec.name,
                    slot,
                    depth,
                });
            }
            let d = if anonymous { depth } else { depth + 1 };
            slot.ctx
                .as_ref()
                .and_then(|c| c.inner.sub().cloned())
                .map(|s| (s, d))
        };
        if let Some((sub, d)) = sub {
            let order = order_of(&sub);
            stack.push((sub, d, order, 0));
        }
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tree-drawing prefixes: for each node, whether each ancestor level
        // has further siblings below.
        let n = self.nodes.len();
        let mut labels = Vec::with_capacity(n);
        for (k, node) in self.nodes.iter().enumerate() {
            let mut prefix = String::new();
            for level in 1..=node.depth {
                let more = self.nodes[k + 1..]
                    .iter()
                    .take_while(|m| m.depth >= level)
                    .any(|m| m.depth == level);
                if level == node.depth {
                    prefix.push_str(if more { "├─ " } else { "└─ " });
                } else {
                    prefix.push_str(if more { "│  " } else { "   " });
                }
            }
            let short = node.name.rsplit('.').next().unwrap_or(&node.name);
            labels.push(format!("{prefix}{short}"));
        }
        let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 2;
        for (node, label) in self.nodes.iter().zip(labels) {
            let pad = width - label.chars().count();
            // A node that never started yet is shown as waiting.
            let state = if node.incarnation == 0 && node.state == NodeState::Stopped {
                "waiting"
            } else {
                node.state.as_str()
            };
            let mut line = format!("{label}{:pad$}{state:<9}", "");
            if node.restarts > 0 {
                line.push_str(&format!(" restarts {}", node.restarts));
            }
            if let Some(e) = &node.last_error {
                line.push_str(&format!("  last error: {e}"));
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}
