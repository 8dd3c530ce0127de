//! The JSON the view speaks: one shape for a snapshot (`/tree.json` and
//! the `snapshot` events) and one for a change (the `change` events). The
//! crate documentation describes both field by field; keep it in step.

use serde::Serialize;
use supervisor_runtime::{Event, NodeSnapshot, Snapshot};

/// Why a `snapshot` event was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The first event of every stream.
    Initial,
    /// The client fell behind by this many events; this replaces them.
    Lagged(u64),
    /// Nodes appeared or may have gone (a dynamic child added or removed).
    Resync,
    /// The tree has ended; the stream ends after this one.
    Final,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Initial => "initial",
            Reason::Lagged(_) => "lagged",
            Reason::Resync => "resync",
            Reason::Final => "final",
        }
    }
}

#[derive(Serialize)]
pub(crate) struct TreeJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missed: Option<u64>,
    nodes: Vec<NodeJson<'a>>,
}

#[derive(Serialize)]
struct NodeJson<'a> {
    name: &'a str,
    depth: usize,
    state: &'static str,
    restarts: u64,
    incarnation: u32,
    last_error: Option<&'a str>,
    since_ms: u64,
    notes: &'a [String],
}

impl<'a> NodeJson<'a> {
    fn new(n: &'a NodeSnapshot) -> Self {
        NodeJson {
            name: &n.name,
            depth: n.depth,
            state: n.state.as_str(),
            restarts: n.restarts,
            incarnation: n.incarnation,
            last_error: n.last_error.as_deref(),
            since_ms: millis(n.since),
            notes: &n.notes,
        }
    }
}

/// The body of `/tree.json` (no `reason`) or of a `snapshot` event.
pub(crate) fn tree(snapshot: &Snapshot, reason: Option<Reason>) -> String {
    let body = TreeJson {
        reason: reason.map(Reason::as_str),
        missed: match reason {
            Some(Reason::Lagged(n)) => Some(n),
            _ => None,
        },
        nodes: snapshot.nodes().iter().map(NodeJson::new).collect(),
    };
    // Plain strings and numbers: serialising cannot fail.
    serde_json::to_string(&body).unwrap_or_else(|_| String::from("{\"nodes\":[]}"))
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    name: &'a str,
    state: &'static str,
    incarnation: u32,
    error: Option<String>,
    delay_ms: Option<u64>,
}

/// The body of a `change` event.
pub(crate) fn change(e: &Event) -> String {
    let body = ChangeJson {
        name: &e.name,
        state: e.state.as_str(),
        incarnation: e.incarnation,
        error: e.error.as_ref().map(|e| e.to_string()),
        delay_ms: e.delay.map(millis),
    };
    serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"))
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
