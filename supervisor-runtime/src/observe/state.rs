//! [`NodeState`]: where a node is in its life.

use std::fmt;

/// Where a node is in its life.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Running, not yet healthy.
    Starting,
    /// Running and healthy (or `ready(on_start)`).
    Healthy,
    /// Finished its job (`ctx.done()` then `Ok`, or [`DoNotRestart`](crate::DoNotRestart));
    /// reruns only if its group restarts.
    Done,
    /// Waiting out a restart delay or a decay pause.
    Backoff,
    /// Asked to stop, not yet ended.
    Stopping,
    /// Ended and will not restart; also the state of a node not started yet.
    Stopped,
    /// Ended by a failure and will not restart (a temporary child, a group
    /// that gave up, a node stopped by a shutdown that followed its failure).
    Failed,
}

impl NodeState {
    /// A lowercase word for the state, as the rendered tree shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Starting => "starting",
            NodeState::Healthy => "healthy",
            NodeState::Done => "done",
            NodeState::Backoff => "backoff",
            NodeState::Stopping => "stopping",
            NodeState::Stopped => "stopped",
            NodeState::Failed => "failed",
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
