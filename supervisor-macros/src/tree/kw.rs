//! The words of the DSL.

/// Group kinds.
pub(crate) const GROUP_KINDS: &[&str] = &["sequential", "parallel"];

/// Every option, in the order the reference documents them.
pub(crate) const OPTIONS: &[&str] = &[
    "strategy",
    "intensity",
    "decay",
    "restart",
    "backoff",
    "shutdown",
    "start_timeout",
    "ready",
    "after",
    "watchdog",
    "significant",
    "auto_shutdown",
];

pub(crate) const STRATEGIES: &[&str] = &["one_for_one", "one_for_all", "rest_for_one"];
pub(crate) const RESTARTS: &[&str] = &["permanent", "transient", "temporary"];
pub(crate) const AUTO_SHUTDOWNS: &[&str] = &["never", "any_significant", "all_significant"];
