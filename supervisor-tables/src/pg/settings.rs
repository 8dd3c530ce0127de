//! [`PgSettings`]: lease length, renewal, stop margin and timeouts.

use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// Settings of a [`PgTable`](super::PgTable); [`PgTable::connect`](super::PgTable::connect) uses the defaults.
///
/// The three durations must satisfy `lease > stop_margin + renew_every`,
/// and `stop_margin` must be longer than the children's shutdown timeout
/// (5 s by default), so that a replica that cannot renew has stopped its
/// children before another replica may claim their keys.
#[derive(Clone, Debug)]
#[must_use]
pub struct PgSettings {
    pub(super) lease: Duration,
    pub(super) renew_every: Duration,
    pub(super) stop_margin: Duration,
    pub(super) query_timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) settle: Duration,
    pub(super) name: String,
}

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings {
            lease: Duration::from_secs(30),
            renew_every: Duration::from_secs(5),
            stop_margin: Duration::from_secs(10),
            query_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            settle: Duration::from_millis(20),
            name: format!("pid{}", std::process::id()),
        }
    }
}

impl PgSettings {
    /// The defaults: a 30 s lease renewed every 5 s, children stopped 10 s
    /// before an unrenewed lease lapses.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a replica's claims last without renewal, timed by
    /// PostgreSQL's clock (`now()`). A replica that dies loses its keys
    /// within `lease + renew_every`. Default: 30 s.
    pub fn lease(mut self, d: Duration) -> Self {
        self.lease = d;
        self
    }

    /// How often the lease is renewed: one statement per replica, whatever
    /// the number of keys. Default: 5 s.
    pub fn renew_every(mut self, d: Duration) -> Self {
        self.renew_every = d;
        self
    }

    /// How long before an unrenewed lease lapses the replica stops listing
    /// its keys, so that the group stops their children in time. Longer
    /// than the children's shutdown timeout. Default: 10 s.
    pub fn stop_margin(mut self, d: Duration) -> Self {
        self.stop_margin = d;
        self
    }

    /// How long one statement may take before the connection is taken for
    /// dead and opened again. Default: 5 s.
    pub fn query_timeout(mut self, d: Duration) -> Self {
        self.query_timeout = d;
        self.query_timeout = self.query_timeout.max(Duration::from_millis(10));
        self
    }

    /// How long connecting may take. Default: 5 s.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// A name for this replica, at the start of its session id in the
    /// replicas table and in log lines. Default: `pid<process id>`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub(super) fn check(&self) -> Result<(), Error> {
        if self.lease <= self.stop_margin + self.renew_every || self.renew_every.is_zero() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "lease ({:?}) must be longer than stop_margin ({:?}) + renew_every ({:?}), \
                     and renew_every above zero",
                    self.lease, self.stop_margin, self.renew_every
                ),
            ));
        }
        Ok(())
    }
}
