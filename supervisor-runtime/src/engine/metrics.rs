//! What the engine records through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`). Without the feature every function here is
//! empty and inlined away: nothing is built, nothing is called.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `supervisor_restarts_total` | counter | `node` | incarnations started again after the first |
//! | `supervisor_failures_total` | counter | `node` | incarnations that ended in a failure (an `Err`, a panic, a missed start timeout or heartbeat) |
//! | `supervisor_node_state` | gauge | `node`, `state` | 1 for the state the node is in, 0 for the one it left |
//! | `supervisor_time_to_healthy_seconds` | histogram | `node` | from the start of an incarnation to its `healthy` |
//!
//! `node` is the distinguished name (`app.web.http`), `state` the lowercase
//! word of [`NodeState::as_str`](crate::NodeState::as_str).

/// Whether the feature is on: the callers skip even the arguments' work
/// when it is not.
pub(crate) const ON: bool = cfg!(feature = "metrics");

#[cfg(feature = "metrics")]
mod on {
    use std::time::Duration;

    use crate::observe::state::NodeState;
    use crate::spec::name::join_name;

    pub(crate) fn state_changed(
        group: &str,
        local: &str,
        from: NodeState,
        to: NodeState,
        in_from_ns: u64,
    ) {
        let node = join_name(group, local);
        metrics::gauge!("supervisor_node_state", "node" => node.clone(), "state" => from.as_str())
            .set(0.0);
        metrics::gauge!("supervisor_node_state", "node" => node.clone(), "state" => to.as_str())
            .set(1.0);
        if from == NodeState::Starting && to == NodeState::Healthy {
            metrics::histogram!("supervisor_time_to_healthy_seconds", "node" => node)
                .record(Duration::from_nanos(in_from_ns).as_secs_f64());
        }
    }

    pub(crate) fn restarted(group: &str, local: &str) {
        metrics::counter!("supervisor_restarts_total", "node" => join_name(group, local))
            .increment(1);
    }

    pub(crate) fn failed(group: &str, local: &str) {
        metrics::counter!("supervisor_failures_total", "node" => join_name(group, local))
            .increment(1);
    }
}

#[cfg(feature = "metrics")]
pub(crate) use on::{failed, restarted, state_changed};

#[cfg(not(feature = "metrics"))]
mod off {
    use crate::observe::state::NodeState;

    #[inline(always)]
    pub(crate) fn state_changed(_: &str, _: &str, _: NodeState, _: NodeState, _: u64) {}

    #[inline(always)]
    pub(crate) fn restarted(_: &str, _: &str) {}

    #[inline(always)]
    pub(crate) fn failed(_: &str, _: &str) {}
}

#[cfg(not(feature = "metrics"))]
pub(crate) use off::{failed, restarted, state_changed};
