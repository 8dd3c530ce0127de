//! [`Snapshot`]: the tree as it is at one moment, and its rendering.

use std::fmt;
use std::time::Duration;

use super::state::NodeState;

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
    /// What the node reports about itself: for a dynamic group, the table
    /// entries it skipped and why (a bad key, a value that does not decode).
    pub notes: Vec<String>,
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
    /// A snapshot of these nodes, parents before children.
    pub(crate) fn from_nodes(nodes: Vec<NodeSnapshot>) -> Snapshot {
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
            for note in &node.notes {
                line.push_str(&format!("  note: {note}"));
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}
