//! Following other processes' changes: `PRAGMA data_version`, polled on
//! its own connection while someone waits on `changed()`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::open::data_version;
use super::{blocking, lock, Inner};

/// Counts one waiter on [`Table::changed`] while it lives.
pub(super) struct Waiting<'a>(&'a Inner);

impl<'a> Waiting<'a> {
    pub(super) fn new(inner: &'a Inner) -> Self {
        if inner.waiters.fetch_add(1, Ordering::SeqCst) == 0 {
            inner.wake.notify_one();
        }
        Waiting(inner)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Polls `PRAGMA data_version` while someone waits on `changed()`; ends
/// when the table is dropped.
pub(super) async fn poll_changes(
    table: Weak<Inner>,
    wake: Arc<Notify>,
    mut seen: i64,
    every: Duration,
) {
    loop {
        let idle = match table.upgrade() {
            None => return,
            Some(t) => t.waiters.load(Ordering::SeqCst) == 0,
        };
        if idle {
            // `notify_one` stores a permit, so a wake between the check and
            // this wait is not lost.
            wake.notified().await;
            continue;
        }
        tokio::time::sleep(every).await;
        // Holds the table only for the call, so that dropping it closes
        // both connections.
        let Some(t) = table.upgrade() else {
            return;
        };
        let now = blocking(move || data_version(&lock(&t.watch), &t.path)).await;
        match now {
            Ok(v) if v != seen => {
                seen = v;
                if let Some(t) = table.upgrade() {
                    t.changed.notify_waiters();
                }
            }
            Ok(_) => {}
            Err(e) => {
                // A busy or broken file: the group's own reads report it.
                tracing::debug!(error = %e, "could not poll the table file for changes");
            }
        }
    }
}
