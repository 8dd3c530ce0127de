//! The event log of a tree.

use std::time::Duration;

use supervisor_runtime::{Event, NodeState, TreeHandle};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::Instant;

use crate::wait::{PAUSED_LIMIT, REAL_LIMIT, WALL_LIMIT};

/// Records the events of a tree and waits for them.
///
/// Make it with [`start`](crate::start), which subscribes before the tree
/// starts: then it has every event, and a wait for "the next event where
/// `x` enters `Healthy`" cannot miss it. An `Events` made from a receiver
/// taken after the start sees only what happened since; use
/// [`Events::until`] there, which looks at the snapshot first.
///
/// Every wait fails the test, with what it waited for and the trace so
/// far, after its limit ([`PAUSED_LIMIT`] on tokio's clock by default,
/// [`REAL_LIMIT`] for [`Events::real_time`]) or [`WALL_LIMIT`] on the wall
/// clock, when the receiver lagged (a gap in the trace), or when the stream
/// closed.
pub struct Events {
    rx: broadcast::Receiver<Event>,
    limit: Duration,
    /// Every event received so far, in order.
    pub seen: Vec<Event>,
    /// The time (tokio's clock) each event of `seen` was received. In paused
    /// time it is when it was sent: time does not advance while a task can
    /// run.
    pub at: Vec<Instant>,
}

impl Events {
    /// Records the events of `rx`; waits are bounded by [`PAUSED_LIMIT`].
    pub fn new(rx: broadcast::Receiver<Event>) -> Self {
        Events {
            rx,
            limit: PAUSED_LIMIT,
            seen: Vec::new(),
            at: Vec::new(),
        }
    }

    /// Records the events of `rx`; waits are bounded by [`REAL_LIMIT`].
    pub fn real_time(rx: broadcast::Receiver<Event>) -> Self {
        Events {
            limit: REAL_LIMIT,
            ..Events::new(rx)
        }
    }

    fn record(&mut self, e: Event) {
        self.seen.push(e);
        self.at.push(Instant::now());
    }

    /// Waits for the next event (after those already seen) and records it.
    pub async fn next(&mut self) -> Event {
        self.next_within("any event", Instant::now() + self.limit, deadline_wall())
            .await
    }

    async fn next_within(
        &mut self,
        what: &str,
        deadline: Instant,
        wall: std::time::Instant,
    ) -> Event {
        if std::time::Instant::now() >= wall {
            self.fail(what, &format!("{WALL_LIMIT:?} on the wall clock"));
        }
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Ok(e)) => {
                self.record(e.clone());
                e
            }
            Ok(Err(RecvError::Lagged(n))) => {
                self.fail(what, &format!("a gap: the receiver lagged by {n} events"))
            }
            Ok(Err(RecvError::Closed)) => self.fail(what, "the event stream closed"),
            Err(_) => self.fail(what, &format!("{:?} on tokio's clock", self.limit)),
        }
    }

    fn fail(&mut self, what: &str, why: &str) -> ! {
        let _ = self.pump();
        let trace = self.trace();
        panic!("waiting for {what}: {why}; events so far:\n{trace:#?}")
    }

    /// Waits for the next event where `name` enters `state`; returns it.
    pub async fn wait(&mut self, name: &str, state: NodeState) -> Event {
        let what = format!("`{name}` to enter {state:?}");
        self.wait_for_named(&what, |e| e.name == name && e.state == state)
            .await
    }

    /// [`Events::wait`], also returning when the event was received.
    pub async fn wait_at(&mut self, name: &str, state: NodeState) -> (Event, Instant) {
        let e = self.wait(name, state).await;
        (e, *self.at.last().expect("just received"))
    }

    /// Waits for the next event matching `pred`; returns it.
    pub async fn wait_for(&mut self, pred: impl FnMut(&Event) -> bool) -> Event {
        self.wait_for_named("an event matching the predicate", pred)
            .await
    }

    async fn wait_for_named(&mut self, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Event {
        let deadline = Instant::now() + self.limit;
        let wall = deadline_wall();
        loop {
            let e = self.next_within(what, deadline, wall).await;
            if pred(&e) {
                return e;
            }
        }
    }

    /// Waits until each of `names` has entered `state` (in events received
    /// from now on), in any order.
    pub async fn wait_all(&mut self, names: &[&str], state: NodeState) {
        let what = format!("{names:?} to enter {state:?}");
        let deadline = Instant::now() + self.limit;
        let wall = deadline_wall();
        let mut left: Vec<&str> = names.to_vec();
        while !left.is_empty() {
            let e = self.next_within(&what, deadline, wall).await;
            if e.state == state {
                left.retain(|n| *n != e.name);
            }
        }
    }

    /// Waits until `name` is in `state` now: looks at the snapshot first,
    /// then again after each event (every state change is an event, sent
    /// after the state changed). Unlike [`Events::wait`] it returns at once
    /// if the node is already there, so it also works with a receiver taken
    /// after the start.
    pub async fn until(&mut self, h: &TreeHandle, name: &str, state: NodeState) {
        let what = format!("`{name}` to be {state:?}");
        let deadline = Instant::now() + self.limit;
        let wall = deadline_wall();
        while h.snapshot().node(name).map(|n| n.state) != Some(state) {
            self.next_within(&what, deadline, wall).await;
        }
    }

    /// Takes what is buffered, without waiting; how many events that was.
    /// `Err` if the receiver lagged (a gap).
    pub fn pump(&mut self) -> Result<usize, String> {
        let mut n = 0;
        loop {
            match self.rx.try_recv() {
                Ok(e) => {
                    self.record(e);
                    n += 1;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => return Ok(n),
                Err(TryRecvError::Lagged(k)) => {
                    return Err(format!("event receiver lagged by {k}"))
                }
            }
        }
    }

    /// Every event received so far (taking what is buffered first). Panics
    /// on a gap.
    pub fn drain(&mut self) -> &[Event] {
        if let Err(e) = self.pump() {
            panic!("{e}");
        }
        &self.seen
    }

    /// Whether an event where `name` entered `state` has been received
    /// (taking what is buffered first).
    pub fn saw(&mut self, name: &str, state: NodeState) -> bool {
        self.drain()
            .iter()
            .any(|e| e.name == name && e.state == state)
    }

    /// The events received for `name` (taking what is buffered first).
    pub fn of(&mut self, name: &str) -> Vec<Event> {
        self.drain()
            .iter()
            .filter(|e| e.name == name)
            .cloned()
            .collect()
    }

    /// How many received events carry an error whose text contains `needle`.
    pub fn errors_containing(&self, needle: &str) -> usize {
        self.seen
            .iter()
            .filter(|e| {
                e.error
                    .as_ref()
                    .is_some_and(|er| er.to_string().contains(needle))
            })
            .count()
    }

    /// Every event received so far, as text (`"app.a backoff (restart in
    /// 1s): boom"`). Call [`Events::pump`] first to include what is
    /// buffered.
    pub fn trace(&self) -> Vec<String> {
        self.seen.iter().map(|e| e.to_string()).collect()
    }
}

fn deadline_wall() -> std::time::Instant {
    std::time::Instant::now() + WALL_LIMIT
}
