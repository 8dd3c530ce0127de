//! The guard: the one task that turns a replica's lease deadlines into
//! stops, apart from the driver so that a driver stuck on a dead connection
//! cannot make it late.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::state::lock;
use super::Shared;

/// The guard task: turns the lease deadlines into stops.
pub(super) async fn guard(shared: Arc<Shared>) {
    loop {
        let deadline = {
            let s = lock(&shared.state);
            match &s.session {
                Some(x) if !s.at_risk => Some(x.at_risk_at),
                Some(x) => Some(x.lapse_at),
                None => None,
            }
        };
        let moved = shared.moved.notified();
        tokio::select! {
            _ = shared.stop_guard.notified() => return,
            _ = moved => continue,
            _ = sleep_until(deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))), if deadline.is_some() => {}
        }
        let now = Instant::now();
        let mut s = lock(&shared.state);
        let Some(x) = &s.session else { continue };
        if now >= x.lapse_at {
            let id = x.id.clone();
            s.lose_session();
            drop(s);
            tracing::warn!(session = %id, "the lease lapsed without renewal: every claim of this replica is void");
            shared.changed.notify_waiters();
        } else if now >= x.at_risk_at && !s.at_risk {
            s.at_risk = true;
            let keys = s.listed.len();
            drop(s);
            tracing::warn!(
                keys,
                "the lease could not be renewed in time: stopping this replica's children before it lapses"
            );
            shared.changed.notify_waiters();
        }
    }
}
