//! [`ShutdownReport`]: what a shutdown did to every node.

use std::sync::{Arc, OnceLock};

use crate::event::NodeState;
use crate::group::GroupShared;
use crate::snapshot::walk;

/// How one node ended in a shutdown.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NodeOutcome {
    /// Distinguished name.
    pub name: String,
    /// Its final state.
    pub state: NodeState,
    /// Its task had to be aborted (it overran its shutdown timeout, its
    /// policy is `brutal`, or its group was aborted).
    pub aborted: bool,
    /// Its task could not be stopped at all, even by an abort (blocked in
    /// synchronous code); it may still be running.
    pub unstopped: bool,
    /// The last error it ended with.
    pub error: Option<String>,
}

/// What a shutdown did to every node: see [`TreeHandle::shutdown`](crate::TreeHandle::shutdown).
///
/// The lists of aborted and unstopped nodes are made when the shutdown ends;
/// the outcome of every node is read from the stopped tree the first time
/// [`nodes`](ShutdownReport::nodes) or [`node`](ShutdownReport::node) asks
/// for it (the tree no longer changes by then), so that a shutdown does not
/// pay for names nobody reads.
#[derive(Clone, Default)]
pub struct ShutdownReport {
    aborted: Vec<String>,
    unstopped: Vec<String>,
    top: Option<Arc<GroupShared>>,
    nodes: Arc<OnceLock<Vec<NodeOutcome>>>,
}

impl ShutdownReport {
    pub(crate) fn collect(top: &Arc<GroupShared>) -> Self {
        let mut r = ShutdownReport {
            top: Some(top.clone()),
            ..ShutdownReport::default()
        };
        walk(top, &mut |v| {
            if v.slot.was_aborted() {
                r.aborted.push(v.name());
            }
            if v.slot.was_unstopped() {
                r.unstopped.push(v.name());
            }
        });
        r
    }

    /// Every node, parents before children.
    pub fn nodes(&self) -> &[NodeOutcome] {
        self.nodes.get_or_init(|| {
            let mut nodes = Vec::new();
            if let Some(top) = &self.top {
                walk(top, &mut |v| {
                    nodes.push(NodeOutcome {
                        name: v.name(),
                        state: v.slot.state,
                        aborted: v.slot.was_aborted(),
                        unstopped: v.slot.was_unstopped(),
                        error: v.slot.last_error.as_ref().map(|e| e.to_string()),
                    });
                });
            }
            nodes
        })
    }

    /// The outcome of the node with this distinguished name.
    pub fn node(&self, name: &str) -> Option<&NodeOutcome> {
        self.nodes().iter().find(|n| n.name == name)
    }

    /// Nodes whose task had to be aborted, at any depth.
    pub fn aborted(&self) -> &[String] {
        &self.aborted
    }

    /// Nodes that could not be stopped at all, at any depth.
    pub fn unstopped(&self) -> &[String] {
        &self.unstopped
    }

    /// Nothing had to be aborted and everything stopped.
    pub fn is_clean(&self) -> bool {
        self.aborted.is_empty() && self.unstopped.is_empty()
    }
}

impl PartialEq for ShutdownReport {
    fn eq(&self, other: &Self) -> bool {
        self.aborted == other.aborted
            && self.unstopped == other.unstopped
            && self.nodes() == other.nodes()
    }
}

impl std::fmt::Debug for ShutdownReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownReport")
            .field("aborted", &self.aborted)
            .field("unstopped", &self.unstopped)
            .field("nodes", &self.nodes())
            .finish()
    }
}
