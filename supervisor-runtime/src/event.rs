//! [`NodeState`] and the [`Event`]s of the state stream.

use std::fmt;
use std::time::Duration;

use crate::error::SharedError;

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

/// One state change of one node, as sent to [`TreeHandle::subscribe`](crate::TreeHandle::subscribe).
///
/// Events of one group arrive in the order they happened. A receiver that
/// falls behind sees tokio's `RecvError::Lagged`, never a silent gap.
#[derive(Clone, Debug)]
pub struct Event {
    /// The node's distinguished name, e.g. `app.web.http`.
    pub name: String,
    /// The state it entered.
    pub state: NodeState,
    /// The error that caused this change (a failure, or an error returned while stopping).
    pub error: Option<SharedError>,
    /// For [`NodeState::Backoff`]: how long until the restart.
    pub delay: Option<Duration>,
    /// The incarnation the change belongs to (0 before the first start).
    pub incarnation: u32,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.state)?;
        if let Some(d) = self.delay {
            write!(f, " (restart in {d:?})")?;
        }
        if let Some(e) = &self.error {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}
