//! A live view of a running supervision tree, in the browser.
//!
//! [`router`] turns a [`TreeHandle`] into an [`axum::Router`] to mount in
//! your own server:
//!
//! | route | what |
//! |---|---|
//! | `GET /` | one self-contained page (no external scripts, styles or fonts) that draws the tree and follows it live |
//! | `GET /tree.json` | the tree as it is now, as JSON ([shape below](#treejson)) |
//! | `GET /events` | every state change as [server-sent events](#events) |
//!
//! The view is read-only: nothing in it can stop, restart or change the
//! tree. Mount your own handlers next to it for that. The router keeps a
//! clone of the handle, so the tree is not shut down by dropping the other
//! handles while the router lives (see [`TreeHandle`]).
//!
//! ```no_run
//! use supervisor_runtime::{Child, Context, Group};
//!
//! async fn worker(ctx: Context) -> Result<(), std::io::Error> {
//!     ctx.healthy();
//!     ctx.cancelled().await;
//!     Ok(())
//! }
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let handle = Group::parallel("app")
//!     .child(Child::new("worker", worker))
//!     .build()?
//!     .start();
//! // The live view at http://127.0.0.1:3000/, or under a prefix with
//! // `axum::Router::new().nest("/supervisor", ...)`.
//! let app = supervisor_web::router(handle.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # The page
//!
//! `GET /` draws every node with its state (coloured), restart count,
//! incarnation, time in its state, last error and notes. It follows `/events`: a
//! node that restarts flashes, failed and backing-off nodes are marked in
//! red and amber and counted in a summary line at the top, and a banner says
//! so when the connection is lost while the browser reconnects. It uses
//! relative URLs, so it works at the root or nested under a prefix.
//!
//! # `/tree.json`
//!
//! ```json
//! {
//!   "nodes": [
//!     { "name": "app", "depth": 0, "state": "healthy", "restarts": 0,
//!       "incarnation": 1, "last_error": null, "since_ms": 5210, "notes": [] },
//!     { "name": "app.flaky", "depth": 1, "state": "backoff", "restarts": 3,
//!       "incarnation": 4, "last_error": "lost the connection", "since_ms": 120,
//!       "notes": [] }
//!   ]
//! }
//! ```
//!
//! `nodes` lists every node of [`TreeHandle::snapshot`], parents before
//! their children, in start order:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `name` | string | distinguished name, e.g. `app.web.http` |
//! | `depth` | integer | 0 for a top-level node, parent's depth + 1 below |
//! | `state` | string | [`NodeState::as_str`](supervisor_runtime::NodeState::as_str): `starting`, `healthy`, `done`, `backoff`, `stopping`, `stopped`, `failed` |
//! | `restarts` | integer | times started again after its first start |
//! | `incarnation` | integer | current (or last) incarnation; 0 if never started |
//! | `last_error` | string or null | the last error it ended with |
//! | `since_ms` | integer | milliseconds in `state`, when the snapshot was taken |
//! | `notes` | array of strings | what the node reports about itself, e.g. the table entries a dynamic group skipped and why |
//!
//! A node whose `state` is `stopped` with `incarnation` 0 has not started
//! yet (the page shows it as *waiting*).
//!
//! # `/events`
//!
//! A `text/event-stream` of three kinds of event, each with a JSON `data`
//! line:
//!
//! - `snapshot`: the whole tree, in the shape of `/tree.json` plus
//!   `"reason"`: `"initial"` (the first event of every stream, sent after
//!   subscribing, so no change between the two is missed), `"lagged"` (the
//!   client fell behind the tree's event channel; this snapshot replaces the
//!   events it lost, counted in `"missed"`), `"resync"` (nodes appeared or
//!   left, e.g. dynamic children added or removed) or `"final"` (the tree has
//!   ended). A client replaces everything it knows with it. A node's
//!   `notes` come only with snapshots (no change event carries them).
//! - `change`: one state change of one node:
//!   `{"name": "app.flaky", "state": "backoff", "incarnation": 4,
//!   "error": "lost the connection", "delay_ms": 800}`, where `error` (string
//!   or null) is the error that caused the change and `delay_ms` (integer or
//!   null) the time until the restart, for `backoff`. Changes of one node
//!   arrive in order; after a `snapshot` a few changes older than it may
//!   follow (replaying them ends on the current state). A change's
//!   `incarnation` above the one a client knows means the node was started
//!   again; one below it means a new node under the same name (its group
//!   restarted, or its key was added again).
//! - `ended`: the tree has ended; the stream closes after it.
//!
//! The stream also carries keep-alive comments every 15 s.
//!
//! # Servers that stop
//!
//! An open `/events` stream is a request that never finishes, so a server
//! with graceful shutdown waits for it. [`router`] closes its streams when
//! the tree has ended. When the server stops on its own schedule (it is a
//! child of the tree it shows, or it may restart), use
//! [`router_with_shutdown`] and cancel the token when the server is asked to
//! stop; the browsers reconnect to the next server.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod json;
mod stream;

use std::time::Duration;

use axum::http::header;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use supervisor_runtime::TreeHandle;
use tokio_util::sync::CancellationToken;

/// The page, with its styles and script inline.
const PAGE: &str = include_str!("page.html");

/// What the page may load: nothing but itself and this server.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'self'";

/// The live view of `handle`'s tree: `GET /`, `GET /tree.json` and
/// `GET /events` (see the [crate documentation](crate)). Its event streams
/// close when the tree has ended.
pub fn router(handle: TreeHandle) -> Router {
    router_with_shutdown(handle, CancellationToken::new())
}

/// [`router`], whose event streams also close as soon as `shutdown` is
/// cancelled, so that a server with graceful shutdown can finish.
///
/// Use it when the server stops before the tree has ended, above all when
/// the server is itself a child of the tree it shows:
///
/// ```no_run
/// use supervisor_runtime::adapters::serve;
/// use supervisor_runtime::TreeHandle;
/// use tokio_util::sync::CancellationToken;
///
/// fn http(handle: TreeHandle) -> impl supervisor_runtime::Runnable {
///     serve(move |_ctx, shutdown| {
///         let handle = handle.clone();
///         async move {
///             let stop = CancellationToken::new();
///             let app = supervisor_web::router_with_shutdown(handle, stop.clone());
///             let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
///             axum::serve(listener, app)
///                 .with_graceful_shutdown(async move {
///                     shutdown.await;
///                     stop.cancel(); // end the open event streams
///                 })
///                 .await
///         }
///     })
/// }
/// ```
pub fn router_with_shutdown(handle: TreeHandle, shutdown: CancellationToken) -> Router {
    let tree = handle.clone();
    Router::new()
        .route("/", get(page))
        .route("/tree.json", get(move || tree_json(tree.clone())))
        .route(
            "/events",
            get(move || events(handle.clone(), shutdown.clone())),
        )
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
        ],
        PAGE,
    )
}

async fn tree_json(handle: TreeHandle) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json::tree(&handle.snapshot(), None),
    )
}

async fn events(handle: TreeHandle, shutdown: CancellationToken) -> impl IntoResponse {
    let sse = Sse::new(stream::events(handle, shutdown))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            // Proxies that buffer responses (nginx) would hold the events back.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        sse,
    )
}
