//! `/events`: the tree's event stream as server-sent events.
//!
//! Design note. A client must never show a tree that differs from the real
//! one once the events have caught up, so every stream is built as:
//!
//! 1. subscribe to the tree's events, *then* take a snapshot and send it:
//!    every change after the snapshot is in the receiver, none is lost
//!    between the two (the changes made between subscribing and the
//!    snapshot are sent again after it; each node's events are in order, so
//!    replaying them ends on the node's current state);
//! 2. forward each event as a `change`;
//! 3. on `Lagged` (the client did not keep up and the channel dropped the
//!    oldest events), skip what is still queued from before, take a fresh
//!    snapshot and send it instead of the gap;
//! 4. when nodes appear that the last snapshot did not have, or a node
//!    stops (a removed dynamic child leaves the tree), send a fresh snapshot
//!    shortly after, once per burst, so that the client's list of nodes
//!    follows the tree's;
//! 5. when the tree has ended, send a last snapshot and an `ended` event and
//!    close; when the `shutdown` token of
//!    [`router_with_shutdown`](crate::router_with_shutdown) is cancelled,
//!    close at once (the server is stopping; a browser reconnects later).

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::Event as SseEvent;
use futures_util::Stream;
use supervisor_runtime::{Event, NodeState, TreeHandle};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::json::{self, Reason};

/// How long a burst of structural changes is gathered before one resync.
const RESYNC_AFTER: Duration = Duration::from_millis(250);

/// How soon a browser reconnects after the stream breaks.
const RETRY: Duration = Duration::from_secs(1);

/// The SSE stream of one client. Subscribes and snapshots at once, so call
/// it when the request arrives.
pub(crate) fn events(
    handle: TreeHandle,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    // Subscribe first: see the design note.
    let rx = handle.subscribe();
    let mut feed = Feed {
        tree_stop: handle.token(),
        handle,
        rx,
        shutdown,
        out: VecDeque::new(),
        names: HashSet::new(),
        roots: HashMap::new(),
        tree_stopping: false,
        resync_at: None,
        done: false,
    };
    feed.send_snapshot(Reason::Initial);
    futures_util::stream::unfold(feed, Feed::next)
}

struct Feed {
    handle: TreeHandle,
    rx: broadcast::Receiver<Event>,
    /// Cancelled when the tree begins to shut down or has ended.
    tree_stop: CancellationToken,
    /// Cancelled when the server that serves this stream stops.
    shutdown: CancellationToken,
    out: VecDeque<SseEvent>,
    /// Every node the client knows of.
    names: HashSet<String>,
    /// The state of each top-level node, to see the tree end.
    roots: HashMap<String, NodeState>,
    tree_stopping: bool,
    resync_at: Option<Instant>,
    done: bool,
}

enum Wake {
    Shutdown,
    TreeStopping,
    Recv(Result<Event, RecvError>),
    Resync,
}

impl Feed {
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Feed)> {
        loop {
            if let Some(e) = self.out.pop_front() {
                return Some((Ok(e), self));
            }
            if self.done {
                return None;
            }
            let resync_at = self.resync_at;
            let wake = tokio::select! {
                _ = self.shutdown.cancelled() => Wake::Shutdown,
                _ = self.tree_stop.cancelled(), if !self.tree_stopping => Wake::TreeStopping,
                r = self.rx.recv() => Wake::Recv(r),
                _ = tokio::time::sleep_until(resync_at.unwrap_or_else(Instant::now)),
                    if resync_at.is_some() => Wake::Resync,
            };
            match wake {
                Wake::Shutdown => return None,
                Wake::TreeStopping => {
                    self.tree_stopping = true;
                    self.check_ended();
                }
                Wake::Recv(Ok(e)) => {
                    self.forward(e);
                    self.check_ended();
                }
                Wake::Recv(Err(RecvError::Lagged(n))) => {
                    // What is still queued is older than the snapshot that
                    // replaces it.
                    let queued = self.rx.len();
                    for _ in 0..queued {
                        if self.rx.try_recv().is_err() {
                            break;
                        }
                    }
                    self.send_snapshot(Reason::Lagged(n));
                    self.check_ended();
                }
                Wake::Recv(Err(RecvError::Closed)) => {
                    self.send_snapshot(Reason::Final);
                    self.finish();
                }
                Wake::Resync => {
                    // Send what has queued up, then the snapshot after it.
                    let queued = self.rx.len();
                    for _ in 0..queued {
                        match self.rx.try_recv() {
                            Ok(e) => self.forward(e),
                            Err(TryRecvError::Lagged(_)) => continue,
                            Err(_) => break,
                        }
                    }
                    self.send_snapshot(Reason::Resync);
                    self.check_ended();
                }
            }
        }
    }

    fn forward(&mut self, e: Event) {
        if !self.names.contains(&e.name) {
            self.names.insert(e.name.clone());
            self.resync_soon();
        }
        if e.state == NodeState::Stopped {
            self.resync_soon();
        }
        if let Some(s) = self.roots.get_mut(&e.name) {
            *s = e.state;
        }
        self.out
            .push_back(SseEvent::default().event("change").data(json::change(&e)));
    }

    fn resync_soon(&mut self) {
        if self.resync_at.is_none() {
            self.resync_at = Some(Instant::now() + RESYNC_AFTER);
        }
    }

    fn send_snapshot(&mut self, reason: Reason) {
        let snap = self.handle.snapshot();
        self.names.clear();
        self.roots.clear();
        for n in snap.nodes() {
            self.names.insert(n.name.clone());
            if n.depth == 0 {
                self.roots.insert(n.name.clone(), n.state);
            }
        }
        self.resync_at = None;
        let mut ev = SseEvent::default()
            .event("snapshot")
            .data(json::tree(&snap, Some(reason)));
        if reason == Reason::Initial {
            ev = ev.retry(RETRY);
        }
        self.out.push_back(ev);
    }

    /// Once the tree is stopping and every top-level node has ended, the
    /// tree is over: a last snapshot, `ended`, and the stream closes.
    fn check_ended(&mut self) {
        if !self.tree_stopping || self.done || !self.roots.values().copied().all(ended) {
            return;
        }
        // The states above come from events; confirm on the tree itself.
        let snap = self.handle.snapshot();
        if snap
            .nodes()
            .iter()
            .filter(|n| n.depth == 0)
            .all(|n| ended(n.state))
        {
            self.send_snapshot(Reason::Final);
            self.finish();
        } else {
            for n in snap.nodes().iter().filter(|n| n.depth == 0) {
                self.roots.insert(n.name.clone(), n.state);
            }
        }
    }

    fn finish(&mut self) {
        self.out
            .push_back(SseEvent::default().event("ended").data("{}"));
        self.done = true;
    }
}

fn ended(s: NodeState) -> bool {
    matches!(s, NodeState::Stopped | NodeState::Failed | NodeState::Done)
}
