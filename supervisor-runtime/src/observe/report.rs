//! [`ShutdownReport`]: what a shutdown did to every node.

use std::sync::{Arc, OnceLock};

use super::state::NodeState;

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

/// One node as the engine read it from the stopped tree: its name in two
/// parts, so that a shutdown does not pay for joining names nobody reads.
pub(crate) struct Row {
    pub(crate) group: Arc<str>,
    pub(crate) local: Arc<str>,
    pub(crate) state: NodeState,
    pub(crate) aborted: bool,
    pub(crate) unstopped: bool,
    pub(crate) error: Option<String>,
}

impl Row {
    fn name(&self) -> String {
        match (self.group.is_empty(), self.local.is_empty()) {
            (true, _) => self.local.to_string(),
            (false, true) => self.group.to_string(),
            (false, false) => format!("{}.{}", self.group, self.local),
        }
    }
}

/// Reads the rows of a stopped tree, parents before children: given by
/// the engine, called at most once, when someone first asks for them.
pub(crate) type Rows = Arc<dyn Fn() -> Vec<Row> + Send + Sync>;

/// What a shutdown did to every node: see [`TreeHandle::shutdown`](crate::TreeHandle::shutdown).
///
/// The lists of aborted and unstopped nodes are made when the shutdown
/// ends. The outcome of every node is read from the stopped tree (which no
/// longer changes) the first time [`nodes`](ShutdownReport::nodes) or
/// [`node`](ShutdownReport::node) asks for it, so that a shutdown does not
/// pay for a row and a name per node that nobody reads.
#[derive(Clone, Default)]
pub struct ShutdownReport {
    aborted: Vec<String>,
    unstopped: Vec<String>,
    rows: Option<Rows>,
    nodes: Arc<OnceLock<Vec<NodeOutcome>>>,
}

impl ShutdownReport {
    /// A report whose nodes are read from `rows` when first asked for.
    pub(crate) fn new(aborted: Vec<String>, unstopped: Vec<String>, rows: Rows) -> Self {
        ShutdownReport {
            aborted,
            unstopped,
            rows: Some(rows),
            nodes: Arc::default(),
        }
    }

    /// Every node, parents before children.
    pub fn nodes(&self) -> &[NodeOutcome] {
        self.nodes.get_or_init(|| {
            let rows = self.rows.as_ref().map(|f| f()).unwrap_or_default();
            rows.iter()
                .map(|row| NodeOutcome {
                    name: row.name(),
                    state: row.state,
                    aborted: row.aborted,
                    unstopped: row.unstopped,
                    error: row.error.clone(),
                })
                .collect()
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
