//! The counter every implementation's children bump: the same mechanism
//! everywhere, so the health wait costs the same for all of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Counts children that started and stopped; wakes the harness when the
/// `target`-th child has started.
#[derive(Debug)]
pub struct Probe {
    started: AtomicUsize,
    stopped: AtomicUsize,
    target: AtomicUsize,
    notify: Notify,
}

impl Probe {
    /// A probe that wakes its waiter at `target` starts.
    pub fn new(target: usize) -> Arc<Self> {
        Arc::new(Probe {
            started: AtomicUsize::new(0),
            stopped: AtomicUsize::new(0),
            target: AtomicUsize::new(target),
            notify: Notify::new(),
        })
    }

    /// A child (or incarnation) is up; returns how many are, this one included.
    pub fn started(&self) -> usize {
        // SeqCst with `wait_until`'s store and load: one of the two sides
        // sees the other, so the wake-up cannot be lost.
        let k = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        if k >= self.target.load(Ordering::SeqCst) {
            // `notify_one` stores a permit if nobody waits yet: no lost wake-up.
            self.notify.notify_one();
        }
        k
    }

    /// A child (or incarnation) has ended.
    pub fn stopped(&self) {
        self.stopped.fetch_add(1, Ordering::AcqRel);
    }

    /// Waits until `target` children have started.
    pub async fn wait_started(&self) {
        while self.started.load(Ordering::SeqCst) < self.target.load(Ordering::SeqCst) {
            self.notify.notified().await;
        }
    }

    /// Waits until `k` children have started in all (a new target).
    pub async fn wait_until(&self, k: usize) {
        self.target.store(k, Ordering::SeqCst);
        self.wait_started().await;
    }

    /// (started, stopped).
    pub fn counts(&self) -> (usize, usize) {
        (
            self.started.load(Ordering::Acquire),
            self.stopped.load(Ordering::Acquire),
        )
    }

    /// Panics unless exactly `n` started and `n` stopped.
    pub fn assert_all(&self, who: &str, n: usize) {
        let (s, t) = self.counts();
        assert_eq!(
            (s, t),
            (n, n),
            "{who}: (started, stopped) should both be {n}"
        );
    }
}

/// The error a failing incarnation returns.
#[derive(Debug, Clone, Copy)]
pub struct Fail;

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("planned failure")
    }
}

impl std::error::Error for Fail {}
