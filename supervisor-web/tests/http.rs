//! The view's endpoints over real HTTP: a real tree, a real axum server on
//! 127.0.0.1:0, and requests made with reqwest.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use supervisor_runtime::{
    Backoff, Child, DynamicGroup, Group, Intensity, MemoryTable, NodeState, Tree, TreeHandle,
};
use supervisor_testkit::{start_real_time, within, Cmd, End, Lab, REAL_LIMIT};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A tree `app { worker, jobs }`: `worker` is a scriptable child of `lab`,
/// healthy at once, restarted 50 ms after a failure.
fn tree(lab: &Lab, jobs: DynamicGroup) -> Tree {
    Group::parallel("app")
        .intensity(Intensity::Unlimited)
        .backoff(Backoff::Fixed(Duration::from_millis(50)))
        .child(Child::new("worker", lab.child()))
        .child(Child::new("jobs", jobs))
        .build()
        .expect("a valid tree")
}

/// Makes `app.worker` fail with "boom".
async fn fail_worker(lab: &Lab) {
    lab.send("app.worker", Cmd::End(End::err("boom"))).await;
}

/// Waits until `name` is healthy at `incarnation`, looking at the snapshot
/// after every event, lagged or not.
async fn healthy_at(handle: &TreeHandle, name: &str, incarnation: u32) {
    let mut events = handle.subscribe();
    let what = format!("{name} to be healthy at incarnation {incarnation}");
    within(REAL_LIMIT, what, async {
        loop {
            let snap = handle.snapshot();
            if snap
                .node(name)
                .is_some_and(|n| n.state == NodeState::Healthy && n.incarnation == incarnation)
            {
                return;
            }
            let _ = events.recv().await;
        }
    })
    .await
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// Reads server-sent events from a streaming response.
struct Sse {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Sse {
    async fn open(addr: SocketAddr) -> Sse {
        let resp = within(
            REAL_LIMIT,
            "the /events response",
            client().get(format!("http://{addr}/events")).send(),
        )
        .await
        .expect("GET /events");
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(ct, "text/event-stream");
        Sse {
            resp,
            buf: Vec::new(),
        }
    }

    /// The next event as (name, JSON data); `None` when the stream ended.
    /// Keep-alive comments are skipped.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block = String::from_utf8(self.buf[..end].to_vec()).expect("UTF-8 events");
                self.buf.drain(..end + 2);
                let (mut event, mut data) = (None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                match event {
                    Some(e) => {
                        let v = serde_json::from_str(&data)
                            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}"));
                        return Some((e, v));
                    }
                    None => continue, // a comment (keep-alive) or the retry field
                }
            }
            match self.resp.chunk().await.expect("reading /events") {
                Some(bytes) => self.buf.extend_from_slice(&bytes),
                None => return None,
            }
        }
    }

    async fn expect_next(&mut self, what: &str) -> (String, Value) {
        within(REAL_LIMIT, what, self.next())
            .await
            .unwrap_or_else(|| panic!("the stream ended while waiting for {what}"))
    }

    /// Skips events until one satisfies `pred`.
    async fn until(&mut self, what: &str, pred: impl Fn(&str, &Value) -> bool) -> (String, Value) {
        within(REAL_LIMIT, what, async {
            loop {
                match self.next().await {
                    Some((e, v)) if pred(&e, &v) => return (e, v),
                    Some(_) => continue,
                    None => panic!("the stream ended while waiting for {what}"),
                }
            }
        })
        .await
    }
}

fn node<'a>(tree: &'a Value, name: &str) -> &'a Value {
    tree["nodes"]
        .as_array()
        .expect("`nodes` is an array")
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {tree}"))
}

fn names(tree: &Value) -> Vec<&str> {
    tree["nodes"]
        .as_array()
        .expect("`nodes` is an array")
        .iter()
        .map(|n| n["name"].as_str().expect("`name` is a string"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_json_has_the_documented_shape_and_values() {
    let lab = Lab::new();
    let (handle, mut ev) = start_real_time(tree(&lab, DynamicGroup::new()));
    ev.wait("app.worker", NodeState::Healthy).await;
    fail_worker(&lab).await;
    ev.wait("app.worker", NodeState::Backoff).await;
    ev.wait("app.worker", NodeState::Healthy).await;
    ev.until(&handle, "app", NodeState::Healthy).await;
    let addr = serve(supervisor_web::router(handle.clone())).await;

    let resp = within(
        REAL_LIMIT,
        "GET /tree.json",
        client().get(format!("http://{addr}/tree.json")).send(),
    )
    .await
    .expect("GET /tree.json");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();

    let top: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(top, ["nodes"], "only `nodes` at the top: {body}");
    assert_eq!(names(&body), ["app", "app.worker", "app.jobs"]);
    for n in body["nodes"].as_array().unwrap() {
        let mut keys: Vec<&String> = n.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "depth",
                "incarnation",
                "last_error",
                "name",
                "notes",
                "restarts",
                "since_ms",
                "state"
            ],
            "{n}"
        );
        assert!(n["since_ms"].is_u64(), "{n}");
    }
    let app = node(&body, "app");
    assert_eq!(app["depth"], 0);
    assert_eq!(app["state"], "healthy");
    assert_eq!(app["last_error"], Value::Null);
    let worker = node(&body, "app.worker");
    assert_eq!(worker["depth"], 1);
    assert_eq!(worker["state"], "healthy");
    assert_eq!(worker["restarts"], 1);
    assert_eq!(worker["incarnation"], 2);
    assert_eq!(worker["last_error"], "boom");
    assert_eq!(worker["notes"], serde_json::json!([]));
    assert_eq!(node(&body, "app.jobs")["restarts"], 0);
    handle.shutdown().await;
}

/// A dynamic group's notes (the table entries it skipped) are in the JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_show_the_table_entries_a_group_skipped() {
    let lab = Lab::new();
    let table = MemoryTable::new();
    table.insert("fine", 1u8);
    table.insert("Not A Key", 2u8);
    let job = lab.child();
    let jobs = DynamicGroup::with_table(table, move |_key: &str, _v: &u8| job.clone());
    let (handle, mut ev) = start_real_time(tree(&lab, jobs));
    ev.wait("app.jobs", NodeState::Healthy).await;
    let addr = serve(supervisor_web::router(handle.clone())).await;

    let resp = within(
        REAL_LIMIT,
        "GET /tree.json",
        client().get(format!("http://{addr}/tree.json")).send(),
    )
    .await
    .expect("GET /tree.json");
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(
        names(&body),
        ["app", "app.worker", "app.jobs", "app.jobs.fine"]
    );
    let notes = node(&body, "app.jobs")["notes"]
        .as_array()
        .expect("`notes` is an array")
        .clone();
    assert_eq!(notes.len(), 1, "{body}");
    let note = notes[0].as_str().expect("a note is a string");
    assert!(note.contains("`Not A Key`"), "{note}");
    assert_eq!(node(&body, "app.jobs.fine")["notes"], serde_json::json!([]));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_start_with_a_snapshot_then_follow_a_restart() {
    let lab = Lab::new();
    let (handle, mut ev) = start_real_time(tree(&lab, DynamicGroup::new()));
    ev.wait("app.worker", NodeState::Healthy).await;
    let addr = serve(supervisor_web::router(handle.clone())).await;

    let mut sse = Sse::open(addr).await;
    let (event, first) = sse.expect_next("the first event").await;
    assert_eq!(event, "snapshot", "{first}");
    assert_eq!(first["reason"], "initial");
    assert_eq!(node(&first, "app.worker")["state"], "healthy");
    assert_eq!(node(&first, "app.worker")["incarnation"], 1);

    fail_worker(&lab).await;
    let (_, backoff) = sse
        .until("the worker's backoff", |e, v| {
            e == "change" && v["name"] == "app.worker" && v["state"] == "backoff"
        })
        .await;
    assert_eq!(backoff["error"], "boom");
    assert_eq!(backoff["incarnation"], 1);
    assert_eq!(backoff["delay_ms"], 50);
    let mut keys: Vec<&String> = backoff.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["delay_ms", "error", "incarnation", "name", "state"]);

    let (_, healthy) = sse
        .until("the worker healthy again", |e, v| {
            e == "change" && v["name"] == "app.worker" && v["state"] == "healthy"
        })
        .await;
    assert_eq!(healthy["incarnation"], 2);
    assert_eq!(healthy["error"], Value::Null);
    assert_eq!(healthy["delay_ms"], Value::Null);
    handle.shutdown().await;
}

/// The server runs on its own single-threaded runtime, which the test
/// blocks while the tree makes more events than the channel holds: the
/// stream cannot read them in time, and must say so with a fresh snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_falls_behind_gets_a_fresh_snapshot() {
    let lab = Lab::new();
    let handle = tree(&lab, DynamicGroup::new()).event_capacity(2).start();
    // The testkit's event log refuses gaps; with room for two events this
    // test's own receiver lags too, so it waits on the snapshot.
    healthy_at(&handle, "app.worker", 1).await;

    let server = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = supervisor_web::router(handle.clone());
    let rt = server.handle().clone();
    let stop = CancellationToken::new();
    let server_stop = stop.clone();
    let server_thread = std::thread::spawn(move || {
        server.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(server_stop.cancelled_owned())
                .await
        })
    });

    let mut sse = Sse::open(addr).await;
    let (event, _) = sse.expect_next("the initial snapshot").await;
    assert_eq!(event, "snapshot");

    // Hold the server's only thread.
    let (blocked_tx, blocked_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    rt.spawn(async move {
        let _ = blocked_tx.send(());
        let _ = release_rx.recv_timeout(REAL_LIMIT);
    });
    within(REAL_LIMIT, "the server's thread to be held", blocked_rx)
        .await
        .unwrap();

    // A failure and a restart: backoff, starting, healthy (3 events > 2).
    fail_worker(&lab).await;
    healthy_at(&handle, "app.worker", 2).await;
    release_tx.send(()).unwrap();

    let (event, snap) = sse
        .until("a snapshot after the lag", |e, _| e == "snapshot")
        .await;
    assert_eq!(event, "snapshot");
    assert_eq!(snap["reason"], "lagged", "{snap}");
    assert!(snap["missed"].as_u64().is_some_and(|n| n >= 1), "{snap}");
    let worker = node(&snap, "app.worker");
    assert_eq!(worker["state"], "healthy", "{snap}");
    assert_eq!(worker["incarnation"], 2);
    assert_eq!(worker["restarts"], 1);
    assert_eq!(worker["last_error"], "boom");

    handle.shutdown().await;
    // The tree has ended: the stream closes, and the server with it.
    within(REAL_LIMIT, "the stream to end", async {
        while sse.next().await.is_some() {}
    })
    .await;
    stop.cancel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(server_thread.join());
    });
    within(REAL_LIMIT, "the server thread to end", done_rx)
        .await
        .unwrap()
        .expect("the server thread does not panic")
        .expect("the server ends cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_children_appear_and_leave_through_resync_snapshots() {
    let jobs = DynamicGroup::new();
    let (handle, mut ev) = start_real_time(tree(&Lab::new(), jobs.clone()));
    ev.wait("app.jobs", NodeState::Healthy).await;
    let addr = serve(supervisor_web::router(handle.clone())).await;
    let mut sse = Sse::open(addr).await;
    let (_, first) = sse.expect_next("the initial snapshot").await;
    assert_eq!(names(&first), ["app", "app.worker", "app.jobs"]);

    let token = jobs.add("nightly", Lab::new().child()).await.unwrap();
    let (_, snap) = sse
        .until("a snapshot with the new job", |e, v| {
            e == "snapshot" && names(v).contains(&"app.jobs.nightly")
        })
        .await;
    assert_eq!(snap["reason"], "resync");
    assert_eq!(node(&snap, "app.jobs.nightly")["depth"], 2);

    jobs.remove(&token).await.unwrap();
    let (_, snap) = sse
        .until("a snapshot without the job", |e, v| {
            e == "snapshot" && !names(v).contains(&"app.jobs.nightly")
        })
        .await;
    assert_eq!(snap["reason"], "resync");
    assert_eq!(names(&snap), ["app", "app.worker", "app.jobs"]);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_ends_with_a_final_snapshot_when_the_tree_ends() {
    let (handle, mut ev) = start_real_time(tree(&Lab::new(), DynamicGroup::new()));
    ev.wait("app", NodeState::Healthy).await;
    let addr = serve(supervisor_web::router(handle.clone())).await;
    let mut sse = Sse::open(addr).await;
    sse.expect_next("the initial snapshot").await;

    assert!(handle.shutdown().await.is_clean());
    let (_, last) = sse
        .until("the final snapshot", |e, v| {
            e == "snapshot" && v["reason"] == "final"
        })
        .await;
    for n in last["nodes"].as_array().unwrap() {
        assert_eq!(n["state"], "stopped", "{last}");
    }
    let (event, _) = sse.expect_next("the `ended` event").await;
    assert_eq!(event, "ended");
    assert!(
        within(REAL_LIMIT, "the end of the stream", sse.next())
            .await
            .is_none(),
        "nothing after `ended`"
    );
}

/// A server that stops while the tree goes on (it is a child of the tree,
/// or restarts) finishes its graceful shutdown despite open streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_open_streams_shuts_down_gracefully() {
    let (handle, mut ev) = start_real_time(tree(&Lab::new(), DynamicGroup::new()));
    ev.wait("app", NodeState::Healthy).await;
    let stop = CancellationToken::new();
    let app = supervisor_web::router_with_shutdown(handle.clone(), stop.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );
    let mut sse = Sse::open(addr).await;
    sse.expect_next("the initial snapshot").await;

    stop.cancel();
    assert!(
        within(REAL_LIMIT, "the stream to close", sse.next())
            .await
            .is_none(),
        "the stream closes without more events"
    );
    within(REAL_LIMIT, "the server's graceful shutdown", server)
        .await
        .unwrap()
        .unwrap();
    // The tree goes on.
    assert_eq!(
        handle.snapshot().node("app").unwrap().state,
        NodeState::Healthy
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_self_contained_and_the_view_is_read_only() {
    let (handle, mut ev) = start_real_time(tree(&Lab::new(), DynamicGroup::new()));
    ev.wait("app.worker", NodeState::Healthy).await;
    let addr = serve(supervisor_web::router(handle.clone())).await;
    let c = client();

    let resp = within(REAL_LIMIT, "GET /", c.get(format!("http://{addr}/")).send())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let page = resp.text().await.unwrap();
    assert!(page.contains("new EventSource(base + \"events\")"));
    for external in ["http://", "https://", "<link", " src=", "@import", "url("] {
        assert!(!page.contains(external), "the page refers to `{external}`");
    }

    for path in ["/", "/tree.json", "/events"] {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
            reqwest::Method::PATCH,
        ] {
            let resp = within(
                REAL_LIMIT,
                "a write request",
                c.request(method.clone(), format!("http://{addr}{path}"))
                    .send(),
            )
            .await
            .unwrap();
            assert_eq!(resp.status(), 405, "{method} {path}");
        }
    }
    assert_eq!(handle.snapshot().node("app.worker").unwrap().incarnation, 1);
    handle.shutdown().await;
}
