//! [`Event`]: one state change, as the event stream carries it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::state::NodeState;

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
    pub error: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
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
