//! [`ShutdownReport`]: what a shutdown did to every node.

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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShutdownReport {
    nodes: Vec<NodeOutcome>,
    aborted: Vec<String>,
    unstopped: Vec<String>,
}

impl ShutdownReport {
    pub(crate) fn collect(top: &GroupShared) -> Self {
        let mut r = ShutdownReport::default();
        walk(top, 0, &mut |name, slot, _| {
            if slot.was_aborted() {
                r.aborted.push(name.clone());
            }
            if slot.was_unstopped() {
                r.unstopped.push(name.clone());
            }
            r.nodes.push(NodeOutcome {
                name,
                state: slot.state,
                aborted: slot.was_aborted(),
                unstopped: slot.was_unstopped(),
                error: slot.last_error.as_ref().map(|e| e.to_string()),
            });
        });
        r
    }

    /// Every node, parents before children.
    pub fn nodes(&self) -> &[NodeOutcome] {
        &self.nodes
    }

    /// The outcome of the node with this distinguished name.
    pub fn node(&self, name: &str) -> Option<&NodeOutcome> {
        self.nodes.iter().find(|n| n.name == name)
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
